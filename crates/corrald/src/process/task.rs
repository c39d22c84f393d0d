//! The task that owns one process: its state machine, its pipes and logs, its leftovers.
//!
//! It waits on three things — commands, the reaper's report of its child's exit, and the
//! machine's next deadline — feeds each to the machine, and carries out the effects. While
//! nothing happens it sleeps: no polling, no tick.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use corral_config::{ProcessConfig, Readiness};
use corral_core::{Effect, Event, Level, Machine, Now, Reply, Settings};

use super::exec::{self, PlanExtras};
use super::leftovers::{self, Cleanup, Owner};
use super::probe::{self, NotifySocket, NotifyStatus};
use super::{Command, Info, Spec};
use crate::daemon::Ctx;
use crate::events::Event as BusEvent;
use crate::logs::capture;
use crate::logs::channel::{ChannelLog, Routed};
use crate::mainlog;
use crate::reaper::Exit;
use crate::sockets::Listening;
use crate::sys::{self, procfs, spawn};

/// The resolved log file paths of a process (AUTO names filled in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogPaths {
    pub stdout: Option<String>,
    pub stderr: Option<String>,
}

pub(super) fn start(
    spec: Spec,
    ctx: Rc<Ctx>,
) -> io::Result<(mpsc::UnboundedSender<Command>, watch::Receiver<Info>)> {
    let Spec {
        config: cfg,
        logs: paths,
        listener,
        fcgi_socket,
    } = spec;
    let strip = ctx.strip_ansi;
    let stdout = ChannelLog::open(
        &cfg.name,
        "stdout",
        &cfg.stdout,
        paths.stdout.as_deref(),
        strip,
    )?;
    let stderr = ChannelLog::open(
        &cfg.name,
        "stderr",
        &cfg.stderr,
        paths.stderr.as_deref(),
        strip,
    )?;
    let machine = Machine::new(Settings::from_config(&cfg));
    let (tx, rx) = mpsc::unbounded_channel();
    let (exit_tx, exit_rx) = mpsc::unbounded_channel();
    let (info_tx, info_rx) = watch::channel(Info {
        snapshot: machine.snapshot(),
        logs: paths,
    });
    let task = Task {
        cfg,
        ctx,
        machine,
        stdout: Rc::new(RefCell::new(stdout)),
        stderr: Rc::new(RefCell::new(stderr)),
        stdin: None,
        exit_tx,
        self_tx: tx.clone(),
        info_tx,
        cleanup: Cleanup::default(),
        owner: None,
        last_scan: None,
        cleanup_sig: libc::SIGTERM,
        probe: None,
        notify: None,
        notify_status: Rc::new(RefCell::new(None)),
        listener: None,
        is_listener: listener,
        fcgi_socket,
    };
    tokio::task::spawn_local(task.run(rx, exit_rx));
    Ok((tx, info_rx))
}

struct Task {
    cfg: Rc<ProcessConfig>,
    ctx: Rc<Ctx>,
    machine: Machine,
    stdout: Rc<RefCell<ChannelLog>>,
    stderr: Rc<RefCell<ChannelLog>>,
    /// Our end of the child's stdin (nonblocking).
    stdin: Option<Rc<AsyncFd<OwnedFd>>>,
    exit_tx: mpsc::UnboundedSender<Exit>,
    self_tx: mpsc::UnboundedSender<Command>,
    info_tx: watch::Sender<Info>,
    cleanup: Cleanup,
    /// The main process of the current (or last) run, for finding its leftovers.
    owner: Option<Owner>,
    /// The scan made when the main process exited, reused by the first SignalLeftovers.
    last_scan: Option<Vec<procfs::ProcStat>>,
    cleanup_sig: i32,
    probe: Option<JoinHandle<()>>,
    notify: Option<(NotifySocket, Rc<std::cell::Cell<i32>>)>,
    notify_status: NotifyStatus,
    /// The eventlistener protocol reader of this run, if this is a listener.
    listener: Option<JoinHandle<()>>,
    is_listener: bool,
    fcgi_socket: Option<Rc<Listening>>,
}

fn now() -> Now {
    Now {
        mono: Instant::now(),
        wall: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    }
}

