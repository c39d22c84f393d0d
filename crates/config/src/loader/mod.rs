//! supervisord's reading of a configuration (`ServerOptions.read_config`,
//! `process_groups_from_parser`, `_processes_from_section`, `server_configs_from_parser`,
//! `realize`), reproduced step by step, plus corral's extensions (see [`crate::corral`]).
//!
//! supervisord stops at the first error. This loader records the error with its location,
//! falls back to the default (or skips the item) and goes on, so that one run reports
//! everything. Which `%(name)s` names each value may use is exactly supervisord's (it
//! depends on the key, see the conformance corpus README), because the error messages list
//! them and because a name that is missing is an error.
//!
//! One file per section kind and concern, in the order [`Loader::run`] reads them:
//! * `include`: the main file and its `[include]` files;
//! * `supervisord`: `[supervisord]`, the command-line overrides, `realize`;
//! * `rpcinterface`: `[rpcinterface:x]` (then corral's `[socket:x]`, in [`crate::corral`]);
//! * `groups`: `[group:x]` and the implicit groups of `[program:x]`; `listeners`
//!   (`[eventlistener:x]` pools) and `fcgi` (`[fcgi-program:x]`) beside it;
//! * `programs`: the processes of one section (its options, `numprocs` expansion), with
//!   `channels` for the `stdout_*`/`stderr_*` settings;
//! * `servers`: `[unix_http_server]`, `[inet_http_server]`, `[supervisorctl]`;
//! * `values`: reading one value (expansion, converters, fallbacks) and a section's name,
//!   for all of them.
//!
//! Errors are collected here (`error_at`, corral's warnings), each with its [`Loc`].

mod channels;
mod fcgi;
mod groups;
mod include;
mod listeners;
mod programs;
mod rpcinterface;
mod servers;
mod supervisord;
mod values;

use std::collections::BTreeMap;

use crate::datatypes::DtError;
use crate::error::ConfigError;
use crate::host::Host;
use crate::ini::Ini;
use crate::model::*;
use crate::pyformat::{Expansions, PyVal};
use crate::{Loaded, Overrides, corral, pypath};

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
    /// corral's scaling: `numprocs` of one section, instead of what it says.
    numprocs_override: Option<(String, i64)>,
}

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
            numprocs_override: None,
        }
    }

    /// Read `section` as if its `numprocs=` said `numprocs` (corral's scaling).
    pub fn with_numprocs(mut self, section: &str, numprocs: u32) -> Self {
        self.numprocs_override = Some((section.to_string(), i64::from(numprocs)));
        self
    }

    fn numprocs_for(&self, section: &str) -> Option<i64> {
        self.numprocs_override
            .as_ref()
            .filter(|(s, _)| s == section)
            .map(|(_, n)| *n)
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

    // ----------------------------------------------------------------- the order of reading

    /// Everything, in supervisord's order (`read_config`, then `realize`), corral's
    /// extensions and checks where they depend on what was read before them.
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
        supervisord::inherit_environment(&sup, &mut groups);
        let (unix, inet) = self.servers();
        self.realize(&mut sup, overrides);
        sup.serverurl = supervisord::serverurl(&unix, &inet);
        sup.statefile = corral::statefile(&mut self, &sup);
        sup.environment_files = corral::supervisord_environment_files(&mut self);
        corral::inherit_environment_files(&sup, &mut groups);
        corral::supervisord_extras(&mut self, &mut sup);
        corral::check_groups(&mut self, &groups);
        corral::check_dependencies(&mut self, &groups);
        let meta = corral::meta_and_warnings(&mut self);
        let supervisorctl = self.supervisorctl();
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

    /// A converter's error about `section`'s `key`.
    fn dt_error(&mut self, section: &str, key: &str, e: DtError) {
        let loc = self.loc(section, key);
        self.error_at(loc, e.message, e.host_dependent);
    }
}
