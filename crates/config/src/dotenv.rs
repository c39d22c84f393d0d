//! `environment_file=`: the dotenv format, read as python-dotenv 1.x reads it
//! (`dotenv_values(path, interpolate=False)`), except that what python-dotenv skips with a
//! warning is an error here, with its line.
//!
//! * `KEY=VALUE`, `export KEY=VALUE`, whitespace around the key and after `=`;
//! * blank lines and `#` comments; after an unquoted value, ` #` (whitespace, then `#`)
//!   starts a comment and trailing whitespace is dropped (`KEY=#x` keeps `#x`);
//! * `'single'` quotes: taken literally, but `\\` and `\'` are decoded; `"double"` quotes:
//!   `\\ \' \" \a \b \f \n \r \t \v` are decoded; both may span lines;
//! * a key may be quoted (`'my key'=x`); a later assignment of a key wins;
//! * line ends are `\n`, `\r\n` or `\r` (a file read in Python's text mode), and a UTF-8
//!   byte order mark at the start is ignored.
//!
//! Values are literal: `${X}` is not expanded (as in systemd's `EnvironmentFile=`).
//!
//! Errors: a key without `=` (python-dotenv gives it no value, so it sets nothing), a quote
//! that is not closed, anything but a comment after a value, a line that does not start
//! with a key, and text that is not UTF-8.

use std::fmt;

use crate::host::Host;
use crate::model::EnvFile;
use crate::pystr::is_space;

/// The assignments of `files`, in order: what a spawn adds to the environment before
/// `environment=`. A missing file marked optional is skipped; any other problem is the
/// message a failed spawn reports (`environment_file /etc/web.env:3: ...`).
pub fn read_files(files: &[EnvFile], host: &dyn Host) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for f in files {
        let bytes = match host.read_file(&f.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && f.optional => continue,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(format!(
                    "environment_file {}: no such file (write -{} for a file that may be missing)",
                    f.path, f.path
                ));
            }
            Err(e) => return Err(format!("environment_file {}: cannot read it: {e}", f.path)),
        };
        match parse_bytes(&bytes) {
            Ok(pairs) => out.extend(pairs),
            Err(e) => {
                return Err(format!(
                    "environment_file {}:{}: {}",
                    f.path, e.line, e.message
                ));
            }
        }
    }
    Ok(out)
}

/// Why a dotenv file was refused: the 1-based line and what is wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotenvError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for DotenvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The assignments of a file's bytes, in order (a key may appear more than once; the
/// last one wins when they are applied).
pub fn parse_bytes(bytes: &[u8]) -> Result<Vec<(String, String)>, DotenvError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => parse(text),
        Err(e) => {
            let good = &bytes[..e.valid_up_to()];
            let line = 1 + count_line_ends(&String::from_utf8_lossy(good));
            Err(DotenvError {
                line,
                message: "not valid UTF-8 text".into(),
            })
        }
    }
}

/// The assignments of a file's text, in order.
pub fn parse(text: &str) -> Result<Vec<(String, String)>, DotenvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Python's text mode turns every line end into "\n" before the parser sees it.
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut r = Reader {
        chars: text.chars().collect(),
        pos: 0,
        line: 1,
    };
    let mut out = Vec::new();
    loop {
        r.skip_while(is_space);
        if r.at_end() {
            return Ok(out);
        }
        if let Some(binding) = binding(&mut r)? {
            out.push(binding);
        }
    }
}

fn count_line_ends(s: &str) -> usize {
    s.replace("\r\n", "\n")
        .chars()
        .filter(|&c| c == '\n' || c == '\r')
        .count()
}

struct Reader {
    chars: Vec<char>,
    pos: usize,
    line: usize,
}

impl Reader {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn skip_while(&mut self, f: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&f) {
            self.next();
        }
    }

    /// Whitespace within the line (python-dotenv's `[^\S\r\n]*`).
    fn skip_blanks(&mut self) {
        self.skip_while(|c| is_space(c) && c != '\n');
    }

    fn rest_of_line(&self) -> String {
        self.chars[self.pos..]
            .iter()
            .take_while(|&&c| c != '\n')
            .collect()
    }

    fn error(&self, line: usize, message: String) -> DotenvError {
        DotenvError { line, message }
    }

    fn starts_with(&self, s: &str) -> bool {
        let mut rest = self.chars[self.pos.min(self.chars.len())..].iter();
        s.chars().all(|c| rest.next() == Some(&c))
    }
}

