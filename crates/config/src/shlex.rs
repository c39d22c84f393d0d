//! Python's `shlex`, in the two forms supervisor uses:
//!
//! * [`split`]: `shlex.split(s)` (posix, `whitespace_split=True`, no comments), which is how
//!   supervisord turns `command=` into argv. Errors are Python's: `No closing quotation`,
//!   `No escaped character`.
//! * [`python_tokens`]: the non-posix `shlex.shlex(s)` lexer with `wordchars += '/.+-():'`
//!   that supervisord's `dict_of_key_value_pairs` runs over `environment=`. Its quirks are
//!   supervisord's: `#` starts a comment to the end of the line, every character that is not
//!   a word character is a token of its own, quotes are kept on the token.

use std::fmt;

const WHITESPACE: [char; 4] = [' ', '\t', '\r', '\n'];

/// Why Python's `shlex` refuses a string; it displays as Python's `ValueError` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShlexError {
    /// A quote that is never closed.
    NoClosingQuotation,
    /// A backslash at the very end (posix mode).
    NoEscapedCharacter,
}

impl fmt::Display for ShlexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ShlexError::NoClosingQuotation => "No closing quotation",
            ShlexError::NoEscapedCharacter => "No escaped character",
        })
    }
}

impl std::error::Error for ShlexError {}

/// `shlex.split(s)`: posix mode, whitespace-split, no comment characters.
pub fn split(s: &str) -> Result<Vec<String>, ShlexError> {
    #[derive(PartialEq, Clone, Copy)]
    enum St {
        Space,
        Word,
        Quote(char),
        Escape,
        End,
    }
    let mut out = Vec::new();
    let mut chars = s.chars();
    let mut state = St::Space;
    loop {
        // One read_token() call.
        if state == St::End {
            return Ok(out);
        }
        let mut token = String::new();
        let mut quoted = false;
        let mut escaped_state = St::Word;
        loop {
            let next = chars.next();
            match state {
                St::End => break,
                St::Space => match next {
                    None => {
                        state = St::End;
                        break;
                    }
                    Some(c) if WHITESPACE.contains(&c) => {
                        if !token.is_empty() || quoted {
                            break;
                        }
                    }
                    Some('\\') => {
                        escaped_state = St::Word;
                        state = St::Escape;
                    }
                    Some(c @ ('\'' | '"')) => state = St::Quote(c),
                    Some(c) => {
                        token.push(c);
                        state = St::Word;
                    }
                },
                St::Quote(q) => {
                    quoted = true;
                    match next {
                        None => return Err(ShlexError::NoClosingQuotation),
                        Some(c) if c == q => state = St::Word,
                        Some('\\') if q == '"' => {
                            escaped_state = St::Quote(q);
                            state = St::Escape;
                        }
                        Some(c) => token.push(c),
                    }
                }
                St::Escape => match next {
                    None => return Err(ShlexError::NoEscapedCharacter),
                    Some(c) => {
                        // Inside double quotes only the quote and the backslash are escaped.
                        if let St::Quote(q) = escaped_state {
                            if c != '\\' && c != q {
                                token.push('\\');
                            }
                        }
                        token.push(c);
                        state = escaped_state;
                    }
                },
                St::Word => match next {
                    None => {
                        state = St::End;
                        break;
                    }
                    Some(c) if WHITESPACE.contains(&c) => {
                        state = St::Space;
                        if !token.is_empty() || quoted {
                            break;
                        }
                    }
                    Some(c @ ('\'' | '"')) => state = St::Quote(c),
                    Some('\\') => {
                        escaped_state = St::Word;
                        state = St::Escape;
                    }
                    Some(c) => token.push(c),
                },
            }
        }
        if quoted || !token.is_empty() {
            out.push(token);
        } else if state == St::End {
            return Ok(out);
        }
    }
}

fn is_wordchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || "/.+-():".contains(c)
}

