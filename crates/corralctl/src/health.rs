//! `health [NAME...]` (corral's): what corrald's liveness rules know of each process
//! (`corral.getAllProcessHealth`), one line per process, or JSON with `--json`.
//!
//! ```text
//! web:web_0                        healthy    http://127.0.0.1:8000/health: HTTP 200 (3 s ago)
//! web:web_1                        unhealthy  unhealthy: http://…: timed out after 5 s (3 in a row); restarts: health 2
//! worker                           unknown    no health check
//! ```
//!
//! Exit status 1 when a process shown is unhealthy (or a name is unknown), else 0. It is
//! not part of supervisorctl's command list (`help` stays supervisorctl's), but
//! `help health` explains it.

use corral_proto::Value;
use corral_proto::api::{Fault, split_namespec};

use crate::controller::{Controller, exit, split_args};
use crate::error::CtlError;
use crate::format::{member, member_int, member_str, to_json};

pub const HELP: &str = "health\t\t\tHealth of every process (corrald: health checks, watchdog, restarts)\n\
health <name>\t\tHealth of a single process\n\
health <gname>:*\t\tHealth of all processes in a group";

impl Controller {
    pub(crate) fn do_health(&mut self, arg: &str) -> Result<(), CtlError> {
        if !self.upcheck()? {
            return Ok(());
        }
        let all = match self.call("corral.getAllProcessHealth", &[]) {
            Ok(v) => v,
            Err(e)
                if e.fault()
                    .is_some_and(|(code, _)| code == Fault::UnknownMethod.code()) =>
            {
                self.output(
                    "ERROR: health needs corrald (this daemon has no corral.getAllProcessHealth)",
                );
                self.exitstatus = exit::GENERIC;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let records = match &all {
            Value::Array(items) => items.as_slice(),
            other => {
                return Err(CtlError::value(format!(
                    "expected a list, the daemon sent a {}",
                    other.type_name()
                )));
            }
        };
        let names = split_args(arg);
        let mut shown = Vec::new();
        if names.is_empty() || names.iter().any(|n| n == "all") {
            shown.extend(records.iter());
        } else {
            for name in &names {
                let (group, process) = split_namespec(name);
                let mut found = false;
                for r in records {
                    let matched = member_str(r, "group")? == group
                        && match &process {
                            Some(p) => member_str(r, "name")? == *p,
                            None => true,
                        };
                    if matched {
                        found = true;
                        shown.push(r);
                    }
                }
                if !found {
                    self.output(&match process {
                        None => format!("{group}: ERROR (no such group)"),
                        Some(_) => format!("{name}: ERROR (no such process)"),
                    });
                    self.exitstatus = exit::GENERIC;
                }
            }
        }
        for r in shown {
            let line = line(r)?;
            if member_str(r, "state")? == "unhealthy" {
                self.exitstatus = exit::GENERIC;
            }
            self.result(&line, to_json(r));
        }
        Ok(())
    }
}

/// One process's line: name, state, then what is known.
fn line(r: &Value) -> Result<String, CtlError> {
    let namespec = member_str(r, "namespec")?;
    let state = member_str(r, "state")?;
    let check = member_str(r, "check")?;
    let watchdog = member(r, "watchdogsecs")?.as_f64().unwrap_or(0.0);
    let last_check = member_int(r, "last_check")?;
    let now = member_int(r, "now")?;
    let result = member_str(r, "last_result")?;
    let note = member_str(r, "note")?;
    let mut parts = Vec::new();
    if !note.is_empty() {
        parts.push(note);
    }
    if check.is_empty() && watchdog == 0.0 {
        parts.push("no health check".into());
    } else if last_check > 0 {
        parts.push(format!("{result} ({} s ago)", (now - last_check).max(0)));
    } else if !check.is_empty() {
        parts.push(format!("{check}: not checked yet"));
    } else {
        parts.push(format!("watchdog: {watchdog} s"));
    }
    let restarts = member(r, "restarts")?;
    let counts: Vec<String> = [
        "crash", "health", "watchdog", "memory", "lifetime", "manual",
    ]
    .into_iter()
    .filter_map(|k| {
        let n = restarts.get(k).and_then(Value::as_i32).unwrap_or(0);
        (n > 0).then(|| format!("{k} {n}"))
    })
    .collect();
    if !counts.is_empty() {
        parts.push(format!("restarts: {}", counts.join(", ")));
    }
    Ok(format!("{namespec:<32} {state:<10} {}", parts.join("; ")))
}
