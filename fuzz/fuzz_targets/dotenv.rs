//! `environment_file=`'s dotenv parser on arbitrary bytes: no panics, errors name a line
//! of the input, and whatever it accepts can be written back (keys bare or quoted, values
//! double-quoted and escaped) and read again to the same assignments.
#![no_main]

use corral_config::dotenv::{parse, parse_bytes};
use libfuzzer_sys::fuzz_target;

/// A key as a file would have to say it: bare when it can be, else `'quoted'` (a key
/// that needs quotes never contains a single quote, and no key contains CR).
fn write_key(k: &str) -> String {
    let bare = !k.is_empty()
        && !k.starts_with('\'')
        && !k.starts_with('#')
        && !k
            .chars()
            .any(|c| c == '=' || c == '#' || corral_config::pystr::is_space(c));
    let export_like = k.starts_with("export")
        && k[6..]
            .chars()
            .next()
            .is_some_and(corral_config::pystr::is_space);
    if bare && !export_like {
        k.to_string()
    } else {
        format!("'{k}'")
    }
}

/// A value in double quotes, with the escapes the parser decodes.
fn write_value(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fuzz_target!(|data: &[u8]| {
    let result = parse_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        assert_eq!(parse(text), result, "text and bytes disagree");
    }
    match result {
        Err(e) => {
            let lines = 1 + data.iter().filter(|&&b| b == b'\n' || b == b'\r').count();
            assert!(e.line >= 1 && e.line <= lines, "line {} of {lines}", e.line);
            assert!(!e.message.is_empty());
        }
        Ok(pairs) => {
            // A first line of its own: a key may start with a byte order mark, which the
            // parser drops at the start of a file only.
            let mut text = String::from("# written back\n");
            for (k, v) in &pairs {
                assert!(!k.is_empty(), "an empty key");
                assert!(!k.contains('\r'), "a CR in a key");
                text.push_str(&format!("{}={}\n", write_key(k), write_value(v)));
            }
            let again = parse(&text).unwrap_or_else(|e| panic!("written back: {e}\n{text:?}"));
            assert_eq!(again, pairs, "written back as {text:?}");
        }
    }
});
