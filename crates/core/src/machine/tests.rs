//! The lifecycle, event by event, without spawning anything.

use std::time::{Duration, Instant};

use corral_config::AutoRestart;

use super::*;
use crate::state::ProcessState::*;

pub(super) const TERM: Signal = Signal::TERM;
pub(super) const KILL: Signal = Signal::KILL;

pub(super) fn settings() -> Settings {
    Settings {
        name: "web".into(),
        autostart: true,
        autorestart: AutoRestart::Unexpected,
        exitcodes: vec![0].into(),
        startsecs: 1,
        startretries: 3,
        stop: StopPlan::single(TERM, Duration::from_secs(10)),
        stopdescendants: true,
        ready: ReadyRule::AfterStartsecs,
        readiness_timeout: 60,
        liveness: Default::default(),
        rolling_restart: false,
    }
}

/// A test clock: starts at an arbitrary instant, moves only when told.
pub(super) struct Clock {
    pub(super) base: Instant,
    pub(super) offset: Duration,
}

impl Clock {
    pub(super) fn new() -> Clock {
        Clock {
            base: Instant::now(),
            offset: Duration::ZERO,
        }
    }
    pub(super) fn now(&self) -> Now {
        Now {
            mono: self.base + self.offset,
            wall: 1_700_000_000.0 + self.offset.as_secs_f64(),
        }
    }
    pub(super) fn advance_ms(&mut self, ms: u64) {
        self.offset += Duration::from_millis(ms);
    }
    pub(super) fn at(&self, ms_from_base: u64) -> Instant {
        self.base + Duration::from_millis(ms_from_base)
    }
}

pub(super) struct Harness {
    pub(super) m: Machine,
    pub(super) clock: Clock,
}

impl Harness {
    pub(super) fn new(s: Settings) -> Harness {
        Harness {
            m: Machine::new(s),
            clock: Clock::new(),
        }
    }
    pub(super) fn ev(&mut self, e: Event) -> Step {
        self.m.handle(e, self.clock.now())
    }
    /// Advance to the machine's next deadline and tick.
    pub(super) fn tick_to_deadline(&mut self) -> Step {
        let d = self.m.next_deadline().expect("a deadline");
        self.clock.offset = d - self.clock.base;
        self.ev(Event::Tick)
    }
    /// Start, and spawn the process as `pid` (the `Spawned` step).
    pub(super) fn spawned(&mut self, pid: i32) -> Step {
        self.ev(Event::Start);
        self.ev(Event::Spawned { pid: Pid(pid) })
    }
    /// Start and get the process to RUNNING with `pid`.
    pub(super) fn running(&mut self, pid: i32) {
        self.spawned(pid);
        if self.m.state() != Running {
            self.tick_to_deadline();
        }
        assert_eq!(self.m.state(), Running);
    }
}

/// The main process `pid` was reaped, leaving nothing behind.
pub(super) fn exited(pid: i32, status: WaitStatus) -> Event {
    Event::Exited {
        pid: Pid(pid),
        status,
        leftovers: false,
    }
}

/// The main process `pid` was reaped; processes it started are still alive.
pub(super) fn exited_with_leftovers(pid: i32, status: WaitStatus) -> Event {
    Event::Exited {
        pid: Pid(pid),
        status,
        leftovers: true,
    }
}

pub(super) fn probe(label: &str) -> ReadyRule {
    ReadyRule::Probe {
        label: label.into(),
    }
}

pub(super) fn changes(step: &Step) -> Vec<(ProcessState, ProcessState)> {
    step.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Changed { from, to, .. } => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

pub(super) fn logs(step: &Step) -> Vec<String> {
    step.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Log(l, m) if *l >= Level::Info => Some(m.clone()),
            _ => None,
        })
        .collect()
}

pub(super) fn has(step: &Step, effect: &Effect) -> bool {
    step.effects.contains(effect)
}

