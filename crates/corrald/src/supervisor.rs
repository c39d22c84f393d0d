//! The supervisor: the running process groups, and the operations over them that
//! supervisord performs (priority-ordered start and stop, shutdown, reload, update).
//!
//! It owns no process state itself: each process lives in its own task
//! ([`crate::process`]); this is the registry of their handles plus the orchestration that
//! spans several of them.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use corral_config::{Config, GroupConfig, GroupKind, LogFile, ProcessConfig};
use corral_core::SupervisorState;

use crate::daemon::Ctx;
use crate::events::Event as BusEvent;
use crate::logs;
use crate::mainlog;
use crate::process::{Command, Info, LogPaths, ProcessHandle, Spec};
use crate::sockets::{self, Listening};

/// A running process group.
#[derive(Debug, Clone)]
pub struct Group {
    pub config: Rc<GroupConfig>,
    pub processes: Vec<ProcessHandle>,
    /// `[fcgi-program:x]`: the shared socket, held so it stays open as long as the group
    /// exists, even while none of its processes runs.
    _fcgi_socket: Option<Rc<Listening>>,
}

impl Group {
    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn find(&self, name: &str) -> Option<&ProcessHandle> {
        self.processes.iter().find(|p| p.name() == name)
    }

    /// Every process stopped, and nothing left of a rolling restart.
    pub fn all_stopped(&self) -> bool {
        self.processes.iter().all(ProcessHandle::quiet)
    }
}

/// Why the daemon's main loop should end its current run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Shutdown,
    Restart,
}

pub struct Supervisor {
    ctx: RefCell<Rc<Ctx>>,
    /// The configuration last read (at start, restart or `reloadConfig`). Running groups
    /// keep the config they were created with until `update` replaces them, exactly as in
    /// supervisord, so `diff_to_active` compares the two.
    config: RefCell<Rc<Config>>,
    groups: RefCell<Vec<Group>>,
    state: Cell<SupervisorState>,
    request: watch::Sender<Option<Request>>,
}

impl Supervisor {
    pub fn new(ctx: Rc<Ctx>, config: Rc<Config>) -> Rc<Supervisor> {
        let (request, _) = watch::channel(None);
        Rc::new(Supervisor {
            ctx: RefCell::new(ctx),
            config: RefCell::new(config),
            groups: RefCell::new(Vec::new()),
            state: Cell::new(SupervisorState::Running),
            request,
        })
    }

    pub fn ctx(&self) -> Rc<Ctx> {
        self.ctx.borrow().clone()
    }

    pub fn config(&self) -> Rc<Config> {
        self.config.borrow().clone()
    }

    pub fn state(&self) -> SupervisorState {
        self.state.get()
    }

    /// The running groups, in start order (priority, then name).
    pub fn groups(&self) -> Vec<Group> {
        self.groups.borrow().clone()
    }

    pub fn group(&self, name: &str) -> Option<Group> {
        self.groups
            .borrow()
            .iter()
            .find(|g| g.name() == name)
            .cloned()
    }

    /// Every process handle, in start order.
    pub fn processes(&self) -> Vec<ProcessHandle> {
        self.groups
            .borrow()
            .iter()
            .flat_map(|g| g.processes.iter().cloned())
            .collect()
    }

    /// Ask the main loop to shut down or restart (RPC, signals).
    pub fn request(&self, r: Request) {
        // The API refuses work from now on (supervisord sets its mood at once).
        if self.state.get() != SupervisorState::Shutdown {
            self.state.set(match r {
                Request::Shutdown => SupervisorState::Shutdown,
                Request::Restart => SupervisorState::Restarting,
            });
        }
        self.request.send_if_modified(|cur| {
            // A shutdown request wins over a restart.
            if *cur == Some(Request::Shutdown) || *cur == Some(r) {
                false
            } else {
                *cur = Some(r);
                true
            }
        });
    }

    /// Forget a request that could not be carried out (a restart with a bad config).
    pub fn request_clear(&self) {
        self.state.set(SupervisorState::Running);
        self.request.send_replace(None);
    }

    pub fn requested(&self) -> Option<Request> {
        *self.request.borrow()
    }

    /// Wait for a shutdown or restart request.
    pub async fn wait_request(&self) -> Request {
        let mut rx = self.request.subscribe();
        loop {
            if let Some(r) = *rx.borrow_and_update() {
                return r;
            }
            if rx.changed().await.is_err() {
                return Request::Shutdown;
            }
        }
    }

