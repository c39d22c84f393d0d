//! supervisorctl's `ClientOptions.realize`: the command line, then the `[supervisorctl]`
//! section of the config file, then the defaults, with supervisorctl's messages and exit
//! codes for every mistake.

use corral_config::host::Host;
use corral_config::{pypath, pystr};

use corral_proto::getopt::{self, Long, Opt, Short};

use crate::pyurl;

/// supervisorctl's default `serverurl`, used when neither `-s` nor the config file's
/// `[supervisorctl]` section names one.
pub const DEFAULT_SERVERURL: &str = "http://localhost:9001";

/// supervisorctl 4.3.0's usage text (supervisorctl.py's docstring), word for word; `-h`
/// prints it with `%s` replaced by the program name, as supervisorctl does, then
/// [`CORRAL_DOC`].
const SUPERVISORCTL_DOC: &str =
    "supervisorctl -- control applications run by supervisord from the cmd line.

Usage: %s [options] [action [arguments]]

Options:
-c/--configuration FILENAME -- configuration file path (searches if not given)
-h/--help -- print usage message and exit
-i/--interactive -- start an interactive shell after executing commands
-s/--serverurl URL -- URL on which supervisord server is listening
     (default \"http://localhost:9001\").
-u/--username USERNAME -- username to use for authentication with server
-p/--password PASSWORD -- password to use for authentication with server
-r/--history-file -- keep a readline history (if readline is available)

action [arguments] -- see below

Actions are commands like \"tail\" or \"stop\".  If -i is specified or no action is
specified on the command line, a \"shell\" interpreting actions typed
interactively is started.  Use the action \"help\" to find out about available
actions.
";

/// What corralctl adds to supervisorctl's usage text.
const CORRAL_DOC: &str =
    "corralctl is corral's supervisorctl: it controls applications run by corrald or by
supervisord, with supervisorctl's options and actions, and adds:
-r/--history-file FILENAME -- also spelled --history_file (all supervisorctl accepts)
--json -- print machine-readable JSON for status, pid, avail, reread, update,
     start, stop, restart, signal and version (see docs/CORRALCTL.md)
--version -- print corralctl's version and exit
-s/--serverurl URL, repeated -- several servers at once (also [supervisorctl:NAME]
     sections); -s NAME=URL names one. Then 'status' has a server column, and
     NAME:process (or NAME:all) acts on one server only (docs/DEPLOYMENT.md)
";

/// The text `-h` prints (supervisorctl's `Options.help`: the docstring and a newline),
/// then corralctl's additions.
fn help_text(progname: &str) -> String {
    format!(
        "{}\n{CORRAL_DOC}",
        SUPERVISORCTL_DOC.replace("%s", progname)
    )
}

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
    /// corral: several servers (`-s` repeated, or `[supervisorctl:NAME]` sections); empty
    /// with one server, which is then `serverurl`.
    pub fleet: Vec<FleetServer>,
    /// The command and its arguments, if any were given.
    pub args: Vec<String>,
}

/// One of several servers corralctl talks to at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetServer {
    /// What `NAME:process` and the status column call it.
    pub name: String,
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
}

/// A `-s` value: `URL`, or `NAME=URL`.
fn split_named_url(value: &str) -> (Option<&str>, &str) {
    match value.split_once('=') {
        Some((name, url)) if url.contains("://") && corral_config::valid_server_name(name) => {
            (Some(name), url)
        }
        _ => (None, value),
    }
}

