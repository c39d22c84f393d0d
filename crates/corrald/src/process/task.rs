//! The task that owns one program's process: its state machine, its pipes and logs, the
//! processes of its runs (main, replacement candidate, retiring ones) and their leftovers.
//!
//! It waits on three things — commands, the reaper's report of an exit, and the machine's
//! next deadline — feeds each to the machine, and carries out the effects. Every lifecycle
//! rule is the machine's; this file only does what the machine asks. While nothing happens
//! it sleeps: no polling, no tick.

use std::cell::{Ref, RefCell, RefMut};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Instant;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use corral_core::{Effect, Event, Level, Machine, Now, Pid, Reply, Settings, Signal};

use super::child::{Child, Fork};
use super::handover::{Channel, MainExport, ProcessExport, Readers, RunExport, spawn_reader};
use super::health::{self, RecycleMember};
use super::leftovers::{self, Cleanup, Owner};
use super::local::{self, Watch};
use super::probe::{self, NotifySocket, NotifyStatus};
use super::{
    Command, ProcConfig, Published, ReplaceError, ReplaceReply, Services, Spec, StateChange,
    StdinError,
};
use crate::events::Event as BusEvent;
use crate::logs::channel::ChannelLog;
use crate::logs::mainlog;
use crate::reaper::Exit;
use crate::sockets::Listening;
use crate::sys::{self, procfs};

/// The resolved log file paths of a process (AUTO names filled in). Shared with the open
/// log files (one copy of each name per process).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogPaths {
    pub stdout: Option<Rc<str>>,
    pub stderr: Option<Rc<str>>,
}

pub(super) fn start(
    spec: Spec,
    services: Rc<Services>,
) -> io::Result<(local::Sender<Command>, Rc<Watch<Published>>)> {
    let machine = Machine::new(Settings::from_config(&spec.config));
    let (task, tx, rx, exit_rx, info) = Task::new(spec, services, machine)?;
    // Boxed: the future then holds a pointer, not a second copy of the task's state.
    tokio::task::spawn_local(Box::new(task).run(rx, exit_rx));
    Ok((tx, info))
}

/// Start a task again from what the corrald this one replaced handed over (an in-place
/// upgrade): same machine, same processes, the same pipes and sockets under the numbers
/// they had.
pub(super) fn restore(
    spec: Spec,
    services: Rc<Services>,
    export: ProcessExport,
) -> io::Result<(local::Sender<Command>, Rc<Watch<Published>>)> {
    let (mut task, tx, rx, exit_rx, info) = Task::new(spec, services, export.machine)?;
    if export.notify_status.is_some() {
        *task.notify_status().borrow_mut() = export.notify_status;
    }
    for run in export.runs {
        let pid = Pid(run.main);
        let cleanup = Cleanup::with_signaled(&run.signaled);
        let owner = Owner {
            config: task.cfg.clone(),
            main: run.main,
            main_starttime: run.main_starttime,
            successor_starttime: run.successor_starttime,
        };
        task.runs.insert(
            pid,
            Run {
                owner,
                cleanup,
                last_scan: None,
                probe: None,
                health: None,
            },
        );
    }
    if let Some(pid) = task.machine().pid() {
        // Exits that happened during the exec are zombies the reaper collects at its
        // first round: the route must be there before that.
        let exits = task.exit_tx.clone();
        task.services
            .reaper
            .register(pid.0, Box::new(move |e| exits.send(e).is_ok()));
    }
    if let Some(main) = export.main {
        task.main.pid = Some(Pid(main.pid));
        if let Some(fd) = main.stdin {
            task.main.stdin = sys::handover::adopt_inherited(fd)
                .and_then(|fd| sys::set_nonblocking(&fd, true).map(|()| fd))
                .ok()
                .map(Rc::new);
        }
        if let Some((fd, env_value)) = main.notify {
            if let Ok(fd) = sys::handover::adopt_inherited(fd) {
                task.main.notify = NotifySocket::adopt(
                    fd,
                    env_value,
                    &task.cfg.name,
                    task.self_tx.clone(),
                    task.notify_status().clone(),
                    main.pid,
                )
                .ok()
                .map(Box::new);
            }
        }
    }
    if task.cfg.is_listener {
        if let Some(pid) = task.main.pid {
            task.main._listener =
                task.services
                    .events
                    .reattach_listener(&task.cfg, pid.0, task.stdout.clone());
        }
    }
    for r in export.readers {
        let Ok(fd) = sys::handover::adopt_inherited(r.fd) else {
            mainlog::warn(format!(
                "upgrade: the {} pipe of '{}' (pid {}) was not handed over",
                r.channel.name(),
                task.cfg.name,
                r.pid
            ));
            continue;
        };
        let log = match r.channel {
            Channel::Stdout => task.stdout.clone(),
            Channel::Stderr => task.stderr.clone(),
        };
        let on_out =
            super::child::output_events(&task.services, &task.cfg, r.channel.name(), r.pid);
        spawn_reader(&task.readers, r.channel, r.pid, fd, log, on_out);
    }
    // What the old corrald was waiting for, this one waits for too.
    let (probing, checking) = {
        let m = task.machine();
        (m.probing(), m.checking())
    };
    if let Some(pid) = probing {
        task.execute(Effect::StartProbe { pid });
    }
    if let Some(pid) = checking {
        task.execute(Effect::RunHealthCheck { pid });
    }
    let cleaning: Vec<Pid> = task
        .runs
        .keys()
        .copied()
        .filter(|p| task.machine().leftover_signal(*p).is_some())
        .collect();
    for of in cleaning {
        let _ = task.self_tx.send(Command::LeftoversMaybeGone(of));
    }
    tokio::task::spawn_local(Box::new(task).run(rx, exit_rx));
    Ok((tx, info))
}

