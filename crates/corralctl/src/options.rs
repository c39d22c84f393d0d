//! supervisorctl's `ClientOptions.realize`: the command line, then the `[supervisorctl]`
//! section of the config file, then the defaults, with supervisorctl's messages and exit
//! codes for every mistake.

use corral_config::host::Host;
use corral_config::{pypath, pystr};

use crate::getopt::{self, Long, Short};
use crate::pyurl;

/// supervisorctl's default `serverurl`, used when neither `-s` nor the config file's
/// `[supervisorctl]` section names one.
pub const DEFAULT_SERVERURL: &str = "http://localhost:9001";

/// The usage text `-h` prints; `%s` becomes the program name, as in supervisorctl.
/// supervisorctl's own text, plus the options corralctl adds.
pub const DOC: &str =
    "corralctl -- control applications run by corrald or supervisord from the cmd line.

Usage: %s [options] [action [arguments]]

Options:
-c/--configuration FILENAME -- configuration file path (searches if not given)
-h/--help -- print usage message and exit
-i/--interactive -- start an interactive shell after executing commands
-s/--serverurl URL -- URL on which supervisord server is listening
     (default \"http://localhost:9001\").
-u/--username USERNAME -- username to use for authentication with server
-p/--password PASSWORD -- password to use for authentication with server
-r/--history-file FILENAME -- keep a readline history (if readline is available)
--json -- print machine-readable JSON for status, pid, avail, reread, update,
     start, stop, restart, signal and version (see docs/CORRALCTL.md)
--version -- print corralctl's version and exit

action [arguments] -- see below

Actions are commands like \"tail\" or \"stop\".  If -i is specified or no action is
specified on the command line, a \"shell\" interpreting actions typed
interactively is started.  Use the action \"help\" to find out about available
actions.
";

/// Where the server URL came from; corralctl names it when the daemon cannot be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlSource {
    /// `-s/--serverurl`.
    CommandLine,
    /// `serverurl=` in the `[supervisorctl]` section of this file.
    Config(String),
    /// This file's `[supervisorctl]` section has no `serverurl=`, so the default applies;
    /// with the URL the file's own daemon serves, if it configures one.
    ConfigDefault(String, Option<String>),
    /// No `-c` and no file at any of these default paths, so the default applies.
    NoConfig(Vec<String>),
    /// Set by the `open` command.
    Open,
}

/// Everything the controller needs to know from the command line and config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// `argv[0]`, which usage messages name.
    pub progname: String,
    pub configfile: Option<String>,
    pub serverurl: String,
    pub url_source: UrlSource,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The prompt without the `> ` supervisorctl appends.
    pub prompt: String,
    pub history_file: Option<String>,
    /// `-i`, or no command given: shutdown and reload ask for confirmation, and a 401
    /// asks for credentials.
    pub interactive: bool,
    /// `--json`.
    pub json: bool,
    /// The command and its arguments, if any were given.
    pub args: Vec<String>,
}

/// How `realize` can end the program before any command runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Early {
    /// `-h`: the usage text for stdout, exit 0.
    Help(String),
    /// `--version`.
    Version,
    /// A usage error: `Error: MSG` and a pointer to `-h` on stderr, exit `code` (2, as
    /// supervisorctl's `usage()`; 1 where supervisorctl dies of a parser traceback).
    Usage { message: String, code: i32 },
}

impl Early {
    /// The text for stderr of a usage error.
    pub fn usage_text(message: &str, progname: &str) -> String {
        format!("Error: {message}\nFor help, use {progname} -h\n")
    }
}

const SHORTS: [Short; 8] = [
    Short {
        letter: 'h',
        takes_value: false,
    },
    Short {
        letter: '?',
        takes_value: false,
    },
    Short {
        letter: 'c',
        takes_value: true,
    },
    Short {
        letter: 'i',
        takes_value: false,
    },
    Short {
        letter: 's',
        takes_value: true,
    },
    Short {
        letter: 'u',
        takes_value: true,
    },
    Short {
        letter: 'p',
        takes_value: true,
    },
    Short {
        letter: 'r',
        takes_value: true,
    },
];

const LONGS: [Long; 9] = [
    Long {
        name: "help",
        takes_value: false,
    },
    Long {
        name: "configuration",
        takes_value: true,
    },
    Long {
        name: "interactive",
        takes_value: false,
    },
    Long {
        name: "serverurl",
        takes_value: true,
    },
    Long {
        name: "username",
        takes_value: true,
    },
    Long {
        name: "password",
        takes_value: true,
    },
    Long {
        name: "history_file",
        takes_value: true,
    },
    Long {
        name: "json",
        takes_value: false,
    },
    Long {
        name: "version",
        takes_value: false,
    },
];

/// supervisorctl documents `--history-file` but only accepts `--history_file`; corralctl
/// takes both by comparing long names with `-` read as `_`.
fn long_key(name: &str) -> String {
    name.replace('-', "_")
}

