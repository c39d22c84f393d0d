//! Rolling replacement, event by event, without spawning anything.

use std::time::Duration;

use super::tests::*;
use super::*;
use crate::state::ProcessState::*;

fn replace(h: &mut Harness, ticket: u64) -> Step {
    h.ev(Event::Replace {
        settings: None,
        ticket: Some(ticket),
    })
}

fn done(step: &Step) -> Option<(Option<u64>, Result<Replaced, String>)> {
    step.effects.iter().find_map(|e| match e {
        Effect::ReplaceDone { ticket, result } => Some((*ticket, result.clone())),
        _ => None,
    })
}

fn kills(step: &Step) -> Vec<(i32, Signal, bool)> {
    step.effects
        .iter()
        .filter_map(|e| match e {
            Effect::Kill { pid, sig, group } => Some((pid.0, *sig, *group)),
            _ => None,
        })
        .collect()
}

#[test]
fn candidate_takes_over_after_startsecs_and_the_old_one_retires() {
    let mut h = Harness::new(settings());
    h.running(10);
    h.clock.advance_ms(5000);

    let s = replace(&mut h, 1);
    assert_eq!(s.reply, Some(Reply::Ok));
    assert_eq!(s.effects, vec![Effect::SpawnCandidate]);
    assert_eq!(h.m.snapshot().busy, 1);

    let s = h.ev(Event::CandidateSpawned { pid: Pid(11) });
    assert_eq!(
        logs(&s),
        vec!["rolling restart of 'web': started replacement pid 11 beside pid 10"]
    );
    assert_eq!(h.m.pid(), Some(Pid(10)), "the old one serves until then");
    assert_eq!(h.m.next_deadline(), Some(h.clock.at(7000)), "startsecs");

    let s = h.tick_to_deadline();
    assert!(changes(&s).is_empty(), "still RUNNING: no state event");
    assert!(has(
        &s,
        &Effect::Promote {
            old: Pid(10),
            new: Pid(11)
        }
    ));
    assert_eq!(kills(&s), vec![(10, TERM, false)]);
    assert_eq!(
        logs(&s),
        vec![
            "rolling restart of 'web': replacement pid 11 is ready",
            "replaced: 'web' pid 10 by pid 11",
            "retiring 'web' pid 10: sending SIGTERM",
        ]
    );
    assert_eq!(h.m.pid(), Some(Pid(11)));
    assert_eq!(h.m.state(), Running);
    assert_eq!(h.m.snapshot().laststart, Some(h.clock.now().wall));
    assert_eq!(done(&s), None, "reported once the old one is gone");
    assert!(!h.m.quiet());

    let s = h.ev(exited(10, WaitStatus::signaled(TERM.0)));
    assert!(changes(&s).is_empty());
    assert!(has(&s, &Effect::Retired { pid: Pid(10) }));
    assert_eq!(logs(&s), vec!["retired 'web' pid 10"]);
    assert_eq!(
        done(&s),
        Some((
            Some(1),
            Ok(Replaced {
                old_pid: Pid(10),
                new_pid: Pid(11)
            })
        ))
    );
    assert_eq!(h.m.snapshot().busy, 0);
    assert_eq!(h.m.next_deadline(), None);
}

#[test]
fn a_retiring_process_that_ignores_its_signal_is_killed_after_stopwaitsecs() {
    let mut s = settings();
    s.stop.stopasgroup = true;
    s.stop.killasgroup = true;
    s.startsecs = 0;
    let mut h = Harness::new(s);
    h.running(10);
    replace(&mut h, 1);
    let s = h.ev(Event::CandidateSpawned { pid: Pid(11) });
    assert_eq!(kills(&s), vec![(10, TERM, true)], "startsecs=0: at once");
    let retire_at = h.clock.now().mono;
    assert_eq!(
        h.m.next_deadline(),
        Some(retire_at + Duration::from_secs(10))
    );
    let s = h.tick_to_deadline();
    assert_eq!(kills(&s), vec![(10, KILL, true)]);
    assert_eq!(logs(&s), vec!["killing retiring 'web' (10) with SIGKILL"]);
    assert_eq!(h.m.next_deadline(), None);
    let s = h.ev(exited(10, WaitStatus::signaled(KILL.0)));
    assert!(matches!(done(&s), Some((Some(1), Ok(_)))));
}

