//! Liveness of a RUNNING process: health checks, the sd_notify watchdog, the memory and
//! lifetime limits that recycle it.
//!
//! Every rule here starts when the main process enters RUNNING and ends when it leaves it
//! (or is replaced): `settle_watch` arms a [`Watch`] for the RUNNING pid after every event,
//! and drops it otherwise, so a process with none of these options has no timer at all.
//!
//! * **Health checks** (Docker's vocabulary): the first check runs `interval` after RUNNING,
//!   each next one `interval` after the previous one ended; a check that has not answered
//!   after `timeout` fails. `retries` failures in a row make the process unhealthy, except
//!   during `start_period` after RUNNING; one success makes it healthy.
//! * **Watchdog**: RUNNING arms it; each `WATCHDOG=1` re-arms it; when it runs out (or the
//!   process sends `WATCHDOG=trigger`), the process is unhealthy.
//! * **Memory**: sampled every [`MEMORY_SAMPLE_EVERY`] (only with `max_memory`); above the
//!   limit, the process asks to recycle.
//! * **Lifetime**: `max_lifetime` plus this process's share of `max_lifetime_jitter` after
//!   RUNNING, it asks to recycle.
//!
//! Unhealthy processes are restarted at once; recycling waits for the program's recycle
//! token (`recycle.rs`). While a restart is under way nothing is checked.

use std::time::{Duration, Instant};

use corral_config::Liveness;
use corral_config::sparse::Off;

use super::{Effect, Level, Machine, Now, Phase, Pid, RestartReason, Step};

/// How often the memory of a process with `max_memory` is measured.
pub const MEMORY_SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// After a restart that failed (the replacement never became ready), how long before a
/// lifetime recycle is asked for again.
const LIFETIME_RETRY: Duration = Duration::from_secs(60);

/// `healthcheck=` as the machine needs it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HealthRule {
    /// The check as written (`http://…`, `tcp://…`, `exec:…`), for messages.
    pub label: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub start_period: Duration,
}

/// corral's liveness options (`Default`: all off).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LivenessRules {
    pub health: Option<HealthRule>,
    pub watchdog: Option<Duration>,
    pub max_memory: Option<u64>,
    pub max_lifetime: Option<Duration>,
    pub lifetime_jitter: Duration,
    pub backoff_max: Option<Duration>,
}

impl Off for HealthStatus {
    const OFF: &'static HealthStatus = &HealthStatus {
        state: HealthState::Unknown,
        last_check: None,
        last_result: String::new(),
        failures: 0,
        note: None,
    };
}

impl Off for LivenessRules {
    const OFF: &'static LivenessRules = &LivenessRules {
        health: None,
        watchdog: None,
        max_memory: None,
        max_lifetime: None,
        lifetime_jitter: Duration::ZERO,
        backoff_max: None,
    };
}

impl LivenessRules {
    pub fn from_config(l: &Liveness) -> LivenessRules {
        LivenessRules {
            health: l.healthcheck.as_ref().map(|h| HealthRule {
                label: h.probe.label(),
                interval: h.interval,
                timeout: h.timeout,
                retries: h.retries,
                start_period: h.start_period,
            }),
            watchdog: l.watchdogsecs,
            max_memory: l.max_memory,
            max_lifetime: l.max_lifetime,
            lifetime_jitter: l.max_lifetime_jitter,
            backoff_max: l.backoff_max,
        }
    }
}

/// What the checks say of the process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum HealthState {
    /// Not checked yet (or not running, or nothing checks it).
    #[default]
    Unknown,
    Healthy,
    Unhealthy,
}

impl HealthState {
    pub fn name(self) -> &'static str {
        match self {
            HealthState::Unknown => "unknown",
            HealthState::Healthy => "healthy",
            HealthState::Unhealthy => "unhealthy",
        }
    }
}

/// The health part of the API snapshot.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HealthView {
    pub state: HealthState,
    /// When the last health check ended (Unix seconds).
    pub last_check: Option<f64>,
    /// What it found (`tcp://127.0.0.1:8000: connected`).
    pub last_result: String,
    /// Consecutive failed checks of the current process.
    pub failures: u32,
    /// What `status` adds to the description: why the process was found unhealthy (kept
    /// until a check succeeds), or why it is being recycled.
    pub note: Option<String>,
}

/// What the machine keeps of the checks (across restarts: the note stays until a check
/// succeeds).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct HealthStatus {
    pub(super) state: HealthState,
    pub(super) last_check: Option<f64>,
    pub(super) last_result: String,
    pub(super) failures: u32,
    pub(super) note: Option<String>,
}

