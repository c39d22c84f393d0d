//! corrald from start to exit: read the config, get the machine ready (predecessor clean-up,
//! sockets, privileges, limits, logs, daemonizing, pidfile), then run the supervisor until
//! a shutdown, re-running it on each restart (SIGHUP or `supervisor.restart`).
//!
//! The runtime is a single-threaded tokio runtime: one thread, no wake-ups while nothing
//! happens, and no locks between the parts of the daemon. It is built only after
//! daemonizing, because forking a process that already has runtime threads is unsafe.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use tokio::signal::unix::{SignalKind, signal};

use corral_config::host::RealHost;
use corral_config::{Config, ConfigError};
use corral_core::SupervisorState;

use crate::cli::{self, Args};
use crate::events::{Event as BusEvent, EventBus};
use crate::logs::{self, rotating::RotatingFile};
use crate::mainlog;
use crate::reaper::Reaper;
use crate::rpc;
use crate::sockets;
use crate::statefile::{self, Journal};
use crate::supervisor::{Request, Supervisor};
use crate::sys;

/// What the parts of a run share.
pub struct Ctx {
    pub reaper: Rc<Reaper>,
    pub events: Rc<EventBus>,
    pub journal: Rc<RefCell<Journal>>,
    pub sockets: Rc<sockets::Registry>,
    /// corrald's own environment at start, the base of every child's.
    pub env: BTreeMap<String, String>,
    /// `SUPERVISOR_SERVER_URL` for children.
    pub serverurl: Option<String>,
    pub strip_ansi: bool,
}

/// How this run reads its configuration: the command-line overrides and `--strict`,
/// applied again whenever the file is re-read (SIGHUP, `restart`, `reloadConfig`).
#[derive(Clone, Default)]
struct ReadRules {
    overrides: corral_config::Overrides,
    strict: bool,
}

thread_local! {
    static READ_RULES: RefCell<ReadRules> = RefCell::new(ReadRules::default());
}

/// Read `path` under this run's rules. corral's warnings go to the main log (now if it is
/// configured, else once it is).
pub fn read_config(path: &str) -> Result<Config, Vec<ConfigError>> {
    let rules = READ_RULES.with(|r| r.borrow().clone());
    let mut loaded = corral_config::load(path, &RealHost, &rules.overrides);
    if rules.strict {
        loaded = loaded.strict();
    }
    for w in &loaded.corral_warnings {
        mainlog::warn(w);
    }
    loaded.into_result()
}

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

/// Why the configuration could not be read.
enum LoadError {
    /// The file has errors.
    Config(Vec<ConfigError>),
    /// No file to read (a usage error).
    Usage(String),
}

/// Read the configuration the way this run was asked to.
fn load(args: &Args) -> Result<Config, LoadError> {
    let path = cli::config_path(args.config.as_deref()).map_err(LoadError::Usage)?;
    read_config(&path).map_err(LoadError::Config)
}

pub fn main(argv: &[String]) -> i32 {
    let args = match cli::parse(argv) {
        Ok(a) => a,
        Err(e) => return usage_error(&e),
    };
    if args.help {
        print!("{}", cli::USAGE);
        return 0;
    }
    if args.version {
        println!("{}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    if args.check {
        return crate::check::run(args.config.as_deref(), args.json, args.strict);
    }
    sys::tzset();
    READ_RULES.with(|r| {
        *r.borrow_mut() = ReadRules {
            overrides: args.overrides.clone(),
            strict: args.strict,
        }
    });

    let config = match load(&args) {
        Ok(c) => c,
        Err(LoadError::Config(errors)) => return report_config_errors(&errors),
        Err(LoadError::Usage(msg)) => return usage_error(&msg),
    };
    let s = &config.supervisord;

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

    // The HTTP servers are opened before daemonizing so their errors reach the terminal.
    let servers = match rpc::Listeners::open(&config) {
        Ok(l) => l,
        Err(msg) => return usage_error(&msg),
    };

    let file = match RotatingFile::open(&s.logfile, s.logfile_maxbytes, s.logfile_backups) {
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
    if !s.nocleanup {
        logs::clear_auto_logs(&s.childlogdir, &s.identifier);
    }
    servers.log_startup(&config);

    if !s.nodaemon {
        if let Err(e) = daemonize(s.directory.as_deref(), s.umask) {
            mainlog::critical(format!("cannot daemonize: {e}"));
            return 1;
        }
    }
    let pidfile = s.pidfile.clone();
    write_pidfile(&pidfile);

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            mainlog::critical(format!("cannot start the event loop: {e}"));
            return 1;
        }
    };
    let local = tokio::task::LocalSet::new();
    let code = local.block_on(&runtime, run(args, config, registry, servers));
    let _ = std::fs::remove_file(&pidfile);
    code
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
    // SAFETY: no other threads exist yet (the runtime is built after this), so fork is
    // safe; the parent exits at once without running destructors.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(std::io::Error::last_os_error());
    }
    if pid > 0 {
        // SAFETY: _exit ends the parent immediately.
        unsafe { libc::_exit(0) };
    }
    mainlog::info("daemonizing the supervisord process");
    if let Some(dir) = directory {
        match std::env::set_current_dir(dir) {
            Ok(()) => mainlog::info(format!("set current directory: '{dir}'")),
            Err(e) => mainlog::critical(format!("can't chdir into '{dir}': {e}")),
        }
    }
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors.
        unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&devnull), fd) };
    }
    // SAFETY: setsid has no arguments; we are not a group leader after the fork.
    unsafe { libc::setsid() };
    sys::umask(umask);
    Ok(())
}

