//! `GET /metrics`: Prometheus' text exposition format 0.0.4, on every HTTP server corrald
//! runs, behind the same credentials.
//!
//! Per process (labels `group`, `name`, `process_num`; never a pid): whether it is up, its
//! state (one series per state name), readiness, health (only where a health check is
//! configured), start time, restarts by reason, last exit status, the CPU time and resident
//! memory of its whole tree (the process and every descendant, its session included), its
//! open descriptors, and the bytes it wrote to each log stream. Per program, how many of
//! its processes are wanted and how many run. The daemon's own `process_*` series and
//! `corral_build_info`. And node_exporter's old supervisord series, with its names and
//! labels, so dashboards built on them keep working.
//!
//! A scrape reads `/proc` once (every process's `stat`, plus each main process's `fd`
//! directory) and nothing runs between scrapes: no sampler, no timer.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::rc::Rc;

use corral_core::ProcessState;
use corral_proto::http::{Request, Response};

use super::api::stats;
use super::supervisor::lookup::all_processes;
use crate::process::ProcessHandle;
use crate::process::leftovers::{add_descendants, children_map};
use crate::supervisor::Supervisor;
use crate::sys::{self, Pid, procfs};

/// What a process tree uses right now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tree {
    /// User + system CPU time of its live members (and of the children they reaped).
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
    /// Descriptors the main process has open.
    pub open_fds: Option<u64>,
    /// How many processes are in it.
    pub processes: usize,
}

/// Measure the tree of each of `mains` (main pids) from one reading of `/proc`.
pub fn measure(mains: &[Pid]) -> HashMap<Pid, Tree> {
    let mut out = HashMap::new();
    if mains.is_empty() {
        return out;
    }
    let me = sys::getpid();
    let all: Vec<procfs::ProcStat> = procfs::all()
        .into_iter()
        .filter(|p| !p.is_zombie())
        .collect();
    let by_pid: HashMap<Pid, &procfs::ProcStat> = all.iter().map(|p| (p.pid, p)).collect();
    let by_parent = children_map(&all);
    // Session members (every child is a session leader): what a daemonizing child left
    // in its session is still its tree.
    let mut by_session: HashMap<Pid, Vec<&procfs::ProcStat>> = HashMap::new();
    for p in &all {
        by_session.entry(p.sid).or_default().push(p);
    }
    let ticks = sys::clock_ticks() as f64;
    let page = sys::page_size();
    let main_set: HashSet<Pid> = mains.iter().copied().collect();
    for &main in mains {
        let Some(root) = by_pid.get(&main) else {
            continue;
        };
        let mut found: HashSet<Pid> = HashSet::from([main]);
        for p in by_session.get(&main).into_iter().flatten() {
            if p.starttime >= root.starttime && !main_set.contains(&p.pid) && p.pid != me {
                found.insert(p.pid);
            }
        }
        add_descendants(&mut found, &by_parent, &|c| {
            c != me && !main_set.contains(&c)
        });
        let mut tree = Tree {
            open_fds: procfs::open_fds(main),
            processes: found.len(),
            ..Tree::default()
        };
        for pid in &found {
            if let Some(p) = by_pid.get(pid) {
                tree.cpu_seconds += (p.utime + p.stime + p.cutime + p.cstime) as f64 / ticks;
                tree.rss_bytes += p.rss * page;
            }
        }
        out.insert(main, tree);
    }
    out
}

/// The pid of a process that has one (the API's `pid`, 0 when none).
pub fn main_pid(p: &ProcessHandle) -> Option<Pid> {
    p.info().snapshot.pid.map(|p| p.get())
}

/// The restarts of a process by reason, as the machine counts them.
pub fn restarts_by_reason(s: &corral_core::Snapshot) -> Vec<(&'static str, u64)> {
    corral_core::machine::RestartReason::ALL
        .into_iter()
        .map(|r| (r.name(), s.restarts.get(r)))
        .collect()
}

/// Whether a process passes its health check (or keeps its watchdog fed): `None` where
/// neither is configured, and until the first verdict.
pub fn healthy(p: &ProcessHandle, info: &crate::process::Info) -> Option<bool> {
    let lv = &p.config.liveness;
    if lv.healthcheck.is_none() && lv.watchdogsecs.is_none() {
        return None;
    }
    match info.snapshot.health.state {
        corral_core::machine::HealthState::Healthy => Some(true),
        corral_core::machine::HealthState::Unhealthy => Some(false),
        corral_core::machine::HealthState::Unknown => None,
    }
}

/// A label value, escaped as the text format wants (`\\`, `\"`, `\n`).
fn esc(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// A float as the text format writes it.
fn num(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// The exposition, family by family.
struct Out {
    text: String,
}

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, v: f64) {
        if labels.is_empty() {
            let _ = writeln!(self.text, "{name} {}", num(v));
        } else {
            let _ = writeln!(self.text, "{name}{{{labels}}} {}", num(v));
        }
    }
}