/// Where the health check of the watched process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) enum Check {
    /// No `healthcheck=`.
    Off,
    /// The next check starts then.
    Due(#[serde(with = "crate::persist::instant")] Instant),
    /// A check runs; it fails if it has not answered by then.
    Running {
        #[serde(with = "crate::persist::instant")]
        deadline: Instant,
    },
}

/// The liveness timers of one RUNNING main process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(super) struct Watch {
    pub(super) pid: Pid,
    /// When it entered RUNNING.
    #[serde(with = "crate::persist::instant")]
    since: Instant,
    check: Check,
    #[serde(with = "crate::persist::opt_instant")]
    watchdog_at: Option<Instant>,
    #[serde(with = "crate::persist::opt_instant")]
    lifetime_at: Option<Instant>,
    #[serde(with = "crate::persist::opt_instant")]
    sample_at: Option<Instant>,
}

impl Watch {
    fn arm(pid: Pid, name: &str, rules: &LivenessRules, now: Instant) -> Watch {
        Watch {
            pid,
            since: now,
            check: match &rules.health {
                Some(h) => Check::Due(now + h.interval),
                None => Check::Off,
            },
            watchdog_at: rules.watchdog.map(|w| now + w),
            lifetime_at: rules
                .max_lifetime
                .map(|l| now + l + jitter(name, pid, rules.lifetime_jitter)),
            sample_at: rules.max_memory.map(|_| now + MEMORY_SAMPLE_EVERY),
        }
    }

    fn deadline(&self) -> Option<Instant> {
        let check = match self.check {
            Check::Off => None,
            Check::Due(t) | Check::Running { deadline: t } => Some(t),
        };
        [check, self.watchdog_at, self.lifetime_at, self.sample_at]
            .into_iter()
            .flatten()
            .min()
    }
}

/// This process's share of `max_lifetime_jitter`: 0..jitter, spread over a pool by a hash
/// of its name and pid (the machine takes no randomness from outside; a pool's pids and
/// names differ, so their shares do).
pub(super) fn jitter(name: &str, pid: Pid, jitter: Duration) -> Duration {
    if jitter.is_zero() {
        return Duration::ZERO;
    }
    // FNV-1a over the name, then splitmix64 with the pid.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ (pid.0 as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let fraction = (z >> 11) as f64 / (1u64 << 53) as f64;
    jitter.mul_f64(fraction)
}

/// `5 s`, `0.5 s`, `1.25 s`.
pub(super) fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{} s", s as u64)
    } else {
        format!("{} s", (s * 1000.0).round() / 1000.0)
    }
}

/// `312.4 MB` (supervisord's MB: 1024 × 1024 bytes).
pub(super) fn fmt_bytes(b: u64) -> String {
    format!("{:.1} MB", b as f64 / f64::from(1u32 << 20))
}

impl Machine {
    pub(super) fn health_view(&self) -> HealthView {
        let h = &self.health;
        let recycling = self
            .restart
            .as_ref()
            .filter(|j| j.reason.is_recycle())
            .map(|j| format!("recycling: {}", j.text));
        HealthView {
            state: h.state,
            last_check: h.last_check,
            last_result: h.last_result.clone(),
            failures: h.failures,
            note: recycling.or_else(|| h.note.clone()),
        }
    }

    /// The earliest liveness timer (none while a restart is under way: nothing is checked
    /// then).
    pub(super) fn liveness_deadline(&self) -> Option<Instant> {
        if self.restart.is_some() {
            return None;
        }
        self.watch.as_ref().and_then(Watch::deadline)
    }

    /// Arm the timers of a process that just became RUNNING (or the new main process of a
    /// replacement); drop them when no process runs.
    pub(super) fn settle_watch(&mut self, now: Now, step: &mut Step) {
        let running = match self.phase {
            Phase::Running { pid } => Some(pid),
            _ => None,
        };
        if self.watch.as_ref().map(|w| w.pid) == running {
            return;
        }
        if let Some(w) = self.watch.take() {
            if matches!(w.check, Check::Running { .. }) {
                step.effects.push(Effect::CancelHealthCheck { pid: w.pid });
            }
        }
        if running.is_none() && self.recycle_wait.take().is_some() {
            step.effects.push(Effect::ReleaseRecycle);
        }
        if let Some(pid) = running {
            // A new process: nothing is known of its health yet.
            self.health.update(|h| {
                h.failures = 0;
                h.state = HealthState::Unknown;
            });
            self.running_since = Some(now.mono);
            // Without liveness options the watch has no timer: it only remembers the pid.
            self.watch = Some(Watch::arm(
                pid,
                &self.settings.name,
                &self.settings.liveness,
                now.mono,
            ));
        }
    }

