//! `environment_file=`'s parser against python-dotenv itself (`dotenv_values(path,
//! interpolate=False)`): on every input python-dotenv reads without complaint, the same
//! values; where python-dotenv skips a line (with a warning) or gives a key no value,
//! corral refuses the file. Hand-written cases, then generated ones.
//!
//! Python is `$CORRAL_PYTHON`, else the repo's `.venv/bin/python`, else `python3`; the test
//! is skipped (with a message) when python-dotenv is not installed there.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use corral_config::dotenv;
use serde_json::Value;

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

/// python-dotenv's answers, or `None` when it is not installed.
fn ask_python(cases: &[String]) -> Option<Vec<Value>> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dotenv_ref.py");
    let mut child = Command::new(python())
        .arg(script)
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
    if out.status.code() == Some(3) {
        return None;
    }
    assert!(out.status.success(), "dotenv_ref.py failed");
    let v: Value = serde_json::from_slice(&out.stdout).expect("python answered JSON");
    Some(v.as_array().expect("a list").clone())
}

const HAND: &[&str] = &[
    "",
    "\n\n",
    "A=1",
    "A=1\nB=2\n",
    "export A=1\n",
    "export   A = spaced value  \n",
    "A=a b c\n",
    "A=a #comment\n",
    "A=a#not\n",
    "A=#x\n",
    "A= #comment\n",
    "A=\t#comment\n",
    "A=\n",
    "A= \n",
    "# only a comment\n",
    "   # indented comment\nA=1\n",
    "A='single'\n",
    "A='it\\'s'\n",
    "A='back\\\\slash \\n stays'\n",
    "A=\"double \\n \\t \\\" \\\\ \\x\"\n",
    "A=\"multi\nline\"\nB=2\n",
    "A='multi\nline'\n",
    "A=\"x\"#c\n",
    "A=\"x\" # c\n",
    "A=\"x\"   \n",
    "'quoted key'=v\n",
    "A=1\r\nB=2\r\n",
    "A=1\rB=2\r",
    "A=\"x\r\ny\"\n",
    "\u{feff}A=1\n",
    "A=1\nA=2\n",
    "A=${HOME}\n",
    "A=$HOME\n",
    "A=é ü 😀\n",
    "A=a\u{a0}#b\n",
    "A=a\u{1c}#b\n",
    "exportA=1\n",
    "export\tA=1\n",
    "A.B-C=1\n",
    "A==1\n",
    "A=1=2\n",
    "A=\"\"\n",
    "A=''\n",
    "A = \"spaced\" \n",
    // Refused by corral (python-dotenv skips or gives no value):
    "A\n",
    "export A\n",
    "A #comment\n",
    "=1\n",
    "A=\"open\n",
    "A='open\n",
    "A=\"x\" y\n",
    "A='x'y\n",
    "hello world\n",
    "A B=1\n",
    "''=1\n",
    "'k=1\n",
    "A=1\nbad\nB=2\n",
    "export =1\n",
];

/// A small pseudo-random generator (xorshift), so the generated cases are the same on
/// every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[(self.next() % v.len() as u64) as usize]
    }
}

fn generated(n: usize) -> Vec<String> {
    let pieces = [
        "A", "B", "key", "export ", "=", "=", "=", " ", "\t", "'", "'", "\"", "\"", "#", " #",
        "\\", "\\n", "\\'", "\\\"", "x", "y z", "\n", "\n", "\r\n", "\r", "${X}", "é", "\u{a0}",
        "1",
    ];
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    (0..n)
        .map(|_| {
            let len = 1 + rng.next() % 14;
            let mut s = String::new();
            for _ in 0..len {
                s.push_str(rng.pick(&pieces));
            }
            s
        })
        .collect()
}

#[test]
fn same_values_as_python_dotenv() {
    let mut cases: Vec<String> = HAND.iter().map(|s| s.to_string()).collect();
    cases.extend(generated(3000));
    let Some(answers) = ask_python(&cases) else {
        eprintln!("python-dotenv is not installed for {}: skipped", python());
        return;
    };
    let mut agreed = (0, 0);
    for (case, answer) in cases.iter().zip(&answers) {
        let invalid = answer["invalid"].as_bool().expect("invalid");
        let pairs = answer["values"].as_array().expect("values");
        let no_value = answer["bare"].as_bool().expect("bare");
        let ours = dotenv::parse_bytes(case.as_bytes());
        if invalid || no_value {
            assert!(
                ours.is_err(),
                "{case:?}: python-dotenv skips a line or sets nothing ({answer}), corral took {ours:?}"
            );
            agreed.1 += 1;
            continue;
        }
        let ours =
            ours.unwrap_or_else(|e| panic!("{case:?}: python-dotenv reads {answer}, corral: {e}"));
        let ours: BTreeMap<String, String> = ours.into_iter().collect();
        let theirs: BTreeMap<String, String> = pairs
            .iter()
            .map(|p| {
                (
                    p[0].as_str().expect("key").to_string(),
                    p[1].as_str().expect("value").to_string(),
                )
            })
            .collect();
        assert_eq!(ours, theirs, "{case:?}");
        agreed.0 += 1;
    }
    // Both kinds are well represented.
    assert!(agreed.0 > 500 && agreed.1 > 500, "{agreed:?}");
}
