//! Supervised processes: one task per process, driven by a control channel, the reaper and
//! the state machine's timers (the shape of watchexec's job tasks). The rest of the daemon
//! holds a [`ProcessHandle`]: it sends commands and reads a snapshot that the task publishes
//! after every event.

mod child;
pub mod exec;
pub mod handover;
pub mod health;
pub mod leftovers;
mod local;
pub mod pace;
pub mod probe;
mod task;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::rc::Rc;

use tokio::sync::oneshot;

use corral_config::{Config, GroupConfig, ProcessConfig};
use corral_core::{
    Hold, Machine, Pid, ProcessState, Replaced, Reply, Signal, Snapshot, WaitStatus,
};

use crate::events::EventBus;
use crate::reaper::Reaper;
use crate::sockets::{self, Listening};
use crate::statefile::Journal;

pub use exec::ExecError;
pub use task::LogPaths;

/// What every process task uses from the daemon: the one reaper, the event bus, the
/// journal of running processes, the listening sockets, and the settings of this run that
/// apply to every child.
pub struct Services {
    pub reaper: Rc<Reaper>,
    pub events: Rc<EventBus>,
    pub journal: Rc<RefCell<Journal>>,
    pub sockets: Rc<sockets::Registry>,
    /// corrald's own environment at start, the base of every child's.
    pub env: BTreeMap<String, String>,
    /// `SUPERVISOR_SERVER_URL` for children.
    pub serverurl: Option<String>,
    pub strip_ansi: bool,
    /// Where every state change of every process is reported, for the daemon's own
    /// observers (readiness towards systemd, `shutdown_on_exit`).
    pub state_changes: Option<tokio::sync::mpsc::UnboundedSender<StateChange>>,
    /// Process work per turn of the event loop is bounded (spawns, reaped exits, groups
    /// being created), so the control plane answers at any moment.
    pub pace: Rc<pace::Pace>,
}

/// A process's configuration: the one in the configuration it was created from, shared
/// with it (a copy costs ~550 bytes per process, and a configuration may have thousands),
/// or in a group's own. Reads as a `ProcessConfig`.
#[derive(Clone)]
pub struct ProcConfig(ConfigSource);

#[derive(Clone)]
enum ConfigSource {
    /// Process `process` of group `group` of a loaded configuration.
    InConfig {
        config: Rc<Config>,
        group: u32,
        process: u32,
    },
    /// Process `process` of a group's own configuration.
    InGroup {
        group: Rc<GroupConfig>,
        process: u32,
    },
    /// A configuration of its own (a process added by scaling at run time, or handed
    /// over by an upgrade).
    Own(Rc<ProcessConfig>),
}

impl ProcConfig {
    /// A configuration of its own.
    pub fn own(config: ProcessConfig) -> ProcConfig {
        ProcConfig(ConfigSource::Own(Rc::new(config)))
    }

    /// Process `process` of group `group` of `config`.
    pub fn in_config(config: &Rc<Config>, group: usize, process: usize) -> ProcConfig {
        debug_assert!(process < config.groups[group].processes.len());
        ProcConfig(ConfigSource::InConfig {
            config: config.clone(),
            group: group as u32,
            process: process as u32,
        })
    }

    /// Process `process` of `group`.
    pub fn in_group(group: &Rc<GroupConfig>, process: usize) -> ProcConfig {
        debug_assert!(process < group.processes.len());
        ProcConfig(ConfigSource::InGroup {
            group: group.clone(),
            process: process as u32,
        })
    }

    /// The same configuration (not merely an equal one).
    pub fn ptr_eq(a: &ProcConfig, b: &ProcConfig) -> bool {
        std::ptr::eq::<ProcessConfig>(&**a, &**b)
    }
}

impl std::ops::Deref for ProcConfig {
    type Target = ProcessConfig;

    fn deref(&self) -> &ProcessConfig {
        match &self.0 {
            ConfigSource::InConfig {
                config,
                group,
                process,
            } => &config.groups[*group as usize].processes[*process as usize],
            ConfigSource::InGroup { group, process } => &group.processes[*process as usize],
            ConfigSource::Own(p) => p,
        }
    }
}

impl std::fmt::Debug for ProcConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

/// A process entered a new state (the daemon's view of a `PROCESS_STATE` event).
#[derive(Debug, Clone)]
pub struct StateChange {
    pub namespec: String,
    pub to: ProcessState,
    /// How its main process last ended, if it ran.
    pub last_exit: Option<WaitStatus>,
    /// `shutdown_on_exit=true`: the daemon shuts down when it exits or goes FATAL.
    pub shutdown_on_exit: bool,
}

