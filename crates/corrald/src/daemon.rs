//! corrald from start to exit: read the config, get the machine ready (predecessor clean-up,
//! sockets, privileges, limits, logs, daemonizing, pidfile), then run the supervisor until
//! a shutdown, re-running it on each restart (SIGHUP or `supervisor.restart`).
//!
//! The runtime is a single-threaded tokio runtime: one thread, no wake-ups while nothing
//! happens, and no locks between the parts of the daemon. It is built only after
//! daemonizing, because forking a process that already has runtime threads is unsound.
//!
//! corral's deployment duties live here too: a container's init (PID 1, or `init=true`:
//! never daemonize, reap every orphan quietly, a shutdown deadline after which what is left
//! is SIGKILLed, a meaningful exit status), `shutdown_on_exit` programs, and systemd's
//! `Type=notify` (READY=1 once the autostart programs have started, STATUS=, STOPPING=1,
//! RELOADING=1, WATCHDOG=1).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use corral_config::{Config, ConfigError, InitMode};
use corral_core::{ProcessState, SupervisorState, WaitStatus};

use crate::cli;
use crate::events::{Event as BusEvent, EventBus};
use crate::logs::mainlog;
use crate::logs::{self, rotating::RotatingFile};
use crate::notify::{self, Notifier};
use crate::process::{Info, Services, StateChange};
use crate::reaper::Reaper;
use crate::rpc;
use crate::sockets;
use crate::statefile::{self, Journal};
use crate::supervisor::{ConfigSource, Request, Supervisor};
use crate::sys;
use crate::upgrade;

/// supervisord's exit code for usage and configuration errors.
const EXIT_USAGE: i32 = 2;

/// How this program was invoked, for "use … -h".
fn program_name() -> String {
    std::env::args().next().unwrap_or_else(|| "corrald".into())
}

fn usage_error(msg: &str) -> i32 {
    mainlog::flush_early_to_stderr();
    eprintln!("Error: {msg}");
    eprintln!("For help, use {} -h", program_name());
    EXIT_USAGE
}

fn report_config_errors(errors: &[ConfigError]) -> i32 {
    // A config file that cannot be read at all is supervisord's usage error, word for word.
    if let [e] = errors {
        if e.line.is_none() && e.section.is_none() && e.message.starts_with("could not ") {
            return usage_error(&e.message);
        }
    }
    mainlog::flush_early_to_stderr();
    for e in errors {
        eprintln!("Error: {e}");
    }
    eprintln!(
        "{} error(s) in the configuration; nothing was started. For help, use {} -h",
        errors.len(),
        program_name()
    );
    EXIT_USAGE
}

