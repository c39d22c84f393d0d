//! The supervisor: the running process groups, the configuration they come from, and the
//! operations over them that supervisord performs (priority-ordered start and stop,
//! shutdown, reload, update).
//!
//! It owns no process state itself: each process lives in its own task
//! ([`crate::process`]); this is the registry of their handles plus the orchestration that
//! spans several of them. The layers above (`rpc`, `daemon`) reach processes only through
//! it. corral's orchestration has its own files: `deps.rs` (dependencies between
//! programs) and `scale.rs` (pools scaled at run time).

mod deps;
mod scale;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::time::Duration;

use std::os::fd::AsRawFd;

use tokio::sync::{mpsc, oneshot, watch};

use corral_config::host::RealHost;
use corral_config::{
    Config, ConfigError, GroupConfig, GroupKind, LogFile, Overrides, ProcessConfig,
};
use corral_core::SupervisorState;

use crate::events::Event as BusEvent;
use crate::logs;
use crate::logs::mainlog;
use crate::process::health::RecycleToken;
use crate::process::{
    Command, ExecError, Info, LogPaths, ProcConfig, ProcessHandle, Services, Spec,
};
use crate::sockets::{self, Listening};

pub use deps::DepStatus;
pub use scale::ScaleError;

/// Where this run's configuration comes from and the rules it is read by (the
/// command-line overrides, `--strict`), applied again at every re-read: SIGHUP,
/// `supervisor.restart`, `supervisor.reloadConfig`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ConfigSource {
    path: String,
    overrides: Overrides,
    strict: bool,
}

impl ConfigSource {
    pub fn new(path: String, overrides: Overrides, strict: bool) -> ConfigSource {
        ConfigSource {
            path,
            overrides,
            strict,
        }
    }

    /// Read the file. corral's warnings go to the main log (now if it is configured, else
    /// once it is).
    pub fn read(&self) -> Result<Config, Vec<ConfigError>> {
        let mut loaded = corral_config::load(&self.path, &RealHost, &self.overrides);
        if self.strict {
            loaded = loaded.strict();
        }
        for w in &loaded.corral_warnings {
            mainlog::warn(w);
        }
        loaded.into_result()
    }

    /// Read the file with `numprocs` processes for `section` (corral's scaling), quietly:
    /// the file's warnings were logged when it was read.
    pub fn load_with_numprocs(
        &self,
        section: &str,
        numprocs: u32,
    ) -> Result<Config, Vec<ConfigError>> {
        corral_config::load_with_numprocs(&self.path, &RealHost, &self.overrides, section, numprocs)
            .into_result()
    }
}

/// supervisord's `diff_to_active`: group names added, changed and removed by the
/// configuration last read, compared with what runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diff {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
}

/// A running group's configuration: the group of the configuration it was created from,
/// shared with it (a copy costs ~500 bytes per process), or one of its own (a rolling
/// update's, or a group created from elsewhere).
#[derive(Debug, Clone)]
pub struct GroupRef(GroupSource);

#[derive(Debug, Clone)]
enum GroupSource {
    Shared(Rc<Config>, usize),
    Own(Rc<GroupConfig>),
}

impl GroupRef {
    /// `gcfg` itself if it is a group of `config`, else a copy.
    fn new(config: &Rc<Config>, gcfg: &GroupConfig) -> GroupRef {
        match config.groups.iter().position(|g| std::ptr::eq(g, gcfg)) {
            Some(i) => GroupRef(GroupSource::Shared(config.clone(), i)),
            None => GroupRef::own(gcfg.clone()),
        }
    }

    fn own(gcfg: GroupConfig) -> GroupRef {
        GroupRef(GroupSource::Own(Rc::new(gcfg)))
    }

    /// The configuration of its process `i`, shared with it.
    fn process(&self, i: usize) -> ProcConfig {
        match &self.0 {
            GroupSource::Shared(c, g) => ProcConfig::in_config(c, *g, i),
            GroupSource::Own(g) => ProcConfig::in_group(g, i),
        }
    }
}

impl std::ops::Deref for GroupRef {
    type Target = GroupConfig;

