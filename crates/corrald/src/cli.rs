//! corrald's command line: supervisord's options, read with supervisord's rules (Python's
//! getopt, shared with corralctl: `-cFILE`, `-c FILE`, `--configuration=FILE`,
//! `--conf FILE`, bundled short flags; then `ServerOptions.realize`'s checks, in its
//! order), plus corral's `--check`, `--json` and `--strict`.

use std::fmt;

use corral_config::Overrides;
use corral_config::host::RealHost;
use corral_config::pystr;
use corral_proto::getopt::{self, GetoptError, Long, Short};

/// supervisord 4.3.0's usage text (supervisord.py's docstring), word for word: `-h` prints
/// it with `%s` replaced by the program name, as supervisord does.
const SUPERVISORD_DOC: &str = "supervisord -- run a set of applications as daemons.

Usage: %s [options]

Options:
-c/--configuration FILENAME -- configuration file path (searches if not given)
-n/--nodaemon -- run in the foreground (same as 'nodaemon=true' in config file)
-s/--silent -- no logs to stdout (maps to 'silent=true' in config file)
-h/--help -- print this usage message and exit
-v/--version -- print supervisord version number and exit
-u/--user USER -- run supervisord as this user (or numeric uid)
-m/--umask UMASK -- use this umask for daemon subprocess (default is 022)
-d/--directory DIRECTORY -- directory to chdir to when daemonized
-l/--logfile FILENAME -- use FILENAME as logfile path
-y/--logfile_maxbytes BYTES -- use BYTES to limit the max size of logfile
-z/--logfile_backups NUM -- number of backups to keep when max bytes reached
-e/--loglevel LEVEL -- use LEVEL as log level (debug,info,warn,error,critical)
-j/--pidfile FILENAME -- write a pid file for the daemon process to FILENAME
-i/--identifier STR -- identifier used for this instance of supervisord
-q/--childlogdir DIRECTORY -- the log directory for child process logs
-k/--nocleanup --  prevent the process from performing cleanup (removal of
                   old automatic child log files) at startup.
-a/--minfds NUM -- the minimum number of file descriptors for start success
-t/--strip_ansi -- strip ansi escape codes from process output
--minprocs NUM  -- the minimum number of processes available for start success
--profile_options OPTIONS -- run supervisord under profiler and output
                             results based on OPTIONS, which  is a comma-sep'd
                             list of 'cumulative', 'calls', and/or 'callers',
                             e.g. 'cumulative,callers')
";

/// What corrald adds to supervisord's usage text.
const CORRAL_DOC: &str =
    "corrald is corral's drop-in replacement for supervisord: the options above are
supervisord's and mean what they mean to supervisord, except:
--profile_options OPTIONS -- accepted and ignored (there is no Python profiler)
-v/--version -- prints corral's version

corral's own options (written in full: abbreviations are left to supervisord's options):
--check -- read the configuration, print what would run, and exit (0: it would run)
--json -- with --check: print the configuration as JSON (supervisord_view.py's shape)
--strict -- treat corral's configuration warnings (what supervisord silently loses) as errors
--upgrade-check -- used by an in-place upgrade (corralctl upgrade, SIGUSR1): read the old
                   corrald's state on stdin, exit 0 if this binary understands it and the
                   configuration it names
";

/// The text `-h` prints: supervisord's (`Options.help`: the docstring and a newline, `%s`
/// replaced by `argv[0]`), then corral's additions.
pub fn usage() -> String {
    let progname = std::env::args().next().unwrap_or_else(|| "corrald".into());
    format!("{}\n{CORRAL_DOC}", SUPERVISORD_DOC.replace("%s", &progname))
}

#[derive(Debug, Default)]
pub struct Args {
    pub config: Option<String>,
    pub overrides: Overrides,
    /// `-h`, `-?` or `--help` came before anything that ends the program.
    pub help: bool,
    /// `-v` or `--version` came before anything that ends the program.
    pub version: bool,
    pub check: bool,
    pub json: bool,
    pub strict: bool,
    pub upgrade_check: bool,
}

/// A command line supervisord would refuse; the text is supervisord's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageError {
    Getopt(GetoptError),
    /// supervisord takes no arguments after its options.
    Positional(Vec<String>),
    /// An option given twice (as written the second time).
    Conflicting(String),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::Getopt(e) => e.fmt(f),
            UsageError::Positional(args) => {
                // str(list) in Python: each item's repr.
                let items: Vec<String> = args.iter().map(|a| pystr::repr(a)).collect();
                write!(
                    f,
                    "positional arguments are not supported: [{}]",
                    items.join(", ")
                )
            }
            UsageError::Conflicting(option) => {
                write!(f, "conflicting command line option {}", pystr::repr(option))
            }
        }
    }
}

