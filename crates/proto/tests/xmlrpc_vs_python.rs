//! Differential tests of the XML-RPC codec against Python's own `xmlrpc.client`, which is
//! what supervisord uses to write responses and what Python clients use to write calls.

mod common;

use common::{PY_PRELUDE, Rng, py_str, py_value, python, records, run_python, skip, without_nan};
use corral_proto::xmlrpc::{
    Value, encode_call, encode_fault, encode_response, parse_call, xml_safe_text,
};

/// Values worth checking by hand, on top of the random ones.
fn corner_values() -> Vec<Value> {
    let s = |x: &str| Value::String(x.to_owned());
    vec![
        Value::Int(0),
        Value::Int(-1),
        Value::Int(i32::MAX),
        Value::Int(i32::MIN),
        Value::Bool(true),
        Value::Bool(false),
        s(""),
        s(" leading and trailing "),
        s("&amp; <tag> a>b \"q\" 'a' ]]>"),
        s("unicode: é ß € 😀 \u{10FFFF} \u{FFFD}"),
        s("line1\nline2\n\tindent"),
        s("\u{7f}\u{80}\u{9f}"),
        Value::Double(0.0),
        Value::Double(-0.0),
        Value::Double(1.0),
        Value::Double(0.1),
        Value::Double(-2.5e-8),
        Value::Double(1e15),
        Value::Double(1e16),
        Value::Double(123456789012345680.0),
        Value::Double(f64::MAX),
        Value::Double(f64::MIN_POSITIVE),
        Value::Double(5e-324),
        Value::Double(f64::INFINITY),
        Value::Double(f64::NEG_INFINITY),
        Value::Double(f64::NAN),
        Value::DateTime("20240229T23:59:59".into()),
        Value::Base64(vec![]),
        Value::Base64(b"hello".to_vec()),
        Value::Base64((0..=255).collect()),
        Value::Base64(vec![0; 1000]),
        Value::Nil,
        Value::Array(vec![]),
        Value::Struct(vec![]),
        Value::Array(vec![Value::Nil, Value::Nil, Value::Int(1)]),
        Value::structure([("", s("empty key")), ("<&>", s("escaped key"))]),
        Value::Array(vec![Value::Array(vec![Value::Array(vec![Value::Struct(
            vec![],
        )])])]),
        Value::structure([
            ("statecode", Value::Int(1)),
            ("statename", s("RUNNING")),
            (
                "nested",
                Value::structure([(
                    "a",
                    Value::Array(vec![Value::Bool(true), Value::Double(2.5)]),
                )]),
            ),
        ]),
    ]
}

/// `cases = [(name, (args,)), ...` (the list left open) for `calls`.
fn py_call_cases(calls: &[(String, Vec<Value>)]) -> String {
    let mut out = String::from("cases = [\n");
    for (m, params) in calls {
        let args: Vec<String> = params.iter().map(py_value).collect();
        out.push_str(&format!(
            "({}, ({}{})),\n",
            py_str(m),
            args.join(", "),
            if args.len() == 1 { "," } else { "" }
        ));
    }
    out
}

fn values_for_test() -> Vec<Value> {
    let mut values = corner_values();
    let mut rng = Rng::new(0x5EED_0001);
    values.extend((0..400).map(|_| rng.value(4)));
    values
}

#[test]
fn encode_response_is_byte_identical_to_python_dumps() {
    let Some(py) = python() else {
        return skip(
            "encode_response_is_byte_identical_to_python_dumps",
            "no python",
        );
    };
    let values = values_for_test();
    let mut script = String::from(PY_PRELUDE);
    script.push_str("cases = [\n");
    for v in &values {
        script.push_str(&py_value(v));
        script.push_str(",\n");
    }
    script.push_str(
        "]\nfor v in cases:\n    emit(X.dumps((v,), methodresponse=True, allow_none=True))\n",
    );
    // Faults: supervisord writes xmlrpc_marshal(Fault(code, text)) = dumps(Fault).
    let faults: Vec<(i32, String)> = vec![
        (10, "BAD_NAME: foo".into()),
        (2, "INCORRECT_PARAMETERS".into()),
        (-1, "".into()),
        (i32::MAX, "UNKNOWN: <&> é 😀".into()),
    ];
    script.push_str("for code, text in [\n");
    for (c, t) in &faults {
        script.push_str(&format!("({c}, {}),\n", py_str(t)));
    }
    script.push_str("]:\n    emit(X.dumps(X.Fault(code, text)))\n");

    let out = records(&run_python(&py, &script, &[]));
    assert_eq!(out.len(), values.len() + faults.len());
    for (v, want) in values.iter().zip(&out) {
        let got = encode_response(v);
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(want),
            "encode_response differs from Python for {v:?}"
        );
    }
    for ((code, text), want) in faults.iter().zip(&out[values.len()..]) {
        assert_eq!(
            String::from_utf8_lossy(&encode_fault(*code, text)),
            String::from_utf8_lossy(want)
        );
    }
}

