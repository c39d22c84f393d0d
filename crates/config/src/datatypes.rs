//! supervisord's `datatypes.py`: the converters every option goes through, with
//! supervisord's error messages. Host lookups (users, groups, directories) go through
//! [`Host`].

use crate::host::Host;
use crate::model::{AutoRestart, LogLevel};
use crate::{pypath, pystr, shlex, signals};

/// A converter's failure: supervisord's message, and whether it is about this host
/// (unknown user or group) rather than the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtError {
    pub message: String,
    pub host_dependent: bool,
}

impl DtError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            host_dependent: false,
        }
    }

    pub fn host(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            host_dependent: true,
        }
    }
}

impl From<String> for DtError {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

pub type DtResult<T> = Result<T, DtError>;

/// `process_or_group_name`: stripped; no space, `:` or `/`.
pub fn process_or_group_name(name: &str) -> DtResult<String> {
    let s = pystr::strip(name);
    for c in [' ', ':', '/'] {
        if s.contains(c) {
            return Err(DtError::new(format!(
                "Invalid name: {} because of character: {}",
                pystr::repr(name),
                pystr::repr(&c.to_string())
            )));
        }
    }
    Ok(s.to_string())
}

/// `integer`: Python's `int()`.
pub fn integer(v: &str) -> DtResult<i64> {
    pystr::int(v).map_err(DtError::new)
}

const TRUTHY: [&str; 4] = ["yes", "true", "on", "1"];
const FALSY: [&str; 4] = ["no", "false", "off", "0"];

/// `boolean`.
pub fn boolean(s: &str) -> DtResult<bool> {
    let ss = pystr::lower(s);
    if TRUTHY.contains(&ss.as_str()) {
        Ok(true)
    } else if FALSY.contains(&ss.as_str()) {
        Ok(false)
    } else {
        Err(DtError::new(format!(
            "not a valid boolean value: {}",
            pystr::repr(s)
        )))
    }
}

/// `list_of_strings`: split on `,`, each stripped; empty input is an empty list.
pub fn list_of_strings(arg: &str) -> Vec<String> {
    if arg.is_empty() {
        return Vec::new();
    }
    arg.split(',')
        .map(|x| pystr::strip(x).to_string())
        .collect()
}

/// `list_of_exitcodes`.
pub fn list_of_exitcodes(arg: &str) -> DtResult<Vec<i32>> {
    let bad = || {
        DtError::new(format!(
            "not a valid list of exit codes: {}",
            pystr::repr(arg)
        ))
    };
    if arg.is_empty() {
        return Ok(Vec::new());
    }
    arg.split(',')
        .map(|x| {
            let v = pystr::int(x).map_err(|_| bad())?;
            if (0..=255).contains(&v) {
                Ok(v as i32)
            } else {
                Err(bad())
            }
        })
        .collect()
}

/// `dict_of_key_value_pairs`: supervisord's shlex-based `KEY=val,KEY2=val2` parser, with
/// its quirks (every fourth token is skipped as the separator, whatever it is; values are
/// stripped of quote characters at both ends).
pub fn dict_of_key_value_pairs(arg: &str) -> DtResult<Vec<(String, String)>> {
    let tokens = shlex::python_tokens(arg).map_err(|e| DtError::new(e.to_string()))?;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let kv = &tokens[i..tokens.len().min(i + 3)];
        if kv.len() != 3 || kv[1] != "=" {
            return Err(DtError::new(format!(
                "Unexpected end of key/value pairs in value '{arg}'"
            )));
        }
        set_pair(&mut out, &kv[0], kv[2].trim_matches(['\'', '"']));
        i += 4;
    }
    Ok(out)
}

/// `dict[key] = value` on pairs kept in insertion order.
fn set_pair(pairs: &mut Vec<(String, String)>, key: &str, value: &str) {
    match pairs.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value.to_string(),
        None => pairs.push((key.to_string(), value.to_string())),
    }
}

