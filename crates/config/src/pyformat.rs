//! Python's `str % mapping` (CPython 3.11 `PyUnicode_Format`), which is how supervisord
//! expands every value (`%(here)s`, `%(process_num)02d`, `%(ENV_HOME)s`, `%%`), and
//! supervisord's `expand()` wrapper with its two error messages.
//!
//! Every printf form Python accepts is supported for the value types supervisord puts in its
//! expansion dictionaries (strings and integers): flags `-+ #0`, width, precision, the
//! ignored `h`/`l`/`L` length modifiers, and the conversions `s r a c d i u o x X e E f F g G`.
//! Errors carry Python's exact text (`unsupported format character 'U' (0x55) at index 1`,
//! `incomplete format`, `%d format: a real number is required, not str`, ...).

use std::collections::BTreeMap;
use std::fmt;

use crate::pystr;

/// A value in an expansion dictionary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PyVal {
    Str(String),
    Int(i64),
}

/// The names a value may use, sorted as Python's `sorted()` sorts strings.
pub type Expansions = BTreeMap<String, PyVal>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// `KeyError(key)`: a `%(name)` that is not in the mapping.
    Key(String),
    /// Any other exception, with `str(exception)`.
    Other(String),
    /// A directive without `(name)` that would format the whole mapping (`%s` gives the
    /// repr of supervisord's expansion dict: never what the file meant).
    WholeMapping(String),
}

#[derive(Clone, Copy)]
enum Arg<'a> {
    Dict,
    Val(&'a PyVal),
}

const F_LJUST: u8 = 1;
const F_SIGN: u8 = 2;
const F_BLANK: u8 = 4;
const F_ALT: u8 = 8;
const F_ZERO: u8 = 16;

struct Ctx<'a> {
    fmt: Vec<char>,
    pos: usize,
    map: &'a Expansions,
    args: Arg<'a>,
    argidx: i64,
    arglen: i64,
}

impl<'a> Ctx<'a> {
    /// CPython's `if (--fmtcnt >= 0) c = fmt[fmtpos++]`: the next character into `ch`,
    /// false when the format is used up.
    fn advance(&mut self, fmtcnt: &mut i64, ch: &mut char) -> bool {
        *fmtcnt -= 1;
        if *fmtcnt < 0 {
            return false;
        }
        *ch = self.fmt.get(self.pos).copied().unwrap_or('\0');
        self.pos += 1;
        true
    }

    /// The digits of a width or precision, `ch` being the first: the number, or `too_big`
    /// once it would pass `limit`.
    fn number(
        &mut self,
        fmtcnt: &mut i64,
        ch: &mut char,
        limit: i64,
        too_big: &str,
    ) -> Result<i64, FormatError> {
        let mut v = i64::from(*ch as u8 - b'0');
        while self.advance(fmtcnt, ch) && ch.is_ascii_digit() {
            let d = i64::from(*ch as u8 - b'0');
            if v > (limit - d) / 10 {
                return Err(FormatError::Other(too_big.into()));
            }
            v = v * 10 + d;
        }
        Ok(v)
    }

    /// The integer argument a `*` width or precision takes.
    fn star_arg(&mut self) -> Result<i64, FormatError> {
        match self.next_arg()? {
            Arg::Val(PyVal::Int(v)) => Ok(*v),
            _ => Err(FormatError::Other("* wants int".into())),
        }
    }

    fn next_arg(&mut self) -> Result<Arg<'a>, FormatError> {
        if self.argidx < self.arglen {
            self.argidx += 1;
            Ok(self.args)
        } else {
            Err(FormatError::Other(
                "not enough arguments for format string".into(),
            ))
        }
    }
}

