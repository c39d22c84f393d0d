//! corrald: a drop-in replacement for supervisord.
//!
//! `main` only hands the command line to [`daemon::main`]; the room for each concern is
//! named after it (see the module list below).

mod check;
mod cli;
mod daemon;
mod events;
mod logs;
mod notify;
mod process;
mod reaper;
mod rpc;
mod sockets;
mod statefile;
mod supervisor;
mod sys;
#[cfg(test)]
mod testutil;
mod upgrade;

fn main() {
    // A bug that panics in one task ends that task, not the daemon (tokio catches it); say
    // so in the main log, where an operator looks, and not only on a stderr nobody reads.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        logs::mainlog::critical(format!("internal error, please report it: {info}"));
        default_hook(info);
    }));
    let argv: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(daemon::main(&argv));
}