pub fn main(argv: &[String]) -> i32 {
    // Before anything else is opened: the lowest descriptors, where a child's descriptors
    // are put while it is created (sys/spawn.rs). Without them spawning still works.
    let _ = sys::spawn::reserve_slots();
    let args = match cli::parse(argv) {
        Ok(a) => a,
        Err(e) => return usage_error(&e.to_string()),
    };
    if args.help {
        print!("{}", cli::usage());
        return 0;
    }
    if args.version {
        println!("{}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    if args.check {
        return crate::check::run(args.config.as_deref(), args.json, args.strict);
    }
    if args.upgrade_check {
        return upgrade::run_check();
    }
    // The new image of an in-place upgrade: take over what the old one handed over.
    if let Some(state) = upgrade::inherited() {
        return resume(state);
    }
    // systemd's variables are read once, now, before anything else opens a descriptor.
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let systemd_notes = sockets::SystemdSockets::adopt_from_env(&env);
    let source = match cli::config_path(args.config.as_deref()) {
        Ok(path) => ConfigSource::new(path, args.overrides.clone(), args.strict),
        Err(msg) => return usage_error(&msg),
    };
    let config = match source.read() {
        Ok(c) => c,
        Err(errors) => return report_config_errors(&errors),
    };
    let s = &config.supervisord;
    let init = match s.init {
        InitMode::Auto => sys::getpid() == 1,
        InitMode::On => true,
        InitMode::Off => false,
    };

    // A predecessor killed without stopping its processes left them holding our ports and
    // files: stop them before binding or starting anything.
    statefile::stop_predecessors(std::path::Path::new(&s.statefile));

    // Sockets are bound while still privileged (port 80 for an unprivileged program).
    let registry = Rc::new(sockets::Registry::default());
    let socket_errors = registry.sync(&config.sockets);
    if !socket_errors.is_empty() {
        mainlog::flush_early_to_stderr();
        for e in &socket_errors {
            eprintln!("Error: {e}");
        }
        return EXIT_USAGE;
    }

    let mut criticals = Vec::new();
    match &s.user {
        None if sys::getuid() == 0 => criticals.push(
            "Supervisor is running as root.  Privileges were not dropped because no user is specified in the config \
             file.  If you intend to run as root, you can set user=root in the config file to avoid this message."
                .to_string(),
        ),
        None => {}
        Some(user) => {
            if let Err(msg) = drop_daemon_privileges(user) {
                return usage_error(&msg);
            }
        }
    }
    let mut infos = Vec::new();
    if let Err(msg) = set_rlimits(s.minfds, s.minprocs, &mut infos) {
        return usage_error(&msg);
    }
    let fd_limit = raise_nofile_to_hard();

    // The HTTP servers are opened before daemonizing so their errors reach the terminal.
    let servers = match rpc::Listeners::open(&config) {
        Ok(l) => l,
        Err(msg) => return usage_error(&msg),
    };

    let file = match RotatingFile::open(s.logfile.as_str(), s.logfile_maxbytes, s.logfile_backups) {
        Ok(f) => Some(f),
        Err(e) => return usage_error(&format!("could not open the log file {}: {e}", s.logfile)),
    };
    mainlog::configure(s.loglevel, file, s.nodaemon && !s.silent);
    for m in &criticals {
        mainlog::critical(m);
    }
    for m in &config.warnings {
        mainlog::warn(m);
    }
    for m in config.infos.iter().chain(infos.iter()) {
        mainlog::info(m);
    }
    for m in &systemd_notes {
        mainlog::warn(m);
    }
    let unused = sockets::systemd().unused();
    if !unused.is_empty() {
        mainlog::warn(format!(
            "systemd passed sockets nothing uses (no [socket:x] listen=systemd:NAME, no HTTP \
             server on their address): {}",
            unused.join(", ")
        ));
    }
    let daemonize_now = !s.nodaemon && !init;
    if init {
        mainlog::info(format!(
            "running as init{}: not daemonizing, reaping every orphan, shutdown deadline {}",
            if sys::getpid() == 1 {
                " (PID 1)"
            } else {
                " (init=true)"
            },
            match shutdown_deadline(&config, init) {
                Some(d) => format!("{} s", d.as_secs()),
                None => "none".into(),
            }
        ));
    }
    if daemonize_now && env.contains_key("NOTIFY_SOCKET") {
        mainlog::warn(
            "NOTIFY_SOCKET is set but corrald is about to daemonize: with systemd's \
             Type=notify run corrald in the foreground (-n or nodaemon=true)",
        );
    }
    log_fd_plan(&config, fd_limit);
    if !s.nocleanup {
        logs::clear_auto_logs(&s.childlogdir, &s.identifier);
    }
    servers.log_startup(&config);

    if daemonize_now {
        if let Err(e) = daemonize(s.directory.as_deref(), s.umask) {
            mainlog::critical(format!("cannot daemonize: {e}"));
            return 1;
        }
    }
    let pidfile = s.pidfile.clone();
    write_pidfile(&pidfile);

    let Some((runtime, local)) = event_loop() else {
        return 1;
    };
    let deploy = Deploy::new(init, env);
    let start = Start {
        source,
        config,
        registry,
        servers,
        exe: own_executable(),
        restored: None,
    };
    let code = local.block_on(&runtime, run(start, deploy));
    let _ = std::fs::remove_file(&pidfile);
    code
}
/// The binary an upgrade without `--binary` runs: this one, as it was found at start-up
/// (a package upgrade may replace the file at that path, which is the point).
fn own_executable() -> String {
    std::env::current_exe()
        .map(|p| {
            p.to_string_lossy()
                .trim_end_matches(" (deleted)")
                .to_string()
        })
        .unwrap_or_else(|_| program_name())
}

/// The new image of an in-place upgrade: no predecessor to clean up, nothing to bind,
/// nothing to daemonize; the state names every descriptor to take back.
fn resume(state: Result<upgrade::State, String>) -> i32 {
    let state = match state {
        Ok(s) => s,
        Err(e) => {
            // The old image checked this binary, so this is not expected; there is nothing
            // to fall back to: say why as loudly as possible.
            eprintln!("corrald: upgrade failed: {e}");
            mainlog::critical(format!("upgrade failed: {e}"));
            return 1;
        }
    };
    let mut errors = Vec::new();
    let registry = Rc::new(sockets::Registry::default());
    let mut sockets = Vec::new();
    for s in state.sockets {
        match upgrade::adopt(s.fd) {
            Ok(fd) => sockets.push((s, fd)),
            Err(e) => errors.push(format!("socket '{}': {e}", s.config.name)),
        }
    }
    registry.adopt(sockets);
    let mut servers = Vec::new();
    for s in state.servers {
        match upgrade::adopt(s.fd) {
            Ok(fd) => servers.push((s, fd)),
            Err(e) => errors.push(format!("HTTP server: {e}")),
        }
    }
    let servers = rpc::Listeners::adopt(servers);
    let mut groups = Vec::new();
    for g in state.supervisor.groups {
        let fcgi = g.fcgi.as_ref().and_then(|(fd, _)| upgrade::adopt(*fd).ok());
        groups.push((g, fcgi));
    }
    let config = state.supervisor.config;
    let s = &config.supervisord;
    let file = RotatingFile::open(s.logfile.as_str(), s.logfile_maxbytes, s.logfile_backups).ok();
    mainlog::configure(s.loglevel, file, s.nodaemon && !s.silent);
    mainlog::info(format!(
        "upgraded in place: corral {} -> {}, pid {}",
        state.version,
        env!("CARGO_PKG_VERSION"),
        sys::getpid()
    ));
    for e in &errors {
        mainlog::error(format!("upgrade: {e}"));
    }
    let pidfile = s.pidfile.clone();
    let Some((runtime, local)) = event_loop() else {
        return 1;
    };
    let init = match config.supervisord.init {
        InitMode::Auto => sys::getpid() == 1,
        InitMode::On => true,
        InitMode::Off => false,
    };
    // systemd's sockets came over in the state (under the servers and sockets that use
    // them); only the notify socket and the watchdog are read from the environment again.
    let deploy = Deploy::new(init, std::env::vars().collect());
    let start = Start {
        source: state.supervisor.source,
        config,
        registry,
        servers,
        exe: state.exe,
        restored: Some(Restored {
            groups,
            stale_auto: state.supervisor.stale_auto,
            events: state.events,
        }),
    };
    let code = local.block_on(&runtime, run(start, deploy));
    let _ = std::fs::remove_file(&pidfile);
    code
}

/// (soft, hard) `RLIMIT_NOFILE` as corrald runs with it.
type FdLimit = (u64, u64);

/// Raise corrald's own soft `RLIMIT_NOFILE` to the hard limit, as the Go runtime and
/// systemd do for themselves: the descriptors corrald holds grow with the processes it runs
/// (pipes, log files), and a limit found the hard way fails spawns one by one. Its children
/// keep the limit supervisord would give them (its soft limit, raised to `minfds` by
/// [`set_rlimits`]): a program written for `select(2)` must not find descriptors above
/// 1023.
fn raise_nofile_to_hard() -> FdLimit {
    let Ok((soft, hard)) = sys::getrlimit(libc::RLIMIT_NOFILE) else {
        return (0, 0);
    };
    if soft >= hard {
        return (soft, hard);
    }
    // An infinite hard limit is not a soft one the kernel takes (fs.nr_open caps it).
    let target = if hard == libc::RLIM_INFINITY {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(soft)
    } else {
        hard
    };
    if target > soft && sys::setrlimit(libc::RLIMIT_NOFILE, target, hard).is_ok() {
        sys::spawn::set_child_nofile(soft, hard);
        return (target, hard);
    }
    (soft, hard)
}

/// The main log says how many descriptors the configuration needs, and warns when that is
/// more than the hard limit allows.
fn log_fd_plan(config: &Config, (soft, hard): FdLimit) {
    let need = crate::check::fd_need(config);
    mainlog::info(format!(
        "file descriptors: this configuration needs about {} ({} processes); corrald may open {}",
        need.total(),
        need.processes,
        crate::check::limit_text(soft)
    ));
    if let Some(w) = need.shortage(hard) {
        mainlog::warn(w);
    }
}

/// `[supervisord] user=`: become that user (supervisord's `set_uid_or_exit`).
fn drop_daemon_privileges(user: &str) -> Result<(), String> {
    let account = sys::user::by_name(user).map_err(|e| e.to_string())?;
    if account.uid == sys::getuid() {
        return Ok(());
    }
    if sys::getuid() != 0 {
        return Err("Can't drop privilege as nonroot user".into());
    }
    sys::drop_privileges(account.uid, account.gid, &account.groups)
        .map_err(|e| format!("Could not set user id of effective user: {e}"))
}

/// supervisord's `set_rlimits_or_exit`: raise RLIMIT_NOFILE / RLIMIT_NPROC to the minimums.
fn set_rlimits(minfds: u64, minprocs: u64, infos: &mut Vec<String>) -> Result<(), String> {
    let limits = [
        (
            libc::RLIMIT_NOFILE,
            "RLIMIT_NOFILE",
            minfds,
            "The minimum number of file descriptors required to run this process is {min} as per the \"minfds\" \
             command-line argument or config file setting. The current environment will only allow you to open \
             {hard} file descriptors.  Either raise the number of usable file descriptors in your environment (see \
             README.rst) or lower the minfds setting in the config file to allow the process to start.",
        ),
        (
            libc::RLIMIT_NPROC,
            "RLIMIT_NPROC",
            minprocs,
            "The minimum number of available processes required to run this program is {min} as per the \
             \"minprocs\" command-line argument or config file setting. The current environment will only allow \
             you to open {hard} processes.  Either raise the number of usable processes in your environment (see \
             README.rst) or lower the minprocs setting in the config file to allow the program to start.",
        ),
    ];
    for (res, name, min, msg) in limits {
        let Ok((soft, hard)) = sys::getrlimit(res) else {
            continue;
        };
        if soft < min && soft != libc::RLIM_INFINITY {
            let new_hard = if hard < min && hard != libc::RLIM_INFINITY {
                min
            } else {
                hard
            };
            match sys::setrlimit(res, min, new_hard) {
                Ok(()) => infos.push(format!("Increased {name} limit to {min}")),
                Err(_) => {
                    return Err(msg
                        .replace("{min}", &min.to_string())
                        .replace("{hard}", &hard.to_string()));
                }
            }
        }
    }
    Ok(())
}

/// supervisord's `_daemonize`: fork (the parent exits), new session, stdio to /dev/null,
/// chdir to `directory`, umask.
fn daemonize(directory: Option<&str>, umask: u32) -> std::io::Result<()> {
    // No other threads exist yet: the runtime is built after this.
    sys::daemon::fork_and_exit_parent()?;
    mainlog::info("daemonizing the supervisord process");
    if let Some(dir) = directory {
        match std::env::set_current_dir(dir) {
            Ok(()) => mainlog::info(format!("set current directory: '{dir}'")),
            Err(e) => mainlog::critical(format!("can't chdir into '{dir}': {e}")),
        }
    }
    sys::daemon::stdio_to_devnull()?;
    sys::daemon::setsid();
    sys::umask(umask);
    Ok(())
}

fn write_pidfile(path: &str) {
    match std::fs::write(path, format!("{}\n", sys::getpid())) {
        Ok(()) => mainlog::info(format!("supervisord started with pid {}", sys::getpid())),
        Err(_) => mainlog::critical(format!("could not write pidfile {path}")),
    }
}

/// What corrald was started with for its deployment duties.
struct Deploy {
    /// Init mode: PID 1, or `init=true`.
    init: bool,
    /// `NOTIFY_SOCKET`: systemd's `Type=notify`.
    notifier: Option<Rc<Notifier>>,
    /// `WATCHDOG_USEC`: how often to send `WATCHDOG=1`.
    watchdog: Option<Duration>,
    /// corrald's environment at start, less systemd's variables for corrald alone: the
    /// base of every program's environment.
    env: BTreeMap<String, String>,
}

impl Deploy {
    fn new(init: bool, env: BTreeMap<String, String>) -> Deploy {
        Deploy {
            init,
            notifier: Notifier::from_env(&env).map(Rc::new),
            watchdog: notify::watchdog_interval(&env, sys::getpid()),
            env: env
                .into_iter()
                .filter(|(k, _)| !notify::SYSTEMD_VARIABLES.contains(&k.as_str()))
                .collect(),
        }
    }
}

/// The shutdown deadline: `shutdown_timeout=` (0: none), by default 9 s in init mode (a
/// second before `docker stop`'s 10 s) and none otherwise (supervisord's behaviour).
fn shutdown_deadline(config: &Config, init: bool) -> Option<Duration> {
    match config.supervisord.shutdown_timeout {
        Some(0) => None,
        Some(n) => Some(Duration::from_secs(n)),
        None if init => Some(Duration::from_secs(9)),
        None => None,
    }
}

/// Program output forwarded to corrald's stdout is aligned on the longest name.
fn configure_forwarding(config: &Config) {
    let width = config
        .processes()
        .map(|p| p.namespec().chars().count())
        .max()
        .unwrap_or(0);
    logs::channel::configure_forwarding(config.supervisord.forward_output, width);
}

fn make_services(
    config: &Config,
    reaper: &Rc<Reaper>,
    events: &Rc<EventBus>,
    journal: &Rc<RefCell<Journal>>,
    registry: &Rc<sockets::Registry>,
    deploy: &Deploy,
    changes: &mpsc::UnboundedSender<StateChange>,
) -> Rc<Services> {
    Rc::new(Services {
        reaper: reaper.clone(),
        events: events.clone(),
        journal: journal.clone(),
        sockets: registry.clone(),
        env: deploy.env.clone(),
        serverurl: config.supervisord.serverurl.clone(),
        strip_ansi: config.supervisord.strip_ansi,
        state_changes: Some(changes.clone()),
        pace: Rc::default(),
    })
}

/// corrald's one thread: a current-thread runtime and the `LocalSet` every task runs on
/// (`None`, logged, if the runtime cannot be created).
fn event_loop() -> Option<(tokio::runtime::Runtime, tokio::task::LocalSet)> {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => Some((r, tokio::task::LocalSet::new())),
        Err(e) => {
            mainlog::critical(format!("cannot start the event loop: {e}"));
            None
        }
    }
}

