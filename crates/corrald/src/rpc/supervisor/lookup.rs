//! Finding what a call names: groups, processes, their log files; and supervisord's
//! `_update` check that refuses work once a shutdown or restart began.

use corral_core::SupervisorState;
use corral_proto::api::{Fault, split_namespec};
use corral_proto::xmlrpc::Value;

use crate::process::ProcessHandle;
use crate::rpc::args::py_str;
use crate::rpc::error::{RpcError, err, err_value, err0};
use crate::supervisor::{Group, Supervisor};

/// A group looked up by an argument the way supervisord does, `process_groups.get(name)`:
/// a string finds its group or is BAD_NAME; any other hashable value (number, bool, nil,
/// datetime) finds nothing (BAD_NAME with its `str()`); a list or struct is unhashable, a
/// TypeError, so INCORRECT_PARAMETERS.
pub fn lookup_group(sup: &Supervisor, v: Option<&Value>) -> Result<Group, RpcError> {
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

/// supervisord's `_update`: every supervisor.* call fails once shutdown or restart began.
pub fn check_running(sup: &Supervisor) -> Result<(), RpcError> {
    if sup.state() == SupervisorState::Running {
        Ok(())
    } else {
        err0(Fault::ShutdownState)
    }
}

/// `_getGroupAndProcess`: (group, process or None for `group:*`).
pub fn group_and_process(
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
pub fn named_process(sup: &Supervisor, name: &str) -> Result<ProcessHandle, RpcError> {
    match group_and_process(sup, name)? {
        (_, Some(p)) => Ok(p),
        (_, None) => err(Fault::BadName, name),
    }
}

/// The stdout (or stderr) log file of process `name`, `None` when it has none (NONE, or
/// stderr redirected).
pub fn process_log(sup: &Supervisor, name: &str, stderr: bool) -> Result<Option<String>, RpcError> {
    let logs = named_process(sup, name)?.info().logs;
    Ok(if stderr { logs.stderr } else { logs.stdout }.map(|p| p.to_string()))
}

/// A log file that must exist to be read: NO_FILE with its path when it does not, a bare
/// NO_FILE (`RPCError(NO_FILE, None)`) when there is no file at all.
pub fn existing_file(path: Option<String>) -> Result<String, RpcError> {
    match path {
        Some(p) if std::path::Path::new(&p).exists() => Ok(p),
        Some(p) => err(Fault::NoFile, p),
        None => err0(Fault::NoFile),
    }
}

/// `_getAllProcesses`: priority order (groups, then processes; ties keep config order), or
/// lexical order.
pub fn all_processes(sup: &Supervisor, lexical: bool) -> Vec<ProcessHandle> {
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

pub fn group_processes(group: &Group) -> Vec<ProcessHandle> {
    let mut procs = group.processes.clone();
    procs.sort_by_key(|p| p.config.priority);
    procs
}
