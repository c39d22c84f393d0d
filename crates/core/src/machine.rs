//! One supervised process as a pure state machine: `handle(event, now) -> Step`.
//!
//! The transitions are supervisord 4.3.0's (`supervisor/process.py`), made event-driven:
//! where supervisord re-evaluates every process on a 1-second tick, this machine names its
//! next deadline ([`Machine::next_deadline`]) and the runtime wakes it exactly then. Nothing
//! here spawns, signals or sleeps; the runtime carries out the returned [`Effect`]s and feeds
//! their outcome back as events (`Spawned`, `SpawnFailed`, `KillFailed`).
//!
//! corral adds two things supervisord lacks:
//! * **Leftovers.** When the main process is gone but processes it started are still alive
//!   (its process group, its session, orphans of its tree), the machine asks the runtime to
//!   stop them (`SignalLeftovers`), escalates to SIGKILL after `stopwaitsecs`, and does not
//!   count a stop as finished, nor spawn again, until they are gone. This is what keeps a
//!   restarted server from dying with `Address already in use`.
//! * **Readiness probes.** With `readiness=` other than `startsecs`, STARTING becomes RUNNING
//!   when the runtime reports `Ready`; a process that is not ready after `readiness_timeout`
//!   is stopped and counts as a failed start.

use std::time::{Duration, Instant};

use corral_config::{AutoRestart, ProcessConfig, Readiness, signals};

use crate::state::ProcessState;
use crate::wait::WaitStatus;

pub type Pid = i32;

const SIGKILL: i32 = 9;

/// A point in time as both clocks see it: `mono` drives timers, `wall` (Unix seconds) is
/// what the API reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Now {
    pub mono: Instant,
    pub wall: f64,
}

/// How STARTING becomes RUNNING.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadyRule {
    /// supervisord's rule: alive for `startsecs`.
    AfterStartsecs,
    /// A probe run by the runtime reports `Ready`; `label` names it in log messages.
    Probe { label: String },
}

/// What the machine needs to know of a process's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The process name, as it appears in log messages.
    pub name: String,
    pub autostart: bool,
    pub autorestart: AutoRestart,
    pub exitcodes: Vec<i32>,
    pub startsecs: u64,
    pub startretries: u64,
    pub stopsignal: i32,
    pub stopwaitsecs: u64,
    pub stopasgroup: bool,
    pub killasgroup: bool,
    pub stopdescendants: bool,
    pub ready: ReadyRule,
    pub readiness_timeout: u64,
}

impl Settings {
    pub fn from_config(p: &ProcessConfig) -> Settings {
        let ready = match &p.readiness {
            Readiness::Startsecs => ReadyRule::AfterStartsecs,
            Readiness::Notify => ReadyRule::Probe {
                label: "notify".into(),
            },
            Readiness::Tcp { host, port } => ReadyRule::Probe {
                label: format!("tcp://{host}:{port}"),
            },
            Readiness::Http { url } => ReadyRule::Probe { label: url.clone() },
            Readiness::Exec { command } => ReadyRule::Probe {
                label: format!("exec:{command}"),
            },
        };
        Settings {
            name: p.name.clone(),
            autostart: p.autostart,
            autorestart: p.autorestart,
            exitcodes: p.exitcodes.clone(),
            startsecs: p.startsecs,
            startretries: p.startretries,
            stopsignal: p.stopsignal,
            stopwaitsecs: p.stopwaitsecs,
            stopasgroup: p.stopasgroup,
            killasgroup: p.killasgroup,
            stopdescendants: p.stopdescendants,
            ready,
            readiness_timeout: p.readiness_timeout,
        }
    }
}