/// The exit status a `shutdown_on_exit` program hands on: its own exit code, 128 + the
/// signal that killed it (the shell's convention), and never 0 for FATAL.
fn exit_code_of(to: ProcessState, last: Option<WaitStatus>) -> i32 {
    let code = match last {
        Some(w) if w.exited_normally() => w.decode().0,
        Some(w) => w.signal().map_or(1, |sig| 128 + sig),
        None => 1,
    };
    if to == ProcessState::Fatal && code == 0 {
        1
    } else {
        code
    }
}

/// What the daemon watches of its processes: `shutdown_on_exit`, and the readiness and
/// status it reports to systemd.
struct Observer {
    sup: Rc<Supervisor>,
    notifier: Option<Rc<Notifier>>,
    /// READY=1 is owed (a run began and its autostart programs have not all started).
    awaiting_ready: Rc<Cell<bool>>,
    /// The exit status a `shutdown_on_exit` program decided.
    exit_code: Rc<Cell<Option<i32>>>,
    last_status: String,
}

impl Observer {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<StateChange>,
        kick: Rc<tokio::sync::Notify>,
    ) {
        loop {
            tokio::select! {
                change = rx.recv() => match change {
                    Some(c) => self.changed(&c),
                    None => return,
                },
                () = kick.notified() => {}
            }
            // A burst (every program starting at once) is one look at the table.
            while let Ok(c) = rx.try_recv() {
                self.changed(&c);
            }
            self.report();
        }
    }

    fn changed(&mut self, c: &StateChange) {
        if !c.shutdown_on_exit || !matches!(c.to, ProcessState::Exited | ProcessState::Fatal) {
            return;
        }
        if self.sup.requested().is_some() {
            return; // already on its way down (or restarting): its stop is not its exit
        }
        let code = exit_code_of(c.to, c.last_exit);
        let how = c
            .last_exit
            .map_or_else(|| "never ran".into(), |w| w.decode().1);
        let msg = format!(
            "'{}' is {} ({how}) and has shutdown_on_exit=true: shutting down, exit status {code}",
            c.namespec,
            c.to.name()
        );
        if code == 0 {
            mainlog::info(msg);
        } else {
            mainlog::warn(msg);
        }
        self.exit_code.set(Some(code));
        self.sup.request(Request::Shutdown);
    }

    /// systemd: READY=1 once every autostart program has started (RUNNING by its
    /// readiness rule, or given up on: FATAL, EXITED), and STATUS= whenever the counts
    /// change.
    fn report(&mut self) {
        let Some(n) = self.notifier.clone() else {
            return;
        };
        if self.sup.requested().is_some() {
            return;
        }
        let (settled, status) = summary(&self.sup);
        if self.awaiting_ready.get() && settled {
            self.awaiting_ready.set(false);
            n.ready(&status);
        } else if status != self.last_status {
            n.status(&status);
        }
        self.last_status = status;
    }
}

