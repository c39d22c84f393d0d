//! supervisorctl's `DefaultControllerPlugin` commands (all but the streaming ones, which
//! are in `stream.rs`), in its order of checks, calls, messages and exit statuses.

use corral_proto::Value;
use corral_proto::api::{Fault, make_namespec, split_namespec};
use serde_json::json;

use crate::controller::{Controller, exit, split_args, write_stdout};
use crate::error::CtlError;
use crate::format::{self, Outcome, StatusRow, member, member_int, member_str, to_json};
use crate::help;
use crate::options::UrlSource;

/// What a start/stop/signal/clear produced for one name, for text and JSON alike.
struct ItemResult {
    namespec: String,
    action: &'static str,
    code: i32,
    /// The text after `name: ` (`started`, `ERROR (spawn error)`), or a whole line for
    /// FAILED signal results, which supervisorctl prints bare.
    line: String,
    status: String,
    ok: bool,
}

/// `reloadConfig()[0]`: the groups added, changed and removed.
type Changes = (Vec<String>, Vec<String>, Vec<String>);

/// Process states `status` counts as not running (`STOPPED_STATES`).
const STOPPED_STATES: [i64; 4] = [0, 100, 200, 1000];

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

impl Controller {
    fn help_topic(&mut self, name: &str) {
        if let Some(text) = help::topic(name) {
            self.output(text);
        }
    }

