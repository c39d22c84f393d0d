//! The control plane: supervisord's HTTP servers (`[unix_http_server]`,
//! `[inet_http_server]`) serving XML-RPC on `/RPC2`, log tails on `/logtail/…` and
//! `/mainlogtail`, and supervisord's web interface on every other path, so supervisorctl,
//! superlance, every tool built on that API and a browser work against corrald unchanged.

mod conn;
mod corral;
mod logtail;
pub mod methods;
mod web;

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
#[derive(Debug, Clone, Default)]
pub struct Auth {
    pub username: Option<String>,
    pub password: Option<String>,
}

/// The HTTP servers' listening sockets, bound before the daemon daemonizes.
#[derive(Debug, Default)]
pub struct Listeners {
    unix: Vec<(String, Auth, StdUnixListener, String)>,
    inet: Vec<(String, Auth, StdTcpListener)>,
}

const IN_USE: &str = "Another program is already listening on a port that one of our HTTP servers is configured to \
                      use.  Shut this program down first before starting supervisord.";

impl Listeners {
    /// supervisord's start-up lines about its servers, per server: each RPC interface
    /// initialized, then a warning if it has no authentication.
    pub fn log_startup(&self, config: &Config) {
        let sections = self
            .inet
            .iter()
            .map(|(s, a, _)| (s, a))
            .chain(self.unix.iter().map(|(s, a, _, _)| (s, a)));
        for (section, auth) in sections {
            for r in &config.rpcinterfaces {
                mainlog::info(format!("RPC interface '{}' initialized", r.name));
            }
            if auth.username.is_none() {
                mainlog::critical(format!(
                    "Server '{section}' running without any HTTP authentication checking"
                ));
            }
        }
    }

    /// Bind every configured server. Errors are supervisord's usage messages.
    pub fn open(config: &Config) -> Result<Listeners, String> {
        let mut l = Listeners::default();
        for s in &config.inet_http_servers {
            let host = if s.host.is_empty() {
                "0.0.0.0"
            } else {
                s.host.as_str()
            };
            let listener = bind_tcp(host, s.port).map_err(|e| bind_error(&e))?;
            let auth = Auth {
                username: s.username.clone(),
                password: s.password.clone(),
            };
            l.inet.push((s.section.clone(), auth, listener));
        }
        for s in &config.unix_http_servers {
            sockets::remove_stale_unix_socket(&s.file).map_err(|e| {
                if e.kind() == io::ErrorKind::AddrInUse {
                    IN_USE.to_string()
                } else {
                    bind_error(&e)
                }
            })?;
            let listener = StdUnixListener::bind(&s.file).map_err(|e| bind_error(&e))?;
            std::fs::set_permissions(&s.file, std::fs::Permissions::from_mode(s.chmod))
                .map_err(|e| format!("Cannot change permissions of {}: {e}", s.file))?;
            if let Some(owner) = &s.chown {
                chown(&s.file, owner)?;
            }
            let auth = Auth {
                username: s.username.clone(),
                password: s.password.clone(),
            };
            l.unix
                .push((s.section.clone(), auth, listener, s.file.clone()));
        }
        Ok(l)
    }
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

/// Accept connections on every listener, for as long as the daemon runs.
pub fn serve(listeners: Listeners, sup: &Rc<Supervisor>) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    let limiter = Rc::new(conn::Limiter::default());
    for (_, auth, l, path) in listeners.unix {
        let _ = l.set_nonblocking(true);
        let listener = match UnixListener::from_std(l) {
            Ok(l) => l,
            Err(e) => {
                mainlog::critical(format!("cannot serve {path}: {e}"));
                continue;
            }
        };
        let (sup, auth, limiter) = (sup.clone(), Rc::new(auth), limiter.clone());
        let site = Rc::new(web::Site::unix(&path));
        tasks.push(tokio::task::spawn_local(async move {
            let _cleanup = UnlinkOnDrop(path);
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        conn::spawn(stream, sup.clone(), auth.clone(), site.clone(), &limiter);
                    }
                    Err(e) => {
                        mainlog::warn(format!("accept failed: {e}"));
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    for (section, auth, l) in listeners.inet {
        let _ = l.set_nonblocking(true);
        let listener = match TcpListener::from_std(l) {
            Ok(l) => l,
            Err(e) => {
                mainlog::critical(format!("cannot serve [{section}]: {e}"));
                continue;
            }
        };
        let (sup, auth, limiter) = (sup.clone(), Rc::new(auth), limiter.clone());
        let site = Rc::new(web::Site::inet(listener.local_addr().ok()));
        tasks.push(tokio::task::spawn_local(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        conn::spawn(stream, sup.clone(), auth.clone(), site.clone(), &limiter);
                    }
                    Err(e) => {
                        mainlog::warn(format!("accept failed: {e}"));
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                }
            }
        }));
    }
    tasks
}

/// The unix socket file goes when the server stops (supervisord unlinks it at exit).
struct UnlinkOnDrop(String);

impl Drop for UnlinkOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