/// Whether every autostart program has started (or been given up on), and a status line:
/// `4 of 5 programs RUNNING; 1 FATAL`.
fn summary(sup: &Supervisor) -> (bool, String) {
    let mut counts: BTreeMap<&'static str, usize> = BTreeMap::new();
    let (mut total, mut running, mut pending) = (0, 0, 0);
    for p in sup.processes() {
        let state = p.state();
        total += 1;
        if state == ProcessState::Running {
            running += 1;
        } else {
            *counts.entry(state.name()).or_default() += 1;
        }
        let not_yet = match state {
            ProcessState::Starting | ProcessState::Backoff => true,
            // Not started yet (its task has not seen the activation).
            ProcessState::Stopped => p.info().snapshot.laststart.is_none(),
            _ => false,
        };
        if p.config.autostart && not_yet {
            pending += 1;
        }
    }
    let mut status = format!("{running} of {total} programs RUNNING");
    if !counts.is_empty() {
        let rest: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
        status.push_str(&format!("; {}", rest.join(", ")));
    }
    (pending == 0, status)
}

/// Send SIGKILL to everything left: as PID 1, every process of the namespace; otherwise
/// each program's process group (every program is a session and group leader).
fn kill_everything(sup: &Supervisor) {
    if sys::getpid() == 1 {
        let _ = sys::kill(-1, libc::SIGKILL);
        return;
    }
    for p in sup.processes() {
        if let Some(pid) = p.info().snapshot.pid {
            let _ = sys::kill(-pid.0, libc::SIGKILL);
            let _ = sys::kill(pid.0, libc::SIGKILL);
        }
    }
}

