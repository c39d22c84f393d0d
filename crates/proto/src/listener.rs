//! The eventlistener protocol as supervisord 4.3.0 reads it from a listener's stdout
//! (`PEventListenerDispatcher.handle_listener_state_change` in `supervisor/dispatchers.py`):
//! the listener says `READY\n`, is sent an event (the daemon calls [`Parser::event_sent`]),
//! answers `RESULT <len>\n<body>` (`OK` accepts the event, anything else rejects it), and is
//! ACKNOWLEDGED until its next `READY\n`.
//!
//! The parser is incremental and pure: feed it bytes as they arrive, then take every
//! [`Output`] with [`Parser::next_output`]. It owns the listener's protocol state, so the daemon
//! asks it whether a listener can take an event.
//!
//! supervisord's exact behaviour, kept here because listeners written against it rely on it:
//!
//! * while ACKNOWLEDGED, nothing is decided before 6 bytes are there; if they are not
//!   `READY\n` the listener is UNKNOWN for good (and everything it writes later is dropped);
//! * any byte while READY (before an event was sent) is a protocol violation;
//! * the first 7 bytes of the result line are skipped *without being checked* (supervisord
//!   slices `line[7:]`), and the rest is read as Python's `int()` reads bytes: surrounding
//!   ASCII whitespace, an optional sign, digits with single `_` between them;
//! * the result is handled when the next bytes are examined: after `RESULT 0\n` with nothing
//!   behind it, the (empty) result only counts once the listener writes again.
//!
//! Where supervisord has no sane behaviour, corral decides:
//!
//! * a negative length sends supervisord into endless recursion (its dispatcher then dies
//!   with a traceback and the listener is stuck BUSY); here it is a bad result line;
//! * a length past `usize` (Python's ints have no limit; such a body never ends) is a bad
//!   result line too;
//! * a result line longer than [`MAX_RESULT_LINE`] without its `\n` is a bad result line
//!   (supervisord buffers it without limit);
//! * only the first [`MAX_KEPT_BODY`] bytes of a body are kept (the rest is counted and
//!   dropped): a body that long is not `OK` either way, and a listener cannot make the daemon
//!   hold gigabytes.

use std::fmt;

/// The longest result line accepted while waiting for its `\n` (`RESULT ` and a number,
/// with room for whatever whitespace and zeros `int()` tolerates).
pub const MAX_RESULT_LINE: usize = 64 * 1024;

/// How much of a result body is kept.
pub const MAX_KEPT_BODY: usize = 4096;

const READY_TOKEN: &[u8] = b"READY\n";
const RESULT_TOKEN_LEN: usize = b"RESULT ".len();

/// supervisord's `EventListenerStates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum State {
    /// Ready for an event.
    Ready,
    /// Sent an event; its result is awaited.
    Busy,
    /// Answered (or just started): `READY\n` is awaited.
    Acknowledged,
    /// Violated the protocol: gets no more events.
    Unknown,
}

impl State {
    /// supervisord's name for the state (its log lines use it).
    pub fn name(self) -> &'static str {
        match self {
            State::Ready => "READY",
            State::Busy => "BUSY",
            State::Acknowledged => "ACKNOWLEDGED",
            State::Unknown => "UNKNOWN",
        }
    }
}

/// How a listener broke the protocol. The listener is UNKNOWN afterwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    /// ACKNOWLEDGED, and the next 6 bytes were not `READY\n` (they are kept here).
    NotReady(Vec<u8>),
    /// Output while READY (before it was sent an event).
    Spurious,
    /// A result line whose length is not a number (the line, without its `\n`; at most
    /// [`MAX_RESULT_LINE`] bytes of it).
    BadResultLine(Vec<u8>),
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::NotReady(got) => {
                write!(f, "expected READY, got '{}'", String::from_utf8_lossy(got))
            }
            ProtocolError::Spurious => f.write_str("output while READY"),
            ProtocolError::BadResultLine(line) => {
                write!(f, "bad result line: '{}'", String::from_utf8_lossy(line))
            }
        }
    }
}

impl std::error::Error for ProtocolError {}

/// What the listener said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// `READY\n`: the state is now READY.
    Ready,
    /// A complete result body (`OK` accepts the event); the state is now ACKNOWLEDGED.
    /// At most [`MAX_KEPT_BODY`] bytes of it.
    Result(Vec<u8>),
    /// A protocol violation; the state is now UNKNOWN.
    Garbage(ProtocolError),
}

