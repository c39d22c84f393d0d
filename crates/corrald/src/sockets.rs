//! Listening sockets owned by corrald: `[socket:NAME]` sections (handed to programs with
//! systemd's LISTEN_FDS protocol) and `[fcgi-program:x] socket=` (handed as fd 0).
//!
//! corrald binds them once and keeps them open across program restarts, `update` and HUP
//! reloads: a socket whose definition did not change is never closed, so connections queue
//! in its backlog while a program restarts instead of being refused, and no restart can
//! fail with `Address already in use`. They are bound before corrald drops privileges, so
//! a program running as an ordinary user can serve port 80.
//!
//! Under systemd socket activation, corrald is itself given sockets (`LISTEN_FDS`,
//! [`SystemdSockets`]): a `[socket:x] listen=systemd:NAME` takes the one named NAME, and
//! the HTTP servers take one bound to their own address.

pub mod unix_bind;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::rc::Rc;

use socket2::{Domain, Socket, Type};

use corral_config::{FcgiSocket, ListenAddress, OwnerSpec, SocketConfig};

use crate::logs::mainlog;
use crate::sys;

/// A bound, listening socket. Shared by every process it is passed to.
#[derive(Debug)]
pub struct Listening {
    pub fd: OwnedFd,
    /// Unix socket path to unlink when the socket is closed for good.
    unix_path: Option<String>,
}

impl AsRawFd for Listening {
    fn as_raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

impl Listening {
    /// A socket an upgraded corrald handed over.
    pub fn adopt(fd: OwnedFd, unix_path: Option<String>) -> Listening {
        Listening { fd, unix_path }
    }

    pub fn unix_path(&self) -> Option<&str> {
        self.unix_path.as_deref()
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(p) = &self.unix_path {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Options that shape a listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindOptions {
    pub backlog: u32,
    pub mode: Option<u32>,
    pub owner: Option<OwnerSpec>,
    pub reuseport: bool,
    pub ipv6only: bool,
    pub nodelay: bool,
    pub keepalive: bool,
}

/// Create, configure, bind and listen.
pub fn bind(addr: &ListenAddress, opts: &BindOptions) -> io::Result<Listening> {
    match addr {
        ListenAddress::Systemd { name } => Ok(Listening {
            fd: systemd().named(name)?,
            unix_path: None,
        }),
        ListenAddress::Tcp { host, port } => {
            let sa = resolve(host, *port)?;
            let sock = Socket::new(Domain::for_address(sa), Type::STREAM.cloexec(), None)?;
            // Rebinding a port with connections in TIME_WAIT must work after a restart.
            sock.set_reuse_address(true)?;
            if opts.reuseport {
                sock.set_reuse_port(true)?;
            }
            if sa.is_ipv6() {
                sock.set_only_v6(opts.ipv6only)?;
            }
            if opts.nodelay {
                sock.set_tcp_nodelay(true)?;
            }
            if opts.keepalive {
                sock.set_keepalive(true)?;
            }
            sock.bind(&sa.into())?;
            sock.listen(backlog(opts.backlog))?;
            Ok(Listening {
                fd: sock.into(),
                unix_path: None,
            })
        }
        ListenAddress::Unix { path } if opts.mode.is_some() || opts.owner.is_some() => {
            // Never reachable with another mode or owner than the configured ones.
            let owner = opts.owner.as_ref().map(|o| (o.uid, o.gid));
            // Without a mode, what binding gives: 0777 less the umask.
            let mode = opts.mode.unwrap_or_else(|| {
                let umask = sys::umask(0o022);
                sys::umask(umask);
                0o777 & !umask
            });
            let listener = unix_bind::bind_with_backlog(path, mode, owner, backlog(opts.backlog))?;
            Ok(Listening {
                fd: listener.into(),
                unix_path: Some(path.clone()),
            })
        }
        ListenAddress::Unix { path } => {
            remove_stale_unix_socket(path)?;
            let sock = Socket::new(Domain::UNIX, Type::STREAM.cloexec(), None)?;
            sock.bind(&socket2::SockAddr::unix(path)?)?;
            if let Some(owner) = &opts.owner {
                sys::chown(path, owner.uid, owner.gid)?;
            }
            if let Some(mode) = opts.mode {
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            }
            sock.listen(backlog(opts.backlog))?;
            Ok(Listening {
                fd: sock.into(),
                unix_path: Some(path.clone()),
            })
        }
    }
}

fn backlog(b: u32) -> i32 {
    i32::try_from(b).unwrap_or(i32::MAX)
}

fn resolve(host: &str, port: u16) -> io::Result<SocketAddr> {
    let host = if host.is_empty() || host == "*" {
        "0.0.0.0"
    } else {
        host
    };
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("cannot resolve {host}")))
}

/// A socket file nobody listens on (left by a crash) is removed; a live one is an error.
pub fn remove_stale_unix_socket(path: &str) -> io::Result<()> {
    if !Path::new(path).exists() {
        return Ok(());
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("another process is already listening on {path}"),
        )),
        Err(_) => std::fs::remove_file(path),
    }
}

