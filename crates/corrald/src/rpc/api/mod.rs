//! corral's JSON API under `/api/v1/`, on every HTTP server corrald runs, behind the same
//! credentials. `openapi.json` (served at `/api/v1/openapi.json`) describes it.
//!
//! Every endpoint runs the XML-RPC method that does the same thing, through the one
//! method table (`dispatch.rs`): the same results, and the same faults, as JSON errors
//! (`{"error": {"code": "BAD_NAME", "faultCode": 10, "message": "BAD_NAME: foo"}}`) with a
//! fitting HTTP status. The read-only user is refused every method the table marks as an
//! action, with 403, exactly as on `/RPC2`.
//!
//! * `json.rs`: XML-RPC values and processes as JSON;
//! * `events.rs`: `GET /api/v1/events`, the Server-Sent Events stream;
//! * `stats.rs`: the CPU and memory history the dashboard plots.

pub mod events;
mod json;
pub mod stats;

use std::rc::Rc;

use serde_json::{Value as Json, json};

use corral_proto::api::Fault;
use corral_proto::http::{Request, Response, percent_decode};
use corral_proto::xmlrpc::Value;

use super::auth_guard::Role;
use super::dispatch::{dispatch, may_call};
use super::error::RpcError;
use super::supervisor::lookup::{all_processes, existing_file, named_process, process_log};
use super::web::parse_qsl;
use crate::logs::mainlog;
use crate::supervisor::Supervisor;

pub use json::process_json;

/// The OpenAPI 3 document, kept in the repository beside this file.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What to answer.
pub enum Answer {
    /// A response, now.
    Now(Response),
    /// The event stream (it takes over the connection).
    Events(events::Options),
    /// A log followed as it grows, from an offset (it takes over the connection).
    Follow(String, std::fs::File, Option<u64>),
}

/// A JSON error.
fn error(status: u16, code: &str, fault: Option<i32>, message: &str) -> Response {
    let mut e = json!({"code": code, "message": message});
    if let Some(f) = fault {
        e["faultCode"] = json!(f);
    }
    json_response(status, &json!({ "error": e }))
}

fn json_response(status: u16, v: &Json) -> Response {
    Response::new(status)
        .header("Content-Type", "application/json")
        .header("Cache-Control", "no-store")
        .body(serde_json::to_vec(v).unwrap_or_default())
}

fn ok(v: &Json) -> Answer {
    Answer::Now(json_response(200, v))
}

/// The HTTP status of a fault.
pub fn fault_status(code: i32) -> u16 {
    match Fault::from_code(code) {
        Some(Fault::BadName | Fault::NoFile | Fault::UnknownMethod) => 404,
        Some(
            Fault::IncorrectParameters
            | Fault::BadArguments
            | Fault::BadSignal
            | Fault::SignatureUnsupported,
        ) => 400,
        Some(
            Fault::AlreadyStarted | Fault::NotRunning | Fault::AlreadyAdded | Fault::StillRunning,
        ) => 409,
        Some(Fault::CantReread) => 422,
        Some(Fault::ShutdownState) => 503,
        _ => 500,
    }
}

fn fault(e: &RpcError) -> Answer {
    let code = Fault::from_code(e.code).map_or("UNKNOWN", Fault::name);
    Answer::Now(error(fault_status(e.code), code, Some(e.code), &e.text))
}

fn forbidden(method: &str) -> Answer {
    mainlog::warn(format!(
        "JSON API: {method} refused: the read-only user may not call it"
    ));
    Answer::Now(error(
        403,
        "FORBIDDEN",
        None,
        "the read-only user may not do this",
    ))
}

/// A request's parameters: the query string's, then a JSON object body's.
struct Params {
    query: Vec<(String, String)>,
    body: serde_json::Map<String, Json>,
}

