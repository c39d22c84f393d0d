//! The state file: a journal of the processes corrald runs, so that if corrald itself is
//! killed (SIGKILL, the OOM killer) the next corrald can find and stop them before starting
//! anything — otherwise they would keep their ports and the new ones would die with
//! `Address already in use`.
//!
//! Append-only, one JSON object per line: `{"spawn":PID,"start":TICKS,"name":…}` when a
//! process starts and `{"exit":PID}` when it is reaped. Each line is one `write(2)`, so the
//! journal is accurate at whatever moment corrald dies (the kernel keeps the page cache; a
//! power cut is not the case this covers). It is compacted when mostly dead entries.
//! A start time (clock ticks since boot, from /proc) identifies a process across pid reuse.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use corral_config::ProcessConfig;

use crate::mainlog;
use crate::sys::{self, Pid, procfs};

/// A process the journal says is running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub pid: Pid,
    pub starttime: u64,
    pub name: String,
    pub stopsignal: i32,
    pub stopwaitsecs: u64,
}

impl Entry {
    /// Its journal line (what [`read`] reads back).
    fn to_json(&self) -> Value {
        json!({
            "spawn": self.pid, "start": self.starttime, "name": self.name,
            "sig": self.stopsignal, "wait": self.stopwaitsecs,
        })
    }
}

#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Option<File>,
    live: BTreeMap<Pid, Entry>,
    lines: usize,
}

impl Journal {
    /// Start a fresh journal at `path` (after [`stop_predecessors`] has dealt with the old one).
    pub fn create(path: &Path) -> Journal {
        let mut j = Journal {
            path: path.to_path_buf(),
            file: None,
            live: BTreeMap::new(),
            lines: 0,
        };
        j.rewrite();
        j
    }

    pub fn spawned(&mut self, cfg: &ProcessConfig, pid: Pid, starttime: u64) {
        let entry = Entry {
            pid,
            starttime,
            name: cfg.namespec(),
            stopsignal: cfg.stopsignal,
            stopwaitsecs: cfg.stopwaitsecs,
        };
        let line = entry.to_json();
        self.live.insert(pid, entry);
        self.append(&line);
    }

    pub fn exited(&mut self, pid: Pid) {
        if self.live.remove(&pid).is_some() {
            self.append(&json!({ "exit": pid }));
            if self.lines > 64 && self.lines > 4 * self.live.len() {
                self.rewrite();
            }
        }
    }

    fn append(&mut self, line: &Value) {
        if let Some(f) = self.file.as_mut() {
            let mut s = line.to_string();
            s.push('\n');
            if f.write_all(s.as_bytes()).is_err() {
                mainlog::warn(format!("cannot write state file {}", self.path.display()));
                self.file = None;
            }
            self.lines += 1;
        }
    }

    /// Write the live entries afresh (atomically: temp file + rename).
    fn rewrite(&mut self) {
        if self.path.as_os_str().is_empty() {
            return;
        }
        let tmp = self.path.with_extension("tmp");
        let mut text = json!({ "corrald": sys::getpid() }).to_string() + "\n";
        for e in self.live.values() {
            text += &e.to_json().to_string();
            text.push('\n');
        }
        let result = fs::write(&tmp, &text)
            .and_then(|()| fs::rename(&tmp, &self.path))
            .and_then(|()| OpenOptions::new().append(true).open(&self.path));
        match result {
            Ok(f) => {
                self.file = Some(f);
                self.lines = self.live.len() + 1;
            }
            Err(e) => {
                mainlog::warn(format!(
                    "cannot write state file {}: {e}",
                    self.path.display()
                ));
                self.file = None;
            }
        }
    }

