//! Where one output channel (stdout or stderr) of one program goes: its log file, syslog,
//! the main log (at debug level), `PROCESS_LOG` events, `PROCESS_COMMUNICATION` capture,
//! and (corral's `[supervisord] forward_output=`) corrald's own stdout or stderr, a line at
//! a time, prefixed with the process name or as JSON, for `docker logs` and `kubectl logs`.
//!
//! The routing rules are supervisord's `POutputDispatcher` (`dispatchers.py`). A
//! `ChannelLog` outlives spawns: the same file keeps growing across restarts, and the API
//! reads and clears it by path.

use std::cell::Cell;

use std::io::{self, Write};
use std::rc::Rc;

use corral_config::{ChannelConfig, ForwardOutput, LogLevel};

use crate::logs::mainlog;
use crate::logs::rotating::RotatingFile;

const BEGIN_TOKEN: &[u8] = b"<!--XSUPERVISOR:BEGIN-->";
const END_TOKEN: &[u8] = b"<!--XSUPERVISOR:END-->";

/// What came out of the child, after routing: data to log, and finished captures.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Routed {
    /// Chunks that went to the log (the payload of `PROCESS_LOG_*` events).
    pub logged: Vec<Vec<u8>>,
    /// Completed `<!--XSUPERVISOR:BEGIN-->…END` captures (`PROCESS_COMMUNICATION_*`).
    pub captured: Vec<Vec<u8>>,
}

/// supervisord's capture-mode state machine (`record_output`), pure.
#[derive(Debug, Default)]
pub struct Recorder {
    /// 0 disables capture mode entirely (supervisord's fast path).
    capture_maxbytes: u64,
    capturing: bool,
    pending: Vec<u8>,
    capture: Vec<u8>,
}

impl Recorder {
    pub fn new(capture_maxbytes: u64) -> Recorder {
        Recorder {
            capture_maxbytes,
            ..Recorder::default()
        }
    }

    /// Feed output; get what is to be logged and what was captured.
    pub fn feed(&mut self, data: &[u8], out: &mut Routed) {
        if self.capture_maxbytes == 0 {
            if !data.is_empty() {
                out.logged.push(data.to_vec());
            }
            return;
        }
        self.pending.extend_from_slice(data);
        loop {
            let token = if self.capturing {
                END_TOKEN
            } else {
                BEGIN_TOKEN
            };
            if self.pending.len() <= token.len() {
                return; // not enough data to decide
            }
            let data = std::mem::take(&mut self.pending);
            match find(&data, token) {
                Some(pos) => {
                    self.emit(&data[..pos], out);
                    self.toggle(out);
                    self.pending = data[pos + token.len()..].to_vec();
                    if self.pending.is_empty() {
                        return;
                    }
                }
                None => {
                    // Keep a possible partial token at the end for the next read.
                    let keep = prefix_at_end(&data, token);
                    self.pending = data[data.len() - keep..].to_vec();
                    self.emit(&data[..data.len() - keep], out);
                    return;
                }
            }
        }
    }

    fn emit(&mut self, data: &[u8], out: &mut Routed) {
        if data.is_empty() {
            return;
        }
        if self.capturing {
            // supervisord's BoundIO: when a write would overflow, drop that many bytes from
            // the front.
            if (self.capture.len() + data.len()) as u64 > self.capture_maxbytes {
                let drop = data.len().min(self.capture.len());
                self.capture.drain(..drop);
            }
            self.capture.extend_from_slice(data);
        } else {
            out.logged.push(data.to_vec());
        }
    }

