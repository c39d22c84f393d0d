//! corral's orchestration hooks, event by event: holds (dependencies not met) and the
//! progress of a stop sequence as the API sees it.

use std::time::Duration;

use super::tests::*;
use super::*;
use crate::state::ProcessState::*;

fn hold(note: &str, blocked: bool) -> Event {
    Event::Hold(Some(Hold {
        note: note.into(),
        blocked,
    }))
}

fn spawns(step: &Step) -> bool {
    step.effects.contains(&Effect::Spawn)
}

#[test]
fn a_held_process_does_not_autostart_and_starts_when_released() {
    let mut h = Harness::new(settings());
    assert!(
        h.ev(hold("waiting for db (ready)", false))
            .effects
            .is_empty()
    );
    let s = h.ev(Event::Activate);
    assert!(!spawns(&s));
    assert_eq!(
        logs(&s),
        vec!["web will start when its dependencies allow: waiting for db (ready)"]
    );
    assert_eq!(h.m.state(), Stopped);
    let snap = h.m.snapshot();
    assert_eq!(
        snap.waiting.as_ref().map(|w| w.note.as_str()),
        Some("waiting for db (ready)")
    );
    // The note changes; still waiting, nothing logged again.
    let s = h.ev(hold("blocked: db is FATAL", true));
    assert!(s.effects.is_empty());
    assert!(h.m.snapshot().waiting.unwrap().blocked);
    let s = h.ev(Event::Hold(None));
    assert!(spawns(&s));
    assert_eq!(changes(&s), vec![(Stopped, Starting)]);
    assert_eq!(h.m.snapshot().waiting, None);
}

#[test]
fn a_held_process_that_is_not_autostart_only_waits_when_asked() {
    let mut s = settings();
    s.autostart = false;
    let mut h = Harness::new(s);
    h.ev(hold("waiting for db (ready)", false));
    h.ev(Event::Activate);
    assert_eq!(h.m.snapshot().waiting, None, "nothing wants it started");
    assert!(!spawns(&h.ev(Event::Hold(None))));
    h.ev(hold("waiting for db (ready)", false));
    let s = h.ev(Event::Start);
    assert_eq!(s.reply, Some(Reply::Ok));
    assert!(!spawns(&s));
    assert!(h.m.snapshot().waiting.is_some());
    assert!(spawns(&h.ev(Event::Hold(None))));
}

#[test]
fn stop_cancels_a_deferred_start() {
    let mut h = Harness::new(settings());
    h.ev(hold("waiting for db (ready)", false));
    h.ev(Event::Activate);
    let s = h.ev(Event::Stop);
    assert_eq!(s.reply, Some(Reply::Ok));
    assert_eq!(
        logs(&s),
        vec!["web will not start: stopped while it waited"]
    );
    assert_eq!(h.m.snapshot().waiting, None);
    assert!(!spawns(&h.ev(Event::Hold(None))));
    // Without a deferred start, stopping a stopped process is refused as before.
    assert_eq!(h.ev(Event::Stop).reply, Some(Reply::NotRunning));
}

#[test]
fn autorestart_waits_while_held() {
    let mut s = settings();
    s.autorestart = AutoRestart::Always;
    let mut h = Harness::new(s);
    h.running(10);
    h.ev(hold("waiting for db (ready)", false));
    let s = h.ev(exited(10, WaitStatus::exited(0)));
    assert!(!spawns(&s));
    assert_eq!(h.m.state(), Exited);
    assert!(h.m.snapshot().waiting.is_some());
    let s = h.ev(Event::Hold(None));
    assert!(spawns(&s));
    assert_eq!(changes(&s), vec![(Exited, Starting)]);
}

#[test]
fn a_running_process_is_not_touched_by_a_hold() {
    let mut h = Harness::new(settings());
    h.running(10);
    let s = h.ev(hold("waiting for db (ready)", false));
    assert!(s.effects.is_empty());
    assert_eq!(h.m.state(), Running);
    assert_eq!(h.m.snapshot().waiting, None);
    assert_eq!(h.ev(Event::Start).reply, Some(Reply::AlreadyStarted));
}