/// What is kept of one process of this program while the machine cares about it: who it
/// is (for finding its leftovers), its leftovers being stopped, its readiness probe.
struct Run {
    owner: Owner,
    cleanup: Cleanup,
    /// The scan made when it exited, reused by the first `SignalLeftovers`.
    last_scan: Option<Vec<procfs::ProcStat>>,
    probe: Option<JoinHandle<()>>,
    /// Its health check under way.
    health: Option<JoinHandle<()>>,
}

impl Drop for Run {
    fn drop(&mut self) {
        for task in [self.probe.take(), self.health.take()]
            .into_iter()
            .flatten()
        {
            task.abort();
        }
    }
}

/// What belongs to the main process beyond its pid.
#[derive(Default)]
struct Main {
    pid: Option<Pid>,
    /// Our end of its stdin (nonblocking).
    stdin: Option<Rc<OwnedFd>>,
    /// Boxed: only `readiness=notify` programs have one.
    notify: Option<Box<(NotifySocket, Rc<std::cell::Cell<i32>>)>>,
    /// The eventlistener protocol reader of this run, if this is a listener (kept with
    /// the run it reads for; it ends by itself when the listener's stdout closes).
    _listener: Option<JoinHandle<()>>,
}

/// The runs of a program by pid: one, two during a rolling restart. A vector of them, not a
/// hash map, which takes ~700 bytes for a single run (every process has one).
#[derive(Default)]
struct Runs(Vec<(Pid, Run)>);

impl Runs {
    fn keys(&self) -> impl Iterator<Item = &Pid> {
        self.0.iter().map(|(p, _)| p)
    }

    fn values(&self) -> impl Iterator<Item = &Run> {
        self.0.iter().map(|(_, r)| r)
    }

    fn get(&self, pid: &Pid) -> Option<&Run> {
        self.0.iter().find(|(p, _)| p == pid).map(|(_, r)| r)
    }

    fn get_mut(&mut self, pid: &Pid) -> Option<&mut Run> {
        self.0.iter_mut().find(|(p, _)| p == pid).map(|(_, r)| r)
    }

    fn insert(&mut self, pid: Pid, run: Run) {
        match self.get_mut(&pid) {
            Some(r) => *r = run,
            None => {
                self.0.reserve_exact(1);
                self.0.push((pid, run));
            }
        }
    }

