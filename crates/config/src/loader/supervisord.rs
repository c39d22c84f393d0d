//! `[supervisord]`: the daemon's own settings, the command-line flags that override them,
//! and what `ServerOptions.realize` does with them after reading.

use std::collections::BTreeMap;

use crate::datatypes::{self as dt, DtResult};
use crate::model::*;
use crate::pyformat::{Expansions, PyVal};
use crate::{Overrides, pypath, pystr};

use super::values::{DirCheck, unsigned};
use super::{Loader, Loc};

const S: &str = "supervisord";

impl Loader<'_> {
    /// `[supervisord]`, then the command line's overrides of it.
    pub(super) fn supervisord_section(&mut self, overrides: &Overrides) -> SupervisordConfig {
        if !self.ini.has_section(S) {
            let loc = Loc {
                file: Some(self.configfile.clone()),
                ..Loc::default()
            };
            self.error_at(loc, ".ini file does not include supervisord section", false);
        }
        let names = self.here_names();
        let mut cfg = self.supervisord_options(&names);
        cfg.environment = self.supervisord_environment(&names);
        self.apply_overrides(&mut cfg, overrides);
        cfg
    }

    /// Every `[supervisord]` option but `environment=`, in supervisord's order of reading
    /// (the order of the errors).
    fn supervisord_options(&mut self, names: &Expansions) -> SupervisordConfig {
        let minfds = self.conv_unsigned::<u64>(S, "minfds", "1024", names, false, 1024);
        let minprocs = self.conv_unsigned::<u64>(S, "minprocs", "200", names, false, 200);
        let directory = match self.get(S, "directory", None, names, true) {
            Ok(Some(d)) => Some(self.existing_dir_at(S, "directory", &d, dt::existing_directory)),
            _ => None,
        };
        let user = self.get(S, "user", None, names, true).ok().flatten();
        let umask = self.conv(S, "umask", "022", names, dt::octal_type, 0o22);
        let logfile = match self.get(S, "logfile", Some("supervisord.log"), names, true) {
            Ok(Some(v)) => self.existing_dir_at(S, "logfile", &v, dt::existing_dirpath),
            _ => "supervisord.log".into(),
        };
        let logfile_maxbytes =
            self.conv_unsigned::<u64>(S, "logfile_maxbytes", "50MB", names, true, 50 << 20);
        let logfile_backups =
            self.conv_unsigned::<u32>(S, "logfile_backups", "10", names, false, 10);
        let loglevel = self.conv(
            S,
            "loglevel",
            "info",
            names,
            dt::logging_level,
            LogLevel::Info,
        );
        let pidfile = match self.get(S, "pidfile", Some("supervisord.pid"), names, true) {
            Ok(Some(v)) => self.existing_dir_at(S, "pidfile", &v, dt::existing_dirpath),
            _ => "supervisord.pid".into(),
        };
        let identifier = self
            .get(S, "identifier", Some("supervisor"), names, true)
            .ok()
            .flatten()
            .unwrap_or_else(|| "supervisor".into());
        let nodaemon = self.bool_opt(S, "nodaemon", "false", names);
        let silent = self.bool_opt(S, "silent", "false", names);
        let tempdir = self.host.tempdir();
        let childlogdir = match self.get(S, "childlogdir", Some(&tempdir), names, true) {
            Ok(Some(v)) => self.existing_dir_at(S, "childlogdir", &v, dt::existing_directory),
            _ => tempdir.clone(),
        };
        let nocleanup = self.bool_opt(S, "nocleanup", "false", names);
        let strip_ansi = self.bool_opt(S, "strip_ansi", "false", names);

        SupervisordConfig {
            logfile,
            logfile_maxbytes,
            logfile_backups,
            loglevel,
            pidfile,
            nodaemon,
            silent,
            minfds,
            minprocs,
            umask,
            user,
            directory,
            identifier,
            childlogdir,
            nocleanup,
            strip_ansi,
            environment: BTreeMap::new(),
            serverurl: None,
            statefile: String::new(),
            environment_files: Vec::new(),
            init: InitMode::Auto,
            shutdown_timeout: None,
            forward_output: ForwardOutput::None,
        }
    }

    /// `[supervisord] environment=`, which every process inherits and whose variables
    /// become `ENV_*` names for the sections read after it.
    fn supervisord_environment(&mut self, names: &Expansions) -> BTreeMap<String, String> {
        // environment= is expanded twice: once by getdefault, then again by expand() with
        // `here`, `host_node_name` and the process environment.
        let mut environment = BTreeMap::new();
        if let Ok(Some(env1)) = self.get(S, "environment", Some(""), names, true) {
            let second = self.here_node_environ();
            environment = self
                .environment(S, &env1, &second, true)
                .into_iter()
                .collect();
        }
        for (k, v) in &environment {
            self.environ
                .insert(format!("ENV_{k}"), PyVal::Str(v.clone()));
        }
        environment
    }

    /// Command-line values win over the file (supervisord's priority 2 over 0), checked with
    /// the same converters; errors name the flag, in supervisord's words.
    fn apply_overrides(&mut self, cfg: &mut SupervisordConfig, o: &Overrides) {
        fn flag_loc(flag: &str) -> Loc {
            Loc {
                option: Some(format!("--{flag}")),
                ..Loc::default()
            }
        }
        let bad = |flag: &str, arg: &str, msg: &str| {
            format!("invalid value for --{flag} {}: {msg}", pystr::repr(arg))
        };
        macro_rules! simple {
            ($field:ident, $flag:literal, $conv:expr) => {
                if let Some(arg) = &o.$field {
                    match $conv(arg.as_str()) {
                        Ok(v) => cfg.$field = v,
                        Err(msg) => {
                            let m = bad($flag, arg, &msg);
                            self.error_at(flag_loc($flag), m, false);
                        }
                    }
                }
            };
        }
        fn to_unsigned<T: TryFrom<i64>>(r: DtResult<i64>) -> Result<T, String> {
            unsigned(r.map_err(|e| e.message)?).map_err(|e| e.to_string())
        }
        simple!(logfile_maxbytes, "logfile_maxbytes", |a| to_unsigned(
            dt::byte_size(a)
        ));
        simple!(logfile_backups, "logfile_backups", |a| to_unsigned(
            dt::integer(a)
        ));
        simple!(loglevel, "loglevel", |a| dt::logging_level(a)
            .map_err(|e| e.message));
        simple!(minfds, "minfds", |a| to_unsigned(dt::integer(a)));
        simple!(minprocs, "minprocs", |a| to_unsigned(dt::integer(a)));
        simple!(umask, "umask", |a| dt::octal_type(a).map_err(|e| e.message));
        if let Some(u) = &o.user {
            cfg.user = Some(u.clone());
        }
        if let Some(id) = &o.identifier {
            cfg.identifier = id.clone();
        }
        let mut dir_flag = |flag: &str, arg: &str, check: DirCheck| {
            self.existing_dir(flag_loc(flag), arg, check, |msg| bad(flag, arg, &msg))
        };
        if let Some(arg) = &o.logfile {
            cfg.logfile = dir_flag("logfile", arg, dt::existing_dirpath);
        }
        if let Some(arg) = &o.pidfile {
            cfg.pidfile = dir_flag("pidfile", arg, dt::existing_dirpath);
        }
        if let Some(arg) = &o.directory {
            cfg.directory = Some(dir_flag("directory", arg, dt::existing_directory));
        }
        if let Some(arg) = &o.childlogdir {
            cfg.childlogdir = dir_flag("childlogdir", arg, dt::existing_directory);
        }
        cfg.nodaemon |= o.nodaemon;
        cfg.silent |= o.silent;
        cfg.nocleanup |= o.nocleanup;
        cfg.strip_ansi |= o.strip_ansi;
    }

    /// What `ServerOptions.realize` does after reading: the user must exist, logfile (unless
    /// `syslog`) and pidfile become absolute and normal.
    pub(super) fn realize(&mut self, cfg: &mut SupervisordConfig, overrides: &Overrides) {
        if let Some(user) = cfg.user.clone() {
            if let Err(e) = dt::name_to_uid(&user, self.host) {
                let loc = if overrides.user.is_some() {
                    Loc {
                        option: Some("--user".into()),
                        ..Loc::default()
                    }
                } else {
                    self.loc("supervisord", "user")
                };
                self.error_at(loc, e.message, e.host_dependent);
            }
        }
        if cfg.logfile != "syslog" {
            cfg.logfile = pypath::normalize_path(&cfg.logfile, self.host, &self.cwd);
        }
        cfg.pidfile = pypath::normalize_path(&cfg.pidfile, self.host, &self.cwd);
    }
}

/// supervisord's `serverurl` for the processes' `SUPERVISOR_SERVER_URL`: the first unix
/// server, else the last inet one.
pub(super) fn serverurl(
    unix: &[UnixHttpServerConfig],
    inet: &[InetHttpServerConfig],
) -> Option<String> {
    unix.first()
        .map(|u| format!("unix://{}", u.file))
        .or_else(|| {
            inet.last().map(|i| {
                let host = if i.host.is_empty() {
                    "localhost"
                } else {
                    &i.host
                };
                format!("http://{host}:{}", i.port)
            })
        })
}

/// Each process's environment is `[supervisord] environment=` overridden by its own.
pub(super) fn inherit_environment(sup: &SupervisordConfig, groups: &mut [GroupConfig]) {
    for g in groups {
        for p in &mut g.processes {
            let mut env = sup.environment.clone();
            env.extend(std::mem::take(&mut p.environment));
            p.environment = env;
        }
    }
}
