//! Bad configurations: every error is reported in one run, each with its file, line, section
//! and option, in supervisord's words; plus corral's extensions and checks. Runs on an
//! in-memory host so the results do not depend on this machine.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use corral_config::host::{DirEntry, Host, UserEntry};
use corral_config::*;

#[derive(Default)]
struct FakeHost {
    files: BTreeMap<String, Vec<u8>>,
    unreadable: BTreeSet<String>,
    dirs: BTreeSet<String>,
    env: Vec<(String, String)>,
}

impl FakeHost {
    fn new() -> Self {
        let mut h = FakeHost::default();
        for d in [
            "/",
            "/etc",
            "/etc/conf.d",
            "/tmp",
            "/var",
            "/var/log",
            "/home/app",
        ] {
            h.dirs.insert(d.into());
        }
        h.env.push(("HOME".into(), "/home/app".into()));
        h
    }

    fn file(mut self, path: &str, text: &str) -> Self {
        self.files.insert(path.into(), text.as_bytes().to_vec());
        self
    }

    fn abs(&self, p: &str) -> String {
        pypath::abspath(p, "/etc")
    }
}

impl Host for FakeHost {
    fn read_file(&self, path: &str) -> io::Result<Vec<u8>> {
        let p = self.abs(path);
        if self.unreadable.contains(&p) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "Permission denied",
            ));
        }
        self.files
            .get(&p)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not found"))
    }
    fn exists(&self, path: &str) -> bool {
        let p = self.abs(path);
        self.files.contains_key(&p) || self.dirs.contains(&p)
    }
    fn lexists(&self, path: &str) -> bool {
        self.exists(path)
    }
    fn is_dir(&self, path: &str) -> bool {
        self.dirs.contains(&self.abs(path))
    }
    fn list_dir(&self, path: &str) -> Option<Vec<DirEntry>> {
        let dir = self.abs(path);
        if !self.dirs.contains(&dir) {
            return None;
        }
        let prefix = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        let mut out = Vec::new();
        for (p, is_dir) in self
            .files
            .keys()
            .map(|p| (p, false))
            .chain(self.dirs.iter().map(|d| (d, true)))
        {
            if let Some(rest) = p.strip_prefix(&prefix) {
                if !rest.is_empty() && !rest.contains('/') {
                    out.push(DirEntry {
                        name: rest.into(),
                        is_dir,
                    });
                }
            }
        }
        Some(out)
    }
    fn user_by_name(&self, name: &str) -> Option<UserEntry> {
        match name {
            "root" => Some(UserEntry {
                name: "root".into(),
                uid: 0,
                gid: 0,
                home: "/root".into(),
            }),
            "app" => Some(UserEntry {
                name: "app".into(),
                uid: 1000,
                gid: 1000,
                home: "/home/app".into(),
            }),
            _ => None,
        }
    }
    fn user_by_uid(&self, uid: u32) -> Option<UserEntry> {
        match uid {
            0 => self.user_by_name("root"),
            1000 => self.user_by_name("app"),
            _ => None,
        }
    }
    fn group_by_name(&self, name: &str) -> Option<u32> {
        match name {
            "root" => Some(0),
            "app" => Some(1000),
            _ => None,
        }
    }
    fn group_exists(&self, gid: u32) -> bool {
        gid == 0 || gid == 1000
    }
    fn current_uid(&self) -> u32 {
        0
    }
    fn env_vars(&self) -> Vec<(String, String)> {
        self.env.clone()
    }
    fn cwd(&self) -> String {
        "/etc".into()
    }
    fn hostname(&self) -> String {
        "testhost".into()
    }
    fn tempdir(&self) -> String {
        "/tmp".into()
    }
}

const HEAD: &str = "[supervisord]\nlogfile=/var/log/s.log\npidfile=/tmp/s.pid\n";

fn load_text(text: &str) -> Loaded {
    let host = FakeHost::new().file("/etc/supervisord.conf", text);
    load("/etc/supervisord.conf", &host, &Overrides::default())
}

