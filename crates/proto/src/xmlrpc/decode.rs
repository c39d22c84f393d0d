//! Reading XML-RPC calls (daemon side) and responses (client side).
//!
//! The grammar is what supervisord's `supervisor_xmlrpc_handler.loads` and Python's
//! `Unmarshaller` accept from real clients, made strict where they silently produce
//! nonsense: every element must be where XML-RPC puts it, stray text is an error, and
//! scalar values must parse. Building is a single pass over tokens with an explicit stack
//! (no recursion, no DOM), and nesting is capped at [`MAX_DEPTH`] elements.

use std::collections::HashMap;
use std::fmt;

use super::value::{Key, Value};
use super::xml::{Token, Tokenizer, decode_document, is_whitespace};

/// The deepest element nesting accepted. Each array level costs 3 elements
/// (`value/array/data`) and each struct level 4 (`value/struct/member/value`), so this
/// allows values about 40 levels deep; supervisor's API needs 4.
pub const MAX_DEPTH: usize = 128;

/// Structs switch from a linear duplicate-name scan to a hash index past this many members,
/// so huge structs stay linear.
const STRUCT_INDEX_THRESHOLD: usize = 16;

/// A decoded `methodCall`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub method: String,
    pub params: Vec<Value>,
}

/// A fault response: `faultCode` and `faultString`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultResponse {
    pub code: i32,
    pub text: String,
}

impl fmt::Display for FaultResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fault {}: {}", self.code, self.text)
    }
}

impl std::error::Error for FaultResponse {}

/// Why a document was rejected, and where (1-based line and column, in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    pub line: usize,
    pub column: usize,
    /// Byte offset in the decoded document.
    pub offset: usize,
    pub message: String,
}

impl DecodeError {
    pub(crate) fn new_at(src: &str, offset: usize, message: String) -> Self {
        let offset = offset.min(src.len());
        let mut cut = offset;
        while !src.is_char_boundary(cut) {
            cut -= 1;
        }
        let before = &src[..cut];
        let line = before.bytes().filter(|b| *b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |p| p + 1);
        let column = before[line_start..].chars().count() + 1;
        DecodeError {
            line,
            column,
            offset,
            message,
        }
    }

