//! The broken-down local time of a Unix timestamp: the one place corral asks the C library
//! for local time. corrald's main log timestamps, the stop time in `getProcessInfo`
//! descriptions and the web interface's `time.ctime()` all come from [`local_time`], as
//! supervisord's come from Python's `time.localtime`.
//!
//! The fields are formatted here by hand rather than with `strftime`: supervisord never
//! calls `setlocale(LC_TIME)`, so Python writes month and day names in the C locale whatever
//! the environment says, and corral must too even if its process changes locale.

// Local time comes from libc (tzset, localtime_r): the one unsafe block of this crate.
#![allow(unsafe_code)]

use std::ffi::OsString;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::calendar::{MONTHS, civil_from_days};

/// A moment as the wall clock of the local time zone shows it (`struct tm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub year: i64,
    /// 1-12.
    pub month: u32,
    /// 1-31.
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    /// 0-60 (60 only for a leap second in a "right/" zone).
    pub second: u32,
    /// 0 is Sunday.
    pub weekday: u32,
}

unsafe extern "C" {
    /// POSIX `tzset` (declared here: the libc crate does not export it on every target).
    fn tzset();
}

/// The local time of `secs` (seconds since the epoch), in the zone TZ names now.
///
/// A change of the TZ variable in corral's own environment is followed at once, by the
/// main log and the descriptions alike (`localtime_r` alone need not re-read it). `tzset`
/// runs only when TZ changed since the last call: with TZ unset, glibc's `tzset` re-checks
/// `/etc/localtime` on every call, which measured 6-8 µs against 0.14 µs for `localtime_r`
/// alone, too much for every line of the main log. So, as in supervisord (Python's
/// `time.localtime` never calls `tzset`), a change of `/etc/localtime` while running is
/// not followed. A time the C library cannot convert (past its `time_t` or year range) is
/// given in UTC.
pub fn local_time(secs: i64) -> LocalTime {
    // time_t is 32 bits on some targets; there the conversion can fail.
    let Some(t) = libc::time_t::try_from(secs).ok() else {
        return LocalTime::utc(secs);
    };
    let reread_tz = tz_changed();
    // SAFETY: `libc::tm` is plain old data (integers and, on some targets, a `tm_zone`
    // pointer for which null is valid), so the all-zero value is a valid instance. tzset
    // has no preconditions (glibc and musl lock around the zone state it writes).
    // localtime_r is the reentrant variant: it reads `t` and writes only to `tm`, both
    // valid for the duration of the call, and returns null (leaving `tm` unspecified) on
    // failure, which is checked before `tm` is read.
    let (ok, tm) = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if reread_tz {
            tzset();
        }
        let ok = !libc::localtime_r(&t, &mut tm).is_null();
        (ok, tm)
    };
    if !ok {
        return LocalTime::utc(secs);
    }
    let field = |v: libc::c_int| u32::try_from(v).unwrap_or(0);
    LocalTime {
        year: i64::from(tm.tm_year) + 1900,
        month: field(tm.tm_mon) + 1,
        day: field(tm.tm_mday),
        hour: field(tm.tm_hour),
        minute: field(tm.tm_min),
        second: field(tm.tm_sec),
        weekday: field(tm.tm_wday),
    }
}

/// Whether TZ differs from what it was at the last call (true at the first).
fn tz_changed() -> bool {
    static LAST: Mutex<Option<Option<OsString>>> = Mutex::new(None);
    let tz = std::env::var_os("TZ");
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    if last.as_ref() == Some(&tz) {
        return false;
    }
    *last = Some(tz);
    true
}

impl LocalTime {
    /// The local time now.
    pub fn now() -> LocalTime {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        local_time(secs)
    }

    /// `secs` in UTC, from the proleptic Gregorian calendar.
    pub fn utc(secs: i64) -> LocalTime {
        let days = secs.div_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let rem = secs.rem_euclid(86_400);
        // Each value below is bounded by its modulus, so the conversions cannot fail.
        let small = |v: i64| u32::try_from(v).unwrap_or(0);
        LocalTime {
            year,
            month: small(month),
            day: small(day),
            hour: small(rem / 3600),
            minute: small(rem % 3600 / 60),
            second: small(rem % 60),
            // 1970-01-01 was a Thursday.
            weekday: small((days + 4).rem_euclid(7)),
        }
    }

    /// `%b`: `Jan` … `Dec`.
    pub fn month_abbr(&self) -> &'static str {
        (self.month as usize)
            .checked_sub(1)
            .and_then(|m| MONTHS.get(m))
            .copied()
            .unwrap_or("???")
    }

    /// `%a`: `Sun` … `Sat`.
    pub fn weekday_abbr(&self) -> &'static str {
        const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        DAYS.get(self.weekday as usize).copied().unwrap_or("???")
    }

    /// `%Y-%m-%d %H:%M:%S`, as Python's logging `asctime` writes it (before its `,mmm`).
    pub fn datetime(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// Python's `time.ctime()`: `Sun Nov  2 03:55:40 2026`.
    pub fn ctime(&self) -> String {
        format!(
            "{} {} {:>2} {:02}:{:02}:{:02} {}",
            self.weekday_abbr(),
            self.month_abbr(),
            self.day,
            self.hour,
            self.minute,
            self.second,
            self.year
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_fields() {
        let t = LocalTime::utc(784_111_777);
        assert_eq!(
            t,
            LocalTime {
                year: 1994,
                month: 11,
                day: 6,
                hour: 8,
                minute: 49,
                second: 37,
                weekday: 0,
            }
        );
        assert_eq!(t.datetime(), "1994-11-06 08:49:37");
        assert_eq!(t.ctime(), "Sun Nov  6 08:49:37 1994");
        assert_eq!(LocalTime::utc(0).ctime(), "Thu Jan  1 00:00:00 1970");
        assert_eq!(LocalTime::utc(-1).datetime(), "1969-12-31 23:59:59");
        assert_eq!(LocalTime::utc(-1).weekday_abbr(), "Wed");
        assert_eq!(
            LocalTime::utc(1_793_584_540).ctime(),
            "Mon Nov  2 01:55:40 2026"
        );
        assert_eq!(
            LocalTime::utc(1_795_311_078).datetime(),
            "2026-11-22 01:31:18"
        );
        assert_eq!(
            LocalTime::utc(951_825_600).datetime(),
            "2000-02-29 12:00:00"
        );
    }

    #[test]
    fn out_of_range_times_fall_back_to_utc() {
        // Far past any year the C library's `int tm_year` holds.
        let secs = i64::MAX / 2;
        assert_eq!(local_time(secs), LocalTime::utc(secs));
    }
}
