//! How a process is stopped: a plan of signals, each followed by a grace period, and
//! SIGKILL when the last one runs out.
//!
//! supervisord's plan has one step (`stopsignal`, then `stopwaitsecs`). The same plan
//! stops a main process, the leftovers it may leave, and a process retired by a rolling
//! replacement, so every stop in corral escalates the same way.

use std::time::{Duration, Instant};

use crate::ids::{Pid, Signal};

/// One step of a stop: send `signal`, then wait up to `wait` for the process to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StopStep {
    pub signal: Signal,
    pub wait: Duration,
}

/// The signals that stop a process, in order, and who receives them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StopPlan {
    /// Never empty: `Settings::from_config` gives at least supervisord's one step.
    pub steps: Vec<StopStep>,
    /// The stop signals go to the process group (`stopasgroup`).
    pub stopasgroup: bool,
    /// The final SIGKILL goes to the process group (`killasgroup`).
    pub killasgroup: bool,
}

impl StopPlan {
    /// supervisord's plan: one signal, one grace period.
    pub fn single(signal: Signal, wait: Duration) -> StopPlan {
        StopPlan {
            steps: vec![StopStep { signal, wait }],
            stopasgroup: false,
            killasgroup: false,
        }
    }

    pub fn first_signal(&self) -> Signal {
        self.steps.first().map_or(Signal::KILL, |s| s.signal)
    }
}

/// Where a stop is in its plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Escalation {
    /// The step whose signal was sent last.
    step: usize,
    /// When the next signal is due; `None` once SIGKILL was sent.
    #[serde(with = "crate::persist::opt_instant")]
    next_at: Option<Instant>,
}

/// What escalating asks for: send `signal` (to the group when `group`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Escalated {
    pub signal: Signal,
    pub group: bool,
    /// This is the final SIGKILL.
    pub kill: bool,
}

impl Escalation {
    /// The first signal was sent at `now`.
    pub fn begin(plan: &StopPlan, now: Instant) -> Escalation {
        Escalation {
            step: 0,
            next_at: Some(now + plan.steps.first().map_or(Duration::ZERO, |s| s.wait)),
        }
    }

    /// The signal sent last (SIGKILL once the plan ran out).
    pub fn current(&self, plan: &StopPlan) -> Signal {
        match self.next_at {
            None => Signal::KILL,
            Some(_) => plan.steps.get(self.step).map_or(Signal::KILL, |s| s.signal),
        }
    }

    pub fn next_at(&self) -> Option<Instant> {
        self.next_at
    }

    pub fn killed(&self) -> bool {
        self.next_at.is_none()
    }

    /// Which step of how many is under way, for status texts (1-based).
    pub fn step_of(&self, plan: &StopPlan) -> (usize, usize) {
        (self.step + 1, plan.steps.len())
    }

    /// The deadline passed: the next signal of the plan (or SIGKILL), and its deadline.
    pub fn advance(&mut self, plan: &StopPlan, now: Instant) -> Option<Escalated> {
        if self.next_at.is_none_or(|t| t > now) {
            return None;
        }
        match plan.steps.get(self.step + 1) {
            Some(next) => {
                self.step += 1;
                self.next_at = Some(now + next.wait);
                Some(Escalated {
                    signal: next.signal,
                    group: plan.stopasgroup,
                    kill: false,
                })
            }
            None => {
                self.next_at = None;
                Some(Escalated {
                    signal: Signal::KILL,
                    group: plan.killasgroup,
                    kill: true,
                })
            }
        }
    }
}

/// Where a stop is, for the API: which signal was sent when, what comes next and when
/// (Unix times). What `status` shows as `INT sent 2 s ago, KILL in 3 s`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StopProgress {
    /// The signal sent last, and when.
    pub signal: Signal,
    pub sent_at: f64,
    /// The next signal (SIGKILL after the last step) and when it is due; `None` once
    /// SIGKILL was sent.
    pub next: Option<(Signal, f64)>,
    /// Which step of how many (1-based; the final SIGKILL is not a step).
    pub step: usize,
    pub steps: usize,
}

