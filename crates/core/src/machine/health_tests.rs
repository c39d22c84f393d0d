//! Liveness, event by event: health checks, the watchdog, recycling (memory, lifetime,
//! the recycle token), backoff without limits, restart reasons.

use std::time::Duration;

use super::tests::*;
use super::*;
use crate::state::ProcessState::*;

const TCP: &str = "tcp://127.0.0.1:8000";

fn health(interval_ms: u64, timeout_ms: u64, retries: u32, start_period_ms: u64) -> Settings {
    let mut s = settings();
    s.liveness.health = Some(HealthRule {
        label: TCP.into(),
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(timeout_ms),
        retries,
        start_period: Duration::from_millis(start_period_ms),
    });
    s
}

fn run_check(pid: i32) -> Effect {
    Effect::RunHealthCheck { pid: Pid(pid) }
}

fn result(pid: i32, ok: bool, text: &str) -> Event {
    Event::HealthResult {
        pid: Pid(pid),
        ok,
        text: text.into(),
    }
}

fn health_effects(step: &Step) -> Vec<(bool, String)> {
    step.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Health { healthy, text, .. } => Some((*healthy, text.clone())),
            _ => None,
        })
        .collect()
}

/// Run the check that is due and answer it.
fn check(h: &mut Harness, pid: i32, ok: bool, text: &str) -> Step {
    let s = h.tick_to_deadline();
    assert!(has(&s, &run_check(pid)), "{s:?}");
    h.ev(result(pid, ok, text))
}

fn note(h: &Harness) -> Option<String> {
    h.m.snapshot().health.note
}

#[test]
fn no_option_no_timer_while_running() {
    let mut h = Harness::new(settings());
    h.running(10);
    assert_eq!(h.m.next_deadline(), None);
    let snap = h.m.snapshot();
    assert_eq!(snap.health, HealthView::default());
    assert_eq!(snap.restarts, RestartCounts::default());
    assert_eq!(snap.next_attempt, None);
}

#[test]
fn checks_start_after_running_and_follow_the_interval_from_the_end_of_each() {
    let mut h = Harness::new(health(2000, 500, 3, 0));
    h.running(10); // RUNNING at 1 s
    assert_eq!(h.m.next_deadline(), Some(h.clock.at(3000)), "first check");
    let s = h.tick_to_deadline();
    assert_eq!(s.effects, vec![run_check(10)]);
    assert_eq!(
        h.m.next_deadline(),
        Some(h.clock.at(3500)),
        "the check's timeout"
    );
    h.clock.advance_ms(200);
    let s = h.ev(result(10, true, "tcp://127.0.0.1:8000: connected"));
    assert_eq!(
        health_effects(&s),
        vec![(
            true,
            "health check passed: tcp://127.0.0.1:8000: connected".to_string()
        )]
    );
    let snap = h.m.snapshot();
    assert_eq!(snap.health.state, HealthState::Healthy);
    assert_eq!(snap.health.last_check, Some(h.clock.now().wall));
    assert_eq!(snap.health.last_result, "tcp://127.0.0.1:8000: connected");
    assert_eq!(
        h.m.next_deadline(),
        Some(h.clock.at(5200)),
        "end + interval"
    );
    // Staying healthy says nothing new.
    let s = check(&mut h, 10, true, "tcp://127.0.0.1:8000: connected");
    assert!(health_effects(&s).is_empty());
    assert!(logs(&s).is_empty());
}

