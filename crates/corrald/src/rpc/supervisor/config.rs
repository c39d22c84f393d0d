//! `supervisor.*` configuration calls: `reloadConfig` (supervisorctl's reread),
//! `addProcessGroup`/`removeProcessGroup` (its update), and `getAllConfigInfo` (its avail).

use std::rc::Rc;

use corral_config::{LogFile, pystr};
use corral_proto::api::{Fault, capped_int};
use corral_proto::xmlrpc::Value;

use super::lookup::lookup_group;
use crate::rpc::args::Args;
use crate::rpc::error::{RpcResult, err, err_value};
use crate::supervisor::{AddGroupError, Supervisor};

pub async fn reload_config(sup: Rc<Supervisor>, _: Args) -> RpcResult {
    match sup.reload_config() {
        Ok(diff) => {
            let names = |v: Vec<String>| Value::Array(v.into_iter().map(Value::from).collect());
            Ok(Value::Array(vec![Value::Array(vec![
                names(diff.added),
                names(diff.changed),
                names(diff.removed),
            ])]))
        }
        Err(errors) => err(Fault::CantReread, cant_reread_text(&errors)),
    }
}

pub async fn add_process_group(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    // supervisord compares `config.name == name`: any non-string is just not found.
    let name = match a.get(0) {
        Some(Value::String(_) | Value::Base64(_)) => a.name(0)?,
        other => return err_value(Fault::BadName, other),
    };
    match sup.add_group_from_config(&name).await {
        Ok(true) => Ok(Value::Bool(true)),
        Ok(false) => err(Fault::AlreadyAdded, &name),
        Err(AddGroupError::NotInConfig) => err(Fault::BadName, &name),
        Err(AddGroupError::Failed(e)) => err(Fault::Failed, e.to_string()),
    }
}

pub async fn remove_process_group(sup: Rc<Supervisor>, a: Args) -> RpcResult {
    let name = lookup_group(&sup, a.get(0))?.name().to_string();
    if sup.remove_group(&name) {
        Ok(Value::Bool(true))
    } else {
        err(Fault::StillRunning, &name)
    }
}

pub async fn get_all_config_info(sup: Rc<Supervisor>, _: Args) -> RpcResult {
    Ok(all_config_info(&sup))
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

/// supervisord's `getAllConfigInfo`: every process of the configuration last read (in
/// use or not), sorted by name.
fn all_config_info(sup: &Supervisor) -> Value {
    let config = sup.config();
    let running = sup.groups();
    let mut rows: Vec<(String, Value)> = Vec::new();
    for g in &config.groups {
        let active = running.iter().find(|r| r.name() == g.name);
        let inuse = active.is_some();
        let active = active.filter(|a| !sup.runs_stale_config(a.name()));
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
                live.as_ref()
                    .and_then(|l| l.stdout.as_deref().map(str::to_string)),
            ));
            members.push(("stopsignal".into(), Value::Int(p.stopsignal)));
            members.push(("stopwaitsecs".into(), int(p.stopwaitsecs)));
            members.extend(channel(
                "stderr",
                &p.stderr,
                live.as_ref()
                    .and_then(|l| l.stderr.as_deref().map(str::to_string)),
            ));
            members.push(("serverurl".into(), opt(&p.serverurl)));
            let row = Value::from(members);
            rows.push((p.name.clone(), row));
        }
    }
    // Python's sort is stable: equal names keep configuration order.
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Array(rows.into_iter().map(|(_, v)| v).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

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
