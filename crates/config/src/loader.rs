//! supervisord's reading of a configuration (`ServerOptions.read_config`,
//! `process_groups_from_parser`, `_processes_from_section`, `server_configs_from_parser`,
//! `realize`), reproduced step by step, plus corral's extensions (see [`crate::corral`]).
//!
//! supervisord stops at the first error. This loader records the error with its location,
//! falls back to the default (or skips the item) and goes on, so that one run reports
//! everything. Which `%(name)s` names each value may use is exactly supervisord's (it
//! depends on the key, see the conformance corpus README), because the error messages list
//! them and because a name that is missing is an error.

use std::collections::BTreeMap;

use crate::datatypes::{self as dt, DtError, DtResult, LogfileName};
use crate::error::ConfigError;
use crate::host::Host;
use crate::ini::Ini;
use crate::model::*;
use crate::pyformat::{self, Expansions, PyVal};
use crate::{Loaded, Overrides, corral, pypath, pystr};

/// supervisord's event type names (`supervisor.events.EventTypes`).
pub(crate) const EVENT_TYPES: &[&str] = &[
    "EVENT",
    "PROCESS_COMMUNICATION",
    "PROCESS_COMMUNICATION_STDERR",
    "PROCESS_COMMUNICATION_STDOUT",
    "PROCESS_GROUP",
    "PROCESS_GROUP_ADDED",
    "PROCESS_GROUP_REMOVED",
    "PROCESS_LOG",
    "PROCESS_LOG_STDERR",
    "PROCESS_LOG_STDOUT",
    "PROCESS_STATE",
    "PROCESS_STATE_BACKOFF",
    "PROCESS_STATE_EXITED",
    "PROCESS_STATE_FATAL",
    "PROCESS_STATE_RUNNING",
    "PROCESS_STATE_STARTING",
    "PROCESS_STATE_STOPPED",
    "PROCESS_STATE_STOPPING",
    "PROCESS_STATE_UNKNOWN",
    "REMOTE_COMMUNICATION",
    "SUPERVISOR_STATE_CHANGE",
    "SUPERVISOR_STATE_CHANGE_RUNNING",
    "SUPERVISOR_STATE_CHANGE_STOPPING",
    "TICK",
    "TICK_3600",
    "TICK_5",
    "TICK_60",
];

pub(crate) const DEFAULT_RPC_FACTORY: &str = "supervisor.rpcinterface:make_main_rpcinterface";
pub(crate) const DEFAULT_RESULT_HANDLER: &str = "supervisor.dispatchers:default_handler";
const RPC_FACTORY_KEY: &str = "supervisor.rpcinterface_factory";

/// Where a problem is.
#[derive(Debug, Clone, Default)]
pub(crate) struct Loc {
    pub file: Option<String>,
    pub line: Option<usize>,
    pub section: Option<String>,
    pub option: Option<String>,
}

/// What the loader found besides the [`Config`]: what the conformance view reports as
/// metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Meta {
    pub sections_ignored: Vec<String>,
    pub options_ignored: BTreeMap<String, Vec<String>>,
}

pub(crate) struct Loader<'h> {
    pub host: &'h dyn Host,
    pub cwd: String,
    /// Absolute path of the main file, and the name it was given under.
    pub configfile: String,
    pub given: String,
    pub here: String,
    pub node: String,
    pub ini: Ini,
    /// supervisord's `environ_expansions` (`ENV_*`), which `[supervisord] environment=`
    /// extends once it has been read.
    pub environ: Expansions,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
    /// corral's warnings, each with the place it names (`FILE:LINE: ` starts its text).
    corral_warnings: Vec<((String, usize), String)>,
    pub files: Vec<String>,
}

/// `dt::existing_dirpath` or `dt::existing_directory`.
type DirCheck = fn(&str, &dyn Host) -> Result<String, (String, String)>;

/// A `[program:x]` value that failed: the error was recorded, use the fallback.
pub(crate) struct Failed;

pub(crate) fn str_map(pairs: &[(&str, &str)]) -> Expansions {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), PyVal::Str(v.to_string())))
        .collect()
}

/// supervisord's `environ_expansions`: `ENV_NAME` for every variable of the environment.
pub(crate) fn environ_expansions(host: &dyn Host) -> Expansions {
    host.env_vars()
        .into_iter()
        .map(|(k, v)| (format!("ENV_{k}"), PyVal::Str(v)))
        .collect()
}

/// Why a config file could not be read, in supervisord's words where it has them.
pub(crate) fn unreadable(path: &str, e: &std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        format!("could not find config file {path}")
    } else {
        format!("could not read config file {path}: {e}")
    }
}

fn unsigned<T: TryFrom<i64>>(v: i64) -> Result<T, String> {
    if v < 0 {
        return Err(format!(
            "{v} is negative: supervisord would take it, but it means nothing here"
        ));
    }
    T::try_from(v).map_err(|_| format!("{v} is too large"))
}

impl<'h> Loader<'h> {
    pub fn new(path: &str, host: &'h dyn Host) -> Self {
        let cwd = host.cwd();
        let configfile = pypath::abspath(path, &cwd);
        let here = pypath::dirname(&configfile);
        let environ = environ_expansions(host);
        Loader {
            host,
            node: host.hostname(),
            cwd,
            given: path.to_string(),
            configfile,
            here,
            ini: Ini::new(),
            environ,
            errors: Vec::new(),
            warnings: Vec::new(),
            infos: Vec::new(),
            corral_warnings: Vec::new(),
            files: Vec::new(),
        }
    }

    /// `here` alone: the names most of supervisord's sections offer.
    pub fn here_names(&self) -> Expansions {
        str_map(&[("here", &self.here)])
    }

    /// `here`, `host_node_name` and the `ENV_*` names: what supervisord's own `expand()`
    /// calls (`[include] files=`, `[supervisord] environment=`) offer.
    fn here_node_environ(&self) -> Expansions {
        let mut names = str_map(&[("here", &self.here), ("host_node_name", &self.node)]);
        names.extend(self.environ.clone());
        names
    }

    // ----------------------------------------------------------------- reporting

