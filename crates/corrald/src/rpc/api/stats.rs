//! The CPU and memory history the dashboard plots: the last 15 minutes of each process
//! tree, kept in memory.
//!
//! Samples are taken only when someone asks: a dashboard's event stream (every
//! [`INTERVAL`] while it is connected), `GET /api/v1/stats`, or a `/metrics` scrape. Each
//! reads `/proc` once for every process; samples closer than [`MIN_GAP`] to the previous
//! one are not taken again (many dashboards share one). With nobody connected and nobody
//! scraping, nothing runs: no timer, no wake-up, and the history just ages.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use serde_json::{Value as Json, json};

use corral_proto::api::make_namespec;

use crate::process::ProcessHandle;
use crate::rpc::metrics::{Tree, main_pid, measure};
use crate::rpc::supervisor::lookup::all_processes;
use crate::supervisor::Supervisor;
use crate::sys::Pid;

/// How often a connected dashboard's stream samples.
pub const INTERVAL_SECS: u64 = 5;
/// The shortest time between two samples.
const MIN_GAP: f64 = 4.0;
/// How much history is kept.
pub const WINDOW: f64 = 15.0 * 60.0;

#[derive(Debug, Clone, Copy)]
struct Sample {
    t: f64,
    pid: Pid,
    cpu_seconds: f64,
    rss: u64,
}

#[derive(Debug, Default)]
struct History {
    last: Option<f64>,
    series: HashMap<String, VecDeque<Sample>>,
}

thread_local! {
    static HISTORY: RefCell<History> = RefCell::new(History::default());
}

/// CPU use between two samples of the same process, percent of one core.
fn cpu_percent(a: &Sample, b: &Sample) -> Option<f64> {
    let dt = b.t - a.t;
    (a.pid == b.pid && dt > 0.0).then(|| ((b.cpu_seconds - a.cpu_seconds) / dt * 100.0).max(0.0))
}

/// Record a sample of every running process (trees measured by the caller), unless the
/// last one is too recent.
pub fn record(procs: &[ProcessHandle], trees: &HashMap<Pid, Tree>) {
    record_at(procs, trees, crate::sys::unix_time());
}

fn record_at(procs: &[ProcessHandle], trees: &HashMap<Pid, Tree>, now: f64) {
    HISTORY.with(|h| {
        let mut h = h.borrow_mut();
        if h.last.is_some_and(|l| now - l < MIN_GAP && now >= l) {
            return;
        }
        h.last = Some(now);
        for p in procs {
            let Some(pid) = main_pid(p) else { continue };
            let Some(tree) = trees.get(&pid) else {
                continue;
            };
            let key = make_namespec(p.group(), p.name());
            h.series.entry(key).or_default().push_back(Sample {
                t: now,
                pid,
                cpu_seconds: tree.cpu_seconds,
                rss: tree.rss_bytes,
            });
        }
        for s in h.series.values_mut() {
            while s.front().is_some_and(|x| now - x.t > WINDOW) {
                s.pop_front();
            }
        }
        h.series.retain(|_, s| !s.is_empty());
    });
}

/// Sample now (if due).
pub fn sample(sup: &Supervisor) {
    let procs = all_processes(sup, true);
    let mains: Vec<Pid> = procs.iter().filter_map(main_pid).collect();
    let trees = measure(&mains);
    record(&procs, &trees);
}

/// The latest point of each process that has one: `{namespec: {cpu, rss, t}}` (cpu in
/// percent of one core, null until two samples of the same process exist).
pub fn latest() -> Json {
    HISTORY.with(|h| {
        let h = h.borrow();
        let mut out = serde_json::Map::new();
        for (k, s) in &h.series {
            let Some(b) = s.back() else { continue };
            if h.last.is_some_and(|l| l != b.t) {
                continue; // not running at the last sample
            }
            let cpu = s.len().checked_sub(2).and_then(|i| cpu_percent(&s[i], b));
            out.insert(k.clone(), json!({"t": b.t, "cpu": cpu, "rss": b.rss}));
        }
        Json::Object(out)
    })
}

/// `GET /api/v1/stats`: sample (if due), then every process's history.
pub fn json(sup: &Supervisor) -> Json {
    sample(sup);
    HISTORY.with(|h| {
        let h = h.borrow();
        let mut procs = serde_json::Map::new();
        for (k, s) in &h.series {
            let t: Vec<f64> = s.iter().map(|x| x.t).collect();
            let rss: Vec<u64> = s.iter().map(|x| x.rss).collect();
            let cpu: Vec<Option<f64>> = s
                .iter()
                .enumerate()
                .map(|(i, x)| i.checked_sub(1).and_then(|j| cpu_percent(&s[j], x)))
                .collect();
            procs.insert(k.clone(), json!({"t": t, "cpu": cpu, "rss": rss}));
        }
        json!({
            "interval": INTERVAL_SECS,
            "window": WINDOW,
            "latest": h.last,
            "processes": procs,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_only_between_samples_of_one_process() {
        let a = Sample {
            t: 10.0,
            pid: 5,
            cpu_seconds: 1.0,
            rss: 0,
        };
        let b = Sample {
            t: 15.0,
            cpu_seconds: 3.5,
            ..a
        };
        assert_eq!(cpu_percent(&a, &b), Some(50.0));
        assert_eq!(cpu_percent(&a, &Sample { pid: 6, ..b }), None);
        assert_eq!(cpu_percent(&a, &a), None);
    }
}