/// The options of a `[socket:x]` section.
pub fn options_of(cfg: &SocketConfig) -> BindOptions {
    BindOptions {
        backlog: cfg.backlog,
        mode: matches!(cfg.address, ListenAddress::Unix { .. }).then_some(cfg.mode),
        owner: cfg.owner.clone(),
        reuseport: cfg.reuseport,
        ipv6only: cfg.ipv6only,
        nodelay: cfg.nodelay,
        keepalive: cfg.keepalive,
    }
}

/// Parse and bind an `[fcgi-program:x] socket=` (supervisord's `parse_fcgi_socket` rules,
/// checked by the config already).
pub fn bind_fcgi(s: &FcgiSocket) -> io::Result<Listening> {
    let bad = || io::Error::new(io::ErrorKind::InvalidInput, "Bad socket format");
    let addr = if let Some(path) = s.url.strip_prefix("unix://") {
        ListenAddress::Unix {
            path: path.to_string(),
        }
    } else if let Some(hp) = s.url.strip_prefix("tcp://") {
        let (host, port) = hp.rsplit_once(':').ok_or_else(bad)?;
        ListenAddress::Tcp {
            host: host.to_string(),
            port: port.parse().map_err(|_| bad())?,
        }
    } else {
        return Err(bad());
    };
    let is_unix = matches!(addr, ListenAddress::Unix { .. });
    bind(
        &addr,
        &BindOptions {
            // supervisord listens with the configured backlog or SOMAXCONN.
            backlog: s.backlog.unwrap_or(libc::SOMAXCONN as u32),
            mode: is_unix.then(|| s.mode.unwrap_or(0o700)),
            owner: s.owner.clone(),
            reuseport: false,
            ipv6only: false,
            nodelay: false,
            keepalive: false,
        },
    )
}

/// The sockets systemd passed to corrald (`LISTEN_FDS`, `LISTEN_FDNAMES`, `LISTEN_PID`:
/// systemd's socket activation). They stay open as long as corrald runs (systemd owns
/// them); whoever uses one gets a duplicate, so a reload can use it again.
#[derive(Debug, Default)]
pub struct SystemdSockets {
    fds: Vec<Passed>,
}

#[derive(Debug)]
struct Passed {
    name: String,
    fd: OwnedFd,
    used: std::sync::atomic::AtomicBool,
}

static SYSTEMD: std::sync::OnceLock<SystemdSockets> = std::sync::OnceLock::new();

/// The sockets systemd passed (none until [`SystemdSockets::adopt_from_env`] ran).
pub fn systemd() -> &'static SystemdSockets {
    SYSTEMD.get_or_init(SystemdSockets::default)
}

/// The first descriptor of `LISTEN_FDS` (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: i32 = 3;

impl SystemdSockets {
    /// Read `LISTEN_PID`/`LISTEN_FDS`/`LISTEN_FDNAMES` (once, at start-up, before anything
    /// else opens a descriptor) and take the sockets they describe, when they are meant for
    /// this process. Returns what to log.
    pub fn adopt_from_env(env: &BTreeMap<String, String>) -> Vec<String> {
        let (me, notes) = Self::parse(env, sys::getpid(), |fd| {
            sys::handover::adopt_inherited(fd).ok()
        });
        let _ = SYSTEMD.set(me);
        notes
    }

