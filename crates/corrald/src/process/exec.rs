//! From a `ProcessConfig` to an [`ExecPlan`]: the command resolved against PATH and checked
//! (supervisord's `get_execv_args` + `check_execv_args`, same messages), and the child's
//! environment built in supervisord's order, with corral's `environment_file=` read at
//! every spawn (so a changed secret applies on the next start) just before
//! `environment=`.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use corral_config::ProcessConfig;

use crate::sys::spawn::{Credentials, ExecPlan};
use crate::sys::user;

/// Why a command can't be run (each maps to an XML-RPC fault in `startProcess`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecError {
    /// The command line can't be split, or is empty (NOT_EXECUTABLE).
    BadCommand(String),
    /// No such file, on PATH or at the given path (NO_FILE).
    NotFound(String),
    /// A directory, or no execute bit (NOT_EXECUTABLE).
    NotExecutable(String),
    /// Execute bit set but not for us (NOT_EXECUTABLE).
    NoPermission(String),
    /// Something else (user vanished, NUL byte in an argument).
    Other(String),
}

impl ExecError {
    pub fn message(&self) -> &str {
        match self {
            ExecError::BadCommand(m)
            | ExecError::NotFound(m)
            | ExecError::NotExecutable(m)
            | ExecError::NoPermission(m)
            | ExecError::Other(m) => m,
        }
    }
}

/// Python's `repr()` of a str, as supervisord's messages show file names.
pub use corral_config::pystr::repr as py_repr;

/// What the program adds to the environment: its `environment_file=`s in order, then
/// `environment=`, which wins. A missing required file or a malformed one is an error
/// (the spawn fails with it: `environment_file /etc/web.env:3: ...`).
pub fn program_env(cfg: &ProcessConfig) -> Result<BTreeMap<String, String>, ExecError> {
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    if !cfg.environment_files.is_empty() {
        let pairs = corral_config::dotenv::read_files(
            &cfg.environment_files,
            &corral_config::host::RealHost,
        )
        .map_err(ExecError::Other)?;
        env.extend(pairs);
    }
    for (k, v) in &cfg.environment {
        env.insert(k.clone(), v.clone());
    }
    Ok(env)
}

/// supervisord's `get_execv_args`: (file to exec, argv).
pub fn resolve_command(
    cfg: &ProcessConfig,
    daemon_env: &BTreeMap<String, String>,
) -> Result<(String, Vec<String>), ExecError> {
    // The PATH of an environment file counts; an unreadable file fails the spawn itself.
    let own_path = if cfg.environment_files.is_empty() {
        None
    } else {
        program_env(cfg).ok().and_then(|e| e.get("PATH").cloned())
    };
    resolve_command_with(
        cfg,
        own_path.as_ref().or(cfg.environment.get("PATH")),
        daemon_env,
    )
}

fn resolve_command_with(
    cfg: &ProcessConfig,
    own_path: Option<&String>,
    daemon_env: &BTreeMap<String, String>,
) -> Result<(String, Vec<String>), ExecError> {
    let argv = corral_config::shlex::split(&cfg.command).map_err(|e| {
        ExecError::BadCommand(format!(
            "can't parse command {}: {}",
            py_repr(&cfg.command),
            e
        ))
    })?;
    let Some(program) = argv.first().cloned() else {
        return Err(ExecError::BadCommand("command is empty".into()));
    };
    let (filename, meta) = if program.contains('/') {
        let meta = std::fs::metadata(&program).ok();
        (program, meta)
    } else {
        // The program's own PATH, else corrald's, else supervisord's default.
        let path = own_path
            .or_else(|| daemon_env.get("PATH").filter(|p| !p.is_empty()))
            .cloned()
            .unwrap_or_else(|| "/bin:/usr/bin:/usr/local/bin".into());
        let found = path.split(':').find_map(|dir| {
            let candidate = Path::new(dir).join(&program);
            std::fs::metadata(&candidate)
                .ok()
                .map(|m| (candidate.to_string_lossy().into_owned(), m))
        });
        match found {
            Some((f, m)) => (f, Some(m)),
            None => (program, None),
        }
    };
    check_executable(&filename, meta.as_ref())?;
    Ok((filename, argv))
}

fn check_executable(filename: &str, meta: Option<&std::fs::Metadata>) -> Result<(), ExecError> {
    let Some(meta) = meta else {
        return Err(ExecError::NotFound(format!(
            "can't find command {}",
            py_repr(filename)
        )));
    };
    if meta.is_dir() {
        return Err(ExecError::NotExecutable(format!(
            "command at {} is a directory",
            py_repr(filename)
        )));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(ExecError::NotExecutable(format!(
            "command at {} is not executable",
            py_repr(filename)
        )));
    }
    let allowed = crate::sys::fs::can_execute(filename)
        .map_err(|_| ExecError::Other("command contains a NUL byte".into()))?;
    if !allowed {
        return Err(ExecError::NoPermission(format!(
            "no permission to run command {}",
            py_repr(filename)
        )));
    }
    Ok(())
}

