//! Replacing a running process without a gap: the heart of a rolling restart.
//!
//! 1. A *candidate* is forked beside the running main process (same program, possibly a new
//!    configuration), sharing its `[socket:x]` sockets, so both accept connections for a
//!    while.
//! 2. When the candidate is ready (its readiness check, or alive for `startsecs`), it
//!    becomes the main process (`Event::Replaced`), and the old one *retires*: it gets its
//!    stop signal, SIGKILL after `stopwaitsecs`, and its leftovers are stopped too.
//! 3. If the candidate exits or is not ready in time, it retires instead, and the old
//!    process keeps serving untouched.
//!
//! The caller learns the outcome once the old process (or the failed candidate) is gone.

use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use corral_config::{ProcessConfig, Readiness};

use super::child::Child;
use super::leftovers::{self, Cleanup, Owner};
use crate::mainlog;
use crate::sys::{self, Pid};

/// How a replacement ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    pub old_pid: Pid,
    pub new_pid: Pid,
}

pub type ReplaceReply = oneshot::Sender<Result<Replaced, String>>;

/// A replacement being started.
pub struct Candidate {
    pub child: Child,
    pub cfg: Rc<ProcessConfig>,
    /// It must stay up until then (`startsecs`)…
    pub min_up_at: Instant,
    /// …and be ready (its readiness check succeeded; always true without one), as a
    /// process must to become RUNNING.
    pub ready: bool,
    /// A readiness check that has not succeeded by then fails the replacement.
    pub give_up_at: Option<Instant>,
    pub probe: Option<JoinHandle<()>>,
    pub reply: Option<ReplaceReply>,
}

impl Drop for Candidate {
    fn drop(&mut self) {
        if let Some(p) = self.probe.take() {
            p.abort();
        }
    }
}

impl Candidate {
    pub fn new(child: Child, cfg: Rc<ProcessConfig>, reply: ReplaceReply) -> Candidate {
        let now = Instant::now();
        let (ready, give_up_at) = match cfg.readiness {
            Readiness::Startsecs => (true, None),
            _ => (
                false,
                Some(now + Duration::from_secs(cfg.readiness_timeout)),
            ),
        };
        Candidate {
            min_up_at: now + Duration::from_secs(cfg.startsecs),
            child,
            cfg,
            ready,
            give_up_at,
            probe: None,
            reply: Some(reply),
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        if self.ready {
            Some(self.min_up_at)
        } else {
            self.give_up_at
        }
    }

    /// Ready and up long enough: it may take over.
    pub fn can_take_over(&self, now: Instant) -> bool {
        self.ready && self.min_up_at <= now
    }
}

/// What to tell whom when a retiring process is gone.
pub enum Outcome {
    /// The old main process of a successful replacement.
    Replaced(ReplaceReply, Replaced),
    /// A candidate that failed.
    Failed(ReplaceReply, String),
}

/// A process being stopped outside the state machine: the old main process after a
/// replacement, or a candidate that failed.
pub struct Retiring {
    pub owner: Owner,
    pub cfg: Rc<ProcessConfig>,
    pub alive: bool,
    pub kill_at: Option<Instant>,
    pub cleanup: Cleanup,
    /// Signal for leftovers found after it exited.
    pub cleanup_sig: i32,
    pub outcome: Option<Outcome>,
}

impl Retiring {
    /// Send the stop signal (to the group if `stopasgroup`) and arm the SIGKILL deadline.
    pub fn start(owner: Owner, cfg: Rc<ProcessConfig>, outcome: Option<Outcome>) -> Retiring {
        let mut r = Retiring::exited(owner, cfg, outcome);
        r.alive = true;
        let sig = r.cfg.stopsignal;
        let group = r.cfg.stopasgroup;
        mainlog::info(format!(
            "retiring '{}' pid {}: sending {}{}",
            r.cfg.name,
            r.owner.main,
            corral_config::signals::name(sig),
            if group { " to its process group" } else { "" }
        ));
        if group && r.cfg.stopdescendants {
            r.cleanup.note_group_signal(r.owner.main, sig);
        }
        let target = if group { -r.owner.main } else { r.owner.main };
        let _ = sys::kill(target, sig);
        // stopwaitsecs counts from the signal.
        r.kill_at = Some(Instant::now() + Duration::from_secs(r.cfg.stopwaitsecs));
        r
    }

    /// A process that already exited (a candidate that died): only its leftovers remain.
    pub fn exited(owner: Owner, cfg: Rc<ProcessConfig>, outcome: Option<Outcome>) -> Retiring {
        Retiring {
            owner,
            alive: false,
            kill_at: Some(Instant::now() + Duration::from_secs(cfg.stopwaitsecs)),
            cleanup: Cleanup::default(),
            cleanup_sig: cfg.stopsignal,
            cfg,
            outcome,
        }
    }

    pub fn pid(&self) -> Pid {
        self.owner.main
    }

    /// SIGKILL time: the main process (group if `killasgroup`) and any leftovers.
    pub fn kill_now(&mut self) {
        self.kill_at = None;
        self.cleanup_sig = libc::SIGKILL;
        if self.alive {
            mainlog::warn(format!(
                "killing retiring '{}' ({}) with SIGKILL",
                self.cfg.name,
                self.pid()
            ));
            let target = if self.cfg.killasgroup {
                -self.pid()
            } else {
                self.pid()
            };
            let _ = sys::kill(target, libc::SIGKILL);
        }
    }

    /// Look for leftovers; true when none remain. Otherwise they are signalled and watched,
    /// and `on_gone` runs when they are gone.
    pub fn clean_up(&mut self, is_main: &dyn Fn(Pid) -> bool, on_gone: Box<dyn FnOnce()>) -> bool {
        if !self.cfg.stopdescendants {
            return true;
        }
        let procs = leftovers::scan(&self.owner, is_main);
        if procs.is_empty() {
            return true;
        }
        let owner = self.owner.clone();
        let sig = self.cleanup_sig;
        self.cleanup.signal(&owner, &procs, sig, on_gone);
        false
    }

    /// Report the outcome.
    pub fn finish(mut self) {
        match self.outcome.take() {
            Some(Outcome::Replaced(reply, r)) => {
                mainlog::info(format!("retired '{}' pid {}", self.cfg.name, r.old_pid));
                let _ = reply.send(Ok(r));
            }
            Some(Outcome::Failed(reply, why)) => {
                let _ = reply.send(Err(why));
            }
            None => {}
        }
    }
}