    /// Create every group of the configuration (nothing starts yet).
    pub fn add_all_groups(&self) -> Vec<String> {
        let config = self.config();
        let mut errors = Vec::new();
        for g in &config.groups {
            if let Err(e) = self.add_group(g) {
                errors.push(e);
            }
        }
        errors
    }

    /// supervisord's `add_process_group`: false if a group of that name runs already.
    pub fn add_group(&self, gcfg: &GroupConfig) -> Result<bool, String> {
        if self.group(&gcfg.name).is_some() {
            return Ok(false);
        }
        let ctx = self.ctx();
        let fcgi_socket = match &gcfg.kind {
            GroupKind::FastCgi(s) => {
                Some(Rc::new(sockets::bind_fcgi(s).map_err(|e| {
                    format!("Could not create FastCGI socket {}: {e}", s.url)
                })?))
            }
            _ => None,
        };
        let mut processes = Vec::with_capacity(gcfg.processes.len());
        for p in &gcfg.processes {
            let spec = Spec {
                config: Rc::new(p.clone()),
                logs: self.log_paths(p),
                fcgi_socket: fcgi_socket.clone(),
            };
            let handle = ProcessHandle::spawn(spec, ctx.clone())
                .map_err(|e| format!("cannot open the log files of '{}': {e}", p.name))?;
            processes.push(handle);
        }
        ctx.events.add_group(gcfg);
        let group = Group {
            config: Rc::new(gcfg.clone()),
            processes,
            _fcgi_socket: fcgi_socket,
        };
        {
            let mut groups = self.groups.borrow_mut();
            groups.push(group);
            // Stable by priority: ties keep the order groups were added in (a Python dict's
            // insertion order, as supervisord sorts its groups).
            groups.sort_by_key(|g| g.config.priority);
        }
        ctx.events
            .publish(BusEvent::ProcessGroupAdded(gcfg.name.clone()));
        Ok(true)
    }

    /// AUTO log files are created (named) when the group is created, as supervisord does.
    fn log_paths(&self, p: &ProcessConfig) -> LogPaths {
        let config = self.config();
        let s = &config.supervisord;
        let resolve = |lf: &LogFile, channel: &str| match lf {
            LogFile::None => None,
            LogFile::Path(_) => lf.path().map(str::to_string),
            LogFile::Auto => {
                match logs::auto_log_path(&s.childlogdir, &p.name, channel, &s.identifier) {
                    Ok(path) => Some(path),
                    Err(e) => {
                        mainlog::error(format!(
                            "cannot create AUTO {channel} log for '{}' in {}: {e}",
                            p.name, s.childlogdir
                        ));
                        None
                    }
                }
            }
        };
        LogPaths {
            stdout: resolve(&p.stdout.logfile, "stdout"),
            stderr: resolve(&p.stderr.logfile, "stderr"),
        }
    }

    /// supervisord's `remove_process_group`: only when every process is stopped.
    pub fn remove_group(&self, name: &str) -> bool {
        let mut groups = self.groups.borrow_mut();
        let Some(pos) = groups.iter().position(|g| g.name() == name) else {
            return false;
        };
        if !groups[pos].all_stopped() {
            return false;
        }
        groups.remove(pos);
        drop(groups);
        let ctx = self.ctx();
        ctx.events.remove_group(name);
        ctx.events
            .publish(BusEvent::ProcessGroupRemoved(name.to_string()));
        true
    }

    /// Start the autostart processes, in priority order (no one-second delay).
    pub fn activate(&self) {
        for p in self.processes() {
            p.send(Command::Activate);
        }
    }

    /// Stop everything, group by group, highest priority number first, each group fully
    /// stopped before the next (supervisord's shutdown order).
    pub async fn stop_all_ordered(&self, state: SupervisorState) {
        self.state.set(state);
        let ctx = self.ctx();
        ctx.events.publish(BusEvent::SupervisorStopping);
        for p in self.processes() {
            p.send(Command::DaemonStopping);
        }
        let groups = self.groups();
        for group in groups.iter().rev() {
            if matches!(group.config.kind, GroupKind::EventListener(_)) {
                ctx.events.drain(group.name(), Duration::from_secs(5)).await;
            }
            // Within a group, highest priority number first (supervisord sorts them so).
            let mut procs = group.processes.clone();
            procs.sort_by_key(|p| std::cmp::Reverse(p.config.priority));
            for p in &procs {
                p.send(Command::ShutdownStop);
            }
            self.wait_stopped(&procs).await;
        }
    }