#[test]
fn retries_failures_in_a_row_restart_the_process_stop_then_start() {
    let mut h = Harness::new(health(1000, 500, 3, 0));
    h.running(10);
    let s = check(
        &mut h,
        10,
        false,
        "tcp://127.0.0.1:8000: connection refused",
    );
    assert_eq!(
        logs(&s),
        vec!["web: health check failed (1 of 3): tcp://127.0.0.1:8000: connection refused"]
    );
    // A success in between starts the count again.
    check(&mut h, 10, true, "tcp://127.0.0.1:8000: connected");
    check(
        &mut h,
        10,
        false,
        "tcp://127.0.0.1:8000: connection refused",
    );
    let s = check(
        &mut h,
        10,
        false,
        "tcp://127.0.0.1:8000: connection refused",
    );
    assert_eq!(h.m.snapshot().health.failures, 2);
    assert!(changes(&s).is_empty());
    let s = check(
        &mut h,
        10,
        false,
        "tcp://127.0.0.1:8000: connection refused",
    );
    let why = "unhealthy: tcp://127.0.0.1:8000: connection refused (3 in a row)";
    assert_eq!(health_effects(&s), vec![(false, why.to_string())]);
    assert_eq!(
        logs(&s),
        vec![format!("web (pid 10) is {why}; restarting it")]
    );
    assert_eq!(changes(&s), vec![(Running, Stopping)]);
    assert!(has(
        &s,
        &Effect::Kill {
            pid: Pid(10),
            sig: TERM,
            group: false
        }
    ));
    assert_eq!(h.m.snapshot().restarts.health, 1);
    assert_eq!(note(&h).as_deref(), Some(why));

    // The stop completes, then a start.
    let s = h.ev(exited(10, WaitStatus::signaled(TERM.0)));
    assert_eq!(changes(&s), vec![(Stopping, Stopped), (Stopped, Starting)]);
    assert!(has(&s, &Effect::Spawn));
    assert_eq!(
        logs(&s),
        vec!["stopped: web (terminated by SIGTERM)".to_string()]
    );
    h.ev(Event::Spawned { pid: Pid(11) });
    h.tick_to_deadline();
    assert_eq!(h.m.state(), Running);
    let snap = h.m.snapshot();
    assert_eq!(snap.health.state, HealthState::Unknown, "a new process");
    assert_eq!(snap.health.failures, 0);
    assert_eq!(
        note(&h).as_deref(),
        Some(why),
        "the reason stays until a check succeeds"
    );
    let s = check(&mut h, 11, true, "tcp://127.0.0.1:8000: connected");
    assert_eq!(health_effects(&s).len(), 1);
    assert_eq!(
        logs(&s),
        vec!["web is healthy: health check passed: tcp://127.0.0.1:8000: connected"]
    );
    assert_eq!(note(&h), None);
}

#[test]
fn a_check_that_does_not_answer_in_time_fails_and_its_late_answer_is_ignored() {
    let mut h = Harness::new(health(1000, 5000, 2, 0));
    h.running(10);
    h.tick_to_deadline(); // the check starts
    let s = h.tick_to_deadline(); // 5 s later
    assert!(has(&s, &Effect::CancelHealthCheck { pid: Pid(10) }));
    assert_eq!(
        logs(&s),
        vec!["web: health check failed (1 of 2): tcp://127.0.0.1:8000: timed out after 5 s"]
    );
    assert_eq!(
        h.m.snapshot().health.last_result,
        "tcp://127.0.0.1:8000: timed out after 5 s"
    );
    let s = h.ev(result(10, true, "tcp://127.0.0.1:8000: connected"));
    assert!(s.effects.is_empty(), "late: {s:?}");
    assert_eq!(h.m.snapshot().health.state, HealthState::Unknown);
}

#[test]
fn failures_in_the_start_period_do_not_count_but_a_success_does() {
    let mut h = Harness::new(health(1000, 500, 1, 2500));
    h.running(10); // RUNNING at 1 s, start period until 3.5 s
    let s = check(&mut h, 10, false, "refused"); // at 2 s
    assert!(changes(&s).is_empty());
    assert_eq!(h.m.snapshot().health.failures, 0);
    let s = check(&mut h, 10, false, "refused"); // at 3 s
    assert!(changes(&s).is_empty());
    let s = check(&mut h, 10, false, "refused"); // at 4 s: counts, retries=1
    assert_eq!(changes(&s), vec![(Running, Stopping)]);

    let mut h = Harness::new(health(1000, 500, 1, 60_000));
    h.running(10);
    let s = check(&mut h, 10, true, "ok");
    assert_eq!(
        health_effects(&s),
        vec![(true, "health check passed: ok".into())]
    );
}

#[test]
fn no_check_while_not_running_and_a_stop_cancels_the_check_under_way() {
    let mut h = Harness::new(health(1000, 5000, 3, 0));
    h.spawned(10);
    assert_eq!(
        h.m.next_deadline(),
        Some(h.clock.at(1000)),
        "startsecs only"
    );
    h.tick_to_deadline();
    h.tick_to_deadline(); // a check runs
    let s = h.ev(Event::Stop);
    assert!(has(&s, &Effect::CancelHealthCheck { pid: Pid(10) }));
    h.ev(exited(10, WaitStatus::signaled(TERM.0)));
    assert_eq!(h.m.state(), Stopped);
    assert_eq!(h.m.next_deadline(), None);
}