/// The command-line values, before the config file fills the gaps.
#[derive(Default)]
struct Cli {
    configfile: Option<String>,
    interactive: Option<bool>,
    serverurl: Option<String>,
    username: Option<String>,
    password: Option<String>,
    history: Option<String>,
    json: Option<bool>,
}

/// An option's value, which may be given only once.
fn set_once<T>(slot: &mut Option<T>, value: T, opt: &str) -> Result<(), Early> {
    if slot.is_some() {
        return Err(usage(format!(
            "conflicting command line option {}",
            pystr::repr(opt)
        )));
    }
    *slot = Some(value);
    Ok(())
}

fn usage(message: String) -> Early {
    Early::Usage { message, code: 2 }
}

/// supervisorctl's option processing for `args` (without the program name).
pub fn realize(args: &[String], progname: &str, host: &dyn Host) -> Result<Options, Early> {
    let (opts, rest) = getopt::getopt(args, &SHORTS, &LONGS, long_key).map_err(usage)?;
    let mut cli = Cli::default();
    // Options are handled in order, as supervisorctl does: `-h` exits as soon as it is
    // reached, so a mistake before it is reported and one after it is not.
    for (opt, value) in opts {
        match opt.as_str() {
            "-h" | "-?" | "--help" => return Err(Early::Help(DOC.replace("%s", progname))),
            "--version" => return Err(Early::Version),
            "-c" | "--configuration" => set_once(&mut cli.configfile, value, &opt)?,
            "-i" | "--interactive" => set_once(&mut cli.interactive, true, &opt)?,
            "-s" | "--serverurl" => {
                pyurl::check_url(&value).map_err(|msg| {
                    usage(format!(
                        "invalid value for {opt} {}: {msg}",
                        pystr::repr(&value)
                    ))
                })?;
                set_once(&mut cli.serverurl, value, &opt)?;
            }
            "-u" | "--username" => set_once(&mut cli.username, value, &opt)?,
            "-p" | "--password" => set_once(&mut cli.password, value, &opt)?,
            "-r" | "--history_file" => set_once(&mut cli.history, value, &opt)?,
            "--json" => set_once(&mut cli.json, true, &opt)?,
            other => unreachable!("getopt returned an option not in the table: {other}"),
        }
    }

    let searched;
    let configfile = match cli.configfile {
        Some(c) => {
            searched = Vec::new();
            Some(c)
        }
        None => {
            searched = corral_config::search_paths(progname);
            corral_config::search_default_config(host, progname)
        }
    };

    let cwd = host.cwd();
    let mut from_file = None;
    if let Some(path) = &configfile {
        from_file = Some(read_config(path, host)?);
    }

    let (serverurl, url_source) = match (cli.serverurl, &from_file, &configfile) {
        (Some(u), _, _) => (u, UrlSource::CommandLine),
        (None, Some(f), Some(path)) => {
            let abs = pypath::abspath(path, &cwd);
            match &f.serverurl {
                Some(u) => (u.clone(), UrlSource::Config(abs)),
                None => (
                    DEFAULT_SERVERURL.to_string(),
                    UrlSource::ConfigDefault(abs, f.daemon_serverurl.clone()),
                ),
            }
        }
        _ => (DEFAULT_SERVERURL.to_string(), UrlSource::NoConfig(searched)),
    };
    let file = from_file.unwrap_or_default();
    let history_file = match cli.history {
        // supervisorctl 4.3.0 accepts -r but never uses its value; corralctl does what the
        // usage text promises, with the path normalized as the config file's would be.
        Some(h) if !h.is_empty() => Some(pypath::normalize_path(&h, host, &cwd)),
        Some(_) => None,
        None => file.history_file,
    };
    Ok(Options {
        progname: progname.to_string(),
        configfile,
        serverurl,
        url_source,
        username: cli.username.or(file.username),
        password: cli.password.or(file.password),
        prompt: file.prompt.unwrap_or_else(|| "supervisor".to_string()),
        history_file,
        interactive: cli.interactive.unwrap_or(false) || rest.is_empty(),
        json: cli.json.unwrap_or(false),
        args: rest,
    })
}

/// What the `[supervisorctl]` section says.
#[derive(Default)]
struct FileSettings {
    /// `None` when the section has no `serverurl=`.
    serverurl: Option<String>,
    username: Option<String>,
    password: Option<String>,
    prompt: Option<String>,
    history_file: Option<String>,
    daemon_serverurl: Option<String>,
}

