//! The one place that reaps children.
//!
//! A single `waitpid(-1, WNOHANG)` loop, woken by SIGCHLD, routes each exit status to whoever
//! registered that pid (a process task, a readiness probe). Nothing else in corrald waits
//! for children — in particular not `tokio::process`, whose own waiting would race this loop
//! for the same statuses. Because corrald is a child subreaper, orphans of supervised trees
//! are re-parented to us and end up here too; they are reaped and logged like supervisord's
//! "reaped unknown pid". As a container's init (PID 1), every orphan of the namespace is
//! re-parented to us: those are reaped the same way, logged at debug level only (a shell
//! script's background jobs would fill the log otherwise).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::oneshot;

use crate::logs::mainlog;
use crate::sys::{self, Pid};
use corral_core::WaitStatus;

/// An exit, routed to the pid's owner.
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub pid: Pid,
    pub status: WaitStatus,
}

/// Where a long-lived owner takes exits; false when it is gone.
pub type ExitSink = Box<dyn Fn(Exit) -> bool>;

enum Route {
    /// A long-lived owner (a process task) that gets every exit of its pids.
    Channel(ExitSink),
    /// A one-off waiter (a probe command).
    Once(oneshot::Sender<WaitStatus>),
}

/// The pid → owner table.
#[derive(Default)]
pub struct Reaper {
    routes: RefCell<HashMap<Pid, Route>>,
    /// While an upgrade hands the daemon over, exits stay unreaped (zombies keep their
    /// status in the kernel) so that none is taken before the handover and lost with it.
    frozen: std::cell::Cell<bool>,
    /// Init mode: unknown pids are expected (any orphan of the namespace), not news.
    init: Cell<bool>,
}

impl Reaper {
    pub fn new() -> Rc<Reaper> {
        Rc::new(Reaper::default())
    }

    /// Init mode (corrald is the namespace's PID 1): reaping a pid nobody registered is
    /// routine, and logged at debug level.
    pub fn set_init(&self, on: bool) {
        self.init.set(on);
    }

    /// Route the exit of `pid` to `to`. Call right after forking, before yielding to the
    /// runtime: the reaper runs on the same thread, so it cannot see the exit first.
    pub fn register(&self, pid: Pid, to: ExitSink) {
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

    /// Stop reaping until [`Reaper::thaw`] (an upgrade is being handed over).
    pub fn freeze(&self) {
        self.frozen.set(true);
    }

    /// Reap again, starting with what exited meanwhile.
    pub fn thaw(&self) {
        self.frozen.set(false);
        self.reap_all();
    }

    /// Reap everything that has exited and route it.
    pub fn reap_all(&self) {
        if self.frozen.get() {
            return;
        }
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
            Some(Route::Channel(to)) => to(Exit { pid, status }),
            Some(Route::Once(tx)) => {
                let _ = tx.send(status);
                true
            }
            None => false,
        };
        if !delivered {
            let msg = format!("reaped unknown pid {pid} ({})", status.decode().1);
            if self.init.get() {
                mainlog::debug(msg);
            } else {
                mainlog::info(msg);
            }
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
        self.reap_all();
        while sigchld.recv().await.is_some() {
            self.reap_all();
            // supervisord logs each SIGCHLD its main loop handles, after that loop's reap
            // (`Supervisor.handle_signal`); SIGCHLDs that arrive together are one, here too.
            mainlog::debug("received SIGCHLD indicating a child quit");
        }
    }
}
