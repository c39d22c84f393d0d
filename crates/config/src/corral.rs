//! corral's extensions on top of supervisord's format: `[socket:NAME]`, the program keys
//! `sockets=`, `readiness=`, `readiness_timeout=`, `stopdescendants=`, `shutdown_on_exit=`,
//! the liveness keys (`healthcheck*`, `watchdogsecs`, `max_memory`, `max_lifetime*`,
//! `backoff_max`, `startretries=infinite`), `stopsequence=`, `depends_on=`,
//! `environment_file=`, `[supervisord] statefile=`, `init=`, `shutdown_timeout=`,
//! `forward_output=`, and the checks supervisord does not make (duplicate process and group
//! names) or could not make (gunicorn's drain time against `stopwaitsecs`). supervisord
//! ignores unknown sections and keys, so a corral config still loads under supervisord.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use crate::ConfigError;
use crate::datatypes::{self as dt, DtError, DtResult};
use crate::loader::{Failed, Loader, Loc, Meta, str_map};
use crate::model::*;
use crate::pyformat::Expansions;
use crate::{pypath, pystr, shlex};

const LISTEN_FORMS: &str =
    "tcp://HOST:PORT, tcp://[V6ADDR]:PORT, unix:///absolute/path or systemd:NAME";
const READINESS_FORMS: &str =
    "startsecs, notify, tcp://HOST:PORT, http://HOST:PORT/PATH or exec:COMMAND";
const HEALTHCHECK_FORMS: &str = "http://HOST:PORT/PATH, tcp://HOST:PORT or exec:COMMAND";

/// The corral keys of a program section.
pub(crate) const PROGRAM_KEYS: &[&str] = &[
    "sockets",
    "readiness",
    "readiness_timeout",
    "stopdescendants",
    "healthcheck",
    "healthcheck_interval",
    "healthcheck_timeout",
    "healthcheck_retries",
    "healthcheck_start_period",
    "watchdogsecs",
    "max_memory",
    "max_lifetime",
    "max_lifetime_jitter",
    "backoff_max",
    "stopsequence",
    "depends_on",
    "environment_file",
    "shutdown_on_exit",
];
/// The `healthcheck_*` timing keys (they mean nothing without `healthcheck=`).
const HEALTHCHECK_TIMING_KEYS: &[&str] = &[
    "healthcheck_interval",
    "healthcheck_timeout",
    "healthcheck_retries",
    "healthcheck_start_period",
];
/// The corral keys of `[supervisord]`.
const SUPERVISORD_KEYS: &[&str] = &[
    "statefile",
    "environment_file",
    "init",
    "shutdown_timeout",
    "forward_output",
];
/// The corral keys of `[unix_http_server]` and `[inet_http_server]`.
pub(crate) const SERVER_KEYS: &[&str] = &["readonly_username", "readonly_password"];