/// One listener's protocol state and unread output. It serializes: corrald's in-place
/// upgrade carries it over.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Parser {
    state: State,
    /// Output not examined yet (supervisord's `state_buffer`).
    buf: Vec<u8>,
    /// While BUSY: the announced body length, once the result line is read.
    result_len: Option<usize>,
    /// How much of the body has arrived (of which the first MAX_KEPT_BODY bytes are kept).
    result_got: usize,
    result: Vec<u8>,
    /// While waiting for a result line: how much of `buf` is known to hold no `\n`.
    scanned: usize,
}

impl Default for Parser {
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A listener just started: ACKNOWLEDGED, waiting for its first `READY\n`.
    pub fn new() -> Self {
        Parser {
            state: State::Acknowledged,
            buf: Vec::new(),
            result_len: None,
            result_got: 0,
            result: Vec::new(),
            scanned: 0,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Bytes received and not yet examined.
    pub fn buffered(&self) -> usize {
        self.buf.len() + self.result.len()
    }

    /// The daemon wrote an event to the listener: BUSY until its result. (Only meaningful
    /// while READY, which is the only state the daemon sends events in.)
    pub fn event_sent(&mut self) {
        self.state = State::Busy;
        self.result_len = None;
        self.result_got = 0;
        self.result.clear();
        self.scanned = 0;
    }

    /// Bytes from the listener's stdout. Take the outputs with [`Parser::next_output`] before
    /// calling [`Parser::event_sent`].
    pub fn feed(&mut self, data: &[u8]) {
        if self.state == State::Unknown {
            // supervisord drops everything an UNKNOWN listener writes.
            return;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next thing the listener said, or `None` until more bytes arrive.
    pub fn next_output(&mut self) -> Option<Output> {
        loop {
            if self.buf.is_empty() {
                return None;
            }
            match self.state {
                State::Unknown => {
                    self.buf.clear();
                    return None;
                }
                State::Acknowledged => {
                    if self.buf.len() < READY_TOKEN.len() {
                        return None;
                    }
                    if self.buf.starts_with(READY_TOKEN) {
                        self.buf.drain(..READY_TOKEN.len());
                        self.state = State::Ready;
                        return Some(Output::Ready);
                    }
                    let got = self.buf[..READY_TOKEN.len()].to_vec();
                    return Some(self.violation(ProtocolError::NotReady(got)));
                }
                State::Ready => return Some(self.violation(ProtocolError::Spurious)),
                State::Busy => match self.result_len {
                    None => {
                        let Some(pos) = self.buf[self.scanned..].iter().position(|b| *b == b'\n')
                        else {
                            self.scanned = self.buf.len();
                            if self.buf.len() > MAX_RESULT_LINE {
                                let line = self.buf[..MAX_RESULT_LINE].to_vec();
                                return Some(self.violation(ProtocolError::BadResultLine(line)));
                            }
                            return None;
                        };
                        let pos = self.scanned + pos;
                        self.scanned = 0;
                        let len = self.buf[..pos].get(RESULT_TOKEN_LEN..).and_then(python_int);
                        match len {
                            Some(n) => {
                                self.buf.drain(..=pos);
                                self.result_len = Some(n);
                                self.result_got = 0;
                                self.result.clear();
                            }
                            None => {
                                let line = self.buf[..pos.min(MAX_RESULT_LINE)].to_vec();
                                return Some(self.violation(ProtocolError::BadResultLine(line)));
                            }
                        }
                    }
                    Some(n) => {
                        let take = (n - self.result_got).min(self.buf.len());
                        let keep = take.min(MAX_KEPT_BODY.saturating_sub(self.result.len()));
                        self.result.extend_from_slice(&self.buf[..keep]);
                        self.buf.drain(..take);
                        self.result_got += take;
                        if self.result_got < n {
                            continue;
                        }
                        self.result_len = None;
                        self.result_got = 0;
                        self.state = State::Acknowledged;
                        return Some(Output::Result(std::mem::take(&mut self.result)));
                    }
                },
            }
        }
    }

    fn violation(&mut self, e: ProtocolError) -> Output {
        self.state = State::Unknown;
        self.buf = Vec::new();
        self.result = Vec::new();
        self.result_len = None;
        self.result_got = 0;
        self.scanned = 0;
        Output::Garbage(e)
    }
}

/// Python's `int(b)` for bytes, limited to `usize` and refusing negative values (see the
/// module documentation).
fn python_int(b: &[u8]) -> Option<usize> {
    let is_space = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c);
    let start = b.iter().position(|c| !is_space(c))?;
    let end = b.iter().rposition(|c| !is_space(c))? + 1;
    let s = &b[start..end];
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, s),
    };
    // Digits, with single underscores between them.
    if digits.first().is_none_or(|c| !c.is_ascii_digit())
        || digits.last().is_none_or(|c| !c.is_ascii_digit())
        || digits.windows(2).any(|w| w == b"__")
        || digits.iter().any(|c| !c.is_ascii_digit() && *c != b'_')
    {
        return None;
    }
    let mut v: usize = 0;
    for d in digits.iter().filter(|c| c.is_ascii_digit()) {
        v = v.checked_mul(10)?.checked_add(usize::from(d - b'0'))?;
    }
    if negative && v != 0 {
        return None;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `chunks` one after the other, sending an event whenever the listener is READY
    /// (a busy pool), and collect everything it says.
    fn run(chunks: &[&[u8]]) -> (Vec<Output>, State) {
        let mut p = Parser::new();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c);
            while let Some(o) = p.next_output() {
                if o == Output::Ready {
                    p.event_sent();
                }
                out.push(o);
            }
        }
        (out, p.state())
    }

