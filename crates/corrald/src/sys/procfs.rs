//! Reading `/proc`: who is alive, in which process group and session, with which parent.
//!
//! Used to find what a program left behind when its main process is gone, and to check,
//! before signalling a pid from an earlier record, that it is still the same process (its
//! start time in clock ticks since boot never changes for a given process).

use std::fs;
use std::io;

use super::Pid;

/// The fields of `/proc/PID/stat` corrald cares about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcStat {
    pub pid: Pid,
    /// The executable name (`comm`, at most 15 bytes).
    pub comm: String,
    /// `R`, `S`, `D`, `Z`, …
    pub state: char,
    pub ppid: Pid,
    pub pgid: Pid,
    pub sid: Pid,
    /// Start time, clock ticks after boot.
    pub starttime: u64,
    /// CPU time in user and kernel mode, clock ticks; `cutime`/`cstime`: of its waited-for
    /// children.
    pub utime: u64,
    pub stime: u64,
    pub cutime: u64,
    pub cstime: u64,
    /// Virtual memory, bytes.
    pub vsize: u64,
    /// Resident set size, pages.
    pub rss: u64,
}

impl ProcStat {
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Parse one `/proc/PID/stat` line. `comm` may hold spaces and parentheses, so the fields
/// after it are found from the last `)`.
pub fn parse_stat(line: &str) -> Option<ProcStat> {
    let open = line.find('(')?;
    let close = line.rfind(')')?;
    let pid = line[..open].trim().parse().ok()?;
    let comm = line[open + 1..close].to_string();
    let rest: Vec<&str> = line[close + 1..].split_whitespace().collect();
    // rest[0] is field 3 (state); field N is rest[N - 3].
    Some(ProcStat {
        pid,
        comm,
        state: rest.first()?.chars().next()?,
        ppid: rest.get(1)?.parse().ok()?,
        pgid: rest.get(2)?.parse().ok()?,
        sid: rest.get(3)?.parse().ok()?,
        starttime: rest.get(19)?.parse().ok()?,
        utime: rest.get(11)?.parse().ok()?,
        stime: rest.get(12)?.parse().ok()?,
        // cutime/cstime are signed in the kernel's format (never negative in practice).
        cutime: rest.get(13)?.parse::<i64>().ok()?.max(0) as u64,
        cstime: rest.get(14)?.parse::<i64>().ok()?.max(0) as u64,
        vsize: rest.get(20)?.parse().ok()?,
        rss: rest.get(21)?.parse::<i64>().ok()?.max(0) as u64,
    })
}

pub fn stat(pid: Pid) -> io::Result<ProcStat> {
    let line = fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&line)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc stat"))
}

/// Every process visible in /proc right now (zombies included; callers decide).
pub fn all() -> Vec<ProcStat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<Pid>().ok()))
        .filter_map(|pid| stat(pid).ok())
        .collect()
}

/// Resident memory of `pid` in bytes (`/proc/PID/statm`), `None` once it is gone.
pub fn rss_bytes(pid: Pid) -> Option<u64> {
    let statm = fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * super::page_size())
}

/// The children of `pid` (every thread's: a process's children hang off the thread that
/// forked them).
pub fn children(pid: Pid) -> Vec<Pid> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect::<Vec<Pid>>()
        })
        .collect()
}

/// How many descriptors a process has open (entries of `/proc/PID/fd`), if readable.
pub fn open_fds(pid: Pid) -> Option<u64> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count() as u64)
}

/// The system's boot time, Unix seconds (`btime` of `/proc/stat`).
pub fn boot_time() -> Option<u64> {
    let stat = fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The command line, space-joined and shortened for log messages.
pub fn cmdline(pid: Pid) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut s: String = String::from_utf8_lossy(&raw)
        .split('\0')
        .filter(|a| !a.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if s.chars().count() > 80 {
        s = s.chars().take(77).collect::<String>() + "...";
    }
    s
}

/// Variables of a process's initial environment, read in one go: the value of each of
/// `keys`, or None where it is unset (or the environment is unreadable).
pub fn environ_vars<const N: usize>(pid: Pid, keys: [&str; N]) -> [Option<String>; N] {
    let raw = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
    keys.map(|key| {
        raw.split(|b| *b == 0).find_map(|kv| {
            let kv = std::str::from_utf8(kv).ok()?;
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| v.to_string())
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_awkward_comm() {
        let line = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 1 0 0 0 7 3 2 1 20 0 1 0 987654 1000 100";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.pid, 1234);
        assert_eq!(s.comm, "my (odd) prog");
        assert_eq!(s.state, 'S');
        assert_eq!((s.ppid, s.pgid, s.sid), (1, 1234, 1234));
        assert_eq!(s.starttime, 987654);
        assert_eq!((s.utime, s.stime, s.cutime, s.cstime), (7, 3, 2, 1));
        assert_eq!((s.vsize, s.rss), (1000, 100));
    }

    #[test]
    fn reads_own_process() {
        let me = stat(super::super::getpid()).unwrap();
        assert_eq!(me.pid, super::super::getpid());
        assert!(!me.is_zombie());
        assert!(all().iter().any(|p| p.pid == me.pid));
        assert!(me.rss > 0);
        assert!(open_fds(me.pid).is_some_and(|n| n >= 3));
        assert!(boot_time().is_some_and(|t| t > 1_000_000_000));
        let [path, unset] = environ_vars(me.pid, ["PATH", "CORRAL_SURELY_UNSET_VARIABLE"]);
        assert_eq!(path, std::env::var("PATH").ok());
        assert_eq!(unset, None);
        assert!(rss_bytes(me.pid).is_some_and(|b| b > 0));
        assert_eq!(rss_bytes(-1), None);
    }
}
