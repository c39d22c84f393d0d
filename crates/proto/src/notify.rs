//! systemd's sd_notify datagrams (`READY=1\nSTATUS=Serving\n`), parsed as systemd's service
//! manager parses them, so that a program written for `Type=notify` behaves the same under
//! corrald.
//!
//! The rules, from systemd's `manager_dispatch_notify_fd` and `service_notify_message`:
//!
//! * a datagram longer than [`MAX_DATAGRAM`] bytes, or with a NUL byte anywhere, is ignored
//!   whole;
//! * it is split into assignments at every `\n` and `\r`; empty pieces are dropped;
//! * flags count only in their exact form (`READY=1`, `STOPPING=1`, `WATCHDOG=1`, ...):
//!   `READY=0`, `READY=yes` or `READY=1 ` mean nothing;
//! * for a valued key (`STATUS=`, `MAINPID=`, `ERRNO=`, ...) only its *first* assignment in
//!   the datagram counts, and an invalid value (a `STATUS=` that is not UTF-8, a `MAINPID=`
//!   that is not a positive pid) is ignored rather than replaced by a later one;
//! * unknown keys and lines without `=` are ignored.

/// The largest datagram systemd reads (`NOTIFY_BUFFER_MAX`, `PIPE_BUF`). A receiver should
/// read into a buffer one byte longer, so that a longer datagram shows as such.
pub const MAX_DATAGRAM: usize = 4096;

/// Why a whole datagram was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Longer than [`MAX_DATAGRAM`].
    TooLong,
    /// Contains a NUL byte.
    EmbeddedNul,
}

impl std::fmt::Display for Rejected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Rejected::TooLong => "notification message exceeded maximum size",
            Rejected::EmbeddedNul => "notification message with embedded NUL bytes",
        })
    }
}

impl std::error::Error for Rejected {}

/// `WATCHDOG=`'s two meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watchdog {
    /// `WATCHDOG=1`: a keep-alive ping.
    Ping,
    /// `WATCHDOG=trigger`: the program asks to be treated as if its watchdog expired.
    Trigger,
}

/// What one datagram says. Every field is `None`/`false` when the datagram does not say it
/// (or says it in a form systemd ignores).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notification {
    /// `READY=1`.
    pub ready: bool,
    /// `RELOADING=1`.
    pub reloading: bool,
    /// `STOPPING=1`.
    pub stopping: bool,
    /// `STATUS=…`, valid UTF-8 (may be empty: systemd clears the status then).
    pub status: Option<String>,
    /// `ERRNO=n`, n ≥ 0.
    pub errno: Option<i32>,
    /// `BUSERROR=name`.
    pub bus_error: Option<String>,
    /// `MAINPID=n`, n > 0.
    pub main_pid: Option<u32>,
    /// `WATCHDOG=1` or `WATCHDOG=trigger` (a ping wins if both are present: systemd checks
    /// for it first).
    pub watchdog: Option<Watchdog>,
    /// `WATCHDOG_USEC=n`.
    pub watchdog_usec: Option<u64>,
    /// `EXTEND_TIMEOUT_USEC=n`.
    pub extend_timeout_usec: Option<u64>,
    /// `MONOTONIC_USEC=n` (sent with `RELOADING=1`).
    pub monotonic_usec: Option<u64>,
    /// `FDSTORE=1`.
    pub fd_store: bool,
    /// `FDSTOREREMOVE=1`.
    pub fd_store_remove: bool,
    /// `FDNAME=name`.
    pub fd_name: Option<String>,
    /// `BARRIER=1`.
    pub barrier: bool,
}