    fn result(b: &[u8]) -> Output {
        Output::Result(b.to_vec())
    }

    #[test]
    fn the_normal_conversation() {
        let (out, state) = run(&[b"READY\n", b"RESULT 2\nOK", b"READY\n", b"RESULT 4\nFAIL"]);
        assert_eq!(
            out,
            [Output::Ready, result(b"OK"), Output::Ready, result(b"FAIL")]
        );
        assert_eq!(state, State::Acknowledged);
        // All at once, and byte by byte: the same.
        let all = b"READY\nRESULT 2\nOKREADY\nRESULT 4\nFAILREADY\n";
        let (whole, s1) = run(&[all]);
        let bytes: Vec<&[u8]> = all.chunks(1).collect();
        let (split, s2) = run(&bytes);
        assert_eq!(whole, split);
        assert_eq!((s1, s2), (State::Busy, State::Busy));
        assert_eq!(whole.len(), 5);
    }

    #[test]
    fn ready_waits_for_six_bytes_then_decides() {
        let mut p = Parser::new();
        p.feed(b"READY");
        assert_eq!(p.next_output(), None);
        assert_eq!(p.state(), State::Acknowledged);
        p.feed(b"\n");
        assert_eq!(p.next_output(), Some(Output::Ready));
        assert_eq!(p.state(), State::Ready);

        let mut p = Parser::new();
        p.feed(b"READ");
        assert_eq!(p.next_output(), None);
        p.feed(b"Y \n");
        assert_eq!(
            p.next_output(),
            Some(Output::Garbage(ProtocolError::NotReady(b"READY ".to_vec())))
        );
        assert_eq!(p.state(), State::Unknown);
        // UNKNOWN is final: even a correct READY is dropped.
        p.feed(b"READY\n");
        assert_eq!(p.next_output(), None);
        assert_eq!(p.buffered(), 0);
        // "ready\n", "READY\r\n": not READY\n.
        assert_eq!(run(&[b"ready\n"]).1, State::Unknown);
        assert_eq!(run(&[b"READY\r\n"]).1, State::Unknown);
    }

    #[test]
    fn output_while_ready_is_a_violation() {
        let mut p = Parser::new();
        p.feed(b"READY\nREADY\n");
        assert_eq!(p.next_output(), Some(Output::Ready));
        assert_eq!(
            p.next_output(),
            Some(Output::Garbage(ProtocolError::Spurious))
        );
        assert_eq!(p.state(), State::Unknown);
    }

    #[test]
    fn result_line_prefix_is_not_checked() {
        // supervisord slices line[7:] without looking at it.
        let (out, _) = run(&[b"READY\nXXXXXXX2\nOK"]);
        assert_eq!(out, [Output::Ready, result(b"OK")]);
        let (out, _) = run(&[b"READY\nresult 2\nOK"]);
        assert_eq!(out, [Output::Ready, result(b"OK")]);
    }