#[test]
fn autostart_then_running_after_startsecs() {
    let mut h = Harness::new(settings());
    let s = h.ev(Event::Activate);
    assert_eq!(changes(&s), vec![(Stopped, Starting)]);
    assert!(has(&s, &Effect::Spawn));

    let s = h.ev(Event::Spawned { pid: Pid(100) });
    assert_eq!(logs(&s), vec!["spawned: 'web' with pid 100"]);
    assert_eq!(h.m.state(), Starting);
    assert_eq!(h.m.pid(), Some(Pid(100)));
    assert_eq!(h.m.next_deadline(), Some(h.clock.at(1000)));

    h.clock.advance_ms(999);
    assert!(changes(&h.ev(Event::Tick)).is_empty());
    h.clock.advance_ms(1);
    let s = h.ev(Event::Tick);
    assert_eq!(changes(&s), vec![(Starting, Running)]);
    assert_eq!(
        logs(&s),
        vec![
            "success: web entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)"
        ]
    );
    assert_eq!(
        h.m.next_deadline(),
        None,
        "nothing to wake up for while running"
    );
}

#[test]
fn activate_does_nothing_without_autostart_or_after_a_first_start() {
    let mut h = Harness::new(Settings {
        autostart: false,
        ..settings()
    });
    assert!(h.ev(Event::Activate).effects.is_empty());

    let mut h = Harness::new(settings());
    h.running(1);
    h.ev(Event::Stop);
    h.ev(exited(1, WaitStatus::signaled(TERM.0)));
    assert_eq!(h.m.state(), Stopped);
    assert!(
        h.ev(Event::Activate).effects.is_empty(),
        "autostart applies once"
    );
}

#[test]
fn startsecs_zero_is_running_at_once() {
    let mut h = Harness::new(Settings {
        startsecs: 0,
        ..settings()
    });
    let s = h.spawned(7);
    assert_eq!(changes(&s), vec![(Starting, Running)]);
}

#[test]
fn quick_exits_back_off_1_2_3_seconds_then_fatal() {
    let mut h = Harness::new(settings());
    h.ev(Event::Start);
    for attempt in 1..=4u64 {
        h.ev(Event::Spawned {
            pid: Pid(attempt as i32),
        });
        h.clock.advance_ms(100);
        let s = h.ev(exited(attempt as i32, WaitStatus::exited(1)));
        assert!(logs(&s).contains(&"exited: web (exit status 1; not expected)".to_string()));
        let tries = s.effects.iter().find_map(|e| match e {
            Effect::Changed {
                to: Backoff, tries, ..
            } => Some(*tries),
            _ => None,
        });
        assert_eq!(tries, Some(attempt));
        if attempt < 4 {
            assert_eq!(h.m.state(), Backoff);
            assert_eq!(
                h.m.snapshot().spawnerr.as_deref(),
                Some("Exited too quickly (process log may have details)")
            );
            let due = h.clock.now().mono + Duration::from_secs(attempt);
            assert_eq!(h.m.next_deadline(), Some(due), "backoff {attempt} s");
            let s = h.tick_to_deadline();
            assert_eq!(changes(&s), vec![(Backoff, Starting)]);
            assert!(has(&s, &Effect::Spawn));
        } else {
            assert_eq!(changes(&s), vec![(Starting, Backoff), (Backoff, Fatal)]);
            assert!(logs(&s).contains(
                &"gave up: web entered FATAL state, too many start retries too quickly".to_string()
            ));
            assert_eq!(h.m.next_deadline(), None);
        }
    }
}

#[test]
fn spawn_failure_backs_off_with_spawnerr() {
    let mut h = Harness::new(settings());
    h.ev(Event::Start);
    let s = h.ev(Event::SpawnFailed {
        error: "can't find command 'nope'".into(),
    });
    assert_eq!(changes(&s), vec![(Starting, Backoff)]);
    assert_eq!(logs(&s), vec!["spawnerr: can't find command 'nope'"]);
    assert_eq!(
        h.m.snapshot().spawnerr.as_deref(),
        Some("can't find command 'nope'")
    );
}

