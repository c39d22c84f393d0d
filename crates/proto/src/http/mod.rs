//! HTTP/1.1 framing for supervisord's endpoints (`POST /RPC2`, `GET /logtail/...`,
//! `GET /mainlogtail`): a pure incremental request parser with limits, response building
//! with chunked streaming, and basic auth.

mod auth;
mod request;
mod response;

pub use auth::{
    WWW_AUTHENTICATE, basic_auth_header, check_credentials, constant_time_eq, parse_basic_auth,
    password_matches,
};
pub use request::{Headers, HttpError, Limits, Request, RequestParser, Version, percent_decode};
pub(crate) use response::status_has_no_body;
pub use response::{LAST_CHUNK, Response, encode_chunk, http_date, reason_phrase};

impl HttpError {
    /// The response to send for this error (medusa's error page, `Connection: close`).
    pub fn to_response(&self) -> Response {
        Response::error_page(self.status).header("Connection", "close")
    }
}
