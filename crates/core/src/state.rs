//! Process states, with supervisord's numeric codes and names (they are part of the API).

/// The states a supervised process goes through, as supervisord defines them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProcessState {
    Stopped,
    Starting,
    Running,
    Backoff,
    Stopping,
    Exited,
    Fatal,
    Unknown,
}

impl ProcessState {
    pub const ALL: [ProcessState; 8] = [
        ProcessState::Stopped,
        ProcessState::Starting,
        ProcessState::Running,
        ProcessState::Backoff,
        ProcessState::Stopping,
        ProcessState::Exited,
        ProcessState::Fatal,
        ProcessState::Unknown,
    ];

    /// supervisord's `ProcessStates` code.
    pub fn code(self) -> i32 {
        match self {
            ProcessState::Stopped => 0,
            ProcessState::Starting => 10,
            ProcessState::Running => 20,
            ProcessState::Backoff => 30,
            ProcessState::Stopping => 40,
            ProcessState::Exited => 100,
            ProcessState::Fatal => 200,
            ProcessState::Unknown => 1000,
        }
    }

    pub fn from_code(code: i32) -> Option<ProcessState> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The name in `statename` and in event names (`PROCESS_STATE_RUNNING`).
    pub fn name(self) -> &'static str {
        match self {
            ProcessState::Stopped => "STOPPED",
            ProcessState::Starting => "STARTING",
            ProcessState::Running => "RUNNING",
            ProcessState::Backoff => "BACKOFF",
            ProcessState::Stopping => "STOPPING",
            ProcessState::Exited => "EXITED",
            ProcessState::Fatal => "FATAL",
            ProcessState::Unknown => "UNKNOWN",
        }
    }

    pub fn from_name(name: &str) -> Option<ProcessState> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// supervisord's `RUNNING_STATES`: a start request is refused (ALREADY_STARTED).
    pub fn is_running(self) -> bool {
        matches!(
            self,
            ProcessState::Running | ProcessState::Backoff | ProcessState::Starting
        )
    }

    /// supervisord's `STOPPED_STATES`: nothing is alive (or about to be).
    pub fn is_stopped(self) -> bool {
        matches!(
            self,
            ProcessState::Stopped
                | ProcessState::Exited
                | ProcessState::Fatal
                | ProcessState::Unknown
        )
    }

    /// supervisord's `SIGNALLABLE_STATES`.
    pub fn is_signallable(self) -> bool {
        matches!(
            self,
            ProcessState::Running | ProcessState::Starting | ProcessState::Stopping
        )
    }
}

/// The daemon's own state (`supervisor.getState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SupervisorState {
    Fatal,
    Running,
    Restarting,
    Shutdown,
}

impl SupervisorState {
    pub const ALL: [SupervisorState; 4] = [
        SupervisorState::Fatal,
        SupervisorState::Running,
        SupervisorState::Restarting,
        SupervisorState::Shutdown,
    ];

    pub fn from_code(code: i32) -> Option<SupervisorState> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn code(self) -> i32 {
        match self {
            SupervisorState::Fatal => 2,
            SupervisorState::Running => 1,
            SupervisorState::Restarting => 0,
            SupervisorState::Shutdown => -1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SupervisorState::Fatal => "FATAL",
            SupervisorState::Running => "RUNNING",
            SupervisorState::Restarting => "RESTARTING",
            SupervisorState::Shutdown => "SHUTDOWN",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for s in ProcessState::ALL {
            assert_eq!(ProcessState::from_code(s.code()), Some(s));
            assert_eq!(ProcessState::from_name(s.name()), Some(s));
        }
        assert_eq!(ProcessState::from_code(5), None);
    }

    #[test]
    fn state_classes_match_supervisord() {
        use ProcessState::*;
        let running: Vec<_> = ProcessState::ALL
            .into_iter()
            .filter(|s| s.is_running())
            .collect();
        assert_eq!(running, vec![Starting, Running, Backoff]);
        let stopped: Vec<_> = ProcessState::ALL
            .into_iter()
            .filter(|s| s.is_stopped())
            .collect();
        assert_eq!(stopped, vec![Stopped, Exited, Fatal, Unknown]);
    }
}
