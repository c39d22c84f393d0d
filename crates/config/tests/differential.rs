//! Differential tests against CPython itself: our `configparser`, `%` formatting, `shlex` and
//! supervisor's `dict_of_key_value_pairs` must give Python's answer on every input.
//!
//! Python is `$CORRAL_PYTHON`, else the repo's `.venv/bin/python`, else `python3` (only the
//! standard library is needed; `tests/pyref.py` builds supervisor's exact parser settings).

use std::io::Write;
use std::process::{Command, Stdio};

use corral_config::ini::{Ini, IniErrorKind};
use corral_config::pyformat::{self, Expansions, FormatError, PyVal};
use corral_config::{datatypes, shlex};
use serde_json::{Value, json};

fn python() -> String {
    if let Ok(p) = std::env::var("CORRAL_PYTHON") {
        return p;
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/python");
    if std::path::Path::new(venv).exists() {
        return venv.to_string();
    }
    "python3".to_string()
}

fn ask_python(mode: &str, cases: &Value) -> Vec<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pyref.py");
    let mut child = Command::new(python())
        .arg(script)
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("cannot run python (set CORRAL_PYTHON)");
    let input = serde_json::to_vec(cases).expect("json");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(&input)
        .expect("write cases");
    let out = child.wait_with_output().expect("python output");
    assert!(out.status.success(), "pyref.py {mode} failed");
    let v: Value = serde_json::from_slice(&out.stdout).expect("python answered JSON");
    v.as_array().expect("a list").clone()
}

// ------------------------------------------------------------------ configparser

fn ini_cases() -> Vec<Vec<&'static str>> {
    let one = |s: &'static str| vec![s];
    let mut v: Vec<Vec<&'static str>> = [
        "[a]\nk=v\n",
        "[a]\nk = v\n",
        "[a]\nk:v\n",
        "[a]\nk : v : w = x\n",
        "[a]\nk= v = w\n",
        "[a]\nK=V\nKey_Two = X\n",
        "[a]\nk=\n",
        "[a]\nk=   \n",
        "[a]\nk\n",
        "[a]\n=v\n",
        "[a]\n: v\n",
        "k=v\n[a]\n",
        "# c\n; c\n\n[a]\nk=v\n",
        "  # indented comment\n[a]\nk=v\n",
        "[a]\nk=v ; comment\n",
        "[a]\nk=v;not comment\n",
        "[a]\nk=v #comment\n",
        "[a]\nk=v#not\n",
        "[a]\nk=v\t; tab comment\n",
        "[a]\nk=\"x ; y\" ; z\n",
        "[a]\nk=a;b;c ;d #e\n",
        "[a]\nk=a #b ;c\n",
        "[a]\nk=;x\n",
        "[a]\nk= ;x\n",
        "[a] ; header comment\nk=v\n",
        "[a] # header comment\nk=v\n",
        "[a] trailing\nk=v\n",
        "[a]b]\nk=v\n",
        "[]\nk=v\n",
        "[]]\nk=v\n",
        "[ spaced ]\nk=v\n",
        "  [indented]\nk=v\n",
        "[a]\ncommand=a\n  b\n  c\n",
        "[a]\ncommand=a\n\tb\n",
        "[a]\ncommand=a\n  b\n\n  c\n",
        "[a]\ncommand=a\n  b\n\n\n",
        "[a]\ncommand=a\n# comment\n  b\n",
        "[a]\ncommand=a\n  # indented comment\n  b\n",
        "[a]\ncommand=a\n  ; x\n",
        "[a]\ncommand=a\n  b ; c\n  d\n",
        "[a]\n  k=v\n  j=w\n",
        "[a]\n  k=v\n    cont\n  j=w\n",
        "[a]\nk=v\n  [b]\n",
        "[a]\nk=v\n[b]\n  j=w\n",
        "[a]\nk=v\nbogus line\n  cont\n",
        "[a]\nk=v\r\nj=w\r\n",
        "[a]\r\nk=v\r\n  cont\r\n",
        "[a]\rk=v\r  cont\r",
        "[a]\nk=v",
        "[a]\nk=v\n\n",
        "[a]\nk=1\nk=2\n",
        "[a]\nk=1\n[b]\nj=1\n[a]\nk=3\nz=4\n",
        "[DEFAULT]\nd=1\n[a]\nk=v\n",
        "[DEFAULT]\nd=1\n[a]\nd=2\n",
        "[a]\nk=v\n[DEFAULT]\nd=%(here)s\n",
        "[Program:x]\nk=v\n[program:x]\nK=w\n",
        "[a]\nkey with spaces = value with spaces\n",
        "[a]\nk=v\u{a0}\n",
        "[a]\nk=\u{1c}v\u{1c}\n",
        "[a]\nk=v \u{3000};c\n",
        "[a]\nĆłé=✅ ünïcode\n",
        "[a]\nİ=1\n",
        "[a]\nk=%(here)s/x %% %d\n",
        "[a]\nk=\\\n  \\n\n",
        "[a]\ncommand=/bin/sh -c \"a;\n    b\"\n",
        "\n\n[a]\n\n\nk=v\n\n",
        "[a]\nk=v\n\t\n  cont\n",
        "[a]\nk = \n  cont\n",
        "[a]\nk\t=\tv\t\n",
        "[a]\nk=v\n [b] \n",
        "\u{feff}[a]\nk=v\n",
        "[a]\n# only comments\n; here\n",
        "[a]\nk=v\n   \n  cont after blank with spaces\n",
        "[a]\nx=1\n y=2\n",
        "[a]\nx=1\n\n y=2\n",
        "[a]\n;k=v\nk2=v2\n",
        "[a]\nk=v\n[a]\nk=\n",
    ]
    .into_iter()
    .map(one)
    .collect();
    // Several files into one parser (supervisord's [include]).
    v.push(vec!["[a]\nk=1\n", "[a]\nk=2\nj=3\n"]);
    v.push(vec!["[a]\nk=1\n  more\n", "[b]\nk=1\n"]);
    v.push(vec!["[a]\nk=1\n", "k=2\n"]);
    v.push(vec!["[a]\nk=1\n", "[b]\nbad\n"]);
    v.push(vec!["[DEFAULT]\nd=1\n", "[DEFAULT]\nd=2\n[x]\n"]);
    v
}

