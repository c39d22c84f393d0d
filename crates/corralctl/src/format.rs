//! The text supervisorctl makes of the daemon's answers, as pure functions: status lines,
//! `avail` lines, per-process results, `reread` changes; plus Python-like reading of
//! XML-RPC records (`info['statename']`, `str(pid)`, truthiness).

use corral_proto::Value;
use corral_proto::api::{Fault, make_namespec};

use crate::error::CtlError;

/// `record[key]`, with Python's KeyError/TypeError when it is missing or not a dict.
#[track_caller]
pub fn member<'a>(record: &'a Value, key: &str) -> Result<&'a Value, CtlError> {
    match record {
        Value::Struct(_) => record.get(key).ok_or_else(|| CtlError::key(key)),
        other => Err(CtlError::type_error(format!(
            "{} indices must be integers or slices, not str",
            py_type(other)
        ))),
    }
}

/// `record[key]` as text, as `'%s' % record[key]` would show it.
#[track_caller]
pub fn member_str(record: &Value, key: &str) -> Result<String, CtlError> {
    member(record, key).map(py_str)
}

/// `record[key]` as an int (state codes, fault codes, pids).
#[track_caller]
pub fn member_int(record: &Value, key: &str) -> Result<i64, CtlError> {
    match member(record, key)? {
        Value::Int(i) => Ok(i64::from(*i)),
        Value::Bool(b) => Ok(i64::from(*b)),
        other => Err(CtlError::type_error(format!(
            "'{}' value is a {}, not an int",
            key,
            py_type(other)
        ))),
    }
}

/// `make_namespec(record['group'], record['name'])`.
#[track_caller]
pub fn namespec_of(record: &Value) -> Result<String, CtlError> {
    Ok(make_namespec(
        &member_str(record, "group")?,
        &member_str(record, "name")?,
    ))
}

fn py_type(v: &Value) -> &'static str {
    match v {
        Value::Int(_) => "int",
        Value::Bool(_) => "bool",
        Value::String(_) => "str",
        Value::Double(_) => "float",
        Value::DateTime(_) => "DateTime",
        Value::Base64(_) => "Binary",
        Value::Array(_) => "list",
        Value::Struct(_) => "dict",
        Value::Nil => "NoneType",
    }
}

/// Python's `str()` of an unmarshalled XML-RPC value.
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr_value(other),
    }
}

/// Python's `repr()` of an unmarshalled XML-RPC value.
fn py_repr_value(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::String(s) => corral_config::pystr::repr(s),
        Value::Double(d) => py_float(*d),
        Value::DateTime(s) => format!("<DateTime '{s}'>"),
        Value::Base64(b) => format!("<xmlrpc.client.Binary of {} bytes>", b.len()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(py_repr_value).collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Struct(members) => {
            let parts: Vec<String> = members
                .iter()
                .map(|(k, v)| format!("{}: {}", corral_config::pystr::repr(k), py_repr_value(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        Value::Nil => "None".into(),
    }
}

/// Python's float repr for the common cases (shortest round-trip digits, `.0` on
/// integral values).
fn py_float(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.into();
    }
    let s = format!("{d:?}");
    if s.contains(['.', 'e', 'E']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// An XML-RPC value as JSON, for `--json`.
pub fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        Value::Int(i) => J::from(*i),
        Value::Bool(b) => J::from(*b),
        Value::String(s) | Value::DateTime(s) => J::from(s.as_str()),
        Value::Double(d) => serde_json::Number::from_f64(*d).map_or(J::Null, J::Number),
        Value::Base64(b) => J::from(String::from_utf8_lossy(b).into_owned()),
        Value::Array(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Struct(members) => J::Object(
            members
                .iter()
                .map(|(k, v)| (k.to_string(), to_json(v)))
                .collect(),
        ),
        Value::Nil => J::Null,
    }
}

/// Python truthiness of a value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Int(i) => *i != 0,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Double(d) => *d != 0.0,
        Value::DateTime(_) => true,
        Value::Base64(b) => !b.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Struct(m) => !m.is_empty(),
        Value::Nil => false,
    }
}

/// One row of `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    pub namespec: String,
    pub statename: String,
    pub description: String,
}

impl StatusRow {
    #[track_caller]
    pub fn from_info(info: &Value) -> Result<StatusRow, CtlError> {
        Ok(StatusRow {
            namespec: namespec_of(info)?,
            statename: member_str(info, "statename")?,
            description: member_str(info, "description")?,
        })
    }
}

/// The ANSI colour for a state in a terminal.
fn state_colour(statename: &str) -> Option<&'static str> {
    match statename {
        "RUNNING" => Some("\x1b[32m"),
        "STARTING" | "STOPPING" => Some("\x1b[36m"),
        "BACKOFF" | "EXITED" => Some("\x1b[33m"),
        "FATAL" | "UNKNOWN" => Some("\x1b[1;31m"),
        _ => None,
    }
}

