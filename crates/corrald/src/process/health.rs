//! Carrying out the machine's liveness effects (`corral_core::machine::health`): running
//! one health check, measuring a process tree's memory, and the recycle token the
//! processes of one program share. The rules (when to check, what a result means, when to
//! restart) are the machine's; this only does what it asks and reports back.
//!
//! * **Checks** are the forms `readiness=` takes (`probe.rs`'s functions): `tcp://` connects,
//!   `http://` GETs (2xx and 3xx are healthy), `exec:` runs `/bin/sh -c COMMAND` with the
//!   program's environment, user, directory and umask, spawned by corrald's spawner and
//!   reaped by its one reaper (never `tokio::process`). A check runs until it answers or
//!   the machine cancels it (its timeout): dropping the task kills an `exec:` check's
//!   process group.
//! * **Memory** is the resident set of the main process, its descendants and the orphans of
//!   its tree, summed from `/proc` (only the tree is walked).
//! * **The recycle token**: at most one process of a program recycles at a time. A process
//!   asks; it gets the token at once if it is free, else when the holder gives it back
//!   (`Command::RecycleGranted`), in the order they asked.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use tokio::io::Interest;
use tokio::task::JoinHandle;

use corral_config::{ProcessConfig, Readiness};
use corral_core::Pid;

use super::exec;
use super::leftovers::{self, Owner};
use super::probe;
use super::{Command, Services, local};
use crate::reaper::Reaper;
use crate::sys::{self, procfs, spawn};

/// The most of an `exec:` check's output kept for its result text.
const OUTPUT_KEPT: usize = 4096;

/// Run the health check `check` of process `pid` (configured by `cfg`); its result comes
/// back as `Command::HealthResult`. Abort the handle to cancel it.
pub fn run_check(
    check: &Readiness,
    cfg: &ProcessConfig,
    services: &Services,
    pid: Pid,
    tx: local::WeakSender<Command>,
) -> JoinHandle<()> {
    let label = check.label();
    let check = check.clone();
    // An exec check is prepared now (the environment is the program's); it runs in the task.
    let shell = match &check {
        Readiness::Exec { command } => Some(exec::shell_plan(
            cfg,
            &services.env,
            services.serverurl.as_deref(),
            command,
            [0, 0, 0],
        )),
        _ => None,
    };
    let reaper = services.reaper.clone();
    tokio::task::spawn_local(async move {
        let outcome = match (&check, shell) {
            (Readiness::Tcp { host, port }, _) => {
                probe::tcp(host, *port).await.map(|()| "connected".into())
            }
            (Readiness::Http { url }, _) => {
                match probe::http_status(url, None, "corrald-healthcheck").await {
                    Ok(code) if (200..400).contains(&code) => Ok(format!("HTTP {code}")),
                    Ok(code) => Err(format!("HTTP {code}")),
                    Err(e) => Err(e),
                }
            }
            (Readiness::Exec { .. }, Some(Ok(plan))) => run_shell(plan, &reaper).await,
            (Readiness::Exec { .. }, Some(Err(e))) => Err(e.message().to_string()),
            _ => Err("not a health check".into()),
        };
        let (ok, detail) = match outcome {
            Ok(d) => (true, d),
            Err(d) => (false, d),
        };
        let _ = tx.send(Command::HealthResult {
            pid,
            ok,
            text: format!("{label}: {detail}"),
        });
    })
}

/// Kills an `exec:` check's process group if the check is dropped before it exited (the
/// machine cancelled it: it timed out).
struct KillOnDrop<'a> {
    pid: sys::Pid,
    reaper: &'a Reaper,
    exited: bool,
}

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        // Every child is a session leader: its group id is its pid, which cannot be
        // reused while the check is not reaped.
        if !self.exited && self.reaper.is_registered(self.pid) {
            let _ = sys::kill(-self.pid, libc::SIGKILL);
        }
    }
}

/// Run a prepared `/bin/sh -c` plan with stdout and stderr on one pipe; `Ok` if it exits
/// 0. The text is the exit status and the first line of what it printed.
async fn run_shell(mut plan: spawn::ExecPlan, reaper: &Reaper) -> Result<String, String> {
    let devnull = std::fs::File::open("/dev/null").map_err(|e| e.to_string())?;
    let (out_r, out_w) = sys::pipe().map_err(|e| e.to_string())?;
    plan.stdio = [devnull.as_raw_fd(), out_w.as_raw_fd(), out_w.as_raw_fd()];
    let pid = spawn::fork_exec(&plan).map_err(|e| format!("cannot run it: {e}"))?;
    // Register before yielding: the reaper runs on this thread.
    let status_rx = reaper.register_once(pid);
    let mut guard = KillOnDrop {
        pid,
        reaper,
        exited: false,
    };
    drop((devnull, out_w));
    let output = Rc::new(RefCell::new(Vec::new()));
    let _ = sys::set_nonblocking(&out_r, true);
    let reader = sys::async_fd(out_r, Interest::READABLE).ok();
    let read_all = {
        let output = output.clone();
        async move {
            let Some(fd) = reader else {
                return std::future::pending().await;
            };
            let mut buf = [0u8; 1024];
            loop {
                let Ok(mut ready) = fd.readable().await else {
                    return std::future::pending().await;
                };
                match sys::read(fd.get_ref(), &mut buf) {
                    Ok(0) => return std::future::pending::<()>().await,
                    Ok(n) => {
                        let mut out = output.borrow_mut();
                        let room = OUTPUT_KEPT.saturating_sub(out.len());
                        out.extend_from_slice(&buf[..n.min(room)]);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready.clear_ready(),
                    Err(_) => return std::future::pending().await,
                }
            }
        }
    };
    let status = tokio::select! {
        s = status_rx => s,
        () = read_all => unreachable!("the reader never ends"),
    };
    guard.exited = true;
    let status = status.map_err(|_| "lost its exit status".to_string())?;
    let out = output.borrow();
    let first_line = String::from_utf8_lossy(&out)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| l.chars().take(200).collect::<String>());
    let text = match first_line {
        Some(line) => format!("{}: {line}", status.decode().1),
        None => status.decode().1,
    };
    if status.exited_normally() && status.decode().0 == 0 {
        Ok(text)
    } else {
        Err(text)
    }
}