#[test]
fn on_corral_sockets_an_unhealthy_process_is_replaced_and_checks_pause_meanwhile() {
    let mut h = Harness::new(Settings {
        rolling_restart: true,
        ..health(1000, 500, 1, 0)
    });
    h.running(10);
    let s = check(&mut h, 10, false, "refused");
    assert!(changes(&s).is_empty(), "still RUNNING: the old one serves");
    assert!(has(&s, &Effect::SpawnCandidate));
    assert_eq!(h.m.snapshot().restarts.health, 1);
    h.ev(Event::CandidateSpawned { pid: Pid(11) });
    // Only the candidate's startsecs is a deadline: the old one is not checked.
    assert_eq!(
        h.m.next_deadline(),
        Some(h.clock.now().mono + Duration::from_secs(1))
    );
    let s = h.tick_to_deadline();
    assert!(has(
        &s,
        &Effect::Promote {
            old: Pid(10),
            new: Pid(11)
        }
    ));
    assert_eq!(h.m.pid(), Some(Pid(11)));
    let s = h.ev(exited(10, WaitStatus::signaled(TERM.0)));
    assert!(has(
        &s,
        &Effect::ReplaceDone {
            ticket: None,
            result: Ok(Replaced {
                old_pid: Pid(10),
                new_pid: Pid(11)
            })
        }
    ));
    assert!(logs(&s).is_empty() || !logs(&s).iter().any(|l| l.contains("did not")));
    // The new process is checked from now on.
    let s = check(&mut h, 11, true, "ok");
    assert_eq!(health_effects(&s).len(), 1);
    assert_eq!(h.m.snapshot().restarts.manual, 0);
}

#[test]
fn a_failed_replacement_leaves_the_old_process_checked_again() {
    let mut h = Harness::new(Settings {
        rolling_restart: true,
        ..health(1000, 500, 1, 0)
    });
    h.running(10);
    check(&mut h, 10, false, "refused");
    let s = h.ev(Event::CandidateSpawnFailed {
        error: "fork failed".into(),
    });
    assert!(
        logs(&s)
            .iter()
            .any(|l| l == "restart of web (health) did not complete"),
        "{s:?}"
    );
    let s = check(&mut h, 10, false, "refused");
    assert!(has(&s, &Effect::SpawnCandidate), "it tries again");
    assert_eq!(h.m.snapshot().restarts.health, 2);
}

#[test]
fn an_administrative_stop_during_a_health_restart_wins() {
    let mut h = Harness::new(health(1000, 500, 1, 0));
    h.running(10);
    check(&mut h, 10, false, "refused");
    assert_eq!(h.m.state(), Stopping);
    let s = h.ev(Event::Stop);
    assert_eq!(s.reply, Some(Reply::Ok));
    let s = h.ev(exited(10, WaitStatus::signaled(TERM.0)));
    assert_eq!(changes(&s), vec![(Stopping, Stopped)]);
    assert!(!has(&s, &Effect::Spawn));
    assert_eq!(note(&h), None);

    // And a shutdown: no start after the stop.
    let mut h = Harness::new(health(1000, 500, 1, 0));
    h.running(10);
    check(&mut h, 10, false, "refused");
    h.ev(Event::ShutdownStop);
    let s = h.ev(exited(10, WaitStatus::signaled(TERM.0)));
    assert_eq!(changes(&s), vec![(Stopping, Stopped)]);
    assert!(!has(&s, &Effect::Spawn));
}

/// `backoff_max` of `secs` on `base`.
fn backoff_max(secs: u64, base: Settings) -> Settings {
    let mut s = base;
    s.liveness.backoff_max = Some(Duration::from_secs(secs));
    s
}

fn watchdog(ms: u64) -> Settings {
    let mut s = settings();
    s.liveness.watchdog = Some(Duration::from_millis(ms));
    s
}

#[test]
fn watchdog_pings_keep_a_process_alive_and_silence_restarts_it() {
    let mut h = Harness::new(watchdog(3000));
    h.ev(Event::Start);
    h.ev(Event::Spawned { pid: Pid(10) });
    // Pings before RUNNING are ignored; the watchdog starts at RUNNING.
    assert!(
        h.ev(Event::WatchdogPing { pid: Pid(10) })
            .effects
            .is_empty()
    );
    h.tick_to_deadline();
    assert_eq!(h.m.next_deadline(), Some(h.clock.at(4000)));
    h.clock.advance_ms(2000);
    let s = h.ev(Event::WatchdogPing { pid: Pid(10) });
    assert_eq!(
        health_effects(&s),
        vec![(true, "watchdog: WATCHDOG=1 received".into())]
    );
    assert_eq!(h.m.next_deadline(), Some(h.clock.at(6000)));
    h.clock.advance_ms(2000);
    assert!(
        h.ev(Event::WatchdogPing { pid: Pid(99) })
            .effects
            .is_empty()
    );
    assert!(
        h.ev(Event::WatchdogPing { pid: Pid(10) })
            .effects
            .is_empty()
    );
    let s = h.tick_to_deadline();
    let why = "unhealthy: watchdog: no WATCHDOG=1 for 3 s";
    assert_eq!(health_effects(&s), vec![(false, why.into())]);
    assert_eq!(changes(&s), vec![(Running, Stopping)]);
    assert_eq!(h.m.snapshot().restarts.watchdog, 1);
    assert_eq!(note(&h).as_deref(), Some(why));
}

