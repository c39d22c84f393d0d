//! One HTTP connection: parse requests (with limits), check credentials, route, answer;
//! keep the connection alive as HTTP/1.1 says.
//!
//! Routes: `/RPC2` (XML-RPC), `/logtail/…` and `/mainlogtail` (log tails), `/metrics`
//! (Prometheus), `/api/…` (the JSON API and its event stream), `/dashboard/…` (corral's
//! dashboard), and everything else supervisord's web interface. The same credentials
//! everywhere; the read-only user's actions are refused with 403 on every route.
//!
//! A slow or hostile client can't exhaust the daemon: headers and bodies are size-limited by
//! the parser; a new connection must start its request within [`FIRST_REQUEST_TIMEOUT`],
//! a keep-alive connection its next one within [`IDLE_TIMEOUT`], and a request must arrive
//! completely within [`REQUEST_TIMEOUT`]; each server keeps a bounded pool of connections
//! (`limits.rs`), which closes the longest-waiting one to make room; and failed
//! authentications are logged and slowed per client (`auth_guard.rs`).

use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use corral_proto::http::{
    Limits, Request, RequestParser, Response, WWW_AUTHENTICATE, check_credentials, parse_basic_auth,
};

use super::Auth;
use super::auth_guard::{AuthGuard, Role};
use super::health_endpoint;
use super::limits::{Peer, Pool, Ticket};
use super::logtail;
use super::web::{self, Site};
use super::{api, dashboard, dispatch, metrics};
use crate::supervisor::Supervisor;

/// A new connection that has not sent a byte by then is closed: an idle connection costs
/// a descriptor and a place in the pool, and a real client sends its request at once.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a keep-alive connection may wait for its next request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// A request, once started, must arrive completely within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the connections of one server share.
#[derive(Debug)]
pub struct Server {
    /// Its section name, for the log.
    pub section: String,
    pub site: Site,
    pub pool: Rc<Pool>,
    pub guard: Rc<AuthGuard>,
}

/// Serve a connection from `peer`, if the server's pool has room for it (else it is
/// closed at once; the pool counts and reports it).
pub fn spawn<S>(stream: S, peer: Peer, sup: Rc<Supervisor>, auth: Rc<Auth>, server: &Rc<Server>)
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let Some(ticket) = server.pool.admit(&peer) else {
        return; // dropping the stream closes it
    };
    let server = server.clone();
    tokio::task::spawn_local(async move {
        serve(stream, &peer, &sup, &auth, &server, &ticket).await;
    });
}

