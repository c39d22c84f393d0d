//! One HTTP connection: parse requests (with limits), check credentials, route, answer;
//! keep the connection alive as HTTP/1.1 says.
//!
//! A slow or hostile client can't exhaust the daemon: headers and bodies are size-limited by
//! the parser, a request must arrive completely within [`REQUEST_TIMEOUT`], an idle
//! keep-alive connection is closed after [`IDLE_TIMEOUT`], and at most
//! [`MAX_CONNECTIONS`] are served at once (more are closed at once).

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use corral_proto::http::{
    Limits, Request, RequestParser, Response, WWW_AUTHENTICATE, check_credentials,
};

use super::Auth;
use super::logtail;
use super::methods;
use super::web::{self, Site};
use crate::mainlog;
use crate::supervisor::Supervisor;

const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_CONNECTIONS: usize = 512;

/// Counts open connections.
#[derive(Debug, Default)]
pub struct Limiter {
    open: Cell<usize>,
}

struct Slot(Rc<Limiter>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get() - 1);
    }
}

pub fn spawn<S>(
    stream: S,
    sup: Rc<Supervisor>,
    auth: Rc<Auth>,
    site: Rc<Site>,
    limiter: &Rc<Limiter>,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    if limiter.open.get() >= MAX_CONNECTIONS {
        mainlog::warn("too many open HTTP connections; refusing one");
        return; // dropping the stream closes it
    }
    limiter.open.set(limiter.open.get() + 1);
    let slot = Slot(limiter.clone());
    tokio::task::spawn_local(async move {
        let _slot = slot;
        serve(stream, sup, auth, site).await;
    });
}

async fn serve<S>(mut stream: S, sup: Rc<Supervisor>, auth: Rc<Auth>, site: Rc<Site>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut parser = RequestParser::new(Limits::default());
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        // Wait for the start of the next request (idle), then for all of it.
        let request = match next_request(&mut stream, &mut parser, &mut buf).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(resp) => {
                if stream.write_all(&resp.to_bytes()).await.is_ok() {
                    linger(&mut stream).await;
                }
                return;
            }
        };
        let keep_alive = request.keep_alive();
        if !authorized(&request, &auth) {
            let resp = Response::error_page(401)
                .version(request.version)
                .header("WWW-Authenticate", WWW_AUTHENTICATE);
            if stream.write_all(&resp.to_bytes()).await.is_err() || !keep_alive {
                return;
            }
            continue;
        }
        let path = request.path();
        let resp = if path.starts_with("/RPC2") {
            if request.method == "POST" {
                methods::handle_http(&sup, &request.body).await
            } else {
                Response::error_page(400)
            }
        } else if path.starts_with("/logtail") || path.starts_with("/mainlogtail") {
            match logtail::open(&sup, &request) {
                // A tail streams until the client goes away; the connection ends with it.
                Ok((path, file)) => {
                    logtail::serve(stream, &request, path, file).await;
                    return;
                }
                Err(resp) => resp,
            }
        } else {
            // Everything else is supervisord's web interface: its pages, and its static
            // file handler (which answers any other path, mostly with a 404).
            web::handle(&sup, &site, &request).await
        };
        let resp = finish(resp, &request, keep_alive);
        if stream.write_all(&resp.to_bytes()).await.is_err() || !keep_alive {
            return;
        }
    }
}

/// After refusing a request (413, 431, 400…) the client may still be sending its body.
/// Closing a socket with unread input makes the kernel send a reset, which can destroy the
/// error response before the client reads it; so stop writing, then read and discard
/// for a bounded time and amount (a "lingering close") before closing.
async fn linger<S>(stream: &mut S)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    const LINGER: Duration = Duration::from_secs(2);
    const LINGER_BYTES: usize = 64 * 1024 * 1024;
    if stream.shutdown().await.is_err() {
        return;
    }
    let deadline = tokio::time::Instant::now() + LINGER;
    let mut buf = vec![0u8; 64 * 1024];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => drained += n,
            _ => return,
        }
    }
}

/// medusa's headers: `Connection: Keep-Alive` answers an HTTP/1.0 client that asked for
/// it. A connection closes only when the client asked (1.1 with `Connection: close`, 1.0
/// without keep-alive), so, as medusa, nothing needs saying then.
fn finish(resp: Response, req: &Request, keep_alive: bool) -> Response {
    let resp = resp.version(req.version);
    if keep_alive && req.version == corral_proto::http::Version::Http10 {
        resp.header("Connection", "Keep-Alive")
    } else {
        resp
    }
}

fn authorized(req: &Request, auth: &Auth) -> bool {
    let Some(user) = &auth.username else {
        return true;
    };
    let password = auth.password.as_deref().unwrap_or("");
    req.headers
        .get("Authorization")
        .is_some_and(|h| check_credentials(h, user, password))
}

/// Read until a whole request is parsed. `Ok(None)`: the client closed or idled out.
async fn next_request<S>(
    stream: &mut S,
    parser: &mut RequestParser,
    buf: &mut [u8],
) -> Result<Option<Request>, Response>
where
    S: AsyncRead + Unpin,
{
    let mut started = parser.has_partial_request();
    let mut deadline = tokio::time::Instant::now()
        + if started {
            REQUEST_TIMEOUT
        } else {
            IDLE_TIMEOUT
        };
    loop {
        match parser.next_request() {
            Ok(Some(r)) => return Ok(Some(r)),
            Ok(None) => {}
            Err(e) => return Err(e.to_response()),
        }
        // `Expect: 100-continue` goes unanswered, as medusa leaves it: clients that wait
        // for it send the body after a short timeout anyway.
        let n = match tokio::time::timeout_at(deadline, stream.read(buf)).await {
            Err(_) => {
                return if started {
                    Err(Response::error_page(408).header("Connection", "close"))
                } else {
                    Ok(None)
                };
            }
            Ok(Err(_)) | Ok(Ok(0)) => return Ok(None),
            Ok(Ok(n)) => n,
        };
        parser.feed(&buf[..n]);
        if !started {
            started = true;
            deadline = tokio::time::Instant::now() + REQUEST_TIMEOUT;
        }
    }
}
