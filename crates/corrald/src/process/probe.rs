//! Readiness probes: how corrald learns that a STARTING process is ready to serve.
//!
//! * `notify`: systemd's sd_notify protocol. Each spawn gets its own datagram socket in the
//!   abstract namespace, passed as `NOTIFY_SOCKET`; `READY=1` makes the process RUNNING,
//!   `STATUS=…` is kept for `corral` status output, `STOPPING=1` and `WATCHDOG=1` are
//!   understood (logged / accepted). Gunicorn sends READY=1 when its workers are up.
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
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use corral_config::Readiness;

use super::Command;
use crate::mainlog;
use crate::reaper::Reaper;
use crate::sys::spawn::{ExecPlan, fork_exec};

const POLL: Duration = Duration::from_millis(100);
const EXEC_POLL: Duration = Duration::from_millis(500);

/// Start the polling probe for `pid`. `notify` is handled by [`NotifySocket`] instead.
pub fn start(
    readiness: &Readiness,
    pid: i32,
    tx: mpsc::UnboundedSender<Command>,
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
        Readiness::Tcp { host, port } => TcpStream::connect((host.as_str(), *port)).await.is_ok(),
        Readiness::Http { url } => http_ok(url).await,
        Readiness::Exec { command } => exec_ok(command, reaper).await,
        Readiness::Startsecs | Readiness::Notify => true,
    }
}

/// `http://host:port/path` answers 2xx to a plain GET.
async fn http_ok(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let Ok(mut stream) = TcpStream::connect(authority).await else {
        return false;
    };
    let req = format!(
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: corrald-readiness\r\n\r\n"
    );
    if stream.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut head = [0u8; 32];
    let mut got = 0;
    while got < 12 {
        match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut head[got..])).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return false,
            Ok(Ok(n)) => got += n,
        }
    }
    // "HTTP/1.x 2xx"
    head.starts_with(b"HTTP/1.") && head[9] == b'2'
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
    let plan = ExecPlan {
        filename: CString::from(c"/bin/sh"),
        argv: vec![CString::from(c"sh"), CString::from(c"-c"), cmd],
        env: std::env::vars()
            .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
            .collect(),
        listen_pid_slot: None,
        cwd: None,
        umask: None,
        credentials: None,
        stdio: [fd, fd, fd],
        pass_fds: Vec::new(),
        display_argv0: "sh".into(),
    };
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
        tx: mpsc::UnboundedSender<Command>,
        status: NotifyStatus,
    ) -> std::io::Result<(NotifySocket, Rc<std::cell::Cell<i32>>)> {
        use std::os::linux::net::SocketAddrExt;
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let abstract_name = format!("corral/{}/{}/{}", std::process::id(), n, sanitize(name));
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(abstract_name.as_bytes())?;
        let std_sock = std::os::unix::net::UnixDatagram::bind_addr(&addr)?;
        std_sock.set_nonblocking(true)?;
        let sock = UnixDatagram::from_std(std_sock)?;
        let pid_cell = Rc::new(std::cell::Cell::new(0));
        let pid_for_task = pid_cell.clone();
        let name = name.to_string();
        let task = tokio::task::spawn_local(async move {
            let mut buf = vec![0u8; 4096];
            loop {
                let Ok(n) = sock.recv(&mut buf).await else {
                    return;
                };
                let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
                for line in msg.lines() {
                    let (key, value) = line.split_once('=').unwrap_or((line, ""));
                    match key {
                        "READY" if value == "1" => {
                            let _ = tx.send(Command::Ready(pid_for_task.get()));
                        }
                        "STATUS" => *status.borrow_mut() = Some(value.to_string()),
                        "STOPPING" if value == "1" => {
                            mainlog::info(format!("{name}: reports it is stopping (STOPPING=1)"));
                        }
                        "RELOADING" if value == "1" => {
                            mainlog::info(format!("{name}: reports it is reloading (RELOADING=1)"));
                        }
                        _ => {} // WATCHDOG=1, MAINPID=, ERRNO=…: accepted, nothing to do
                    }
                }
            }
        });
        Ok((
            NotifySocket {
                env_value: format!("@{abstract_name}"),
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