/// Where supervisord's reading of `environment=` (`read`, what [`dict_of_key_value_pairs`]
/// made of `arg`) differs from what was written: the pairs a person means (split at commas
/// outside quotes, then at the first `=`) compared with supervisord's shlex reading.
/// `A=$HOME` becomes `A=$`, `P=abc#123,B=2` loses everything after the `#`, `Q=x y` becomes
/// `Q=x`. One line per affected key; empty when the two agree.
pub fn environment_mangling(arg: &str, read: &[(String, String)]) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quote: Option<char> = None;
    for c in arg.chars() {
        match quote {
            None if c == ',' => {
                parts.push(String::new());
                continue;
            }
            None if c == '\'' || c == '"' => quote = Some(c),
            Some(q) if q == c => quote = None,
            _ => {}
        }
        parts.last_mut().expect("never empty").push(c);
    }
    let mut meant: Vec<(String, String)> = Vec::new();
    for (k, v) in parts.iter().filter_map(|p| p.trim().split_once('=')) {
        set_pair(&mut meant, k.trim(), v.trim().trim_matches(['\'', '"']));
    }
    let mut out = Vec::new();
    for (k, v) in &meant {
        match read.iter().find(|(rk, _)| rk == k) {
            None => out.push(format!("{k}={v} is dropped")),
            Some((_, rv)) if rv != v => out.push(format!("{k}={v} becomes {k}={rv}")),
            Some(_) => {}
        }
    }
    for (k, v) in read {
        if !meant.iter().any(|(mk, _)| mk == k) {
            out.push(format!("{k}={v} appears, taken from inside another value"));
        }
    }
    out
}

/// What `logfile_name` makes of a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogfileName {
    None,
    Auto,
    Syslog,
    Path(String),
}

/// `logfile_name` without its directory check (the caller runs [`existing_dirpath`] on a
/// path, so that a missing directory can be reported the way corral wants).
pub fn logfile_name(val: &str) -> LogfileName {
    match pystr::lower(val).as_str() {
        "none" | "off" => LogfileName::None,
        "auto" => LogfileName::Auto,
        "syslog" => LogfileName::Syslog,
        _ => LogfileName::Path(val.to_string()),
    }
}

/// `existing_dirpath`: `Ok(expanded)` or `Err((expanded, message))` when the directory part
/// does not exist (supervisord refuses then; corral decides how to report it).
pub fn existing_dirpath(v: &str, host: &dyn Host) -> Result<String, (String, String)> {
    let nv = pypath::expanduser(v, host);
    let dir = pypath::dirname(&nv);
    if dir.is_empty() || host.is_dir(&dir) {
        return Ok(nv);
    }
    Err((
        nv,
        format!("The directory named as part of the path {v} does not exist"),
    ))
}

/// `existing_directory`.
pub fn existing_directory(v: &str, host: &dyn Host) -> Result<String, (String, String)> {
    let nv = pypath::expanduser(v, host);
    if host.is_dir(&nv) {
        Ok(nv)
    } else {
        Err((nv, format!("{v} is not an existing directory")))
    }
}

/// `logging_level`.
pub fn logging_level(value: &str) -> DtResult<LogLevel> {
    Ok(match pystr::lower(value).as_str() {
        "critical" => LogLevel::Critical,
        "error" => LogLevel::Error,
        "warn" => LogLevel::Warn,
        "info" => LogLevel::Info,
        "debug" => LogLevel::Debug,
        "trace" => LogLevel::Trace,
        "blather" => LogLevel::Blather,
        _ => {
            return Err(DtError::new(format!(
                "bad logging level name {}",
                pystr::repr(value)
            )));
        }
    })
}

/// `byte_size`: a number with an optional `KB`/`MB`/`GB` suffix (case-insensitive).
pub fn byte_size(v: &str) -> DtResult<i64> {
    let lower = pystr::lower(v);
    let chars: Vec<char> = lower.chars().collect();
    for (suffix, mult) in [("kb", 1i64 << 10), ("mb", 1 << 20), ("gb", 1 << 30)] {
        if chars.len() >= 2 && chars[chars.len() - 2..].iter().collect::<String>() == suffix {
            let num: String = chars[..chars.len() - 2].iter().collect();
            let n = integer(&num)?;
            return n
                .checked_mul(mult)
                .ok_or_else(|| DtError::new(format!("{v} is too large a size for corral")));
        }
    }
    integer(&lower)
}

/// `octal_type`: `int(arg, 8)`.
pub fn octal_type(arg: &str) -> DtResult<u32> {
    let bad = || DtError::new(format!("{arg} can not be converted to an octal type"));
    let v = pystr::int_radix(arg, 8).map_err(|e| e.map_or_else(bad, DtError::new))?;
    u32::try_from(v).map_err(|_| {
        DtError::new(format!(
            "{arg} is a negative or too large octal value for corral"
        ))
    })
}

/// `signal_number`: a number supervisord knows, or a name with or without `SIG`.
pub fn signal_number(value: &str) -> DtResult<i32> {
    let num = match pystr::int(value) {
        Ok(n) => n,
        Err(_) => {
            let mut name = pystr::upper(pystr::strip(value));
            if !name.starts_with("SIG") {
                name = format!("SIG{name}");
            }
            match signals::python_signal_attr(&name) {
                Some(n) => i64::from(n),
                None => {
                    return Err(DtError::new(format!(
                        "value {} is not a valid signal name",
                        pystr::repr(value)
                    )));
                }
            }
        }
    };
    match i32::try_from(num) {
        Ok(n) if signals::python_signums().contains(&n) => Ok(n),
        _ => Err(DtError::new(format!(
            "value {} is not a valid signal number",
            pystr::repr(value)
        ))),
    }
}