    fn toggle(&mut self, out: &mut Routed) {
        self.capturing = !self.capturing;
        if !self.capturing {
            out.captured.push(std::mem::take(&mut self.capture));
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// medusa's `find_prefix_at_end`: the length of the longest prefix of `token` that `data`
/// ends with.
fn prefix_at_end(data: &[u8], token: &[u8]) -> usize {
    let mut l = token.len() - 1;
    while l > 0 && !data.ends_with(&token[..l]) {
        l -= 1;
    }
    l
}

/// supervisord's `stripEscapes`: drop ANSI escape sequences (ESC `[` … terminator).
pub fn strip_ansi(s: &[u8]) -> Vec<u8> {
    const TERMINATORS: &[u8] = b"HfABCDRsuJKhlpm";
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    let mut show = true;
    while i < s.len() {
        if !show && TERMINATORS.contains(&s[i]) {
            show = true;
        } else if show {
            match find(&s[i..], b"\x1b[") {
                None => {
                    out.extend_from_slice(&s[i..]);
                    return out;
                }
                Some(n) => {
                    out.extend_from_slice(&s[i..i + n]);
                    i += n;
                    show = false;
                }
            }
        }
        i += 1;
    }
    out
}

/// Child output as supervisord shows it as text (event payloads, the main log): the text
/// if it is UTF-8, else `Undecodable: ` and Python's repr of the bytes.
pub fn undecodable(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(s) => s.to_string(),
        Err(_) => format!("Undecodable: {}", py_bytes_repr(data)),
    }
}

/// Python's repr() of a bytes object (`b'...'`).
fn py_bytes_repr(data: &[u8]) -> String {
    let quote = if data.contains(&b'\'') && !data.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut s = String::from("b");
    s.push(quote);
    for &b in data {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            b if b as char == quote => {
                s.push('\\');
                s.push(quote);
            }
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push(quote);
    s
}

/// The start of a forwarded line.
enum Head {
    /// `web:web_00 | `
    Prefix(Vec<u8>),
    /// `{"time":"…","process":"web:web_00","stream":"stdout","line":`
    Json(Vec<u8>),
}

impl Head {
    fn line(&self, line: &[u8], out: &mut Vec<u8>) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match self {
            Head::Prefix(p) => {
                out.extend_from_slice(p);
                out.extend_from_slice(line);
            }
            Head::Json(h) => {
                out.extend_from_slice(h);
                let _ = serde_json::to_writer(&mut *out, &String::from_utf8_lossy(line));
                out.push(b'}');
            }
        }
        out.push(b'\n');
    }
}

thread_local! {
    /// `forward_output=` of the running configuration, and the width names are padded to
    /// (corrald runs on one thread; the daemon sets it at start and on every reload).
    static FORWARD: Cell<(ForwardOutput, usize)> = const { Cell::new((ForwardOutput::None, 0)) };
}

/// The longest line forwarded whole: a longer one is cut into lines of this size, so a
/// program that never writes a newline cannot make corrald hold its output.
const MAX_FORWARDED_LINE: usize = 16 * 1024;

/// Set `forward_output=`, with `width` the longest process name of the configuration
/// (prefixed lines are aligned on it, as Foreman aligns them).
pub fn configure_forwarding(mode: ForwardOutput, width: usize) {
    FORWARD.with(|f| f.set((mode, width)));
}

/// One channel's destinations.
#[derive(Debug)]
pub struct ChannelLog {
    /// Shared by a program's two channels.
    pub process_name: Rc<str>,
    pub channel: &'static str,
    /// The name forwarded lines carry: the process's namespec (`web:web_00`).
    /// Usually the same string as `process_name`.
    label: Rc<str>,
    /// The start of a line not yet forwarded (output without its newline yet).
    partial: Vec<u8>,
    /// Whether `forward_output=` applies (not to an eventlistener's protocol on stdout).
    forwarded: bool,
    file: Option<RotatingFile>,
    syslog: bool,
    strip_ansi: bool,
    /// Capture mode (`capture_maxbytes` > 0); boxed, as most channels never use it.
    recorder: Option<Box<Recorder>>,
    write_failing: bool,
    /// Bytes the child wrote to this channel since the daemon started it (for
    /// `corral_process_log_bytes_total`; shared with the process's published info, and
    /// carried over when the channel is reopened with new settings).
    pub bytes: Rc<Cell<u64>>,
}

impl ChannelLog {
    /// Open the channel's file (`path` is the resolved name; `None` for NONE).
    pub fn open(
        process_name: impl Into<Rc<str>>,
        channel: &'static str,
        cfg: &ChannelConfig,
        path: Option<Rc<str>>,
        strip_ansi: bool,
    ) -> io::Result<ChannelLog> {
        let file = match path {
            Some(p) => Some(RotatingFile::open(
                p,
                cfg.logfile_maxbytes,
                cfg.logfile_backups,
            )?),
            None => None,
        };
        let process_name = process_name.into();
        Ok(ChannelLog {
            label: process_name.clone(),
            process_name,
            channel,
            partial: Vec::new(),
            forwarded: true,
            file,
            syslog: cfg.syslog,
            strip_ansi,
            recorder: (cfg.capture_maxbytes > 0)
                .then(|| Box::new(Recorder::new(cfg.capture_maxbytes))),
            write_failing: false,
            bytes: Rc::new(Cell::new(0)),
        })
    }

    /// The name forwarded lines carry (default: the process name).
    pub fn labelled(mut self, label: Rc<str>) -> ChannelLog {
        self.label = label;
        self
    }

    /// Never forwarded to corrald's stdout (an eventlistener's stdout is its protocol).
    pub fn unforwarded(mut self) -> ChannelLog {
        self.forwarded = false;
        self
    }

    /// Route a chunk of output. Returns what event listeners may want.
    pub fn record(&mut self, data: &[u8]) -> Routed {
        self.bytes.set(self.bytes.get() + data.len() as u64);
        let mut routed = Routed::default();
        match self.recorder.as_mut() {
            Some(r) => r.feed(data, &mut routed),
            None if !data.is_empty() => routed.logged.push(data.to_vec()),
            None => {}
        }
        for chunk in &mut routed.logged {
            if self.strip_ansi {
                *chunk = strip_ansi(chunk);
            }
            self.write(chunk);
        }
        routed
    }

    /// Route a chunk of output no event listener wants: the same as [`record`] without
    /// building its result, so in the common case (no capture mode, no ANSI stripping) the
    /// bytes go to the file straight from the caller's buffer.
    ///
    /// [`record`]: ChannelLog::record
    pub fn record_unobserved(&mut self, data: &[u8]) {
        if self.recorder.is_some() {
            self.record(data);
            return;
        }
        self.bytes.set(self.bytes.get() + data.len() as u64);
        if self.strip_ansi {
            let stripped = strip_ansi(data);
            self.write(&stripped);
        } else {
            self.write(data);
        }
    }

    fn write(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        if let Some(f) = self.file.as_mut() {
            match f.write(data) {
                Ok(()) => self.write_failing = false,
                Err(e) => {
                    // Disk full or the like: the data is dropped, the program goes on; say
                    // so once per failure streak.
                    if !self.write_failing {
                        mainlog::error(format!(
                            "cannot write {} log of '{}' to {}: {e}; output is being dropped",
                            self.channel,
                            self.process_name,
                            f.path().display()
                        ));
                    }
                    self.write_failing = true;
                }
            }
        }
        if self.syslog {
            syslog_lines(&self.process_name, data);
        }
        self.forward(data);
        if mainlog::enabled(LogLevel::Debug) {
            mainlog::debug(format!(
                "'{}' {} output:\n{}",
                self.process_name,
                self.channel,
                undecodable(data)
            ));
        }
    }

    /// `forward_output=`: copy every complete line to corrald's stdout (or stderr, for
    /// a stderr channel), prefixed or as JSON; the start of a line waits for its end, so
    /// lines of different programs never mix. One write per chunk.
    fn forward(&mut self, data: &[u8]) {
        let Some(head) = self.forward_head() else {
            return;
        };
        let mut out = Vec::with_capacity(data.len() + data.len() / 4);
        let mut rest = data;
        while let Some(nl) = rest.iter().position(|b| *b == b'\n') {
            if self.partial.is_empty() {
                head.line(&rest[..nl], &mut out);
            } else {
                self.partial.extend_from_slice(&rest[..nl]);
                head.line(&self.partial, &mut out);
                self.partial.clear();
            }
            rest = &rest[nl + 1..];
        }
        self.partial.extend_from_slice(rest);
        while self.partial.len() >= MAX_FORWARDED_LINE {
            let line: Vec<u8> = self.partial.drain(..MAX_FORWARDED_LINE).collect();
            head.line(&line, &mut out);
        }
        self.emit_forwarded(&out);
    }

    /// The program's output ended (its pipe closed): forward a last line that had no
    /// newline.
    pub fn flush_partial(&mut self) {
        if self.partial.is_empty() {
            return;
        }
        let line = std::mem::take(&mut self.partial);
        let Some(head) = self.forward_head() else {
            return;
        };
        let mut out = Vec::new();
        head.line(&line, &mut out);
        self.emit_forwarded(&out);
    }

    /// What every forwarded line of the chunk at hand starts with (the lines of one read
    /// share their time), if output is forwarded.
    fn forward_head(&self) -> Option<Head> {
        let (mode, width) = FORWARD.with(Cell::get);
        if !self.forwarded {
            return None;
        }
        match mode {
            ForwardOutput::None => None,
            ForwardOutput::Prefixed => Some(Head::Prefix(
                format!("{:<width$} | ", self.label).into_bytes(),
            )),
            ForwardOutput::Json => {
                let mut h = format!("{{\"time\":\"{}\",\"process\":", rfc3339_now()).into_bytes();
                let _ = serde_json::to_writer(&mut h, &*self.label);
                let _ = write!(h, ",\"stream\":\"{}\",\"line\":", self.channel);
                Some(Head::Json(h))
            }
        }
    }

    fn emit_forwarded(&self, out: &[u8]) {
        if out.is_empty() {
            return;
        }
        // A blocking write: the reader (the container runtime) is expected to keep up, and
        // a line is never dropped or cut.
        let _ = if self.channel == "stderr" {
            io::stderr().lock().write_all(out)
        } else {
            let mut o = io::stdout().lock();
            o.write_all(out).and_then(|()| o.flush())
        };
    }

    pub fn reopen(&mut self) {
        if let Some(f) = self.file.as_mut() {
            let _ = f.reopen();
        }
    }

    /// `clearProcessLogs`: empty the file.
    pub fn clear(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.clear(),
            None => Ok(()),
        }
    }
}

/// The current time in UTC as RFC 3339 with milliseconds (`2025-01-31T12:00:00.123Z`).
pub fn rfc3339_now() -> String {
    rfc3339(std::time::SystemTime::now())
}

fn rfc3339(t: std::time::SystemTime) -> String {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let secs = i64::try_from(d.as_secs()).unwrap_or(0);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, day) = corral_proto::calendar::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60,
        d.subsec_millis()
    )
}

