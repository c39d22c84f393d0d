//! The configuration model: what a `supervisord.conf` means once it has been read.
//!
//! This is the contract between the parser (this crate) and its users (corrald, corralctl).
//! Every value here is already validated, expanded and defaulted exactly as supervisord 4.3.0
//! would have it; corral's own extensions (sockets, readiness, descendant clean-up) sit beside
//! supervisord's fields and are documented where they are declared.
//!
//! Types are plain data: no I/O, no handles. Equality is structural and is what `update` uses
//! to decide whether a group changed (supervisord compares its config objects the same way).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// A signal number (`libc::SIGTERM` …). Names are handled by [`crate::signals`].
pub type Signal = i32;

/// Everything one configuration file (with its includes) says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Config {
    /// Absolute path of the main configuration file.
    pub path: String,
    /// `%(here)s` of the main file: its directory.
    pub here: String,
    pub supervisord: SupervisordConfig,
    pub unix_http_servers: Vec<UnixHttpServerConfig>,
    pub inet_http_servers: Vec<InetHttpServerConfig>,
    /// `[rpcinterface:x]` sections, accepted and recorded; corrald serves its built-in
    /// `supervisor` interface whatever the factory says.
    pub rpcinterfaces: Vec<RpcInterfaceConfig>,
    /// `[supervisorctl]`, read by corralctl (supervisord ignores it).
    pub supervisorctl: Option<SupervisorctlConfig>,
    /// Process groups in supervisord's start order: priority, then name.
    pub groups: Vec<GroupConfig>,
    /// corral: `[socket:NAME]` sections, in file order.
    pub sockets: Vec<SocketConfig>,
    /// Non-fatal remarks supervisord logs at WARN after start (same wording).
    pub warnings: Vec<String>,
    /// Remarks supervisord logs at INFO after start (e.g. `Included extra file "x" during parsing`).
    pub infos: Vec<String>,
    /// Every file read, main file first.
    pub files: Vec<String>,
}

/// `[supervisord]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SupervisordConfig {
    pub logfile: String,
    pub logfile_maxbytes: u64,
    pub logfile_backups: u32,
    pub loglevel: LogLevel,
    pub pidfile: String,
    pub nodaemon: bool,
    pub silent: bool,
    pub minfds: u64,
    pub minprocs: u64,
    pub umask: u32,
    /// `user=` as written; resolved by corrald at start-up (supervisord does the same).
    pub user: Option<String>,
    pub directory: Option<String>,
    pub identifier: String,
    pub childlogdir: String,
    pub nocleanup: bool,
    pub strip_ansi: bool,
    /// `environment=`, merged under every program's own.
    pub environment: BTreeMap<String, String>,
    /// The URL children get as `SUPERVISOR_SERVER_URL` unless their own `serverurl` says
    /// otherwise: `unix://<file>` of the first unix server, else `http://host:port` of the
    /// first inet server, else `None` (supervisord's rule).
    pub serverurl: Option<String>,
    /// corral: where corrald records the processes it runs, so that a successor can stop
    /// them if corrald itself was killed. Default: `<pidfile>.state`.
    pub statefile: String,
    /// corral: `environment_file=`, read at every spawn of every program, before the
    /// program's own files.
    pub environment_files: Vec<EnvFile>,
    /// corral: `init=` (auto, true, false): PID 1's duties (never daemonize, reap every
    /// orphan quietly, a shutdown deadline). `auto` (the default): when corrald is PID 1.
    pub init: InitMode,
    /// corral: `shutdown_timeout=` in seconds: how long a shutdown may take before what is
    /// left is SIGKILLed; `None` when not set (9 in init mode, no deadline otherwise), and
    /// `Some(0)` for no deadline.
    pub shutdown_timeout: Option<u64>,
    /// corral: `forward_output=` (none, prefixed, json): every program's output also goes
    /// to corrald's own stdout/stderr.
    pub forward_output: ForwardOutput,
}

/// corral: `[supervisord] init=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum InitMode {
    /// When corrald runs as PID 1 (a container's main process).
    #[default]
    Auto,
    On,
    Off,
}

/// corral: `[supervisord] forward_output=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ForwardOutput {
    /// supervisord's behaviour: output goes only where the program's log options say.
    #[default]
    None,
    /// `web:web_00 | the line` (the Foreman/Honcho convention), names padded to a column.
    Prefixed,
    /// One JSON object per line: `{"time":…,"process":…,"stream":…,"line":…}`.
    Json,
}

