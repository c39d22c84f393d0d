//! Supervised processes: one task per process, driven by a control channel, the reaper and
//! the state machine's timers (the shape of watchexec's job tasks). The rest of the daemon
//! holds a [`ProcessHandle`]: it sends commands and reads a snapshot that the task publishes
//! after every event.

mod child;
pub mod exec;
pub mod leftovers;
pub mod probe;
mod replace;
mod task;

use std::io;
use std::rc::Rc;

use tokio::sync::{mpsc, oneshot, watch};

use corral_config::ProcessConfig;
use corral_core::{ProcessState, Reply, Snapshot};

use crate::daemon::Ctx;
use crate::sockets::Listening;

pub use replace::Replaced;
pub use task::LogPaths;

/// What a process task is started with.
#[derive(Debug, Clone)]
pub struct Spec {
    pub config: Rc<ProcessConfig>,
    /// Resolved log paths (AUTO names already created).
    pub logs: LogPaths,
    /// `[fcgi-program:x]`: the group's socket, passed as fd 0.
    pub fcgi_socket: Option<Rc<Listening>>,
}

/// What the API can see of a process at any moment.
#[derive(Debug, Clone)]
pub struct Info {
    pub snapshot: Snapshot,
    pub logs: LogPaths,
    /// Processes of this program alive outside the state machine: a replacement being
    /// started, old processes being retired after a rolling restart.
    pub busy: usize,
}

impl Info {
    pub fn state(&self) -> ProcessState {
        self.snapshot.state
    }

    /// Nothing of this program runs (stopped, and no replacement or retiring process).
    pub fn quiet(&self) -> bool {
        self.state().is_stopped() && self.busy == 0
    }
}

/// Requests to a process task.
#[derive(Debug)]
pub enum Command {
    /// The daemon is up: autostart.
    Activate,
    Start(oneshot::Sender<Reply>),
    Stop(oneshot::Sender<Reply>),
    Signal(i32, oneshot::Sender<Reply>),
    /// No more automatic restarts (shutdown or reload begins).
    DaemonStopping,
    /// Shutdown's per-group stop.
    ShutdownStop,
    WriteStdin(Vec<u8>, oneshot::Sender<Result<(), String>>),
    ClearLogs(oneshot::Sender<io::Result<()>>),
    ReopenLogs,
    /// Internal: the leftovers being watched have exited; look again.
    LeftoversMaybeGone,
    /// Internal: the readiness probe for `pid` succeeded.
    Ready(i32),
    /// Start a replacement beside the running process and switch to it once ready
    /// (rolling restart); with a configuration, the replacement runs that one.
    Replace(Option<Rc<ProcessConfig>>, replace::ReplaceReply),
    /// Take a new configuration while stopped (false if not stopped).
    Reconfigure(Rc<ProcessConfig>, oneshot::Sender<bool>),
    /// Internal: the leftovers of retiring process `pid` may be gone.
    RetiredLeftoversMaybeGone(i32),
}

/// A handle on one process task. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProcessHandle {
    pub config: Rc<ProcessConfig>,
    tx: mpsc::UnboundedSender<Command>,
    info: watch::Receiver<Info>,
}

impl ProcessHandle {
    /// Start the task for `config` (it does nothing until told).
    pub fn spawn(spec: Spec, ctx: Rc<Ctx>) -> io::Result<ProcessHandle> {
        let config = spec.config.clone();
        let (tx, info) = task::start(spec, ctx)?;
        Ok(ProcessHandle { config, tx, info })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The same process, described by a new configuration (after a rolling update).
    pub fn with_config(&self, config: Rc<ProcessConfig>) -> ProcessHandle {
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
        self.info.borrow().clone()
    }

    pub fn state(&self) -> ProcessState {
        self.info.borrow().snapshot.state
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

    pub async fn signal(&self, sig: i32) -> Reply {
        self.ask(|tx| Command::Signal(sig, tx))
            .await
            .unwrap_or(Reply::NotRunning)
    }

    pub async fn write_stdin(&self, data: Vec<u8>) -> Result<(), String> {
        self.ask(|tx| Command::WriteStdin(data, tx))
            .await
            .unwrap_or_else(|| Err("process is gone".into()))
    }

    /// Replace the running process without a gap (see [`replace`]).
    pub async fn replace(&self, config: Option<Rc<ProcessConfig>>) -> Result<Replaced, String> {
        self.ask(|tx| Command::Replace(config, tx))
            .await
            .unwrap_or_else(|| Err("process is gone".into()))
    }

    /// Take a new configuration; only while stopped.
    pub async fn reconfigure(&self, config: Rc<ProcessConfig>) -> bool {
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

    /// Wait until `pred` holds for the published info (checked at once, then on changes).
    pub async fn wait_until(&self, mut pred: impl FnMut(&Info) -> bool) -> Info {
        let mut rx = self.info.clone();
        loop {
            {
                let info = rx.borrow_and_update();
                if pred(&info) {
                    return info.clone();
                }
            }
            if rx.changed().await.is_err() {
                return rx.borrow().clone();
            }
        }
    }
}
