//! Dependencies between programs (`depends_on=`), carried out across processes.
//!
//! The graph (names, cycles, start order) is the config crate's ([`Graph`]); the machine
//! knows only whether it is *held* (`corral_core::Hold`). This module decides the holds:
//! a process whose dependencies are not met is held, with the note `status` shows
//! (`waiting for db (ready)`, `blocked: db is FATAL`); once they are met it is let go and
//! a deferred start (autostart, autorestart, `start`) happens. Holds are recomputed
//! whenever a process of a configuration with dependencies changes state (one watcher per
//! process wakes the orchestrator; nothing polls).
//!
//! Also here: `start X` starts what X requires first; stops (shutdown, `stop all`, a
//! group) stop dependents before what they depend on. `stop X` alone leaves X's running
//! dependents running (a dependency is a condition to start, not a bond for life); they
//! are held if they exit meanwhile, and start again once X is back.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::Notify;

use corral_config::deps::Graph;
use corral_config::{AutoRestart, Condition, Dependency};
use corral_core::machine::HealthState;
use corral_core::{Hold, ProcessState};

use super::Supervisor;
use crate::process::{Command, Info, ProcessHandle};

/// The orchestration's state in the supervisor.
#[derive(Default)]
pub(super) struct Deps {
    /// The graph of the running groups' programs (rebuilt when groups change).
    pub graph: Graph,
    /// Woken by a watcher when a process changes (coalesced).
    pub wake: Rc<Notify>,
    /// The orchestrator task runs.
    pub running: bool,
}

/// Where one dependency of a process is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DepStatus {
    Met,
    Waiting,
    /// It can't get there by itself; why (`db is FATAL`).
    Blocked(String),
}

/// One program of the dependency graph as the API shows it.
#[derive(Debug, Clone)]
pub struct ProgramDeps {
    pub name: String,
    pub processes: Vec<ProcessHandle>,
    pub depends_on: Vec<(Dependency, DepStatus)>,
    pub required_by: Vec<String>,
    /// What its processes wait for, if anything (`waiting for db (ready)`).
    pub hold: Option<Hold>,
}

/// Whether `info` of a process of program `p` meets `condition`.
fn meets(condition: Condition, p: &ProcessHandle, info: &Info) -> bool {
    match condition {
        Condition::Started => {
            info.state() == ProcessState::Running
                || (info.state() == ProcessState::Starting && info.snapshot.pid.is_some())
        }
        Condition::Ready => info.state() == ProcessState::Running,
        Condition::Healthy => healthy(p, info),
        Condition::Completed => {
            info.state() == ProcessState::Exited
                && info
                    .snapshot
                    .exitstatus
                    .is_some_and(|s| p.config.exitcodes.contains(&s))
        }
    }
}

/// `healthy`: RUNNING and its last health check passed (a process whose checks fail
/// stops meeting it until one passes again). A process without a health check is healthy
/// once ready.
fn healthy(p: &ProcessHandle, info: &Info) -> bool {
    info.state() == ProcessState::Running
        && (p.config.liveness.healthcheck.is_none()
            || info.snapshot.health.state == HealthState::Healthy)
}

/// Why a process of a dependency can't meet `condition` by itself, if it can't.
fn blocked(condition: Condition, p: &ProcessHandle, info: &Info) -> Option<String> {
    let program = p.config.program_name();
    match info.state() {
        ProcessState::Fatal => return Some(format!("{program} is FATAL")),
        ProcessState::Exited
            if condition == Condition::Completed
                && !meets(condition, p, info)
                && p.config.autorestart == AutoRestart::Never =>
        {
            return Some(format!(
                "{program} exited with status {}",
                info.snapshot.exitstatus.unwrap_or(-1)
            ));
        }
        _ => {}
    }
    match &info.snapshot.waiting {
        Some(h) if h.blocked => Some(format!(
            "{program} is {}",
            h.note
                .strip_prefix("blocked: ")
                .map_or_else(|| h.note.clone(), |why| format!("blocked ({why})"))
        )),
        _ => None,
    }
}

/// Where dependency `d` is, given the processes of its program.
fn status(d: &Dependency, members: &[&ProcessHandle]) -> DepStatus {
    if members.is_empty() {
        return DepStatus::Waiting;
    }
    let mut all_met = true;
    for p in members {
        let info = p.info();
        if let Some(why) = blocked(d.condition, p, &info) {
            return DepStatus::Blocked(why);
        }
        all_met &= meets(d.condition, p, &info);
    }
    if all_met {
        DepStatus::Met
    } else {
        DepStatus::Waiting
    }
}