    #[test]
    fn result_length_as_python_int_reads_it() {
        for (line, len) in [
            (&b"RESULT 2"[..], Some(2)),
            (b"RESULT  2 ", Some(2)),
            (b"RESULT \t2\r", Some(2)),
            (b"RESULT +2", Some(2)),
            (b"RESULT 0002", Some(2)),
            (b"RESULT 1_0", Some(10)),
            (b"RESULT \x0b2\x0c", Some(2)),
            (b"RESULT -0", Some(0)),
            (b"RESULT ", None),
            (b"RESULT", None),
            (b"OK", None),
            (b"RESULT 1__0", None),
            (b"RESULT _10", None),
            (b"RESULT 10_", None),
            (b"RESULT 0x2", None),
            (b"RESULT 2 2", None),
            (b"RESULT 2\0", None),
            (b"RESULT \x1c2", None),
            (b"RESULT \xd9\xa1", None),
            (b"RESULT two", None),
            // corral's own decisions (see the module documentation).
            (b"RESULT -1", None),
            (b"RESULT 99999999999999999999999", None),
        ] {
            assert_eq!(
                line.get(RESULT_TOKEN_LEN..).and_then(python_int),
                len,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn bad_result_line() {
        let (out, state) = run(&[b"READY\nRESULT x\nOK"]);
        assert_eq!(
            out,
            [
                Output::Ready,
                Output::Garbage(ProtocolError::BadResultLine(b"RESULT x".to_vec()))
            ]
        );
        assert_eq!(state, State::Unknown);
    }

    #[test]
    fn a_body_may_hold_anything_and_arrive_in_pieces() {
        let (out, _) = run(&[b"READY\nRESULT 5\nRE", b"A", b"DYREADY\n"]);
        assert_eq!(out, [Output::Ready, result(b"READY"), Output::Ready]);
        // A newline in the body is just a byte.
        let (out, _) = run(&[b"READY\nRESULT 3\nO\nK"]);
        assert_eq!(out, [Output::Ready, result(b"O\nK")]);
    }

    #[test]
    fn an_empty_result_counts_when_the_listener_next_writes() {
        let mut p = Parser::new();
        p.feed(b"READY\n");
        assert_eq!(p.next_output(), Some(Output::Ready));
        p.event_sent();
        p.feed(b"RESULT 0\n");
        assert_eq!(
            p.next_output(),
            None,
            "supervisord handles it on the next read"
        );
        assert_eq!(p.state(), State::Busy);
        p.feed(b"READY\n");
        assert_eq!(p.next_output(), Some(result(b"")));
        assert_eq!(p.next_output(), Some(Output::Ready));
    }

    #[test]
    fn the_result_line_is_bounded() {
        let mut p = Parser::new();
        p.feed(b"READY\n");
        p.next_output();
        p.event_sent();
        let chunk = vec![b' '; 1000];
        let mut got = None;
        for _ in 0..100 {
            p.feed(&chunk);
            if let Some(o) = p.next_output() {
                got = Some(o);
                break;
            }
            assert!(p.buffered() <= MAX_RESULT_LINE);
        }
        assert!(matches!(
            got,
            Some(Output::Garbage(ProtocolError::BadResultLine(l))) if l.len() == MAX_RESULT_LINE
        ));
        // Whitespace and zeros that int() tolerates, under the bound: fine.
        let mut line = b"RESULT ".to_vec();
        line.extend(std::iter::repeat_n(b'0', 1000));
        line.extend(b"2\nOK");
        let (out, _) = run(&[b"READY\n", &line]);
        assert_eq!(out, [Output::Ready, result(b"OK")]);
    }

    #[test]
    fn a_long_body_is_counted_not_kept() {
        let n = 1_000_000;
        let mut p = Parser::new();
        p.feed(b"READY\n");
        p.next_output();
        p.event_sent();
        p.feed(format!("RESULT {n}\n").as_bytes());
        let chunk = vec![b'x'; 10_000];
        let mut outs = Vec::new();
        for _ in 0..n / chunk.len() {
            p.feed(&chunk);
            outs.extend(std::iter::from_fn(|| p.next_output()));
            assert!(p.buffered() <= MAX_KEPT_BODY);
        }
        assert_eq!(outs.len(), 1);
        let Output::Result(body) = &outs[0] else {
            panic!("{outs:?}")
        };
        assert_eq!(body.len(), MAX_KEPT_BODY);
        assert_eq!(p.state(), State::Acknowledged);
    }

    #[test]
    fn after_a_result_the_next_ready_follows_at_once() {
        let (out, _) = run(&[b"READY\nRESULT 2\nOKREADY\n"]);
        assert_eq!(out, [Output::Ready, result(b"OK"), Output::Ready]);
        // ... and garbage right after a result makes it UNKNOWN.
        let (out, state) = run(&[b"READY\nRESULT 2\nOKhello!"]);
        assert_eq!(
            out,
            [
                Output::Ready,
                result(b"OK"),
                Output::Garbage(ProtocolError::NotReady(b"hello!".to_vec()))
            ]
        );
        assert_eq!(state, State::Unknown);
    }
}