/// Stop everything in shutdown order, within `deadline` if there is one; after it, SIGKILL
/// what is left. True when the deadline passed.
async fn stop_all(sup: &Supervisor, state: SupervisorState, deadline: Option<Duration>) -> bool {
    let Some(limit) = deadline else {
        sup.stop_all_ordered(state).await;
        return false;
    };
    if tokio::time::timeout(limit, sup.stop_all_ordered(state))
        .await
        .is_ok()
    {
        return false;
    }
    let left: Vec<String> = sup
        .processes()
        .iter()
        .filter(|p| !p.quiet())
        .map(|p| p.config.namespec())
        .collect();
    mainlog::critical(format!(
        "shutdown took longer than shutdown_timeout ({} s): sending SIGKILL to what is left ({})",
        limit.as_secs(),
        left.join(", ")
    ));
    kill_everything(sup);
    // Let the processes' tasks see them die (the reaper routes their exits), briefly.
    let until = tokio::time::Instant::now() + Duration::from_secs(3);
    for p in sup.processes() {
        let _ = tokio::time::timeout_at(until, p.wait_until(Info::quiet)).await;
    }
    true
}

/// What a run starts with: the configuration and what was bound for it, or, after an
/// in-place upgrade, what the old image handed over.
struct Start {
    source: ConfigSource,
    config: Config,
    registry: Rc<sockets::Registry>,
    servers: rpc::Listeners,
    /// The binary an upgrade without `--binary` runs.
    exe: String,
    restored: Option<Restored>,
}

