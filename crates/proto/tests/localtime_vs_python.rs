//! corral's local time against Python's `time.localtime`, `time.ctime` and the
//! `%Y-%m-%d %H:%M:%S` of logging's `asctime`, with the same instants and the same TZ.
//!
//! This binary holds a single test because it changes the process's TZ variable.

// Setting TZ for the process under test needs `unsafe` (std::env::set_var, edition 2024).
#![allow(unsafe_code)]

mod common;

use common::{PY_PRELUDE, Rng, python, records, run_python, skip};
use corral_proto::localtime::{LocalTime, local_time};

#[test]
fn local_time_matches_python_in_several_timezones() {
    let Some(py) = python() else {
        return skip(
            "local_time_matches_python_in_several_timezones",
            "no Python",
        );
    };
    // The epoch, before it, noon and midnight edges, the US, EU and Lord Howe (half-hour)
    // DST switches and the seconds around them, a leap day, the 32-bit edge and past it.
    let mut times: Vec<i64> = vec![
        0,
        -1,
        -86_400 * 365 * 30,
        43_199,
        43_200,
        1_710_053_999,
        1_710_054_000,
        1_730_613_599,
        1_730_613_600,
        1_711_846_800,
        1_712_415_600,
        951_782_400,
        1_709_208_000,
        i64::from(i32::MAX),
        i64::from(i32::MAX) + 1,
        4_102_444_800,
    ];
    let mut rng = Rng::new(0x10CA1);
    times.extend((0..200).map(|_| rng.below(4_000_000_000) as i64));

    let mut zones = vec![
        "UTC0",
        "EST5EDT,M3.2.0,M11.1.0",
        "IST-5:30",
        "LHST-10:30LHDT-11,M10.1.0,M4.1.0",
    ];
    if std::path::Path::new("/usr/share/zoneinfo/Asia/Kolkata").exists() {
        zones.extend([
            "UTC",
            "Asia/Kolkata",
            "America/New_York",
            "Australia/Lord_Howe",
            "Europe/Dublin",
        ]);
    } else {
        eprintln!("note: no /usr/share/zoneinfo; testing POSIX TZ strings only");
    }

    let mut script = String::from(PY_PRELUDE);
    script.push_str("import time\ntimes = [");
    for t in &times {
        script.push_str(&format!("{t},"));
    }
    script.push_str(
        "]\nfor t in times:\n    \
         tm = time.localtime(t)\n    \
         emit('%d %d %d %d %d %d %d' % (tm.tm_year, tm.tm_mon, tm.tm_mday, tm.tm_hour, \
         tm.tm_min, tm.tm_sec, (tm.tm_wday + 1) % 7))\n    \
         emit(time.strftime('%Y-%m-%d %H:%M:%S', tm))\n    \
         emit(time.ctime(t))\n",
    );
    for tz in zones {
        // SAFETY: this test binary has this one test and no other threads reading the
        // environment; local_time re-reads TZ when it changes.
        unsafe { std::env::set_var("TZ", tz) };
        let out = records(&run_python(&py, &script, &[("TZ", tz)]));
        assert_eq!(out.len(), times.len() * 3);
        let mut mismatches = Vec::new();
        for (t, want) in times.iter().zip(out.chunks(3)) {
            let lt = local_time(*t);
            let LocalTime {
                year,
                month,
                day,
                hour,
                minute,
                second,
                weekday,
            } = lt;
            let got = [
                format!("{year} {month} {day} {hour} {minute} {second} {weekday}"),
                lt.datetime(),
                lt.ctime(),
            ];
            for (got, want) in got.iter().zip(want) {
                let want = String::from_utf8_lossy(want);
                if *got != want {
                    mismatches.push(format!("TZ={tz} t={t}: corral {got:?}, Python {want:?}"));
                }
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
