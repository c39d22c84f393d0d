//! The status page's actions (StatusView.make_callback): each runs the XML-RPC method
//! supervisord's web interface calls, through the same dispatcher as XML-RPC requests
//! ([`dispatch::dispatch`](crate::rpc::dispatch)), waits for it as supervisord's deferred callback does, and
//! words the result as supervisord does for the redirect's `?message=`.

use std::fmt;
use std::rc::Rc;

use corral_proto::api::Fault;
use corral_proto::localtime::LocalTime;
use corral_proto::xmlrpc::Value;

use crate::rpc::dispatch;
use crate::rpc::error::RpcError;
use crate::rpc::supervisor::lookup::named_process;
use crate::supervisor::Supervisor;

/// Where supervisord's view raises instead of answering with a message: the client gets a
/// 500 and the log the exception.
#[derive(Debug)]
pub(super) enum ActionError {
    /// An unknown action, or a process action without a process name.
    Value(String),
    /// `stopAllProcesses` refused (supervisord is shutting down).
    Rpc(RpcError),
}

impl fmt::Display for ActionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionError::Value(action) => write!(f, "ValueError: {action}"),
            ActionError::Rpc(e) => write!(f, "RPCError: {}", e.text),
        }
    }
}

/// Run `action` (on the process `namespec` where it takes one); the message for the
/// redirect.
pub(super) async fn perform(
    sup: &Rc<Supervisor>,
    namespec: Option<&str>,
    action: &str,
) -> Result<String, ActionError> {
    let ctime = || LocalTime::now().ctime();
    match action {
        "refresh" => return Ok(format!("Page refreshed at {}", ctime())),
        "stopall" => {
            // An RPC error here (shutting down) escapes supervisord's view: a 500.
            call(sup, "supervisor.stopAllProcesses", vec![])
                .await
                .map_err(ActionError::Rpc)?;
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
        return Err(ActionError::Value(action.to_string()));
    };
    if named_process(sup, namespec).is_err() {
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
        _ => Err(ActionError::Value(action.to_string())),
    }
}

async fn call(sup: &Rc<Supervisor>, method: &str, params: Vec<Value>) -> Result<Value, RpcError> {
    dispatch::dispatch(sup.clone(), method.to_string(), params).await
}

fn multicall_entry(method: &str, params: Vec<Value>) -> Value {
    Value::structure([
        ("methodName", Value::from(method)),
        ("params", Value::Array(params)),
    ])
}
