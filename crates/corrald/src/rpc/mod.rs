//! The control plane: supervisord's HTTP servers (`[unix_http_server]`,
//! `[inet_http_server]`) serving XML-RPC on `/RPC2`, log tails on `/logtail/…` and
//! `/mainlogtail`, and supervisord's web interface on every other path, so supervisorctl,
//! superlance, every tool built on that API and a browser work against corrald unchanged.

mod conn;
mod corral;
mod logtail;
pub mod methods;
mod web;

use std::cell::RefCell;
use std::io;
use std::net::TcpListener as StdTcpListener;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::rc::Rc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::task::JoinHandle;

use corral_config::{Config, OwnerSpec};

use crate::mainlog;
use crate::sockets;
use crate::supervisor::Supervisor;

/// Credentials a server requires (none when `username` is unset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Auth {
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Where a server listens: what decides whether a reload keeps its socket.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Address {
    Unix(String),
    Inet { host: String, port: u16 },
}

impl Address {
    /// Both unix, or both inet: a reload matches an old server with a new one by kind.
    fn same_kind(&self, other: &Address) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// One configured server, as the configuration describes it.
#[derive(Debug, Clone)]
struct Spec {
    section: String,
    address: Address,
    auth: Auth,
    /// `chmod` and `chown` of a unix socket file.
    unix_mode: Option<(u32, Option<OwnerSpec>)>,
}

/// supervisord's order: the inet server, then the unix one.
fn specs(config: &Config) -> Vec<Spec> {
    let inet = config.inet_http_servers.iter().map(|s| Spec {
        section: s.section.clone(),
        address: Address::Inet {
            host: if s.host.is_empty() {
                "0.0.0.0".into()
            } else {
                s.host.clone()
            },
            port: s.port,
        },
        auth: Auth {
            username: s.username.clone(),
            password: s.password.clone(),
        },
        unix_mode: None,
    });
    let unix = config.unix_http_servers.iter().map(|s| Spec {
        section: s.section.clone(),
        address: Address::Unix(s.file.clone()),
        auth: Auth {
            username: s.username.clone(),
            password: s.password.clone(),
        },
        unix_mode: Some((s.chmod, s.chown.clone())),
    });
    inet.chain(unix).collect()
}

enum Bound {
    Unix(StdUnixListener),
    Inet(StdTcpListener),
}

/// Bind one server. Errors are supervisord's usage messages.
fn bind(spec: &Spec) -> Result<Bound, String> {
    match &spec.address {
        Address::Inet { host, port } => bind_tcp(host, *port)
            .map(Bound::Inet)
            .map_err(|e| bind_error(&e)),
        Address::Unix(file) => {
            sockets::remove_stale_unix_socket(file).map_err(|e| {
                if e.kind() == io::ErrorKind::AddrInUse {
                    IN_USE.to_string()
                } else {
                    bind_error(&e)
                }
            })?;
            let listener = StdUnixListener::bind(file).map_err(|e| bind_error(&e))?;
            set_mode(spec)?;
            Ok(Bound::Unix(listener))
        }
    }
}

/// A unix socket file's `chmod` and `chown`.
fn set_mode(spec: &Spec) -> Result<(), String> {
    if let (Address::Unix(file), Some((mode, owner))) = (&spec.address, &spec.unix_mode) {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(*mode))
            .map_err(|e| format!("Cannot change permissions of {file}: {e}"))?;
        if let Some(owner) = owner {
            chown(file, owner)?;
        }
    }
    Ok(())
}

/// The HTTP servers' listening sockets, bound before the daemon daemonizes (so that a port
/// in use is reported on the terminal) and served once the runtime is up.
#[derive(Default)]
pub struct Listeners {
    bound: Vec<(Spec, Bound)>,
}

const IN_USE: &str = "Another program is already listening on a port that one of our HTTP servers is configured to \
                      use.  Shut this program down first before starting supervisord.";

/// supervisord's start-up lines about its servers, per server: each RPC interface
/// initialized, then a warning if it has no authentication.
fn log_startup<'a>(specs: impl Iterator<Item = &'a Spec>, config: &Config) {
    for spec in specs {
        for r in &config.rpcinterfaces {
            mainlog::info(format!("RPC interface '{}' initialized", r.name));
        }
        if spec.auth.username.is_none() {
            mainlog::critical(format!(
                "Server '{}' running without any HTTP authentication checking",
                spec.section
            ));
        }
    }
}

impl Listeners {
    pub fn log_startup(&self, config: &Config) {
        log_startup(self.bound.iter().map(|(s, _)| s), config);
    }

    /// Bind every configured server.
    pub fn open(config: &Config) -> Result<Listeners, String> {
        let mut l = Listeners::default();
        for spec in specs(config) {
            let bound = bind(&spec)?;
            l.bound.push((spec, bound));
        }
        Ok(l)
    }
}

