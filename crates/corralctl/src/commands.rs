//! supervisorctl's `DefaultControllerPlugin` commands (all but the streaming ones, which
//! are in `stream.rs`), in its order of checks, calls, messages and exit statuses.

use corral_proto::api::{Fault, make_namespec, split_namespec};
use corral_proto::{ProcessState, Value};
use serde_json::json;

use crate::controller::{Controller, exit, split_args};
use crate::error::CtlError;
use crate::format::{
    self, Outcome, StatusRow, member, member_int, member_str, namespec_of, to_json,
};
use crate::help;
use crate::options::UrlSource;

/// The per-process commands that print one result line per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Start,
    Stop,
    Signal,
    Clear,
}

impl Action {
    /// The name in `--json` items.
    fn name(self) -> &'static str {
        match self {
            Action::Start => "start",
            Action::Stop => "stop",
            Action::Signal => "signal",
            Action::Clear => "clear",
        }
    }

    /// `_startresult` / `_stopresult` / `_signalresult` / `_clearresult`.
    fn outcome(self, code: i32) -> Option<Outcome> {
        match self {
            Action::Start => format::start_outcome(code),
            Action::Stop => format::signal_outcome(code, "stopped"),
            Action::Signal => format::signal_outcome(code, "signalled"),
            Action::Clear => format::clear_outcome(code),
        }
    }

    /// Whether supervisorctl reads the result's description (`_signalresult` prints a
    /// FAILED fault's string as the whole line).
    fn uses_description(self) -> bool {
        matches!(self, Action::Stop | Action::Signal)
    }
}

/// What a start/stop/signal/clear produced for one name, for text and JSON alike.
struct ItemResult {
    namespec: String,
    action: Action,
    code: i32,
    /// The text after `name: ` (`started`, `ERROR (spawn error)`), or a whole line for
    /// FAILED signal results, which supervisorctl prints bare.
    line: String,
    status: String,
    ok: bool,
}

/// What start, stop and signal do with their names, in which they differ.
struct PerName {
    action: Action,
    /// The methods for `all`, a group and a process.
    methods: [&'static str; 3],
    /// What follows the name in every call (the signal).
    extra: Vec<Value>,
    /// The fault that leaves the exit status alone (`ALREADY_STARTED` for start, …).
    ignored: Option<i32>,
    /// A failed group call, which each command handles its own way in supervisorctl:
    /// given the error and the group, Ok when it printed something, else the error to
    /// raise.
    group_failed: fn(&mut Controller, CtlError, &str) -> Result<(), CtlError>,
}

/// `reloadConfig()[0]`: the groups added, changed and removed.
type Changes = (Vec<String>, Vec<String>, Vec<String>);

fn list(v: &Value) -> Result<&[Value], CtlError> {
    v.as_array().ok_or_else(|| {
        CtlError::type_error(format!(
            "expected a list, the daemon sent a {}",
            v.type_name()
        ))
    })
}

fn strings(v: &Value) -> Result<Vec<String>, CtlError> {
    Ok(list(v)?.iter().map(format::py_str).collect())
}

fn fault_is(e: &CtlError, fault: Fault) -> bool {
    e.fault().is_some_and(|(code, _)| code == fault.code())
}

/// `info` as JSON, with its `namespec` added.
fn json_with_namespec(info: &Value, namespec: &str) -> serde_json::Value {
    let mut item = to_json(info);
    if let Some(obj) = item.as_object_mut() {
        obj.insert("namespec".into(), json!(namespec));
    }
    item
}

impl Controller {
    pub(crate) fn do_help(&mut self, arg: &str) {
        let arg_stripped = corral_config::pystr::strip(arg);
        if arg_stripped == "help" {
            self.output(help::HELP_HELP);
        } else if !arg.is_empty() {
            match help::topic(arg) {
                Some(text) => self.output(text),
                None => self.output(&format!("*** No help on {arg}")),
            }
        } else {
            self.write_out(help::topics().as_bytes());
        }
    }

