//! A small, non-validating XML 1.0 pull tokenizer: just what XML-RPC documents use.
//!
//! It accepts the XML declaration (UTF-8, US-ASCII or ISO-8859-1), comments, processing
//! instructions, CDATA sections, the five predefined entities and numeric character
//! references, and enforces well-formedness where it matters for safety. It rejects DOCTYPE
//! outright: no user-defined entities means no entity-expansion bombs. Every step is linear
//! in the input and nothing recurses; the caller bounds nesting depth.

use std::borrow::Cow;

use super::DecodeError;
use super::text::is_xml_char;

/// What the tokenizer reports. Comments and processing instructions are skipped.
#[derive(Debug, PartialEq)]
pub(crate) enum Token<'a> {
    Start {
        name: &'a str,
        self_closing: bool,
    },
    End {
        name: &'a str,
    },
    /// Character data with entities decoded and line ends normalized (CDATA included).
    Text(Cow<'a, str>),
    Eof,
}

/// At most this many attributes on one element; XML-RPC uses none (a namespace declaration
/// or two at most), and a cap keeps the duplicate check trivially cheap.
const MAX_ATTRIBUTES: usize = 32;

pub(crate) struct Tokenizer<'a> {
    src: &'a str,
    pos: usize,
    /// Whether the token just returned was a self-closing start tag, whose End is pending.
    pending_end: Option<&'a str>,
    /// Accept characters XML forbids (raw control characters, `]]>` in text). Used for
    /// responses: supervisord writes log contents raw, ESC characters included.
    lenient: bool,
}

/// Decodes `body` into text according to its BOM and XML declaration, and returns the text
/// with the offset at which content (after the declaration) starts.
pub(crate) fn decode_document(
    body: &[u8],
    lenient: bool,
) -> Result<(Cow<'_, str>, usize), DecodeError> {
    let at = |offset: usize, msg: String| DecodeError::new_at_byte(body, offset, msg);
    if body.starts_with(&[0xFE, 0xFF]) || body.starts_with(&[0xFF, 0xFE]) {
        return Err(at(0, "UTF-16 documents are not supported".into()));
    }
    let (body, bom) = match body.strip_prefix(b"\xEF\xBB\xBF".as_slice()) {
        Some(rest) => (rest, 3),
        None => (body, 0),
    };
    let mut encoding = Encoding::Utf8;
    let mut content_start = 0;
    if body.starts_with(b"<?xml") && body.get(5).is_some_and(|b| is_space(*b)) {
        let end =
            find(body, b"?>", 5).ok_or_else(|| at(bom, "unterminated XML declaration".into()))?;
        encoding = parse_declaration(&body[5..end]).map_err(|msg| at(bom, msg))?;
        content_start = end + 2;
    }
    let text: Cow<'_, str> = match encoding {
        Encoding::Utf8 => match std::str::from_utf8(body) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) if lenient => String::from_utf8_lossy(body),
            Err(e) => return Err(at(bom + e.valid_up_to(), "invalid UTF-8".into())),
        },
        Encoding::Ascii => match body.iter().position(|b| !b.is_ascii()) {
            None => Cow::Borrowed(std::str::from_utf8(body).unwrap_or_default()),
            Some(_) if lenient => String::from_utf8_lossy(body),
            Some(p) => {
                return Err(at(
                    bom + p,
                    "non-ASCII byte in a document declared US-ASCII".into(),
                ));
            }
        },
        Encoding::Latin1 => Cow::Owned(body.iter().map(|&b| char::from(b)).collect()),
    };
    // Latin-1 transcoding moves offsets; the declaration is ASCII, so content_start is
    // still right (no byte before it is above 0x7F).
    Ok((text, content_start))
}

enum Encoding {
    Utf8,
    Ascii,
    Latin1,
}

