//! The state file: a journal of the processes corrald runs, so that if corrald itself is
//! killed (SIGKILL, the OOM killer) the next corrald can find and stop them before starting
//! anything — otherwise they would keep their ports and the new ones would die with
//! `Address already in use`.
//!
//! Append-only, one JSON object per line ([`Line`]): a header `{"corrald":PID,"start":TICKS}`
//! naming the corrald that writes it, `{"spawn":PID,"start":TICKS,"name":…}` when a process
//! starts and `{"exit":PID}` when it is reaped. Each line is one `write(2)`, so the journal is
//! accurate at whatever moment corrald dies (the kernel keeps the page cache; a power cut is
//! not the case this covers). It is compacted when mostly dead entries. A start time (clock
//! ticks since boot, from /proc) identifies a process across pid reuse.
//!
//! The header's `start` was added later: a journal without it (an older corrald's) still
//! reads, and an older corrald reads this one (unknown keys are ignored either way).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use corral_config::ProcessConfig;

use crate::logs::mainlog;
use crate::sys::{self, Pid, procfs};

/// A process the journal says is running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    #[serde(rename = "spawn")]
    pub pid: Pid,
    #[serde(rename = "start", default)]
    pub starttime: u64,
    #[serde(default = "unknown_name")]
    pub name: String,
    #[serde(rename = "sig", default = "default_stopsignal")]
    pub stopsignal: i32,
    #[serde(rename = "wait", default = "default_stopwaitsecs")]
    pub stopwaitsecs: u64,
}

fn unknown_name() -> String {
    "?".into()
}
fn default_stopsignal() -> i32 {
    libc::SIGTERM
}
fn default_stopwaitsecs() -> u64 {
    10
}

/// Which corrald writes the journal: its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    pub corrald: Pid,
    /// Its start time; `None` in a journal written before the field existed.
    #[serde(rename = "start", default, skip_serializing_if = "Option::is_none")]
    pub starttime: Option<u64>,
}

/// An exited process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Exit {
    exit: Pid,
}

/// One line of the journal, told apart by its key (`corrald`, `spawn` or `exit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum Line {
    Header(Header),
    Spawn(Entry),
    Exit(Exit),
}