    fn remove(&mut self, pid: &Pid) -> Option<Run> {
        let i = self.0.iter().position(|(p, _)| p == pid)?;
        Some(self.0.swap_remove(i).1)
    }
}

/// A replacement candidate: its child and the configuration it runs.
struct Candidate {
    child: Child,
    cfg: ProcConfig,
}

struct Task {
    cfg: ProcConfig,
    services: Rc<Services>,
    stdout: Rc<RefCell<ChannelLog>>,
    stderr: Rc<RefCell<ChannelLog>>,
    exit_tx: local::Sender<Exit>,
    self_tx: local::WeakSender<Command>,
    /// The published state, which holds the machine (see `Published`).
    info_tx: Rc<Watch<Published>>,
    /// Every process of this program the machine knows of, by pid.
    runs: Runs,
    main: Main,
    /// Boxed: most processes never have one.
    candidate: Option<Box<Candidate>>,
    /// The configuration a `Replace` being fed asked for (taken by `SpawnCandidate`).
    pending_cfg: Option<ProcConfig>,
    /// What a notify socket said in `STATUS=` (created with the first notify socket).
    notify_status: std::cell::OnceCell<NotifyStatus>,
    fcgi_socket: Option<Rc<Listening>>,
    /// Callers waiting for the replacement they asked for.
    tickets: Vec<(u64, ReplaceReply)>,
    next_ticket: u64,
    /// The output pipes being read (for an upgrade's handover).
    readers: Readers,
    /// This process's place at its program's recycle token (given back when the task ends).
    recycle: RecycleMember,
    /// How the main process last ended (for `shutdown_on_exit`'s exit status).
    last_exit: Option<corral_core::WaitStatus>,
}

impl Drop for Task {
    fn drop(&mut self) {
        // Whoever waits on this process learns that nothing more will happen.
        self.info_tx.close();
    }
}

/// The only clock reading of a process task: every event is stamped here.
fn now() -> Now {
    Now {
        mono: Instant::now(),
        wall: sys::unix_time(),
    }
}

impl Task {
    #[allow(clippy::type_complexity)]
    fn new(
        spec: Spec,
        services: Rc<Services>,
        machine: Machine,
    ) -> io::Result<(
        Task,
        local::Sender<Command>,
        local::Receiver<Command>,
        local::Receiver<Exit>,
        Rc<Watch<Published>>,
    )> {
        let Spec {
            config: cfg,
            logs: paths,
            fcgi_socket,
            recycle,
        } = spec;
        // Shared by the machine and the two channels (and the label is the name, unless in
        // a group).
        let name = machine.settings().name.clone();
        let namespec = cfg.namespec();
        let label = if *namespec == *name {
            name.clone()
        } else {
            namespec.into()
        };
        let open = |channel, c, path: &Option<Rc<str>>| {
            let mut log =
                ChannelLog::open(name.clone(), channel, c, path.clone(), services.strip_ansi)?
                    .labelled(label.clone());
            // An eventlistener's stdout is its protocol, not output to forward.
            if cfg.is_listener && channel == "stdout" {
                log = log.unforwarded();
            }
            Ok::<_, io::Error>(Rc::new(RefCell::new(log)))
        };
        let stdout = open("stdout", &cfg.stdout, &paths.stdout)?;
        let stderr = open("stderr", &cfg.stderr, &paths.stderr)?;
        let (tx, rx) = local::channel();
        let (exit_tx, exit_rx) = local::channel();
        let info = Watch::new(Published {
            machine,
            logs: paths,
            log_bytes: [stdout.borrow().bytes.clone(), stderr.borrow().bytes.clone()],
        });
        let task = Task {
            cfg,
            services,
            stdout,
            stderr,
            exit_tx,
            // Weak: the task ends once every handle is gone (its group was removed).
            self_tx: tx.downgrade(),
            info_tx: info.clone(),
            runs: Runs::default(),
            main: Main::default(),
            candidate: None,
            pending_cfg: None,
            notify_status: std::cell::OnceCell::new(),
            fcgi_socket,
            tickets: Vec::new(),
            next_ticket: 0,
            readers: Rc::new(RefCell::new(Vec::new())),
            recycle: recycle.member(),
            last_exit: None,
        };
        Ok((task, tx, rx, exit_rx, info))
    }

