//! supervisord's web interface: the status page (`/`, `/index.html`) and its actions, the
//! log page (`/tail.html`), `/ok.html`, and every other path as supervisord's static file
//! handler answers it, from the files of supervisor 4.3.0's `ui/` directory (embedded from
//! `ui/`; see `ui/NOTICE`).
//!
//! The pages are the bytes supervisord writes: its meld3 templates as meld serializes them
//! (attributes in lexical order, `meld:id`s and namespace declarations dropped, repeated
//! elements separated by the template element's trailing whitespace), with meld's escaping.
//! An action runs the same XML-RPC method supervisord's web interface calls
//! ([`methods::dispatch`]), waits for it as supervisord's deferred callback does, then
//! redirects (301) to `/?message=…` with supervisord's wording of the result.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use corral_config::host::{Host, RealHost};
use corral_proto::api::{self, Fault, ProcessState, make_namespec};
use corral_proto::calendar::{MONTHS, days_from_civil};
use corral_proto::http::{Request, Response, http_date, percent_decode};
use corral_proto::xmlrpc::Value;

use super::methods::{self, RpcError, check_running, process_info};
use crate::mainlog;
use crate::supervisor::Supervisor;
use crate::sys;

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

/// One embedded file of supervisor's `ui/` directory: its path there, its bytes, and the
/// type Python's `mimetypes` gives its extension.
struct File {
    path: &'static str,
    data: &'static [u8],
    content_type: &'static str,
}

const FILES: &[File] = &[
    File {
        path: "status.html",
        data: include_bytes!("ui/status.html"),
        content_type: "text/html",
    },
    File {
        path: "tail.html",
        data: include_bytes!("ui/tail.html"),
        content_type: "text/html",
    },
    File {
        path: "stylesheets/supervisor.css",
        data: include_bytes!("ui/stylesheets/supervisor.css"),
        content_type: "text/css",
    },
    File {
        path: "images/icon.png",
        data: include_bytes!("ui/images/icon.png"),
        content_type: "image/png",
    },
    File {
        path: "images/rule.gif",
        data: include_bytes!("ui/images/rule.gif"),
        content_type: "image/gif",
    },
    File {
        path: "images/state0.gif",
        data: include_bytes!("ui/images/state0.gif"),
        content_type: "image/gif",
    },
    File {
        path: "images/state1.gif",
        data: include_bytes!("ui/images/state1.gif"),
        content_type: "image/gif",
    },
    File {
        path: "images/state2.gif",
        data: include_bytes!("ui/images/state2.gif"),
        content_type: "image/gif",
    },
    File {
        path: "images/state3.gif",
        data: include_bytes!("ui/images/state3.gif"),
        content_type: "image/gif",
    },
    File {
        path: "images/supervisor.gif",
        data: include_bytes!("ui/images/supervisor.gif"),
        content_type: "image/gif",
    },
];

/// The directories of `ui/` ("" is `ui/` itself). None holds an `index.html` or
/// `default.html`, so a directory is always a 404 (after the redirect to its `/` form).
const DIRS: &[&str] = &["", "images", "stylesheets"];

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
            "tail.html" => tail_view(sup, &form),
            _ => Response::new(200)
                .header("Content-Type", "text/plain")
                .body("OK"),
        };
    }
    static_file(site, req, path)
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
        .header("Expires", http_date(0))
}

