//! The XML-RPC methods: supervisord 4.3.0's `supervisor.*` and `system.*` namespaces
//! (`rpcinterface.py`, `xmlrpc.py`) with the same argument handling, results, fault codes
//! and fault strings, plus corral's own `corral.*` namespace.
//!
//! Where supervisord answers a bad argument with an HTTP 500 (an uncaught Python
//! exception: `readLog("x", 1)`, `startProcess(1)`), corral answers with a fault instead
//! (INCORRECT_PARAMETERS or BAD_ARGUMENTS): a client gets an error it can read, and the
//! daemon logs nothing alarming.

use std::future::Future;
use std::io::{Read, Seek, SeekFrom};
use std::pin::Pin;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use corral_config::pystr;
use corral_config::{LogFile, ProcessConfig};
use corral_core::{ProcessState, Reply, SupervisorState};
use corral_proto::api::{self, Fault, ProcessInfo, capped_int, make_namespec, split_namespec};
use corral_proto::http::Response;
use corral_proto::xmlrpc::{Value, encode_fault, encode_response, parse_call, xml_safe_text};

use super::corral::CORRAL_METHODS;
use crate::events::Event as BusEvent;
use crate::mainlog;
use crate::process::exec::{self, ExecError};
use crate::process::{Command, ProcessHandle};
use crate::supervisor::{Group, Request, Supervisor};
use crate::sys;

/// supervisord's `RPCError`: a code and its text (`BAD_NAME: foo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    pub code: i32,
    pub text: String,
}

impl RpcError {
    pub fn new(fault: Fault, extra: Option<&str>) -> RpcError {
        RpcError {
            code: fault.code(),
            text: fault.text(extra),
        }
    }
}

pub(super) fn err<T>(fault: Fault, extra: impl AsRef<str>) -> Result<T, RpcError> {
    Err(RpcError::new(fault, Some(extra.as_ref())))
}

pub(super) fn err0<T>(fault: Fault) -> Result<T, RpcError> {
    Err(RpcError::new(fault, None))
}

pub(super) type RpcResult = Result<Value, RpcError>;
type BoxFut<'a> = Pin<Box<dyn Future<Output = RpcResult> + 'a>>;

/// `POST /RPC2`: decode, dispatch, encode.
pub async fn handle_http(sup: &Rc<Supervisor>, body: &[u8]) -> Response {
    let call = match parse_call(body) {
        Ok(c) => c,
        Err(e) => {
            mainlog::error(format!(
                "XML-RPC request data {:?} is invalid: unmarshallable ({e})",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ));
            return Response::error_page(400);
        }
    };
    if call.method.is_empty() {
        mainlog::error("XML-RPC request data is invalid: no method name");
        return Response::error_page(400);
    }
    mainlog::trace(format!("XML-RPC method called: {}()", call.method));
    match dispatch(sup.clone(), call.method.clone(), call.params).await {
        Ok(v) => Response::xml(encode_response(&v)),
        Err(e) => {
            mainlog::trace(format!(
                "XML-RPC method {}() returned fault: [{}] {}",
                call.method, e.code, e.text
            ));
            Response::xml(encode_fault(e.code, &e.text))
        }
    }
}

/// Call a method by its dotted name (supervisord's `traverse`).
pub fn dispatch(sup: Rc<Supervisor>, method: String, params: Vec<Value>) -> BoxFut<'static> {
    Box::pin(async move {
        let Some((ns, name)) = method.split_once('.') else {
            return err0(Fault::UnknownMethod);
        };
        if name.contains('.') || name.starts_with('_') {
            return err0(Fault::UnknownMethod);
        }
        let a = Args(params);
        match ns {
            "supervisor" => supervisor_ns(&sup, name, a).await,
            "system" => system_ns(&sup, name, a).await,
            "corral" => super::corral::call(&sup, name, a).await,
            _ => err0(Fault::UnknownMethod),
        }
    })
}

/// Positional parameters with Python-like coercions.
pub(super) struct Args(pub(super) Vec<Value>);

impl Args {
    /// Python's TypeError on a wrong argument count is INCORRECT_PARAMETERS.
    pub(super) fn arity(&self, min: usize, max: usize) -> Result<(), RpcError> {
        if self.0.len() < min || self.0.len() > max {
            return err0(Fault::IncorrectParameters);
        }
        Ok(())
    }

    pub(super) fn get(&self, i: usize) -> Option<&Value> {
        self.0.get(i)
    }

    /// A process or group name (supervisord calls `.split(':')` on it).
    pub(super) fn name(&self, i: usize) -> Result<String, RpcError> {
        match self.0.get(i) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Base64(b)) => Ok(String::from_utf8_lossy(b).into_owned()),
            _ => err0(Fault::IncorrectParameters),
        }
    }

    /// Python's `int(x)`, as supervisord applies it to offsets and lengths.
    ///
    /// `int(None)`, `int([..])`, `int({..})` and `int(datetime)` raise TypeError, which
    /// supervisord's `traverse` turns into INCORRECT_PARAMETERS: reproduced. `int("abc")`,
    /// `int(nan)` raise ValueError, which escapes as an HTTP 500 there: BAD_ARGUMENTS here.
    pub(super) fn int(&self, i: usize) -> Result<i64, RpcError> {
        match self.0.get(i) {
            Some(Value::Int(n)) => Ok(i64::from(*n)),
            Some(Value::Bool(b)) => Ok(i64::from(*b)),
            Some(Value::Double(d)) if d.is_finite() => Ok(d.trunc() as i64),
            Some(Value::Double(_)) => err0(Fault::BadArguments),
            Some(Value::String(s)) => pystr::int(s).or_else(|_| err0(Fault::BadArguments)),
            Some(Value::Base64(b)) => {
                pystr::int(&String::from_utf8_lossy(b)).or_else(|_| err0(Fault::BadArguments))
            }
            _ => err0(Fault::IncorrectParameters),
        }
    }

    /// Python truthiness, with a default when absent.
    fn flag(&self, i: usize, default: bool) -> bool {
        match self.0.get(i) {
            None => default,
            Some(v) => truthy(v),
        }
    }
}

