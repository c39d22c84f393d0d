//! The `description` of a process (`getProcessInfo`, `supervisorctl status`, the web page):
//! supervisord's text, followed by corral's notes when a corral feature has something to
//! say. Without corral's options there is no note, and the text is supervisord's, byte for
//! byte.
//!
//! * a start waiting for its dependencies (`depends_on=`): `waiting for db (ready)` or
//!   `blocked: db is FATAL`, instead of supervisord's `Not started` or stop time;
//! * a stop sequence under way (`stopsequence=`): `INT sent 2 s ago, KILL in 3 s` while
//!   STOPPING (supervisord's description of STOPPING is empty);
//! * liveness (`healthcheck=`, `watchdogsecs=`, recycling): `pid 12, uptime 0:01:02;
//!   unhealthy: http://…: timed out after 5 s (3 in a row)`;
//! * a start attempt to come (`backoff_max`, `startretries=infinite`): `Exited too quickly
//!   (process log may have details); next attempt in 8 s`.
//!
//! Each note is one small function of the record and the process's snapshot; a new one is
//! one more entry in [`notes`].

use corral_core::{ProcessState, Snapshot};
use corral_proto::api::ProcessInfo;

use crate::process::{Info, ProcessHandle};

/// The description of `p` (its `info` and record `pi`, read now).
pub fn describe(p: &ProcessHandle, info: &Info, pi: &ProcessInfo) -> String {
    // A start held back by its dependencies says what it waits for, instead of
    // supervisord's "Not started".
    if let Some(h) = &info.snapshot.waiting {
        return h.note.clone();
    }
    compose(pi.describe(), &notes(p, pi, &info.snapshot))
}

/// supervisord's text, then the notes.
fn compose(base: String, notes: &[String]) -> String {
    if notes.is_empty() {
        return base;
    }
    let notes = notes.join("; ");
    if base.is_empty() {
        notes
    } else {
        format!("{base}; {notes}")
    }
}

/// corral's notes, in order.
fn notes(p: &ProcessHandle, pi: &ProcessInfo, s: &Snapshot) -> Vec<String> {
    [stop(p, pi, s), health(s), next_attempt(pi, s)]
        .into_iter()
        .flatten()
        .collect()
}

/// Where a `stopsequence=` stop is (only with `stopsequence=`: supervisord's own one-step
/// stop keeps its empty description).
fn stop(p: &ProcessHandle, pi: &ProcessInfo, s: &Snapshot) -> Option<String> {
    if p.config.stopsequence.is_empty() {
        return None;
    }
    s.stop.map(|st| st.describe(f64::from(pi.now)))
}

/// Why the process was found unhealthy, or why it is being recycled, while something of it
/// runs.
fn health(s: &Snapshot) -> Option<String> {
    let running = matches!(
        s.state,
        ProcessState::Running
            | ProcessState::Starting
            | ProcessState::Stopping
            | ProcessState::Backoff
    );
    s.health.note.clone().filter(|_| running)
}

/// When the next start attempt comes (`backoff_max`, `startretries=infinite`).
fn next_attempt(pi: &ProcessInfo, s: &Snapshot) -> Option<String> {
    let at = s.next_attempt?;
    let secs = (at - f64::from(pi.now)).ceil().max(0.0);
    Some(format!("next attempt in {secs:.0} s"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_core::machine::{HealthView, RestartCounts};
    use corral_proto::api::ProcessState as ApiState;

    fn info(state: ApiState) -> ProcessInfo {
        ProcessInfo {
            name: "web".into(),
            group: "web".into(),
            start: 1_700_000_000,
            stop: 0,
            now: 1_700_000_062,
            state,
            spawnerr: "Exited too quickly (process log may have details)".into(),
            exitstatus: 0,
            stdout_logfile: String::new(),
            stderr_logfile: String::new(),
            pid: 12,
            description: String::new(),
        }
    }

    /// `describe` without a process handle: the notes that need none.
    fn describe_snapshot(pi: &ProcessInfo, s: &Snapshot) -> String {
        let notes: Vec<String> = [health(s), next_attempt(pi, s)]
            .into_iter()
            .flatten()
            .collect();
        compose(pi.describe(), &notes)
    }

    fn snapshot(state: ProcessState) -> Snapshot {
        Snapshot {
            state,
            pid: None,
            laststart: None,
            laststop: None,
            exitstatus: None,
            spawnerr: None,
            backoff: 0,
            busy: 0,
            entered_running: 0,
            entered_stopped: 0,
            health: HealthView::default(),
            restarts: RestartCounts::default(),
            next_attempt: None,
            waiting: None,
            hold: None,
            stop: None,
        }
    }

    #[test]
    fn supervisords_text_alone_without_notes() {
        let pi = info(ApiState::Running);
        assert_eq!(
            describe_snapshot(&pi, &snapshot(ProcessState::Running)),
            "pid 12, uptime 0:01:02"
        );
    }

    #[test]
    fn notes_follow_supervisords_text() {
        let pi = info(ApiState::Running);
        let mut s = snapshot(ProcessState::Running);
        s.health.note =
            Some("unhealthy: http://127.0.0.1:8000/h: timed out after 5 s (3 in a row)".into());
        assert_eq!(
            describe_snapshot(&pi, &s),
            "pid 12, uptime 0:01:02; unhealthy: http://127.0.0.1:8000/h: timed out after 5 s (3 in a row)"
        );
        let mut s = snapshot(ProcessState::Starting);
        s.health.note = Some("unhealthy: x".into());
        assert_eq!(
            describe_snapshot(&info(ApiState::Starting), &s),
            "unhealthy: x"
        );
        s.state = ProcessState::Stopped;
        assert_eq!(
            describe_snapshot(&info(ApiState::Stopped), &s),
            info(ApiState::Stopped).describe(),
            "not once it is stopped"
        );
    }

    #[test]
    fn backoff_says_when_the_next_attempt_comes() {
        let pi = info(ApiState::Backoff);
        let mut s = snapshot(ProcessState::Backoff);
        s.next_attempt = Some(f64::from(pi.now) + 7.2);
        assert_eq!(
            describe_snapshot(&pi, &s),
            "Exited too quickly (process log may have details); next attempt in 8 s"
        );
        s.next_attempt = Some(f64::from(pi.now) - 1.0);
        assert!(describe_snapshot(&pi, &s).ends_with("next attempt in 0 s"));
    }
}
