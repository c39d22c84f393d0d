//! The `description` text of `getProcessInfo`, as `rpcinterface._interpretProcessInfo`
//! writes it (and as `supervisorctl status` prints it).

use super::states::ProcessState;
use crate::localtime::local_time;

/// The `spawnerr` supervisord records when a process dies before `startsecs`.
pub const EXITED_TOO_QUICKLY: &str = "Exited too quickly (process log may have details)";

/// `_interpretProcessInfo`:
/// * RUNNING: `pid 123, uptime 0:00:05` (uptime `now - start`, never negative, written as
///   Python's `str(timedelta)`: `1 day, 2:03:04`);
/// * FATAL, BACKOFF: the spawn error, or `unknown error (try "tail NAME")`;
/// * STOPPED, EXITED: the stop time in local time, `Jan 01 12:00 AM`, or `Not started`
///   if the process never started (`start == 0`);
/// * anything else: empty.
///
/// `name` is the process name (not the namespec), as supervisord uses it.
pub fn process_description(
    name: &str,
    state: ProcessState,
    start: i32,
    stop: i32,
    now: i32,
    pid: i32,
    spawnerr: &str,
) -> String {
    match state {
        ProcessState::Running => {
            format!(
                "pid {pid}, uptime {}",
                format_uptime(i64::from(now) - i64::from(start))
            )
        }
        ProcessState::Fatal | ProcessState::Backoff => {
            if spawnerr.is_empty() {
                format!("unknown error (try \"tail {name}\")")
            } else {
                spawnerr.to_owned()
            }
        }
        ProcessState::Stopped | ProcessState::Exited => {
            if start != 0 {
                format_stop_time(i64::from(stop))
            } else {
                "Not started".to_owned()
            }
        }
        ProcessState::Starting | ProcessState::Stopping | ProcessState::Unknown => String::new(),
    }
}

/// Python's `str(datetime.timedelta(seconds=secs))` for whole seconds, with negative
/// values clamped to zero (supervisord's "system time set back" rule).
pub fn format_uptime(secs: i64) -> String {
    let secs = secs.max(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let hms = format!("{}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    match days {
        0 => hms,
        1 => format!("1 day, {hms}"),
        _ => format!("{days} days, {hms}"),
    }
}

/// `strftime('%b %d %I:%M %p')` of `time.localtime(secs)`, in the C locale as supervisord
/// writes it (see [`crate::localtime`]).
pub fn format_stop_time(secs: i64) -> String {
    let t = local_time(secs);
    let hour12 = if t.hour % 12 == 0 { 12 } else { t.hour % 12 };
    let ampm = if t.hour < 12 { "AM" } else { "PM" };
    format!(
        "{} {:02} {hour12:02}:{:02} {ampm}",
        t.month_abbr(),
        t.day,
        t.minute
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_is_python_timedelta() {
        assert_eq!(format_uptime(0), "0:00:00");
        assert_eq!(format_uptime(5), "0:00:05");
        assert_eq!(format_uptime(3599), "0:59:59");
        assert_eq!(format_uptime(36_000), "10:00:00");
        assert_eq!(format_uptime(86_400), "1 day, 0:00:00");
        assert_eq!(format_uptime(2 * 86_400 + 3723), "2 days, 1:02:03");
        assert_eq!(format_uptime(-50), "0:00:00");
    }

    #[test]
    fn descriptions_by_state() {
        let d = |state, start, stop, now, spawnerr| {
            process_description("cat", state, start, stop, now, 42, spawnerr)
        };
        assert_eq!(
            d(ProcessState::Running, 100, 0, 105, ""),
            "pid 42, uptime 0:00:05"
        );
        assert_eq!(
            d(ProcessState::Running, 200, 0, 100, ""),
            "pid 42, uptime 0:00:00"
        );
        assert_eq!(
            d(ProcessState::Backoff, 1, 2, 3, EXITED_TOO_QUICKLY),
            EXITED_TOO_QUICKLY
        );
        assert_eq!(
            d(ProcessState::Fatal, 1, 2, 3, ""),
            "unknown error (try \"tail cat\")"
        );
        assert_eq!(d(ProcessState::Stopped, 0, 0, 3, ""), "Not started");
        assert_eq!(d(ProcessState::Exited, 0, 50, 3, ""), "Not started");
        assert_eq!(d(ProcessState::Starting, 1, 2, 3, "x"), "");
        assert_eq!(d(ProcessState::Stopping, 1, 2, 3, "x"), "");
        assert_eq!(d(ProcessState::Unknown, 1, 2, 3, "x"), "");
        // Stop times depend on TZ; tests/description_vs_python.rs pins TZ and compares
        // with supervisor itself. Here only the shape is checked.
        let s = d(ProcessState::Stopped, 1, 0, 3, "");
        assert_eq!(s.len(), "Jan 01 12:00 AM".len(), "{s}");
    }
}
