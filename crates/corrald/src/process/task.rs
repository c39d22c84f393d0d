//! The task that owns one process: its state machine, its pipes and logs, its leftovers.
//!
//! It waits on three things — commands, the reaper's report of its child's exit, and the
//! machine's next deadline — feeds each to the machine, and carries out the effects. While
//! nothing happens it sleeps: no polling, no tick.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::Instant;

use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use corral_config::ProcessConfig;
use corral_core::{Effect, Event, Level, Machine, Now, Reply, Settings};

use super::child::{Child, Fork};
use super::leftovers::{self, Cleanup, Owner};
use super::probe::{self, NotifySocket, NotifyStatus};
use super::replace::{Candidate, Outcome, ReplaceReply, Replaced, Retiring};
use super::{Command, Info, Spec};
use crate::daemon::Ctx;
use crate::events::Event as BusEvent;
use crate::logs::channel::ChannelLog;
use crate::mainlog;
use crate::reaper::Exit;
use crate::sockets::Listening;
use crate::sys::{self, procfs};

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
        fcgi_socket,
    } = spec;
    let open = |channel, c, path: &Option<String>| {
        let log = ChannelLog::open(&cfg.name, channel, c, path.as_deref(), ctx.strip_ansi)?;
        Ok::<_, io::Error>(Rc::new(RefCell::new(log)))
    };
    let stdout = open("stdout", &cfg.stdout, &paths.stdout)?;
    let stderr = open("stderr", &cfg.stderr, &paths.stderr)?;
    let machine = Machine::new(Settings::from_config(&cfg));
    let (tx, rx) = mpsc::unbounded_channel();
    let (exit_tx, exit_rx) = mpsc::unbounded_channel();
    let (info_tx, info_rx) = watch::channel(Info {
        snapshot: machine.snapshot(),
        logs: paths,
        busy: 0,
    });
    let task = Task {
        cfg,
        ctx,
        machine,
        stdout,
        stderr,
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
        fcgi_socket,
        candidate: None,
        retiring: Vec::new(),
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
    fcgi_socket: Option<Rc<Listening>>,
    /// A replacement being started by a rolling restart.
    candidate: Option<Candidate>,
    /// Old or failed processes being stopped outside the state machine.
    retiring: Vec<Retiring>,
}

fn now() -> Now {
    Now {
        mono: Instant::now(),
        wall: sys::unix_time(),
    }
}

