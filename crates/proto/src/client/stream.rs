//! `GET /logtail/...` and `/mainlogtail`: a response body that never ends on its own.
//!
//! supervisord answers with `Transfer-Encoding: chunked` and sends a chunk whenever the log
//! grows (its `tail_f_producer` starts with the last 1024 bytes). supervisorctl's
//! `http_client` prints each chunk as it comes; [`LogStream`] yields them the same way.

use std::io::{BufReader, Write};
use std::time::Duration;

use super::conn::Stream;
use super::url::ServerUrl;
use super::wire::{BodyReader, WireError, read_head};
use super::{ClientError, ClientOptions, io_context, wire_error};

/// Most bytes returned by one `next_chunk` call.
const MAX_PIECE: usize = 64 * 1024;

/// A streaming response body; iterate it for chunks in arrival order.
#[derive(Debug)]
pub struct LogStream {
    conn: BufReader<Stream>,
    body: BodyReader,
    url: String,
}

/// Percent-encodes the bytes that cannot appear raw in a request path. `%`, `?` and `#`
/// are encoded too, so a process name containing them reaches the handler intact
/// (supervisord unquotes the path of a logtail request).
fn encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if b <= 0x20 || b >= 0x7F || matches!(b, b'%' | b'?' | b'#' | b'"') {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push(char::from(b));
        }
    }
    out
}

impl LogStream {
    pub(crate) fn open(
        url: &ServerUrl,
        auth_header: &str,
        options: &ClientOptions,
        path: &str,
    ) -> Result<LogStream, ClientError> {
        if !path.starts_with('/') {
            return Err(ClientError::Protocol(format!(
                "stream path '{path}' does not start with '/'"
            )));
        }
        let target = encode_path(path);
        let full = format!("{url}{target}");
        let what = |doing: &str| format!("{doing} {full}");
        let stream = Stream::open(url, options, options.stream_read_timeout)
            .map_err(|e| io_context(&e, &what("connecting to")))?;
        let req = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\nAccept: */*\r\nUser-Agent: {}\r\n{auth_header}\r\n",
            url.host_header(),
            options.user_agent
        );
        let mut conn = BufReader::with_capacity(MAX_PIECE, stream);
        conn.get_mut()
            .write_all(req.as_bytes())
            .map_err(|e| io_context(&e, &what("sending request to")))?;
        let head = read_head(&mut conn).map_err(|e| stream_error(e, &full))?;
        match head.status {
            200 => {}
            401 => return Err(ClientError::Unauthorized),
            status => {
                return Err(ClientError::Http {
                    status,
                    reason: head.reason,
                });
            }
        }
        let body = head.body_reader().map_err(|e| stream_error(e, &full))?;
        Ok(LogStream {
            conn,
            body,
            url: full,
        })
    }

    /// The next piece of the body as soon as it arrives, or `None` when the server ends
    /// the response.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ClientError> {
        self.body
            .read_some(&mut self.conn, MAX_PIECE)
            .map_err(|e| stream_error(e, &self.url))
    }

    /// Changes how long `next_chunk` waits for data (`None`: forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> Result<(), ClientError> {
        self.conn
            .get_ref()
            .set_read_timeout(timeout)
            .map_err(|e| io_context(&e, &format!("configuring {}", self.url)))
    }
}

impl Iterator for LogStream {
    type Item = Result<Vec<u8>, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk().transpose()
    }
}

impl Drop for LogStream {
    fn drop(&mut self) {
        self.conn.get_ref().shutdown();
    }
}

fn stream_error(e: WireError, url: &str) -> ClientError {
    wire_error(e, &format!("reading {url}"), url)
}

#[cfg(test)]
mod tests {
    use super::encode_path;

    #[test]
    fn paths_are_encoded_only_where_needed() {
        assert_eq!(
            encode_path("/logtail/web:web_01/stderr"),
            "/logtail/web:web_01/stderr"
        );
        assert_eq!(
            encode_path("/logtail/a b%?#é"),
            "/logtail/a%20b%25%3F%23%C3%A9"
        );
    }
}
