//! An incremental HTTP/1.x request parser: feed it bytes as they arrive, take requests out.
//!
//! Pure and I/O-free: the daemon reads from its sockets and calls [`RequestParser::feed`]
//! and [`RequestParser::next_request`]. Work is linear in the bytes fed however they are
//! split, and memory is bounded by [`Limits`] as long as the caller drains requests after
//! each feed (after `next_request` returns `Ok(None)` at most one partial request is held).

use std::fmt;

/// Size limits. A request over a limit is refused with the status in [`HttpError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Request line plus headers (and chunked trailers), in bytes. Over it: 431.
    pub max_header_bytes: usize,
    /// Number of header fields. Over it: 431.
    pub max_headers: usize,
    /// Decoded body size. Over it: 413.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 16 * 1024,
            max_headers: 100,
            max_body_bytes: 8 * 1024 * 1024,
        }
    }
}

/// Longest chunk-size line (size, extensions and CRLF) accepted in a chunked body.
const MAX_CHUNK_LINE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    /// `"HTTP/1.0"` or `"HTTP/1.1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// Header fields in arrival order, looked up case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into(), value.into()));
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the comma-separated list in `name` (all its fields) contains `token`,
    /// case-insensitively (for `Connection: keep-alive, Upgrade` and the like).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a message of `version` with these headers leaves the connection open:
    /// HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`
    /// (medusa's rule, and Python's http.client's).
    pub(crate) fn keep_alive(&self, version: Version) -> bool {
        match version {
            Version::Http11 => !self.has_token("connection", "close"),
            Version::Http10 => self.has_token("connection", "keep-alive"),
        }
    }
}

/// One complete request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target exactly as sent (`/RPC2`, `/logtail/foo?x`).
    pub target: String,
    pub version: Version,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Request {
    /// Whether the connection stays open after the response: HTTP/1.1 unless the client
    /// sent `Connection: close`; HTTP/1.0 only with `Connection: keep-alive` (medusa's rule).
    pub fn keep_alive(&self) -> bool {
        self.headers.keep_alive(self.version)
    }

    /// The target's path: everything before `?` or `#`.
    pub fn path(&self) -> &str {
        let end = self.target.find(['?', '#']).unwrap_or(self.target.len());
        &self.target[..end]
    }

    /// The query string without `?`, if any.
    pub fn query(&self) -> Option<&str> {
        let q = &self.target[self.target.find('?')? + 1..];
        Some(q.split('#').next().unwrap_or(q))
    }

    /// The path with `%XX` escapes decoded (medusa unquotes paths before handlers see
    /// them); invalid UTF-8 in the result is replaced with U+FFFD.
    pub fn decoded_path(&self) -> String {
        percent_decode(self.path())
    }
}

/// Decodes `%XX` escapes (`+` is left alone, as in a path); malformed escapes stay as they
/// are, as Python's `urllib.parse.unquote` leaves them.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A request the parser refuses, with the status to answer before closing the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    pub status: u16,
    pub message: String,
}

impl HttpError {
    fn new(status: u16, message: impl Into<String>) -> Self {
        HttpError {
            status,
            message: message.into(),
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status,
            super::reason_phrase(self.status),
            self.message
        )
    }
}

impl std::error::Error for HttpError {}

#[derive(Debug)]
struct Head {
    method: String,
    target: String,
    version: Version,
    headers: Headers,
}

#[derive(Debug)]
enum ChunkState {
    /// Reading a chunk-size line.
    Size,
    /// Reading chunk data: this many bytes left.
    Data(usize),
    /// Reading the CRLF after chunk data.
    DataEnd,
    /// Reading trailer fields until an empty line; bytes of trailers seen so far.
    Trailers(usize),
}

#[derive(Debug)]
enum State {
    Head,
    Body {
        head: Head,
        len: usize,
    },
    Chunked {
        head: Head,
        body: Vec<u8>,
        chunk: ChunkState,
    },
    Failed(HttpError),
}

/// The incremental parser. One per connection.
#[derive(Debug)]
pub struct RequestParser {
    limits: Limits,
    buf: Vec<u8>,
    /// Start of unconsumed bytes in `buf`.
    start: usize,
    /// Where the search for the end of the head resumes (absolute index in `buf`).
    scan: usize,
    state: State,
    continue_pending: bool,
}

