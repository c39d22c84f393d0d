//! XML-RPC arguments as supervisord's Python sees them: `int(x)`, truthiness, `str(x)` and
//! `repr(x)` of unmarshalled values, signal names and numbers, `*args` unpacking. Its
//! faults reproduce the TypeErrors supervisord's `traverse` turns into INCORRECT_PARAMETERS;
//! where Python raises a ValueError that escapes as an HTTP 500 in supervisord, corral
//! answers with BAD_ARGUMENTS instead.

use corral_config::pystr;
use corral_core::Signal;
use corral_proto::api::Fault;
use corral_proto::xmlrpc::Value;

use super::error::{RpcError, err0};

/// Positional parameters with Python-like coercions.
pub struct Args(pub Vec<Value>);

impl Args {
    /// Python's TypeError on a wrong argument count is INCORRECT_PARAMETERS.
    pub fn arity(&self, min: usize, max: usize) -> Result<(), RpcError> {
        if self.0.len() < min || self.0.len() > max {
            return err0(Fault::IncorrectParameters);
        }
        Ok(())
    }

    pub fn get(&self, i: usize) -> Option<&Value> {
        self.0.get(i)
    }

    /// A process or group name (supervisord calls `.split(':')` on it).
    pub fn name(&self, i: usize) -> Result<String, RpcError> {
        match self.0.get(i) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Base64(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
            _ => err0(Fault::IncorrectParameters),
        }
    }

    /// Python's `int(x)`, as supervisord applies it to offsets and lengths.
    ///
    /// `int(None)`, `int([..])`, `int({..})` and `int(datetime)` raise TypeError, which
    /// supervisord's `traverse` turns into INCORRECT_PARAMETERS: reproduced. `int("abc")`,
    /// `int(nan)` raise ValueError, which escapes as an HTTP 500 there: BAD_ARGUMENTS here.
    pub fn int(&self, i: usize) -> Result<i64, RpcError> {
        match self.0.get(i) {
            Some(Value::Int(n)) => Ok(i64::from(*n)),
            Some(Value::Bool(b)) => Ok(i64::from(*b)),
            Some(Value::Double(d)) if d.is_finite() => Ok(d.trunc() as i64),
            Some(Value::Double(_)) => err0(Fault::BadArguments),
            Some(Value::String(s)) => pystr::int(s).or_else(|_| err0(Fault::BadArguments)),
            Some(Value::Base64(b)) => {
                pystr::int(&String::from_utf8_lossy(b)).or_else(|_| err0(Fault::BadArguments))
            }
            _ => err0(Fault::IncorrectParameters),
        }
    }

    /// Python truthiness, with a default when absent.
    pub fn flag(&self, i: usize, default: bool) -> bool {
        match self.0.get(i) {
            None => default,
            Some(v) => truthy(v),
        }
    }
}

/// Python's `str(x)` of an argument as supervisord's unmarshaller builds it, for the `%s`
/// of a fault text (`BAD_NAME: 5`, `BAD_SIGNAL: 1.5`). `None` for nil: `RPCError(code,
/// None)` adds no text at all (`BAD_NAME`).
pub fn py_str(v: &Value) -> Option<String> {
    match v {
        Value::Nil => None,
        Value::String(s) => Some(s.clone()),
        // supervisord decodes base64 to a str (`as_string(decodestring(..))`).
        Value::Base64(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::DateTime(s) => Some(match parse_datetime(s) {
            Some([y, mo, d, h, mi, se]) => {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{se:02}")
            }
            None => s.clone(),
        }),
        other => Some(py_repr_value(other)),
    }
}

/// `%Y%m%dT%H:%M:%S`, the form supervisord's `make_datetime` reads.
pub fn parse_datetime(s: &str) -> Option<[u32; 6]> {
    let b = s.as_bytes();
    if b.len() != 17 || b[8] != b'T' || b[11] != b':' || b[14] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    Some([
        num(0..4)?,
        num(4..6)?,
        num(6..8)?,
        num(9..11)?,
        num(12..14)?,
        num(15..17)?,
    ])
}

/// Python's type name of an unmarshalled argument (in supervisord's multicall texts).
pub fn py_type_name(v: &Value) -> &'static str {
    match v {
        Value::Int(_) => "int",
        Value::Bool(_) => "bool",
        Value::Double(_) => "float",
        Value::String(_) | Value::Base64(_) => "str",
        Value::DateTime(_) => "datetime.datetime",
        Value::Array(_) => "list",
        Value::Struct(_) => "dict",
        Value::Nil => "NoneType",
    }
}

/// Python's truthiness of a value.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Int(n) => *n != 0,
        Value::Bool(b) => *b,
        Value::Double(d) => *d != 0.0,
        Value::String(s) => !s.is_empty(),
        Value::Base64(b) => !b.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Struct(s) => !s.is_empty(),
        Value::DateTime(_) => true,
        Value::Nil => false,
    }
}

/// supervisord's `signal_number(value)`: `int(value)` (so 28.7 is 28 and True is 1), else
/// a signal name; either must be one of Python's `signal.SIG*` values.
pub fn parse_signal(v: &Value) -> Option<Signal> {
    let text = match v {
        Value::Int(n) => n.to_string(),
        Value::Bool(b) => i32::from(*b).to_string(),
        Value::Double(d) if d.is_finite() => (d.trunc() as i64).to_string(),
        Value::String(s) => s.clone(),
        Value::Base64(b) => String::from_utf8_lossy(b).into_owned(),
        // nil, lists, structs, datetimes: `value.strip()` raises in supervisord (HTTP 500).
        _ => return None,
    };
    corral_config::signals::number(&text).map(Signal)
}

