//! Helpers shared by the integration tests: finding Python and the reference supervisord,
//! writing Rust values as Python literals, a deterministic PRNG, and a supervisord runner.
#![allow(dead_code)] // each test binary uses a different subset

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use corral_proto::xmlrpc::Value;

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The test venv's bin directory, if `scripts/setup-test-deps` has created it.
pub fn venv_bin() -> Option<PathBuf> {
    let bin = workspace_root().join(".venv/bin");
    bin.join("python").exists().then_some(bin)
}

/// Python for differential tests: `$CORRAL_PYTHON`, else the venv's, else `python3`.
pub fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CORRAL_PYTHON") {
        return Some(PathBuf::from(p));
    }
    if let Some(bin) = venv_bin() {
        return Some(bin.join("python"));
    }
    let found = Command::new("python3")
        .arg("-c")
        .arg("pass")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    found.then(|| PathBuf::from("python3"))
}

/// A Python with `supervisor` importable (the venv's, or `$CORRAL_PYTHON` if it has it).
pub fn python_with_supervisor() -> Option<PathBuf> {
    let py = python()?;
    let ok = Command::new(&py)
        .args(["-c", "import supervisor.rpcinterface"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    ok.then_some(py)
}

/// Prints why a test is skipped (visible with --nocapture and in the test's output).
pub fn skip(test: &str, why: &str) {
    eprintln!("SKIPPED {test}: {why} (run scripts/setup-test-deps to create .venv)");
}

/// Runs `script` with `python` (extra environment in `env`) and returns its stdout;
/// panics with stderr if it fails.
pub fn run_python(python: &Path, script: &str, env: &[(&str, &str)]) -> Vec<u8> {
    let mut cmd = Command::new(python);
    cmd.arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn python");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .expect("write script");
    let out = child.wait_with_output().expect("python output");
    assert!(
        out.status.success(),
        "python failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Python code defining helpers used by `py_value` literals and `emit` for results.
pub const PY_PRELUDE: &str = r#"
import sys, struct, base64, xmlrpc.client as X
def _d(h): return struct.unpack('>d', bytes.fromhex(h))[0]
def emit(b):
    if isinstance(b, str): b = b.encode('utf-8', 'surrogatepass')
    sys.stdout.buffer.write(b'%d\n' % len(b)); sys.stdout.buffer.write(b)
"#;

/// Splits `emit` output back into records.
pub fn records(mut out: &[u8]) -> Vec<Vec<u8>> {
    let mut recs = Vec::new();
    while !out.is_empty() {
        let nl = out
            .iter()
            .position(|b| *b == b'\n')
            .expect("record length line");
        let len: usize = std::str::from_utf8(&out[..nl]).unwrap().parse().unwrap();
        recs.push(out[nl + 1..nl + 1 + len].to_vec());
        out = &out[nl + 1 + len..];
    }
    recs
}

/// A Python string literal for `s`, exact for every character.
pub fn py_str(s: &str) -> String {
    let mut out = String::from("'");
    for c in s.chars() {
        match c {
            ' '..='~' if c != '\\' && c != '\'' => out.push(c),
            _ => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('\'');
    out
}

/// A Python expression building the same value `xmlrpc.client` would marshal as `v`.
pub fn py_value(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
        Value::String(s) => py_str(s),
        Value::Double(d) => format!("_d('{:016x}')", d.to_bits()),
        Value::DateTime(s) => format!("X.DateTime({})", py_str(s)),
        Value::Base64(b) => {
            let mut out = String::from("b'");
            for byte in b {
                let _ = write!(out, "\\x{byte:02x}");
            }
            out.push('\'');
            out
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(py_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Struct(members) => format!(
            "{{{}}}",
            members
                .iter()
                .map(|(k, v)| format!("{}: {}", py_str(k), py_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Nil => "None".to_owned(),
    }
}

/// xorshift64*: deterministic randomness without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }

    /// A string of XML-safe characters (no CR, which XML parsers normalize), mixing
    /// ASCII, markup characters, and multi-byte characters.
    pub fn text(&mut self, max_len: u64) -> String {
        const POOL: &[char] = &[
            'a',
            'Z',
            '0',
            ' ',
            '\t',
            '\n',
            '&',
            '<',
            '>',
            '"',
            '\'',
            ';',
            '#',
            ']',
            '\u{7f}',
            '\u{85}',
            'é',
            'ß',
            '€',
            '\u{2028}',
            '\u{D7FF}',
            '\u{E000}',
            '\u{FFFD}',
            '😀',
            '\u{10FFFF}',
        ];
        let len = self.below(max_len + 1);
        (0..len)
            .map(|_| POOL[self.below(POOL.len() as u64) as usize])
            .collect()
    }

    /// A random value at most `depth` containers deep.
    pub fn value(&mut self, depth: u32) -> Value {
        let kinds = if depth == 0 { 7 } else { 9 };
        match self.below(kinds) {
            0 => Value::Int(match self.below(4) {
                0 => i32::MIN,
                1 => i32::MAX,
                _ => self.next_u64() as i32,
            }),
            1 => Value::Bool(self.below(2) == 1),
            2 => Value::String(self.text(20)),
            3 => Value::Double(match self.below(6) {
                0 => f64::from_bits(self.next_u64()),
                1 => (self.next_u64() as i64 as f64) / 1000.0,
                2 => f64::INFINITY,
                3 => -0.0,
                4 => 1e-7 * self.below(1000) as f64,
                _ => (self.below(100_000) as f64) * 10f64.powi(self.below(40) as i32 - 20),
            }),
            4 => {
                let n = self.below(90_000_000) + 10_000_000;
                Value::DateTime(format!(
                    "{:08}T{:02}:{:02}:{:02}",
                    n,
                    self.below(24),
                    self.below(60),
                    self.below(60)
                ))
            }
            5 => {
                let len = self.below(200) as usize;
                Value::Base64(self.bytes(len))
            }
            6 => Value::Nil,
            7 => Value::Array((0..self.below(5)).map(|_| self.value(depth - 1)).collect()),
            _ => {
                let mut members: Vec<(String, Value)> = Vec::new();
                for _ in 0..self.below(5) {
                    let k = self.text(8);
                    if members.iter().all(|(n, _)| *n != k) {
                        let v = self.value(depth - 1);
                        members.push((k, v));
                    }
                }
                Value::from(members)
            }
        }
    }
}

/// Replaces NaN doubles (never equal to themselves) so values can be compared.
pub fn without_nan(v: Value) -> Value {
    match v {
        Value::Double(d) if d.is_nan() => Value::Double(0.5),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nan).collect()),
        Value::Struct(m) => {
            Value::Struct(m.into_iter().map(|(k, v)| (k, without_nan(v))).collect())
        }
        other => other,
    }
}

/// A supervisord 4.3.0 running in its own temporary directory, stopped by pid on drop.
pub struct Supervisord {
    child: Child,
    pub dir: PathBuf,
    pub sock: PathBuf,
}

impl Supervisord {
    /// Starts `supervisord -n -c <dir>/supervisord.conf` with `config` (use `{here}` for the
    /// directory) and waits until its unix socket answers.
    pub fn start(bin: &Path, config: &str) -> Supervisord {
        let dir = unique_temp_dir("corral-proto-supervisord");
        let conf = dir.join("supervisord.conf");
        std::fs::write(&conf, config.replace("{here}", dir.to_str().unwrap())).unwrap();
        let child = Command::new(bin.join("supervisord"))
            .arg("-n")
            .arg("-c")
            .arg(&conf)
            .current_dir(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start supervisord");
        let sock = dir.join("supervisor.sock");
        let s = Supervisord { child, dir, sock };
        s.wait_ready();
        s
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::os::unix::net::UnixStream::connect(&self.sock).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "supervisord did not open {} in time",
                self.sock.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Supervisord {
    fn drop(&mut self) {
        // SIGTERM (a clean shutdown) to our own child, which has not been reaped yet.
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn unique_temp_dir(prefix: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    // Short: unix socket paths are limited to ~100 bytes.
    let dir = std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