impl Params {
    fn of(req: &Request) -> Result<Params, Answer> {
        let query = parse_qsl(req.query().unwrap_or(""));
        let body = if req.body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Map::new()
        } else {
            match serde_json::from_slice::<Json>(&req.body) {
                Ok(Json::Object(m)) => m,
                Ok(_) => {
                    return Err(Answer::Now(error(
                        400,
                        "BAD_REQUEST",
                        None,
                        "the body must be a JSON object",
                    )));
                }
                Err(e) => {
                    return Err(Answer::Now(error(
                        400,
                        "BAD_REQUEST",
                        None,
                        &format!("the body is not JSON: {e}"),
                    )));
                }
            }
        };
        Ok(Params { query, body })
    }

    fn get(&self, name: &str) -> Option<Json> {
        if let Some((_, v)) = self.query.iter().find(|(k, _)| k == name) {
            return Some(Json::String(v.clone()));
        }
        self.body.get(name).cloned()
    }

    /// A flag: `true`/`false`/`1`/`0` (query or body), `default` when absent.
    fn flag(&self, name: &str, default: bool) -> Result<bool, Answer> {
        match self.get(name) {
            None => Ok(default),
            Some(Json::Bool(b)) => Ok(b),
            Some(Json::String(s)) if matches!(s.as_str(), "true" | "1" | "yes") => Ok(true),
            Some(Json::String(s)) if matches!(s.as_str(), "false" | "0" | "no") => Ok(false),
            Some(v) => Err(bad_param(name, &v, "true or false")),
        }
    }

    /// An integer parameter.
    fn int(&self, name: &str) -> Result<Option<i64>, Answer> {
        match self.get(name) {
            None => Ok(None),
            Some(Json::Number(n)) if n.is_i64() => Ok(n.as_i64()),
            Some(Json::String(s)) => match s.parse() {
                Ok(n) => Ok(Some(n)),
                Err(_) => Err(bad_param(name, &Json::String(s), "an integer")),
            },
            Some(v) => Err(bad_param(name, &v, "an integer")),
        }
    }

    /// A signal: a name (`HUP`, `SIGHUP`) or a number, as XML-RPC takes it.
    fn signal(&self) -> Result<Value, Answer> {
        match self.get("signal") {
            Some(Json::String(s)) => Ok(Value::String(s)),
            Some(Json::Number(n)) if n.is_i64() => Ok(Value::Int(n.as_i64().unwrap_or(0) as i32)),
            Some(v) => Err(bad_param("signal", &v, "a signal name or number")),
            None => Err(Answer::Now(error(
                400,
                "BAD_REQUEST",
                None,
                "signal is missing (a name such as HUP, or a number)",
            ))),
        }
    }
}

fn bad_param(name: &str, v: &Json, what: &str) -> Answer {
    Answer::Now(error(
        400,
        "BAD_REQUEST",
        None,
        &format!("{name}={v} is not {what}"),
    ))
}

/// A call through the method table, as `role`.
async fn call(
    sup: &Rc<Supervisor>,
    role: Role,
    method: &str,
    params: Vec<Value>,
) -> Result<Value, Answer> {
    if !may_call(role, method, &params) {
        return Err(forbidden(method));
    }
    dispatch(sup.clone(), method.to_string(), params)
        .await
        .map_err(|e| fault(&e))
}

/// Answer a request under `/api/`.
pub async fn handle(sup: &Rc<Supervisor>, req: &Request, role: Role) -> Answer {
    let path = req.path();
    let Some(rest) = path.strip_prefix("/api/v1/") else {
        return Answer::Now(error(
            404,
            "NOT_FOUND",
            None,
            "no such endpoint (the API is under /api/v1/)",
        ));
    };
    let segs: Vec<String> = rest.split('/').map(percent_decode).collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let params = match Params::of(req) {
        Ok(p) => p,
        Err(a) => return a,
    };
    let method = req.method.as_str();
    let get = method == "GET";
    let post = method == "POST";
    let r = match (segs.as_slice(), get, post) {
        (["openapi.json"], true, _) => Ok(Answer::Now(
            Response::new(200)
                .header("Content-Type", "application/json")
                .body(OPENAPI),
        )),
        (["whoami"], true, _) => Ok(ok(&json!({"role": role.name()}))),
        (["supervisor"], true, _) => supervisor(sup, role).await,
        (["processes"], true, _) => Ok(ok(&Json::Array(
            all_processes(sup, true).iter().map(process_json).collect(),
        ))),
        (["processes", name], true, _) => one_process(sup, role, name).await,
        (["processes", name, action], _, true) => {
            action_on(sup, role, Target::Process(name), action, &params).await
        }
        (["processes", name, "logs", stream], true, _) => {
            process_log_read(sup, role, name, stream, &params).await
        }
        (["processes", name, "logs", stream, "follow"], true, _) => {
            follow_process_log(sup, name, stream, &params)
        }
        (["groups", name, action], _, true) => {
            action_on(sup, role, Target::Group(name), action, &params).await
        }
        (["all", action], _, true) => action_on(sup, role, Target::All, action, &params).await,
        (["log"], true, _) => main_log_read(sup, role, &params).await,
        (["log", "follow"], true, _) => follow_main_log(&params),
        (["reread"], _, true) => reread(sup, role).await,
        (["update"], _, true) => update(sup, role).await,
        (["events"], true, _) => events::Options::of(&params).map(Answer::Events),
        (["stats"], true, _) => Ok(ok(&stats::json(sup))),
        _ => Err(not_found_or_not_allowed(&segs, get, post)),
    };
    r.unwrap_or_else(|a| a)
}

