//! One supervised process as a pure state machine: `handle(event, now) -> Step`.
//!
//! The transitions are supervisord 4.3.0's (`supervisor/process.py`), made event-driven:
//! where supervisord re-evaluates every process on a 1-second tick, this machine names its
//! next deadline ([`Machine::next_deadline`]) and the runtime wakes it exactly then. Nothing
//! here spawns, signals or sleeps; the runtime carries out the returned [`Effect`]s and feeds
//! their outcome back as events (`Spawned`, `SpawnFailed`, `KillFailed`, …).
//!
//! corral adds what supervisord lacks:
//! * **Leftovers.** When the main process is gone but processes it started are still alive
//!   (its process group, its session, orphans of its tree), the machine asks the runtime to
//!   stop them (`SignalLeftovers`), escalates along the stop plan to SIGKILL, and does not
//!   count a stop as finished, nor spawn again, until they are gone. This is what keeps a
//!   restarted server from dying with `Address already in use`.
//! * **Readiness probes.** With `readiness=` other than `startsecs`, STARTING becomes RUNNING
//!   when the runtime reports `Ready`; a process that is not ready after `readiness_timeout`
//!   is stopped and counts as a failed start.
//! * **Replacement** (`replace.rs`): a rolling restart starts a candidate beside the running
//!   process, makes it the main process once it is ready, and retires the old one with the
//!   same stop plan as any stop.
//! * **Stop plans** (`stop.rs`): a stop is a sequence of signals with grace periods, then
//!   SIGKILL; supervisord's `stopsignal`/`stopwaitsecs` is the one-step plan.
//! * **Liveness** (`health.rs`, `recycle.rs`): health checks, the sd_notify watchdog,
//!   `max_memory` and `max_lifetime` watch a RUNNING process; an unhealthy one is restarted,
//!   a recycled one restarted once the program's recycle token is granted; each restart
//!   goes through the replacement (programs on corral sockets) or a stop then a start, and
//!   is counted by reason. `backoff_max` and `startretries=infinite` change the delays
//!   between attempts (`enter_backoff`, `crash_delay`).

mod health;
mod hold;
mod recycle;
mod replace;
pub mod stop;

use std::time::{Duration, Instant};

use corral_config::sparse::Sparse;
use corral_config::{AutoRestart, ProcessConfig, Readiness, STARTRETRIES_INFINITE};

pub use crate::ids::{Pid, Signal};
use crate::state::ProcessState;
use crate::wait::WaitStatus;
pub use health::{HealthRule, HealthState, HealthView, LivenessRules, MEMORY_SAMPLE_EVERY};
use health::{HealthStatus, Watch};
pub use hold::Hold;
use recycle::RestartJob;
pub use recycle::{RestartCounts, RestartReason};
use replace::{Candidate, Retiring};
pub use stop::{Cleanup, Escalation, StopPlan, StopProgress, StopStep};

/// A point in time as both clocks see it: `mono` drives timers, `wall` (Unix seconds) is
/// what the API reports.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Now {
    #[serde(with = "crate::persist::instant")]
    pub mono: Instant,
    pub wall: f64,
}

/// How STARTING becomes RUNNING.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ReadyRule {
    /// supervisord's rule: alive for `startsecs`.
    AfterStartsecs,
    /// A probe run by the runtime reports `Ready`; `label` names it in log messages.
    Probe { label: String },
}