#[test]
fn encode_call_is_byte_identical_to_python_dumps() {
    let Some(py) = python() else {
        return skip("encode_call_is_byte_identical_to_python_dumps", "no python");
    };
    let mut rng = Rng::new(0x5EED_0002);
    let calls: Vec<(String, Vec<Value>)> = (0..100)
        .map(|i| {
            let n = rng.below(4) as usize;
            (
                format!("supervisor.method{i}"),
                (0..n).map(|_| rng.value(3)).collect(),
            )
        })
        .collect();
    let mut script = String::from(PY_PRELUDE);
    script.push_str(&py_call_cases(&calls));
    script.push_str("]\nfor m, args in cases:\n    emit(X.dumps(args, m, allow_none=True))\n");
    let out = records(&run_python(&py, &script, &[]));
    assert_eq!(out.len(), calls.len());
    for ((m, params), want) in calls.iter().zip(&out) {
        assert_eq!(
            String::from_utf8_lossy(&encode_call(m, params)),
            String::from_utf8_lossy(want),
            "encode_call differs for {m}{params:?}"
        );
    }
}

#[test]
fn parse_call_reads_what_python_clients_send() {
    let Some(py) = python() else {
        return skip("parse_call_reads_what_python_clients_send", "no python");
    };
    let mut rng = Rng::new(0x5EED_0003);
    let mut calls: Vec<(String, Vec<Value>)> = vec![
        ("supervisor.getState".into(), vec![]),
        (
            "supervisor.startProcess".into(),
            vec![Value::from("web:web_00"), Value::Bool(true)],
        ),
        (
            "supervisor.readProcessStdoutLog".into(),
            vec![Value::from("cat"), Value::Int(-1600), Value::Int(0)],
        ),
        (
            "system.multicall".into(),
            vec![Value::Array(vec![Value::structure([
                ("methodName", Value::from("supervisor.getPID")),
                ("params", Value::Array(vec![])),
            ])])],
        ),
        (
            "supervisor.sendProcessStdin".into(),
            vec![Value::from("cat"), Value::from("é😀<&>\n")],
        ),
    ];
    let corner = corner_values();
    calls.push(("corner.values".into(), corner));
    for i in 0..200 {
        let n = rng.below(5) as usize;
        calls.push((format!("ns.m{i}"), (0..n).map(|_| rng.value(4)).collect()));
    }
    let mut script = String::from(PY_PRELUDE);
    script.push_str(&py_call_cases(&calls));
    // Python's ServerProxy sends dumps(args, name) encoded as UTF-8; also try the other
    // encodings Python offers (ServerProxy(encoding=...)) and supervisord's own transport.
    script.push_str(
        "]\nfor m, args in cases:\n    emit(X.dumps(args, m, allow_none=True).encode('utf-8'))\n    \
         emit(X.dumps(args, m, allow_none=True, encoding='us-ascii').encode('us-ascii', 'xmlcharrefreplace'))\n    \
         emit(X.dumps(args, m, allow_none=True, encoding='iso-8859-1').encode('iso-8859-1', 'xmlcharrefreplace'))\n",
    );
    let out = records(&run_python(&py, &script, &[]));
    assert_eq!(out.len(), calls.len() * 3);
    for (i, (m, params)) in calls.iter().enumerate() {
        for body in &out[i * 3..i * 3 + 3] {
            let call = parse_call(body)
                .unwrap_or_else(|e| panic!("{e} in {}", String::from_utf8_lossy(body)));
            assert_eq!(&call.method, m);
            let got: Vec<Value> = call.params.into_iter().map(without_nan).collect();
            let want: Vec<Value> = params.iter().cloned().map(without_nan).collect();
            assert_eq!(got, want, "{}", String::from_utf8_lossy(body));
        }
    }
}

