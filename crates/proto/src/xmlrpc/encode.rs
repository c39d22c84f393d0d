//! Writing XML-RPC documents exactly as Python's `xmlrpc.client.dumps` does.
//!
//! supervisord answers with `xmlrpc.client.dumps((value,), methodresponse=True)` (and
//! `dumps(Fault(...))` for faults), so these functions reproduce `Marshaller` byte for
//! byte: the `<?xml version='1.0'?>` header with single quotes, a newline after every
//! value except `<nil/>`, `repr()` for doubles, and escaping of `&`, `<`, `>` only. The one
//! deliberate difference: characters XML 1.0 forbids are written as U+FFFD instead of raw.

use std::fmt::Write as _;

use super::float::python_repr;
use super::text::escape_into;
use super::value::Value;

const XML_HEADER: &str = "<?xml version='1.0'?>\n";

/// A `methodResponse` carrying `value`, as supervisord sends it.
pub fn encode_response(value: &Value) -> Vec<u8> {
    // Sized up front: a large answer (3.8 MB for 3,000 processes' info) grown by doubling
    // is copied and faulted in again at every step, and each step of glibc's malloc
    // consolidates the thousands of small chunks the value's tree just freed.
    let mut out = String::with_capacity(128 + size_hint(value));
    out.push_str(XML_HEADER);
    out.push_str("<methodResponse>\n<params>\n<param>\n");
    write_value(&mut out, value);
    out.push_str("</param>\n</params>\n</methodResponse>\n");
    out.into_bytes()
}

/// A fault `methodResponse`, as supervisord sends for `RPCError(code, ...)`; `text` is the
/// whole faultString (see [`crate::api::fault_text`]).
pub fn encode_fault(code: i32, text: &str) -> Vec<u8> {
    let mut out = String::with_capacity(256 + text.len());
    out.push_str(XML_HEADER);
    out.push_str("<methodResponse>\n<fault>\n");
    write_value(
        &mut out,
        &Value::Struct(vec![
            ("faultCode".into(), Value::Int(code)),
            ("faultString".into(), Value::String(text.to_owned())),
        ]),
    );
    out.push_str("</fault>\n</methodResponse>\n");
    out.into_bytes()
}

/// A `methodCall`, as Python's `ServerProxy` sends it. (Python writes the method name
/// unescaped; it is escaped here so that no name can break the document.)
pub fn encode_call(method: &str, params: &[Value]) -> Vec<u8> {
    let mut out = String::with_capacity(128);
    out.push_str(XML_HEADER);
    out.push_str("<methodCall>\n<methodName>");
    escape_into(&mut out, method);
    out.push_str("</methodName>\n<params>\n");
    for p in params {
        out.push_str("<param>\n");
        write_value(&mut out, p);
        out.push_str("</param>\n");
    }
    out.push_str("</params>\n</methodCall>\n");
    out.into_bytes()
}

/// About how many bytes `write_value` writes for `value` (a little more for text that
/// needs no escaping; escaping may add more).
fn size_hint(value: &Value) -> usize {
    match value {
        Value::Int(_) => 40,
        Value::Bool(_) => 36,
        Value::Double(_) => 50,
        Value::Nil => 20,
        Value::String(s) | Value::DateTime(s) => 40 + s.len(),
        Value::Base64(b) => 40 + b.len() / 3 * 4 + b.len() / 57 + 4,
        Value::Array(items) => 40 + items.iter().map(size_hint).sum::<usize>(),
        Value::Struct(members) => {
            30 + members
                .iter()
                .map(|(k, v)| 30 + k.len() + size_hint(v))
                .sum::<usize>()
        }
    }
}

