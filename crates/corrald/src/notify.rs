//! corrald as a systemd service of `Type=notify` (or `notify-reload`): the sd_notify
//! messages it sends about itself on `NOTIFY_SOCKET`. When does what is the daemon's
//! business (`daemon.rs`); this is the sending, in the datagram format systemd reads
//! (`KEY=VALUE` lines; `corral_proto::notify` is the parser of the same format, used by
//! the tests).
//!
//! Without `NOTIFY_SOCKET` nothing is sent, so corrald behaves as supervisord does. The
//! variables are systemd's for corrald alone: the programs corrald starts never inherit
//! them (see [`SYSTEMD_VARIABLES`]).

use std::collections::BTreeMap;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use crate::logs::mainlog;

/// What systemd sets for corrald itself: never passed on to its programs (a program that
/// found `NOTIFY_SOCKET` would speak for corrald; one that found `LISTEN_FDS` would take
/// descriptors that are not its own).
pub const SYSTEMD_VARIABLES: &[&str] = &[
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
];

/// The socket to systemd's service manager.
#[derive(Debug)]
pub struct Notifier {
    sock: UnixDatagram,
    addr: SocketAddr,
    /// A failed send is logged once, not at every status change.
    failed: std::cell::Cell<bool>,
}

impl Notifier {
    /// The notifier `NOTIFY_SOCKET` asks for (a path, or `@name` in the abstract
    /// namespace), if it is set.
    pub fn from_env(env: &BTreeMap<String, String>) -> Option<Notifier> {
        let target = env.get("NOTIFY_SOCKET").filter(|t| !t.is_empty())?;
        let addr = match target.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
            None if target.starts_with('/') => SocketAddr::from_pathname(target),
            None => {
                mainlog::warn(format!(
                    "NOTIFY_SOCKET={target} is neither an absolute path nor @abstract: not \
                     notifying systemd"
                ));
                return None;
            }
        };
        let addr = match addr {
            Ok(a) => a,
            Err(e) => {
                mainlog::warn(format!(
                    "NOTIFY_SOCKET={target}: {e}; not notifying systemd"
                ));
                return None;
            }
        };
        let sock = match UnixDatagram::unbound() {
            Ok(s) => s,
            Err(e) => {
                mainlog::warn(format!("cannot create the sd_notify socket: {e}"));
                return None;
            }
        };
        // Never block the daemon on the service manager.
        let _ = sock.set_nonblocking(true);
        Some(Notifier {
            sock,
            addr,
            failed: std::cell::Cell::new(false),
        })
    }

    /// Send one datagram (`READY=1\nSTATUS=…`).
    pub fn send(&self, message: &str) {
        match self.sock.send_to_addr(message.as_bytes(), &self.addr) {
            Ok(_) => self.failed.set(false),
            Err(e) => {
                if !self.failed.replace(true) {
                    mainlog::warn(format!("cannot notify systemd (NOTIFY_SOCKET): {e}"));
                }
            }
        }
    }

    /// `READY=1`, with the status line.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={}", one_line(status)));
    }

    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={}", one_line(status)));
    }

    pub fn stopping(&self, status: &str) {
        self.send(&format!("STOPPING=1\nSTATUS={}", one_line(status)));
    }

    /// `RELOADING=1` with the `MONOTONIC_USEC=` `Type=notify-reload` requires.
    pub fn reloading(&self, status: &str) {
        self.send(&format!(
            "RELOADING=1\nMONOTONIC_USEC={}\nSTATUS={}",
            crate::sys::monotonic_usec(),
            one_line(status)
        ));
    }

    pub fn watchdog(&self) {
        self.send("WATCHDOG=1");
    }
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC` (systemd's advice), when it is
/// set for this process (`WATCHDOG_PID` unset or ours).
pub fn watchdog_interval(env: &BTreeMap<String, String>, pid: i32) -> Option<Duration> {
    let usec: u64 = env.get("WATCHDOG_USEC")?.parse().ok()?;
    if let Some(p) = env.get("WATCHDOG_PID") {
        if p.parse::<i32>().ok() != Some(pid) {
            return None;
        }
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// A status is one line of the datagram.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::env;
    use corral_proto::notify;

    #[test]
    fn messages_are_what_systemd_parses() {
        let dir = std::env::temp_dir().join(format!("corral-notify-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let manager = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::from_env(&env(&[("NOTIFY_SOCKET", path.to_str().unwrap())])).unwrap();
        let mut buf = vec![0u8; notify::MAX_DATAGRAM + 1];
        let mut next = || {
            let len = manager.recv(&mut buf).unwrap();
            notify::parse(&buf[..len]).unwrap()
        };
        n.ready("3 of 3 running\nsecond line");
        let m = next();
        assert!(m.ready);
        assert_eq!(m.status.as_deref(), Some("3 of 3 running second line"));
        n.reloading("reloading");
        let m = next();
        assert!(m.reloading && m.monotonic_usec.is_some());
        n.stopping("stopping");
        assert!(next().stopping);
        n.watchdog();
        assert_eq!(next().watchdog, Some(notify::Watchdog::Ping));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn abstract_sockets_and_watchdog() {
        assert!(Notifier::from_env(&env(&[("NOTIFY_SOCKET", "@x/y")])).is_some());
        assert!(Notifier::from_env(&env(&[("NOTIFY_SOCKET", "relative")])).is_none());
        assert!(Notifier::from_env(&env(&[])).is_none());
        assert_eq!(
            watchdog_interval(&env(&[("WATCHDOG_USEC", "2000000")]), 7),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            watchdog_interval(
                &env(&[("WATCHDOG_USEC", "2000000"), ("WATCHDOG_PID", "8")]),
                7
            ),
            None
        );
        assert_eq!(watchdog_interval(&env(&[("WATCHDOG_USEC", "0")]), 7), None);
    }
}
