//! The config crate's public parsers one by one, on arbitrary text: `ini::Ini::read`,
//! `pyformat::format`/`expand`, `shlex::split`/`python_tokens`, `pyglob::fnmatch` and the
//! value converters of `datatypes`.
//!
//! Oracles besides "no panic, no hang, no runaway allocation":
//! * `shlex::split` round-trips: the tokens it returns, each quoted as Python's
//!   `shlex.quote` quotes and joined with spaces, split back to the same tokens;
//! * `pyformat::format` of the text with every `%` doubled is the text itself;
//! * `fnmatch(name, name)` holds for a name without glob magic;
//! * reading the same ini text twice gives the same sections and errors.
#![no_main]

use corral_config::pyformat::{self, Expansions, PyVal};
use corral_config::{datatypes as dt, ini, pyglob, shlex};
use libfuzzer_sys::fuzz_target;

/// Python's `shlex.quote`.
fn quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

fn expansions() -> Expansions {
    let mut m = Expansions::new();
    m.insert("here".into(), PyVal::Str("/etc/supervisor".into()));
    m.insert("host_node_name".into(), PyVal::Str("fuzzhost".into()));
    m.insert("program_name".into(), PyVal::Str("web".into()));
    m.insert("process_num".into(), PyVal::Int(3));
    m.insert("numprocs".into(), PyVal::Int(-7));
    m.insert("ENV_HOME".into(), PyVal::Str("/root".into()));
    m
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    // ini
    let mut a = ini::Ini::new();
    let errs_a = a.read(text, "f.conf", "/etc/supervisor/f.conf");
    let mut b = ini::Ini::new();
    let errs_b = b.read(text, "f.conf", "/etc/supervisor/f.conf");
    assert_eq!(a.dump(), b.dump());
    assert_eq!(errs_a.len(), errs_b.len());
    for e in &errs_a {
        let _ = e.python_message();
    }
    for name in a.section_names() {
        for o in a.options(&name) {
            let _ = pyformat::expand(&o.value, &expansions(), &o.key);
        }
    }

    // pyformat
    let map = expansions();
    let _ = pyformat::format(text, &map);
    let _ = pyformat::expand(text, &map, "fuzz");
    assert_eq!(
        pyformat::format(&text.replace('%', "%%"), &map).as_deref(),
        Ok(text),
        "%% does not give back %"
    );

    // shlex
    if let Ok(tokens) = shlex::split(text) {
        let joined = tokens.iter().map(|t| quote(t)).collect::<Vec<_>>().join(" ");
        assert_eq!(shlex::split(&joined).as_ref(), Ok(&tokens), "quoted tokens split differently: {joined:?}");
    }
    let _ = shlex::python_tokens(text);

    // glob matching
    if !pyglob::has_magic(text) {
        assert!(pyglob::fnmatch(text, text), "a plain name does not match itself");
    }
    let _ = pyglob::fnmatch("supervisord.conf", text);

    // value converters
    let _ = dt::process_or_group_name(text);
    let _ = dt::integer(text);
    let _ = dt::boolean(text);
    let _ = dt::list_of_strings(text);
    let _ = dt::list_of_exitcodes(text);
    if let Ok(pairs) = dt::dict_of_key_value_pairs(text) {
        let _ = dt::environment_mangling(text, &pairs);
    }
    let _ = dt::logfile_name(text);
    let _ = dt::logging_level(text);
    let _ = dt::byte_size(text);
    let _ = dt::octal_type(text);
    let _ = dt::signal_number(text);
    let _ = dt::auto_restart(text);
    let _ = dt::port_number(text);
    let _ = dt::inet_address(text);
    let _ = corral_config::parse_readiness(text);
    let _ = corral_config::parse_listen(text);
});