fn shown(l: &Loaded) -> Vec<String> {
    l.errors.iter().map(ToString::to_string).collect()
}

#[test]
fn every_bad_value_at_once_with_lines() {
    let l = load_text(&format!(
        "{HEAD}\n[program:web]\ncommand=/bin/web\nstartsecs=abc\nautorestart=maybe\n\
         stopsignal=FOO\numask=999\n"
    ));
    assert_eq!(
        shown(&l),
        vec![
            // supervisord's reading order: autorestart comes before startsecs.
            "/etc/supervisord.conf:8: [program:web] autorestart: invalid 'autorestart' value 'maybe'",
            "/etc/supervisord.conf:7: [program:web] startsecs: invalid literal for int() with base 10: 'abc'",
            "/etc/supervisord.conf:9: [program:web] stopsignal: value 'FOO' is not a valid signal name",
            "/etc/supervisord.conf:10: [program:web] umask: 999 can not be converted to an octal type",
        ]
    );
    // The rest of the program is still read (defaults for the bad values).
    let c = l.config.as_ref().expect("a partial config");
    let p = &c.groups[0].processes[0];
    assert_eq!(p.command, "/bin/web");
    assert_eq!(p.startsecs, 1);
    assert!(l.clone().into_result().is_err());
}

#[test]
fn missing_command_and_process_num() {
    let l = load_text(&format!(
        "{HEAD}[program:a]\nnumprocs=2\ncommand=x\n[program:b]\nautostart=true\n"
    ));
    assert_eq!(
        shown(&l),
        vec![
            "/etc/supervisord.conf:5: [program:a] numprocs: %(process_num) must be present within process_name when numprocs > 1",
            "/etc/supervisord.conf:7: [program:b] command: program section program:b does not specify a command",
        ]
    );
}

#[test]
fn duplicate_process_names_in_a_group_are_refused() {
    let l = load_text(&format!(
        "{HEAD}[group:g]\nprograms=a,b\n[program:a]\ncommand=x\nprocess_name=worker\n\
         [program:b]\ncommand=y\nprocess_name=worker\n"
    ));
    let e = shown(&l);
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("/etc/supervisord.conf:11: [program:b] process_name: process name worker appears twice in group g"),
        "{e:?}"
    );
}

#[test]
fn include_rules() {
    let host = FakeHost::new()
        .file(
            "/etc/supervisord.conf",
            &format!("{HEAD}[include]\nfiles=conf.d/*.conf nothing/*.ini\n"),
        )
        .file(
            "/etc/conf.d/b.conf",
            "[program:b]\ncommand=%(here)s/b\n[include]\nfiles=/x\n",
        )
        .file(
            "/etc/conf.d/a.conf",
            "[program:a]\ncommand=a\nstartsecs=-\n",
        )
        .file("/etc/conf.d/.hidden.conf", "[program:h]\ncommand=h\n");
    let l = load("/etc/supervisord.conf", &host, &Overrides::default());
    let c = l.config.as_ref().unwrap();
    assert_eq!(
        c.files,
        vec![
            "/etc/supervisord.conf",
            "/etc/conf.d/a.conf",
            "/etc/conf.d/b.conf"
        ]
    );
    assert_eq!(
        c.warnings,
        vec!["No file matches via include \"/etc/nothing/*.ini\""]
    );
    assert_eq!(
        shown(&l),
        vec![
            "/etc/conf.d/a.conf:3: [program:a] startsecs: invalid literal for int() with base 10: '-'"
        ]
    );
    let b = c.processes().find(|p| p.name == "b").unwrap();
    assert_eq!(b.command, "/etc/conf.d/b");
    assert_eq!(b.file, "/etc/conf.d/b.conf");
    assert!(
        l.corral_warnings
            .iter()
            .any(|w| w.contains("/etc/conf.d/b.conf:3: [include] in an included file is ignored")),
        "{:?}",
        l.corral_warnings
    );

    let l = load_text(&format!("{HEAD}[include]\n;files=x\n"));
    assert_eq!(
        shown(&l),
        vec![
            "/etc/supervisord.conf:4: [include] .ini file has [include] section, but no files setting"
        ]
    );
}

