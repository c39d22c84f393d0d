//! corral-core: the lifecycle of a supervised process, as a pure state machine.
//!
//! [`machine::Machine::handle`] maps (state, event) to (state, effects). It performs no I/O
//! and reads no clock: time comes in with each event, so every transition — including
//! supervisord's timing rules (`startsecs`, backoff 1 s, 2 s, 3 s…, `stopwaitsecs`) — is unit
//! tested without spawning anything. The daemon (`corrald`) owns one machine per process and
//! carries out its effects.

pub mod machine;
pub mod state;
pub mod wait;

pub use machine::{
    Effect, Event, Level, Machine, Now, Pid, ReadyRule, Reply, Settings, Snapshot, Step,
};
pub use state::{ProcessState, SupervisorState};
pub use wait::WaitStatus;
