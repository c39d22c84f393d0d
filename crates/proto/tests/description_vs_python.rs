//! The `description` text against supervisor's own `_interpretProcessInfo`, called from
//! Python with the same inputs and the same TZ.
//!
//! This binary holds a single test because it changes the process's TZ variable.

// Setting TZ for the process under test needs `unsafe` (std::env::set_var, edition 2024).
#![allow(unsafe_code)]

mod common;

use common::{PY_PRELUDE, Rng, py_str, python_with_supervisor, records, run_python, skip};
use corral_proto::api::{EXITED_TOO_QUICKLY, ProcessState, process_description};

struct Case {
    name: String,
    state: ProcessState,
    start: i32,
    stop: i32,
    now: i32,
    pid: i32,
    spawnerr: String,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    // Interesting instants: the epoch, 12 AM/PM edges, US and EU DST switches, the
    // Lord Howe half-hour DST switch, leap day, the 2038 edge.
    let mut times: Vec<i32> = vec![
        0,
        1,
        43_199,
        43_200,
        1_710_054_000,
        1_710_053_999,
        1_730_613_600,
        1_711_846_800,
        1_712_415_600,
        951_782_400,
        1_709_208_000,
        i32::MAX,
        -1,
        -86_400 * 365,
    ];
    let mut rng = Rng::new(0xDE5C);
    times.extend((0..150).map(|_| rng.below(i32::MAX as u64) as i32));
    let uptimes: [i64; 10] = [
        0,
        5,
        59,
        3599,
        3600,
        86_399,
        86_400,
        90_061,
        10 * 86_400 + 5,
        -30,
    ];
    for state in ProcessState::ALL {
        for (i, &t) in times.iter().enumerate() {
            let start = if i % 7 == 0 {
                0
            } else {
                t.saturating_sub(1000)
            };
            let up = uptimes[i % uptimes.len()];
            let now =
                (i64::from(start) + up).clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
            let spawnerr = match i % 3 {
                0 => String::new(),
                1 => EXITED_TOO_QUICKLY.to_owned(),
                _ => "Bad exit code 3".to_owned(),
            };
            out.push(Case {
                name: format!("proc{i}"),
                state,
                start,
                stop: t,
                now,
                pid: 1000 + i as i32,
                spawnerr,
            });
        }
    }
    out
}

#[test]
fn description_matches_supervisor_in_several_timezones() {
    let Some(py) = python_with_supervisor() else {
        return skip(
            "description_matches_supervisor_in_several_timezones",
            "no Python with supervisor",
        );
    };
    let have_zoneinfo = std::path::Path::new("/usr/share/zoneinfo/America/New_York").exists();
    let mut zones = vec![
        "UTC0",
        "EST5EDT,M3.2.0,M11.1.0",
        "IST-5:30",
        "LHST-10:30LHDT-11,M10.1.0,M4.1.0",
    ];
    if have_zoneinfo {
        zones.extend([
            "America/New_York",
            "Asia/Kolkata",
            "Australia/Lord_Howe",
            "Pacific/Chatham",
            "Europe/Dublin",
        ]);
    } else {
        eprintln!("note: no /usr/share/zoneinfo; testing POSIX TZ strings only");
    }
    let cases = cases();
    let mut script = String::from(PY_PRELUDE);
    script.push_str(
        "from supervisor.rpcinterface import SupervisorNamespaceRPCInterface as S\ncases = [\n",
    );
    for c in &cases {
        script.push_str(&format!(
            "({}, {}, {}, {}, {}, {}, {}),\n",
            py_str(&c.name),
            c.state.code(),
            c.start,
            c.stop,
            c.now,
            c.pid,
            py_str(&c.spawnerr)
        ));
    }
    script.push_str(
        "]\nfor name, state, start, stop, now, pid, spawnerr in cases:\n    \
         info = dict(name=name, state=state, start=start, stop=stop, now=now, pid=pid, spawnerr=spawnerr)\n    \
         emit(S._interpretProcessInfo(None, info))\n",
    );
    for tz in zones {
        // SAFETY: this test binary has this one test and no other threads reading the
        // environment; local_time re-reads TZ when it changes.
        unsafe { std::env::set_var("TZ", tz) };
        let out = records(&run_python(&py, &script, &[("TZ", tz)]));
        assert_eq!(out.len(), cases.len());
        let mut mismatches = Vec::new();
        for (c, want) in cases.iter().zip(&out) {
            let got =
                process_description(&c.name, c.state, c.start, c.stop, c.now, c.pid, &c.spawnerr);
            let want = String::from_utf8_lossy(want);
            if got != want {
                mismatches.push(format!(
                    "TZ={tz} {:?} start={} stop={} now={}: corral {got:?}, supervisor {want:?}",
                    c.state, c.start, c.stop, c.now
                ));
            }
        }
        assert!(
            mismatches.is_empty(),
            "{} mismatches:\n{}",
            mismatches.len(),
            mismatches.join("\n")
        );
    }
}