/// What the machine needs to know of a process's configuration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Settings {
    /// The process name, as it appears in log messages (shared with the process's logs).
    pub name: std::rc::Rc<str>,
    pub autostart: bool,
    pub autorestart: AutoRestart,
    pub exitcodes: std::sync::Arc<[i32]>,
    pub startsecs: u64,
    pub startretries: u64,
    /// How the process is stopped (supervisord: `stopsignal`, `stopwaitsecs`,
    /// `stopasgroup`, `killasgroup`).
    pub stop: StopPlan,
    pub stopdescendants: bool,
    pub ready: ReadyRule,
    pub readiness_timeout: u64,
    /// corral's liveness rules (all off by default).
    /// Sparse: a few hundred bytes per process that most programs leave off.
    pub liveness: Sparse<LivenessRules>,
    /// The program runs on corral sockets: a liveness restart replaces it the rolling way
    /// (the new process ready before the old one stops) instead of stopping it first.
    pub rolling_restart: bool,
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
            name: p.name.as_str().into(),
            autostart: p.autostart,
            // A container's main process (`shutdown_on_exit`) is never restarted: its exit
            // ends the daemon, and a restart would only run it again meanwhile.
            autorestart: if p.shutdown_on_exit {
                AutoRestart::Never
            } else {
                p.autorestart
            },
            exitcodes: p.exitcodes.clone(),
            startsecs: p.startsecs,
            startretries: p.startretries,
            stop: StopPlan {
                steps: p
                    .stop_steps()
                    .iter()
                    .map(|s| StopStep {
                        signal: Signal(s.signal),
                        wait: secs(s.wait),
                    })
                    .collect(),
                stopasgroup: p.stopasgroup,
                killasgroup: p.killasgroup,
            },
            stopdescendants: p.stopdescendants,
            ready,
            readiness_timeout: p.readiness_timeout,
            liveness: Sparse::new(LivenessRules::from_config(&p.liveness)),
            rolling_restart: !p.sockets.is_empty(),
        }
    }

    fn probed(&self) -> bool {
        matches!(self.ready, ReadyRule::Probe { .. })
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
    Signal(Signal),
    /// The daemon is shutting down or reloading: no more automatic (re)starts.
    DaemonStopping,
    /// Shutdown's stop of this process's group (supervisord's `stop_all`): running
    /// processes are stopped, a process in BACKOFF gives up (FATAL).
    ShutdownStop,
    /// The `Spawn` effect forked and exec'd a child.
    Spawned { pid: Pid },
    /// The `Spawn` effect failed before a child existed (bad command, no pipes, fork failed).
    SpawnFailed { error: String },
    /// A process of this program was reaped: the main process, a replacement candidate or
    /// a retiring process. `leftovers`: processes it started are still alive (the machine
    /// cares only when `stopdescendants` is on).
    Exited {
        pid: Pid,
        status: WaitStatus,
        leftovers: bool,
    },
    /// Every leftover of the process `of` is gone.
    LeftoversGone { of: Pid },
    /// The readiness probe of `pid` (the main process or a candidate) succeeded.
    Ready { pid: Pid },
    /// Signalling `pid` failed for a reason other than "no such process".
    KillFailed { pid: Pid, error: String },
    /// A deadline ([`Machine::next_deadline`]) has passed.
    Tick,
    /// Replace the running process without a gap (a rolling restart): start a candidate
    /// beside it, running `settings` (the current ones when `None`). `ticket` comes back in
    /// [`Effect::ReplaceDone`].
    Replace {
        settings: Option<Box<Settings>>,
        ticket: Option<u64>,
    },
    /// The `SpawnCandidate` effect forked and exec'd the candidate.
    CandidateSpawned { pid: Pid },
    /// The `SpawnCandidate` effect failed.
    CandidateSpawnFailed { error: String },
    /// The health check of `pid` (`RunHealthCheck`) finished: `ok`, and what it found
    /// (`http://…: HTTP 503`).
    HealthResult { pid: Pid, ok: bool, text: String },
    /// `pid` sent `WATCHDOG=1`.
    WatchdogPing { pid: Pid },
    /// `pid` sent `WATCHDOG=trigger`: it asks to be treated as unhealthy.
    WatchdogTrigger { pid: Pid },
    /// The resident memory of `pid` and its descendants, in bytes (`SampleMemory`).
    MemorySample { pid: Pid, rss: u64 },
    /// The program's recycle token is this process's now (`RequestRecycle`).
    RecycleGranted,
    /// corral: the orchestration holds the process back (`Some`: its dependencies are not
    /// met) or lets it go (`None`), see `hold.rs`.
    Hold(Option<Hold>),
}

/// Log levels of the messages the machine asks to log (supervisord's levels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Critical,
}

/// How a replacement ended: the old main process and its successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Replaced {
    pub old_pid: Pid,
    pub new_pid: Pid,
}

/// Something the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Fork and exec the main process; answer with `Spawned` or `SpawnFailed`.
    Spawn,
    /// Fork and exec a replacement candidate with the settings of the pending `Replace`;
    /// answer with `CandidateSpawned` or `CandidateSpawnFailed`.
    SpawnCandidate,
    /// Signal `pid` (its process group when `group`) in order to stop it.
    Kill { pid: Pid, sig: Signal, group: bool },
    /// Deliver a signal to the main process only (`signalProcess`).
    SendSignal { pid: Pid, sig: Signal },
    /// Deliver `sig` to every leftover of process `of` that has not had it yet, and report
    /// `LeftoversGone` once they are all gone.
    SignalLeftovers { of: Pid, sig: Signal },
    /// Start the readiness probe of `pid`.
    StartProbe { pid: Pid },
    /// Stop the readiness probe of `pid`, if one is running.
    CancelProbe { pid: Pid },
    /// The candidate `new` is the main process from now on (its pipes, its notify
    /// socket, its configuration); `old` is being retired.
    Promote { old: Pid, new: Pid },
    /// Nothing of retired process `pid` is left: forget what was kept of it.
    Retired { pid: Pid },
    /// The replacement asked with `ticket` is over.
    ReplaceDone {
        ticket: Option<u64>,
        result: Result<Replaced, String>,
    },
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
    /// Run the health check of `pid`; answer with `HealthResult`.
    RunHealthCheck { pid: Pid },
    /// Stop the health check of `pid` if one runs (it timed out, or `pid` is going).
    CancelHealthCheck { pid: Pid },
    /// Measure the memory of `pid` and its descendants; answer with `MemorySample`.
    SampleMemory { pid: Pid },
    /// Ask for the program's recycle token (at most one of its processes recycles at a
    /// time); `RecycleGranted` comes when it is this process's turn.
    RequestRecycle,
    /// Give the recycle token back, or stop waiting for it.
    ReleaseRecycle,
    /// The health of `pid` changed (for `PROCESS_HEALTH_HEALTHY`/`_UNHEALTHY` events).
    Health {
        pid: Pid,
        healthy: bool,
        text: String,
    },
    /// `pid` is being recycled (for `PROCESS_RECYCLED` events).
    Recycled {
        pid: Pid,
        reason: RestartReason,
        text: String,
    },
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
    /// Set for administrative requests (`Start`, `Stop`, `Signal`, `Replace`).
    pub reply: Option<Reply>,
}