    fn deref(&self) -> &GroupConfig {
        match &self.0 {
            GroupSource::Shared(c, i) => &c.groups[*i],
            GroupSource::Own(g) => g,
        }
    }
}

/// A running process group.
#[derive(Debug, Clone)]
pub struct Group {
    pub config: GroupRef,
    pub processes: Vec<ProcessHandle>,
    /// `[fcgi-program:x]`: the shared socket, held so it stays open as long as the group
    /// exists, even while none of its processes runs.
    _fcgi_socket: Option<Rc<Listening>>,
    /// One recycle token per program (section) of the group, shared by its processes
    /// (also those a scale-up adds).
    recycle: RecycleTokens,
}

/// The recycle tokens of a group's programs, by section.
#[derive(Debug, Clone, Default)]
pub struct RecycleTokens(Rc<RefCell<Vec<SectionToken>>>);

/// A program section and its recycle token.
type SectionToken = (String, Rc<RecycleToken>);

impl RecycleTokens {
    /// The token of `section`'s processes (made on first use).
    pub fn token(&self, section: &str) -> Rc<RecycleToken> {
        let mut tokens = self.0.borrow_mut();
        if let Some((_, t)) = tokens.iter().find(|(s, _)| s == section) {
            return t.clone();
        }
        let t = RecycleToken::new();
        tokens.push((section.to_string(), t.clone()));
        t
    }
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
    /// Itself, for the tasks it starts (the dependency orchestrator).
    me: Weak<Supervisor>,
    services: RefCell<Rc<Services>>,
    source: ConfigSource,
    /// The configuration last read (at start, restart or `reloadConfig`). Running groups
    /// keep the config they were created with until `update` replaces them, exactly as in
    /// supervisord, so `diff_to_active` compares the two.
    config: RefCell<Rc<Config>>,
    /// The groups that were running when `reloadConfig` last read the file. supervisord
    /// names AUTO log files by mutating the config object a group is created from, so
    /// `getAllConfigInfo` shows the real names only for groups created from the
    /// configuration last read; for those still running from an older one (until removed
    /// and added again) it shows `auto`. Forgotten when the configuration changes some
    /// other way (a restart).
    stale_auto: RefCell<Vec<String>>,
    groups: RefCell<Vec<Group>>,
    /// Groups being created (`add_group` yields between processes).
    adding: RefCell<Vec<String>>,
    state: Cell<SupervisorState>,
    /// When this image of corrald started (Unix seconds): an in-place upgrade keeps the pid
    /// but starts a new image, and clients tell the two apart by this.
    image_started: f64,
    request: watch::Sender<Option<Request>>,
    /// corral: dependencies between programs (`deps.rs`).
    deps: RefCell<deps::Deps>,
    /// corral: the groups being scaled now (`scale.rs`).
    scaling: RefCell<Vec<String>>,
    /// Upgrade requests (RPC, SIGUSR1), for the daemon's main loop.
    upgrades: (
        mpsc::UnboundedSender<UpgradeRequest>,
        RefCell<Option<mpsc::UnboundedReceiver<UpgradeRequest>>>,
    ),
}

/// A request to replace corrald's binary in place: the binary (`None`: the one running),
/// and who wants to know whether its check passed (`Err`: why not; nothing changed).
pub struct UpgradeRequest {
    pub binary: Option<String>,
    pub reply: Option<oneshot::Sender<Result<(), String>>>,
}

/// What the supervisor hands to an upgraded corrald.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SupervisorExport {
    pub source: ConfigSource,
    pub config: Config,
    pub stale_auto: Vec<String>,
    pub groups: Vec<GroupExport>,
}

/// One running group in an upgrade's handover.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct GroupExport {
    pub config: GroupConfig,
    /// `[fcgi-program:x]`: its socket (descriptor number, unix path).
    pub fcgi: Option<(std::os::fd::RawFd, Option<String>)>,
    pub processes: Vec<crate::process::handover::ProcessExport>,
}

