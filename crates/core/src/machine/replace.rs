//! Replacing a running process without a gap: the heart of a rolling restart.
//!
//! 1. A *candidate* is spawned beside the running main process (same program, possibly new
//!    settings), sharing its `[socket:x]` sockets, so both accept connections for a while.
//! 2. When the candidate is proven (ready, and up for `startsecs`, as a process must be to
//!    become RUNNING), it becomes the main process (`Effect::Promote`), and the old one
//!    *retires*: it is stopped along its stop plan, and its leftovers too.
//! 3. If the candidate exits or is not ready in time, it retires instead, and the old
//!    process keeps serving untouched.
//!
//! Whoever asked learns the outcome (`Effect::ReplaceDone`) once the old process (or the
//! failed candidate) is gone.

use super::{
    Effect, Escalation, Level, Liveness, Machine, Now, Phase, Pid, Replaced, Reply, Settings, Step,
    StopPlan,
};
use crate::wait::WaitStatus;

/// A replacement being started.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Candidate {
    settings: Settings,
    /// `None` while the spawn is under way.
    alive: Option<Liveness>,
    ticket: Option<u64>,
}

impl Candidate {
    pub(super) fn deadline(&self) -> Option<std::time::Instant> {
        self.alive.and_then(|l| l.deadline())
    }
}

/// A process being stopped outside the main lifecycle: the old main process after a
/// replacement, or a candidate that failed.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct Retiring {
    pub(super) pid: Pid,
    /// The plan it is stopped by (its own settings', which a replacement may have changed).
    pub(super) plan: StopPlan,
    stopdescendants: bool,
    /// The process itself has not been reaped yet.
    alive: bool,
    pub(super) esc: Escalation,
    /// Its leftovers are being stopped.
    pub(super) cleaning: bool,
    /// What to report once it is gone.
    outcome: Option<(Option<u64>, Result<Replaced, String>)>,
}

impl Machine {
    pub(super) fn replace(
        &mut self,
        settings: Option<Box<Settings>>,
        ticket: Option<u64>,
        step: &mut Step,
    ) -> Reply {
        if self.candidate.is_some() {
            return Reply::Failed(format!(
                "a rolling restart of '{}' is already under way",
                self.settings.name
            ));
        }
        if !matches!(self.phase, Phase::Running { .. }) {
            return Reply::Failed(format!(
                "'{}' is {}, not RUNNING",
                self.settings.name,
                self.state().name()
            ));
        }
        self.candidate = Some(Box::new(Candidate {
            settings: settings.map_or_else(|| self.settings.clone(), |s| *s),
            alive: None,
            ticket,
        }));
        step.effects.push(Effect::SpawnCandidate);
        Reply::Ok
    }

    /// The settings a pending `SpawnCandidate` runs with.
    pub fn candidate_settings(&self) -> Option<&Settings> {
        self.candidate.as_ref().map(|c| &c.settings)
    }

    pub(super) fn candidate_spawned(&mut self, pid: Pid, now: Now, step: &mut Step) {
        let main = self.pid();
        let Some(c) = self.candidate.as_mut().filter(|c| c.alive.is_none()) else {
            return;
        };
        step.log(
            Level::Info,
            format!(
                "rolling restart of '{}': started replacement pid {} beside pid {}",
                c.settings.name,
                pid,
                main.map_or(0, |p| p.0)
            ),
        );
        if c.settings.probed() {
            step.effects.push(Effect::StartProbe { pid });
        }
        c.alive = Some(Liveness::new(pid, &c.settings, now.mono));
        // startsecs=0 and no probe: it may take over at once.
        self.tick_replacement(now, step);
    }

    pub(super) fn candidate_spawn_failed(&mut self, error: &str, step: &mut Step) {
        if let Some(c) = self.candidate.take_if(|c| c.alive.is_none()) {
            step.effects.push(Effect::ReplaceDone {
                ticket: c.ticket,
                result: Err(format!("cannot start a replacement: {error}")),
            });
        }
    }