#[test]
fn leftovers_of_the_retired_process_are_stopped_before_it_counts_as_gone() {
    let mut h = Harness::new(Settings {
        startsecs: 0,
        ..settings()
    });
    h.running(10);
    replace(&mut h, 7);
    h.ev(Event::CandidateSpawned { pid: Pid(11) });
    h.clock.advance_ms(2000);
    let s = h.ev(exited_with_leftovers(10, WaitStatus::signaled(TERM.0)));
    assert!(has(
        &s,
        &Effect::SignalLeftovers {
            of: Pid(10),
            sig: TERM
        }
    ));
    assert_eq!(done(&s), None);
    assert_eq!(h.m.leftover_signal(Pid(10)), Some(TERM));
    // the grace period counts from the retiring signal, not from the exit
    let s = h.tick_to_deadline();
    assert!(has(
        &s,
        &Effect::SignalLeftovers {
            of: Pid(10),
            sig: KILL
        }
    ));
    let s = h.ev(Event::LeftoversGone { of: Pid(10) });
    assert!(has(&s, &Effect::Retired { pid: Pid(10) }));
    assert!(matches!(done(&s), Some((Some(7), Ok(_)))));
    assert!(h.m.quiet() || h.m.state() == Running);
    assert_eq!(h.m.snapshot().busy, 0);
}

#[test]
fn a_probed_candidate_waits_for_its_probe_and_startsecs() {
    let mut h = Harness::new(Settings {
        ready: probe("notify"),
        readiness_timeout: 5,
        ..settings()
    });
    h.spawned(10);
    h.ev(Event::Ready { pid: Pid(10) });
    h.tick_to_deadline();
    assert_eq!(h.m.state(), Running);

    replace(&mut h, 1);
    let s = h.ev(Event::CandidateSpawned { pid: Pid(11) });
    assert!(has(&s, &Effect::StartProbe { pid: Pid(11) }));
    // the main process's probe reports are not the candidate's
    assert!(h.ev(Event::Ready { pid: Pid(10) }).effects.is_empty());
    h.clock.advance_ms(200);
    let s = h.ev(Event::Ready { pid: Pid(11) });
    assert!(
        !has(
            &s,
            &Effect::Promote {
                old: Pid(10),
                new: Pid(11)
            }
        ),
        "startsecs too"
    );
    let s = h.tick_to_deadline();
    assert!(has(
        &s,
        &Effect::Promote {
            old: Pid(10),
            new: Pid(11)
        }
    ));
}

#[test]
fn a_candidate_not_ready_in_time_retires_and_the_old_one_keeps_serving() {
    let mut h = Harness::new(Settings {
        ready: probe("tcp://127.0.0.1:8000"),
        readiness_timeout: 5,
        ..settings()
    });
    h.spawned(10);
    h.ev(Event::Ready { pid: Pid(10) });
    h.tick_to_deadline();
    replace(&mut h, 3);
    h.ev(Event::CandidateSpawned { pid: Pid(11) });
    let s = h.tick_to_deadline();
    assert!(has(&s, &Effect::CancelProbe { pid: Pid(11) }));
    assert_eq!(kills(&s), vec![(11, TERM, false)]);
    assert_eq!(
        logs(&s)[0],
        "rolling restart of 'web': replacement pid 11 not ready after 5 seconds \
         (readiness_timeout); the running process keeps serving"
    );
    assert_eq!(h.m.pid(), Some(Pid(10)));
    let s = h.ev(exited(11, WaitStatus::signaled(TERM.0)));
    assert_eq!(
        done(&s),
        Some((
            Some(3),
            Err("replacement not ready after 5 seconds (readiness_timeout)".into())
        ))
    );
    assert_eq!(h.m.state(), Running);
    assert_eq!(h.m.pid(), Some(Pid(10)));
}