/// One process, as a scrape sees it.
struct Row {
    labels: String,
    node_labels: String,
    info: crate::process::Info,
    healthy: Option<bool>,
    tree: Option<Tree>,
}

/// The whole exposition.
pub fn render(sup: &Supervisor) -> String {
    let procs = all_processes(sup, true);
    let mains: Vec<Pid> = procs.iter().filter_map(main_pid).collect();
    let trees = measure(&mains);
    stats::record(&procs, &trees);
    let rows: Vec<Row> = procs
        .iter()
        .map(|p| {
            let info = p.info();
            let tree = info
                .snapshot
                .pid
                .and_then(|pid| trees.get(&pid.get()).copied());
            Row {
                labels: format!(
                    "group=\"{}\",name=\"{}\",process_num=\"{}\"",
                    esc(p.group()),
                    esc(p.name()),
                    p.config.process_num
                ),
                node_labels: format!("group=\"{}\",name=\"{}\"", esc(p.group()), esc(p.name())),
                healthy: healthy(p, &info),
                info,
                tree,
            }
        })
        .collect();
    let mut o = Out {
        text: String::with_capacity(512 + rows.len() * 2048),
    };
    type Gauge = fn(&Row) -> Option<f64>;
    let per_process: [(&str, &str, &str, Gauge); 7] = [
        (
            "corral_process_up",
            "gauge",
            "1 if the process is RUNNING, else 0.",
            |r| Some(f64::from(u8::from(r.info.state() == ProcessState::Running))),
        ),
        (
            "corral_process_ready",
            "gauge",
            "1 if the process passed its readiness rule (startsecs or its readiness probe) and is RUNNING.",
            |r| Some(f64::from(u8::from(r.info.state() == ProcessState::Running))),
        ),
        (
            "corral_process_healthy",
            "gauge",
            "1 if the process passes its health check (only processes with one).",
            |r| r.healthy.map(|h| f64::from(u8::from(h))),
        ),
        (
            "corral_process_start_time_seconds",
            "gauge",
            "When the process was last started, Unix seconds (getProcessInfo's start).",
            |r| r.info.snapshot.laststart.map(f64::trunc),
        ),
        (
            "corral_process_exit_status",
            "gauge",
            "The exit status of the process's last exit.",
            |r| Some(f64::from(r.info.snapshot.exitstatus.unwrap_or(0))),
        ),
        (
            "corral_process_resident_memory_bytes",
            "gauge",
            "Resident memory of the process and all its descendants, bytes.",
            |r| r.tree.map(|t| t.rss_bytes as f64),
        ),
        (
            "corral_process_open_fds",
            "gauge",
            "Open file descriptors of the process.",
            |r| r.tree.and_then(|t| t.open_fds).map(|n| n as f64),
        ),
    ];
    for (name, kind, help, get) in per_process {
        o.family(name, kind, help);
        for r in &rows {
            if let Some(v) = get(r) {
                o.sample(name, &r.labels, v);
            }
        }
    }
    o.family(
        "corral_process_state",
        "gauge",
        "The process's state: 1 for the series of its current state, 0 for the others.",
    );
    for r in &rows {
        // Every state, in code order: one `corral_process_state` series each.
        for s in ProcessState::ALL {
            let labels = format!("{},state=\"{}\"", r.labels, s.name());
            o.sample(
                "corral_process_state",
                &labels,
                f64::from(u8::from(r.info.state() == s)),
            );
        }
    }
    o.family(
        "corral_process_restarts_total",
        "counter",
        "Restarts of the process since the daemon started, by reason.",
    );
    for r in &rows {
        for (reason, n) in restarts_by_reason(&r.info.snapshot) {
            let labels = format!("{},reason=\"{reason}\"", r.labels);
            o.sample("corral_process_restarts_total", &labels, n as f64);
        }
    }
    o.family(
        "corral_process_cpu_seconds_total",
        "counter",
        "User and system CPU time of the process and all its descendants, seconds.",
    );
    for r in &rows {
        if let Some(t) = r.tree {
            o.sample("corral_process_cpu_seconds_total", &r.labels, t.cpu_seconds);
        }
    }
    o.family(
        "corral_process_log_bytes_total",
        "counter",
        "Bytes the process wrote to stdout and stderr since the daemon started it.",
    );
    for r in &rows {
        for (stream, n) in ["stdout", "stderr"].iter().zip(&r.info.log_bytes) {
            let labels = format!("{},stream=\"{stream}\"", r.labels);
            o.sample("corral_process_log_bytes_total", &labels, n.get() as f64);
        }
    }
    programs(sup, &mut o);
    daemon(&mut o);
    node_exporter(&rows, &mut o);
    o.text
}