    pub(super) fn candidate_ready(&mut self, pid: Pid, now: Now, step: &mut Step) {
        let Some(l) = self.candidate.as_mut().and_then(|c| c.alive.as_mut()) else {
            return;
        };
        if l.pid == pid {
            l.ready = true;
            self.tick_replacement(now, step);
        }
    }

    /// Deadlines of the candidate and of retiring processes.
    pub(super) fn tick_replacement(&mut self, now: Now, step: &mut Step) {
        if let Some(l) = self.candidate.as_ref().and_then(|c| c.alive) {
            if l.proven(now.mono) {
                self.promote(now, step);
            } else if l.timed_out(now.mono) {
                let timeout = self
                    .candidate
                    .as_ref()
                    .map_or(0, |c| c.settings.readiness_timeout);
                let why = format!("not ready after {timeout} seconds (readiness_timeout)");
                self.fail_candidate(&why, None, now, step);
            }
        }
        for r in &mut self.retiring {
            let Some(e) = r.esc.advance(&r.plan, now.mono) else {
                continue;
            };
            if r.alive {
                if e.kill {
                    step.log(
                        Level::Warn,
                        format!(
                            "killing retiring '{}' ({}) with SIGKILL",
                            self.settings.name, r.pid
                        ),
                    );
                } else {
                    step.log(
                        Level::Info,
                        format!(
                            "retiring '{}' pid {}: still alive, sending {}",
                            self.settings.name, r.pid, e.signal
                        ),
                    );
                }
                step.effects.push(Effect::Kill {
                    pid: r.pid,
                    sig: e.signal,
                    group: e.group,
                });
            } else if r.cleaning {
                step.effects.push(Effect::SignalLeftovers {
                    of: r.pid,
                    sig: e.signal,
                });
            }
        }
    }

    /// The candidate is proven: it becomes the main process; the old one retires.
    fn promote(&mut self, now: Now, step: &mut Step) {
        let Phase::Running { pid: old } = self.phase else {
            self.fail_candidate(
                "the running process stopped during the rolling restart",
                None,
                now,
                step,
            );
            return;
        };
        let Some(c) = self.candidate.take() else {
            return;
        };
        let Some(l) = c.alive else { return };
        let new = l.pid;
        step.log(
            Level::Info,
            format!(
                "rolling restart of '{}': replacement pid {new} is ready",
                c.settings.name
            ),
        );
        step.effects.push(Effect::Promote { old, new });
        let old_settings = std::mem::replace(&mut self.settings, c.settings);
        step.log(
            Level::Info,
            format!(
                "replaced: '{}' pid {} by pid {}",
                self.settings.name, old, new
            ),
        );
        self.phase = Phase::Running { pid: new };
        self.last_pid = Some(new);
        self.laststart = Some(now);
        let outcome = (
            c.ticket,
            Ok(Replaced {
                old_pid: old,
                new_pid: new,
            }),
        );
        self.retire_alive(old, &old_settings, Some(outcome), now, step);
    }

    /// The candidate failed: it retires; the running process is untouched. `exit`: it
    /// was reaped already (and left leftovers or not).
    fn fail_candidate(&mut self, why: &str, exit: Option<bool>, now: Now, step: &mut Step) {
        let Some(c) = self.candidate.take() else {
            return;
        };
        let outcome = (c.ticket, Err(format!("replacement {why}")));
        let Some(l) = c.alive else {
            // Not spawned yet: nothing to stop.
            step.effects.push(Effect::ReplaceDone {
                ticket: outcome.0,
                result: outcome.1,
            });
            return;
        };
        step.log(
            Level::Warn,
            format!(
                "rolling restart of '{}': replacement pid {} {}; the running process keeps serving",
                c.settings.name, l.pid, why
            ),
        );
        if c.settings.probed() {
            step.effects.push(Effect::CancelProbe { pid: l.pid });
        }
        match exit {
            None => self.retire_alive(l.pid, &c.settings, Some(outcome), now, step),
            Some(leftovers) => {
                self.retire_exited(l.pid, &c.settings, leftovers, Some(outcome), now, step);
            }
        }
    }