/// Parses the inside of `<?xml ... ?>`: `version` (required, 1.x), then optional `encoding`
/// and `standalone`, in that order.
fn parse_declaration(decl: &[u8]) -> Result<Encoding, String> {
    let decl = std::str::from_utf8(decl).map_err(|_| "invalid XML declaration".to_owned())?;
    let mut rest = decl;
    let mut attrs = Vec::new();
    loop {
        let trimmed = rest.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
        if trimmed.is_empty() {
            break;
        }
        if trimmed.len() == rest.len() {
            return Err("malformed XML declaration".into());
        }
        let (name, after) = trimmed.split_once('=').ok_or("malformed XML declaration")?;
        let after = after.trim_start_matches([' ', '\t', '\r', '\n']);
        let quote = after
            .chars()
            .next()
            .filter(|q| *q == '"' || *q == '\'')
            .ok_or("malformed XML declaration")?;
        let value_end = after[1..].find(quote).ok_or("malformed XML declaration")?;
        attrs.push((
            name.trim_end_matches([' ', '\t', '\r', '\n']),
            &after[1..1 + value_end],
        ));
        rest = &after[value_end + 2..];
    }
    let mut names = attrs.iter().map(|(n, _)| *n);
    if names.next() != Some("version") {
        return Err("XML declaration without version".into());
    }
    let allowed_orders: [&[&str]; 4] = [
        &[],
        &["encoding"],
        &["standalone"],
        &["encoding", "standalone"],
    ];
    let rest_names: Vec<&str> = names.collect();
    if !allowed_orders.contains(&rest_names.as_slice()) {
        return Err("malformed XML declaration".into());
    }
    let version = attrs[0].1;
    if !(version.len() > 2
        && version.starts_with("1.")
        && version[2..].bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!("unsupported XML version '{version}'"));
    }
    let mut encoding = Encoding::Utf8;
    for (name, value) in &attrs[1..] {
        match *name {
            "encoding" => {
                encoding = match value.to_ascii_lowercase().as_str() {
                    "utf-8" | "utf8" => Encoding::Utf8,
                    "us-ascii" | "ascii" => Encoding::Ascii,
                    "iso-8859-1" | "iso8859-1" | "latin-1" | "latin1" => Encoding::Latin1,
                    _ => return Err(format!("unsupported encoding '{value}'")),
                };
            }
            _ => {
                if *value != "yes" && *value != "no" {
                    return Err(format!("bad standalone value '{value}'"));
                }
            }
        }
    }
    Ok(encoding)
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// Whether `s` is XML whitespace only (the empty string is).
pub(crate) fn is_whitespace(s: &str) -> bool {
    s.bytes().all(is_space)
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':' || !c.is_ascii()
}

fn is_name_char(c: char) -> bool {
    is_name_start(c) || c.is_ascii_digit() || c == '-' || c == '.'
}

impl<'a> Tokenizer<'a> {
    pub(crate) fn new(src: &'a str, start: usize, lenient: bool) -> Self {
        Tokenizer {
            src,
            pos: start,
            pending_end: None,
            lenient,
        }
    }

    /// The offset of the next unread character.
    pub(crate) fn offset(&self) -> usize {
        self.pos
    }