    /// A usage mistake: the message, the exit status, then the command's help.
    fn usage_error(&mut self, message: &str, status: i32, topic: &str) {
        self.output(message);
        self.exitstatus = status;
        self.help_topic(topic);
    }

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
            write_stdout(help::topics().as_bytes());
        }
    }

    fn emit_item(&mut self, r: &ItemResult) {
        let item = json!({
            "name": r.namespec,
            "action": r.action,
            "ok": r.ok,
            "status": r.status,
            "code": r.code,
        });
        self.result(&r.line, item);
    }

    /// `_startresult` / `_stopresult` / `_signalresult` / `_clearresult` for a result
    /// record (`name`, `group`, `status`, `description`), then the exit status rule.
    fn item_from_record(
        &mut self,
        action: &'static str,
        record: &Value,
        ignored: Option<i32>,
    ) -> Result<(), CtlError> {
        let namespec = make_namespec(&member_str(record, "group")?, &member_str(record, "name")?);
        let code = i32::try_from(member_int(record, "status")?).unwrap_or(i32::MIN);
        let description = match action {
            "stop" | "signal" => member_str(record, "description")?,
            _ => String::new(),
        };
        self.emit_outcome(action, namespec, code, &description, ignored)
    }

    /// One per-process call (`startProcess`, `stopProcess`, …) and its result line: a
    /// fault is an outcome to print, anything else an error to raise.
    fn call_outcome(
        &mut self,
        action: &'static str,
        namespec: String,
        method: &str,
        params: &[Value],
        with_text: bool,
        ignored: Option<i32>,
    ) -> Result<(), CtlError> {
        match self.call(method, params) {
            Ok(_) => self.emit_outcome(action, namespec, Fault::Success.code(), "", None),
            Err(e) => match e.fault() {
                Some((code, text)) => {
                    let text = if with_text {
                        text.to_string()
                    } else {
                        String::new()
                    };
                    self.emit_outcome(action, namespec, code, &text, ignored)
                }
                None => Err(e),
            },
        }
    }

    fn emit_outcome(
        &mut self,
        action: &'static str,
        namespec: String,
        code: i32,
        description: &str,
        ignored: Option<i32>,
    ) -> Result<(), CtlError> {
        let outcome: Option<Outcome> = match action {
            "start" => format::start_outcome(code),
            "stop" => format::signal_outcome(code, "stopped"),
            "signal" => format::signal_outcome(code, "signalled"),
            _ => format::clear_outcome(code),
        };
        let ok = code == Fault::Success.code() || Some(code) == ignored;
        let (line, status) = match outcome {
            Some(o) => (
                format::outcome_line(&namespec, o),
                match o {
                    Ok(w) | Err(w) => w.to_string(),
                },
            ),
            // _signalresult prints a FAILED fault's string as the whole line.
            None if code == Fault::Failed.code() && matches!(action, "stop" | "signal") => {
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
    fn no_such_group(&mut self, action: &'static str, group: &str) {
        self.emit_item(&ItemResult {
            namespec: group.to_string(),
            action,
            code: Fault::BadName.code(),
            line: format!("{group}: ERROR (no such group)"),
            status: "no such group".into(),
            ok: false,
        });
    }

    pub(crate) fn do_status(&mut self, arg: &str) -> Result<(), CtlError> {
        if !self.upcheck()? {
            self.exitstatus = exit::STATUS_UNKNOWN;
            return Ok(());
        }
        let all = self.call("supervisor.getAllProcessInfo", &[])?;
        let all = list(&all)?.to_vec();
        let names = split_args(arg);
        let matching: Vec<Value> = if names.is_empty() || names.iter().any(|n| n == "all") {
            all
        } else {
            let mut matching = Vec::new();
            for name in &names {
                let (group, process) = split_namespec(name);
                let mut found = false;
                for info in &all {
                    let mut matched = member_str(info, "group")? == group;
                    if let Some(p) = &process {
                        matched = matched && member_str(info, "name")? == *p;
                    }
                    if matched {
                        found = true;
                        matching.push(info.clone());
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
        for info in &matching {
            if STOPPED_STATES.contains(&member_int(info, "state")?) {
                self.exitstatus = exit::STATUS_NOT_RUNNING;
            }
        }
        Ok(())
    }

    fn show_statuses(&mut self, infos: &[Value]) -> Result<(), CtlError> {
        let rows = infos
            .iter()
            .map(StatusRow::from_info)
            .collect::<Result<Vec<_>, _>>()?;
        let lines = format::status_lines(&rows, self.colour());
        for ((line, info), row) in lines.iter().zip(infos).zip(&rows) {
            let mut item = to_json(info);
            if let Some(obj) = item.as_object_mut() {
                obj.insert("namespec".into(), json!(row.namespec));
            }
            self.result(line, item);
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
                let namespec =
                    make_namespec(&member_str(info, "group")?, &member_str(info, "name")?);
                self.result(
                    &format::py_str(pid),
                    json!({"name": namespec, "pid": to_json(pid)}),
                );
            }
        } else {
            for name in names {
                match self.call("supervisor.getProcessInfo", &[Value::from(name.as_str())]) {
                    Err(e) if e.fault().is_some() => {
                        self.exitstatus = exit::GENERIC;
                        if fault_is(&e, Fault::BadName) {
                            self.output(&format!("No such process {name}"));
                        } else {
                            return Err(e);
                        }
                    }
                    Err(e) => return Err(e),
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
        let already = Some(Fault::AlreadyStarted.code());
        if names.iter().any(|n| n == "all") {
            let results = self.call("supervisor.startAllProcesses", &[])?;
            for r in list(&results)? {
                self.item_from_record("start", r, already)?;
            }
            return Ok(());
        }
        for name in names {
            let (group, process) = split_namespec(&name);
            match process {
                None => {
                    match self.call(
                        "supervisor.startProcessGroup",
                        &[Value::from(group.as_str())],
                    ) {
                        Ok(results) => {
                            for r in list(&results)? {
                                self.item_from_record("start", r, already)?;
                            }
                        }
                        Err(e) if fault_is(&e, Fault::BadName) => {
                            self.no_such_group("start", &group);
                            self.exitstatus = exit::INVALID_ARGS;
                        }
                        Err(e) => {
                            self.exitstatus = exit::GENERIC;
                            return Err(e);
                        }
                    }
                }
                Some(process) => {
                    let namespec = make_namespec(&group, &process);
                    let params = [Value::from(name.as_str())];
                    self.call_outcome(
                        "start",
                        namespec,
                        "supervisor.startProcess",
                        &params,
                        false,
                        already,
                    )?;
                }
            }
        }
        Ok(())
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
        let not_running = Some(Fault::NotRunning.code());
        if names.iter().any(|n| n == "all") {
            let results = self.call("supervisor.stopAllProcesses", &[])?;
            for r in list(&results)? {
                self.item_from_record("stop", r, not_running)?;
            }
            return Ok(());
        }
        for name in names {
            let (group, process) = split_namespec(&name);
            match process {
                None => {
                    match self.call(
                        "supervisor.stopProcessGroup",
                        &[Value::from(group.as_str())],
                    ) {
                        Ok(results) => {
                            for r in list(&results)? {
                                self.item_from_record("stop", r, not_running)?;
                            }
                        }
                        Err(e) if e.fault().is_some() => {
                            self.exitstatus = exit::GENERIC;
                            if fault_is(&e, Fault::BadName) {
                                self.no_such_group("stop", &group);
                            } else {
                                return Err(e);
                            }
                        }
                        Err(e) => return Err(e),
                    }
                }
                Some(process) => {
                    let namespec = make_namespec(&group, &process);
                    let params = [Value::from(name.as_str())];
                    self.call_outcome(
                        "stop",
                        namespec,
                        "supervisor.stopProcess",
                        &params,
                        true,
                        not_running,
                    )?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn do_signal(&mut self, arg: &str) -> Result<(), CtlError> {
        if !self.upcheck()? {
            return Ok(());
        }
        let args = split_args(arg);
        if args.len() < 2 {
            self.output("Error: signal requires a signal name and a process name");
            self.help_topic("signal");
            self.exitstatus = exit::GENERIC;
            return Ok(());
        }
        let sig = Value::from(args[0].as_str());
        let names = &args[1..];
        if names.iter().any(|n| n == "all") {
            let results = self.call("supervisor.signalAllProcesses", &[sig])?;
            for r in list(&results)? {
                self.item_from_record("signal", r, None)?;
            }
            return Ok(());
        }
        for name in names {
            let (group, process) = split_namespec(name);
            match process {
                None => {
                    match self.call(
                        "supervisor.signalProcessGroup",
                        &[Value::from(group.as_str()), sig.clone()],
                    ) {
                        Ok(results) => {
                            for r in list(&results)? {
                                self.item_from_record("signal", r, None)?;
                            }
                        }
                        Err(e) if fault_is(&e, Fault::BadName) => {
                            self.no_such_group("signal", &group);
                            self.exitstatus = exit::GENERIC;
                        }
                        Err(e) => return Err(e),
                    }
                }
                Some(process) => {
                    let namespec = make_namespec(&group, &process);
                    let params = [Value::from(name.as_str()), sig.clone()];
                    self.call_outcome(
                        "signal",
                        namespec,
                        "supervisor.signalProcess",
                        &params,
                        true,
                        None,
                    )?;
                }
            }
        }
        Ok(())
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
        let targets = if surge == 1 && unavailable == 0 {
            self.expand_names(&names)?
        } else {
            names
        };
        for target in targets {
            if surge == 1 && unavailable == 0 {
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
                let text = if old == 0 {
                    format!("{name}: started (pid {new})")
                } else {
                    format!("{name}: replaced (pid {old} -> {new})")
                };
                self.result(
                    &text,
                    json!({"name": name, "old_pid": old, "new_pid": new, "status": "replaced"}),
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
            Err(e) => {
                let socket_error = matches!(
                    &e,
                    CtlError::Client {
                        error: corral_proto::ClientError::Io(_),
                        ..
                    }
                );
                if !socket_error {
                    return Err(e);
                }
                self.exitstatus = exit::GENERIC;
                let url = self.opts.serverurl.clone();
                match e.errno() {
                    Some(libc::ECONNREFUSED) => {
                        self.output(&format!(
                            "ERROR: {url} refused connection (already shut down?)"
                        ));
                        self.explain_unreachable(&e);
                    }
                    Some(libc::ENOENT) => {
                        self.output(&format!("ERROR: {url} no such file (already shut down?)"));
                        self.explain_unreachable(&e);
                    }
                    _ => return Err(e),
                }
            }
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
            Err(e) if e.fault().is_some() => {
                self.exitstatus = exit::GENERIC;
                if fault_is(&e, Fault::ShutdownState) {
                    self.output("ERROR: already shutting down");
                } else {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
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
                    let mut item = to_json(info);
                    if let Some(obj) = item.as_object_mut() {
                        let namespec =
                            make_namespec(&member_str(info, "group")?, &member_str(info, "name")?);
                        obj.insert("namespec".into(), json!(namespec));
                    }
                    self.result(&line, item);
                }
            }
            Err(e) if e.fault().is_some() => {
                self.exitstatus = exit::GENERIC;
                if fault_is(&e, Fault::ShutdownState) {
                    self.output("ERROR: supervisor shutting down");
                } else {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
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
            Err(e) if e.fault().is_some() => {
                self.exitstatus = exit::GENERIC;
                let (code, text) = e.fault().expect("checked");
                if code == Fault::ShutdownState.code() {
                    self.output("ERROR: supervisor shutting down");
                } else if code == Fault::CantReread.code() {
                    let text = text.to_string();
                    self.output(&format!("ERROR: {text}"));
                } else {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
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
                Err(e) if e.fault().is_some() => {
                    self.exitstatus = exit::GENERIC;
                    if fault_is(&e, Fault::StillRunning) {
                        self.output(&format!("ERROR: process/group still running: {name}"));
                    } else if fault_is(&e, Fault::BadName) {
                        self.output(&format!("ERROR: no such process/group: {name}"));
                    } else {
                        return Err(e);
                    }
                }
                Err(e) => return Err(e),
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
            Err(e) if e.fault().is_some() => {
                self.exitstatus = exit::GENERIC;
                if fault_is(&e, Fault::ShutdownState) {
                    self.output("ERROR: already shutting down");
                    return Ok(());
                }
                return Err(e);
            }
            Err(e) => return Err(e),
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
            for r in list(&results)? {
                self.item_from_record("clear", r, None)?;
            }
            return Ok(());
        }
        for name in names {
            let (group, process) = split_namespec(&name);
            // supervisorctl makes the name from the split parts; a group-only name has no
            // process, which Python prints as None.
            let namespec = make_namespec(&group, process.as_deref().unwrap_or("None"));
            let params = [Value::from(name.as_str())];
            self.call_outcome(
                "clear",
                namespec,
                "supervisor.clearProcessLogs",
                &params,
                false,
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
