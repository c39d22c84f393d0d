//! Reading HTTP/1.x responses on the client side: the head, then the body in pieces
//! (Content-Length, chunked, or until the server closes).

use std::io::{self, BufRead};

use crate::http::{Headers, Version, status_has_no_body};

/// Longest status, header or chunk-size line accepted from a server.
const MAX_LINE: usize = 16 * 1024;
/// Most header fields accepted in one response.
const MAX_FIELDS: usize = 200;

#[derive(Debug)]
pub(crate) enum WireError {
    /// The connection closed before the first byte of a response: on a reused keep-alive
    /// connection this means the server dropped it while idle, and the request can be
    /// retried on a new one.
    ClosedBeforeResponse,
    Io(io::Error),
    Protocol(String),
}

impl From<io::Error> for WireError {
    fn from(e: io::Error) -> Self {
        WireError::Io(e)
    }
}

#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub status: u16,
    pub reason: String,
    pub version: Version,
    pub headers: Headers,
}

impl ResponseHead {
    /// Whether the connection can carry another request after this response's body.
    pub fn keep_alive(&self) -> bool {
        self.headers.keep_alive(self.version)
    }

    pub fn body_reader(&self) -> Result<BodyReader, WireError> {
        let framing = if status_has_no_body(self.status) {
            Framing::Length(0)
        } else if self.headers.get("transfer-encoding").is_some() {
            if !self.headers.has_token("transfer-encoding", "chunked") {
                return Err(WireError::Protocol(
                    "unsupported Transfer-Encoding in response".into(),
                ));
            }
            Framing::Chunked(Chunk::Size)
        } else if let Some(cl) = self.headers.get("content-length") {
            let n = cl.trim().parse::<u64>().map_err(|_| {
                WireError::Protocol(format!("bad Content-Length '{cl}' in response"))
            })?;
            Framing::Length(n)
        } else {
            Framing::UntilClose
        };
        Ok(BodyReader {
            framing,
            done: false,
        })
    }
}

/// Reads one `\n`-terminated line (without the line end) into `out`; `Ok(false)` on EOF
/// before any byte.
fn read_line<R: BufRead>(r: &mut R, out: &mut Vec<u8>) -> Result<bool, WireError> {
    out.clear();
    loop {
        let avail = r.fill_buf()?;
        if avail.is_empty() {
            if out.is_empty() {
                return Ok(false);
            }
            return Err(WireError::Protocol(
                "connection closed in the middle of a line".into(),
            ));
        }
        let (take, found) = match avail.iter().position(|b| *b == b'\n') {
            Some(p) => (p + 1, true),
            None => (avail.len(), false),
        };
        if out.len() + take > MAX_LINE {
            return Err(WireError::Protocol("response line too long".into()));
        }
        out.extend_from_slice(&avail[..take]);
        r.consume(take);
        if found {
            out.pop();
            if out.last() == Some(&b'\r') {
                out.pop();
            }
            return Ok(true);
        }
    }
}

/// Reads a response head, skipping interim 1xx responses.
pub(crate) fn read_head<R: BufRead>(r: &mut R) -> Result<ResponseHead, WireError> {
    let mut line = Vec::new();
    let mut first = true;
    loop {
        if !read_line(r, &mut line)? {
            return Err(if first {
                WireError::ClosedBeforeResponse
            } else {
                WireError::Protocol("connection closed before the response head ended".into())
            });
        }
        first = false;
        let (status, reason, version) = parse_status_line(&line)?;
        let mut headers = Headers::new();
        loop {
            if !read_line(r, &mut line)? {
                return Err(WireError::Protocol(
                    "connection closed inside the response headers".into(),
                ));
            }
            if line.is_empty() {
                break;
            }
            if headers.len() >= MAX_FIELDS {
                return Err(WireError::Protocol(
                    "too many response header fields".into(),
                ));
            }
            let text = String::from_utf8_lossy(&line);
            let (name, value) = text.split_once(':').ok_or_else(|| {
                WireError::Protocol(format!("malformed response header line '{text}'"))
            })?;
            headers.push(name.trim(), value.trim());
        }
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        return Ok(ResponseHead {
            status,
            reason,
            version,
            headers,
        });
    }
}