/// supervisord's log levels, with their numeric values.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub enum LogLevel {
    Blather = 3,
    Trace = 5,
    Debug = 10,
    Info = 20,
    Warn = 30,
    Error = 40,
    Critical = 50,
}

impl LogLevel {
    /// The four-letter name in the main log (`INFO`, `WARN`, `CRIT`, …).
    pub fn label(self) -> &'static str {
        match self {
            LogLevel::Blather => "BLAT",
            LogLevel::Trace => "TRAC",
            LogLevel::Debug => "DEBG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERRO",
            LogLevel::Critical => "CRIT",
        }
    }

    /// The word used in config files (`loglevel=warn`).
    pub fn word(self) -> &'static str {
        match self {
            LogLevel::Blather => "blather",
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
            LogLevel::Critical => "critical",
        }
    }
}

/// A user name or uid with its resolution (at parse time, as supervisord does).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UserSpec {
    /// As written in the file (name or number).
    pub spec: String,
    pub uid: u32,
    /// Primary gid of that user (from passwd).
    pub gid: u32,
}

/// `user[:group]` for socket ownership (`chown=`, `socket_owner=`, `[socket:x] owner=`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OwnerSpec {
    pub spec: String,
    pub uid: u32,
    /// `None` keeps the group (supervisord's -1).
    pub gid: Option<u32>,
}

/// `[unix_http_server]` (or `[unix_http_server:name]`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct UnixHttpServerConfig {
    pub section: String,
    pub file: String,
    pub chmod: u32,
    pub chown: Option<OwnerSpec>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// corral: a user who may look but not act (`readonly_username`/`readonly_password`).
    pub readonly_username: Option<String>,
    pub readonly_password: Option<String>,
}

/// `[inet_http_server]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InetHttpServerConfig {
    pub section: String,
    /// `""` for all interfaces (`*:9001` or `:9001`), as supervisord's `inet_address`.
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
    /// corral: a user who may look but not act (`readonly_username`/`readonly_password`).
    pub readonly_username: Option<String>,
    pub readonly_password: Option<String>,
}

/// `[rpcinterface:name]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RpcInterfaceConfig {
    pub name: String,
    /// `supervisor.rpcinterface_factory`, as written.
    pub factory: String,
    /// Every other key of the section, passed to the factory by supervisord.
    pub extras: BTreeMap<String, String>,
}

/// `[supervisorctl]`: what corralctl reads.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct SupervisorctlConfig {
    pub serverurl: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub prompt: Option<String>,
    pub history_file: Option<String>,
}

/// One process group.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GroupConfig {
    pub name: String,
    pub priority: i64,
    pub kind: GroupKind,
    /// In supervisord's internal order (priority, then as listed).
    pub processes: Vec<ProcessConfig>,
}

/// How a group came to be.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum GroupKind {
    /// A `[program:x]` section: a homogeneous group named after the program.
    Program,
    /// A `[group:x]` section with `programs=`.
    Heterogeneous,
    /// `[eventlistener:x]`: a pool of event listeners.
    EventListener(EventListenerPool),
    /// `[fcgi-program:x]`: a homogeneous group sharing one socket passed as fd 0.
    FastCgi(FcgiSocket),
}

/// The pool settings of an `[eventlistener:x]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EventListenerPool {
    /// Upper-case event type names (`PROCESS_STATE`, `TICK_60`, …), sorted.
    pub events: Vec<String>,
    pub buffer_size: usize,
    /// As written; corrald always applies supervisord's default handler (`OK` accepts).
    pub result_handler: String,
}

/// `[fcgi-program:x] socket=`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FcgiSocket {
    /// The URL as written after expansion (`unix:///path` or `tcp://host:port`).
    pub url: String,
    pub owner: Option<OwnerSpec>,
    pub mode: Option<u32>,
    pub backlog: Option<u32>,
}

/// `autorestart=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AutoRestart {
    Never,
    Unexpected,
    Always,
}

/// A child log destination (`stdout_logfile=`/`stderr_logfile=`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LogFile {
    /// `AUTO`: a file in `childlogdir`, named at start-up and removed at the next start.
    Auto,
    /// `NONE` (or redirected stderr): nothing is written.
    None,
    /// An explicit path (`/dev/stdout` included).
    Path(String),
}