    pub(crate) fn new_at_byte(body: &[u8], offset: usize, message: String) -> Self {
        let offset = offset.min(body.len());
        Self::new_at(&String::from_utf8_lossy(&body[..offset]), offset, message)
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a `methodCall` request body.
///
/// Accepts what Python's `xmlrpc.client`, supervisorctl and other common clients send:
/// `<int>`/`<i4>`/`<i8>` (within 32 bits), untyped `<value>text</value>` as a string,
/// `<nil/>`, a missing `<params>`, whitespace between elements, entities and character
/// references, CDATA, comments, and an XML declaration for UTF-8, US-ASCII or ISO-8859-1.
/// A struct repeating a member name keeps the last value at the first position, as the
/// Python dict supervisord builds does.
pub fn parse_call(body: &[u8]) -> Result<Call, DecodeError> {
    match parse_document(body, Root::Call, false)? {
        Parsed::Call(call) => Ok(call),
        Parsed::Response(_) => Err(wrong_root()),
    }
}

/// Decodes a `methodResponse` body: `Ok(Ok(value))` for a result, `Ok(Err(fault))` for a
/// fault. Lenient about characters XML forbids (kept as they are) and invalid UTF-8
/// (replaced), because supervisord writes log contents raw into its responses.
pub fn parse_response(body: &[u8]) -> Result<Result<Value, FaultResponse>, DecodeError> {
    match parse_document(body, Root::Response, true)? {
        Parsed::Response(r) => Ok(r),
        Parsed::Call(_) => Err(wrong_root()),
    }
}

/// `parse_document` only returns the kind its `Root` argument asks for; this error exists
/// so that the impossible case needs no panic.
fn wrong_root() -> DecodeError {
    DecodeError {
        line: 1,
        column: 1,
        offset: 0,
        message: "internal error: wrong document kind".into(),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Root {
    Call,
    Response,
}

enum Parsed {
    Call(Call),
    Response(Result<Value, FaultResponse>),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Scalar {
    Int,
    Boolean,
    String,
    Double,
    DateTime,
    Base64,
    Nil,
}

enum Frame {
    MethodCall {
        method: Option<String>,
        params: Option<Vec<Value>>,
    },
    MethodResponse {
        result: Option<Result<Value, Value>>,
    },
    MethodName {
        text: String,
    },
    Params {
        values: Vec<Value>,
    },
    Param {
        value: Option<Value>,
    },
    Fault {
        value: Option<Value>,
    },
    Value {
        text: String,
        child: Option<Value>,
    },
    Scalar {
        kind: Scalar,
        text: String,
    },
    Array {
        items: Option<Vec<Value>>,
    },
    Data {
        items: Vec<Value>,
    },
    Struct {
        members: Vec<(Key, Value)>,
        index: Option<HashMap<String, usize>>,
    },
    Member {
        name: Option<String>,
        value: Option<Value>,
    },
    Name {
        text: String,
    },
}

impl Frame {
    /// A `<value>` element just opened.
    fn value() -> Frame {
        Frame::Value {
            text: String::new(),
            child: None,
        }
    }
}

struct Open<'a> {
    tag: &'a str,
    offset: usize,
    frame: Frame,
}

/// What a closed element hands to its parent.
enum Product {
    MethodName(String),
    Params(Vec<Value>),
    Param(Value),
    FaultValue(Value),
    Value(Value),
    Typed(Value),
    Data(Vec<Value>),
    Member(String, Value),
    Name(String),
}

fn parse_document(body: &[u8], root: Root, lenient: bool) -> Result<Parsed, DecodeError> {
    let (src, start) = decode_document(body, lenient)?;
    let mut tok = Tokenizer::new(&src, start, lenient);
    let mut stack: Vec<Open<'_>> = Vec::new();
    let mut done: Option<Frame> = None;

    loop {
        let at = tok.offset();
        let src_text = tok.src();
        let err = |offset: usize, msg: String| DecodeError::new_at(src_text, offset, msg);
        match tok.next_token()? {
            Token::Eof => break,
            Token::Text(text) => match stack.last_mut() {
                None => {
                    if !is_whitespace(&text) {
                        return Err(err(at, "text outside the root element".into()));
                    }
                }
                Some(open) => match &mut open.frame {
                    Frame::MethodName { text: t }
                    | Frame::Name { text: t }
                    | Frame::Scalar { text: t, .. } => {
                        t.push_str(&text);
                    }
                    Frame::Value { text: t, child } => {
                        if child.is_some() && !is_whitespace(&text) {
                            return Err(err(
                                at,
                                "text next to a typed value inside <value>".into(),
                            ));
                        }
                        t.push_str(&text);
                    }
                    _ => {
                        if !is_whitespace(&text) {
                            return Err(err(at, format!("unexpected text inside <{}>", open.tag)));
                        }
                    }
                },
            },
            Token::Start { name, .. } => {
                let frame = match stack.last_mut() {
                    None => {
                        if done.is_some() {
                            return Err(err(at, "more than one root element".into()));
                        }
                        match (root, name) {
                            (Root::Call, "methodCall") => Frame::MethodCall {
                                method: None,
                                params: None,
                            },
                            (Root::Response, "methodResponse") => {
                                Frame::MethodResponse { result: None }
                            }
                            (Root::Call, _) => {
                                return Err(err(
                                    at,
                                    format!("expected <methodCall>, found <{name}>"),
                                ));
                            }
                            (Root::Response, _) => {
                                return Err(err(
                                    at,
                                    format!("expected <methodResponse>, found <{name}>"),
                                ));
                            }
                        }
                    }
                    Some(parent) => child_frame(parent, name).map_err(|m| err(at, m))?,
                };
                if stack.len() >= MAX_DEPTH {
                    return Err(err(
                        at,
                        format!("elements nested more than {MAX_DEPTH} deep"),
                    ));
                }
                stack.push(Open {
                    tag: name,
                    offset: at,
                    frame,
                });
            }
            Token::End { name } => {
                let Some(open) = stack.pop() else {
                    return Err(err(at, format!("end tag </{name}> without a start tag")));
                };
                if open.tag != name {
                    return Err(err(
                        at,
                        format!(
                            "mismatched end tag: expected </{}>, found </{name}>",
                            open.tag
                        ),
                    ));
                }
                let product = match finish(open.frame) {
                    Ok(Finished::Product(p)) => p,
                    Ok(Finished::Root(frame)) => {
                        done = Some(frame);
                        continue;
                    }
                    Err(m) => return Err(err(open.offset, m)),
                };
                if let Some(parent) = stack.last_mut() {
                    deliver(&mut parent.frame, product).map_err(|m| err(open.offset, m))?;
                }
            }
        }
    }

    let end = src.len();
    if let Some(open) = stack.last() {
        return Err(DecodeError::new_at(
            &src,
            end,
            format!("document ends inside <{}>", open.tag),
        ));
    }
    let fail = |m: &str| Err(DecodeError::new_at(&src, end, m.to_owned()));
    match done {
        None => fail("empty document: no root element"),
        Some(Frame::MethodCall { method, params }) => match method {
            None => fail("<methodCall> without <methodName>"),
            Some(method) => Ok(Parsed::Call(Call {
                method,
                params: params.unwrap_or_default(),
            })),
        },
        Some(Frame::MethodResponse { result }) => match result {
            None => fail("<methodResponse> with neither <params> nor <fault>"),
            Some(Ok(value)) => Ok(Parsed::Response(Ok(value))),
            Some(Err(fault)) => match fault_from_value(&fault) {
                Ok(f) => Ok(Parsed::Response(Err(f))),
                Err(m) => fail(&m),
            },
        },
        Some(_) => fail("internal error: unexpected root frame"),
    }
}

fn fault_from_value(v: &Value) -> Result<FaultResponse, String> {
    if !matches!(v, Value::Struct(_)) {
        return Err(format!("<fault> holds a {}, not a struct", v.type_name()));
    }
    let code = match v.get("faultCode") {
        Some(Value::Int(c)) => *c,
        Some(other) => return Err(format!("faultCode is a {}, not an int", other.type_name())),
        None => return Err("<fault> without faultCode".into()),
    };
    let text = match v.get("faultString") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(format!(
                "faultString is a {}, not a string",
                other.type_name()
            ));
        }
        None => return Err("<fault> without faultString".into()),
    };
    Ok(FaultResponse { code, text })
}

/// The frame for element `name` opened inside `parent`, or why it may not be there.
fn child_frame(parent: &mut Open<'_>, name: &str) -> Result<Frame, String> {
    let misplaced = || format!("<{name}> is not allowed inside <{}>", parent.tag);
    let duplicate = || format!("more than one <{name}> inside <{}>", parent.tag);
    let frame = match &parent.frame {
        Frame::MethodCall { method, params } => match name {
            "methodName" if method.is_some() => return Err(duplicate()),
            "methodName" => Frame::MethodName {
                text: String::new(),
            },
            "params" if params.is_some() => return Err(duplicate()),
            "params" => Frame::Params { values: Vec::new() },
            _ => return Err(misplaced()),
        },
        Frame::MethodResponse { result } => match name {
            "params" | "fault" if result.is_some() => {
                return Err("<methodResponse> with more than one <params>/<fault>".to_owned());
            }
            "params" => Frame::Params { values: Vec::new() },
            "fault" => Frame::Fault { value: None },
            _ => return Err(misplaced()),
        },
        Frame::Params { .. } => match name {
            "param" => Frame::Param { value: None },
            _ => return Err(misplaced()),
        },
        Frame::Param { value } | Frame::Fault { value } => match name {
            "value" if value.is_some() => return Err(duplicate()),
            "value" => Frame::value(),
            _ => return Err(misplaced()),
        },
        Frame::Data { .. } => match name {
            "value" => Frame::value(),
            _ => return Err(misplaced()),
        },
        Frame::Array { items } => match name {
            "data" if items.is_some() => return Err(duplicate()),
            "data" => Frame::Data { items: Vec::new() },
            _ => return Err(misplaced()),
        },
        Frame::Struct { .. } => match name {
            "member" => Frame::Member {
                name: None,
                value: None,
            },
            _ => return Err(misplaced()),
        },
        Frame::Member {
            name: member_name,
            value,
        } => match name {
            "name" if member_name.is_some() => return Err(duplicate()),
            "name" => Frame::Name {
                text: String::new(),
            },
            "value" if value.is_some() => return Err(duplicate()),
            "value" => Frame::value(),
            _ => return Err(misplaced()),
        },
        Frame::Value { text, child } => {
            if child.is_some() {
                return Err(format!(
                    "<value> with more than one typed element (<{name}>)"
                ));
            }
            if !is_whitespace(text) {
                return Err(format!("text next to <{name}> inside <value>"));
            }
            // Apache XML-RPC's extensions come namespaced (<ex:i8>, <ex:nil/>); Python's
            // Unmarshaller ignores the prefix, and so do we.
            let local = name.rsplit(':').next().unwrap_or(name);
            let scalar = |kind| Frame::Scalar {
                kind,
                text: String::new(),
            };
            match local {
                "int" | "i4" | "i8" | "i1" | "i2" => scalar(Scalar::Int),
                "boolean" => scalar(Scalar::Boolean),
                "string" => scalar(Scalar::String),
                "double" | "float" => scalar(Scalar::Double),
                "dateTime.iso8601" => scalar(Scalar::DateTime),
                "base64" => scalar(Scalar::Base64),
                "nil" => scalar(Scalar::Nil),
                "array" => Frame::Array { items: None },
                "struct" => Frame::Struct {
                    members: Vec::new(),
                    index: None,
                },
                _ => return Err(format!("unknown value type <{name}>")),
            }
        }
        Frame::MethodName { .. } | Frame::Name { .. } | Frame::Scalar { .. } => {
            return Err(misplaced());
        }
    };
    Ok(frame)
}

enum Finished {
    Product(Product),
    Root(Frame),
}

fn finish(frame: Frame) -> Result<Finished, String> {
    let product = match frame {
        Frame::MethodCall { .. } | Frame::MethodResponse { .. } => {
            return Ok(Finished::Root(frame));
        }
        Frame::MethodName { text } => {
            // supervisord answers 400 for an empty method name.
            if text.is_empty() {
                return Err("empty <methodName>".into());
            }
            Product::MethodName(text)
        }
        Frame::Params { values } => Product::Params(values),
        Frame::Param { value } => Product::Param(value.ok_or("<param> without a <value>")?),
        Frame::Fault { value } => Product::FaultValue(value.ok_or("<fault> without a <value>")?),
        // An untyped <value> is a string, whitespace and all.
        Frame::Value { text, child } => Product::Value(child.unwrap_or(Value::String(text))),
        Frame::Scalar { kind, text } => Product::Typed(scalar_value(kind, text)?),
        Frame::Array { items } => Product::Typed(Value::Array(items.unwrap_or_default())),
        Frame::Data { items } => Product::Data(items),
        Frame::Struct { members, .. } => Product::Typed(Value::Struct(members)),
        Frame::Member { name, value } => Product::Member(
            name.ok_or("<member> without a <name>")?,
            value.ok_or("<member> without a <value>")?,
        ),
        Frame::Name { text } => Product::Name(text),
    };
    Ok(Finished::Product(product))
}

fn deliver(parent: &mut Frame, product: Product) -> Result<(), String> {
    match (parent, product) {
        (Frame::MethodCall { method, .. }, Product::MethodName(m)) => *method = Some(m),
        (Frame::MethodCall { params, .. }, Product::Params(p)) => *params = Some(p),
        (Frame::MethodResponse { result }, Product::Params(mut p)) => {
            if p.len() != 1 {
                return Err(format!(
                    "response <params> must hold exactly one <param>, not {}",
                    p.len()
                ));
            }
            *result = p.pop().map(Ok);
        }
        (Frame::MethodResponse { result }, Product::FaultValue(v)) => *result = Some(Err(v)),
        (Frame::Params { values }, Product::Param(v)) => values.push(v),
        (Frame::Param { value } | Frame::Fault { value }, Product::Value(v)) => *value = Some(v),
        (Frame::Data { items }, Product::Value(v)) => items.push(v),
        (Frame::Array { items }, Product::Data(d)) => *items = Some(d),
        (Frame::Value { child, .. }, Product::Typed(v)) => *child = Some(v),
        (Frame::Member { name, .. }, Product::Name(n)) => *name = Some(n),
        (Frame::Member { value, .. }, Product::Value(v)) => *value = Some(v),
        (Frame::Struct { members, index }, Product::Member(name, value)) => {
            insert_member(members, index, name, value);
        }
        _ => return Err("internal error: element delivered to the wrong parent".into()),
    }
    Ok(())
}

/// Python dict semantics: a repeated name replaces the value but keeps the first position.
fn insert_member(
    members: &mut Vec<(Key, Value)>,
    index: &mut Option<HashMap<String, usize>>,
    name: String,
    value: Value,
) {
    if index.is_none() && members.len() >= STRUCT_INDEX_THRESHOLD {
        *index = Some(
            members
                .iter()
                .enumerate()
                .map(|(i, (k, _))| (k.to_string(), i))
                .collect(),
        );
    }
    let existing = match index {
        Some(map) => map.get(&name).copied(),
        None => members.iter().position(|(k, _)| *k == name),
    };
    match existing {
        Some(i) => members[i].1 = value,
        None => {
            if let Some(map) = index {
                map.insert(name.clone(), members.len());
            }
            members.push((Key::Owned(name), value));
        }
    }
}

fn scalar_value(kind: Scalar, text: String) -> Result<Value, String> {
    let trimmed = text.trim_matches([' ', '\t', '\r', '\n']);
    Ok(match kind {
        Scalar::String => Value::String(text),
        Scalar::Int => Value::Int(parse_int(trimmed)?),
        Scalar::Boolean => match trimmed {
            "1" => Value::Bool(true),
            "0" => Value::Bool(false),
            _ => return Err(format!("bad boolean '{}' (expected 0 or 1)", clip(trimmed))),
        },
        Scalar::Double => {
            let ok = !trimmed.is_empty()
                && trimmed
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
            match trimmed.parse::<f64>() {
                Ok(d) if ok => Value::Double(d),
                _ => return Err(format!("bad double '{}'", clip(trimmed))),
            }
        }
        Scalar::DateTime => {
            if !is_iso8601_basic(trimmed) {
                return Err(format!(
                    "bad dateTime.iso8601 '{}' (expected YYYYMMDDTHH:MM:SS)",
                    clip(trimmed)
                ));
            }
            Value::DateTime(trimmed.to_owned())
        }
        Scalar::Base64 => match crate::b64::decode(text.as_bytes()) {
            Ok(bytes) => Value::Base64(bytes),
            Err(why) => return Err(format!("bad base64: {why}")),
        },
        Scalar::Nil => {
            if !trimmed.is_empty() {
                return Err("<nil/> must be empty".into());
            }
            Value::Nil
        }
    })
}

/// Decimal integer with optional sign, which must fit in 32 bits.
fn parse_int(s: &str) -> Result<i32, String> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad integer '{}'", clip(s)));
    }
    s.parse::<i32>()
        .map_err(|_| format!("integer {} does not fit in 32 bits", clip(s)))
}

