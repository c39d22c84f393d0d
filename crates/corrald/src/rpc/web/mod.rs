//! supervisord's web interface: the status page (`/`, `/index.html`) and its actions, the
//! log page (`/tail.html`), `/ok.html`, and every other path as supervisord's static file
//! handler answers it. This module routes a request and reads its form; the rest is split
//! by concern:
//!
//! * `pages`: the status and tail pages, rendered from `templates/` byte for byte as
//!   supervisord writes them;
//! * `actions`: the status page's actions (start, stop, …), run through the XML-RPC
//!   dispatcher as supervisord's web interface runs them;
//! * `assets`: supervisor 4.3.0's own `ui/` files, embedded (see `ui/NOTICE`), with
//!   medusa's static file rules;
//! * `http_date`, `escape`: medusa's HTTP dates, meld's and urllib's escaping.

mod actions;
mod assets;
mod escape;
mod http_date;
mod pages;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;

use corral_config::host::{Host, RealHost};
use corral_proto::http::{Request, Response, percent_decode};

use crate::logs::mainlog;
use crate::supervisor::Supervisor;

/// The server a connection came in on. supervisord builds two URLs from it when a
/// request has no `Host` header: an action's redirect (`SERVER_NAME:SERVER_PORT`) and a
/// directory's redirect (`SERVER_NAME` alone).
#[derive(Debug, Clone)]
pub struct Site {
    name: String,
    port: String,
}

impl Site {
    /// An `[inet_http_server]` bound to `addr` (`None`: its address is unknown).
    /// supervisord names itself by the reverse DNS name of its address (of the host name's
    /// address when bound to every address); corral uses the address itself, or the host
    /// name, since a DNS lookup could stall the daemon.
    pub fn inet(addr: Option<SocketAddr>) -> Site {
        let Some(addr) = addr else {
            return Site {
                name: RealHost.hostname(),
                port: String::new(),
            };
        };
        let name = match addr.ip() {
            ip if ip.is_unspecified() => RealHost.hostname(),
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        };
        Site {
            name,
            port: addr.port().to_string(),
        }
    }

    /// A `[unix_http_server]`: medusa's server name and, as its "port", the socket path.
    pub fn unix(path: &str) -> Site {
        Site {
            name: "<unix domain socket>".to_string(),
            port: path.to_string(),
        }
    }
}

/// Answer a request that is not XML-RPC or a log tail (credentials already checked).
pub async fn handle(sup: &Rc<Supervisor>, site: &Site, req: &Request) -> Response {
    let uri = medusa_uri(&req.target);
    let (path, params, query) = split_uri(&uri);
    let view = match path.trim_start_matches('/') {
        "" => "index.html",
        p => p,
    };
    // medusa's ui handler takes GET and POST of its three pages. A target with `;params`
    // also matches there, but the view then looks itself up with the params attached, finds
    // nothing and never answers; here such a target goes on to the file handler instead.
    let is_view = matches!(view, "index.html" | "tail.html" | "ok.html");
    if is_view && params.is_empty() && (req.method == "GET" || req.method == "POST") {
        // medusa's POST collector insists on a Content-Length (a chunked body has none).
        if req.method == "POST" && req.headers.get("content-length").is_none_or(str::is_empty) {
            return Response::error_page(411);
        }
        let form = Form::of(req, query);
        return match view {
            "index.html" => status_view(sup, site, req, &form).await,
            "tail.html" => page(pages::tail(sup, form.get("processname"), form.get("limit"))),
            _ => Response::new(200)
                .header("Content-Type", "text/plain")
                .body("OK"),
        };
    }
    assets::serve(site, req, path)
}

/// Whether the request would run one of the status page's actions (start, stop, …): the
/// read-only user is refused those.
pub fn is_action(req: &Request) -> bool {
    let uri = medusa_uri(&req.target);
    let (path, params, query) = split_uri(&uri);
    let view = match path.trim_start_matches('/') {
        "" => "index.html",
        p => p,
    };
    view == "index.html"
        && params.is_empty()
        && (req.method == "GET" || req.method == "POST")
        && Form::of(req, query).get("action").is_some()
}

