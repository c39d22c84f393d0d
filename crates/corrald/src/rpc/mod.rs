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

use tokio::net::{TcpListener, UnixListener};
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
            set_mode(file, spec)?;
            Ok(Bound::Unix(listener))
        }
    }
}

/// A unix socket file's `chmod` and `chown`.
fn set_mode(file: &str, spec: &Spec) -> Result<(), String> {
    if let Some((mode, owner)) = &spec.unix_mode {
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
    identity: Option<(u64, u64)>,
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
        let (sup, limiter, shared) = (self.sup.clone(), self.limiter.clone(), auth.clone());
        let mut identity = None;
        let task = match bound {
            Bound::Unix(l) => {
                let path = match &spec.address {
                    Address::Unix(p) => p.clone(),
                    Address::Inet { .. } => unreachable!("a unix listener has a unix address"),
                };
                let _ = l.set_nonblocking(true);
                let listener = match UnixListener::from_std(l) {
                    Ok(l) => l,
                    Err(e) => {
                        mainlog::critical(format!("cannot serve {path}: {e}"));
                        return;
                    }
                };
                let site = Rc::new(web::Site::unix(&path));
                identity = socket_identity(&path);
                let cleanup = UnlinkOnDrop { path, identity };
                tokio::task::spawn_local(async move {
                    let _cleanup = cleanup;
                    loop {
                        match listener.accept().await {
                            Ok((stream, _)) => {
                                let auth = shared.borrow().clone();
                                conn::spawn(stream, sup.clone(), auth, site.clone(), &limiter);
                            }
                            Err(e) => accept_failed(e).await,
                        }
                    }
                })
            }
            Bound::Inet(l) => {
                let _ = l.set_nonblocking(true);
                let listener = match TcpListener::from_std(l) {
                    Ok(l) => l,
                    Err(e) => {
                        mainlog::critical(format!("cannot serve [{}]: {e}", spec.section));
                        return;
                    }
                };
                let site = Rc::new(web::Site::inet(listener.local_addr().ok()));
                tokio::task::spawn_local(async move {
                    loop {
                        match listener.accept().await {
                            Ok((stream, _)) => {
                                let _ = stream.set_nodelay(true);
                                let auth = shared.borrow().clone();
                                conn::spawn(stream, sup.clone(), auth, site.clone(), &limiter);
                            }
                            Err(e) => accept_failed(e).await,
                        }
                    }
                })
            }
        };
        self.running.push(Running {
            spec,
            auth,
            task,
            identity,
        });
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
            let same_kind = |s: &&Spec| {
                std::mem::discriminant(&s.address) == std::mem::discriminant(&old.spec.address)
            };
            match wanted.iter().find(same_kind) {
                None => {
                    mainlog::info(format!("closed {}", describe(&old.spec)));
                    old.task.abort();
                }
                Some(new)
                    if new.address == old.spec.address
                        && matches!(&new.address, Address::Unix(f) if socket_identity(f) != old.identity) =>
                {
                    // Someone removed or replaced the socket file (a /tmp cleaner, say):
                    // supervisord's reload re-creates it, and so does this.
                    match bind(new) {
                        Ok(bound) => {
                            mainlog::warn(format!(
                                "re-created the socket file of {}: it had been removed",
                                describe(new)
                            ));
                            old.task.abort();
                            self.start(new.clone(), bound);
                        }
                        Err(msg) => {
                            mainlog::error(format!("cannot re-create {}: {msg}", describe(new)));
                            self.running.push(old);
                        }
                    }
                }
                Some(new) if new.address == old.spec.address => keep.push((old, new.clone())),
                Some(new) => match bind(new) {
                    Ok(bound) => {
                        mainlog::info(format!(
                            "moved {} to {}",
                            describe(&old.spec),
                            describe(new)
                        ));
                        old.task.abort();
                        self.start(new.clone(), bound);
                    }
                    Err(msg) => {
                        mainlog::error(format!(
                            "cannot move {} to {}: {msg}; still serving the old address",
                            describe(&old.spec),
                            describe(new)
                        ));
                        self.running.push(old);
                    }
                },
            }
        }
        for (mut old, new) in keep {
            if let Address::Unix(file) = &new.address {
                if let Err(msg) = set_mode(file, &new) {
                    mainlog::error(msg);
                }
            }
            *old.auth.borrow_mut() = Rc::new(new.auth.clone());
            old.spec = new;
            self.running.push(old);
        }
        for new in &wanted {
            let kind = std::mem::discriminant(&new.address);
            let served = self
                .running
                .iter()
                .any(|r| std::mem::discriminant(&r.spec.address) == kind);
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
        log_startup(self.running.iter().map(|r| &r.spec), config);
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
    let c = std::ffi::CString::new(path).map_err(|_| "NUL in socket path".to_string())?;
    // SAFETY: chown reads a NUL-terminated path we own.
    if unsafe { libc::chown(c.as_ptr(), owner.uid, owner.gid.unwrap_or(u32::MAX)) } != 0 {
        return Err(format!(
            "Not permitted to chown {path} to uid/gid {}; adjust \"sockchown\" value in config file or on command \
             line to values that the current user can successfully chown",
            owner.spec
        ));
    }
    Ok(())
}

/// The unix socket file goes when the server stops (supervisord unlinks it at exit), but
/// only if it is still ours: a reload may already have bound a new socket at that path.
struct UnlinkOnDrop {
    path: String,
    identity: Option<(u64, u64)>,
}

impl Drop for UnlinkOnDrop {
    fn drop(&mut self) {
        if self.identity.is_some() && socket_identity(&self.path) == self.identity {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Device and inode of the unix socket at `path`, if there is one.
fn socket_identity(path: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let m = std::fs::symlink_metadata(path).ok()?;
    m.file_type().is_socket().then(|| (m.dev(), m.ino()))
}