/// One syslog line per output line, tagged with the program name (supervisord's format).
fn syslog_lines(name: &str, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.trim_end_matches('\n').split('\n') {
        crate::sys::fs::syslog_info(&format!("{name} {line}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(r: &mut Recorder, chunks: &[&[u8]]) -> Routed {
        let mut out = Routed::default();
        for c in chunks {
            r.feed(c, &mut out);
        }
        out
    }

    #[test]
    fn without_capture_everything_is_logged() {
        let mut r = Recorder::new(0);
        let out = feed_all(&mut r, &[b"abc", b"def"]);
        assert_eq!(out.logged, vec![b"abc".to_vec(), b"def".to_vec()]);
    }

    #[test]
    fn captures_between_tokens_even_split_across_reads() {
        let mut r = Recorder::new(1000);
        let out = feed_all(
            &mut r,
            &[
                b"before <!--XSUPER",
                b"VISOR:BEGIN-->the payload<!--XSUPERVISOR:END--> after",
                b"\n",
                b"and a line long enough to be released\n",
            ],
        );
        // Like supervisord, output no longer than a token is held back until more arrives.
        let logged: Vec<u8> = out.logged.concat();
        assert_eq!(
            logged,
            b"before  after\nand a line long enough to be released\n".to_vec()
        );
        assert_eq!(out.captured, vec![b"the payload".to_vec()]);
    }

    #[test]
    fn undecodable_output_is_shown_like_python() {
        assert_eq!(undecodable(b"\xff\x00a'"), "Undecodable: b\"\\xff\\x00a'\"");
        assert_eq!(undecodable("héllo".as_bytes()), "héllo");
    }

    #[test]
    fn rfc3339_times() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        assert_eq!(rfc3339(t), "2023-11-14T22:13:20.123Z");
    }

    #[test]
    fn forwarded_lines_are_whole_and_labelled() {
        let cfg = crate::testutil::process_config("w", "true").stdout;
        let log = ChannelLog::open("w", "stdout", &cfg, None, false).unwrap();
        let mut log = log.labelled("web:w".into());
        configure_forwarding(ForwardOutput::Prefixed, 8);
        let mut out = Vec::new();
        log.forward_head().unwrap().line(b"hello\r", &mut out);
        assert_eq!(out, b"web:w    | hello\n");
        out.clear();
        configure_forwarding(ForwardOutput::Json, 0);
        log.forward_head().unwrap().line(b"a \"q\" \xff", &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["process"], "web:w");
        assert_eq!(v["stream"], "stdout");
        assert_eq!(v["line"], "a \"q\" \u{fffd}");
        assert!(out.ends_with(b"}\n"));
        // A line split across reads waits for its end.
        configure_forwarding(ForwardOutput::Prefixed, 0);
        log.forward(b"par");
        assert_eq!(log.partial, b"par");
        log.forward(b"tial\nnext");
        assert_eq!(log.partial, b"next");
        log.flush_partial();
        assert!(log.partial.is_empty());
        configure_forwarding(ForwardOutput::None, 0);
    }

    #[test]
    fn strips_ansi_like_supervisord() {
        assert_eq!(strip_ansi(b"\x1b[31mred\x1b[0m plain"), b"red plain");
        assert_eq!(strip_ansi(b"no escapes"), b"no escapes");
    }
}
