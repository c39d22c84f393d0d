//! Python's `getopt.getopt`, which both supervisord and supervisorctl parse their command
//! lines with (`Options.realize`), so corrald and corralctl accept exactly what they accept
//! and refuse the rest with the same words:
//!
//! * options stop at the first argument that is not one (`corralctl status -x` hands `-x`
//!   to `status`), at `--` (dropped) and at a lone `-` (kept);
//! * short options cluster (`-nc FILE`, `-cFILE`);
//! * long options take `=value` or the next argument, and may be shortened to any unique
//!   prefix (`--conf FILE`, `--nod`); an exact name wins over longer ones it prefixes.
//!
//! Two additions that Python's getopt lacks, both off unless asked for: a long option can
//! be [`Long::whole_name_only`] (corral's own options: an abbreviation that supervisord
//! resolves must resolve the same way, so an option supervisord lacks must not compete for
//! prefixes), and a `long_key` that makes spellings equal (corralctl reads `-` as `_`).

use std::fmt;

/// One short option: its letter and whether it takes a value (`c:` in getopt's spec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Short {
    pub letter: char,
    pub takes_value: bool,
}

impl Short {
    /// `-x`, no value.
    pub const fn flag(letter: char) -> Short {
        Short {
            letter,
            takes_value: false,
        }
    }

    /// `-x VALUE` (`x:` in getopt's spec).
    pub const fn with_value(letter: char) -> Short {
        Short {
            letter,
            takes_value: true,
        }
    }
}

/// One long option: its name, whether it takes a value (`name=` in getopt's spec), and
/// whether a prefix of it may stand for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Long {
    pub name: &'static str,
    pub takes_value: bool,
    pub prefixes: bool,
}

impl Long {
    /// `--name`, no value.
    pub const fn flag(name: &'static str) -> Long {
        Long {
            name,
            takes_value: false,
            prefixes: true,
        }
    }

    /// `--name VALUE` or `--name=VALUE`.
    pub const fn with_value(name: &'static str) -> Long {
        Long {
            name,
            takes_value: true,
            prefixes: true,
        }
    }

    /// Recognised only when written in full: abbreviations neither reach it nor become
    /// ambiguous because of it.
    pub const fn whole_name_only(self) -> Long {
        Long {
            prefixes: false,
            ..self
        }
    }
}

/// One option found: as getopt returns it, with dashes and the full long name
/// (`("--configuration", "f.conf")`, `("-n", "")`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opt {
    pub option: String,
    pub value: String,
}

/// What getopt found: the options in order, then the arguments after them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub opts: Vec<Opt>,
    pub rest: Vec<String>,
}

/// getopt's errors. `option` is as Python words it: with its dashes; the name as written
/// for the unknown and ambiguous ones, the full name for the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetoptError {
    NotRecognized { option: String },
    NotUniquePrefix { option: String },
    RequiresArgument { option: String },
    MustNotHaveArgument { option: String },
}

impl fmt::Display for GetoptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetoptError::NotRecognized { option } => write!(f, "option {option} not recognized"),
            GetoptError::NotUniquePrefix { option } => {
                write!(f, "option {option} not a unique prefix")
            }
            GetoptError::RequiresArgument { option } => {
                write!(f, "option {option} requires argument")
            }
            GetoptError::MustNotHaveArgument { option } => {
                write!(f, "option {option} must not have an argument")
            }
        }
    }
}

impl std::error::Error for GetoptError {}

/// Long names compared as written (Python's getopt).
pub fn as_written(name: &str) -> String {
    name.to_string()
}

/// `getopt.getopt(args, shortopts, longopts)`. `long_key` maps a long option's name before
/// it is compared ([`as_written`] for getopt's own rule).
pub fn getopt(
    args: &[String],
    shorts: &[Short],
    longs: &[Long],
    long_key: fn(&str) -> String,
) -> Result<Parsed, GetoptError> {
    let mut opts = Vec::new();
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') && args[i] != "-" {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let spec = long_has_args(name, longs, long_key)?;
            let option = format!("--{}", spec.name);
            let value = match (spec.takes_value, inline) {
                (true, Some(v)) => v,
                (true, None) => {
                    let Some(next) = args.get(i) else {
                        return Err(GetoptError::RequiresArgument { option });
                    };
                    i += 1;
                    next.clone()
                }
                (false, Some(_)) => return Err(GetoptError::MustNotHaveArgument { option }),
                (false, None) => String::new(),
            };
            opts.push(Opt { option, value });
        } else {
            let mut rest: &str = &arg[1..];
            while let Some(letter) = rest.chars().next() {
                rest = &rest[letter.len_utf8()..];
                let option = format!("-{letter}");
                let Some(spec) = shorts.iter().find(|s| s.letter == letter) else {
                    return Err(GetoptError::NotRecognized { option });
                };
                let value = if !spec.takes_value {
                    String::new()
                } else if !rest.is_empty() {
                    std::mem::take(&mut rest).to_string()
                } else {
                    let Some(next) = args.get(i) else {
                        return Err(GetoptError::RequiresArgument { option });
                    };
                    i += 1;
                    next.clone()
                };
                opts.push(Opt { option, value });
            }
        }
    }
    Ok(Parsed {
        opts,
        rest: args[i..].to_vec(),
    })
}