    /// What an upgrade hands to the next corrald (see `handover.rs`).
    fn export(&self) -> ProcessExport {
        ProcessExport {
            config: corral_config::ProcessConfig::clone(&self.cfg),
            logs: self.info_tx.borrow().logs.clone(),
            machine: self.machine().clone(),
            main: self.main.pid.map(|pid| MainExport {
                pid: pid.0,
                stdin: self.main.stdin.as_ref().map(|f| f.as_raw_fd()),
                notify: self
                    .main
                    .notify
                    .as_ref()
                    .map(|n| (n.0.raw_fd(), n.0.env_value.clone())),
            }),
            runs: self
                .runs
                .values()
                .map(|r| RunExport {
                    main: r.owner.main,
                    main_starttime: r.owner.main_starttime,
                    successor_starttime: r.owner.successor_starttime,
                    signaled: r.cleanup.signaled_list(),
                })
                .collect(),
            readers: self.readers.borrow().clone(),
            notify_status: self.notify_status.get().and_then(|s| s.borrow().clone()),
        }
    }

    async fn run(
        mut self: Box<Self>,
        mut rx: local::Receiver<Command>,
        mut exit_rx: local::Receiver<Exit>,
    ) {
        loop {
            let deadline = self.machine().next_deadline();
            // Work that may spawn or scan waits for its turn (process/pace.rs).
            tokio::select! {
                biased;
                Some(exit) = exit_rx.recv() => {
                    self.services.pace.admit().await;
                    self.on_exit(exit);
                }
                cmd = rx.recv() => match cmd {
                    Some(Command::Export(reply, resume)) => {
                        // Hand the state over, then do nothing until the upgrade is done
                        // (this image is replaced) or given up (`resume`).
                        let _ = reply.send(self.export());
                        let _ = resume.await;
                    }
                    Some(cmd) => {
                        if cmd.paced() {
                            self.services.pace.admit().await;
                        }
                        self.on_command(cmd);
                    }
                    // Every handle dropped: the group was removed (only ever when stopped).
                    None => return,
                },
                () = sleep_until(deadline), if deadline.is_some() => {
                    self.services.pace.admit().await;
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
            Command::Start(reply) => self.request(Event::Start, reply),
            Command::Stop(reply) => self.request(Event::Stop, reply),
            Command::Signal(sig, reply) => self.request(Event::Signal(sig), reply),
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
            Command::LeftoversMaybeGone(of) => self.recheck_leftovers(of),
            Command::Ready(pid) => {
                self.feed(Event::Ready { pid });
            }
            Command::HealthResult { pid, ok, text } => {
                self.feed(Event::HealthResult { pid, ok, text });
            }
            Command::WatchdogPing(pid) => {
                self.feed(Event::WatchdogPing { pid });
            }
            Command::WatchdogTrigger(pid) => {
                self.feed(Event::WatchdogTrigger { pid });
            }
            Command::RecycleGranted => {
                self.feed(Event::RecycleGranted);
            }
            Command::Replace(config, reply) => self.replace(config, reply),
            Command::Export(..) => {} // handled in `run`
            Command::Hold(hold) => {
                self.feed(Event::Hold(hold));
            }
            Command::Reconfigure(config, reply) => {
                let ok = self.machine().quiet();
                if ok {
                    self.apply_config(config);
                }
                let _ = reply.send(ok);
            }
        }
    }

    fn on_exit(&mut self, exit: Exit) {
        let pid = Pid(exit.pid);
        self.services.journal.borrow_mut().exited(exit.pid);
        let leftovers = match self.runs.get_mut(&pid) {
            Some(run) if self.cfg.stopdescendants => {
                let found = leftovers::scan(&run.owner, &|p| self.services.reaper.is_registered(p));
                let any = !found.is_empty();
                run.last_scan = Some(found);
                any
            }
            _ => false,
        };
        if let Some(run) = self.runs.get_mut(&pid) {
            for task in [run.probe.take(), run.health.take()].into_iter().flatten() {
                task.abort();
            }
        }
        if self.main.pid == Some(pid) {
            self.last_exit = Some(exit.status);
            // supervisord closes its ends of the pipes when the process is reaped; we keep
            // the output pipes (leftovers may still write) but stdin goes now.
            self.main.stdin = None;
            self.main.notify = None;
        }
        if self
            .candidate
            .as_ref()
            .is_some_and(|c| c.child.pid == pid.0)
        {
            self.candidate = None;
        }
        self.feed(Event::Exited {
            pid,
            status: exit.status,
            leftovers,
        });
    }

    /// An administrative request: feed it and answer with the machine's reply.
    fn request(&mut self, event: Event, reply: oneshot::Sender<Reply>) {
        let r = self.feed(event);
        let _ = reply.send(r.unwrap_or(Reply::Ok));
    }

    /// A rolling restart of this process: the machine answers once it is over.
    fn replace(&mut self, config: Option<ProcConfig>, reply: ReplaceReply) {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.tickets.push((ticket, reply));
        let settings = config
            .as_deref()
            .map(|c| Box::new(Settings::from_config(c)));
        self.pending_cfg = Some(config.unwrap_or_else(|| self.cfg.clone()));
        let r = self.feed(Event::Replace {
            settings,
            ticket: Some(ticket),
        });
        self.pending_cfg = None;
        if let Some(Reply::Failed(why)) = r {
            if let Some(reply) = self.take_ticket(ticket) {
                let _ = reply.send(Err(ReplaceError(why)));
            }
        }
    }

    fn take_ticket(&mut self, ticket: u64) -> Option<ReplaceReply> {
        let i = self.tickets.iter().position(|(t, _)| *t == ticket)?;
        Some(self.tickets.swap_remove(i).1)
    }

    fn notify_status(&self) -> &NotifyStatus {
        self.notify_status.get_or_init(NotifyStatus::default)
    }

    fn machine(&self) -> Ref<'_, Machine> {
        Ref::map(self.info_tx.borrow(), |p| &p.machine)
    }

    /// The machine, to change it. Held for one call: effects run with no borrow held, as
    /// what they do may read the published state.
    fn machine_mut(&self) -> RefMut<'_, Machine> {
        RefMut::map(self.info_tx.borrow_mut(), |p| &mut p.machine)
    }