#[test]
fn watchdog_trigger_restarts_at_once_only_with_watchdogsecs() {
    let mut h = Harness::new(watchdog(3000));
    h.running(10);
    let s = h.ev(Event::WatchdogTrigger { pid: Pid(10) });
    assert_eq!(changes(&s), vec![(Running, Stopping)]);
    assert_eq!(
        note(&h).as_deref(),
        Some("unhealthy: watchdog: the process sent WATCHDOG=trigger")
    );

    let mut h = Harness::new(settings());
    h.running(10);
    assert!(
        h.ev(Event::WatchdogTrigger { pid: Pid(10) })
            .effects
            .is_empty()
    );
}

fn max_memory(bytes: u64) -> Settings {
    let mut s = settings();
    s.liveness.max_memory = Some(bytes);
    s
}

#[test]
fn memory_is_sampled_on_a_cadence_and_too_much_asks_for_the_recycle_token() {
    let mut h = Harness::new(max_memory(100 << 20));
    h.running(10);
    assert_eq!(
        h.m.next_deadline(),
        Some(h.clock.at(1000) + MEMORY_SAMPLE_EVERY)
    );
    let s = h.tick_to_deadline();
    assert_eq!(s.effects, vec![Effect::SampleMemory { pid: Pid(10) }]);
    let s = h.ev(Event::MemorySample {
        pid: Pid(10),
        rss: 50 << 20,
    });
    assert!(!has(&s, &Effect::RequestRecycle));
    assert_eq!(
        h.m.next_deadline(),
        Some(h.clock.now().mono + MEMORY_SAMPLE_EVERY)
    );
    h.tick_to_deadline();
    let s = h.ev(Event::MemorySample {
        pid: Pid(10),
        rss: 150 << 20,
    });
    assert!(has(&s, &Effect::RequestRecycle));
    assert!(changes(&s).is_empty(), "waits for its turn");
    // Asked once, however long the turn takes.
    h.tick_to_deadline();
    let s = h.ev(Event::MemorySample {
        pid: Pid(10),
        rss: 160 << 20,
    });
    assert!(!has(&s, &Effect::RequestRecycle));

    let s = h.ev(Event::RecycleGranted);
    let text = "memory 150.0 MB > max_memory 100.0 MB";
    assert!(has(
        &s,
        &Effect::Recycled {
            pid: Pid(10),
            reason: RestartReason::Memory,
            text: text.into()
        }
    ));
    assert!(logs(&s).contains(&format!("recycling web (pid 10): {text}")));
    assert_eq!(changes(&s), vec![(Running, Stopping)]);
    assert_eq!(
        note(&h).as_deref(),
        Some("recycling: memory 150.0 MB > max_memory 100.0 MB")
    );
    assert!(!has(&s, &Effect::ReleaseRecycle), "held until it is back");
    let s = h.ev(exited(10, WaitStatus::signaled(TERM.0)));
    assert!(!has(&s, &Effect::ReleaseRecycle));
    h.ev(Event::Spawned { pid: Pid(11) });
    let s = h.tick_to_deadline();
    assert_eq!(changes(&s), vec![(Starting, Running)]);
    assert!(has(&s, &Effect::ReleaseRecycle));
    assert!(logs(&s).contains(&"restart of web (memory) done".to_string()));
    assert_eq!(h.m.snapshot().restarts.memory, 1);
    assert_eq!(note(&h), None);
}

fn lifetime(secs: u64, jitter: u64) -> Settings {
    let mut s = settings();
    s.liveness.max_lifetime = Some(Duration::from_secs(secs));
    s.liveness.lifetime_jitter = Duration::from_secs(jitter);
    s
}