/// A server being served: its accept loop, and the credentials it checks (shared with the
/// loop, so that a reload can change them without closing the socket).
struct Running {
    spec: Spec,
    auth: Rc<RefCell<Rc<Auth>>>,
    task: JoinHandle<()>,
    /// A unix server's socket file as bound (device, inode).
    identity: Option<FileId>,
}

/// The HTTP servers while the daemon runs.
pub struct Servers {
    sup: Rc<Supervisor>,
    limiter: Rc<conn::Limiter>,
    running: Vec<Running>,
}

/// Accept connections on every listener, for as long as the daemon runs (or until a
/// reload moves or removes a server).
pub fn serve(listeners: Listeners, sup: &Rc<Supervisor>) -> Servers {
    let mut servers = Servers {
        sup: sup.clone(),
        limiter: Rc::new(conn::Limiter::default()),
        running: Vec::new(),
    };
    for (spec, bound) in listeners.bound {
        servers.start(spec, bound);
    }
    servers
}

impl Servers {
    fn start(&mut self, spec: Spec, bound: Bound) {
        let auth = Rc::new(RefCell::new(Rc::new(spec.auth.clone())));
        match self.accept(&spec, bound, &auth) {
            Ok((task, identity)) => self.running.push(Running {
                spec,
                auth,
                task,
                identity,
            }),
            Err(msg) => mainlog::critical(msg),
        }
    }

    /// Serve a bound socket: the task of its accept loop, and a unix socket file's identity.
    fn accept(
        &self,
        spec: &Spec,
        bound: Bound,
        auth: &Rc<RefCell<Rc<Auth>>>,
    ) -> Result<(JoinHandle<()>, Option<FileId>), String> {
        match (bound, &spec.address) {
            (Bound::Unix(l), Address::Unix(path)) => {
                let _ = l.set_nonblocking(true);
                let listener =
                    UnixListener::from_std(l).map_err(|e| format!("cannot serve {path}: {e}"))?;
                let site = web::Site::unix(path);
                let identity = socket_identity(path);
                let cleanup = UnlinkOnDrop {
                    path: path.clone(),
                    identity,
                };
                Ok((
                    self.accept_loop(listener, site, auth, Some(cleanup)),
                    identity,
                ))
            }
            (Bound::Inet(l), _) => {
                let _ = l.set_nonblocking(true);
                let listener = TcpListener::from_std(l)
                    .map_err(|e| format!("cannot serve [{}]: {e}", spec.section))?;
                let site = web::Site::inet(listener.local_addr().ok());
                Ok((self.accept_loop(listener, site, auth, None), None))
            }
            (Bound::Unix(_), Address::Inet { .. }) => {
                unreachable!("a unix listener has a unix address")
            }
        }
    }

