//! parse_call (and the client's lenient parse_response) on arbitrary bytes: no panics, no
//! runaway time or memory; and whatever parses must survive encode -> parse unchanged
//! (modulo the XML line-end normalization Python's byte-identical encoding implies).
#![no_main]

use corral_proto::xmlrpc::{
    Value, encode_call, encode_fault, encode_response, is_xml_char, parse_call, parse_response, xml_safe_text,
};
use libfuzzer_sys::fuzz_target;

/// What an XML parser gives back for text written raw: CR LF and lone CR become LF.
fn normalize_text(s: &str) -> String {
    if s.contains('\r') { s.replace("\r\n", "\n").replace('\r', "\n") } else { s.to_owned() }
}

fn normalize(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(normalize_text(s)),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        Value::Struct(members) => {
            // Normalizing names can merge two of them; the reparse then keeps the last
            // value at the first position, as the decoder's dict semantics do.
            let mut out: Vec<(String, Value)> = Vec::new();
            for (k, v) in members {
                let k = normalize_text(k);
                let v = normalize(v);
                match out.iter_mut().find(|(n, _)| *n == k) {
                    Some(slot) => slot.1 = v,
                    None => out.push((k, v)),
                }
            }
            Value::Struct(out)
        }
        other => other.clone(),
    }
}

/// Structural equality where NaN equals NaN (the encoder writes every NaN as "nan").
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Double(x), Value::Double(y)) => (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits(),
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Struct(x), Value::Struct(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
        }
        _ => a == b,
    }
}

fn all_xml_chars(v: &Value) -> bool {
    match v {
        Value::String(s) | Value::DateTime(s) => s.chars().all(is_xml_char),
        Value::Array(items) => items.iter().all(all_xml_chars),
        Value::Struct(m) => m.iter().all(|(k, v)| k.chars().all(is_xml_char) && all_xml_chars(v)),
        _ => true,
    }
}

fuzz_target!(|data: &[u8]| {
    // The client-side parser must never panic either, whatever a server sends.
    let _ = parse_response(data);

    // Arbitrary bytes as log text: the daemon's encoder must produce a parseable document.
    let text = xml_safe_text(data);
    let doc = encode_response(&Value::String(text.clone()));
    match parse_response(&doc) {
        Ok(Ok(v)) => assert_eq!(v, Value::String(normalize_text(&text))),
        other => panic!("encode_response output did not parse back: {other:?}"),
    }

    let Ok(call) = parse_call(data) else { return };
    // Strict parsing only yields characters XML allows.
    assert!(call.method.chars().all(is_xml_char));
    assert!(call.params.iter().all(all_xml_chars));

    let reparsed = parse_call(&encode_call(&call.method, &call.params)).expect("encode_call output must parse");
    assert_eq!(reparsed.method, normalize_text(&call.method));
    let want: Vec<Value> = call.params.iter().map(normalize).collect();
    assert!(
        reparsed.params.len() == want.len() && reparsed.params.iter().zip(&want).all(|(a, b)| same(a, b)),
        "call round trip changed the params:\n{:?}\n{:?}",
        call.params,
        reparsed.params
    );

    for p in &call.params {
        match parse_response(&encode_response(p)) {
            Ok(Ok(v)) => assert!(same(&v, &normalize(p)), "response round trip: {p:?} -> {v:?}"),
            other => panic!("encode_response output did not parse back: {other:?}"),
        }
    }
    match parse_response(&encode_fault(-7, &call.method)) {
        Ok(Err(f)) => assert_eq!((f.code, f.text), (-7, normalize_text(&call.method))),
        other => panic!("encode_fault output did not parse back: {other:?}"),
    }
});
