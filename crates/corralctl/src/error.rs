//! What a command can fail with, and how supervisorctl shows failures it did not expect.
//!
//! supervisorctl lets unexpected exceptions reach `onecmd`, which prints
//! `error: <class 'ConnectionRefusedError'>, [Errno 111] Connection refused: file: F line: N`
//! and sets exit status 1. corralctl prints the same class and message (scripts match on
//! them), and for `file:`/`line:` the place in corralctl where the error surfaced.

use std::io;
use std::panic::Location;

use corral_proto::ClientError;

/// A failure that ends the current command.
#[derive(Debug)]
pub enum CtlError {
    /// A call to the daemon failed.
    Client {
        error: ClientError,
        at: &'static Location<'static>,
    },
    /// Python's `ValueError` (unknown result codes, an unusable server URL).
    Value {
        message: String,
        at: &'static Location<'static>,
    },
    /// Any other Python exception supervisorctl would meet: `KeyError`/`TypeError` for a
    /// record without a member it reads, `OverflowError` for an int XML-RPC cannot carry.
    Python {
        class: &'static str,
        message: String,
        at: &'static Location<'static>,
    },
    /// `input()` met the end of standard input where an answer was required.
    Eof { at: &'static Location<'static> },
    /// Ctrl-C (Python's `KeyboardInterrupt`).
    Interrupted,
}

impl CtlError {
    #[cfg(test)]
    #[track_caller]
    pub fn client(error: ClientError) -> CtlError {
        CtlError::Client {
            error,
            at: Location::caller(),
        }
    }

    #[track_caller]
    pub fn value(message: impl Into<String>) -> CtlError {
        CtlError::Value {
            message: message.into(),
            at: Location::caller(),
        }
    }

    #[track_caller]
    pub fn key(member: &str) -> CtlError {
        CtlError::Python {
            class: "KeyError",
            message: corral_config::pystr::repr(member),
            at: Location::caller(),
        }
    }

    #[track_caller]
    pub fn type_error(message: impl Into<String>) -> CtlError {
        CtlError::Python {
            class: "TypeError",
            message: message.into(),
            at: Location::caller(),
        }
    }

    #[track_caller]
    pub fn python(class: &'static str, message: impl Into<String>) -> CtlError {
        CtlError::Python {
            class,
            message: message.into(),
            at: Location::caller(),
        }
    }

    #[track_caller]
    pub fn eof() -> CtlError {
        CtlError::Eof {
            at: Location::caller(),
        }
    }

    /// The fault code, if the daemon answered with a fault.
    pub fn fault(&self) -> Option<(i32, &str)> {
        match self {
            CtlError::Client {
                error: ClientError::Fault { code, text },
                ..
            } => Some((*code, text)),
            _ => None,
        }
    }

    /// The errno of a socket error, as Python's `e.args[0]`.
    pub fn errno(&self) -> Option<i32> {
        match self {
            CtlError::Client {
                error: ClientError::Io(e),
                ..
            } => os_errno(e),
            _ => None,
        }
    }

    /// True for a socket error (Python's `socket.error`), connecting or later.
    pub fn is_socket_error(&self) -> bool {
        matches!(
            self,
            CtlError::Client {
                error: ClientError::Io(_),
                ..
            }
        )
    }

    /// True for a socket error while connecting (the daemon is not there).
    pub fn is_connect_failure(&self) -> bool {
        matches!(self, CtlError::Client { error: ClientError::Io(e), .. }
            if e.to_string().starts_with("connecting to "))
    }

    /// True for HTTP 401 (Python's `ProtocolError` with errcode 401).
    pub fn is_unauthorized(&self) -> bool {
        matches!(
            self,
            CtlError::Client {
                error: ClientError::Unauthorized,
                ..
            }
        )
    }

    /// supervisorctl's `error: <class ...>, ...: file: ... line: ...` line.
    pub fn traceback_line(&self) -> String {
        let (class, message, at) = match self {
            CtlError::Client { error, at } => {
                let (class, message) = python_exception(error);
                (class, message, *at)
            }
            CtlError::Value { message, at } => ("ValueError".to_string(), message.clone(), *at),
            CtlError::Python { class, message, at } => (class.to_string(), message.clone(), *at),
            CtlError::Eof { at } => (
                "EOFError".to_string(),
                "EOF when reading a line".to_string(),
                *at,
            ),
            CtlError::Interrupted => {
                return "error: <class 'KeyboardInterrupt'>, : file: corralctl line: 0".into();
            }
        };
        format!(
            "error: <class '{class}'>, {message}: file: {} line: {}",
            at.file(),
            at.line()
        )
    }
}

/// The errno behind an io::Error from corral-proto's client, whose messages carry the
/// OS error as `... (os error N)` after the context they add.
pub fn os_errno(e: &io::Error) -> Option<i32> {
    if let Some(n) = e.raw_os_error() {
        return Some(n);
    }
    let text = e.to_string();
    let start = text.rfind("(os error ")? + "(os error ".len();
    text[start..].strip_suffix(')')?.parse().ok()
}