/// What a process task is started with.
#[derive(Debug, Clone)]
pub struct Spec {
    pub config: ProcConfig,
    /// Resolved log paths (AUTO names already created).
    pub logs: LogPaths,
    /// `[fcgi-program:x]`: the group's socket, passed as fd 0.
    pub fcgi_socket: Option<Rc<Listening>>,
    /// The recycle token this process shares with the other processes of its program
    /// (at most one of them recycles at a time).
    pub recycle: Rc<health::RecycleToken>,
}

/// What a process task publishes: its state machine itself, its log paths and byte
/// counters. Readers take a [`Info`] of it when they look; a published copy of the machine's
/// state, made at every change, would cost ~370 bytes per process and a copy per event.
/// The task changes the machine only between its awaits, so a reader never sees it
/// half-way through an event.
#[derive(Debug)]
pub struct Published {
    pub machine: Machine,
    pub logs: LogPaths,
    /// Bytes written to stdout and stderr since the daemon started (counted as they come).
    pub log_bytes: [Rc<std::cell::Cell<u64>>; 2],
}

impl Published {
    /// Nothing of this program runs (stopped, and no replacement or retiring process).
    pub fn quiet(&self) -> bool {
        self.machine.quiet()
    }

    /// What the API sees of the process now.
    pub fn info(&self) -> Info {
        Info {
            snapshot: self.machine.snapshot(),
            logs: self.logs.clone(),
            log_bytes: self.log_bytes.clone(),
        }
    }
}

/// What the API can see of a process at one moment.
#[derive(Debug, Clone)]
pub struct Info {
    pub snapshot: Snapshot,
    pub logs: LogPaths,
    /// Bytes written to stdout and stderr since the daemon started (counted as they come).
    pub log_bytes: [Rc<std::cell::Cell<u64>>; 2],
}

impl Info {
    pub fn state(&self) -> ProcessState {
        self.snapshot.state
    }

    /// Nothing of this program runs (stopped, and no replacement or retiring process).
    pub fn quiet(&self) -> bool {
        self.state().is_stopped() && self.snapshot.busy == 0
    }
}

/// The answer to a rolling replacement, once it is over.
pub type ReplaceReply = oneshot::Sender<Result<Replaced, ReplaceError>>;

/// Why a rolling replacement did not happen (the machine's words: "replacement not ready
/// after 5 seconds (readiness_timeout)", "'web' is STOPPED, not RUNNING", …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplaceError(pub String);

impl std::fmt::Display for ReplaceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why `sendProcessStdin` could not write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdinError {
    /// The process runs without a stdin pipe (an eventlistener's is its protocol).
    NoChannel,
    /// The process is not running.
    Closed,
    /// The pipe is closed (the child closed its stdin, or died).
    Broken,
    /// The process's task is gone (its group was removed).
    Gone,
}

impl std::fmt::Display for StdinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StdinError::NoChannel => "Process has no stdin channel",
            StdinError::Closed => "Process already closed",
            StdinError::Broken => "Process' stdin channel is closed",
            StdinError::Gone => "process is gone",
        })
    }
}

/// Requests to a process task.
#[derive(Debug)]
pub enum Command {
    /// The daemon is up: autostart.
    Activate,
    Start(oneshot::Sender<Reply>),
    Stop(oneshot::Sender<Reply>),
    Signal(Signal, oneshot::Sender<Reply>),
    /// No more automatic restarts (shutdown or reload begins).
    DaemonStopping,
    /// Shutdown's per-group stop.
    ShutdownStop,
    WriteStdin(Vec<u8>, oneshot::Sender<Result<(), StdinError>>),
    ClearLogs(oneshot::Sender<io::Result<()>>),
    ReopenLogs,
    /// Internal: the leftovers of process `pid` being watched have exited; look again.
    LeftoversMaybeGone(Pid),
    /// Internal: the readiness probe for `pid` succeeded.
    Ready(Pid),
    /// Internal: the health check of `pid` finished.
    HealthResult {
        pid: Pid,
        ok: bool,
        text: String,
    },
    /// Internal: `pid` sent `WATCHDOG=1` / `WATCHDOG=trigger` on its notify socket.
    WatchdogPing(Pid),
    WatchdogTrigger(Pid),
    /// Internal: this process holds its program's recycle token now.
    RecycleGranted,
    /// Start a replacement beside the running process and switch to it once ready
    /// (rolling restart); with a configuration, the replacement runs that one.
    Replace(Option<ProcConfig>, ReplaceReply),
    /// Take a new configuration while stopped (false if not stopped).
    Reconfigure(ProcConfig, oneshot::Sender<bool>),
    /// An upgrade: hand the task's state over, then wait (do nothing) until the second
    /// channel fires or is dropped.
    Export(
        oneshot::Sender<handover::ProcessExport>,
        oneshot::Receiver<()>,
    ),
    /// corral: hold the process back (its dependencies are not met), or let it go.
    Hold(Option<Hold>),
}