impl std::error::Error for UsageError {}

/// supervisord's short options (`ServerOptions.__init__`'s `add` calls), with the long
/// option each stands for (`-?` is `-h`).
const SHORTS: [(Short, &str); 19] = [
    (Short::flag('h'), "help"),
    (Short::flag('?'), "help"),
    (Short::with_value('c'), "configuration"),
    (Short::flag('v'), "version"),
    (Short::flag('n'), "nodaemon"),
    (Short::with_value('u'), "user"),
    (Short::with_value('m'), "umask"),
    (Short::with_value('d'), "directory"),
    (Short::with_value('l'), "logfile"),
    (Short::with_value('y'), "logfile_maxbytes"),
    (Short::with_value('z'), "logfile_backups"),
    (Short::with_value('e'), "loglevel"),
    (Short::with_value('j'), "pidfile"),
    (Short::with_value('i'), "identifier"),
    (Short::with_value('q'), "childlogdir"),
    (Short::with_value('a'), "minfds"),
    (Short::flag('k'), "nocleanup"),
    (Short::flag('t'), "strip_ansi"),
    (Short::flag('s'), "silent"),
];

/// supervisord's long options, then corral's, which only match when written in full: an
/// abbreviation supervisord accepts (`--ch` for `--childlogdir`, `--st` for
/// `--strip_ansi`) must mean the same to corrald.
const LONGS: [Long; 24] = [
    Long::flag("help"),
    Long::with_value("configuration"),
    Long::flag("version"),
    Long::flag("nodaemon"),
    Long::with_value("user"),
    Long::with_value("umask"),
    Long::with_value("directory"),
    Long::with_value("logfile"),
    Long::with_value("logfile_maxbytes"),
    Long::with_value("logfile_backups"),
    Long::with_value("loglevel"),
    Long::with_value("pidfile"),
    Long::with_value("identifier"),
    Long::with_value("childlogdir"),
    Long::with_value("minfds"),
    Long::with_value("minprocs"),
    Long::flag("nocleanup"),
    Long::flag("strip_ansi"),
    Long::with_value("profile_options"),
    Long::flag("silent"),
    Long::flag("check").whole_name_only(),
    Long::flag("json").whole_name_only(),
    Long::flag("strict").whole_name_only(),
    Long::flag("upgrade-check").whole_name_only(),
];

/// Parse argv (without the program name) as supervisord's `Options.realize` does: getopt
/// first (its errors win), then no positional arguments, then each option in order, where
/// `-h` and `-v` end the parse at once (what follows them is not looked at) and an option
/// given twice is an error. Values are checked later, with the configuration.
pub fn parse(argv: &[String]) -> Result<Args, UsageError> {
    let shorts: Vec<Short> = SHORTS.iter().map(|(s, _)| *s).collect();
    let parsed =
        getopt::getopt(argv, &shorts, &LONGS, getopt::as_written).map_err(UsageError::Getopt)?;
    if !parsed.rest.is_empty() {
        return Err(UsageError::Positional(parsed.rest));
    }
    let mut args = Args::default();
    let mut seen: Vec<&str> = Vec::new();
    for opt in parsed.opts {
        let name = match opt.option.strip_prefix("--") {
            Some(long) => LONGS
                .iter()
                .find(|l| l.name == long)
                .map(|l| l.name)
                .expect("getopt returns only options of the table"),
            None => {
                let letter = opt.option.chars().nth(1);
                SHORTS
                    .iter()
                    .find(|(s, _)| Some(s.letter) == letter)
                    .map(|(_, long)| *long)
                    .expect("getopt returns only options of the table")
            }
        };
        match name {
            "help" => {
                args.help = true;
                return Ok(args);
            }
            "version" => {
                args.version = true;
                return Ok(args);
            }
            _ => {}
        }
        if seen.contains(&name) {
            return Err(UsageError::Conflicting(opt.option));
        }
        seen.push(name);
        set(&mut args, name, opt.value);
    }
    Ok(args)
}

fn set(args: &mut Args, name: &str, value: String) {
    let o = &mut args.overrides;
    match name {
        "configuration" => args.config = Some(value),
        "user" => o.user = Some(value),
        "umask" => o.umask = Some(value),
        "directory" => o.directory = Some(value),
        "logfile" => o.logfile = Some(value),
        "logfile_maxbytes" => o.logfile_maxbytes = Some(value),
        "logfile_backups" => o.logfile_backups = Some(value),
        "loglevel" => o.loglevel = Some(value),
        "pidfile" => o.pidfile = Some(value),
        "identifier" => o.identifier = Some(value),
        "childlogdir" => o.childlogdir = Some(value),
        "minfds" => o.minfds = Some(value),
        "minprocs" => o.minprocs = Some(value),
        "nodaemon" => o.nodaemon = true,
        "silent" => o.silent = true,
        "nocleanup" => o.nocleanup = true,
        "strip_ansi" => o.strip_ansi = true,
        "check" => args.check = true,
        "json" => args.json = true,
        "strict" => args.strict = true,
        "upgrade-check" => args.upgrade_check = true,
        _ => {} // profile_options: accepted, ignored
    }
}