    /// Accept connections and serve each with the credentials current at its accept.
    fn accept_loop<L: Accept + 'static>(
        &self,
        listener: L,
        site: web::Site,
        auth: &Rc<RefCell<Rc<Auth>>>,
        cleanup: Option<UnlinkOnDrop>,
    ) -> JoinHandle<()> {
        let (sup, limiter, auth, site) = (
            self.sup.clone(),
            self.limiter.clone(),
            auth.clone(),
            Rc::new(site),
        );
        tokio::task::spawn_local(async move {
            let _cleanup = cleanup;
            loop {
                match listener.next().await {
                    Ok(stream) => {
                        let auth = auth.borrow().clone();
                        conn::spawn(stream, sup.clone(), auth, site.clone(), &limiter);
                    }
                    Err(e) => accept_failed(e).await,
                }
            }
        })
    }

    /// Serve `new` in place of `old`, bound first: when it cannot be bound, `old` goes on
    /// serving. `report` says which, before the swap.
    fn rebind(&mut self, old: Running, new: &Spec, report: impl FnOnce(Result<(), &str>)) {
        match bind(new) {
            Ok(bound) => {
                report(Ok(()));
                old.task.abort();
                self.start(new.clone(), bound);
            }
            Err(msg) => {
                report(Err(&msg));
                self.running.push(old);
            }
        }
    }

    /// A reload (SIGHUP, `supervisor.restart`) with `config`. supervisord closes and
    /// reopens its servers; corral keeps a server whose address is unchanged (connections
    /// in flight, such as the supervisorctl that asked for the reload, are not cut) and
    /// gives it the new credentials, mode and owner. A server that moved is bound at its
    /// new address first and closed at the old one only then, so that an address in use
    /// leaves the old one serving (and says so); a removed server is closed. A unix socket
    /// file that was deleted behind corrald's back is created again.
    pub fn reload(&mut self, config: &Config) {
        let wanted = specs(config);
        let mut keep = Vec::new();
        for old in std::mem::take(&mut self.running) {
            let Some(new) = wanted
                .iter()
                .find(|s| s.address.same_kind(&old.spec.address))
            else {
                mainlog::info(format!("closed {}", describe(&old.spec)));
                old.task.abort();
                continue;
            };
            if new.address != old.spec.address {
                let (from, to) = (describe(&old.spec), describe(new));
                self.rebind(old, new, |r| match r {
                    Ok(()) => mainlog::info(format!("moved {from} to {to}")),
                    Err(msg) => mainlog::error(format!(
                        "cannot move {from} to {to}: {msg}; still serving the old address"
                    )),
                });
            } else if matches!(&new.address, Address::Unix(f) if socket_identity(f) != old.identity)
            {
                // Someone removed or replaced the socket file (a /tmp cleaner, say):
                // supervisord's reload re-creates it, and so does this.
                let at = describe(new);
                self.rebind(old, new, |r| match r {
                    Ok(()) => mainlog::warn(format!(
                        "re-created the socket file of {at}: it had been removed"
                    )),
                    Err(msg) => mainlog::error(format!("cannot re-create {at}: {msg}")),
                });
            } else {
                keep.push((old, new.clone()));
            }
        }
        for (mut old, new) in keep {
            if let Err(msg) = set_mode(&new) {
                mainlog::error(msg);
            }
            *old.auth.borrow_mut() = Rc::new(new.auth.clone());
            old.spec = new;
            self.running.push(old);
        }
        for new in &wanted {
            let served = self
                .running
                .iter()
                .any(|r| r.spec.address.same_kind(&new.address));
            if !served {
                match bind(new) {
                    Ok(bound) => {
                        mainlog::info(format!("opened {}", describe(new)));
                        self.start(new.clone(), bound);
                    }
                    Err(msg) => mainlog::error(format!("cannot open {}: {msg}", describe(new))),
                }
            }
        }
        // supervisord's order in the log: the inet server, then the unix one.
        self.running
            .sort_by_key(|r| matches!(r.spec.address, Address::Unix(_)));
        log_startup(self.running.iter().map(|r| &r.spec), config);
    }
}

/// A listening socket the accept loop serves.
trait Accept {
    type Stream: AsyncRead + AsyncWrite + Unpin + 'static;
    async fn next(&self) -> io::Result<Self::Stream>;
}

impl Accept for TcpListener {
    type Stream = TcpStream;
    async fn next(&self) -> io::Result<TcpStream> {
        let (stream, _) = self.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

impl Accept for UnixListener {
    type Stream = UnixStream;
    async fn next(&self) -> io::Result<UnixStream> {
        Ok(self.accept().await?.0)
    }
}

fn describe(spec: &Spec) -> String {
    match &spec.address {
        Address::Unix(file) => format!("[{}] at {file}", spec.section),
        Address::Inet { host, port } => format!("[{}] on {host}:{port}", spec.section),
    }
}

async fn accept_failed(e: io::Error) {
    // EMFILE and friends: say so, and give the process table a moment instead of spinning.
    mainlog::warn(format!("accept failed: {e}"));
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
}

fn bind_tcp(host: &str, port: u16) -> io::Result<StdTcpListener> {
    use socket2::{Domain, Socket, Type};
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("cannot resolve {host}")))?;
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM.cloexec(), None)?;
    sock.set_reuse_address(true)?;
    sock.bind(&addr.into())?;
    sock.listen(128)?;
    Ok(sock.into())
}

fn bind_error(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::AddrInUse {
        return IN_USE.to_string();
    }
    match e.raw_os_error() {
        Some(code) => format!(
            "Cannot open an HTTP server: socket.error reported errno.{} ({code})",
            crate::sys::errno::name(code)
        ),
        None => format!("Cannot open an HTTP server: {e}"),
    }
}

fn chown(path: &str, owner: &OwnerSpec) -> Result<(), String> {
    crate::sys::chown(path, owner.uid, owner.gid).map_err(|_| {
        format!(
            "Not permitted to chown {path} to uid/gid {}; adjust \"sockchown\" value in config file or on command \
             line to values that the current user can successfully chown",
            owner.spec
        )
    })
}

/// The unix socket file goes when the server stops (supervisord unlinks it at exit), but
/// only if it is still ours: a reload may already have bound a new socket at that path.
struct UnlinkOnDrop {
    path: String,
    identity: Option<FileId>,
}

impl Drop for UnlinkOnDrop {
    fn drop(&mut self) {
        if self.identity.is_some() && socket_identity(&self.path) == self.identity {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A file's device and inode.
type FileId = (u64, u64);

/// Device and inode of the unix socket at `path`, if there is one.
fn socket_identity(path: &str) -> Option<FileId> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::symlink_metadata(path).ok()?;
    m.file_type().is_socket().then(|| (m.dev(), m.ino()))
}