fn type_name(a: Arg<'_>) -> &'static str {
    match a {
        Arg::Dict => "dict",
        Arg::Val(PyVal::Str(_)) => "str",
        Arg::Val(PyVal::Int(_)) => "int",
    }
}

/// `fmt % mapping`.
pub fn format(fmt: &str, map: &Expansions) -> Result<String, FormatError> {
    let mut ctx = Ctx {
        fmt: fmt.chars().collect(),
        pos: 0,
        map,
        args: Arg::Dict,
        argidx: -2,
        arglen: -1,
    };
    let mut out = String::with_capacity(fmt.len());
    let n = ctx.fmt.len();
    while ctx.pos < n {
        let c = ctx.fmt[ctx.pos];
        if c != '%' {
            out.push(c);
            ctx.pos += 1;
            continue;
        }
        ctx.pos += 1;
        format_arg(&mut ctx, &mut out)?;
    }
    Ok(out)
}

/// One directive; `ctx.pos` is just after its `%`.
fn format_arg(ctx: &mut Ctx<'_>, out: &mut String) -> Result<(), FormatError> {
    let n = ctx.fmt.len() as i64;
    // fmtcnt in CPython: characters left after the current one.
    let at = |ctx: &Ctx<'_>, i: usize| ctx.fmt.get(i).copied().unwrap_or('\0');
    let first = at(ctx, ctx.pos);
    if first == '%' && (ctx.pos as i64) < n {
        out.push('%');
        ctx.pos += 1;
        return Ok(());
    }
    let mut fmtcnt = n - ctx.pos as i64;
    let mut flags = 0u8;
    let mut width: i64 = -1;
    let mut prec: i64 = -1;
    let mut ch = '\0';

    if first == '(' && fmtcnt > 0 {
        ctx.pos += 1;
        fmtcnt -= 1;
        let keystart = ctx.pos;
        let mut pcount = 1;
        while pcount > 0 {
            fmtcnt -= 1;
            if fmtcnt < 0 {
                break;
            }
            let c = at(ctx, ctx.pos);
            if c == ')' {
                pcount -= 1;
            } else if c == '(' {
                pcount += 1;
            }
            ctx.pos += 1;
        }
        if fmtcnt < 0 || pcount > 0 {
            return Err(FormatError::Other("incomplete format key".into()));
        }
        let key: String = ctx.fmt[keystart..ctx.pos - 1].iter().collect();
        let val = ctx.map.get(&key).ok_or(FormatError::Key(key))?;
        ctx.args = Arg::Val(val);
        ctx.arglen = -1;
        ctx.argidx = -2;
    }

    // Flags.
    while ctx.advance(&mut fmtcnt, &mut ch) {
        match ch {
            '-' => flags |= F_LJUST,
            '+' => flags |= F_SIGN,
            ' ' => flags |= F_BLANK,
            '#' => flags |= F_ALT,
            '0' => flags |= F_ZERO,
            _ => break,
        }
    }

    // Width.
    if ch == '*' {
        width = ctx.star_arg()?;
        if width < 0 {
            flags |= F_LJUST;
            width = -width;
        }
        ctx.advance(&mut fmtcnt, &mut ch);
    } else if ch.is_ascii_digit() {
        width = ctx.number(&mut fmtcnt, &mut ch, i64::MAX, "width too big")?;
    }

    // Precision.
    if ch == '.' {
        prec = 0;
        ctx.advance(&mut fmtcnt, &mut ch);
        if ch == '*' {
            prec = ctx.star_arg()?.max(0);
            ctx.advance(&mut fmtcnt, &mut ch);
        } else if ch.is_ascii_digit() {
            prec = ctx.number(
                &mut fmtcnt,
                &mut ch,
                i64::from(i32::MAX),
                "precision too big",
            )?;
        }
    }

    if fmtcnt >= 0 && matches!(ch, 'h' | 'l' | 'L') {
        ctx.advance(&mut fmtcnt, &mut ch);
    }
    if fmtcnt < 0 {
        return Err(FormatError::Other("incomplete format".into()));
    }
    // Guard against widths Python would fail to allocate (MemoryError has no text).
    if width > 100_000_000 || prec > 100_000_000 {
        return Err(FormatError::Other(String::new()));
    }

    let v = ctx.next_arg()?;
    let mut sign = false;
    let text: String = match ch {
        's' | 'r' | 'a' => match v {
            Arg::Dict => {
                return Err(FormatError::WholeMapping(format!("%{ch}")));
            }
            Arg::Val(PyVal::Int(i)) => i.to_string(),
            Arg::Val(PyVal::Str(s)) => match ch {
                's' => s.clone(),
                'r' => pystr::repr(s),
                _ => pystr::ascii(s),
            },
        },
        'i' | 'd' | 'u' | 'o' | 'x' | 'X' => {
            let Arg::Val(PyVal::Int(i)) = v else {
                let what = if matches!(ch, 'o' | 'x' | 'X') {
                    "an integer"
                } else {
                    "a real number"
                };
                return Err(FormatError::Other(format!(
                    "%{ch} format: {what} is required, not {}",
                    type_name(v)
                )));
            };
            sign = true;
            format_long(*i, flags & F_ALT != 0, prec, ch)
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' => {
            let Arg::Val(PyVal::Int(i)) = v else {
                return Err(FormatError::Other(format!(
                    "must be real number, not {}",
                    type_name(v)
                )));
            };
            sign = true;
            format_float(
                *i as f64,
                ch,
                if prec < 0 { 6 } else { prec },
                flags & F_ALT != 0,
            )
        }
        'c' => match v {
            Arg::Val(PyVal::Str(s)) if s.chars().count() == 1 => s.clone(),
            Arg::Val(PyVal::Int(i)) => {
                if *i < 0 || *i > 0x10ffff {
                    return Err(FormatError::Other("%c arg not in range(0x110000)".into()));
                }
                match char::from_u32(*i as u32) {
                    Some(c) => c.to_string(),
                    None => {
                        return Err(FormatError::Other(format!(
                            "%c of a lone surrogate ({i:#x}) cannot be represented"
                        )));
                    }
                }
            }
            _ => return Err(FormatError::Other("%c requires int or char".into())),
        },
        _ => {
            let shown = if (31..=126).contains(&(ch as u32)) {
                ch
            } else {
                '?'
            };
            return Err(FormatError::Other(format!(
                "unsupported format character '{shown}' (0x{:x}) at index {}",
                ch as u32,
                ctx.pos - 1
            )));
        }
    };
    output(out, &text, flags, width, prec, ch, sign);
    Ok(())
}

/// `_PyUnicode_FormatLong`: sign, optional `0x`/`0o` prefix, zeros up to the precision.
fn format_long(v: i64, alt: bool, prec: i64, ty: char) -> String {
    let neg = v < 0;
    let mag = v.unsigned_abs();
    let (prefix, digits) = match ty {
        'o' => ("0o", format!("{mag:o}")),
        'x' => ("0x", format!("{mag:x}")),
        'X' => ("0X", format!("{mag:X}")),
        _ => ("", mag.to_string()),
    };
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if alt {
        s.push_str(prefix);
    }
    let nd = digits.len() as i64;
    if prec > nd {
        s.extend(std::iter::repeat_n('0', (prec - nd) as usize));
    }
    s.push_str(&digits);
    s
}

/// `%e` body with C's exponent form (`e+05`, at least two digits).
fn exp_form(x: f64, prec: usize, upper: bool) -> String {
    let s = format!("{x:.prec$e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = exp.parse().unwrap_or(0);
    let sign = if e < 0 { '-' } else { '+' };
    format!(
        "{mant}{}{sign}{:02}",
        if upper { 'E' } else { 'e' },
        e.unsigned_abs()
    )
}

/// `PyOS_double_to_string(x, ty, prec, alt ? Py_DTSF_ALT : 0)`.
fn format_float(x: f64, ty: char, prec: i64, alt: bool) -> String {
    let prec = prec as usize;
    let upper = ty.is_ascii_uppercase();
    match ty.to_ascii_lowercase() {
        'f' => {
            let mut s = format!("{x:.prec$}");
            if alt && prec == 0 {
                s.push('.');
            }
            s
        }
        'e' => {
            let mut s = exp_form(x, prec, upper);
            if alt && prec == 0 {
                let idx = s.find(['e', 'E']).unwrap_or(s.len());
                s.insert(idx, '.');
            }
            s
        }
        _ => {
            let p = if prec == 0 { 1 } else { prec };
            // The exponent after rounding to p significant digits decides the style.
            let probe = format!("{x:.prec$e}", prec = p - 1);
            let exp: i64 = probe
                .split_once('e')
                .and_then(|(_, e)| e.parse().ok())
                .unwrap_or(0);
            let mut s = if exp < -4 || exp >= p as i64 {
                exp_form(x, p - 1, upper)
            } else {
                let decimals = (p as i64 - 1 - exp).max(0) as usize;
                format!("{x:.decimals$}")
            };
            if alt {
                if !s.contains('.') {
                    let idx = s.find(['e', 'E']).unwrap_or(s.len());
                    s.insert(idx, '.');
                }
            } else if s.contains('.') {
                let idx = s.find(['e', 'E']).unwrap_or(s.len());
                let (m, e) = s.split_at(idx);
                let m = m.trim_end_matches('0').trim_end_matches('.');
                s = format!("{m}{e}");
            }
            s
        }
    }
}

/// `unicode_format_arg_output`: precision truncation for strings, sign, width, fill.
fn output(out: &mut String, text: &str, flags: u8, width: i64, prec: i64, ch: char, sign: bool) {
    let mut chars: Vec<char> = text.chars().collect();
    if matches!(ch, 's' | 'r' | 'a') && prec >= 0 && chars.len() as i64 > prec {
        chars.truncate(prec as usize);
    }
    // The fill is decided before the sign is looked at: numbers pad with zeros under `0`.
    let fill = if sign && flags & F_ZERO != 0 {
        '0'
    } else {
        ' '
    };
    let mut sign = sign;
    let mut signchar = None;
    let mut body: &[char] = &chars;
    if sign {
        match body.first() {
            Some(&c @ ('-' | '+')) => {
                signchar = Some(c);
                body = &body[1..];
            }
            _ if flags & F_SIGN != 0 => signchar = Some('+'),
            _ if flags & F_BLANK != 0 => signchar = Some(' '),
            _ => sign = false,
        }
    }
    let mut len = body.len() as i64;
    let mut width = width.max(len);
    let alt_prefix = flags & F_ALT != 0 && matches!(ch, 'x' | 'X' | 'o');
    if sign {
        if fill != ' ' {
            out.extend(signchar);
        }
        if width > len {
            width -= 1;
        }
    }
    let mut prefix: &[char] = &[];
    if alt_prefix {
        prefix = &body[..2];
        body = &body[2..];
        if fill != ' ' {
            out.extend(prefix.iter());
        }
        width = (width - 2).max(0);
        len -= 2;
    }
    if width > len && flags & F_LJUST == 0 {
        out.extend(std::iter::repeat_n(fill, (width - len) as usize));
        width = len;
    }
    if fill == ' ' {
        if sign {
            out.extend(signchar);
        }
        if alt_prefix {
            out.extend(prefix.iter());
        }
    }
    out.extend(body.iter());
    if width > len {
        out.extend(std::iter::repeat_n(' ', (width - len) as usize));
    }
}

/// Why supervisord's `expand()` refused a value. It displays as supervisord's message, which
/// names the value, what it is (`program:web.command`, `environment`, ...) and, for a name
/// that is missing, the names there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandError {
    /// The value as written.
    pub value: String,
    /// What supervisord calls the value in its message.
    pub name: String,
    /// The names the value could have used, sorted.
    pub available: Vec<String>,
    pub cause: FormatError,
}

impl fmt::Display for ExpandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (value, name) = (pystr::repr(&self.value), pystr::repr(&self.name));
        match &self.cause {
            FormatError::Key(key) => write!(
                f,
                "Format string {value} for {name} contains names ({}) which cannot be \
                 expanded. Available names: {}",
                pystr::repr(key),
                self.available.join(", ")
            ),
            FormatError::Other(msg) => {
                write!(
                    f,
                    "Format string {value} for {name} is badly formatted: {msg}"
                )
            }
            FormatError::WholeMapping(directive) => write!(
                f,
                "Format string {value} for {name}: {directive} without a (name) would insert \
                 supervisord's whole table of expansions; write %{directive} for a literal \
                 {directive}"
            ),
        }
    }
}