/// `auto_restart`.
pub fn auto_restart(value: &str) -> DtResult<AutoRestart> {
    let v = pystr::lower(value);
    if TRUTHY.contains(&v.as_str()) {
        Ok(AutoRestart::Always)
    } else if FALSY.contains(&v.as_str()) {
        Ok(AutoRestart::Never)
    } else if v == "unexpected" {
        Ok(AutoRestart::Unexpected)
    } else {
        Err(DtError::new(format!(
            "invalid 'autorestart' value {}",
            pystr::repr(&v)
        )))
    }
}

/// `port_number`: an integer from 1 to 65535.
pub fn port_number(s: &str) -> DtResult<u16> {
    let v = integer(s)?;
    if v < 1 {
        return Err(DtError::new(format!("{v} is below lower bound (1)")));
    }
    if v > 0xffff {
        return Err(DtError::new(format!("{v} is above upper bound (65535)")));
    }
    Ok(v as u16)
}

/// `inet_address`: `host:port`, `*:port`, `:port` or `port`; `""` means all interfaces.
pub fn inet_address(s: &str) -> DtResult<(String, u16)> {
    let mut host = String::new();
    let port;
    if let Some((h, p)) = s.rsplit_once(':') {
        if p.is_empty() {
            return Err(DtError::new(format!(
                "no port number specified in {}",
                pystr::repr(p)
            )));
        }
        port = port_number(p)?;
        host = pystr::lower(h);
    } else {
        port = port_number(s)
            .map_err(|_| DtError::new(format!("not a valid port number: {} ", pystr::repr(s))))?;
    }
    if host == "*" {
        host.clear();
    }
    Ok((host, port))
}

/// `name_to_uid`: a user name or a numeric uid that exists.
pub fn name_to_uid(name: &str, host: &dyn Host) -> DtResult<u32> {
    match pystr::int(name) {
        Ok(uid) => u32::try_from(uid)
            .ok()
            .filter(|&u| host.user_by_uid(u).is_some())
            .ok_or_else(|| DtError::host(format!("Invalid user id {name}"))),
        Err(_) => host
            .user_by_name(name)
            .map(|u| u.uid)
            .ok_or_else(|| DtError::host(format!("Invalid user name {name}"))),
    }
}

/// `name_to_gid`.
pub fn name_to_gid(name: &str, host: &dyn Host) -> DtResult<u32> {
    match pystr::int(name) {
        Ok(gid) => u32::try_from(gid)
            .ok()
            .filter(|&g| host.group_exists(g))
            .ok_or_else(|| DtError::host(format!("Invalid group id {name}"))),
        Err(_) => host
            .group_by_name(name)
            .ok_or_else(|| DtError::host(format!("Invalid group name {name}"))),
    }
}

/// `gid_for_uid`: the primary group of a user.
pub fn gid_for_uid(uid: u32, host: &dyn Host) -> Option<u32> {
    host.user_by_uid(uid).map(|u| u.gid)
}

