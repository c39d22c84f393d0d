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
    // corral: environment files are read at every spawn; here, whether they read now.
    if let Some(c) = &loaded.config {
        let problems = corral_config::check_environment_files(c, &RealHost);
        loaded.errors.extend(problems);
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
        p.autostart,
        p.startsecs,
        if p.startretries == corral_config::STARTRETRIES_INFINITE {
            "infinite".to_string()
        } else {
            p.startretries.to_string()
        },
        p.priority
    );
    let stop = if p.stopsequence.is_empty() {
        format!(
            "stopsignal={} stopwaitsecs={}",
            signals::name(p.stopsignal).trim_start_matches("SIG"),
            p.stopwaitsecs
        )
    } else {
        let steps: Vec<String> = p
            .stopsequence
            .iter()
            .map(|s| {
                format!(
                    "{}/{}",
                    signals::name(s.signal).trim_start_matches("SIG"),
                    s.wait
                )
            })
            .collect();
        format!("stopsequence={}, then KILL", steps.join(", "))
    };
    let _ = writeln!(
        out,
        "      {stop} stopasgroup={} killasgroup={} stopdescendants={}",
        p.stopasgroup, p.killasgroup, p.stopdescendants
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
    if !p.depends_on.is_empty() {
        let deps: Vec<String> = p
            .depends_on
            .iter()
            .map(|d| format!("{} ({})", d.program, d.condition.word()))
            .collect();
        let _ = writeln!(out, "      depends_on: {}", deps.join(", "));
    }
    if !p.environment_files.is_empty() {
        let files: Vec<String> = p
            .environment_files
            .iter()
            .map(|f| {
                if f.optional {
                    format!("{} (optional)", f.path)
                } else {
                    f.path.clone()
                }
            })
            .collect();
        let _ = writeln!(out, "      environment_file: {}", files.join(", "));
    }
    if let Some(r) = readiness {
        let _ = writeln!(
            out,
            "      readiness={r} (timeout {} s)",
            p.readiness_timeout
        );
    }
    liveness_lines(out, &p.liveness);
}

/// corral's liveness options, when any is set.
fn liveness_lines(out: &mut String, lv: &corral_config::Liveness) {
    let s = |d: std::time::Duration| format!("{} s", d.as_secs_f64());
    if let Some(h) = &lv.healthcheck {
        let _ = writeln!(
            out,
            "      healthcheck={} (interval {}, timeout {}, retries {}, start period {})",
            h.probe.label(),
            s(h.interval),
            s(h.timeout),
            h.retries,
            s(h.start_period)
        );
    }
    let mut parts = Vec::new();
    if let Some(w) = lv.watchdogsecs {
        parts.push(format!("watchdogsecs={}", w.as_secs_f64()));
    }
    if let Some(m) = lv.max_memory {
        parts.push(format!("max_memory={m} bytes"));
    }
    if let Some(l) = lv.max_lifetime {
        parts.push(format!(
            "max_lifetime={} (+ up to {} jitter)",
            s(l),
            s(lv.max_lifetime_jitter)
        ));
    }
    if let Some(b) = lv.backoff_max {
        parts.push(format!("backoff_max={}", s(b)));
    }
    if !parts.is_empty() {
        let _ = writeln!(out, "      {}", parts.join(" "));
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
            "  [{}] unix://{} chmod={:04o}{}",
            u.section,
            u.file,
            u.chmod,
            users(u.username.as_deref(), u.readonly_username.as_deref())
        );
    }
    for i in &c.inet_http_servers {
        let host = if i.host.is_empty() { "*" } else { &i.host };
        let _ = writeln!(
            out,
            "  [{}] http://{host}:{}{}",
            i.section,
            i.port,
            users(i.username.as_deref(), i.readonly_username.as_deref())
        );
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
    let graph = corral_config::deps::Graph::of(c);
    if !graph.is_trivial() {
        // corral: what depends_on= makes of the order.
        let _ = writeln!(out, "start order (depends_on, then priority):");
        for (i, name) in graph.start_order().iter().enumerate() {
            let deps: Vec<String> = graph
                .depends_on(name)
                .iter()
                .map(|d| format!("{} ({})", d.program, d.condition.word()))
                .collect();
            let after = if deps.is_empty() {
                String::new()
            } else {
                format!(" after {}", deps.join(", "))
            };
            let _ = writeln!(out, "  {}. {name}{after}", i + 1);
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
                ListenAddress::Systemd { .. } => "passed by systemd (LISTEN_FDS)".to_string(),
            };
            let _ = writeln!(out, "  {} {} {detail}", s.name, s.listen);
        }
    }
}