    pub(crate) fn src(&self) -> &'a str {
        self.src
    }

    fn err(&self, offset: usize, msg: impl Into<String>) -> DecodeError {
        DecodeError::new_at(self.src, offset, msg.into())
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    /// The next token.
    pub(crate) fn next_token(&mut self) -> Result<Token<'a>, DecodeError> {
        if let Some(name) = self.pending_end.take() {
            return Ok(Token::End { name });
        }
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return Ok(Token::Eof);
            }
            if !rest.starts_with('<') {
                let len = rest.find('<').unwrap_or(rest.len());
                let start = self.pos;
                self.pos += len;
                return self.text(start, &rest[..len]).map(Token::Text);
            }
            if rest.starts_with("<!--") {
                self.skip_comment()?;
            } else if rest.starts_with("<![CDATA[") {
                return self.cdata().map(Token::Text);
            } else if rest.starts_with("<!") {
                return Err(self.err(
                    self.pos,
                    if rest.starts_with("<!DOCTYPE") {
                        "DOCTYPE is not allowed in XML-RPC"
                    } else {
                        "unsupported markup declaration"
                    },
                ));
            } else if rest.starts_with("<?") {
                self.skip_pi()?;
            } else if rest.starts_with("</") {
                return self.end_tag();
            } else {
                return self.start_tag();
            }
        }
    }

    fn skip_comment(&mut self) -> Result<(), DecodeError> {
        let start = self.pos;
        let body_start = start + 4;
        let body = &self.src[body_start..];
        let dashes = body
            .find("--")
            .ok_or_else(|| self.err(start, "unterminated comment"))?;
        // XML forbids "--" inside a comment, so the first "--" must be the terminator.
        if !body[dashes..].starts_with("-->") {
            return Err(self.err(body_start + dashes, "'--' inside a comment"));
        }
        self.check_chars(body_start, &body[..dashes])?;
        self.pos = body_start + dashes + 3;
        Ok(())
    }

    fn skip_pi(&mut self) -> Result<(), DecodeError> {
        let start = self.pos;
        let body = &self.src[start + 2..];
        let end = body
            .find("?>")
            .ok_or_else(|| self.err(start, "unterminated processing instruction"))?;
        let target_len = body.find(|c: char| !is_name_char(c)).unwrap_or(body.len());
        let target = &body[..target_len];
        if target.is_empty() || !target.starts_with(is_name_start) {
            return Err(self.err(start, "processing instruction without a target"));
        }
        if target.eq_ignore_ascii_case("xml") {
            return Err(self.err(
                start,
                "XML declaration is only allowed at the start of the document",
            ));
        }
        self.check_chars(start + 2, &body[..end])?;
        self.pos = start + 2 + end + 2;
        Ok(())
    }

    fn cdata(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        let start = self.pos;
        let body_start = start + 9;
        let body = &self.src[body_start..];
        let end = body
            .find("]]>")
            .ok_or_else(|| self.err(start, "unterminated CDATA section"))?;
        self.pos = body_start + end + 3;
        let raw = &body[..end];
        self.check_chars(body_start, raw)?;
        Ok(normalize_newlines(raw))
    }

    fn name(&mut self) -> Result<&'a str, DecodeError> {
        let rest = self.rest();
        if !rest.starts_with(is_name_start) {
            return Err(self.err(self.pos, "expected an element name"));
        }
        let len = rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len());
        self.pos += len;
        Ok(&rest[..len])
    }

    fn skip_space(&mut self) -> bool {
        let rest = self.rest();
        let len = rest.bytes().take_while(|b| is_space(*b)).count();
        self.pos += len;
        len > 0
    }

    fn end_tag(&mut self) -> Result<Token<'a>, DecodeError> {
        let start = self.pos;
        self.pos += 2;
        let name = self.name()?;
        self.skip_space();
        if !self.rest().starts_with('>') {
            return Err(self.err(start, format!("malformed end tag </{name}")));
        }
        self.pos += 1;
        Ok(Token::End { name })
    }

    fn start_tag(&mut self) -> Result<Token<'a>, DecodeError> {
        let start = self.pos;
        self.pos += 1;
        let name = self.name()?;
        let mut attrs: Vec<&'a str> = Vec::new();
        loop {
            let had_space = self.skip_space();
            let rest = self.rest();
            if rest.starts_with("/>") {
                self.pos += 2;
                self.pending_end = Some(name);
                return Ok(Token::Start {
                    name,
                    self_closing: true,
                });
            }
            if rest.starts_with('>') {
                self.pos += 1;
                return Ok(Token::Start {
                    name,
                    self_closing: false,
                });
            }
            if rest.is_empty() {
                return Err(self.err(start, format!("unterminated start tag <{name}")));
            }
            if !had_space {
                return Err(self.err(self.pos, format!("malformed start tag <{name}")));
            }
            let attr_start = self.pos;
            let attr = self.name()?;
            if attrs.len() >= MAX_ATTRIBUTES {
                return Err(self.err(
                    attr_start,
                    format!("more than {MAX_ATTRIBUTES} attributes on <{name}>"),
                ));
            }
            if attrs.contains(&attr) {
                return Err(self.err(attr_start, format!("duplicate attribute '{attr}'")));
            }
            attrs.push(attr);
            self.skip_space();
            if !self.rest().starts_with('=') {
                return Err(self.err(self.pos, format!("attribute '{attr}' without a value")));
            }
            self.pos += 1;
            self.skip_space();
            let rest = self.rest();
            let Some(quote) = rest.chars().next().filter(|q| *q == '"' || *q == '\'') else {
                return Err(self.err(self.pos, format!("unquoted value for attribute '{attr}'")));
            };
            let len = rest[1..].find(quote).ok_or_else(|| {
                self.err(
                    attr_start,
                    format!("unterminated value for attribute '{attr}'"),
                )
            })?;
            let value = &rest[1..1 + len];
            if let Some(lt) = value.find('<') {
                return Err(self.err(self.pos + 1 + lt, "'<' in an attribute value"));
            }
            // Attribute values are not used, but they must still be well-formed.
            self.text(self.pos + 1, value)?;
            self.pos += len + 2;
        }
    }

    fn check_chars(&self, offset: usize, s: &str) -> Result<(), DecodeError> {
        if self.lenient {
            return Ok(());
        }
        match s.char_indices().find(|(_, c)| !is_xml_char(*c)) {
            None => Ok(()),
            Some((i, c)) => Err(self.err(
                offset + i,
                format!("character U+{:04X} is not allowed in XML", c as u32),
            )),
        }
    }

    /// Decodes character data at `offset`: entities and character references, line ends.
    fn text(&self, offset: usize, raw: &'a str) -> Result<Cow<'a, str>, DecodeError> {
        self.check_chars(offset, raw)?;
        if !self.lenient {
            if let Some(p) = raw.find("]]>") {
                return Err(self.err(offset + p, "']]>' is not allowed in character data"));
            }
        }
        if !raw.contains(['&', '\r']) {
            return Ok(Cow::Borrowed(raw));
        }
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(i) = rest.find(['&', '\r']) {
            out.push_str(&rest[..i]);
            if rest.as_bytes()[i] == b'\r' {
                // XML end-of-line handling: CR LF and lone CR both become LF.
                out.push('\n');
                rest = &rest[i + 1..];
                if rest.starts_with('\n') {
                    rest = &rest[1..];
                }
                continue;
            }
            let here = offset + (raw.len() - rest.len()) + i;
            let after = &rest[i + 1..];
            let semi = after
                .bytes()
                .take(32)
                .position(|b| b == b';')
                .ok_or_else(|| self.err(here, "'&' that does not start an entity reference"))?;
            let entity = &after[..semi];
            let c = match entity {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "quot" => '"',
                "apos" => '\'',
                _ => self.char_ref(here, entity)?,
            };
            out.push(c);
            rest = &after[semi + 1..];
        }
        out.push_str(rest);
        Ok(Cow::Owned(out))
    }

    fn char_ref(&self, offset: usize, entity: &str) -> Result<char, DecodeError> {
        let Some(num) = entity.strip_prefix('#') else {
            return Err(self.err(offset, format!("undefined entity '&{entity};'")));
        };
        let (digits, radix) = match num.strip_prefix('x') {
            Some(hex) => (hex, 16),
            None => (num, 10),
        };
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return Err(self.err(
                offset,
                format!("malformed character reference '&{entity};'"),
            ));
        }
        let c = u32::from_str_radix(digits, radix)
            .ok()
            .and_then(char::from_u32)
            .filter(|c| *c != '\0')
            .ok_or_else(|| self.err(offset, format!("invalid character reference '&{entity};'")))?;
        if !self.lenient && !is_xml_char(c) {
            return Err(self.err(
                offset,
                format!("character reference '&{entity};' to a character XML does not allow"),
            ));
        }
        Ok(c)
    }
}