/// Something that happened to the process, or a request about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The daemon is up: start the process if it is `autostart` and was never started.
    Activate,
    /// Administrative start (`startProcess`).
    Start,
    /// Administrative stop (`stopProcess`).
    Stop,
    /// Send a signal without intending to stop (`signalProcess`).
    Signal(i32),
    /// The daemon is shutting down or reloading: no more automatic (re)starts.
    DaemonStopping,
    /// Shutdown's stop of this process's group (supervisord's `stop_all`): running
    /// processes are stopped, a process in BACKOFF gives up (FATAL).
    ShutdownStop,
    /// The `Spawn` effect forked and exec'd a child.
    Spawned { pid: Pid },
    /// The `Spawn` effect failed before a child existed (bad command, no pipes, fork failed).
    SpawnFailed { error: String },
    /// The main process was reaped. `leftovers`: processes it started are still alive
    /// (only reported when `stopdescendants` is on).
    Exited {
        pid: Pid,
        status: WaitStatus,
        leftovers: bool,
    },
    /// Every leftover process is gone.
    LeftoversGone,
    /// The readiness probe succeeded.
    Ready,
    /// Signalling the main process failed for a reason other than "no such process".
    KillFailed { error: String },
    /// A deadline ([`Machine::next_deadline`]) has passed.
    Tick,
    /// A rolling restart made `pid` (a replacement that became ready) the main process;
    /// the previous one is being retired by the runtime. Only meaningful while RUNNING.
    Replaced { pid: Pid },
}

/// Log levels of the messages the machine asks to log (supervisord's levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Critical,
}

/// Something the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Fork and exec the process; answer with `Spawned` or `SpawnFailed`.
    Spawn,
    /// Signal the main process (its process group when `group`) in order to stop it.
    Kill { pid: Pid, sig: i32, group: bool },
    /// Deliver a signal to the main process only (`signalProcess`).
    SendSignal { pid: Pid, sig: i32 },
    /// Deliver `sig` to every leftover process that has not had it yet, and report
    /// `LeftoversGone` once they are all gone.
    SignalLeftovers { sig: i32 },
    /// Start the readiness probe for the process just spawned.
    StartProbe,
    /// Stop the readiness probe, if one is running.
    CancelProbe,
    /// The state changed (for the API snapshot and for event listeners). `pid` and `tries`
    /// are the values supervisord puts in the event payload.
    Changed {
        from: ProcessState,
        to: ProcessState,
        expected: bool,
        pid: Option<Pid>,
        tries: u64,
    },
    /// A line for the main log.
    Log(Level, String),
}

/// The machine's answer to an administrative request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Done (or under way).
    Ok,
    /// `Start` refused: the process is already STARTING, RUNNING or in BACKOFF.
    AlreadyStarted,
    /// `Stop`/`Signal` refused: the process is not running.
    NotRunning,
    /// `Start` refused: the process is in the UNKNOWN state.
    InUnknownState,
    /// The request failed; supervisord's message.
    Failed(String),
}

/// What one event produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Step {
    pub effects: Vec<Effect>,
    /// Set for administrative requests (`Start`, `Stop`, `Signal`).
    pub reply: Option<Reply>,
}

/// Where a STARTING process is in its start.
#[derive(Debug, Clone, Copy, PartialEq)]
enum StartStage {
    /// Waiting for the previous run's leftovers to be gone before spawning.
    WaitingForLeftovers,
    /// `Spawn` was asked for; `Spawned`/`SpawnFailed` comes next.
    Spawning,
    /// Alive, not yet RUNNING. It becomes RUNNING once it has been up until `min_up_at`
    /// (`startsecs`) *and* is `ready` (always, under the startsecs rule; once the probe
    /// succeeds, under a readiness rule). A probe that has not succeeded by `give_up_at`
    /// (`readiness_timeout`) fails the start.
    Alive {
        pid: Pid,
        min_up_at: Instant,
        ready: bool,
        give_up_at: Option<Instant>,
    },
}

/// What a stop turns into once everything is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterStop {
    /// An administrative or shutdown stop: STOPPED.
    Stopped,
    /// A process stopped because it never became ready: a failed start (BACKOFF).
    Backoff,
}

/// The state, carrying only the data that state has.
#[derive(Debug, Clone, PartialEq)]
enum Phase {
    Stopped,
    Starting(StartStage),
    Running {
        pid: Pid,
    },
    Backoff {
        retry_at: Instant,
    },
    Stopping {
        /// The main process, until it is reaped.
        main: Option<Pid>,
        /// When SIGKILL follows the stop signal; `None` once it was sent.
        kill_at: Option<Instant>,
        after: AfterStop,
        /// supervisord's "stopped: NAME (MESSAGE)" line, known once the main process exited
        /// and logged when the stop completes. (bool: was the exit status expected?)
        report: Option<(bool, String)>,
    },
    Exited,
    Fatal,
    Unknown,
}