/// How many file descriptors corrald needs to run a configuration, planned from it (not
/// discovered when a spawn fails).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdNeed {
    /// Processes in the configuration.
    pub processes: u64,
    /// What those processes hold in corrald: their pipe ends, log files, notify sockets.
    pub for_processes: u64,
    /// corrald's own: standard streams, main log, event loop, state file, the 65 low
    /// descriptors reserved for spawning (sys/spawn.rs), HTTP servers, listening sockets,
    /// and room for connections and the spawns, probes and rolling replacements in
    /// progress.
    pub own: u64,
}

/// corrald's own descriptors besides servers and sockets (about 80 when idle, 65 of them
/// the spawn slots), with room for connections and work in progress.
const OWN_FDS: u64 = 128;

impl FdNeed {
    pub fn total(&self) -> u64 {
        self.for_processes + self.own
    }

    /// The warning when the hard limit `hard` cannot hold them.
    pub fn shortage(&self, hard: u64) -> Option<String> {
        let total = self.total();
        (hard != libc::RLIM_INFINITY && total > hard).then(|| {
            format!(
                "this configuration needs about {total} file descriptors but the hard limit \
                 (RLIMIT_NOFILE) is {hard}: processes beyond the limit will fail to spawn \
                 with 'too many open files'. Raise the hard limit before corrald starts: \
                 `ulimit -Hn {total}` in the shell that starts it (as root), or \
                 `LimitNOFILE={total}` in its systemd unit"
            )
        })
    }
}

/// The descriptors one process holds in corrald while it runs.
fn process_fds(p: &ProcessConfig) -> u64 {
    let separate_stderr = !p.redirect_stderr || p.is_listener;
    let logs = [&p.stdout, &p.stderr]
        .iter()
        .filter(|c| !matches!(c.logfile, LogFile::None))
        .count() as u64;
    // stdin's write end, stdout's read end, stderr's if it has its own pipe, the log
    // files, the sd_notify socket.
    2 + u64::from(separate_stderr) + logs + u64::from(matches!(p.readiness, Readiness::Notify))
}

/// The descriptors `c` needs (see [`FdNeed`]).
pub fn fd_need(c: &Config) -> FdNeed {
    let procs = c.groups.iter().flat_map(|g| g.processes.iter());
    let fcgi = c
        .groups
        .iter()
        .filter(|g| matches!(g.kind, GroupKind::FastCgi(_)))
        .count();
    FdNeed {
        processes: procs.clone().count() as u64,
        for_processes: procs.map(process_fds).sum(),
        own: OWN_FDS
            + (c.unix_http_servers.len() + c.inet_http_servers.len() + c.sockets.len() + fcgi)
                as u64,
    }
}

/// A limit as a number ("unlimited" for RLIM_INFINITY).
pub fn limit_text(n: u64) -> String {
    if n == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        n.to_string()
    }
}

/// The descriptor figure of the report, and the warning if the hard limit is too low.
fn fd_lines(out: &mut String, c: &Config) {
    let need = fd_need(c);
    let (soft, hard) = crate::sys::getrlimit(libc::RLIMIT_NOFILE).unwrap_or((0, 0));
    let _ = writeln!(
        out,
        "file descriptors: about {} needed ({} for {} processes, {} for corrald itself); \
         limit here: {} (soft {}; corrald raises its own to the hard limit)",
        need.total(),
        need.for_processes,
        need.processes,
        need.own,
        limit_text(hard),
        limit_text(soft),
    );
    if let Some(w) = need.shortage(hard) {
        let _ = writeln!(out, "  warning: {w}");
    }
}

/// The human report.
/// Who may use a server: its users, and who may only look.
fn users(full: Option<&str>, readonly: Option<&str>) -> String {
    match (full, readonly) {
        (None, _) => " (no credentials: anyone who connects)".to_string(),
        (Some(f), None) => format!(" (user {f:?})"),
        (Some(f), Some(r)) => format!(" (user {f:?}; read-only user {r:?})"),
    }
}

fn summary(path: &str, loaded: &Loaded) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "corrald --check -c {path}");
    if let Some(c) = &loaded.config {
        config_lines(&mut out, c);
        fd_lines(&mut out, c);
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
