//! Python `str` behaviour that supervisord's messages and values depend on: what counts as
//! whitespace (`str.strip`, `str.isspace`, `\s` in `re`), `repr()`/`ascii()` of a string,
//! and `int()` of a string (sign, underscores, Unicode decimal digits, Python's error text).

use crate::unicode_tables::{DECIMAL_ZEROS, NON_PRINTABLE};

/// `str.isspace()` for one character (also what `\s` matches in a `re` str pattern).
/// Python counts the ASCII information separators 0x1C..0x1F as whitespace; Rust does not.
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `str.strip()` with no argument.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// `str.rstrip()` with no argument.
pub fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

/// `str.isprintable()` for one character.
pub fn is_printable(c: char) -> bool {
    let cp = c as u32;
    NON_PRINTABLE
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_err()
}

/// The value of a Unicode decimal digit (category Nd), as `int()` reads it.
pub fn decimal_value(c: char) -> Option<u32> {
    let cp = c as u32;
    if c.is_ascii_digit() {
        return Some(cp - '0' as u32);
    }
    if cp < 0x80 {
        return None;
    }
    let idx = DECIMAL_ZEROS.partition_point(|&z| z <= cp);
    if idx == 0 {
        return None;
    }
    let zero = DECIMAL_ZEROS[idx - 1];
    (cp - zero < 10).then_some(cp - zero)
}

fn repr_impl(s: &str, ascii_only: bool) -> String {
    // Python picks single quotes unless the string holds a single quote and no double quote.
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (c as u32) < 0x7f => out.push(c),
            c if !ascii_only && is_printable(c) => out.push(c),
            c => {
                let cp = c as u32;
                if cp <= 0xff {
                    out.push_str(&format!("\\x{cp:02x}"));
                } else if cp <= 0xffff {
                    out.push_str(&format!("\\u{cp:04x}"));
                } else {
                    out.push_str(&format!("\\U{cp:08x}"));
                }
            }
        }
    }
    out.push(quote);
    out
}

/// `repr(s)` of a Python `str`.
pub fn repr(s: &str) -> String {
    repr_impl(s, false)
}

/// `ascii(s)` of a Python `str`.
pub fn ascii(s: &str) -> String {
    repr_impl(s, true)
}

/// Python's `int(s)` (base 10) for a string, limited to `i64` (supervisord's values that
/// need more than that make no sense as counts, sizes or ids).
pub fn int(s: &str) -> Result<i64, String> {
    int_radix(s, 10).map_err(|e| {
        e.unwrap_or_else(|| format!("invalid literal for int() with base 10: {}", repr(s)))
    })
}

/// Python's `int(s, radix)` for radix 8 or 10. `Err(None)` is Python's ValueError (the caller
/// words it); `Err(Some(msg))` is a value too large for corral.
pub fn int_radix(s: &str, radix: u32) -> Result<i64, Option<String>> {
    let t = strip(s);
    let (neg, mut digits) = match t.chars().next() {
        Some('-') => (true, &t[1..]),
        Some('+') => (false, &t[1..]),
        _ => (false, t),
    };
    // With an explicit base 8, Python accepts the 0o prefix (and an underscore after it).
    let mut prev_underscore = true; // a leading underscore is refused
    if radix == 8 && (digits.starts_with("0o") || digits.starts_with("0O")) {
        digits = &digits[2..];
        if digits.starts_with('_') {
            digits = &digits[1..];
        }
    }
    if digits.is_empty() {
        return Err(None);
    }
    let mut value: i128 = 0;
    let mut overflow = false;
    for c in digits.chars() {
        if c == '_' {
            if prev_underscore {
                return Err(None);
            }
            prev_underscore = true;
            continue;
        }
        let d = decimal_value(c).filter(|&d| d < radix).ok_or(None)?;
        prev_underscore = false;
        if !overflow {
            value = value * i128::from(radix) + i128::from(d);
            if value > i128::from(i64::MAX) + 1 {
                overflow = true;
            }
        }
    }
    if prev_underscore {
        return Err(None);
    }
    let too_large = || Some(format!("{} is too large a number for corral", strip(s)));
    if overflow {
        return Err(too_large());
    }
    let value = if neg { -value } else { value };
    i64::try_from(value).map_err(|_| too_large())
}

/// Python's `str.lower()`.
pub fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// Python's `str.upper()`.
pub fn upper(s: &str) -> String {
    s.to_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_quotes_like_python() {
        assert_eq!(repr("abc"), "'abc'");
        assert_eq!(repr("it's"), "\"it's\"");
        assert_eq!(repr("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(repr("a\nb\t\\"), "'a\\nb\\t\\\\'");
        assert_eq!(repr("\u{7}\u{7f}"), "'\\x07\\x7f'");
        assert_eq!(repr("é✅"), "'é✅'");
        assert_eq!(repr("\u{a0}\u{85}"), "'\\xa0\\x85'");
        assert_eq!(repr("\u{200b}"), "'\\u200b'");
        assert_eq!(ascii("é✅"), "'\\xe9\\u2705'");
    }

    #[test]
    fn int_like_python() {
        assert_eq!(int(" 42 "), Ok(42));
        assert_eq!(int("+7"), Ok(7));
        assert_eq!(int("-0"), Ok(0));
        assert_eq!(int("1_000"), Ok(1000));
        assert_eq!(int("007"), Ok(7));
        assert_eq!(int("٣"), Ok(3));
        assert_eq!(int("\u{1c}5\u{1f}"), Ok(5));
        assert_eq!(
            int("abc"),
            Err("invalid literal for int() with base 10: 'abc'".into())
        );
        for bad in ["", " ", "_1", "1_", "1__0", "1.5", "0x10", "- 1", "++1"] {
            assert!(int(bad).is_err(), "{bad:?}");
        }
        assert_eq!(int("4294967295"), Ok(4294967295));
        assert!(int("99999999999999999999").is_err());
    }

    #[test]
    fn whitespace_is_pythons() {
        assert!(is_space('\u{1c}'));
        assert!(is_space('\u{3000}'));
        assert!(!is_space('\u{200b}'));
        assert_eq!(strip("\u{1f} x \u{a0}"), "x");
    }
}
