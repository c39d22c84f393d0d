//! corral's own XML-RPC namespace, `corral.*`: what supervisord has no method for. The
//! `supervisor.*` methods never change meaning; extensions live here.

use std::rc::Rc;

use corral_proto::api::{Fault, make_namespec, split_namespec};
use corral_proto::xmlrpc::Value;

use super::methods::{Args, RpcResult, all_processes, check_running, err, err0, group_processes};
use crate::process::ProcessHandle;
use crate::supervisor::{RollItem, RollResult, Supervisor};

/// corral's methods: (name, signature, help), for `system.listMethods` and friends.
pub const CORRAL_METHODS: &[(&str, &[&str], &str)] = &[
    (
        "corral.getVersion",
        &["string"],
        " Return the version of corral serving this API (supervisor.getSupervisorVersion\n        answers 4.3.0, the supervisord version corral is compatible with).\n\n        @return string version\n        ",
    ),
    (
        "corral.rollingRestart",
        &["array", "string", "int", "int"],
        " Restart processes without a gap: for each one, start a replacement, wait until it\n        is ready (its readiness check, and up for startsecs), then stop the old one with its\n        stopsignal and stopwaitsecs. A process that is not running is started. The first\n        failure ends the rollout; the old process of a failed replacement keeps serving.\n\n        @param string name          process (or 'group:name'), 'group:*', group, or 'all'\n        @param int max_surge        replacements running at once (default 1)\n        @param int max_unavailable  processes that may instead be stopped first (default 0)\n        @return array result        {name, group, status, description, old_pid, new_pid} per process\n        ",
    ),
    (
        "corral.rollingUpdate",
        &["array", "string", "int", "int"],
        " Apply a changed group's new configuration (after supervisor.reloadConfig) without a\n        gap, as rollingRestart does. Fails with FAILED when the group's processes changed\n        (names or kind): then remove and add it as supervisorctl update does.\n\n        @param string name          the group\n        @param int max_surge        replacements running at once (default 1)\n        @param int max_unavailable  processes that may instead be stopped first (default 0)\n        @return array result        {name, group, status, description, old_pid, new_pid} per process\n        ",
    ),
];

pub async fn call(sup: &Rc<Supervisor>, name: &str, a: Args) -> RpcResult {
    match name {
        "getVersion" => {
            a.arity(0, 0)?;
            Ok(Value::from(env!("CARGO_PKG_VERSION")))
        }
        "rollingRestart" => {
            a.arity(1, 3)?;
            check_running(sup)?;
            let target = a.name(0)?;
            let (surge, unavailable) = limits(&a)?;
            let procs = resolve(sup, &target)?;
            let items: Vec<RollItem> = procs.into_iter().map(|p| (p, None)).collect();
            let results = sup.rolling_restart(items, surge, unavailable).await;
            Ok(Value::Array(results.iter().map(result_value).collect()))
        }
        "rollingUpdate" => {
            a.arity(1, 3)?;
            check_running(sup)?;
            let group = a.name(0)?;
            if sup.group(&group).is_none() {
                return err(Fault::BadName, &group);
            }
            let (surge, unavailable) = limits(&a)?;
            match sup.rolling_update(&group, surge, unavailable).await {
                Ok(results) => Ok(Value::Array(results.iter().map(result_value).collect())),
                Err(why) => err(Fault::Failed, why),
            }
        }
        _ => err0(Fault::UnknownMethod),
    }
}

/// `max_surge` (default 1) and `max_unavailable` (default 0); they can't both be 0.
fn limits(a: &Args) -> Result<(usize, usize), super::methods::RpcError> {
    let get = |i: usize, default: i64| -> Result<i64, super::methods::RpcError> {
        if a.get(i).is_some() {
            a.int(i)
        } else {
            Ok(default)
        }
    };
    let (surge, unavailable) = (get(1, 1)?, get(2, 0)?);
    if surge < 0 || unavailable < 0 || surge + unavailable == 0 {
        return err(
            Fault::BadArguments,
            "max_surge and max_unavailable can't both be 0 (or negative)",
        );
    }
    Ok((surge as usize, unavailable as usize))
}

/// `all`, `group:*`, a group's name, or a process namespec.
fn resolve(sup: &Supervisor, target: &str) -> Result<Vec<ProcessHandle>, super::methods::RpcError> {
    if target == "all" {
        return Ok(all_processes(sup, false));
    }
    let (group_name, process) = split_namespec(target);
    let Some(group) = sup.group(&group_name) else {
        return err(Fault::BadName, target);
    };
    match process {
        None => Ok(group_processes(&group)),
        Some(p) => match group.find(&p) {
            Some(h) => Ok(vec![h.clone()]),
            // A bare group name (its processes are not named after it): the whole group.
            None if !target.contains(':') => Ok(group_processes(&group)),
            None => err(Fault::BadName, target),
        },
    }
}

fn result_value(r: &RollResult) -> Value {
    let (status, description, old, new) = match &r.outcome {
        Ok((old, new)) => (Fault::Success.code(), "OK".to_string(), *old, *new),
        Err(why) => (Fault::Failed.code(), Fault::Failed.text(Some(why)), 0, 0),
    };
    Value::structure([
        ("name", Value::from(r.process.name())),
        ("group", Value::from(r.process.group())),
        (
            "namespec",
            Value::from(make_namespec(r.process.group(), r.process.name())),
        ),
        ("status", Value::Int(status)),
        ("description", Value::from(description)),
        ("old_pid", Value::Int(old)),
        ("new_pid", Value::Int(new)),
    ])
}
