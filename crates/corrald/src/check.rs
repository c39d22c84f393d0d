//! `corrald --check [--json] [-c FILE]`: read the configuration exactly as the daemon would,
//! print what would run (or, with `--json`, the view the conformance corpus compares against
//! supervisord's), and exit 0 when the daemon would start with it, 2 (supervisord's usage
//! error code) when it would not.

use std::fmt::Write as _;

use corral_config::host::RealHost;
use corral_config::{
    AutoRestart, ChannelConfig, Config, GroupKind, ListenAddress, Loaded, LogFile, Overrides,
    ProcessConfig, Readiness, signals,
};

/// supervisord's exit status for a configuration it refuses.
const USAGE_ERROR: i32 = 2;

pub fn run(config: Option<&str>, json: bool, strict: bool) -> i32 {
    let path = match crate::cli::config_path(config) {
        Ok(p) => p,
        Err(msg) => {
            if json {
                println!("{}", serde_json::json!({ "error": msg, "errors": [msg] }));
            } else {
                eprintln!("Error: {msg}");
            }
            return USAGE_ERROR;
        }
    };
    let mut loaded = corral_config::load(&path, &RealHost, &Overrides::default());
    if strict {
        loaded = loaded.strict();
    }
    if json {
        let view = corral_config::view_json(&loaded);
        println!(
            "{}",
            serde_json::to_string_pretty(&view).unwrap_or_else(|_| view.to_string())
        );
    } else {
        print!("{}", summary(&path, &loaded));
    }
    if loaded.errors.is_empty() {
        0
    } else {
        USAGE_ERROR
    }
}

fn logfile(l: &LogFile) -> String {
    match l {
        LogFile::Auto => "AUTO".into(),
        LogFile::None => "NONE".into(),
        LogFile::Path(p) => p.clone(),
    }
}

fn channel(name: &str, c: &ChannelConfig) -> String {
    let mut s = format!("{name}={}", logfile(&c.logfile));
    if matches!(c.logfile, LogFile::Auto | LogFile::Path(_)) {
        let _ = write!(
            s,
            " (maxbytes={}, backups={})",
            c.logfile_maxbytes, c.logfile_backups
        );
    }
    if c.syslog {
        s.push_str(" +syslog");
    }
    s
}

fn process_lines(out: &mut String, p: &ProcessConfig) {
    let _ = writeln!(out, "    {}", p.namespec());
    let _ = writeln!(
        out,
        "      command: {}",
        p.command.replace('\n', "\n               ")
    );
    let autorestart = match p.autorestart {
        AutoRestart::Always => "true",
        AutoRestart::Unexpected => "unexpected",
        AutoRestart::Never => "false",
    };
    let user = p.user.as_ref().map_or("(daemon's)", |u| u.spec.as_str());
    let _ = writeln!(
        out,
        "      user={user} autostart={} autorestart={autorestart} startsecs={} startretries={} priority={}",
        p.autostart, p.startsecs, p.startretries, p.priority
    );
    let _ = writeln!(
        out,
        "      stopsignal={} stopwaitsecs={} stopasgroup={} killasgroup={} stopdescendants={}",
        signals::name(p.stopsignal).trim_start_matches("SIG"),
        p.stopwaitsecs,
        p.stopasgroup,
        p.killasgroup,
        p.stopdescendants
    );
    let _ = writeln!(
        out,
        "      {}  {}{}",
        channel("stdout", &p.stdout),
        channel("stderr", &p.stderr),
        if p.redirect_stderr {
            " (redirected to stdout)"
        } else {
            ""
        }
    );
    if let Some(d) = &p.directory {
        let _ = writeln!(out, "      directory={d}");
    }
    if !p.environment.is_empty() {
        let env: Vec<String> = p
            .environment
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let _ = writeln!(out, "      environment: {}", env.join(" "));
    }
    if !p.sockets.is_empty() {
        let fds: Vec<String> = p
            .sockets
            .iter()
            .enumerate()
            .map(|(i, s)| format!("{s}=fd {}", 3 + i))
            .collect();
        let _ = writeln!(out, "      sockets: {}", fds.join(", "));
    }
    let readiness = match &p.readiness {
        Readiness::Startsecs => None,
        Readiness::Notify => Some("notify".to_string()),
        Readiness::Tcp { host, port } => Some(format!("tcp://{host}:{port}")),
        Readiness::Http { url } => Some(url.clone()),
        Readiness::Exec { command } => Some(format!("exec:{command}")),
    };
    if let Some(r) = readiness {
        let _ = writeln!(
            out,
            "      readiness={r} (timeout {} s)",
            p.readiness_timeout
        );
    }
}

