//! corral's extensions on top of supervisord's format: `[socket:NAME]`, the program keys
//! `sockets=`, `readiness=`, `readiness_timeout=`, `stopdescendants=`, `[supervisord]
//! statefile=`, and the checks supervisord does not make (duplicate process and group
//! names) or could not make (gunicorn's drain time against `stopwaitsecs`). supervisord
//! ignores unknown sections and keys, so a corral config still loads under supervisord.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::datatypes as dt;
use crate::loader::{Failed, Loader, Loc, Meta, str_map};
use crate::model::*;
use crate::pyformat::Expansions;
use crate::{pypath, pystr, shlex};

const LISTEN_FORMS: &str = "tcp://HOST:PORT, tcp://[V6ADDR]:PORT or unix:///absolute/path";
const READINESS_FORMS: &str =
    "startsecs, notify, tcp://HOST:PORT, http://HOST:PORT/PATH or exec:COMMAND";

/// The corral keys of a program section.
pub(crate) const PROGRAM_KEYS: &[&str] = &[
    "sockets",
    "readiness",
    "readiness_timeout",
    "stopdescendants",
];
const SOCKET_KEYS: &[&str] = &[
    "listen",
    "backlog",
    "mode",
    "owner",
    "reuseport",
    "ipv6only",
    "nodelay",
    "keepalive",
];

fn valid_hostname(h: &str) -> bool {
    !h.is_empty()
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        && (h.parse::<Ipv4Addr>().is_ok() || !h.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|&n| n > 0)
}

/// `HOST:PORT` or `[V6]:PORT` → (host without brackets, port).
fn host_port(rest: &str) -> Option<(String, u16)> {
    if let Some(v6) = rest.strip_prefix('[') {
        let (addr, after) = v6.split_once(']')?;
        addr.parse::<Ipv6Addr>().ok()?;
        let port = parse_port(after.strip_prefix(':')?)?;
        return Some((addr.to_string(), port));
    }
    let (host, port) = rest.rsplit_once(':')?;
    if !valid_hostname(host) {
        return None;
    }
    Some((host.to_string(), parse_port(port)?))
}

/// A `[socket:x] listen=` value.
pub fn parse_listen(v: &str) -> Result<ListenAddress, String> {
    let bad = || {
        format!(
            "invalid listen value {}: expected {LISTEN_FORMS}",
            pystr::repr(v)
        )
    };
    if let Some(rest) = v.strip_prefix("tcp://") {
        let (host, port) = host_port(rest).ok_or_else(bad)?;
        return Ok(ListenAddress::Tcp { host, port });
    }
    if let Some(path) = v.strip_prefix("unix://") {
        if !path.starts_with('/') || pypath::normpath(path) == "/" {
            return Err(bad());
        }
        return Ok(ListenAddress::Unix {
            path: pypath::normpath(path),
        });
    }
    Err(bad())
}

/// A `readiness=` value.
pub fn parse_readiness(v: &str) -> Result<Readiness, String> {
    let bad = || {
        format!(
            "invalid readiness value {}: expected {READINESS_FORMS}",
            pystr::repr(v)
        )
    };
    let t = pystr::strip(v);
    match pystr::lower(t).as_str() {
        "startsecs" => return Ok(Readiness::Startsecs),
        "notify" => return Ok(Readiness::Notify),
        _ => {}
    }
    if let Some(rest) = t.strip_prefix("tcp://") {
        let (host, port) = host_port(rest).ok_or_else(bad)?;
        return Ok(Readiness::Tcp { host, port });
    }
    if let Some(rest) = t.strip_prefix("http://") {
        let (hp, _path) = rest.split_once('/').unwrap_or((rest, ""));
        host_port(hp).ok_or_else(bad)?;
        return Ok(Readiness::Http { url: t.to_string() });
    }
    if let Some(cmd) = t.strip_prefix("exec:") {
        let cmd = pystr::strip(cmd);
        if cmd.is_empty() {
            return Err(bad());
        }
        return Ok(Readiness::Exec {
            command: cmd.to_string(),
        });
    }
    Err(bad())
}