fn read_config(path: &str, host: &dyn Host) -> Result<FileSettings, Early> {
    let settings = corral_config::load_ctl(path, host).map_err(|errors| {
        let e = &errors[0];
        let message = if e.message.starts_with("could not read config file ") {
            // supervisorctl does not say why.
            format!("could not read config file {path}")
        } else {
            e.message.clone()
        };
        // A file configparser cannot parse kills supervisorctl with a traceback (exit
        // 1); the other problems go through its usage() (exit 2).
        let code = if e.line.is_some() && e.option.is_none() {
            1
        } else {
            2
        };
        Early::Usage { message, code }
    })?;
    Ok(FileSettings {
        serverurl: settings.serverurl,
        daemon_serverurl: settings.daemon_serverurl,
        username: settings.username,
        password: settings.password,
        prompt: Some(settings.prompt),
        history_file: settings.history_file,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_config::host::RealHost;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn tmp_conf(name: &str, text: &str) -> String {
        let dir = std::env::temp_dir().join(format!("corralctl-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }

    fn usage_of(r: Result<Options, Early>) -> (String, i32) {
        match r {
            Err(Early::Usage { message, code }) => (message, code),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn command_line_wins_over_the_file() {
        let conf = tmp_conf(
            "a.conf",
            "[supervisorctl]\nserverurl=unix:///tmp/x.sock\nusername=fu\npassword=fp\nprompt=corral\n",
        );
        let o = realize(
            &args(&["-c", &conf, "-u", "me", "status", "-x"]),
            "corralctl",
            &RealHost,
        )
        .unwrap();
        assert_eq!(o.serverurl, "unix:///tmp/x.sock");
        assert_eq!(o.url_source, UrlSource::Config(conf.clone()));
        assert_eq!(o.username.as_deref(), Some("me"));
        assert_eq!(o.password.as_deref(), Some("fp"));
        assert_eq!(o.prompt, "corral");
        assert_eq!(o.args, ["status", "-x"]);
        assert!(!o.interactive);
        let o = realize(
            &args(&["-c", &conf, "-s", "http://h:1", "-i", "--json"]),
            "corralctl",
            &RealHost,
        )
        .unwrap();
        assert_eq!(o.serverurl, "http://h:1");
        assert_eq!(o.url_source, UrlSource::CommandLine);
        assert!(o.interactive && o.json && o.args.is_empty());
    }

    #[test]
    fn missing_serverurl_is_supervisorctls_default() {
        let conf = tmp_conf(
            "b.conf",
            "[unix_http_server]\nfile=/tmp/y.sock\n[supervisorctl]\nprompt=p\n",
        );
        let o = realize(&args(&["-c", &conf, "version"]), "corralctl", &RealHost).unwrap();
        assert_eq!(o.serverurl, DEFAULT_SERVERURL);
        assert_eq!(
            o.url_source,
            UrlSource::ConfigDefault(conf, Some("unix:///tmp/y.sock".into()))
        );
    }

    #[test]
    fn usage_errors_match_supervisorctl() {
        let conf = tmp_conf("c.conf", "[supervisorctl]\n");
        let r = realize(&args(&["-c", &conf, "-c", &conf]), "p", &RealHost);
        assert_eq!(
            usage_of(r),
            ("conflicting command line option '-c'".into(), 2)
        );
        let r = realize(&args(&["-s", "foo"]), "p", &RealHost);
        assert_eq!(
            usage_of(r),
            (
                "invalid value for -s 'foo': value 'foo' is not a URL".into(),
                2
            )
        );
        let r = realize(&args(&["--bogus"]), "p", &RealHost);
        assert_eq!(usage_of(r), ("option --bogus not recognized".into(), 2));
        let r = realize(&args(&["-c", "/nonexistent/x.conf"]), "p", &RealHost);
        assert_eq!(
            usage_of(r),
            ("could not find config file /nonexistent/x.conf".into(), 2)
        );
        let nosection = tmp_conf("d.conf", "[supervisord]\n");
        let r = realize(&args(&["-c", &nosection]), "p", &RealHost);
        assert_eq!(
            usage_of(r),
            (".ini file does not include supervisorctl section".into(), 2)
        );
        let garbage = tmp_conf("e.conf", "no header\n");
        assert_eq!(
            usage_of(realize(&args(&["-c", &garbage]), "p", &RealHost)).1,
            1
        );
        assert_eq!(
            Early::usage_text("m", "prog"),
            "Error: m\nFor help, use prog -h\n"
        );
    }

    #[test]
    fn help_and_version_exit_early_in_order() {
        match realize(&args(&["-h", "-s", "bad"]), "/bin/corralctl", &RealHost) {
            Err(Early::Help(text)) => {
                assert!(text.contains("Usage: /bin/corralctl [options]"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            realize(&args(&["-s", "bad", "-h"]), "p", &RealHost),
            Err(Early::Usage { .. })
        ));
        assert_eq!(
            realize(&args(&["--version", "status"]), "p", &RealHost),
            Err(Early::Version)
        );
    }

    #[test]
    fn history_file_spellings() {
        let conf = tmp_conf("f.conf", "[supervisorctl]\nhistory_file=/tmp/h1\n");
        let o = realize(&args(&["-c", &conf]), "p", &RealHost).unwrap();
        assert_eq!(o.history_file.as_deref(), Some("/tmp/h1"));
        for flag in ["-r", "--history-file", "--history_file", "--hist"] {
            let o = realize(&args(&["-c", &conf, flag, "/tmp/h2"]), "p", &RealHost).unwrap();
            assert_eq!(o.history_file.as_deref(), Some("/tmp/h2"), "{flag}");
        }
    }
}
