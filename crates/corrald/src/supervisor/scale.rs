//! Pools scaled at run time (`corral.scaleProgram`, `corralctl scale`), and `update` of a
//! program whose only change is `numprocs=`.
//!
//! Scaling up adds processes with the next `process_num`s, built by the config crate
//! exactly as `numprocs=N` would build them (names, logs, expansions), each started
//! through its readiness rule. Scaling down stops the highest `process_num`s first, each
//! with its own stop sequence, and drops them once stopped. The group stays the group
//! (no PROCESS_GROUP_ADDED/REMOVED); its configuration stays the one read from the file,
//! so `update` leaves a scaled group alone until the file changes that program.

use std::time::Duration;

use corral_config::{Config, GroupConfig, GroupKind, ProcessConfig};
use corral_core::{ProcessState, Reply};

use super::{Group, GroupRef, Supervisor};
use crate::events::Event as BusEvent;
use crate::logs::mainlog;
use crate::process::{Info, ProcConfig, ProcessHandle};

/// Slack on top of a process's own timing rules before a wait gives up.
const MARGIN: Duration = Duration::from_secs(30);

/// What a scaling did.
#[derive(Debug)]
pub struct Scaled {
    pub from: usize,
    pub to: usize,
    /// Each process started, with its pid once RUNNING or why it did not get there.
    pub started: Vec<(ProcessHandle, Result<i32, String>)>,
    /// Each process stopped (highest `process_num` first), with its last pid.
    pub stopped: Vec<(ProcessHandle, Result<i32, String>)>,
}

/// Why a scaling was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScaleError {
    /// No group of that name runs.
    NoSuchGroup,
    /// This group can't be scaled (why).
    NotScalable(String),
    /// Another scaling of it is under way.
    Busy,
    /// The configuration can't give the new processes.
    Config(String),
}

impl std::fmt::Display for ScaleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScaleError::NoSuchGroup => f.write_str("no such group"),
            ScaleError::NotScalable(why) | ScaleError::Config(why) => f.write_str(why),
            ScaleError::Busy => f.write_str("a scaling of this program is already under way"),
        }
    }
}

/// The configuration of `p` as if it had been made with another `numprocs`.
fn without_numprocs(p: &ProcessConfig) -> ProcessConfig {
    let mut p = p.clone();
    p.numprocs = 0;
    p
}

/// `new` is `old` with another `numprocs=` and nothing else changed (so `update` may add
/// or remove the difference). Unknowable when `old` has no process: false.
pub(super) fn numprocs_only_change(old: &GroupConfig, new: &GroupConfig) -> bool {
    let kinds = matches!(
        (&old.kind, &new.kind),
        (GroupKind::Program, GroupKind::Program)
    ) || matches!((&old.kind, &new.kind), (GroupKind::FastCgi(a), GroupKind::FastCgi(b)) if a == b);
    kinds
        && old.name == new.name
        && old.priority == new.priority
        && old.processes.len() != new.processes.len()
        && !old.processes.is_empty()
        && !new.processes.is_empty()
        && old
            .processes
            .iter()
            .zip(&new.processes)
            .all(|(a, b)| without_numprocs(a) == without_numprocs(b))
}

/// The group's processes by `process_num`.
fn by_num(g: &Group) -> Vec<ProcessHandle> {
    let mut v = g.processes.clone();
    v.sort_by_key(|p| p.config.process_num);
    v
}