impl StopProgress {
    /// Right after `esc` began or advanced, at `wall`.
    pub fn at(plan: &StopPlan, esc: &Escalation, wall: f64) -> StopProgress {
        let (step, steps) = esc.step_of(plan);
        let next = (!esc.killed()).then(|| {
            let wait = plan
                .steps
                .get(step - 1)
                .map_or(0.0, |s| s.wait.as_secs_f64());
            let signal = plan.steps.get(step).map_or(Signal::KILL, |s| s.signal);
            (signal, wall + wait)
        });
        StopProgress {
            signal: esc.current(plan),
            sent_at: wall,
            next,
            step,
            steps,
        }
    }

    /// `INT sent 2 s ago, KILL in 3 s` at `now` (Unix time): whole seconds, the wait
    /// rounded up so that it never shows 0 before the signal is sent.
    pub fn describe(&self, now: f64) -> String {
        let short = |s: Signal| {
            let name = s.name();
            name.strip_prefix("SIG").map(str::to_string).unwrap_or(name)
        };
        let ago = (now - self.sent_at).max(0.0).floor() as u64;
        let mut text = format!("{} sent {ago} s ago", short(self.signal));
        if let Some((signal, at)) = self.next {
            let left = (at - now).max(0.0).ceil() as u64;
            text.push_str(&format!(", {} in {left} s", short(signal)));
        }
        text
    }
}

/// Leftovers of an exited process (`of`), being stopped along the same plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cleanup {
    pub of: Pid,
    pub esc: Escalation,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(steps: &[(i32, u64)]) -> StopPlan {
        StopPlan {
            steps: steps
                .iter()
                .map(|&(s, w)| StopStep {
                    signal: Signal(s),
                    wait: Duration::from_secs(w),
                })
                .collect(),
            stopasgroup: true,
            killasgroup: false,
        }
    }

    #[test]
    fn one_step_then_kill() {
        let p = plan(&[(15, 10)]);
        let t0 = Instant::now();
        let mut e = Escalation::begin(&p, t0);
        assert_eq!(e.current(&p), Signal::TERM);
        assert_eq!(e.advance(&p, t0 + Duration::from_secs(9)), None);
        let k = e.advance(&p, t0 + Duration::from_secs(10)).unwrap();
        assert_eq!((k.signal, k.group, k.kill), (Signal::KILL, false, true));
        assert!(e.killed());
        assert_eq!(e.advance(&p, t0 + Duration::from_secs(99)), None);
        assert_eq!(e.current(&p), Signal::KILL);
    }

    #[test]
    fn progress_says_what_was_sent_and_what_comes() {
        let p = plan(&[(15, 20), (2, 5)]);
        let t0 = Instant::now();
        let mut e = Escalation::begin(&p, t0);
        let pr = StopProgress::at(&p, &e, 1000.0);
        assert_eq!((pr.step, pr.steps), (1, 2));
        assert_eq!(pr.next, Some((Signal::INT, 1020.0)));
        assert_eq!(pr.describe(1000.4), "TERM sent 0 s ago, INT in 20 s");
        assert_eq!(pr.describe(1017.5), "TERM sent 17 s ago, INT in 3 s");
        e.advance(&p, t0 + Duration::from_secs(20));
        let pr = StopProgress::at(&p, &e, 1020.0);
        assert_eq!(pr.describe(1022.0), "INT sent 2 s ago, KILL in 3 s");
        e.advance(&p, t0 + Duration::from_secs(25));
        let pr = StopProgress::at(&p, &e, 1025.0);
        assert_eq!(pr.next, None);
        assert_eq!(pr.describe(1026.0), "KILL sent 1 s ago");
    }

    #[test]
    fn a_sequence_walks_each_step_with_its_own_wait() {
        let p = plan(&[(15, 20), (2, 5)]);
        let t0 = Instant::now();
        let mut e = Escalation::begin(&p, t0);
        assert_eq!(e.next_at(), Some(t0 + Duration::from_secs(20)));
        let t1 = t0 + Duration::from_secs(20);
        let s = e.advance(&p, t1).unwrap();
        assert_eq!((s.signal, s.group, s.kill), (Signal::INT, true, false));
        assert_eq!(e.step_of(&p), (2, 2));
        assert_eq!(e.next_at(), Some(t1 + Duration::from_secs(5)));
        let k = e.advance(&p, t1 + Duration::from_secs(5)).unwrap();
        assert!(k.kill);
    }
}
