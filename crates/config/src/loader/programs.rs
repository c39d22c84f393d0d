//! `_processes_from_section`: the processes of one `[program:x]`, `[fcgi-program:x]` or
//! `[eventlistener:x]` section in one group. The options every process shares are read
//! once ([`Program`]); then each of the `numprocs` processes gets its own expansions
//! (`process_num`, its environment) and the values that may use them.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::datatypes as dt;
use crate::model::*;
use crate::pyformat::{self, Expansions, PyVal};
use crate::{corral, pystr};

use super::channels::Capture;
use super::{Failed, Loader, Loc, str_map};

/// What a program section says once for all its processes.
struct Program {
    name: String,
    group: Arc<str>,
    section: Arc<str>,
    /// The file that holds the section.
    file: Arc<str>,
    is_listener: bool,
    lifecycle: Lifecycle,
    redirect_stderr: bool,
    /// `numprocs=` (1 after an error that would make every name the same) and
    /// `numprocs_start=`, as supervisord loops over them...
    numprocs: i64,
    numprocs_start: i64,
    /// ... and as corral keeps them.
    numprocs_u: u32,
    numprocs_start_u: u32,
    /// `environment=` as written: it is expanded per process.
    environment: String,
    stdout_capture: Capture,
    stderr_capture: Capture,
    serverurl: Option<String>,
    user: Option<UserSpec>,
    umask: Option<u32>,
    /// `process_name=`, the template each process's name is expanded from.
    process_name: String,
    extras: corral::ProgramExtras,
}

/// When a process starts, restarts and stops.
struct Lifecycle {
    priority: i64,
    autostart: bool,
    autorestart: AutoRestart,
    startsecs: u64,
    startretries: u64,
    stopsignal: Signal,
    stopwaitsecs: u64,
    stopasgroup: bool,
    killasgroup: bool,
    exitcodes: Arc<[i32]>,
}

const DEFAULT_PROCESS_NAME: &str = "%(program_name)s";