/// `colon_separated_user_group`: `(uid, gid)` with `None` for "keep the group".
pub fn colon_separated_user_group(arg: &str, host: &dyn Host) -> DtResult<(u32, Option<u32>)> {
    let bad = |e: DtError| DtError {
        message: format!("Invalid user:group definition {arg}"),
        host_dependent: e.host_dependent,
    };
    match arg.split_once(':') {
        None => Ok((name_to_uid(arg, host).map_err(bad)?, None)),
        Some((u, g)) => {
            let uid = name_to_uid(u, host).map_err(bad)?;
            let gid = name_to_gid(g, host).map_err(bad)?;
            Ok((uid, Some(gid)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_mangling_names_what_is_lost() {
        // As the loader calls it: only on a value supervisord accepts.
        let environment_mangling = |arg: &str| {
            dict_of_key_value_pairs(arg)
                .map(|read| environment_mangling(arg, &read))
                .unwrap_or_default()
        };
        assert!(environment_mangling(r#"A="x y",B='$HOME',C=1.5,D=/a:/b"#).is_empty());
        assert_eq!(environment_mangling("A=$HOME"), ["A=$HOME becomes A=$"]);
        assert_eq!(
            environment_mangling("P=abc#123,B=2"),
            ["P=abc#123 becomes P=abc", "B=2 is dropped"]
        );
        assert_eq!(environment_mangling("Q=x y"), ["Q=x y becomes Q=x"]);
        assert_eq!(
            environment_mangling("U=h/p?x=1"),
            [
                "U=h/p?x=1 becomes U=h/p",
                "x=1 appears, taken from inside another value"
            ]
        );
        // supervisord refuses this outright: an error elsewhere, not a warning here.
        assert!(environment_mangling("A=$HOME,B=2").is_empty());
    }

    #[test]
    fn booleans_and_restart() {
        assert_eq!(boolean("Yes"), Ok(true));
        assert_eq!(boolean("OFF"), Ok(false));
        assert_eq!(
            boolean("maybe").unwrap_err().message,
            "not a valid boolean value: 'maybe'"
        );
        assert_eq!(auto_restart("Unexpected"), Ok(AutoRestart::Unexpected));
        assert_eq!(
            auto_restart("Maybe").unwrap_err().message,
            "invalid 'autorestart' value 'maybe'"
        );
    }

    #[test]
    fn sizes_and_octals() {
        assert_eq!(byte_size("50MB"), Ok(50 << 20));
        assert_eq!(byte_size("1kb"), Ok(1024));
        assert_eq!(byte_size(" 2 GB"), Ok(2 << 30));
        assert_eq!(byte_size("0"), Ok(0));
        assert_eq!(
            byte_size("1.5MB").unwrap_err().message,
            "invalid literal for int() with base 10: '1.5'"
        );
        assert_eq!(octal_type("022"), Ok(0o22));
        assert_eq!(octal_type("0o777"), Ok(0o777));
        assert_eq!(
            octal_type("999").unwrap_err().message,
            "999 can not be converted to an octal type"
        );
    }

    #[test]
    fn exitcodes() {
        assert_eq!(list_of_exitcodes("0,2"), Ok(vec![0, 2]));
        assert_eq!(list_of_exitcodes(""), Ok(vec![]));
        assert_eq!(
            list_of_exitcodes("0,256").unwrap_err().message,
            "not a valid list of exit codes: '0,256'"
        );
    }

    #[test]
    fn key_value_pairs_quirks() {
        let d = |s: &str| dict_of_key_value_pairs(s).unwrap();
        assert_eq!(d("A=$HOME"), vec![("A".into(), "$".into())]);
        assert_eq!(d("P=abc#123,B=2"), vec![("P".into(), "abc".into())]);
        assert_eq!(d("Q=x y"), vec![("Q".into(), "x".into())]);
        assert_eq!(
            d("A=1;B=2"),
            vec![("A".into(), "1".into()), ("B".into(), "2".into())]
        );
        assert_eq!(d(""), vec![]);
        assert_eq!(
            d(r#"A="a,b",B='$X'"#),
            vec![("A".into(), "a,b".into()), ("B".into(), "$X".into())]
        );
        for bad in ["URL=postgres://u:p@h/db", "K=a=b", "A"] {
            assert_eq!(
                dict_of_key_value_pairs(bad).unwrap_err().message,
                format!("Unexpected end of key/value pairs in value '{bad}'")
            );
        }
    }

    #[test]
    fn addresses_and_signals() {
        assert_eq!(inet_address("*:9001"), Ok((String::new(), 9001)));
        assert_eq!(inet_address(":9001"), Ok((String::new(), 9001)));
        assert_eq!(inet_address("LocalHost:80"), Ok(("localhost".into(), 80)));
        assert_eq!(inet_address("9001"), Ok((String::new(), 9001)));
        assert_eq!(
            inet_address("x:").unwrap_err().message,
            "no port number specified in ''"
        );
        assert_eq!(
            inet_address("x").unwrap_err().message,
            "not a valid port number: 'x' "
        );
        assert_eq!(
            inet_address("h:0").unwrap_err().message,
            "0 is below lower bound (1)"
        );
        assert_eq!(signal_number("term"), Ok(libc::SIGTERM));
        assert_eq!(signal_number(" SIGquit "), Ok(libc::SIGQUIT));
        assert_eq!(signal_number("9"), Ok(9));
        assert_eq!(
            signal_number("FOO").unwrap_err().message,
            "value 'FOO' is not a valid signal name"
        );
        assert_eq!(
            signal_number("40").unwrap_err().message,
            "value '40' is not a valid signal number"
        );
        assert_eq!(
            process_or_group_name("a b").unwrap_err().message,
            "Invalid name: 'a b' because of character: ' '"
        );
        assert_eq!(process_or_group_name(" ab "), Ok("ab".into()));
    }
}