#[test]
fn unreadable_include_and_bad_utf8() {
    let mut host = FakeHost::new()
        .file(
            "/etc/supervisord.conf",
            &format!("{HEAD}[include]\nfiles=conf.d/*\n"),
        )
        .file("/etc/conf.d/a.conf", "[program:a]\ncommand=a\n");
    host.files.insert(
        "/etc/conf.d/b.conf".into(),
        b"[program:b]\ncommand=\xff\n".to_vec(),
    );
    host.files.insert("/etc/conf.d/c.conf".into(), Vec::new());
    host.unreadable.insert("/etc/conf.d/c.conf".into());
    let l = load("/etc/supervisord.conf", &host, &Overrides::default());
    assert_eq!(
        shown(&l),
        vec![
            "/etc/conf.d/b.conf:2: the file is not valid UTF-8 (byte 9 of line 2)",
            "/etc/supervisord.conf:5: [include] files: could not read config file /etc/conf.d/c.conf: Permission denied",
        ]
    );
    // What could be read is there.
    assert!(l.config.unwrap().processes().any(|p| p.name == "a"));
}

#[test]
fn syntax_errors_in_python_words() {
    let l = load_text("command=x\n[supervisord]\n[program:a]\ncommand=a\nthis is not an option\n");
    assert_eq!(
        shown(&l),
        vec![
            "/etc/supervisord.conf:1: File contains no section headers.\nfile: '/etc/supervisord.conf', line: 1\n'command=x\\n'",
            "/etc/supervisord.conf:5: Source contains parsing errors: '/etc/supervisord.conf'\n\t[line  5]: 'this is not an option\\n'",
        ]
    );
}

#[test]
fn format_errors_are_pythons() {
    let l = load_text(&format!(
        "{HEAD}[program:a]\ncommand=date +%Y\nuser=%USER%\ndirectory=%(nope)s\n"
    ));
    let e = shown(&l);
    assert_eq!(
        e[0],
        "/etc/supervisord.conf:6: [program:a] user: Format string '%USER%' for 'program:a.user' is badly formatted: unsupported format character 'U' (0x55) at index 1"
    );
    assert_eq!(
        e[1],
        "/etc/supervisord.conf:7: [program:a] directory: Format string '%(nope)s' for 'program:a.directory' contains names ('nope') which cannot be expanded. Available names: ENV_HOME, group_name, here, host_node_name, numprocs, process_num, program_name"
    );
    assert_eq!(
        e[2],
        "/etc/supervisord.conf:5: [program:a] command: Format string 'date +%Y' for 'program:a.command' is badly formatted: unsupported format character 'Y' (0x59) at index 7"
    );
}

#[test]
fn unknown_sections_and_keys_are_ignored_with_a_warning() {
    let l = load_text(&format!(
        "{HEAD}[Program:x]\ncommand=x\n[program:y]\ncommand=y\nstderror_logfile=/tmp/e\n[supervisorctl]\n"
    ));
    assert!(l.errors.is_empty(), "{:?}", l.errors);
    let c = l.config.as_ref().unwrap();
    assert_eq!(c.groups.len(), 1);
    let w = l.corral_warnings.join("\n");
    assert!(w.contains("[Program:x] is not a section supervisord or corral reads; ignored (section names are case-sensitive)"), "{w}");
    assert!(
        w.contains(":8: [program:y] stderror_logfile: unknown option"),
        "{w}"
    );
    assert!(!w.contains("supervisorctl"), "{w}");
}

#[test]
fn unknown_user_is_a_host_error_and_the_view_is_complete() {
    let l = load_text(&format!("{HEAD}[program:a]\ncommand=a\nuser=nosuchuser\n"));
    assert_eq!(
        shown(&l),
        vec!["/etc/supervisord.conf:6: [program:a] user: Invalid user name nosuchuser"]
    );
    assert!(l.only_host_errors());
    let v = view_json(&l);
    assert_eq!(v["groups"][0]["processes"][0]["user"], "nosuchuser");
    // Not a refusal of the file (no "error"), but listed, and --check exits 2.
    assert!(v.get("error").is_none(), "{v}");
    assert!(
        v["host_errors"][0]
            .as_str()
            .unwrap()
            .contains("Invalid user name nosuchuser")
    );
    assert_eq!(v["errors"], v["host_errors"]);
}

