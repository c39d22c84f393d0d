//! Readiness probes: how corrald learns that a STARTING process is ready to serve.
//!
//! * `notify`: systemd's sd_notify protocol. Each spawn gets its own datagram socket in the
//!   abstract namespace, passed as `NOTIFY_SOCKET` (also for `watchdogsecs=`); `READY=1`
//!   makes the process RUNNING, `STATUS=…` is kept for `corral` status output, `STOPPING=1`
//!   is logged, `WATCHDOG=1` and `WATCHDOG=trigger` go to the machine's watchdog. Gunicorn
//!   sends READY=1 when its workers are up.
//! * `tcp://HOST:PORT`: a connect succeeds.
//! * `http://HOST:PORT/PATH`: a GET answers 2xx.
//! * `exec:COMMAND`: `/bin/sh -c COMMAND` exits 0 (spawned and reaped through corrald's own
//!   spawner and reaper, never through tokio::process).
//!
//! The polling probes retry every 100 ms (exec: 500 ms) until the state machine's
//! `readiness_timeout` gives up; they only run while a process is STARTING.

use std::cell::RefCell;
use std::ffi::CString;
use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixDatagram};
use tokio::task::JoinHandle;

use corral_config::Readiness;
use corral_proto::notify;

use super::Command;
use super::local;
use crate::logs::mainlog;
use crate::reaper::Reaper;
use crate::sys::spawn::{ExecPlan, fork_exec};

const POLL: Duration = Duration::from_millis(100);
const EXEC_POLL: Duration = Duration::from_millis(500);

/// Start the polling probe for `pid`. `notify` is handled by [`NotifySocket`] instead.
pub fn start(
    readiness: &Readiness,
    pid: corral_core::Pid,
    tx: local::WeakSender<Command>,
    reaper: Rc<Reaper>,
) -> Option<JoinHandle<()>> {
    let poll = match readiness {
        Readiness::Startsecs | Readiness::Notify => return None,
        Readiness::Exec { .. } => EXEC_POLL,
        Readiness::Tcp { .. } | Readiness::Http { .. } => POLL,
    };
    let readiness = readiness.clone();
    Some(tokio::task::spawn_local(async move {
        while !check(&readiness, &reaper).await {
            tokio::time::sleep(poll).await;
        }
        let _ = tx.send(Command::Ready(pid));
    }))
}

/// One try of a polling probe.
async fn check(readiness: &Readiness, reaper: &Reaper) -> bool {
    match readiness {
        Readiness::Tcp { host, port } => tcp(host, *port).await.is_ok(),
        Readiness::Http { url } => {
            let status = http_status(url, Some(READ_TIMEOUT), "corrald-readiness").await;
            status.is_ok_and(|code| (200..300).contains(&code))
        }
        Readiness::Exec { command } => exec_ok(command, reaper).await,
        Readiness::Startsecs | Readiness::Notify => true,
    }
}

/// How long a readiness probe waits for each part of an HTTP answer.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A TCP connection to `host:port` succeeds; why not, in words, when it fails.
pub(super) async fn tcp(host: &str, port: u16) -> Result<(), String> {
    TcpStream::connect((host, port))
        .await
        .map(drop)
        .map_err(|e| e.kind().to_string())
}

/// The status code `http://host:port/path` answers to a plain GET (each read bounded by
/// `read_timeout` if given); why there is none, in words, when it fails.
pub(super) async fn http_status(
    url: &str,
    read_timeout: Option<Duration>,
    agent: &str,
) -> Result<u16, String> {
    let Some(rest) = url.strip_prefix("http://") else {
        return Err("not an http:// URL".into());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let mut stream = TcpStream::connect(authority)
        .await
        .map_err(|e| e.kind().to_string())?;
    let req = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: {agent}\r\n\r\n");
    stream
        .write_all(req.as_bytes())
        .await
        .map_err(|e| e.kind().to_string())?;
    let mut head = [0u8; 32];
    let mut got = 0;
    while got < 12 {
        let read = stream.read(&mut head[got..]);
        let n = match read_timeout {
            Some(t) => tokio::time::timeout(t, read)
                .await
                .map_err(|_| "no answer".to_string())?,
            None => read.await,
        };
        match n {
            Ok(0) => return Err("connection closed without an answer".into()),
            Ok(n) => got += n,
            Err(e) => return Err(e.kind().to_string()),
        }
    }
    // "HTTP/1.x NNN"
    let code = std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|_| head.starts_with(b"HTTP/1."));
    code.ok_or_else(|| "not an HTTP answer".into())
}

