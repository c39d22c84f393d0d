//! The vocabulary of supervisor's XML-RPC API: faults, states, process records and their
//! description text, namespecs, and the method table.

mod corral_methods;
mod description;
mod fault;
#[rustfmt::skip]
mod method_table;
mod methods;
mod namespec;
mod process_info;
mod states;

pub use description::{EXITED_TOO_QUICKLY, format_stop_time, format_uptime, process_description};
pub use fault::{Fault, fault_text};
pub use methods::{
    MethodInfo, all_methods, list_methods, method_help, method_info, method_signature, methods,
};
pub use namespec::{make_namespec, split_namespec};
pub use process_info::{ProcessInfo, capped_int};
pub use states::{ProcessState, SupervisorState, supervisor_state_value};

/// `getAPIVersion()` / `getVersion()`: the RPC API version supervisord 4.3.0 reports.
pub const API_VERSION: &str = "3.0";

/// `getSupervisorVersion()` of the supervisord release corral reproduces.
pub const SUPERVISOR_VERSION: &str = "4.3.0";