/// 405 for a known path asked with the wrong method, else 404.
fn not_found_or_not_allowed(segs: &[&str], get: bool, post: bool) -> Answer {
    let gets = matches!(
        segs,
        ["openapi.json" | "whoami" | "supervisor" | "processes" | "log" | "events" | "stats"]
            | ["processes", _]
            | ["processes", _, "logs", _]
            | ["processes", _, "logs", _, "follow"]
            | ["log", "follow"]
    );
    let posts = matches!(
        segs,
        ["processes", _, _] | ["groups", _, _] | ["all", _] | ["reread" | "update"]
    );
    if (gets && !get) || (posts && !post) {
        let allow = if gets { "GET" } else { "POST" };
        return Answer::Now(
            error(405, "METHOD_NOT_ALLOWED", None, &format!("use {allow}")).header("Allow", allow),
        );
    }
    Answer::Now(error(404, "NOT_FOUND", None, "no such endpoint"))
}

async fn supervisor(sup: &Rc<Supervisor>, role: Role) -> Result<Answer, Answer> {
    let state = json::to_json(&call(sup, role, "supervisor.getState", vec![]).await?);
    let pid = json::to_json(&call(sup, role, "supervisor.getPID", vec![]).await?);
    let ident = json::to_json(&call(sup, role, "supervisor.getIdentification", vec![]).await?);
    Ok(ok(&json!({
        "state": state,
        "pid": pid,
        "identification": ident,
        "supervisor_version": "4.3.0",
        "api_version": "3.0",
        "corral_version": env!("CARGO_PKG_VERSION"),
    })))
}

async fn one_process(sup: &Rc<Supervisor>, role: Role, name: &str) -> Result<Answer, Answer> {
    call(
        sup,
        role,
        "supervisor.getProcessInfo",
        vec![Value::from(name)],
    )
    .await?;
    let p = named_process(sup, name).map_err(|e| fault(&e))?;
    Ok(ok(&process_json(&p)))
}