/// `corral_program_processes_desired` / `_running`.
fn programs(sup: &Supervisor, o: &mut Out) {
    let groups = sup.groups();
    o.family(
        "corral_program_processes_desired",
        "gauge",
        "Processes the program is configured to run (numprocs).",
    );
    for g in &groups {
        let labels = format!("group=\"{}\"", esc(g.name()));
        o.sample(
            "corral_program_processes_desired",
            &labels,
            g.processes.len() as f64,
        );
    }
    o.family(
        "corral_program_processes_running",
        "gauge",
        "Processes of the program that are RUNNING.",
    );
    for g in &groups {
        let labels = format!("group=\"{}\"", esc(g.name()));
        let running = g
            .processes
            .iter()
            .filter(|p| p.state() == ProcessState::Running)
            .count();
        o.sample("corral_program_processes_running", &labels, running as f64);
    }
}

/// The daemon's own standard `process_*` series, and `corral_build_info`.
fn daemon(o: &mut Out) {
    let me = sys::getpid();
    if let Ok(s) = procfs::stat(me) {
        let ticks = sys::clock_ticks() as f64;
        o.family(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
        );
        o.sample(
            "process_cpu_seconds_total",
            "",
            (s.utime + s.stime) as f64 / ticks,
        );
        o.family(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        );
        o.sample(
            "process_resident_memory_bytes",
            "",
            (s.rss * sys::page_size()) as f64,
        );
        o.family(
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
        );
        o.sample("process_virtual_memory_bytes", "", s.vsize as f64);
        if let Some(boot) = procfs::boot_time() {
            o.family(
                "process_start_time_seconds",
                "gauge",
                "Start time of the process since unix epoch in seconds.",
            );
            o.sample(
                "process_start_time_seconds",
                "",
                (boot as f64 + s.starttime as f64 / ticks).trunc(),
            );
        }
    }
    if let Some(n) = procfs::open_fds(me) {
        o.family(
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
        );
        o.sample("process_open_fds", "", n as f64);
    }
    if let Ok((soft, _)) = sys::getrlimit(libc::RLIMIT_NOFILE) {
        o.family(
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
        );
        o.sample("process_max_fds", "", soft as f64);
    }
    o.family(
        "corral_build_info",
        "gauge",
        "corrald's version, as a label; the value is 1.",
    );
    o.sample(
        "corral_build_info",
        &format!("version=\"{}\"", env!("CARGO_PKG_VERSION")),
        1.0,
    );
}

/// node_exporter's supervisord collector's series (removed from node_exporter in 1.6).
fn node_exporter(rows: &[Row], o: &mut Out) {
    o.family(
        "node_supervisord_up",
        "gauge",
        "Process Up (node_exporter's supervisord series).",
    );
    for r in rows {
        let up = f64::from(u8::from(r.info.state() == ProcessState::Running));
        o.sample("node_supervisord_up", &r.node_labels, up);
    }
    o.family(
        "node_supervisord_state",
        "gauge",
        "Process State (node_exporter's supervisord series).",
    );
    for r in rows {
        let code = f64::from(r.info.state().code());
        o.sample("node_supervisord_state", &r.node_labels, code);
    }
    o.family(
        "node_supervisord_exit_status",
        "gauge",
        "Process Exit Status (node_exporter's supervisord series).",
    );
    for r in rows {
        let es = f64::from(r.info.snapshot.exitstatus.unwrap_or(0));
        o.sample("node_supervisord_exit_status", &r.node_labels, es);
    }
    o.family(
        "node_supervisord_start_time_seconds",
        "gauge",
        "Process start time (node_exporter's supervisord series; running processes only).",
    );
    for r in rows {
        if r.info.state() == ProcessState::Running {
            let start = r.info.snapshot.laststart.unwrap_or(0.0).trunc();
            o.sample("node_supervisord_start_time_seconds", &r.node_labels, start);
        }
    }
}

/// Answer `/metrics`.
pub fn handle(sup: &Rc<Supervisor>, req: &Request) -> Response {
    if req.method != "GET" && req.method != "HEAD" {
        return Response::error_page(405).header("Allow", "GET, HEAD");
    }
    let body = render(sup);
    let resp =
        Response::new(200).header("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    if req.method == "HEAD" {
        return resp.header("Content-Length", body.len().to_string());
    }
    resp.body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_labels_in_the_text_format() {
        assert_eq!(num(3.0), "3");
        assert_eq!(num(0.25), "0.25");
        assert_eq!(num(f64::NAN), "NaN");
        assert_eq!(esc("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }

    #[test]
    fn measures_a_tree_with_its_descendants() {
        // This test process and its children form a tree; a child's RSS is part of it.
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .expect("sleep");
        let me = sys::getpid();
        let trees = measure(&[me]);
        let t = trees.get(&me).expect("measured");
        assert!(t.processes >= 2, "{t:?}");
        assert!(t.rss_bytes > 0 && t.cpu_seconds >= 0.0);
        assert!(t.open_fds.is_some_and(|n| n >= 3));
        let _ = child.kill();
        let _ = child.wait();
    }
}