impl Task {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Command>,
        mut exit_rx: mpsc::UnboundedReceiver<Exit>,
    ) {
        loop {
            let deadline = self.machine.next_deadline();
            tokio::select! {
                biased;
                Some(exit) = exit_rx.recv() => self.on_exit(exit),
                cmd = rx.recv() => match cmd {
                    Some(cmd) => self.on_command(cmd),
                    // Every handle dropped: the group was removed (only ever when stopped).
                    None => return,
                },
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.feed(Event::Tick);
                }
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Activate => {
                self.feed(Event::Activate);
            }
            Command::Start(reply) => {
                let r = self.feed(Event::Start);
                let _ = reply.send(r.unwrap_or(Reply::Ok));
            }
            Command::Stop(reply) => {
                let r = self.feed(Event::Stop);
                let _ = reply.send(r.unwrap_or(Reply::Ok));
            }
            Command::Signal(sig, reply) => {
                let r = self.feed(Event::Signal(sig));
                let _ = reply.send(r.unwrap_or(Reply::Ok));
            }
            Command::DaemonStopping => {
                self.feed(Event::DaemonStopping);
            }
            Command::ShutdownStop => {
                self.feed(Event::ShutdownStop);
            }
            Command::WriteStdin(data, reply) => {
                let _ = reply.send(self.write_stdin(&data));
            }
            Command::ClearLogs(reply) => {
                let a = self.stdout.borrow_mut().clear();
                let b = self.stderr.borrow_mut().clear();
                let _ = reply.send(a.and(b));
            }
            Command::ReopenLogs => {
                self.stdout.borrow_mut().reopen();
                self.stderr.borrow_mut().reopen();
            }
            Command::LeftoversMaybeGone => self.recheck_leftovers(),
            Command::Ready(pid) => {
                if self.machine.pid() == Some(pid) {
                    self.feed(Event::Ready);
                }
            }
        }
    }

    fn on_exit(&mut self, exit: Exit) {
        self.ctx.journal.borrow_mut().exited(exit.pid);
        let leftovers = match &self.owner {
            Some(owner) if owner.main == exit.pid && self.cfg.stopdescendants => {
                let reaper = self.ctx.reaper.clone();
                let found = leftovers::scan(owner, &|p| reaper.is_registered(p));
                let any = !found.is_empty();
                self.last_scan = Some(found);
                any
            }
            _ => false,
        };
        // supervisord closes its ends of the pipes when the process is reaped; we keep the
        // output pipes (leftovers may still write) but stdin goes now.
        self.stdin = None;
        self.probe_stop();
        self.notify = None;
        self.feed(Event::Exited {
            pid: exit.pid,
            status: exit.status,
            leftovers,
        });
    }

    /// Feed one event and everything it leads to; publish the result.
    fn feed(&mut self, event: Event) -> Option<Reply> {
        let mut queue = VecDeque::from([event]);
        let mut reply = None;
        while let Some(ev) = queue.pop_front() {
            let step = self.machine.handle(ev, now());
            if reply.is_none() {
                reply = step.reply;
            }
            for effect in step.effects {
                if let Some(follow) = self.execute(effect) {
                    queue.push_back(follow);
                }
            }
        }
        self.publish();
        reply
    }

    fn publish(&self) {
        let snapshot = self.machine.snapshot();
        self.info_tx.send_if_modified(|info| {
            if info.snapshot == snapshot {
                false
            } else {
                info.snapshot = snapshot;
                true
            }
        });
    }

    fn execute(&mut self, effect: Effect) -> Option<Event> {
        match effect {
            Effect::Spawn => Some(match self.spawn() {
                Ok(pid) => Event::Spawned { pid },
                Err(error) => Event::SpawnFailed { error },
            }),
            Effect::Kill { pid, sig, group } => {
                if group && self.cfg.stopdescendants {
                    self.cleanup.note_group_signal(pid, sig);
                }
                self.kill(if group { -pid } else { pid }, pid, sig)
            }
            Effect::SendSignal { pid, sig } => self.kill(pid, pid, sig),
            Effect::SignalLeftovers { sig } => {
                self.cleanup_sig = sig;
                let procs = match self.last_scan.take() {
                    Some(p) => p,
                    None => self.scan(),
                };
                self.signal_leftovers(&procs, sig);
                None
            }
            Effect::StartProbe => {
                if let Some(pid) = self.machine.pid() {
                    self.probe = probe::start(
                        &self.cfg.readiness,
                        pid,
                        self.self_tx.clone(),
                        self.ctx.reaper.clone(),
                    );
                }
                None
            }
            Effect::CancelProbe => {
                self.probe_stop();
                None
            }
            Effect::Changed {
                from,
                to,
                expected,
                pid,
                tries,
            } => {
                self.ctx.events.publish(BusEvent::ProcessState {
                    name: self.cfg.name.clone(),
                    group: self.cfg.group.clone(),
                    from,
                    to,
                    expected,
                    pid,
                    tries,
                });
                None
            }
            Effect::Log(level, msg) => {
                match level {
                    Level::Debug => mainlog::debug(msg),
                    Level::Info => mainlog::info(msg),
                    Level::Warn => mainlog::warn(msg),
                    Level::Critical => mainlog::critical(msg),
                }
                None
            }
        }
    }

    fn probe_stop(&mut self) {
        if let Some(p) = self.probe.take() {
            p.abort();
        }
    }

    fn kill(&mut self, target: i32, pid: i32, sig: i32) -> Option<Event> {
        match sys::kill(target, sig) {
            Ok(()) => None,
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                mainlog::debug(format!(
                    "unable to signal {} (pid {}), it probably just exited on its own: {}",
                    self.cfg.name, pid, e
                ));
                None
            }
            Err(e) => Some(Event::KillFailed {
                error: e.to_string(),
            }),
        }
    }

    fn scan(&self) -> Vec<procfs::ProcStat> {
        match &self.owner {
            Some(owner) => {
                let reaper = self.ctx.reaper.clone();
                leftovers::scan(owner, &|p| reaper.is_registered(p))
            }
            None => Vec::new(),
        }
    }

    fn signal_leftovers(&mut self, procs: &[procfs::ProcStat], sig: i32) {
        let Some(owner) = self.owner.clone() else {
            let _ = self.self_tx.send(Command::LeftoversMaybeGone);
            return;
        };
        let tx = self.self_tx.clone();
        self.cleanup.signal(
            &owner,
            procs,
            sig,
            Box::new(move || {
                let _ = tx.send(Command::LeftoversMaybeGone);
            }),
        );
    }

    /// The watched leftovers are gone; new ones may have appeared meanwhile.
    fn recheck_leftovers(&mut self) {
        if !self.machine.cleaning_up() {
            return;
        }
        let procs = self.scan();
        if procs.is_empty() {
            self.cleanup = Cleanup::default();
            self.feed(Event::LeftoversGone);
        } else {
            let sig = self.cleanup_sig;
            self.signal_leftovers(&procs, sig);
        }
    }

    fn write_stdin(&mut self, data: &[u8]) -> Result<(), String> {
        let Some(fd) = self.stdin.clone() else {
            return Err(if self.machine.pid().is_some() {
                "Process has no stdin channel".into()
            } else {
                "Process already closed".into()
            });
        };
        write_all_nonblocking(fd, data)
    }

    /// Fork and exec; on failure, the message supervisord would put in `spawnerr`.
    fn spawn(&mut self) -> Result<i32, String> {
        let name = &self.cfg.name;
        let listener = self.is_listener;
        let fcgi_socket = self.fcgi_socket.clone();

        let pipe_err = |e: io::Error| {
            if e.raw_os_error() == Some(libc::EMFILE) {
                format!("too many open files to spawn '{name}'")
            } else {
                format!(
                    "unknown error making dispatchers for '{name}': {}",
                    sys::errno::name(e.raw_os_error().unwrap_or(0))
                )
            }
        };
        let (stdin_r, stdin_w) = sys::pipe().map_err(pipe_err)?;
        let (stdout_r, stdout_w) = sys::pipe().map_err(pipe_err)?;
        // An eventlistener's stderr is never merged into stdout: stdout is its protocol.
        let stderr_pipe = if self.cfg.redirect_stderr && !listener {
            None
        } else {
            Some(sys::pipe().map_err(pipe_err)?)
        };
        sys::set_pipe_size(&stdout_r, capture::PIPE_SIZE);

        let mut extras = PlanExtras {
            stdio: [
                fcgi_socket
                    .as_ref()
                    .map_or(stdin_r.as_raw_fd(), |s| s.as_raw_fd()),
                stdout_w.as_raw_fd(),
                stderr_pipe
                    .as_ref()
                    .map_or(stdout_w.as_raw_fd(), |(_, w)| w.as_raw_fd()),
            ],
            ..PlanExtras::default()
        };
        let mut sockets = Vec::new();
        for sname in &self.cfg.sockets {
            match self.ctx.sockets.get(sname) {
                Some(s) => sockets.push((s, sname.clone())),
                None => return Err(format!("socket '{sname}' of '{name}' is not open")),
            }
        }
        extras.listen = sockets
            .iter()
            .map(|(s, n)| (s.as_raw_fd(), n.clone()))
            .collect();
        if matches!(self.cfg.readiness, Readiness::Notify) {
            match NotifySocket::bind(name, self.self_tx.clone(), self.notify_status.clone()) {
                Ok(n) => {
                    extras
                        .env
                        .push(("NOTIFY_SOCKET".into(), n.0.env_value.clone()));
                    self.notify = Some(n);
                }
                Err(e) => return Err(format!("cannot create the notify socket for '{name}': {e}")),
            }
        }

        let plan = exec::plan(
            &self.cfg,
            &self.ctx.env,
            self.ctx.serverurl.as_deref(),
            extras,
        )
        .map_err(|e| e.message().to_string())?;
        let pid = spawn::fork_exec(&plan).map_err(|e| {
            if e.raw_os_error() == Some(libc::EAGAIN) {
                format!("Too many processes in process table to spawn '{name}'")
            } else {
                format!(
                    "unknown error during fork for '{name}': {}",
                    sys::errno::name(e.raw_os_error().unwrap_or(0))
                )
            }
        })?;
        // Register before anything can yield: the reaper must find the route.
        self.ctx.reaper.register(pid, self.exit_tx.clone());
        drop((stdin_r, stdout_w));
        let stderr_r = stderr_pipe.map(|(r, w)| {
            drop(w);
            r
        });
        if let Some((_, cell)) = &self.notify {
            cell.set(pid);
        }

        let starttime = procfs::stat(pid).map(|s| s.starttime).unwrap_or(0);
        self.owner = Some(Owner {
            name: self.cfg.name.clone(),
            group: self.cfg.group.clone(),
            main: pid,
            main_starttime: starttime,
        });
        self.ctx
            .journal
            .borrow_mut()
            .spawned(&self.cfg, pid, starttime);

        let _ = sys::set_nonblocking(&stdout_r, true);
        if listener {
            // stdout speaks the eventlistener protocol; it is also logged if configured.
            self.listener = Some(self.ctx.events.attach_listener(
                &self.cfg,
                pid,
                stdout_r,
                self.stdout.clone(),
                stdin_w,
            ));
        } else {
            let on_out = self.output_events("stdout", pid);
            tokio::task::spawn_local(capture::run(stdout_r, self.stdout.clone(), on_out));
            if sys::set_nonblocking(&stdin_w, true).is_ok() {
                if let Ok(afd) = crate::sys::async_fd(stdin_w, Interest::WRITABLE) {
                    self.stdin = Some(Rc::new(afd));
                }
            }
        }
        if let Some(r) = stderr_r {
            let _ = sys::set_nonblocking(&r, true);
            let on_out = self.output_events("stderr", pid);
            tokio::task::spawn_local(capture::run(r, self.stderr.clone(), on_out));
        }
        Ok(pid)
    }

    /// The callback that turns routed output into PROCESS_LOG / PROCESS_COMMUNICATION
    /// events, if anyone could want them.
    fn output_events(&self, channel: &'static str, pid: i32) -> Option<capture::OnOutput> {
        let chan = if channel == "stdout" {
            &self.cfg.stdout
        } else {
            &self.cfg.stderr
        };
        let log_events = chan.events_enabled;
        let comm_events = chan.capture_maxbytes > 0;
        if !log_events && !comm_events {
            return None;
        }
        let events = self.ctx.events.clone();
        let name = self.cfg.name.clone();
        let group = self.cfg.group.clone();
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
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// Write what fits now; the rest is written in the background as the pipe drains.
/// A closed pipe (the child closed stdin or died) is supervisord's EPIPE fault.
fn write_all_nonblocking(fd: Rc<AsyncFd<OwnedFd>>, data: &[u8]) -> Result<(), String> {
    let mut off = 0;
    while off < data.len() {
        // SAFETY: writing from a live buffer within its bounds to a descriptor we own.
        let n = unsafe {
            libc::write(
                fd.as_raw_fd(),
                data[off..].as_ptr().cast(),
                data.len() - off,
            )
        };
        if n >= 0 {
            off += n as usize;
            continue;
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => {
                let rest = data[off..].to_vec();
                tokio::task::spawn_local(async move {
                    let mut rest = rest;
                    while !rest.is_empty() {
                        let Ok(mut guard) = fd.writable().await else {
                            return;
                        };
                        // SAFETY: as above.
                        let n = unsafe {
                            libc::write(fd.as_raw_fd(), rest.as_ptr().cast(), rest.len())
                        };
                        if n > 0 {
                            rest.drain(..n as usize);
                        } else if io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock {
                            guard.clear_ready();
                        } else {
                            return;
                        }
                    }
                });
                return Ok(());
            }
            _ => return Err("Process' stdin channel is closed".into()),
        }
    }
    Ok(())
}