/// The running groups and event pools an upgraded corrald takes over.
struct Restored {
    groups: Vec<(crate::supervisor::GroupExport, Option<std::os::fd::OwnedFd>)>,
    stale_auto: Vec<String>,
    events: crate::events::EventsExport,
}

async fn run(start: Start, deploy: Deploy) -> i32 {
    let Start {
        source,
        config,
        registry,
        servers,
        exe,
        mut restored,
    } = start;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = sys::set_child_subreaper() {
        mainlog::warn(format!(
            "cannot become a child subreaper ({e}); orphans of supervised programs will not be tracked"
        ));
    }
    let reaper = Reaper::new();
    reaper.set_init(deploy.init);
    tokio::task::spawn_local(reaper.clone().run());
    configure_forwarding(&config);
    let events = EventBus::new(&config.supervisord.identifier);
    let statefile = std::path::Path::new(&config.supervisord.statefile);
    let journal = Rc::new(RefCell::new(if restored.is_some() {
        Journal::resume(statefile)
    } else {
        Journal::create(statefile)
    }));
    let config = Rc::new(config);
    let (changes_tx, changes_rx) = mpsc::unbounded_channel();
    let services = make_services(
        &config,
        &reaper,
        &events,
        &journal,
        &registry,
        &deploy,
        &changes_tx,
    );
    let mut deadline = shutdown_deadline(&config, deploy.init);
    let sup = Supervisor::new(services, source, config.clone());
    tokio::task::spawn_local(handle_signals(sup.clone()));
    let mut http = rpc::serve(servers, &sup);
    let mut upgrades = sup
        .upgrade_requests()
        .expect("the one main loop takes the upgrade requests");

    let awaiting_ready = Rc::new(Cell::new(false));
    let exit_code = Rc::new(Cell::new(None));
    let kick = Rc::new(tokio::sync::Notify::new());
    let observer = Observer {
        sup: sup.clone(),
        notifier: deploy.notifier.clone(),
        awaiting_ready: awaiting_ready.clone(),
        exit_code: exit_code.clone(),
        last_status: String::new(),
    };
    let observer = tokio::task::spawn_local(observer.run(changes_rx, kick.clone()));
    let watchdog = match (&deploy.notifier, deploy.watchdog) {
        (Some(n), Some(every)) => {
            let n = n.clone();
            Some(tokio::task::spawn_local(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    n.watchdog();
                }
            }))
        }
        _ => None,
    };
    let mut killed = false;

    loop {
        if let Some(r) = restored.take() {
            // An upgrade: the groups run already; their tasks pick up where they were.
            events.restore(r.events);
            for e in sup.restore_groups(r.groups, r.stale_auto) {
                mainlog::error(format!("upgrade: {e}"));
            }
            events.reattach_done();
            kick.notify_one();
        } else {
            for e in sup.add_all_groups().await {
                mainlog::error(e.to_string());
            }
            events.publish(BusEvent::SupervisorRunning);
            // A request (a signal) may have come in while the groups were added, between
            // turns of the event loop: then it goes first, as in supervisord.
            if sup.requested().is_none() {
                sup.activate();
            }
            awaiting_ready.set(true);
            kick.notify_one();
        }

        let (request, next_config) = loop {
            let request = tokio::select! {
                r = sup.wait_request() => r,
                Some(u) = upgrades.recv() => {
                    let parts = upgrade::Parts {
                        sup: &sup,
                        registry: &registry,
                        servers: &http,
                        events: &events,
                        reaper: &reaper,
                        exe: &exe,
                        argv: &argv,
                    };
                    upgrade::perform(&parts, u).await;
                    continue;
                }
            };
            match request {
                Request::Shutdown => break (Request::Shutdown, None),
                Request::Restart => {
                    if let Some(n) = &deploy.notifier {
                        n.reloading("reloading the configuration");
                    }
                    match sup.read_config() {
                        Ok(c) => break (Request::Restart, Some(c)),
                        Err(errs) => {
                            // supervisord dies on a bad config at restart; corral keeps
                            // running what it has and says why.
                            mainlog::error(
                                "restart aborted: the configuration has errors; nothing was stopped",
                            );
                            errs.iter().for_each(|e| mainlog::error(e.to_string()));
                            sup.request_clear();
                            if let Some(n) = &deploy.notifier {
                                n.ready(&format!(
                                    "reload refused: {} error(s) in the configuration; {}",
                                    errs.len(),
                                    summary(&sup).1
                                ));
                            }
                        }
                    }
                }
            }
        };
        awaiting_ready.set(false);
        let state = if request == Request::Shutdown {
            if let Some(n) = &deploy.notifier {
                n.stopping(&format!("stopping {} programs", sup.processes().len()));
            }
            SupervisorState::Shutdown
        } else {
            SupervisorState::Restarting
        };
        let limit = if request == Request::Shutdown {
            deadline
        } else {
            None
        };
        killed |= stop_all(&sup, state, limit).await;
        sup.clear();
        let Some(new) = next_config else { break };
        deadline = shutdown_deadline(&new, deploy.init);
        configure_forwarding(&new);

        // A restart: same daemon, new configuration. Unchanged sockets stay open.
        for e in registry.sync(&new.sockets) {
            mainlog::error(e);
        }
        let s = &new.supervisord;
        let file =
            RotatingFile::open(s.logfile.as_str(), s.logfile_maxbytes, s.logfile_backups).ok();
        mainlog::configure(s.loglevel, file, s.nodaemon && !s.silent);
        events.set_identifier(&s.identifier);
        for m in &new.warnings {
            mainlog::warn(m);
        }
        for m in &new.infos {
            mainlog::info(m);
        }
        log_fd_plan(&new, sys::getrlimit(libc::RLIMIT_NOFILE).unwrap_or((0, 0)));
        http.reload(&new);
        let new = Rc::new(new);
        let services = make_services(
            &new,
            &reaper,
            &events,
            &journal,
            &registry,
            &deploy,
            &changes_tx,
        );
        sup.replace_config(services, new);
        mainlog::info(format!("supervisord started with pid {}", sys::getpid()));
    }
    observer.abort();
    if let Some(w) = watchdog {
        w.abort();
    }
    journal.borrow_mut().remove();
    registry.close_all();
    // 0 for an orderly shutdown; a `shutdown_on_exit` program's status; 1 when the
    // shutdown deadline passed and what was left had to be killed.
    exit_code.get().unwrap_or(i32::from(killed))
}

