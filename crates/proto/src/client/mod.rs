//! A blocking client for supervisord and corrald: XML-RPC calls over one kept-alive
//! connection, and the streaming `GET /logtail/...` that `tail -f` uses.

mod conn;
mod stream;
mod url;
mod wire;

use std::fmt;
use std::io::{self, BufReader, Write};
use std::time::Duration;

use crate::xmlrpc::{FaultResponse, Value, encode_call, parse_response};
use conn::Stream;
use wire::{WireError, read_head};

pub use stream::LogStream;
pub use url::{InvalidUrl, ServerUrl};

/// The path supervisord serves XML-RPC on.
pub const RPC_PATH: &str = "/RPC2";

/// What can go wrong in a call.
#[derive(Debug)]
pub enum ClientError {
    /// The server answered with an XML-RPC fault.
    Fault { code: i32, text: String },
    /// HTTP 401: missing or wrong credentials.
    Unauthorized,
    /// Any other non-200 HTTP status.
    Http { status: u16, reason: String },
    /// A socket error; the message says what was being done (connecting, sending,
    /// reading) and to which server, and the kind is the underlying error's.
    Io(io::Error),
    /// The server's answer was not valid HTTP or XML-RPC.
    Protocol(String),
}

impl ClientError {
    /// The fault code, if this is a fault.
    pub fn fault_code(&self) -> Option<i32> {
        match self {
            ClientError::Fault { code, .. } => Some(*code),
            _ => None,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Fault { code, text } => write!(f, "fault {code}: {text}"),
            ClientError::Unauthorized => f.write_str("401 Unauthorized"),
            ClientError::Http { status, reason } => write!(f, "HTTP {status} {reason}"),
            ClientError::Io(e) => write!(f, "{e}"),
            ClientError::Protocol(m) => write!(f, "protocol error: {m}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Io(e) => e.get_ref().map(|e| e as &(dyn std::error::Error + 'static)),
            _ => None,
        }
    }
}

impl From<FaultResponse> for ClientError {
    fn from(f: FaultResponse) -> Self {
        ClientError::Fault {
            code: f.code,
            text: f.text,
        }
    }
}

/// An io::Error of the same kind, with what was being done prefixed to its message.
pub(crate) fn io_context(e: &io::Error, what: &str) -> ClientError {
    ClientError::Io(io::Error::new(e.kind(), format!("{what}: {e}")))
}

/// A response-reading error as callers see it: `reading` (what was being read) prefixes
/// I/O errors, `url` protocol errors.
pub(crate) fn wire_error(e: WireError, reading: &str, url: impl fmt::Display) -> ClientError {
    match e {
        WireError::ClosedBeforeResponse => ClientError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{reading}: connection closed before a response"),
        )),
        WireError::Io(e) => io_context(&e, reading),
        WireError::Protocol(m) => ClientError::Protocol(format!("{url}: {m}")),
    }
}

