//! The HTTP servers: binding (unix sockets with their mode, inet ports), the accept loops,
//! and re-binding on reload. One connection is served by `conn.rs`.

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

use super::auth_guard::AuthGuard;
use super::limits::{Limits, Peer, Pool};
use super::{conn, web};
use crate::logs::mainlog;
use crate::sockets::unix_bind::{self, BindError};
use crate::supervisor::Supervisor;

/// Credentials a server requires (none when `username` is unset or empty: supervisord
/// wraps its handlers in authentication only `if username`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Auth {
    pub username: Option<String>,
    pub password: Option<String>,
    /// A user who may look but not act (only with `username`).
    pub readonly_username: Option<String>,
    pub readonly_password: Option<String>,
}

/// Where a server listens: what decides whether a reload keeps its socket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Spec {
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
            username: s.username.clone().filter(|u| !u.is_empty()),
            password: s.password.clone(),
            readonly_username: s.readonly_username.clone(),
            readonly_password: s.readonly_password.clone(),
        },
        unix_mode: None,
    });
    let unix = config.unix_http_servers.iter().map(|s| Spec {
        section: s.section.clone(),
        address: Address::Unix(s.file.clone()),
        auth: Auth {
            username: s.username.clone().filter(|u| !u.is_empty()),
            password: s.password.clone(),
            readonly_username: s.readonly_username.clone(),
            readonly_password: s.readonly_password.clone(),
        },
        unix_mode: Some((s.chmod, s.chown.clone())),
    });
    inet.chain(unix).collect()
}

enum Bound {
    Unix(StdUnixListener),
    Inet(StdTcpListener),
}

/// corral: the socket systemd passed for this server's address (socket activation), if
/// any: systemd bound it, corrald serves it.
fn from_systemd(spec: &Spec) -> Option<Bound> {
    let systemd = crate::sockets::systemd();
    let (bound, name) = match &spec.address {
        Address::Inet { host, port } => {
            let (fd, name) = systemd.tcp(host, *port)?;
            (Bound::Inet(StdTcpListener::from(fd)), name)
        }
        Address::Unix(file) => {
            let (fd, name) = systemd.unix(file)?;
            (Bound::Unix(StdUnixListener::from(fd)), name)
        }
    };
    mainlog::info(format!(
        "{} uses the socket systemd passed ({name})",
        describe(spec)
    ));
    Some(bound)
}

/// Bind one server. Errors are supervisord's usage messages.
fn bind(spec: &Spec) -> Result<Bound, String> {
    if let Some(bound) = from_systemd(spec) {
        return Ok(bound);
    }
    match &spec.address {
        Address::Inet { host, port } => bind_tcp(host, *port)
            .map(Bound::Inet)
            .map_err(|e| bind_error(&e)),
        Address::Unix(file) => {
            // The socket file has its mode and owner before it is reachable at `file`.
            let (mode, owner) = spec.unix_mode.clone().unwrap_or((0o700, None));
            let ids = owner.as_ref().map(|o| (o.uid, o.gid));
            match unix_bind::bind(file, mode, ids) {
                Ok(listener) => Ok(Bound::Unix(listener)),
                Err(BindError::InUse) => Err(IN_USE.to_string()),
                Err(BindError::Bind(e)) => Err(bind_error(&e)),
                Err(BindError::Chmod(e)) => {
                    Err(format!("Cannot change permissions of {file}: {e}"))
                }
                Err(BindError::Chown) => {
                    Err(chown_error(file, owner.as_ref().map_or("", |o| &o.spec)))
                }
            }
        }
    }
}

/// A unix socket file's `chmod` and `chown`.
fn set_mode(spec: &Spec) -> Result<(), String> {
    if let (Address::Unix(file), Some((mode, owner))) = (&spec.address, &spec.unix_mode) {
        if crate::sockets::systemd().has_unix(file) {
            return Ok(()); // systemd's SocketMode=/SocketUser= rule its socket
        }
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
        mainlog::info(format!("dashboard: {}", dashboard_url(spec)));
    }
}

/// Where a server's dashboard is, for the start-up line.
fn dashboard_url(spec: &Spec) -> String {
    match &spec.address {
        Address::Inet { host, port } => {
            let (host, note) = match host.as_str() {
                "0.0.0.0" | "::" => ("localhost", " (on every address of this host)"),
                h => (h, ""),
            };
            if host.contains(':') {
                format!("http://[{host}]:{port}/dashboard/{note}")
            } else {
                format!("http://{host}:{port}/dashboard/{note}")
            }
        }
        Address::Unix(file) => format!("/dashboard/ on the unix socket {file}"),
    }
}

impl Listeners {
    pub fn log_startup(&self, config: &Config) {
        log_startup(self.bound.iter().map(|(s, _)| s), config);
    }