/// Line ends: Python writes CR raw and every XML parser turns CR LF and lone CR into LF;
/// only `&#13;` survives. parse_call must agree with Python's own loads.
#[test]
fn carriage_returns_follow_xml_rules_like_python() {
    let Some(py) = python() else {
        return skip("carriage_returns_follow_xml_rules_like_python", "no python");
    };
    let bodies = [
        "<methodCall><methodName>m</methodName><params><param><value><string>a\r\nb\rc\n</string></value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value>a&#13;&#10;b</value></param></params></methodCall>",
        "<methodCall><methodName>m</methodName><params><param><value><string><![CDATA[x\r\ny]]></string></value></param></params></methodCall>",
    ];
    let mut script = String::from(PY_PRELUDE);
    for b in &bodies {
        script.push_str(&format!("emit(X.loads({}.encode())[0][0])\n", py_str(b)));
    }
    let out = records(&run_python(&py, &script, &[]));
    for (body, want) in bodies.iter().zip(out) {
        let got = parse_call(body.as_bytes()).unwrap().params.remove(0);
        assert_eq!(
            got,
            Value::String(String::from_utf8(want).unwrap()),
            "{body:?}"
        );
    }
}

/// Every byte value and random bytes, as log text, must come out of the daemon's encoder
/// as a document Python's client parses, with the text it should see.
#[test]
fn arbitrary_bytes_survive_into_python_loads() {
    let Some(py) = python() else {
        return skip("arbitrary_bytes_survive_into_python_loads", "no python");
    };
    let mut inputs: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b'<', b, b'>']).collect();
    inputs.push((0..=255u8).collect());
    inputs
        .push(b"\xef\xbf\xbe\xef\xbf\xbf \xed\xa0\x80 \xf4\x90\x80\x80 \xc0\xaf \xe2\x82".to_vec());
    let mut rng = Rng::new(0x5EED_0004);
    for _ in 0..200 {
        let len = rng.below(300) as usize;
        inputs.push(rng.bytes(len));
    }
    let texts: Vec<String> = inputs.iter().map(|b| xml_safe_text(b)).collect();

    let mut docs: Vec<Vec<u8>> = Vec::new();
    let mut expected: Vec<String> = Vec::new();
    for (raw, text) in inputs.iter().zip(&texts) {
        // What XML parsing gives back: CR LF and lone CR become LF.
        let normalized = text.replace("\r\n", "\n").replace('\r', "\n");
        docs.push(encode_response(&Value::String(text.clone())));
        expected.push(normalized.clone());
        // The encoder alone must also be safe with a String that still has controls in it.
        let lossy = String::from_utf8_lossy(raw).into_owned();
        docs.push(encode_response(&Value::structure([(
            lossy.clone(),
            Value::String(lossy.clone()),
        )])));
        expected.push(
            xml_safe_text(lossy.as_bytes())
                .replace("\r\n", "\n")
                .replace('\r', "\n"),
        );
        docs.push(encode_fault(30, &lossy));
        expected.push(
            xml_safe_text(lossy.as_bytes())
                .replace("\r\n", "\n")
                .replace('\r', "\n"),
        );
    }

    let mut script = String::from(PY_PRELUDE);
    script.push_str("docs = [\n");
    for d in &docs {
        let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
        script.push_str(&format!("bytes.fromhex('{hex}'),\n"));
    }
    script.push_str(
        "]\nfor d in docs:\n    try:\n        v = X.loads(d)[0][0]\n        \
         emit(next(iter(v.values())) if isinstance(v, dict) else v)\n    \
         except X.Fault as f:\n        emit(f.faultString)\n    \
         except Exception as e:\n        emit('PYTHON FAILED: %r' % (e,))\n",
    );
    let out = records(&run_python(&py, &script, &[]));
    assert_eq!(out.len(), docs.len());
    for ((doc, want), got) in docs.iter().zip(&expected).zip(&out) {
        let got = String::from_utf8(got.clone()).unwrap();
        assert_eq!(
            &got,
            want,
            "Python read back something else from {}",
            String::from_utf8_lossy(doc)
        );
    }
}