impl Step {
    fn log(&mut self, level: Level, msg: String) {
        self.effects.push(Effect::Log(level, msg));
    }
}

/// Where a STARTING process is in its start.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
enum StartStage {
    /// Waiting for the previous run's leftovers to be gone before spawning.
    WaitingForLeftovers,
    /// `Spawn` was asked for; `Spawned`/`SpawnFailed` comes next.
    Spawning,
    /// Alive, not yet RUNNING (see [`Liveness`]).
    Alive(Liveness),
}

/// A process that is alive and must prove itself: it becomes RUNNING (or takes over, for
/// a candidate) once it has been up until `min_up_at` (`startsecs`) *and* is `ready`
/// (always, under the startsecs rule; once the probe succeeds, under a readiness rule). A
/// probe that has not succeeded by `give_up_at` (`readiness_timeout`) fails the start.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
struct Liveness {
    pid: Pid,
    #[serde(with = "crate::persist::instant")]
    min_up_at: Instant,
    ready: bool,
    #[serde(with = "crate::persist::opt_instant")]
    give_up_at: Option<Instant>,
}

impl Liveness {
    fn new(pid: Pid, settings: &Settings, now: Instant) -> Liveness {
        let probed = settings.probed();
        Liveness {
            pid,
            min_up_at: now + secs(settings.startsecs),
            ready: !probed,
            give_up_at: probed.then(|| now + secs(settings.readiness_timeout)),
        }
    }

    fn deadline(&self) -> Option<Instant> {
        if self.ready {
            Some(self.min_up_at)
        } else {
            self.give_up_at
        }
    }

    fn proven(&self, now: Instant) -> bool {
        self.ready && self.min_up_at <= now
    }

    fn timed_out(&self, now: Instant) -> bool {
        !self.ready && self.give_up_at.is_some_and(|t| t <= now)
    }
}

/// What a stop turns into once everything is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum AfterStop {
    /// An administrative or shutdown stop: STOPPED.
    Stopped,
    /// A process stopped because it never became ready: a failed start (BACKOFF).
    Backoff,
    /// A liveness restart without sockets: STOPPED, then a start.
    Restart,
}

/// The state, carrying only the data that state has.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
enum Phase {
    Stopped,
    Starting(StartStage),
    Running {
        pid: Pid,
    },
    Backoff {
        #[serde(with = "crate::persist::instant")]
        retry_at: Instant,
    },
    Stopping {
        /// The main process and where its stop is, until it is reaped.
        main: Option<(Pid, Escalation)>,
        after: AfterStop,
        /// supervisord's "stopped: NAME (MESSAGE)" line, known once the main process exited
        /// and logged when the stop completes. (bool: was the exit status expected?)
        /// Boxed: it is there only for the moment between the exit and the end of the
        /// stop, and every process's phase would otherwise be its size.
        report: Option<Box<(bool, String)>>,
    },
    Exited {
        /// `backoff_max`: a crashed process restarts at this moment, not at once.
        #[serde(with = "crate::persist::opt_instant")]
        restart_at: Option<Instant>,
    },
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
            Phase::Exited { .. } => ProcessState::Exited,
            Phase::Fatal => ProcessState::Fatal,
            Phase::Unknown => ProcessState::Unknown,
        }
    }
}

