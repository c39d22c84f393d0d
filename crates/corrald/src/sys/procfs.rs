//! Reading `/proc`: who is alive, in which process group and session, with which parent.
//!
//! Used to find what a program left behind when its main process is gone, and to check,
//! before signalling a pid from an earlier record, that it is still the same process (its
//! start time in clock ticks since boot never changes for a given process).

use std::fs;
use std::io;

use super::Pid;

/// The fields of `/proc/PID/stat` corrald cares about.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        let line = "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1000 100";
        let s = parse_stat(line).unwrap();
        assert_eq!(s.pid, 1234);
        assert_eq!(s.comm, "my (odd) prog");
        assert_eq!(s.state, 'S');
        assert_eq!((s.ppid, s.pgid, s.sid), (1, 1234, 1234));
        assert_eq!(s.starttime, 987654);
    }

    #[test]
    fn reads_own_process() {
        let me = stat(super::super::getpid()).unwrap();
        assert_eq!(me.pid, super::super::getpid());
        assert!(!me.is_zombie());
        assert!(all().iter().any(|p| p.pid == me.pid));
        let [path, unset] = environ_vars(me.pid, ["PATH", "CORRAL_SURELY_UNSET_VARIABLE"]);
        assert_eq!(path, std::env::var("PATH").ok());
        assert_eq!(unset, None);
    }
}