    /// Wait until all `procs` are in a stopped state, logging who we wait for every 3 s
    /// (supervisord's "waiting for x, y to die").
    async fn wait_stopped(&self, procs: &[ProcessHandle]) {
        let mut last_report = Instant::now();
        loop {
            let unstopped: Vec<&ProcessHandle> = procs.iter().filter(|p| !p.quiet()).collect();
            let Some(first) = unstopped.first() else {
                return;
            };
            if last_report.elapsed() >= Duration::from_secs(3) {
                let names: Vec<&str> = unstopped.iter().map(|p| p.name()).collect();
                mainlog::info(format!("waiting for {} to die", names.join(", ")));
                last_report = Instant::now();
            }
            let wait = first.wait_until(Info::quiet);
            let _ = tokio::time::timeout(Duration::from_secs(3), wait).await;
        }
    }

    /// Drop every group (after everything stopped), for a restart.
    pub fn clear(&self) {
        let names: Vec<String> = self
            .groups
            .borrow()
            .iter()
            .map(|g| g.name().to_string())
            .collect();
        for n in names {
            self.remove_group(&n);
        }
        self.groups.borrow_mut().clear();
    }

    /// Start a new run with a new configuration (after `clear`).
    pub fn replace_config(&self, ctx: Rc<Ctx>, config: Rc<Config>) {
        *self.ctx.borrow_mut() = ctx;
        *self.config.borrow_mut() = config;
        self.state.set(SupervisorState::Running);
        self.request.send_replace(None);
    }

    /// `reloadConfig`: the newly read configuration becomes the one `update` and
    /// `addProcessGroup` work from.
    pub fn set_config(&self, config: Rc<Config>) {
        *self.config.borrow_mut() = config;
    }

    /// supervisord's `diff_to_active`: (added, changed, removed) group names.
    pub fn diff_to_active(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        let new = self.config();
        let groups = self.groups.borrow();
        let mut added = Vec::new();
        let mut changed = Vec::new();
        for g in &new.groups {
            match groups.iter().find(|cur| cur.name() == g.name) {
                None => added.push(g.name.clone()),
                Some(cur) if cur.config.as_ref() != g => changed.push(g.name.clone()),
                Some(_) => {}
            }
        }
        let removed = groups
            .iter()
            .filter(|cur| !new.groups.iter().any(|g| g.name == cur.name()))
            .map(|cur| cur.name().to_string())
            .collect();
        (added, changed, removed)
    }
}

/// How one process fared in a rolling restart.
#[derive(Debug, Clone)]
pub struct RollResult {
    pub process: ProcessHandle,
    /// `(old pid, new pid)`; the old pid is 0 when the process was not running and was
    /// simply started.
    pub outcome: Result<(i32, i32), String>,
}

/// One process to roll, and the configuration its replacement runs (`None`: the same).
pub type RollItem = (ProcessHandle, Option<Rc<ProcessConfig>>);

impl Supervisor {
    /// Restart processes one after another (or `max_surge` at a time) without a gap:
    /// each gets a replacement that must be ready before the old process is stopped. Up
    /// to `max_unavailable` may instead be stopped first and started again (faster, with a
    /// gap). A process that is not running is simply started. The first failure ends the
    /// rollout: processes not yet begun are left as they are, and the old processes of
    /// failed replacements keep serving.
    pub async fn rolling_restart(
        &self,
        items: Vec<RollItem>,
        max_surge: usize,
        max_unavailable: usize,
    ) -> Vec<RollResult> {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(bool, RollResult)>();
        let mut queue: std::collections::VecDeque<RollItem> = items.into();
        let (mut surging, mut unavailable) = (0usize, 0usize);
        let mut results = Vec::new();
        let mut failed = false;
        loop {
            while !failed && !queue.is_empty() {
                let gap = if surging < max_surge {
                    false
                } else if unavailable < max_unavailable {
                    true
                } else {
                    break;
                };
                let (p, cfg) = queue.pop_front().expect("not empty");
                if gap {
                    unavailable += 1;
                } else {
                    surging += 1;
                }
                let tx = tx.clone();
                tokio::task::spawn_local(async move {
                    let outcome = roll_one(&p, cfg, gap).await;
                    let _ = tx.send((
                        gap,
                        RollResult {
                            process: p,
                            outcome,
                        },
                    ));
                });
            }
            if surging + unavailable == 0 {
                break;
            }
            let Some((gap, r)) = rx.recv().await else {
                break;
            };
            if gap {
                unavailable -= 1;
            } else {
                surging -= 1;
            }
            if r.outcome.is_err() {
                failed = true;
            }
            results.push(r);
        }
        results
    }

