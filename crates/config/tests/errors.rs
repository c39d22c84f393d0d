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
    assert_eq!(&*b.file, "/etc/conf.d/b.conf");
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
            "/etc/supervisord.conf:5: [socket:web] listen: invalid listen value 'localhost:80': expected tcp://HOST:PORT, tcp://[V6ADDR]:PORT, unix:///absolute/path or systemd:NAME",
            "/etc/supervisord.conf:8: [socket:u] nodelay: nodelay= applies only to tcp:// sockets",
            "/etc/supervisord.conf:11: [program:a] sockets: sockets= names web, but there is no [socket:web] section",
            "/etc/supervisord.conf:11: [program:a] sockets: sockets= names nope, but there is no [socket:nope] section",
            "/etc/supervisord.conf:12: [program:a] readiness: invalid readiness value 'sometimes': expected startsecs, notify, tcp://HOST:PORT, http://HOST:PORT/PATH or exec:COMMAND",
            "/etc/supervisord.conf:16: [eventlistener:l] sockets: sockets= is not allowed on an eventlistener (its stdin/stdout are the listener protocol)",
        ]
    );
}

#[test]
fn corral_deployment_options() {
    // Defaults: supervisord's behaviour.
    let l = load_text(&format!("{HEAD}[program:a]\ncommand=a\n"));
    let c = l.config.as_ref().unwrap();
    assert_eq!(c.supervisord.init, InitMode::Auto);
    assert_eq!(c.supervisord.shutdown_timeout, None);
    assert_eq!(c.supervisord.forward_output, ForwardOutput::None);
    assert!(!c.groups[0].processes[0].shutdown_on_exit);
    let l = load_text(&format!(
        "{HEAD}init=true\nshutdown_timeout=25\nforward_output=JSON\n[socket:web]\nlisten=systemd:web.socket\n\
         [program:a]\ncommand=a\nshutdown_on_exit=true\nsockets=web\n"
    ));
    assert!(l.errors.is_empty(), "{:?}", l.errors);
    assert!(l.corral_warnings.is_empty(), "{:?}", l.corral_warnings);
    let c = l.config.as_ref().unwrap();
    assert_eq!(c.supervisord.init, InitMode::On);
    assert_eq!(c.supervisord.shutdown_timeout, Some(25));
    assert_eq!(c.supervisord.forward_output, ForwardOutput::Json);
    assert!(c.groups[0].processes[0].shutdown_on_exit);
    assert_eq!(
        c.sockets[0].address,
        ListenAddress::Systemd {
            name: "web.socket".into()
        }
    );
    let v = view_json(&l);
    assert_eq!(v["corral"]["forward_output"], "json");
    assert_eq!(v["corral"]["processes"]["a"]["shutdown_on_exit"], true);
    let l = load_text(&format!(
        "{HEAD}init=maybe\nshutdown_timeout=-1\nforward_output=xml\n[socket:web]\nlisten=systemd:\n\
         [socket:s]\nlisten=systemd:s\nbacklog=5\n"
    ));
    let shown = shown(&l).join("\n");
    for part in [
        "[supervisord] init: invalid init value 'maybe': expected auto, true or false",
        "[supervisord] shutdown_timeout:",
        "[supervisord] forward_output: invalid forward_output value 'xml': expected none, prefixed or json",
        "[socket:web] listen: invalid listen value 'systemd:'",
        "[socket:s] backlog: backlog= does not apply to a socket systemd passes",
    ] {
        assert!(shown.contains(part), "{part} not in:\n{shown}");
    }
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

#[test]
fn a_large_numprocs_loads_in_linear_time() {
    // The duplicate-name check compared each process name with every other one: 100,000
    // processes took 80 s to load, and a mistyped numprocs made corrald hang at start-up.
    // 80,000 take under 2 s now (60,000 took 15.7 s before).
    let started = std::time::Instant::now();
    let l = load_text(&format!(
        "{HEAD}\n[program:w]\ncommand=/bin/w\nprocess_name=w_%(process_num)d\nnumprocs=80000\n"
    ));
    let took = started.elapsed();
    assert_eq!(shown(&l), Vec::<String>::new());
    let config = l.config.expect("loaded");
    assert_eq!(config.groups[0].processes.len(), 80000);
    assert!(
        took.as_secs() < 10,
        "80,000 processes took {took:?} to load"
    );
}

#[test]
fn corral_liveness_options() {
    let l = load_text(&format!(
        "{HEAD}[program:web]\ncommand=web\nprocess_name=web%(process_num)d\nnumprocs=2\n\
         healthcheck=http://127.0.0.1:80%(process_num)02d/health\nhealthcheck_interval=0.5\n\
         healthcheck_timeout=2\nhealthcheck_retries=5\nhealthcheck_start_period=30\n\
         watchdogsecs=10\nmax_memory=512MB\nmax_lifetime=3600\nmax_lifetime_jitter=600\n\
         startretries=Infinite\nbackoff_max=30\n\
         [program:plain]\ncommand=plain\n"
    ));
    assert!(l.errors.is_empty(), "{:?}", l.errors);
    assert!(l.corral_warnings.is_empty(), "{:?}", l.corral_warnings);
    let c = l.config.as_ref().unwrap();
    let web = c.group("web").unwrap();
    let secs = std::time::Duration::from_secs_f64;
    for (i, p) in web.processes.iter().enumerate() {
        let lv = &p.liveness;
        let h = lv.healthcheck.as_ref().unwrap();
        assert_eq!(
            h.probe,
            Readiness::Http {
                url: format!("http://127.0.0.1:800{i}/health")
            }
        );
        assert_eq!(
            (h.interval, h.timeout, h.retries, h.start_period),
            (secs(0.5), secs(2.0), 5, secs(30.0))
        );
        assert_eq!(lv.watchdogsecs, Some(secs(10.0)));
        assert_eq!(lv.max_memory, Some(512 << 20));
        assert_eq!(lv.max_lifetime, Some(secs(3600.0)));
        assert_eq!(lv.max_lifetime_jitter, secs(600.0));
        assert_eq!(lv.backoff_max, Some(secs(30.0)));
        assert_eq!(p.startretries, STARTRETRIES_INFINITE);
    }
    let plain = &c.group("plain").unwrap().processes[0];
    assert_eq!(*plain.liveness, Liveness::default(), "every option is off");
    assert_eq!(plain.startretries, 3);
    let v = view_json(&l);
    assert_eq!(v["groups"][1]["processes"][0]["startretries"], "infinite");
    let cv = &v["corral"]["processes"]["web:web1"];
    assert_eq!(cv["healthcheck"]["check"], "http://127.0.0.1:8001/health");
    assert_eq!(cv["healthcheck"]["interval"], 0.5);
    assert_eq!(cv["max_memory"], 512 << 20);
    assert_eq!(
        v["corral"]["processes"]["plain"]["healthcheck"],
        serde_json::Value::Null
    );
}

#[test]
fn corral_liveness_errors_and_warnings() {
    let l = load_text(&format!(
        "{HEAD}[program:a]\ncommand=a\nhealthcheck=notify\nhealthcheck_interval=-1\n\
         healthcheck_timeout=0\nhealthcheck_retries=0\nwatchdogsecs=soon\nmax_memory=0\n\
         max_lifetime=1e9\nbackoff_max=0\nstartretries=forever\n\
         [program:b]\ncommand=b\nhealthcheck_interval=5\nmax_lifetime_jitter=10\n\
         healthcheck=ping://x\n[program:c]\ncommand=c\nhealthcheck_retries=2\nmax_lifetime_jitter=3\n"
    ));
    assert_eq!(
        shown(&l),
        vec![
            "/etc/supervisord.conf:14: [program:a] startretries: invalid literal for int() with base 10: 'forever'",
            "/etc/supervisord.conf:7: [program:a] healthcheck_interval: '-1' is not a number of seconds (e.g. 10 or 0.5)",
            "/etc/supervisord.conf:8: [program:a] healthcheck_timeout: must be more than 0 seconds, not 0",
            "/etc/supervisord.conf:9: [program:a] healthcheck_retries: must be a whole number from 1 up, not 0",
            "/etc/supervisord.conf:10: [program:a] watchdogsecs: 'soon' is not a number of seconds (e.g. 10 or 0.5)",
            "/etc/supervisord.conf:12: [program:a] max_lifetime: '1e9' is not a number of seconds (e.g. 10 or 0.5)",
            "/etc/supervisord.conf:13: [program:a] backoff_max: must be more than 0 seconds, not 0",
            "/etc/supervisord.conf:11: [program:a] max_memory: must be more than 0 bytes (e.g. 512MB), not 0",
            "/etc/supervisord.conf:6: [program:a] healthcheck: invalid healthcheck value 'notify': expected http://HOST:PORT/PATH, tcp://HOST:PORT or exec:COMMAND (for a process that reports its own health over NOTIFY_SOCKET, use watchdogsecs=)",
            "/etc/supervisord.conf:19: [program:b] healthcheck: invalid healthcheck value 'ping://x': expected http://HOST:PORT/PATH, tcp://HOST:PORT or exec:COMMAND",
        ]
    );
    let w = l.corral_warnings.join("\n");
    assert!(
        w.contains(":22: [program:c] healthcheck_retries has no effect without healthcheck=")
            && w.contains(
                ":23: [program:c] max_lifetime_jitter has no effect without max_lifetime="
            ),
        "{w}"
    );
    assert!(
        !w.contains("[program:b] healthcheck_interval"),
        "b has a healthcheck: {w}"
    );
}

#[test]
fn listeners_may_name_corral_event_types() {
    let l = load_text(&format!(
        "{HEAD}[eventlistener:health]\ncommand=l\nevents=process_health_unhealthy,PROCESS_HEALTH_HEALTHY,PROCESS_RECYCLED,PROCESS_HEALTH\n"
    ));
    assert_eq!(
        shown(&l),
        vec![
            "/etc/supervisord.conf:6: [eventlistener:health] events: Unknown event type PROCESS_HEALTH in [eventlistener:health] events"
        ]
    );
    let c = l.config.as_ref().unwrap();
    let GroupKind::EventListener(pool) = &c.groups[0].kind else {
        panic!("a pool")
    };
    assert_eq!(
        pool.events,
        vec![
            "PROCESS_HEALTH_HEALTHY",
            "PROCESS_HEALTH_UNHEALTHY",
            "PROCESS_RECYCLED"
        ]
    );
}

#[test]
fn orchestration_options_are_read_and_checked() {
    let l = load_text(&format!(
        "{HEAD}[program:web]\ncommand=web\ndepends_on=db, migrate:completed\n\
         stopsequence=TERM/20, int/5\nenvironment_file=/etc/default/web, -/etc/web/%(program_name)s.env\n\
         [program:db]\ncommand=db\n[program:migrate]\ncommand=m\ndepends_on = db:started\n"
    ));
    assert_eq!(shown(&l), Vec::<String>::new());
    let v = view_json(&l);
    assert_eq!(
        v["corral"]["start_order"],
        serde_json::json!(["db", "migrate", "web"])
    );
    let web_view = &v["corral"]["processes"]["web"];
    assert_eq!(
        web_view["stopsequence"],
        serde_json::json!(["TERM/20", "INT/5"])
    );
    assert_eq!(
        web_view["depends_on"],
        serde_json::json!(["db:ready", "migrate:completed"])
    );
    assert_eq!(
        web_view["environment_file"],
        serde_json::json!(["/etc/default/web", "-/etc/web/web.env"])
    );
    let c = l.config.unwrap();
    let web = c.processes().find(|p| p.name == "web").unwrap();
    assert_eq!(
        web.stopsequence,
        vec![
            StopStepConfig {
                signal: 15,
                wait: 20
            },
            StopStepConfig { signal: 2, wait: 5 }
        ]
    );
    assert_eq!(web.stop_wait_total(), 25);
    assert_eq!(
        web.depends_on,
        vec![
            Dependency {
                program: "db".into(),
                condition: Condition::Ready
            },
            Dependency {
                program: "migrate".into(),
                condition: Condition::Completed
            }
        ]
    );
    assert_eq!(
        web.environment_files,
        vec![
            EnvFile {
                path: "/etc/default/web".into(),
                optional: false
            },
            EnvFile {
                path: "/etc/web/web.env".into(),
                optional: true
            }
        ]
    );
    let graph = deps::Graph::of(&c);
    assert_eq!(graph.start_order(), vec!["db", "migrate", "web"]);
    let db = c.processes().find(|p| p.name == "db").unwrap();
    assert_eq!(
        db.stop_steps(),
        vec![StopStepConfig {
            signal: 15,
            wait: 10
        }]
    );
}

#[test]
fn orchestration_errors_with_their_lines() {
    let l = load_text(&format!(
        "{HEAD}[program:a]\ncommand=a\ndepends_on=b\nstopsequence=TERM\n\
         [program:b]\ncommand=b\ndepends_on=c, nope\nenvironment_file=rel.env\n\
         [program:c]\ncommand=c\ndepends_on=a:ready\nstopsequence=TERM/x, INT/5\n\
         [program:d]\ncommand=d\ndepends_on=d:sometime\n"
    ));
    assert_eq!(
        shown(&l),
        vec![
            "/etc/supervisord.conf:7: [program:a] stopsequence: invalid stopsequence entry 'TERM': no /SECONDS (expected SIGNAL/SECONDS, ... (e.g. TERM/20, INT/5))",
            "/etc/supervisord.conf:11: [program:b] environment_file: environment_file 'rel.env' is not an absolute path (use %(here)s/rel.env for a file beside the configuration)",
            "/etc/supervisord.conf:15: [program:c] stopsequence: invalid stopsequence entry 'TERM/x': invalid literal for int() with base 10: 'x' (expected SIGNAL/SECONDS, ... (e.g. TERM/20, INT/5))",
            "/etc/supervisord.conf:18: [program:d] depends_on: unknown condition 'sometime' in depends_on entry 'd:sometime' (expected NAME or NAME:CONDITION, CONDITION one of started, ready, healthy, completed)",
            "/etc/supervisord.conf:10: [program:b] depends_on: depends_on names nope, but there is no [program:nope] (nor fcgi-program or eventlistener of that name)",
            "/etc/supervisord.conf:6: [program:a] depends_on: dependency cycle: a -> b -> c -> a",
        ]
    );
}

#[test]
fn stopsequence_with_stopsignal_is_a_warning() {
    let l = load_text(&format!(
        "{HEAD}[program:a]\ncommand=a\nstopsignal=INT\nstopsequence=QUIT/3\n"
    ));
    assert!(l.errors.is_empty(), "{:?}", shown(&l));
    assert_eq!(
        l.corral_warnings,
        vec![
            "/etc/supervisord.conf:6: [program:a] stopsignal= is ignored: stopsequence= replaces \
             stopsignal= and stopwaitsecs= (corral; supervisord, which ignores stopsequence=, \
             uses stopsignal=)"
        ]
    );
}

#[test]
fn environment_files_are_inherited_and_checked_on_the_host() {
    let text = "[supervisord]\nlogfile=/var/log/s.log\npidfile=/tmp/s.pid\nenvironment_file=/etc/all.env\n\
         [program:a]\ncommand=a\nenvironment_file=/etc/a.env, -/etc/maybe.env\n\
         [program:b]\ncommand=b\nenvironment_file=/etc/b.env\n";
    let host = FakeHost::new()
        .file("/etc/supervisord.conf", text)
        .file("/etc/all.env", "X=1\n")
        .file("/etc/b.env", "OK=1\nbroken line\n");
    let l = load("/etc/supervisord.conf", &host, &Overrides::default());
    assert!(l.errors.is_empty(), "{:?}", shown(&l));
    let c = l.config.unwrap();
    let a = c.processes().find(|p| p.name == "a").unwrap();
    let paths: Vec<&str> = a
        .environment_files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(paths, vec!["/etc/all.env", "/etc/a.env", "/etc/maybe.env"]);
    let problems: Vec<String> = check_environment_files(&c, &host)
        .iter()
        .map(|e| format!("{} {}", e.host_dependent, e))
        .collect();
    assert_eq!(
        problems,
        vec![
            "true /etc/supervisord.conf: [program:a] environment_file /etc/a.env: no such file (write -/etc/a.env for a file that may be missing)",
            "true /etc/supervisord.conf: [program:b] environment_file /etc/b.env:2: expected KEY=VALUE, found 'broken line'",
        ]
    );
    assert_eq!(
        dotenv::read_files(&a.environment_files[..1], &host),
        Ok(vec![("X".to_string(), "1".to_string())])
    );
}

#[test]
fn a_program_read_with_more_processes() {
    let text = format!(
        "{HEAD}[program:w]\ncommand=w %(process_num)d of %(numprocs)d\nprocess_name=w_%(process_num)02d\n\
         numprocs=2\nnumprocs_start=1\nstdout_logfile=/tmp/w-%(process_num)d.log\n"
    );
    let host = FakeHost::new().file("/etc/supervisord.conf", &text);
    let l = load_with_numprocs(
        "/etc/supervisord.conf",
        &host,
        &Overrides::default(),
        "program:w",
        4,
    );
    assert!(l.errors.is_empty(), "{:?}", shown(&l));
    let c = l.config.unwrap();
    let names: Vec<(&str, &str, u32)> = c
        .processes()
        .map(|p| (p.name.as_str(), p.command.as_str(), p.process_num))
        .collect();
    assert_eq!(
        names,
        vec![
            ("w_01", "w 1 of 4", 1),
            ("w_02", "w 2 of 4", 2),
            ("w_03", "w 3 of 4", 3),
            ("w_04", "w 4 of 4", 4)
        ]
    );
    assert_eq!(
        c.processes().last().unwrap().stdout.logfile,
        LogFile::Path("/tmp/w-4.log".into())
    );
}

#[test]
fn readonly_users_of_the_http_servers() {
    let l = load_text(&format!(
        "{HEAD}[inet_http_server]\nport=127.0.0.1:9001\nusername=admin\npassword=a\n\
         readonly_username=viewer\nreadonly_password=v\n\
         [unix_http_server]\nfile=/tmp/s.sock\nusername=admin\npassword=a\n"
    ));
    assert!(l.errors.is_empty(), "{:?}", l.errors);
    assert!(l.corral_warnings.is_empty(), "{:?}", l.corral_warnings);
    let c = l.config.as_ref().unwrap();
    let inet = &c.inet_http_servers[0];
    assert_eq!(inet.readonly_username.as_deref(), Some("viewer"));
    assert_eq!(inet.readonly_password.as_deref(), Some("v"));
    assert_eq!(c.unix_http_servers[0].readonly_username, None);

    let l = load_text(&format!(
        "{HEAD}[inet_http_server]\nport=127.0.0.1:9001\nreadonly_username=viewer\nreadonly_password=v\n\
         [unix_http_server]\nfile=/tmp/s.sock\nusername=admin\npassword=a\nreadonly_username=admin\n\
         readonly_password=b\n[unix_http_server:two]\nfile=/tmp/t.sock\nusername=admin\npassword=a\n\
         readonly_password=b\n"
    ));
    assert_eq!(
        shown(&l),
        vec![
            "/etc/supervisord.conf:6: [inet_http_server] readonly_username: a read-only user needs username= and password= as well: without them every client may do everything",
            "/etc/supervisord.conf:12: [unix_http_server] readonly_username: readonly_username \"admin\" is also the username: give it a name of its own",
            "/etc/supervisord.conf:18: [unix_http_server:two] readonly_password: readonly_password needs readonly_username too",
        ]
    );
}