impl Command {
    /// Whether the task paces this command ([`pace::Pace`]): those that may spawn. Stops
    /// and signals are a `kill(2)` each and go at once.
    fn paced(&self) -> bool {
        matches!(
            self,
            Command::Activate
                | Command::Start(_)
                | Command::Replace(..)
                | Command::Hold(None)
                | Command::RecycleGranted
        )
    }
}

/// A handle on one process task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProcessHandle {
    pub config: ProcConfig,
    tx: local::Sender<Command>,
    info: Rc<local::Watch<Published>>,
}

impl ProcessHandle {
    /// Start the task for `config` (it does nothing until told).
    pub fn spawn(spec: Spec, services: Rc<Services>) -> io::Result<ProcessHandle> {
        let config = spec.config.clone();
        let (tx, info) = task::start(spec, services)?;
        Ok(ProcessHandle { config, tx, info })
    }

    /// Start the task again from an upgrade's handover (`spec.config` is the exported one).
    pub fn restore(
        spec: Spec,
        services: Rc<Services>,
        export: handover::ProcessExport,
    ) -> io::Result<ProcessHandle> {
        let config = spec.config.clone();
        let (tx, info) = task::restore(spec, services, export)?;
        Ok(ProcessHandle { config, tx, info })
    }

    /// An upgrade: the task's state, after which it waits for `resume` (or for the image to
    /// be replaced). `None` if the task is gone.
    pub async fn export(&self, resume: oneshot::Receiver<()>) -> Option<handover::ProcessExport> {
        self.ask(|tx| Command::Export(tx, resume)).await
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The same process, described by a new configuration (after a rolling update).
    pub fn with_config(&self, config: ProcConfig) -> ProcessHandle {
        ProcessHandle {
            config,
            tx: self.tx.clone(),
            info: self.info.clone(),
        }
    }

    pub fn group(&self) -> &str {
        &self.config.group
    }

    pub fn info(&self) -> Info {
        self.info.borrow().info()
    }

    pub fn state(&self) -> ProcessState {
        self.info.borrow().machine.state()
    }

    /// A receiver of the published info, to be told of every change.
    pub fn watch(&self) -> Rc<local::Watch<Published>> {
        self.info.clone()
    }

    pub fn send(&self, cmd: Command) {
        // A closed channel means the task is gone (group removed): nothing to do.
        let _ = self.tx.send(cmd);
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        self.send(make(tx));
        rx.await.ok()
    }

    pub async fn start(&self) -> Reply {
        self.ask(Command::Start).await.unwrap_or(Reply::NotRunning)
    }

    pub async fn stop(&self) -> Reply {
        self.ask(Command::Stop).await.unwrap_or(Reply::NotRunning)
    }

    pub async fn signal(&self, sig: Signal) -> Reply {
        self.ask(|tx| Command::Signal(sig, tx))
            .await
            .unwrap_or(Reply::NotRunning)
    }

    pub async fn write_stdin(&self, data: Vec<u8>) -> Result<(), StdinError> {
        self.ask(|tx| Command::WriteStdin(data, tx))
            .await
            .unwrap_or(Err(StdinError::Gone))
    }

    /// Replace the running process without a gap (a rolling restart; the rules are the
    /// machine's, `corral_core::machine::replace`).
    pub async fn replace(&self, config: Option<ProcConfig>) -> Result<Replaced, ReplaceError> {
        self.ask(|tx| Command::Replace(config, tx))
            .await
            .unwrap_or_else(|| Err(ReplaceError("process is gone".into())))
    }

    /// Take a new configuration; only while stopped.
    pub async fn reconfigure(&self, config: ProcConfig) -> bool {
        self.ask(|tx| Command::Reconfigure(config, tx))
            .await
            .unwrap_or(false)
    }

    /// Nothing of this program runs (stopped, and no replacement or retiring process).
    pub fn quiet(&self) -> bool {
        self.info.borrow().quiet()
    }

    pub async fn clear_logs(&self) -> io::Result<()> {
        self.ask(Command::ClearLogs)
            .await
            .unwrap_or_else(|| Err(io::Error::other("process is gone")))
    }

    /// The command this process would run, checked as a spawn would check it
    /// (supervisord checks it before `startProcess` to answer with a precise fault).
    pub fn check_command(&self, daemon_env: &BTreeMap<String, String>) -> Result<(), ExecError> {
        exec::resolve_command(&self.config, daemon_env).map(|_| ())
    }

    /// Wait until `pred` holds for the published info (checked at once, then on changes).
    pub async fn wait_until(&self, pred: impl FnMut(&Info) -> bool) -> Info {
        let mut pred = pred;
        self.info
            .wait_until(|p| pred(&p.info()), Published::info)
            .await
    }
}
