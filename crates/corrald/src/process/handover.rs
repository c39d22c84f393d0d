//! A process task's part of an in-place upgrade: what it hands to the next corrald
//! (its machine, its configuration, the pids and owners of its runs, the raw numbers of
//! the pipes and sockets it holds) and how a task starts again from that.
//!
//! Descriptors are not moved: the exec keeps them open under the same numbers (CLOEXEC is
//! cleared on exactly these), so the state only names them, and a reader of a pipe that is
//! still open in the old image is read by the new one from where the old one stopped.

use std::cell::RefCell;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;

use corral_config::ProcessConfig;
use corral_core::Machine;

use super::LogPaths;
use crate::logs::capture;
use crate::logs::channel::ChannelLog;

/// What a task hands over.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ProcessExport {
    pub config: ProcessConfig,
    pub logs: LogPaths,
    /// Serialized within `corral_core::persist::with_base`: its deadlines travel as
    /// durations.
    pub machine: Machine,
    /// The main process and what belongs to it.
    pub main: Option<MainExport>,
    /// Every process the machine knows of (main, past main with leftovers).
    pub runs: Vec<RunExport>,
    /// Every output pipe still being read (a run's leftovers may still write to theirs).
    pub readers: Vec<ReaderExport>,
    /// The last `STATUS=` the process sent (sd_notify).
    pub notify_status: Option<String>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct MainExport {
    pub pid: i32,
    /// Our end of its stdin.
    pub stdin: Option<RawFd>,
    /// Its sd_notify socket and the `NOTIFY_SOCKET` value it was given.
    pub notify: Option<(RawFd, String)>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct RunExport {
    /// Its [`Owner`] but the configuration, which is the task's.
    pub main: i32,
    pub main_starttime: u64,
    pub successor_starttime: Option<u64>,
    /// Leftovers already signalled: (pid, start time, signal), so none gets a signal twice.
    pub signaled: Vec<(i32, u64, i32)>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ReaderExport {
    pub channel: Channel,
    pub pid: i32,
    pub fd: RawFd,
}

/// Which output pipe (written as "stdout" or "stderr").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Stdout,
    Stderr,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Stdout => "stdout",
            Channel::Stderr => "stderr",
        }
    }
}

/// The output pipes of one program being read right now, by raw number: an entry lives
/// exactly as long as its reader holds the descriptor open.
pub type Readers = Rc<RefCell<Vec<ReaderExport>>>;

/// Removes its reader's entry when the reader ends (after it closed the pipe).
struct Tracked {
    readers: Readers,
    fd: RawFd,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.readers.borrow_mut().retain(|r| r.fd != self.fd);
    }
}

/// Read `fd` into `log` (logs/capture.rs) as one of `readers`.
pub fn spawn_reader(
    readers: &Readers,
    channel: Channel,
    pid: i32,
    fd: OwnedFd,
    log: Rc<RefCell<ChannelLog>>,
    on_output: Option<capture::OnOutput>,
) {
    let raw = fd.as_raw_fd();
    // Exactly as many entries as pipes (two at most, most of the time): every process
    // holds this list.
    let mut list = readers.borrow_mut();
    list.reserve_exact(1);
    list.push(ReaderExport {
        channel,
        pid,
        fd: raw,
    });
    drop(list);
    let tracked = Tracked {
        readers: readers.clone(),
        fd: raw,
    };
    // Called once the reader has closed the pipe: the number may be reused from then on.
    let on_eof: capture::OnEof = Box::new(move || drop(tracked));
    capture::start(fd, log, on_output, Some(on_eof));
}