/// Python's `str(x)` of an argument as supervisord's unmarshaller builds it, for the `%s`
/// of a fault text (`BAD_NAME: 5`, `BAD_SIGNAL: 1.5`). `None` for nil: `RPCError(code,
/// None)` adds no text at all (`BAD_NAME`).
fn py_str(v: &Value) -> Option<String> {
    match v {
        Value::Nil => None,
        Value::String(s) => Some(s.clone()),
        // supervisord decodes base64 to a str (`as_string(decodestring(..))`).
        Value::Base64(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::DateTime(s) => Some(match parse_datetime(s) {
            Some([y, mo, d, h, mi, se]) => {
                format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{se:02}")
            }
            None => s.clone(),
        }),
        other => Some(py_repr_value(other)),
    }
}

/// `%Y%m%dT%H:%M:%S`, the form supervisord's `make_datetime` reads.
fn parse_datetime(s: &str) -> Option<[u32; 6]> {
    let b = s.as_bytes();
    if b.len() != 17 || b[8] != b'T' || b[11] != b':' || b[14] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<u32>().ok();
    Some([
        num(0..4)?,
        num(4..6)?,
        num(6..8)?,
        num(9..11)?,
        num(12..14)?,
        num(15..17)?,
    ])
}

/// Python's type name of an unmarshalled argument (in supervisord's multicall texts).
fn py_type_name(v: &Value) -> &'static str {
    match v {
        Value::Int(_) => "int",
        Value::Bool(_) => "bool",
        Value::Double(_) => "float",
        Value::String(_) | Value::Base64(_) => "str",
        Value::DateTime(_) => "datetime.datetime",
        Value::Array(_) => "list",
        Value::Struct(_) => "dict",
        Value::Nil => "NoneType",
    }
}

/// `err(fault, str(v))`, or the bare fault when `v` is nil (supervisord's `RPCError(code,
/// None)`).
fn err_value<T>(fault: Fault, v: Option<&Value>) -> Result<T, RpcError> {
    match v.and_then(py_str) {
        Some(text) => err(fault, text),
        None => err0(fault),
    }
}

/// A group looked up by an argument the way supervisord does, `process_groups.get(name)`:
/// a string finds its group or is BAD_NAME; any other hashable value (number, bool, nil,
/// datetime) finds nothing (BAD_NAME with its `str()`); a list or struct is unhashable, a
/// TypeError, so INCORRECT_PARAMETERS.
fn lookup_group(sup: &Supervisor, v: Option<&Value>) -> Result<Group, RpcError> {
    match v {
        Some(s @ (Value::String(_) | Value::Base64(_))) => {
            let name = py_str(s).unwrap_or_default();
            sup.group(&name)
                .map_or_else(|| err(Fault::BadName, &name), Ok)
        }
        Some(Value::Array(_) | Value::Struct(_)) | None => err0(Fault::IncorrectParameters),
        Some(other) => err_value(Fault::BadName, Some(other)),
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Int(n) => *n != 0,
        Value::Bool(b) => *b,
        Value::Double(d) => *d != 0.0,
        Value::String(s) => !s.is_empty(),
        Value::Base64(b) => !b.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Struct(s) => !s.is_empty(),
        Value::DateTime(_) => true,
        Value::Nil => false,
    }
}