async fn serve<S>(
    mut stream: S,
    peer: &Peer,
    sup: &Rc<Supervisor>,
    auth: &Auth,
    server: &Server,
    ticket: &Ticket,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut parser = RequestParser::new(Limits::default());
    let mut buf = vec![0u8; 16 * 1024];
    let mut idle = FIRST_REQUEST_TIMEOUT;
    loop {
        // Wait for the start of the next request (idle), then for all of it.
        ticket.waiting();
        let next = next_request(&mut stream, &mut parser, &mut buf, idle, ticket).await;
        ticket.busy();
        idle = IDLE_TIMEOUT;
        let request = match next {
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
        let credentials = check(&request, auth);
        // corral: the health endpoint answers probes that send no credentials.
        let health = request.path() == health_endpoint::PATH
            && !matches!(credentials, Credentials::Wrong(_));
        let authorized = matches!(credentials, Credentials::Accepted(_));
        let role = match credentials {
            Credentials::Accepted(role) => role,
            _ if health => Role::ReadOnly,
            refused => {
                if let Credentials::Wrong(user) = refused {
                    let delay = server.guard.failed(peer, user.as_deref(), &server.section);
                    // This connection's answer waits; nothing else does.
                    tokio::time::sleep(delay).await;
                }
                let resp = Response::error_page(401)
                    .version(request.version)
                    .header("WWW-Authenticate", WWW_AUTHENTICATE);
                if stream.write_all(&resp.to_bytes()).await.is_err() || !keep_alive {
                    return;
                }
                continue;
            }
        };
        let path = request.path();
        let resp = if health {
            health_endpoint::handle(sup, &request, authorized)
        } else if path.starts_with("/RPC2") {
            if request.method == "POST" {
                dispatch::handle_http(sup, &request.body, role).await
            } else {
                Response::error_page(400)
            }
        } else if path == "/metrics" {
            metrics::handle(sup, &request)
        } else if path.starts_with("/api/") {
            match api::handle(sup, &request, role).await {
                api::Answer::Now(resp) => resp,
                // A stream lasts as long as the client; the connection ends with it.
                api::Answer::Events(opts) => {
                    api::events::serve(stream, sup, &request, opts).await;
                    return;
                }
                api::Answer::Follow(path, file, start) => {
                    logtail::serve_from(stream, &request, path, file, start).await;
                    return;
                }
            }
        } else if path == "/dashboard" || path.starts_with("/dashboard/") {
            dashboard::serve(&request)
        } else if role == Role::ReadOnly && web::is_action(&request) {
            // supervisord's page stays as it is for its users; the read-only one may look.
            Response::error_page(403)
        } else if path.starts_with("/logtail") || path.starts_with("/mainlogtail") {
            match logtail::open(sup, &request) {
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
            web::handle(sup, &server.site, &request).await
        };
        let resp = finish(resp, &request, keep_alive);
        if send(&mut stream, &resp).await.is_err() || !keep_alive {
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

/// What a request's credentials are worth.
enum Credentials {
    /// Right (the full or the read-only user's), or none needed.
    Accepted(Role),
    /// None sent (a browser's first request, before it asks its user): not an attempt.
    Missing,
    /// Wrong: an attempt, by this user name if it could be read.
    Wrong(Option<String>),
}

fn check(req: &Request, auth: &Auth) -> Credentials {
    let Some(user) = &auth.username else {
        return Credentials::Accepted(Role::Full);
    };
    let password = auth.password.as_deref().unwrap_or("");
    let Some(h) = req.headers.get("Authorization") else {
        return Credentials::Missing;
    };
    if check_credentials(h, user, password) {
        return Credentials::Accepted(Role::Full);
    }
    if let Some(ro) = &auth.readonly_username {
        let ro_password = auth.readonly_password.as_deref().unwrap_or("");
        if check_credentials(h, ro, ro_password) {
            return Credentials::Accepted(Role::ReadOnly);
        }
    }
    Credentials::Wrong(parse_basic_auth(h).map(|(user, _)| user))
}

/// Read until a whole request is parsed, the client starting it within `idle`.
/// `Ok(None)`: the client closed, idled out, or the pool closed the connection for room.
async fn next_request<S>(
    stream: &mut S,
    parser: &mut RequestParser,
    buf: &mut [u8],
    idle: Duration,
    ticket: &Ticket,
) -> Result<Option<Request>, Response>
where
    S: AsyncRead + Unpin,
{
    let mut started = parser.has_partial_request();
    let mut deadline = tokio::time::Instant::now() + if started { REQUEST_TIMEOUT } else { idle };
    loop {
        match parser.next_request() {
            Ok(Some(r)) => return Ok(Some(r)),
            Ok(None) => {}
            Err(e) => return Err(e.to_response()),
        }
        // `Expect: 100-continue` goes unanswered, as medusa leaves it: clients that wait
        // for it send the body after a short timeout anyway.
        let read = tokio::select! {
            r = tokio::time::timeout_at(deadline, stream.read(buf)) => r,
            () = ticket.evicted() => return Ok(None),
        };
        let n = match read {
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

/// Write `resp` with vectored writes: its head and its body as they are, without first
/// copying them into one buffer (a big answer is megabytes), and in one packet when small.
async fn send<S>(stream: &mut S, resp: &Response) -> std::io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    let (head, body, tail) = resp.wire_parts();
    let mut parts: [&[u8]; 3] = [&head, body, tail];
    loop {
        let rest: Vec<std::io::IoSlice<'_>> = parts
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| std::io::IoSlice::new(p))
            .collect();
        if rest.is_empty() {
            return Ok(());
        }
        let mut n = stream.write_vectored(&rest).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        for p in &mut parts {
            let k = n.min(p.len());
            *p = &p[k..];
            n -= k;
        }
    }
}
