//! The `supervisor.*` namespace: supervisord 4.3.0's `SupervisorNamespaceRPCInterface`
//! (`rpcinterface.py`), with the same argument handling, results, fault codes and fault
//! strings. This file has the daemon-level calls; processes, logs and configuration have
//! a file each.
//!
//! Where supervisord answers a bad argument with an HTTP 500 (an uncaught Python
//! exception: `readLog("x", 1)`, `startProcess(1)`), corral answers with a fault instead
//! (INCORRECT_PARAMETERS or BAD_ARGUMENTS): a client gets an error it can read, and the
//! daemon logs nothing alarming.

pub mod config;
pub mod describe;
pub mod logs;
pub mod lookup;
pub mod process;

use std::rc::Rc;

use corral_proto::api;
use corral_proto::xmlrpc::Value;

use crate::rpc::args::{Args, py_repr_value};
use crate::rpc::error::RpcResult;
use crate::supervisor::{Request, Supervisor};

pub async fn get_api_version(_: Rc<Supervisor>, _: Args) -> RpcResult {
    Ok(Value::from(api::API_VERSION))
}

pub async fn get_supervisor_version(_: Rc<Supervisor>, _: Args) -> RpcResult {
    Ok(Value::from(api::SUPERVISOR_VERSION))
}

pub async fn get_identification(sup: Rc<Supervisor>, _: Args) -> RpcResult {
    Ok(Value::from(sup.config().supervisord.identifier.as_str()))
}

pub async fn get_state(sup: Rc<Supervisor>, _: Args) -> RpcResult {
    let s = sup.state();
    Ok(Value::structure([
        ("statecode", Value::Int(s.code())),
        ("statename", Value::from(s.name())),
    ]))
}

pub async fn get_pid(_: Rc<Supervisor>, _: Args) -> RpcResult {
    Ok(Value::Int(std::process::id() as i32))
}

pub async fn shutdown(sup: Rc<Supervisor>, _: Args) -> RpcResult {
    sup.request(Request::Shutdown);
    Ok(Value::Bool(true))
}

pub async fn restart(sup: Rc<Supervisor>, _: Args) -> RpcResult {
    sup.request(Request::Restart);
    Ok(Value::Bool(true))
}

pub async fn send_remote_comm_event(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Base64(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(other) => py_repr_value(other),
        None => String::new(),
    };
    sup.send_remote_comm_event(text(a.get(0)), text(a.get(1)));
    Ok(Value::Bool(true))
}