#[test]
fn lifetime_with_jitter_is_spread_over_a_pool() {
    let mut deadlines = Vec::new();
    for (i, pid) in [(0, 100), (1, 101), (2, 102), (3, 103)] {
        let mut h = Harness::new(Settings {
            name: format!("web:web_{i}").into(),
            ..lifetime(3600, 600)
        });
        h.running(pid);
        let d = h.m.next_deadline().unwrap() - h.clock.at(1000);
        assert!(
            d >= Duration::from_secs(3600) && d < Duration::from_secs(4200),
            "{d:?}"
        );
        deadlines.push(d);
    }
    deadlines.sort();
    deadlines.dedup();
    assert_eq!(deadlines.len(), 4, "each its own share: {deadlines:?}");
    for w in deadlines.windows(2) {
        assert!(w[1] - w[0] > Duration::from_secs(1), "{deadlines:?}");
    }
}

#[test]
fn lifetime_reached_asks_for_the_token_and_a_grant_that_comes_too_late_is_given_back() {
    let mut h = Harness::new(lifetime(60, 0));
    h.running(10);
    let s = h.tick_to_deadline();
    assert!(has(&s, &Effect::RequestRecycle));
    assert_eq!(h.m.next_deadline(), None, "nothing else to wait for");
    // It crashes while it waits: it stops waiting.
    let s = h.ev(exited(10, WaitStatus::exited(1)));
    assert!(has(&s, &Effect::ReleaseRecycle));
    assert!(has(&s, &Effect::Spawn));
    assert_eq!(h.m.snapshot().restarts.crash, 1);
    // A grant it no longer wants goes back at once.
    let s = h.ev(Event::RecycleGranted);
    assert_eq!(s.effects, vec![Effect::ReleaseRecycle]);
}

#[test]
fn recycling_on_corral_sockets_replaces_and_gives_the_token_back_when_done() {
    let mut h = Harness::new(Settings {
        rolling_restart: true,
        ..lifetime(60, 0)
    });
    h.running(10);
    h.tick_to_deadline();
    let s = h.ev(Event::RecycleGranted);
    assert!(has(&s, &Effect::SpawnCandidate));
    h.ev(Event::CandidateSpawned { pid: Pid(11) });
    let s = h.tick_to_deadline();
    assert!(
        !has(&s, &Effect::ReleaseRecycle),
        "until the old one is gone"
    );
    let s = h.ev(exited(10, WaitStatus::signaled(TERM.0)));
    assert!(has(&s, &Effect::ReleaseRecycle));
    assert_eq!(h.m.snapshot().restarts.lifetime, 1);
    // The new process has its own lifetime.
    assert_eq!(
        h.m.next_deadline(),
        Some(h.clock.at(62_000) + Duration::from_secs(60))
    );
}

#[test]
fn backoff_max_caps_the_delay_and_infinite_retries_never_give_up() {
    let mut h = Harness::new(backoff_max(
        2,
        Settings {
            startretries: corral_config::STARTRETRIES_INFINITE,
            ..settings()
        },
    ));
    h.ev(Event::Start);
    for attempt in 1..=20i32 {
        h.ev(Event::Spawned { pid: Pid(attempt) });
        h.clock.advance_ms(100);
        h.ev(exited(attempt, WaitStatus::exited(1)));
        assert_eq!(h.m.state(), Backoff);
        let delay = if attempt == 1 { 1 } else { 2 };
        let due = h.clock.now().mono + Duration::from_secs(delay);
        assert_eq!(h.m.next_deadline(), Some(due), "attempt {attempt}");
        assert_eq!(
            h.m.snapshot().next_attempt,
            Some(h.clock.now().wall + delay as f64)
        );
        let s = h.tick_to_deadline();
        assert_eq!(changes(&s), vec![(Backoff, Starting)]);
    }
    h.ev(Event::Spawned { pid: Pid(99) });
    h.tick_to_deadline();
    assert_eq!(h.m.state(), Running);
    assert_eq!(h.m.snapshot().next_attempt, None);
}

#[test]
fn infinite_retries_alone_grow_by_a_second_as_supervisord() {
    let mut h = Harness::new(Settings {
        startretries: corral_config::STARTRETRIES_INFINITE,
        ..settings()
    });
    h.ev(Event::Start);
    for attempt in 1..=6i32 {
        h.ev(Event::SpawnFailed {
            error: "nope".into(),
        });
        let due = h.clock.now().mono + Duration::from_secs(attempt as u64);
        assert_eq!(h.m.next_deadline(), Some(due));
        h.tick_to_deadline();
    }
    assert_eq!(h.m.state(), Starting);
    // Without corral's options, BACKOFF says nothing of the next attempt (supervisord's
    // description).
    let mut h = Harness::new(settings());
    h.ev(Event::Start);
    h.ev(Event::SpawnFailed {
        error: "nope".into(),
    });
    assert_eq!(h.m.state(), Backoff);
    assert_eq!(h.m.snapshot().next_attempt, None);
}

