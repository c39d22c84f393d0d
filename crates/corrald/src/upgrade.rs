//! Replacing corrald's binary in place, the way systemd's `daemon-reexec` does: the same
//! process (same pid, so every child stays corrald's child and is still reaped by it)
//! executes the new binary, which picks up where the old one was.
//!
//! 1. **Check.** The new binary is run as `BINARY --upgrade-check` with the state document
//!    on its stdin: it must start, read the configuration, and understand the state. If it
//!    does not, nothing changes and the caller gets its reason.
//! 2. **Hand over.** The reaper stops reaping (an exit stays a zombie in the kernel, so none
//!    is taken and lost), every process task hands over its state and then waits, and the
//!    state is written to a memory file: configuration, machines, the pids and owners of
//!    every run, leftovers already signalled, event-listener buffers, and the raw numbers
//!    of every descriptor that must survive: listening sockets, HTTP servers, each child's
//!    output pipes, stdin, notify socket. CLOEXEC is cleared on exactly those, and corrald
//!    executes the new binary with its original arguments and `CORRAL_UPGRADE_STATE=<fd>`.
//! 3. **Resume.** The new image (`resume`) reads the state before opening anything, takes
//!    the descriptors back, restores every task, and reaps what exited meanwhile. A pipe
//!    the old image stopped reading is read by the new one from where it stopped: no log
//!    byte is lost or doubled. Log files are reopened in append mode, so their rotation
//!    goes on from their size.
//!
//! If the exec itself fails, the old image takes its tasks back (nothing was torn down) and
//! carries on. An upgrade waits for nothing: one asked for during a rolling restart is
//! refused, with the reason.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use corral_core::SupervisorState;

use crate::events::{EventBus, EventsExport};
use crate::logs::mainlog;
use crate::reaper::Reaper;
use crate::rpc::{ServerExport, Servers};
use crate::sockets::{Registry, SocketExport};
use crate::supervisor::{Supervisor, SupervisorExport, UpgradeRequest};
use crate::sys::spawn::{ExecPlan, fork_exec};
use crate::sys::{self, handover};

/// The environment variable naming the state's descriptor in the new image.
pub const STATE_ENV: &str = "CORRAL_UPGRADE_STATE";

/// The state format this binary writes, and the ones it reads.
pub const FORMAT: u32 = 1;

/// How long the new binary's check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the new image needs.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub format: u32,
    /// The corral version that wrote it.
    pub version: String,
    /// The binary to run at the next upgrade without `--binary`.
    pub exe: String,
    /// corrald's command line (without the program name).
    pub argv: Vec<String>,
    pub supervisor: SupervisorExport,
    pub sockets: Vec<SocketExport>,
    pub servers: Vec<ServerExport>,
    pub events: EventsExport,
}

impl State {
    /// Every descriptor the state names.
    fn descriptors(&self) -> Vec<RawFd> {
        let mut fds: Vec<RawFd> = Vec::new();
        fds.extend(self.sockets.iter().map(|s| s.fd));
        fds.extend(self.servers.iter().map(|s| s.fd));
        fds.extend(self.events.descriptors());
        for g in &self.supervisor.groups {
            fds.extend(g.fcgi.as_ref().map(|f| f.0));
            for p in &g.processes {
                fds.extend(p.readers.iter().map(|r| r.fd));
                if let Some(m) = &p.main {
                    fds.extend(m.stdin);
                    fds.extend(m.notify.as_ref().map(|n| n.0));
                }
            }
        }
        fds
    }

    fn to_json(&self) -> Result<Vec<u8>, String> {
        corral_core::persist::with_base(Instant::now(), || serde_json::to_vec(self))
            .map_err(|e| format!("cannot write the state: {e}"))
    }

    /// Read a state document; its deadlines are taken as counting from now.
    pub fn from_json(data: &[u8]) -> Result<State, String> {
        #[derive(serde::Deserialize)]
        struct Head {
            format: u32,
            version: String,
        }
        let head: Head = serde_json::from_slice(data)
            .map_err(|e| format!("not an upgrade state document: {e}"))?;
        if head.format != FORMAT {
            return Err(format!(
                "state format {} (written by corral {}) is not format {FORMAT}, the one corral {} reads",
                head.format,
                head.version,
                env!("CARGO_PKG_VERSION")
            ));
        }
        corral_core::persist::with_base(Instant::now(), || serde_json::from_slice(data)).map_err(
            |e| {
                format!(
                    "cannot read the state written by corral {}: {e}",
                    head.version
                )
            },
        )
    }
}