#[test]
fn a_candidate_that_exits_fails_the_replacement() {
    let mut h = Harness::new(settings());
    h.running(10);
    replace(&mut h, 4);
    h.ev(Event::CandidateSpawned { pid: Pid(11) });
    let s = h.ev(exited(11, WaitStatus::exited(3)));
    assert!(kills(&s).is_empty(), "nothing left to signal");
    assert_eq!(
        done(&s),
        Some((
            Some(4),
            Err("replacement exited before it was ready (exit status 3)".into())
        ))
    );
    assert!(has(&s, &Effect::Retired { pid: Pid(11) }));
    assert_eq!(h.m.state(), Running);
    assert!(changes(&s).is_empty());
    // a new replacement may start now
    assert_eq!(replace(&mut h, 5).reply, Some(Reply::Ok));
}

#[test]
fn a_candidate_that_cannot_be_spawned_fails_at_once() {
    let mut h = Harness::new(settings());
    h.running(10);
    replace(&mut h, 2);
    let s = h.ev(Event::CandidateSpawnFailed {
        error: "can't find command 'x'".into(),
    });
    assert_eq!(
        done(&s),
        Some((
            Some(2),
            Err("cannot start a replacement: can't find command 'x'".into())
        ))
    );
    assert_eq!(h.m.snapshot().busy, 0);
}

#[test]
fn replacement_refusals() {
    let mut h = Harness::new(settings());
    assert_eq!(
        replace(&mut h, 1).reply,
        Some(Reply::Failed("'web' is STOPPED, not RUNNING".into()))
    );
    h.spawned(10);
    assert_eq!(
        replace(&mut h, 1).reply,
        Some(Reply::Failed("'web' is STARTING, not RUNNING".into()))
    );
    h.tick_to_deadline();
    assert_eq!(replace(&mut h, 1).reply, Some(Reply::Ok));
    let s = replace(&mut h, 2);
    assert_eq!(
        s.reply,
        Some(Reply::Failed(
            "a rolling restart of 'web' is already under way".into()
        ))
    );
    assert!(s.effects.is_empty());
}

#[test]
fn a_stop_abandons_the_candidate_and_waits_for_everything() {
    let mut h = Harness::new(settings());
    h.running(10);
    replace(&mut h, 1);
    h.ev(Event::CandidateSpawned { pid: Pid(11) });
    let s = h.ev(Event::Stop);
    assert_eq!(kills(&s), vec![(11, TERM, false), (10, TERM, false)]);
    assert_eq!(changes(&s), vec![(Running, Stopping)]);
    h.ev(exited(10, WaitStatus::signaled(TERM.0)));
    assert_eq!(h.m.state(), Stopped);
    assert!(!h.m.quiet(), "the abandoned candidate is still going");
    let s = h.ev(exited(11, WaitStatus::signaled(TERM.0)));
    assert_eq!(
        done(&s),
        Some((
            Some(1),
            Err("replacement was abandoned: the process is being stopped".into())
        ))
    );
    assert!(h.m.quiet());
}

#[test]
fn shutdown_abandons_the_candidate() {
    let mut h = Harness::new(settings());
    h.running(10);
    replace(&mut h, 1);
    h.ev(Event::CandidateSpawned { pid: Pid(11) });
    let s = h.ev(Event::ShutdownStop);
    assert_eq!(kills(&s), vec![(11, TERM, false), (10, TERM, false)]);
    let s = h.ev(exited(11, WaitStatus::signaled(TERM.0)));
    assert!(matches!(done(&s), Some((_, Err(e))) if e.contains("corrald is stopping")));
}