impl Supervisor {
    pub fn new(services: Rc<Services>, source: ConfigSource, config: Rc<Config>) -> Rc<Supervisor> {
        let (request, _) = watch::channel(None);
        let (up_tx, up_rx) = mpsc::unbounded_channel();
        Rc::new_cyclic(|me| Supervisor {
            me: me.clone(),
            upgrades: (up_tx, RefCell::new(Some(up_rx))),
            services: RefCell::new(services),
            source,
            config: RefCell::new(config),
            stale_auto: RefCell::new(Vec::new()),
            groups: RefCell::new(Vec::new()),
            adding: RefCell::new(Vec::new()),
            state: Cell::new(SupervisorState::Running),
            image_started: crate::sys::unix_time(),
            request,
            deps: RefCell::new(deps::Deps::default()),
            scaling: RefCell::new(Vec::new()),
        })
    }

    pub fn services(&self) -> Rc<Services> {
        self.services.borrow().clone()
    }

    /// Read the configuration file again, under this run's rules (for a restart).
    pub fn read_config(&self) -> Result<Config, Vec<ConfigError>> {
        self.source.read()
    }

    /// `reloadConfig`: read the file; the new configuration becomes the one `update` and
    /// `addProcessGroup` work from. What it changes compared with what runs.
    pub fn reload_config(&self) -> Result<Diff, Vec<ConfigError>> {
        let new = self.source.read()?;
        *self.config.borrow_mut() = Rc::new(new);
        // Every running group now runs from a configuration older than this one.
        *self.stale_auto.borrow_mut() =
            self.groups().iter().map(|g| g.name().to_string()).collect();
        Ok(self.diff_to_active())
    }

    /// Whether group `name` runs from a configuration older than the one last read (its
    /// AUTO log names are not in that configuration).
    pub fn runs_stale_config(&self, name: &str) -> bool {
        self.stale_auto.borrow().iter().any(|n| n == name)
    }

    /// `addProcessGroup`: create group `name` from the configuration last read and start
    /// its autostart processes (supervisord's main loop does that on its next tick).
    /// `Ok(false)`: it runs already.
    pub async fn add_group_from_config(&self, name: &str) -> Result<bool, AddGroupError> {
        let config = self.config();
        let Some(g) = config.groups.iter().find(|g| g.name == name) else {
            return Err(AddGroupError::NotInConfig);
        };
        if !self.add_group(g).await.map_err(AddGroupError::Failed)? {
            return Ok(false);
        }
        self.stale_auto.borrow_mut().retain(|n| n != name);
        if let Some(group) = self.group(name) {
            for p in &group.processes {
                p.send(Command::Activate);
            }
        }
        Ok(true)
    }

    /// The command of `p`, checked as its spawn would check it.
    pub fn check_command(&self, p: &ProcessHandle) -> Result<(), ExecError> {
        p.check_command(&self.services().env)
    }

