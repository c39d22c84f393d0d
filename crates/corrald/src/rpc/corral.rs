//! corral's own XML-RPC namespace, `corral.*`: what supervisord has no method for. The
//! `supervisor.*` methods never change meaning; extensions live here. (Their help texts and
//! signatures are in `corral_proto::api`, beside supervisord's.)

use std::rc::Rc;

use corral_proto::api::{Fault, make_namespec, split_namespec};
use corral_proto::xmlrpc::Value;

use super::args::Args;
use super::error::{RpcError, RpcResult, err};
use super::supervisor::lookup::{all_processes, group_processes, named_process};
use crate::process::ProcessHandle;
use crate::supervisor::{DepStatus, RollItem, RollResult, ScaleError, Supervisor};

pub async fn get_version(_: Rc<Supervisor>, _: Args) -> RpcResult {
    Ok(Value::from(env!("CARGO_PKG_VERSION")))
}

pub async fn rolling_restart(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    let target = a.name(0)?;
    let (surge, unavailable) = limits(&a)?;
    let procs = resolve(&sup, &target)?;
    let items: Vec<RollItem> = procs.into_iter().map(|p| (p, None)).collect();
    let results = sup.rolling_restart(items, surge, unavailable).await;
    Ok(Value::Array(results.iter().map(result_value).collect()))
}