#[test]
fn promotion_fails_if_the_main_process_stopped_meanwhile() {
    let mut h = Harness::new(Settings {
        autorestart: AutoRestart::Never,
        ..settings()
    });
    h.running(10);
    replace(&mut h, 1);
    h.ev(Event::CandidateSpawned { pid: Pid(11) });
    h.ev(exited(10, WaitStatus::exited(0)));
    assert_eq!(h.m.state(), Exited);
    let s = h.tick_to_deadline();
    assert_eq!(kills(&s), vec![(11, TERM, false)]);
    h.ev(exited(11, WaitStatus::signaled(TERM.0)));
    assert_eq!(h.m.state(), Exited);
}

#[test]
fn a_replacement_with_new_settings_retires_the_old_one_with_its_own_plan() {
    let mut h = Harness::new(settings());
    h.running(10);
    let mut new = settings();
    new.stop = StopPlan::single(Signal::INT, Duration::from_secs(3));
    new.startsecs = 0;
    let s = h.ev(Event::Replace {
        settings: Some(Box::new(new.clone())),
        ticket: None,
    });
    assert_eq!(h.m.candidate_settings(), Some(&new));
    assert_eq!(s.effects, vec![Effect::SpawnCandidate]);
    let s = h.ev(Event::CandidateSpawned { pid: Pid(11) });
    assert_eq!(
        kills(&s),
        vec![(10, TERM, false)],
        "the old settings' signal"
    );
    assert_eq!(h.m.settings(), &new);
    // the old process's SIGKILL comes after the OLD stopwaitsecs (10 s)
    let at = h.clock.now().mono;
    assert_eq!(h.m.next_deadline(), Some(at + Duration::from_secs(10)));
    h.ev(exited(10, WaitStatus::signaled(TERM.0)));
    // and the new main process stops with the new plan
    let s = h.ev(Event::Stop);
    assert_eq!(kills(&s), vec![(11, Signal::INT, false)]);
}

#[test]
fn stale_reports_about_retired_processes_are_ignored() {
    let mut h = Harness::new(Settings {
        startsecs: 0,
        ..settings()
    });
    h.running(10);
    replace(&mut h, 1);
    h.ev(Event::CandidateSpawned { pid: Pid(11) });
    h.ev(exited(10, WaitStatus::signaled(TERM.0)));
    assert!(h.ev(exited(10, WaitStatus::exited(0))).effects.is_empty());
    assert!(
        h.ev(Event::LeftoversGone { of: Pid(10) })
            .effects
            .is_empty()
    );
    assert!(h.ev(Event::Ready { pid: Pid(10) }).effects.is_empty());
}

#[test]
fn a_stop_sequence_walks_its_steps_for_main_and_retiring_processes() {
    let mut s = settings();
    s.startsecs = 0;
    s.stop = StopPlan {
        steps: vec![
            StopStep {
                signal: Signal::TERM,
                wait: Duration::from_secs(20),
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
    h.ev(Event::Stop);
    let s = h.tick_to_deadline();
    assert_eq!(kills(&s), vec![(10, Signal::INT, false)]);
    let s = h.tick_to_deadline();
    assert_eq!(kills(&s), vec![(10, KILL, false)]);
    h.ev(exited(10, WaitStatus::signaled(KILL.0)));
    assert_eq!(h.m.state(), Stopped);

    h.ev(Event::Start);
    h.ev(Event::Spawned { pid: Pid(20) });
    replace(&mut h, 1);
    h.ev(Event::CandidateSpawned { pid: Pid(21) });
    let s = h.tick_to_deadline();
    assert_eq!(kills(&s), vec![(20, Signal::INT, false)]);
    let s = h.tick_to_deadline();
    assert_eq!(kills(&s), vec![(20, KILL, false)]);
}
