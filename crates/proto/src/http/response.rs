//! Building responses: status line, headers, body, and chunked framing for streams.

use super::request::Version;
use crate::calendar::{MONTHS, civil_from_days};

/// The reason phrase medusa (supervisord's HTTP server) sends for `status`, plus the
/// statuses corral adds (431).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version not supported",
        _ => "Unknown",
    }
}

/// A response under construction. `to_bytes` adds `Content-Length` unless the response is
/// chunked or already has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub version: Version,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    chunked: bool,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            version: Version::Http11,
            headers: Vec::new(),
            body: Vec::new(),
            chunked: false,
        }
    }

    /// A 200 `text/xml` response carrying an encoded XML-RPC document.
    pub fn xml(body: Vec<u8>) -> Self {
        Response::new(200)
            .header("Content-Type", "text/xml")
            .body(body)
    }

    /// medusa's error page for `status`, as supervisord sends it (`text/html`).
    pub fn error_page(status: u16) -> Self {
        let body = format!(
            "<head>\r\n<title>Error response</title>\r\n</head>\r\n<body>\r\n<h1>Error response</h1>\r\n<p>Error code {status}.\r\n<p>Message: {}.\r\n</body>\r\n",
            reason_phrase(status)
        );
        Response::new(status)
            .header("Content-Type", "text/html")
            .body(body)
    }

    /// medusa answers in the request's HTTP version ("HTTP/1.0 200 OK" to a 1.0 client).
    pub fn version(mut self, version: Version) -> Self {
        self.version = version;
        self
    }

    /// Adds a header. CR and LF in the name or value become spaces, so a value taken from
    /// a request or a file can never split the response.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let clean = |s: String| {
            if s.contains(['\r', '\n']) {
                s.replace(['\r', '\n'], " ")
            } else {
                s
            }
        };
        self.headers.push((clean(name.into()), clean(value.into())));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Marks the response `Transfer-Encoding: chunked`: `to_bytes` then writes the head and
    /// the body (if any) as the first chunk; send later data with [`encode_chunk`] and end
    /// with [`LAST_CHUNK`].
    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }

    pub fn is_chunked(&self) -> bool {
        self.chunked
    }

    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The status line and headers, ending with the blank line.
    pub fn head_bytes(&self) -> Vec<u8> {
        let mut out = String::with_capacity(128);
        out.push_str(self.version.as_str());
        out.push(' ');
        out.push_str(&self.status.to_string());
        out.push(' ');
        out.push_str(reason_phrase(self.status));
        out.push_str("\r\n");
        for (n, v) in &self.headers {
            out.push_str(n);
            out.push_str(": ");
            out.push_str(v);
            out.push_str("\r\n");
        }
        if self.chunked {
            if self.get_header("transfer-encoding").is_none() {
                out.push_str("Transfer-Encoding: chunked\r\n");
            }
        } else if !status_has_no_body(self.status) && self.get_header("content-length").is_none() {
            out.push_str("Content-Length: ");
            out.push_str(&self.body.len().to_string());
            out.push_str("\r\n");
        }
        out.push_str("\r\n");
        out.into_bytes()
    }

    /// The whole response as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (mut out, body, tail) = self.wire_parts();
        out.extend_from_slice(body);
        out.extend_from_slice(tail);
        out
    }

    /// The response in three parts to send one after the other: the head (status line,
    /// headers and, for a chunked body, the chunk's size line), the body, and what follows
    /// it (the chunk's CRLF). Sent with one vectored write, a large body (a
    /// `getAllProcessInfo` of thousands of processes is megabytes) is not copied first.
    pub fn wire_parts(&self) -> (Vec<u8>, &[u8], &'static [u8]) {
        let mut head = self.head_bytes();
        if self.chunked && !self.body.is_empty() {
            head.extend_from_slice(format!("{:x}\r\n", self.body.len()).as_bytes());
            (head, &self.body, b"\r\n")
        } else if self.chunked {
            (head, &[], b"")
        } else {
            (head, &self.body, b"")
        }
    }
}

/// Whether a response with `status` never has a body (1xx, 204, 304: RFC 9112 6.3).
pub(crate) fn status_has_no_body(status: u16) -> bool {
    status < 200 || status == 204 || status == 304
}

/// The terminating zero-length chunk of a chunked body (no trailers).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// One chunk: lower-case hex size, CRLF, data, CRLF (as supervisord's chunked producer
/// writes it). Empty data yields nothing, since a zero-size chunk would end the body.
pub fn encode_chunk(data: &[u8]) -> Vec<u8> {
    if data.is_empty() {
        return Vec::new();
    }
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.reserve(data.len() + 2);
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// An HTTP date (`Sun, 06 Nov 1994 08:49:37 GMT`) for Unix time `secs`, for `Date` and
/// `Last-Modified` headers.
pub fn http_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_page_is_medusas() {
        // Captured from supervisord 4.3.0 (a 404 for GET /nothing), minus Server and Date.
        let want = "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: 134\r\n\r\n<head>\r\n<title>Error response</title>\r\n</head>\r\n<body>\r\n<h1>Error response</h1>\r\n<p>Error code 404.\r\n<p>Message: Not Found.\r\n</body>\r\n";
        assert_eq!(
            String::from_utf8(Response::error_page(404).to_bytes()).unwrap(),
            want
        );
    }

    #[test]
    fn xml_response_head() {
        let r = Response::xml(b"<x/>".to_vec())
            .version(Version::Http10)
            .header("Connection", "Keep-Alive");
        assert_eq!(
            String::from_utf8(r.to_bytes()).unwrap(),
            "HTTP/1.0 200 OK\r\nContent-Type: text/xml\r\nConnection: Keep-Alive\r\nContent-Length: 4\r\n\r\n<x/>"
        );
    }

    #[test]
    fn explicit_content_length_and_bodiless_statuses() {
        let r = Response::new(200).header("content-length", "10");
        assert_eq!(
            r.head_bytes(),
            b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n"
        );
        assert_eq!(
            Response::new(204).to_bytes(),
            b"HTTP/1.1 204 No Content\r\n\r\n"
        );
        assert_eq!(
            Response::new(100).to_bytes(),
            b"HTTP/1.1 100 Continue\r\n\r\n"
        );
    }

    #[test]
    fn header_injection_is_neutralized() {
        let r = Response::new(200).header("X-Name", "a\r\nSet-Cookie: evil");
        assert_eq!(r.get_header("x-name"), Some("a  Set-Cookie: evil"));
    }

    #[test]
    fn chunked_stream() {
        let r = Response::new(200)
            .header("Content-Type", "text/plain;charset=utf-8")
            .chunked();
        assert_eq!(
            r.to_bytes(),
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain;charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n"
        );
        assert_eq!(
            encode_chunk(b"hello, world!!!!!"),
            b"11\r\nhello, world!!!!!\r\n"
        );
        assert_eq!(encode_chunk(b""), b"");
        let first = Response::new(200).chunked().body("abc").to_bytes();
        assert!(first.ends_with(b"\r\n\r\n3\r\nabc\r\n"));
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        // Seen on the wire from supervisord: Date: Sun, 22 Nov 2026 01:31:18 GMT
        assert_eq!(http_date(1_795_311_078), "Sun, 22 Nov 2026 01:31:18 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
    }
}