    pub fn error_at(&mut self, loc: Loc, message: impl Into<String>, host_dependent: bool) {
        let e = ConfigError {
            file: loc.file,
            line: loc.line,
            section: loc.section,
            option: loc.option,
            message: message.into(),
            host_dependent,
        };
        // The same value can be read more than once (per group, per process); say it once.
        if !self.errors.contains(&e) {
            self.errors.push(e);
        }
    }

    /// A corral warning about `file`, `line`: `FILE:LINE: MESSAGE`, said once.
    pub fn corral_warning(&mut self, file: &str, line: usize, message: &str) {
        let w = (
            (file.to_string(), line),
            format!("{file}:{line}: {message}"),
        );
        if !self.corral_warnings.contains(&w) {
            self.corral_warnings.push(w);
        }
    }

    /// A corral warning about an option (or section) at `loc`.
    pub fn corral_warning_at(&mut self, loc: &Loc, message: &str) {
        let file = loc.file.as_deref().unwrap_or_default();
        self.corral_warning(file, loc.line.unwrap_or(0), message);
    }

    /// corral's warnings in the order of the files and lines they name, as a reader fixes
    /// them (files in the order of their names: the main file first is good enough).
    fn take_corral_warnings(&mut self) -> Vec<String> {
        let mut warnings = std::mem::take(&mut self.corral_warnings);
        warnings.sort_by(|a, b| a.0.cmp(&b.0));
        warnings.into_iter().map(|(_, w)| w).collect()
    }

    /// Location of an option (its own line, else its section's header).
    pub fn loc(&self, section: &str, key: &str) -> Loc {
        let mut loc = self.section_loc(section);
        if let Some(o) = self.ini.get(section, key) {
            loc.file = Some(o.file.clone());
            loc.line = Some(o.line);
        }
        loc.option = Some(key.to_string());
        loc
    }

    pub fn section_loc(&self, section: &str) -> Loc {
        match self.ini.section(section) {
            Some(s) => Loc {
                file: Some(s.file.clone()),
                line: Some(s.line),
                section: Some(section.to_string()),
                option: None,
            },
            None => Loc {
                file: Some(self.configfile.clone()),
                line: None,
                section: Some(section.to_string()),
                option: None,
            },
        }
    }

    fn dt_error(&mut self, section: &str, key: &str, e: DtError) {
        let loc = self.loc(section, key);
        self.error_at(loc, e.message, e.host_dependent);
    }

    // ----------------------------------------------------------------- values

    /// `parser.saneget(section, key, default, do_expand, expansions=names)`.
    pub fn get(
        &mut self,
        section: &str,
        key: &str,
        default: Option<&str>,
        names: &Expansions,
        do_expand: bool,
    ) -> Result<Option<String>, Failed> {
        let raw = match self.ini.get(section, key) {
            Some(o) => o.value.clone(),
            None => match default {
                Some(d) => d.to_string(),
                None => return Ok(None),
            },
        };
        if !do_expand {
            return Ok(Some(raw));
        }
        let mut combined = self.environ.clone();
        combined.extend(names.iter().map(|(k, v)| (k.clone(), v.clone())));
        match pyformat::expand(&raw, &combined, &format!("{section}.{key}")) {
            Ok(v) => Ok(Some(v)),
            Err(msg) => {
                let loc = self.loc(section, key);
                self.error_at(loc, msg, false);
                Err(Failed)
            }
        }
    }

    /// A value run through a converter; on any failure the error is recorded and
    /// `fallback` is used.
    pub fn conv<T>(
        &mut self,
        section: &str,
        key: &str,
        default: &str,
        names: &Expansions,
        f: impl FnOnce(&str) -> DtResult<T>,
        fallback: T,
    ) -> T {
        let Ok(Some(v)) = self.get(section, key, Some(default), names, true) else {
            return fallback;
        };
        match f(&v) {
            Ok(t) => t,
            Err(e) => {
                self.dt_error(section, key, e);
                fallback
            }
        }
    }

    /// An integer that corral keeps unsigned.
    pub fn conv_unsigned<T: TryFrom<i64> + Copy>(
        &mut self,
        section: &str,
        key: &str,
        default: &str,
        names: &Expansions,
        size: bool,
        fallback: T,
    ) -> T {
        let f = if size { dt::byte_size } else { dt::integer };
        let v = self.conv(section, key, default, names, |s| f(s).map(Some), None);
        v.and_then(|v| self.checked_unsigned(section, key, v))
            .unwrap_or(fallback)
    }

    fn bool_opt(&mut self, section: &str, key: &str, default: &str, names: &Expansions) -> bool {
        let fallback = dt::boolean(default).unwrap_or(false);
        self.conv(section, key, default, names, dt::boolean, fallback)
    }

    /// `value` through a directory check (`existing_dirpath`, `existing_directory`).
    /// supervisord refuses a directory, logfile or pidfile whose directory is missing. corral
    /// refuses it too, as a problem of this host rather than of the file, with `message`
    /// made of the check's: the expanded value is kept (the view shows it as on a host
    /// where the directory exists, the conformance rule) and `--check` still prints
    /// everything else.
    fn existing_dir(
        &mut self,
        loc: Loc,
        value: &str,
        check: DirCheck,
        message: impl FnOnce(String) -> String,
    ) -> String {
        match check(value, self.host) {
            Ok(v) => v,
            Err((v, msg)) => {
                self.error_at(loc, message(msg), true);
                v
            }
        }
    }

    /// [`Self::existing_dir`] for the value of `section`'s `key`.
    fn existing_dir_at(
        &mut self,
        section: &str,
        key: &str,
        value: &str,
        check: DirCheck,
    ) -> String {
        let loc = self.loc(section, key);
        self.existing_dir(loc, value, check, |msg| msg)
    }

    // ----------------------------------------------------------------- files