/// `[socket:NAME]` sections, in file order.
pub(crate) fn sockets(l: &mut Loader<'_>) -> Vec<SocketConfig> {
    let mut out: Vec<SocketConfig> = Vec::new();
    let names = str_map(&[("here", &l.here), ("host_node_name", &l.node)]);
    for section in l.ini.section_names() {
        if !section.starts_with("socket:") {
            continue;
        }
        let Some(name) = l.section_name(&section) else {
            continue;
        };
        if out.iter().any(|s| s.name == name) {
            let loc = l.section_loc(&section);
            l.error_at(loc, format!("socket name {name} is defined twice"), false);
            continue;
        }
        let listen = match l.get(&section, "listen", None, &names, true) {
            Ok(Some(v)) => v,
            Ok(None) => {
                let loc = l.section_loc(&section);
                l.error_at(
                    Loc {
                        option: Some("listen".into()),
                        ..loc
                    },
                    format!("section [{section}] has no listen value (expected {LISTEN_FORMS})"),
                    false,
                );
                continue;
            }
            Err(Failed) => continue,
        };
        let address = match parse_listen(&listen) {
            Ok(a) => a,
            Err(msg) => {
                let loc = l.loc(&section, "listen");
                l.error_at(loc, msg, false);
                continue;
            }
        };
        let is_unix = matches!(address, ListenAddress::Unix { .. });
        let backlog = l.conv(&section, "backlog", "2048", &names, dt::integer, 2048);
        let backlog = if (1..=65535).contains(&backlog) {
            backlog as u32
        } else {
            let loc = l.loc(&section, "backlog");
            l.error_at(
                loc,
                format!("backlog must be between 1 and 65535, not {backlog}"),
                false,
            );
            2048
        };
        let given = |l: &Loader<'_>, k: &str| l.ini.get(&section, k).is_some();
        let mode = l.conv(&section, "mode", "0660", &names, dt::octal_type, 0o660);
        if given(l, "mode") && !is_unix {
            let loc = l.loc(&section, "mode");
            l.error_at(loc, "mode= applies only to unix:// sockets", false);
        }
        let owner = match l.get(&section, "owner", None, &names, true) {
            Ok(Some(o)) => {
                if !is_unix {
                    let loc = l.loc(&section, "owner");
                    l.error_at(loc, "owner= applies only to unix:// sockets", false);
                }
                match dt::colon_separated_user_group(&o, l.host) {
                    Ok((uid, gid)) => Some(OwnerSpec { spec: o, uid, gid }),
                    Err(e) => {
                        let loc = l.loc(&section, "owner");
                        l.error_at(loc, e.message, e.host_dependent);
                        None
                    }
                }
            }
            _ => None,
        };
        let flag = |l: &mut Loader<'_>, k: &str, ok: bool, why: &str| {
            let v = l.conv(&section, k, "false", &names, dt::boolean, false);
            if v && !ok {
                let loc = l.loc(&section, k);
                l.error_at(loc, format!("{k}= applies only to {why}"), false);
            }
            v
        };
        let is_v6 = matches!(&address, ListenAddress::Tcp { host, .. } if host.contains(':'));
        let reuseport = flag(l, "reuseport", !is_unix, "tcp:// sockets");
        let ipv6only = flag(l, "ipv6only", is_v6, "tcp://[V6ADDR]:PORT sockets");
        let nodelay = flag(l, "nodelay", !is_unix, "tcp:// sockets");
        let keepalive = flag(l, "keepalive", !is_unix, "tcp:// sockets");
        out.push(SocketConfig {
            name,
            listen,
            address,
            backlog,
            mode,
            owner,
            reuseport,
            ipv6only,
            nodelay,
            keepalive,
        });
    }
    out
}

/// The corral keys of one program section.
pub(crate) struct ProgramExtras {
    pub sockets: Vec<String>,
    pub stopdescendants: bool,
    pub readiness_timeout: u64,
}