/// Resident memory of `owner`'s main process and its tree, in bytes.
pub fn tree_rss(owner: &Owner, is_main: &dyn Fn(sys::Pid) -> bool) -> u64 {
    leftovers::tree(owner, is_main)
        .into_iter()
        .filter_map(procfs::rss_bytes)
        .sum()
}

/// The recycle token of one program: held by at most one of its processes.
#[derive(Debug, Default)]
pub struct RecycleToken {
    holder: Cell<Option<u64>>,
    waiters: RefCell<VecDeque<(u64, local::WeakSender<Command>)>>,
    next_member: Cell<u64>,
}

impl RecycleToken {
    pub fn new() -> Rc<RecycleToken> {
        Rc::new(RecycleToken::default())
    }

    /// A process's place at the token (given back when dropped).
    pub fn member(self: &Rc<Self>) -> RecycleMember {
        let id = self.next_member.get();
        self.next_member.set(id + 1);
        RecycleMember {
            token: self.clone(),
            id,
        }
    }

    /// The member holding it, if any.
    #[cfg(test)]
    pub fn holder(&self) -> Option<u64> {
        self.holder.get()
    }

    /// Hand the token to the next waiter whose task is still there.
    fn pass_on(&self) {
        loop {
            let Some((id, tx)) = self.waiters.borrow_mut().pop_front() else {
                self.holder.set(None);
                return;
            };
            if tx.send(Command::RecycleGranted).is_ok() {
                self.holder.set(Some(id));
                return;
            }
        }
    }
}

/// One process's place at its program's recycle token.
#[derive(Debug)]
pub struct RecycleMember {
    token: Rc<RecycleToken>,
    id: u64,
}

impl RecycleMember {
    /// Ask for the token: `true` if it is ours now; otherwise `RecycleGranted` comes on
    /// `tx` when it is our turn.
    pub fn request(&self, tx: &local::WeakSender<Command>) -> bool {
        let t = &self.token;
        match t.holder.get() {
            None => {
                t.holder.set(Some(self.id));
                true
            }
            Some(id) if id == self.id => true,
            Some(_) => {
                let mut waiters = t.waiters.borrow_mut();
                if !waiters.iter().any(|(id, _)| *id == self.id) {
                    waiters.push_back((self.id, tx.clone()));
                }
                false
            }
        }
    }

    /// Give the token back (the next waiter gets it), or stop waiting for it.
    pub fn release(&self) {
        let t = &self.token;
        t.waiters.borrow_mut().retain(|(id, _)| *id != self.id);
        if t.holder.get() == Some(self.id) {
            t.pass_on();
        }
    }
}

impl Drop for RecycleMember {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_in_the_order_asked() {
        let token = RecycleToken::new();
        let (a, b, c) = (token.member(), token.member(), token.member());
        let (tx_b, mut rx_b) = local::channel();
        let (tx_c, mut rx_c) = local::channel();
        let (tx_a, _rx_a) = local::channel();
        assert!(a.request(&tx_a.downgrade()));
        assert!(!b.request(&tx_b.downgrade()));
        assert!(!c.request(&tx_c.downgrade()));
        assert!(
            !b.request(&tx_b.downgrade()),
            "asking twice keeps one place"
        );
        assert!(rx_b.try_recv().is_none());
        a.release();
        assert!(matches!(rx_b.try_recv(), Some(Command::RecycleGranted)));
        assert!(rx_c.try_recv().is_none());
        assert_eq!(token.holder(), Some(b.id));
        // c stops waiting; b gives it back: nobody holds it.
        c.release();
        b.release();
        assert_eq!(token.holder(), None);
        assert!(rx_c.try_recv().is_none());
    }

    #[test]
    fn a_dropped_member_gives_the_token_back_and_closed_waiters_are_skipped() {
        let token = RecycleToken::new();
        let (a, b, c) = (token.member(), token.member(), token.member());
        let (tx, _rx) = local::channel();
        let (tx_b, rx_b) = local::channel();
        let (tx_c, mut rx_c) = local::channel();
        assert!(a.request(&tx.downgrade()));
        assert!(!b.request(&tx_b.downgrade()));
        assert!(!c.request(&tx_c.downgrade()));
        drop(rx_b); // b's task is gone
        drop(a);
        assert!(matches!(rx_c.try_recv(), Some(Command::RecycleGranted)));
        assert_eq!(token.holder(), Some(c.id));
        drop(b);
        assert_eq!(token.holder(), Some(c.id));
    }
}
