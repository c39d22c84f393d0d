//! A process held back by orchestration: its dependencies (`depends_on=`) are not met.
//!
//! The rules of dependencies span processes and live in corrald's supervisor; the machine
//! only has to know whether it may spawn. While held, a spawn the machine would make by
//! itself (autostart, autorestart) or one asked for (`Start`) is *deferred*: the process
//! stays in its stopped state (STOPPED, EXITED or FATAL: no new state, so every client
//! keeps working) and spawns when the hold is lifted. A `Stop` cancels a deferred start.

use super::{Level, Machine, Now, Phase, Reply, Step};

/// Why a process may not spawn yet, as the orchestration says it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hold {
    /// What the process waits for (`waiting for db (ready)`, `blocked: db is FATAL`).
    pub note: String,
    /// It can't get there by itself (a dependency is FATAL): a start that waits for it
    /// fails instead of waiting.
    pub blocked: bool,
}

impl Machine {
    /// A new hold (or none: the dependencies are met). Lifting it spawns a deferred start.
    pub(super) fn set_hold(&mut self, hold: Option<Hold>, now: Now, step: &mut Step) {
        self.hold = hold.map(Box::new);
        if self.hold.is_some() || !self.deferred {
            return;
        }
        self.deferred = false;
        if !self.frozen
            && matches!(
                self.phase,
                Phase::Stopped | Phase::Exited { .. } | Phase::Fatal
            )
        {
            self.spawn(now, step);
        }
    }

    /// A spawn is due (autostart, autorestart, `Start`): while held, it is deferred
    /// instead (true).
    pub(super) fn defer_if_held(&mut self, step: &mut Step) -> bool {
        let Some(hold) = &self.hold else {
            return false;
        };
        if !self.deferred {
            self.deferred = true;
            step.log(
                Level::Info,
                format!(
                    "{} will start when its dependencies allow: {}",
                    self.settings.name, hold.note
                ),
            );
        }
        true
    }

    /// `Stop` of a process whose start is deferred: it will not start.
    pub(super) fn cancel_deferred(&mut self, step: &mut Step) -> Option<Reply> {
        if !self.deferred {
            return None;
        }
        self.deferred = false;
        step.log(
            Level::Info,
            format!(
                "{} will not start: stopped while it waited",
                self.settings.name
            ),
        );
        Some(Reply::Ok)
    }

    /// The hold of a process whose start is deferred (what it waits for).
    pub(super) fn waiting(&self) -> Option<Hold> {
        if self.deferred {
            self.hold.as_deref().cloned()
        } else {
            None
        }
    }
}