impl LogFile {
    /// The file to write, if any. supervisord keeps `stdout_logfile=` (empty) as an empty
    /// path and then writes nothing (its dispatchers test the name for truth), so an empty
    /// path is no file here too.
    pub fn path(&self) -> Option<&str> {
        match self {
            LogFile::Path(p) if !p.is_empty() => Some(p),
            _ => None,
        }
    }
}

/// Per-channel (stdout or stderr) log settings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChannelConfig {
    pub logfile: LogFile,
    pub logfile_maxbytes: u64,
    pub logfile_backups: u32,
    pub capture_maxbytes: u64,
    pub events_enabled: bool,
    pub syslog: bool,
}

/// corral: when a program counts as started (STARTING → RUNNING).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Readiness {
    /// supervisord's rule: alive for `startsecs` seconds.
    Startsecs,
    /// sd_notify: the child sends `READY=1` on `NOTIFY_SOCKET`.
    Notify,
    /// A TCP connect to `host:port` succeeds.
    Tcp { host: String, port: u16 },
    /// An HTTP GET answers 2xx. `url` is `http://host:port/path`.
    Http { url: String },
    /// A command exits 0 (run with `/bin/sh -c`).
    Exec { command: String },
}

/// One process, fully expanded (a `numprocs=N` program yields N of these).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcessConfig {
    /// Process name (after `process_name` expansion).
    pub name: String,
    /// Name of the group it belongs to.
    /// This and the two below are shared by every process of a program (a program of
    /// `numprocs=1000` holds one copy of each, not a thousand).
    pub group: Arc<str>,
    /// The section it came from (`program:web`), and the file that holds that section.
    pub section: Arc<str>,
    pub file: Arc<str>,
    /// Whether this is an event listener (its stdout is the listener protocol).
    pub is_listener: bool,
    pub command: String,
    pub directory: Option<String>,
    pub umask: Option<u32>,
    pub priority: i64,
    pub autostart: bool,
    pub autorestart: AutoRestart,
    pub startsecs: u64,
    pub startretries: u64,
    pub user: Option<UserSpec>,
    pub stdout: ChannelConfig,
    pub stderr: ChannelConfig,
    pub stopsignal: Signal,
    pub stopwaitsecs: u64,
    pub stopasgroup: bool,
    pub killasgroup: bool,
    /// Shared by every process of a program, and with their state machines.
    pub exitcodes: Arc<[i32]>,
    pub redirect_stderr: bool,
    /// The final additions to the child's environment: `[supervisord] environment` merged
    /// under the program's own.
    pub environment: BTreeMap<String, String>,
    /// `serverurl=`; `None` means AUTO (use the daemon's).
    pub serverurl: Option<String>,
    pub numprocs: u32,
    pub numprocs_start: u32,
    pub process_num: u32,
    /// corral: after the main process stops or exits, stop whatever it left behind (its
    /// process group, its session, and orphans of its tree). Default true.
    /// Key: `stopdescendants`.
    pub stopdescendants: bool,
    /// corral: names of `[socket:x]` sections passed as fds 3, 4, … (`sockets=`).
    pub sockets: Vec<String>,
    /// corral: `readiness=`.
    pub readiness: Readiness,
    /// corral: `readiness_timeout=` in seconds (default 60); after it a STARTING process
    /// that is not ready counts as a failed start.
    pub readiness_timeout: u64,
    /// corral: health checks, the watchdog, recycling and `backoff_max` (all off by
    /// default). `startretries=infinite` is `startretries` = [`STARTRETRIES_INFINITE`].
    /// Sparse: ~170 bytes per process that most programs leave off.
    pub liveness: crate::sparse::Sparse<Liveness>,
    /// corral: `stopsequence=`, the stop signals in order, each with its wait (`TERM/20,
    /// INT/5`), then SIGKILL. Empty: supervisord's one step, `stopsignal` and
    /// `stopwaitsecs` (see [`ProcessConfig::stop_steps`]).
    pub stopsequence: Vec<StopStepConfig>,
    /// corral: `depends_on=`, what must hold before this process is spawned.
    pub depends_on: Vec<Dependency>,
    /// corral: `environment_file=` of `[supervisord]`, then of the program, read at every
    /// spawn, in this order, under `environment`.
    pub environment_files: Vec<EnvFile>,
    /// corral: `shutdown_on_exit=`: the program is the container's main process. When it
    /// exits (it is then never restarted) or goes FATAL, corrald shuts down and exits with
    /// its exit status. Default false.
    pub shutdown_on_exit: bool,
}