impl Task {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Command>,
        mut exit_rx: mpsc::UnboundedReceiver<Exit>,
    ) {
        loop {
            let deadline = [
                self.machine.next_deadline(),
                self.candidate.as_ref().and_then(Candidate::deadline),
            ]
            .into_iter()
            .chain(self.retiring.iter().map(|r| r.kill_at))
            .flatten()
            .min();
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
                    self.tick_replacements();
                }
            }
        }
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Activate => {
                self.feed(Event::Activate);
            }
            Command::Start(reply) => self.request(Event::Start, reply),
            Command::Stop(reply) => {
                self.abort_candidate("the process is being stopped");
                self.request(Event::Stop, reply);
            }
            Command::Signal(sig, reply) => self.request(Event::Signal(sig), reply),
            Command::DaemonStopping => {
                self.feed(Event::DaemonStopping);
            }
            Command::ShutdownStop => {
                self.abort_candidate("corrald is stopping");
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
                if let Some(c) = self.candidate.as_mut().filter(|c| c.child.pid == pid) {
                    c.ready = true;
                    self.tick_replacements();
                } else if self.machine.pid() == Some(pid) {
                    self.feed(Event::Ready);
                }
            }
            Command::Replace(config, reply) => self.start_replacement(config, reply),
            Command::Reconfigure(config, reply) => {
                let ok = self.machine.state().is_stopped()
                    && self.candidate.is_none()
                    && self.retiring.is_empty();
                if ok {
                    self.apply_config(config);
                }
                let _ = reply.send(ok);
            }
            Command::RetiredLeftoversMaybeGone(pid) => self.recheck_retiring(pid),
        }
        self.publish();
    }

    fn on_exit(&mut self, exit: Exit) {
        self.ctx.journal.borrow_mut().exited(exit.pid);
        if self
            .candidate
            .as_ref()
            .is_some_and(|c| c.child.pid == exit.pid)
        {
            let why = format!("exited before it was ready ({})", exit.status.decode().1);
            self.fail_candidate(&why, false);
            self.publish();
            return;
        }
        if let Some(i) = self.retiring.iter().position(|r| r.pid() == exit.pid) {
            self.retiring[i].alive = false;
            self.recheck_retiring(exit.pid);
            self.publish();
            return;
        }
        let main_exited = self.owner.as_ref().is_some_and(|o| o.main == exit.pid);
        let leftovers = if main_exited && self.cfg.stopdescendants {
            let found = self.scan();
            let any = !found.is_empty();
            self.last_scan = Some(found);
            any
        } else {
            false
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

    /// An administrative request: feed it and answer with the machine's reply.
    fn request(&mut self, event: Event, reply: oneshot::Sender<Reply>) {
        let r = self.feed(event);
        let _ = reply.send(r.unwrap_or(Reply::Ok));
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
        let busy = self.retiring.len() + usize::from(self.candidate.is_some());
        self.info_tx.send_if_modified(|info| {
            if info.snapshot == snapshot && info.busy == busy {
                false
            } else {
                info.snapshot = snapshot;
                info.busy = busy;
                true
            }
        });
    }

    /// Adopt a new configuration (a rolling update, or a stopped process reconfigured).
    /// Log files whose settings changed are reopened at their new place; AUTO logs keep
    /// their file.
    fn apply_config(&mut self, new: Rc<ProcessConfig>) {
        let strip = self.ctx.strip_ansi;
        let mut logs = self.info_tx.borrow().logs.clone();
        for (chan, old_c, new_c, log, path) in [
            (
                "stdout",
                &self.cfg.stdout,
                &new.stdout,
                &self.stdout,
                &mut logs.stdout,
            ),
            (
                "stderr",
                &self.cfg.stderr,
                &new.stderr,
                &self.stderr,
                &mut logs.stderr,
            ),
        ] {
            if old_c == new_c {
                continue;
            }
            let new_path = match &new_c.logfile {
                corral_config::LogFile::Auto if old_c.logfile == corral_config::LogFile::Auto => {
                    path.clone()
                }
                corral_config::LogFile::Auto => None,
                lf => lf.path().map(str::to_string),
            };
            match ChannelLog::open(&new.name, chan, new_c, new_path.as_deref(), strip) {
                Ok(l) => {
                    *log.borrow_mut() = l;
                    *path = new_path;
                }
                Err(e) => mainlog::error(format!(
                    "cannot open the new {chan} log of '{}': {e}; keeping the old one",
                    new.name
                )),
            }
        }
        self.info_tx.send_modify(|i| i.logs = logs);
        self.machine.set_settings(Settings::from_config(&new));
        self.cfg = new;
    }

    // ---- rolling restarts (see replace.rs) ----

    fn start_replacement(&mut self, config: Option<Rc<ProcessConfig>>, reply: ReplaceReply) {
        if self.candidate.is_some() {
            let _ = reply.send(Err(format!(
                "a rolling restart of '{}' is already under way",
                self.cfg.name
            )));
            return;
        }
        let state = self.machine.state();
        if state != corral_core::ProcessState::Running {
            let _ = reply.send(Err(format!(
                "'{}' is {}, not RUNNING",
                self.cfg.name,
                state.name()
            )));
            return;
        }
        let cfg = config.unwrap_or_else(|| self.cfg.clone());
        let child = match self.fork(&cfg) {
            Ok(c) => c,
            Err(e) => {
                let _ = reply.send(Err(format!("cannot start a replacement: {e}")));
                return;
            }
        };
        mainlog::info(format!(
            "rolling restart of '{}': started replacement pid {} beside pid {}",
            cfg.name,
            child.pid,
            self.machine.pid().unwrap_or(0)
        ));
        let pid = child.pid;
        let mut candidate = Candidate::new(child, cfg.clone(), reply);
        candidate.probe = probe::start(
            &cfg.readiness,
            pid,
            self.self_tx.clone(),
            self.ctx.reaper.clone(),
        );
        self.candidate = Some(candidate);
        self.tick_replacements(); // startsecs=0: ready at once
    }

    /// Deadlines of the candidate and of retiring processes.
    fn tick_replacements(&mut self) {
        let now = Instant::now();
        if let Some(c) = &self.candidate {
            if c.can_take_over(now) {
                self.promote();
            } else if !c.ready && c.give_up_at.is_some_and(|t| t <= now) {
                let why = format!(
                    "not ready after {} seconds (readiness_timeout)",
                    c.cfg.readiness_timeout
                );
                self.fail_candidate(&why, true);
            }
        }
        let due: Vec<i32> = self
            .retiring
            .iter()
            .filter(|r| r.kill_at.is_some_and(|t| t <= now))
            .map(Retiring::pid)
            .collect();
        for pid in due {
            if let Some(r) = self.retiring.iter_mut().find(|r| r.pid() == pid) {
                r.kill_now();
            }
            self.recheck_retiring(pid);
        }
    }

    /// The candidate is ready: it becomes the main process; the old one retires.
    fn promote(&mut self) {
        if self.machine.state() != corral_core::ProcessState::Running {
            self.fail_candidate(
                "the running process stopped during the rolling restart",
                true,
            );
            return;
        }
        let Some(mut c) = self.candidate.take() else {
            return;
        };
        let Some(reply) = c.reply.take() else { return };
        let old_pid = self.machine.pid().unwrap_or(0);
        let new_pid = c.child.pid;
        let Some(mut old_owner) = self.owner.clone() else {
            return;
        };
        old_owner.successor_starttime = Some(c.child.owner.main_starttime);
        let old_cfg = self.cfg.clone();
        if !Rc::ptr_eq(&old_cfg, &c.cfg) {
            self.apply_config(c.cfg.clone());
        }
        self.probe_stop();
        self.adopt(&mut c.child);
        mainlog::info(format!(
            "rolling restart of '{}': replacement pid {new_pid} is ready",
            self.cfg.name
        ));
        self.feed(Event::Replaced { pid: new_pid });
        let outcome = Outcome::Replaced(reply, Replaced { old_pid, new_pid });
        self.retiring
            .push(Retiring::start(old_owner, old_cfg, Some(outcome)));
    }

    /// The candidate failed: it retires; the running process is untouched.
    fn fail_candidate(&mut self, why: &str, alive: bool) {
        let Some(mut c) = self.candidate.take() else {
            return;
        };
        mainlog::warn(format!(
            "rolling restart of '{}': replacement pid {} {}; the running process keeps serving",
            c.cfg.name, c.child.pid, why
        ));
        let outcome = c
            .reply
            .take()
            .map(|reply| Outcome::Failed(reply, format!("replacement {why}")));
        let owner = c.child.owner.clone();
        let retiring = if alive {
            Retiring::start(owner, c.cfg.clone(), outcome)
        } else {
            Retiring::exited(owner, c.cfg.clone(), outcome)
        };
        let pid = retiring.pid();
        self.retiring.push(retiring);
        if !alive {
            self.recheck_retiring(pid);
        }
    }

    fn abort_candidate(&mut self, why: &str) {
        if self.candidate.is_some() {
            self.fail_candidate(&format!("was abandoned: {why}"), true);
        }
    }

    /// A retiring process exited, or its leftovers may be gone: finish it when nothing of
    /// it remains.
    fn recheck_retiring(&mut self, pid: i32) {
        let Some(i) = self.retiring.iter().position(|r| r.pid() == pid) else {
            return;
        };
        if self.retiring[i].alive {
            return;
        }
        let reaper = &self.ctx.reaper;
        let tx = self.self_tx.clone();
        let done = self.retiring[i].clean_up(
            &|p| reaper.is_registered(p),
            Box::new(move || {
                let _ = tx.send(Command::RetiredLeftoversMaybeGone(pid));
            }),
        );
        if done {
            self.retiring.remove(i).finish();
        }
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
            Some(owner) => leftovers::scan(owner, &|p| self.ctx.reaper.is_registered(p)),
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

    fn fork(&self, cfg: &ProcessConfig) -> Result<Child, String> {
        Fork {
            cfg,
            ctx: &self.ctx,
            fcgi_socket: self.fcgi_socket.as_deref(),
            self_tx: &self.self_tx,
            exit_tx: &self.exit_tx,
            notify_status: &self.notify_status,
            stdout: &self.stdout,
            stderr: &self.stderr,
        }
        .run()
    }

    /// The main process: fork it and keep what belongs to it.
    fn spawn(&mut self) -> Result<i32, String> {
        let mut child = self.fork(&self.cfg)?;
        self.adopt(&mut child);
        Ok(child.pid)
    }

    /// Take over what belongs to the main process (`child` keeps only its pid and owner).
    fn adopt(&mut self, child: &mut Child) {
        self.owner = Some(child.owner.clone());
        self.stdin = child.stdin.take();
        self.notify = child.notify.take();
        self.listener = child.listener.take();
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
    let closed = |_| "Process' stdin channel is closed".to_string();
    let written = sys::write_nonblocking(fd.get_ref(), data).map_err(closed)?;
    if written == data.len() {
        return Ok(());
    }
    let mut rest = data[written..].to_vec();
    tokio::task::spawn_local(async move {
        while !rest.is_empty() {
            let Ok(mut guard) = fd.writable().await else {
                return;
            };
            match sys::write_nonblocking(fd.get_ref(), &rest) {
                Ok(0) => guard.clear_ready(),
                Ok(n) => {
                    rest.drain(..n);
                }
                Err(_) => return,
            }
        }
    });
    Ok(())
}