/// Appends one `<value>` element as `Marshaller.__dump` writes it.
pub fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Int(i) => {
            // Writing to a String cannot fail.
            let _ = writeln!(out, "<value><int>{i}</int></value>");
        }
        Value::Bool(b) => {
            out.push_str(if *b {
                "<value><boolean>1</boolean></value>\n"
            } else {
                "<value><boolean>0</boolean></value>\n"
            });
        }
        Value::String(s) => {
            out.push_str("<value><string>");
            escape_into(out, s);
            out.push_str("</string></value>\n");
        }
        Value::Double(d) => {
            out.push_str("<value><double>");
            out.push_str(&python_repr(*d));
            out.push_str("</double></value>\n");
        }
        Value::DateTime(s) => {
            out.push_str("<value><dateTime.iso8601>");
            escape_into(out, s);
            out.push_str("</dateTime.iso8601></value>\n");
        }
        Value::Base64(bytes) => {
            out.push_str("<value><base64>\n");
            out.push_str(&crate::b64::encode_lines(bytes));
            out.push_str("</base64></value>\n");
        }
        Value::Array(items) => {
            out.push_str("<value><array><data>\n");
            for item in items {
                write_value(out, item);
            }
            out.push_str("</data></array></value>\n");
        }
        Value::Struct(members) => {
            out.push_str("<value><struct>\n");
            for (name, v) in members {
                out.push_str("<member>\n<name>");
                escape_into(out, name);
                out.push_str("</name>\n");
                write_value(out, v);
                out.push_str("</member>\n");
            }
            out.push_str("</struct></value>\n");
        }
        // Python's dump_nil is the one writer without a trailing newline.
        Value::Nil => out.push_str("<value><nil/></value>"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: Vec<u8>) -> String {
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn the_size_hint_is_close_to_the_size() {
        let row = Value::structure([
            ("name", Value::from("web_01")),
            ("pid", Value::Int(1234)),
            ("description", Value::from("pid 1234, uptime 0:01:02")),
            ("ok", Value::Bool(true)),
        ]);
        let v = Value::Array(vec![row; 1000]);
        let mut out = String::new();
        write_value(&mut out, &v);
        let hint = size_hint(&v);
        assert!(
            hint >= out.len() && hint < out.len() * 2,
            "{hint} for {}",
            out.len()
        );
    }

    #[test]
    fn get_state_response_is_supervisords_bytes() {
        // Captured from supervisord 4.3.0 answering supervisor.getState.
        let want = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><struct>\n<member>\n<name>statecode</name>\n<value><int>1</int></value>\n</member>\n<member>\n<name>statename</name>\n<value><string>RUNNING</string></value>\n</member>\n</struct></value>\n</param>\n</params>\n</methodResponse>\n";
        let v = Value::structure([
            ("statecode", Value::Int(1)),
            ("statename", Value::from("RUNNING")),
        ]);
        assert_eq!(s(encode_response(&v)), want);
    }

    #[test]
    fn fault_is_supervisords_bytes() {
        // Captured from supervisord 4.3.0 answering getProcessInfo("nope").
        let want = "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>10</int></value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>BAD_NAME: nope</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n";
        assert_eq!(s(encode_fault(10, "BAD_NAME: nope")), want);
    }

    #[test]
    fn scalars() {
        let mut out = String::new();
        write_value(&mut out, &Value::Bool(false));
        write_value(&mut out, &Value::Int(-7));
        write_value(&mut out, &Value::Double(1e16));
        write_value(&mut out, &Value::Nil);
        write_value(&mut out, &Value::Base64(b"hi".to_vec()));
        write_value(&mut out, &Value::String("a<b>&c".into()));
        assert_eq!(
            out,
            "<value><boolean>0</boolean></value>\n<value><int>-7</int></value>\n\
             <value><double>1e+16</double></value>\n<value><nil/></value>\
             <value><base64>\naGk=\n</base64></value>\n<value><string>a&lt;b&gt;&amp;c</string></value>\n"
        );
    }

    #[test]
    fn call_layout() {
        let body = s(encode_call(
            "supervisor.getProcessInfo",
            &[Value::from("cat")],
        ));
        assert_eq!(
            body,
            "<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.getProcessInfo</methodName>\n<params>\n<param>\n<value><string>cat</string></value>\n</param>\n</params>\n</methodCall>\n"
        );
        let empty = s(encode_call("supervisor.getState", &[]));
        assert!(empty.contains("<params>\n</params>\n"));
    }

    #[test]
    fn never_emits_forbidden_characters() {
        let nasty: String = (0u32..0x20)
            .filter_map(char::from_u32)
            .chain(['\u{FFFE}', '\u{FFFF}'])
            .collect();
        let body = s(encode_response(&Value::structure([(
            nasty.clone(),
            Value::String(nasty.clone()),
        )])));
        assert!(body.chars().all(super::super::text::is_xml_char));
        let body = s(encode_fault(1, &nasty));
        assert!(body.chars().all(super::super::text::is_xml_char));
        let body = s(encode_call(&nasty, &[Value::DateTime(nasty.clone())]));
        assert!(body.chars().all(super::super::text::is_xml_char));
    }
}
