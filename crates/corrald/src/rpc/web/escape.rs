//! The two escapings of supervisord's web interface: meld3's, for text and attribute
//! values in its pages, and `urllib.parse.quote`, for names and messages in its URLs.

/// meld's escaping of text: `<` and every `&` that does not start something shaped like
/// an entity (`&name;`, `&#123;`). supervisord's pages pass such entities through (a
/// description holding `&amp;` shows `&`); `<` is always escaped, so no markup can get in.
pub(super) fn meld_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        match c {
            '<' => out.push_str("&lt;"),
            '&' if !entity_like(&s[i + 1..]) => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// meld's escaping of an attribute value: as text, and `"` too, so a value cannot end its
/// attribute.
pub(super) fn meld_attr(s: &str) -> String {
    meld_text(s).replace('"', "&quot;")
}

/// What follows a `&` matches `[#\w]*;` (`\w` being ASCII in meld's byte regex).
fn entity_like(rest: &str) -> bool {
    let name_len = rest
        .bytes()
        .take_while(|b| *b == b'#' || *b == b'_' || b.is_ascii_alphanumeric())
        .count();
    rest.as_bytes().get(name_len) == Some(&b';')
}

/// `urllib.parse.quote(s)`: UTF-8, every byte but `A-Za-z0-9_.-~/` as `%XX`.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meld_escaping_matches_supervisord() {
        // Seen on supervisord's status page for ?message=a%3Cb%3E%26amp;%26c%22+d
        assert_eq!(meld_text("a<b>&amp;&c\" d"), "a&lt;b>&amp;&amp;c\" d");
        assert_eq!(meld_text("&;&#12;&x y;&"), "&;&#12;&amp;x y;&amp;");
        assert_eq!(
            meld_attr("tail.html?processname=x&limit=1024"),
            "tail.html?processname=x&amp;limit=1024"
        );
        assert_eq!(meld_attr("a\"b&amp;"), "a&quot;b&amp;");
    }

    #[test]
    fn quote_is_urllib_quote() {
        assert_eq!(quote("grp:off"), "grp%3Aoff");
        assert_eq!(
            quote("Page refreshed at Sun Nov 22 03:56:52 2026"),
            "Page%20refreshed%20at%20Sun%20Nov%2022%2003%3A56%3A52%202026"
        );
        assert_eq!(quote("a/b~c_d.e-f"), "a/b~c_d.e-f");
        assert_eq!(quote("é&?"), "%C3%A9%26%3F");
    }
}