impl Line {
    fn to_text(&self) -> String {
        // Serializing these plain structs cannot fail.
        let mut s = serde_json::to_string(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// What a journal holds: the corrald that wrote it and the entries still live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    pub owner: Option<Header>,
    pub live: Vec<Entry>,
}

#[derive(Debug)]
pub struct Journal {
    /// Empty when there is no journal to keep (no path, or another corrald's).
    path: PathBuf,
    file: Option<File>,
    live: BTreeMap<Pid, Entry>,
    lines: usize,
}

impl Journal {
    /// Start a fresh journal at `path` (after [`stop_predecessors`] has dealt with the old
    /// one). A journal that still belongs to a running corrald is left as it is, and this
    /// corrald keeps none: rewriting it would lose that corrald's processes to every later
    /// clean-up.
    pub fn create(path: &Path) -> Journal {
        let mut j = Journal {
            path: path.to_path_buf(),
            file: None,
            live: BTreeMap::new(),
            lines: 0,
        };
        if !path.as_os_str().is_empty() {
            if let Ok(Recorded {
                owner: Some(owner), ..
            }) = read(path)
            {
                if let OwnerState::Running = owner_state(&owner) {
                    mainlog::error(format!(
                        "state file {} belongs to corrald {}, which is running: this corrald \
                         keeps no state file (give each corrald its own statefile=)",
                        path.display(),
                        owner.corrald
                    ));
                    j.path = PathBuf::new();
                    return j;
                }
            }
        }
        j.rewrite();
        j
    }

    /// Go on with this corrald's own journal after an in-place upgrade (same pid): its live
    /// entries are still live.
    pub fn resume(path: &Path) -> Journal {
        let mut j = Journal {
            path: path.to_path_buf(),
            file: None,
            live: BTreeMap::new(),
            lines: 0,
        };
        if path.as_os_str().is_empty() {
            return j;
        }
        if let Ok(recorded) = read(path) {
            if recorded
                .owner
                .as_ref()
                .is_some_and(|o| o.corrald == sys::getpid())
            {
                j.live = recorded.live.into_iter().map(|e| (e.pid, e)).collect();
            }
        }
        j.rewrite();
        j
    }

    pub fn spawned(&mut self, cfg: &ProcessConfig, pid: Pid, starttime: u64) {
        let entry = Entry {
            pid,
            starttime,
            name: cfg.namespec(),
            // A successor stops it with one signal: a stop sequence's first, after which
            // it waits as long as the whole sequence would.
            stopsignal: cfg.stop_steps()[0].signal,
            stopwaitsecs: cfg.stop_wait_total(),
        };
        self.live.insert(pid, entry.clone());
        self.append(&Line::Spawn(entry));
    }

    pub fn exited(&mut self, pid: Pid) {
        if self.live.remove(&pid).is_some() {
            self.append(&Line::Exit(Exit { exit: pid }));
            if self.lines > 64 && self.lines > 4 * self.live.len() {
                self.rewrite();
            }
        }
    }

    fn append(&mut self, line: &Line) {
        if let Some(f) = self.file.as_mut() {
            if f.write_all(line.to_text().as_bytes()).is_err() {
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
        let me = sys::getpid();
        let header = Header {
            corrald: me,
            starttime: procfs::stat(me).ok().map(|s| s.starttime),
        };
        let mut text = Line::Header(header).to_text();
        for e in self.live.values() {
            text += &Line::Spawn(e.clone()).to_text();
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

/// Read a journal: the corrald that wrote it and the entries still live.
pub fn read(path: &Path) -> io::Result<Recorded> {
    let text = fs::read_to_string(path)?;
    let mut owner = None;
    let mut live: BTreeMap<Pid, Entry> = BTreeMap::new();
    for line in text.lines() {
        match serde_json::from_str::<Line>(line) {
            Ok(Line::Header(h)) => owner = Some(h),
            Ok(Line::Spawn(e)) => {
                live.insert(e.pid, e);
            }
            Ok(Line::Exit(Exit { exit })) => {
                live.remove(&exit);
            }
            Err(_) => {} // a torn last line
        }
    }
    Ok(Recorded {
        owner,
        live: live.into_values().collect(),
    })
}

/// What became of the corrald that wrote a journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnerState {
    /// Gone (or it is us: the journal of an earlier run under the same pid).
    Gone,
    /// Still running: its processes are its own business.
    Running,
    /// Dead, but not yet reaped by its parent (a shell, a slow init): a zombie holds no
    /// processes, ports or files, and will never clean up after itself.
    Zombie,
    /// Its pid now belongs to another process.
    Reused,
}

fn owner_state(owner: &Header) -> OwnerState {
    if owner.corrald == sys::getpid() {
        return OwnerState::Gone;
    }
    let Ok(s) = procfs::stat(owner.corrald) else {
        return OwnerState::Gone;
    };
    if s.is_zombie() {
        return OwnerState::Zombie;
    }
    match owner.starttime {
        Some(t) if t == s.starttime => OwnerState::Running,
        Some(_) => OwnerState::Reused,
        // An older journal: the name is all there is to go by.
        None if s.comm.starts_with("corrald") => OwnerState::Running,
        None => OwnerState::Reused,
    }
}

/// If a previous corrald died without stopping its processes, stop them now: each recorded
/// process still alive with the same start time, and everything in its session or process
/// group, gets its stop signal, then SIGKILL after its `stopwaitsecs`. Blocking; runs at
/// start-up before anything else is started or bound. When it does nothing although the
/// journal lists processes, the main log says why.
pub fn stop_predecessors(path: &Path) {
    if path.as_os_str().is_empty() {
        return;
    }
    let Recorded { owner, live } = match read(path) {
        Ok(r) => r,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return,
        Err(e) => {
            mainlog::error(format!(
                "cannot read state file {}: {e}; processes left by a previous corrald, if \
                 any, are not stopped",
                path.display()
            ));
            return;
        }
    };
    if let Some(owner) = &owner {
        let pid = owner.corrald;
        match owner_state(owner) {
            OwnerState::Running => {
                if !live.is_empty() {
                    mainlog::warn(format!(
                        "not stopping the processes recorded in {}: corrald {pid}, which \
                         wrote it, is running",
                        path.display()
                    ));
                }
                return;
            }
            OwnerState::Zombie => mainlog::info(format!(
                "corrald {pid}, which wrote the state file, is a zombie (dead, not yet \
                 reaped by its parent): stopping what it left running"
            )),
            OwnerState::Reused => mainlog::info(format!(
                "pid {pid}, which wrote the state file, is now another process: the corrald \
                 that wrote it is gone"
            )),
            OwnerState::Gone => {}
        }
    }
    let me = sys::getpid();
    let all: Vec<procfs::ProcStat> = procfs::all()
        .into_iter()
        .filter(|p| !p.is_zombie())
        .collect();
    let targets = targets(&live, &all, me);
    if targets.is_empty() {
        return;
    }
    let owner_txt = owner.map_or(String::from("?"), |h| h.corrald.to_string());
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

/// The live processes (`all`, zombies left out) that belong to a recorded entry: the
/// process itself (same pid and start time) and its session and process group. While the
/// recorded pid is held by another process (a different start time), no session or group
/// of that id can be the old one's (the kernel reuses a pid only once no session or group
/// uses it), so nothing is taken for the entry's.
fn targets<'a>(
    entries: &'a [Entry],
    all: &[procfs::ProcStat],
    me: Pid,
) -> Vec<(procfs::ProcStat, &'a Entry)> {
    let mut targets: Vec<(procfs::ProcStat, &Entry)> = Vec::new();
    for e in entries {
        let holder = all.iter().find(|p| p.pid == e.pid);
        let leader_alive = holder.is_some_and(|p| p.starttime == e.starttime);
        let reused = holder.is_some_and(|p| p.starttime != e.starttime);
        for p in all {
            let is_leader = p.pid == e.pid && p.starttime == e.starttime;
            let in_tree =
                !reused && (p.sid == e.pid || p.pgid == e.pid) && p.starttime >= e.starttime;
            if (is_leader || (in_tree && (leader_alive || p.starttime > e.starttime)))
                && p.pid != me
                && !targets.iter().any(|(t, _)| t.pid == p.pid)
            {
                targets.push((p.clone(), e));
            }
        }
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("corral-journal-{tag}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn journal_round_trip_keeps_only_live_entries() {
        let dir = temp_dir("round-trip");
        let path = dir.join("state");
        let mut j = Journal::create(&path);
        let mut cfg_a = test_config("a");
        cfg_a.stopsignal = 2;
        j.spawned(&cfg_a, 100, 5);
        j.spawned(&test_config("b"), 101, 6);
        j.exited(100);
        let r = read(&path).unwrap();
        let me = sys::getpid();
        assert_eq!(
            r.owner,
            Some(Header {
                corrald: me,
                starttime: Some(procfs::stat(me).unwrap().starttime)
            })
        );
        assert_eq!(r.live.len(), 1);
        assert_eq!(r.live[0].pid, 101);
        assert_eq!(r.live[0].name, "b");
        j.remove();
        assert!(!path.exists());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn the_format_is_unchanged_and_old_journals_still_read() {
        let entry = Entry {
            pid: 7,
            starttime: 9,
            name: "g:p".into(),
            stopsignal: 2,
            stopwaitsecs: 3,
        };
        assert_eq!(
            Line::Spawn(entry.clone()).to_text(),
            "{\"spawn\":7,\"start\":9,\"name\":\"g:p\",\"sig\":2,\"wait\":3}\n"
        );
        assert_eq!(Line::Exit(Exit { exit: 7 }).to_text(), "{\"exit\":7}\n");
        let header = Header {
            corrald: 5,
            starttime: Some(11),
        };
        assert_eq!(
            Line::Header(header).to_text(),
            "{\"corrald\":5,\"start\":11}\n"
        );
        // A journal as the first corrald wrote it (no start time in the header), with a
        // torn last line.
        let dir = temp_dir("old-format");
        let path = dir.join("state");
        fs::write(
            &path,
            "{\"corrald\":5}\n{\"spawn\":7,\"start\":9,\"name\":\"g:p\",\"sig\":2,\"wait\":3}\n\
             {\"spawn\":8,\"start\":10,\"name\":\"x\",\"sig\":15,\"wait\":10}\n{\"exit\":8}\n{\"spa",
        )
        .unwrap();
        let r = read(&path).unwrap();
        assert_eq!(
            r.owner,
            Some(Header {
                corrald: 5,
                starttime: None
            })
        );
        assert_eq!(r.live, vec![entry]);
        let _ = fs::remove_dir_all(dir);
    }

    fn stat(pid: Pid, sid: Pid, starttime: u64) -> procfs::ProcStat {
        procfs::ProcStat {
            pid,
            comm: "x".into(),
            state: 'S',
            ppid: 1,
            pgid: sid,
            sid,
            starttime,
            ..Default::default()
        }
    }

    fn entry(pid: Pid, starttime: u64) -> Entry {
        Entry {
            pid,
            starttime,
            name: "p".into(),
            stopsignal: 15,
            stopwaitsecs: 1,
        }
    }

    #[test]
    fn targets_are_the_process_its_session_and_orphans_never_a_reused_pid() {
        let pids =
            |t: Vec<(procfs::ProcStat, &Entry)>| t.iter().map(|(p, _)| p.pid).collect::<Vec<_>>();
        let entries = [entry(100, 50)];
        // The process and a child in its session.
        let all = [stat(100, 100, 50), stat(101, 100, 60), stat(200, 200, 10)];
        assert_eq!(pids(targets(&entries, &all, 1)), vec![100, 101]);
        // The leader is gone; an orphan of its session is left.
        let all = [stat(101, 100, 60), stat(200, 200, 10)];
        assert_eq!(pids(targets(&entries, &all, 1)), vec![101]);
        // Pid 100 is another process now, which started a session of its own.
        let all = [stat(100, 100, 90), stat(101, 100, 95)];
        assert!(targets(&entries, &all, 1).is_empty());
    }

    #[test]
    fn a_zombie_or_a_reused_pid_is_not_a_running_owner() {
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("1000")
            .spawn()
            .unwrap();
        let pid = child.id() as Pid;
        let start = procfs::stat(pid).unwrap().starttime;
        let header = |starttime| Header {
            corrald: pid,
            starttime,
        };
        assert_eq!(owner_state(&header(Some(start))), OwnerState::Running);
        assert_eq!(owner_state(&header(Some(start + 1))), OwnerState::Reused);
        // An old header: only a process named corrald counts.
        assert_eq!(owner_state(&header(None)), OwnerState::Reused);

        // A running owner's journal is left alone.
        let dir = temp_dir("owned");
        let path = dir.join("state");
        let text = format!(
            "{{\"corrald\":{pid},\"start\":{start}}}\n{{\"spawn\":7,\"start\":9,\"name\":\"a\",\"sig\":15,\"wait\":1}}\n"
        );
        fs::write(&path, &text).unwrap();
        let mut j = Journal::create(&path);
        j.spawned(&test_config("b"), 8, 1);
        j.remove();
        assert_eq!(fs::read_to_string(&path).unwrap(), text);

        child.kill().unwrap();
        // Not reaped yet: a zombie.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !procfs::stat(pid).unwrap().is_zombie() {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(owner_state(&header(Some(start))), OwnerState::Zombie);
        child.wait().unwrap();
        assert_eq!(owner_state(&header(Some(start))), OwnerState::Gone);
        let _ = fs::remove_dir_all(dir);
    }

    fn test_config(name: &str) -> ProcessConfig {
        crate::testutil::process_config(name, "/bin/true")
    }
}