/// The status page, or its action and the redirect back to it with the outcome.
async fn status_view(sup: &Rc<Supervisor>, site: &Site, req: &Request, form: &Form) -> Response {
    if let Some(action) = form.get("action") {
        let message = match actions::perform(sup, form.get("processname"), action).await {
            Ok(m) => m,
            Err(e) => return view_error(&e.to_string()),
        };
        // supervisord answers the finished action with medusa's 301 error page, keeping
        // the page's headers, and sends the browser to the status page with the result.
        let location = format!(
            "{}/?message={}",
            server_url(site, req),
            escape::quote(&message)
        );
        return no_cache(
            Response::new(301)
                .header("Location", location)
                .header("Content-Type", "text/html"),
        )
        .body(Response::error_page(301).body);
    }
    match pages::status(sup, form.get("message")) {
        Ok(body) => page(body),
        Err(e) => view_error(&format!("RPCError: {}", e.text)),
    }
}

/// The request target as medusa hands it to its handlers: the part before the last `?`
/// percent-decoded when it holds a `%` (so `/%69ndex.html` is the status page, and an
/// encoded `?` or `;` there starts a query or params).
fn medusa_uri(target: &str) -> String {
    let (path, query) = match target.rsplit_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    if !path.contains('%') {
        return target.to_string();
    }
    let mut uri = percent_decode(path);
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(query);
    }
    uri
}

/// medusa's `split_uri`: (path, `;params`, query without its `?`); a `#fragment` dropped.
fn split_uri(uri: &str) -> (&str, &str, &str) {
    let uri = uri.split_once('#').map_or(uri, |(u, _)| u);
    let (rest, query) = uri.split_once('?').unwrap_or((uri, ""));
    let params_at = rest.find(';').unwrap_or(rest.len());
    (&rest[..params_at], &rest[params_at..], query)
}

/// The headers of a rendered page (MeldView.__call__).
fn page(body: String) -> Response {
    no_cache(Response::new(200).header("Content-Type", "text/html;charset=utf-8")).body(body)
}

/// The caching headers every view's response ends with.
fn no_cache(resp: Response) -> Response {
    resp.header("Pragma", "no-cache")
        .header("Cache-Control", "no-cache")
        .header("Expires", http_date::format(0))
}

/// A view that raised in supervisord: its traceback goes to the log, the client gets a 500.
fn view_error(what: &str) -> Response {
    mainlog::error(format!("Web interface error: {what}"));
    Response::error_page(500)
}

/// supervisord's `get_server_url`: `http://` and the Host header (its port left out when it
/// is 80), or the server's own name and port when the request has none.
fn server_url(site: &Site, req: &Request) -> String {
    let host = req
        .headers
        .get_all("host")
        .map(str::trim)
        .find(|h| !h.is_empty());
    let (hostname, port) = match host {
        Some(h) => split_port(h),
        None => (site.name.as_str(), Some(site.port.as_str())),
    };
    let mut url = match port {
        Some(p) if !p.is_empty() && p != "80" => format!("http://{hostname}:{p}"),
        _ => format!("http://{hostname}"),
    };
    if url.ends_with('/') {
        url.pop();
    }
    url
}

/// `urllib.parse.splitport`: a trailing `:digits` is the port; `:` alone means none.
fn split_port(host: &str) -> (&str, Option<&str>) {
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => {
            (h, if p.is_empty() { None } else { Some(p) })
        }
        _ => (host, None),
    }
}

// ---------------------------------------------------------------------------------------
// The form: query string and POST body

/// supervisord's `form`: the query string's fields (the first of a repeated name wins),
/// then a POST body's (overriding them; the last wins), parsed as `urllib.parse.parse_qs`
/// does: `&`-separated, `+` is a space, `%XX` decoded as UTF-8, blank values dropped.
struct Form(HashMap<String, String>);