/// `_show_statuses`: names padded to the longest (at least 30) plus 3, states to 10.
/// With `colour`, the state word is coloured; the padding stays outside the escape codes
/// so the columns line up as without colour.
pub fn status_lines(rows: &[StatusRow], colour: bool) -> Vec<String> {
    let width = rows
        .iter()
        .map(|r| r.namespec.chars().count())
        .fold(30, usize::max)
        + 3;
    rows.iter()
        .map(|r| {
            let state = match state_colour(&r.statename).filter(|_| colour) {
                Some(code) => {
                    let pad = 10usize.saturating_sub(r.statename.chars().count());
                    format!("{code}{}\x1b[0m{}", r.statename, " ".repeat(pad))
                }
                None => format!("{:<10}", r.statename),
            };
            format!(
                "{:<width$}{state}{}",
                r.namespec,
                r.description,
                width = width
            )
        })
        .collect()
}

/// `_formatConfigInfo`: one line of `avail`.
#[track_caller]
pub fn config_info_line(info: &Value) -> Result<String, CtlError> {
    let name = namespec_of(info)?;
    let inuse = if truthy(member(info, "inuse")?) {
        "in use"
    } else {
        "avail"
    };
    let autostart = if truthy(member(info, "autostart")?) {
        "auto"
    } else {
        "manual"
    };
    let priority = format!(
        "{}:{}",
        member_str(info, "group_prio")?,
        member_str(info, "process_prio")?
    );
    Ok(format!("{name:<32} {inuse:<9} {autostart:<9} {priority}"))
}

/// What a start/stop/signal/clear result says: `Ok(text after "name: ")` for success,
/// `Err(reason)` for `name: ERROR (reason)`.
pub type Outcome = Result<&'static str, &'static str>;

/// `_startresult`; an unknown code is supervisorctl's ValueError.
pub fn start_outcome(code: i32) -> Option<Outcome> {
    Some(match Fault::from_code(code)? {
        Fault::BadName => Err("no such process"),
        Fault::NoFile => Err("no such file"),
        Fault::NotExecutable => Err("file is not executable"),
        Fault::AlreadyStarted => Err("already started"),
        Fault::SpawnError => Err("spawn error"),
        Fault::AbnormalTermination => Err("abnormal termination"),
        Fault::Success => Ok("started"),
        _ => return None,
    })
}

/// `_signalresult` (and `_stopresult` with `success = "stopped"`). FAILED prints the
/// fault string alone, so it is not an [`Outcome`]: `None` here, handled by the caller.
pub fn signal_outcome(code: i32, success: &'static str) -> Option<Outcome> {
    Some(match Fault::from_code(code)? {
        Fault::BadName => Err("no such process"),
        Fault::BadSignal => Err("bad signal name"),
        Fault::NotRunning => Err("not running"),
        Fault::Success => Ok(success),
        _ => return None,
    })
}

/// `_clearresult`.
pub fn clear_outcome(code: i32) -> Option<Outcome> {
    Some(match Fault::from_code(code)? {
        Fault::BadName => Err("no such process"),
        Fault::Failed => Err("failed"),
        Fault::Success => Ok("cleared"),
        _ => return None,
    })
}

/// The line for an outcome: `name: started` or `name: ERROR (no such process)`.
pub fn outcome_line(namespec: &str, outcome: Outcome) -> String {
    match outcome {
        Ok(word) => format!("{namespec}: {word}"),
        Err(reason) => format!("{namespec}: ERROR ({reason})"),
    }
}

