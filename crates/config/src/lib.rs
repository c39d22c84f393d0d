//! corral-config: `supervisord.conf`, read exactly as supervisord 4.3.0 reads it.
//!
//! Parsing is hand-written to match Python's `configparser` as supervisord configures it, and
//! supervisord's own option handling on top (defaults, datatypes, expansions, includes,
//! `numprocs`). Everything the parser needs from the machine (files, globs, users, the
//! environment, the host name) comes through the [`host::Host`] trait, so the parser itself is
//! pure and testable; [`host::RealHost`] is the one implementation that touches the system.

pub mod error;
pub mod model;

pub use error::ConfigError;
pub use model::*;