pub async fn rolling_update(sup: Rc<Supervisor>, a: Args) -> RpcResult {
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

/// `corral.upgrade(binary)`: replace corrald's binary in place (see `crate::upgrade`, in
/// the daemon layer). True once the new binary passed its check (the hand-over follows);
/// FAILED with the reason otherwise, and nothing changed.
pub async fn upgrade(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    let binary = match a.get(0) {
        None => None,
        Some(_) => Some(a.name(0)?).filter(|b| !b.is_empty()),
    };
    match sup.request_upgrade(binary).await {
        Ok(Ok(())) => Ok(Value::Bool(true)),
        Ok(Err(why)) => err(Fault::Failed, why),
        Err(_) => err(Fault::Failed, "the upgrade request was dropped"),
    }
}

/// `corral.getImage()`: which corrald image answers (an in-place upgrade keeps the pid
/// and starts a new image).
pub async fn get_image(sup: Rc<Supervisor>, _: Args) -> RpcResult {
    Ok(Value::structure([
        ("version", Value::from(env!("CARGO_PKG_VERSION"))),
        ("pid", Value::Int(std::process::id() as i32)),
        ("started", Value::Double(sup.image_started())),
    ]))
}

/// `max_surge` (default 1) and `max_unavailable` (default 0); they can't both be 0.
fn limits(a: &Args) -> Result<(usize, usize), RpcError> {
    let get = |i: usize, default: i64| -> Result<i64, RpcError> {
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
fn resolve(sup: &Supervisor, target: &str) -> Result<Vec<ProcessHandle>, RpcError> {
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
        Err(why) => (Fault::Failed.code(), Fault::Failed.text(Some(&why.0)), 0, 0),
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

/// `corral.getProcessHealth(name)`: what corral's liveness rules know of one process.
pub async fn get_process_health(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    Ok(health_value(&named_process(&sup, &a.name(0)?)?))
}

/// `corral.getAllProcessHealth()`: the same for every process, in `getAllProcessInfo`'s
/// order.
pub async fn get_all_process_health(sup: Rc<Supervisor>, _: Args) -> RpcResult {
    Ok(Value::Array(
        all_processes(&sup, true).iter().map(health_value).collect(),
    ))
}

fn health_value(p: &ProcessHandle) -> Value {
    let info = p.info();
    let s = &info.snapshot;
    let h = &s.health;
    let lv = &p.config.liveness;
    let check = lv
        .healthcheck
        .as_ref()
        .map(|h| h.probe.label())
        .unwrap_or_default();
    let restarts = corral_core::machine::RestartReason::ALL
        .into_iter()
        .map(|r| (r.name(), Value::Int(capped(s.restarts.get(r)))));
    Value::structure([
        ("name", Value::from(p.name())),
        ("group", Value::from(p.group())),
        ("namespec", Value::from(make_namespec(p.group(), p.name()))),
        ("statename", Value::from(s.state.name())),
        ("state", Value::from(h.state.name())),
        ("check", Value::from(check)),
        (
            "watchdogsecs",
            Value::Double(lv.watchdogsecs.map_or(0.0, |d| d.as_secs_f64())),
        ),
        (
            "last_check",
            Value::Int(corral_proto::api::capped_int(
                h.last_check.unwrap_or(0.0) as i64
            )),
        ),
        ("last_result", Value::from(h.last_result.as_str())),
        ("failures", Value::Int(capped(u64::from(h.failures)))),
        ("note", Value::from(h.note.as_deref().unwrap_or_default())),
        ("restarts", Value::structure(restarts)),
        (
            "now",
            Value::Int(corral_proto::api::capped_int(crate::sys::unix_time() as i64)),
        ),
    ])
}

fn capped(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
/// `corral.scaleProgram(name, n)`: run `n` processes of program `name`.
pub async fn scale_program(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    let name = a.name(0)?;
    let n = a.int(1)?;
    let Ok(n) = u32::try_from(n) else {
        return err(
            Fault::BadArguments,
            format!("the number of processes must be 0 or more, not {n}"),
        );
    };
    let scaled = match sup.scale_program(&name, n).await {
        Ok(s) => s,
        Err(ScaleError::NoSuchGroup) => return err(Fault::BadName, &name),
        Err(e) => return err(Fault::Failed, e.to_string()),
    };
    let item = |p: &ProcessHandle, action: &str, r: &Result<i32, String>| {
        let (status, description, pid) = match r {
            Ok(pid) => (Fault::Success.code(), "OK".to_string(), *pid),
            Err(why) => (Fault::Failed.code(), Fault::Failed.text(Some(why)), 0),
        };
        Value::structure([
            ("name", Value::from(p.name())),
            ("group", Value::from(p.group())),
            ("namespec", Value::from(make_namespec(p.group(), p.name()))),
            ("action", Value::from(action)),
            ("status", Value::Int(status)),
            ("description", Value::from(description)),
            ("pid", Value::Int(pid)),
        ])
    };
    let mut results: Vec<Value> = scaled
        .stopped
        .iter()
        .map(|(p, r)| item(p, "stopped", r))
        .collect();
    results.extend(scaled.started.iter().map(|(p, r)| item(p, "started", r)));
    Ok(Value::structure([
        ("name", Value::from(name.as_str())),
        ("from", Value::Int(scaled.from as i32)),
        ("to", Value::Int(scaled.to as i32)),
        ("processes", Value::Array(results)),
    ]))
}

/// `corral.getDependencies()`: the running programs in start order, what each depends
/// on (and whether that is met now), what depends on it, and what it waits for.
pub async fn get_dependencies(sup: Rc<Supervisor>, _: Args) -> RpcResult {
    let programs = sup.dependencies();
    Ok(Value::Array(
        programs
            .iter()
            .enumerate()
            .map(|(i, prog)| {
                let depends_on = prog
                    .depends_on
                    .iter()
                    .map(|(d, st)| {
                        let (state, why) = match st {
                            DepStatus::Met => ("met", String::new()),
                            DepStatus::Waiting => ("waiting", String::new()),
                            DepStatus::Blocked(why) => ("blocked", why.clone()),
                        };
                        Value::structure([
                            ("name", Value::from(d.program.as_str())),
                            ("condition", Value::from(d.condition.word())),
                            ("state", Value::from(state)),
                            ("reason", Value::from(why)),
                        ])
                    })
                    .collect();
                let names = |v: Vec<String>| Value::Array(v.into_iter().map(Value::from).collect());
                Value::structure([
                    ("name", Value::from(prog.name.as_str())),
                    ("start_position", Value::Int(i as i32 + 1)),
                    (
                        "processes",
                        names(
                            prog.processes
                                .iter()
                                .map(|p| make_namespec(p.group(), p.name()))
                                .collect(),
                        ),
                    ),
                    ("depends_on", Value::Array(depends_on)),
                    ("required_by", names(prog.required_by.clone())),
                    (
                        "waiting",
                        Value::from(prog.hold.as_ref().map_or(String::new(), |h| h.note.clone())),
                    ),
                ])
            })
            .collect(),
    ))
}