impl Form {
    fn of(req: &Request, query: &str) -> Form {
        let mut fields = HashMap::new();
        for (k, v) in parse_qsl(query) {
            fields.entry(k).or_insert(v);
        }
        if req.method == "POST" {
            fields.extend(parse_qsl(&String::from_utf8_lossy(&req.body)));
        }
        Form(fields)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

pub fn parse_qsl(qs: &str) -> Vec<(String, String)> {
    let unquote = |s: &str| percent_decode(&s.replace('+', " "));
    qs.split('&')
        .filter_map(|field| field.split_once('='))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (unquote(k), unquote(v)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_proto::http::{Limits, RequestParser};

    fn request(raw: &str) -> Request {
        let mut p = RequestParser::new(Limits::default());
        p.push(raw.as_bytes()).unwrap().unwrap()
    }

    #[test]
    fn forms_parse_like_parse_qs() {
        let f = parse_qsl("a=1&b=&c&d=x+y%2B%41&a=2&=v&e=%ff");
        assert_eq!(
            f,
            [
                ("a".into(), "1".into()),
                ("d".into(), "x y+A".into()),
                ("a".into(), "2".into()),
                ("".into(), "v".into()),
                ("e".into(), "\u{fffd}".into()),
            ]
        );
        // The query's first value wins; a POST body overrides it.
        let req = request(
            "POST /index.html?action=stopall&action=x&processname=p HTTP/1.1\r\nHost: h\r\n\
             Content-Length: 14\r\n\r\naction=refresh",
        );
        let form = Form::of(&req, req.query().unwrap_or(""));
        assert_eq!(form.get("action"), Some("refresh"));
        assert_eq!(form.get("processname"), Some("p"));
        let req = request("GET /?action=stopall&action=x HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(
            Form::of(&req, req.query().unwrap_or("")).get("action"),
            Some("stopall")
        );
    }

    #[test]
    fn server_urls() {
        let inet = Site::inet(Some("127.0.0.1:9001".parse().unwrap()));
        let unix = Site::unix("/run/s.sock");
        let url = |site: &Site, host: Option<&str>| {
            let h = host.map_or(String::new(), |h| format!("Host: {h}\r\n"));
            server_url(site, &request(&format!("GET / HTTP/1.0\r\n{h}\r\n")))
        };
        assert_eq!(url(&inet, None), "http://127.0.0.1:9001");
        assert_eq!(url(&unix, None), "http://<unix domain socket>:/run/s.sock");
        assert_eq!(url(&inet, Some("foo:80")), "http://foo");
        assert_eq!(url(&inet, Some("foo:8080")), "http://foo:8080");
        assert_eq!(url(&inet, Some("foo:")), "http://foo");
        assert_eq!(url(&inet, Some("[::1]:80")), "http://[::1]");
        assert_eq!(url(&inet, Some("[::1]")), "http://[::1]");
        assert_eq!(url(&inet, Some("h:x/")), "http://h:x");
        let port80 = Site::inet(Some("10.0.0.1:80".parse().unwrap()));
        assert_eq!(url(&port80, None), "http://10.0.0.1");
    }

    #[test]
    fn uris_split_like_medusa() {
        assert_eq!(split_uri("/a;b?c#d"), ("/a", ";b", "c"));
        assert_eq!(split_uri("/a?b;c?d"), ("/a", "", "b;c?d"));
        assert_eq!(split_uri("/a#b?c"), ("/a", "", ""));
        assert_eq!(medusa_uri("/%69ndex.html"), "/index.html");
        assert_eq!(medusa_uri("/x%3Fa=%41?b=%42"), "/x?a=A?b=%42");
        assert_eq!(medusa_uri("/x%3B?"), "/x;");
        assert_eq!(medusa_uri("/?a=%41"), "/?a=%41");
    }
}
