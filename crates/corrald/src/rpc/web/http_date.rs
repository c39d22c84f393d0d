//! HTTP dates as medusa reads them (`If-Modified-Since`) and writes them (`Last-Modified`,
//! `Expires`; the formatter is proto's, shared with every response's `Date` header).

use corral_proto::calendar::{MONTHS, days_from_civil};

pub(super) use corral_proto::http::http_date as format;

const DAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const LONG_DAY_NAMES: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// medusa's `parse_http_date`: RFC 1123 (`Sun, 06 Nov 1994 08:49:37 GMT`) or RFC 850
/// (`Sunday, 06-Nov-94 08:49:37 GMT`), case-insensitive, as UTC. (medusa also shifts the
/// result by an hour when it falls in local summer time; corral does not.)
pub(super) fn parse(text: &str) -> Option<i64> {
    let d = text.to_ascii_lowercase();
    let (day_name, rest) = d.split_once(", ")?;
    let fields: Vec<&str> = rest.split(' ').collect();
    if LONG_DAY_NAMES.contains(&day_name) {
        let [date, time, "gmt"] = fields[..] else {
            return None;
        };
        let mut it = date.split('-');
        let (day, month, year) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        civil_seconds(day, month, year, time)
    } else if DAY_NAMES.contains(&day_name) {
        let [day, month, year, time, "gmt"] = fields[..] else {
            return None;
        };
        civil_seconds(day, month, year, time)
    } else {
        None
    }
}

fn civil_seconds(day: &str, month: &str, year: &str, time: &str) -> Option<i64> {
    let digits = |s: &str, min: usize, max: usize| {
        (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    let day = digits(day, 1, 2)?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? as i64 + 1;
    // Years past 9 digits overflow mktime in supervisord; they are refused here.
    let year = digits(year, 1, 9)?;
    let mut hms = time.split(':');
    let (h, m, s) = (
        digits(hms.next()?, 2, 2)?,
        digits(hms.next()?, 2, 2)?,
        digits(hms.next()?, 2, 2)?,
    );
    if hms.next().is_some() {
        return None;
    }
    // Out-of-range fields roll over, as mktime does.
    let days = days_from_civil(year, month, 1) + day - 1;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_like_medusa() {
        let d = 784_111_777;
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 GMT"), Some(d));
        assert_eq!(parse("sunday, 06-nov-1994 08:49:37 gmt"), Some(d));
        assert_eq!(parse("Mon, 6 Nov 1994 08:49:37 GMT"), Some(d));
        assert_eq!(parse("Sun Nov  6 08:49:37 1994"), None);
        assert_eq!(parse("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(parse("Sun, 06 Nov 1994 8:49:37 GMT"), None);
        assert_eq!(parse(&format(d)), Some(d));
    }
}
