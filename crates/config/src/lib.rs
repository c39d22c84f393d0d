//! corral-config: `supervisord.conf`, read exactly as supervisord 4.3.0 reads it.
//!
//! Parsing is hand-written to match Python's `configparser` as supervisord configures it, and
//! supervisord's own option handling on top (defaults, datatypes, expansions, includes,
//! `numprocs`). Everything the parser needs from the machine (files, globs, users, the
//! environment, the host name) comes through the [`host::Host`] trait, so the parser itself is
//! pure and testable; [`host::RealHost`] is the one implementation that touches the system.
//!
//! Modules, one concern each:
//! * [`ini`]: Python's `configparser` with supervisord's settings;
//! * [`pyformat`]: Python's `%` formatting and supervisord's `expand()`;
//! * [`datatypes`]: supervisord's value converters and their messages;
//! * [`shlex`]: Python's `shlex` (posix split for `command=`, the lexer `environment=` uses);
//! * [`pypath`], [`pyglob`], [`pystr`]: `posixpath`, `glob`/`fnmatch`, `str` behaviour;
//! * [`signals`]: signal names and numbers;
//! * `loader`: supervisord's reading of the file, one module per section kind (groups,
//!   processes, servers, includes);
//! * `corral`: corral's extensions (`[socket:x]`, readiness, ...) and extra checks;
//! * `view`: the JSON view `corrald --check --json` prints;
//! * `ctl`: what corralctl reads.

pub mod datatypes;
pub mod deps;
pub mod dotenv;
pub mod error;
pub mod host;
pub mod ini;
pub mod model;
pub mod pyformat;
pub mod pyglob;
pub mod pypath;
pub mod pystr;
pub mod shlex;
pub mod signals;
pub mod sparse;

mod corral;
mod ctl;
mod loader;
mod unicode_tables;
mod view;

pub use corral::{
    check_environment_files, parse_environment_files, parse_healthcheck, parse_listen,
    parse_readiness, parse_stopsequence, seconds,
};
pub use ctl::{load_ctl, search_default_config, search_paths};
pub use error::ConfigError;
pub use model::*;
pub use view::view_json;

/// supervisord's command-line settings (`supervisord -l FILE -n ...`). Each one given wins
/// over the file, and is checked with the same converter as the file's value; an error names
/// the flag (`invalid value for --minfds 'x': ...`, supervisord's wording).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Overrides {
    pub logfile: Option<String>,
    pub logfile_maxbytes: Option<String>,
    pub logfile_backups: Option<String>,
    pub loglevel: Option<String>,
    pub pidfile: Option<String>,
    pub nodaemon: bool,
    pub silent: bool,
    pub minfds: Option<String>,
    pub minprocs: Option<String>,
    pub umask: Option<String>,
    pub user: Option<String>,
    pub directory: Option<String>,
    pub identifier: Option<String>,
    pub childlogdir: Option<String>,
    pub nocleanup: bool,
    pub strip_ansi: bool,
}

/// The result of reading a configuration.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// What the file says, as far as it could be read. `Some` even when there are errors
    /// (bad values fall back to their defaults), so that `--check` can show it; `None` only
    /// when the main file itself cannot be read.
    pub config: Option<Config>,
    /// Every problem, in the order found. Empty means the daemon can run this config.
    pub errors: Vec<ConfigError>,
    /// corral's own remarks (ignored plugins, unknown sections and keys, missing log
    /// directories, a gunicorn that would be killed mid-drain, ...).
    pub corral_warnings: Vec<String>,
    meta: loader::Meta,
}

impl Loaded {
    /// The config if it has no errors at all, else every error.
    pub fn into_result(self) -> Result<Config, Vec<ConfigError>> {
        match self.config {
            Some(c) if self.errors.is_empty() => Ok(c),
            _ => Err(self.errors),
        }
    }

    /// `--strict`: corral's warnings count as errors (a CI check that wants a config
    /// with nothing supervisord would silently lose).
    pub fn strict(mut self) -> Self {
        // A warning names its own place (`FILE:LINE: ...`): it is the whole message.
        let warnings = self.corral_warnings.drain(..).map(|w| ConfigError {
            file: None,
            line: None,
            section: None,
            option: None,
            message: format!("{w} (an error with --strict)"),
            host_dependent: false,
        });
        self.errors.extend(warnings);
        self
    }

    /// True when every error is about this host (unknown users, a missing `directory=`),
    /// not about the file.
    pub fn only_host_errors(&self) -> bool {
        self.errors.iter().all(|e| e.host_dependent)
    }
}

/// Read `path` (and its includes) as supervisord would, with `overrides` from the command
/// line. The working directory, environment and users are `host`'s.
pub fn load(path: &str, host: &dyn host::Host, overrides: &Overrides) -> Loaded {
    loader::Loader::new(path, host).run(overrides)
}

/// corral's scaling: read `path` as [`load`] does, but with `numprocs` processes for
/// `section` (`program:worker`): the processes of that section are those `numprocs=N`
/// would give, names, logs and expansions included.
pub fn load_with_numprocs(
    path: &str,
    host: &dyn host::Host,
    overrides: &Overrides,
    section: &str,
    numprocs: u32,
) -> Loaded {
    loader::Loader::new(path, host)
        .with_numprocs(section, numprocs)
        .run(overrides)
}
