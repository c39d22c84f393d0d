//! The protocol vocabulary that `corrald` and `corralctl` share.
//!
//! * [`xmlrpc`]: supervisord's XML-RPC wire format. Responses are byte-identical to what
//!   supervisord sends (Python's `xmlrpc.client.dumps`), except that corral never emits a
//!   character XML 1.0 forbids (supervisord does, and breaks its own clients).
//! * [`http`]: an incremental HTTP/1.1 request parser with limits, response building,
//!   chunked encoding and supervisord's basic-auth rule (plain or `{SHA}` passwords).
//! * [`api`]: fault codes, process and supervisor states, `getProcessInfo` records and their
//!   `description` text, namespecs, and the `system.*` method table.
//! * [`localtime`]: the broken-down local time of a timestamp (corrald's log, descriptions,
//!   the web interface).
//! * [`getopt`]: Python's `getopt`, which both supervisord and supervisorctl read their
//!   command lines with.
//! * [`client`]: a blocking XML-RPC client over a unix socket or TCP, plus the streaming
//!   `GET /logtail/...` that `tail -f` uses.
//! * [`notify`]: systemd's sd_notify datagrams, parsed as systemd parses them.
//! * [`listener`]: supervisord's eventlistener protocol (`READY`, `RESULT <len>`), as an
//!   incremental parser.
//!
//! Nothing here is async: the daemon drives the pure parsers from its own event loop.

pub mod api;
mod b64;
pub mod calendar;
pub mod client;
pub mod getopt;
pub mod http;
pub mod listener;
pub mod localtime;
pub mod notify;
pub mod xmlrpc;

pub use api::{Fault, ProcessInfo, ProcessState, SupervisorState};
pub use client::{Client, ClientError, ServerUrl};
pub use xmlrpc::{Call, DecodeError, FaultResponse, Value};
