//! Process and supervisor states (`supervisor/states.py`).

/// `ProcessStates`, with supervisord's numeric codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ProcessState {
    Stopped = 0,
    Starting = 10,
    Running = 20,
    Backoff = 30,
    Stopping = 40,
    Exited = 100,
    Fatal = 200,
    Unknown = 1000,
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

    pub fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(code: i32) -> Option<ProcessState> {
        ProcessState::ALL.into_iter().find(|s| s.code() == code)
    }

    /// The `statename` supervisord reports (`getProcessStateDescription`).
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
        ProcessState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// In `RUNNING_STATES` (RUNNING, BACKOFF, STARTING).
    pub fn is_running(self) -> bool {
        matches!(
            self,
            ProcessState::Running | ProcessState::Backoff | ProcessState::Starting
        )
    }

    /// In `STOPPED_STATES` (STOPPED, EXITED, FATAL, UNKNOWN).
    pub fn is_stopped(self) -> bool {
        matches!(
            self,
            ProcessState::Stopped
                | ProcessState::Exited
                | ProcessState::Fatal
                | ProcessState::Unknown
        )
    }

    /// In `SIGNALLABLE_STATES` (RUNNING, STARTING, STOPPING).
    pub fn is_signallable(self) -> bool {
        matches!(
            self,
            ProcessState::Running | ProcessState::Starting | ProcessState::Stopping
        )
    }
}

/// `SupervisorStates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum SupervisorState {
    Fatal = 2,
    Running = 1,
    Restarting = 0,
    Shutdown = -1,
}

impl SupervisorState {
    pub const ALL: [SupervisorState; 4] = [
        SupervisorState::Fatal,
        SupervisorState::Running,
        SupervisorState::Restarting,
        SupervisorState::Shutdown,
    ];

    pub fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(code: i32) -> Option<SupervisorState> {
        SupervisorState::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            SupervisorState::Fatal => "FATAL",
            SupervisorState::Running => "RUNNING",
            SupervisorState::Restarting => "RESTARTING",
            SupervisorState::Shutdown => "SHUTDOWN",
        }
    }

    /// `getState()`'s answer: `{'statecode': code, 'statename': name}`.
    pub fn to_value(self) -> crate::xmlrpc::Value {
        use crate::xmlrpc::Value;
        Value::structure([
            ("statecode", Value::Int(self.code())),
            ("statename", Value::from(self.name())),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_state_sets_match_states_py() {
        let running: Vec<_> = ProcessState::ALL
            .into_iter()
            .filter(|s| s.is_running())
            .collect();
        assert_eq!(
            running,
            [
                ProcessState::Starting,
                ProcessState::Running,
                ProcessState::Backoff
            ]
        );
        let stopped: Vec<_> = ProcessState::ALL
            .into_iter()
            .filter(|s| s.is_stopped())
            .collect();
        assert_eq!(
            stopped,
            [
                ProcessState::Stopped,
                ProcessState::Exited,
                ProcessState::Fatal,
                ProcessState::Unknown
            ]
        );
        let sig: Vec<_> = ProcessState::ALL
            .into_iter()
            .filter(|s| s.is_signallable())
            .collect();
        assert_eq!(
            sig,
            [
                ProcessState::Starting,
                ProcessState::Running,
                ProcessState::Stopping
            ]
        );
        // STOPPING is neither running nor stopped.
        assert!(!ProcessState::Stopping.is_running() && !ProcessState::Stopping.is_stopped());
    }

    #[test]
    fn codes_and_names() {
        for s in ProcessState::ALL {
            assert_eq!(ProcessState::from_code(s.code()), Some(s));
            assert_eq!(ProcessState::from_name(s.name()), Some(s));
        }
        assert_eq!(ProcessState::from_code(1), None);
        assert_eq!(ProcessState::Unknown.code(), 1000);
        for s in SupervisorState::ALL {
            assert_eq!(SupervisorState::from_code(s.code()), Some(s));
        }
        assert_eq!(SupervisorState::Shutdown.code(), -1);
        assert_eq!(SupervisorState::from_code(3), None);
    }
}