/// Names for servers given by URL alone: the host of an `http://` URL, the socket file's
/// name without its extension for `unix://`; `-N` (its position) added when two would be
/// the same.
fn derive_names(servers: &[(Option<String>, String)]) -> Vec<String> {
    let base: Vec<String> = servers
        .iter()
        .map(|(name, url)| {
            if let Some(n) = name {
                return n.clone();
            }
            let candidate = if let Some(path) = url.strip_prefix("unix://") {
                let file = path.rsplit('/').next().unwrap_or(path);
                file.split('.').next().unwrap_or(file).to_string()
            } else {
                let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
                let authority = rest.split('/').next().unwrap_or(rest);
                let authority = authority.rsplit('@').next().unwrap_or(authority);
                match authority.strip_prefix('[') {
                    Some(v6) => v6.split(']').next().unwrap_or(v6).replace(':', "-"),
                    None => authority.split(':').next().unwrap_or(authority).to_string(),
                }
            };
            let clean: String = candidate
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                .collect();
            if clean.is_empty() {
                "server".into()
            } else {
                clean
            }
        })
        .collect();
    base.iter()
        .enumerate()
        .map(|(i, b)| {
            let explicit = servers[i].0.is_some();
            if !explicit && base.iter().filter(|o| *o == b).count() > 1 {
                format!("{b}-{}", i + 1)
            } else {
                b.clone()
            }
        })
        .collect()
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
    Short::flag('h'),
    Short::flag('?'),
    Short::with_value('c'),
    Short::flag('i'),
    Short::with_value('s'),
    Short::with_value('u'),
    Short::with_value('p'),
    Short::with_value('r'),
];