impl ProgramExtras {
    pub fn read(
        l: &mut Loader<'_>,
        s: &str,
        names: &Expansions,
        is_listener: bool,
        known: &[SocketConfig],
    ) -> Self {
        let stopdescendants = l.conv(s, "stopdescendants", "true", names, dt::boolean, true);
        let readiness_timeout =
            l.conv_unsigned::<u64>(s, "readiness_timeout", "60", names, false, 60);
        let mut sockets = Vec::new();
        if let Ok(Some(v)) = l.get(s, "sockets", None, names, true) {
            let is_fcgi = s.starts_with("fcgi-program:");
            if is_listener || is_fcgi {
                let loc = l.loc(s, "sockets");
                let what = if is_listener {
                    "an eventlistener (its stdin/stdout are the listener protocol)"
                } else {
                    "an fcgi-program (it gets its socket as fd 0)"
                };
                l.error_at(loc, format!("sockets= is not allowed on {what}"), false);
            } else {
                for name in dt::list_of_strings(&v) {
                    let loc = l.loc(s, "sockets");
                    if !known.iter().any(|k| k.name == name) {
                        l.error_at(
                            loc,
                            format!(
                                "sockets= names {name}, but there is no [socket:{name}] section"
                            ),
                            false,
                        );
                    } else if sockets.contains(&name) {
                        l.error_at(loc, format!("sockets= names {name} twice"), false);
                    } else {
                        sockets.push(name);
                    }
                }
            }
        }
        ProgramExtras {
            sockets,
            stopdescendants,
            readiness_timeout,
        }
    }

    /// `readiness=`, read per process (it may use `%(process_num)d`).
    pub fn readiness(&self, l: &mut Loader<'_>, s: &str, names: &Expansions) -> Readiness {
        match l.get(s, "readiness", None, names, true) {
            Ok(Some(v)) => match parse_readiness(&v) {
                Ok(r) => r,
                Err(msg) => {
                    let loc = l.loc(s, "readiness");
                    l.error_at(loc, msg, false);
                    Readiness::Startsecs
                }
            },
            _ => Readiness::Startsecs,
        }
    }
}

/// `[supervisord] statefile=`, default `<pidfile>.state`.
pub(crate) fn statefile(l: &mut Loader<'_>, sup: &SupervisordConfig) -> String {
    let names = l.here_names();
    match l.get("supervisord", "statefile", None, &names, true) {
        Ok(Some(v)) => pypath::normalize_path(&v, l.host, &l.cwd),
        _ => format!("{}.state", sup.pidfile),
    }
}

/// Which ini section defined a group.
fn group_section(l: &Loader<'_>, g: &GroupConfig) -> String {
    match (&g.kind, g.processes.first()) {
        (GroupKind::Heterogeneous, _) => l
            .ini
            .section_names()
            .into_iter()
            .find(|s| {
                s.strip_prefix("group:")
                    .is_some_and(|n| pystr::strip(n) == g.name)
            })
            .unwrap_or_else(|| format!("group:{}", g.name)),
        (_, Some(p)) => p.section.clone(),
        (GroupKind::EventListener(_), None) => format!("eventlistener:{}", g.name),
        (GroupKind::FastCgi(_), None) => format!("fcgi-program:{}", g.name),
        (GroupKind::Program, None) => format!("program:{}", g.name),
    }
}

/// Checks supervisord does not make: it keys groups and processes by name, so a second one
/// with the same name silently disappears (the first group wins, the last process wins).
pub(crate) fn check_groups(l: &mut Loader<'_>, groups: &[GroupConfig]) {
    let mut seen: Vec<(&str, String)> = Vec::new();
    for g in groups {
        let section = group_section(l, g);
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == g.name) {
            let loc = l.section_loc(&section);
            l.error_at(
                loc,
                format!(
                    "group name {} is used by [{first}] and [{section}]; supervisord would \
                     silently run only one of them",
                    g.name
                ),
                false,
            );
        } else {
            seen.push((&g.name, section));
        }
        let mut names: Vec<&str> = Vec::new();
        for p in &g.processes {
            if names.contains(&p.name.as_str()) {
                let loc = l.loc(&p.section, "process_name");
                l.error_at(
                    loc,
                    format!(
                        "process name {} appears twice in group {}; supervisord would silently \
                         run only one of them (give each a distinct process_name, e.g. with \
                         %(process_num)d or %(program_name)s)",
                        p.name, g.name
                    ),
                    false,
                );
            } else {
                names.push(&p.name);
            }
        }
        for p in &g.processes {
            gunicorn_warning(l, p);
        }
    }
}

/// The arguments of a command, with `sh -c "..."` style strings opened up one level.
fn words(command: &str) -> Vec<String> {
    let Ok(argv) = shlex::split(command) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for a in argv {
        if a.chars().any(char::is_whitespace) {
            if let Ok(inner) = shlex::split(&a) {
                out.extend(inner);
                continue;
            }
        }
        out.push(a);
    }
    out
}