/// What the caller adds to a plan besides the config: fds and extra environment.
#[derive(Debug, Default)]
pub struct PlanExtras {
    pub stdio: [i32; 3],
    /// Sockets for LISTEN_FDS, with their names.
    pub listen: Vec<(i32, String)>,
    /// e.g. NOTIFY_SOCKET.
    pub env: Vec<(String, String)>,
    /// Set `WATCHDOG_PID` to the child's pid (`watchdogsecs`).
    pub watchdog_pid: bool,
}

/// The full plan for one spawn.
pub fn plan(
    cfg: &ProcessConfig,
    daemon_env: &BTreeMap<String, String>,
    serverurl: Option<&str>,
    extras: PlanExtras,
) -> Result<ExecPlan, ExecError> {
    let own_env = program_env(cfg)?;
    let (filename, argv) = resolve_command_with(cfg, own_env.get("PATH"), daemon_env)?;
    build(
        cfg, daemon_env, own_env, serverurl, extras, &filename, &argv,
    )
}

/// `/bin/sh -c COMMAND` run the way the program runs (its environment, user, directory and
/// umask): an `exec:` health check.
pub fn shell_plan(
    cfg: &ProcessConfig,
    daemon_env: &BTreeMap<String, String>,
    serverurl: Option<&str>,
    command: &str,
    stdio: [i32; 3],
) -> Result<ExecPlan, ExecError> {
    let extras = PlanExtras {
        stdio,
        ..PlanExtras::default()
    };
    let argv = ["sh".to_string(), "-c".to_string(), command.to_string()];
    let own_env = program_env(cfg)?;
    build(
        cfg, daemon_env, own_env, serverurl, extras, "/bin/sh", &argv,
    )
}

/// The plan of `argv` run as `cfg`'s program runs: `own_env` is its own environment
/// (`environment_file=` then `environment=`, see [`program_env`]).
fn build(
    cfg: &ProcessConfig,
    daemon_env: &BTreeMap<String, String>,
    own_env: BTreeMap<String, String>,
    serverurl: Option<&str>,
    extras: PlanExtras,
    filename: &str,
    argv: &[String],
) -> Result<ExecPlan, ExecError> {
    let account = match &cfg.user {
        Some(u) => Some(
            user::by_uid(u.uid)
                .map_err(|e| ExecError::Other(format!("couldn't look up user {}: {e}", u.spec)))?,
        ),
        None => None,
    };

    // supervisord: os.environ, then SUPERVISOR_*, then the program's environment.
    let mut env: BTreeMap<String, String> = daemon_env.clone();
    if let Some(account) = &account {
        // A child running as another user gets that user's identity variables (supervisord
        // leaves root's HOME in place, which breaks every tool that writes to ~).
        env.insert("HOME".into(), account.home.clone());
        env.insert("USER".into(), account.name.clone());
        env.insert("LOGNAME".into(), account.name.clone());
    }
    env.insert("SUPERVISOR_ENABLED".into(), "1".into());
    if let Some(url) = cfg.serverurl.as_deref().or(serverurl) {
        env.insert("SUPERVISOR_SERVER_URL".into(), url.into());
    }
    env.insert("SUPERVISOR_PROCESS_NAME".into(), cfg.name.clone());
    env.insert("SUPERVISOR_GROUP_NAME".into(), cfg.group.to_string());
    env.extend(own_env);
    for (k, v) in extras.env {
        env.insert(k, v);
    }
    let mut listen_pid_slot = None;
    let mut watchdog_pid_slot = None;
    let mut env_c: Vec<CString> = Vec::with_capacity(env.len() + 4);
    if extras.watchdog_pid {
        env.remove("WATCHDOG_PID");
        watchdog_pid_slot = Some(env_c.len());
        env_c.push(ExecPlan::pid_placeholder("WATCHDOG_PID"));
    }
    if !extras.listen.is_empty() {
        env.remove("LISTEN_PID");
        env.insert("LISTEN_FDS".into(), extras.listen.len().to_string());
        env.insert(
            "LISTEN_FDNAMES".into(),
            extras
                .listen
                .iter()
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(":"),
        );
        listen_pid_slot = Some(env_c.len());
        env_c.push(ExecPlan::listen_pid_placeholder());
    }
    for (k, v) in &env {
        if let Ok(c) = CString::new(format!("{k}={v}")) {
            env_c.push(c);
        }
    }

    let cstr = |s: &str| {
        CString::new(s).map_err(|_| ExecError::Other(format!("NUL byte in {}", py_repr(s))))
    };
    Ok(ExecPlan {
        filename: cstr(filename)?,
        argv: argv.iter().map(|a| cstr(a)).collect::<Result<_, _>>()?,
        env: env_c,
        listen_pid_slot,
        watchdog_pid_slot,
        cwd: match &cfg.directory {
            Some(d) => Some(
                CString::new(Path::new(d).as_os_str().as_bytes())
                    .map_err(|_| ExecError::Other("NUL byte in directory".into()))?,
            ),
            None => None,
        },
        umask: cfg.umask,
        credentials: account.map(|a| Credentials {
            uid: a.uid,
            gid: a.gid,
            groups: a.groups,
        }),
        stdio: extras.stdio,
        pass_fds: extras.listen.iter().map(|(fd, _)| *fd).collect(),
        display_argv0: argv[0].clone(),
    })
}