/// TERM/INT/QUIT: shut down. HUP: restart. USR2: reopen logs. USR1: upgrade in place
/// (corral's). (CHLD is the reaper's.)
async fn handle_signals(sup: Rc<Supervisor>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (kind, name) in [
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::quit(), "SIGQUIT"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::user_defined2(), "SIGUSR2"),
        (SignalKind::user_defined1(), "SIGUSR1"),
    ] {
        match signal(kind) {
            Ok(mut stream) => {
                let tx = tx.clone();
                tokio::task::spawn_local(async move {
                    while stream.recv().await.is_some() && tx.send(name).is_ok() {}
                });
            }
            Err(e) => mainlog::critical(format!("cannot handle {name}: {e}")),
        }
    }
    drop(tx);
    while let Some(name) = rx.recv().await {
        match name {
            "SIGHUP" => {
                if sup.requested() == Some(Request::Shutdown) {
                    mainlog::warn(
                        "ignored SIGHUP indicating restart request (shutdown in progress)",
                    );
                } else {
                    mainlog::warn("received SIGHUP indicating restart request");
                    sup.request(Request::Restart);
                }
            }
            "SIGUSR1" => {
                // corral's: supervisord leaves USR1 alone (USR2 reopens logs).
                mainlog::warn("received SIGUSR1 indicating upgrade request");
                drop(sup.request_upgrade(None));
            }
            "SIGUSR2" => {
                mainlog::info("received SIGUSR2 indicating log reopen request");
                mainlog::info("supervisord logreopen");
                mainlog::reopen();
                for p in sup.processes() {
                    p.send(crate::process::Command::ReopenLogs);
                }
            }
            _ => {
                mainlog::warn(format!("received {name} indicating exit request"));
                sup.request(Request::Shutdown);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_of_a_main_program() {
        use ProcessState::{Exited, Fatal};
        assert_eq!(exit_code_of(Exited, Some(WaitStatus::exited(3))), 3);
        assert_eq!(exit_code_of(Exited, Some(WaitStatus::exited(0))), 0);
        assert_eq!(exit_code_of(Exited, Some(WaitStatus::signaled(9))), 137);
        assert_eq!(exit_code_of(Fatal, Some(WaitStatus::exited(0))), 1);
        assert_eq!(exit_code_of(Fatal, Some(WaitStatus::exited(2))), 2);
        assert_eq!(exit_code_of(Fatal, None), 1);
    }

    #[test]
    fn a_main_program_is_never_restarted() {
        let mut cfg = crate::testutil::process_config("main", "true");
        cfg.autorestart = corral_config::AutoRestart::Always;
        let s = corral_core::Settings::from_config(&cfg);
        assert_eq!(s.autorestart, corral_config::AutoRestart::Always);
        cfg.shutdown_on_exit = true;
        let s = corral_core::Settings::from_config(&cfg);
        assert_eq!(s.autorestart, corral_config::AutoRestart::Never);
    }
}