fn our_ini(files: &[&str]) -> Value {
    let mut ini = Ini::new();
    for (i, text) in files.iter().enumerate() {
        let errs = ini.read(text, "f", "/f");
        if let Some(first) = errs.first() {
            if first.kind == IniErrorKind::MissingSectionHeader {
                return json!({"error": "missing_section_header", "file": i, "lines": [first.line]});
            }
            let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
            return json!({"error": "parsing", "file": i, "lines": lines});
        }
    }
    let out: Vec<Value> = ini
        .dump()
        .into_iter()
        .map(|(name, opts)| {
            json!([
                name,
                opts.into_iter()
                    .map(|(k, v)| json!([k, v]))
                    .collect::<Vec<_>>()
            ])
        })
        .collect();
    json!({ "ok": out })
}

#[test]
fn configparser_matches_python() {
    let cases = ini_cases();
    assert!(cases.len() >= 60, "keep the corpus large");
    let answers = ask_python("ini", &json!(cases));
    let mut failures = Vec::new();
    for (case, expected) in cases.iter().zip(&answers) {
        let ours = our_ini(case);
        if &ours != expected {
            failures.push(format!(
                "{case:?}\n    python: {expected}\n    ours:   {ours}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "differs from Python:\n{}",
        failures.join("\n")
    );
}

// ------------------------------------------------------------------ % formatting

fn mapping() -> (Expansions, Value) {
    let mut e = Expansions::new();
    let items: Vec<(&str, PyVal)> = vec![
        ("s", PyVal::Str("abc".into())),
        ("u", PyVal::Str("é✅".into())),
        ("c", PyVal::Str("x".into())),
        ("q", PyVal::Str("it's \"q\"\n".into())),
        ("n", PyVal::Int(42)),
        ("z", PyVal::Int(0)),
        ("neg", PyVal::Int(-7)),
        ("big", PyVal::Int(123_456_789_012)),
        ("k", PyVal::Int(65)),
    ];
    let mut m = serde_json::Map::new();
    for (k, v) in items {
        m.insert(
            k.into(),
            match &v {
                PyVal::Str(s) => json!(s),
                PyVal::Int(i) => json!(i),
            },
        );
        e.insert(k.into(), v);
    }
    (e, Value::Object(m))
}

fn format_cases() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        "plain",
        "%%",
        "a%%b",
        "%",
        "x%",
        "%(",
        "%(s",
        "%(s)",
        "%(s",
        "%(s)s%",
        "%(missing)s",
        "%(s)s %(n)d",
        "%USER%",
        "%HOME%",
        "date +%Y-%m-%d",
        "%(s)s %Y",
        "%(s)Q",
        "%(s)5",
        "%(s)-",
        "%(s)%",
        "%(a(b)c)s",
        "%((s))s",
        "%(s)s%(n)s",
        "%(n)*d",
        "%(n).*d",
        "%(s)*s",
        "%(n)hd",
        "%(n)ld",
        "%(n)Ld",
        "%(n)lld",
        "%(s)ls",
        "%(k)c",
        "%(c)c",
        "%(s)c",
        "%(neg)c",
        "%(n)5.3d",
        "%(n)-+8.4x|",
        "%(big)#X",
        "%(big)e",
        "%(big)g",
        "%(big).12g",
        "%(n).0e",
        "%(z).0f",
        "%(z)#.0e",
        "%(z)g",
        "%(n)#.3g",
        "%(neg)08.2f",
        "%(neg)+e",
        "%(n) 05d",
        "%(u)r",
        "%(u)a",
        "%(q)r",
        "%(q)a",
        "%(u).1s",
        "%(u)4s|",
        "%(u)-4s|",
        "%(s).0s|",
        "%(n)\u{e9}",
        "%(n)\u{1f}",
        "%(n)\n",
        "%(s)s\u{2705}%(n)d",
        "%(n)99999999999999999999d",
        "%(n).99999999999d",
        "100%(n)d%%",
        "%(n)05.1s",
        "%(neg)05s",
        "%(neg)x",
        "%(neg)#o",
        "%(neg)#010x",
        "%(z)#x",
        "%(z)#o",
        "%(n)u",
        "%(n)i",
        "%(n)F",
        "%(n)E",
        "%(n)G",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let keys = ["s", "n", "neg", "z", "big"];
    let convs = [
        "s", "r", "a", "c", "d", "i", "u", "o", "x", "X", "e", "E", "f", "F", "g", "G", "y",
    ];
    let flags = ["", "-", "0", "+", " ", "#", "-0", "+0", "#0", " -"];
    let widths = ["", "5", "12"];
    let precs = ["", ".0", ".3"];
    for k in keys {
        for c in convs {
            for f in flags {
                for w in widths {
                    for p in precs {
                        v.push(format!("<%({k}){f}{w}{p}{c}>"));
                    }
                }
            }
        }
    }
    v
}

#[test]
fn percent_formatting_matches_python() {
    let (ours_map, py_map) = mapping();
    let cases = format_cases();
    let py_cases: Vec<Value> = cases.iter().map(|f| json!([f, py_map])).collect();
    let answers = ask_python("format", &json!(py_cases));
    let mut failures = Vec::new();
    for (fmt, expected) in cases.iter().zip(&answers) {
        let ours = match pyformat::format(fmt, &ours_map) {
            Ok(s) => json!({ "ok": s }),
            Err(FormatError::Key(k)) => json!({ "key": k }),
            Err(FormatError::Other(m)) => json!({ "error": m }),
            // Python formats the whole mapping here; corral refuses (see pyformat).
            Err(FormatError::WholeMapping(_)) => {
                if expected.get("ok").is_none() {
                    failures.push(format!("{fmt:?}: python {expected}, ours: whole mapping"));
                }
                continue;
            }
        };
        if &ours != expected {
            failures.push(format!(
                "{fmt:?}\n    python: {expected}\n    ours:   {ours}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} differ from Python:\n{}",
        failures.len(),
        cases.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ------------------------------------------------------------------ shlex

const SHLEX_CASES: &[&str] = &[
    "",
    "   ",
    "a b c",
    "a  'b c'  d",
    "a\"b c\"d",
    "'' \"\"",
    "a\\ b",
    "a\\\\b",
    "\"a\\\"b\"",
    "\"a\\$b\"",
    "\"a\\\\b\"",
    "'a\\'",
    "x#y # z",
    "a\nb\tc\rd",
    "'unclosed",
    "\"unclosed",
    "trailing\\",
    "é ü 'ñ x'",
    "bash -c \"echo 'hi there'; exit 1\"",
    "gunicorn --bind fd://3 --graceful-timeout=45 app:app",
    "a''b",
    "a\"\"",
    "\\'",
    "\"'\"",
    "'\"'",
    "--opt='a b'\"c d\"e",
];

#[test]
fn shlex_split_matches_python() {
    let answers = ask_python("shlex", &json!(SHLEX_CASES));
    for (case, expected) in SHLEX_CASES.iter().zip(&answers) {
        let ours = match shlex::split(case) {
            Ok(v) => json!({ "ok": v }),
            Err(e) => json!({ "error": e.to_string() }),
        };
        assert_eq!(&ours, expected, "shlex.split({case:?})");
    }
}

const KV_CASES: &[&str] = &[
    "",
    "A=1",
    "A=1,B=2",
    "A=1, B=2",
    "A = 1 , B = 2",
    "A=$HOME",
    "P=abc#123,B=2",
    "Q=x y",
    "A=1;B=2",
    "URL=postgres://u:p@h/db",
    "K=a=b",
    "A=\"x y\",B='z'",
    "A='$PYTHONPATH:/x'",
    "A=\"a,b\"",
    "A=\"unclosed",
    "A",
    "A=",
    "A=1,",
    "A=1,,B=2",
    "A=1 # comment\n  B=2",
    "A=1,\n B=2",
    "HOME=\"/var/lib/x\",USER=\"x\"",
    "PATH=/usr/bin:/bin",
    "A=caf\u{e9}",
    "A=b\"c d\"",
    "A=\"\"",
    "A=1,A=2",
    "X=a.b+c-d(e):f",
];

#[test]
fn key_value_pairs_match_supervisor() {
    let answers = ask_python("kv", &json!(KV_CASES));
    for (case, expected) in KV_CASES.iter().zip(&answers) {
        let ours = match datatypes::dict_of_key_value_pairs(case) {
            Ok(v) => json!({ "ok": v.into_iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>() }),
            Err(e) => json!({ "error": e.message }),
        };
        assert_eq!(&ours, expected, "dict_of_key_value_pairs({case:?})");
    }
}