#[test]
fn shutdown_forgets_a_deferred_start() {
    let mut h = Harness::new(settings());
    h.ev(hold("waiting for db (ready)", false));
    h.ev(Event::Activate);
    h.ev(Event::ShutdownStop);
    assert_eq!(h.m.snapshot().waiting, None);
    assert!(!spawns(&h.ev(Event::Hold(None))));
    assert_eq!(h.m.state(), Stopped);
}

#[test]
fn a_deferred_start_from_fatal_clears_the_old_error() {
    let mut s = settings();
    s.startretries = 0;
    let mut h = Harness::new(s);
    h.ev(Event::Start);
    h.ev(Event::SpawnFailed {
        error: "bad".into(),
    });
    assert_eq!(h.m.state(), Fatal);
    h.ev(hold("waiting for db (ready)", false));
    assert_eq!(h.ev(Event::Start).reply, Some(Reply::Ok));
    assert_eq!(h.m.state(), Fatal, "no new state while it waits");
    assert_eq!(h.m.snapshot().spawnerr, None);
    assert_eq!(changes(&h.ev(Event::Hold(None))), vec![(Fatal, Starting)]);
}

#[test]
fn the_snapshot_shows_where_a_stop_sequence_is() {
    let mut s = settings();
    s.stop = StopPlan {
        steps: vec![
            StopStep {
                signal: Signal::INT,
                wait: Duration::from_secs(30),
            },
            StopStep {
                signal: Signal::INT,
                wait: Duration::from_secs(5),
            },
        ],
        stopasgroup: false,
        killasgroup: false,
    };
    let mut h = Harness::new(s);
    h.running(10);
    assert_eq!(h.m.snapshot().stop, None);
    let t0 = h.clock.now().wall;
    h.ev(Event::Stop);
    let p = h.m.snapshot().stop.expect("progress");
    assert_eq!(
        (p.signal, p.sent_at, p.step, p.steps),
        (Signal::INT, t0, 1, 2)
    );
    assert_eq!(p.next, Some((Signal::INT, t0 + 30.0)));
    assert_eq!(p.describe(t0 + 2.0), "INT sent 2 s ago, INT in 28 s");
    h.tick_to_deadline();
    let p = h.m.snapshot().stop.expect("progress");
    assert_eq!(p.describe(t0 + 32.0), "INT sent 2 s ago, KILL in 3 s");
    h.tick_to_deadline();
    assert_eq!(
        h.m.snapshot().stop.unwrap().describe(t0 + 36.0),
        "KILL sent 1 s ago"
    );
    h.ev(exited(10, WaitStatus::signaled(9)));
    assert_eq!(h.m.state(), Stopped);
    assert_eq!(h.m.snapshot().stop, None);
}

#[test]
fn settings_from_config_take_the_stop_sequence() {
    let mut p = corral_config_for_tests();
    p.stopsequence = vec![
        corral_config::StopStepConfig {
            signal: 15,
            wait: 20,
        },
        corral_config::StopStepConfig { signal: 2, wait: 5 },
    ];
    let s = Settings::from_config(&p);
    assert_eq!(
        s.stop.steps,
        vec![
            StopStep {
                signal: Signal::TERM,
                wait: Duration::from_secs(20)
            },
            StopStep {
                signal: Signal::INT,
                wait: Duration::from_secs(5)
            }
        ]
    );
    p.stopsequence.clear();
    assert_eq!(Settings::from_config(&p).stop.steps.len(), 1);
}

fn corral_config_for_tests() -> corral_config::ProcessConfig {
    let text = "[supervisord]\n[program:web]\ncommand=/bin/true\n";
    let dir = std::env::temp_dir().join(format!("corral-core-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("s.conf");
    std::fs::write(&path, text).expect("write");
    let loaded = corral_config::load(
        path.to_str().expect("utf-8"),
        &corral_config::host::RealHost,
        &corral_config::Overrides::default(),
    );
    let _ = std::fs::remove_dir_all(&dir);
    let c = loaded.into_result().expect("config");
    c.processes().next().expect("a process").clone()
}