fn config_lines(out: &mut String, c: &Config) {
    let _ = writeln!(out, "files read:");
    for f in &c.files {
        let _ = writeln!(out, "  {f}");
    }
    let s = &c.supervisord;
    let _ = writeln!(out, "supervisord:");
    let _ = writeln!(
        out,
        "  logfile={} pidfile={} loglevel={}",
        s.logfile,
        s.pidfile,
        s.loglevel.word()
    );
    let _ = writeln!(
        out,
        "  childlogdir={} statefile={} nodaemon={} user={}",
        s.childlogdir,
        s.statefile,
        s.nodaemon,
        s.user.as_deref().unwrap_or("(unchanged)")
    );
    for u in &c.unix_http_servers {
        let _ = writeln!(
            out,
            "  [{}] unix://{} chmod={:04o}",
            u.section, u.file, u.chmod
        );
    }
    for i in &c.inet_http_servers {
        let host = if i.host.is_empty() { "*" } else { &i.host };
        let _ = writeln!(out, "  [{}] http://{host}:{}", i.section, i.port);
    }
    let _ = writeln!(out, "groups (in start order):");
    if c.groups.is_empty() {
        let _ = writeln!(out, "  (none)");
    }
    for g in &c.groups {
        let kind = match &g.kind {
            GroupKind::Program => "program".to_string(),
            GroupKind::Heterogeneous => "group".to_string(),
            GroupKind::EventListener(pool) => {
                format!("eventlistener on {}", pool.events.join(","))
            }
            GroupKind::FastCgi(sock) => format!("fcgi-program on {}", sock.url),
        };
        let _ = writeln!(out, "  {} ({kind}, priority {})", g.name, g.priority);
        for p in &g.processes {
            process_lines(out, p);
        }
    }
    if !c.sockets.is_empty() {
        let _ = writeln!(out, "sockets:");
        for s in &c.sockets {
            let detail = match &s.address {
                ListenAddress::Tcp { .. } => format!("backlog={}", s.backlog),
                ListenAddress::Unix { .. } => format!(
                    "backlog={} mode={:04o}{}",
                    s.backlog,
                    s.mode,
                    s.owner
                        .as_ref()
                        .map(|o| format!(" owner={}", o.spec))
                        .unwrap_or_default()
                ),
            };
            let _ = writeln!(out, "  {} {} {detail}", s.name, s.listen);
        }
    }
}

/// The human report.
fn summary(path: &str, loaded: &Loaded) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "corrald --check -c {path}");
    if let Some(c) = &loaded.config {
        config_lines(&mut out, c);
        if !c.warnings.is_empty() {
            let _ = writeln!(out, "warnings (supervisord would log these):");
            for w in &c.warnings {
                let _ = writeln!(out, "  {w}");
            }
        }
    }
    if !loaded.corral_warnings.is_empty() {
        let _ = writeln!(out, "corral warnings:");
        for w in &loaded.corral_warnings {
            let _ = writeln!(out, "  {w}");
        }
    }
    if loaded.errors.is_empty() {
        let _ = writeln!(out, "OK: corrald would run this configuration");
    } else {
        let _ = writeln!(out, "errors:");
        for e in &loaded.errors {
            let _ = writeln!(out, "  {e}");
        }
        let _ = writeln!(
            out,
            "{} error{}: corrald would refuse this configuration{}",
            loaded.errors.len(),
            if loaded.errors.len() == 1 { "" } else { "s" },
            if loaded.only_host_errors() {
                " on this host (the file itself is fine)"
            } else {
                ""
            }
        );
    }
    out
}
