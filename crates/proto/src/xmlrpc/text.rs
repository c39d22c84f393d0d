//! Making arbitrary bytes and strings safe to put in an XML 1.0 document.
//!
//! supervisord returns log contents in `<string>` values. A log may hold invalid UTF-8 (then
//! supervisord fails the call) or control characters such as ESC from colored output (then
//! supervisord sends them raw and Python's `xmlrpc.client` rejects the whole response).
//! corral decodes and replaces instead, so every response it writes parses.

/// U+FFFD REPLACEMENT CHARACTER.
pub const REPLACEMENT: char = '\u{FFFD}';

/// Whether XML 1.0 allows `c` in a document (production `Char`). C0 controls other than
/// tab, LF and CR are forbidden, and so are U+FFFE and U+FFFF; surrogates cannot occur in a
/// Rust `char`.
pub fn is_xml_char(c: char) -> bool {
    matches!(c,
        '\t' | '\n' | '\r'
        | '\u{20}'..='\u{D7FF}'
        | '\u{E000}'..='\u{FFFD}'
        | '\u{10000}'..='\u{10FFFF}')
}

/// Decodes `bytes` as UTF-8, replacing each invalid sequence with U+FFFD (one per maximal
/// invalid subsequence, as Python's `errors="replace"` does), and replaces every character
/// XML 1.0 forbids with U+FFFD. The result can always be sent in an XML-RPC `<string>`.
pub fn xml_safe_text(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        push_xml_safe(&mut out, chunk.valid());
        if !chunk.invalid().is_empty() {
            out.push(REPLACEMENT);
        }
    }
    out
}

/// `s` with every character XML 1.0 forbids replaced by U+FFFD; borrowed when already safe.
pub fn xml_safe_str(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().all(is_xml_char) {
        std::borrow::Cow::Borrowed(s)
    } else {
        let mut out = String::with_capacity(s.len());
        push_xml_safe(&mut out, s);
        std::borrow::Cow::Owned(out)
    }
}

fn push_xml_safe(out: &mut String, s: &str) {
    for c in s.chars() {
        out.push(if is_xml_char(c) { c } else { REPLACEMENT });
    }
}

/// Appends `s` escaped the way Python's `xmlrpc.client.escape` does: only `&`, `<` and `>`
/// (quotes never need escaping in element content). Forbidden characters become U+FFFD,
/// where Python would write them raw and produce a document no XML parser accepts.
///
/// Byte by byte: every answer passes through here (a `getAllProcessInfo` of 3,000
/// processes is 3.8 MB of it), and all but a few bytes are plain ASCII that is copied as
/// it is. Only a byte ≥ 0x80 is decoded as a character, to check it.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let (replacement, len) = match bytes[i] {
            b'&' => ("&amp;", 1),
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'\t' | b'\n' | b'\r' | 0x20..=0x7f => {
                i += 1;
                continue;
            }
            0x00..=0x1f => ("\u{FFFD}", 1),
            _ => {
                // `i` is at a character boundary: every byte before it was consumed whole.
                let c = s[i..].chars().next().unwrap_or(REPLACEMENT);
                if is_xml_char(c) {
                    i += c.len_utf8();
                    continue;
                }
                ("\u{FFFD}", c.len_utf8())
            }
        };
        out.push_str(&s[start..i]);
        out.push_str(replacement);
        i += len;
        start = i;
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The character-by-character definition `escape_into` must agree with.
    fn escape_by_chars(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '&' => out.push_str("&amp;"),
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                c if is_xml_char(c) => out.push(c),
                _ => out.push(REPLACEMENT),
            }
        }
        out
    }

    #[test]
    fn escape_agrees_with_its_definition() {
        let pieces = [
            "",
            "a",
            "plain text",
            "&",
            "<>",
            "a&b<c>d",
            "\t\n\r",
            "\u{0}",
            "\u{1b}[31m",
            "\u{7f}",
            "é",
            "日本",
            "\u{FFFE}",
            "\u{FFFF}",
            "\u{FFFD}",
            "\u{10FFFF}",
            "😀",
            "\u{85}",
        ];
        for a in pieces {
            for b in pieces {
                for c in pieces {
                    let s = format!("{a}{b}{c}");
                    let mut got = String::from("prefix");
                    escape_into(&mut got, &s);
                    assert_eq!(got, format!("prefix{}", escape_by_chars(&s)), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn forbidden_characters() {
        for c in [
            '\0', '\u{1}', '\u{8}', '\u{b}', '\u{c}', '\u{1b}', '\u{1f}', '\u{FFFE}', '\u{FFFF}',
        ] {
            assert!(!is_xml_char(c), "{:?}", c);
        }
        for c in [
            '\t',
            '\n',
            '\r',
            ' ',
            '\u{7f}',
            '\u{85}',
            '\u{D7FF}',
            '\u{E000}',
            '\u{FFFD}',
            '\u{10000}',
            '\u{10FFFF}',
        ] {
            assert!(is_xml_char(c), "{:?}", c);
        }
    }

    #[test]
    fn safe_text_replaces_invalid_utf8_and_controls() {
        assert_eq!(xml_safe_text(b"plain\ttext\r\n"), "plain\ttext\r\n");
        assert_eq!(
            xml_safe_text(b"\x1b[31mred\x1b[0m"),
            "\u{FFFD}[31mred\u{FFFD}[0m"
        );
        assert_eq!(xml_safe_text(b"a\xffb"), "a\u{FFFD}b");
        // A truncated 3-byte sequence is one maximal subpart: one replacement.
        assert_eq!(xml_safe_text(b"a\xe2\x82b"), "a\u{FFFD}b");
        assert_eq!(xml_safe_text("é€😀".as_bytes()), "é€😀");
        assert_eq!(xml_safe_text("\u{FFFF}".as_bytes()), "\u{FFFD}");
        assert_eq!(xml_safe_text(b""), "");
    }

    #[test]
    fn safe_str_borrows_when_clean() {
        assert!(matches!(
            xml_safe_str("fine"),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(xml_safe_str("a\u{0}b"), "a\u{FFFD}b");
    }

    #[test]
    fn escaping_is_pythons() {
        let mut out = String::new();
        escape_into(&mut out, "a&b<c>d\"e'f\u{1}g");
        assert_eq!(out, "a&amp;b&lt;c&gt;d\"e'f\u{FFFD}g");
    }
}