    /// `sendRemoteCommEvent`: a REMOTE_COMMUNICATION event for listeners.
    pub fn send_remote_comm_event(&self, kind: String, data: String) {
        self.services()
            .events
            .publish(BusEvent::RemoteCommunication { kind, data });
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

    /// Ask the main loop to replace corrald's binary in place (see `crate::upgrade`). The
    /// answer says whether the new binary passed its check.
    pub fn request_upgrade(&self, binary: Option<String>) -> oneshot::Receiver<Result<(), String>> {
        let (tx, rx) = oneshot::channel();
        let _ = self.upgrades.0.send(UpgradeRequest {
            binary,
            reply: Some(tx),
        });
        rx
    }

    /// When this image of corrald started (Unix seconds).
    pub fn image_started(&self) -> f64 {
        self.image_started
    }

    /// The upgrade requests, for the daemon's main loop (which takes them once).
    pub fn upgrade_requests(&self) -> Option<mpsc::UnboundedReceiver<UpgradeRequest>> {
        self.upgrades.1.borrow_mut().take()
    }

    /// Whether any process is in the middle of a rolling replacement (a candidate or a
    /// retiring process): an upgrade waits for those to finish.
    pub fn busy_processes(&self) -> Vec<String> {
        self.processes()
            .iter()
            .filter(|p| p.info().snapshot.busy > 0)
            .map(|p| p.name().to_string())
            .collect()
    }

    /// An upgrade's handover: every group and the state of each of its processes. Each
    /// process task waits, doing nothing, until the matching `resume` sender fires or is
    /// dropped (the upgrade was given up) -- or until the image is replaced.
    pub async fn export(&self) -> (SupervisorExport, Vec<oneshot::Sender<()>>) {
        let mut resumes = Vec::new();
        let mut groups = Vec::new();
        for g in self.groups() {
            let mut processes = Vec::new();
            for p in &g.processes {
                let (tx, rx) = oneshot::channel();
                resumes.push(tx);
                if let Some(e) = p.export(rx).await {
                    processes.push(e);
                }
            }
            groups.push(GroupExport {
                config: (*g.config).clone(),
                fcgi: g
                    ._fcgi_socket
                    .as_ref()
                    .map(|l| (l.as_raw_fd(), l.unix_path().map(str::to_string))),
                processes,
            });
        }
        let export = SupervisorExport {
            source: self.source.clone(),
            config: (*self.config()).clone(),
            stale_auto: self.stale_auto.borrow().clone(),
            groups,
        };
        (export, resumes)
    }

    /// Take over the groups an upgraded corrald handed over: each process task starts
    /// again where the old one was (`fcgi`: the group's socket, already adopted).
    pub fn restore_groups(
        &self,
        groups: Vec<(GroupExport, Option<std::os::fd::OwnedFd>)>,
        stale_auto: Vec<String>,
    ) -> Vec<GroupError> {
        let services = self.services();
        let mut errors = Vec::new();
        for (g, fcgi_fd) in groups {
            let fcgi_socket = fcgi_fd.map(|fd| {
                Rc::new(Listening::adopt(
                    fd,
                    g.fcgi.as_ref().and_then(|f| f.1.clone()),
                ))
            });
            // The pool first: its listeners rejoin it as their processes are restored.
            services.events.add_group(&g.config);
            let mut processes = Vec::new();
            let recycle = RecycleTokens::default();
            let group_config = GroupRef::own(g.config);
            let by_name: HashMap<&str, usize> = group_config
                .processes
                .iter()
                .enumerate()
                .map(|(i, p)| (p.name.as_str(), i))
                .collect();
            for e in g.processes {
                let recycle_token = recycle.token(&e.config.section);
                // Shared with the group's configuration where it is the group's (always,
                // but for a process a scale-up added).
                let config = match by_name.get(e.config.name.as_str()) {
                    Some(&i) if group_config.processes[i] == e.config => group_config.process(i),
                    _ => ProcConfig::own(e.config.clone()),
                };
                let spec = Spec {
                    config,
                    logs: e.logs.clone(),
                    fcgi_socket: fcgi_socket.clone(),
                    recycle: recycle_token,
                };
                let name = e.config.name.clone();
                match ProcessHandle::restore(spec, services.clone(), e) {
                    Ok(h) => processes.push(h),
                    Err(e) => errors.push(GroupError::LogFiles {
                        process: name,
                        error: e.to_string(),
                    }),
                }
            }
            self.groups.borrow_mut().push(Group {
                config: group_config,
                processes,
                _fcgi_socket: fcgi_socket,
                recycle,
            });
        }
        *self.stale_auto.borrow_mut() = stale_auto;
        errors
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
    pub async fn add_all_groups(&self) -> Vec<GroupError> {
        let config = self.config();
        let mut errors = Vec::new();
        for g in &config.groups {
            // A shutdown or restart asked for meanwhile: the rest would only be stopped.
            if self.requested().is_some() {
                break;
            }
            if let Err(e) = self.add_group(g).await {
                errors.push(e);
            }
        }
        errors
    }

    /// supervisord's `add_process_group`: false if a group of that name runs already (or
    /// is being created). Creating a process (its log files, its task) is paced like a
    /// spawn, so a group of thousands does not keep the control plane waiting; the group
    /// appears whole, once all its processes exist.
    pub async fn add_group(&self, gcfg: &GroupConfig) -> Result<bool, GroupError> {
        if self.group(&gcfg.name).is_some() || self.adding.borrow().contains(&gcfg.name) {
            return Ok(false);
        }
        let _adding = Adding::new(&self.adding, &gcfg.name);
        let services = self.services();
        let fcgi_socket = match &gcfg.kind {
            GroupKind::FastCgi(s) => Some(Rc::new(sockets::bind_fcgi(s).map_err(|e| {
                GroupError::FcgiSocket {
                    url: s.url.clone(),
                    error: e.to_string(),
                }
            })?)),
            _ => None,
        };
        let group_config = GroupRef::new(&self.config(), gcfg);
        let mut processes = Vec::with_capacity(gcfg.processes.len());
        let recycle = RecycleTokens::default();
        for (i, p) in gcfg.processes.iter().enumerate() {
            services.pace.admit().await;
            let recycle = recycle.token(&p.section);
            processes.push(self.spawn_process(
                group_config.process(i),
                fcgi_socket.clone(),
                recycle,
            )?);
        }
        if !Rc::ptr_eq(&services, &self.services()) {
            // A restart replaced the run this group was being created for.
            return Ok(false);
        }
        services.events.add_group(gcfg);
        let group = Group {
            config: group_config,
            processes,
            _fcgi_socket: fcgi_socket,
            recycle,
        };
        {
            let mut groups = self.groups.borrow_mut();
            groups.push(group);
            // Stable by priority: ties keep the order groups were added in (a Python dict's
            // insertion order, as supervisord sorts its groups).
            groups.sort_by_key(|g| g.config.priority);
        }
        services
            .events
            .publish(BusEvent::ProcessGroupAdded(gcfg.name.clone()));
        self.deps_changed();
        Ok(true)
    }

    /// The task of one process (it does nothing until told).
    fn spawn_process(
        &self,
        config: ProcConfig,
        fcgi_socket: Option<Rc<Listening>>,
        recycle: Rc<RecycleToken>,
    ) -> Result<ProcessHandle, GroupError> {
        let name = config.name.clone();
        let spec = Spec {
            logs: self.log_paths(&config),
            config,
            fcgi_socket,
            recycle,
        };
        let handle =
            ProcessHandle::spawn(spec, self.services()).map_err(|e| GroupError::LogFiles {
                process: name,
                error: e.to_string(),
            })?;
        if self.deps.borrow().running {
            self.watch_for_deps(&handle);
        }
        Ok(handle)
    }

    /// AUTO log files are created (named) when the group is created, as supervisord does.
    fn log_paths(&self, p: &ProcessConfig) -> LogPaths {
        let config = self.config();
        let s = &config.supervisord;
        let resolve = |lf: &LogFile, channel: &str| match lf {
            LogFile::None => None,
            LogFile::Path(_) => lf.path().map(Rc::from),
            LogFile::Auto => {
                match logs::auto_log_path(&s.childlogdir, &p.name, channel, &s.identifier) {
                    Ok(path) => Some(Rc::from(path)),
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
        let services = self.services();
        services.events.remove_group(name);
        services
            .events
            .publish(BusEvent::ProcessGroupRemoved(name.to_string()));
        self.deps_changed();
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
        let services = self.services();
        services.events.publish(BusEvent::SupervisorStopping);
        for p in self.processes() {
            p.send(Command::DaemonStopping);
        }
        let groups = self.groups();
        for group in groups.iter().rev() {
            // Within a group, highest priority number first (supervisord sorts them so).
            let mut procs = group.processes.clone();
            procs.sort_by_key(|p| std::cmp::Reverse(p.config.priority));
            if self.has_dependencies() {
                // corral: what depends on them stops first, dependents before dependencies.
                let dependents = self.running_dependents(&procs);
                for batch in self.stop_batches(dependents) {
                    self.shutdown_stop(&batch).await;
                }
                for batch in self.stop_batches(procs) {
                    self.shutdown_stop(&batch).await;
                }
                continue;
            }
            if matches!(group.config.kind, GroupKind::EventListener(_)) {
                services
                    .events
                    .drain(group.name(), Duration::from_secs(5))
                    .await;
            }
            for p in &procs {
                p.send(Command::ShutdownStop);
            }
            self.wait_stopped(&procs).await;
        }
    }

    /// Shutdown's stop of `procs`, together (eventlisteners drained first), and the wait.
    async fn shutdown_stop(&self, procs: &[ProcessHandle]) {
        if procs.is_empty() {
            return;
        }
        let services = self.services();
        let mut drained: Vec<&str> = Vec::new();
        for p in procs {
            let is_listener = self
                .group(p.group())
                .is_some_and(|g| matches!(g.config.kind, GroupKind::EventListener(_)));
            if is_listener && !drained.contains(&p.group()) {
                drained.push(p.group());
                services
                    .events
                    .drain(p.group(), Duration::from_secs(5))
                    .await;
            }
        }
        for p in procs {
            p.send(Command::ShutdownStop);
        }
        self.wait_stopped(procs).await;
    }

    /// Wait until all `procs` are in a stopped state, logging who we wait for every 3 s
    /// (supervisord's "waiting for x, y to die").
    async fn wait_stopped(&self, procs: &[ProcessHandle]) {
        const REPORT_EVERY: Duration = Duration::from_secs(3);
        let mut report = tokio::time::interval(REPORT_EVERY);
        report.tick().await; // the first tick is immediate
        loop {
            let unstopped: Vec<&ProcessHandle> = procs.iter().filter(|p| !p.quiet()).collect();
            let Some(first) = unstopped.first() else {
                return;
            };
            tokio::select! {
                _ = first.wait_until(Info::quiet) => {}
                _ = report.tick() => {
                    let names: Vec<&str> = unstopped.iter().map(|p| p.name()).collect();
                    mainlog::info(format!("waiting for {} to die", names.join(", ")));
                }
            }
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
    pub fn replace_config(&self, services: Rc<Services>, config: Rc<Config>) {
        *self.services.borrow_mut() = services;
        *self.config.borrow_mut() = config;
        self.stale_auto.borrow_mut().clear();
        self.state.set(SupervisorState::Running);
        self.request.send_replace(None);
    }

    /// supervisord's `diff_to_active`.
    pub fn diff_to_active(&self) -> Diff {
        let new = self.config();
        let groups = self.groups.borrow();
        let mut added = Vec::new();
        let mut changed = Vec::new();
        for g in &new.groups {
            match groups.iter().find(|cur| cur.name() == g.name) {
                None => added.push(g.name.clone()),
                Some(cur) if *cur.config != *g => changed.push(g.name.clone()),
                Some(_) => {}
            }
        }
        let removed = groups
            .iter()
            .filter(|cur| !new.groups.iter().any(|g| g.name == cur.name()))
            .map(|cur| cur.name().to_string())
            .collect();
        Diff {
            added,
            changed,
            removed,
        }
    }
}

/// A group's name in the list of groups being created, for as long as this lives (also
/// when the creation is abandoned half-way).
struct Adding<'a> {
    list: &'a RefCell<Vec<String>>,
    name: String,
}

impl<'a> Adding<'a> {
    fn new(list: &'a RefCell<Vec<String>>, name: &str) -> Adding<'a> {
        list.borrow_mut().push(name.to_string());
        Adding {
            list,
            name: name.to_string(),
        }
    }
}

impl Drop for Adding<'_> {
    fn drop(&mut self) {
        self.list.borrow_mut().retain(|n| *n != self.name);
    }
}

/// Why `addProcessGroup` failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddGroupError {
    /// No such group in the configuration last read.
    NotInConfig,
    /// It could not be created.
    Failed(GroupError),
}

/// Why a group could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupError {
    /// `[fcgi-program:x]`: its socket could not be bound.
    FcgiSocket { url: String, error: String },
    /// A process's log files could not be opened.
    LogFiles { process: String, error: String },
}

impl std::fmt::Display for GroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupError::FcgiSocket { url, error } => {
                write!(f, "Could not create FastCGI socket {url}: {error}")
            }
            GroupError::LogFiles { process, error } => {
                write!(f, "cannot open the log files of '{process}': {error}")
            }
        }
    }
}

/// Why one process of a rolling restart did not roll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollError(pub String);

impl std::fmt::Display for RollError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How one process fared in a rolling restart.
#[derive(Debug, Clone)]
pub struct RollResult {
    pub process: ProcessHandle,
    /// `(old pid, new pid)`; the old pid is 0 when the process was not running and was
    /// simply started.
    pub outcome: Result<(i32, i32), RollError>,
}

/// One process to roll, and the configuration its replacement runs (`None`: the same).
pub type RollItem = (ProcessHandle, Option<ProcConfig>);

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
            .map(|g| GroupRef::new(&config, g))
            .ok_or_else(|| format!("{name} is not in the configuration"))?;
        let cur = self
            .group(name)
            .ok_or_else(|| format!("{name} is not running"))?;
        // corral: only numprocs= changed: add or remove the difference, keep the others.
        if scale::numprocs_only_change(&cur.config, &new) {
            let live: Vec<u32> = cur.processes.iter().map(|p| p.config.process_num).collect();
            let add: Vec<ProcConfig> = (0..new.processes.len())
                .filter(|&i| !live.contains(&new.processes[i].process_num))
                .take(new.processes.len().saturating_sub(live.len()))
                .map(|i| new.process(i))
                .collect();
            let target = new.processes.len();
            let scaled = self
                .resize(name, target, add, Some(new))
                .await
                .map_err(|e| e.to_string())?;
            let started = scaled.started.into_iter().map(|(p, r)| RollResult {
                process: p,
                outcome: r.map(|pid| (0, pid)).map_err(RollError),
            });
            let stopped = scaled.stopped.into_iter().map(|(p, r)| RollResult {
                process: p,
                outcome: r.map(|pid| (pid, 0)).map_err(RollError),
            });
            return Ok(stopped.chain(started).collect());
        }
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
            .enumerate()
            .map(|(i, p)| {
                (
                    cur.find(&p.name).expect("checked").clone(),
                    Some(new.process(i)),
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
                g.config = new;
            }
        }
        Ok(results)
    }
}

