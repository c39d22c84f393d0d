//! Python's `getopt.getopt`, which supervisorctl's `Options.realize` uses: options stop at
//! the first non-option argument (`corralctl status -x` hands `-x` to `status`), short
//! options cluster (`-ic FILE`, `-cFILE`), long options take `=value` or the next argument,
//! and a long option may be shortened to any unique prefix (`--conf FILE`). The error texts
//! are getopt's, which supervisorctl prints after `Error: `.

/// One short option: its letter and whether it takes a value (`c:` in getopt's spec).
#[derive(Debug, Clone, Copy)]
pub struct Short {
    pub letter: char,
    pub takes_value: bool,
}

/// One long option: its name and whether it takes a value (`configuration=`).
#[derive(Debug, Clone, Copy)]
pub struct Long {
    pub name: &'static str,
    pub takes_value: bool,
}

/// What getopt found: `(option as written with dashes, value or "")` in order, then the
/// remaining arguments.
pub type Parsed = (Vec<(String, String)>, Vec<String>);

/// `getopt.getopt(args, shortopts, longopts)`. `long_key` maps a long option name before
/// matching, so that spellings can be made equivalent (corralctl lets `--history-file` mean
/// `--history_file`); getopt itself compares names as they are.
pub fn getopt(
    args: &[String],
    shorts: &[Short],
    longs: &[Long],
    long_key: fn(&str) -> String,
) -> Result<Parsed, String> {
    let mut opts = Vec::new();
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') && args[i] != "-" {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, value) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let (takes_value, full) = long_has_args(name, longs, long_key)?;
            let value = if takes_value {
                match value {
                    Some(v) => v,
                    None => {
                        let Some(next) = args.get(i) else {
                            return Err(format!("option --{full} requires argument"));
                        };
                        i += 1;
                        next.clone()
                    }
                }
            } else if value.is_some() {
                return Err(format!("option --{full} must not have an argument"));
            } else {
                String::new()
            };
            opts.push((format!("--{full}"), value));
        } else {
            let mut rest: &str = &arg[1..];
            while let Some(letter) = rest.chars().next() {
                rest = &rest[letter.len_utf8()..];
                let Some(spec) = shorts.iter().find(|s| s.letter == letter) else {
                    return Err(format!("option -{letter} not recognized"));
                };
                if spec.takes_value {
                    let value = if rest.is_empty() {
                        let Some(next) = args.get(i) else {
                            return Err(format!("option -{letter} requires argument"));
                        };
                        i += 1;
                        next.clone()
                    } else {
                        std::mem::take(&mut rest).to_string()
                    };
                    opts.push((format!("-{letter}"), value));
                } else {
                    opts.push((format!("-{letter}"), String::new()));
                }
            }
        }
    }
    Ok((opts, args[i..].to_vec()))
}

/// getopt's `long_has_args`: an exact name wins, else the name must be the prefix of
/// exactly one option. Returns whether it takes a value and its full name.
fn long_has_args(
    name: &str,
    longs: &[Long],
    long_key: fn(&str) -> String,
) -> Result<(bool, &'static str), String> {
    let key = long_key(name);
    let possibilities: Vec<&Long> = longs
        .iter()
        .filter(|l| long_key(l.name).starts_with(&key))
        .collect();
    if possibilities.is_empty() {
        return Err(format!("option --{name} not recognized"));
    }
    if let Some(exact) = possibilities.iter().find(|l| long_key(l.name) == key) {
        return Ok((exact.takes_value, exact.name));
    }
    if possibilities.len() > 1 {
        return Err(format!("option --{name} not a unique prefix"));
    }
    Ok((possibilities[0].takes_value, possibilities[0].name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORTS: [Short; 3] = [
        Short {
            letter: 'i',
            takes_value: false,
        },
        Short {
            letter: 'c',
            takes_value: true,
        },
        Short {
            letter: 'h',
            takes_value: false,
        },
    ];
    const LONGS: [Long; 4] = [
        Long {
            name: "configuration",
            takes_value: true,
        },
        Long {
            name: "help",
            takes_value: false,
        },
        Long {
            name: "history_file",
            takes_value: true,
        },
        Long {
            name: "interactive",
            takes_value: false,
        },
    ];

    fn same(s: &str) -> String {
        s.to_string()
    }

    fn run(args: &[&str]) -> Result<Parsed, String> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        getopt(&args, &SHORTS, &LONGS, same)
    }

    fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn short_options_cluster_and_take_values() {
        let (o, rest) = run(&["-ic", "f.conf", "status", "-x"]).unwrap();
        assert_eq!(o, opts(&[("-i", ""), ("-c", "f.conf")]));
        assert_eq!(rest, ["status", "-x"]);
        let (o, rest) = run(&["-cf.conf", "-", "x"]).unwrap();
        assert_eq!(o, opts(&[("-c", "f.conf")]));
        assert_eq!(rest, ["-", "x"]);
        let (o, rest) = run(&["-i", "--", "-c"]).unwrap();
        assert_eq!(o, opts(&[("-i", "")]));
        assert_eq!(rest, ["-c"]);
    }

    #[test]
    fn long_options_and_prefixes() {
        let (o, _) = run(&["--conf=a", "--configuration", "b", "--int"]).unwrap();
        assert_eq!(
            o,
            opts(&[
                ("--configuration", "a"),
                ("--configuration", "b"),
                ("--interactive", "")
            ])
        );
        assert_eq!(run(&["--h"]).unwrap_err(), "option --h not a unique prefix");
        assert_eq!(run(&["--he"]).unwrap().0, opts(&[("--help", "")]));
        assert_eq!(
            run(&["--bogus=1"]).unwrap_err(),
            "option --bogus not recognized"
        );
        assert_eq!(
            run(&["--help=1"]).unwrap_err(),
            "option --help must not have an argument"
        );
        assert_eq!(
            run(&["--conf"]).unwrap_err(),
            "option --configuration requires argument"
        );
    }

    #[test]
    fn short_errors() {
        assert_eq!(run(&["-x"]).unwrap_err(), "option -x not recognized");
        assert_eq!(run(&["-ix"]).unwrap_err(), "option -x not recognized");
        assert_eq!(run(&["-c"]).unwrap_err(), "option -c requires argument");
    }

    #[test]
    fn long_key_makes_spellings_equal() {
        fn underscore(s: &str) -> String {
            s.replace('-', "_")
        }
        let args: Vec<String> = vec!["--history-file=h".into()];
        let (o, _) = getopt(&args, &SHORTS, &LONGS, underscore).unwrap();
        assert_eq!(o, opts(&[("--history_file", "h")]));
    }
}