    /// The servers an upgraded corrald handed over, under the descriptors it passed.
    pub fn adopt(servers: Vec<(ServerExport, std::os::fd::OwnedFd)>) -> Listeners {
        let mut l = Listeners::default();
        for (s, fd) in servers {
            let bound = match s.spec.address {
                Address::Unix(_) => Bound::Unix(StdUnixListener::from(fd)),
                Address::Inet { .. } => Bound::Inet(StdTcpListener::from(fd)),
            };
            l.bound.push((s.spec, bound));
        }
        l
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
    /// The listening socket's descriptor number (for an upgrade's handover).
    fd: std::os::fd::RawFd,
    /// A unix server's socket file as bound (device, inode).
    identity: Option<FileId>,
}

/// The HTTP servers while the daemon runs.
pub struct Servers {
    sup: Rc<Supervisor>,
    /// Each server's connection limits.
    limits: Limits,
    /// Failed authentications, counted per client across the servers.
    guard: Rc<AuthGuard>,
    running: Vec<Running>,
}

/// Accept connections on every listener, for as long as the daemon runs (or until a
/// reload moves or removes a server).
pub fn serve(listeners: Listeners, sup: &Rc<Supervisor>) -> Servers {
    let mut servers = Servers {
        sup: sup.clone(),
        limits: Limits::for_descriptors(
            crate::sys::getrlimit(libc::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft),
        ),
        guard: Rc::new(AuthGuard::default()),
        running: Vec::new(),
    };
    for (spec, bound) in listeners.bound {
        servers.start(spec, bound);
    }
    servers
}

/// One HTTP server in an upgrade's handover.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ServerExport {
    pub spec: Spec,
    pub fd: std::os::fd::RawFd,
}

impl Servers {
    /// An upgrade's handover: every server being served, and its socket's number.
    pub fn export(&self) -> Vec<ServerExport> {
        self.running
            .iter()
            .map(|r| ServerExport {
                spec: r.spec.clone(),
                fd: r.fd,
            })
            .collect()
    }

    fn start(&mut self, spec: Spec, bound: Bound) {
        let auth = Rc::new(RefCell::new(Rc::new(spec.auth.clone())));
        let fd = match &bound {
            Bound::Unix(l) => std::os::fd::AsRawFd::as_raw_fd(l),
            Bound::Inet(l) => std::os::fd::AsRawFd::as_raw_fd(l),
        };
        match self.accept(&spec, bound, &auth) {
            Ok((task, identity)) => self.running.push(Running {
                spec,
                auth,
                task,
                fd,
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
                // A socket systemd passed stays where systemd put it.
                let cleanup = (!crate::sockets::systemd().has_unix(path)).then(|| UnlinkOnDrop {
                    path: path.clone(),
                    identity,
                });
                Ok((
                    self.accept_loop(listener, &spec.section, site, auth, cleanup),
                    identity,
                ))
            }
            (Bound::Inet(l), _) => {
                let _ = l.set_nonblocking(true);
                let listener = TcpListener::from_std(l)
                    .map_err(|e| format!("cannot serve [{}]: {e}", spec.section))?;
                let site = web::Site::inet(listener.local_addr().ok());
                Ok((
                    self.accept_loop(listener, &spec.section, site, auth, None),
                    None,
                ))
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
        section: &str,
        site: web::Site,
        auth: &Rc<RefCell<Rc<Auth>>>,
        cleanup: Option<UnlinkOnDrop>,
    ) -> JoinHandle<()> {
        let server = Rc::new(conn::Server {
            section: section.to_string(),
            site,
            pool: Pool::new(section, self.limits),
            guard: self.guard.clone(),
        });
        let (sup, auth) = (self.sup.clone(), auth.clone());
        tokio::task::spawn_local(async move {
            let _cleanup = cleanup;
            loop {
                match listener.next().await {
                    Ok((stream, peer)) => {
                        let auth = auth.borrow().clone();
                        conn::spawn(stream, peer, sup.clone(), auth, &server);
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
    /// The next connection, and who is at its other end.
    async fn next(&self) -> io::Result<(Self::Stream, Peer)>;
}

impl Accept for TcpListener {
    type Stream = TcpStream;
    async fn next(&self) -> io::Result<(TcpStream, Peer)> {
        let (stream, addr) = self.accept().await?;
        let _ = stream.set_nodelay(true);
        Ok((stream, Peer::Inet(addr.ip())))
    }
}

impl Accept for UnixListener {
    type Stream = UnixStream;
    async fn next(&self) -> io::Result<(UnixStream, Peer)> {
        let (stream, _) = self.accept().await?;
        // SO_PEERCRED: one getsockopt, for the log line of a failed authentication.
        let cred = stream.peer_cred().ok();
        let peer = Peer::Unix {
            pid: cred.and_then(|c| c.pid()),
            uid: cred.map(|c| c.uid()),
        };
        Ok((stream, peer))
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
    crate::sys::chown(path, owner.uid, owner.gid).map_err(|_| chown_error(path, &owner.spec))
}

fn chown_error(path: &str, spec: &str) -> String {
    format!(
        "Not permitted to chown {path} to uid/gid {spec}; adjust \"sockchown\" value in config file or on command \
         line to values that the current user can successfully chown"
    )
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