#[test]
fn missing_log_directory_is_an_error_of_this_host() {
    let l = load_text(
        "[supervisord]\nlogfile=/var/log/supervisor/s.log\n[program:a]\ncommand=a\nstdout_logfile=/nope/a.log\n",
    );
    assert!(l.only_host_errors(), "{:?}", l.errors);
    let w = l
        .errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(w.contains("/etc/supervisord.conf:2: [supervisord] logfile: The directory named as part of the path /var/log/supervisor/s.log does not exist"), "{w}");
    assert!(w.contains("[program:a] stdout_logfile: The directory named as part of the path /nope/a.log does not exist"), "{w}");
    let c = l.config.unwrap();
    assert_eq!(c.supervisord.logfile, "/var/log/supervisor/s.log");
}

#[test]
fn corral_sockets_readiness_and_fds() {
    let l = load_text(&format!(
        "{HEAD}[socket:web]\nlisten=tcp://0.0.0.0:8000\nbacklog=128\n[socket:admin]\n\
         listen=unix:///run/admin.sock\nmode=0600\nowner=app:app\n\
         [program:g]\ncommand=gunicorn --bind fd://%(socket_fd_web)s --bind fd://%(socket_fd_admin)d app:app\n\
         sockets=web, admin\nreadiness=http://127.0.0.1:8000/health\nreadiness_timeout=30\nstopdescendants=false\n"
    ));
    assert!(l.errors.is_empty(), "{:?}", l.errors);
    let c = l.config.as_ref().unwrap();
    let p = &c.groups[0].processes[0];
    assert_eq!(p.command, "gunicorn --bind fd://3 --bind fd://4 app:app");
    assert_eq!(p.sockets, vec!["web", "admin"]);
    assert_eq!(
        p.readiness,
        Readiness::Http {
            url: "http://127.0.0.1:8000/health".into()
        }
    );
    assert_eq!(p.readiness_timeout, 30);
    assert!(!p.stopdescendants);
    assert_eq!(c.sockets.len(), 2);
    assert_eq!(c.sockets[0].backlog, 128);
    assert_eq!(
        c.sockets[1].address,
        ListenAddress::Unix {
            path: "/run/admin.sock".into()
        }
    );
    assert_eq!(c.sockets[1].mode, 0o600);
    assert_eq!(c.sockets[1].owner.as_ref().unwrap().gid, Some(1000));
    assert_eq!(c.supervisord.statefile, "/tmp/s.pid.state");
    // gunicorn drains for 30 s by default, stopwaitsecs is 10.
    let w = l.corral_warnings.join("\n");
    assert!(
        w.contains("runs gunicorn") && w.contains("set stopwaitsecs=35"),
        "{w}"
    );
    let v = view_json(&l);
    assert_eq!(v["corral"]["processes"]["g"]["sockets"][1], "admin");
    assert!(v.get("error").is_none());
}

#[test]
fn corral_extension_errors() {
    let l = load_text(&format!(
        "{HEAD}[socket:web]\nlisten=localhost:80\n[socket:u]\nlisten=unix:///run/u.sock\nnodelay=true\n\
         [program:a]\ncommand=a\nsockets=web,nope\nreadiness=sometimes\n\
         [eventlistener:l]\ncommand=l\nevents=TICK_5\nsockets=u\n"
    ));
    assert_eq!(
        shown(&l),
        vec![
            "/etc/supervisord.conf:5: [socket:web] listen: invalid listen value 'localhost:80': expected tcp://HOST:PORT, tcp://[V6ADDR]:PORT or unix:///absolute/path",
            "/etc/supervisord.conf:8: [socket:u] nodelay: nodelay= applies only to tcp:// sockets",
            "/etc/supervisord.conf:11: [program:a] sockets: sockets= names web, but there is no [socket:web] section",
            "/etc/supervisord.conf:11: [program:a] sockets: sockets= names nope, but there is no [socket:nope] section",
            "/etc/supervisord.conf:12: [program:a] readiness: invalid readiness value 'sometimes': expected startsecs, notify, tcp://HOST:PORT, http://HOST:PORT/PATH or exec:COMMAND",
            "/etc/supervisord.conf:16: [eventlistener:l] sockets: sockets= is not allowed on an eventlistener (its stdin/stdout are the listener protocol)",
        ]
    );
}