    /// Feed one event and everything its effects lead to; tell the watchers if what they
    /// can see changed.
    fn feed(&mut self, event: Event) -> Option<Reply> {
        let before = self.machine().snapshot();
        let mut queue = VecDeque::from([event]);
        let mut reply = None;
        while let Some(ev) = queue.pop_front() {
            let step = self.machine_mut().handle(ev, now());
            if reply.is_none() {
                reply = step.reply;
            }
            for effect in step.effects {
                if let Some(follow) = self.execute(effect) {
                    queue.push_back(follow);
                }
            }
        }
        self.publish(&before);
        reply
    }

    /// Tell the watchers, if what they see is not `before` any more.
    fn publish(&self, before: &corral_core::Snapshot) {
        if self.machine().snapshot() != *before {
            self.info_tx.changed_now();
        }
    }

    /// Adopt a new configuration (a rolling update, or a stopped process reconfigured).
    /// Log files whose settings changed are reopened at their new place; AUTO logs keep
    /// their file.
    fn apply_config(&mut self, new: ProcConfig) {
        let strip = self.services.strip_ansi;
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
                lf => lf.path().map(Rc::from),
            };
            match ChannelLog::open(new.name.as_str(), chan, new_c, new_path.clone(), strip) {
                Ok(l) => {
                    let mut l = l.labelled(new.namespec().into());
                    l.bytes = log.borrow().bytes.clone();
                    *log.borrow_mut() = l;
                    *path = new_path;
                }
                Err(e) => mainlog::error(format!(
                    "cannot open the new {chan} log of '{}': {e}; keeping the old one",
                    new.name
                )),
            }
        }
        self.machine_mut().set_settings(Settings::from_config(&new));
        // The one change outside `feed`: the watchers are told here.
        self.info_tx.send_modify(|i| i.logs = logs);
        self.cfg = new;
    }

    fn execute(&mut self, effect: Effect) -> Option<Event> {
        match effect {
            Effect::Spawn => Some(match self.spawn() {
                Ok(pid) => Event::Spawned { pid },
                Err(error) => Event::SpawnFailed { error },
            }),
            Effect::SpawnCandidate => Some(match self.spawn_candidate() {
                Ok(pid) => Event::CandidateSpawned { pid },
                Err(error) => Event::CandidateSpawnFailed { error },
            }),
            Effect::Kill { pid, sig, group } => {
                if group && self.cfg.stopdescendants {
                    if let Some(run) = self.runs.get_mut(&pid) {
                        run.cleanup.note_group_signal(pid.0, sig.0);
                    }
                }
                self.kill(if group { pid.group() } else { pid.0 }, pid, sig)
            }
            Effect::SendSignal { pid, sig } => self.kill(pid.0, pid, sig),
            Effect::SignalLeftovers { of, sig } => {
                let procs = match self.runs.get_mut(&of) {
                    Some(run) => match run.last_scan.take() {
                        Some(p) => p,
                        None => self.scan(of),
                    },
                    None => Vec::new(),
                };
                self.signal_leftovers(of, &procs, sig);
                None
            }
            Effect::StartProbe { pid } => {
                let readiness = match &self.candidate {
                    Some(c) if c.child.pid == pid.0 => c.cfg.readiness.clone(),
                    _ => self.cfg.readiness.clone(),
                };
                let probe = probe::start(
                    &readiness,
                    pid,
                    self.self_tx.clone(),
                    self.services.reaper.clone(),
                );
                if let Some(run) = self.runs.get_mut(&pid) {
                    run.probe = probe;
                }
                None
            }
            Effect::CancelProbe { pid } => {
                if let Some(p) = self.runs.get_mut(&pid).and_then(|r| r.probe.take()) {
                    p.abort();
                }
                None
            }
            Effect::Promote { old, new } => {
                self.promote(old, new);
                None
            }
            Effect::Retired { pid } => {
                self.runs.remove(&pid);
                if self
                    .candidate
                    .as_ref()
                    .is_some_and(|c| c.child.pid == pid.0)
                {
                    self.candidate = None;
                }
                None
            }
            Effect::ReplaceDone { ticket, result } => {
                if let Some(reply) = ticket.and_then(|t| self.take_ticket(t)) {
                    let _ = reply.send(result.map_err(ReplaceError));
                }
                None
            }
            Effect::Changed {
                from,
                to,
                expected,
                pid,
                tries,
            } => {
                self.services.events.publish(BusEvent::ProcessState {
                    name: self.cfg.name.clone(),
                    group: self.cfg.group.to_string(),
                    from,
                    to,
                    expected,
                    pid: pid.map(|p| p.0),
                    tries,
                });
                if let Some(tx) = &self.services.state_changes {
                    let _ = tx.send(StateChange {
                        namespec: self.cfg.namespec(),
                        to,
                        last_exit: self.last_exit,
                        shutdown_on_exit: self.cfg.shutdown_on_exit,
                    });
                }
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
            Effect::RunHealthCheck { pid } => {
                if let (Some(h), Some(run)) =
                    (&self.cfg.liveness.healthcheck, self.runs.get_mut(&pid))
                {
                    let check = health::run_check(
                        &h.probe,
                        &self.cfg,
                        &self.services,
                        pid,
                        self.self_tx.clone(),
                    );
                    if let Some(old) = run.health.replace(check) {
                        old.abort();
                    }
                }
                None
            }
            Effect::CancelHealthCheck { pid } => {
                if let Some(h) = self.runs.get_mut(&pid).and_then(|r| r.health.take()) {
                    h.abort();
                }
                None
            }
            Effect::SampleMemory { pid } => {
                let rss = self.runs.get(&pid).map_or(0, |run| {
                    health::tree_rss(&run.owner, &|p| self.services.reaper.is_registered(p))
                });
                Some(Event::MemorySample { pid, rss })
            }
            Effect::RequestRecycle => self
                .recycle
                .request(&self.self_tx)
                .then_some(Event::RecycleGranted),
            Effect::ReleaseRecycle => {
                self.recycle.release();
                None
            }
            Effect::Health { pid, healthy, text } => {
                self.services.events.publish(BusEvent::ProcessHealth {
                    name: self.cfg.name.clone(),
                    group: self.cfg.group.to_string(),
                    pid: pid.0,
                    healthy,
                    text,
                });
                None
            }
            Effect::Recycled { pid, reason, text } => {
                self.services.events.publish(BusEvent::ProcessRecycled {
                    name: self.cfg.name.clone(),
                    group: self.cfg.group.to_string(),
                    pid: pid.0,
                    reason: reason.name(),
                    text,
                });
                None
            }
        }
    }

    fn kill(&mut self, target: i32, pid: Pid, sig: Signal) -> Option<Event> {
        match sys::kill(target, sig.0) {
            Ok(()) => None,
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                mainlog::debug(format!(
                    "unable to signal {} (pid {}), it probably just exited on its own: {}",
                    self.cfg.name, pid, e
                ));
                None
            }
            Err(e) => Some(Event::KillFailed {
                pid,
                error: e.to_string(),
            }),
        }
    }

    fn scan(&self, of: Pid) -> Vec<procfs::ProcStat> {
        match self.runs.get(&of) {
            Some(run) => leftovers::scan(&run.owner, &|p| self.services.reaper.is_registered(p)),
            None => Vec::new(),
        }
    }

    fn signal_leftovers(&mut self, of: Pid, procs: &[procfs::ProcStat], sig: Signal) {
        let tx = self.self_tx.clone();
        let on_gone = Box::new(move || {
            let _ = tx.send(Command::LeftoversMaybeGone(of));
        });
        match self.runs.get_mut(&of) {
            Some(run) => {
                let owner = run.owner.clone();
                run.cleanup.signal(&owner, procs, sig.0, on_gone);
            }
            None => on_gone(),
        }
    }

    /// The watched leftovers of `of` are gone; new ones may have appeared meanwhile.
    fn recheck_leftovers(&mut self, of: Pid) {
        let Some(sig) = self.machine().leftover_signal(of) else {
            return;
        };
        let procs = self.scan(of);
        if procs.is_empty() {
            if let Some(run) = self.runs.get_mut(&of) {
                run.cleanup = Cleanup::default();
            }
            self.feed(Event::LeftoversGone { of });
        } else {
            self.signal_leftovers(of, &procs, sig);
        }
    }

    fn write_stdin(&mut self, data: &[u8]) -> Result<(), StdinError> {
        let Some(fd) = self.main.stdin.clone() else {
            return Err(if self.machine().pid().is_some() {
                StdinError::NoChannel
            } else {
                StdinError::Closed
            });
        };
        write_all_nonblocking(&fd, data)
    }

    fn fork(&mut self, cfg: &ProcConfig) -> Result<Child, String> {
        let child = Fork {
            cfg,
            services: &self.services,
            fcgi_socket: self.fcgi_socket.as_deref(),
            self_tx: &self.self_tx,
            exit_tx: &self.exit_tx,
            notify_status: &self.notify_status,
            stdout: &self.stdout,
            stderr: &self.stderr,
            readers: &self.readers,
        }
        .run()?;
        self.runs.insert(
            Pid(child.pid),
            Run {
                owner: child.owner.clone(),
                cleanup: Cleanup::default(),
                last_scan: None,
                probe: None,
                health: None,
            },
        );
        Ok(child)
    }

    /// The main process: fork it and keep what belongs to it. What was kept of the
    /// previous main process (gone, leftovers and all, or the machine would not spawn)
    /// goes.
    fn spawn(&mut self) -> Result<Pid, String> {
        let cfg = self.cfg.clone();
        let mut child = self.fork(&cfg)?;
        if let Some(old) = self.main.pid.take() {
            self.runs.remove(&old);
        }
        self.adopt(&mut child);
        Ok(Pid(child.pid))
    }

    fn spawn_candidate(&mut self) -> Result<Pid, String> {
        let cfg = self.pending_cfg.take().unwrap_or_else(|| self.cfg.clone());
        let child = self.fork(&cfg)?;
        let pid = Pid(child.pid);
        self.candidate = Some(Box::new(Candidate { child, cfg }));
        Ok(pid)
    }

    /// The candidate `new` is the main process now; `old` retires.
    fn promote(&mut self, old: Pid, new: Pid) {
        let Some(mut c) = self.candidate.take().filter(|c| c.child.pid == new.0) else {
            return;
        };
        let successor = c.child.owner.main_starttime;
        if let Some(run) = self.runs.get_mut(&old) {
            // Orphans started from now on belong to the successor's tree.
            run.owner.successor_starttime = Some(successor);
        }
        if !ProcConfig::ptr_eq(&self.cfg, &c.cfg) {
            self.apply_config(c.cfg.clone());
        }
        if let Some(p) = self.runs.get_mut(&new).and_then(|r| r.probe.take()) {
            p.abort();
        }
        self.adopt(&mut c.child);
    }

    /// Take over what belongs to a new main process (`child` keeps only its pid and owner).
    fn adopt(&mut self, child: &mut Child) {
        self.main = Main {
            pid: Some(Pid(child.pid)),
            stdin: child.stdin.take(),
            notify: child.notify.take().map(Box::new),
            _listener: child.listener.take(),
        };
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        // Boxed: the timer is allocated only while there is a deadline, instead of taking
        // ~100 bytes in every process's task for good.
        Some(d) => Box::pin(tokio::time::sleep_until(d.into())).await,
        None => std::future::pending().await,
    }
}

