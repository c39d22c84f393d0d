//! Where one output channel (stdout or stderr) of one program goes: its log file, syslog,
//! the main log (at debug level), `PROCESS_LOG` events, and `PROCESS_COMMUNICATION` capture.
//!
//! The routing rules are supervisord's `POutputDispatcher` (`dispatchers.py`). A
//! `ChannelLog` outlives spawns: the same file keeps growing across restarts, and the API
//! reads and clears it by path.

use std::io;

use corral_config::{ChannelConfig, LogLevel};

use crate::logs::rotating::RotatingFile;
use crate::mainlog;

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

    /// Whether capture mode is off, so every byte is logged as it comes.
    pub fn is_passthrough(&self) -> bool {
        self.capture_maxbytes == 0
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

/// One channel's destinations.
#[derive(Debug)]
pub struct ChannelLog {
    pub process_name: String,
    pub channel: &'static str,
    file: Option<RotatingFile>,
    syslog: bool,
    strip_ansi: bool,
    recorder: Recorder,
    write_failing: bool,
}

impl ChannelLog {
    /// Open the channel's file (`path` is the resolved name; `None` for NONE).
    pub fn open(
        process_name: &str,
        channel: &'static str,
        cfg: &ChannelConfig,
        path: Option<&str>,
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
        Ok(ChannelLog {
            process_name: process_name.to_string(),
            channel,
            file,
            syslog: cfg.syslog,
            strip_ansi,
            recorder: Recorder::new(cfg.capture_maxbytes),
            write_failing: false,
        })
    }

    /// Route a chunk of output. Returns what event listeners may want.
    pub fn record(&mut self, data: &[u8]) -> Routed {
        let mut routed = Routed::default();
        self.recorder.feed(data, &mut routed);
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
        if !self.recorder.is_passthrough() {
            self.record(data);
        } else if self.strip_ansi {
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
        if mainlog::enabled(LogLevel::Debug) {
            mainlog::debug(format!(
                "'{}' {} output:\n{}",
                self.process_name,
                self.channel,
                undecodable(data)
            ));
        }
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

/// One syslog line per output line, tagged with the program name (supervisord's format).
fn syslog_lines(name: &str, data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.trim_end_matches('\n').split('\n') {
        if let Ok(c) = std::ffi::CString::new(format!("{name} {line}")) {
            // SAFETY: "%s" with one NUL-terminated argument.
            unsafe { libc::syslog(libc::LOG_INFO, c"%s".as_ptr(), c.as_ptr()) };
        }
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
    fn strips_ansi_like_supervisord() {
        assert_eq!(strip_ansi(b"\x1b[31mred\x1b[0m plain"), b"red plain");
        assert_eq!(strip_ansi(b"no escapes"), b"no escapes");
    }
}