/// The `strerror` text of an errno, without Rust's ` (os error N)` suffix.
pub fn strerror(errno: i32) -> String {
    let text = io::Error::from_raw_os_error(errno).to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

/// Python's OSError subclass for an errno (PEP 3151).
fn oserror_class(errno: i32) -> &'static str {
    match errno {
        libc::EAGAIN | libc::EALREADY | libc::EINPROGRESS => "BlockingIOError",
        libc::ECHILD => "ChildProcessError",
        libc::EPIPE | libc::ESHUTDOWN => "BrokenPipeError",
        libc::ECONNABORTED => "ConnectionAbortedError",
        libc::ECONNREFUSED => "ConnectionRefusedError",
        libc::ECONNRESET => "ConnectionResetError",
        libc::EEXIST => "FileExistsError",
        libc::ENOENT => "FileNotFoundError",
        libc::EINTR => "InterruptedError",
        libc::EISDIR => "IsADirectoryError",
        libc::ENOTDIR => "NotADirectoryError",
        libc::EACCES | libc::EPERM => "PermissionError",
        libc::ESRCH => "ProcessLookupError",
        libc::ETIMEDOUT => "TimeoutError",
        _ => "OSError",
    }
}

/// Python's `repr` of a str, for fault strings and the like.
pub fn py_repr(s: &str) -> String {
    corral_config::pystr::repr(s)
}

/// `str(xmlrpclib.Fault)`: `<Fault 10: 'BAD_NAME: foo'>`.
pub fn fault_str(code: i32, text: &str) -> String {
    format!("<Fault {code}: {}>", py_repr(text))
}

/// The class and message Python's client would raise for `error`.
pub fn python_exception(error: &ClientError) -> (String, String) {
    match error {
        ClientError::Fault { code, text } => ("xmlrpc.client.Fault".into(), fault_str(*code, text)),
        ClientError::Unauthorized => (
            "xmlrpc.client.ProtocolError".into(),
            "<ProtocolError for 127.0.0.1/RPC2: 401 Unauthorized>".into(),
        ),
        ClientError::Http { status, reason } => (
            "xmlrpc.client.ProtocolError".into(),
            format!("<ProtocolError for 127.0.0.1/RPC2: {status} {reason}>"),
        ),
        ClientError::Io(e) => io_exception(e),
        ClientError::Protocol(m) => ("xml.parsers.expat.ExpatError".into(), m.clone()),
    }
}

fn io_exception(e: &io::Error) -> (String, String) {
    if let Some(errno) = os_errno(e) {
        return (
            oserror_class(errno).into(),
            format!("[Errno {errno}] {}", strerror(errno)),
        );
    }
    let text = e.to_string();
    if let Some(i) = text.find("failed to lookup address information: ") {
        let why = &text[i + "failed to lookup address information: ".len()..];
        let code = match why {
            "Temporary failure in name resolution" => -3,
            "Name or service not known" => -2,
            _ => -5,
        };
        return ("socket.gaierror".into(), format!("[Errno {code}] {why}"));
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof => (
            "http.client.RemoteDisconnected".into(),
            "Remote end closed connection without response".into(),
        ),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            ("TimeoutError".into(), "timed out".into())
        }
        _ => ("OSError".into(), text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect_error(errno: i32) -> CtlError {
        let base = io::Error::from_raw_os_error(errno);
        CtlError::client(ClientError::Io(io::Error::new(
            base.kind(),
            format!("connecting to unix:///x.sock: {base}"),
        )))
    }

    #[test]
    fn errno_survives_the_clients_context() {
        let e = connect_error(libc::ENOENT);
        assert_eq!(e.errno(), Some(libc::ENOENT));
        assert!(e.is_connect_failure());
        let line = e.traceback_line();
        assert!(
            line.starts_with(
                "error: <class 'FileNotFoundError'>, [Errno 2] No such file or directory: file: "
            ),
            "{line}"
        );
        assert!(
            connect_error(libc::ECONNREFUSED).traceback_line().contains(
                "<class 'ConnectionRefusedError'>, [Errno 111] Connection refused: file: "
            )
        );
    }

    #[test]
    fn python_classes_for_other_failures() {
        assert_eq!(
            python_exception(&ClientError::Fault {
                code: 10,
                text: "BAD_NAME: x".into()
            }),
            (
                "xmlrpc.client.Fault".into(),
                "<Fault 10: 'BAD_NAME: x'>".into()
            )
        );
        assert_eq!(
            python_exception(&ClientError::Http {
                status: 500,
                reason: "Internal Server Error".into()
            })
            .1,
            "<ProtocolError for 127.0.0.1/RPC2: 500 Internal Server Error>"
        );
        let eof = ClientError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "reading response from unix:///x: connection closed before a response",
        ));
        assert_eq!(python_exception(&eof).0, "http.client.RemoteDisconnected");
        assert!(
            CtlError::value("Unknown result code 30 for cat")
                .traceback_line()
                .starts_with("error: <class 'ValueError'>, Unknown result code 30 for cat: file: ")
        );
        assert!(
            CtlError::key("statename")
                .traceback_line()
                .starts_with("error: <class 'KeyError'>, 'statename': file: ")
        );
        assert_eq!(fault_str(70, "NOT_RUNNING"), "<Fault 70: 'NOT_RUNNING'>");
    }
}
