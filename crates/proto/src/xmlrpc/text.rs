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
pub(crate) fn escape_into(out: &mut String, s: &str) {
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let replacement = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            c if is_xml_char(c) => continue,
            _ => "\u{FFFD}",
        };
        out.push_str(&s[start..i]);
        out.push_str(replacement);
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

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