    fn read_text(&mut self, path: &str, loc: Loc) -> Option<String> {
        let bytes = match self.host.read_file(path) {
            Ok(b) => b,
            Err(e) => {
                self.error_at(loc, unreadable(path, &e), false);
                return None;
            }
        };
        match String::from_utf8(bytes) {
            Ok(t) => Some(t),
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                self.error_at(
                    Loc {
                        file: Some(pypath::abspath(path, &self.cwd)),
                        line: Some(line),
                        ..Loc::default()
                    },
                    format!(
                        "the file is not valid UTF-8 (byte {} of line {line})",
                        valid.len() + 1
                            - valid.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1)
                    ),
                    false,
                );
                None
            }
        }
    }

    fn parse_into_ini(&mut self, text: &str, fpname: &str, abs: &str) -> Vec<(String, usize)> {
        for e in self.ini.read(text, fpname, abs) {
            let loc = Loc {
                file: Some(abs.to_string()),
                line: Some(e.line),
                ..Loc::default()
            };
            self.error_at(loc, e.python_message(), false);
        }
        self.ini.last_headers()
    }

    /// `read_config` up to the `[supervisord]` check: the main file and its includes.
    pub fn read_files(&mut self) -> bool {
        let main_loc = Loc {
            file: Some(self.configfile.clone()),
            ..Loc::default()
        };
        let given = self.given.clone();
        let Some(text) = self.read_text(&given, main_loc) else {
            return false;
        };
        let abs = self.configfile.clone();
        self.files.push(abs.clone());
        self.parse_into_ini(&text, &given, &abs);

        if !self.ini.has_section("include") {
            return true;
        }
        let here = self.here.clone();
        self.ini.expand_here(&here);
        let Some(files) = self.ini.get("include", "files").map(|o| o.value.clone()) else {
            let loc = self.section_loc("include");
            let msg = ".ini file has [include] section, but no files setting";
            self.error_at(loc, msg, false);
            return true;
        };
        match pyformat::expand(&files, &self.here_node_environ(), "include.files") {
            Ok(files) => self.read_includes(&files),
            Err(msg) => {
                let loc = self.loc("include", "files");
                self.error_at(loc, msg, false);
            }
        }
        true
    }

    fn read_includes(&mut self, files: &str) {
        let base = pypath::dirname(&self.configfile);
        let include_loc = self.loc("include", "files");
        for pattern in files.split(pystr::is_space).filter(|p| !p.is_empty()) {
            let pattern = pypath::join(&base, pattern);
            let mut filenames = crate::pyglob::glob(self.host, &pattern);
            if filenames.is_empty() {
                self.warnings
                    .push(format!("No file matches via include \"{pattern}\""));
                continue;
            }
            filenames.sort();
            for filename in filenames {
                self.infos
                    .push(format!("Included extra file \"{filename}\" during parsing"));
                if self.host.is_dir(&filename) {
                    // configparser's read() skips what it cannot open, directories included.
                    self.corral_warning_at(
                        &include_loc,
                        &format!(
                            "[include] files: {filename} is a directory; skipped (as supervisord does)"
                        ),
                    );
                    continue;
                }
                let abs = pypath::abspath(&filename, &self.cwd);
                let Some(text) = self.read_text(&filename, include_loc.clone()) else {
                    continue;
                };
                self.files.push(abs.clone());
                let headers = self.parse_into_ini(&text, &filename, &abs);
                for (name, line) in headers {
                    if name == "include" {
                        self.corral_warning(
                            &abs,
                            line,
                            "[include] in an included file is ignored \
                             (supervisord only reads the main file's [include])",
                        );
                    }
                }
                let dir = pypath::dirname(&abs);
                self.ini.expand_here(&dir);
            }
        }
    }

    /// `environment=` from its last expansion (`raw` expanded with `names`) to supervisord's
    /// pairs; what cannot be expanded or split is an error (no pairs). supervisord splits it
    /// like a shell lexer and silently keeps what that makes of it; corral reads it the same
    /// way and, with `warn`, says what was lost.
    fn environment(
        &mut self,
        section: &str,
        raw: &str,
        names: &Expansions,
        warn: bool,
    ) -> Vec<(String, String)> {
        let value = match pyformat::expand(raw, names, "environment") {
            Ok(v) => v,
            Err(msg) => {
                let loc = self.loc(section, "environment");
                self.error_at(loc, msg, false);
                return Vec::new();
            }
        };
        let pairs = match dt::dict_of_key_value_pairs(&value) {
            Ok(pairs) => pairs,
            Err(e) => {
                self.dt_error(section, "environment", e);
                return Vec::new();
            }
        };
        let mangled = dt::environment_mangling(&value, &pairs);
        if warn && !mangled.is_empty() {
            let loc = self.loc(section, "environment");
            self.corral_warning_at(
                &loc,
                &format!(
                    "[{section}] environment: as supervisord reads it, {} (quote values with \
                     spaces, $, # or other punctuation: KEY=\"value\")",
                    mangled.join("; ")
                ),
            );
        }
        pairs
    }

    // ----------------------------------------------------------------- [supervisord]

    pub fn supervisord_section(&mut self, overrides: &Overrides) -> SupervisordConfig {
        const S: &str = "supervisord";
        if !self.ini.has_section(S) {
            let loc = Loc {
                file: Some(self.configfile.clone()),
                ..Loc::default()
            };
            self.error_at(loc, ".ini file does not include supervisord section", false);
        }
        let names = self.here_names();
        let minfds = self.conv_unsigned::<u64>(S, "minfds", "1024", &names, false, 1024);
        let minprocs = self.conv_unsigned::<u64>(S, "minprocs", "200", &names, false, 200);
        let directory = match self.get(S, "directory", None, &names, true) {
            Ok(Some(d)) => Some(self.existing_dir_at(S, "directory", &d, dt::existing_directory)),
            _ => None,
        };
        let user = self.get(S, "user", None, &names, true).ok().flatten();
        let umask = self.conv(S, "umask", "022", &names, dt::octal_type, 0o22);
        let logfile = match self.get(S, "logfile", Some("supervisord.log"), &names, true) {
            Ok(Some(v)) => self.existing_dir_at(S, "logfile", &v, dt::existing_dirpath),
            _ => "supervisord.log".into(),
        };
        let logfile_maxbytes =
            self.conv_unsigned::<u64>(S, "logfile_maxbytes", "50MB", &names, true, 50 << 20);
        let logfile_backups =
            self.conv_unsigned::<u32>(S, "logfile_backups", "10", &names, false, 10);
        let loglevel = self.conv(
            S,
            "loglevel",
            "info",
            &names,
            dt::logging_level,
            LogLevel::Info,
        );
        let pidfile = match self.get(S, "pidfile", Some("supervisord.pid"), &names, true) {
            Ok(Some(v)) => self.existing_dir_at(S, "pidfile", &v, dt::existing_dirpath),
            _ => "supervisord.pid".into(),
        };
        let identifier = self
            .get(S, "identifier", Some("supervisor"), &names, true)
            .ok()
            .flatten()
            .unwrap_or_else(|| "supervisor".into());
        let nodaemon = self.bool_opt(S, "nodaemon", "false", &names);
        let silent = self.bool_opt(S, "silent", "false", &names);
        let tempdir = self.host.tempdir();
        let childlogdir = match self.get(S, "childlogdir", Some(&tempdir), &names, true) {
            Ok(Some(v)) => self.existing_dir_at(S, "childlogdir", &v, dt::existing_directory),
            _ => tempdir.clone(),
        };
        let nocleanup = self.bool_opt(S, "nocleanup", "false", &names);
        let strip_ansi = self.bool_opt(S, "strip_ansi", "false", &names);

        // environment= is expanded twice: once by getdefault, then again by expand() with
        // `here`, `host_node_name` and the process environment.
        let mut environment = BTreeMap::new();
        if let Ok(Some(env1)) = self.get(S, "environment", Some(""), &names, true) {
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

        let mut cfg = SupervisordConfig {
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
            environment,
            serverurl: None,
            statefile: String::new(),
        };
        self.apply_overrides(&mut cfg, overrides);
        cfg
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
            unsigned(r.map_err(|e| e.message)?)
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
    pub fn realize(&mut self, cfg: &mut SupervisordConfig, overrides: &Overrides) {
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

    // ----------------------------------------------------------------- rpcinterface

    pub fn rpcinterfaces(&mut self) -> Vec<RpcInterfaceConfig> {
        let mut out = Vec::new();
        let empty = Expansions::new();
        for section in self.ini.section_names() {
            if !section.starts_with("rpcinterface:") {
                continue;
            }
            let name = section.split_once(':').map_or("", |x| x.1).to_string();
            let factory = match self.get(&section, RPC_FACTORY_KEY, None, &empty, true) {
                Ok(Some(f)) => f,
                Ok(None) => {
                    let loc = self.section_loc(&section);
                    self.error_at(
                        loc,
                        format!("section [{section}] does not specify a {RPC_FACTORY_KEY}"),
                        false,
                    );
                    continue;
                }
                Err(Failed) => continue,
            };
            if factory != DEFAULT_RPC_FACTORY {
                let loc = self.loc(&section, RPC_FACTORY_KEY);
                // supervisord imports it, and refuses to start where it cannot; corral
                // cannot import Python at all. Everything else in the file still reads.
                self.error_at(
                    loc,
                    format!(
                        "{factory} is a Python plugin, which corral cannot load (it serves \
                         supervisord's built-in interface only); remove [{section}] to run \
                         this file under corral"
                    ),
                    true,
                );
            }
            let mut extras = BTreeMap::new();
            let keys: Vec<String> = self
                .ini
                .options(&section)
                .iter()
                .map(|o| o.key.clone())
                .collect();
            for k in keys {
                if k == RPC_FACTORY_KEY {
                    continue;
                }
                if let Ok(Some(v)) = self.get(&section, &k, None, &empty, true) {
                    extras.insert(k, v);
                }
            }
            out.push(RpcInterfaceConfig {
                name,
                factory,
                extras,
            });
        }
        out
    }

    // ----------------------------------------------------------------- servers

    fn username_and_password(&mut self, section: &str) -> (Option<String>, Option<String>) {
        let empty = Expansions::new();
        let username = self
            .get(section, "username", None, &empty, true)
            .ok()
            .flatten();
        let password = self
            .get(section, "password", None, &empty, true)
            .ok()
            .flatten();
        if username.is_some() != password.is_some() {
            let key = if username.is_some() {
                "username"
            } else {
                "password"
            };
            let loc = self.loc(section, key);
            self.error_at(
                loc,
                format!(
                    "Section [{section}] contains incomplete authentication: If a username or a \
                     password is specified, both the username and password must be specified"
                ),
                false,
            );
        }
        (username, password)
    }

    /// A socket's `user[:group]` (`chown=`, `socket_owner=`). One that does not resolve is
    /// supervisord's `Invalid WHAT value V`, and is kept as written with unknown ids.
    fn owner_opt(
        &mut self,
        section: &str,
        key: &str,
        names: &Expansions,
        what: &str,
    ) -> Option<OwnerSpec> {
        let spec = self.get(section, key, None, names, true).ok().flatten()?;
        match dt::colon_separated_user_group(&spec, self.host) {
            Ok((uid, gid)) => Some(OwnerSpec { spec, uid, gid }),
            Err(e) => {
                let loc = self.loc(section, key);
                self.error_at(
                    loc,
                    format!("Invalid {what} value {spec}"),
                    e.host_dependent,
                );
                Some(OwnerSpec {
                    spec,
                    uid: u32::MAX,
                    gid: None,
                })
            }
        }
    }

    /// A socket's octal mode (`chmod=`, `socket_mode=`); a bad one is supervisord's
    /// `Invalid WHAT value V`, and `None` like a missing one.
    fn mode_opt(
        &mut self,
        section: &str,
        key: &str,
        names: &Expansions,
        what: &str,
    ) -> Option<u32> {
        let v = self.get(section, key, None, names, true).ok().flatten()?;
        match dt::octal_type(&v) {
            Ok(m) => Some(m),
            Err(_) => {
                let loc = self.loc(section, key);
                self.error_at(loc, format!("Invalid {what} value {v}"), false);
                None
            }
        }
    }

    pub fn servers(&mut self) -> (Vec<UnixHttpServerConfig>, Vec<InetHttpServerConfig>) {
        let mut inet = Vec::new();
        let mut unix = Vec::new();
        let empty = Expansions::new();
        let names = self.here_names();
        let sections = self.ini.section_names();
        for section in sections
            .iter()
            .filter(|s| s.starts_with("inet_http_server"))
        {
            let (username, password) = self.username_and_password(section);
            let port = match self.get(section, "port", None, &empty, true) {
                Ok(Some(p)) => p,
                Ok(None) => {
                    let loc = self.section_loc(section);
                    self.error_at(loc, format!("section [{section}] has no port value"), false);
                    continue;
                }
                Err(Failed) => continue,
            };
            match dt::inet_address(&port) {
                Ok((host, port)) => inet.push(InetHttpServerConfig {
                    section: section.clone(),
                    host,
                    port,
                    username,
                    password,
                }),
                Err(e) => self.dt_error(section, "port", e),
            }
        }
        for section in sections
            .iter()
            .filter(|s| s.starts_with("unix_http_server"))
        {
            let file = match self.get(section, "file", None, &names, true) {
                Ok(Some(f)) => pypath::normalize_path(pystr::strip(&f), self.host, &self.cwd),
                Ok(None) => {
                    let loc = self.section_loc(section);
                    self.error_at(loc, format!("section [{section}] has no file value"), false);
                    continue;
                }
                Err(Failed) => continue,
            };
            let (username, password) = self.username_and_password(section);
            let chown = self.owner_opt(section, "chown", &empty, "sockchown");
            let chmod = self
                .mode_opt(section, "chmod", &empty, "chmod")
                .unwrap_or(0o700);
            unix.push(UnixHttpServerConfig {
                section: section.clone(),
                file,
                chmod,
                chown,
                username,
                password,
            });
        }
        (unix, inet)
    }

    // ----------------------------------------------------------------- groups

    pub fn groups(&mut self, sockets: &[SocketConfig]) -> Vec<GroupConfig> {
        let all = self.ini.section_names();
        let mut groups: Vec<GroupConfig> = Vec::new();
        // Which [group:x] first took each program section. supervisord silently runs a
        // program listed in two groups twice, once in each; a program in a group is not a
        // group of its own.
        let mut taken_by: BTreeMap<String, String> = BTreeMap::new();
        let gnames = self.here_names();

        for section in all.iter().filter(|s| s.starts_with("group:")) {
            let Some(group_name) = self.section_name(section) else {
                continue;
            };
            let programs = self
                .get(section, "programs", None, &gnames, true)
                .ok()
                .flatten()
                .map(|p| dt::list_of_strings(&p))
                .unwrap_or_default();
            let priority = self.conv(section, "priority", "999", &gnames, dt::integer, 999);
            let mut processes = Vec::new();
            for program in programs {
                let program_section = format!("program:{program}");
                let fcgi_section = format!("fcgi-program:{program}");
                let has_p = all.contains(&program_section);
                let has_f = all.contains(&fcgi_section);
                if !has_p && !has_f {
                    let loc = self.loc(section, "programs");
                    self.error_at(
                        loc,
                        format!("[{section}] names unknown program or fcgi-program {program}"),
                        false,
                    );
                    continue;
                }
                if has_p && has_f {
                    let loc = self.loc(section, "programs");
                    self.error_at(
                        loc,
                        format!(
                            "[{section}] name {program} is ambiguous (exists as program and fcgi-program)"
                        ),
                        false,
                    );
                    continue;
                }
                let psec = if has_p { program_section } else { fcgi_section };
                if let Some(first) = taken_by.get(&psec) {
                    let loc = self.loc(section, "programs");
                    let also = if first == section {
                        "is listed twice".to_string()
                    } else {
                        format!("is also in [{first}]")
                    };
                    self.corral_warning_at(
                        &loc,
                        &format!(
                            "[{section}] programs: {program} {also}; supervisord runs a second \
                             copy of it there, as corral does (list it in one group only)"
                        ),
                    );
                } else {
                    taken_by.insert(psec.clone(), section.clone());
                }
                processes.extend(self.processes_from_section(&psec, &group_name, false, sockets));
            }
            groups.push(GroupConfig {
                name: group_name,
                priority,
                kind: GroupKind::Heterogeneous,
                processes,
            });
        }

        for section in all.iter().filter(|s| s.starts_with("program:")) {
            if taken_by.contains_key(section) {
                continue;
            }
            let Some(program_name) = self.section_name(section) else {
                continue;
            };
            let priority = self.conv(section, "priority", "999", &gnames, dt::integer, 999);
            let processes = self.processes_from_section(section, &program_name, false, sockets);
            groups.push(GroupConfig {
                name: program_name,
                priority,
                kind: GroupKind::Program,
                processes,
            });
        }

        for section in all.iter().filter(|s| s.starts_with("eventlistener:")) {
            // supervisord does not strip or check the pool name (the process name is).
            let pool_name = section.split_once(':').map_or("", |x| x.1).to_string();
            let priority = self.conv(section, "priority", "-1", &gnames, dt::integer, -1);
            let buffer_size = self.conv(section, "buffer_size", "10", &gnames, dt::integer, 10);
            let buffer_size = if buffer_size < 1 {
                let loc = self.loc(section, "buffer_size");
                self.error_at(
                    loc,
                    format!("[{section}] section sets invalid buffer_size ({buffer_size})"),
                    false,
                );
                10
            } else {
                usize::try_from(buffer_size).unwrap_or(10)
            };
            let result_handler = self
                .get(
                    section,
                    "result_handler",
                    Some(DEFAULT_RESULT_HANDLER),
                    &gnames,
                    true,
                )
                .ok()
                .flatten()
                .unwrap_or_else(|| DEFAULT_RESULT_HANDLER.into());
            if result_handler != DEFAULT_RESULT_HANDLER {
                let loc = self.loc(section, "result_handler");
                self.error_at(
                    loc,
                    format!(
                        "{result_handler} is a Python function, which corral cannot call; \
                         remove result_handler= to use supervisord's default handler (OK \
                         accepts, FAIL rejects)"
                    ),
                    true,
                );
            }
            let events_raw = self
                .get(section, "events", Some(""), &gnames, true)
                .ok()
                .flatten()
                .unwrap_or_default();
            let mut events: Vec<String> = Vec::new();
            for e in dt::list_of_strings(&events_raw) {
                let e = pystr::upper(&e);
                if !events.contains(&e) {
                    events.push(e);
                }
            }
            if events.is_empty() {
                let loc = self.loc(section, "events");
                self.error_at(
                    loc,
                    format!("[{section}] section requires an \"events\" line"),
                    false,
                );
            }
            let mut known = Vec::new();
            for e in events {
                if EVENT_TYPES.contains(&e.as_str()) {
                    known.push(e);
                } else {
                    let loc = self.loc(section, "events");
                    self.error_at(
                        loc,
                        format!("Unknown event type {e} in [{section}] events"),
                        false,
                    );
                }
            }
            known.sort();
            if self.bool_opt(section, "redirect_stderr", "false", &gnames) {
                let loc = self.loc(section, "redirect_stderr");
                self.error_at(
                    loc,
                    format!(
                        "[{section}] section sets redirect_stderr=true but this is not allowed \
                         because it will interfere with the eventlistener protocol"
                    ),
                    false,
                );
            }
            let processes = self.processes_from_section(section, &pool_name, true, sockets);
            groups.push(GroupConfig {
                name: pool_name,
                priority,
                kind: GroupKind::EventListener(EventListenerPool {
                    events: known,
                    buffer_size,
                    result_handler,
                }),
                processes,
            });
        }

        for section in all.iter().filter(|s| s.starts_with("fcgi-program:")) {
            if taken_by.contains_key(section) {
                continue;
            }
            let Some(program_name) = self.section_name(section) else {
                continue;
            };
            groups.push(self.fcgi_group(section, &program_name, sockets));
        }

        // groups.sort(): by priority, then name; stable.
        groups.sort_by(|a, b| {
            a.priority
                .cmp(&b.priority)
                .then_with(|| a.name.cmp(&b.name))
        });
        groups
    }

    /// The name after `kind:` in a section header (`[program:NAME]`, `[group:NAME]`, ...),
    /// checked as supervisord checks process and group names; `None` when it is refused.
    pub fn section_name(&mut self, section: &str) -> Option<String> {
        let raw = section.split_once(':').map_or("", |x| x.1);
        match dt::process_or_group_name(raw) {
            Ok(n) => Some(n),
            Err(e) => {
                let loc = self.section_loc(section);
                self.error_at(loc, e.message, false);
                None
            }
        }
    }

    fn fcgi_group(
        &mut self,
        section: &str,
        program_name: &str,
        sockets: &[SocketConfig],
    ) -> GroupConfig {
        let gnames = self.here_names();
        let priority = self.conv(section, "priority", "999", &gnames, dt::integer, 999);
        let proc_user = self
            .get(section, "user", None, &gnames, true)
            .ok()
            .flatten();
        let proc_uid = proc_user
            .as_ref()
            .and_then(|u| match dt::name_to_uid(u, self.host) {
                Ok(uid) => Some(uid),
                Err(e) => {
                    self.dt_error(section, "user", e);
                    None
                }
            });
        let backlog = match self.get(section, "socket_backlog", None, &gnames, true) {
            Ok(Some(b)) => match dt::integer(&b) {
                Ok(v) if (1..=65535).contains(&v) => Some(v as u32),
                Ok(v) => {
                    let loc = self.loc(section, "socket_backlog");
                    self.error_at(loc, format!("Invalid socket_backlog value {v}"), false);
                    None
                }
                Err(e) => {
                    self.dt_error(section, "socket_backlog", e);
                    None
                }
            },
            _ => None,
        };
        let owner = self.owner_opt(section, "socket_owner", &gnames, "socket_owner");
        let mode = self.mode_opt(section, "socket_mode", &gnames, "socket_mode");
        let mut snames = gnames.clone();
        snames.insert("program_name".into(), PyVal::Str(program_name.to_string()));
        let socket = match self.get(section, "socket", None, &snames, true) {
            Ok(Some(s)) if !s.is_empty() => Some(s),
            Ok(_) => {
                let loc = self.loc(section, "socket");
                self.error_at(
                    loc,
                    format!("[{section}] section requires a \"socket\" line"),
                    false,
                );
                None
            }
            Err(Failed) => None,
        };
        let socket = socket.and_then(|s| {
            match self.parse_fcgi_socket(
                &s,
                proc_uid,
                proc_user.as_deref(),
                owner.clone(),
                mode,
                backlog,
            ) {
                Ok(fs) => Some(fs),
                Err(msg) => {
                    let loc = self.loc(section, "socket");
                    self.error_at(loc, format!("{msg} in [{section}] socket"), false);
                    None
                }
            }
        });
        let processes = self.processes_from_section(section, program_name, false, sockets);
        GroupConfig {
            name: program_name.to_string(),
            priority,
            kind: GroupKind::FastCgi(socket.unwrap_or(FcgiSocket {
                url: String::new(),
                owner: None,
                mode: None,
                backlog: None,
            })),
            processes,
        }
    }

    /// `parse_fcgi_socket`; messages keep supervisord's oddities (two of its ValueErrors are
    /// raised with two arguments, so Python prints them as a tuple).
    fn parse_fcgi_socket(
        &mut self,
        sock: &str,
        proc_uid: Option<u32>,
        proc_user: Option<&str>,
        owner: Option<OwnerSpec>,
        mode: Option<u32>,
        backlog: Option<u32>,
    ) -> Result<FcgiSocket, String> {
        if let Some(path) = sock.strip_prefix("unix://") {
            if !pypath::isabs(path) {
                return Err(format!(
                    "('Unix socket path %s is not an absolute path', {})",
                    pystr::repr(path)
                ));
            }
            let path = pypath::normalize_path(path, self.host, &self.cwd);
            let mut owner = owner;
            if owner.is_none() {
                if let (Some(uid), Some(user)) = (proc_uid, proc_user) {
                    if uid != self.host.current_uid() {
                        let gid = dt::gid_for_uid(uid, self.host).unwrap_or(uid);
                        owner = Some(OwnerSpec {
                            spec: format!("{user}:{gid}"),
                            uid,
                            gid: Some(gid),
                        });
                    }
                }
            }
            return Ok(FcgiSocket {
                url: format!("unix://{path}"),
                owner,
                mode: Some(mode.unwrap_or(0o700)),
                backlog,
            });
        }
        if owner.is_some() || mode.is_some() {
            return Err(
                "socket_owner and socket_mode params should only be used with a Unix domain socket"
                    .into(),
            );
        }
        // re.match(r'tcp://([^\s:]+):(\d+)$', sock)
        if let Some(rest) = sock.strip_prefix("tcp://") {
            let rest = rest.strip_suffix('\n').unwrap_or(rest);
            if let Some((host, port)) = rest.split_once(':') {
                if !host.is_empty()
                    && !host.chars().any(pystr::is_space)
                    && !port.is_empty()
                    && port.chars().all(|c| pystr::decimal_value(c).is_some())
                {
                    let port = dt::port_number(port).map_err(|e| e.message)?;
                    let host = pystr::lower(host);
                    return Ok(FcgiSocket {
                        url: format!("tcp://{host}:{port}"),
                        owner: None,
                        mode: None,
                        backlog,
                    });
                }
            }
        }
        Err(format!("('Bad socket format %s', {})", pystr::repr(sock)))
    }

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
        let file = self
            .ini
            .section(section)
            .map_or_else(|| self.configfile.clone(), |s| s.file.clone());
        // common_expansions; the per-process loop below extends this very map, as
        // supervisord does (so later keys see process_num and the program's environment).
        let mut common = str_map(&[
            ("here", &self.here.clone()),
            ("program_name", &program_name),
            ("host_node_name", &self.node.clone()),
            ("group_name", group_name),
        ]);
        let s = section;
        let priority = self.conv(s, "priority", "999", &common, dt::integer, 999);
        let autostart = self.bool_opt(s, "autostart", "true", &common);
        let autorestart = self.conv(
            s,
            "autorestart",
            "unexpected",
            &common,
            dt::auto_restart,
            AutoRestart::Unexpected,
        );
        let startsecs = self.conv_unsigned::<u64>(s, "startsecs", "1", &common, false, 1);
        let startretries = self.conv_unsigned::<u64>(s, "startretries", "3", &common, false, 3);
        let stopsignal = self.conv(
            s,
            "stopsignal",
            "TERM",
            &common,
            dt::signal_number,
            libc::SIGTERM,
        );
        let stopwaitsecs = self.conv_unsigned::<u64>(s, "stopwaitsecs", "10", &common, false, 10);
        let stopasgroup = self.bool_opt(s, "stopasgroup", "false", &common);
        let killasgroup = self.bool_opt(
            s,
            "killasgroup",
            if stopasgroup { "true" } else { "false" },
            &common,
        );
        let exitcodes = self.conv(s, "exitcodes", "0", &common, dt::list_of_exitcodes, vec![0]);
        let redirect_stderr = self.bool_opt(s, "redirect_stderr", "false", &common);
        let numprocs = self.conv(s, "numprocs", "1", &common, dt::integer, 1);
        let numprocs_start = self.conv(s, "numprocs_start", "0", &common, dt::integer, 0);
        let environment_str = self
            .get(s, "environment", Some(""), &common, false)
            .ok()
            .flatten()
            .unwrap_or_default();
        let stdout_cmax =
            self.conv_unsigned::<u64>(s, "stdout_capture_maxbytes", "0", &common, true, 0);
        let stdout_events = self.bool_opt(s, "stdout_events_enabled", "false", &common);
        let stderr_cmax =
            self.conv_unsigned::<u64>(s, "stderr_capture_maxbytes", "0", &common, true, 0);
        let stderr_events = self.bool_opt(s, "stderr_events_enabled", "false", &common);
        let serverurl = self
            .get(s, "serverurl", None, &common, true)
            .ok()
            .flatten()
            // Only AUTO means "the daemon's"; an empty value stays as written.
            .filter(|u| u.is_empty() || pystr::upper(pystr::strip(u)) != "AUTO");
        let user = match self.get(s, "user", None, &common, true) {
            Ok(Some(u)) => match dt::name_to_uid(&u, self.host) {
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
            },
            _ => None,
        };
        let umask = match self.get(s, "umask", None, &common, true) {
            Ok(Some(u)) => match dt::octal_type(&u) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.dt_error(s, "umask", e);
                    None
                }
            },
            _ => None,
        };
        let process_name_tpl = self
            .get(s, "process_name", Some("%(program_name)s"), &common, false)
            .ok()
            .flatten()
            .unwrap_or_else(|| "%(program_name)s".into());
        let process_name_tpl = match dt::process_or_group_name(&process_name_tpl) {
            Ok(n) => n,
            Err(e) => {
                self.dt_error(s, "process_name", e);
                "%(program_name)s".into()
            }
        };
        let mut numprocs = numprocs;
        if numprocs > 1 && !process_name_tpl.contains("%(process_num)") {
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
            // One process, so that the same mistake is not reported again as duplicate names.
            numprocs = 1;
        }
        if stopasgroup && !killasgroup {
            let loc = self.loc(s, "killasgroup");
            self.error_at(
                loc,
                "Cannot set stopasgroup=true and killasgroup=false",
                false,
            );
        }
        let numprocs_u = self
            .checked_unsigned::<u32>(s, "numprocs", numprocs)
            .unwrap_or(0);
        let start_u = self
            .checked_unsigned::<u32>(s, "numprocs_start", numprocs_start)
            .unwrap_or(0);
        let ext = corral::ProgramExtras::read(self, s, &common, is_listener, sockets);

        let mut out = Vec::new();
        for process_num in numprocs_start..numprocs_start.saturating_add(numprocs) {
            common.insert("process_num".into(), PyVal::Int(process_num));
            common.insert("numprocs".into(), PyVal::Int(numprocs));
            common.extend(self.environ.clone());
            let mut environment = BTreeMap::new();
            let first = process_num == numprocs_start;
            for (k, v) in self.environment(s, &environment_str, &common, first) {
                common.insert(format!("ENV_{k}"), PyVal::Str(v.clone()));
                environment.insert(k, v);
            }
            let directory = self.get(s, "directory", None, &common, true).ok().flatten();
            let stdout = self.channel(s, "stdout", &common, (stdout_cmax, stdout_events));
            let mut stderr = self.channel(s, "stderr", &common, (stderr_cmax, stderr_events));
            if redirect_stderr {
                if matches!(stderr.logfile, LogFile::Path(_)) {
                    self.warnings.push(format!(
                        "For [{s}], redirect_stderr=true but stderr_logfile has also been set \
                         to a filename, the filename has been ignored"
                    ));
                }
                stderr.logfile = LogFile::None;
            }
            let mut cmd_names = common.clone();
            for (i, name) in ext.sockets.iter().enumerate() {
                cmd_names.insert(format!("socket_fd_{name}"), PyVal::Int(3 + i as i64));
            }
            let command = match self.get(s, "command", None, &cmd_names, true) {
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
            };
            let name = match pyformat::expand(&process_name_tpl, &common, "process_name") {
                Ok(n) => n,
                Err(msg) => {
                    let loc = self.loc(s, "process_name");
                    self.error_at(loc, msg, false);
                    program_name.clone()
                }
            };
            let readiness = ext.readiness(self, s, &common);
            let Some(command) = command else { continue };
            out.push(ProcessConfig {
                name,
                group: group_name.to_string(),
                section: s.to_string(),
                file: file.clone(),
                is_listener,
                command,
                directory,
                umask,
                priority,
                autostart,
                autorestart,
                startsecs,
                startretries,
                user: user.clone(),
                stdout,
                stderr,
                stopsignal,
                stopwaitsecs,
                stopasgroup,
                killasgroup,
                exitcodes: exitcodes.clone(),
                redirect_stderr,
                environment,
                serverurl: serverurl.clone(),
                numprocs: numprocs_u,
                numprocs_start: start_u,
                process_num: u32::try_from(process_num).unwrap_or(0),
                stopdescendants: ext.stopdescendants,
                sockets: ext.sockets.clone(),
                readiness,
                readiness_timeout: ext.readiness_timeout,
            });
        }
        // programs.sort(): by priority, then name (all share the priority).
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    fn checked_unsigned<T: TryFrom<i64>>(&mut self, s: &str, key: &str, v: i64) -> Option<T> {
        match unsigned::<T>(v) {
            Ok(t) => Some(t),
            Err(msg) => {
                let loc = self.loc(s, key);
                self.error_at(loc, msg, false);
                None
            }
        }
    }

    /// The `stdout_*`/`stderr_*` settings of one process.
    fn channel(
        &mut self,
        s: &str,
        ch: &str,
        names: &Expansions,
        (capture_maxbytes, events_enabled): (u64, bool),
    ) -> ChannelConfig {
        let lf_key = format!("{ch}_logfile");
        // The logfile is expanded twice: by saneget, then by expand() under the bare key.
        let logfile = match self.get(s, &lf_key, None, names, true) {
            Ok(Some(v)) => match pyformat::expand(&v, names, &lf_key) {
                Ok(v) => Some(v),
                Err(msg) => {
                    let loc = self.loc(s, &lf_key);
                    self.error_at(loc, msg, false);
                    None
                }
            },
            _ => None,
        };
        let mut logfile = match logfile.as_deref().map(dt::logfile_name) {
            None | Some(LogfileName::Auto) => LogfileName::Auto,
            Some(LogfileName::Path(p)) => {
                LogfileName::Path(self.existing_dir_at(s, &lf_key, &p, dt::existing_dirpath))
            }
            Some(other) => other,
        };
        let backups =
            self.conv_unsigned::<u32>(s, &format!("{ch}_logfile_backups"), "10", names, false, 10);
        let maxbytes = self.conv_unsigned::<u64>(
            s,
            &format!("{ch}_logfile_maxbytes"),
            "50MB",
            names,
            true,
            50 << 20,
        );
        let sy_key = format!("{ch}_syslog");
        let mut syslog = self.bool_opt(s, &sy_key, "false", names);
        if logfile == LogfileName::Syslog {
            self.warnings.push(format!(
                "For [{s}], {lf_key}=syslog but this is deprecated and will be removed.  Use \
                 {sy_key}=true to enable syslog instead."
            ));
            logfile = LogfileName::None;
            syslog = true;
        }
        if logfile == LogfileName::Auto && maxbytes == 0 {
            self.warnings.push(format!(
                "For [{s}], AUTO logging used for {lf_key} without rollover, set maxbytes > 0 \
                 to avoid filling up filesystem unintentionally"
            ));
        }
        ChannelConfig {
            logfile: match logfile {
                LogfileName::Auto => LogFile::Auto,
                LogfileName::None | LogfileName::Syslog => LogFile::None,
                LogfileName::Path(p) => LogFile::Path(p),
            },
            logfile_maxbytes: maxbytes,
            logfile_backups: backups,
            capture_maxbytes,
            events_enabled,
            syslog,
        }
    }

    // ----------------------------------------------------------------- all of it

    pub fn run(mut self, overrides: &Overrides) -> Loaded {
        if !self.read_files() {
            return Loaded {
                config: None,
                corral_warnings: self.take_corral_warnings(),
                errors: self.errors,
                meta: Meta::default(),
            };
        }
        let mut sup = self.supervisord_section(overrides);
        let rpcinterfaces = self.rpcinterfaces();
        let sockets = corral::sockets(&mut self);
        let mut groups = self.groups(&sockets);
        for g in &mut groups {
            for p in &mut g.processes {
                let mut env = sup.environment.clone();
                env.extend(std::mem::take(&mut p.environment));
                p.environment = env;
            }
        }
        let (unix, inet) = self.servers();
        self.realize(&mut sup, overrides);
        sup.serverurl = unix
            .first()
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
            });
        sup.statefile = corral::statefile(&mut self, &sup);
        corral::check_groups(&mut self, &groups);
        let meta = corral::meta_and_warnings(&mut self);
        let mut ctl_names = self.environ.clone();
        ctl_names.insert("here".into(), PyVal::Str(self.here.clone()));
        let supervisorctl = self.ini.section("supervisorctl").map(|_| {
            // As supervisorctl expands them; a value it could not expand is kept as written
            // (corralctl reports it when it reads the file itself).
            let get = |k: &str| {
                self.ini.get("supervisorctl", k).map(|o| {
                    pyformat::expand(&o.value, &ctl_names, k).unwrap_or_else(|_| o.value.clone())
                })
            };
            SupervisorctlConfig {
                serverurl: get("serverurl"),
                username: get("username"),
                password: get("password"),
                prompt: get("prompt"),
                history_file: get("history_file"),
            }
        });
        let config = Config {
            path: self.configfile.clone(),
            here: self.here.clone(),
            supervisord: sup,
            unix_http_servers: unix,
            inet_http_servers: inet,
            rpcinterfaces,
            supervisorctl,
            groups,
            sockets,
            warnings: std::mem::take(&mut self.warnings),
            infos: std::mem::take(&mut self.infos),
            files: std::mem::take(&mut self.files),
        };
        Loaded {
            config: Some(config),
            corral_warnings: self.take_corral_warnings(),
            errors: self.errors,
            meta,
        }
    }
}