/// `readonly_username` / `readonly_password` of an HTTP server section: a second user who
/// sees everything and may do nothing. Both or neither; only beside `username` (without
/// it every client may do everything); a name of its own.
pub(crate) fn readonly_credentials(
    l: &mut Loader<'_>,
    section: &str,
    username: Option<&str>,
) -> (Option<String>, Option<String>) {
    let empty = Expansions::new();
    let user = l
        .get(section, "readonly_username", None, &empty, true)
        .ok()
        .flatten();
    let password = l
        .get(section, "readonly_password", None, &empty, true)
        .ok()
        .flatten();
    let (key, problem) = match (&user, &password, username) {
        (None, None, _) => return (None, None),
        (Some(_), None, _) => (
            "readonly_username",
            "readonly_username needs readonly_password too".to_string(),
        ),
        (None, Some(_), _) => (
            "readonly_password",
            "readonly_password needs readonly_username too".to_string(),
        ),
        (Some(_), Some(_), None) => (
            "readonly_username",
            "a read-only user needs username= and password= as well: without them every \
             client may do everything"
                .to_string(),
        ),
        (Some(ro), Some(_), Some(full)) if ro == full => (
            "readonly_username",
            format!("readonly_username {ro:?} is also the username: give it a name of its own"),
        ),
        (Some(_), Some(_), Some(_)) => return (user, password),
    };
    let loc = l.loc(section, key);
    l.error_at(loc, problem, false);
    (None, None)
}

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
    if let Some(name) = v.strip_prefix("systemd:") {
        // systemd's rule for FileDescriptorName=: at most 255 printable ASCII characters,
        // no colon (LISTEN_FDNAMES is colon-separated).
        let valid = !name.is_empty()
            && name.len() <= 255
            && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
        if !valid {
            return Err(bad());
        }
        return Ok(ListenAddress::Systemd {
            name: name.to_string(),
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

/// A `healthcheck=` value: the forms `readiness=` takes, except `startsecs` and `notify`.
pub fn parse_healthcheck(v: &str) -> Result<Readiness, String> {
    let bad = |hint: &str| {
        format!(
            "invalid healthcheck value {}: expected {HEALTHCHECK_FORMS}{hint}",
            pystr::repr(v)
        )
    };
    match parse_readiness(v) {
        Ok(Readiness::Notify) => Err(bad(
            " (for a process that reports its own health over NOTIFY_SOCKET, use watchdogsecs=)",
        )),
        Ok(Readiness::Startsecs) => Err(bad("")),
        Ok(r) => Ok(r),
        Err(_) => Err(bad("")),
    }
}

/// A number of seconds, fractions allowed (`10`, `0.5`). `positive`: zero is refused.
pub fn seconds(v: &str, positive: bool) -> DtResult<Duration> {
    let t = pystr::strip(v);
    let well_formed = t.chars().any(|c| c.is_ascii_digit())
        && t.chars().all(|c| c.is_ascii_digit() || c == '.')
        && t.matches('.').count() <= 1;
    let secs = well_formed
        .then(|| t.parse::<f64>().ok())
        .flatten()
        .ok_or_else(|| {
            DtError::new(format!(
                "{} is not a number of seconds (e.g. 10 or 0.5)",
                pystr::repr(v)
            ))
        })?;
    // A year: anything longer is a mistake (and would overflow deadlines).
    if secs > 31_536_000.0 {
        return Err(DtError::new(format!(
            "{t} seconds is too long (at most a year)"
        )));
    }
    if positive && secs <= 0.0 {
        return Err(DtError::new(format!(
            "must be more than 0 seconds, not {t}"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// `startretries=`: supervisord's integer, or corral's `infinite`.
pub(crate) fn startretries(l: &mut Loader<'_>, s: &str, names: &Expansions) -> u64 {
    let infinite = matches!(
        l.get(s, "startretries", None, names, true),
        Ok(Some(v)) if pystr::lower(pystr::strip(&v)) == "infinite"
    );
    if infinite {
        return STARTRETRIES_INFINITE;
    }
    l.conv_unsigned::<u64>(s, "startretries", "3", names, false, 3)
}

const STOPSEQUENCE_FORMS: &str = "SIGNAL/SECONDS, ... (e.g. TERM/20, INT/5)";

/// A `stopsequence=` value: `TERM/20, INT/5`.
pub fn parse_stopsequence(v: &str) -> Result<Vec<StopStepConfig>, String> {
    if pystr::strip(v).is_empty() {
        return Err(format!(
            "stopsequence is empty (expected {STOPSEQUENCE_FORMS})"
        ));
    }
    v.split(',')
        .map(|entry| {
            let entry = pystr::strip(entry);
            let bad = |why: String| {
                format!(
                    "invalid stopsequence entry {}: {why} (expected {STOPSEQUENCE_FORMS})",
                    pystr::repr(entry)
                )
            };
            let Some((sig, wait)) = entry.split_once('/') else {
                return Err(bad("no /SECONDS".into()));
            };
            let signal = dt::signal_number(pystr::strip(sig)).map_err(|e| bad(e.message))?;
            let wait = match pystr::int(wait) {
                Ok(w) if w >= 0 => w as u64,
                Ok(w) => return Err(bad(format!("{w} seconds is negative"))),
                Err(e) => return Err(bad(e)),
            };
            Ok(StopStepConfig { signal, wait })
        })
        .collect()
}

/// An `environment_file=` value: comma-separated absolute paths, `-` before a file that
/// may be missing.
pub fn parse_environment_files(v: &str) -> Result<Vec<EnvFile>, String> {
    let mut out = Vec::new();
    for entry in v.split(',') {
        let entry = pystr::strip(entry);
        if entry.is_empty() {
            continue;
        }
        let (optional, path) = match entry.strip_prefix('-') {
            Some(rest) => (true, pystr::strip(rest)),
            None => (false, entry),
        };
        if !path.starts_with('/') {
            return Err(format!(
                "environment_file {} is not an absolute path (use %(here)s/{} for a file \
                 beside the configuration)",
                pystr::repr(path),
                path
            ));
        }
        out.push(EnvFile {
            path: pypath::normpath(path),
            optional,
        });
    }
    Ok(out)
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
        if matches!(address, ListenAddress::Systemd { .. }) {
            // systemd bound it: its options are the socket unit's (Backlog=, SocketMode=…).
            for k in SOCKET_KEYS.iter().filter(|k| **k != "listen") {
                if l.ini.get(&section, k).is_some() {
                    let loc = l.loc(&section, k);
                    l.error_at(
                        loc,
                        format!(
                            "{k}= does not apply to a socket systemd passes (listen=systemd:NAME): \
                             set it in the socket unit"
                        ),
                        false,
                    );
                }
            }
        }
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
    /// Everything but the check itself, which is read per process.
    pub liveness: Liveness,
    /// `healthcheck_*`: (interval, timeout, retries, start_period).
    health_timing: (Duration, Duration, u32, Duration),
    pub stopsequence: Vec<StopStepConfig>,
    pub depends_on: Vec<Dependency>,
    pub shutdown_on_exit: bool,
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
        let shutdown_on_exit = l.conv(s, "shutdown_on_exit", "false", names, dt::boolean, false);
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
        let (liveness, health_timing) = liveness(l, s, names);
        let stopsequence = Self::stopsequence(l, s, names);
        let depends_on = match l.get(s, "depends_on", None, names, true) {
            Ok(Some(v)) => match crate::deps::parse_depends_on(&v) {
                Ok(d) => d,
                Err(msg) => {
                    let loc = l.loc(s, "depends_on");
                    l.error_at(loc, msg, false);
                    Vec::new()
                }
            },
            _ => Vec::new(),
        };
        ProgramExtras {
            sockets,
            stopdescendants,
            readiness_timeout,
            liveness,
            health_timing,
            stopsequence,
            depends_on,
            shutdown_on_exit,
        }
    }

    /// `healthcheck=`, read per process (`%(process_num)d` gives each its own port), with
    /// the section's timing.
    pub fn healthcheck(
        &self,
        l: &mut Loader<'_>,
        s: &str,
        names: &Expansions,
    ) -> Option<HealthCheck> {
        let v = l.get(s, "healthcheck", None, names, true).ok().flatten()?;
        match parse_healthcheck(&v) {
            Ok(probe) => {
                let (interval, timeout, retries, start_period) = self.health_timing;
                Some(HealthCheck {
                    probe,
                    interval,
                    timeout,
                    retries,
                    start_period,
                })
            }
            Err(msg) => {
                let loc = l.loc(s, "healthcheck");
                l.error_at(loc, msg, false);
                None
            }
        }
    }

    /// `stopsequence=`; a warning when `stopsignal=` or `stopwaitsecs=` is also given
    /// (the sequence replaces them).
    fn stopsequence(l: &mut Loader<'_>, s: &str, names: &Expansions) -> Vec<StopStepConfig> {
        let Ok(Some(v)) = l.get(s, "stopsequence", None, names, true) else {
            return Vec::new();
        };
        let steps = match parse_stopsequence(&v) {
            Ok(steps) => steps,
            Err(msg) => {
                let loc = l.loc(s, "stopsequence");
                l.error_at(loc, msg, false);
                return Vec::new();
            }
        };
        for k in ["stopsignal", "stopwaitsecs"] {
            if l.ini.get(s, k).is_some() {
                let loc = l.loc(s, k);
                l.corral_warning_at(
                    &loc,
                    &format!(
                        "[{s}] {k}= is ignored: stopsequence= replaces stopsignal= and \
                         stopwaitsecs= (corral; supervisord, which ignores stopsequence=, \
                         uses {k}=)"
                    ),
                );
            }
        }
        steps
    }

    /// `environment_file=`, read per process (it may use `%(process_num)d`).
    pub fn environment_files(
        &self,
        l: &mut Loader<'_>,
        s: &str,
        names: &Expansions,
    ) -> Vec<EnvFile> {
        environment_files(l, s, names)
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

/// The liveness keys of a program section but `healthcheck=` itself, and the
/// `healthcheck_*` timing; each value checked, with a warning for a key that means nothing
/// without another one.
fn liveness(
    l: &mut Loader<'_>,
    s: &str,
    names: &Expansions,
) -> (Liveness, (Duration, Duration, u32, Duration)) {
    let secs = |l: &mut Loader<'_>, key: &str, default: &str, positive: bool| {
        let fallback = seconds(default, false).unwrap_or_default();
        l.conv(s, key, default, names, |v| seconds(v, positive), fallback)
    };
    let optional = |l: &mut Loader<'_>, key: &str| {
        l.ini
            .get(s, key)
            .is_some()
            .then(|| secs(l, key, "0", true))
            .filter(|d| !d.is_zero())
    };
    let interval = secs(l, "healthcheck_interval", "10", true);
    let timeout = secs(l, "healthcheck_timeout", "5", true);
    let retries = l.conv(s, "healthcheck_retries", "3", names, retries, 3);
    let start_period = secs(l, "healthcheck_start_period", "0", false);
    let watchdogsecs = optional(l, "watchdogsecs");
    let max_lifetime = optional(l, "max_lifetime");
    let max_lifetime_jitter = secs(l, "max_lifetime_jitter", "0", false);
    let backoff_max = optional(l, "backoff_max");
    let max_memory = if l.ini.get(s, "max_memory").is_some() {
        l.conv(s, "max_memory", "0", names, memory_size, None)
    } else {
        None
    };
    let given = |l: &Loader<'_>, k: &str| l.ini.get(s, k).is_some();
    if !given(l, "healthcheck") {
        for key in HEALTHCHECK_TIMING_KEYS {
            if given(l, key) {
                let loc = l.loc(s, key);
                l.corral_warning_at(
                    &loc,
                    &format!("[{s}] {key} has no effect without healthcheck="),
                );
            }
        }
    }
    if given(l, "max_lifetime_jitter") && !given(l, "max_lifetime") {
        let loc = l.loc(s, "max_lifetime_jitter");
        l.corral_warning_at(
            &loc,
            &format!("[{s}] max_lifetime_jitter has no effect without max_lifetime="),
        );
    }
    (
        Liveness {
            healthcheck: None,
            watchdogsecs,
            max_memory,
            max_lifetime,
            max_lifetime_jitter,
            backoff_max,
        },
        (interval, timeout, retries, start_period),
    )
}

/// `healthcheck_retries=`: at least 1.
fn retries(v: &str) -> DtResult<u32> {
    let n = dt::integer(v)?;
    u32::try_from(n)
        .ok()
        .filter(|n| *n >= 1)
        .ok_or_else(|| DtError::new(format!("must be a whole number from 1 up, not {n}")))
}

/// `max_memory=`: supervisord's byte sizes (`512MB`), more than 0.
fn memory_size(v: &str) -> DtResult<Option<u64>> {
    let n = dt::byte_size(v)?;
    if n <= 0 {
        return Err(DtError::new(format!(
            "must be more than 0 bytes (e.g. 512MB), not {n}"
        )));
    }
    Ok(u64::try_from(n).ok())
}

/// `environment_file=` of section `s`.
fn environment_files(l: &mut Loader<'_>, s: &str, names: &Expansions) -> Vec<EnvFile> {
    match l.get(s, "environment_file", None, names, true) {
        Ok(Some(v)) => match parse_environment_files(&v) {
            Ok(files) => files,
            Err(msg) => {
                let loc = l.loc(s, "environment_file");
                l.error_at(loc, msg, false);
                Vec::new()
            }
        },
        _ => Vec::new(),
    }
}

/// `[supervisord] environment_file=`, which every program reads first.
pub(crate) fn supervisord_environment_files(l: &mut Loader<'_>) -> Vec<EnvFile> {
    let mut names = l.here_names();
    names.extend(l.environ.clone());
    environment_files(l, "supervisord", &names)
}

/// Each process reads `[supervisord]`'s environment files before its own.
pub(crate) fn inherit_environment_files(sup: &SupervisordConfig, groups: &mut [GroupConfig]) {
    if sup.environment_files.is_empty() {
        return;
    }
    for p in groups.iter_mut().flat_map(|g| g.processes.iter_mut()) {
        let mut files = sup.environment_files.clone();
        files.append(&mut p.environment_files);
        p.environment_files = files;
    }
}

/// `depends_on=`: every name is a program, and there is no cycle.
pub(crate) fn check_dependencies(l: &mut Loader<'_>, groups: &[GroupConfig]) {
    let sections = l.ini.section_names();
    let kinds = ["program", "fcgi-program", "eventlistener"];
    let mut checked: Vec<&str> = Vec::new();
    for p in groups.iter().flat_map(|g| g.processes.iter()) {
        if p.depends_on.is_empty() || checked.contains(&&*p.section) {
            continue;
        }
        checked.push(&p.section);
        for d in &p.depends_on {
            let found: Vec<&String> = sections
                .iter()
                .filter(|s| {
                    s.split_once(':')
                        .is_some_and(|(k, n)| kinds.contains(&k) && pystr::strip(n) == d.program)
                })
                .collect();
            let problem = match found.len() {
                0 => format!(
                    "depends_on names {}, but there is no [program:{}] (nor fcgi-program or \
                     eventlistener of that name)",
                    d.program, d.program
                ),
                1 => continue,
                _ => format!(
                    "depends_on name {} is ambiguous: {}",
                    d.program,
                    found
                        .iter()
                        .map(|s| format!("[{s}]"))
                        .collect::<Vec<_>>()
                        .join(" and ")
                ),
            };
            let loc = l.loc(&p.section, "depends_on");
            l.error_at(loc, problem, false);
        }
    }
    let graph = crate::deps::Graph::of_processes(groups.iter().flat_map(|g| g.processes.iter()));
    if let Some(cycle) = graph.cycle() {
        let first = &cycle[0];
        let section = groups
            .iter()
            .flat_map(|g| g.processes.iter())
            .find(|p| p.program_name() == first)
            .map(|p| p.section.clone())
            .unwrap_or_default();
        let loc = l.loc(&section, "depends_on");
        l.error_at(
            loc,
            format!("dependency cycle: {}", crate::deps::cycle_text(&cycle)),
            false,
        );
    }
}

/// `corrald --check`: every environment file the processes read, read now on `host`. A
/// missing required file, an unreadable one or a malformed line fails the spawn at run
/// time; here it is a problem of this host (the file itself may be fine elsewhere).
pub fn check_environment_files(config: &Config, host: &dyn crate::host::Host) -> Vec<ConfigError> {
    let mut out: Vec<ConfigError> = Vec::new();
    let mut seen: Vec<&EnvFile> = Vec::new();
    for p in config.processes() {
        for f in &p.environment_files {
            if seen.contains(&f) {
                continue;
            }
            seen.push(f);
            if let Err(message) = crate::dotenv::read_files(std::slice::from_ref(f), host) {
                out.push(ConfigError {
                    file: Some(p.file.to_string()),
                    line: None,
                    section: Some(p.section.to_string()),
                    option: None,
                    message,
                    host_dependent: true,
                });
            }
        }
    }
    out
}

/// `[supervisord] statefile=`, default `<pidfile>.state`.
pub(crate) fn statefile(l: &mut Loader<'_>, sup: &SupervisordConfig) -> String {
    let names = l.here_names();
    match l.get("supervisord", "statefile", None, &names, true) {
        Ok(Some(v)) => pypath::normalize_path(&v, l.host, &l.cwd),
        _ => format!("{}.state", sup.pidfile),
    }
}

/// `[supervisord] init=`, `shutdown_timeout=` and `forward_output=`.
pub(crate) fn supervisord_extras(l: &mut Loader<'_>, sup: &mut SupervisordConfig) {
    let names = l.here_names();
    const S: &str = "supervisord";
    sup.init = l.conv(
        S,
        "init",
        "auto",
        &names,
        |v| {
            if pystr::lower(pystr::strip(v)) == "auto" {
                return Ok(InitMode::Auto);
            }
            dt::boolean(v)
                .map(|on| if on { InitMode::On } else { InitMode::Off })
                .map_err(|_| dt::DtError {
                    message: format!(
                        "invalid init value {}: expected auto, true or false",
                        pystr::repr(v)
                    ),
                    host_dependent: false,
                })
        },
        InitMode::Auto,
    );
    if l.ini.get(S, "shutdown_timeout").is_some() {
        sup.shutdown_timeout =
            Some(l.conv_unsigned::<u64>(S, "shutdown_timeout", "0", &names, false, 0));
    }
    sup.forward_output = l.conv(
        S,
        "forward_output",
        "none",
        &names,
        |v| match pystr::lower(pystr::strip(v)).as_str() {
            "none" | "false" | "off" => Ok(ForwardOutput::None),
            "prefixed" => Ok(ForwardOutput::Prefixed),
            "json" => Ok(ForwardOutput::Json),
            _ => Err(dt::DtError {
                message: format!(
                    "invalid forward_output value {}: expected none, prefixed or json",
                    pystr::repr(v)
                ),
                host_dependent: false,
            }),
        },
        ForwardOutput::None,
    );
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
        (_, Some(p)) => p.section.to_string(),
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
        // A set, not a list: a group can have as many processes as `numprocs` says.
        let mut names: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for p in &g.processes {
            if !names.insert(&p.name) {
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
    // The first stop step is what gunicorn gets; it drains until the next one.
    let first = p.stop_steps()[0];
    if first.signal != libc::SIGTERM {
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
    if first.wait >= timeout {
        return;
    }
    let key = if p.stopsequence.is_empty() {
        "stopwaitsecs"
    } else {
        "stopsequence"
    };
    let loc = l.loc(&p.section, key);
    let suggest = timeout + 5;
    l.corral_warning_at(
        &loc,
        &format!(
            "[{}] runs gunicorn, which drains in-flight requests for up to {timeout} s after \
             SIGTERM ({source}), but {}: corral would {} gunicorn mid-drain; \
             {} (the graceful timeout plus a margin)",
            p.section,
            if key == "stopwaitsecs" {
                format!("stopwaitsecs={}", first.wait)
            } else {
                format!("stopsequence= waits {} s after TERM", first.wait)
            },
            if p.stopsequence.len() > 1 {
                "interrupt"
            } else {
                "SIGKILL"
            },
            if key == "stopwaitsecs" {
                format!("set stopwaitsecs={suggest}")
            } else {
                format!("wait {suggest} s after TERM (TERM/{suggest})")
            }
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
            let ctl = name == "supervisorctl"
                || name.starts_with("supervisorctl:")
                || name.starts_with("ctlplugin:");
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
            "unix_http_server" | "inet_http_server" => SERVER_KEYS,
            "supervisord" => SUPERVISORD_KEYS,
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
    open_inet_servers(l, &mut warnings);
    for (file, line, message) in warnings {
        l.corral_warning(&file, line, &message);
    }
    meta
}

/// An `[inet_http_server]` that other hosts can reach, without credentials: anyone who can
/// connect controls every program (and runs commands as corrald's user). supervisord only
/// logs CRIT at start-up, and so does corrald; `--check` says it where it is written.
/// corrald still starts with it, as supervisord does.
fn open_inet_servers(l: &Loader<'_>, warnings: &mut Vec<(String, usize, String)>) {
    let names = l.ini.section_names();
    for name in names.iter().filter(|s| s.starts_with("inet_http_server")) {
        let Some(port) = l.ini.get(name, "port") else {
            continue;
        };
        // Read as the loader reads it; a value it cannot read is its error to report.
        let expand = |key: &str, raw: &str| {
            crate::pyformat::expand(raw, &l.environ, &format!("{name}.{key}")).ok()
        };
        let Some((host, _)) = expand("port", &port.value).and_then(|v| dt::inet_address(&v).ok())
        else {
            continue;
        };
        // Credentials are checked only for a non-empty `username` (supervisord's rule).
        let has_user = l
            .ini
            .get(name, "username")
            .and_then(|u| expand("username", &u.value))
            .is_some_and(|u| !u.is_empty());
        if has_user || is_loopback(&host) {
            continue;
        }
        let reach = if host.is_empty() {
            "listens on all interfaces".to_string()
        } else {
            format!("listens on {host}, not a loopback address,")
        };
        warnings.push((
            port.file.clone(),
            port.line,
            format!(
                "[{name}] port={}: {reach} without username and password: anyone who can \
                 reach it controls every program (supervisord only logs CRIT at start-up); \
                 set username= and password=, or listen on 127.0.0.1",
                port.value
            ),
        ));
    }
}

/// `localhost` or a loopback address (`127.0.0.0/8`, `::1`).
fn is_loopback(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host == "localhost"
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
                ListenAddress::Systemd { name } => ("systemd", None, None, Some(name.clone())),
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
        let lv = &p.liveness;
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        let healthcheck = lv.healthcheck.as_ref().map(|h| {
            json!({
                "check": h.probe.label(), "interval": h.interval.as_secs_f64(),
                "timeout": h.timeout.as_secs_f64(), "retries": h.retries,
                "start_period": h.start_period.as_secs_f64(),
            })
        });
        processes.insert(
            p.namespec(),
            json!({
                "stopdescendants": p.stopdescendants,
                "sockets": p.sockets,
                "readiness": readiness,
                "readiness_timeout": p.readiness_timeout,
                "healthcheck": healthcheck,
                "watchdogsecs": secs(lv.watchdogsecs),
                "max_memory": lv.max_memory,
                "max_lifetime": secs(lv.max_lifetime),
                "max_lifetime_jitter": lv.max_lifetime_jitter.as_secs_f64(),
                "backoff_max": secs(lv.backoff_max),
                "startretries_infinite": p.startretries == STARTRETRIES_INFINITE,
                "stopsequence": p.stopsequence.iter().map(|st| {
                    format!("{}/{}", crate::signals::name(st.signal).trim_start_matches("SIG"), st.wait)
                }).collect::<Vec<_>>(),
                "depends_on": p.depends_on.iter().map(|d| {
                    format!("{}:{}", d.program, d.condition.word())
                }).collect::<Vec<_>>(),
                "environment_file": p.environment_files.iter().map(|f| {
                    format!("{}{}", if f.optional { "-" } else { "" }, f.path)
                }).collect::<Vec<_>>(),
                "shutdown_on_exit": p.shutdown_on_exit,
            }),
        );
    }
    let graph = crate::deps::Graph::of(config);
    let start_order = if graph.is_trivial() {
        serde_json::Value::Null
    } else {
        json!(graph.start_order())
    };
    let sup = &config.supervisord;
    json!({
        "statefile": sup.statefile,
        "init": match sup.init {
            InitMode::Auto => "auto",
            InitMode::On => "true",
            InitMode::Off => "false",
        },
        "shutdown_timeout": sup.shutdown_timeout,
        "forward_output": match sup.forward_output {
            ForwardOutput::None => "none",
            ForwardOutput::Prefixed => "prefixed",
            ForwardOutput::Json => "json",
        },
        "environment_file": config.supervisord.environment_files.iter().map(|f| {
            format!("{}{}", if f.optional { "-" } else { "" }, f.path)
        }).collect::<Vec<_>>(),
        "start_order": start_order,
        "sockets": sockets,
        "processes": processes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "127.0.0.1", "127.1.2.3", "::1", "[::1]"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in [
            "",
            "0.0.0.0",
            "192.0.2.7",
            "::",
            "myhost",
            "localhost.example",
        ] {
            assert!(!is_loopback(h), "{h}");
        }
    }

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