/// `_formatChanges`: `name: available|changed|disappeared`, sorted by name (a name in
/// several lists gets the last one's word), or the no-change line.
pub fn change_lines(
    added: &[String],
    changed: &[String],
    removed: &[String],
) -> Vec<(String, &'static str)> {
    let mut words: std::collections::BTreeMap<String, &'static str> = Default::default();
    for (names, word) in [
        (added, "available"),
        (changed, "changed"),
        (removed, "disappeared"),
    ] {
        for n in names {
            words.insert(n.clone(), word);
        }
    }
    words.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: &str, s: &str, d: &str) -> StatusRow {
        StatusRow {
            namespec: n.into(),
            statename: s.into(),
            description: d.into(),
        }
    }

    #[test]
    fn status_columns_like_supervisorctl() {
        let rows = [
            row("cat", "RUNNING", "pid 1, uptime 0:00:02"),
            row("grp:echo", "STOPPED", "Not started"),
        ];
        assert_eq!(
            status_lines(&rows, false),
            [
                "cat                              RUNNING   pid 1, uptime 0:00:02",
                "grp:echo                         STOPPED   Not started"
            ]
        );
        let long = "g:".to_string() + &"x".repeat(35);
        let lines = status_lines(&[row(&long, "FATAL", "d")], false);
        assert_eq!(lines[0], format!("{long}   FATAL     d"));
        // No description: the state keeps its padding, as %-10s does.
        assert_eq!(
            status_lines(&[row("a", "STOPPED", "")], false)[0],
            format!("{:<33}STOPPED   ", "a")
        );
    }

    #[test]
    fn colour_only_wraps_the_state_word() {
        let lines = status_lines(&[row("cat", "RUNNING", "pid 1")], true);
        assert_eq!(
            lines[0],
            format!("{:<33}\x1b[32mRUNNING\x1b[0m   pid 1", "cat")
        );
        let lines = status_lines(&[row("cat", "STOPPED", "x")], true);
        assert_eq!(lines[0], format!("{:<33}STOPPED   x", "cat"));
    }

    #[test]
    fn avail_lines() {
        let info = Value::structure([
            ("name", Value::from("web_01")),
            ("group", Value::from("web")),
            ("inuse", Value::Bool(false)),
            ("autostart", Value::Bool(true)),
            ("group_prio", Value::Int(999)),
            ("process_prio", Value::Int(5)),
        ]);
        assert_eq!(
            config_info_line(&info).unwrap(),
            "web:web_01                       avail     auto      999:5"
        );
        let missing = Value::structure([("name", Value::from("x"))]);
        assert!(
            config_info_line(&missing)
                .unwrap_err()
                .traceback_line()
                .contains("KeyError'>, 'group'")
        );
    }

    #[test]
    fn outcomes() {
        assert_eq!(start_outcome(80), Some(Ok("started")));
        assert_eq!(start_outcome(60), Some(Err("already started")));
        assert_eq!(start_outcome(30), None);
        assert_eq!(signal_outcome(80, "stopped"), Some(Ok("stopped")));
        assert_eq!(
            signal_outcome(11, "signalled"),
            Some(Err("bad signal name"))
        );
        assert_eq!(signal_outcome(30, "signalled"), None);
        assert_eq!(clear_outcome(30), Some(Err("failed")));
        assert_eq!(
            outcome_line("g:p", Err("spawn error")),
            "g:p: ERROR (spawn error)"
        );
    }

    #[test]
    fn changes_sorted_and_last_word_wins() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            change_lines(&s(&["b", "a"]), &s(&["c", "a"]), &s(&["d"])),
            vec![
                ("a".to_string(), "changed"),
                ("b".to_string(), "available"),
                ("c".to_string(), "changed"),
                ("d".to_string(), "disappeared")
            ]
        );
        assert!(change_lines(&[], &[], &[]).is_empty());
    }

    #[test]
    fn python_str_of_values() {
        assert_eq!(py_str(&Value::Int(5)), "5");
        assert_eq!(py_str(&Value::from("x")), "x");
        assert_eq!(py_str(&Value::Bool(true)), "True");
        assert_eq!(py_str(&Value::Double(1.0)), "1.0");
        assert_eq!(
            py_str(&Value::Array(vec![Value::from("a"), Value::Int(1)])),
            "['a', 1]"
        );
        assert!(truthy(&Value::Int(1)) && !truthy(&Value::from("")));
    }
}