impl RequestParser {
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            limits,
            buf: Vec::new(),
            start: 0,
            scan: 0,
            state: State::Head,
            continue_pending: false,
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Appends bytes read from the connection.
    pub fn feed(&mut self, data: &[u8]) {
        // Compact once the consumed prefix dominates, keeping the cost amortized linear.
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.scan = self.scan.saturating_sub(self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// `feed` then `next_request`.
    pub fn push(&mut self, data: &[u8]) -> Result<Option<Request>, HttpError> {
        self.feed(data);
        self.next_request()
    }

    /// The next complete request, `Ok(None)` if more bytes are needed, or the error to
    /// answer. Bytes after a complete request stay buffered for the next call (pipelining).
    /// After an error the parser stays failed: answer and close the connection.
    pub fn next_request(&mut self) -> Result<Option<Request>, HttpError> {
        if let State::Failed(e) = &self.state {
            return Err(e.clone());
        }
        match self.advance() {
            Ok(r) => {
                if r.is_some() {
                    self.continue_pending = false;
                }
                Ok(r)
            }
            Err(e) => {
                self.state = State::Failed(e.clone());
                Err(e)
            }
        }
    }

    /// True once per request when it asked for `Expect: 100-continue` and its headers are
    /// in but its body is not: the daemon then writes `HTTP/1.1 100 Continue\r\n\r\n`.
    pub fn take_expect_continue(&mut self) -> bool {
        std::mem::take(&mut self.continue_pending)
    }

    /// Whether part of a request has been received (so EOF now would cut it off). Blank
    /// lines between requests do not count.
    pub fn has_partial_request(&self) -> bool {
        match self.state {
            State::Head => self.buf[self.start..]
                .iter()
                .any(|b| *b != b'\r' && *b != b'\n'),
            State::Body { .. } | State::Chunked { .. } => true,
            State::Failed(_) => false,
        }
    }

    /// Bytes received but not yet part of a returned request.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn advance(&mut self) -> Result<Option<Request>, HttpError> {
        loop {
            match std::mem::replace(&mut self.state, State::Head) {
                State::Head => match self.parse_head()? {
                    None => return Ok(None),
                    Some(next) => self.state = next,
                },
                State::Body { head, len } => {
                    if self.buf.len() - self.start < len {
                        self.state = State::Body { head, len };
                        return Ok(None);
                    }
                    let body = self.buf[self.start..self.start + len].to_vec();
                    self.start += len;
                    self.scan = self.start;
                    return Ok(Some(finish(head, body)));
                }
                State::Chunked {
                    head,
                    mut body,
                    mut chunk,
                } => {
                    let done = self.parse_chunks(&mut body, &mut chunk)?;
                    if done {
                        self.scan = self.start;
                        return Ok(Some(finish(head, body)));
                    }
                    self.state = State::Chunked { head, body, chunk };
                    return Ok(None);
                }
                State::Failed(e) => {
                    self.state = State::Failed(e.clone());
                    return Err(e);
                }
            }
        }
    }

    /// Parses the request line and headers once they are complete; returns the body state.
    fn parse_head(&mut self) -> Result<Option<State>, HttpError> {
        // Blank lines before a request are ignored (RFC 9112 section 2.2; medusa does too,
        // and supervisorctl's tail -f client sends an extra CRLF after its headers).
        loop {
            let rest = &self.buf[self.start..];
            if rest.starts_with(b"\r\n") {
                self.start += 2;
            } else if rest.starts_with(b"\n") {
                self.start += 1;
            } else {
                break;
            }
        }
        if self.scan < self.start {
            self.scan = self.start;
        }
        let Some(head_len) = self.find_head_end() else {
            if self.buf.len() - self.start > self.limits.max_header_bytes {
                return Err(HttpError::new(431, "request headers too large"));
            }
            return Ok(None);
        };
        if head_len > self.limits.max_header_bytes {
            return Err(HttpError::new(431, "request headers too large"));
        }
        let head = parse_head_block(&self.buf[self.start..self.start + head_len], &self.limits)?;
        self.start += head_len;
        self.scan = self.start;
        self.body_state(head).map(Some)
    }

    /// Length of the head including its terminating empty line, once buffered.
    fn find_head_end(&mut self) -> Option<usize> {
        let buf = &self.buf;
        // Resume where the last search stopped: `scan` is either the newline that may begin
        // the terminator or the end of bytes that hold no newline at all.
        let from = self.scan.max(self.start);
        let mut i = from;
        while let Some(p) = buf[i..].iter().position(|b| *b == b'\n') {
            let nl = i + p;
            let next = &buf[nl + 1..];
            if next.starts_with(b"\n") {
                return Some(nl + 2 - self.start);
            }
            if next.starts_with(b"\r\n") {
                return Some(nl + 3 - self.start);
            }
            if next.is_empty() || next == b"\r" {
                // Undecided until more bytes arrive.
                self.scan = nl;
                return None;
            }
            i = nl + 1;
        }
        self.scan = buf.len();
        None
    }

    fn body_state(&mut self, head: Head) -> Result<State, HttpError> {
        let framing = framing(&head, &self.limits)?;
        let needs_body = !matches!(framing, Framing::Length(0));
        self.continue_pending = needs_body
            && head.version == Version::Http11
            && head
                .headers
                .get("expect")
                .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"));
        Ok(match framing {
            Framing::Length(len) => State::Body { head, len },
            Framing::Chunked => State::Chunked {
                head,
                body: Vec::new(),
                chunk: ChunkState::Size,
            },
        })
    }

    /// Consumes as much of a chunked body as is buffered; true when it is complete.
    fn parse_chunks(
        &mut self,
        body: &mut Vec<u8>,
        chunk: &mut ChunkState,
    ) -> Result<bool, HttpError> {
        loop {
            let rest = &self.buf[self.start..];
            match chunk {
                ChunkState::Size => {
                    let Some(nl) = rest.iter().take(MAX_CHUNK_LINE).position(|b| *b == b'\n')
                    else {
                        if rest.len() >= MAX_CHUNK_LINE {
                            return Err(HttpError::new(400, "chunk-size line too long"));
                        }
                        return Ok(false);
                    };
                    let line = strip_cr(&rest[..nl]);
                    let size_text = line.split(|b| *b == b';').next().unwrap_or(line);
                    let size_text = trim_ows(size_text);
                    if size_text.is_empty() || !size_text.iter().all(u8::is_ascii_hexdigit) {
                        return Err(HttpError::new(400, "malformed chunk size"));
                    }
                    let mut size: usize = 0;
                    for d in size_text {
                        let v = (*d as char).to_digit(16).unwrap_or(0) as usize;
                        size = match size.checked_mul(16).and_then(|s| s.checked_add(v)) {
                            Some(s) if s <= self.limits.max_body_bytes => s,
                            _ => return Err(HttpError::new(413, "chunked body over the limit")),
                        };
                    }
                    if body.len() + size > self.limits.max_body_bytes {
                        return Err(HttpError::new(413, "chunked body over the limit"));
                    }
                    self.start += nl + 1;
                    *chunk = if size == 0 {
                        ChunkState::Trailers(0)
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(left) => {
                    if rest.is_empty() {
                        return Ok(false);
                    }
                    let take = rest.len().min(*left);
                    body.extend_from_slice(&rest[..take]);
                    self.start += take;
                    *left -= take;
                    if *left == 0 {
                        *chunk = ChunkState::DataEnd;
                    }
                }
                ChunkState::DataEnd => {
                    if rest.starts_with(b"\r\n") {
                        self.start += 2;
                    } else if rest.starts_with(b"\n") {
                        self.start += 1;
                    } else if rest.is_empty() || rest == b"\r" {
                        return Ok(false);
                    } else {
                        return Err(HttpError::new(400, "chunk data not followed by CRLF"));
                    }
                    *chunk = ChunkState::Size;
                }
                ChunkState::Trailers(seen) => {
                    let limit = self.limits.max_header_bytes;
                    let Some(nl) = rest.iter().position(|b| *b == b'\n') else {
                        if *seen + rest.len() > limit {
                            return Err(HttpError::new(431, "chunked trailers too large"));
                        }
                        return Ok(false);
                    };
                    *seen += nl + 1;
                    if *seen > limit {
                        return Err(HttpError::new(431, "chunked trailers too large"));
                    }
                    let line = strip_cr(&rest[..nl]);
                    self.start += nl + 1;
                    if line.is_empty() {
                        return Ok(true);
                    }
                    // Trailer fields are checked for syntax and otherwise ignored.
                    parse_field(line)?;
                }
            }
        }
    }
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser::new(Limits::default())
    }
}

fn finish(head: Head, body: Vec<u8>) -> Request {
    Request {
        method: head.method,
        target: head.target,
        version: head.version,
        headers: head.headers,
        body,
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// RFC 9110 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

enum Framing {
    Length(usize),
    Chunked,
}

/// How the body is delimited (RFC 9112 section 6.3), or why the request is refused.
fn framing(head: &Head, limits: &Limits) -> Result<Framing, HttpError> {
    let has_te = head.headers.get("transfer-encoding").is_some();
    let has_cl = head.headers.get("content-length").is_some();
    if has_te {
        if head.version == Version::Http10 {
            return Err(HttpError::new(
                400,
                "Transfer-Encoding in an HTTP/1.0 request",
            ));
        }
        // Both framings at once is how request smuggling starts: refuse.
        if has_cl {
            return Err(HttpError::new(
                400,
                "both Transfer-Encoding and Content-Length",
            ));
        }
        let codings: Vec<String> = head
            .headers
            .get_all("transfer-encoding")
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        if codings != ["chunked"] {
            return Err(HttpError::new(
                501,
                format!("unsupported Transfer-Encoding '{}'", codings.join(", ")),
            ));
        }
        return Ok(Framing::Chunked);
    }
    if has_cl {
        let len = content_length(&head.headers)?;
        return match usize::try_from(len) {
            Ok(len) if len <= limits.max_body_bytes => Ok(Framing::Length(len)),
            _ => Err(HttpError::new(
                413,
                format!("body of {len} bytes is over the limit"),
            )),
        };
    }
    // medusa answers a POST without Content-Length with 411; other methods have no body.
    if head.method == "POST" || head.method == "PUT" {
        return Err(HttpError::new(
            411,
            format!("{} without Content-Length", head.method),
        ));
    }
    Ok(Framing::Length(0))
}

fn content_length(headers: &Headers) -> Result<u64, HttpError> {
    let mut value: Option<u64> = None;
    // Repeated or comma-listed values are allowed only if they all agree (RFC 9110 8.6).
    for item in headers.get_all("content-length").flat_map(|v| v.split(',')) {
        let item = item.trim();
        if item.is_empty() || !item.bytes().all(|b| b.is_ascii_digit()) {
            return Err(HttpError::new(400, format!("bad Content-Length '{item}'")));
        }
        // All digits: the only way to fail is overflow, which is over any body limit.
        let n = item.parse::<u64>().unwrap_or(u64::MAX);
        if value.is_some_and(|v| v != n) {
            return Err(HttpError::new(400, "conflicting Content-Length values"));
        }
        value = Some(n);
    }
    value.ok_or_else(|| HttpError::new(400, "empty Content-Length"))
}

fn parse_head_block(block: &[u8], limits: &Limits) -> Result<Head, HttpError> {
    let mut lines = block.split(|b| *b == b'\n').map(strip_cr);
    let request_line = lines.next().unwrap_or_default();
    let (method, target, version) = parse_request_line(request_line)?;
    let mut headers = Headers::new();
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line.contains(&b'\r') {
            return Err(HttpError::new(400, "bare CR in a header line"));
        }
        if matches!(line[0], b' ' | b'\t') {
            // Obsolete line folding: medusa joins it onto the previous field; RFC 9112 lets
            // a server replace it with a space.
            let Some(last) = headers.0.last_mut() else {
                return Err(HttpError::new(400, "continuation line before any header"));
            };
            let more = field_value(trim_ows(line))?;
            if !more.is_empty() {
                if !last.1.is_empty() {
                    last.1.push(' ');
                }
                last.1.push_str(&more);
            }
            continue;
        }
        let (name, value) = parse_field(line)?;
        if headers.len() >= limits.max_headers {
            return Err(HttpError::new(
                431,
                format!("more than {} header fields", limits.max_headers),
            ));
        }
        headers.push(name, value);
    }
    Ok(Head {
        method,
        target,
        version,
        headers,
    })
}

fn parse_field(line: &[u8]) -> Result<(String, String), HttpError> {
    let Some(colon) = line.iter().position(|b| *b == b':') else {
        return Err(HttpError::new(400, "header line without ':'"));
    };
    let name = &line[..colon];
    // No whitespace between name and colon (RFC 9112 5.1): a classic smuggling vector.
    if name.is_empty() || !name.iter().all(|b| is_tchar(*b)) {
        return Err(HttpError::new(400, "malformed header name"));
    }
    let value = field_value(trim_ows(&line[colon + 1..]))?;
    Ok((String::from_utf8_lossy(name).into_owned(), value))
}

fn field_value(v: &[u8]) -> Result<String, HttpError> {
    if v.iter().any(|b| (*b < 0x20 && *b != b'\t') || *b == 0x7F) {
        return Err(HttpError::new(400, "control character in a header value"));
    }
    // obs-text (0x80-0xFF) is allowed on the wire; it is kept as UTF-8 where it is UTF-8.
    Ok(String::from_utf8_lossy(v).into_owned())
}

fn parse_request_line(line: &[u8]) -> Result<(String, String, Version), HttpError> {
    let bad = || HttpError::new(400, "malformed request line");
    let mut parts = line.split(|b| *b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    if method.is_empty() || !method.iter().all(|b| is_tchar(*b)) {
        return Err(bad());
    }
    if target.is_empty() || target.iter().any(|b| *b <= 0x20 || *b == 0x7F) {
        return Err(bad());
    }
    let target = std::str::from_utf8(target).map_err(|_| bad())?;
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(HttpError::new(
                505,
                format!(
                    "HTTP/{}.{} is not supported",
                    *major as char, *minor as char
                ),
            ));
        }
        _ => return Err(bad()),
    };
    Ok((
        String::from_utf8_lossy(method).into_owned(),
        target.to_owned(),
        version,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(data: &[u8]) -> Result<Vec<Request>, HttpError> {
        let mut p = RequestParser::default();
        p.feed(data);
        let mut out = Vec::new();
        while let Some(r) = p.next_request()? {
            out.push(r);
        }
        Ok(out)
    }

    fn one(data: &[u8]) -> Result<Request, HttpError> {
        let mut reqs = parse_all(data)?;
        assert_eq!(reqs.len(), 1, "expected exactly one request");
        Ok(reqs.remove(0))
    }

    fn status(data: &[u8]) -> u16 {
        match parse_all(data) {
            Err(e) => e.status,
            Ok(r) => panic!("accepted {:?}: {:?}", String::from_utf8_lossy(data), r),
        }
    }

    #[test]
    fn python_xmlrpc_post() {
        let body = b"<?xml version='1.0'?>\n<methodCall>\n<methodName>supervisor.getState</methodName>\n<params>\n</params>\n</methodCall>\n";
        let mut req = format!(
            "POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: identity\r\nUser-Agent: Python-xmlrpc/3.11\r\nContent-Type: text/xml\r\nAccept: text/xml\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        let r = one(&req).unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/RPC2");
        assert_eq!(r.version, Version::Http11);
        assert_eq!(r.headers.get("content-type"), Some("text/xml"));
        assert_eq!(
            r.headers.get("CONTENT-LENGTH"),
            Some(body.len().to_string().as_str())
        );
        assert_eq!(r.body, body);
        assert!(r.keep_alive());
    }

    #[test]
    fn byte_at_a_time_and_pipelined() {
        let data = b"POST /RPC2 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /logtail/cat/stderr HTTP/1.0\r\n\r\n\r\nGET /x HTTP/1.1\nHost: h\n\n";
        let mut p = RequestParser::default();
        let mut got = Vec::new();
        for b in data {
            p.feed(&[*b]);
            while let Some(r) = p.next_request().unwrap() {
                got.push(r);
            }
        }
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].body, b"abc");
        assert_eq!(got[1].target, "/logtail/cat/stderr");
        assert_eq!(got[1].version, Version::Http10);
        assert!(!got[1].keep_alive());
        assert_eq!(got[2].headers.get("host"), Some("h"));
        assert!(!p.has_partial_request());
        assert!(p.buffered().is_empty());
    }

    #[test]
    fn supervisorctl_tail_f_request_with_trailing_crlf() {
        // supervisor/http_client.py pushes CRLF twice after the last header.
        let data = b"GET /logtail/cat HTTP/1.1\r\nHost: localhost\r\nAccept-Encoding: chunked\r\nAccept: */*\r\nUser-agent: Supervisor HTTP Client\r\n\r\n\r\n";
        let mut p = RequestParser::default();
        let r = p.push(data).unwrap().unwrap();
        assert_eq!(r.path(), "/logtail/cat");
        assert_eq!(p.next_request().unwrap(), None);
        assert!(!p.has_partial_request());
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |s: &str| one(s.as_bytes()).unwrap().keep_alive();
        assert!(ka("GET / HTTP/1.1\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.1\r\nConnection: Upgrade, Close\r\n\r\n"));
        assert!(!ka("GET / HTTP/1.0\r\n\r\n"));
        assert!(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
    }

    #[test]
    fn chunked_body() {
        let data = b"POST /RPC2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: y\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        let reqs = parse_all(data).unwrap();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].body, b"hello world");
        // Split at every position.
        for split in 0..data.len() {
            let mut p = RequestParser::default();
            p.feed(&data[..split]);
            let mut got = Vec::new();
            while let Some(r) = p.next_request().unwrap() {
                got.push(r);
            }
            p.feed(&data[split..]);
            while let Some(r) = p.next_request().unwrap() {
                got.push(r);
            }
            assert_eq!(got, reqs, "split at {split}");
        }
    }

    #[test]
    fn error_statuses() {
        assert_eq!(status(b"POST /RPC2 HTTP/1.1\r\n\r\n"), 411);
        assert_eq!(
            status(b"POST /RPC2 HTTP/1.1\r\nContent-Length: 9999999999\r\n\r\n"),
            413
        );
        assert_eq!(
            status(b"POST /RPC2 HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n"),
            413
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffff\r\n"),
            413
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
            501
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: -3\r\n\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n"),
            400
        );
        assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), 505);
        assert_eq!(status(b"GET / HTTP/0.9\r\n\r\n"), 505);
        assert_eq!(status(b"GET / FTP/1.0\r\n\r\n"), 400);
        assert_eq!(status(b"GET /\r\n\r\n"), 400);
        assert_eq!(status(b"GET  / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"G(T / HTTP/1.1\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nNoColon\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\n folded\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n"), 400);
        assert_eq!(status(b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n"), 400);
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            400
        );
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab"),
            400
        );
    }

    #[test]
    fn header_limits() {
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(17 * 1024));
        assert_eq!(status(big.as_bytes()), 431);
        // Over the limit before the terminator arrives: refused without waiting.
        let mut p = RequestParser::default();
        assert_eq!(
            p.push("a".repeat(20_000).as_bytes()).unwrap_err().status,
            431
        );
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            status(format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()),
            431
        );
        let ok: String = (0..100).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            one(format!("GET / HTTP/1.1\r\n{ok}\r\n").as_bytes())
                .unwrap()
                .headers
                .len(),
            100
        );
        let small = Limits {
            max_header_bytes: 64,
            max_headers: 2,
            max_body_bytes: 4,
        };
        let mut p = RequestParser::new(small);
        assert_eq!(
            p.push(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n")
                .unwrap_err()
                .status,
            413
        );
        let mut p = RequestParser::new(small);
        assert_eq!(
            p.push(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\n")
                .unwrap_err()
                .status,
            413
        );
        let mut p = RequestParser::new(small);
        let trailers = format!(
            "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: {}\r\n",
            "t".repeat(80)
        );
        assert_eq!(p.push(trailers.as_bytes()).unwrap_err().status, 431);
    }

    #[test]
    fn errors_are_sticky() {
        let mut p = RequestParser::default();
        assert_eq!(p.push(b"BAD\r\n\r\n").unwrap_err().status, 400);
        assert_eq!(p.push(b"GET / HTTP/1.1\r\n\r\n").unwrap_err().status, 400);
    }

    #[test]
    fn folding_and_lookup() {
        let r = one(b"GET /a%20b?q=1#f HTTP/1.1\r\nX-Long: one\r\n  two\r\nX-Multi: a\r\nx-multi: b\r\n\r\n").unwrap();
        assert_eq!(r.headers.get("x-long"), Some("one two"));
        assert_eq!(r.headers.get_all("X-MULTI").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(r.path(), "/a%20b");
        assert_eq!(r.decoded_path(), "/a b");
        assert_eq!(r.query(), Some("q=1"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("/logtail/grp%3Aname/stderr"),
            "/logtail/grp:name/stderr"
        );
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%C3%A9%ff"), "é\u{FFFD}");
        assert_eq!(percent_decode("a+b"), "a+b");
    }

    #[test]
    fn expect_continue() {
        let mut p = RequestParser::default();
        assert_eq!(
            p.push(b"POST /RPC2 HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
                .unwrap(),
            None
        );
        assert!(p.take_expect_continue());
        assert!(!p.take_expect_continue());
        assert!(p.has_partial_request());
        assert_eq!(p.push(b"ok").unwrap().unwrap().body, b"ok");
        let mut p = RequestParser::default();
        p.push(b"POST /RPC2 HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok")
            .unwrap();
        assert!(
            !p.take_expect_continue(),
            "body already here: no 100 needed"
        );
    }
}