/// One process of a rolling restart.
async fn roll_one(
    p: &ProcessHandle,
    cfg: Option<ProcConfig>,
    gap: bool,
) -> Result<(i32, i32), RollError> {
    use corral_core::ProcessState;
    let info = p.info();
    if info.state() == ProcessState::Running && !gap {
        return p
            .replace(cfg)
            .await
            .map(|r| (r.old_pid.get(), r.new_pid.get()))
            .map_err(|e| RollError(e.0));
    }
    let old = info.snapshot.pid.map_or(0, |p| p.get());
    if let (Some(cfg), false) = (&cfg, info.state().is_running()) {
        // `update` of a process that is not running: new configuration; started only if
        // it is an autostart one (as re-adding the group would).
        if !p.reconfigure(cfg.clone()).await {
            return Err(RollError("cannot take the new configuration".into()));
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
            return Err(RollError("cannot take the new configuration".into()));
        }
    }
    start_and_wait(p, old).await
}

async fn start_and_wait(p: &ProcessHandle, old: i32) -> Result<(i32, i32), RollError> {
    use corral_core::{ProcessState, Reply};
    match p.start().await {
        Reply::Ok | Reply::AlreadyStarted => {}
        Reply::NotRunning => return Err(RollError("cannot start: not running".into())),
        Reply::InUnknownState => {
            return Err(RollError(
                "cannot start: the process is in an unknown state".into(),
            ));
        }
        Reply::Failed(e) => return Err(RollError(format!("cannot start: {e}"))),
    }
    let info = p.wait_until(|i| i.state() != ProcessState::Starting).await;
    match info.state() {
        ProcessState::Running => Ok((old, info.snapshot.pid.map_or(0, |p| p.get()))),
        s => Err(RollError(format!(
            "did not start: {} ({})",
            s.name(),
            info.snapshot.spawnerr.unwrap_or_default()
        ))),
    }
}