/// The tokens of `shlex.shlex(s)` (non-posix) with supervisord's extra word characters.
pub fn python_tokens(s: &str) -> Result<Vec<String>, ShlexError> {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    let mut pushback: Option<char> = None;
    let mut eof = false;
    loop {
        if let Some(c) = pushback.take() {
            out.push(c.to_string());
            continue;
        }
        if eof {
            return Ok(out);
        }
        // read_token() from state ' '.
        let mut token = String::new();
        let mut state = ' ';
        loop {
            let next = chars.get(i).copied();
            if next.is_some() {
                i += 1;
            }
            match state {
                ' ' => match next {
                    None => {
                        eof = true;
                        break;
                    }
                    Some(c) if WHITESPACE.contains(&c) => {
                        if !token.is_empty() {
                            break;
                        }
                    }
                    Some('#') => {
                        // readline(): drop the rest of this line.
                        while let Some(&c) = chars.get(i) {
                            i += 1;
                            if c == '\n' {
                                break;
                            }
                        }
                    }
                    Some(c) if is_wordchar(c) => {
                        token.push(c);
                        state = 'a';
                    }
                    Some(c @ ('\'' | '"')) => {
                        token.push(c);
                        state = c;
                    }
                    Some(c) => {
                        token.push(c);
                        break;
                    }
                },
                q @ ('\'' | '"') => match next {
                    None => return Err(ShlexError::NoClosingQuotation),
                    Some(c) => {
                        token.push(c);
                        if c == q {
                            break;
                        }
                    }
                },
                _ => match next {
                    None => {
                        eof = true;
                        break;
                    }
                    Some(c) if WHITESPACE.contains(&c) => break,
                    Some('#') => {
                        while let Some(&c) = chars.get(i) {
                            i += 1;
                            if c == '\n' {
                                break;
                            }
                        }
                        // Non-posix: the comment does not end the word; reading goes on.
                    }
                    Some(c) if is_wordchar(c) || c == '\'' || c == '"' => token.push(c),
                    Some(c) => {
                        pushback = Some(c);
                        break;
                    }
                },
            }
        }
        // In non-posix mode the empty token is the end of the stream.
        if token.is_empty() {
            return Ok(out);
        }
        out.push(token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(s: &str) -> Vec<String> {
        split(s).unwrap()
    }

    #[test]
    fn split_like_python() {
        assert_eq!(sp("a b  c"), ["a", "b", "c"]);
        assert_eq!(sp("  "), Vec::<String>::new());
        assert_eq!(sp("''"), [""]);
        assert_eq!(sp("a'b c'd"), ["ab cd"]);
        assert_eq!(sp(r#""a\"b\$""#), [r#"a"b\$"#]);
        assert_eq!(sp(r"a\ b \\"), ["a b", "\\"]);
        assert_eq!(sp("'a\\'"), ["a\\"]);
        assert_eq!(sp("x#y"), ["x#y"]);
        assert_eq!(sp("a\nb\tc"), ["a", "b", "c"]);
        assert_eq!(split("'abc").unwrap_err(), ShlexError::NoClosingQuotation);
        assert_eq!(split("abc\\").unwrap_err(), ShlexError::NoEscapedCharacter);
    }

    #[test]
    fn tokens_like_python_shlex() {
        let t = |s: &str| python_tokens(s).unwrap();
        assert_eq!(t("A=$HOME"), ["A", "=", "$", "HOME"]);
        assert_eq!(t("P=abc#123,B=2"), ["P", "=", "abc"]);
        assert_eq!(
            t(r#"A="x y",B='z'"#),
            ["A", "=", "\"x y\"", ",", "B", "=", "'z'"]
        );
        assert_eq!(
            t("URL=postgres://u:p@h/db"),
            ["URL", "=", "postgres://u:p", "@", "h/db"]
        );
        assert_eq!(t("a\"b c\""), ["a\"b", "c\""]);
        assert_eq!(t("A=1 # c\n B=2"), ["A", "=", "1", "B", "=", "2"]);
        assert_eq!(
            python_tokens("A='x").unwrap_err().to_string(),
            "No closing quotation"
        );
    }
}
