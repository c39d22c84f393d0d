//! Forking one child of a program, with everything that belongs to it: pipes, sockets,
//! the notify socket, output capture, the eventlistener protocol. Used for a program's main
//! process and for the replacement a rolling restart starts beside it.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;

use tokio::task::JoinHandle;

use corral_config::{ProcessConfig, Readiness};

use super::Command;
use super::ProcConfig;
use super::Services;
use super::exec::{self, PlanExtras};
use super::handover::{Channel, Readers, spawn_reader};
use super::leftovers::Owner;
use super::local;
use super::probe::{NotifySocket, NotifyStatus};
use crate::events::Event as BusEvent;
use crate::logs::capture;
use crate::logs::channel::{ChannelLog, Routed};
use crate::logs::mainlog;
use crate::reaper::Exit;
use crate::sockets::Listening;
use crate::sys::{self, Pid, procfs, spawn};

/// A running child and what the task keeps of it.
pub struct Child {
    pub pid: Pid,
    /// For finding what it leaves behind.
    pub owner: Owner,
    /// Our end of its stdin (not for eventlisteners, whose stdin is the protocol).
    pub stdin: Option<Rc<OwnedFd>>,
    /// Its sd_notify socket (`readiness=notify`), and the cell telling the socket's reader
    /// which pid it serves.
    pub notify: Option<(NotifySocket, Rc<Cell<i32>>)>,
    /// The eventlistener protocol reader.
    pub listener: Option<JoinHandle<()>>,
}

/// What forking needs from the process task.
pub struct Fork<'a> {
    pub cfg: &'a ProcConfig,
    pub services: &'a Services,
    pub fcgi_socket: Option<&'a Listening>,
    pub self_tx: &'a local::WeakSender<Command>,
    pub exit_tx: &'a local::Sender<Exit>,
    /// Created when first needed (most programs never have a notify socket).
    pub notify_status: &'a std::cell::OnceCell<NotifyStatus>,
    pub stdout: &'a Rc<RefCell<ChannelLog>>,
    pub stderr: &'a Rc<RefCell<ChannelLog>>,
    /// The task's output readers (for an upgrade's handover).
    pub readers: &'a Readers,
}

impl Fork<'_> {
    /// Fork and exec; on failure, the message supervisord would put in `spawnerr`.
    pub fn run(&self) -> Result<Child, String> {
        let cfg = self.cfg;
        let name = &cfg.name;
        let pipe_err = |e: io::Error| {
            if e.raw_os_error() == Some(libc::EMFILE) {
                report_fd_shortage(name);
            }
            spawn_error(
                &e,
                name,
                (libc::EMFILE, "too many open files"),
                "making dispatchers",
            )
        };
        let (stdin_r, stdin_w) = sys::pipe().map_err(pipe_err)?;
        let (stdout_r, stdout_w) = sys::pipe().map_err(pipe_err)?;
        // An eventlistener's stderr is never merged into stdout: stdout is its protocol.
        let stderr_pipe = if cfg.redirect_stderr && !cfg.is_listener {
            None
        } else {
            Some(sys::pipe().map_err(pipe_err)?)
        };
        // Big pipes from the start for root, which the per-user pipe budget does not bind;
        // an unprivileged corrald grows a pipe only once its child turns out to be busy
        // (logs/capture.rs).
        if sys::getuid() == 0 {
            sys::set_pipe_size(&stdout_r, capture::PIPE_SIZE as i32);
            if let Some((r, _)) = &stderr_pipe {
                sys::set_pipe_size(r, capture::PIPE_SIZE as i32);
            }
        }

        let mut extras = PlanExtras {
            stdio: [
                self.fcgi_socket
                    .map_or(stdin_r.as_raw_fd(), AsRawFd::as_raw_fd),
                stdout_w.as_raw_fd(),
                stderr_pipe
                    .as_ref()
                    .map_or(stdout_w.as_raw_fd(), |(_, w)| w.as_raw_fd()),
            ],
            ..PlanExtras::default()
        };
        let mut sockets = Vec::new();
        for sname in &cfg.sockets {
            match self.services.sockets.get(sname) {
                Some(s) => sockets.push((s, sname.clone())),
                None => return Err(format!("socket '{sname}' of '{name}' is not open")),
            }
        }
        extras.listen = sockets
            .iter()
            .map(|(s, n)| (s.as_raw_fd(), n.clone()))
            .collect();
        let mut notify = None;
        // `watchdogsecs`: systemd's WATCHDOG_USEC and WATCHDOG_PID (the child's own pid,
        // filled in by the child), and the notify socket the pings come on.
        let watchdog = cfg.liveness.watchdogsecs;
        if let Some(w) = watchdog {
            extras
                .env
                .push(("WATCHDOG_USEC".into(), w.as_micros().to_string()));
            extras.watchdog_pid = true;
        }
        if matches!(cfg.readiness, Readiness::Notify) || watchdog.is_some() {
            match NotifySocket::bind(
                name,
                self.self_tx.clone(),
                self.notify_status
                    .get_or_init(NotifyStatus::default)
                    .clone(),
            ) {
                Ok(n) => {
                    extras
                        .env
                        .push(("NOTIFY_SOCKET".into(), n.0.env_value.clone()));
                    notify = Some(n);
                }
                Err(e) => return Err(format!("cannot create the notify socket for '{name}': {e}")),
            }
        }

        let plan = exec::plan(
            cfg,
            &self.services.env,
            self.services.serverurl.as_deref(),
            extras,
        )
        .map_err(|e| e.message().to_string())?;
        let pid = spawn::fork_exec(&plan).map_err(|e| {
            spawn_error(
                &e,
                name,
                (libc::EAGAIN, "Too many processes in process table"),
                "during fork",
            )
        })?;
        // Register before anything can yield: the reaper must find the route.
        let exits = self.exit_tx.clone();
        self.services
            .reaper
            .register(pid, Box::new(move |e| exits.send(e).is_ok()));
        drop((stdin_r, stdout_w));
        let stderr_r = stderr_pipe.map(|(r, w)| {
            drop(w);
            r
        });
        if let Some((_, cell)) = &notify {
            cell.set(pid);
        }

        let starttime = procfs::stat(pid).map(|s| s.starttime).unwrap_or(0);
        let owner = Owner {
            config: cfg.clone(),
            main: pid,
            main_starttime: starttime,
            successor_starttime: None,
        };
        self.services
            .journal
            .borrow_mut()
            .spawned(cfg, pid, starttime);

        let mut child = Child {
            pid,
            owner,
            stdin: None,
            notify,
            listener: None,
        };
        let _ = sys::set_nonblocking(&stdout_r, true);
        if cfg.is_listener {
            // stdout speaks the eventlistener protocol; it is also logged if configured.
            child.listener = Some(self.services.events.attach_listener(
                cfg,
                pid,
                stdout_r,
                self.stdout.clone(),
                stdin_w,
            ));
        } else {
            let on_out = output_events(self.services, cfg, "stdout", pid);
            spawn_reader(
                self.readers,
                Channel::Stdout,
                pid,
                stdout_r,
                self.stdout.clone(),
                on_out,
            );
            child.stdin = sys::set_nonblocking(&stdin_w, true)
                .ok()
                .map(|()| Rc::new(stdin_w));
        }
        if let Some(r) = stderr_r {
            let _ = sys::set_nonblocking(&r, true);
            let on_out = output_events(self.services, cfg, "stderr", pid);
            spawn_reader(
                self.readers,
                Channel::Stderr,
                pid,
                r,
                self.stderr.clone(),
                on_out,
            );
        }
        Ok(child)
    }
}