/// The configuration file this run reads: `-c`, else the first of supervisord's default
/// locations that exists. supervisord looks next to its executable (its `sys.argv[0]` is
/// the script's full path); a binary found through `$PATH` only gets its bare name as
/// argv[0], so the executable's own path stands in then.
pub fn config_path(config: Option<&str>) -> Result<String, String> {
    if let Some(p) = config {
        return Ok(p.to_string());
    }
    let argv0 = std::env::args()
        .next()
        .filter(|a| a.contains('/'))
        .or_else(|| {
            std::env::current_exe()
                .ok()
                .map(|p| p.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "corrald".into());
    corral_config::search_default_config(&RealHost, &argv0).ok_or_else(|| {
        format!(
            "No config file found at default paths ({}); use the -c option to specify a \
             config file at a different path",
            corral_config::search_paths(&argv0).join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &[&str]) -> Result<Args, String> {
        parse(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>()).map_err(|e| e.to_string())
    }

    #[test]
    fn getopt_forms() {
        let a = p(&[
            "-nc",
            "/etc/s.conf",
            "-e",
            "debug",
            "--pidfile=/x.pid",
            "--logfile",
            "/l",
        ])
        .unwrap();
        assert_eq!(a.config.as_deref(), Some("/etc/s.conf"));
        assert!(a.overrides.nodaemon);
        assert_eq!(a.overrides.loglevel.as_deref(), Some("debug"));
        assert_eq!(a.overrides.pidfile.as_deref(), Some("/x.pid"));
        assert_eq!(a.overrides.logfile.as_deref(), Some("/l"));
        let a = p(&["-c/etc/x.conf", "--check", "--json"]).unwrap();
        assert_eq!(a.config.as_deref(), Some("/etc/x.conf"));
        assert!(a.check && a.json);
    }

    #[test]
    fn prefixes_as_supervisord_reads_them() {
        let a = p(&["--conf", "f", "--nod", "--ch", "/logs", "--st"]).unwrap();
        assert_eq!(a.config.as_deref(), Some("f"));
        assert!(a.overrides.nodaemon && a.overrides.strip_ansi && !a.strict && !a.check);
        assert_eq!(a.overrides.childlogdir.as_deref(), Some("/logs"));
        // corral's own options only in full.
        assert_eq!(p(&["--che"]).unwrap_err(), "option --che not recognized");
        assert_eq!(
            p(&["--c", "f"]).unwrap_err(),
            "option --c not a unique prefix"
        );
        assert_eq!(
            p(&["--conf"]).unwrap_err(),
            "option --configuration requires argument"
        );
    }

    #[test]
    fn help_and_version_end_the_parse_where_they_are() {
        assert!(p(&["-?"]).unwrap().help);
        assert!(p(&["-n", "--he", "-n"]).unwrap().help);
        assert!(p(&["-v", "-c", "a", "-c", "b"]).unwrap().version);
        assert_eq!(
            p(&["-n", "-n", "-h"]).unwrap_err(),
            "conflicting command line option '-n'"
        );
        // getopt's errors and positional arguments come before any option is acted on.
        assert_eq!(p(&["-h", "-x"]).unwrap_err(), "option -x not recognized");
        assert_eq!(
            p(&["-h", "x", "-n"]).unwrap_err(),
            "positional arguments are not supported: ['x', '-n']"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(p(&["-x"]).unwrap_err(), "option -x not recognized");
        assert_eq!(
            p(&["--bogus"]).unwrap_err(),
            "option --bogus not recognized"
        );
        assert_eq!(p(&["-c"]).unwrap_err(), "option -c requires argument");
        assert_eq!(
            p(&["-c", "a", "--configuration=b"]).unwrap_err(),
            "conflicting command line option '--configuration'"
        );
        assert_eq!(
            p(&["-", "it's"]).unwrap_err(),
            "positional arguments are not supported: ['-', \"it's\"]"
        );
    }

    #[test]
    fn usage_is_supervisords_then_corrals() {
        let text = usage();
        assert!(text.starts_with("supervisord -- run a set of applications as daemons.\n"));
        assert!(text.contains("\n-l/--logfile FILENAME -- use FILENAME as logfile path\n"));
        assert!(text.contains("e.g. 'cumulative,callers')\n\ncorrald is corral's"));
        assert!(text.contains("\n--strict -- "));
        assert!(!text.contains("%s"));
    }
}
