//! Finding and stopping what a program left behind.
//!
//! When a program's main process is gone, anything it started that still runs is a
//! leftover: members of its process group or session (every child is a session leader, so
//! both ids equal the main pid), and orphans of its tree that the kernel re-parented to
//! corrald (corrald is a child subreaper) and that carry the program's
//! `SUPERVISOR_PROCESS_NAME`/`SUPERVISOR_GROUP_NAME` in their environment — plus all their
//! descendants. This is the `Address already in use` of users' restarts: a grandchild
//! (Flask's reloader, a shell's child) kept the port after the supervised process died.
//!
//! Signals go through pidfds, opened and checked against the start time seen in the scan,
//! so a pid reused by an unrelated process is never signalled. Waiting is event-driven: a
//! pidfd becomes readable when its process exits.

use std::collections::{HashMap, HashSet};
use std::os::fd::OwnedFd;

use tokio::io::Interest;
use tokio::task::JoinHandle;

use crate::logs::mainlog;
use crate::sys::procfs::{self, ProcStat};
use crate::sys::{self, Pid};

/// Who the leftovers belong to.
#[derive(Debug, Clone)]
pub struct Owner {
    /// The program's configuration (its name and group).
    pub config: super::ProcConfig,
    /// The main process (also its process group and session id).
    pub main: Pid,
    /// Its start time, so a later process that reuses the pid is not taken for its tree.
    pub main_starttime: u64,
    /// For a main process replaced by a rolling restart: its successor's start time.
    /// Orphans started after it belong to the successor, not to this tree.
    pub successor_starttime: Option<u64>,
}

/// Find the leftovers of `owner`. `is_main` says whether a pid is some program's main
/// process (those are never leftovers of another).
pub fn scan(owner: &Owner, is_main: &dyn Fn(Pid) -> bool) -> Vec<ProcStat> {
    let me = sys::getpid();
    let group_alive = sys::kill(-owner.main, 0).is_ok();
    let orphans: Vec<Pid> = children_of(me)
        .into_iter()
        .filter(|p| !is_main(*p))
        .collect();
    if !group_alive && orphans.is_empty() {
        // Fast path: nobody in the process group and no orphans of ours at all.
        return Vec::new();
    }
    let all: Vec<ProcStat> = procfs::all()
        .into_iter()
        .filter(|p| !p.is_zombie())
        .collect();
    let mut found: HashSet<Pid> = HashSet::new();
    for p in &all {
        if p.pid == me || p.pid == 1 || is_main(p.pid) {
            continue;
        }
        let in_tree =
            (p.sid == owner.main || p.pgid == owner.main) && p.starttime >= owner.main_starttime;
        // An orphan carries the program's name in its environment; its age says which run
        // of the program it comes from.
        let of_this_run = p.starttime >= owner.main_starttime
            && owner.successor_starttime.is_none_or(|s| p.starttime < s);
        let our_orphan = p.ppid == me && of_this_run && {
            let [name, group] =
                procfs::environ_vars(p.pid, ["SUPERVISOR_PROCESS_NAME", "SUPERVISOR_GROUP_NAME"]);
            name.as_deref() == Some(owner.config.name.as_str())
                && group.as_deref() == Some(&*owner.config.group)
        };
        if in_tree || our_orphan {
            found.insert(p.pid);
        }
    }
    // Descendants of leftovers are leftovers.
    let by_parent = children_map(&all);
    add_descendants(&mut found, &by_parent, &|child| {
        child != me && !is_main(child)
    });
    let mut out: Vec<ProcStat> = all.into_iter().filter(|p| found.contains(&p.pid)).collect();
    out.sort_by_key(|p| p.pid);
    out
}

/// Each pid's children, from one reading of /proc.
pub fn children_map(all: &[ProcStat]) -> HashMap<Pid, Vec<Pid>> {
    let mut by_parent: HashMap<Pid, Vec<Pid>> = HashMap::new();
    for p in all {
        by_parent.entry(p.ppid).or_default().push(p.pid);
    }
    by_parent
}

/// Add to `found` every descendant of its members that `take` accepts (a refused one and
/// its subtree stay out).
pub fn add_descendants(
    found: &mut HashSet<Pid>,
    by_parent: &HashMap<Pid, Vec<Pid>>,
    take: &dyn Fn(Pid) -> bool,
) {
    let mut stack: Vec<Pid> = found.iter().copied().collect();
    while let Some(pid) = stack.pop() {
        for &child in by_parent.get(&pid).into_iter().flatten() {
            if take(child) && found.insert(child) {
                stack.push(child);
            }
        }
    }
}

/// corrald's direct children (main processes and re-parented orphans). Every thread's
/// list: the kernel may make any live thread of a subreaper the new parent of an orphan.
fn children_of(pid: Pid) -> Vec<Pid> {
    procfs::children(pid)
}