    /// Remove the file (clean shutdown: nothing is left running).
    pub fn remove(&mut self) {
        self.file = None;
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Read a journal: the corrald pid that wrote it and the entries still live.
pub fn read(path: &Path) -> Option<(Option<Pid>, Vec<Entry>)> {
    let text = fs::read_to_string(path).ok()?;
    let mut owner = None;
    let mut live: BTreeMap<Pid, Entry> = BTreeMap::new();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue; // a torn last line
        };
        if let Some(p) = v.get("corrald").and_then(Value::as_i64) {
            owner = Some(p as Pid);
        } else if let Some(pid) = v.get("spawn").and_then(Value::as_i64) {
            let pid = pid as Pid;
            live.insert(
                pid,
                Entry {
                    pid,
                    starttime: v.get("start").and_then(Value::as_u64).unwrap_or(0),
                    name: v
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_string(),
                    stopsignal: v.get("sig").and_then(Value::as_i64).unwrap_or(15) as i32,
                    stopwaitsecs: v.get("wait").and_then(Value::as_u64).unwrap_or(10),
                },
            );
        } else if let Some(pid) = v.get("exit").and_then(Value::as_i64) {
            live.remove(&(pid as Pid));
        }
    }
    Some((owner, live.into_values().collect()))
}

/// If a previous corrald died without stopping its processes, stop them now: each recorded
/// process still alive with the same start time, and everything in its session or process
/// group, gets its stop signal, then SIGKILL after its `stopwaitsecs`. Blocking; runs at
/// start-up before anything else is started or bound.
pub fn stop_predecessors(path: &Path) {
    let Some((owner, entries)) = read(path) else {
        return;
    };
    let me = sys::getpid();
    if let Some(owner) = owner {
        if owner != me && is_corrald(owner) {
            // A live corrald owns this journal; refusing to start is the socket check's job.
            return;
        }
    }
    let all: Vec<procfs::ProcStat> = procfs::all()
        .into_iter()
        .filter(|p| !p.is_zombie())
        .collect();
    let mut targets: Vec<(procfs::ProcStat, &Entry)> = Vec::new();
    for e in &entries {
        let leader_alive = all
            .iter()
            .any(|p| p.pid == e.pid && p.starttime == e.starttime);
        for p in &all {
            let is_leader = p.pid == e.pid && p.starttime == e.starttime;
            let in_tree = (p.sid == e.pid || p.pgid == e.pid) && p.starttime >= e.starttime;
            if (is_leader || (in_tree && (leader_alive || p.starttime > e.starttime)))
                && p.pid != me
                && !targets.iter().any(|(t, _)| t.pid == p.pid)
            {
                targets.push((p.clone(), e));
            }
        }
    }
    if targets.is_empty() {
        return;
    }
    let owner_txt = owner.map_or(String::from("?"), |p| p.to_string());
    let mut deadline = Instant::now();
    for (p, e) in &targets {
        mainlog::warn(format!(
            "stopping process {} ({}) of '{}', left running by a previous corrald (pid {})",
            p.pid,
            procfs::cmdline(p.pid),
            e.name,
            owner_txt
        ));
        let _ = sys::kill(p.pid, e.stopsignal);
        deadline = deadline.max(Instant::now() + Duration::from_secs(e.stopwaitsecs));
    }
    let alive = |p: &procfs::ProcStat| {
        procfs::stat(p.pid).is_ok_and(|s| s.starttime == p.starttime && !s.is_zombie())
    };
    while Instant::now() < deadline && targets.iter().any(|(p, _)| alive(p)) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for (p, _) in &targets {
        if alive(p) {
            mainlog::warn(format!(
                "killing process {} left by a previous corrald with SIGKILL",
                p.pid
            ));
            let _ = sys::kill(p.pid, libc::SIGKILL);
        }
    }
}

fn is_corrald(pid: Pid) -> bool {
    procfs::stat(pid).is_ok_and(|s| s.comm.starts_with("corrald"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_round_trip_keeps_only_live_entries() {
        let dir = std::env::temp_dir().join(format!("corral-journal-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state");
        let mut j = Journal::create(&path);
        let mut cfg_a = test_config("a");
        cfg_a.stopsignal = 2;
        j.spawned(&cfg_a, 100, 5);
        j.spawned(&test_config("b"), 101, 6);
        j.exited(100);
        let (owner, live) = read(&path).unwrap();
        assert_eq!(owner, Some(sys::getpid()));
        assert_eq!(live.len(), 1);
        assert_eq!(live[0].pid, 101);
        assert_eq!(live[0].name, "b");
        j.remove();
        assert!(!path.exists());
        let _ = fs::remove_dir_all(dir);
    }

    fn test_config(name: &str) -> ProcessConfig {
        crate::testutil::process_config(name, "/bin/true")
    }
}