/// The hold of a process with these dependencies: none when all are met.
fn hold_of(
    depends_on: &[Dependency],
    by_program: &BTreeMap<&str, Vec<&ProcessHandle>>,
) -> Option<Hold> {
    let mut waiting = Vec::new();
    for d in depends_on {
        let members = by_program
            .get(d.program.as_str())
            .map_or(&[][..], Vec::as_slice);
        match status(d, members) {
            DepStatus::Met => {}
            DepStatus::Waiting => {
                waiting.push(format!("{} ({})", d.program, d.condition.word()));
            }
            DepStatus::Blocked(why) => {
                return Some(Hold {
                    note: format!("blocked: {why}"),
                    blocked: true,
                });
            }
        }
    }
    (!waiting.is_empty()).then(|| Hold {
        note: format!("waiting for {}", waiting.join(", ")),
        blocked: false,
    })
}

fn by_program(procs: &[ProcessHandle]) -> BTreeMap<&str, Vec<&ProcessHandle>> {
    let mut map: BTreeMap<&str, Vec<&ProcessHandle>> = BTreeMap::new();
    for p in procs {
        map.entry(p.config.program_name()).or_default().push(p);
    }
    map
}

impl Supervisor {
    /// The groups changed: rebuild the graph, watch the new processes, set their holds.
    pub(super) fn deps_changed(&self) {
        let procs = self.processes();
        let graph = Graph::of_processes(procs.iter().map(|p| &*p.config));
        let trivial = graph.is_trivial();
        self.deps.borrow_mut().graph = graph;
        if trivial {
            return;
        }
        self.start_orchestrator();
        self.refresh_holds();
    }

    /// Watch `p` for the orchestrator (only when some program has dependencies).
    pub(super) fn watch_for_deps(&self, p: &ProcessHandle) {
        let wake = self.deps.borrow().wake.clone();
        let info = p.watch();
        // From now on: a change before the watcher first runs wakes it too.
        let mut seen = info.version();
        tokio::task::spawn_local(async move {
            // Ends when the process's task is gone (its group was removed).
            while info.changed(&mut seen).await {
                wake.notify_one();
            }
        });
    }

    fn start_orchestrator(&self) {
        if std::mem::replace(&mut self.deps.borrow_mut().running, true) {
            return;
        }
        for p in self.processes() {
            self.watch_for_deps(&p);
        }
        let wake = self.deps.borrow().wake.clone();
        let me = self.me.clone();
        tokio::task::spawn_local(async move {
            loop {
                wake.notified().await;
                let Some(sup) = me.upgrade() else {
                    return;
                };
                sup.refresh_holds();
            }
        });
    }

    /// Whether any running program has dependencies.
    pub fn has_dependencies(&self) -> bool {
        !self.deps.borrow().graph.is_trivial()
    }

    /// Hold every process whose dependencies are not met, let the others go. Sends only
    /// what differs from what each process has.
    pub fn refresh_holds(&self) {
        if !self.has_dependencies() {
            return;
        }
        let procs = self.processes();
        let map = by_program(&procs);
        for p in &procs {
            if p.config.depends_on.is_empty() {
                continue;
            }
            let hold = hold_of(&p.config.depends_on, &map);
            if p.info().snapshot.hold != hold {
                p.send(Command::Hold(hold));
            }
        }
    }

    /// `start X`: start what X requires (transitively, in start order) that does not run
    /// or has not completed; each waits for its own dependencies. X itself is the
    /// caller's to start (it waits, held, until they are met).
    pub async fn start_requirements(&self, p: &ProcessHandle) {
        if p.config.depends_on.is_empty() {
            return;
        }
        self.refresh_holds();
        let graph = self.deps.borrow().graph.clone();
        let program = p.config.program_name();
        let required = graph.requirements(program);
        let procs = self.processes();
        for r in &required {
            // Only `completed` requirements of it (a one-shot): once done, it stays done.
            let one_shot = graph
                .nodes
                .iter()
                .filter(|n| n.name == program || required.contains(&n.name))
                .flat_map(|n| n.depends_on.iter())
                .filter(|d| &d.program == r)
                .all(|d| d.condition == Condition::Completed);
            for q in procs.iter().filter(|q| q.config.program_name() == r) {
                let info = q.info();
                let done = one_shot && meets(Condition::Completed, q, &info);
                if !info.state().is_running() && info.snapshot.waiting.is_none() && !done {
                    q.start().await;
                }
            }
        }
        // X's hold as it is now that they are starting (sent before X's own start).
        self.refresh_holds();
    }

