//! Process and supervisor states (`supervisor/states.py`). The enums are corral-core's (the
//! state machine's own vocabulary); this module adds what the wire needs.

pub use corral_core::{ProcessState, SupervisorState};

use crate::xmlrpc::Value;

/// `getState()`'s answer: `{'statecode': code, 'statename': name}`.
pub fn supervisor_state_value(state: SupervisorState) -> Value {
    Value::structure([
        ("statecode", Value::Int(state.code())),
        ("statename", Value::from(state.name())),
    ])
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