impl Supervisor {
    /// `corral.scaleProgram`: run `n` processes of program group `name`.
    pub async fn scale_program(&self, name: &str, n: u32) -> Result<Scaled, ScaleError> {
        let g = self.group(name).ok_or(ScaleError::NoSuchGroup)?;
        let section = match (&g.config.kind, g.config.processes.first()) {
            (GroupKind::Program | GroupKind::FastCgi(_), Some(p)) => p.section.to_string(),
            (GroupKind::Program, None) => format!("program:{name}"),
            (GroupKind::FastCgi(_), None) => format!("fcgi-program:{name}"),
            (GroupKind::EventListener(_), _) => {
                return Err(ScaleError::NotScalable(format!(
                    "{name} is an eventlistener pool; change its numprocs= and update"
                )));
            }
            (GroupKind::Heterogeneous, _) => {
                return Err(ScaleError::NotScalable(format!(
                    "{name} is a [group:{name}] of several programs; only a program's own \
                     group can be scaled"
                )));
            }
        };
        let live = by_num(&g);
        let mut add = Vec::new();
        if n as usize > live.len() {
            let config = self
                .source
                .load_with_numprocs(&section, n)
                .map_err(|errors| {
                    let first = errors.first().map(ToString::to_string).unwrap_or_default();
                    ScaleError::Config(format!(
                        "cannot read [{section}] with numprocs={n}: {first}"
                    ))
                })?;
            let loaded = processes_of(&config, name, &section);
            // What runs must still be what the file says, or the new processes would run
            // something else than their siblings.
            for p in &live {
                let same = loaded
                    .iter()
                    .find(|q| q.process_num == p.config.process_num)
                    .is_some_and(|q| without_numprocs(q) == without_numprocs(&p.config));
                if !same {
                    return Err(ScaleError::Config(format!(
                        "[{section}] in {} changed since corrald read it (or {} is not a \
                         process it gives): apply the file with update first",
                        config.path,
                        p.name()
                    )));
                }
            }
            add = loaded
                .into_iter()
                .filter(|q| !live.iter().any(|p| p.config.process_num == q.process_num))
                .take(n as usize - live.len())
                .map(ProcConfig::own)
                .collect();
        }
        self.resize(name, n as usize, add, None).await
    }

    /// Run `target` processes of group `name`: stop and drop the highest-numbered beyond
    /// it, add and start `add`. With `config`, the group takes that configuration (an
    /// `update` of its `numprocs`).
    pub(super) async fn resize(
        &self,
        name: &str,
        target: usize,
        add: Vec<ProcConfig>,
        config: Option<GroupRef>,
    ) -> Result<Scaled, ScaleError> {
        if self.scaling.borrow().iter().any(|n| n == name) {
            return Err(ScaleError::Busy);
        }
        self.scaling.borrow_mut().push(name.to_string());
        let result = self.resize_now(name, target, add, config).await;
        self.scaling.borrow_mut().retain(|n| n != name);
        result
    }

    async fn resize_now(
        &self,
        name: &str,
        target: usize,
        add: Vec<ProcConfig>,
        config: Option<GroupRef>,
    ) -> Result<Scaled, ScaleError> {
        let g = self.group(name).ok_or(ScaleError::NoSuchGroup)?;
        let live = by_num(&g);
        let from = live.len();
        mainlog::info(format!(
            "scaling '{name}' from {from} to {target} processes"
        ));
        let mut stopped = Vec::new();
        if target < from {
            let going: Vec<ProcessHandle> = live[target..].iter().rev().cloned().collect();
            stopped = self.stop_and_drop(name, going).await;
        }
        let mut started = Vec::new();
        if !add.is_empty() {
            let fcgi = g._fcgi_socket.clone();
            let mut handles = Vec::new();
            for p in add {
                let recycle = g.recycle.token(&p.section);
                match self.spawn_process(p, fcgi.clone(), recycle) {
                    Ok(h) => handles.push(h),
                    Err(e) => {
                        mainlog::error(format!("scaling '{name}': {e}"));
                        break;
                    }
                }
            }
            if let Some(g) = self
                .groups
                .borrow_mut()
                .iter_mut()
                .find(|g| g.name() == name)
            {
                g.processes.extend(handles.iter().cloned());
                g.processes.sort_by(|a, b| a.name().cmp(b.name()));
            }
            self.deps_changed();
            started = self.start_new(handles).await;
        }
        if let Some(cfg) = config {
            if let Some(g) = self
                .groups
                .borrow_mut()
                .iter_mut()
                .find(|g| g.name() == name)
            {
                g.config = cfg;
            }
        }
        let to = self.group(name).map_or(0, |g| g.processes.len());
        mainlog::info(format!("scaled '{name}' from {from} to {to} processes"));
        self.services().events.publish(BusEvent::GroupScaled {
            group: name.to_string(),
            processes: u32::try_from(to).unwrap_or(u32::MAX),
        });
        Ok(Scaled {
            from,
            to,
            started,
            stopped,
        })
    }