/// Write what fits now; the rest is written in the background as the pipe drains.
/// A closed pipe (the child closed stdin or died) is supervisord's EPIPE fault.
fn write_all_nonblocking(fd: &OwnedFd, data: &[u8]) -> Result<(), StdinError> {
    let written = sys::write_nonblocking(fd, data).map_err(|_| StdinError::Broken)?;
    if written == data.len() {
        return Ok(());
    }
    let mut rest = data[written..].to_vec();
    // The pipe is full: watch a copy of the descriptor for room. Registered only now, as
    // most programs never get here (a registration costs ~250 bytes per process).
    let fd = fd
        .try_clone()
        .and_then(|d| sys::async_fd(d, tokio::io::Interest::WRITABLE))
        .map_err(|_| StdinError::Broken)?;
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

/// Every process holds one of each of these, thousands of times over: the daemon's memory
/// per process is measured by `bench/run` (docs/PERFORMANCE.md, "Scale"). A change that
/// grows one should be a choice made knowingly: what most programs leave unset belongs in
/// a box or a `Sparse`.
#[cfg(all(test, target_pointer_width = "64"))]
mod size_budget {
    use std::mem::size_of;

    #[test]
    fn per_process_types_stay_within_their_budget() {
        for (name, size, budget) in [
            ("Task", size_of::<super::Task>(), 240),
            ("Published", size_of::<super::Published>(), 592),
            ("Machine", size_of::<corral_core::Machine>(), 544),
            (
                "ChannelLog",
                size_of::<crate::logs::channel::ChannelLog>(),
                144,
            ),
            ("Run", size_of::<super::Run>(), 152),
            (
                "ProcessConfig",
                size_of::<corral_config::ProcessConfig>(),
                520,
            ),
        ] {
            assert!(
                size <= budget,
                "{name} is {size} bytes, over its budget of {budget}"
            );
        }
    }
}