/// Parse one datagram (exactly the bytes received).
pub fn parse(datagram: &[u8]) -> Result<Notification, Rejected> {
    if datagram.len() > MAX_DATAGRAM {
        return Err(Rejected::TooLong);
    }
    if datagram.contains(&0) {
        return Err(Rejected::EmbeddedNul);
    }
    let tags: Vec<&[u8]> = datagram
        .split(|b| *b == b'\n' || *b == b'\r')
        .filter(|t| !t.is_empty())
        .collect();
    let has = |tag: &[u8]| tags.contains(&tag);
    // strv_find_startswith: the first assignment of the key, whatever its value.
    let first = |key: &[u8]| tags.iter().find_map(|t| t.strip_prefix(key));
    let text = |v: &[u8]| std::str::from_utf8(v).ok().map(str::to_owned);

    Ok(Notification {
        ready: has(b"READY=1"),
        reloading: has(b"RELOADING=1"),
        stopping: has(b"STOPPING=1"),
        status: first(b"STATUS=").and_then(text),
        errno: first(b"ERRNO=")
            .and_then(parse_int)
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| *n >= 0),
        bus_error: first(b"BUSERROR=").and_then(text),
        main_pid: first(b"MAINPID=")
            .and_then(parse_unsigned)
            .and_then(|n| u32::try_from(n).ok())
            // pid_t is an int; 0 and negative pids are not pids.
            .filter(|n| *n > 0 && i32::try_from(*n).is_ok()),
        watchdog: if has(b"WATCHDOG=1") {
            Some(Watchdog::Ping)
        } else if has(b"WATCHDOG=trigger") {
            Some(Watchdog::Trigger)
        } else {
            None
        },
        watchdog_usec: first(b"WATCHDOG_USEC=").and_then(parse_unsigned),
        extend_timeout_usec: first(b"EXTEND_TIMEOUT_USEC=").and_then(parse_unsigned),
        monotonic_usec: first(b"MONOTONIC_USEC=").and_then(parse_unsigned),
        fd_store: has(b"FDSTORE=1"),
        fd_store_remove: has(b"FDSTOREREMOVE=1"),
        fd_name: first(b"FDNAME=").and_then(text),
        barrier: has(b"BARRIER=1"),
    })
}

/// C's whitespace (`isspace` in the C locale), which `strtol` skips before a number.
fn skip_space(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c))
        .unwrap_or(v.len());
    &v[start..]
}

/// systemd's `safe_atolli`: leading whitespace, an optional sign, decimal digits, nothing
/// after, no overflow.
fn parse_int(v: &[u8]) -> Option<i64> {
    let v = skip_space(v);
    let (negative, digits) = match v.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, v),
    };
    let magnitude = digits_value(digits)?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// systemd's `safe_atou64`: as [`parse_int`], but a minus sign is refused (plain `strtoull`
/// would wrap it around).
fn parse_unsigned(v: &[u8]) -> Option<u64> {
    let v = skip_space(v);
    let digits = v.strip_prefix(b"+").unwrap_or(v);
    digits_value(digits)
}

