//! corral: corralctl and several servers at once (`-s` repeated, or `[supervisorctl:NAME]`
//! sections). Each server has its own [`Controller`]; a command line is split by server
//! (`NAME:process` goes to server NAME only, `NAME:all` to all of its processes, a name
//! without a server to every server), run on each with its output captured, and printed
//! with the server's name in front of every line (a server column). With `--json`, each
//! result and error gets a `"server"` member, in one document. With one server none of
//! this runs: corralctl is supervisorctl.

use serde_json::json;

use crate::controller::{Controller, Input, Interrupt, JSON_COMMANDS, exit, parseline, split_args};
use crate::options::{Options, UrlSource};
use crate::term::FdLines;

/// One server of several.
pub struct Member {
    pub name: String,
    pub ctl: Controller,
}

/// A controller for each server of `opts.fleet` (none when there is one server).
pub fn members(opts: &Options) -> Vec<Member> {
    opts.fleet
        .iter()
        .map(|f| {
            let mut o = opts.clone();
            o.fleet.clear();
            o.serverurl = f.url.clone();
            o.url_source = UrlSource::CommandLine;
            o.username = f.username.clone();
            o.password = f.password.clone();
            // Questions are asked once, for all servers (see `fleet_onecmd`).
            o.interactive = false;
            o.args.clear();
            Member {
                name: f.name.clone(),
                ctl: Controller::new(o, Input::Plain(FdLines::stdin())),
            }
        })
        .collect()
}

/// Commands that need a process name; without one, a single server says so (once).
const NEED_NAMES: [&str; 5] = ["start", "stop", "restart", "signal", "clear"];

impl Controller {
    fn member_index(&self, name: &str) -> Option<usize> {
        self.fleet.iter().position(|m| m.name == name)
    }

