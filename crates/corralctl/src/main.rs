//! corralctl: supervisorctl's commands for corrald (and supervisord).

fn main() {
    let arg = std::env::args().nth(1);
    if matches!(arg.as_deref(), Some("--version" | "-v")) {
        println!("{}", env!("CARGO_PKG_VERSION"));
        return;
    }
    eprintln!("corralctl: only --version is available in this build");
    std::process::exit(2);
}