impl std::error::Error for ExpandError {}

/// supervisord's `expand(s, expansions, name)`.
pub fn expand(s: &str, expansions: &Expansions, name: &str) -> Result<String, ExpandError> {
    format(s, expansions).map_err(|cause| ExpandError {
        value: s.to_string(),
        name: name.to_string(),
        available: expansions.keys().cloned().collect(),
        cause,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m() -> Expansions {
        let mut e = Expansions::new();
        e.insert("here".into(), PyVal::Str("/etc".into()));
        e.insert("process_num".into(), PyVal::Int(7));
        e.insert("neg".into(), PyVal::Int(-255));
        e
    }

    #[test]
    fn basics() {
        let e = m();
        assert_eq!(format("%(here)s/x %%", &e).unwrap(), "/etc/x %");
        assert_eq!(format("%(process_num)02d", &e).unwrap(), "07");
        assert_eq!(format("%(process_num)03d", &e).unwrap(), "007");
        assert_eq!(format("%(neg)#5X|%(neg)-6d|", &e).unwrap(), "-0XFF|-255  |");
        assert_eq!(format("%(process_num)#g", &e).unwrap(), "7.00000");
        assert_eq!(format("%(process_num)e", &e).unwrap(), "7.000000e+00");
        assert_eq!(format("%(here)r", &e).unwrap(), "'/etc'");
        assert_eq!(format("%(here)5.2s|", &e).unwrap(), "   /e|");
    }

    #[test]
    fn errors_like_python() {
        let e = m();
        let other = |s: &str| match format(s, &e) {
            Err(FormatError::Other(m)) => m,
            r => panic!("{s}: {r:?}"),
        };
        assert_eq!(
            other("%USER%"),
            "unsupported format character 'U' (0x55) at index 1"
        );
        assert_eq!(other("date +%"), "incomplete format");
        assert_eq!(other("%(here"), "incomplete format key");
        assert_eq!(
            other("%(here)d"),
            "%d format: a real number is required, not str"
        );
        assert_eq!(
            other("%(here)s %Y"),
            "not enough arguments for format string"
        );
        assert_eq!(format("%(nope)s", &e), Err(FormatError::Key("nope".into())));
        assert!(matches!(
            format("%s", &e),
            Err(FormatError::WholeMapping(_))
        ));
    }

    #[test]
    fn expand_messages() {
        let e = m();
        assert_eq!(
            expand("%(x)s", &e, "program:a.command")
                .unwrap_err()
                .to_string(),
            "Format string '%(x)s' for 'program:a.command' contains names ('x') which cannot \
             be expanded. Available names: here, neg, process_num"
        );
        assert_eq!(
            expand("%USER%", &e, "program:lxpanel.user")
                .unwrap_err()
                .to_string(),
            "Format string '%USER%' for 'program:lxpanel.user' is badly formatted: \
             unsupported format character 'U' (0x55) at index 1"
        );
    }
}