#[test]
fn overrides_win_and_are_checked() {
    let host = FakeHost::new().file("/etc/supervisord.conf", &format!("{HEAD}minfds=10\n"));
    let o = Overrides {
        minfds: Some("abc".into()),
        loglevel: Some("debug".into()),
        logfile: Some("/tmp/other.log".into()),
        nodaemon: true,
        ..Overrides::default()
    };
    let l = load("/etc/supervisord.conf", &host, &o);
    assert_eq!(
        shown(&l),
        vec![
            "--minfds: invalid value for --minfds 'abc': invalid literal for int() with base 10: 'abc'"
        ]
    );
    let c = l.config.unwrap();
    assert_eq!(c.supervisord.minfds, 10);
    assert_eq!(c.supervisord.loglevel, LogLevel::Debug);
    assert_eq!(c.supervisord.logfile, "/tmp/other.log");
    assert!(c.supervisord.nodaemon);
}

#[test]
fn defaults_order_and_serverurl() {
    let l = load_text(
        "[supervisord]\n[inet_http_server]\nport=*:9001\n[program:b]\ncommand=b\npriority=5\n\
         [program:a]\ncommand=a\npriority=5\n[eventlistener:e]\ncommand=e\nevents=tick_60\n\
         [program:w]\ncommand=w\nnumprocs=12\nprocess_name=w%(process_num)d\n",
    );
    assert!(l.errors.is_empty(), "{:?}", l.errors);
    let c = l.config.unwrap();
    let names: Vec<&str> = c.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, vec!["e", "a", "b", "w"]);
    let w: Vec<&str> = c.groups[3]
        .processes
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(&w[..4], &["w0", "w1", "w10", "w11"]);
    assert_eq!(
        c.supervisord.serverurl.as_deref(),
        Some("http://localhost:9001")
    );
    assert_eq!(c.supervisord.logfile, "/etc/supervisord.log");
    assert_eq!(c.supervisord.childlogdir, "/tmp");
    assert_eq!(c.groups[0].processes[0].priority, 999);
    assert!(matches!(&c.groups[0].kind, GroupKind::EventListener(p) if p.events == ["TICK_60"]));
}

#[test]
fn ctl_settings_and_search() {
    let host = FakeHost::new()
        .file(
            "/etc/supervisord.conf",
            "[unix_http_server]\nfile=%(here)s/../run/s.sock\n[supervisorctl]\nprompt=%(ENV_HOME)s\n",
        )
        .file("/etc/b.conf", "[supervisorctl]\nserverurl=unix://%(here)s//x.sock\nhistory_file=~/.hist\n")
        .file("/etc/none.conf", "[supervisord]\n");
    let c = load_ctl("/etc/supervisord.conf", &host).unwrap();
    assert_eq!(c.serverurl, None, "supervisorctl's default applies");
    assert_eq!(c.daemon_serverurl.as_deref(), Some("unix:///run/s.sock"));
    assert_eq!(c.prompt, "/home/app");
    let b = load_ctl("b.conf", &host).unwrap();
    assert_eq!(b.serverurl.as_deref(), Some("unix:///etc/x.sock"));
    assert_eq!(b.history_file.as_deref(), Some("/home/app/.hist"));
    let e = load_ctl("/etc/none.conf", &host).unwrap_err();
    assert_eq!(
        e[0].message,
        ".ini file does not include supervisorctl section"
    );
    assert_eq!(
        search_default_config(&host, "/usr/bin/corrald").as_deref(),
        Some("supervisord.conf")
    );
}