/// One supervised process. It serializes (see `crate::persist` for its instants), so an
/// upgraded corrald carries on exactly where the old one was.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Machine {
    settings: Settings,
    phase: Phase,
    /// Leftovers of the last main process, being stopped.
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
    /// A replacement being started beside the main process.
    /// Boxed: most processes never have one, and it holds its own `Settings`.
    candidate: Option<Box<Candidate>>,
    /// Processes being stopped outside the main lifecycle: old main processes after a
    /// replacement, candidates that failed.
    retiring: Vec<Retiring>,
    /// How many times the process entered RUNNING, and a stopped state (see `Snapshot`).
    entered_running: u64,
    entered_stopped: u64,
    /// The liveness timers of the RUNNING main process (none exist otherwise).
    watch: Option<Watch>,
    /// What the health checks and the watchdog found.
    /// Sparse: nothing is known of the health of a process nothing checks.
    health: Sparse<HealthStatus>,
    /// A liveness restart (health, watchdog, memory, lifetime) under way.
    /// Boxed, like the other corral-only parts below: a program that uses none of corral's
    /// options pays a pointer for each, not its size (thousands of processes add up).
    restart: Option<Box<RestartJob>>,
    /// Waiting for the recycle token: why, and the text for the log.
    recycle_wait: Option<Box<(RestartReason, String)>>,
    restarts: RestartCounts,
    /// Consecutive crashes after RUNNING (`backoff_max`), and when RUNNING was entered.
    crash_streak: u32,
    #[serde(with = "crate::persist::opt_instant")]
    running_since: Option<Instant>,
    /// When the next start attempt comes (Unix seconds), shown in `status` under
    /// `backoff_max` or `startretries=infinite`.
    next_attempt: Option<f64>,
    /// corral: held back by the orchestration, and a spawn deferred until it is not.
    hold: Option<Box<Hold>>,
    deferred: bool,
    /// corral: where the stop of the main process is, for the API.
    /// Boxed: only a process being stopped has one.
    stop_progress: Option<Box<StopProgress>>,
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
    /// Processes of this program alive outside the main lifecycle: a replacement being
    /// started, old processes being retired.
    pub busy: usize,
    /// How many times the process entered RUNNING / a stopped state. A waiter that reads
    /// the latest snapshot only may miss a state another request moved the process out of
    /// again; these counters tell it that the transition it waits for did happen.
    pub entered_running: u64,
    pub entered_stopped: u64,
    /// Health checks and watchdog (corral's liveness).
    pub health: HealthView,
    /// Restarts by reason.
    pub restarts: RestartCounts,
    /// BACKOFF (or EXITED, waiting under `backoff_max`): when the next attempt comes, Unix
    /// seconds. Only under `backoff_max` or `startretries=infinite`, so supervisord's
    /// descriptions stay as they are otherwise.
    pub next_attempt: Option<f64>,
    /// corral: the process will start once its dependencies are met; what it waits for.
    pub waiting: Option<Hold>,
    /// corral: the hold the orchestration set last (whether or not a start waits on it).
    pub hold: Option<Hold>,
    /// corral: while STOPPING, which signal was sent when and what comes next.
    pub stop: Option<StopProgress>,
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
            candidate: None,
            retiring: Vec::new(),
            entered_running: 0,
            entered_stopped: 0,
            watch: None,
            health: Default::default(),
            restart: None,
            recycle_wait: None,
            restarts: RestartCounts::default(),
            crash_streak: 0,
            running_since: None,
            next_attempt: None,
            hold: None,
            deferred: false,
            stop_progress: None,
        }
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// New settings (a stopped process reconfigured). The state and its timers are kept;
    /// the new settings apply from the next transition on.
    pub fn set_settings(&mut self, settings: Settings) {
        self.settings = settings;
    }

    pub fn state(&self) -> ProcessState {
        self.phase.state()
    }

    /// The main process, if one is alive.
    pub fn pid(&self) -> Option<Pid> {
        match self.phase {
            Phase::Starting(StartStage::Alive(l)) => Some(l.pid),
            Phase::Running { pid } => Some(pid),
            Phase::Stopping { main, .. } => main.map(|(p, _)| p),
            _ => None,
        }
    }

    /// The main process whose readiness probe is awaited (STARTING, alive, not ready yet).
    pub fn probing(&self) -> Option<Pid> {
        match self.phase {
            Phase::Starting(StartStage::Alive(l)) if !l.ready && self.settings.probed() => {
                Some(l.pid)
            }
            _ => None,
        }
    }

    /// The signal leftovers of process `of` get now, if they are being stopped.
    pub fn leftover_signal(&self, of: Pid) -> Option<Signal> {
        if let Some(c) = self.cleanup.filter(|c| c.of == of) {
            return Some(c.esc.current(&self.settings.stop));
        }
        self.retiring
            .iter()
            .find(|r| r.pid == of && r.cleaning)
            .map(|r| r.esc.current(&r.plan))
    }

    /// Nothing of this program runs, and nothing of it is being replaced or retired.
    pub fn quiet(&self) -> bool {
        self.state().is_stopped() && self.busy() == 0
    }

    fn busy(&self) -> usize {
        self.retiring.len() + usize::from(self.candidate.is_some())
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
            busy: self.busy(),
            entered_running: self.entered_running,
            entered_stopped: self.entered_stopped,
            health: self.health_view(),
            restarts: self.restarts,
            next_attempt: match self.phase {
                Phase::Backoff { .. }
                | Phase::Exited {
                    restart_at: Some(_),
                } => self.next_attempt,
                _ => None,
            },
            waiting: self.waiting(),
            hold: self.hold.as_deref().cloned(),
            stop: match self.phase {
                Phase::Stopping { .. } => self.stop_progress.as_deref().copied(),
                _ => None,
            },
        }
    }

    /// The earliest moment at which `Tick` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let phase = match self.phase {
            Phase::Starting(StartStage::Alive(l)) => l.deadline(),
            Phase::Backoff { retry_at } if self.may_retry() => Some(retry_at),
            Phase::Exited {
                restart_at: Some(t),
            } if !self.frozen => Some(t),
            Phase::Stopping {
                main: Some((_, esc)),
                ..
            } => esc.next_at(),
            _ => None,
        };
        [
            phase,
            self.cleanup.and_then(|c| c.esc.next_at()),
            self.candidate.as_deref().and_then(Candidate::deadline),
            self.liveness_deadline(),
        ]
        .into_iter()
        .chain(self.retiring.iter().map(|r| r.esc.next_at()))
        .flatten()
        .min()
    }

    fn may_retry(&self) -> bool {
        !self.frozen && self.backoff <= self.settings.startretries
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
                    && !self.defer_if_held(&mut step)
                {
                    self.spawn(now, &mut step);
                }
            }
            Event::Start => {
                let ran_before = self.laststart.is_some();
                let reply = self.start(now, &mut step);
                if reply == Reply::Ok && ran_before {
                    self.restarts.bump(RestartReason::Manual);
                }
                step.reply = Some(reply);
            }
            Event::Stop => {
                self.health.update(|h| {
                    h.note = None;
                    h.state = HealthState::Unknown;
                });
                if let Some(reply) = self.cancel_deferred(&mut step) {
                    if self.state().is_stopped() {
                        step.reply = Some(reply);
                        return step;
                    }
                }
                self.abandon_candidate("the process is being stopped", now, &mut step);
                step.reply = Some(self.stop(now, AfterStop::Stopped, &mut step));
            }
            Event::Signal(sig) => step.reply = Some(self.signal(sig, &mut step)),
            Event::DaemonStopping => {
                self.frozen = true;
                self.deferred = false;
            }
            Event::ShutdownStop => {
                self.frozen = true;
                self.deferred = false;
                self.abandon_candidate("corrald is stopping", now, &mut step);
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
            } => {
                if self.pid() == Some(pid) {
                    self.exited(pid, status, leftovers, now, &mut step);
                } else {
                    self.other_exited(pid, status, leftovers, now, &mut step);
                }
            }
            Event::LeftoversGone { of } => {
                if self.cleanup.is_some_and(|c| c.of == of) {
                    self.leftovers_gone(now, &mut step);
                } else {
                    self.retired_leftovers_gone(of, &mut step);
                }
            }
            Event::Ready { pid } => {
                if let Phase::Starting(StartStage::Alive(ref mut l)) = self.phase {
                    if l.pid == pid {
                        l.ready = true;
                        self.tick(now, &mut step);
                        self.settle(now, &mut step);
                        return step;
                    }
                }
                self.candidate_ready(pid, now, &mut step);
            }
            Event::KillFailed { pid, error } => {
                if self.pid() == Some(pid) {
                    step.log(
                        Level::Critical,
                        format!(
                            "unknown problem killing {} ({}):{}",
                            self.settings.name, pid, error
                        ),
                    );
                    self.change(Phase::Unknown, true, &mut step);
                } else {
                    step.log(
                        Level::Warn,
                        format!(
                            "cannot signal retiring '{}' ({}): {}",
                            self.settings.name, pid, error
                        ),
                    );
                }
            }
            Event::Tick => self.tick(now, &mut step),
            Event::Replace { settings, ticket } => {
                let reply = self.replace(settings, ticket, &mut step);
                if reply == Reply::Ok && ticket.is_some() {
                    self.restarts.bump(RestartReason::Manual);
                }
                step.reply = Some(reply);
            }
            Event::CandidateSpawned { pid } => self.candidate_spawned(pid, now, &mut step),
            Event::CandidateSpawnFailed { error } => self.candidate_spawn_failed(&error, &mut step),
            Event::HealthResult { pid, ok, text } => {
                self.health_result(pid, ok, text, now, &mut step);
            }
            Event::WatchdogPing { pid } => self.watchdog_ping(pid, now, &mut step),
            Event::WatchdogTrigger { pid } => self.watchdog_trigger(pid, now, &mut step),
            Event::MemorySample { pid, rss } => self.memory_sample(pid, rss, now, &mut step),
            Event::RecycleGranted => self.recycle_granted(now, &mut step),
            Event::Hold(hold) => self.set_hold(hold, now, &mut step),
        }
        self.settle(now, &mut step);
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
                step.log(
                    Level::Warn,
                    format!("process '{}' already running", self.settings.name),
                );
                Reply::Ok
            }
            Phase::Stopped | Phase::Exited { .. } | Phase::Fatal => {
                if self.defer_if_held(step) {
                    // A new attempt: the last one's error is no longer the news.
                    self.spawnerr = None;
                } else {
                    self.spawn(now, step);
                }
                Reply::Ok
            }
        }
    }

    /// supervisord's `spawn()`, up to the fork (which is the runtime's).
    fn spawn(&mut self, now: Now, step: &mut Step) {
        self.deferred = false;
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
        step.log(
            Level::Info,
            format!("spawned: '{}' with pid {}", self.settings.name, pid),
        );
        if self.settings.probed() {
            step.effects.push(Effect::StartProbe { pid });
        }
        self.last_pid = Some(pid);
        self.phase = Phase::Starting(StartStage::Alive(Liveness::new(
            pid,
            &self.settings,
            now.mono,
        )));
        // startsecs=0: RUNNING at once (supervisord does it on its next loop iteration).
        self.tick(now, step);
    }

    fn record_spawnerr(&mut self, error: String, step: &mut Step) {
        step.log(Level::Info, format!("spawnerr: {error}"));
        self.spawnerr = Some(error);
    }

    /// STARTING → BACKOFF, and straight on to FATAL when the retries are used up
    /// (supervisord does that on the next loop iteration).
    fn enter_backoff(&mut self, now: Now, step: &mut Step) {
        self.backoff += 1;
        // supervisord: 1 s, 2 s, 3 s… after each failed start; `backoff_max` caps it.
        let mut delay = secs(self.backoff);
        if let Some(max) = self.settings.liveness.backoff_max {
            delay = delay.min(max);
        }
        let retry_at = now.mono + delay;
        self.next_attempt = self
            .corral_backoff()
            .then_some(now.wall + delay.as_secs_f64());
        self.change(Phase::Backoff { retry_at }, true, step);
        if self.backoff > self.settings.startretries {
            self.give_up(step);
            step.log(
                Level::Info,
                format!(
                    "gave up: {} entered FATAL state, too many start retries too quickly",
                    self.settings.name
                ),
            );
        }
    }

    /// corral's backoff options are in use (they make `status` say when the next attempt
    /// comes; without them, descriptions stay supervisord's).
    fn corral_backoff(&self) -> bool {
        self.settings.liveness.backoff_max.is_some()
            || self.settings.startretries == STARTRETRIES_INFINITE
    }

    /// `backoff_max`: how long a process that exited after RUNNING waits before its
    /// restart. The first crash restarts at once (supervisord's rule); each further one,
    /// unless the process stayed RUNNING for `CRASH_STREAK_RESET` in between, waits twice
    /// as long as the one before, from 1 s up to `backoff_max`.
    fn crash_delay(&mut self, now: Now) -> Option<Duration> {
        let max = self.settings.liveness.backoff_max?;
        let stayed = self
            .running_since
            .is_some_and(|t| now.mono.saturating_duration_since(t) >= CRASH_STREAK_RESET);
        if stayed {
            self.crash_streak = 0;
        }
        self.crash_streak += 1;
        if self.crash_streak == 1 {
            return None;
        }
        let doubling = secs(1u64 << (self.crash_streak - 2).min(32));
        Some(doubling.min(max))
    }

    fn give_up(&mut self, step: &mut Step) {
        self.backoff = 0;
        self.change(Phase::Fatal, true, step);
    }

    fn stop(&mut self, now: Now, after: AfterStop, step: &mut Step) -> Reply {
        match self.phase {
            Phase::Backoff { .. } => {
                step.log(
                    Level::Debug,
                    format!(
                        "Attempted to kill {}, which is in BACKOFF state.",
                        self.settings.name
                    ),
                );
                self.change(Phase::Stopped, true, step);
                Reply::Ok
            }
            Phase::Starting(StartStage::WaitingForLeftovers | StartStage::Spawning) => {
                // Nothing of ours is running yet; leftovers of the previous run, if any, are
                // being stopped already and the stop completes when they are gone.
                let phase = if self.cleanup.is_some() {
                    Phase::Stopping {
                        main: None,
                        after,
                        report: None,
                    }
                } else {
                    Phase::Stopped
                };
                self.change(phase, true, step);
                Reply::Ok
            }
            Phase::Starting(StartStage::Alive(Liveness { pid, .. })) | Phase::Running { pid } => {
                if self.settings.probed() && matches!(self.phase, Phase::Starting(_)) {
                    step.effects.push(Effect::CancelProbe { pid });
                }
                let plan = &self.settings.stop;
                let (sig, group) = (plan.first_signal(), plan.stopasgroup);
                step.log(
                    Level::Debug,
                    format!(
                        "killing {} (pid {}) {}with signal {}",
                        self.settings.name,
                        pid,
                        if group { "process group " } else { "" },
                        sig
                    ),
                );
                let esc = Escalation::begin(plan, now.mono);
                self.stop_progress = Some(Box::new(StopProgress::at(plan, &esc, now.wall)));
                self.change(
                    Phase::Stopping {
                        main: Some((pid, esc)),
                        after,
                        report: None,
                    },
                    true,
                    step,
                );
                step.effects.push(Effect::Kill { pid, sig, group });
                Reply::Ok
            }
            Phase::Stopping {
                after: ref mut a @ AfterStop::Restart,
                ..
            } => {
                // A liveness restart under way: the stop under way is the one asked for.
                *a = after;
                Reply::Ok
            }
            Phase::Exited {
                restart_at: Some(_),
            } => {
                // Waiting to restart after a crash (`backoff_max`): stay down.
                self.change(Phase::Stopped, true, step);
                Reply::Ok
            }
            Phase::Stopping { .. }
            | Phase::Stopped
            | Phase::Exited { .. }
            | Phase::Fatal
            | Phase::Unknown => Reply::NotRunning,
        }
    }

    fn signal(&mut self, sig: Signal, step: &mut Step) -> Reply {
        if !self.state().is_signallable() {
            return Reply::NotRunning;
        }
        match self.pid() {
            Some(pid) => {
                step.log(
                    Level::Debug,
                    format!("sending {} (pid {}) sig {}", self.settings.name, pid, sig),
                );
                step.effects.push(Effect::SendSignal { pid, sig });
                Reply::Ok
            }
            None => Reply::Failed(format!(
                "attempted to send {} sig {} but it wasn't running",
                self.settings.name, sig
            )),
        }
    }

    /// The main process `pid` was reaped.
    fn exited(&mut self, pid: Pid, status: WaitStatus, leftovers: bool, now: Now, step: &mut Step) {
        let (es, msg) = status.decode();
        self.laststop = Some(now.wall);
        let expected = self.settings.exitcodes.contains(&es);
        let name = self.settings.name.clone();
        let leftovers = leftovers && self.settings.stopdescendants;

        match self.phase.clone() {
            Phase::Stopping {
                main: Some((_, esc)),
                after,
                ..
            } => {
                self.exitstatus = Some(es);
                if leftovers {
                    // Whatever got the stop signal with the group keeps its grace period; the
                    // runtime signals only those that did not get it yet.
                    self.cleanup = Some(Cleanup { of: pid, esc });
                    step.effects.push(Effect::SignalLeftovers {
                        of: pid,
                        sig: esc.current(&self.settings.stop),
                    });
                }
                self.phase = Phase::Stopping {
                    main: None,
                    after,
                    report: Some(Box::new((expected, format!("stopped: {name} ({msg})")))),
                };
                self.finish_stop_if_done(now, step);
            }
            Phase::Starting(StartStage::Alive(_)) if self.exited_too_quickly(now) => {
                self.exitstatus = None;
                self.start_cleanup(pid, leftovers, now, step);
                step.log(Level::Warn, format!("exited: {name} ({msg}; not expected)"));
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
                self.start_cleanup(pid, leftovers, now, step);
                let exited = Phase::Exited { restart_at: None };
                if expected {
                    self.change(exited, true, step);
                    step.log(Level::Info, format!("exited: {name} ({msg}; expected)"));
                } else {
                    self.spawnerr = Some(format!("Bad exit code {es}"));
                    self.change(exited, false, step);
                    step.log(Level::Warn, format!("exited: {name} ({msg}; not expected)"));
                }
                let restart = match self.settings.autorestart {
                    AutoRestart::Always => true,
                    AutoRestart::Unexpected => !expected,
                    AutoRestart::Never => false,
                };
                if restart && !self.frozen {
                    if !expected {
                        self.restarts.bump(RestartReason::Crash);
                    }
                    if !self.defer_if_held(step) {
                        match self.crash_delay(now) {
                            None => self.spawn(now, step),
                            Some(delay) => {
                                step.log(
                                    Level::Info,
                                    format!(
                                        "{name} exited {} times in a row: next attempt in {} (backoff_max)",
                                        self.crash_streak,
                                        health::fmt_secs(delay)
                                    ),
                                );
                                self.next_attempt = Some(now.wall + delay.as_secs_f64());
                                self.phase = Phase::Exited {
                                    restart_at: Some(now.mono + delay),
                                };
                            }
                        }
                    }
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

    fn start_cleanup(&mut self, of: Pid, leftovers: bool, now: Now, step: &mut Step) {
        if leftovers {
            let plan = &self.settings.stop;
            self.cleanup = Some(Cleanup {
                of,
                esc: Escalation::begin(plan, now.mono),
            });
            step.effects.push(Effect::SignalLeftovers {
                of,
                sig: plan.first_signal(),
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
        } = self.phase
        else {
            return;
        };
        if self.cleanup.is_some() {
            return;
        }
        let report = report.clone();
        match after {
            AfterStop::Stopped | AfterStop::Restart => self.change(Phase::Stopped, true, step),
            AfterStop::Backoff => self.enter_backoff(now, step),
        }
        if let Some((expected, line)) = report.map(|r| *r) {
            let level = if expected { Level::Info } else { Level::Warn };
            step.log(level, line);
        }
        if after == AfterStop::Restart && !self.frozen {
            self.spawn(now, step);
        }
    }

    fn tick(&mut self, now: Now, step: &mut Step) {
        match self.phase {
            Phase::Starting(StartStage::Alive(l)) => {
                if l.proven(now.mono) {
                    self.backoff = 0;
                    self.change(Phase::Running { pid: l.pid }, true, step);
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
                    step.log(Level::Info, msg);
                } else if l.timed_out(now.mono) {
                    let error = format!(
                        "not ready after {} seconds (readiness_timeout)",
                        self.settings.readiness_timeout
                    );
                    step.log(
                        Level::Warn,
                        format!("{}: {}, stopping it", self.settings.name, error),
                    );
                    self.spawnerr = Some(error);
                    self.stop(now, AfterStop::Backoff, step);
                }
            }
            Phase::Backoff { retry_at } if self.may_retry() && retry_at <= now.mono => {
                self.spawn(now, step);
            }
            Phase::Exited {
                restart_at: Some(t),
            } if !self.frozen && t <= now.mono => {
                self.spawn(now, step);
            }
            Phase::Stopping {
                main: Some((pid, ref mut esc)),
                ..
            } => {
                if let Some(e) = esc.advance(&self.settings.stop, now.mono) {
                    self.stop_progress = Some(Box::new(StopProgress::at(
                        &self.settings.stop,
                        esc,
                        now.wall,
                    )));
                    if e.kill {
                        step.log(
                            Level::Warn,
                            format!("killing '{}' ({}) with SIGKILL", self.settings.name, pid),
                        );
                    } else {
                        step.log(
                            Level::Info,
                            format!(
                                "stopping '{}' ({}): still alive, sending {}",
                                self.settings.name, pid, e.signal
                            ),
                        );
                    }
                    step.effects.push(Effect::Kill {
                        pid,
                        sig: e.signal,
                        group: e.group,
                    });
                }
            }
            _ => {}
        }
        if let Some(c) = self.cleanup.as_mut() {
            if let Some(e) = c.esc.advance(&self.settings.stop, now.mono) {
                if matches!(self.phase, Phase::Stopping { main: None, .. }) {
                    self.stop_progress = Some(Box::new(StopProgress::at(
                        &self.settings.stop,
                        &c.esc,
                        now.wall,
                    )));
                }
                step.effects.push(Effect::SignalLeftovers {
                    of: c.of,
                    sig: e.signal,
                });
            }
        }
        self.tick_replacement(now, step);
        self.tick_liveness(now, step);
    }

    /// After every event: end a liveness restart that is over, and arm (or drop) the
    /// liveness timers for the RUNNING main process.
    fn settle(&mut self, now: Now, step: &mut Step) {
        self.settle_restart(now, step);
        self.settle_watch(now, step);
    }

    /// Enter `phase`; a change of state is an event.
    fn change(&mut self, phase: Phase, expected: bool, step: &mut Step) {
        let from = self.state();
        let to = phase.state();
        // supervisord's events carry the pid the process had when the event was made: the
        // exiting pid for EXITED/STOPPED, the new pid for RUNNING.
        let pid = match phase {
            Phase::Running { pid } => Some(pid),
            Phase::Stopping { main, .. } => main.map(|(p, _)| p),
            Phase::Exited { .. } => self.pid(),
            // A stop that waited for leftovers ends after the main process was reaped; the
            // event still names it.
            Phase::Stopped if from == ProcessState::Stopping => self.pid().or(self.last_pid),
            _ => None,
        };
        self.phase = phase;
        if from != to {
            if to == ProcessState::Running {
                self.entered_running += 1;
            } else if to.is_stopped() && !from.is_stopped() {
                self.entered_stopped += 1;
            }
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

/// `backoff_max`: a process that stays RUNNING this long is no longer crash-looping.
pub const CRASH_STREAK_RESET: Duration = Duration::from_secs(60);

#[cfg(test)]
mod health_tests;
#[cfg(test)]
mod orchestration_tests;
#[cfg(test)]
mod replace_tests;
#[cfg(test)]
mod tests;