    fn parse(
        env: &BTreeMap<String, String>,
        pid: i32,
        adopt: impl Fn(i32) -> Option<OwnedFd>,
    ) -> (SystemdSockets, Vec<String>) {
        let mut notes = Vec::new();
        let Some(count) = env.get("LISTEN_FDS") else {
            return (SystemdSockets::default(), notes);
        };
        // sd_listen_fds: only for the process LISTEN_PID names (a child that inherited the
        // variables must not take descriptors that are not its own).
        if env.get("LISTEN_PID").and_then(|p| p.parse::<i32>().ok()) != Some(pid) {
            notes.push(format!(
                "LISTEN_FDS is set but LISTEN_PID ({}) is not corrald's pid ({pid}): the \
                 sockets are not for corrald, ignored",
                env.get("LISTEN_PID").map_or("unset", String::as_str)
            ));
            return (SystemdSockets::default(), notes);
        }
        let Ok(count) = count.parse::<i32>() else {
            notes.push(format!("LISTEN_FDS={count} is not a number: ignored"));
            return (SystemdSockets::default(), notes);
        };
        let names: Vec<&str> = env
            .get("LISTEN_FDNAMES")
            .map(|n| n.split(':').collect())
            .unwrap_or_default();
        let mut fds = Vec::new();
        for i in 0..count.clamp(0, 4096) {
            let raw = LISTEN_FDS_START + i;
            // systemd's default name for a descriptor without one.
            let name = names
                .get(i as usize)
                .filter(|n| !n.is_empty())
                .map_or("unknown", |n| n)
                .to_string();
            match adopt(raw) {
                Some(fd) => fds.push(Passed {
                    name,
                    fd,
                    used: std::sync::atomic::AtomicBool::new(false),
                }),
                None => notes.push(format!(
                    "LISTEN_FDS names fd {raw} ({name}), which is not open: ignored"
                )),
            }
        }
        (SystemdSockets { fds }, notes)
    }

    fn take(&self, p: &Passed) -> io::Result<OwnedFd> {
        p.used.store(true, std::sync::atomic::Ordering::Relaxed);
        p.fd.try_clone()
    }

    /// A duplicate of the socket named `name` (`[socket:x] listen=systemd:NAME`).
    pub fn named(&self, name: &str) -> io::Result<OwnedFd> {
        match self.fds.iter().find(|p| p.name == name) {
            Some(p) => self.take(p),
            None => {
                let passed: Vec<&str> = self.fds.iter().map(|p| p.name.as_str()).collect();
                Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    if passed.is_empty() {
                        format!(
                            "systemd passed no socket named {name} (no LISTEN_FDS: is corrald \
                             started by a socket unit, with FileDescriptorName={name}?)"
                        )
                    } else {
                        format!(
                            "systemd passed no socket named {name} (LISTEN_FDNAMES: {})",
                            passed.join(", ")
                        )
                    },
                ))
            }
        }
    }

    /// A duplicate of the passed TCP socket listening on `host:port` (`host` empty for all
    /// interfaces), for `[inet_http_server]`; with its name.
    pub fn tcp(&self, host: &str, port: u16) -> Option<(OwnedFd, String)> {
        let wanted: Vec<SocketAddr> = if host.is_empty() || host == "*" || host == "0.0.0.0" {
            Vec::new()
        } else {
            (host, port)
                .to_socket_addrs()
                .map(Iterator::collect)
                .unwrap_or_default()
        };
        self.fds.iter().find_map(|p| {
            let addr = socket2::SockRef::from(&p.fd).local_addr().ok()?;
            let addr = addr.as_socket()?;
            let matches = addr.port() == port
                && if wanted.is_empty() {
                    addr.ip().is_unspecified()
                } else {
                    wanted.iter().any(|w| w.ip() == addr.ip())
                };
            matches
                .then(|| self.take(p).ok().map(|fd| (fd, p.name.clone())))
                .flatten()
        })
    }

    /// A duplicate of the passed unix socket bound at `path`, for `[unix_http_server]`;
    /// with its name.
    pub fn unix(&self, path: &str) -> Option<(OwnedFd, String)> {
        self.fds.iter().find_map(|p| {
            let addr = socket2::SockRef::from(&p.fd).local_addr().ok()?;
            let bound = addr.as_pathname()?;
            (bound == Path::new(path))
                .then(|| self.take(p).ok().map(|fd| (fd, p.name.clone())))
                .flatten()
        })
    }

    /// Whether a passed socket is bound at `path` (systemd owns that file).
    pub fn has_unix(&self, path: &str) -> bool {
        self.fds.iter().any(|p| {
            socket2::SockRef::from(&p.fd)
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|b| b == Path::new(path)))
                .unwrap_or(false)
        })
    }

    /// The names of passed sockets nothing has used (after start-up: to warn about).
    pub fn unused(&self) -> Vec<String> {
        self.fds
            .iter()
            .filter(|p| !p.used.load(std::sync::atomic::Ordering::Relaxed))
            .map(|p| format!("{} (fd {})", p.name, p.fd.as_raw_fd()))
            .collect()
    }
}

/// The `[socket:x]` sockets currently open, by name.
#[derive(Debug, Default)]
pub struct Registry {
    open: RefCell<BTreeMap<String, (SocketConfig, Rc<Listening>)>>,
}