impl Loader<'_> {
    /// `_processes_from_section` for one section in one group.
    pub fn processes_from_section(
        &mut self,
        section: &str,
        group_name: &str,
        is_listener: bool,
        sockets: &[SocketConfig],
    ) -> Vec<ProcessConfig> {
        let Some(program_name) = self.section_name(section) else {
            return Vec::new();
        };
        // common_expansions; each process extends this very map, as supervisord does (so
        // later keys see process_num and the program's environment).
        let mut common = str_map(&[
            ("here", &self.here.clone()),
            ("program_name", &program_name),
            ("host_node_name", &self.node.clone()),
            ("group_name", group_name),
        ]);
        let program = self.program(
            section,
            program_name,
            group_name,
            is_listener,
            &common,
            sockets,
        );
        let mut out = Vec::new();
        let start = program.numprocs_start;
        for process_num in start..start.saturating_add(program.numprocs) {
            if let Some(p) = self.process(section, &program, process_num, &mut common) {
                out.push(p);
            }
        }
        // programs.sort(): by priority, then name (all share the priority).
        out.sort_by(|a, b| a.name.cmp(&b.name));
        // Kept for the daemon's life (processes share it): no room for more.
        out.shrink_to_fit();
        out
    }

    /// The options all of a section's processes share, in supervisord's order of reading
    /// (the order of the errors), with the checks that span several of them.
    fn program(
        &mut self,
        s: &str,
        name: String,
        group: &str,
        is_listener: bool,
        common: &Expansions,
        sockets: &[SocketConfig],
    ) -> Program {
        let file = self
            .ini
            .section(s)
            .map_or_else(|| self.configfile.clone(), |sec| sec.file.clone());
        let lifecycle = self.lifecycle(s, common);
        let redirect_stderr = self.bool_opt(s, "redirect_stderr", "false", common);
        let numprocs = match self.numprocs_for(s) {
            // corral's scaling: this section with another count.
            Some(n) => n,
            None => self.conv(s, "numprocs", "1", common, dt::integer, 1),
        };
        let numprocs_start = self.conv(s, "numprocs_start", "0", common, dt::integer, 0);
        let environment = self
            .get(s, "environment", Some(""), common, false)
            .ok()
            .flatten()
            .unwrap_or_default();
        let stdout_capture = self.capture(s, "stdout", common);
        let stderr_capture = self.capture(s, "stderr", common);
        let serverurl = self.program_serverurl(s, common);
        let user = self.program_user(s, common);
        let umask = self.program_umask(s, common);
        let process_name = self.process_name_template(s, common);
        let numprocs = self.check_numprocs(s, numprocs, &process_name);
        if lifecycle.stopasgroup && !lifecycle.killasgroup {
            let loc = self.loc(s, "killasgroup");
            self.error_at(
                loc,
                "Cannot set stopasgroup=true and killasgroup=false",
                false,
            );
        }
        let numprocs_u = self.checked_unsigned(s, "numprocs", numprocs).unwrap_or(0);
        let numprocs_start_u = self
            .checked_unsigned(s, "numprocs_start", numprocs_start)
            .unwrap_or(0);
        let extras = corral::ProgramExtras::read(self, s, common, is_listener, sockets);
        Program {
            name,
            group: group.into(),
            section: s.into(),
            file: file.into(),
            is_listener,
            lifecycle,
            redirect_stderr,
            numprocs,
            numprocs_start,
            numprocs_u,
            numprocs_start_u,
            environment,
            stdout_capture,
            stderr_capture,
            serverurl,
            user,
            umask,
            process_name,
            extras,
        }
    }

    /// `priority=` to `exitcodes=`: when the process starts, restarts and stops.
    fn lifecycle(&mut self, s: &str, common: &Expansions) -> Lifecycle {
        let priority = self.conv(s, "priority", "999", common, dt::integer, 999);
        let autostart = self.bool_opt(s, "autostart", "true", common);
        let autorestart = self.conv(
            s,
            "autorestart",
            "unexpected",
            common,
            dt::auto_restart,
            AutoRestart::Unexpected,
        );
        let startsecs = self.conv_unsigned::<u64>(s, "startsecs", "1", common, false, 1);
        let startretries = corral::startretries(self, s, common);
        let stopsignal = self.conv(
            s,
            "stopsignal",
            "TERM",
            common,
            dt::signal_number,
            libc::SIGTERM,
        );
        let stopwaitsecs = self.conv_unsigned::<u64>(s, "stopwaitsecs", "10", common, false, 10);
        let stopasgroup = self.bool_opt(s, "stopasgroup", "false", common);
        let killasgroup = self.bool_opt(
            s,
            "killasgroup",
            if stopasgroup { "true" } else { "false" },
            common,
        );
        let exitcodes = self.conv(s, "exitcodes", "0", common, dt::list_of_exitcodes, vec![0]);
        Lifecycle {
            priority,
            autostart,
            autorestart,
            startsecs,
            startretries,
            stopsignal,
            stopwaitsecs,
            stopasgroup,
            killasgroup,
            exitcodes: exitcodes.into(),
        }
    }

    /// `serverurl=`: `None` for AUTO, the daemon's.
    fn program_serverurl(&mut self, s: &str, common: &Expansions) -> Option<String> {
        self.get(s, "serverurl", None, common, true)
            .ok()
            .flatten()
            // Only AUTO means "the daemon's"; an empty value stays as written.
            .filter(|u| u.is_empty() || pystr::upper(pystr::strip(u)) != "AUTO")
    }

    /// `user=`; one unknown here is an error of this host, kept as written with unknown ids.
    fn program_user(&mut self, s: &str, common: &Expansions) -> Option<UserSpec> {
        let Ok(Some(u)) = self.get(s, "user", None, common, true) else {
            return None;
        };
        match dt::name_to_uid(&u, self.host) {
            Ok(uid) => {
                let gid = dt::gid_for_uid(uid, self.host).unwrap_or(u32::MAX);
                Some(UserSpec { spec: u, uid, gid })
            }
            Err(e) => {
                self.dt_error(s, "user", e);
                Some(UserSpec {
                    spec: u,
                    uid: u32::MAX,
                    gid: u32::MAX,
                })
            }
        }
    }

    /// `umask=`: octal; `None` (the daemon's) when absent or refused.
    fn program_umask(&mut self, s: &str, common: &Expansions) -> Option<u32> {
        let Ok(Some(u)) = self.get(s, "umask", None, common, true) else {
            return None;
        };
        match dt::octal_type(&u) {
            Ok(v) => Some(v),
            Err(e) => {
                self.dt_error(s, "umask", e);
                None
            }
        }
    }

    /// `process_name=` as written (it is expanded per process), checked as a name.
    fn process_name_template(&mut self, s: &str, common: &Expansions) -> String {
        let template = self
            .get(s, "process_name", Some(DEFAULT_PROCESS_NAME), common, false)
            .ok()
            .flatten()
            .unwrap_or_else(|| DEFAULT_PROCESS_NAME.into());
        match dt::process_or_group_name(&template) {
            Ok(n) => n,
            Err(e) => {
                self.dt_error(s, "process_name", e);
                DEFAULT_PROCESS_NAME.into()
            }
        }
    }

    /// `numprocs > 1` needs `%(process_num)` in the name; without it, one process, so that
    /// the same mistake is not reported again as duplicate names.
    fn check_numprocs(&mut self, s: &str, numprocs: i64, process_name: &str) -> i64 {
        if numprocs <= 1 || process_name.contains("%(process_num)") {
            return numprocs;
        }
        let key = if self.ini.has_option(s, "process_name") {
            "process_name"
        } else {
            "numprocs"
        };
        let loc = self.loc(s, key);
        self.error_at(
            loc,
            "%(process_num) must be present within process_name when numprocs > 1",
            false,
        );
        1
    }

    // ----------------------------------------------------------------- one process

    /// Process `process_num` of `program`: `common` gains its expansions (and keeps them,
    /// as supervisord's does), then the values that may use them are read. `None` when
    /// the section has no `command=` (an error).
    fn process(
        &mut self,
        s: &str,
        program: &Program,
        process_num: i64,
        common: &mut Expansions,
    ) -> Option<ProcessConfig> {
        common.insert("process_num".into(), PyVal::Int(process_num));
        common.insert("numprocs".into(), PyVal::Int(program.numprocs));
        common.extend(self.environ.clone());
        let first = process_num == program.numprocs_start;
        let environment = self.process_environment(s, &program.environment, common, first);
        let directory = self.get(s, "directory", None, common, true).ok().flatten();
        let stdout = self.channel(s, "stdout", common, program.stdout_capture);
        let mut stderr = self.channel(s, "stderr", common, program.stderr_capture);
        if program.redirect_stderr {
            self.redirect_stderr(s, &mut stderr);
        }
        let command = self.command(s, &program.extras.sockets, common);
        let name = self.process_name(s, program, common);
        let readiness = program.extras.readiness(self, s, common);
        let healthcheck = program.extras.healthcheck(self, s, common);
        let environment_files = program.extras.environment_files(self, s, common);
        let command = command?;
        let l = &program.lifecycle;
        Some(ProcessConfig {
            name,
            group: program.group.clone(),
            section: program.section.clone(),
            file: program.file.clone(),
            is_listener: program.is_listener,
            command,
            directory,
            umask: program.umask,
            priority: l.priority,
            autostart: l.autostart,
            autorestart: l.autorestart,
            startsecs: l.startsecs,
            startretries: l.startretries,
            user: program.user.clone(),
            stdout,
            stderr,
            stopsignal: l.stopsignal,
            stopwaitsecs: l.stopwaitsecs,
            stopasgroup: l.stopasgroup,
            killasgroup: l.killasgroup,
            exitcodes: l.exitcodes.clone(),
            redirect_stderr: program.redirect_stderr,
            environment,
            serverurl: program.serverurl.clone(),
            numprocs: program.numprocs_u,
            numprocs_start: program.numprocs_start_u,
            process_num: u32::try_from(process_num).unwrap_or(0),
            stopdescendants: program.extras.stopdescendants,
            sockets: program.extras.sockets.clone(),
            readiness,
            readiness_timeout: program.extras.readiness_timeout,
            liveness: crate::sparse::Sparse::new(Liveness {
                healthcheck,
                ..program.extras.liveness.clone()
            }),
            stopsequence: program.extras.stopsequence.clone(),
            depends_on: program.extras.depends_on.clone(),
            environment_files,
            shutdown_on_exit: program.extras.shutdown_on_exit,
        })
    }

    /// The process's `environment=` pairs, each also an `ENV_*` name in `common` for the
    /// values read after it. corral's warnings about it are said for the first process.
    fn process_environment(
        &mut self,
        s: &str,
        raw: &str,
        common: &mut Expansions,
        warn: bool,
    ) -> BTreeMap<String, String> {
        let mut environment = BTreeMap::new();
        for (k, v) in self.environment(s, raw, common, warn) {
            common.insert(format!("ENV_{k}"), PyVal::Str(v.clone()));
            environment.insert(k, v);
        }
        environment
    }

    /// `command=`, which may also use `%(socket_fd_NAME)d` for the `sockets=` it is given.
    /// `None` when there is none (an error); empty when it cannot be expanded (an error
    /// too, but the process is still shown).
    fn command(&mut self, s: &str, sockets: &[String], common: &Expansions) -> Option<String> {
        let mut cmd_names = common.clone();
        for (i, name) in sockets.iter().enumerate() {
            cmd_names.insert(format!("socket_fd_{name}"), PyVal::Int(3 + i as i64));
        }
        match self.get(s, "command", None, &cmd_names, true) {
            Ok(Some(c)) => Some(c),
            Ok(None) => {
                let loc = self.section_loc(s);
                self.error_at(
                    Loc {
                        option: Some("command".into()),
                        ..loc
                    },
                    format!("program section {s} does not specify a command"),
                    false,
                );
                None
            }
            Err(Failed) => Some(String::new()),
        }
    }

    /// The process's name: `process_name=` expanded, else the program's name.
    fn process_name(&mut self, s: &str, program: &Program, common: &Expansions) -> String {
        match pyformat::expand(&program.process_name, common, "process_name") {
            Ok(n) => n,
            Err(e) => {
                let loc = self.loc(s, "process_name");
                self.error_at(loc, e.to_string(), false);
                program.name.clone()
            }
        }
    }
}