#[test]
fn with_backoff_max_crashes_after_running_back_off_doubling_and_reset_after_60_s() {
    let mut h = Harness::new(backoff_max(
        5,
        Settings {
            autorestart: AutoRestart::Always,
            ..settings()
        },
    ));
    h.running(1);
    // The first crash restarts at once, as supervisord does.
    let s = h.ev(exited(1, WaitStatus::exited(1)));
    assert_eq!(changes(&s), vec![(Running, Exited), (Exited, Starting)]);
    let mut pid = 2;
    for expected in [1u64, 2, 4, 5, 5] {
        h.ev(Event::Spawned { pid: Pid(pid) });
        h.tick_to_deadline();
        assert_eq!(h.m.state(), Running);
        h.clock.advance_ms(500);
        let s = h.ev(exited(pid, WaitStatus::exited(1)));
        assert_eq!(changes(&s), vec![(Running, Exited)], "waits {expected} s");
        assert!(!has(&s, &Effect::Spawn));
        let due = h.clock.now().mono + Duration::from_secs(expected);
        assert_eq!(h.m.next_deadline(), Some(due));
        assert_eq!(
            h.m.snapshot().next_attempt,
            Some(h.clock.now().wall + expected as f64)
        );
        let s = h.tick_to_deadline();
        assert_eq!(changes(&s), vec![(Exited, Starting)]);
        pid += 1;
    }
    assert_eq!(h.m.snapshot().restarts.crash, 6);
    // RUNNING for a minute: the next crash restarts at once again.
    h.ev(Event::Spawned { pid: Pid(pid) });
    h.tick_to_deadline();
    h.clock.advance_ms(60_000);
    let s = h.ev(exited(pid, WaitStatus::exited(1)));
    assert!(has(&s, &Effect::Spawn));
    // A stop while it waits keeps it down.
    h.ev(Event::Spawned { pid: Pid(50) });
    h.tick_to_deadline();
    h.ev(exited(50, WaitStatus::exited(1)));
    assert_eq!(h.m.state(), Exited);
    let s = h.ev(Event::Stop);
    assert_eq!(s.reply, Some(Reply::Ok));
    assert_eq!(changes(&s), vec![(Exited, Stopped)]);
    assert_eq!(h.m.next_deadline(), None);
}

#[test]
fn restarts_are_counted_by_reason() {
    let mut h = Harness::new(settings());
    h.ev(Event::Start);
    h.ev(Event::Spawned { pid: Pid(1) });
    h.tick_to_deadline();
    assert_eq!(
        h.m.snapshot().restarts.manual,
        0,
        "a first start is no restart"
    );
    h.ev(Event::Stop);
    h.ev(exited(1, WaitStatus::signaled(TERM.0)));
    h.ev(Event::Start);
    assert_eq!(h.m.snapshot().restarts.manual, 1);
    h.ev(Event::Spawned { pid: Pid(2) });
    h.tick_to_deadline();
    h.ev(Event::Replace {
        settings: None,
        ticket: Some(1),
    });
    assert_eq!(h.m.snapshot().restarts.manual, 2);
    let r = h.m.snapshot().restarts;
    for reason in RestartReason::ALL {
        let n = r.get(reason);
        assert_eq!(
            n,
            if reason == RestartReason::Manual {
                2
            } else {
                0
            },
            "{}",
            reason.name()
        );
    }
}

#[test]
fn other_events_while_running_do_not_restart_the_60_s_count() {
    let mut h = Harness::new(backoff_max(
        5,
        Settings {
            autorestart: AutoRestart::Always,
            ..settings()
        },
    ));
    h.running(1);
    h.ev(exited(1, WaitStatus::exited(1))); // first crash: at once
    h.ev(Event::Spawned { pid: Pid(2) });
    h.tick_to_deadline();
    h.clock.advance_ms(59_000);
    h.ev(Event::Signal(Signal(1)));
    h.clock.advance_ms(1_000);
    let s = h.ev(exited(2, WaitStatus::exited(1)));
    assert!(has(&s, &Effect::Spawn), "a minute RUNNING: at once again");
}