    /// `update` of a changed group, without a gap: every process is replaced by one
    /// running its new configuration (see [`Supervisor::rolling_restart`]). Only when the
    /// group keeps the same processes (same names, same kind); otherwise `Err`, and the
    /// caller falls back to stop/remove/add.
    pub async fn rolling_update(
        &self,
        name: &str,
        max_surge: usize,
        max_unavailable: usize,
    ) -> Result<Vec<RollResult>, String> {
        let config = self.config();
        let new = config
            .group(name)
            .cloned()
            .ok_or_else(|| format!("{name} is not in the configuration"))?;
        let cur = self
            .group(name)
            .ok_or_else(|| format!("{name} is not running"))?;
        let same_shape = std::mem::discriminant(&cur.config.kind)
            == std::mem::discriminant(&new.kind)
            && cur.processes.len() == new.processes.len()
            && new.processes.iter().all(|p| cur.find(&p.name).is_some())
            && !matches!(
                new.kind,
                GroupKind::EventListener(_) | GroupKind::FastCgi(_)
            );
        if !same_shape {
            return Err(format!(
                "the processes of {name} changed; it can't be rolled"
            ));
        }
        // Only programs on corral sockets can overlap with their replacement safely (two
        // copies of a queue worker or a cron-like job could do the same work twice).
        if new.processes.iter().any(|p| p.sockets.is_empty()) {
            return Err(format!(
                "{name} does not use corral sockets; it is restarted the usual way"
            ));
        }
        let items: Vec<RollItem> = new
            .processes
            .iter()
            .map(|p| {
                (
                    cur.find(&p.name).expect("checked").clone(),
                    Some(Rc::new(p.clone())),
                )
            })
            .collect();
        let results = self
            .rolling_restart(items.clone(), max_surge, max_unavailable)
            .await;
        let done: Vec<&str> = results
            .iter()
            .filter(|r| r.outcome.is_ok())
            .map(|r| r.process.name())
            .collect();
        // Every process that rolled runs the new configuration now; the group takes it
        // when all did (else it stays "changed" and a later update finishes the job).
        let mut groups = self.groups.borrow_mut();
        if let Some(g) = groups.iter_mut().find(|g| g.name() == name) {
            for (handle, cfg) in &items {
                if let (true, Some(cfg)) = (done.contains(&handle.name()), cfg) {
                    if let Some(slot) = g.processes.iter_mut().find(|p| p.name() == handle.name()) {
                        *slot = slot.with_config(cfg.clone());
                    }
                }
            }
            if done.len() == items.len() {
                g.config = Rc::new(new);
            }
        }
        Ok(results)
    }
}

/// One process of a rolling restart.
async fn roll_one(
    p: &ProcessHandle,
    cfg: Option<Rc<ProcessConfig>>,
    gap: bool,
) -> Result<(i32, i32), String> {
    use corral_core::ProcessState;
    let info = p.info();
    if info.state() == ProcessState::Running && !gap {
        return p.replace(cfg).await.map(|r| (r.old_pid, r.new_pid));
    }
    let old = info.snapshot.pid.unwrap_or(0);
    if let (Some(cfg), false) = (&cfg, info.state().is_running()) {
        // `update` of a process that is not running: new configuration; started only if
        // it is an autostart one (as re-adding the group would).
        if !p.reconfigure(cfg.clone()).await {
            return Err("cannot take the new configuration".into());
        }
        if !cfg.autostart {
            return Ok((0, 0));
        }
        return start_and_wait(p, 0).await;
    }
    if info.state().is_running() {
        p.stop().await;
        p.wait_until(Info::quiet).await;
    }
    if let Some(cfg) = cfg {
        if !p.reconfigure(cfg).await {
            return Err("cannot take the new configuration".into());
        }
    }
    start_and_wait(p, old).await
}

async fn start_and_wait(p: &ProcessHandle, old: i32) -> Result<(i32, i32), String> {
    use corral_core::{ProcessState, Reply};
    match p.start().await {
        Reply::Ok | Reply::AlreadyStarted => {}
        Reply::NotRunning => return Err("cannot start: not running".into()),
        Reply::InUnknownState => {
            return Err("cannot start: the process is in an unknown state".into());
        }
        Reply::Failed(e) => return Err(format!("cannot start: {e}")),
    }
    let info = p.wait_until(|i| i.state() != ProcessState::Starting).await;
    match info.state() {
        ProcessState::Running => Ok((old, info.snapshot.pid.unwrap_or(0))),
        s => Err(format!(
            "did not start: {} ({})",
            s.name(),
            info.snapshot.spawnerr.unwrap_or_default()
        )),
    }
}