#[test]
fn exit_after_running_follows_autorestart_and_exitcodes() {
    // expected exit, autorestart=unexpected: stays EXITED
    let mut h = Harness::new(settings());
    h.running(5);
    let s = h.ev(exited(5, WaitStatus::exited(0)));
    assert_eq!(changes(&s), vec![(Running, Exited)]);
    assert!(!has(&s, &Effect::Spawn));
    assert_eq!(logs(&s), vec!["exited: web (exit status 0; expected)"]);
    assert_eq!(h.m.snapshot().exitstatus, Some(0));
    assert!(matches!(
        s.effects[0],
        Effect::Changed {
            expected: true,
            pid: Some(Pid(5)),
            ..
        }
    ));

    // unexpected exit: restarted at once (no 1-second tick)
    let mut h = Harness::new(settings());
    h.running(5);
    let s = h.ev(exited(5, WaitStatus::exited(3)));
    assert_eq!(changes(&s), vec![(Running, Exited), (Exited, Starting)]);
    assert!(has(&s, &Effect::Spawn));
    assert_eq!(
        h.m.snapshot().restarts.get(RestartReason::Crash),
        1,
        "an automatic restart after a crash is counted"
    );
    assert!(matches!(
        s.effects[0],
        Effect::Changed {
            expected: false,
            ..
        }
    ));

    // autorestart=true restarts even an expected exit; =false never restarts
    for (policy, restarts) in [(AutoRestart::Always, true), (AutoRestart::Never, false)] {
        let mut h = Harness::new(Settings {
            autorestart: policy,
            ..settings()
        });
        h.running(5);
        let s = h.ev(exited(5, WaitStatus::exited(0)));
        assert_eq!(has(&s, &Effect::Spawn), restarts, "{policy:?}");
        // An expected exit restarted by autorestart=true is not a crash.
        assert_eq!(
            h.m.snapshot().restarts.get(RestartReason::Crash),
            0,
            "{policy:?}"
        );
    }
}

#[test]
fn exit_in_starting_after_startsecs_counts_as_running() {
    let mut h = Harness::new(settings());
    h.spawned(9);
    h.clock.advance_ms(1500); // the deadline passed but Tick was not handled yet
    let s = h.ev(exited(9, WaitStatus::exited(0)));
    assert_eq!(changes(&s), vec![(Starting, Running), (Running, Exited)]);
}

#[test]
fn stop_escalates_to_sigkill_after_stopwaitsecs() {
    let mut s = settings();
    s.stop.stopasgroup = true;
    s.stop.killasgroup = true;
    let mut h = Harness::new(s);
    h.running(42);
    let s = h.ev(Event::Stop);
    assert_eq!(s.reply, Some(Reply::Ok));
    assert_eq!(changes(&s), vec![(Running, Stopping)]);
    assert!(has(
        &s,
        &Effect::Kill {
            pid: Pid(42),
            sig: TERM,
            group: true
        }
    ));
    let stop_at = h.clock.now().mono;
    assert_eq!(h.m.next_deadline(), Some(stop_at + Duration::from_secs(10)));

    let s = h.tick_to_deadline();
    assert!(has(
        &s,
        &Effect::Kill {
            pid: Pid(42),
            sig: KILL,
            group: true
        }
    ));
    assert_eq!(logs(&s), vec!["killing 'web' (42) with SIGKILL"]);
    assert_eq!(h.m.next_deadline(), None);

    let s = h.ev(exited(42, WaitStatus::signaled(9)));
    assert_eq!(changes(&s), vec![(Stopping, Stopped)]);
    assert_eq!(logs(&s), vec!["stopped: web (terminated by SIGKILL)"]);
    assert!(
        s.effects
            .iter()
            .any(|e| matches!(e, Effect::Log(Level::Warn, m) if m.starts_with("stopped:"))),
        "an unexpected exit status on stop is a warning, as in supervisord"
    );
}

