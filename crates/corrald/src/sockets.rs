//! Listening sockets owned by corrald: `[socket:NAME]` sections (handed to programs with
//! systemd's LISTEN_FDS protocol) and `[fcgi-program:x] socket=` (handed as fd 0).
//!
//! corrald binds them once and keeps them open across program restarts, `update` and HUP
//! reloads: a socket whose definition did not change is never closed, so connections queue
//! in its backlog while a program restarts instead of being refused, and no restart can
//! fail with `Address already in use`. They are bound before corrald drops privileges, so
//! a program running as an ordinary user can serve port 80.

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

use crate::mainlog;
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
                    mainlog::info(format!("socket '{}' listening on {}", cfg.name, cfg.listen));
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
}