/// The running tree of `owner`'s main process: itself, its descendants, and orphans of its
/// tree re-parented to corrald (with theirs). Walks only that tree (`/proc/PID/task/*/
/// children`), not every process: it runs on a cadence for `max_memory`.
pub fn tree(owner: &Owner, is_main: &dyn Fn(Pid) -> bool) -> Vec<Pid> {
    let me = sys::getpid();
    let mut found = vec![owner.main];
    for p in children_of(me) {
        if p == owner.main || is_main(p) {
            continue;
        }
        let Ok(st) = procfs::stat(p) else { continue };
        if st.is_zombie() || st.starttime < owner.main_starttime {
            continue;
        }
        let [name, group] =
            procfs::environ_vars(p, ["SUPERVISOR_PROCESS_NAME", "SUPERVISOR_GROUP_NAME"]);
        if name.as_deref() == Some(owner.config.name.as_str())
            && group.as_deref() == Some(&*owner.config.group)
        {
            found.push(p);
        }
    }
    let mut i = 0;
    while i < found.len() {
        for child in children_of(found[i]) {
            if !found.contains(&child) {
                found.push(child);
            }
        }
        i += 1;
    }
    found
}

/// The leftovers of one program being stopped: which got which signal, and the watcher
/// that reports when they are gone.
#[derive(Debug, Default)]
pub struct Cleanup {
    signaled: HashMap<Pid, (u64, i32)>,
    watcher: Option<JoinHandle<()>>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
    }
}

impl Cleanup {
    /// A cleanup that knows which leftovers got which signal already (an upgrade's
    /// handover): (pid, start time, signal).
    pub fn with_signaled(signaled: &[(Pid, u64, i32)]) -> Cleanup {
        Cleanup {
            signaled: signaled
                .iter()
                .map(|&(p, st, sig)| (p, (st, sig)))
                .collect(),
            watcher: None,
        }
    }

    /// Which leftovers got which signal: (pid, start time, signal).
    pub fn signaled_list(&self) -> Vec<(Pid, u64, i32)> {
        let mut v: Vec<_> = self
            .signaled
            .iter()
            .map(|(&p, &(st, sig))| (p, st, sig))
            .collect();
        v.sort_unstable();
        v
    }

    /// Remember that the main process's group got `sig` (stopasgroup/killasgroup), so
    /// members that are leftovers later don't get the same signal twice — a second SIGINT
    /// means "force" to many workers (RQ, Celery).
    pub fn note_group_signal(&mut self, pgid: Pid, sig: i32) {
        for p in procfs::all() {
            if p.pgid == pgid && !p.is_zombie() {
                self.signaled.insert(p.pid, (p.starttime, sig));
            }
        }
    }

    /// Signal every leftover in `procs` that has not had `sig` (or SIGKILL) yet, and watch
    /// them all; `on_gone` runs once every one of them has exited.
    pub fn signal(
        &mut self,
        owner: &Owner,
        procs: &[ProcStat],
        sig: i32,
        on_gone: Box<dyn FnOnce()>,
    ) {
        let mut fds = Vec::new();
        for p in procs {
            let Ok(pidfd) = sys::pidfd_open(p.pid) else {
                continue; // already gone
            };
            // The pid may have been reused between the scan and pidfd_open.
            if procfs::stat(p.pid).map(|s| s.starttime).ok() != Some(p.starttime) {
                continue;
            }
            let already = self
                .signaled
                .get(&p.pid)
                .is_some_and(|(st, s)| *st == p.starttime && (*s == sig || *s == libc::SIGKILL));
            if !already {
                let what = procfs::cmdline(p.pid);
                let msg = format!(
                    "sending {} to leftover process {} ({}) of '{}'",
                    corral_config::signals::name(sig),
                    p.pid,
                    if what.is_empty() {
                        p.comm.clone()
                    } else {
                        what
                    },
                    owner.config.name
                );
                if sig == libc::SIGKILL {
                    mainlog::warn(msg);
                } else {
                    mainlog::info(msg);
                }
                if let Err(e) = sys::pidfd_send_signal(&pidfd, sig) {
                    if e.raw_os_error() != Some(libc::ESRCH) {
                        mainlog::warn(format!("cannot signal leftover process {}: {e}", p.pid));
                    }
                }
                self.signaled.insert(p.pid, (p.starttime, sig));
            }
            fds.push(pidfd);
        }
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
        self.watcher = Some(tokio::task::spawn_local(wait_all(fds, on_gone)));
    }
}

/// Wait until every pidfd is readable (its process exited).
async fn wait_all(fds: Vec<OwnedFd>, on_gone: Box<dyn FnOnce()>) {
    for fd in fds {
        if let Ok(afd) = crate::sys::async_fd(fd, Interest::READABLE) {
            let _ = afd.readable().await;
        }
    }
    on_gone();
}