    /// Stop `going` (highest numbers first, each with its own stop sequence) and drop
    /// them from group `name` once stopped. One that does not stop stays in the group.
    async fn stop_and_drop(
        &self,
        name: &str,
        going: Vec<ProcessHandle>,
    ) -> Vec<(ProcessHandle, Result<i32, String>)> {
        for p in &going {
            if p.state().is_running() {
                mainlog::info(format!("scaling '{name}': stopping {}", p.name()));
                p.stop().await;
            } else if p.info().snapshot.waiting.is_some() {
                p.stop().await;
            }
        }
        let mut out = Vec::new();
        for p in going {
            let pid = p.info().snapshot.pid.map_or(0, |x| x.get());
            let bound = Duration::from_secs(p.config.stop_wait_total()) + MARGIN;
            let outcome = match tokio::time::timeout(bound, p.wait_until(Info::quiet)).await {
                Ok(_) => {
                    if let Some(g) = self
                        .groups
                        .borrow_mut()
                        .iter_mut()
                        .find(|g| g.name() == name)
                    {
                        g.processes.retain(|q| q.name() != p.name());
                    }
                    Ok(pid)
                }
                Err(_) => Err(format!(
                    "still {} after {} seconds; kept",
                    p.state().name(),
                    bound.as_secs()
                )),
            };
            out.push((p, outcome));
        }
        self.deps_changed();
        out
    }

    /// Start each new process and wait until it is RUNNING (or failed).
    async fn start_new(
        &self,
        handles: Vec<ProcessHandle>,
    ) -> Vec<(ProcessHandle, Result<i32, String>)> {
        let mut waits = Vec::new();
        for p in &handles {
            self.start_requirements(p).await;
            let before = p.info().snapshot.entered_running;
            let reply = p.start().await;
            waits.push((p.clone(), before, reply));
        }
        let mut out = Vec::new();
        for (p, before, reply) in waits {
            if let Reply::Failed(why) = reply {
                out.push((p, Err(why)));
                continue;
            }
            let c = &p.config;
            let bound = Duration::from_secs(c.startsecs + c.readiness_timeout)
                + self.requirements_bound(&p, |q| {
                    Duration::from_secs(q.config.startsecs + q.config.readiness_timeout)
                })
                + MARGIN;
            let watch = p.wait_until(|i| {
                i.snapshot.entered_running > before
                    || matches!(i.state(), ProcessState::Fatal | ProcessState::Exited)
                    || i.snapshot.waiting.as_ref().is_some_and(|h| h.blocked)
            });
            let outcome = match tokio::time::timeout(bound, watch).await {
                Ok(i) if i.snapshot.entered_running > before => {
                    Ok(i.snapshot.pid.map_or(0, |x| x.get()))
                }
                Ok(i) => Err(match &i.snapshot.waiting {
                    Some(h) => h.note.clone(),
                    None => format!(
                        "{} ({})",
                        i.state().name(),
                        i.snapshot.spawnerr.clone().unwrap_or_default()
                    ),
                }),
                Err(_) => Err(format!(
                    "still {} after {} seconds",
                    p.state().name(),
                    bound.as_secs()
                )),
            };
            out.push((p, outcome));
        }
        out
    }
}

/// The processes `config` gives group `name` from `section`.
fn processes_of(config: &Config, name: &str, section: &str) -> Vec<ProcessConfig> {
    config
        .group(name)
        .map(|g| {
            g.processes
                .iter()
                .filter(|p| *p.section == *section)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::process_config;

    fn group(n: u32, command: &str) -> GroupConfig {
        GroupConfig {
            name: "w".into(),
            priority: 999,
            kind: GroupKind::Program,
            processes: (0..n)
                .map(|i| {
                    let mut p = process_config(&format!("w_{i}"), command);
                    p.group = "w".into();
                    p.section = "program:w".into();
                    p.numprocs = n;
                    p.process_num = i;
                    p
                })
                .collect(),
        }
    }

    #[test]
    fn only_numprocs_changed() {
        assert!(numprocs_only_change(&group(2, "x"), &group(3, "x")));
        assert!(numprocs_only_change(&group(3, "x"), &group(1, "x")));
        assert!(!numprocs_only_change(&group(2, "x"), &group(2, "x")));
        assert!(!numprocs_only_change(&group(2, "x"), &group(3, "y")));
        assert!(!numprocs_only_change(&group(0, "x"), &group(3, "x")));
        let mut other = group(3, "x");
        other.priority = 1;
        assert!(!numprocs_only_change(&group(2, "x"), &other));
    }
}
