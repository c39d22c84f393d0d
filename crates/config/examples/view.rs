//! `cargo run -p corral-config --example view -- FILE`: the JSON view `corrald --check --json`
//! prints, for trying the parser without the daemon.

fn main() {
    let path = std::env::args().nth(1).expect("usage: view FILE");
    let loaded = corral_config::load(&path, &corral_config::host::RealHost, &Default::default());
    let v = corral_config::view_json(&loaded);
    println!("{}", serde_json::to_string_pretty(&v).expect("JSON"));
    std::process::exit(if loaded.errors.is_empty() { 0 } else { 2 });
}