/// gunicorn's `--graceful-timeout` from its arguments, if given.
fn graceful_timeout(args: &[String]) -> Option<u64> {
    let mut found = None;
    for (i, a) in args.iter().enumerate() {
        if let Some(v) = a.strip_prefix("--graceful-timeout=") {
            found = v.parse().ok();
        } else if a == "--graceful-timeout" {
            found = args.get(i + 1).and_then(|v| v.parse().ok());
        }
    }
    found
}

/// gunicorn drains on SIGTERM for its graceful timeout (30 s by default); a shorter
/// `stopwaitsecs` means corral kills it mid-drain. (SIGINT and SIGQUIT are gunicorn's quick
/// shutdown, so only TERM drains.)
fn gunicorn_warning(l: &mut Loader<'_>, p: &ProcessConfig) {
    let args = words(&p.command);
    let runs_gunicorn = args.iter().enumerate().any(|(i, a)| {
        let base = a.rsplit('/').next().unwrap_or(a);
        base == "gunicorn"
            || base == "gunicorn3"
            || (a == "-m" && args.get(i + 1).is_some_and(|m| m == "gunicorn"))
    });
    if !runs_gunicorn {
        return;
    }
    // With `sockets=`, Gunicorn finds the sockets through LISTEN_FDS by itself; a
    // `--bind fd://N` for the same fd makes it open that fd twice and fail with EBADF.
    if !p.sockets.is_empty() && args.iter().any(|a| a.contains("fd://")) {
        let loc = l.loc(&p.section, "command");
        l.corral_warning_at(
            &loc,
            &format!(
                "[{}] runs gunicorn with --bind fd://N and sockets=: gunicorn also takes \
                 the sockets from LISTEN_FDS, opens the fd twice and fails (Bad file \
                 descriptor); drop --bind, gunicorn serves on the sockets it is given",
                p.section
            ),
        );
    }
    if p.stopsignal != libc::SIGTERM {
        return;
    }
    let env_args = p
        .environment
        .get("GUNICORN_CMD_ARGS")
        .map(|v| words(v))
        .unwrap_or_default();
    let (timeout, source) = match graceful_timeout(&args).or_else(|| graceful_timeout(&env_args)) {
        Some(t) => (t, "its --graceful-timeout"),
        None => (30, "gunicorn's default --graceful-timeout"),
    };
    if p.stopwaitsecs >= timeout {
        return;
    }
    let loc = l.loc(&p.section, "stopwaitsecs");
    let suggest = timeout + 5;
    l.corral_warning_at(
        &loc,
        &format!(
            "[{}] runs gunicorn, which drains in-flight requests for up to {timeout} s after \
             SIGTERM ({source}), but stopwaitsecs={}: corral would SIGKILL gunicorn mid-drain; \
             set stopwaitsecs={suggest} (the graceful timeout plus a margin)",
            p.section, p.stopwaitsecs
        ),
    );
}

const PROGRAM_SUPERVISOR_KEYS: &[&str] = &[
    "command",
    "process_name",
    "numprocs",
    "numprocs_start",
    "priority",
    "autostart",
    "autorestart",
    "startsecs",
    "startretries",
    "exitcodes",
    "stopsignal",
    "stopwaitsecs",
    "stopasgroup",
    "killasgroup",
    "user",
    "redirect_stderr",
    "directory",
    "umask",
    "environment",
    "serverurl",
    "stdout_logfile",
    "stdout_logfile_maxbytes",
    "stdout_logfile_backups",
    "stdout_capture_maxbytes",
    "stdout_events_enabled",
    "stdout_syslog",
    "stderr_logfile",
    "stderr_logfile_maxbytes",
    "stderr_logfile_backups",
    "stderr_capture_maxbytes",
    "stderr_events_enabled",
    "stderr_syslog",
];