fn write_pidfile(path: &str) {
    match std::fs::write(path, format!("{}\n", sys::getpid())) {
        Ok(()) => mainlog::info(format!("supervisord started with pid {}", sys::getpid())),
        Err(_) => mainlog::critical(format!("could not write pidfile {path}")),
    }
}

fn make_ctx(
    config: &Config,
    reaper: &Rc<Reaper>,
    events: &Rc<EventBus>,
    journal: &Rc<RefCell<Journal>>,
    registry: &Rc<sockets::Registry>,
) -> Rc<Ctx> {
    Rc::new(Ctx {
        reaper: reaper.clone(),
        events: events.clone(),
        journal: journal.clone(),
        sockets: registry.clone(),
        env: std::env::vars().collect(),
        serverurl: config.supervisord.serverurl.clone(),
        strip_ansi: config.supervisord.strip_ansi,
    })
}

async fn run(
    args: Args,
    config: Config,
    registry: Rc<sockets::Registry>,
    servers: rpc::Listeners,
) -> i32 {
    if let Err(e) = sys::set_child_subreaper() {
        mainlog::warn(format!(
            "cannot become a child subreaper ({e}); orphans of supervised programs will not be tracked"
        ));
    }
    let reaper = Reaper::new();
    tokio::task::spawn_local(reaper.clone().run());
    let events = EventBus::new(&config.supervisord.identifier);
    let journal = Rc::new(RefCell::new(Journal::create(std::path::Path::new(
        &config.supervisord.statefile,
    ))));
    let config = Rc::new(config);
    let ctx = make_ctx(&config, &reaper, &events, &journal, &registry);
    let sup = Supervisor::new(ctx, config.clone());
    tokio::task::spawn_local(handle_signals(sup.clone()));
    let mut http = rpc::serve(servers, &sup);

    loop {
        for e in sup.add_all_groups() {
            mainlog::error(e);
        }
        sup.ctx().events.publish(BusEvent::SupervisorRunning);
        sup.activate();

        let (request, next_config) = loop {
            match sup.wait_request().await {
                Request::Shutdown => break (Request::Shutdown, None),
                Request::Restart => match load(&args) {
                    Ok(c) => break (Request::Restart, Some(c)),
                    Err(errs) => {
                        // supervisord dies on a bad config at restart; corral keeps running
                        // what it has and says why.
                        mainlog::error(
                            "restart aborted: the configuration has errors; nothing was stopped",
                        );
                        match errs {
                            LoadError::Config(errs) => {
                                errs.iter().for_each(|e| mainlog::error(e.to_string()));
                            }
                            LoadError::Usage(msg) => mainlog::error(msg),
                        }
                        sup.request_clear();
                    }
                },
            }
        };
        let state = if request == Request::Shutdown {
            SupervisorState::Shutdown
        } else {
            SupervisorState::Restarting
        };
        sup.stop_all_ordered(state).await;
        sup.clear();
        let Some(new) = next_config else { break };

        // A restart: same daemon, new configuration. Unchanged sockets stay open.
        for e in registry.sync(&new.sockets) {
            mainlog::error(e);
        }
        let s = &new.supervisord;
        let file = RotatingFile::open(&s.logfile, s.logfile_maxbytes, s.logfile_backups).ok();
        mainlog::configure(s.loglevel, file, s.nodaemon && !s.silent);
        events.set_identifier(&s.identifier);
        for m in &new.warnings {
            mainlog::warn(m);
        }
        for m in &new.infos {
            mainlog::info(m);
        }
        http.reload(&new);
        let new = Rc::new(new);
        let ctx = make_ctx(&new, &reaper, &events, &journal, &registry);
        sup.replace_config(ctx, new);
        mainlog::info(format!("supervisord started with pid {}", sys::getpid()));
    }
    journal.borrow_mut().remove();
    registry.close_all();
    0
}

/// TERM/INT/QUIT: shut down. HUP: restart. USR2: reopen logs. (CHLD is the reaper's.)
async fn handle_signals(sup: Rc<Supervisor>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for (kind, name) in [
        (SignalKind::terminate(), "SIGTERM"),
        (SignalKind::interrupt(), "SIGINT"),
        (SignalKind::quit(), "SIGQUIT"),
        (SignalKind::hangup(), "SIGHUP"),
        (SignalKind::user_defined2(), "SIGUSR2"),
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