impl Phase {
    fn state(&self) -> ProcessState {
        match self {
            Phase::Stopped => ProcessState::Stopped,
            Phase::Starting(_) => ProcessState::Starting,
            Phase::Running { .. } => ProcessState::Running,
            Phase::Backoff { .. } => ProcessState::Backoff,
            Phase::Stopping { .. } => ProcessState::Stopping,
            Phase::Exited => ProcessState::Exited,
            Phase::Fatal => ProcessState::Fatal,
            Phase::Unknown => ProcessState::Unknown,
        }
    }
}

/// Leftovers of a main process that has exited, being stopped.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cleanup {
    /// When SIGKILL follows; `None` once sent.
    kill_at: Option<Instant>,
}

/// One supervised process.
#[derive(Debug, Clone)]
pub struct Machine {
    settings: Settings,
    phase: Phase,
    cleanup: Option<Cleanup>,
    /// When the last spawn was attempted (supervisord's `laststart`).
    laststart: Option<Now>,
    /// When the main process last exited, Unix seconds (supervisord's `laststop`).
    laststop: Option<f64>,
    exitstatus: Option<i32>,
    spawnerr: Option<String>,
    /// Consecutive failed starts (supervisord's `backoff`).
    backoff: u64,
    /// The daemon is stopping: no automatic spawns.
    frozen: bool,
    /// The last main process spawned (for the pid in a delayed STOPPED event).
    last_pid: Option<Pid>,
}

/// A read-only view for the API.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub state: ProcessState,
    pub pid: Option<Pid>,
    pub laststart: Option<f64>,
    pub laststop: Option<f64>,
    pub exitstatus: Option<i32>,
    pub spawnerr: Option<String>,
    pub backoff: u64,
}