/// getopt's `long_has_args`: an exact name wins, else the name must be the prefix of
/// exactly one option.
fn long_has_args<'a>(
    name: &str,
    longs: &'a [Long],
    long_key: fn(&str) -> String,
) -> Result<&'a Long, GetoptError> {
    let key = long_key(name);
    if let Some(exact) = longs.iter().find(|l| long_key(l.name) == key) {
        return Ok(exact);
    }
    let mut possibilities = longs
        .iter()
        .filter(|l| l.prefixes && long_key(l.name).starts_with(&key));
    let option = format!("--{name}");
    match (possibilities.next(), possibilities.next()) {
        (None, _) => Err(GetoptError::NotRecognized { option }),
        (Some(only), None) => Ok(only),
        (Some(_), Some(_)) => Err(GetoptError::NotUniquePrefix { option }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHORTS: [Short; 4] = [
        Short::flag('i'),
        Short::with_value('c'),
        Short::flag('h'),
        Short::flag('?'),
    ];
    const LONGS: [Long; 6] = [
        Long::with_value("configuration"),
        Long::flag("help"),
        Long::with_value("history_file"),
        Long::flag("interactive"),
        Long::flag("check").whole_name_only(),
        Long::flag("hist"),
    ];

    fn run(args: &[&str]) -> Result<Parsed, GetoptError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        getopt(&args, &SHORTS, &LONGS, as_written)
    }

    fn err(args: &[&str]) -> String {
        run(args).unwrap_err().to_string()
    }

    fn opts(pairs: &[(&str, &str)]) -> Vec<Opt> {
        pairs
            .iter()
            .map(|(o, v)| Opt {
                option: o.to_string(),
                value: v.to_string(),
            })
            .collect()
    }

    #[test]
    fn short_options_cluster_and_take_values() {
        let p = run(&["-ic", "f.conf", "status", "-x"]).unwrap();
        assert_eq!(p.opts, opts(&[("-i", ""), ("-c", "f.conf")]));
        assert_eq!(p.rest, ["status", "-x"]);
        let p = run(&["-cf.conf", "-", "x"]).unwrap();
        assert_eq!(p.opts, opts(&[("-c", "f.conf")]));
        assert_eq!(p.rest, ["-", "x"]);
        let p = run(&["-i", "--", "-c"]).unwrap();
        assert_eq!(p.opts, opts(&[("-i", "")]));
        assert_eq!(p.rest, ["-c"]);
        // A value may itself start with a dash; `-?` is an ordinary letter.
        let p = run(&["-c", "-i", "-?"]).unwrap();
        assert_eq!(p.opts, opts(&[("-c", "-i"), ("-?", "")]));
    }

    #[test]
    fn long_options_and_prefixes() {
        let p = run(&["--conf=a", "--configuration", "b", "--int", "--he"]).unwrap();
        assert_eq!(
            p.opts,
            opts(&[
                ("--configuration", "a"),
                ("--configuration", "b"),
                ("--interactive", ""),
                ("--help", ""),
            ])
        );
        // An exact name wins over the longer names it prefixes.
        assert_eq!(run(&["--hist"]).unwrap().opts, opts(&[("--hist", "")]));
        assert_eq!(
            run(&["--history", "h"]).unwrap().opts,
            opts(&[("--history_file", "h")])
        );
        // The value of `--name=value` may contain `=`.
        assert_eq!(
            run(&["--conf=a=b"]).unwrap().opts,
            opts(&[("--configuration", "a=b")])
        );
    }

    #[test]
    fn errors_read_as_pythons() {
        assert_eq!(err(&["--h"]), "option --h not a unique prefix");
        assert_eq!(err(&["--bogus=1"]), "option --bogus not recognized");
        assert_eq!(
            err(&["--help=1"]),
            "option --help must not have an argument"
        );
        assert_eq!(err(&["--conf"]), "option --configuration requires argument");
        assert_eq!(err(&["-x"]), "option -x not recognized");
        assert_eq!(err(&["-ix"]), "option -x not recognized");
        assert_eq!(err(&["-c"]), "option -c requires argument");
        assert_eq!(err(&["-é"]), "option -é not recognized");
        // `--=x`: the empty name is a prefix of every option.
        assert_eq!(err(&["--=x"]), "option -- not a unique prefix");
        // `---x` is the long option `-x`.
        assert_eq!(err(&["---x"]), "option ---x not recognized");
        // Errors stop at the first problem, left to right.
        assert_eq!(err(&["-x", "--conf"]), "option -x not recognized");
    }

    #[test]
    fn whole_name_only_options_take_no_part_in_prefixes() {
        assert_eq!(run(&["--check"]).unwrap().opts, opts(&[("--check", "")]));
        assert_eq!(err(&["--che"]), "option --che not recognized");
        // Without `check`, `--c` would be the unique prefix of `configuration`.
        assert_eq!(
            run(&["--c", "f"]).unwrap().opts,
            opts(&[("--configuration", "f")])
        );
    }

    #[test]
    fn long_key_makes_spellings_equal() {
        fn underscore(s: &str) -> String {
            s.replace('-', "_")
        }
        let args: Vec<String> = vec!["--history-file=h".into()];
        let p = getopt(&args, &SHORTS, &LONGS, underscore).unwrap();
        assert_eq!(p.opts, opts(&[("--history_file", "h")]));
    }
}