/// A short excerpt of a line for messages, as Python's `repr()` shows it.
fn excerpt(s: &str) -> String {
    let cut: String = s.chars().take(40).collect();
    let more = if s.chars().count() > 40 { "..." } else { "" };
    format!("{}{more}", crate::pystr::repr(&cut))
}

/// One statement, starting at a non-blank character: `None` for a comment line.
fn binding(r: &mut Reader) -> Result<Option<(String, String)>, DotenvError> {
    let line = r.line;
    let start = r.pos;
    // `export` followed by blanks (not a key named "export").
    if r.starts_with("export")
        && r.chars
            .get(r.pos + 6)
            .is_some_and(|&c| is_space(c) && c != '\n')
    {
        r.pos += 6;
        r.skip_blanks();
    }
    if r.peek() == Some('#') {
        r.skip_while(|c| c != '\n');
        return Ok(None);
    }
    let key = key(r, line)?;
    r.skip_blanks();
    if r.peek() != Some('=') {
        let rest = r.rest_of_line();
        let what = if rest.is_empty() || rest.starts_with('#') {
            format!("{key} has no value (expected KEY=VALUE)")
        } else {
            r.pos = start;
            format!("expected KEY=VALUE, found {}", excerpt(&r.rest_of_line()))
        };
        return Err(r.error(line, what));
    }
    r.next();
    let blanks_after_equal = r.peek().is_some_and(|c| is_space(c) && c != '\n');
    r.skip_blanks();
    let value = if blanks_after_equal && r.peek() == Some('#') {
        String::new()
    } else {
        value(r)?
    };
    // A comment, then the end of the line.
    r.skip_blanks();
    match r.peek() {
        None | Some('\n') => {}
        Some('#') => r.skip_while(|c| c != '\n'),
        Some(_) => {
            let rest = r.rest_of_line();
            return Err(r.error(
                r.line,
                format!(
                    "unexpected {} after the value of {key} (quote the whole value, or \
                     start a comment with ' #')",
                    excerpt(&rest)
                ),
            ));
        }
    }
    r.next();
    Ok(Some((key, value)))
}

fn key(r: &mut Reader, line: usize) -> Result<String, DotenvError> {
    if r.peek() == Some('\'') {
        let start = r.pos + 1;
        let len = r.chars[start..].iter().take_while(|&&c| c != '\'').count();
        if len == 0 || start + len >= r.chars.len() {
            return Err(r.error(line, "a quoted key is not closed".into()));
        }
        let key: String = r.chars[start..start + len].iter().collect();
        for _ in 0..len + 2 {
            r.next();
        }
        return Ok(key);
    }
    let mut key = String::new();
    while let Some(c) = r.peek() {
        if c == '=' || c == '#' || is_space(c) {
            break;
        }
        key.push(c);
        r.next();
    }
    if key.is_empty() {
        let rest = r.rest_of_line();
        return Err(r.error(
            line,
            format!("expected KEY=VALUE, found {}", excerpt(&rest)),
        ));
    }
    Ok(key)
}

fn value(r: &mut Reader) -> Result<String, DotenvError> {
    match r.peek() {
        Some(q @ ('\'' | '"')) => quoted(r, q),
        None | Some('\n') => Ok(String::new()),
        Some(_) => {
            let part = r.rest_of_line();
            for _ in 0..part.chars().count() {
                r.next();
            }
            Ok(unquoted(&part))
        }
    }
}

/// python-dotenv: `re.sub(r"\s+#.*", "", part).rstrip()`.
fn unquoted(part: &str) -> String {
    let chars: Vec<(usize, char)> = part.char_indices().collect();
    let mut cut = part.len();
    for (i, &(_, c)) in chars.iter().enumerate() {
        if c == '#' && i > 0 && is_space(chars[i - 1].1) {
            // The whitespace run before it goes too.
            let mut j = i;
            while j > 0 && is_space(chars[j - 1].1) {
                j -= 1;
            }
            cut = chars[j].0;
            break;
        }
    }
    crate::pystr::rstrip(&part[..cut]).to_string()
}

