//! `corral_proto::notify::parse` on arbitrary datagrams.
//!
//! Oracles: no panic; a datagram is refused exactly when it is too long or holds a NUL; flags
//! are set exactly when their exact line is present; and what was understood, written back
//! as a canonical datagram, parses to the same thing.
#![no_main]

use corral_proto::notify::{self, MAX_DATAGRAM, Notification, Rejected, Watchdog};
use libfuzzer_sys::fuzz_target;

fn encode(n: &Notification) -> Vec<u8> {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    let flags = [
        (n.ready, "READY=1"),
        (n.reloading, "RELOADING=1"),
        (n.stopping, "STOPPING=1"),
        (n.fd_store, "FDSTORE=1"),
        (n.fd_store_remove, "FDSTOREREMOVE=1"),
        (n.barrier, "BARRIER=1"),
    ];
    for (set, text) in flags {
        if set {
            line(text.into());
        }
    }
    if let Some(s) = &n.status {
        line(format!("STATUS={s}"));
    }
    if let Some(v) = n.errno {
        line(format!("ERRNO={v}"));
    }
    if let Some(s) = &n.bus_error {
        line(format!("BUSERROR={s}"));
    }
    if let Some(v) = n.main_pid {
        line(format!("MAINPID={v}"));
    }
    match n.watchdog {
        Some(Watchdog::Ping) => line("WATCHDOG=1".into()),
        Some(Watchdog::Trigger) => line("WATCHDOG=trigger".into()),
        None => {}
    }
    if let Some(v) = n.watchdog_usec {
        line(format!("WATCHDOG_USEC={v}"));
    }
    if let Some(v) = n.extend_timeout_usec {
        line(format!("EXTEND_TIMEOUT_USEC={v}"));
    }
    if let Some(v) = n.monotonic_usec {
        line(format!("MONOTONIC_USEC={v}"));
    }
    if let Some(s) = &n.fd_name {
        line(format!("FDNAME={s}"));
    }
    out.into_bytes()
}

fuzz_target!(|data: &[u8]| {
    let parsed = notify::parse(data);
    match parsed {
        Err(Rejected::TooLong) => assert!(data.len() > MAX_DATAGRAM),
        Err(Rejected::EmbeddedNul) => assert!(data.len() <= MAX_DATAGRAM && data.contains(&0)),
        Ok(n) => {
            assert!(data.len() <= MAX_DATAGRAM && !data.contains(&0));
            let lines: Vec<&[u8]> = data.split(|b| *b == b'\n' || *b == b'\r').collect();
            assert_eq!(n.ready, lines.contains(&&b"READY=1"[..]));
            assert_eq!(n.stopping, lines.contains(&&b"STOPPING=1"[..]));
            if let Some(s) = &n.status {
                assert!(!s.contains(['\n', '\r', '\0']));
            }
            assert!(n.main_pid.is_none_or(|p| p > 0 && p <= i32::MAX as u32));
            assert!(n.errno.is_none_or(|e| e >= 0));
            let canonical = encode(&n);
            if canonical.len() <= MAX_DATAGRAM {
                assert_eq!(notify::parse(&canonical), Ok(n), "canonical form parses differently");
            }
        }
    }
});