/// The keys supervisord reads in each kind of section (`None`: every key is used).
fn known_keys(kind: &str) -> Option<Vec<&'static str>> {
    let mut v: Vec<&'static str> = match kind {
        "supervisord" => vec![
            "logfile",
            "logfile_maxbytes",
            "logfile_backups",
            "loglevel",
            "pidfile",
            "nodaemon",
            "silent",
            "minfds",
            "minprocs",
            "umask",
            "user",
            "directory",
            "identifier",
            "childlogdir",
            "nocleanup",
            "strip_ansi",
            "environment",
        ],
        "unix_http_server" => vec!["file", "chmod", "chown", "username", "password"],
        "inet_http_server" => vec!["port", "username", "password"],
        "include" => vec!["files"],
        "group" => vec!["programs", "priority"],
        "program" => PROGRAM_SUPERVISOR_KEYS.to_vec(),
        "eventlistener" => PROGRAM_SUPERVISOR_KEYS.to_vec(),
        "fcgi-program" => PROGRAM_SUPERVISOR_KEYS.to_vec(),
        _ => return None,
    };
    match kind {
        "eventlistener" => v.extend(["events", "buffer_size", "result_handler"]),
        "fcgi-program" => v.extend(["socket", "socket_owner", "socket_mode", "socket_backlog"]),
        _ => {}
    }
    Some(v)
}

/// The conformance view's `section_kind`.
fn section_kind(name: &str) -> Option<&str> {
    for prefix in ["unix_http_server", "inet_http_server"] {
        if name == prefix || name.starts_with(&format!("{prefix}:")) {
            return Some(prefix);
        }
    }
    if name == "supervisord" || name == "include" {
        return Some(name);
    }
    let (head, _) = name.split_once(':')?;
    [
        "program",
        "group",
        "eventlistener",
        "fcgi-program",
        "rpcinterface",
    ]
    .into_iter()
    .find(|k| *k == head)
}

/// What supervisord drops silently (for the view), and corral's warnings about it.
pub(crate) fn meta_and_warnings(l: &mut Loader<'_>) -> Meta {
    let mut meta = Meta::default();
    // (file, line, message): collected while the ini is borrowed, then recorded.
    let mut warnings: Vec<(String, usize, String)> = Vec::new();
    for section in l.ini.sections() {
        let name = section.name.as_str();
        let Some(kind) = section_kind(name) else {
            meta.sections_ignored.push(name.to_string());
            let corral_reads = name.starts_with("socket:");
            let ctl = name == "supervisorctl" || name.starts_with("ctlplugin:");
            if !corral_reads && !ctl {
                let lower = pystr::lower(name);
                let hint = if section_kind(&lower).is_some() || lower.starts_with("socket:") {
                    " (section names are case-sensitive)"
                } else {
                    ""
                };
                warnings.push((
                    section.file.clone(),
                    section.line,
                    format!("[{name}] is not a section supervisord or corral reads; ignored{hint}"),
                ));
            }
            continue;
        };
        let Some(known) = known_keys(kind) else {
            continue;
        };
        let extra: Vec<String> = l
            .ini
            .options(name)
            .iter()
            .map(|o| o.key.clone())
            .filter(|k| !known.contains(&k.as_str()))
            .collect();
        let corral_keys: &[&str] = match kind {
            "program" | "eventlistener" | "fcgi-program" => PROGRAM_KEYS,
            "supervisord" => &["statefile"],
            _ => &[],
        };
        for k in &extra {
            if corral_keys.contains(&k.as_str()) {
                continue;
            }
            if let Some(o) = l.ini.get(name, k) {
                warnings.push((
                    o.file.clone(),
                    o.line,
                    format!("[{name}] {k}: unknown option, ignored (supervisord ignores it too)"),
                ));
            }
        }
        if !extra.is_empty() {
            let mut sorted = extra;
            sorted.sort();
            meta.options_ignored.insert(name.to_string(), sorted);
        }
    }
    for section in l.ini.sections() {
        if section.name.starts_with("socket:") {
            for o in l.ini.options(&section.name) {
                if !SOCKET_KEYS.contains(&o.key.as_str()) {
                    warnings.push((
                        o.file.clone(),
                        o.line,
                        format!("[{}] {}: unknown option, ignored", section.name, o.key),
                    ));
                }
            }
        }
    }
    for cut in l.ini.cut_quotes() {
        // Only the assignment that won counts (a later duplicate replaces the value).
        let wins = l
            .ini
            .get(&cut.section, &cut.key)
            .is_some_and(|o| o.file == cut.file && o.line <= cut.line);
        if wins {
            warnings.push((
                cut.file.clone(),
                cut.line,
                format!(
                    "[{}] {}: an inline comment cuts a quoted value: `{}` is dropped \
                     (supervisord drops it too; remove the whitespace before the '{}')",
                    cut.section,
                    cut.key,
                    cut.dropped,
                    cut.dropped.chars().next().unwrap_or(';')
                ),
            ));
        }
    }
    for (file, line, message) in warnings {
        l.corral_warning(&file, line, &message);
    }
    meta
}