    /// The main process whose health check is under way (an upgraded corrald runs it
    /// again: the old one's went with its image).
    pub fn checking(&self) -> Option<Pid> {
        self.watch
            .filter(|w| matches!(w.check, Check::Running { .. }))
            .map(|w| w.pid)
    }

    /// Timers that ran out.
    pub(super) fn tick_liveness(&mut self, now: Now, step: &mut Step) {
        if self.restart.is_some() {
            return;
        }
        let Some(mut w) = self.watch else { return };
        let rules = self.settings.liveness.clone();
        let t = now.mono;
        if let (Some(h), Check::Due(at)) = (&rules.health, w.check) {
            if at <= t {
                w.check = Check::Running {
                    deadline: t + h.timeout,
                };
                step.effects.push(Effect::RunHealthCheck { pid: w.pid });
            }
        }
        if w.sample_at.is_some_and(|at| at <= t) {
            w.sample_at = Some(t + MEMORY_SAMPLE_EVERY);
            step.effects.push(Effect::SampleMemory { pid: w.pid });
        }
        let timed_out = match (&rules.health, w.check) {
            (Some(h), Check::Running { deadline }) if deadline <= t => {
                w.check = Check::Due(t + h.interval);
                step.effects.push(Effect::CancelHealthCheck { pid: w.pid });
                Some(format!(
                    "{}: timed out after {}",
                    h.label,
                    fmt_secs(h.timeout)
                ))
            }
            _ => None,
        };
        let watchdog_out = w.watchdog_at.is_some_and(|at| at <= t);
        let lifetime_out = w.lifetime_at.is_some_and(|at| at <= t);
        if lifetime_out {
            w.lifetime_at = None;
        }
        self.watch = Some(w);
        if let Some(text) = timed_out {
            self.health.last_check = Some(now.wall);
            self.health.last_result.clone_from(&text);
            self.check_failed(&text, now, step);
        }
        if watchdog_out && self.restart.is_none() {
            let secs = rules.watchdog.map(fmt_secs).unwrap_or_default();
            self.unhealthy(
                RestartReason::Watchdog,
                &format!("watchdog: no WATCHDOG=1 for {secs}"),
                now,
                step,
            );
        }
        if lifetime_out {
            let lifetime = rules.max_lifetime.unwrap_or_default();
            let extra = jitter(&self.settings.name, w.pid, rules.lifetime_jitter);
            let text = if extra.is_zero() {
                format!("max_lifetime {} reached", fmt_secs(lifetime))
            } else {
                format!(
                    "max_lifetime {} (+ {} jitter) reached",
                    fmt_secs(lifetime),
                    fmt_secs(extra)
                )
            };
            self.want_recycle(RestartReason::Lifetime, text, step);
        }
    }

    /// The watched process, if it is `pid` and nothing restarts it.
    fn watched(&self, pid: Pid) -> Option<Watch> {
        self.watch
            .filter(|w| w.pid == pid && self.restart.is_none())
    }

    pub(super) fn health_result(
        &mut self,
        pid: Pid,
        ok: bool,
        text: String,
        now: Now,
        step: &mut Step,
    ) {
        let (Some(mut w), Some(h)) = (self.watched(pid), self.settings.liveness.health.clone())
        else {
            return;
        };
        if !matches!(w.check, Check::Running { .. }) {
            return; // it timed out already
        }
        w.check = Check::Due(now.mono + h.interval);
        self.watch = Some(w);
        self.health.last_check = Some(now.wall);
        let passed = ok.then(|| format!("health check passed: {text}"));
        self.health.last_result = text;
        match passed {
            Some(passed) => {
                self.health.failures = 0;
                let recovered = self.health.note.take().is_some();
                self.became_healthy(pid, passed, recovered, step);
            }
            None => {
                let text = self.health.last_result.clone();
                self.check_failed(&text, now, step);
            }
        }
    }

    /// `recovered`: it (or the process it replaced) was found unhealthy before.
    fn became_healthy(&mut self, pid: Pid, text: String, recovered: bool, step: &mut Step) {
        if self.health.state == HealthState::Healthy {
            return;
        }
        let level = if recovered || self.health.state == HealthState::Unhealthy {
            Level::Info
        } else {
            Level::Debug
        };
        self.health.state = HealthState::Healthy;
        step.log(level, format!("{} is healthy: {text}", self.settings.name));
        step.effects.push(Effect::Health {
            pid,
            healthy: true,
            text,
        });
    }