/// What the daemon's run holds that an upgrade hands over.
pub struct Parts<'a> {
    pub sup: &'a Rc<Supervisor>,
    pub registry: &'a Registry,
    pub servers: &'a Servers,
    pub events: &'a EventBus,
    pub reaper: &'a Reaper,
    /// The binary to run without `--binary`, and corrald's arguments.
    pub exe: &'a str,
    pub argv: &'a [String],
}

/// Carry out one upgrade request. Returns only if the image was not replaced (the reason
/// has gone to the requester, or to the main log).
pub async fn perform(parts: &Parts<'_>, request: UpgradeRequest) {
    let UpgradeRequest { binary, reply } = request;
    let binary = binary.unwrap_or_else(|| parts.exe.to_string());
    let answer = |reply: Option<oneshot::Sender<Result<(), String>>>, r: Result<(), String>| {
        if let Err(why) = &r {
            mainlog::warn(format!("upgrade to {binary} refused: {why}"));
        }
        if let Some(tx) = reply {
            let _ = tx.send(r);
        }
    };
    if let Err(why) = ready(parts) {
        return answer(reply, Err(why));
    }
    mainlog::info(format!("upgrade: checking {binary}"));
    // A dry run of the handover: the tasks hand their state over and carry on at once.
    let (sup_export, resumes) = parts.sup.export().await;
    drop(resumes);
    let dry = state(parts, sup_export);
    let checked = match dry.to_json() {
        Ok(json) => check(parts.reaper, &binary, &json).await,
        Err(e) => Err(e),
    };
    if let Err(why) = checked {
        return answer(reply, Err(why));
    }
    answer(reply, Ok(()));
    // Let the answer reach the caller before its connection goes with this image.
    tokio::time::sleep(Duration::from_millis(100)).await;
    if let Err(why) = ready(parts) {
        mainlog::warn(format!("upgrade to {binary} abandoned: {why}"));
        return;
    }
    hand_over(parts, &binary).await;
}

/// An upgrade can start now, or why not.
fn ready(parts: &Parts<'_>) -> Result<(), String> {
    if parts.sup.state() != SupervisorState::Running {
        return Err(format!(
            "corrald is {}, not RUNNING",
            parts.sup.state().name()
        ));
    }
    let busy = parts.sup.busy_processes();
    if !busy.is_empty() {
        return Err(format!(
            "a rolling restart is under way ({}); try again when it is done",
            busy.join(", ")
        ));
    }
    Ok(())
}

fn state(parts: &Parts<'_>, supervisor: SupervisorExport) -> State {
    State {
        format: FORMAT,
        version: env!("CARGO_PKG_VERSION").to_string(),
        exe: parts.exe.to_string(),
        argv: parts.argv.to_vec(),
        supervisor,
        sockets: parts.registry.export(),
        servers: parts.servers.export(),
        events: parts.events.export(),
    }
}

/// Run `binary --upgrade-check` with the state on its stdin; `Err` says why it refused.
async fn check(reaper: &Reaper, binary: &str, json: &[u8]) -> Result<(), String> {
    let meta = std::fs::metadata(binary).map_err(|e| format!("{binary}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{binary} is not a file"));
    }
    let stdin = handover::memfd_with("corral-upgrade-check", json)
        .map_err(|e| format!("cannot pass the state to the check: {e}"))?;
    let (out_r, out_w) = sys::pipe().map_err(|e| format!("cannot run the check: {e}"))?;
    let cstr = |s: &str| CString::new(s).map_err(|_| format!("{binary}: a NUL in its path"));
    let plan = ExecPlan::plain(
        cstr(binary)?,
        vec![cstr(binary)?, cstr("--upgrade-check")?],
        std::env::vars()
            .filter(|(k, _)| k != STATE_ENV)
            .filter_map(|(k, v)| CString::new(format!("{k}={v}")).ok())
            .collect(),
        [stdin.as_raw_fd(), out_w.as_raw_fd(), out_w.as_raw_fd()],
    );
    let pid = fork_exec(&plan).map_err(|e| format!("cannot run {binary}: {e}"))?;
    let status = reaper.register_once(pid);
    drop((stdin, out_w));
    let status = match tokio::time::timeout(CHECK_TIMEOUT, status).await {
        Ok(Ok(s)) => s,
        Ok(Err(_)) => return Err(format!("the check of {binary} was lost")),
        Err(_) => {
            let _ = sys::kill(pid, libc::SIGKILL);
            return Err(format!(
                "{binary} --upgrade-check did not answer within {} s",
                CHECK_TIMEOUT.as_secs()
            ));
        }
    };
    let mut output = String::new();
    let _ = std::fs::File::from(out_r)
        .take(64 * 1024)
        .read_to_string(&mut output);
    if status.exited_normally() && status.decode().0 == 0 {
        mainlog::info(format!(
            "upgrade: {binary} passed its check: {}",
            output.trim()
        ));
        Ok(())
    } else {
        let why = output.trim();
        Err(format!(
            "{binary} --upgrade-check failed ({}){}{}",
            status.decode().1,
            if why.is_empty() { "" } else { ": " },
            why
        ))
    }
}

