//! `POST /RPC2`: decode the call, find the method in THE table, check its arity and
//! whether it may run now, call it, encode the answer.
//!
//! The table is the one place a method is declared: its name, how many positional
//! arguments Python's signature accepts, whether supervisord's `_update` refuses it once a
//! shutdown or restart began, and its handler. Help texts and signatures are the API's
//! (`corral_proto::api`), shared with corralctl; a test checks the two agree.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use corral_proto::api::Fault;
use corral_proto::http::Response;
use corral_proto::xmlrpc::{Value, encode_fault, encode_response, parse_call};

use super::args::{Args, py_str};
use super::auth_guard::Role;
use super::error::{RpcResult, err0};
use super::supervisor::lookup::check_running;
use super::supervisor::{self as sv, config, logs, process};
use super::{corral, system};
use crate::logs::mainlog;
use crate::supervisor::Supervisor;

type BoxFut = Pin<Box<dyn Future<Output = RpcResult>>>;
type Handler = fn(Rc<Supervisor>, Args) -> BoxFut;

/// When a method may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// supervisord's `_update`: refused with SHUTDOWN_STATE once a shutdown or restart
    /// began (after the arity check, before the body).
    Running,
    /// Always (`system.*`, `getVersion`-like calls, and `sendRemoteCommEvent`, which
    /// supervisord never checks).
    Always,
    /// The handler checks itself (the signal calls act first and fault after).
    InHandler,
}

/// Who may call a method: the server's read-only user too (`Look`), or only its full
/// user (`Act`). The rule: `get*`, `read*`, `tail*` and `system.*` look (`system.multicall`
/// is checked call by call); everything else acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Look,
    Act,
}

struct Method {
    name: &'static str,
    /// (min, max) positional arguments. Python checks the count (a TypeError, so
    /// INCORRECT_PARAMETERS) before the method body runs, so before `_update`.
    arity: (usize, usize),
    gate: Gate,
    access: Access,
    call: Handler,
}

macro_rules! m {
    ($name:literal, $min:literal..=$max:literal, $gate:ident, $access:ident, $f:path) => {
        Method {
            name: $name,
            arity: ($min, $max),
            gate: Gate::$gate,
            access: Access::$access,
            call: |s, a| Box::pin($f(s, a)),
        }
    };
}

/// Every method corrald serves.
#[rustfmt::skip]
static METHODS: &[Method] = &[
    m!("supervisor.getAPIVersion", 0..=0, Running, Look, sv::get_api_version),
    m!("supervisor.getVersion", 0..=0, Running, Look, sv::get_api_version),
    m!("supervisor.getSupervisorVersion", 0..=0, Running, Look, sv::get_supervisor_version),
    m!("supervisor.getIdentification", 0..=0, Running, Look, sv::get_identification),
    m!("supervisor.getState", 0..=0, Running, Look, sv::get_state),
    m!("supervisor.getPID", 0..=0, Running, Look, sv::get_pid),
    m!("supervisor.readLog", 2..=2, Running, Look, logs::read_log),
    m!("supervisor.readMainLog", 2..=2, Running, Look, logs::read_log),
    m!("supervisor.clearLog", 0..=0, Running, Act, logs::clear_log),
    m!("supervisor.shutdown", 0..=0, Running, Act, sv::shutdown),
    m!("supervisor.restart", 0..=0, Running, Act, sv::restart),
    m!("supervisor.reloadConfig", 0..=0, Running, Act, config::reload_config),
    m!("supervisor.addProcessGroup", 1..=1, Running, Act, config::add_process_group),
    m!("supervisor.removeProcessGroup", 1..=1, Running, Act, config::remove_process_group),
    m!("supervisor.getAllConfigInfo", 0..=0, Running, Look, config::get_all_config_info),
    m!("supervisor.startProcess", 1..=2, Running, Act, process::start_process),
    m!("supervisor.startProcessGroup", 1..=2, Running, Act, process::start_process_group),
    m!("supervisor.startAllProcesses", 0..=1, Running, Act, process::start_all_processes),
    m!("supervisor.stopProcess", 1..=2, Running, Act, process::stop_process),
    m!("supervisor.stopProcessGroup", 1..=2, Running, Act, process::stop_process_group),
    m!("supervisor.stopAllProcesses", 0..=1, Running, Act, process::stop_all_processes),
    m!("supervisor.signalProcess", 2..=2, Running, Act, process::signal_process),
    m!("supervisor.signalProcessGroup", 2..=2, InHandler, Act, process::signal_process_group),
    m!("supervisor.signalAllProcesses", 1..=1, InHandler, Act, process::signal_all_processes),
    m!("supervisor.sendProcessStdin", 2..=2, Running, Act, process::send_process_stdin),
    m!("supervisor.sendRemoteCommEvent", 2..=2, Always, Act, sv::send_remote_comm_event),
    m!("supervisor.getProcessInfo", 1..=1, Running, Look, process::get_process_info),
    m!("supervisor.getAllProcessInfo", 0..=0, Running, Look, process::get_all_process_info),
    m!("supervisor.readProcessStdoutLog", 3..=3, Running, Look, logs::read_process_stdout_log),
    m!("supervisor.readProcessLog", 3..=3, Running, Look, logs::read_process_stdout_log),
    m!("supervisor.readProcessStderrLog", 3..=3, Running, Look, logs::read_process_stderr_log),
    m!("supervisor.tailProcessStdoutLog", 3..=3, Running, Look, logs::tail_process_stdout_log),
    m!("supervisor.tailProcessLog", 3..=3, Running, Look, logs::tail_process_stdout_log),
    m!("supervisor.tailProcessStderrLog", 3..=3, Running, Look, logs::tail_process_stderr_log),
    m!("supervisor.clearProcessLogs", 1..=1, Running, Act, logs::clear_process_logs_call),
    m!("supervisor.clearProcessLog", 1..=1, Running, Act, logs::clear_process_logs_call),
    m!("supervisor.clearAllProcessLogs", 0..=0, Running, Act, logs::clear_all_process_logs),
    m!("system.listMethods", 0..=0, Always, Look, system::list_methods),
    m!("system.methodHelp", 1..=1, Always, Look, system::method_help),
    m!("system.methodSignature", 1..=1, Always, Look, system::method_signature),
    m!("system.multicall", 1..=1, Always, Look, system::multicall),
    m!("corral.getVersion", 0..=0, Always, Look, corral::get_version),
    m!("corral.rollingRestart", 1..=3, Running, Act, corral::rolling_restart),
    m!("corral.rollingUpdate", 1..=3, Running, Act, corral::rolling_update),
    m!("corral.upgrade", 0..=1, Running, Act, corral::upgrade),
    m!("corral.getImage", 0..=0, Always, Look, corral::get_image),
    m!("corral.getProcessHealth", 1..=1, Running, Look, corral::get_process_health),
    m!("corral.getAllProcessHealth", 0..=0, Running, Look, corral::get_all_process_health),
    m!("corral.scaleProgram", 2..=2, Running, Act, corral::scale_program),
    m!("corral.getDependencies", 0..=0, Running, Look, corral::get_dependencies),
];