const LONGS: [Long; 9] = [
    Long::flag("help"),
    Long::with_value("configuration"),
    Long::flag("interactive"),
    Long::with_value("serverurl"),
    Long::with_value("username"),
    Long::with_value("password"),
    Long::with_value("history_file"),
    Long::flag("json"),
    Long::flag("version"),
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
    /// Every `-s`, with its name if given as `NAME=URL`.
    serverurls: Vec<(Option<String>, String)>,
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
    let parsed =
        getopt::getopt(args, &SHORTS, &LONGS, long_key).map_err(|e| usage(e.to_string()))?;
    let rest = parsed.rest;
    let mut cli = Cli::default();
    // Options are handled in order, as supervisorctl does: `-h` exits as soon as it is
    // reached, so a mistake before it is reported and one after it is not.
    for Opt { option: opt, value } in parsed.opts {
        match opt.as_str() {
            "-h" | "-?" | "--help" => return Err(Early::Help(help_text(progname))),
            "--version" => return Err(Early::Version),
            "-c" | "--configuration" => set_once(&mut cli.configfile, value, &opt)?,
            "-i" | "--interactive" => set_once(&mut cli.interactive, true, &opt)?,
            "-s" | "--serverurl" => {
                let (name, url) = split_named_url(&value);
                pyurl::check_url(url).map_err(|msg| {
                    usage(format!(
                        "invalid value for {opt} {}: {msg}",
                        pystr::repr(&value)
                    ))
                })?;
                // corral: -s may be given several times (several servers).
                if name.is_some_and(|n| cli.serverurls.iter().any(|(m, _)| m.as_deref() == Some(n)))
                {
                    return Err(usage(format!(
                        "server name {} is given twice",
                        pystr::repr(name.unwrap_or_default())
                    )));
                }
                cli.serverurls
                    .push((name.map(String::from), url.to_string()));
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

    // corral: several servers, from the command line or `[supervisorctl:NAME]` sections.
    let file_servers = from_file.as_ref().map_or(&[][..], |f| &f.servers[..]);
    let mut fleet: Vec<FleetServer> = Vec::new();
    let mut single_creds = (None, None);
    let mut from_sections = false;
    if cli.serverurls.len() > 1 {
        let names = derive_names(&cli.serverurls);
        let file = from_file.as_ref();
        for ((_, url), name) in cli.serverurls.iter().zip(names) {
            fleet.push(FleetServer {
                name,
                url: url.clone(),
                username: cli
                    .username
                    .clone()
                    .or(file.and_then(|f| f.username.clone())),
                password: cli
                    .password
                    .clone()
                    .or(file.and_then(|f| f.password.clone())),
            });
        }
    } else if cli.serverurls.is_empty() && !file_servers.is_empty() {
        let file = from_file.as_ref();
        for s in file_servers {
            fleet.push(FleetServer {
                name: s.name.clone(),
                url: s.serverurl.clone(),
                username: cli
                    .username
                    .clone()
                    .or(s.username.clone())
                    .or(file.and_then(|f| f.username.clone())),
                password: cli
                    .password
                    .clone()
                    .or(s.password.clone())
                    .or(file.and_then(|f| f.password.clone())),
            });
        }
        if fleet.len() == 1 {
            let one = fleet.remove(0);
            single_creds = (one.username, one.password);
            cli.serverurls.push((None, one.url));
            from_sections = true;
        }
    }
    let (serverurl, url_source) = match (cli.serverurls.first().cloned(), &from_file, &configfile) {
        (_, _, _) if !fleet.is_empty() => (
            fleet[0].url.clone(),
            if file_servers.is_empty() || cli.serverurls.len() > 1 {
                UrlSource::CommandLine
            } else {
                UrlSource::Config(configfile.clone().unwrap_or_default())
            },
        ),
        (Some((_, u)), Some(_), Some(path)) if from_sections => {
            (u, UrlSource::Config(pypath::abspath(path, &cwd)))
        }
        (Some((_, u)), _, _) => (u, UrlSource::CommandLine),
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
        username: cli.username.or(single_creds.0).or(file.username),
        password: cli.password.or(single_creds.1).or(file.password),
        prompt: file.prompt.unwrap_or_else(|| "supervisor".to_string()),
        history_file,
        interactive: cli.interactive.unwrap_or(false) || rest.is_empty(),
        json: cli.json.unwrap_or(false),
        args: rest,
        fleet,
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
    servers: Vec<corral_config::CtlServer>,
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
        servers: settings.servers,
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
    fn several_servers() {
        let o = realize(
            &args(&[
                "-s",
                "unix:///run/a/supervisor.sock",
                "-s",
                "b=http://h2:9001",
                "status",
            ]),
            "p",
            &RealHost,
        )
        .unwrap();
        let names: Vec<&str> = o.fleet.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["supervisor", "b"]);
        assert_eq!(o.fleet[1].url, "http://h2:9001");
        // One -s: supervisorctl's single server, exactly.
        let o = realize(&args(&["-s", "http://h:1"]), "p", &RealHost).unwrap();
        assert!(o.fleet.is_empty() && o.serverurl == "http://h:1");
        let o = realize(&args(&["-s", "x=http://h:1"]), "p", &RealHost).unwrap();
        assert!(o.fleet.is_empty() && o.serverurl == "http://h:1");
        assert_eq!(
            derive_names(&[
                (None, "http://10.0.0.1:9001".into()),
                (None, "http://10.0.0.1:9002".into()),
                (None, "http://[::1]:9001".into()),
                (None, "http://u:p@web1:9001/".into()),
            ]),
            ["10.0.0.1-1", "10.0.0.1-2", "--1", "web1"]
        );
        let conf = tmp_conf(
            "g.conf",
            "[supervisorctl]\nserverurl=unix:///tmp/local.sock\nusername=u\npassword=p\n\
             [supervisorctl:web1]\nserverurl=http://web1:9001\npassword=other\n\
             [supervisorctl:web2]\nserverurl=http://web2:9001\n",
        );
        let o = realize(&args(&["-c", &conf, "status"]), "p", &RealHost).unwrap();
        assert_eq!(o.fleet.len(), 2);
        assert_eq!(
            (
                o.fleet[0].username.as_deref(),
                o.fleet[0].password.as_deref()
            ),
            (Some("u"), Some("other"))
        );
        assert_eq!(o.fleet[1].password.as_deref(), Some("p"));
        // -s on the command line wins over the sections.
        let o = realize(&args(&["-c", &conf, "-s", "http://h:1"]), "p", &RealHost).unwrap();
        assert!(o.fleet.is_empty() && o.serverurl == "http://h:1");
        let r = realize(
            &args(&["-s", "a=http://h:1", "-s", "a=http://h:2"]),
            "p",
            &RealHost,
        );
        assert_eq!(usage_of(r).0, "server name 'a' is given twice");
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