fn normalize_newlines(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\r') {
        return Cow::Borrowed(raw);
    }
    Cow::Owned(raw.replace("\r\n", "\n").replace('\r', "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(src: &str) -> Result<Vec<Token<'_>>, DecodeError> {
        let mut t = Tokenizer::new(src, 0, false);
        let mut out = Vec::new();
        loop {
            let tok = t.next_token()?;
            if tok == Token::Eof {
                return Ok(out);
            }
            out.push(tok);
        }
    }

    fn text(s: &str) -> Token<'_> {
        Token::Text(Cow::Borrowed(s))
    }

    #[test]
    fn elements_text_and_self_closing() {
        let toks = tokens("<a x='1' y=\"2\">hi<b/></a >").unwrap();
        assert_eq!(
            toks,
            vec![
                Token::Start {
                    name: "a",
                    self_closing: false
                },
                text("hi"),
                Token::Start {
                    name: "b",
                    self_closing: true
                },
                Token::End { name: "b" },
                Token::End { name: "a" },
            ]
        );
    }

    #[test]
    fn entities_char_refs_cdata_and_newlines() {
        let toks = tokens("<a>&lt;&gt;&amp;&quot;&apos;&#65;&#x42;&#x1F600;\r\nx\ry<![CDATA[<&>\r\n]]><!-- c --><?pi x?></a>").unwrap();
        let joined: String = toks
            .iter()
            .filter_map(|t| match t {
                Token::Text(s) => Some(s.as_ref()),
                _ => None,
            })
            .collect();
        assert_eq!(joined, "<>&\"'AB😀\nx\ny<&>\n");
    }

    #[test]
    fn char_ref_to_cr_survives_normalization() {
        let toks = tokens("<a>&#13;</a>").unwrap();
        assert_eq!(toks[1], Token::Text(Cow::Owned("\r".into())));
    }

    #[test]
    fn rejects_malformed_markup() {
        for bad in [
            "<a>&foo;</a>",
            "<a>&#0;</a>",
            "<a>&#1;</a>",
            "<a>&#xD800;</a>",
            "<a>&#x110000;</a>",
            "<a>&#;</a>",
            "<a>& </a>",
            "<a>\u{1}</a>",
            "<a>]]></a>",
            "<a><!-- a -- b --></a>",
            "<a><!-- open",
            "<a><![CDATA[open",
            "<!DOCTYPE a [<!ENTITY x 'y'>]><a/>",
            "<a x=1/>",
            "<a x='1'y='2'/>",
            "<a x='1' x='2'/>",
            "<a x='<'/>",
            "<1a/>",
            "<a",
            "</a",
            "<?xml version='1.0'?>",
            "<??>",
        ] {
            assert!(tokens(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn lenient_mode_keeps_control_characters() {
        let mut t = Tokenizer::new("<a>\u{1b}[1m&#1;]]></a>", 0, true);
        t.next_token().unwrap();
        assert_eq!(
            t.next_token().unwrap(),
            Token::Text(Cow::Owned("\u{1b}[1m\u{1}]]>".into()))
        );
    }

    #[test]
    fn declarations_and_encodings() {
        let (s, start) = decode_document(b"<?xml version='1.0'?>\n<a/>", false).unwrap();
        assert_eq!(&s[start..], "\n<a/>");
        let (s, _) = decode_document(
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xe9</a>",
            false,
        )
        .unwrap();
        assert!(s.ends_with("<a>é</a>"));
        assert!(
            decode_document(
                b"<?xml version='1.0' encoding='us-ascii'?><a>\xc3\xa9</a>",
                false
            )
            .is_err()
        );
        assert!(
            decode_document(
                b"<?xml version='1.0' encoding='UTF-8' standalone='yes'?><a/>",
                false
            )
            .is_ok()
        );
        assert!(decode_document(b"\xEF\xBB\xBF<?xml version='1.0'?><a/>", false).is_ok());
        for bad in [
            &b"<?xml version='1.0' encoding='koi8-r'?><a/>"[..],
            b"<?xml encoding='utf-8'?><a/>",
            b"<?xml version='2.0'?><a/>",
            b"<?xml version='1.0' standalone='maybe'?><a/>",
            b"<?xml version='1.0'",
            b"\xFF\xFE<\x00a\x00/\x00>\x00",
            b"<a>\xff</a>",
        ] {
            assert!(
                decode_document(bad, false).is_err(),
                "accepted {:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(decode_document(b"<a>\xff</a>", true).is_ok());
    }

    #[test]
    fn error_positions() {
        let err = tokens("<a>\n  &bogus;</a>").unwrap_err();
        assert_eq!((err.line, err.column), (2, 3));
        assert!(err.message.contains("bogus"), "{}", err.message);
    }
}
