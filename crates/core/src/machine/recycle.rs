//! Restarting a process because of what liveness found, and recycling.
//!
//! An unhealthy process (health checks, watchdog) is restarted at once. A process over
//! `max_memory` or past `max_lifetime` is *recycled*: the same restart, but only once the
//! program's recycle token is granted (`RequestRecycle` → `RecycleGranted`), so that of one
//! program's processes at most one recycles at a time. The token is the supervisor's; the
//! machine only asks for it and gives it back (`ReleaseRecycle`).
//!
//! The restart itself is the machine's existing one:
//! * a program on corral sockets is *replaced* (`replace.rs`, a candidate without a
//!   ticket): the new process is ready before the old one stops, so no request fails;
//! * any other program is stopped along its stop plan, then started (`AfterStop::Restart`).
//!
//! Each restart is counted by reason ([`RestartCounts`], in the snapshot).

use super::{AfterStop, Effect, Level, Machine, Now, Phase, Reply, Step};

/// Why a process was restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum RestartReason {
    /// It exited unexpectedly after RUNNING, and autorestart started it again.
    Crash,
    /// Its health checks failed `healthcheck_retries` times in a row.
    Health,
    /// It sent no `WATCHDOG=1` for `watchdogsecs` (or sent `WATCHDOG=trigger`).
    Watchdog,
    /// Its tree used more than `max_memory`.
    Memory,
    /// It ran for `max_lifetime` (+ jitter).
    Lifetime,
    /// Someone asked: a start after it had run, a rolling restart.
    Manual,
}

impl RestartReason {
    pub const ALL: [RestartReason; 6] = [
        RestartReason::Crash,
        RestartReason::Health,
        RestartReason::Watchdog,
        RestartReason::Memory,
        RestartReason::Lifetime,
        RestartReason::Manual,
    ];

    pub fn name(self) -> &'static str {
        match self {
            RestartReason::Crash => "crash",
            RestartReason::Health => "health",
            RestartReason::Watchdog => "watchdog",
            RestartReason::Memory => "memory",
            RestartReason::Lifetime => "lifetime",
            RestartReason::Manual => "manual",
        }
    }

    /// Memory and lifetime restarts are planned (recycling), and take turns.
    pub fn is_recycle(self) -> bool {
        matches!(self, RestartReason::Memory | RestartReason::Lifetime)
    }
}

/// How many times the process was restarted, by reason. (u32: four billion restarts is
/// decades of a crash a second; every process carries these.)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestartCounts {
    pub crash: u32,
    pub health: u32,
    pub watchdog: u32,
    pub memory: u32,
    pub lifetime: u32,
    pub manual: u32,
}

impl RestartCounts {
    pub fn get(&self, reason: RestartReason) -> u64 {
        u64::from(match reason {
            RestartReason::Crash => self.crash,
            RestartReason::Health => self.health,
            RestartReason::Watchdog => self.watchdog,
            RestartReason::Memory => self.memory,
            RestartReason::Lifetime => self.lifetime,
            RestartReason::Manual => self.manual,
        })
    }

    pub(super) fn bump(&mut self, reason: RestartReason) {
        let n = match reason {
            RestartReason::Crash => &mut self.crash,
            RestartReason::Health => &mut self.health,
            RestartReason::Watchdog => &mut self.watchdog,
            RestartReason::Memory => &mut self.memory,
            RestartReason::Lifetime => &mut self.lifetime,
            RestartReason::Manual => &mut self.manual,
        };
        *n = n.saturating_add(1);
    }
}

/// A liveness restart under way.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct RestartJob {
    pub(super) reason: RestartReason,
    /// Why, for `status` and the log.
    pub(super) text: String,
    /// It holds the recycle token.
    token: bool,
    /// By replacement (else a stop, then a start).
    rolling: bool,
}

impl Machine {
    /// Ask to recycle the watched process (once; the token comes back as `RecycleGranted`).
    pub(super) fn want_recycle(&mut self, reason: RestartReason, text: String, step: &mut Step) {
        if self.restart.is_some() || self.recycle_wait.is_some() {
            return;
        }
        step.log(
            Level::Debug,
            format!(
                "{}: {text}; waiting for its turn to recycle",
                self.settings.name
            ),
        );
        self.recycle_wait = Some(Box::new((reason, text)));
        step.effects.push(Effect::RequestRecycle);
    }

    pub(super) fn recycle_granted(&mut self, now: Now, step: &mut Step) {
        let wanted = self.recycle_wait.take().map(|w| *w);
        let pid = match self.phase {
            Phase::Running { pid } if self.restart.is_none() => Some(pid),
            _ => None,
        };
        let (Some((reason, text)), Some(pid)) = (wanted, pid) else {
            // Nothing to recycle any more: the next process may have its turn.
            step.effects.push(Effect::ReleaseRecycle);
            return;
        };
        step.log(
            Level::Info,
            format!("recycling {} (pid {pid}): {text}", self.settings.name),
        );
        step.effects.push(Effect::Recycled {
            pid,
            reason,
            text: text.clone(),
        });
        self.start_restart(reason, text, true, now, step);
    }

    /// Restart the RUNNING main process: by replacement on corral sockets, else stop and
    /// start. `token`: it holds the recycle token, given back when the restart is over.
    pub(super) fn start_restart(
        &mut self,
        reason: RestartReason,
        text: String,
        token: bool,
        now: Now,
        step: &mut Step,
    ) {
        self.stop_running_check(now, step);
        self.restarts.bump(reason);
        let rolling = self.settings.rolling_restart;
        self.restart = Some(Box::new(RestartJob {
            reason,
            text,
            token,
            rolling,
        }));
        let reply = if rolling {
            self.replace(None, None, step)
        } else {
            self.stop(now, AfterStop::Restart, step)
        };
        let why = match reply {
            Reply::Ok => return,
            Reply::Failed(why) => why,
            other => format!("{other:?}"),
        };
        step.log(
            Level::Warn,
            format!("cannot restart {}: {why}", self.settings.name),
        );
        self.end_restart(false, now, step);
    }

    /// After every event: is the restart under way over?
    pub(super) fn settle_restart(&mut self, now: Now, step: &mut Step) {
        let Some(job) = &self.restart else { return };
        let outcome = if job.rolling {
            step.effects.iter().find_map(|e| match e {
                Effect::ReplaceDone {
                    ticket: None,
                    result,
                } => Some(result.is_ok()),
                _ => None,
            })
        } else {
            match self.phase {
                Phase::Stopping {
                    after: AfterStop::Restart,
                    ..
                }
                | Phase::Starting(_) => None,
                Phase::Running { .. } => Some(true),
                _ => Some(false),
            }
        };
        if let Some(ok) = outcome {
            self.end_restart(ok, now, step);
        }
    }

    fn end_restart(&mut self, ok: bool, now: Now, step: &mut Step) {
        let Some(job) = self.restart.take() else {
            return;
        };
        if job.token {
            step.effects.push(Effect::ReleaseRecycle);
        }
        let name = &self.settings.name;
        if ok {
            let level = if job.reason.is_recycle() {
                Level::Info
            } else {
                Level::Debug
            };
            step.log(
                level,
                format!("restart of {name} ({}) done", job.reason.name()),
            );
        } else {
            step.log(
                Level::Warn,
                format!("restart of {name} ({}) did not complete", job.reason.name()),
            );
            if matches!(self.phase, Phase::Running { .. }) {
                self.rearm_after_failed_restart(job.reason, now);
            }
        }
    }
}