impl Registry {
    /// Make the open sockets match `configs`: unchanged ones stay open (same fd), new or
    /// changed ones are bound, removed ones closed. Returns the errors, one per socket.
    pub fn sync(&self, configs: &[SocketConfig]) -> Vec<String> {
        let mut errors = Vec::new();
        let mut open = self.open.borrow_mut();
        open.retain(|name, (cfg, _)| {
            let keep = configs.iter().any(|c| c == cfg);
            if !keep {
                mainlog::info(format!("closing socket '{name}' ({})", cfg.listen));
            }
            keep
        });
        for cfg in configs {
            if open.contains_key(&cfg.name) {
                continue;
            }
            match bind(&cfg.address, &options_of(cfg)) {
                Ok(l) => {
                    let how = if matches!(cfg.address, ListenAddress::Systemd { .. }) {
                        "passed by systemd"
                    } else {
                        "listening on"
                    };
                    mainlog::info(format!("socket '{}' {how} {}", cfg.name, cfg.listen));
                    open.insert(cfg.name.clone(), (cfg.clone(), Rc::new(l)));
                }
                Err(e) => errors.push(format!(
                    "[socket:{}] listen={}: cannot listen: {e}",
                    cfg.name, cfg.listen
                )),
            }
        }
        errors
    }

    pub fn get(&self, name: &str) -> Option<Rc<Listening>> {
        self.open.borrow().get(name).map(|(_, l)| l.clone())
    }

    /// Close everything (shutdown).
    pub fn close_all(&self) {
        self.open.borrow_mut().clear();
    }

    /// An upgrade's handover: every open socket, its configuration and descriptor number.
    pub fn export(&self) -> Vec<SocketExport> {
        self.open
            .borrow()
            .values()
            .map(|(cfg, l)| SocketExport {
                config: cfg.clone(),
                fd: l.as_raw_fd(),
                unix_path: l.unix_path.clone(),
            })
            .collect()
    }

    /// Take over the sockets an upgraded corrald handed over.
    pub fn adopt(&self, sockets: Vec<(SocketExport, OwnedFd)>) {
        let mut open = self.open.borrow_mut();
        for (s, fd) in sockets {
            let l = Listening::adopt(fd, s.unix_path);
            open.insert(s.config.name.clone(), (s.config, Rc::new(l)));
        }
    }
}

/// One `[socket:x]` socket in an upgrade's handover.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SocketExport {
    pub config: SocketConfig,
    pub fd: std::os::fd::RawFd,
    pub unix_path: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::env;

    /// Adopts a fresh TCP listener in place of each inherited descriptor number.
    fn fake_adopt(raw: i32) -> Option<OwnedFd> {
        if raw > 4 {
            return None;
        }
        let l = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
        Some(OwnedFd::from(l))
    }

    #[test]
    fn systemd_sockets_follow_sd_listen_fds_rules() {
        // Not for us: nothing is taken.
        let (s, notes) = SystemdSockets::parse(
            &env(&[("LISTEN_FDS", "1"), ("LISTEN_PID", "99")]),
            42,
            fake_adopt,
        );
        assert!(s.fds.is_empty());
        assert!(notes[0].contains("not corrald's pid (42)"), "{notes:?}");
        // Named, unnamed, and one that is not open.
        let (s, notes) = SystemdSockets::parse(
            &env(&[
                ("LISTEN_FDS", "3"),
                ("LISTEN_PID", "42"),
                ("LISTEN_FDNAMES", "web:"),
            ]),
            42,
            fake_adopt,
        );
        assert_eq!(s.fds.len(), 2);
        assert_eq!(s.fds[0].name, "web");
        assert_eq!(s.fds[1].name, "unknown");
        assert!(notes[0].contains("fd 5"), "{notes:?}");
        assert!(s.named("web").is_ok());
        let e = s.named("api").unwrap_err().to_string();
        assert!(e.contains("LISTEN_FDNAMES: web, unknown"), "{e}");
        assert_eq!(
            s.unused(),
            vec![format!("unknown (fd {})", s.fds[1].fd.as_raw_fd())]
        );
        let port = socket2::SockRef::from(&s.fds[1].fd)
            .local_addr()
            .unwrap()
            .as_socket()
            .unwrap()
            .port();
        assert!(s.tcp("127.0.0.1", port).is_some());
        assert!(
            s.tcp("", port).is_none(),
            "bound to 127.0.0.1, not to all interfaces"
        );
        assert!(s.unused().is_empty());
    }
}