/// The corral-only part of the view: sockets and per-process extensions.
pub(crate) fn view(config: &Config) -> serde_json::Value {
    use serde_json::json;
    let sockets: Vec<_> = config
        .sockets
        .iter()
        .map(|s| {
            let (kind, host, port, path) = match &s.address {
                ListenAddress::Tcp { host, port } => ("tcp", Some(host.clone()), Some(*port), None),
                ListenAddress::Unix { path } => ("unix", None, None, Some(path.clone())),
            };
            json!({
                "name": s.name, "listen": s.listen, "kind": kind, "host": host, "port": port,
                "path": path, "backlog": s.backlog, "mode": format!("{:04o}", s.mode),
                "owner": s.owner.as_ref().map(|o| o.spec.clone()), "reuseport": s.reuseport,
                "ipv6only": s.ipv6only, "nodelay": s.nodelay, "keepalive": s.keepalive,
            })
        })
        .collect();
    let mut processes = BTreeMap::new();
    for p in config.processes() {
        let readiness = match &p.readiness {
            Readiness::Startsecs => json!("startsecs"),
            Readiness::Notify => json!("notify"),
            Readiness::Tcp { host, port } => json!({"tcp": {"host": host, "port": port}}),
            Readiness::Http { url } => json!({"http": url}),
            Readiness::Exec { command } => json!({"exec": command}),
        };
        processes.insert(
            p.namespec(),
            json!({
                "stopdescendants": p.stopdescendants,
                "sockets": p.sockets,
                "readiness": readiness,
                "readiness_timeout": p.readiness_timeout,
            }),
        );
    }
    json!({
        "statefile": config.supervisord.statefile,
        "sockets": sockets,
        "processes": processes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen("tcp://127.0.0.1:8000"),
            Ok(ListenAddress::Tcp {
                host: "127.0.0.1".into(),
                port: 8000
            })
        );
        assert_eq!(
            parse_listen("tcp://[::1]:80"),
            Ok(ListenAddress::Tcp {
                host: "::1".into(),
                port: 80
            })
        );
        assert_eq!(
            parse_listen("unix:///run/app.sock"),
            Ok(ListenAddress::Unix {
                path: "/run/app.sock".into()
            })
        );
        for bad in [
            "tcp://:80",
            "tcp://h:0",
            "tcp://h:99999",
            "tcp://::1:80",
            "tcp://[zz]:80",
            "unix://rel.sock",
            "udp://h:1",
            "127.0.0.1:80",
            "tcp://999.1.1.1:80",
        ] {
            let e = parse_listen(bad).unwrap_err();
            assert!(e.contains(LISTEN_FORMS), "{bad}: {e}");
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn readiness_forms() {
        assert_eq!(parse_readiness("notify"), Ok(Readiness::Notify));
        assert_eq!(
            parse_readiness("tcp://localhost:8000"),
            Ok(Readiness::Tcp {
                host: "localhost".into(),
                port: 8000
            })
        );
        assert_eq!(
            parse_readiness("http://127.0.0.1:8000/healthz"),
            Ok(Readiness::Http {
                url: "http://127.0.0.1:8000/healthz".into()
            })
        );
        assert_eq!(
            parse_readiness("exec: pg_isready -q"),
            Ok(Readiness::Exec {
                command: "pg_isready -q".into()
            })
        );
        assert!(parse_readiness("exec:").is_err());
        assert!(parse_readiness("http://nohost/").is_err());
        assert!(parse_readiness("maybe").is_err());
    }

    #[test]
    fn gunicorn_timeouts() {
        let w = words("bash -c \"exec gunicorn --graceful-timeout 90 app:app\"");
        assert_eq!(graceful_timeout(&w), Some(90));
        assert_eq!(
            graceful_timeout(&words("gunicorn --graceful-timeout=12 x")),
            Some(12)
        );
        assert_eq!(graceful_timeout(&words("gunicorn x")), None);
    }
}