    fn emit_item(&mut self, r: &ItemResult) {
        let item = json!({
            "name": r.namespec,
            "action": r.action.name(),
            "ok": r.ok,
            "status": r.status,
            "code": r.code,
        });
        self.result(&r.line, item);
    }

    /// The result line of every record (`name`, `group`, `status`, `description`) in a
    /// list such as `startAllProcesses` returns, then the exit status rule.
    fn emit_records(
        &mut self,
        action: Action,
        records: &Value,
        ignored: Option<i32>,
    ) -> Result<(), CtlError> {
        for record in list(records)? {
            let namespec = namespec_of(record)?;
            let code = i32::try_from(member_int(record, "status")?).unwrap_or(i32::MIN);
            let description = if action.uses_description() {
                member_str(record, "description")?
            } else {
                String::new()
            };
            self.emit_outcome(action, namespec, code, &description, ignored)?;
        }
        Ok(())
    }

    /// One per-process call (`startProcess`, `stopProcess`, …) and its result line: a
    /// fault is an outcome to print, anything else an error to raise.
    fn call_outcome(
        &mut self,
        action: Action,
        namespec: String,
        method: &str,
        params: &[Value],
        ignored: Option<i32>,
    ) -> Result<(), CtlError> {
        match self.call(method, params) {
            Ok(_) => self.emit_outcome(action, namespec, Fault::Success.code(), "", None),
            Err(e) => match e.fault() {
                Some((code, text)) => {
                    let text = if action.uses_description() { text } else { "" };
                    self.emit_outcome(action, namespec, code, text, ignored)
                }
                None => Err(e),
            },
        }
    }

    fn emit_outcome(
        &mut self,
        action: Action,
        namespec: String,
        code: i32,
        description: &str,
        ignored: Option<i32>,
    ) -> Result<(), CtlError> {
        let ok = code == Fault::Success.code() || Some(code) == ignored;
        let (line, status) = match action.outcome(code) {
            Some(o) => (
                format::outcome_line(&namespec, o),
                match o {
                    Ok(w) | Err(w) => w.to_string(),
                },
            ),
            // _signalresult prints a FAILED fault's string as the whole line.
            None if code == Fault::Failed.code() && action.uses_description() => {
                (description.to_string(), description.to_string())
            }
            None => {
                return Err(CtlError::value(format!(
                    "Unknown result code {code} for {namespec}"
                )));
            }
        };
        self.emit_item(&ItemResult {
            namespec,
            action,
            code,
            line,
            status,
            ok,
        });
        self.set_exitstatus_from_fault(code, ignored);
        Ok(())
    }

    /// A `name: ERROR (no such group)` line, as an item in JSON.
    fn no_such_group(&mut self, action: Action, group: &str) {
        self.emit_item(&ItemResult {
            namespec: group.to_string(),
            action,
            code: Fault::BadName.code(),
            line: format!("{group}: ERROR (no such group)"),
            status: "no such group".into(),
            ok: false,
        });
    }

