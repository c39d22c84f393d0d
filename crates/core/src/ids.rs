//! Process ids and signal numbers as types of their own, so that the two integers the
//! lifecycle deals in can't be mixed up where they cross module boundaries.

use std::fmt;

/// A process id.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Pid(pub i32);

impl Pid {
    pub fn get(self) -> i32 {
        self.0
    }

    /// The process group this pid leads, as `kill(2)` addresses it (`-pid`).
    pub fn group(self) -> i32 {
        -self.0
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A signal number.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Signal(pub i32);

impl Signal {
    pub const HUP: Signal = Signal(1);
    pub const INT: Signal = Signal(2);
    pub const KILL: Signal = Signal(9);
    pub const TERM: Signal = Signal(15);

    pub fn get(self) -> i32 {
        self.0
    }

    /// The name supervisord logs (`SIGTERM`).
    pub fn name(self) -> String {
        corral_config::signals::name(self.0)
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}