    /// How long a start of `p` may take, its requirements' starts included.
    pub fn requirements_bound(
        &self,
        p: &ProcessHandle,
        one: impl Fn(&ProcessHandle) -> Duration,
    ) -> Duration {
        if p.config.depends_on.is_empty() {
            return Duration::ZERO;
        }
        let graph = self.deps.borrow().graph.clone();
        let required = graph.requirements(p.config.program_name());
        // Processes of one program start together; programs one after another.
        required
            .iter()
            .map(|r| {
                self.processes()
                    .iter()
                    .filter(|q| q.config.program_name() == r)
                    .map(&one)
                    .max()
                    .unwrap_or_default()
            })
            .sum()
    }

    /// `procs` (in the order they would be stopped) as batches to stop one after
    /// another: dependents before what they depend on; within a batch, the given order.
    /// One batch when no dependency links them.
    pub fn stop_batches(&self, procs: Vec<ProcessHandle>) -> Vec<Vec<ProcessHandle>> {
        if !self.has_dependencies() || procs.is_empty() {
            return vec![procs];
        }
        let graph = self.deps.borrow().graph.clone();
        let mut remaining = procs;
        let mut batches = Vec::new();
        while !remaining.is_empty() {
            let programs: BTreeSet<&str> =
                remaining.iter().map(|p| p.config.program_name()).collect();
            // Free to stop: nothing that depends on it is still to be stopped.
            let free = |p: &ProcessHandle| {
                graph
                    .all_dependents(p.config.program_name())
                    .iter()
                    .all(|d| !programs.contains(d.as_str()))
            };
            let (now, later): (Vec<ProcessHandle>, Vec<ProcessHandle>) =
                remaining.iter().cloned().partition(|p| free(p));
            if now.is_empty() {
                // A cycle (refused by the config check): stop the rest together.
                batches.push(later);
                break;
            }
            batches.push(now);
            remaining = later;
        }
        batches
    }

    /// Running (or starting) processes of other programs that depend, directly or not,
    /// on any of `procs`, in supervisord's stop order.
    pub(super) fn running_dependents(&self, procs: &[ProcessHandle]) -> Vec<ProcessHandle> {
        if !self.has_dependencies() {
            return Vec::new();
        }
        let graph = self.deps.borrow().graph.clone();
        let mut wanted: BTreeSet<String> = BTreeSet::new();
        for p in procs {
            wanted.extend(graph.all_dependents(p.config.program_name()));
        }
        let mut out: Vec<ProcessHandle> = Vec::new();
        for g in self.groups().iter().rev() {
            let mut members: Vec<ProcessHandle> = g
                .processes
                .iter()
                .filter(|q| wanted.contains(q.config.program_name()) && !q.quiet())
                .filter(|q| !procs.iter().any(|p| same(p, q)))
                .cloned()
                .collect();
            members.sort_by_key(|p| std::cmp::Reverse(p.config.priority));
            out.extend(members);
        }
        out
    }

    /// The dependency graph of the running programs, in start order, with where each
    /// dependency is (`corral.getDependencies`).
    pub fn dependencies(&self) -> Vec<ProgramDeps> {
        let graph = self.deps.borrow().graph.clone();
        let procs = self.processes();
        let map = by_program(&procs);
        graph
            .start_order()
            .into_iter()
            .map(|name| {
                let members: Vec<ProcessHandle> = map
                    .get(name.as_str())
                    .map(|v| v.iter().map(|p| (*p).clone()).collect())
                    .unwrap_or_default();
                let depends_on: Vec<(Dependency, DepStatus)> = graph
                    .depends_on(&name)
                    .iter()
                    .map(|d| {
                        let members = map.get(d.program.as_str()).map_or(&[][..], Vec::as_slice);
                        (d.clone(), status(d, members))
                    })
                    .collect();
                let hold = hold_of(graph.depends_on(&name), &map);
                ProgramDeps {
                    required_by: graph
                        .dependents(&name)
                        .into_iter()
                        .map(str::to_string)
                        .collect(),
                    name,
                    processes: members,
                    depends_on,
                    hold,
                }
            })
            .collect()
    }
}

/// The same process (by group and name).
pub(super) fn same(a: &ProcessHandle, b: &ProcessHandle) -> bool {
    a.group() == b.group() && a.name() == b.name()
}