/// `%Y%m%dT%H:%M:%S`, the format supervisord's `make_datetime` parses and Python writes.
fn is_iso8601_basic(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 17
        && b.iter().enumerate().all(|(i, c)| match i {
            8 => *c == b'T',
            11 | 14 => *c == b':',
            _ => c.is_ascii_digit(),
        })
}

/// Error messages quote at most 40 characters of the offending text.
fn clip(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(body: &str) -> Result<Call, DecodeError> {
        parse_call(body.as_bytes())
    }

    fn one_param(value_xml: &str) -> Result<Value, DecodeError> {
        let body = format!(
            "<methodCall><methodName>m</methodName><params><param>{value_xml}</param></params></methodCall>"
        );
        call(&body).map(|mut c| c.params.remove(0))
    }

    #[test]
    fn python_client_call() {
        let body = "<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.startProcess</methodName>\n<params>\n<param>\n<value><string>cat</string></value>\n</param>\n<param>\n<value><boolean>1</boolean></value>\n</param>\n</params>\n</methodCall>\n";
        assert_eq!(
            call(body).unwrap(),
            Call {
                method: "supervisor.startProcess".into(),
                params: vec![Value::from("cat"), Value::Bool(true)]
            }
        );
    }

    #[test]
    fn scalar_forms() {
        assert_eq!(
            one_param("<value><i4>-5</i4></value>").unwrap(),
            Value::Int(-5)
        );
        assert_eq!(
            one_param("<value><int> +7 </int></value>").unwrap(),
            Value::Int(7)
        );
        assert_eq!(
            one_param("<value><i8>2147483647</i8></value>").unwrap(),
            Value::Int(i32::MAX)
        );
        assert_eq!(
            one_param("<value><ex:i8>-2147483648</ex:i8></value>").unwrap(),
            Value::Int(i32::MIN)
        );
        assert_eq!(
            one_param("<value>bare text</value>").unwrap(),
            Value::from("bare text")
        );
        assert_eq!(one_param("<value>  </value>").unwrap(), Value::from("  "));
        assert_eq!(one_param("<value/>").unwrap(), Value::from(""));
        assert_eq!(
            one_param("<value><string/></value>").unwrap(),
            Value::from("")
        );
        assert_eq!(one_param("<value> <nil/> </value>").unwrap(), Value::Nil);
        assert_eq!(one_param("<value><ex:nil/></value>").unwrap(), Value::Nil);
        assert_eq!(
            one_param("<value><double>-1.5e3</double></value>").unwrap(),
            Value::Double(-1500.0)
        );
        assert_eq!(
            one_param("<value><double>inf</double></value>").unwrap(),
            Value::Double(f64::INFINITY)
        );
        assert_eq!(
            one_param("<value><boolean>0</boolean></value>").unwrap(),
            Value::Bool(false)
        );
        assert_eq!(
            one_param("<value><dateTime.iso8601>20240102T03:04:05</dateTime.iso8601></value>")
                .unwrap(),
            Value::DateTime("20240102T03:04:05".into())
        );
        assert_eq!(
            one_param("<value><base64>\naGVs\nbG8=\n</base64></value>").unwrap(),
            Value::from(b"hello".to_vec())
        );
        // Whitespace anywhere, padding or none, ignored trailing bits.
        assert_eq!(
            one_param("<value><base64> a G\tV s\r\nbG8 = </base64></value>").unwrap(),
            Value::from(b"hello".to_vec())
        );
        assert_eq!(
            one_param("<value><base64>aGVsbG9</base64></value>").unwrap(),
            Value::from(b"hello".to_vec())
        );
        assert_eq!(
            one_param("<value><base64>aGVsbG9=</base64></value>").unwrap(),
            Value::from(b"hello".to_vec())
        );
        assert_eq!(
            one_param("<value><base64></base64></value>").unwrap(),
            Value::Base64(Vec::new())
        );
        assert_eq!(
            one_param("<value><string>a &amp; b &#x263A; <![CDATA[<raw>]]></string></value>")
                .unwrap(),
            Value::from("a & b ☺ <raw>")
        );
    }

    #[test]
    fn containers() {
        let v = one_param(
            "<value><array><data><value><int>1</int></value><value>two</value>\
             <value><array><data/></array></value></data></array></value>",
        )
        .unwrap();
        assert_eq!(
            v,
            Value::Array(vec![
                Value::Int(1),
                Value::from("two"),
                Value::Array(vec![])
            ])
        );
        assert_eq!(
            one_param("<value><array></array></value>").unwrap(),
            Value::Array(vec![])
        );
        let s = one_param(
            "<value><struct><member><name>a</name><value><int>1</int></value></member>\
             <member><value>x</value><name>b</name></member>\
             <member><name>a</name><value><int>3</int></value></member></struct></value>",
        )
        .unwrap();
        assert_eq!(
            s,
            Value::structure([("a", Value::Int(3)), ("b", Value::from("x"))])
        );
    }

    #[test]
    fn big_struct_with_duplicates_stays_ordered() {
        let mut xml = String::from("<value><struct>");
        for i in 0..100 {
            xml.push_str(&format!(
                "<member><name>k{}</name><value><int>{}</int></value></member>",
                i % 40,
                i
            ));
        }
        xml.push_str("</struct></value>");
        let v = one_param(&xml).unwrap();
        let members = v.as_struct().unwrap();
        assert_eq!(members.len(), 40);
        assert_eq!(members[0], ("k0".into(), Value::Int(80)));
        assert_eq!(members[39], ("k39".into(), Value::Int(79)));
    }

    #[test]
    fn no_params_and_encodings() {
        assert_eq!(
            call("<methodCall><methodName>a.b</methodName></methodCall>")
                .unwrap()
                .params,
            vec![]
        );
        let latin1 = b"<?xml version='1.0' encoding='iso-8859-1'?><methodCall><methodName>m</methodName><params><param><value>\xe9</value></param></params></methodCall>";
        assert_eq!(parse_call(latin1).unwrap().params, vec![Value::from("é")]);
    }

    #[test]
    fn rejects_garbage_precisely() {
        let cases = [
            ("", "empty document"),
            ("   ", "empty document"),
            ("<methodResponse/>", "expected <methodCall>"),
            ("<methodCall></methodCall>", "without <methodName>"),
            (
                "<methodCall><methodName></methodName></methodCall>",
                "empty <methodName>",
            ),
            (
                "<methodCall><methodName>a</methodName><methodName>b</methodName></methodCall>",
                "more than one <methodName>",
            ),
            (
                "<methodCall><methodName>a</methodName><params>x</params></methodCall>",
                "unexpected text inside <params>",
            ),
            (
                "<methodCall><methodName>a</methodName><params><value/></params></methodCall>",
                "<value> is not allowed inside <params>",
            ),
            (
                "<methodCall><methodName>a</methodName><params><param/></params></methodCall>",
                "<param> without a <value>",
            ),
            (
                "<methodCall><methodName>a</methodName></methodCall><x/>",
                "more than one root",
            ),
            (
                "<methodCall><methodName>a</methodName>",
                "document ends inside <methodCall>",
            ),
            (
                "<methodCall><methodName>a</methodName></methodcall>",
                "mismatched end tag",
            ),
            ("junk<methodCall/>", "text outside the root"),
        ];
        for (body, want) in cases {
            let err = call(body).unwrap_err();
            assert!(
                err.message.contains(want),
                "{body:?}: got {err}, want {want:?}"
            );
        }
        let value_cases = [
            ("<value><int>1.5</int></value>", "bad integer"),
            (
                "<value><int>2147483648</int></value>",
                "does not fit in 32 bits",
            ),
            ("<value><int></int></value>", "bad integer"),
            ("<value><boolean>true</boolean></value>", "bad boolean"),
            ("<value><double>1,5</double></value>", "bad double"),
            ("<value><double></double></value>", "bad double"),
            (
                "<value><dateTime.iso8601>2024-01-01T00:00:00</dateTime.iso8601></value>",
                "bad dateTime",
            ),
            ("<value><base64>!!</base64></value>", "bad base64"),
            ("<value><base64>aGVsb</base64></value>", "bad base64"),
            ("<value><base64>aGVsbA=</base64></value>", "bad base64"),
            ("<value><base64>aGVs=bG8=</base64></value>", "bad base64"),
            ("<value><nil>x</nil></value>", "must be empty"),
            ("<value><foo>1</foo></value>", "unknown value type <foo>"),
            ("<value>x<int>1</int></value>", "text next to <int>"),
            ("<value><int>1</int>x</value>", "text next to a typed value"),
            (
                "<value><int>1</int><int>2</int></value>",
                "more than one typed element",
            ),
            (
                "<value><string><b/></string></value>",
                "<b> is not allowed inside <string>",
            ),
            (
                "<value><struct><member><name>a</name></member></struct></value>",
                "without a <value>",
            ),
            (
                "<value><struct><member><value/></member></struct></value>",
                "without a <name>",
            ),
            (
                "<value><array><data/><data/></array></value>",
                "more than one <data>",
            ),
        ];
        for (xml, want) in value_cases {
            let err = one_param(xml).unwrap_err();
            assert!(
                err.message.contains(want),
                "{xml:?}: got {err}, want {want:?}"
            );
        }
    }

    #[test]
    fn depth_is_limited_without_recursion() {
        let depth = 100_000;
        let body = format!(
            "<methodCall><methodName>m</methodName><params><param>{}</param></params></methodCall>",
            "<value><array><data>".repeat(depth)
        );
        let err = call(&body).unwrap_err();
        assert!(err.message.contains("nested more than"), "{err}");
        // Just under the limit parses.
        let levels = (MAX_DEPTH - 4) / 3;
        let body = format!(
            "<methodCall><methodName>m</methodName><params><param>{}<value/>{}</param></params></methodCall>",
            "<value><array><data>".repeat(levels),
            "</data></array></value>".repeat(levels)
        );
        assert_eq!(call(&body).unwrap().params[0].depth(), levels + 1);
    }

    #[test]
    fn responses() {
        let ok = b"<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><int>3</int></value>\n</param>\n</params>\n</methodResponse>\n";
        assert_eq!(parse_response(ok).unwrap(), Ok(Value::Int(3)));
        let fault = crate::xmlrpc::encode_fault(10, "BAD_NAME: x");
        assert_eq!(
            parse_response(&fault).unwrap(),
            Err(FaultResponse {
                code: 10,
                text: "BAD_NAME: x".into()
            })
        );
        // supervisord writes ESC raw into log text; the client must still read it.
        let raw = b"<methodResponse><params><param><value><string>\x1b[1m</string></value></param></params></methodResponse>";
        assert_eq!(parse_response(raw).unwrap(), Ok(Value::from("\u{1b}[1m")));
        for bad in [
            &b"<methodResponse></methodResponse>"[..],
            b"<methodResponse><params></params></methodResponse>",
            b"<methodResponse><fault><value><int>1</int></value></fault></methodResponse>",
            b"<methodResponse><fault><value><struct><member><name>faultCode</name><value>1</value></member></struct></value></fault></methodResponse>",
            b"<methodCall><methodName>m</methodName></methodCall>",
        ] {
            assert!(parse_response(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn error_display_has_position() {
        let err = call(
            "<methodCall>\n<methodName>a</methodName>\n<params><bogus/></params></methodCall>",
        )
        .unwrap_err();
        assert_eq!((err.line, err.column), (3, 9));
        assert_eq!(
            err.to_string(),
            "line 3, column 9: <bogus> is not allowed inside <params>"
        );
    }
}
