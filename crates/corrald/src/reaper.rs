//! The one place that reaps children.
//!
//! A single `waitpid(-1, WNOHANG)` loop, woken by SIGCHLD, routes each exit status to whoever
//! registered that pid (a process task, a readiness probe). Nothing else in corrald waits
//! for children — in particular not `tokio::process`, whose own waiting would race this loop
//! for the same statuses. Because corrald is a child subreaper, orphans of supervised trees
//! are re-parented to us and end up here too; they are reaped and logged like supervisord's
//! "reaped unknown pid".

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, oneshot};

use crate::mainlog;
use crate::sys::{self, Pid};
use corral_core::WaitStatus;

/// An exit, routed to the pid's owner.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub pid: Pid,
    pub status: WaitStatus,
}

enum Route {
    /// A long-lived owner (a process task) that gets every exit of its pids.
    Channel(mpsc::UnboundedSender<Exit>),
    /// A one-off waiter (a probe command).
    Once(oneshot::Sender<WaitStatus>),
}

/// The pid → owner table.
#[derive(Default)]
pub struct Reaper {
    routes: RefCell<HashMap<Pid, Route>>,
}

impl Reaper {
    pub fn new() -> Rc<Reaper> {
        Rc::new(Reaper::default())
    }

    /// Route the exit of `pid` to `to`. Call right after forking, before yielding to the
    /// runtime: the reaper runs on the same thread, so it cannot see the exit first.
    pub fn register(&self, pid: Pid, to: mpsc::UnboundedSender<Exit>) {
        self.routes.borrow_mut().insert(pid, Route::Channel(to));
    }

    /// Whether `pid` is a child someone waits for (a main process or a probe).
    pub fn is_registered(&self, pid: Pid) -> bool {
        self.routes.borrow().contains_key(&pid)
    }

    /// Wait for one pid's exit status.
    pub fn register_once(&self, pid: Pid) -> oneshot::Receiver<WaitStatus> {
        let (tx, rx) = oneshot::channel();
        self.routes.borrow_mut().insert(pid, Route::Once(tx));
        rx
    }

    /// Reap everything that has exited and route it.
    pub fn reap_all(&self) {
        // Bounded, like supervisord's recursion guard, so a fork bomb can't pin us here;
        // SIGCHLD will wake us again for the rest.
        for _ in 0..10_000 {
            match sys::reap_one() {
                Ok(Some((pid, raw))) => self.route(pid, WaitStatus(raw)),
                Ok(None) => return,
                Err(e) => {
                    mainlog::critical(format!(
                        "waitpid error {e}; a process may not be cleaned up properly"
                    ));
                    return;
                }
            }
        }
    }

    fn route(&self, pid: Pid, status: WaitStatus) {
        let route = self.routes.borrow_mut().remove(&pid);
        let delivered = match route {
            // A closed channel: its task is gone, so nobody knows this pid any more.
            Some(Route::Channel(tx)) => tx.send(Exit { pid, status }).is_ok(),
            Some(Route::Once(tx)) => {
                let _ = tx.send(status);
                true
            }
            None => false,
        };
        if !delivered {
            mainlog::info(format!("reaped unknown pid {pid} ({})", status.decode().1));
        }
    }

    /// Reap forever, waking on SIGCHLD. Runs as its own task.
    pub async fn run(self: Rc<Self>) {
        let mut sigchld = match signal(SignalKind::child()) {
            Ok(s) => s,
            Err(e) => {
                mainlog::critical(format!(
                    "cannot watch SIGCHLD ({e}); children will not be reaped"
                ));
                return;
            }
        };
        loop {
            self.reap_all();
            if sigchld.recv().await.is_none() {
                return;
            }
        }
    }
}
