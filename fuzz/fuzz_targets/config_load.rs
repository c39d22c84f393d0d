//! `corral_config::load` (ini parsing, %-expansions, [include] files and globs, every option
//! converter, corral's extensions and checks) on arbitrary files, through an in-memory host.
//!
//! Input: up to three files separated by the line `#--8<--`: the main file
//! (/etc/supervisor/supervisord.conf), then /etc/supervisor/conf.d/a.conf and
//! /etc/supervisor/conf.d/b.ini, which an `[include] files=` in the main file can reach by
//! name or glob.
//!
//! Oracles: no panic, no hang (libFuzzer's -timeout), no runaway allocation (-rss_limit_mb);
//! every error names a message; the JSON view and `--strict` of whatever was read work too.
//! (Loading is slow under the sanitizers, ~30 ms for a 10 KB file, so each input is loaded
//! once.)
#![no_main]

mod memhost;

use corral_config::{Overrides, ini, load, view_json};
use libfuzzer_sys::fuzz_target;
use memhost::MemHost;

const MARK: &[u8] = b"\n#--8<--\n";

fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while parts.len() < 2 {
        match rest.windows(MARK.len()).position(|w| w == MARK) {
            Some(i) => {
                parts.push(&rest[..i]);
                rest = &rest[i + MARK.len()..];
            }
            None => break,
        }
    }
    parts.push(rest);
    parts
}

/// The most processes the input can ask for, all sections together (an upper bound: the
/// digits of each `numprocs` value read as one number). Each process costs a fixed amount
/// of work (about 0.5 ms under the sanitizers), so thousands of them are a timeout by
/// construction, not a finding: such inputs are skipped. That loading stays linear in
/// `numprocs` is `crates/config/tests/errors.rs::a_large_numprocs_loads_in_linear_time`'s
/// job. (An expansion cannot produce digits the value does not hold: no name `MemHost`
/// offers has a numeric value.)
fn process_bound(parts: &[&[u8]]) -> u64 {
    let mut parsed = ini::Ini::new();
    for part in parts {
        let _ = parsed.read(&String::from_utf8_lossy(part), "f", "/f");
    }
    parsed
        .section_names()
        .iter()
        .filter_map(|s| parsed.get(s, "numprocs"))
        .map(|o| {
            o.value
                .chars()
                .filter(char::is_ascii_digit)
                .try_fold(0u64, |n, d| n.checked_mul(10)?.checked_add(u64::from(d as u8 - b'0')))
                .unwrap_or(u64::MAX)
        })
        .fold(0u64, u64::saturating_add)
}

fuzz_target!(|data: &[u8]| {
    let parts = split(data);
    if process_bound(&parts) > 2000 {
        return;
    }
    let mut host = MemHost::new();
    let names = [
        "/etc/supervisor/supervisord.conf",
        "/etc/supervisor/conf.d/a.conf",
        "/etc/supervisor/conf.d/b.ini",
    ];
    for (name, text) in names.iter().zip(&parts) {
        host.files.insert(name.to_string(), text.to_vec());
    }
    let overrides = Overrides::default();
    let loaded = load("supervisord.conf", &host, &overrides);
    for e in &loaded.errors {
        assert!(!e.message.is_empty(), "an error without a message: {e:?}");
        let _ = e.to_string();
    }
    let _ = view_json(&loaded);
    let _ = loaded.strict().into_result();
});