/// What an action applies to.
#[derive(Clone, Copy)]
enum Target<'a> {
    Process(&'a str),
    Group(&'a str),
    All,
}

async fn action_on(
    sup: &Rc<Supervisor>,
    role: Role,
    target: Target<'_>,
    action: &str,
    params: &Params,
) -> Result<Answer, Answer> {
    let wait = Value::Bool(params.flag("wait", true)?);
    // (method, arguments) per target: process, group, all.
    let m = |p: &str, g: &str, a: &str| match target {
        Target::Process(n) => (p.to_string(), vec![Value::from(n)]),
        Target::Group(n) => (g.to_string(), vec![Value::from(n)]),
        Target::All => (a.to_string(), vec![]),
    };
    let with = |(m, mut args): (String, Vec<Value>), extra: Value| {
        args.push(extra);
        (m, args)
    };
    let start = with(
        m(
            "supervisor.startProcess",
            "supervisor.startProcessGroup",
            "supervisor.startAllProcesses",
        ),
        wait.clone(),
    );
    let stop = with(
        m(
            "supervisor.stopProcess",
            "supervisor.stopProcessGroup",
            "supervisor.stopAllProcesses",
        ),
        wait,
    );
    let result = match action {
        "start" => call(sup, role, &start.0, start.1).await?,
        "stop" => call(sup, role, &stop.0, stop.1).await?,
        "restart" => {
            // supervisorctl's restart: stop (one that is not running is fine), then
            // start; the answer is the start's.
            for (m, args) in [&stop, &start] {
                if !may_call(role, m, args) {
                    return Err(forbidden(m));
                }
            }
            match dispatch(sup.clone(), stop.0.clone(), stop.1).await {
                Err(e) if e.code != Fault::NotRunning.code() => return Err(fault(&e)),
                _ => {}
            }
            call(sup, role, &start.0, start.1).await?
        }
        "rolling-restart" => {
            let name = match target {
                Target::Process(n) | Target::Group(n) => n,
                Target::All => "all",
            };
            let mut args = vec![Value::from(name)];
            if let Some(s) = params.int("max_surge")? {
                args.push(Value::Int(s as i32));
                if let Some(u) = params.int("max_unavailable")? {
                    args.push(Value::Int(u as i32));
                }
            }
            call(sup, role, "corral.rollingRestart", args).await?
        }
        "signal" => {
            let sig = params.signal()?;
            let (m, args) = with(
                m(
                    "supervisor.signalProcess",
                    "supervisor.signalProcessGroup",
                    "supervisor.signalAllProcesses",
                ),
                sig,
            );
            call(sup, role, &m, args).await?
        }
        "clear-logs" if !matches!(target, Target::Group(_)) => {
            let (m, args) = m(
                "supervisor.clearProcessLogs",
                "",
                "supervisor.clearAllProcessLogs",
            );
            call(sup, role, &m, args).await?
        }
        _ => {
            return Err(Answer::Now(error(
                404,
                "NOT_FOUND",
                None,
                &format!("no action {action:?} here"),
            )));
        }
    };
    Ok(ok(&json!({ "result": json::to_json(&result) })))
}

fn stream_is_stderr(stream: &str) -> Result<bool, Answer> {
    match stream {
        "stdout" => Ok(false),
        "stderr" => Ok(true),
        _ => Err(Answer::Now(error(
            404,
            "NOT_FOUND",
            None,
            "the log stream is stdout or stderr",
        ))),
    }
}

/// How much of a log the tail reads by default.
const DEFAULT_TAIL: i64 = 64 * 1024;

async fn process_log_read(
    sup: &Rc<Supervisor>,
    role: Role,
    name: &str,
    stream: &str,
    params: &Params,
) -> Result<Answer, Answer> {
    let stderr = stream_is_stderr(stream)?;
    let ch = if stderr { "Stderr" } else { "Stdout" };
    let offset = params.int("offset")?;
    if let Some(offset) = offset {
        let length = params.int("length")?.unwrap_or(0);
        let v = call(
            sup,
            role,
            &format!("supervisor.readProcess{ch}Log"),
            vec![
                Value::from(name),
                Value::Int(offset as i32),
                Value::Int(length as i32),
            ],
        )
        .await?;
        return Ok(ok(&json!({"text": json::to_json(&v), "offset": offset})));
    }
    let tail = params.int("tail")?.unwrap_or(DEFAULT_TAIL);
    let v = call(
        sup,
        role,
        &format!("supervisor.tailProcess{ch}Log"),
        vec![Value::from(name), Value::Int(0), Value::Int(tail as i32)],
    )
    .await?;
    let parts = json::to_json(&v);
    Ok(ok(&json!({
        "text": parts[0],
        "offset": parts[1],
        "overflow": parts[2],
    })))
}

/// Where a follow starts: `?offset=N` (a tail's offset), else the last kilobyte.
fn follow_offset(params: &Params) -> Result<Option<u64>, Answer> {
    Ok(params.int("offset")?.and_then(|o| u64::try_from(o).ok()))
}

fn follow_process_log(
    sup: &Supervisor,
    name: &str,
    stream: &str,
    params: &Params,
) -> Result<Answer, Answer> {
    let stderr = stream_is_stderr(stream)?;
    let start = follow_offset(params)?;
    let path = process_log(sup, name, stderr).map_err(|e| fault(&e))?;
    let path = existing_file(path).map_err(|e| fault(&e))?;
    let file = std::fs::File::open(&path).map_err(|e| {
        Answer::Now(error(
            404,
            "NO_FILE",
            Some(Fault::NoFile.code()),
            &e.to_string(),
        ))
    })?;
    Ok(Answer::Follow(path, file, start))
}

async fn main_log_read(
    sup: &Rc<Supervisor>,
    role: Role,
    params: &Params,
) -> Result<Answer, Answer> {
    let (offset, length) = match params.int("offset")? {
        Some(o) => (o, params.int("length")?.unwrap_or(0)),
        None => (-params.int("tail")?.unwrap_or(DEFAULT_TAIL).max(1), 0),
    };
    // For a tail, the offset answered is the log's size (where a follow goes on).
    let size = || {
        mainlog::path()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(0, |m| m.len())
    };
    match call(
        sup,
        role,
        "supervisor.readLog",
        vec![Value::Int(offset as i32), Value::Int(length as i32)],
    )
    .await
    {
        Ok(v) if offset < 0 => Ok(ok(&json!({"text": json::to_json(&v), "offset": size()}))),
        Ok(v) => Ok(ok(&json!({"text": json::to_json(&v), "offset": offset}))),
        // A log shorter than the tail asked for: all of it.
        Err(_) if offset < 0 => {
            let v = call(
                sup,
                role,
                "supervisor.readLog",
                vec![Value::Int(0), Value::Int(0)],
            )
            .await?;
            Ok(ok(&json!({"text": json::to_json(&v), "offset": size()})))
        }
        Err(e) => Err(e),
    }
}

fn follow_main_log(params: &Params) -> Result<Answer, Answer> {
    let start = follow_offset(params)?;
    let no_file = |msg: &str| Answer::Now(error(404, "NO_FILE", Some(Fault::NoFile.code()), msg));
    let path = mainlog::path().ok_or_else(|| no_file("the main log is not a file"))?;
    let file = std::fs::File::open(&path).map_err(|e| no_file(&e.to_string()))?;
    Ok(Answer::Follow(
        path.to_string_lossy().into_owned(),
        file,
        start,
    ))
}

/// `reloadConfig`'s diff.
async fn reread_diff(sup: &Rc<Supervisor>, role: Role) -> Result<[Vec<String>; 3], Answer> {
    let v = call(sup, role, "supervisor.reloadConfig", vec![]).await?;
    let j = json::to_json(&v);
    let names = |i: usize| -> Vec<String> {
        j[0][i]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok([names(0), names(1), names(2)])
}

async fn reread(sup: &Rc<Supervisor>, role: Role) -> Result<Answer, Answer> {
    let [added, changed, removed] = reread_diff(sup, role).await?;
    Ok(ok(&json!({
        "added": added, "changed": changed, "removed": removed,
    })))
}

/// supervisorctl's `update`: reread, then stop and remove the removed groups, stop,
/// remove and add the changed ones, add the added ones.
async fn update(sup: &Rc<Supervisor>, role: Role) -> Result<Answer, Answer> {
    let [added, changed, removed] = reread_diff(sup, role).await?;
    let mut errors = Vec::new();
    let mut note = |group: &str, r: Result<Value, Answer>| {
        if let Err(Answer::Now(resp)) = r {
            let body: Json = serde_json::from_slice(&resp.body).unwrap_or(Json::Null);
            errors.push(json!({"group": group, "error": body["error"]}));
        }
    };
    for g in removed.iter().chain(&changed) {
        let stop = call(
            sup,
            role,
            "supervisor.stopProcessGroup",
            vec![Value::from(g.as_str())],
        )
        .await;
        note(g, stop);
        let remove = call(
            sup,
            role,
            "supervisor.removeProcessGroup",
            vec![Value::from(g.as_str())],
        )
        .await;
        note(g, remove);
    }
    for g in changed.iter().chain(&added) {
        let add = call(
            sup,
            role,
            "supervisor.addProcessGroup",
            vec![Value::from(g.as_str())],
        )
        .await;
        note(g, add);
    }
    Ok(ok(&json!({
        "added": added, "changed": changed, "removed": removed, "errors": errors,
    })))
}