/// A shortage of descriptors is explained at most once in this many seconds.
const FD_SHORTAGE_QUIET_SECS: f64 = 60.0;

thread_local! {
    /// When a shortage of descriptors was last explained (Unix seconds).
    static FD_SHORTAGE_REPORTED_AT: Cell<Option<f64>> = const { Cell::new(None) };
}

/// Once per shortage, not once per process: why spawns fail and what to do. Each process
/// still gets supervisord's `spawnerr` ("too many open files to spawn 'x'"). A spawn that
/// succeeds in between does not end the shortage: while it lasts, every descriptor
/// corrald frees (a request's connection closing) lets one spawn through, and the
/// explanation would be repeated with each; so it is said again only after a quiet minute.
fn report_fd_shortage(name: &str) {
    let now = sys::unix_time();
    let last = FD_SHORTAGE_REPORTED_AT.get();
    if last.is_some_and(|t| (now - t).abs() < FD_SHORTAGE_QUIET_SECS) {
        return;
    }
    FD_SHORTAGE_REPORTED_AT.set(Some(now));
    let (soft, hard) = sys::getrlimit(libc::RLIMIT_NOFILE).unwrap_or((0, 0));
    mainlog::error(format!(
        "corrald has run out of file descriptors (it may open {soft}; the hard limit is \
         {hard}): '{name}' and every process spawned until some are freed fail with 'too many \
         open files'. Raise the hard limit before corrald starts (`ulimit -Hn N` in the shell \
         that starts it, as root, or `LimitNOFILE=N` in its systemd unit); `corrald --check` \
         says how many this configuration needs"
    ));
}

/// supervisord's words for an OS error while spawning `name`: its own message for the one
/// `errno` it expects (`known` + " to spawn 'name'"), else "unknown error `doing` ...".
fn spawn_error(e: &io::Error, name: &str, (errno, known): (i32, &str), doing: &str) -> String {
    match e.raw_os_error() {
        Some(n) if n == errno => format!("{known} to spawn '{name}'"),
        n => format!(
            "unknown error {doing} for '{name}': {}",
            sys::errno::name(n.unwrap_or(0))
        ),
    }
}

/// The callback that turns routed output into PROCESS_LOG / PROCESS_COMMUNICATION events,
/// if anyone could want them.
pub(super) fn output_events(
    services: &Services,
    cfg: &ProcessConfig,
    channel: &'static str,
    pid: i32,
) -> Option<capture::OnOutput> {
    let chan = if channel == "stdout" {
        &cfg.stdout
    } else {
        &cfg.stderr
    };
    let log_events = chan.events_enabled;
    let comm_events = chan.capture_maxbytes > 0;
    if !log_events && !comm_events {
        return None;
    }
    let events = services.events.clone();
    let name = cfg.name.clone();
    let group = cfg.group.to_string();
    Some(Box::new(move |routed: &Routed| {
        if log_events {
            for data in &routed.logged {
                events.publish(BusEvent::ProcessLog {
                    name: name.clone(),
                    group: group.clone(),
                    pid,
                    channel,
                    data: data.clone(),
                });
            }
        }
        for data in &routed.captured {
            mainlog::debug(format!("'{name}' {channel} emitted a comm event"));
            events.publish(BusEvent::ProcessCommunication {
                name: name.clone(),
                group: group.clone(),
                pid,
                channel,
                data: data.clone(),
            });
        }
    }))
}