#[test]
fn stop_and_start_refusals() {
    let mut h = Harness::new(settings());
    assert_eq!(h.ev(Event::Stop).reply, Some(Reply::NotRunning));
    assert_eq!(
        h.ev(Event::Signal(Signal::HUP)).reply,
        Some(Reply::NotRunning)
    );
    h.running(3);
    assert_eq!(h.ev(Event::Start).reply, Some(Reply::AlreadyStarted));
    let s = h.ev(Event::Signal(Signal::HUP));
    assert_eq!(s.reply, Some(Reply::Ok));
    assert!(has(
        &s,
        &Effect::SendSignal {
            pid: Pid(3),
            sig: Signal::HUP
        }
    ));
    h.ev(Event::Stop);
    assert_eq!(
        h.ev(Event::Stop).reply,
        Some(Reply::NotRunning),
        "already stopping"
    );
    let s = h.ev(Event::Start);
    assert_eq!(s.reply, Some(Reply::Ok));
    assert_eq!(logs(&s), vec!["process 'web' already running"]);
}

#[test]
fn stop_in_backoff_is_immediate() {
    let mut h = Harness::new(settings());
    h.spawned(1);
    h.ev(exited(1, WaitStatus::exited(1)));
    assert_eq!(h.m.state(), Backoff);
    let s = h.ev(Event::Stop);
    assert_eq!(s.reply, Some(Reply::Ok));
    assert_eq!(changes(&s), vec![(Backoff, Stopped)]);
    assert_eq!(h.m.next_deadline(), None);
}

#[test]
fn leftovers_delay_the_restart_until_they_are_gone() {
    let mut h = Harness::new(Settings {
        autorestart: AutoRestart::Always,
        ..settings()
    });
    h.running(10);
    h.clock.advance_ms(5000);
    let s = h.ev(exited_with_leftovers(10, WaitStatus::exited(1)));
    assert_eq!(changes(&s), vec![(Running, Exited), (Exited, Starting)]);
    assert!(has(
        &s,
        &Effect::SignalLeftovers {
            of: Pid(10),
            sig: TERM
        }
    ));
    assert!(
        !has(&s, &Effect::Spawn),
        "no spawn while the old tree is alive"
    );
    assert_eq!(h.m.pid(), None);
    let kill_at = h.clock.now().mono + Duration::from_secs(10);
    assert_eq!(h.m.next_deadline(), Some(kill_at));

    // they ignore the stop signal: SIGKILL after stopwaitsecs
    let s = h.tick_to_deadline();
    assert!(has(
        &s,
        &Effect::SignalLeftovers {
            of: Pid(10),
            sig: KILL
        }
    ));

    let s = h.ev(Event::LeftoversGone { of: Pid(10) });
    assert!(has(&s, &Effect::Spawn));
    assert!(changes(&s).is_empty(), "already STARTING");
    h.ev(Event::Spawned { pid: Pid(11) });
    assert_eq!(h.m.pid(), Some(Pid(11)));
}

#[test]
fn stop_completes_only_when_leftovers_are_gone() {
    let mut h = Harness::new(settings());
    h.running(20);
    h.ev(Event::Stop);
    let s = h.ev(exited_with_leftovers(20, WaitStatus::signaled(TERM.0)));
    assert!(changes(&s).is_empty(), "still STOPPING");
    assert!(has(
        &s,
        &Effect::SignalLeftovers {
            of: Pid(20),
            sig: TERM
        }
    ));
    assert_eq!(h.m.state(), Stopping);
    assert_eq!(h.m.pid(), None);
    assert_eq!(h.ev(Event::Stop).reply, Some(Reply::NotRunning));
    // the signal request now fails as supervisord's does for a pid-less process
    assert!(matches!(
        h.ev(Event::Signal(Signal::HUP)).reply,
        Some(Reply::Failed(_))
    ));

    let s = h.ev(Event::LeftoversGone { of: Pid(20) });
    assert_eq!(changes(&s), vec![(Stopping, Stopped)]);
    assert_eq!(logs(&s), vec!["stopped: web (terminated by SIGTERM)"]);
    assert!(matches!(
        s.effects[0],
        Effect::Changed {
            pid: Some(Pid(20)),
            ..
        }
    ));
}

#[test]
fn leftovers_after_sigkill_get_sigkill_at_once() {
    let mut h = Harness::new(settings());
    h.running(20);
    h.ev(Event::Stop);
    h.tick_to_deadline(); // SIGKILL to the main process
    let s = h.ev(exited_with_leftovers(20, WaitStatus::signaled(9)));
    assert!(has(
        &s,
        &Effect::SignalLeftovers {
            of: Pid(20),
            sig: KILL
        }
    ));
}