    /// start, stop and signal of `names`: `all` in one call, else each name by its own
    /// call, for its group or its process; a result line per process.
    fn act_on_names(&mut self, names: &[String], how: PerName) -> Result<(), CtlError> {
        let PerName {
            action,
            methods: [all_method, group_method, process_method],
            extra,
            ignored,
            group_failed,
        } = how;
        if names.iter().any(|n| n == "all") {
            let results = self.call(all_method, &extra)?;
            return self.emit_records(action, &results, ignored);
        }
        let with_extra = |first: &str| [&[Value::from(first)], extra.as_slice()].concat();
        for name in names {
            let (group, process) = split_namespec(name);
            match process {
                None => match self.call(group_method, &with_extra(&group)) {
                    Ok(results) => self.emit_records(action, &results, ignored)?,
                    Err(e) => group_failed(self, e, &group)?,
                },
                Some(process) => {
                    let namespec = make_namespec(&group, &process);
                    let params = with_extra(name);
                    self.call_outcome(action, namespec, process_method, &params, ignored)?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn do_status(&mut self, arg: &str) -> Result<(), CtlError> {
        if !self.upcheck()? {
            self.exitstatus = exit::STATUS_UNKNOWN;
            return Ok(());
        }
        let infos = self.call("supervisor.getAllProcessInfo", &[])?;
        let all = list(&infos)?;
        let names = split_args(arg);
        let matching: Vec<&Value> = if names.is_empty() || names.iter().any(|n| n == "all") {
            all.iter().collect()
        } else {
            let mut matching = Vec::new();
            for name in &names {
                let (group, process) = split_namespec(name);
                let mut found = false;
                for info in all {
                    let mut matched = member_str(info, "group")? == group;
                    if let Some(p) = &process {
                        matched = matched && member_str(info, "name")? == *p;
                    }
                    if matched {
                        found = true;
                        matching.push(info);
                    }
                }
                if !found {
                    let msg = match process {
                        None => format!("{group}: ERROR (no such group)"),
                        Some(_) => format!("{name}: ERROR (no such process)"),
                    };
                    self.output(&msg);
                    self.exitstatus = exit::STATUS_UNKNOWN;
                }
            }
            matching
        };
        self.show_statuses(&matching)?;
        for info in matching {
            let state = i32::try_from(member_int(info, "state")?).ok();
            if state
                .and_then(ProcessState::from_code)
                .is_some_and(ProcessState::is_stopped)
            {
                self.exitstatus = exit::STATUS_NOT_RUNNING;
            }
        }
        Ok(())
    }

    fn show_statuses(&mut self, infos: &[&Value]) -> Result<(), CtlError> {
        let rows = infos
            .iter()
            .map(|info| StatusRow::from_info(info))
            .collect::<Result<Vec<_>, _>>()?;
        let lines = format::status_lines(&rows, self.colour());
        for ((line, info), row) in lines.iter().zip(infos).zip(&rows) {
            self.result(line, json_with_namespec(info, &row.namespec));
        }
        Ok(())
    }

    pub(crate) fn do_pid(&mut self, arg: &str) -> Result<(), CtlError> {
        // supervisorctl makes its proxy before the upcheck, so a bad URL fails first.
        self.client()?;
        if !self.upcheck()? {
            return Ok(());
        }
        let names = split_args(arg);
        if names.is_empty() {
            let pid = self.call("supervisor.getPID", &[])?;
            let text = format::py_str(&pid);
            self.result(&text, json!({"name": "supervisord", "pid": to_json(&pid)}));
        } else if names.iter().any(|n| n == "all") {
            let all = self.call("supervisor.getAllProcessInfo", &[])?;
            for info in list(&all)? {
                let pid = member(info, "pid")?;
                let namespec = namespec_of(info)?;
                self.result(
                    &format::py_str(pid),
                    json!({"name": namespec, "pid": to_json(pid)}),
                );
            }
        } else {
            for name in names {
                match self.call("supervisor.getProcessInfo", &[Value::from(name.as_str())]) {
                    Err(e) => self.fault_line(e, |fault, _| match fault {
                        Some(Fault::BadName) => Some(format!("No such process {name}")),
                        _ => None,
                    })?,
                    Ok(info) => {
                        let pid = member(&info, "pid")?;
                        self.result(
                            &format::py_str(pid),
                            json!({"name": name, "pid": to_json(pid)}),
                        );
                        if matches!(pid, Value::Int(0)) {
                            self.exitstatus = exit::NOT_RUNNING;
                        }
                    }
                }
            }
        }
        Ok(())
    }

    pub(crate) fn do_start(&mut self, arg: &str) -> Result<(), CtlError> {
        if !self.upcheck()? {
            return Ok(());
        }
        let names = split_args(arg);
        if names.is_empty() {
            self.usage_error(
                "Error: start requires a process name",
                exit::INVALID_ARGS,
                "start",
            );
            return Ok(());
        }
        let how = PerName {
            action: Action::Start,
            methods: [
                "supervisor.startAllProcesses",
                "supervisor.startProcessGroup",
                "supervisor.startProcess",
            ],
            extra: Vec::new(),
            ignored: Some(Fault::AlreadyStarted.code()),
            group_failed: |ctl, e, group| {
                if fault_is(&e, Fault::BadName) {
                    ctl.no_such_group(Action::Start, group);
                    ctl.exitstatus = exit::INVALID_ARGS;
                    return Ok(());
                }
                ctl.exitstatus = exit::GENERIC;
                Err(e)
            },
        };
        self.act_on_names(&names, how)
    }

    pub(crate) fn do_stop(&mut self, arg: &str) -> Result<(), CtlError> {
        if !self.upcheck()? {
            return Ok(());
        }
        let names = split_args(arg);
        if names.is_empty() {
            self.usage_error("Error: stop requires a process name", exit::GENERIC, "stop");
            return Ok(());
        }
        let how = PerName {
            action: Action::Stop,
            methods: [
                "supervisor.stopAllProcesses",
                "supervisor.stopProcessGroup",
                "supervisor.stopProcess",
            ],
            extra: Vec::new(),
            ignored: Some(Fault::NotRunning.code()),
            group_failed: |ctl, e, group| {
                if e.fault().is_some() {
                    ctl.exitstatus = exit::GENERIC;
                }
                if fault_is(&e, Fault::BadName) {
                    ctl.no_such_group(Action::Stop, group);
                    return Ok(());
                }
                Err(e)
            },
        };
        self.act_on_names(&names, how)
    }

    pub(crate) fn do_signal(&mut self, arg: &str) -> Result<(), CtlError> {
        if !self.upcheck()? {
            return Ok(());
        }
        let args = split_args(arg);
        if args.len() < 2 {
            self.usage_error(
                "Error: signal requires a signal name and a process name",
                exit::GENERIC,
                "signal",
            );
            return Ok(());
        }
        let how = PerName {
            action: Action::Signal,
            methods: [
                "supervisor.signalAllProcesses",
                "supervisor.signalProcessGroup",
                "supervisor.signalProcess",
            ],
            extra: vec![Value::from(args[0].as_str())],
            ignored: None,
            group_failed: |ctl, e, group| {
                if fault_is(&e, Fault::BadName) {
                    ctl.no_such_group(Action::Signal, group);
                    ctl.exitstatus = exit::GENERIC;
                    return Ok(());
                }
                Err(e)
            },
        };
        self.act_on_names(&args[1..], how)
    }

    pub(crate) fn do_restart(&mut self, arg: &str) -> Result<(), CtlError> {
        if !self.upcheck()? {
            return Ok(());
        }
        let args = split_args(arg);
        if args.iter().any(|a| a.starts_with("--")) {
            return self.do_rolling_restart(&args);
        }
        if args.is_empty() {
            self.usage_error(
                "Error: restart requires a process name",
                exit::GENERIC,
                "restart",
            );
            return Ok(());
        }
        self.do_stop(arg)?;
        self.do_start(arg)
    }

    /// `restart --rolling [--max-surge N] [--max-unavailable N] NAME...` (corral's): each
    /// process gets a replacement that must be ready before the old one is stopped. One
    /// process at a time by default, printing each as it completes; the first failure
    /// stops the rollout (the old process keeps serving) and exits non-zero.
    fn do_rolling_restart(&mut self, args: &[String]) -> Result<(), CtlError> {
        let mut rolling = false;
        let (mut surge, mut unavailable) = (1i32, 0i32);
        let mut names = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) => (f, Some(v.to_string())),
                None => (a.as_str(), None),
            };
            let mut number = |what: &str| -> Option<i32> {
                let v = inline.clone().or_else(|| it.next().cloned())?;
                v.parse().ok().filter(|n: &i32| *n >= 0).or_else(|| {
                    eprintln!("corralctl: {what} needs a number, got {v:?}");
                    None
                })
            };
            match flag {
                "--rolling" => rolling = true,
                "--max-surge" => match number("--max-surge") {
                    Some(n) => surge = n,
                    None => return self.rolling_usage(),
                },
                "--max-unavailable" => match number("--max-unavailable") {
                    Some(n) => unavailable = n,
                    None => return self.rolling_usage(),
                },
                f if f.starts_with("--") => return self.rolling_usage(),
                _ => names.push(a.clone()),
            }
        }
        if !rolling || names.is_empty() || surge + unavailable == 0 {
            return self.rolling_usage();
        }
        // One process per call when going one by one, so progress shows as it happens;
        // otherwise the daemon runs the whole rollout in one call.
        let one_by_one = surge == 1 && unavailable == 0;
        let targets = if one_by_one {
            self.expand_names(&names)?
        } else {
            names
        };
        for target in targets {
            if one_by_one {
                self.text_only(&format!("{target}: starting a replacement"));
            }
            let params = [
                Value::from(target.as_str()),
                Value::Int(surge),
                Value::Int(unavailable),
            ];
            let results = match self.call("corral.rollingRestart", &params) {
                Ok(r) => r,
                Err(e) if fault_is(&e, Fault::UnknownMethod) => {
                    self.output("ERROR: rolling restarts need corrald (this daemon has no corral.rollingRestart)");
                    self.exitstatus = exit::GENERIC;
                    return Ok(());
                }
                Err(e) if fault_is(&e, Fault::BadName) => {
                    self.output(&format!("{target}: ERROR (no such process)"));
                    self.exitstatus = exit::GENERIC;
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            if !self.roll_results(&results)? {
                return Ok(());
            }
        }
        Ok(())
    }

    fn rolling_usage(&mut self) -> Result<(), CtlError> {
        self.usage_error(
            "Error: restart --rolling [--max-surge N] [--max-unavailable N] <name>...",
            exit::GENERIC,
            "restart",
        );
        Ok(())
    }

    /// `all`, `group:*` and group names, as the processes they stand for (in the daemon's
    /// order); plain process names as they are.
    fn expand_names(&mut self, names: &[String]) -> Result<Vec<String>, CtlError> {
        let infos = self.call("supervisor.getAllProcessInfo", &[])?;
        let mut all: Vec<(String, String)> = Vec::new();
        for info in list(&infos)? {
            all.push((member_str(info, "group")?, member_str(info, "name")?));
        }
        let mut out: Vec<String> = Vec::new();
        for n in names {
            let expanded: Vec<String> = if n == "all" {
                all.iter().map(|(g, p)| make_namespec(g, p)).collect()
            } else if let Some(g) = n.strip_suffix(":*").or_else(|| n.strip_suffix(':')) {
                all.iter()
                    .filter(|(gg, _)| gg == g)
                    .map(|(g, p)| make_namespec(g, p))
                    .collect()
            } else {
                vec![n.clone()]
            };
            for e in expanded {
                if !out.contains(&e) {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    /// Print a rollout's results; false (and a non-zero exit) if any failed.
    fn roll_results(&mut self, results: &Value) -> Result<bool, CtlError> {
        let mut ok = true;
        for r in list(results)? {
            let name = member_str(r, "namespec")?;
            let status = member_int(r, "status")?;
            let (old, new) = (member_int(r, "old_pid")?, member_int(r, "new_pid")?);
            if status == i64::from(Fault::Success.code()) {
                // corral: an update of numprocs= starts (old 0) or stops (new 0) processes.
                let (text, status) = if old == 0 {
                    (format!("{name}: started (pid {new})"), "replaced")
                } else if new == 0 {
                    (format!("{name}: stopped (pid {old})"), "stopped")
                } else {
                    (format!("{name}: replaced (pid {old} -> {new})"), "replaced")
                };
                self.result(
                    &text,
                    json!({"name": name, "old_pid": old, "new_pid": new, "status": status}),
                );
            } else {
                ok = false;
                let why = member_str(r, "description")?;
                let why = why.strip_prefix("FAILED: ").unwrap_or(&why).to_string();
                self.result(
                    &format!("{name}: ERROR ({why}); the old process keeps serving, the rollout stops here"),
                    json!({"name": name, "status": "failed", "error": why}),
                );
            }
        }
        if !ok {
            self.exitstatus = exit::GENERIC;
        }
        Ok(ok)
    }

    /// `y/N` confirmation in interactive mode; always yes otherwise.
    fn confirm(&mut self, question: &str) -> Result<bool, CtlError> {
        if !self.opts.interactive {
            return Ok(true);
        }
        let answer = self.raw_input(question)?;
        Ok(corral_config::pystr::lower(&answer).starts_with('y'))
    }

    pub(crate) fn do_shutdown(&mut self, arg: &str) -> Result<(), CtlError> {
        if !arg.is_empty() {
            self.usage_error(
                "Error: shutdown accepts no arguments",
                exit::GENERIC,
                "shutdown",
            );
            return Ok(());
        }
        if !self.confirm("Really shut the remote supervisord process down y/N? ")? {
            return Ok(());
        }
        match self.call("supervisor.shutdown", &[]) {
            Ok(_) => self.output("Shut down"),
            Err(e) if fault_is(&e, Fault::ShutdownState) => {
                self.output("ERROR: already shutting down");
            }
            Err(e) if e.fault().is_some() => {
                self.exitstatus = exit::GENERIC;
                return Err(e);
            }
            Err(e) if e.is_socket_error() => {
                self.exitstatus = exit::GENERIC;
                let words = match e.errno() {
                    Some(libc::ECONNREFUSED) => "refused connection",
                    Some(libc::ENOENT) => "no such file",
                    _ => return Err(e),
                };
                let line = format!(
                    "ERROR: {} {words} (already shut down?)",
                    self.opts.serverurl
                );
                self.output(&line);
                self.explain_unreachable(&e);
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    pub(crate) fn do_reload(&mut self, arg: &str) -> Result<(), CtlError> {
        if !arg.is_empty() {
            self.usage_error(
                "Error: reload accepts no arguments",
                exit::GENERIC,
                "reload",
            );
            return Ok(());
        }
        if !self.confirm("Really restart the remote supervisord process y/N? ")? {
            return Ok(());
        }
        match self.call("supervisor.restart", &[]) {
            Ok(_) => self.output("Restarted supervisord"),
            Err(e) => self.fault_line(e, |fault, _| match fault {
                Some(Fault::ShutdownState) => Some("ERROR: already shutting down".into()),
                _ => None,
            })?,
        }
        Ok(())
    }

    pub(crate) fn do_avail(&mut self, arg: &str) -> Result<(), CtlError> {
        if !arg.is_empty() {
            self.usage_error("Error: avail accepts no arguments", exit::GENERIC, "avail");
            return Ok(());
        }
        match self.call("supervisor.getAllConfigInfo", &[]) {
            Ok(infos) => {
                for info in list(&infos)? {
                    let line = format::config_info_line(info)?;
                    let item = json_with_namespec(info, &namespec_of(info)?);
                    self.result(&line, item);
                }
            }
            Err(e) => self.fault_line(e, |fault, _| match fault {
                Some(Fault::ShutdownState) => Some("ERROR: supervisor shutting down".into()),
                _ => None,
            })?,
        }
        Ok(())
    }

    /// `reloadConfig()[0]` as (added, changed, removed).
    fn changes(result: &Value) -> Result<Changes, CtlError> {
        let first = list(result)?
            .first()
            .ok_or_else(|| CtlError::value("reloadConfig returned an empty list"))?;
        let parts = list(first)?;
        if parts.len() != 3 {
            return Err(CtlError::value(format!(
                "not enough values to unpack (expected 3, got {})",
                parts.len()
            )));
        }
        Ok((
            strings(&parts[0])?,
            strings(&parts[1])?,
            strings(&parts[2])?,
        ))
    }

    pub(crate) fn do_reread(&mut self, arg: &str) -> Result<(), CtlError> {
        if !arg.is_empty() {
            self.usage_error(
                "Error: reread accepts no arguments",
                exit::GENERIC,
                "reread",
            );
            return Ok(());
        }
        match self.call("supervisor.reloadConfig", &[]) {
            Ok(result) => {
                let (added, changed, removed) = Self::changes(&result)?;
                let lines = format::change_lines(&added, &changed, &removed);
                if lines.is_empty() {
                    self.text_only("No config updates to processes");
                }
                for (name, word) in lines {
                    self.result(
                        &format!("{name}: {word}"),
                        json!({"name": name, "change": word}),
                    );
                }
            }
            Err(e) => self.fault_line(e, |fault, text| match fault {
                Some(Fault::ShutdownState) => Some("ERROR: supervisor shutting down".into()),
                Some(Fault::CantReread) => Some(format!("ERROR: {text}")),
                _ => None,
            })?,
        }
        Ok(())
    }

    pub(crate) fn do_add(&mut self, arg: &str) -> Result<(), CtlError> {
        for name in split_args(arg) {
            match self.call("supervisor.addProcessGroup", &[Value::from(name.as_str())]) {
                Ok(_) => self.output(&format!("{name}: added process group")),
                Err(e) if fault_is(&e, Fault::ShutdownState) => {
                    self.output("ERROR: shutting down");
                    self.exitstatus = exit::GENERIC;
                }
                Err(e) if fault_is(&e, Fault::AlreadyAdded) => {
                    self.output("ERROR: process group already active");
                }
                Err(e) if fault_is(&e, Fault::BadName) => {
                    self.output(&format!("ERROR: no such process/group: {name}"));
                    self.exitstatus = exit::GENERIC;
                }
                Err(e) if e.fault().is_some() => {
                    self.exitstatus = exit::GENERIC;
                    return Err(e);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub(crate) fn do_remove(&mut self, arg: &str) -> Result<(), CtlError> {
        for name in split_args(arg) {
            match self.call(
                "supervisor.removeProcessGroup",
                &[Value::from(name.as_str())],
            ) {
                Ok(_) => self.output(&format!("{name}: removed process group")),
                Err(e) => self.fault_line(e, |fault, _| match fault {
                    Some(Fault::StillRunning) => {
                        Some(format!("ERROR: process/group still running: {name}"))
                    }
                    Some(Fault::BadName) => Some(format!("ERROR: no such process/group: {name}")),
                    _ => None,
                })?,
            }
        }
        Ok(())
    }

    fn update_log(&mut self, group: &str, event: &str) {
        self.result(
            &format!("{group}: {event}"),
            json!({"name": group, "event": event}),
        );
    }

    pub(crate) fn do_update(&mut self, arg: &str) -> Result<(), CtlError> {
        let result = match self.call("supervisor.reloadConfig", &[]) {
            Ok(r) => r,
            Err(e) => {
                return self.fault_line(e, |fault, _| match fault {
                    Some(Fault::ShutdownState) => Some("ERROR: already shutting down".into()),
                    _ => None,
                });
            }
        };
        let (added, changed, removed) = Self::changes(&result)?;
        // supervisorctl keeps the names in a set; first-seen order stands in for its
        // arbitrary one.
        let mut wanted: Vec<String> = Vec::new();
        for n in split_args(arg) {
            if !wanted.contains(&n) {
                wanted.push(n);
            }
        }
        if wanted.iter().any(|n| n == "all") {
            wanted.clear();
        }
        if !wanted.is_empty() {
            let infos = self.call("supervisor.getAllProcessInfo", &[])?;
            let mut groups: Vec<String> = Vec::new();
            for info in list(&infos)? {
                groups.push(member_str(info, "group")?);
            }
            groups.extend(added.iter().cloned());
            for g in &wanted {
                if !groups.contains(g) {
                    self.output(&format!("ERROR: no such group: {g}"));
                    self.exitstatus = exit::GENERIC;
                }
            }
        }
        let skip = |g: &String| !wanted.is_empty() && !wanted.contains(g);
        for g in removed.iter().filter(|g| !skip(g)) {
            let results = self.call("supervisor.stopProcessGroup", &[Value::from(g.as_str())])?;
            self.update_log(g, "stopped");
            let mut failed = false;
            for r in list(&results)? {
                if member_int(r, "status")? == i64::from(Fault::Failed.code()) {
                    failed = true;
                }
            }
            if failed {
                self.update_log(g, "has problems; not removing");
                self.exitstatus = exit::GENERIC;
                continue;
            }
            self.call("supervisor.removeProcessGroup", &[Value::from(g.as_str())])?;
            self.update_log(g, "removed process group");
        }
        for g in changed.iter().filter(|g| !skip(g)) {
            // corral: a group of programs on corral sockets is replaced without a gap.
            match self.call("corral.rollingUpdate", &[Value::from(g.as_str())]) {
                Ok(results) => {
                    if self.roll_results(&results)? {
                        self.update_log(g, "updated process group without a gap");
                    }
                    continue;
                }
                Err(e) if e.fault().is_some() => {} // not corrald, or not rollable
                Err(e) => return Err(e),
            }
            self.call("supervisor.stopProcessGroup", &[Value::from(g.as_str())])?;
            self.update_log(g, "stopped");
            self.call("supervisor.removeProcessGroup", &[Value::from(g.as_str())])?;
            self.call("supervisor.addProcessGroup", &[Value::from(g.as_str())])?;
            self.update_log(g, "updated process group");
        }
        for g in added.iter().filter(|g| !skip(g)) {
            self.call("supervisor.addProcessGroup", &[Value::from(g.as_str())])?;
            self.update_log(g, "added process group");
        }
        Ok(())
    }

    pub(crate) fn do_clear(&mut self, arg: &str) -> Result<(), CtlError> {
        if !self.upcheck()? {
            return Ok(());
        }
        let names = split_args(arg);
        if names.is_empty() {
            self.usage_error(
                "Error: clear requires a process name",
                exit::GENERIC,
                "clear",
            );
            return Ok(());
        }
        if names.iter().any(|n| n == "all") {
            let results = self.call("supervisor.clearAllProcessLogs", &[])?;
            return self.emit_records(Action::Clear, &results, None);
        }
        for name in names {
            let (group, process) = split_namespec(&name);
            // supervisorctl makes the name from the split parts; a group-only name has no
            // process, which Python prints as None.
            let namespec = make_namespec(&group, process.as_deref().unwrap_or("None"));
            let params = [Value::from(name.as_str())];
            self.call_outcome(
                Action::Clear,
                namespec,
                "supervisor.clearProcessLogs",
                &params,
                None,
            )?;
        }
        Ok(())
    }

    pub(crate) fn do_open(&mut self, arg: &str) -> Result<(), CtlError> {
        let url = corral_config::pystr::strip(arg).to_string();
        let scheme = crate::pyurl::urlparse(&url).scheme;
        if scheme != "unix" && scheme != "http" {
            self.output("ERROR: url must be http:// or unix://");
            self.exitstatus = exit::GENERIC;
            return Ok(());
        }
        self.opts.serverurl = url;
        self.opts.url_source = UrlSource::Open;
        let old = self.exitstatus;
        self.do_status("")?;
        self.exitstatus = old;
        Ok(())
    }

    pub(crate) fn do_version(&mut self, arg: &str) -> Result<(), CtlError> {
        if !arg.is_empty() {
            self.usage_error(
                "Error: version accepts no arguments",
                exit::GENERIC,
                "version",
            );
            return Ok(());
        }
        if !self.upcheck()? {
            return Ok(());
        }
        let v = self.call("supervisor.getSupervisorVersion", &[])?;
        let text = format::py_str(&v);
        self.result(
            &text,
            json!({"name": "supervisord", "version": to_json(&v)}),
        );
        Ok(())
    }
}