/// supervisord's `_update`: every supervisor.* call fails once shutdown or restart began.
pub(super) fn check_running(sup: &Supervisor) -> Result<(), RpcError> {
    if sup.state() == SupervisorState::Running {
        Ok(())
    } else {
        err0(Fault::ShutdownState)
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `_getGroupAndProcess`: (group, process or None for `group:*`).
pub(super) fn group_and_process(
    sup: &Supervisor,
    name: &str,
) -> Result<(Group, Option<ProcessHandle>), RpcError> {
    let (group_name, process_name) = split_namespec(name);
    let Some(group) = sup.group(&group_name) else {
        return err(Fault::BadName, name);
    };
    let Some(pname) = process_name else {
        return Ok((group, None));
    };
    match group.find(&pname) {
        Some(p) => Ok((group.clone(), Some(p.clone()))),
        None => err(Fault::BadName, name),
    }
}

/// A single process by namespec: BAD_NAME for an unknown name and for `group:*`.
pub(super) fn named_process(sup: &Supervisor, name: &str) -> Result<ProcessHandle, RpcError> {
    match group_and_process(sup, name)? {
        (_, Some(p)) => Ok(p),
        (_, None) => err(Fault::BadName, name),
    }
}

/// The stdout (or stderr) log file of process `name`, `None` when it has none (NONE, or
/// stderr redirected).
pub(super) fn process_log(
    sup: &Supervisor,
    name: &str,
    stderr: bool,
) -> Result<Option<String>, RpcError> {
    let logs = named_process(sup, name)?.info().logs;
    Ok(if stderr { logs.stderr } else { logs.stdout })
}

/// A log file that must exist to be read: NO_FILE with its path when it does not, a bare
/// NO_FILE (`RPCError(NO_FILE, None)`) when there is no file at all.
pub(super) fn existing_file(path: Option<String>) -> Result<String, RpcError> {
    match path {
        Some(p) if std::path::Path::new(&p).exists() => Ok(p),
        Some(p) => err(Fault::NoFile, p),
        None => err0(Fault::NoFile),
    }
}

/// `_getAllProcesses`: priority order (groups, then processes; ties keep config order), or
/// lexical order.
pub(super) fn all_processes(sup: &Supervisor, lexical: bool) -> Vec<ProcessHandle> {
    let mut groups = sup.groups();
    if lexical {
        groups.sort_by(|a, b| a.name().cmp(b.name()));
    }
    let mut out = Vec::new();
    for g in groups {
        let mut procs = g.processes.clone();
        if lexical {
            procs.sort_by(|a, b| a.name().cmp(b.name()));
        } else {
            procs.sort_by_key(|p| p.config.priority);
        }
        out.extend(procs);
    }
    out
}

pub(super) fn group_processes(group: &Group) -> Vec<ProcessHandle> {
    let mut procs = group.processes.clone();
    procs.sort_by_key(|p| p.config.priority);
    procs
}

/// The struct getProcessInfo returns.
pub fn process_info(p: &ProcessHandle) -> ProcessInfo {
    let info = p.info();
    let s = &info.snapshot;
    let mut pi = ProcessInfo {
        name: p.name().to_string(),
        group: p.group().to_string(),
        start: capped_int(s.laststart.unwrap_or(0.0) as i64),
        stop: capped_int(s.laststop.unwrap_or(0.0) as i64),
        now: capped_int(now_secs() as i64),
        state: api::ProcessState::from_code(s.state.code()).unwrap_or(api::ProcessState::Unknown),
        spawnerr: s.spawnerr.clone().unwrap_or_default(),
        exitstatus: s.exitstatus.unwrap_or(0),
        stdout_logfile: info.logs.stdout.clone().unwrap_or_default(),
        stderr_logfile: info.logs.stderr.clone().unwrap_or_default(),
        pid: s.pid.unwrap_or(0),
        description: String::new(),
    };
    pi.description = pi.describe();
    pi
}

pub(super) fn result_struct(p: &ProcessHandle, code: i32, description: &str) -> Value {
    Value::structure([
        ("name", Value::from(p.name())),
        ("group", Value::from(p.group())),
        ("status", Value::Int(code)),
        ("description", Value::from(description)),
    ])
}

/// (min, max) positional arguments of each supervisor.* method. Python checks the count
/// (TypeError, INCORRECT_PARAMETERS) before the method body runs, so before `_update`'s
/// SHUTDOWN_STATE check.
fn supervisor_arity(method: &str) -> Option<(usize, usize)> {
    Some(match method {
        "getAPIVersion"
        | "getVersion"
        | "getSupervisorVersion"
        | "getIdentification"
        | "getState"
        | "getPID"
        | "clearLog"
        | "shutdown"
        | "restart"
        | "reloadConfig"
        | "getAllConfigInfo"
        | "getAllProcessInfo"
        | "clearAllProcessLogs" => (0, 0),
        "readLog"
        | "readMainLog"
        | "signalProcess"
        | "signalProcessGroup"
        | "sendProcessStdin"
        | "sendRemoteCommEvent" => (2, 2),
        "addProcessGroup" | "removeProcessGroup" | "getProcessInfo" | "clearProcessLogs"
        | "clearProcessLog" | "signalAllProcesses" => (1, 1),
        "startProcess" | "startProcessGroup" | "stopProcess" | "stopProcessGroup" => (1, 2),
        "startAllProcesses" | "stopAllProcesses" => (0, 1),
        "readProcessStdoutLog"
        | "readProcessLog"
        | "readProcessStderrLog"
        | "tailProcessStdoutLog"
        | "tailProcessLog"
        | "tailProcessStderrLog" => (3, 3),
        _ => return None,
    })
}

async fn supervisor_ns(sup: &Rc<Supervisor>, method: &str, a: Args) -> RpcResult {
    let Some((min, max)) = supervisor_arity(method) else {
        return err0(Fault::UnknownMethod);
    };
    a.arity(min, max)?;
    // signalProcessGroup / signalAllProcesses check the state after acting (below);
    // sendRemoteCommEvent never calls `_update`, so it works during shutdown too.
    if !matches!(
        method,
        "signalProcessGroup" | "signalAllProcesses" | "sendRemoteCommEvent"
    ) {
        check_running(sup)?;
    }
    match method {
        "getAPIVersion" | "getVersion" => Ok(Value::from(api::API_VERSION)),
        "getSupervisorVersion" => Ok(Value::from(api::SUPERVISOR_VERSION)),
        "getIdentification" => Ok(Value::from(sup.config().supervisord.identifier.as_str())),
        "getState" => {
            let s = sup.state();
            Ok(Value::structure([
                ("statecode", Value::Int(s.code())),
                ("statename", Value::from(s.name())),
            ]))
        }
        "getPID" => Ok(Value::Int(sys::getpid())),
        "readLog" | "readMainLog" => {
            // supervisord checks the file before converting the arguments.
            let path = existing_file(mainlog::path().map(|p| p.to_string_lossy().into_owned()))?;
            read_file(&path, a.int(0)?, a.int(1)?)
        }
        "clearLog" => {
            match mainlog::path() {
                Some(p) if p.exists() => {}
                _ => return err0(Fault::NoFile),
            }
            if mainlog::clear().is_err() {
                return err0(Fault::Failed);
            }
            mainlog::info("reopening log file");
            Ok(Value::Bool(true))
        }
        "shutdown" => {
            sup.request(Request::Shutdown);
            Ok(Value::Bool(true))
        }
        "restart" => {
            sup.request(Request::Restart);
            Ok(Value::Bool(true))
        }
        "reloadConfig" => reload_config(sup),
        "addProcessGroup" => {
            // supervisord compares `config.name == name`: any non-string is just not found.
            let name = match a.get(0) {
                Some(Value::String(_) | Value::Base64(_)) => a.name(0)?,
                other => return err_value(Fault::BadName, other),
            };
            let config = sup.config();
            let Some(g) = config.groups.iter().find(|g| g.name == name) else {
                return err(Fault::BadName, &name);
            };
            match sup.add_group(g) {
                Ok(true) => {
                    forget_stale(&name);
                    // supervisord's main loop autostarts the new group's processes (their
                    // `transition()` on the next tick); a new process task waits to be
                    // told.
                    if let Some(group) = sup.group(&name) {
                        for p in &group.processes {
                            p.send(Command::Activate);
                        }
                    }
                    Ok(Value::Bool(true))
                }
                Ok(false) => err(Fault::AlreadyAdded, &name),
                Err(e) => err(Fault::Failed, e),
            }
        }
        "removeProcessGroup" => {
            let name = lookup_group(sup, a.get(0))?.name().to_string();
            if sup.remove_group(&name) {
                Ok(Value::Bool(true))
            } else {
                err(Fault::StillRunning, &name)
            }
        }
        "startProcess" => start_process(sup, &a.name(0)?, a.flag(1, true)).await,
        "startProcessGroup" => {
            let group = lookup_group(sup, a.get(0))?;
            start_many(sup, group_processes(&group), a.flag(1, true)).await
        }
        "startAllProcesses" => start_many(sup, all_processes(sup, false), a.flag(0, true)).await,
        "stopProcess" => stop_process(sup, &a.name(0)?, a.flag(1, true)).await,
        "stopProcessGroup" => {
            let group = lookup_group(sup, a.get(0))?;
            stop_many(group_processes(&group), a.flag(1, true)).await
        }
        "stopAllProcesses" => stop_many(all_processes(sup, false), a.flag(0, true)).await,
        "signalProcess" => signal_process(sup, &a.name(0)?, a.get(1).unwrap_or(&Value::Nil)).await,
        "signalProcessGroup" => {
            // supervisord looks the group up before `_update`, and faults after it.
            let group = lookup_group(sup, a.get(0));
            if let Err(e) = &group {
                if e.code == Fault::IncorrectParameters.code() {
                    return Err(e.clone());
                }
            }
            check_running(sup)?;
            let group = group?;
            let result =
                signal_many(group_processes(&group), a.get(1).unwrap_or(&Value::Nil)).await;
            check_running(sup)?;
            Ok(result)
        }
        "signalAllProcesses" => {
            let result =
                signal_many(all_processes(sup, false), a.get(0).unwrap_or(&Value::Nil)).await;
            check_running(sup)?;
            Ok(result)
        }
        "getAllConfigInfo" => Ok(all_config_info(sup)),
        "getProcessInfo" => Ok(process_info(&named_process(sup, &a.name(0)?)?).to_value()),
        "getAllProcessInfo" => Ok(Value::Array(
            all_processes(sup, true)
                .iter()
                .map(|p| process_info(p).to_value())
                .collect(),
        )),
        "readProcessStdoutLog" | "readProcessLog" | "readProcessStderrLog" => {
            let stderr = method == "readProcessStderrLog";
            // The file is checked before the arguments are converted.
            let path = existing_file(process_log(sup, &a.name(0)?, stderr)?)?;
            read_file(&path, a.int(1)?, a.int(2)?)
        }
        "tailProcessStdoutLog" | "tailProcessLog" | "tailProcessStderrLog" => {
            let stderr = method == "tailProcessStderrLog";
            // Without a log file the arguments are never looked at.
            match existing_file(process_log(sup, &a.name(0)?, stderr)?) {
                Ok(path) => Ok(tail_file(&path, a.int(1)?, a.int(2)?)),
                Err(_) => Ok(Value::Array(vec![
                    Value::from(""),
                    Value::Int(0),
                    Value::Bool(false),
                ])),
            }
        }
        "clearProcessLogs" | "clearProcessLog" => {
            let name = a.name(0)?;
            clear_process_logs(sup, &name)
                .await
                .map(|()| Value::Bool(true))
        }
        "clearAllProcessLogs" => {
            let mut results = Vec::new();
            for p in all_processes(sup, false) {
                let namespec = make_namespec(p.group(), p.name());
                match clear_process_logs(sup, &namespec).await {
                    Ok(()) => results.push(result_struct(&p, Fault::Success.code(), "OK")),
                    Err(e) => results.push(result_struct(&p, e.code, &e.text)),
                }
            }
            Ok(Value::Array(results))
        }
        "sendProcessStdin" => {
            let chars = match a.get(1) {
                Some(Value::String(s)) => s.clone().into_bytes(),
                Some(Value::Base64(b)) => b.clone(),
                other => return err_value(Fault::IncorrectParameters, other),
            };
            let name = a.name(0)?;
            let p = named_process(sup, &name)?;
            let info = p.info();
            if info.snapshot.pid.is_none() || info.state() == ProcessState::Stopping {
                return err(Fault::NotRunning, &name);
            }
            match p.write_stdin(chars).await {
                Ok(()) => Ok(Value::Bool(true)),
                Err(_) => err(Fault::NoFile, &name),
            }
        }
        "sendRemoteCommEvent" => {
            let text = |v: Option<&Value>| match v {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Base64(b)) => String::from_utf8_lossy(b).into_owned(),
                Some(other) => py_repr_value(other),
                None => String::new(),
            };
            sup.ctx().events.publish(BusEvent::RemoteCommunication {
                kind: text(a.get(0)),
                data: text(a.get(1)),
            });
            Ok(Value::Bool(true))
        }
        _ => err0(Fault::UnknownMethod),
    }
}

fn reload_config(sup: &Supervisor) -> RpcResult {
    let path = sup.config().path.clone();
    match crate::daemon::read_config(&path) {
        Ok(new) => {
            let new = Rc::new(new);
            sup.set_config(new.clone());
            // Every running group now runs from a configuration older than this one.
            let running = sup.groups().iter().map(|g| g.name().to_string()).collect();
            STALE_AUTO.with(|s| *s.borrow_mut() = Some((new, running)));
            let (added, changed, removed) = sup.diff_to_active();
            let names = |v: Vec<String>| Value::Array(v.into_iter().map(Value::from).collect());
            Ok(Value::Array(vec![Value::Array(vec![
                names(added),
                names(changed),
                names(removed),
            ])]))
        }
        Err(errors) => err(Fault::CantReread, cant_reread_text(&errors)),
    }
}

/// supervisord stops at the first error and words it as `str(ValueError)`: process
/// sections (`processes_from_section`) add `in section 'x' (file: 'path')`.
fn cant_reread_text(errors: &[corral_config::ConfigError]) -> String {
    let Some(e) = errors.first() else {
        return String::new();
    };
    match &e.section {
        Some(section)
            if ["program:", "fcgi-program:", "eventlistener:"]
                .iter()
                .any(|p| section.starts_with(p)) =>
        {
            format!(
                "{} in section {} (file: {})",
                e.message,
                pystr::repr(section),
                pystr::repr(e.file.as_deref().unwrap_or_default())
            )
        }
        _ => e.message.clone(),
    }
}

thread_local! {
    /// After `reloadConfig`: the configuration it read and the groups that were running
    /// then. supervisord names AUTO log files by mutating the config object a group is
    /// created from, so `getAllConfigInfo` shows the real names only for groups created
    /// from the configuration last read; for those still running from an older one
    /// (until removed and added again) it shows `auto`. Forgotten when the configuration
    /// changes some other way (a restart).
    static STALE_AUTO: std::cell::RefCell<Option<(Rc<corral_config::Config>, Vec<String>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Whether group `name` runs from a configuration older than the one last read.
fn runs_stale_config(sup: &Supervisor, name: &str) -> bool {
    let current = sup.config();
    STALE_AUTO.with(|s| {
        s.borrow().as_ref().is_some_and(|(cfg, names)| {
            Rc::ptr_eq(cfg, &current) && names.iter().any(|n| n == name)
        })
    })
}

/// `addProcessGroup` created `name` from the configuration last read.
fn forget_stale(name: &str) {
    STALE_AUTO.with(|s| {
        if let Some((_, names)) = s.borrow_mut().as_mut() {
            names.retain(|n| n != name);
        }
    });
}

/// Check the command before spawning (supervisord does, to answer with NO_FILE /
/// NOT_EXECUTABLE instead of a failed start).
fn check_command(sup: &Supervisor, cfg: &ProcessConfig) -> Result<(), RpcError> {
    match exec::resolve_command(cfg, &sup.ctx().env) {
        Ok(_) => Ok(()),
        Err(ExecError::NotFound(m)) => err(Fault::NoFile, m),
        Err(e) => err(Fault::NotExecutable, e.message()),
    }
}

/// The first half of startProcess: checks and spawn. `Ok(Some(handle))` means "wait for it".
async fn begin_start(
    sup: &Supervisor,
    p: &ProcessHandle,
    namespec: &str,
    wait: bool,
) -> Result<Option<ProcessHandle>, RpcError> {
    check_command(sup, &p.config)?;
    match p.start().await {
        Reply::AlreadyStarted => return err(Fault::AlreadyStarted, namespec),
        Reply::InUnknownState => {
            return err(
                Fault::Failed,
                format!("{namespec} is in an unknown process state"),
            );
        }
        Reply::Failed(m) => return err(Fault::Failed, m),
        Reply::Ok | Reply::NotRunning => {}
    }
    let info = p.info();
    if info.snapshot.spawnerr.is_some() {
        return err(Fault::SpawnError, namespec);
    }
    if wait && info.state() != ProcessState::Running {
        return Ok(Some(p.clone()));
    }
    Ok(None)
}

/// startProcess's deferred part: until RUNNING, or a failure.
async fn wait_started(p: &ProcessHandle, namespec: &str) -> Result<(), RpcError> {
    let info = p
        .wait_until(|i| {
            i.snapshot.spawnerr.is_some() || !matches!(i.state(), ProcessState::Starting)
        })
        .await;
    if info.snapshot.spawnerr.is_some() {
        return err(Fault::SpawnError, namespec);
    }
    match info.state() {
        ProcessState::Running => Ok(()),
        _ => err(Fault::AbnormalTermination, namespec),
    }
}

async fn start_process(sup: &Rc<Supervisor>, name: &str, wait: bool) -> RpcResult {
    let (group, p) = group_and_process(sup, name)?;
    let Some(p) = p else {
        return start_many(sup, group_processes(&group), wait).await;
    };
    if let Some(p) = begin_start(sup, &p, name, wait).await? {
        wait_started(&p, name).await?;
    }
    Ok(Value::Bool(true))
}

/// supervisord's `make_allfunc` over startProcess, for processes not running.
async fn start_many(sup: &Supervisor, procs: Vec<ProcessHandle>, wait: bool) -> RpcResult {
    let mut results = Vec::new();
    let mut waiting = Vec::new();
    for p in procs {
        if p.state().is_running() {
            continue;
        }
        let namespec = make_namespec(p.group(), p.name());
        match begin_start(sup, &p, &namespec, wait).await {
            Ok(None) => results.push(result_struct(&p, Fault::Success.code(), "OK")),
            Ok(Some(p)) => waiting.push((p, namespec)),
            Err(e) => results.push(result_struct(&p, e.code, &e.text)),
        }
    }
    results.extend(
        complete_all(waiting, |p, n| async move {
            match wait_started(&p, &n).await {
                Ok(()) => result_struct(&p, Fault::Success.code(), "OK"),
                Err(e) => result_struct(&p, e.code, &e.text),
            }
        })
        .await,
    );
    Ok(Value::Array(results))
}

/// Run the waits concurrently; results in completion order (as supervisord's polling
/// appends them).
async fn complete_all<F, Fut>(items: Vec<(ProcessHandle, String)>, f: F) -> Vec<Value>
where
    F: Fn(ProcessHandle, String) -> Fut,
    Fut: Future<Output = Value> + 'static,
{
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let n = items.len();
    for (p, name) in items {
        let fut = f(p, name);
        let tx = tx.clone();
        tokio::task::spawn_local(async move {
            let _ = tx.send(fut.await);
        });
    }
    drop(tx);
    let mut out = Vec::with_capacity(n);
    while let Some(v) = rx.recv().await {
        out.push(v);
    }
    out
}

async fn begin_stop(
    p: &ProcessHandle,
    namespec: &str,
    wait: bool,
) -> Result<Option<ProcessHandle>, RpcError> {
    if !p.state().is_running() {
        return err(Fault::NotRunning, namespec);
    }
    match p.stop().await {
        Reply::Ok => {}
        Reply::NotRunning => return err(Fault::NotRunning, namespec),
        Reply::Failed(m) => return err(Fault::Failed, m),
        Reply::AlreadyStarted | Reply::InUnknownState => {}
    }
    if wait && !p.state().is_stopped() {
        return Ok(Some(p.clone()));
    }
    Ok(None)
}

/// stopProcess's deferred part, logging "waiting for NAME to stop" every 2 s.
async fn wait_stopped(p: &ProcessHandle) {
    // supervisord's stop_report: at once (the report timer was reset by the stop), then
    // every 2 s while the process is STOPPING.
    loop {
        if p.state() == corral_core::ProcessState::Stopping {
            mainlog::info(format!("waiting for {} to stop", p.name()));
        }
        let done = tokio::time::timeout(
            Duration::from_secs(2),
            p.wait_until(|i| i.state().is_stopped()),
        )
        .await;
        if done.is_ok() {
            return;
        }
    }
}

async fn stop_process(sup: &Rc<Supervisor>, name: &str, wait: bool) -> RpcResult {
    let (group, p) = group_and_process(sup, name)?;
    let Some(p) = p else {
        return stop_many(group_processes(&group), wait).await;
    };
    if let Some(p) = begin_stop(&p, name, wait).await? {
        wait_stopped(&p).await;
    }
    Ok(Value::Bool(true))
}

async fn stop_many(procs: Vec<ProcessHandle>, wait: bool) -> RpcResult {
    let mut results = Vec::new();
    let mut waiting = Vec::new();
    for p in procs {
        if !p.state().is_running() {
            continue;
        }
        let namespec = make_namespec(p.group(), p.name());
        match begin_stop(&p, &namespec, wait).await {
            Ok(None) => results.push(result_struct(&p, Fault::Success.code(), "OK")),
            Ok(Some(p)) => waiting.push((p, namespec)),
            Err(e) => results.push(result_struct(&p, e.code, &e.text)),
        }
    }
    results.extend(
        complete_all(waiting, |p, _| async move {
            wait_stopped(&p).await;
            result_struct(&p, Fault::Success.code(), "OK")
        })
        .await,
    );
    Ok(Value::Array(results))
}

/// supervisord's `signal_number(value)`: `int(value)` (so 28.7 is 28 and True is 1), else
/// a signal name; either must be one of Python's `signal.SIG*` values.
fn parse_signal(v: &Value) -> Option<i32> {
    let text = match v {
        Value::Int(n) => n.to_string(),
        Value::Bool(b) => i32::from(*b).to_string(),
        Value::Double(d) if d.is_finite() => (d.trunc() as i64).to_string(),
        Value::String(s) => s.clone(),
        Value::Base64(b) => String::from_utf8_lossy(b).into_owned(),
        // nil, lists, structs, datetimes: `value.strip()` raises in supervisord (HTTP 500).
        _ => return None,
    };
    corral_config::signals::number(&text)
}

/// The `%s` of BAD_SIGNAL: `str(value)`.
fn signal_repr(v: &Value) -> String {
    py_str(v).unwrap_or_else(|| "None".to_string())
}

async fn signal_one(p: &ProcessHandle, namespec: &str, sig: &Value) -> Result<(), RpcError> {
    let Some(num) = parse_signal(sig) else {
        return err(Fault::BadSignal, signal_repr(sig));
    };
    if !p.state().is_signallable() {
        return err(Fault::NotRunning, namespec);
    }
    match p.signal(num).await {
        Reply::Ok => Ok(()),
        Reply::NotRunning => err(Fault::NotRunning, namespec),
        Reply::Failed(m) => err(Fault::Failed, m),
        Reply::AlreadyStarted | Reply::InUnknownState => Ok(()),
    }
}

async fn signal_process(sup: &Rc<Supervisor>, name: &str, sig: &Value) -> RpcResult {
    let (group, p) = group_and_process(sup, name)?;
    let Some(p) = p else {
        check_running(sup)?;
        return Ok(signal_many(group_processes(&group), sig).await);
    };
    signal_one(&p, name, sig).await.map(|()| Value::Bool(true))
}

async fn signal_many(procs: Vec<ProcessHandle>, sig: &Value) -> Value {
    let mut results = Vec::new();
    for p in procs {
        if !p.state().is_signallable() {
            continue;
        }
        let namespec = make_namespec(p.group(), p.name());
        match signal_one(&p, &namespec, sig).await {
            Ok(()) => results.push(result_struct(&p, Fault::Success.code(), "OK")),
            Err(e) => results.push(result_struct(&p, e.code, &e.text)),
        }
    }
    Value::Array(results)
}

async fn clear_process_logs(sup: &Supervisor, name: &str) -> Result<(), RpcError> {
    named_process(sup, name)?
        .clear_logs()
        .await
        .or_else(|_| err(Fault::Failed, name))
}

/// supervisord's `getAllConfigInfo`: every process of the configuration last read (in
/// use or not), sorted by name.
fn all_config_info(sup: &Supervisor) -> Value {
    let config = sup.config();
    let running = sup.groups();
    let mut rows: Vec<(String, Value)> = Vec::new();
    for g in &config.groups {
        let active = running.iter().find(|r| r.name() == g.name);
        let inuse = active.is_some();
        let active = active.filter(|a| !runs_stale_config(sup, a.name()));
        for p in &g.processes {
            // AUTO logs of a group in use have their real names; otherwise 'auto'.
            let live = active.and_then(|a| a.find(&p.name)).map(|h| h.info().logs);
            let logfile = |lf: &LogFile, live: Option<String>| match lf {
                LogFile::Auto => live.map_or(Value::from("auto"), Value::from),
                LogFile::None => Value::from("none"),
                LogFile::Path(s) => Value::from(s.as_str()),
            };
            let opt = |v: &Option<String>| v.as_deref().map_or(Value::from("none"), Value::from);
            let int = |n: u64| Value::Int(capped_int(n as i64));
            // A channel's six members, as supervisord orders them (capture_maxbytes first).
            let channel = |name: &str, c: &corral_config::ChannelConfig, live: Option<String>| {
                vec![
                    (format!("{name}_capture_maxbytes"), int(c.capture_maxbytes)),
                    (
                        format!("{name}_events_enabled"),
                        Value::Bool(c.events_enabled),
                    ),
                    (format!("{name}_logfile"), logfile(&c.logfile, live)),
                    (
                        format!("{name}_logfile_backups"),
                        int(u64::from(c.logfile_backups)),
                    ),
                    (format!("{name}_logfile_maxbytes"), int(c.logfile_maxbytes)),
                    (format!("{name}_syslog"), Value::Bool(c.syslog)),
                ]
            };
            let uid = p
                .user
                .as_ref()
                .map_or(Value::from("none"), |u| Value::Int(u.uid as i32));
            let exitcodes = Value::Array(p.exitcodes.iter().map(|c| Value::Int(*c)).collect());
            let mut members: Vec<(String, Value)> = [
                ("autostart", Value::Bool(p.autostart)),
                ("directory", opt(&p.directory)),
                ("uid", uid),
                ("command", Value::from(p.command.as_str())),
                ("exitcodes", exitcodes),
                ("group", Value::from(g.name.as_str())),
                ("group_prio", Value::Int(g.priority as i32)),
                ("inuse", Value::Bool(inuse)),
                ("killasgroup", Value::Bool(p.killasgroup)),
                ("name", Value::from(p.name.as_str())),
                ("process_prio", Value::Int(p.priority as i32)),
                ("redirect_stderr", Value::Bool(p.redirect_stderr)),
                ("startretries", int(p.startretries)),
                ("startsecs", int(p.startsecs)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
            members.extend(channel(
                "stdout",
                &p.stdout,
                live.as_ref().and_then(|l| l.stdout.clone()),
            ));
            members.push(("stopsignal".into(), Value::Int(p.stopsignal)));
            members.push(("stopwaitsecs".into(), int(p.stopwaitsecs)));
            members.extend(channel(
                "stderr",
                &p.stderr,
                live.as_ref().and_then(|l| l.stderr.clone()),
            ));
            members.push(("serverurl".into(), opt(&p.serverurl)));
            let row = Value::Struct(members);
            rows.push((p.name.clone(), row));
        }
    }
    // Python's sort is stable: equal names keep configuration order.
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Array(rows.into_iter().map(|(_, v)| v).collect())
}

/// supervisord's `readFile`, with text made safe for XML.
fn read_file(path: &str, offset: i64, length: i64) -> RpcResult {
    let data = read_bytes(path, offset, length)?;
    Ok(Value::String(xml_safe_text(&data)))
}

/// supervisord's `readFile`, the bytes as the file holds them: `length` bytes from
/// `offset` (to the end when 0), or, with a negative `offset` (and `length` 0), the last
/// `-offset` bytes.
pub(super) fn read_bytes(path: &str, offset: i64, length: i64) -> Result<Vec<u8>, RpcError> {
    let mut f = std::fs::File::open(path).or_else(|_| err0(Fault::Failed))?;
    let mut data = Vec::new();
    if offset < 0 {
        if length != 0 {
            return err0(Fault::BadArguments);
        }
        let size = f.seek(SeekFrom::End(0)).or_else(|_| err0(Fault::Failed))?;
        let pos = size.saturating_sub(offset.unsigned_abs());
        f.seek(SeekFrom::Start(pos))
            .or_else(|_| err0(Fault::Failed))?;
        f.take(offset.unsigned_abs())
            .read_to_end(&mut data)
            .or_else(|_| err0(Fault::Failed))?;
    } else {
        if length < 0 {
            return err0(Fault::BadArguments);
        }
        f.seek(SeekFrom::Start(offset as u64))
            .or_else(|_| err0(Fault::Failed))?;
        if length == 0 {
            f.read_to_end(&mut data).or_else(|_| err0(Fault::Failed))?;
        } else {
            f.take(length as u64)
                .read_to_end(&mut data)
                .or_else(|_| err0(Fault::Failed))?;
        }
    }
    Ok(data)
}

/// supervisord's `tailFile`: [bytes, new offset, overflow].
fn tail_file(path: &str, offset: i64, length: i64) -> Value {
    let fallback = Value::Array(vec![
        Value::from(""),
        Value::Int(capped_int(offset)),
        Value::Bool(false),
    ]);
    let Ok(mut f) = std::fs::File::open(path) else {
        return fallback;
    };
    let Ok(sz) = f.seek(SeekFrom::End(0)) else {
        return fallback;
    };
    let sz = sz as i64;
    let (mut offset, mut length) = (offset, length);
    let mut overflow = false;
    if sz > offset + length {
        overflow = true;
        offset = sz - 1;
    }
    if offset + length > sz {
        if offset > sz - 1 {
            length = 0;
        }
        offset = sz - length;
    }
    offset = offset.max(0);
    length = length.max(0);
    let mut data = Vec::new();
    if length > 0 && f.seek(SeekFrom::Start(offset as u64)).is_ok() {
        let _ = (&mut f).take(length as u64).read_to_end(&mut data);
    }
    Value::Array(vec![
        Value::String(xml_safe_text(&data)),
        Value::Int(capped_int(sz)),
        Value::Bool(overflow),
    ])
}

/// A rough Python `repr()` of a value, for fault texts that quote an argument.
fn py_repr_value(v: &Value) -> String {
    match v {
        Value::Int(n) => n.to_string(),
        Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
        Value::Double(d) => corral_proto::xmlrpc::python_repr(*d),
        Value::String(s) => pystr::repr(s),
        Value::Nil => "None".into(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(py_repr_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Struct(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", pystr::repr(k), py_repr_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Value::Base64(b) => pystr::repr(&String::from_utf8_lossy(b)),
        Value::DateTime(s) => match parse_datetime(s) {
            // datetime's repr drops zero seconds (and microseconds, always zero here).
            Some([y, mo, d, h, mi, 0]) => format!("datetime.datetime({y}, {mo}, {d}, {h}, {mi})"),
            Some([y, mo, d, h, mi, se]) => {
                format!("datetime.datetime({y}, {mo}, {d}, {h}, {mi}, {se})")
            }
            None => s.clone(),
        },
    }
}

async fn system_ns(sup: &Rc<Supervisor>, name: &str, a: Args) -> RpcResult {
    match name {
        "listMethods" => {
            a.arity(0, 0)?;
            let mut names: Vec<Value> = api::list_methods().into_iter().map(Value::from).collect();
            names.extend(CORRAL_METHODS.iter().map(|(n, _, _)| Value::from(*n)));
            Ok(Value::Array(names))
        }
        "methodHelp" => {
            a.arity(1, 1)?;
            // supervisord compares the argument with each method name: a non-string
            // matches none.
            let Ok(name) = a.name(0) else {
                return err0(Fault::SignatureUnsupported);
            };
            if let Some(h) = api::method_help(&name) {
                return Ok(Value::from(h));
            }
            match CORRAL_METHODS.iter().find(|(n, _, _)| *n == name) {
                Some((_, _, help)) => Ok(Value::from(*help)),
                None => err0(Fault::SignatureUnsupported),
            }
        }
        "methodSignature" => {
            a.arity(1, 1)?;
            let Ok(name) = a.name(0) else {
                return err0(Fault::SignatureUnsupported);
            };
            let sig = api::method_signature(&name).or_else(|| {
                CORRAL_METHODS
                    .iter()
                    .find(|(n, _, _)| *n == name)
                    .map(|(_, s, _)| *s)
            });
            match sig {
                Some(s) => Ok(Value::Array(s.iter().map(|t| Value::from(*t)).collect())),
                None => err0(Fault::SignatureUnsupported),
            }
        }
        "multicall" => {
            a.arity(1, 1)?;
            let Some(Value::Array(calls)) = a.get(0).cloned() else {
                return err0(Fault::IncorrectParameters);
            };
            let mut results = Vec::with_capacity(calls.len());
            for call in calls {
                let r = match call.get("methodName") {
                    None | Some(Value::Nil) => Err(RpcError::new(
                        Fault::IncorrectParameters,
                        Some("No methodName"),
                    )),
                    Some(Value::String(m)) if m == "system.multicall" => Err(RpcError::new(
                        Fault::IncorrectParameters,
                        Some("Recursive system.multicall forbidden"),
                    )),
                    Some(m @ (Value::String(_) | Value::Base64(_))) => {
                        let m = py_str(m).unwrap_or_default();
                        match multicall_params(call.get("params")) {
                            Some(params) => dispatch(sup.clone(), m, params).await,
                            // `func(*params)` on a non-iterable: TypeError, once the
                            // method name resolved.
                            None if method_exists(&m) => err0(Fault::IncorrectParameters),
                            None => err0(Fault::UnknownMethod),
                        }
                    }
                    // `name.split('.')` on a non-string, caught by multicall's bare except.
                    Some(other) => err(
                        Fault::Failed,
                        format!(
                            "<class 'AttributeError'>:'{}' object has no attribute 'split'",
                            py_type_name(other)
                        ),
                    ),
                };
                // supervisord appends each value as is, not wrapped in a one-element
                // array as the multicall convention (and its own docstring) says; clients
                // written against it read bare values.
                results.push(match r {
                    Ok(v) => v,
                    Err(e) => Value::structure([
                        ("faultCode", Value::Int(e.code)),
                        ("faultString", Value::from(e.text.as_str())),
                    ]),
                });
            }
            Ok(Value::Array(results))
        }
        _ => err0(Fault::UnknownMethod),
    }
}

/// The positional parameters of one multicall entry: `func(*params)` in Python, so a
/// string gives its characters and a struct its keys; `None` when Python's `*` would fail
/// (nil, numbers, datetimes).
fn multicall_params(v: Option<&Value>) -> Option<Vec<Value>> {
    match v {
        None => Some(Vec::new()),
        Some(Value::Array(p)) => Some(p.clone()),
        Some(s @ (Value::String(_) | Value::Base64(_))) => Some(
            py_str(s)
                .unwrap_or_default()
                .chars()
                .map(|c| Value::String(c.to_string()))
                .collect(),
        ),
        Some(Value::Struct(m)) => Some(m.iter().map(|(k, _)| Value::from(k.as_str())).collect()),
        Some(_) => None,
    }
}

/// Whether `traverse` would find a method of that name.
fn method_exists(name: &str) -> bool {
    api::method_info(name).is_some() || CORRAL_METHODS.iter().any(|(n, _, _)| *n == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn py_str_is_pythons_str_of_the_unmarshalled_value() {
        assert_eq!(py_str(&Value::Nil), None);
        assert_eq!(py_str(&Value::Int(5)).as_deref(), Some("5"));
        assert_eq!(py_str(&Value::Bool(true)).as_deref(), Some("True"));
        assert_eq!(py_str(&Value::Double(1.5)).as_deref(), Some("1.5"));
        assert_eq!(py_str(&Value::Double(1.0)).as_deref(), Some("1.0"));
        assert_eq!(py_str(&Value::from("x")).as_deref(), Some("x"));
        assert_eq!(
            py_str(&Value::Base64(b"abc".to_vec())).as_deref(),
            Some("abc")
        );
        assert_eq!(
            py_str(&Value::DateTime("20200102T03:04:05".into())).as_deref(),
            Some("2020-01-02 03:04:05")
        );
        assert_eq!(
            py_str(&Value::Array(vec![Value::from("x"), Value::Int(1)])).as_deref(),
            Some("['x', 1]")
        );
        assert_eq!(
            py_str(&Value::structure([("a", Value::Int(1))])).as_deref(),
            Some("{'a': 1}")
        );
        assert_eq!(
            py_repr_value(&Value::Array(vec![
                Value::DateTime("20200102T03:04:00".into()),
                Value::Base64(b"b".to_vec()),
            ])),
            "[datetime.datetime(2020, 1, 2, 3, 4), 'b']"
        );
    }

    #[test]
    fn signals_as_signal_number_of_python_int() {
        assert_eq!(parse_signal(&Value::Int(28)), Some(28));
        assert_eq!(parse_signal(&Value::Double(28.9)), Some(28));
        assert_eq!(parse_signal(&Value::Bool(true)), Some(1));
        assert_eq!(parse_signal(&Value::from(" sigwinch ")), Some(28));
        assert_eq!(parse_signal(&Value::Base64(b"HUP".to_vec())), Some(1));
        assert_eq!(parse_signal(&Value::from("_dfl")), Some(0));
        assert_eq!(parse_signal(&Value::Int(33)), None);
        assert_eq!(parse_signal(&Value::from("1.5")), None);
        assert_eq!(parse_signal(&Value::Nil), None);
        assert_eq!(signal_repr(&Value::Nil), "None");
        assert_eq!(signal_repr(&Value::Double(1e10)), "10000000000.0");
    }

    #[test]
    fn int_arguments_fault_like_python() {
        let a = Args(vec![
            Value::from(" 1_000 "),
            Value::from("x"),
            Value::Nil,
            Value::Array(vec![]),
            Value::Double(f64::NAN),
            Value::Double(-2.7),
        ]);
        assert_eq!(a.int(0), Ok(1000));
        assert_eq!(a.int(1).unwrap_err().code, Fault::BadArguments.code());
        assert_eq!(
            a.int(2).unwrap_err().code,
            Fault::IncorrectParameters.code()
        );
        assert_eq!(
            a.int(3).unwrap_err().code,
            Fault::IncorrectParameters.code()
        );
        assert_eq!(a.int(4).unwrap_err().code, Fault::BadArguments.code());
        assert_eq!(a.int(5), Ok(-2));
    }

    #[test]
    fn multicall_params_unpack_like_star_args() {
        assert_eq!(multicall_params(None), Some(vec![]));
        assert_eq!(
            multicall_params(Some(&Value::from("ab"))),
            Some(vec![Value::from("a"), Value::from("b")])
        );
        assert_eq!(
            multicall_params(Some(&Value::structure([("k", Value::Int(1))]))),
            Some(vec![Value::from("k")])
        );
        assert_eq!(multicall_params(Some(&Value::Int(5))), None);
        assert_eq!(multicall_params(Some(&Value::Nil)), None);
    }

    #[test]
    fn cant_reread_words_the_first_error_as_supervisord() {
        let e = |section: Option<&str>, message: &str| corral_config::ConfigError {
            file: Some("/etc/s.conf".into()),
            line: Some(3),
            section: section.map(str::to_string),
            option: None,
            message: message.into(),
            host_dependent: false,
        };
        assert_eq!(
            cant_reread_text(&[
                e(
                    Some("program:x"),
                    "program section program:x does not specify a command"
                ),
                e(None, "second"),
            ]),
            "program section program:x does not specify a command in section 'program:x' \
             (file: '/etc/s.conf')"
        );
        assert_eq!(
            cant_reread_text(&[e(Some("group:g"), "bad group")]),
            "bad group"
        );
        assert_eq!(cant_reread_text(&[]), "");
    }
}