/// corral: `startretries=infinite`, kept in `startretries` (no count reaches it).
pub const STARTRETRIES_INFINITE: u64 = u64::MAX;

/// corral: how corrald watches a RUNNING process and restarts it. Every field is off
/// (`None`, zero) unless the file sets it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Liveness {
    /// `healthcheck=` and its `healthcheck_*` timing.
    pub healthcheck: Option<HealthCheck>,
    /// `watchdogsecs=`: the longest a process may go without sending `WATCHDOG=1`.
    pub watchdogsecs: Option<Duration>,
    /// `max_memory=` in bytes: RSS of the process and its descendants.
    pub max_memory: Option<u64>,
    /// `max_lifetime=`: how long a process runs before it is recycled.
    pub max_lifetime: Option<Duration>,
    /// `max_lifetime_jitter=`: up to this much is added to each process's `max_lifetime`.
    pub max_lifetime_jitter: Duration,
    /// `backoff_max=`: the longest delay between two start attempts; also makes repeated
    /// crashes after RUNNING back off.
    pub backoff_max: Option<Duration>,
}

/// corral: `healthcheck=` (Docker's HEALTHCHECK vocabulary).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HealthCheck {
    /// The check: only the `Tcp`, `Http` and `Exec` forms.
    pub probe: Readiness,
    /// `healthcheck_interval=`: from the end of one check to the start of the next (10 s).
    pub interval: Duration,
    /// `healthcheck_timeout=`: how long one check may take (5 s).
    pub timeout: Duration,
    /// `healthcheck_retries=`: consecutive failures that make the process unhealthy (3).
    pub retries: u32,
    /// `healthcheck_start_period=`: after RUNNING, failures do not count for this long (0).
    pub start_period: Duration,
}

impl crate::sparse::Off for Liveness {
    const OFF: &'static Liveness = &Liveness {
        healthcheck: None,
        watchdogsecs: None,
        max_memory: None,
        max_lifetime: None,
        max_lifetime_jitter: Duration::ZERO,
        backoff_max: None,
    };
}

impl Readiness {
    /// The check as written in the file (`tcp://h:p`, `http://…`, `exec:CMD`, `notify`).
    pub fn label(&self) -> String {
        match self {
            Readiness::Startsecs => "startsecs".into(),
            Readiness::Notify => "notify".into(),
            Readiness::Tcp { host, port } if host.contains(':') => format!("tcp://[{host}]:{port}"),
            Readiness::Tcp { host, port } => format!("tcp://{host}:{port}"),
            Readiness::Http { url } => url.clone(),
            Readiness::Exec { command } => format!("exec:{command}"),
        }
    }
}

/// corral: one step of a `stopsequence=`: send `signal`, wait up to `wait` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StopStepConfig {
    pub signal: Signal,
    pub wait: u64,
}

/// corral: one entry of `depends_on=`: a program (all its processes) and the condition
/// they must meet.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Dependency {
    /// The name of a `[program:x]` (or `[fcgi-program:x]`, `[eventlistener:x]`) section.
    pub program: String,
    pub condition: Condition,
}

/// corral: when a dependency counts as met.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Condition {
    /// Spawned and alive (STARTING or RUNNING).
    Started,
    /// RUNNING by its readiness rule (the default).
    Ready,
    /// RUNNING, and its health check passed at least once (with no health check: ready).
    Healthy,
    /// Exited with one of its `exitcodes` (a one-shot task, such as a migration).
    Completed,
}

impl Condition {
    pub const ALL: [Condition; 4] = [
        Condition::Started,
        Condition::Ready,
        Condition::Healthy,
        Condition::Completed,
    ];

    /// The word in `depends_on=` (`db:started`).
    pub fn word(self) -> &'static str {
        match self {
            Condition::Started => "started",
            Condition::Ready => "ready",
            Condition::Healthy => "healthy",
            Condition::Completed => "completed",
        }
    }

    pub fn from_word(w: &str) -> Option<Condition> {
        Self::ALL.into_iter().find(|c| c.word() == w)
    }
}

/// corral: one `environment_file=` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct EnvFile {
    /// Absolute path (after expansion).
    pub path: String,
    /// Written with a leading `-`: the file may be missing.
    pub optional: bool,
}