    /// A check of the watched process failed with `text`.
    fn check_failed(&mut self, text: &str, now: Now, step: &mut Step) {
        let (Some(w), Some(h)) = (self.watch, self.settings.liveness.health.clone()) else {
            return;
        };
        let name = &self.settings.name;
        if now.mono < w.since + h.start_period {
            step.log(
                Level::Debug,
                format!("{name}: health check failed during its start period: {text}"),
            );
            return;
        }
        self.health.failures += 1;
        let n = self.health.failures;
        if n < h.retries {
            step.log(
                Level::Info,
                format!("{name}: health check failed ({n} of {}): {text}", h.retries),
            );
            return;
        }
        self.unhealthy(
            RestartReason::Health,
            &format!("{text} ({n} in a row)"),
            now,
            step,
        );
    }

    /// The watched process is unhealthy (`why`): say so and restart it.
    fn unhealthy(&mut self, reason: RestartReason, why: &str, now: Now, step: &mut Step) {
        let Some(w) = self.watch else { return };
        let note = format!("unhealthy: {why}");
        step.log(
            Level::Warn,
            format!(
                "{} (pid {}) is {note}; restarting it",
                self.settings.name, w.pid
            ),
        );
        if self.health.state != HealthState::Unhealthy {
            self.health.state = HealthState::Unhealthy;
            step.effects.push(Effect::Health {
                pid: w.pid,
                healthy: false,
                text: note.clone(),
            });
        }
        self.health.note = Some(note.clone());
        if self.recycle_wait.take().is_some() {
            step.effects.push(Effect::ReleaseRecycle);
        }
        self.start_restart(reason, note, false, now, step);
    }

    pub(super) fn watchdog_ping(&mut self, pid: Pid, now: Now, step: &mut Step) {
        let (Some(mut w), Some(wd)) = (self.watched(pid), self.settings.liveness.watchdog) else {
            return;
        };
        w.watchdog_at = Some(now.mono + wd);
        self.watch = Some(w);
        if self.settings.liveness.health.is_none() {
            let recovered = self.health.note.take().is_some();
            self.became_healthy(pid, "watchdog: WATCHDOG=1 received".into(), recovered, step);
        }
    }

    pub(super) fn watchdog_trigger(&mut self, pid: Pid, now: Now, step: &mut Step) {
        if self.watched(pid).is_none() || self.settings.liveness.watchdog.is_none() {
            return;
        }
        self.unhealthy(
            RestartReason::Watchdog,
            "watchdog: the process sent WATCHDOG=trigger",
            now,
            step,
        );
    }

    pub(super) fn memory_sample(&mut self, pid: Pid, rss: u64, _now: Now, step: &mut Step) {
        let (Some(_), Some(max)) = (self.watched(pid), self.settings.liveness.max_memory) else {
            return;
        };
        step.log(
            Level::Debug,
            format!(
                "{}: {} resident (max_memory {})",
                self.settings.name,
                fmt_bytes(rss),
                fmt_bytes(max)
            ),
        );
        if rss > max {
            let text = format!("memory {} > max_memory {}", fmt_bytes(rss), fmt_bytes(max));
            self.want_recycle(RestartReason::Memory, text, step);
        }
    }

    /// A restart begins: a check under way is abandoned (nothing is checked meanwhile).
    pub(super) fn stop_running_check(&mut self, now: Now, step: &mut Step) {
        if let Some(w) = self.watch.as_mut() {
            if let Check::Running { .. } = w.check {
                step.effects.push(Effect::CancelHealthCheck { pid: w.pid });
                w.check = Check::Due(now.mono);
            }
        }
    }

    /// A restart of the watched process failed (its replacement never became ready) and
    /// it runs on: watch it again, so that what fired fires again later.
    pub(super) fn rearm_after_failed_restart(&mut self, reason: RestartReason, now: Now) {
        let Some(mut w) = self.watch else { return };
        let rules = &self.settings.liveness;
        match reason {
            RestartReason::Health => {
                if let Some(h) = &rules.health {
                    w.check = Check::Due(now.mono + h.interval);
                }
            }
            RestartReason::Watchdog => w.watchdog_at = rules.watchdog.map(|d| now.mono + d),
            RestartReason::Lifetime => {
                w.lifetime_at = rules.max_lifetime.map(|l| now.mono + l.min(LIFETIME_RETRY));
            }
            RestartReason::Memory | RestartReason::Crash | RestartReason::Manual => {}
        }
        self.watch = Some(w);
    }
}