    fn server_names(&self) -> String {
        self.fleet
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `onecmd` with several servers.
    pub(crate) fn fleet_onecmd(&mut self, line: &str) -> Result<bool, Interrupt> {
        let (cmd, arg, full) = parseline(line);
        if full.is_empty() {
            return Ok(false);
        }
        self.command_ran = true;
        let Some(cmd) = cmd.filter(|c| crate::controller::is_command(c)) else {
            self.default(&full);
            return Ok(false);
        };
        match cmd.as_str() {
            "EOF" | "quit" | "exit" => return Ok(self.do_eof()),
            "help" => {
                self.do_help(&arg);
                return Ok(false);
            }
            "open" => {
                // One server again: `open` names it.
                self.fleet.clear();
                self.opts.fleet.clear();
                return self.onecmd(line);
            }
            "tail" | "fg" => return self.fleet_one_server(&cmd, &arg),
            "maintail" => {
                self.output(&format!(
                    "ERROR: maintail reads one server's log: choose it with -s (servers: {})",
                    self.server_names()
                ));
                self.exitstatus = exit::INVALID_ARGS;
                return Ok(false);
            }
            "shutdown" | "reload" if self.opts.interactive && arg.is_empty() => {
                let what = if cmd == "shutdown" {
                    "shut down"
                } else {
                    "restart"
                };
                let question = format!(
                    "Really {what} the supervisord processes of {} y/N? ",
                    self.server_names()
                );
                match self.raw_input(&question) {
                    Ok(a) if corral_config::pystr::lower(&a).starts_with('y') => {}
                    Ok(_) => return Ok(false),
                    Err(_) => return Err(Interrupt),
                }
            }
            _ => {}
        }
        let mut words = split_args(&arg);
        // `signal SIG names...`: the signal goes to every server.
        let lead: Vec<String> = if cmd == "signal" && !words.is_empty() {
            vec![words.remove(0)]
        } else {
            Vec::new()
        };
        if words.is_empty() && NEED_NAMES.contains(&cmd.as_str()) {
            // The usage message, once.
            let m = &mut self.fleet[0].ctl;
            m.exitstatus = exit::SUCCESS;
            let r = m.onecmd(&full);
            self.exitstatus = m.exitstatus;
            return r.map(|_| false);
        }
        let mut mine: Vec<Vec<String>> = vec![Vec::new(); self.fleet.len()];
        let mut everyone = Vec::new();
        for w in words.iter() {
            match w
                .split_once(':')
                .and_then(|(s, rest)| Some((self.member_index(s)?, rest)))
            {
                Some((i, rest)) => mine[i].push(if rest.is_empty() { "all" } else { rest }.into()),
                None => everyone.push(w.clone()),
            }
        }
        let mut parts = Vec::new();
        for (i, own) in mine.into_iter().enumerate() {
            let names: Vec<String> = everyone.iter().cloned().chain(own).collect();
            if !words.is_empty() && names.is_empty() {
                continue; // nothing for this server
            }
            let line = [vec![cmd.clone()], lead.clone(), names].concat().join(" ");
            let m = &mut self.fleet[i];
            m.ctl.capture = Some(Vec::new());
            m.ctl.exitstatus = exit::SUCCESS;
            let outcome = m.ctl.onecmd(&line);
            let out = m.ctl.capture.take().unwrap_or_default();
            outcome?;
            parts.push((i, out, m.ctl.exitstatus));
        }
        self.exitstatus = parts.iter().map(|p| p.2).max().unwrap_or(exit::SUCCESS);
        if self.opts.json && JSON_COMMANDS.contains(&cmd.as_str()) {
            self.merge_json(&cmd, &parts);
        } else {
            let width = self
                .fleet
                .iter()
                .map(|m| m.name.chars().count())
                .max()
                .unwrap_or(0);
            let mut text = String::new();
            for (i, out, _) in &parts {
                for l in String::from_utf8_lossy(out).lines() {
                    text.push_str(&format!("{:<width$}  {l}\n", self.fleet[*i].name));
                }
            }
            self.write_out(text.as_bytes());
        }
        Ok(false)
    }

    /// One JSON document for the command: every server's results and errors, each with
    /// its `"server"`.
    fn merge_json(&mut self, cmd: &str, parts: &[(usize, Vec<u8>, i32)]) {
        let (mut results, mut errors) = (Vec::new(), Vec::new());
        for (i, out, _) in parts {
            let server = self.fleet[*i].name.clone();
            for l in String::from_utf8_lossy(out).lines() {
                let doc: Option<serde_json::Value> = serde_json::from_str(l).ok();
                let Some(doc) = doc.filter(|d| d.get("results").is_some()) else {
                    errors.push(json!({"server": server, "message": l}));
                    continue;
                };
                for (key, into) in [("results", &mut results), ("errors", &mut errors)] {
                    for item in doc[key].as_array().into_iter().flatten() {
                        let mut item = item.clone();
                        if let Some(obj) = item.as_object_mut() {
                            obj.insert("server".into(), json!(server));
                        }
                        into.push(item);
                    }
                }
            }
        }
        let doc = json!({"command": cmd, "results": results, "errors": errors});
        self.write_out(format!("{doc}\n").as_bytes());
    }

    /// `tail` and `fg` follow one process: it must be named as `SERVER:NAME`.
    fn fleet_one_server(&mut self, cmd: &str, arg: &str) -> Result<bool, Interrupt> {
        let words = split_args(arg);
        let mut target = None;
        let mut rewritten = Vec::new();
        for w in &words {
            match w
                .split_once(':')
                .and_then(|(s, rest)| Some((self.member_index(s)?, rest)))
            {
                Some((i, rest)) if target.is_none_or(|t| t == i) => {
                    target = Some(i);
                    rewritten.push(rest.to_string());
                }
                Some(_) => {
                    target = None;
                    break;
                }
                None => rewritten.push(w.clone()),
            }
        }
        let Some(i) = target else {
            self.output(&format!(
                "ERROR: with several servers, {cmd} needs one process as SERVER:NAME (servers: {})",
                self.server_names()
            ));
            self.exitstatus = exit::INVALID_ARGS;
            return Ok(false);
        };
        let line = format!("{cmd} {}", rewritten.join(" "));
        let m = &mut self.fleet[i].ctl;
        m.exitstatus = exit::SUCCESS;
        let r = m.onecmd(&line);
        self.exitstatus = m.exitstatus;
        r.map(|_| false)
    }
}