/// Timeouts and limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// TCP connect timeout (unix sockets connect at once). Default 10 s.
    pub connect_timeout: Option<Duration>,
    /// Read timeout for XML-RPC responses. Default none: supervisord deliberately holds
    /// the answer to `startProcess`/`stopProcess(wait=True)` until the process settles,
    /// which takes as long as `startsecs`/`stopwaitsecs` say (supervisorctl has no timeout
    /// either). Set one for calls that must return promptly.
    pub read_timeout: Option<Duration>,
    /// Write timeout. Default 30 s.
    pub write_timeout: Option<Duration>,
    /// Read timeout for [`Client::get_stream`]. Default none: `tail -f` waits for output.
    pub stream_read_timeout: Option<Duration>,
    /// Largest XML-RPC response body accepted. Default 256 MiB.
    pub max_response_bytes: usize,
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            connect_timeout: Some(Duration::from_secs(10)),
            read_timeout: None,
            write_timeout: Some(Duration::from_secs(30)),
            stream_read_timeout: None,
            max_response_bytes: 256 * 1024 * 1024,
            user_agent: format!("corral/{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// A blocking XML-RPC client. Calls share one connection, which is reopened (once per
/// call) if the server closed it while idle.
#[derive(Debug)]
pub struct Client {
    url: ServerUrl,
    /// `Authorization: Basic ...\r\n`, or empty without credentials.
    auth_header: String,
    options: ClientOptions,
    conn: Option<BufReader<Stream>>,
}

impl Client {
    /// A client for `url`; `credentials` are sent with HTTP basic auth on every request.
    pub fn new(url: ServerUrl, credentials: Option<(String, String)>) -> Self {
        Client::with_options(url, credentials, ClientOptions::default())
    }

    pub fn with_options(
        url: ServerUrl,
        credentials: Option<(String, String)>,
        options: ClientOptions,
    ) -> Self {
        let auth_header = credentials.map_or_else(String::new, |(u, p)| {
            format!(
                "Authorization: {}\r\n",
                crate::http::basic_auth_header(&u, &p)
            )
        });
        Client {
            url,
            auth_header,
            options,
            conn: None,
        }
    }

    pub fn url(&self) -> &ServerUrl {
        &self.url
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// Drops the connection (the next call opens a new one).
    pub fn close(&mut self) {
        if let Some(c) = self.conn.take() {
            c.get_ref().shutdown();
        }
    }

    /// Calls `method` with `params` and returns its result; a fault comes back as
    /// [`ClientError::Fault`].
    pub fn call(&mut self, method: &str, params: &[Value]) -> Result<Value, ClientError> {
        let body = encode_call(method, params);
        let request = self.rpc_request(&body);
        let response = self.round_trip(&request)?;
        match parse_response(&response) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(fault)) => Err(fault.into()),
            Err(e) => Err(ClientError::Protocol(format!(
                "{}: invalid XML-RPC response: {e}",
                self.url
            ))),
        }
    }

    /// `system.multicall`: one round trip for several calls. Each result is the call's
    /// value or its fault.
    ///
    /// supervisord does not follow the multicall convention its own docstring describes
    /// (and Python's `xmlrpc.client.MultiCall` expects): a successful result comes back as
    /// the bare value, not wrapped in a one-element array, and a fault as a
    /// `{faultCode, faultString}` struct. This reads supervisord's form, which corrald
    /// reproduces.
    pub fn multicall(
        &mut self,
        calls: &[(&str, Vec<Value>)],
    ) -> Result<Vec<Result<Value, FaultResponse>>, ClientError> {
        let arg = Value::Array(
            calls
                .iter()
                .map(|(method, params)| {
                    Value::structure([
                        ("methodName", Value::from(*method)),
                        ("params", Value::Array(params.clone())),
                    ])
                })
                .collect(),
        );
        let result = self.call("system.multicall", &[arg])?;
        let Value::Array(items) = result else {
            return Err(ClientError::Protocol(format!(
                "system.multicall returned a {}",
                result.type_name()
            )));
        };
        if items.len() != calls.len() {
            return Err(ClientError::Protocol(format!(
                "system.multicall returned {} results for {} calls",
                items.len(),
                calls.len()
            )));
        }
        Ok(items.into_iter().map(multicall_result).collect())
    }

    /// Opens `GET path` on a new connection and returns its body as a stream of chunks as
    /// they arrive: `/logtail/<namespec>[/stdout|/stderr]` or `/mainlogtail`, as
    /// supervisorctl's `tail -f` does. A non-200 answer is an error (404 for an unknown
    /// process or a log file that does not exist yet).
    pub fn get_stream(&self, path: &str) -> Result<LogStream, ClientError> {
        LogStream::open(&self.url, &self.auth_header, &self.options, path)
    }

    fn rpc_request(&self, body: &[u8]) -> Vec<u8> {
        let mut req = format!(
            "POST {RPC_PATH} HTTP/1.1\r\nHost: {}\r\nAccept-Encoding: identity\r\nUser-Agent: {}\r\nContent-Type: text/xml\r\nAccept: text/xml\r\n{}Content-Length: {}\r\n\r\n",
            self.url.host_header(),
            self.options.user_agent,
            self.auth_header,
            body.len()
        )
        .into_bytes();
        req.extend_from_slice(body);
        req
    }

    fn connect(&self) -> Result<BufReader<Stream>, ClientError> {
        let stream = Stream::open(&self.url, &self.options, self.options.read_timeout)
            .map_err(|e| io_context(&e, &format!("connecting to {}", self.url)))?;
        Ok(BufReader::with_capacity(64 * 1024, stream))
    }

    fn wire_error(&self, e: WireError) -> ClientError {
        wire_error(e, &format!("reading response from {}", self.url), &self.url)
    }

    /// Sends one request and returns the 200 response's body, reconnecting once if a
    /// reused connection turns out to have been closed by the server.
    fn round_trip(&mut self, request: &[u8]) -> Result<Vec<u8>, ClientError> {
        let reused = self.conn.is_some();
        let attempt = match self.try_round_trip(request) {
            Err(Attempt::Stale) if reused => self.try_round_trip(request),
            first => first,
        };
        match attempt {
            Ok(body) => Ok(body),
            Err(Attempt::Stale) => Err(self.wire_error(WireError::ClosedBeforeResponse)),
            Err(Attempt::Failed(e)) => Err(e),
        }
    }

    fn try_round_trip(&mut self, request: &[u8]) -> Result<Vec<u8>, Attempt> {
        let mut conn = match self.conn.take() {
            Some(c) => c,
            None => self.connect().map_err(Attempt::Failed)?,
        };
        if let Err(e) = conn
            .get_mut()
            .write_all(request)
            .and_then(|()| conn.get_mut().flush())
        {
            // A server that closed an idle connection shows up here as EPIPE/ECONNRESET.
            if matches!(
                e.kind(),
                io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
            ) {
                return Err(Attempt::Stale);
            }
            return Err(Attempt::Failed(io_context(
                &e,
                &format!("sending request to {}", self.url),
            )));
        }
        let head = match read_head(&mut conn) {
            Ok(h) => h,
            Err(WireError::ClosedBeforeResponse) => return Err(Attempt::Stale),
            Err(WireError::Io(e)) if e.kind() == io::ErrorKind::ConnectionReset => {
                return Err(Attempt::Stale);
            }
            Err(e) => return Err(Attempt::Failed(self.wire_error(e))),
        };
        let mut body_reader = head
            .body_reader()
            .map_err(|e| Attempt::Failed(self.wire_error(e)))?;
        let body = body_reader
            .read_to_end(&mut conn, self.options.max_response_bytes)
            .map_err(|e| Attempt::Failed(self.wire_error(e)))?;
        // supervisor's transport drops the connection after any non-200 answer.
        if head.status == 200 && head.keep_alive() && !body_reader.until_close() {
            self.conn = Some(conn);
        }
        match head.status {
            200 => Ok(body),
            401 => Err(Attempt::Failed(ClientError::Unauthorized)),
            status => Err(Attempt::Failed(ClientError::Http {
                status,
                reason: head.reason,
            })),
        }
    }
}

/// One entry of supervisord's multicall answer: a fault struct, or the value itself.
fn multicall_result(item: Value) -> Result<Value, FaultResponse> {
    if let (Some(Value::Int(code)), Some(Value::String(text)), Some(2)) = (
        item.get("faultCode"),
        item.get("faultString"),
        item.as_struct().map(<[_]>::len),
    ) {
        return Err(FaultResponse {
            code: *code,
            text: text.clone(),
        });
    }
    Ok(item)
}

enum Attempt {
    /// The connection was already closed by the server; nothing was processed.
    Stale,
    Failed(ClientError),
}