/// Freeze, export, exec. Returns only if the exec failed (everything resumed).
async fn hand_over(parts: &Parts<'_>, binary: &str) {
    parts.reaper.freeze();
    let (sup_export, resumes) = parts.sup.export().await;
    let state = state(parts, sup_export);
    let fds = state.descriptors();
    let error = match state.to_json().and_then(|json| {
        handover::memfd_with("corral-upgrade-state", &json)
            .map_err(|e| format!("cannot write the state: {e}"))
    }) {
        Ok(memfd) => exec(binary, parts.argv, &fds, &memfd),
        Err(e) => e,
    };
    mainlog::critical(format!(
        "upgrade to {binary} failed: {error}; this corrald carries on unchanged"
    ));
    for tx in resumes {
        let _ = tx.send(());
    }
    parts.reaper.thaw();
}

/// Clear CLOEXEC on the descriptors to pass and execute `binary`; returns only on failure
/// (with every flag restored).
fn exec(binary: &str, argv: &[String], fds: &[RawFd], memfd: &OwnedFd) -> String {
    let mut cleared = Vec::new();
    for &fd in fds.iter().chain([memfd.as_raw_fd()].iter()) {
        match handover::set_cloexec(fd, false) {
            Ok(()) => cleared.push(fd),
            Err(e) => {
                restore_cloexec(&cleared);
                return format!("descriptor {fd} cannot be passed on: {e}");
            }
        }
    }
    mainlog::info(format!(
        "upgrade: executing {binary} (pid {}, {} descriptors handed over)",
        sys::getpid(),
        cleared.len()
    ));
    // systemd's socket-activation variables describe descriptors this image adopted (and
    // hands over in the state): the new image must not adopt them again.
    let mut env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k != STATE_ENV && !k.starts_with("LISTEN_"))
        .collect();
    env.push((STATE_ENV.to_string(), memfd.as_raw_fd().to_string()));
    let mut full_argv = vec![binary.to_string()];
    full_argv.extend(argv.iter().cloned());
    let e = handover::execve(binary, &full_argv, &env);
    restore_cloexec(&cleared);
    format!("execve: {e}")
}

fn restore_cloexec(fds: &[RawFd]) {
    for &fd in fds {
        let _ = handover::set_cloexec(fd, true);
    }
}

/// The state a previous image handed over, if this process is an upgrade's new image.
/// Read (and the variable removed, so no child inherits it) before anything else opens a
/// descriptor that could take one of the numbers it names.
pub fn inherited() -> Option<Result<State, String>> {
    let value = std::env::var(STATE_ENV).ok()?;
    sys::remove_env(STATE_ENV);
    let fd: RawFd = match value.parse() {
        Ok(fd) => fd,
        Err(_) => return Some(Err(format!("{STATE_ENV}={value} is not a descriptor"))),
    };
    Some(
        handover::read_inherited(fd)
            .map_err(|e| format!("cannot read the handed-over state (fd {fd}): {e}"))
            .and_then(|data| State::from_json(&data)),
    )
}

/// `corrald --upgrade-check`: read a state document on stdin; succeed if this binary reads
/// it and the configuration it names.
pub fn run_check() -> i32 {
    let mut data = Vec::new();
    if let Err(e) = std::io::stdin().read_to_end(&mut data) {
        println!("cannot read the state on stdin: {e}");
        return 1;
    }
    let state = match State::from_json(&data) {
        Ok(s) => s,
        Err(e) => {
            println!("{e}");
            return 1;
        }
    };
    match state.supervisor.source.read() {
        Ok(_) => {
            println!(
                "corral {} reads the state of corral {} ({} groups) and {}",
                env!("CARGO_PKG_VERSION"),
                state.version,
                state.supervisor.groups.len(),
                state.supervisor.config.path
            );
            0
        }
        Err(errors) => {
            let first = errors.first().map(ToString::to_string).unwrap_or_default();
            println!("the configuration has {} error(s): {first}", errors.len());
            1
        }
    }
}

/// Take ownership of a descriptor the state names (see [`handover::adopt_inherited`]).
pub fn adopt(fd: RawFd) -> Result<OwnedFd, String> {
    handover::adopt_inherited(fd).map_err(|e| format!("descriptor {fd} was not handed over: {e}"))
}
