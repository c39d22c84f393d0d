//! corrald's command line: supervisord's flags (getopt rules: `-cFILE`, `-c FILE`,
//! `--configuration=FILE`, `--configuration FILE`, bundled short flags), plus `--check`
//! and `--json`.

use corral_config::Overrides;
use corral_config::host::RealHost;

pub const USAGE: &str =
    "corrald -- run a set of applications as daemons (a drop-in replacement for supervisord).

Usage: corrald [options]

Options:
-c/--configuration FILENAME -- configuration file path (searches if not given)
-n/--nodaemon -- run in the foreground (same as 'nodaemon=true' in config file)
-s/--silent -- no logs to stdout (maps to 'silent=true' in config file)
-h/--help -- print this usage message and exit
-v/--version -- print corrald version number and exit
-u/--user USER -- run corrald as this user (or numeric uid)
-m/--umask UMASK -- use this umask for daemon subprocess (default is 022)
-d/--directory DIRECTORY -- directory to chdir to when daemonized
-l/--logfile FILENAME -- use FILENAME as logfile path
-y/--logfile_maxbytes BYTES -- use BYTES to limit the max size of logfile
-z/--logfile_backups NUM -- number of backups to keep when max bytes reached
-e/--loglevel LEVEL -- use LEVEL as log level (debug,info,warn,error,critical)
-j/--pidfile FILENAME -- write a pid file for the daemon process to FILENAME
-i/--identifier STR -- identifier used for this instance of corrald
-q/--childlogdir DIRECTORY -- the log directory for child process logs
-k/--nocleanup --  prevent the process from performing cleanup (removal of
                   old automatic child log files) at startup.
-a/--minfds NUM -- the minimum number of file descriptors for start success
-t/--strip_ansi -- strip ansi escape codes from process output
--minprocs NUM  -- the minimum number of processes available for start success
--profile_options OPTIONS -- accepted for compatibility, ignored
--check -- read the configuration, print what would run, and exit (0: it would run)
--json -- with --check: print the configuration as JSON (supervisord_view.py's shape)
--strict -- treat corral's configuration warnings (what supervisord silently loses) as errors
";

#[derive(Debug, Default)]
pub struct Args {
    pub config: Option<String>,
    pub overrides: Overrides,
    pub help: bool,
    pub version: bool,
    pub check: bool,
    pub json: bool,
    pub strict: bool,
}

/// Options that take a value, by short and long name, and what they set.
const WITH_VALUE: &[(char, &str)] = &[
    ('c', "configuration"),
    ('u', "user"),
    ('m', "umask"),
    ('d', "directory"),
    ('l', "logfile"),
    ('y', "logfile_maxbytes"),
    ('z', "logfile_backups"),
    ('e', "loglevel"),
    ('j', "pidfile"),
    ('i', "identifier"),
    ('q', "childlogdir"),
    ('a', "minfds"),
];
const FLAGS: &[(char, &str)] = &[
    ('n', "nodaemon"),
    ('s', "silent"),
    ('h', "help"),
    ('v', "version"),
    ('k', "nocleanup"),
    ('t', "strip_ansi"),
];
const LONG_ONLY_VALUE: &[&str] = &["minprocs", "profile_options"];
const LONG_ONLY_FLAGS: &[&str] = &["check", "json", "strict"];

/// Parse argv (without the program name). Errors read like getopt's via supervisord.
pub fn parse(argv: &[String]) -> Result<Args, String> {
    let mut args = Args::default();
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        i += 1;
        if a == "--" {
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let takes_value =
                WITH_VALUE.iter().any(|(_, l)| *l == name) || LONG_ONLY_VALUE.contains(&name);
            let is_flag = FLAGS.iter().any(|(_, l)| *l == name) || LONG_ONLY_FLAGS.contains(&name);
            if takes_value {
                let value = match inline {
                    Some(v) => v,
                    None => next_value(argv, &mut i, &format!("--{name}"))?,
                };
                set(&mut args, name, Some(value));
            } else if is_flag {
                if inline.is_some() {
                    return Err(format!("option --{name} must not have an argument"));
                }
                set(&mut args, name, None);
            } else {
                return Err(format!("option --{name} not recognized"));
            }
        } else if let Some(shorts) = a.strip_prefix('-').filter(|s| !s.is_empty()) {
            let chars: Vec<char> = shorts.chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                j += 1;
                if let Some((_, long)) = WITH_VALUE.iter().find(|(s, _)| *s == c) {
                    let rest: String = chars[j..].iter().collect();
                    let value = if !rest.is_empty() {
                        rest
                    } else {
                        next_value(argv, &mut i, &format!("-{c}"))?
                    };
                    set(&mut args, long, Some(value));
                    break;
                } else if let Some((_, long)) = FLAGS.iter().find(|(s, _)| *s == c) {
                    set(&mut args, long, None);
                } else {
                    return Err(format!("option -{c} not recognized"));
                }
            }
        } else {
            // supervisord takes no positional arguments.
            return Err(format!(
                "positional arguments are not supported: {argv:?}",
                argv = &argv[i - 1..]
            ));
        }
    }
    Ok(args)
}

/// The argument after option `option` (`-c`, `--configuration`), which takes it.
fn next_value(argv: &[String], i: &mut usize, option: &str) -> Result<String, String> {
    let value = argv
        .get(*i)
        .cloned()
        .ok_or(format!("option {option} requires argument"))?;
    *i += 1;
    Ok(value)
}

fn set(args: &mut Args, name: &str, value: Option<String>) {
    let o = &mut args.overrides;
    match name {
        "configuration" => args.config = value,
        "user" => o.user = value,
        "umask" => o.umask = value,
        "directory" => o.directory = value,
        "logfile" => o.logfile = value,
        "logfile_maxbytes" => o.logfile_maxbytes = value,
        "logfile_backups" => o.logfile_backups = value,
        "loglevel" => o.loglevel = value,
        "pidfile" => o.pidfile = value,
        "identifier" => o.identifier = value,
        "childlogdir" => o.childlogdir = value,
        "minfds" => o.minfds = value,
        "minprocs" => o.minprocs = value,
        "nodaemon" => o.nodaemon = true,
        "silent" => o.silent = true,
        "nocleanup" => o.nocleanup = true,
        "strip_ansi" => o.strip_ansi = true,
        "help" => args.help = true,
        "version" => args.version = true,
        "check" => args.check = true,
        "json" => args.json = true,
        "strict" => args.strict = true,
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
        parse(&s.iter().map(|x| x.to_string()).collect::<Vec<_>>())
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
    fn errors() {
        assert_eq!(p(&["-x"]).unwrap_err(), "option -x not recognized");
        assert_eq!(
            p(&["--bogus"]).unwrap_err(),
            "option --bogus not recognized"
        );
        assert_eq!(p(&["-c"]).unwrap_err(), "option -c requires argument");
    }
}