#[test]
fn leftovers_are_ignored_when_stopdescendants_is_off() {
    let mut h = Harness::new(Settings {
        stopdescendants: false,
        ..settings()
    });
    h.running(20);
    h.ev(Event::Stop);
    let s = h.ev(exited_with_leftovers(20, WaitStatus::signaled(TERM.0)));
    assert_eq!(changes(&s), vec![(Stopping, Stopped)]);
    assert!(
        !s.effects
            .iter()
            .any(|e| matches!(e, Effect::SignalLeftovers { .. }))
    );
}

#[test]
fn start_while_leftovers_linger_waits_then_spawns() {
    let mut h = Harness::new(Settings {
        autorestart: AutoRestart::Never,
        ..settings()
    });
    h.running(30);
    h.ev(exited_with_leftovers(30, WaitStatus::exited(0)));
    assert_eq!(h.m.state(), Exited);
    let s = h.ev(Event::Start);
    assert_eq!(s.reply, Some(Reply::Ok));
    assert_eq!(changes(&s), vec![(Exited, Starting)]);
    assert!(!has(&s, &Effect::Spawn));
    // a stop now completes when the leftovers are gone, without ever spawning
    let s = h.ev(Event::Stop);
    assert_eq!(changes(&s), vec![(Starting, Stopping)]);
    let s = h.ev(Event::LeftoversGone { of: Pid(30) });
    assert_eq!(changes(&s), vec![(Stopping, Stopped)]);
    assert!(!has(&s, &Effect::Spawn));
}

#[test]
fn readiness_probe_decides_running() {
    let mut h = Harness::new(Settings {
        ready: probe("tcp://127.0.0.1:8000"),
        readiness_timeout: 5,
        ..settings()
    });
    let s = h.spawned(50);
    assert!(has(&s, &Effect::StartProbe { pid: Pid(50) }));
    h.clock.advance_ms(3000); // startsecs alone is not enough here
    assert!(changes(&h.ev(Event::Tick)).is_empty());
    let s = h.ev(Event::Ready { pid: Pid(50) });
    assert_eq!(changes(&s), vec![(Starting, Running)]);
    assert_eq!(
        logs(&s),
        vec!["success: web entered RUNNING state, process is ready (tcp://127.0.0.1:8000)"]
    );
}

#[test]
fn ready_early_still_waits_for_startsecs() {
    // A server that says READY=1 and then dies at once (Gunicorn whose workers fail to
    // boot) must not count as started.
    let mut h = Harness::new(Settings {
        ready: probe("notify"),
        startsecs: 1,
        ..settings()
    });
    h.spawned(51);
    h.clock.advance_ms(200);
    assert!(changes(&h.ev(Event::Ready { pid: Pid(51) })).is_empty());
    assert_eq!(h.m.next_deadline(), Some(h.clock.at(1000)));
    let s = h.tick_to_deadline();
    assert_eq!(changes(&s), vec![(Starting, Running)]);

    let mut h = Harness::new(Settings {
        ready: probe("notify"),
        startsecs: 1,
        ..settings()
    });
    h.spawned(52);
    h.ev(Event::Ready { pid: Pid(52) });
    h.clock.advance_ms(500);
    let s = h.ev(exited(52, WaitStatus::exited(3)));
    assert_eq!(changes(&s), vec![(Starting, Backoff)]);
}

#[test]
fn not_ready_in_time_is_a_failed_start() {
    let mut h = Harness::new(Settings {
        ready: probe("notify"),
        readiness_timeout: 5,
        ..settings()
    });
    h.spawned(60);
    let s = h.tick_to_deadline();
    assert_eq!(changes(&s), vec![(Starting, Stopping)]);
    assert!(has(&s, &Effect::CancelProbe { pid: Pid(60) }));
    assert!(has(
        &s,
        &Effect::Kill {
            pid: Pid(60),
            sig: TERM,
            group: false
        }
    ));
    let s = h.ev(exited(60, WaitStatus::signaled(TERM.0)));
    assert_eq!(changes(&s), vec![(Stopping, Backoff)]);
    assert_eq!(
        h.m.snapshot().spawnerr.as_deref(),
        Some("not ready after 5 seconds (readiness_timeout)")
    );
    // and it is retried like any failed start
    let s = h.tick_to_deadline();
    assert!(has(&s, &Effect::Spawn));
}