fn digits_value(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, d| {
        if !d.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(d: &[u8]) -> Notification {
        parse(d).expect("accepted")
    }

    #[test]
    fn ready_and_status() {
        let n = ok(b"READY=1\nSTATUS=Serving on :8000\n");
        assert!(n.ready);
        assert_eq!(n.status.as_deref(), Some("Serving on :8000"));
        assert!(!n.stopping && !n.reloading);
        assert_eq!(ok(b""), Notification::default());
        assert_eq!(ok(b"\n\n\r\n"), Notification::default());
    }

    #[test]
    fn flags_count_only_in_their_exact_form() {
        for d in [
            &b"READY=0"[..],
            b"READY=yes",
            b"READY=1 ",
            b" READY=1",
            b"READY",
            b"ready=1",
            b"READY=01",
        ] {
            assert!(!ok(d).ready, "{:?}", String::from_utf8_lossy(d));
        }
        assert!(ok(b"READY=0\nREADY=1").ready);
        assert!(ok(b"READY=1\r\n").ready, "CR is a separator too");
        assert!(ok(b"STATUS=x\rREADY=1").ready);
        assert!(ok(b"STOPPING=1").stopping);
        assert!(ok(b"RELOADING=1\nMONOTONIC_USEC=42").reloading);
        assert_eq!(
            ok(b"RELOADING=1\nMONOTONIC_USEC=42").monotonic_usec,
            Some(42)
        );
        assert!(ok(b"FDSTORE=1\nFDSTOREREMOVE=1\nBARRIER=1").fd_store);
        assert_eq!(ok(b"WATCHDOG=1").watchdog, Some(Watchdog::Ping));
        assert_eq!(ok(b"WATCHDOG=trigger").watchdog, Some(Watchdog::Trigger));
        assert_eq!(
            ok(b"WATCHDOG=trigger\nWATCHDOG=1").watchdog,
            Some(Watchdog::Ping)
        );
        assert_eq!(ok(b"WATCHDOG=2").watchdog, None);
    }

    #[test]
    fn the_first_assignment_of_a_key_counts_even_when_invalid() {
        assert_eq!(ok(b"STATUS=a\nSTATUS=b").status.as_deref(), Some("a"));
        assert_eq!(ok(b"STATUS=").status.as_deref(), Some(""));
        // Not UTF-8: ignored, and the later valid one is not used either.
        assert_eq!(ok(b"STATUS=\xff\nSTATUS=b").status, None);
        assert_eq!(ok(b"MAINPID=abc\nMAINPID=5").main_pid, None);
        assert_eq!(ok(b"MAINPID=5\nMAINPID=6").main_pid, Some(5));
        // A CR inside a value ends it (it is a separator).
        assert_eq!(ok(b"STATUS=a\rb").status.as_deref(), Some("a"));
    }

    #[test]
    fn numbers_as_systemd_parses_them() {
        assert_eq!(ok(b"MAINPID=1234").main_pid, Some(1234));
        assert_eq!(ok(b"MAINPID= \t+1234").main_pid, Some(1234));
        for bad in [
            &b"MAINPID=0"[..],
            b"MAINPID=-5",
            b"MAINPID=12a",
            b"MAINPID=",
            b"MAINPID=1234 ",
            b"MAINPID=0x10",
            b"MAINPID=2147483648",
            b"MAINPID=99999999999999999999999",
        ] {
            assert_eq!(ok(bad).main_pid, None, "{:?}", String::from_utf8_lossy(bad));
        }
        assert_eq!(ok(b"ERRNO=2").errno, Some(2));
        assert_eq!(ok(b"ERRNO=-2").errno, None);
        assert_eq!(ok(b"ERRNO=2147483648").errno, None);
        assert_eq!(
            ok(b"WATCHDOG_USEC=18446744073709551615").watchdog_usec,
            Some(u64::MAX)
        );
        assert_eq!(
            ok(b"WATCHDOG_USEC=18446744073709551616").watchdog_usec,
            None
        );
        assert_eq!(ok(b"EXTEND_TIMEOUT_USEC=-1").extend_timeout_usec, None);
        assert_eq!(
            ok(b"EXTEND_TIMEOUT_USEC=5000000").extend_timeout_usec,
            Some(5_000_000)
        );
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"-9223372036854775809"), None);
        assert_eq!(parse_int(b"9223372036854775808"), None);
        assert_eq!(parse_int(b"-"), None);
    }

    #[test]
    fn whole_datagrams_systemd_ignores() {
        assert_eq!(parse(b"READY=1\0"), Err(Rejected::EmbeddedNul));
        assert_eq!(parse(b"\0READY=1"), Err(Rejected::EmbeddedNul));
        let mut long = b"READY=1\n".to_vec();
        long.resize(MAX_DATAGRAM, b'x');
        assert!(ok(&long).ready, "exactly the maximum is fine");
        long.push(b'x');
        assert_eq!(parse(&long), Err(Rejected::TooLong));
    }

    #[test]
    fn text_values() {
        let n = ok("STATUS=héllo\nBUSERROR=org.x.Failed\nFDNAME=web".as_bytes());
        assert_eq!(n.status.as_deref(), Some("héllo"));
        assert_eq!(n.bus_error.as_deref(), Some("org.x.Failed"));
        assert_eq!(n.fd_name.as_deref(), Some("web"));
        assert_eq!(ok(b"STATUS").status, None, "no '='");
        assert_eq!(ok(b"UNKNOWN=1\nX").status, None);
    }
}