fn find(name: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.name == name)
}

/// Whether `traverse` would find a method of that name.
pub fn method_exists(name: &str) -> bool {
    find(name).is_some()
}

/// Whether a method acts (only the full user may call it). An unknown name does not: its
/// call faults with UNKNOWN_METHOD for everyone.
pub fn is_action(name: &str) -> bool {
    find(name).is_some_and(|m| m.access == Access::Act)
}

/// Whether `role` may make this call: the full user any, the read-only user those that
/// look (for `system.multicall`, every call in it).
pub fn may_call(role: Role, method: &str, params: &[Value]) -> bool {
    if role == Role::Full {
        return true;
    }
    if method == "system.multicall" {
        let Some(Value::Array(calls)) = params.first() else {
            return true; // faults with INCORRECT_PARAMETERS
        };
        return calls.iter().all(|c| match c.get("methodName") {
            Some(m) => !py_str(m).is_some_and(|m| is_action(&m)),
            None => true,
        });
    }
    !is_action(method)
}

/// `POST /RPC2`: decode, dispatch, encode. A call `role` may not make is refused with
/// HTTP 403 (the read-only user calling an action).
pub async fn handle_http(sup: &Rc<Supervisor>, body: &[u8], role: Role) -> Response {
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
    if !may_call(role, &call.method, &call.params) {
        mainlog::warn(format!(
            "XML-RPC method {}() refused: the read-only user may not call it",
            call.method
        ));
        return Response::error_page(403);
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
pub async fn dispatch(sup: Rc<Supervisor>, method: String, params: Vec<Value>) -> RpcResult {
    let Some((_, name)) = method.split_once('.') else {
        return err0(Fault::UnknownMethod);
    };
    if name.contains('.') || name.starts_with('_') {
        return err0(Fault::UnknownMethod);
    }
    let Some(m) = find(&method) else {
        return err0(Fault::UnknownMethod);
    };
    let args = Args(params);
    args.arity(m.arity.0, m.arity.1)?;
    if m.gate == Gate::Running {
        check_running(&sup)?;
    }
    // Boxed: multicall calls back into dispatch.
    let fut: BoxFut = (m.call)(sup, args);
    fut.await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_and_the_api_list_the_same_methods() {
        let mut served: Vec<&str> = METHODS.iter().map(|m| m.name).collect();
        served.sort_unstable();
        let before = served.len();
        served.dedup();
        assert_eq!(before, served.len(), "a method is declared twice");
        let mut listed = corral_proto::api::list_methods();
        listed.sort_unstable();
        assert_eq!(served, listed);
    }

    #[test]
    fn the_read_only_user_may_call_exactly_what_looks() {
        for m in METHODS {
            let (ns, name) = m.name.split_once('.').unwrap();
            let looks = ns == "system"
                || name.starts_with("get")
                || name.starts_with("read")
                || name.starts_with("tail");
            assert_eq!(m.access == Access::Look, looks, "{}", m.name);
            assert_eq!(may_call(Role::ReadOnly, m.name, &[]), looks, "{}", m.name);
            assert!(may_call(Role::Full, m.name, &[]));
        }
        let call = |name: &str| Value::structure([("methodName", Value::from(name))]);
        let multi = |names: &[&str]| vec![Value::Array(names.iter().map(|n| call(n)).collect())];
        let params = multi(&["supervisor.getState", "supervisor.readLog"]);
        assert!(may_call(Role::ReadOnly, "system.multicall", &params));
        let params = multi(&["supervisor.getState", "supervisor.stopProcess"]);
        assert!(!may_call(Role::ReadOnly, "system.multicall", &params));
        assert!(may_call(Role::Full, "system.multicall", &params));
        assert!(may_call(Role::ReadOnly, "no.suchMethod", &[]));
    }

    #[test]
    fn arity_matches_the_signature() {
        for m in METHODS {
            let sig = corral_proto::api::method_signature(m.name).expect(m.name);
            // Every parameter of the signature may be passed; optional ones are the
            // trailing ones Python gives defaults.
            assert_eq!(m.arity.1, sig.len() - 1, "{}", m.name);
            assert!(m.arity.0 <= m.arity.1, "{}", m.name);
        }
    }
}
