//! corrald: a drop-in replacement for supervisord.
//!
//! `main` only hands the command line to [`daemon::main`]; the room for each concern is
//! named after it (see the module list below).

mod check;
mod cli;
mod daemon;
mod events;
mod logs;
mod mainlog;
mod process;
mod reaper;
mod rpc;
mod sockets;
mod statefile;
mod supervisor;
mod sys;
#[cfg(test)]
mod testutil;

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(daemon::main(&argv));
}