impl Machine {
    pub fn new(settings: Settings) -> Machine {
        Machine {
            settings,
            phase: Phase::Stopped,
            cleanup: None,
            laststart: None,
            laststop: None,
            exitstatus: None,
            spawnerr: None,
            backoff: 0,
            frozen: false,
            last_pid: None,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// New settings (a rolling update replaced the program's configuration). The state
    /// and its timers are kept; the new settings apply from the next transition on.
    pub fn set_settings(&mut self, settings: Settings) {
        self.settings = settings;
    }

    pub fn state(&self) -> ProcessState {
        self.phase.state()
    }

    /// The main process, if one is alive.
    pub fn pid(&self) -> Option<Pid> {
        match self.phase {
            Phase::Starting(StartStage::Alive { pid, .. }) | Phase::Running { pid } => Some(pid),
            Phase::Stopping { main, .. } => main,
            _ => None,
        }
    }

    /// Whether leftovers of an exited main process are still being stopped.
    pub fn cleaning_up(&self) -> bool {
        self.cleanup.is_some()
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self.state(),
            pid: self.pid(),
            laststart: self.laststart.map(|n| n.wall),
            laststop: self.laststop,
            exitstatus: self.exitstatus,
            spawnerr: self.spawnerr.clone(),
            backoff: self.backoff,
        }
    }

    /// The earliest moment at which `Tick` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Starting(StartStage::Alive {
                min_up_at,
                ready,
                give_up_at,
                ..
            }) => {
                if ready {
                    Some(min_up_at)
                } else {
                    give_up_at
                }
            }
            Phase::Backoff { retry_at }
                if !self.frozen && self.backoff <= self.settings.startretries =>
            {
                Some(retry_at)
            }
            Phase::Stopping {
                main: Some(_),
                kill_at,
                ..
            } => kill_at,
            _ => None,
        };
        earliest(phase, self.cleanup.and_then(|c| c.kill_at))
    }

    /// Apply one event.
    pub fn handle(&mut self, event: Event, now: Now) -> Step {
        let mut step = Step::default();
        match event {
            Event::Activate => {
                if matches!(self.phase, Phase::Stopped)
                    && self.laststart.is_none()
                    && self.settings.autostart
                    && !self.frozen
                {
                    self.spawn(now, &mut step);
                }
            }
            Event::Start => step.reply = Some(self.start(now, &mut step)),
            Event::Stop => step.reply = Some(self.stop(now, AfterStop::Stopped, &mut step)),
            Event::Signal(sig) => step.reply = Some(self.signal(sig, &mut step)),
            Event::DaemonStopping => {
                self.frozen = true;
            }
            Event::ShutdownStop => {
                self.frozen = true;
                match self.phase {
                    Phase::Running { .. } | Phase::Starting(_) => {
                        self.stop(now, AfterStop::Stopped, &mut step);
                    }
                    Phase::Backoff { .. } => self.give_up(&mut step),
                    _ => {}
                }
            }
            Event::Spawned { pid } => self.spawned(pid, now, &mut step),
            Event::SpawnFailed { error } => {
                if matches!(self.phase, Phase::Starting(StartStage::Spawning)) {
                    self.record_spawnerr(error, &mut step);
                    self.enter_backoff(now, &mut step);
                }
            }
            Event::Exited {
                pid,
                status,
                leftovers,
            } => self.exited(pid, status, leftovers, now, &mut step),
            Event::LeftoversGone => self.leftovers_gone(now, &mut step),
            Event::Ready => {
                if let Phase::Starting(StartStage::Alive { ref mut ready, .. }) = self.phase {
                    *ready = true;
                    self.tick(now, &mut step);
                }
            }
            Event::KillFailed { error } => {
                let pid = self.pid().unwrap_or(0);
                step.effects.push(Effect::Log(
                    Level::Critical,
                    format!(
                        "unknown problem killing {} ({}):{}",
                        self.settings.name, pid, error
                    ),
                ));
                self.change(Phase::Unknown, true, &mut step);
            }
            Event::Tick => self.tick(now, &mut step),
            Event::Replaced { pid } => {
                if let Phase::Running { pid: old } = self.phase {
                    step.effects.push(Effect::Log(
                        Level::Info,
                        format!(
                            "replaced: '{}' pid {} by pid {}",
                            self.settings.name, old, pid
                        ),
                    ));
                    self.phase = Phase::Running { pid };
                    self.last_pid = Some(pid);
                    self.laststart = Some(now);
                    step.reply = Some(Reply::Ok);
                } else {
                    step.reply = Some(Reply::NotRunning);
                }
            }
        }
        step
    }

    fn start(&mut self, now: Now, step: &mut Step) -> Reply {
        match self.phase {
            Phase::Starting(_) | Phase::Running { .. } | Phase::Backoff { .. } => {
                Reply::AlreadyStarted
            }
            Phase::Unknown => Reply::InUnknownState,
            Phase::Stopping { .. } => {
                // supervisord's spawn() refuses while the old process is still alive.
                step.effects.push(Effect::Log(
                    Level::Warn,
                    format!("process '{}' already running", self.settings.name),
                ));
                Reply::Ok
            }
            Phase::Stopped | Phase::Exited | Phase::Fatal => {
                self.spawn(now, step);
                Reply::Ok
            }
        }
    }

    /// supervisord's `spawn()`, up to the fork (which is the runtime's).
    fn spawn(&mut self, now: Now, step: &mut Step) {
        if self.cleanup.is_some() {
            // The previous run left processes behind that are being stopped; starting now
            // would race them for ports and files. Show STARTING and spawn once they are gone.
            if !matches!(self.phase, Phase::Starting(_)) {
                self.change(Phase::Starting(StartStage::WaitingForLeftovers), true, step);
            }
            return;
        }
        self.laststart = Some(now);
        self.spawnerr = None;
        self.exitstatus = None;
        if matches!(self.phase, Phase::Starting(_)) {
            self.phase = Phase::Starting(StartStage::Spawning);
        } else {
            self.change(Phase::Starting(StartStage::Spawning), true, step);
        }
        step.effects.push(Effect::Spawn);
    }

    fn spawned(&mut self, pid: Pid, now: Now, step: &mut Step) {
        if !matches!(self.phase, Phase::Starting(StartStage::Spawning)) {
            return;
        }
        step.effects.push(Effect::Log(
            Level::Info,
            format!("spawned: '{}' with pid {}", self.settings.name, pid),
        ));
        let (ready, give_up_at) = match self.settings.ready {
            ReadyRule::AfterStartsecs => (true, None),
            ReadyRule::Probe { .. } => {
                step.effects.push(Effect::StartProbe);
                (
                    false,
                    Some(now.mono + secs(self.settings.readiness_timeout)),
                )
            }
        };
        self.last_pid = Some(pid);
        self.phase = Phase::Starting(StartStage::Alive {
            pid,
            min_up_at: now.mono + secs(self.settings.startsecs),
            ready,
            give_up_at,
        });
        // startsecs=0: RUNNING at once (supervisord does it on its next loop iteration).
        self.tick(now, step);
    }

    fn record_spawnerr(&mut self, error: String, step: &mut Step) {
        step.effects
            .push(Effect::Log(Level::Info, format!("spawnerr: {error}")));
        self.spawnerr = Some(error);
    }

    /// STARTING → BACKOFF, and straight on to FATAL when the retries are used up
    /// (supervisord does that on the next loop iteration).
    fn enter_backoff(&mut self, now: Now, step: &mut Step) {
        self.backoff += 1;
        let retry_at = now.mono + secs(self.backoff);
        self.change(Phase::Backoff { retry_at }, true, step);
        if self.backoff > self.settings.startretries {
            self.give_up(step);
            step.effects.push(Effect::Log(
                Level::Info,
                format!(
                    "gave up: {} entered FATAL state, too many start retries too quickly",
                    self.settings.name
                ),
            ));
        }
    }

    fn give_up(&mut self, step: &mut Step) {
        self.backoff = 0;
        self.change(Phase::Fatal, true, step);
    }

    fn stop(&mut self, now: Now, after: AfterStop, step: &mut Step) -> Reply {
        match self.phase {
            Phase::Backoff { .. } => {
                step.effects.push(Effect::Log(
                    Level::Debug,
                    format!(
                        "Attempted to kill {}, which is in BACKOFF state.",
                        self.settings.name
                    ),
                ));
                self.change(Phase::Stopped, true, step);
                Reply::Ok
            }
            Phase::Starting(StartStage::WaitingForLeftovers | StartStage::Spawning) => {
                // Nothing of ours is running yet; leftovers of the previous run, if any, are
                // being stopped already and the stop completes when they are gone.
                let phase = if self.cleanup.is_some() {
                    Phase::Stopping {
                        main: None,
                        kill_at: None,
                        after,
                        report: None,
                    }
                } else {
                    Phase::Stopped
                };
                self.change(phase, true, step);
                Reply::Ok
            }
            Phase::Starting(StartStage::Alive { pid, .. }) | Phase::Running { pid } => {
                if matches!(self.settings.ready, ReadyRule::Probe { .. })
                    && matches!(self.phase, Phase::Starting(_))
                {
                    step.effects.push(Effect::CancelProbe);
                }
                let group = self.settings.stopasgroup;
                let sig = self.settings.stopsignal;
                step.effects.push(Effect::Log(
                    Level::Debug,
                    format!(
                        "killing {} (pid {}) {}with signal {}",
                        self.settings.name,
                        pid,
                        if group { "process group " } else { "" },
                        signals::name(sig)
                    ),
                ));
                self.change(
                    Phase::Stopping {
                        main: Some(pid),
                        kill_at: Some(now.mono + secs(self.settings.stopwaitsecs)),
                        after,
                        report: None,
                    },
                    true,
                    step,
                );
                step.effects.push(Effect::Kill { pid, sig, group });
                Reply::Ok
            }
            Phase::Stopping { .. }
            | Phase::Stopped
            | Phase::Exited
            | Phase::Fatal
            | Phase::Unknown => Reply::NotRunning,
        }
    }

    fn signal(&mut self, sig: i32, step: &mut Step) -> Reply {
        if !self.state().is_signallable() {
            return Reply::NotRunning;
        }
        match self.pid() {
            Some(pid) => {
                step.effects.push(Effect::Log(
                    Level::Debug,
                    format!(
                        "sending {} (pid {}) sig {}",
                        self.settings.name,
                        pid,
                        signals::name(sig)
                    ),
                ));
                step.effects.push(Effect::SendSignal { pid, sig });
                Reply::Ok
            }
            None => Reply::Failed(format!(
                "attempted to send {} sig {} but it wasn't running",
                self.settings.name,
                signals::name(sig)
            )),
        }
    }

    fn exited(&mut self, pid: Pid, status: WaitStatus, leftovers: bool, now: Now, step: &mut Step) {
        if self.pid() != Some(pid) {
            return; // not our current main process (a stale report)
        }
        let (es, msg) = status.decode();
        self.laststop = Some(now.wall);
        let expected = self.settings.exitcodes.contains(&es);
        let name = self.settings.name.clone();
        let leftovers = leftovers && self.settings.stopdescendants;

        match self.phase.clone() {
            Phase::Stopping { kill_at, after, .. } => {
                self.exitstatus = Some(es);
                if leftovers {
                    // Whatever got the stop signal with the group keeps its grace period; the
                    // runtime signals only those that did not get it yet.
                    let sig = if kill_at.is_some() {
                        self.settings.stopsignal
                    } else {
                        SIGKILL
                    };
                    self.cleanup = Some(Cleanup { kill_at });
                    step.effects.push(Effect::SignalLeftovers { sig });
                }
                self.phase = Phase::Stopping {
                    main: None,
                    kill_at,
                    after,
                    report: Some((expected, format!("stopped: {name} ({msg})"))),
                };
                self.finish_stop_if_done(now, step);
            }
            Phase::Starting(StartStage::Alive { .. }) if self.exited_too_quickly(now) => {
                self.exitstatus = None;
                self.start_cleanup(leftovers, now, step);
                step.effects.push(Effect::Log(
                    Level::Warn,
                    format!("exited: {name} ({msg}; not expected)"),
                ));
                self.spawnerr = Some("Exited too quickly (process log may have details)".into());
                self.enter_backoff(now, step);
            }
            Phase::Starting(_) | Phase::Running { .. } => {
                if let Phase::Starting(_) = self.phase {
                    // startsecs passed but its deadline had not been handled yet.
                    self.change(Phase::Running { pid }, true, step);
                }
                self.backoff = 0;
                self.exitstatus = Some(es);
                self.start_cleanup(leftovers, now, step);
                if expected {
                    self.change(Phase::Exited, true, step);
                    step.effects.push(Effect::Log(
                        Level::Info,
                        format!("exited: {name} ({msg}; expected)"),
                    ));
                } else {
                    self.spawnerr = Some(format!("Bad exit code {es}"));
                    self.change(Phase::Exited, false, step);
                    step.effects.push(Effect::Log(
                        Level::Warn,
                        format!("exited: {name} ({msg}; not expected)"),
                    ));
                }
                let restart = match self.settings.autorestart {
                    AutoRestart::Always => true,
                    AutoRestart::Unexpected => !expected,
                    AutoRestart::Never => false,
                };
                if restart && !self.frozen {
                    self.spawn(now, step);
                }
            }
            _ => {}
        }
    }

    /// supervisord: `now - laststart < startsecs`. A process that must pass a readiness
    /// probe and exits before it does has failed to start, whenever that is.
    fn exited_too_quickly(&self, now: Now) -> bool {
        match self.settings.ready {
            ReadyRule::Probe { .. } => true,
            ReadyRule::AfterStartsecs => self.laststart.is_some_and(|t| {
                now.mono.saturating_duration_since(t.mono) < secs(self.settings.startsecs)
            }),
        }
    }

    fn start_cleanup(&mut self, leftovers: bool, now: Now, step: &mut Step) {
        if leftovers {
            self.cleanup = Some(Cleanup {
                kill_at: Some(now.mono + secs(self.settings.stopwaitsecs)),
            });
            step.effects.push(Effect::SignalLeftovers {
                sig: self.settings.stopsignal,
            });
        }
    }

    fn leftovers_gone(&mut self, now: Now, step: &mut Step) {
        if self.cleanup.take().is_none() {
            return;
        }
        match self.phase {
            Phase::Stopping { .. } => self.finish_stop_if_done(now, step),
            Phase::Starting(StartStage::WaitingForLeftovers) => {
                if self.frozen {
                    self.change(Phase::Stopped, true, step);
                } else {
                    self.spawn(now, step);
                }
            }
            _ => {}
        }
    }

    fn finish_stop_if_done(&mut self, now: Now, step: &mut Step) {
        let Phase::Stopping {
            main: None,
            after,
            ref report,
            ..
        } = self.phase
        else {
            return;
        };
        if self.cleanup.is_some() {
            return;
        }
        let report = report.clone();
        match after {
            AfterStop::Stopped => self.change(Phase::Stopped, true, step),
            AfterStop::Backoff => self.enter_backoff(now, step),
        }
        if let Some((expected, line)) = report {
            let level = if expected { Level::Info } else { Level::Warn };
            step.effects.push(Effect::Log(level, line));
        }
    }

    fn tick(&mut self, now: Now, step: &mut Step) {
        match self.phase {
            Phase::Starting(StartStage::Alive {
                pid,
                min_up_at,
                ready,
                give_up_at,
            }) => {
                if ready && min_up_at <= now.mono {
                    self.backoff = 0;
                    self.change(Phase::Running { pid }, true, step);
                    let msg = match &self.settings.ready {
                        ReadyRule::AfterStartsecs => format!(
                            "success: {} entered RUNNING state, process has stayed up for > than {} seconds (startsecs)",
                            self.settings.name, self.settings.startsecs
                        ),
                        ReadyRule::Probe { label } => format!(
                            "success: {} entered RUNNING state, process is ready ({})",
                            self.settings.name, label
                        ),
                    };
                    step.effects.push(Effect::Log(Level::Info, msg));
                } else if !ready && give_up_at.is_some_and(|t| t <= now.mono) {
                    let error = format!(
                        "not ready after {} seconds (readiness_timeout)",
                        self.settings.readiness_timeout
                    );
                    step.effects.push(Effect::Log(
                        Level::Warn,
                        format!("{}: {}, stopping it", self.settings.name, error),
                    ));
                    self.spawnerr = Some(error);
                    self.stop(now, AfterStop::Backoff, step);
                }
            }
            Phase::Backoff { retry_at }
                if !self.frozen
                    && self.backoff <= self.settings.startretries
                    && retry_at <= now.mono =>
            {
                self.spawn(now, step);
            }
            Phase::Stopping {
                main: Some(pid),
                ref mut kill_at,
                ..
            } if kill_at.is_some_and(|t| t <= now.mono) => {
                *kill_at = None;
                step.effects.push(Effect::Log(
                    Level::Warn,
                    format!("killing '{}' ({}) with SIGKILL", self.settings.name, pid),
                ));
                step.effects.push(Effect::Kill {
                    pid,
                    sig: SIGKILL,
                    group: self.settings.killasgroup,
                });
            }
            _ => {}
        }
        if let Some(Cleanup { kill_at: Some(t) }) = self.cleanup {
            if t <= now.mono {
                self.cleanup = Some(Cleanup { kill_at: None });
                step.effects.push(Effect::SignalLeftovers { sig: SIGKILL });
            }
        }
    }

    /// Enter `phase`; a change of state is an event.
    fn change(&mut self, phase: Phase, expected: bool, step: &mut Step) {
        let from = self.state();
        let to = phase.state();
        // supervisord's events carry the pid the process had when the event was made: the
        // exiting pid for EXITED/STOPPED, the new pid for RUNNING.
        let pid = match phase {
            Phase::Running { pid } => Some(pid),
            Phase::Stopping { main, .. } => main,
            Phase::Exited => self.pid(),
            // A stop that waited for leftovers ends after the main process was reaped; the
            // event still names it.
            Phase::Stopped if from == ProcessState::Stopping => self.pid().or(self.last_pid),
            _ => None,
        };
        self.phase = phase;
        if from != to {
            step.effects.push(Effect::Changed {
                from,
                to,
                expected,
                pid,
                tries: self.backoff,
            });
        }
    }
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