    /// A stop or a shutdown abandons a replacement under way.
    pub(super) fn abandon_candidate(&mut self, why: &str, now: Now, step: &mut Step) {
        if self.candidate.is_some() {
            self.fail_candidate(&format!("was abandoned: {why}"), None, now, step);
        }
    }

    /// Stop `pid` along `settings`' plan, outside the main lifecycle.
    fn retire_alive(
        &mut self,
        pid: Pid,
        settings: &Settings,
        outcome: Option<(Option<u64>, Result<Replaced, String>)>,
        now: Now,
        step: &mut Step,
    ) {
        let plan = settings.stop.clone();
        let (sig, group) = (plan.first_signal(), plan.stopasgroup);
        step.log(
            Level::Info,
            format!(
                "retiring '{}' pid {}: sending {}{}",
                settings.name,
                pid,
                sig,
                if group { " to its process group" } else { "" }
            ),
        );
        step.effects.push(Effect::Kill { pid, sig, group });
        self.retiring.push(Retiring {
            pid,
            esc: Escalation::begin(&plan, now.mono),
            plan,
            stopdescendants: settings.stopdescendants,
            alive: true,
            cleaning: false,
            outcome,
        });
    }

    /// `pid` exited already: only its leftovers may remain.
    fn retire_exited(
        &mut self,
        pid: Pid,
        settings: &Settings,
        leftovers: bool,
        outcome: Option<(Option<u64>, Result<Replaced, String>)>,
        now: Now,
        step: &mut Step,
    ) {
        let plan = settings.stop.clone();
        self.retiring.push(Retiring {
            pid,
            esc: Escalation::begin(&plan, now.mono),
            plan,
            stopdescendants: settings.stopdescendants,
            alive: false,
            cleaning: false,
            outcome,
        });
        let i = self.retiring.len() - 1;
        self.retiring_exited(i, leftovers, step);
    }

    /// A process other than the main one was reaped: the candidate or a retiring one.
    pub(super) fn other_exited(
        &mut self,
        pid: Pid,
        status: WaitStatus,
        leftovers: bool,
        now: Now,
        step: &mut Step,
    ) {
        let candidate = self
            .candidate
            .as_ref()
            .and_then(|c| c.alive)
            .is_some_and(|l| l.pid == pid);
        if candidate {
            let why = format!("exited before it was ready ({})", status.decode().1);
            self.fail_candidate(&why, Some(leftovers), now, step);
        } else if let Some(i) = self.retiring.iter().position(|r| r.pid == pid && r.alive) {
            self.retiring[i].alive = false;
            self.retiring_exited(i, leftovers, step);
        }
        // Anything else is a stale report about a process that no longer concerns us.
    }

    /// Retiring process `i` is reaped: stop its leftovers, or be done with it.
    fn retiring_exited(&mut self, i: usize, leftovers: bool, step: &mut Step) {
        let r = &mut self.retiring[i];
        if leftovers && r.stopdescendants {
            // What got the signal with the group keeps its grace period; the runtime
            // signals only those that did not get it yet.
            r.cleaning = true;
            step.effects.push(Effect::SignalLeftovers {
                of: r.pid,
                sig: r.esc.current(&r.plan),
            });
        } else {
            self.finish_retiring(i, step);
        }
    }

    pub(super) fn retired_leftovers_gone(&mut self, of: Pid, step: &mut Step) {
        if let Some(i) = self.retiring.iter().position(|r| r.pid == of && r.cleaning) {
            self.finish_retiring(i, step);
        }
    }

    fn finish_retiring(&mut self, i: usize, step: &mut Step) {
        let r = self.retiring.remove(i);
        step.effects.push(Effect::Retired { pid: r.pid });
        match r.outcome {
            Some((ticket, Ok(replaced))) => {
                step.log(
                    Level::Info,
                    format!("retired '{}' pid {}", self.settings.name, replaced.old_pid),
                );
                step.effects.push(Effect::ReplaceDone {
                    ticket,
                    result: Ok(replaced),
                });
            }
            Some((ticket, Err(why))) => step.effects.push(Effect::ReplaceDone {
                ticket,
                result: Err(why),
            }),
            None => {}
        }
    }
}