fn parse_status_line(line: &[u8]) -> Result<(u16, String, Version), WireError> {
    let text = String::from_utf8_lossy(line);
    let bad = || WireError::Protocol(format!("malformed status line '{text}'"));
    let mut parts = text.splitn(3, ' ');
    let version = match parts.next() {
        Some("HTTP/1.1") => Version::Http11,
        Some("HTTP/1.0") => Version::Http10,
        _ => return Err(bad()),
    };
    let status = parts
        .next()
        .filter(|s| s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(bad)?;
    let reason = parts.next().unwrap_or("").trim().to_owned();
    Ok((status, reason, version))
}

#[derive(Debug)]
enum Chunk {
    Size,
    Data(u64),
    DataEnd,
}

#[derive(Debug)]
enum Framing {
    Length(u64),
    Chunked(Chunk),
    UntilClose,
}

/// Yields a response body in the pieces it arrives in.
#[derive(Debug)]
pub(crate) struct BodyReader {
    framing: Framing,
    done: bool,
}

impl BodyReader {
    /// Whether the body ends only when the server closes the connection.
    pub fn until_close(&self) -> bool {
        matches!(self.framing, Framing::UntilClose)
    }

    /// The next piece of body (at most `max` bytes, and only what is available without
    /// waiting once some data has arrived), or `None` at the end of the body.
    pub fn read_some<R: BufRead>(
        &mut self,
        r: &mut R,
        max: usize,
    ) -> Result<Option<Vec<u8>>, WireError> {
        let max = max.max(1);
        loop {
            if self.done {
                return Ok(None);
            }
            match &mut self.framing {
                Framing::Length(0) => {
                    self.done = true;
                }
                Framing::Length(left) => {
                    let data = read_piece(r, max, *left)?.ok_or_else(|| {
                        WireError::Protocol(
                            "connection closed before the end of the response body".into(),
                        )
                    })?;
                    *left -= data.len() as u64;
                    return Ok(Some(data));
                }
                Framing::UntilClose => match read_piece(r, max, u64::MAX)? {
                    Some(data) => return Ok(Some(data)),
                    None => self.done = true,
                },
                Framing::Chunked(chunk) => match chunk {
                    Chunk::Size => {
                        let mut line = Vec::new();
                        if !read_line(r, &mut line)? {
                            return Err(WireError::Protocol(
                                "connection closed inside a chunked body".into(),
                            ));
                        }
                        let size = parse_chunk_size(&line)?;
                        if size == 0 {
                            // Trailer fields, up to the empty line, are read and dropped.
                            loop {
                                if !read_line(r, &mut line)? || line.is_empty() {
                                    break;
                                }
                            }
                            self.done = true;
                        } else {
                            *chunk = Chunk::Data(size);
                        }
                    }
                    Chunk::Data(left) => {
                        let data = read_piece(r, max, *left)?.ok_or_else(|| {
                            WireError::Protocol("connection closed inside a chunk".into())
                        })?;
                        *left -= data.len() as u64;
                        if *left == 0 {
                            *chunk = Chunk::DataEnd;
                        }
                        return Ok(Some(data));
                    }
                    Chunk::DataEnd => {
                        let mut line = Vec::new();
                        if !read_line(r, &mut line)? || !line.is_empty() {
                            return Err(WireError::Protocol("chunk not followed by CRLF".into()));
                        }
                        *chunk = Chunk::Size;
                    }
                },
            }
        }
    }

    /// The rest of the body, refusing more than `limit` bytes.
    pub fn read_to_end<R: BufRead>(
        &mut self,
        r: &mut R,
        limit: usize,
    ) -> Result<Vec<u8>, WireError> {
        if let Framing::Length(n) = self.framing {
            if n > limit as u64 {
                return Err(WireError::Protocol(format!(
                    "response body of {n} bytes is over the {limit}-byte limit"
                )));
            }
        }
        let mut body = Vec::new();
        while let Some(piece) = self.read_some(r, 64 * 1024)? {
            if body.len() + piece.len() > limit {
                return Err(WireError::Protocol(format!(
                    "response body over the {limit}-byte limit"
                )));
            }
            body.extend_from_slice(&piece);
        }
        Ok(body)
    }
}

/// What `r` has buffered (reading once if nothing is), at most `max` and `left` bytes;
/// `None` at end of stream.
fn read_piece<R: BufRead>(r: &mut R, max: usize, left: u64) -> io::Result<Option<Vec<u8>>> {
    let avail = r.fill_buf()?;
    if avail.is_empty() {
        return Ok(None);
    }
    let n = avail
        .len()
        .min(max)
        .min(usize::try_from(left).unwrap_or(usize::MAX));
    let data = avail[..n].to_vec();
    r.consume(n);
    Ok(Some(data))
}

fn parse_chunk_size(line: &[u8]) -> Result<u64, WireError> {
    let text = String::from_utf8_lossy(line);
    let hex = text.split(';').next().unwrap_or("").trim();
    if hex.is_empty() || hex.len() > 15 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(WireError::Protocol(format!("bad chunk size '{text}'")));
    }
    u64::from_str_radix(hex, 16)
        .map_err(|_| WireError::Protocol(format!("bad chunk size '{text}'")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufReader, Cursor, Read};

    fn head_and_body(raw: &[u8]) -> (ResponseHead, Vec<u8>) {
        let mut r = Cursor::new(raw.to_vec());
        let head = read_head(&mut r).unwrap();
        let body = head
            .body_reader()
            .unwrap()
            .read_to_end(&mut r, 1 << 20)
            .unwrap();
        (head, body)
    }

    #[test]
    fn supervisord_xml_response() {
        let raw = b"HTTP/1.1 200 OK\r\nServer: Medusa/1.12\r\nDate: Sun, 22 Nov 2026 01:31:18 GMT\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n\r\n<x/>\nEXTRA";
        let (head, body) = head_and_body(raw);
        assert_eq!(head.status, 200);
        assert_eq!(head.reason, "OK");
        assert!(head.keep_alive());
        assert_eq!(body, b"<x/>\n");
    }

    #[test]
    fn chunked_and_interim_responses() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;x=y\r\n!\r\n0\r\nTrailer: t\r\n\r\n";
        let (head, body) = head_and_body(raw);
        assert_eq!(head.status, 200);
        assert_eq!(body, b"hello!");
    }

    #[test]
    fn chunks_are_yielded_as_they_arrive() {
        // A reader that hands out 3 bytes per read: pieces must come out before the chunk
        // is complete.
        struct Slow(Cursor<Vec<u8>>);
        impl Read for Slow {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = buf.len().min(3);
                self.0.read(&mut buf[..n])
            }
        }
        let raw =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n0\r\n\r\n"
                .to_vec();
        let mut r = BufReader::with_capacity(3, Slow(Cursor::new(raw)));
        let head = read_head(&mut r).unwrap();
        let mut body = head.body_reader().unwrap();
        let mut pieces = Vec::new();
        while let Some(p) = body.read_some(&mut r, 1024).unwrap() {
            pieces.push(p);
        }
        assert!(pieces.len() > 1);
        assert_eq!(pieces.concat(), b"0123456789");
    }

    #[test]
    fn http10_until_close_and_errors() {
        let (head, body) = head_and_body(b"HTTP/1.0 200 OK\r\n\r\nall of it");
        assert!(!head.keep_alive());
        assert!(head.body_reader().unwrap().until_close());
        assert_eq!(body, b"all of it");

        let mut r = Cursor::new(Vec::new());
        assert!(matches!(
            read_head(&mut r),
            Err(WireError::ClosedBeforeResponse)
        ));
        for bad in [
            &b"HTTP/2 200 OK\r\n\r\n"[..],
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/1.1 200 OK",
        ] {
            assert!(
                read_head(&mut Cursor::new(bad.to_vec())).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        for bad_body in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort"[..],
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        ] {
            let mut r = Cursor::new(bad_body.to_vec());
            let head = read_head(&mut r).unwrap();
            let res = head
                .body_reader()
                .and_then(|mut b| b.read_to_end(&mut r, 1024));
            assert!(res.is_err(), "{:?}", String::from_utf8_lossy(bad_body));
        }
    }

    #[test]
    fn body_limit() {
        let mut r = Cursor::new(b"HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n".to_vec());
        let head = read_head(&mut r).unwrap();
        assert!(
            head.body_reader()
                .unwrap()
                .read_to_end(&mut r, 1000)
                .is_err()
        );
        let raw: Vec<u8> = b"HTTP/1.0 200 OK\r\n\r\n"
            .iter()
            .copied()
            .chain(std::iter::repeat_n(b'x', 2000))
            .collect();
        let mut r = Cursor::new(raw);
        let head = read_head(&mut r).unwrap();
        assert!(
            head.body_reader()
                .unwrap()
                .read_to_end(&mut r, 1000)
                .is_err()
        );
    }
}