#[test]
fn probe_process_exiting_before_ready_backs_off() {
    let mut h = Harness::new(Settings {
        ready: probe("notify"),
        ..settings()
    });
    h.spawned(61);
    h.clock.advance_ms(30_000);
    let s = h.ev(exited(61, WaitStatus::exited(0)));
    assert_eq!(changes(&s), vec![(Starting, Backoff)]);
}

#[test]
fn shutdown_freezes_restarts_and_gives_up_backoff() {
    let mut h = Harness::new(Settings {
        autorestart: AutoRestart::Always,
        ..settings()
    });
    h.running(70);
    h.ev(Event::DaemonStopping);
    let s = h.ev(exited(70, WaitStatus::exited(1)));
    assert_eq!(changes(&s), vec![(Running, Exited)]);
    assert!(
        !has(&s, &Effect::Spawn),
        "no restarts while the daemon stops"
    );

    let mut h = Harness::new(settings());
    h.spawned(1);
    h.ev(exited(1, WaitStatus::exited(1)));
    let s = h.ev(Event::ShutdownStop);
    assert_eq!(changes(&s), vec![(Backoff, Fatal)]);

    let mut h = Harness::new(settings());
    h.running(80);
    let s = h.ev(Event::ShutdownStop);
    assert_eq!(changes(&s), vec![(Running, Stopping)]);
}

#[test]
fn kill_failure_is_unknown() {
    let mut h = Harness::new(settings());
    h.running(90);
    h.ev(Event::Stop);
    let s = h.ev(Event::KillFailed {
        pid: Pid(90),
        error: "EPERM".into(),
    });
    assert_eq!(changes(&s), vec![(Stopping, Unknown)]);
    assert_eq!(h.ev(Event::Start).reply, Some(Reply::InUnknownState));
}

#[test]
fn stale_exit_reports_are_ignored() {
    let mut h = Harness::new(settings());
    h.running(100);
    let s = h.ev(exited(99, WaitStatus::exited(1)));
    assert!(s.effects.is_empty());
    assert_eq!(h.m.state(), Running);
}

#[test]
fn events_carry_supervisord_payload_values() {
    let mut h = Harness::new(settings());
    let s = h.ev(Event::Start);
    assert!(matches!(
        s.effects[0],
        Effect::Changed {
            to: Starting,
            tries: 0,
            pid: None,
            ..
        }
    ));
    h.ev(Event::Spawned { pid: Pid(5) });
    let s = h.tick_to_deadline();
    assert!(matches!(
        s.effects[0],
        Effect::Changed {
            to: Running,
            pid: Some(Pid(5)),
            ..
        }
    ));
    let s = h.ev(Event::Stop);
    assert!(matches!(
        s.effects[1],
        Effect::Changed {
            to: Stopping,
            pid: Some(Pid(5)),
            ..
        }
    ));
}

#[test]
fn transition_counters_tell_a_late_waiter_what_happened() {
    let mut h = Harness::new(settings());
    assert_eq!(h.m.snapshot().entered_running, 0);
    h.running(5);
    assert_eq!(h.m.snapshot().entered_running, 1);
    h.ev(Event::Stop);
    h.ev(exited(5, WaitStatus::signaled(TERM.0)));
    // Someone starts it again before a stop waiter looked: STOPPED is no longer the
    // state, but the counter says it was reached.
    h.spawned(6);
    let snap = h.m.snapshot();
    assert_eq!(snap.state, Starting);
    assert_eq!(snap.entered_stopped, 1);
    // a crash loop into BACKOFF and FATAL counts FATAL once
    h.ev(exited(6, WaitStatus::exited(1)));
    assert_eq!(h.m.snapshot().entered_stopped, 1, "BACKOFF is not stopped");
}