/// Run `/bin/sh -c command` with no stdio and wait for it through the reaper.
async fn exec_ok(command: &str, reaper: &Reaper) -> bool {
    let Ok(devnull) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    else {
        return false;
    };
    let Ok(cmd) = CString::new(command) else {
        return false;
    };
    let fd = devnull.as_raw_fd();
    let plan = ExecPlan::plain(
        CString::from(c"/bin/sh"),
        vec![CString::from(c"sh"), CString::from(c"-c"), cmd],
        std::env::vars()
            .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
            .collect(),
        [fd, fd, fd],
    );
    let Ok(pid) = fork_exec(&plan) else {
        return false;
    };
    let rx = reaper.register_once(pid);
    drop(devnull);
    matches!(rx.await, Ok(status) if status.exited_normally() && status.decode().0 == 0)
}

/// The sd_notify socket of one spawn.
#[derive(Debug)]
pub struct NotifySocket {
    /// The value for `NOTIFY_SOCKET` (`@…` = abstract namespace).
    pub env_value: String,
    /// The socket's descriptor number (for an upgrade's handover).
    fd: std::os::fd::RawFd,
    task: JoinHandle<()>,
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The last `STATUS=` a process sent, shared with the API.
pub type NotifyStatus = Rc<RefCell<Option<String>>>;

impl NotifySocket {
    /// Bind a fresh socket and listen for `name`'s messages; READY=1 reports `Ready(pid)`
    /// (the pid is filled in once known, via `set_pid`).
    pub fn bind(
        name: &str,
        tx: local::WeakSender<Command>,
        status: NotifyStatus,
    ) -> std::io::Result<(NotifySocket, Rc<std::cell::Cell<i32>>)> {
        use std::os::linux::net::SocketAddrExt;
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let abstract_name = format!("corral/{}/{}/{}", std::process::id(), n, sanitize(name));
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())?;
        let std_sock = std::os::unix::net::UnixDatagram::bind_addr(&addr)?;
        Self::listen(std_sock, format!("@{abstract_name}"), name, tx, status, 0)
    }

    /// Listen again on a socket an upgraded corrald handed over.
    pub fn adopt(
        fd: std::os::fd::OwnedFd,
        env_value: String,
        name: &str,
        tx: local::WeakSender<Command>,
        status: NotifyStatus,
        pid: i32,
    ) -> std::io::Result<(NotifySocket, Rc<std::cell::Cell<i32>>)> {
        let std_sock = std::os::unix::net::UnixDatagram::from(fd);
        Self::listen(std_sock, env_value, name, tx, status, pid)
    }

    /// The socket's descriptor number.
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd
    }

    fn listen(
        std_sock: std::os::unix::net::UnixDatagram,
        env_value: String,
        name: &str,
        tx: local::WeakSender<Command>,
        status: NotifyStatus,
        pid: i32,
    ) -> std::io::Result<(NotifySocket, Rc<std::cell::Cell<i32>>)> {
        std_sock.set_nonblocking(true)?;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&std_sock);
        let sock = UnixDatagram::from_std(std_sock)?;
        let pid_cell = Rc::new(std::cell::Cell::new(pid));
        let pid_for_task = pid_cell.clone();
        let name = name.to_string();
        let task = tokio::task::spawn_local(async move {
            // One byte more than systemd reads, so that a longer datagram shows as such.
            let mut buf = vec![0u8; notify::MAX_DATAGRAM + 1];
            loop {
                let Ok(n) = sock.recv(&mut buf).await else {
                    return;
                };
                // What systemd ignores (too long, embedded NUL), corrald ignores too.
                let Ok(msg) = notify::parse(&buf[..n]) else {
                    continue;
                };
                if let Some(text) = msg.status {
                    *status.borrow_mut() = Some(text);
                }
                if msg.ready {
                    let _ = tx.send(Command::Ready(corral_core::Pid(pid_for_task.get())));
                }
                if msg.stopping {
                    mainlog::info(format!("{name}: reports it is stopping (STOPPING=1)"));
                }
                if msg.reloading {
                    mainlog::info(format!("{name}: reports it is reloading (RELOADING=1)"));
                }
                let pid = corral_core::Pid(pid_for_task.get());
                match msg.watchdog {
                    Some(notify::Watchdog::Ping) => {
                        let _ = tx.send(Command::WatchdogPing(pid));
                    }
                    Some(notify::Watchdog::Trigger) => {
                        let _ = tx.send(Command::WatchdogTrigger(pid));
                    }
                    None => {}
                }
                // MAINPID=, ERRNO=…: accepted, nothing to do.
            }
        });
        Ok((
            NotifySocket {
                env_value,
                fd,
                task,
            },
            pid_cell,
        ))
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}