/// corral: `[socket:NAME]`, a listening socket owned by corrald.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SocketConfig {
    pub name: String,
    /// As written (after expansion).
    pub listen: String,
    pub address: ListenAddress,
    /// `backlog=`, default 2048 (capped by the kernel's somaxconn).
    pub backlog: u32,
    /// Unix sockets: `mode=` (default 0660) and `owner=user[:group]`.
    pub mode: u32,
    pub owner: Option<OwnerSpec>,
    /// `reuseport=`, default false.
    pub reuseport: bool,
    /// `ipv6only=` for IPv6 addresses, default false (dual-stack `[::]`).
    pub ipv6only: bool,
    /// `nodelay=` (TCP_NODELAY, inherited by accepted connections), default false.
    pub nodelay: bool,
    /// `keepalive=` (SO_KEEPALIVE), default false.
    pub keepalive: bool,
}

/// Where a `[socket:x]` listens.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ListenAddress {
    /// `tcp://HOST:PORT` or `tcp://[V6]:PORT`; `host` without brackets.
    Tcp { host: String, port: u16 },
    /// `unix:///absolute/path`.
    Unix { path: String },
    /// `systemd:NAME`: the socket systemd passes with `LISTEN_FDS` under that name
    /// (`FileDescriptorName=` of the socket unit; by default the unit's name).
    Systemd { name: String },
}

impl Config {
    /// All processes, in group order.
    pub fn processes(&self) -> impl Iterator<Item = &ProcessConfig> {
        self.groups.iter().flat_map(|g| g.processes.iter())
    }

    pub fn group(&self, name: &str) -> Option<&GroupConfig> {
        self.groups.iter().find(|g| g.name == name)
    }

    pub fn socket(&self, name: &str) -> Option<&SocketConfig> {
        self.sockets.iter().find(|s| s.name == name)
    }
}

impl ProcessConfig {
    /// The stop steps in effect: `stopsequence=`, else supervisord's `stopsignal` and
    /// `stopwaitsecs`.
    pub fn stop_steps(&self) -> Vec<StopStepConfig> {
        if self.stopsequence.is_empty() {
            vec![StopStepConfig {
                signal: self.stopsignal,
                wait: self.stopwaitsecs,
            }]
        } else {
            self.stopsequence.clone()
        }
    }

    /// The longest a stop may wait before the final SIGKILL: every step's wait.
    pub fn stop_wait_total(&self) -> u64 {
        self.stop_steps().iter().map(|s| s.wait).sum()
    }

    /// The name of the program section this process comes from (`web` for
    /// `[program:web]`): what `depends_on=` names.
    pub fn program_name(&self) -> &str {
        self.section
            .split_once(':')
            .map_or("", |(_, n)| crate::pystr::strip(n))
    }

    /// supervisord's namespec: `group:name`, or just `name` when both are equal.
    pub fn namespec(&self) -> String {
        if *self.group == *self.name {
            self.name.clone()
        } else {
            format!("{}:{}", self.group, self.name)
        }
    }
}

/// What corralctl takes from a configuration file: supervisorctl's `ClientOptions.read_config`
/// (the `[supervisorctl]` section of the main file, `%(here)s` and `%(ENV_X)s` expanded).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CtlSettings {
    /// `serverurl=`, `unix://` paths normalized; `None` when the section has none
    /// (supervisorctl then uses `http://localhost:9001`).
    pub serverurl: Option<String>,
    /// The URL the daemon configured by this file serves (its first `[unix_http_server]`,
    /// else its `[inet_http_server]`): what a client most likely wants when `serverurl`
    /// is missing or wrong (corralctl names it in its hints).
    pub daemon_serverurl: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Default `supervisor`.
    pub prompt: String,
    /// Normalized path, if set.
    pub history_file: Option<String>,
    /// corral: `[supervisorctl:NAME]` sections, in file order: the servers corralctl (and
    /// the dashboard) talk to together. supervisorctl ignores them.
    pub servers: Vec<CtlServer>,
}

/// corral: one `[supervisorctl:NAME]` section, a server among several.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CtlServer {
    /// NAME: letters, digits, `_`, `-` and `.`; what `NAME:process` addresses.
    pub name: String,
    /// `serverurl=` (required), `unix://` paths normalized.
    pub serverurl: String,
    /// `username=`/`password=`; when unset, `[supervisorctl]`'s.
    pub username: Option<String>,
    pub password: Option<String>,
}

/// Whether `name` can name a server (`-s NAME=URL`, `[supervisorctl:NAME]`).
pub fn valid_server_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}