/// A quoted value; a backslash always escapes the next character (so `\'` does not end a
/// single-quoted value), and only some escapes are decoded.
fn quoted(r: &mut Reader, q: char) -> Result<String, DotenvError> {
    let line = r.line;
    let start = r.pos;
    r.next();
    let mut raw: Vec<char> = Vec::new();
    loop {
        match r.next() {
            None => {
                r.pos = start;
                let kind = if q == '"' { "double" } else { "single" };
                return Err(r.error(
                    line,
                    format!("a {kind}-quoted value is not closed (missing {q})"),
                ));
            }
            Some('\\') => match r.next() {
                Some(c) => {
                    raw.push('\\');
                    raw.push(c);
                }
                None => {
                    r.pos = start;
                    return Err(
                        r.error(line, format!("a quoted value is not closed (missing {q})"))
                    );
                }
            },
            Some(c) if c == q => break,
            Some(c) => raw.push(c),
        }
    }
    let mut out = String::new();
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c == '\\' && i + 1 < raw.len() {
            let e = raw[i + 1];
            let decoded = if q == '\'' {
                match e {
                    '\\' | '\'' => Some(e),
                    _ => None,
                }
            } else {
                match e {
                    '\\' | '\'' | '"' => Some(e),
                    'a' => Some('\u{7}'),
                    'b' => Some('\u{8}'),
                    'f' => Some('\u{c}'),
                    'n' => Some('\n'),
                    'r' => Some('\r'),
                    't' => Some('\t'),
                    'v' => Some('\u{b}'),
                    _ => None,
                }
            };
            match decoded {
                Some(d) => {
                    out.push(d);
                    i += 2;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> Vec<(String, String)> {
        parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"))
    }

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_forms() {
        let text = "\u{feff}# a comment\n\
                    \n\
                    A=1\n\
                    export B = two words  # comment\n\
                    C='single $X \\' \\\\ \\n'\n\
                    D=\"double \\\" \\n \\t \\\\ \\x\"\n\
                    E=#notacomment\n\
                    F= # a comment, empty value\n\
                    G=\n\
                    'quoted key'=v\n\
                    M=\"two\nlines\"\r\n\
                    exportX=1\n\
                    A=last\n";
        assert_eq!(
            ok(text),
            pairs(&[
                ("A", "1"),
                ("B", "two words"),
                ("C", "single $X ' \\ \\n"),
                ("D", "double \" \n \t \\ \\x"),
                ("E", "#notacomment"),
                ("F", ""),
                ("G", ""),
                ("quoted key", "v"),
                ("M", "two\nlines"),
                ("exportX", "1"),
                ("A", "last"),
            ])
        );
    }

    #[test]
    fn line_ends_are_normalized() {
        assert_eq!(ok("A=\"x\ry\"\rB=2"), pairs(&[("A", "x\ny"), ("B", "2")]));
    }

    #[test]
    fn errors_name_their_line() {
        let e = parse("A=1\n\nB\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(e.message, "B has no value (expected KEY=VALUE)");
        let e = parse("A=1\nB=\"open\nC=2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("not closed"), "{e}");
        let e = parse("A=\"x\" y\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("after the value of A"), "{e}");
        let e = parse("A=1\n=x\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.starts_with("expected KEY=VALUE"), "{e}");
        let e = parse("hello world\n").unwrap_err();
        assert!(e.message.contains("'hello world'"), "{e}");
        let e = parse_bytes(b"A=1\nB=\xff\n").unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (2, "not valid UTF-8 text"));
    }

    #[test]
    fn an_escaped_quote_does_not_close() {
        assert_eq!(ok(r"A='it\'s'"), pairs(&[("A", "it's")]));
        assert_eq!(ok(r#"A="a\\""#), pairs(&[("A", "a\\")]));
    }
}