/// The `%s` of BAD_SIGNAL: `str(value)`.
pub fn signal_repr(v: &Value) -> String {
    py_str(v).unwrap_or_else(|| "None".to_string())
}

/// A rough Python `repr()` of a value, for fault texts that quote an argument.
pub fn py_repr_value(v: &Value) -> String {
    match v {
        Value::Int(n) => n.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Value::Double(d) => corral_proto::xmlrpc::python_repr(*d),
        Value::String(s) => pystr::repr(s),
        Value::Nil => "None".into(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(py_repr_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Struct(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", pystr::repr(k), py_repr_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Base64(b) => pystr::repr(&String::from_utf8_lossy(b)),
        Value::DateTime(s) => match parse_datetime(s) {
            // datetime's repr drops zero seconds (and microseconds, always zero here).
            Some([y, mo, d, h, mi, 0]) => format!("datetime.datetime({y}, {mo}, {d}, {h}, {mi})"),
            Some([y, mo, d, h, mi, se]) => {
                format!("datetime.datetime({y}, {mo}, {d}, {h}, {mi}, {se})")
            }
            None => s.clone(),
        },
    }
}

/// The positional parameters of one multicall entry: `func(*params)` in Python, so a
/// string gives its characters and a struct its keys; `None` when Python's `*` would fail
/// (nil, numbers, datetimes).
pub fn multicall_params(v: Option<&Value>) -> Option<Vec<Value>> {
    match v {
        None => Some(Vec::new()),
        Some(Value::Array(p)) => Some(p.clone()),
        Some(s @ (Value::String(_) | Value::Base64(_))) => Some(
            py_str(s)
                .unwrap_or_default()
                .chars()
                .map(|c| Value::String(c.to_string()))
                .collect(),
        ),
        Some(Value::Struct(m)) => Some(m.iter().map(|(k, _)| Value::from(&**k)).collect()),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_str_is_pythons_str_of_the_unmarshalled_value() {
        assert_eq!(py_str(&Value::Nil), None);
        assert_eq!(py_str(&Value::Int(5)).as_deref(), Some("5"));
        assert_eq!(py_str(&Value::Bool(true)).as_deref(), Some("True"));
        assert_eq!(py_str(&Value::Double(1.5)).as_deref(), Some("1.5"));
        assert_eq!(py_str(&Value::Double(1.0)).as_deref(), Some("1.0"));
        assert_eq!(py_str(&Value::from("x")).as_deref(), Some("x"));
        assert_eq!(
            py_str(&Value::Base64(b"abc".to_vec())).as_deref(),
            Some("abc")
        );
        assert_eq!(
            py_str(&Value::DateTime("20200102T03:04:05".into())).as_deref(),
            Some("2020-01-02 03:04:05")
        );
        assert_eq!(
            py_str(&Value::Array(vec![Value::from("x"), Value::Int(1)])).as_deref(),
            Some("['x', 1]")
        );
        assert_eq!(
            py_str(&Value::structure([("a", Value::Int(1))])).as_deref(),
            Some("{'a': 1}")
        );
        assert_eq!(
            py_repr_value(&Value::Array(vec![
                Value::DateTime("20200102T03:04:00".into()),
                Value::Base64(b"b".to_vec()),
            ])),
            "[datetime.datetime(2020, 1, 2, 3, 4), 'b']"
        );
    }

    #[test]
    fn signals_as_signal_number_of_python_int() {
        assert_eq!(parse_signal(&Value::Int(28)), Some(Signal(28)));
        assert_eq!(parse_signal(&Value::Double(28.9)), Some(Signal(28)));
        assert_eq!(parse_signal(&Value::Bool(true)), Some(Signal(1)));
        assert_eq!(parse_signal(&Value::from(" sigwinch ")), Some(Signal(28)));
        assert_eq!(
            parse_signal(&Value::Base64(b"HUP".to_vec())),
            Some(Signal(1))
        );
        assert_eq!(parse_signal(&Value::from("_dfl")), Some(Signal(0)));
        assert_eq!(parse_signal(&Value::Int(33)), None);
        assert_eq!(parse_signal(&Value::from("1.5")), None);
        assert_eq!(parse_signal(&Value::Nil), None);
        assert_eq!(signal_repr(&Value::Nil), "None");
        assert_eq!(signal_repr(&Value::Double(1e10)), "10000000000.0");
    }

    #[test]
    fn int_arguments_fault_like_python() {
        let a = Args(vec![
            Value::from(" 1_000 "),
            Value::from("x"),
            Value::Nil,
            Value::Array(vec![]),
            Value::Double(f64::NAN),
            Value::Double(-2.7),
        ]);
        assert_eq!(a.int(0), Ok(1000));
        assert_eq!(a.int(1).unwrap_err().code, Fault::BadArguments.code());
        assert_eq!(
            a.int(2).unwrap_err().code,
            Fault::IncorrectParameters.code()
        );
        assert_eq!(
            a.int(3).unwrap_err().code,
            Fault::IncorrectParameters.code()
        );
        assert_eq!(a.int(4).unwrap_err().code, Fault::BadArguments.code());
        assert_eq!(a.int(5), Ok(-2));
    }

    #[test]
    fn multicall_params_unpack_like_star_args() {
        assert_eq!(multicall_params(None), Some(vec![]));
        assert_eq!(
            multicall_params(Some(&Value::from("ab"))),
            Some(vec![Value::from("a"), Value::from("b")])
        );
        assert_eq!(
            multicall_params(Some(&Value::structure([("k", Value::Int(1))]))),
            Some(vec![Value::from("k")])
        );
        assert_eq!(multicall_params(Some(&Value::Int(5))), None);
        assert_eq!(multicall_params(Some(&Value::Nil)), None);
    }
}
