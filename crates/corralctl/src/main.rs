//! corralctl: supervisorctl 4.3.0's client, command for command and output for output,
//! for corrald and supervisord alike; plus `--json` output, coloured states in a terminal,
//! and an explanation when the daemon cannot be reached.

mod commands;
mod controller;
mod error;
mod fleet;
mod format;
mod health;
mod help;
mod options;
mod orchestration;
mod pyurl;
mod shell;
mod stream;
mod term;
mod upgrade;

use std::io::IsTerminal;

use corral_config::host::RealHost;

use controller::{Controller, Input};
use options::Early;
use term::FdLines;

fn main() {
    term::default_sigpipe();
    let mut argv = std::env::args_os().map(|a| a.to_string_lossy().into_owned());
    let progname = argv.next().unwrap_or_else(|| "corralctl".into());
    let args: Vec<String> = argv.collect();

    let opts = match options::realize(&args, &progname, &RealHost) {
        Ok(o) => o,
        Err(Early::Help(text)) => {
            controller::write_stdout(text.as_bytes());
            std::process::exit(0);
        }
        Err(Early::Version) => {
            println!("{}", env!("CARGO_PKG_VERSION"));
            std::process::exit(0);
        }
        Err(Early::Usage { message, code }) => {
            eprint!("{}", Early::usage_text(&message, &progname));
            std::process::exit(code);
        }
    };

    if !opts.args.is_empty() {
        let line = opts.args.join(" ");
        let mut ctl = Controller::new(opts, Input::Plain(FdLines::stdin()));
        if ctl.onecmd(&line).is_err() {
            die_of_sigint();
        }
        std::process::exit(ctl.exitstatus);
    }

    // No command: the shell. A line editor only when both ends are a terminal, as
    // Python's input() uses readline only then.
    let input = if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        match shell::LineEditor::new() {
            Some(ed) => Input::Editor(Box::new(ed)),
            None => Input::Plain(FdLines::stdin()),
        }
    } else {
        Input::Plain(FdLines::stdin())
    };
    let mut ctl = Controller::new(opts, input);
    let status = shell::run(&mut ctl);
    std::process::exit(status);
}

/// Ends the program the way an uncaught KeyboardInterrupt ends Python: killed by SIGINT.
fn die_of_sigint() -> ! {
    term::raise_default(libc::SIGINT);
    std::process::exit(130);
}