/// A view that raised in supervisord: its traceback goes to the log, the client gets a 500.
fn view_error(what: &str) -> Response {
    mainlog::error(format!("Web interface error: {what}"));
    Response::error_page(500)
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

fn parse_qsl(qs: &str) -> Vec<(String, String)> {
    let unquote = |s: &str| percent_decode(&s.replace('+', " "));
    qs.split('&')
        .filter_map(|field| field.split_once('='))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (unquote(k), unquote(v)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// The status page and its actions

async fn status_view(sup: &Rc<Supervisor>, site: &Site, req: &Request, form: &Form) -> Response {
    if let Some(action) = form.get("action") {
        let message = match perform(sup, form.get("processname"), action).await {
            Ok(m) => m,
            Err(e) => return view_error(&e),
        };
        // supervisord answers the finished action with medusa's 301 error page, keeping
        // the page's headers, and sends the browser to the status page with the result.
        let location = format!("{}/?message={}", server_url(site, req), quote(&message));
        return no_cache(
            Response::new(301)
                .header("Location", location)
                .header("Content-Type", "text/html"),
        )
        .body(Response::error_page(301).body);
    }
    match render_status(sup, form.get("message")) {
        Ok(body) => page(body),
        Err(e) => view_error(&format!("RPCError: {}", e.text)),
    }
}

/// Run an action; `Ok(message)` for the redirect, `Err` where supervisord's view raises
/// (an unknown action, or a process action without a process name: a 500).
async fn perform(
    sup: &Rc<Supervisor>,
    namespec: Option<&str>,
    action: &str,
) -> Result<String, String> {
    match action {
        "refresh" => return Ok(format!("Page refreshed at {}", ctime())),
        "stopall" => {
            // An RPC error here (shutting down) escapes supervisord's view: a 500.
            call(sup, "supervisor.stopAllProcesses", vec![])
                .await
                .map_err(|e| format!("RPCError: {}", e.text))?;
            return Ok(format!("All stopped at {}", ctime()));
        }
        "restartall" => {
            // system.multicall reports each call's fault in its result; it never fails.
            let _ = call(
                sup,
                "system.multicall",
                vec![Value::Array(vec![
                    multicall_entry("supervisor.stopAllProcesses", vec![]),
                    multicall_entry("supervisor.startAllProcesses", vec![]),
                ])],
            )
            .await;
            return Ok(format!("All restarted at {}", ctime()));
        }
        _ => {}
    }
    let Some(namespec) = namespec else {
        return Err(format!("ValueError: {action}"));
    };
    if methods::named_process(sup, namespec).is_err() {
        return Ok(format!("No such process named {namespec}"));
    }
    let name = || vec![Value::from(namespec)];
    let unexpected = |e: &RpcError| format!("unexpected rpc fault [{}] {}", e.code, e.text);
    match action {
        "start" => Ok(match call(sup, "supervisor.startProcess", name()).await {
            Ok(_) => format!("Process {namespec} started"),
            Err(e) => {
                let why = match e.code {
                    c if c == Fault::NoFile.code() => "no such file".to_string(),
                    c if c == Fault::NotExecutable.code() => "file not executable".to_string(),
                    c if c == Fault::AlreadyStarted.code() => "already started".to_string(),
                    c if c == Fault::SpawnError.code() => "spawn error".to_string(),
                    c if c == Fault::AbnormalTermination.code() => {
                        "abnormal termination".to_string()
                    }
                    _ => unexpected(&e),
                };
                format!("ERROR: Process {namespec}: {why}")
            }
        }),
        "stop" => Ok(match call(sup, "supervisor.stopProcess", name()).await {
            Ok(_) => format!("Process {namespec} stopped"),
            Err(e) => unexpected(&e),
        }),
        "restart" => {
            let _ = call(
                sup,
                "system.multicall",
                vec![Value::Array(vec![
                    multicall_entry("supervisor.stopProcess", name()),
                    multicall_entry("supervisor.startProcess", name()),
                ])],
            )
            .await;
            Ok(format!("Process {namespec} restarted"))
        }
        "clearlog" => Ok(
            match call(sup, "supervisor.clearProcessLogs", name()).await {
                Ok(_) => format!("Log for {namespec} cleared"),
                Err(e) => unexpected(&e),
            },
        ),
        _ => Err(format!("ValueError: {action}")),
    }
}

async fn call(sup: &Rc<Supervisor>, method: &str, params: Vec<Value>) -> Result<Value, RpcError> {
    methods::dispatch(sup.clone(), method.to_string(), params).await
}

fn multicall_entry(method: &str, params: Vec<Value>) -> Value {
    Value::structure([
        ("methodName", Value::from(method)),
        ("params", Value::Array(params)),
    ])
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

/// The actions each state offers (StatusView.actions_for_process), `None` for a hidden slot.
fn actions(
    namespec_quoted: &str,
    state: ProcessState,
) -> [Option<(&'static str, String, bool)>; 5] {
    let action = |name: &'static str, what: &str| {
        Some((
            name,
            format!("index.html?processname={namespec_quoted}&amp;action={what}"),
            false,
        ))
    };
    let clearlog = action("Clear Log", "clearlog");
    let stdout = Some(("Tail -f Stdout", format!("logtail/{namespec_quoted}"), true));
    let stderr = Some((
        "Tail -f Stderr",
        format!("logtail/{namespec_quoted}/stderr"),
        true,
    ));
    match state {
        ProcessState::Running => [
            action("Restart", "restart"),
            action("Stop", "stop"),
            clearlog,
            stdout,
            stderr,
        ],
        ProcessState::Stopped | ProcessState::Exited | ProcessState::Fatal => {
            [action("Start", "start"), None, clearlog, stdout, stderr]
        }
        _ => [None, None, clearlog, stdout, stderr],
    }
}

fn css_class(state: ProcessState) -> &'static str {
    match state {
        ProcessState::Running => "statusrunning",
        ProcessState::Fatal | ProcessState::Backoff => "statuserror",
        _ => "statusnominal",
    }
}

const DOCTYPE: &str = "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \
                       \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">\n";

const STATUS_HEAD: &str = r#"<html>
<head>
  <title>Supervisor Status</title>
  <link href="stylesheets/supervisor.css" rel="stylesheet" type="text/css" />
  <link href="images/icon.png" rel="icon" type="image/png" />
</head>
<body>
<div id="wrapper">

  <div id="header">
    <img alt="Supervisor status" src="images/supervisor.gif" />
  </div>

  <div>
    "#;

const STATUS_BUTTONS: &str = r#"

    <form action="index.html" method="post">
      <ul class="clr" id="buttons">
        <li class="action-button"><a href="index.html?action=refresh">Refresh</a></li>
        <li class="action-button"><a href="index.html?action=restartall">Restart All</a></li>
        <li class="action-button"><a href="index.html?action=stopall">Stop All</a></li>
      </ul>

      "#;

const STATUS_TABLE_HEAD: &str = r#"<table cellspacing="0">
        <thead>
        <tr>
          <th class="state">State</th>
          <th class="desc">Description</th>
          <th class="name">Name</th>
          <th class="action">Action</th>
        </tr>
        </thead>

        <tbody>
          "#;

const STATUS_TABLE_TAIL: &str = "</tbody>\n      </table>\n    ";

const STATUS_FOOT: &str = r#"</form>

  </div>

  <div class="push">
  </div>
</div>

<div class="clr" id="footer">
  <div class="left">
    <a href="http://supervisord.org">Supervisor</a> <span>"#;

/// StatusView.render: the processes sorted by (group, name), each with its state, its
/// description, a link to its tail page and its actions.
fn render_status(sup: &Supervisor, message: Option<&str>) -> Result<String, RpcError> {
    let mut procs: Vec<_> = sup.groups().into_iter().flat_map(|g| g.processes).collect();
    procs.sort_by(|a, b| (a.group(), a.name()).cmp(&(b.group(), b.name())));
    // Each row is a getProcessInfo call, which fails once shutdown began.
    if !procs.is_empty() {
        check_running(sup)?;
    }
    let mut out = String::with_capacity(4096 + procs.len() * 1600);
    out.push_str(DOCTYPE);
    out.push_str(STATUS_HEAD);
    match message {
        Some(m) => {
            out.push_str(r#"<div class="status_msg">"#);
            out.push_str(&meld_text(m));
            out.push_str("</div>");
        }
        None => out.push_str(r##"<div class="hidden">#</div>"##),
    }
    out.push_str(STATUS_BUTTONS);
    if procs.is_empty() {
        // meld replaces the table, and the whitespace after it, with this text.
        out.push_str("No programs to manage");
    } else {
        out.push_str(STATUS_TABLE_HEAD);
        for (i, p) in procs.iter().enumerate() {
            let info = process_info(p);
            let namespec = make_namespec(p.group(), p.name());
            let quoted = quote(&namespec);
            out.push_str(&format!(
                "<tr class=\"{shade}\">\n            \
                 <td class=\"status\"><span class=\"{css}\">{state}</span></td>\n            \
                 <td><span>{desc}</span></td>\n            \
                 <td><a href=\"{href}\" target=\"_blank\">{name}</a></td>\n            \
                 <td class=\"action\">\n              <ul>\n                ",
                shade = if i % 2 == 1 { "shade" } else { "" },
                css = css_class(info.state),
                state = info.state.name().to_lowercase(),
                desc = meld_text(&info.description),
                href = meld_attr(&format!("tail.html?processname={quoted}")),
                name = meld_text(&namespec),
            ));
            for action in actions(&quoted, info.state) {
                out.push_str("<li>\n                  ");
                match action {
                    None => out.push_str(r##"<a class="hidden" href="#" name="#">Action</a>"##),
                    Some((name, href, blank)) => {
                        out.push_str(&format!(
                            "<a href=\"{}\" name=\"{}\"{}>{}</a>",
                            meld_attr(&href),
                            meld_attr(name),
                            if blank { " target=\"_blank\"" } else { "" },
                            meld_text(name)
                        ));
                    }
                }
                out.push_str("\n                </li>\n              ");
            }
            out.push_str("</ul>\n            </td>\n          </tr>\n        ");
        }
        out.push_str(STATUS_TABLE_TAIL);
    }
    out.push_str(STATUS_FOOT);
    out.push_str(api::SUPERVISOR_VERSION);
    out.push_str("</span>\n  </div>\n  <div class=\"right\">\n    &copy; 2006-<span>");
    out.push_str(&LocalTime::now().year.to_string());
    out.push_str(
        "</span> <strong><a href=\"http://agendaless.com/\">Agendaless Consulting and \
         Contributors</a></strong>\n  </div>\n</div>\n</body>\n</html>",
    );
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The tail page

/// TailView: the last `limit` (at least 1024) bytes of a process's stdout log.
fn tail_view(sup: &Supervisor, form: &Form) -> Response {
    let name = form.get("processname").filter(|n| !n.is_empty());
    let (text, refresh) = match name {
        None => ("No process name found".to_string(), None),
        Some(name) => {
            let (bytes, limit) = tail_limit(form.get("limit").unwrap_or("1024"));
            let text = match read_stdout_tail(sup, name, bytes) {
                Ok(t) => t,
                Err(e) if e.code == Fault::NoFile.code() => format!("No file for {name}"),
                Err(e) => format!("ERROR: unexpected rpc fault [{}] {}", e.code, e.text),
            };
            let href = format!(
                "tail.html?processname={}&limit={}",
                quote(name),
                quote(&limit)
            );
            (text, Some(href))
        }
    };
    let mut out = String::with_capacity(600 + text.len());
    out.push_str(DOCTYPE);
    out.push_str("<html>\n<head>\n  <title>");
    out.push_str(&meld_text(&format!(
        "Supervisor tail of process {}",
        name.unwrap_or("None")
    )));
    out.push_str("</title>\n</head>\n<body>\n\n<div>\n\n<pre>");
    out.push_str(&meld_text(&text));
    out.push_str(
        "</pre>\n\n<form action=\"index.html\" method=\"POST\">\n\n\
         <div style=\"margin-top: 10px;\">\n  ",
    );
    if let Some(href) = refresh {
        out.push_str(&format!(
            "<a href=\"{}\">\n    <input name=\"refresh\" type=\"button\" value=\" Refresh \" />\n  </a>\n",
            meld_attr(&href)
        ));
    }
    out.push_str("</div>\n\n</form>\n\n</div>\n\n</body>\n</html>");
    page(out)
}

/// TailView's `limit`: `min(-1024, -int(limit))` when it is all digits, else -1024; as
/// (bytes to read, the number the refresh link repeats).
fn tail_limit(text: &str) -> (u64, String) {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return (1024, "1024".to_string());
    }
    let digits = text.trim_start_matches('0');
    // More digits than a u64 holds: more bytes than any file has.
    let n = if digits.is_empty() {
        0
    } else {
        digits.parse::<u64>().unwrap_or(u64::MAX)
    };
    if n <= 1024 {
        (1024, "1024".to_string())
    } else {
        (n, digits.to_string())
    }
}

/// `readProcessStdoutLog(name, -bytes, 0)` as TailView calls it, with the same faults, but
/// the text as the log holds it: XML-RPC must replace the characters XML forbids (ESC of
/// coloured output…), an HTML page shows them as supervisord does. Invalid UTF-8, and a
/// slice starting inside a character, become U+FFFD (supervisord fails with a 500).
fn read_stdout_tail(sup: &Supervisor, name: &str, bytes: u64) -> Result<String, RpcError> {
    check_running(sup)?;
    let path = methods::existing_file(methods::process_log(sup, name, false)?)?;
    // A `limit` past i64::MAX (many digits) reads the whole file either way.
    let offset = -i64::try_from(bytes).unwrap_or(i64::MAX);
    let data = methods::read_bytes(&path, offset, 0)?;
    Ok(String::from_utf8_lossy(&data).into_owned())
}

// ---------------------------------------------------------------------------------------
// Static files (medusa's default_handler over supervisor's ui/ directory)

fn static_file(site: &Site, req: &Request, path: &str) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::error_page(400);
    }
    // The handler unquotes the path once more.
    let unquoted = if path.contains('%') {
        percent_decode(path)
    } else {
        path.to_string()
    };
    let path = unquoted.trim_start_matches('/');
    let normal = normalize(path);
    if DIRS.contains(&normal.as_str()) {
        if !path.is_empty() && !path.ends_with('/') {
            return Response::error_page(301)
                .header("Location", format!("http://{}/{path}/", site.name));
        }
        return Response::error_page(404);
    }
    let Some(file) = FILES.iter().find(|f| f.path == normal) else {
        return Response::error_page(404);
    };
    let mtime = files_mtime();
    if let Some(since) = req.headers.get("if-modified-since") {
        if let Some((date, length)) = if_modified_since(since) {
            let length_match = length.is_none_or(|l| l == file.data.len() as u64);
            if length_match && date != 0 && mtime <= date {
                return Response::new(304);
            }
        }
    }
    // medusa guesses the type from the path as requested: `images/icon.png/` (the same
    // file) has no extension, so it is text/plain.
    let named = path.rsplit('/').next() == file.path.rsplit('/').next();
    let resp = Response::new(200)
        .header("Last-Modified", http_date(mtime))
        .header("Content-Length", file.data.len().to_string())
        .header(
            "Content-Type",
            if named {
                file.content_type
            } else {
                "text/plain"
            },
        );
    if req.method == "GET" {
        resp.body(file.data)
    } else {
        resp
    }
}

/// The path medusa's filesystem resolves: empty segments and `.` dropped, `..` going up
/// (never above the root); "" for the root itself.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

/// The files' modification time. supervisord serves the installed files with their own
/// mtime (when the package was installed); the embedded files are as old as the corrald
/// executable that carries them.
fn files_mtime() -> i64 {
    static MTIME: OnceLock<i64> = OnceLock::new();
    *MTIME.get_or_init(|| {
        std::env::current_exe()
            .and_then(std::fs::metadata)
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| SystemTime::now())
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    })
}

/// medusa's `If-Modified-Since: DATE[; length=N]`: (the date as Unix time, 0 when medusa
/// cannot parse it; N). `None` when the value has another shape (the header is ignored).
fn if_modified_since(value: &str) -> Option<(i64, Option<u64>)> {
    let (date, rest) = match value.split_once(';') {
        Some((d, r)) => (d, Some(r)),
        None => (value, None),
    };
    if date.is_empty() {
        return None;
    }
    let length = match rest {
        None => None,
        Some(r) => {
            let n = r
                .get(..8)
                .filter(|p| p.eq_ignore_ascii_case(" length="))
                .map(|_| &r[8..])
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))?;
            // Too many digits for a u64: no file has that length.
            Some(n.parse().unwrap_or(u64::MAX))
        }
    };
    Some((parse_http_date(date).unwrap_or(0), length))
}

const DAY_NAMES: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
const LONG_DAY_NAMES: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

/// medusa's `parse_http_date`: RFC 1123 (`Sun, 06 Nov 1994 08:49:37 GMT`) or RFC 850
/// (`Sunday, 06-Nov-94 08:49:37 GMT`), case-insensitive, as UTC. (medusa also shifts the
/// result by an hour when it falls in local summer time; corral does not.)
fn parse_http_date(text: &str) -> Option<i64> {
    let d = text.to_ascii_lowercase();
    let (day_name, rest) = d.split_once(", ")?;
    let fields: Vec<&str> = rest.split(' ').collect();
    if LONG_DAY_NAMES.contains(&day_name) {
        let [date, time, "gmt"] = fields[..] else {
            return None;
        };
        let mut it = date.split('-');
        let (day, month, year) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() {
            return None;
        }
        civil_seconds(day, month, year, time)
    } else if DAY_NAMES.contains(&day_name) {
        let [day, month, year, time, "gmt"] = fields[..] else {
            return None;
        };
        civil_seconds(day, month, year, time)
    } else {
        None
    }
}

fn civil_seconds(day: &str, month: &str, year: &str, time: &str) -> Option<i64> {
    let digits = |s: &str, min: usize, max: usize| {
        (s.len() >= min && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    let day = digits(day, 1, 2)?;
    let month = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? as i64 + 1;
    // Years past 9 digits overflow mktime in supervisord; they are refused here.
    let year = digits(year, 1, 9)?;
    let mut hms = time.split(':');
    let (h, m, s) = (
        digits(hms.next()?, 2, 2)?,
        digits(hms.next()?, 2, 2)?,
        digits(hms.next()?, 2, 2)?,
    );
    if hms.next().is_some() {
        return None;
    }
    // Out-of-range fields roll over, as mktime does.
    let days = days_from_civil(year, month, 1) + day - 1;
    Some(days * 86_400 + h * 3600 + m * 60 + s)
}

// ---------------------------------------------------------------------------------------
// Local time, escaping, quoting

/// The local date and time, from the same `localtime_r` as the main log's timestamps.
struct LocalTime {
    year: i64,
    month: i64,
    day: i64,
    time: String,
}

impl LocalTime {
    fn now() -> LocalTime {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        LocalTime::parse(&sys::local_datetime(secs))
    }

    /// `YYYY-mm-dd HH:MM:SS`.
    fn parse(s: &str) -> LocalTime {
        let num = |r: std::ops::Range<usize>| s.get(r).and_then(|f| f.parse().ok()).unwrap_or(0);
        LocalTime {
            year: num(0..4),
            month: num(5..7),
            day: num(8..10),
            time: s.get(11..19).unwrap_or("00:00:00").to_string(),
        }
    }

    /// `time.ctime()`: `Sun Nov  2 03:55:40 2026`.
    fn ctime(&self) -> String {
        const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        let days = days_from_civil(self.year, self.month, self.day);
        let month = usize::try_from(self.month - 1)
            .ok()
            .and_then(|m| MONTHS.get(m))
            .copied()
            .unwrap_or("???");
        format!(
            "{} {} {:>2} {} {}",
            WEEKDAYS[days.rem_euclid(7) as usize],
            month,
            self.day,
            self.time,
            self.year
        )
    }
}

fn ctime() -> String {
    LocalTime::now().ctime()
}

/// meld's escaping of text: `<` and every `&` that does not start something shaped like
/// an entity (`&name;`, `&#123;`). supervisord's pages pass such entities through (a
/// description holding `&amp;` shows `&`); `<` is always escaped, so no markup can get in.
fn meld_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.char_indices() {
        match c {
            '<' => out.push_str("&lt;"),
            '&' if !entity_like(&s[i + 1..]) => out.push_str("&amp;"),
            c => out.push(c),
        }
    }
    out
}

/// meld's escaping of an attribute value: as text, and `"` too, so a value cannot end its
/// attribute.
fn meld_attr(s: &str) -> String {
    meld_text(s).replace('"', "&quot;")
}

/// What follows a `&` matches `[#\w]*;` (`\w` being ASCII in meld's byte regex).
fn entity_like(rest: &str) -> bool {
    let name_len = rest
        .bytes()
        .take_while(|b| *b == b'#' || *b == b'_' || b.is_ascii_alphanumeric())
        .count();
    rest.as_bytes().get(name_len) == Some(&b';')
}

/// `urllib.parse.quote(s)`: UTF-8, every byte but `A-Za-z0-9_.-~/` as `%XX`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"_.-~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
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
    fn meld_escaping_matches_supervisord() {
        // Seen on supervisord's status page for ?message=a%3Cb%3E%26amp;%26c%22+d
        assert_eq!(meld_text("a<b>&amp;&c\" d"), "a&lt;b>&amp;&amp;c\" d");
        assert_eq!(meld_text("&;&#12;&x y;&"), "&;&#12;&amp;x y;&amp;");
        assert_eq!(
            meld_attr("tail.html?processname=x&limit=1024"),
            "tail.html?processname=x&amp;limit=1024"
        );
        assert_eq!(meld_attr("a\"b&amp;"), "a&quot;b&amp;");
    }

    #[test]
    fn quote_is_urllib_quote() {
        assert_eq!(quote("grp:off"), "grp%3Aoff");
        assert_eq!(
            quote("Page refreshed at Sun Nov 22 03:56:52 2026"),
            "Page%20refreshed%20at%20Sun%20Nov%2022%2003%3A56%3A52%202026"
        );
        assert_eq!(quote("a/b~c_d.e-f"), "a/b~c_d.e-f");
        assert_eq!(quote("é&?"), "%C3%A9%26%3F");
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
    fn paths_resolve_like_medusas_filesystem() {
        assert_eq!(normalize(""), "");
        assert_eq!(normalize("images/../images//icon.png/"), "images/icon.png");
        assert_eq!(normalize("../../images/./state0.gif"), "images/state0.gif");
        assert_eq!(normalize("stylesheets/.."), "");
        assert_eq!(split_uri("/a;b?c#d"), ("/a", ";b", "c"));
        assert_eq!(split_uri("/a?b;c?d"), ("/a", "", "b;c?d"));
        assert_eq!(split_uri("/a#b?c"), ("/a", "", ""));
        assert_eq!(medusa_uri("/%69ndex.html"), "/index.html");
        assert_eq!(medusa_uri("/x%3Fa=%41?b=%42"), "/x?a=A?b=%42");
        assert_eq!(medusa_uri("/x%3B?"), "/x;");
        assert_eq!(medusa_uri("/?a=%41"), "/?a=%41");
    }

    #[test]
    fn if_modified_since_like_medusa() {
        let d = 784_111_777;
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(d));
        assert_eq!(parse_http_date("sunday, 06-nov-1994 08:49:37 gmt"), Some(d));
        assert_eq!(parse_http_date("Mon, 6 Nov 1994 08:49:37 GMT"), Some(d));
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 8:49:37 GMT"), None);
        assert_eq!(
            if_modified_since("Sun, 06 Nov 1994 08:49:37 GMT; length=12"),
            Some((d, Some(12)))
        );
        assert_eq!(
            if_modified_since("Sun, 06 Nov 1994 08:49:37 GMT; LENGTH=1"),
            Some((d, Some(1)))
        );
        assert_eq!(if_modified_since("Sun, 06 Nov 1994 08:49:37 GMT; x"), None);
        assert_eq!(if_modified_since("garbage"), Some((0, None)));
    }

    #[test]
    fn ctime_and_tail_limits() {
        let t = LocalTime::parse("2026-11-02 03:05:40");
        assert_eq!(t.ctime(), "Mon Nov  2 03:05:40 2026");
        assert_eq!(
            LocalTime::parse("2026-11-22 13:55:40").ctime(),
            "Sun Nov 22 13:55:40 2026"
        );
        assert_eq!(tail_limit("5000"), (5000, "5000".into()));
        assert_eq!(tail_limit("005000"), (5000, "5000".into()));
        assert_eq!(tail_limit("100"), (1024, "1024".into()));
        assert_eq!(tail_limit("000"), (1024, "1024".into()));
        assert_eq!(tail_limit("-5000"), (1024, "1024".into()));
        assert_eq!(
            tail_limit("99999999999999999999999"),
            (u64::MAX, "99999999999999999999999".into())
        );
    }

    #[test]
    fn every_ui_file_is_embedded() {
        // supervisor's ui/ directory, as the NOTICE lists it.
        assert_eq!(FILES.len(), 10);
        for f in FILES {
            assert!(!f.data.is_empty(), "{}", f.path);
            let dir = f.path.rsplit_once('/').map_or("", |(d, _)| d);
            assert!(DIRS.contains(&dir), "{}", f.path);
        }
    }
}
