//! corral's orchestration commands (corrald only): `scale NAME N|+N|-N` and `deps
//! [NAME...]`. supervisorctl has neither; `help` lists supervisorctl's commands only, and
//! `help scale` / `help deps` explain these.

use corral_proto::Value;
use corral_proto::api::Fault;
use serde_json::json;

use crate::controller::{Controller, exit, split_args};
use crate::error::CtlError;
use crate::format::{member, member_int, member_str, to_json};

/// `help scale`.
pub const HELP_SCALE: &str = "scale <name> <n>\tRun n processes of program <name> (corrald)\n\
     scale <name> +<n>\tStart n more processes\n\
     scale <name> -<n>\tStop the n highest-numbered processes\n\
     Note: the count lasts until an update that changes the program.";

/// `help deps`.
pub const HELP_DEPS: &str = "deps\t\t\tThe programs in start order, what each depends on (corrald)\n\
     deps <name> <name>\tOnly these programs";

fn list(v: &Value) -> Result<&[Value], CtlError> {
    v.as_array().ok_or_else(|| {
        CtlError::type_error(format!(
            "expected a list, the daemon sent a {}",
            v.type_name()
        ))
    })
}

impl Controller {
    fn no_corral(&mut self, method: &str) {
        self.output(&format!(
            "ERROR: this needs corrald (the daemon has no {method})"
        ));
        self.exitstatus = exit::GENERIC;
    }

    /// `scale NAME N|+N|-N`.
    pub(crate) fn do_scale(&mut self, arg: &str) -> Result<(), CtlError> {
        let args = split_args(arg);
        let [name, count] = args.as_slice() else {
            self.usage_error(
                "Error: scale requires a program name and a number",
                exit::GENERIC,
                "scale",
            );
            return Ok(());
        };
        let relative = count.starts_with('+') || count.starts_with('-');
        let Ok(n) = count.parse::<i64>() else {
            self.usage_error(
                &format!("Error: {count} is not a number (N, +N or -N)"),
                exit::GENERIC,
                "scale",
            );
            return Ok(());
        };
        let target = if relative {
            let infos = self.call("supervisor.getAllProcessInfo", &[])?;
            let mut current = 0i64;
            let mut found = false;
            for info in list(&infos)? {
                if member_str(info, "group")? == *name {
                    current += 1;
                    found = true;
                }
            }
            if !found && !self.group_exists(name)? {
                self.output(&format!("{name}: ERROR (no such group)"));
                self.exitstatus = exit::GENERIC;
                return Ok(());
            }
            current + n
        } else {
            n
        };
        if target < 0 {
            self.output(&format!("{name}: ERROR (can't run {target} processes)"));
            self.exitstatus = exit::GENERIC;
            return Ok(());
        }
        let target = i32::try_from(target).unwrap_or(i32::MAX);
        let result = match self.call(
            "corral.scaleProgram",
            &[Value::from(name.as_str()), Value::Int(target)],
        ) {
            Ok(r) => r,
            Err(e) => {
                return self.fault_line(e, |fault, text| match fault {
                    Some(Fault::UnknownMethod) => Some(
                        "ERROR: scale needs corrald (the daemon has no corral.scaleProgram)".into(),
                    ),
                    Some(Fault::BadName) => Some(format!("{name}: ERROR (no such group)")),
                    Some(Fault::Failed | Fault::BadArguments) => {
                        Some(format!("{name}: ERROR ({})", strip_fault(text)))
                    }
                    _ => None,
                });
            }
        };
        let mut failed = false;
        for r in list(member(&result, "processes")?)? {
            let namespec = member_str(r, "namespec")?;
            let action = member_str(r, "action")?;
            let pid = member_int(r, "pid")?;
            let ok = member_int(r, "status")? == i64::from(Fault::Success.code());
            let line = match (ok, action.as_str()) {
                (true, "started") => format!("{namespec}: started (pid {pid})"),
                (true, _) => format!("{namespec}: stopped"),
                (false, _) => {
                    failed = true;
                    let why = member_str(r, "description")?;
                    format!("{namespec}: ERROR ({})", strip_fault(&why))
                }
            };
            self.result(
                &line,
                json!({"name": namespec, "action": action, "ok": ok, "pid": pid}),
            );
        }
        let (from, to) = (member_int(&result, "from")?, member_int(&result, "to")?);
        self.text_only(&format!("{name}: scaled from {from} to {to} processes"));
        if failed || to != i64::from(target) {
            self.exitstatus = exit::GENERIC;
        }
        Ok(())
    }

    fn group_exists(&mut self, name: &str) -> Result<bool, CtlError> {
        let infos = self.call("supervisor.getAllConfigInfo", &[])?;
        for info in list(&infos)? {
            if member_str(info, "group")? == name {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// `deps [NAME...]`.
    pub(crate) fn do_deps(&mut self, arg: &str) -> Result<(), CtlError> {
        let names = split_args(arg);
        let graph = match self.call("corral.getDependencies", &[]) {
            Ok(g) => g,
            Err(e)
                if e.fault()
                    .is_some_and(|(c, _)| c == Fault::UnknownMethod.code()) =>
            {
                self.no_corral("corral.getDependencies");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let programs = list(&graph)?;
        for n in &names {
            let mut known = false;
            for p in programs {
                known |= member_str(p, "name")? == *n;
            }
            if !known {
                self.output(&format!("{n}: ERROR (no such program)"));
                self.exitstatus = exit::GENERIC;
            }
        }
        let width = programs
            .iter()
            .filter_map(|p| member_str(p, "name").ok())
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(0);
        for p in programs {
            let name = member_str(p, "name")?;
            if !names.is_empty() && !names.contains(&name) {
                continue;
            }
            let mut deps = Vec::new();
            for d in list(member(p, "depends_on")?)? {
                let state = member_str(d, "state")?;
                let reason = member_str(d, "reason")?;
                let shown = if reason.is_empty() {
                    state
                } else {
                    format!("{state}: {reason}")
                };
                deps.push(format!(
                    "{}:{} ({shown})",
                    member_str(d, "name")?,
                    member_str(d, "condition")?
                ));
            }
            let waiting = member_str(p, "waiting")?;
            let mut line = format!("{:>2}. {name:<width$}", member_int(p, "start_position")?);
            if !deps.is_empty() {
                line.push_str(&format!("  after {}", deps.join(", ")));
            }
            if !waiting.is_empty() {
                line.push_str(&format!("  [{waiting}]"));
            }
            self.result(line.trim_end(), to_json(p));
        }
        Ok(())
    }
}

/// `FAILED: why` → `why`.
fn strip_fault(text: &str) -> String {
    text.split_once(": ")
        .filter(|(head, _)| head.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .map_or(text, |(_, rest)| rest)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_names_are_dropped() {
        assert_eq!(strip_fault("FAILED: busy"), "busy");
        assert_eq!(strip_fault("plain: text"), "plain: text");
    }
}
