//! corral-core: the lifecycle of a supervised process, as a pure state machine.
//!
//! [`machine::Machine::handle`] maps (state, event) to (state, effects). It performs no I/O
//! and reads no clock: time comes in with each event, so every transition — including
//! supervisord's timing rules (`startsecs`, backoff 1 s, 2 s, 3 s…, `stopwaitsecs`) — is unit
//! tested without spawning anything. The daemon (`corrald`) owns one machine per process and
//! carries out its effects.

pub mod ids;
pub mod machine;
pub mod persist;
pub mod state;
pub mod wait;

pub use ids::{Pid, Signal};
pub use machine::{
    Effect, Event, Hold, Level, Machine, Now, ReadyRule, Replaced, Reply, Settings, Snapshot, Step,
    StopPlan, StopProgress, StopStep,
};
pub use state::{ProcessState, SupervisorState};
pub use wait::WaitStatus;
