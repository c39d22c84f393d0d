//! Reading one value: supervisord's `saneget` (default, `%(name)s` expansion), a converter
//! from [`crate::datatypes`], and corral's fallback when either fails (the error is
//! recorded, reading goes on).

use std::fmt;

use crate::datatypes::{self as dt, DtResult};
use crate::host::Host;
use crate::pyformat::{self, Expansions};

use super::{Failed, Loader, Loc};

/// `dt::existing_dirpath` or `dt::existing_directory`.
pub(super) type DirCheck = fn(&str, &dyn Host) -> Result<String, (String, String)>;

/// Why an integer supervisord takes does not fit the unsigned type corral keeps it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum UnsignedError {
    Negative(i64),
    TooLarge(i64),
}

impl fmt::Display for UnsignedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnsignedError::Negative(v) => write!(
                f,
                "{v} is negative: supervisord would take it, but it means nothing here"
            ),
            UnsignedError::TooLarge(v) => write!(f, "{v} is too large"),
        }
    }
}

pub(super) fn unsigned<T: TryFrom<i64>>(v: i64) -> Result<T, UnsignedError> {
    if v < 0 {
        return Err(UnsignedError::Negative(v));
    }
    T::try_from(v).map_err(|_| UnsignedError::TooLarge(v))
}

impl Loader<'_> {
    /// The name after `kind:` in a section header (`[program:NAME]`, `[group:NAME]`, ...),
    /// checked as supervisord checks process and group names; `None` when it is refused.
    pub fn section_name(&mut self, section: &str) -> Option<String> {
        let raw = section.split_once(':').map_or("", |x| x.1);
        match dt::process_or_group_name(raw) {
            Ok(n) => Some(n),
            Err(e) => {
                let loc = self.section_loc(section);
                self.error_at(loc, e.message, false);
                None
            }
        }
    }

    /// `parser.saneget(section, key, default, do_expand, expansions=names)`.
    pub fn get(
        &mut self,
        section: &str,
        key: &str,
        default: Option<&str>,
        names: &Expansions,
        do_expand: bool,
    ) -> Result<Option<String>, Failed> {
        let raw = match self.ini.get(section, key) {
            Some(o) => o.value.clone(),
            None => match default {
                Some(d) => d.to_string(),
                None => return Ok(None),
            },
        };
        // Without a `%`, Python's `%` formatting returns the string as it is. Most values
        // have none, and the merged expansions below cost a copy of the environment: for
        // every option of every process, that was most of the time a configuration of
        // 1,000 processes took to load.
        if !do_expand || !raw.contains('%') {
            return Ok(Some(raw));
        }
        // A process's names already hold the environment (`ENV_*`): then they are the
        // merged map as they are, and nothing is copied.
        let merged;
        let combined = if self.environ.iter().all(|(k, v)| names.get(k) == Some(v)) {
            names
        } else {
            let mut m = self.environ.clone();
            m.extend(names.iter().map(|(k, v)| (k.clone(), v.clone())));
            merged = m;
            &merged
        };
        match pyformat::expand(&raw, combined, &format!("{section}.{key}")) {
            Ok(v) => Ok(Some(v)),
            Err(e) => {
                let loc = self.loc(section, key);
                self.error_at(loc, e.to_string(), false);
                Err(Failed)
            }
        }
    }

    /// A value run through a converter; on any failure the error is recorded and
    /// `fallback` is used.
    pub fn conv<T>(
        &mut self,
        section: &str,
        key: &str,
        default: &str,
        names: &Expansions,
        f: impl FnOnce(&str) -> DtResult<T>,
        fallback: T,
    ) -> T {
        let Ok(Some(v)) = self.get(section, key, Some(default), names, true) else {
            return fallback;
        };
        match f(&v) {
            Ok(t) => t,
            Err(e) => {
                self.dt_error(section, key, e);
                fallback
            }
        }
    }

    /// An integer that corral keeps unsigned.
    pub fn conv_unsigned<T: TryFrom<i64> + Copy>(
        &mut self,
        section: &str,
        key: &str,
        default: &str,
        names: &Expansions,
        size: bool,
        fallback: T,
    ) -> T {
        let f = if size { dt::byte_size } else { dt::integer };
        let v = self.conv(section, key, default, names, |s| f(s).map(Some), None);
        v.and_then(|v| self.checked_unsigned(section, key, v))
            .unwrap_or(fallback)
    }

    pub(super) fn bool_opt(
        &mut self,
        section: &str,
        key: &str,
        default: &str,
        names: &Expansions,
    ) -> bool {
        let fallback = dt::boolean(default).unwrap_or(false);
        self.conv(section, key, default, names, dt::boolean, fallback)
    }

    /// `value` through a directory check (`existing_dirpath`, `existing_directory`).
    /// supervisord refuses a directory, logfile or pidfile whose directory is missing. corral
    /// refuses it too, as a problem of this host rather than of the file, with `message`
    /// made of the check's: the expanded value is kept (the view shows it as on a host
    /// where the directory exists, the conformance rule) and `--check` still prints
    /// everything else.
    pub(super) fn existing_dir(
        &mut self,
        loc: Loc,
        value: &str,
        check: DirCheck,
        message: impl FnOnce(String) -> String,
    ) -> String {
        match check(value, self.host) {
            Ok(v) => v,
            Err((v, msg)) => {
                self.error_at(loc, message(msg), true);
                v
            }
        }
    }

    /// [`Self::existing_dir`] for the value of `section`'s `key`.
    pub(super) fn existing_dir_at(
        &mut self,
        section: &str,
        key: &str,
        value: &str,
        check: DirCheck,
    ) -> String {
        let loc = self.loc(section, key);
        self.existing_dir(loc, value, check, |msg| msg)
    }

    /// `v` as the unsigned type corral keeps; a negative or too large one is an error.
    pub(super) fn checked_unsigned<T: TryFrom<i64>>(
        &mut self,
        s: &str,
        key: &str,
        v: i64,
    ) -> Option<T> {
        match unsigned::<T>(v) {
            Ok(t) => Some(t),
            Err(e) => {
                let loc = self.loc(s, key);
                self.error_at(loc, e.to_string(), false);
                None
            }
        }
    }

    /// `environment=` from its last expansion (`raw` expanded with `names`) to supervisord's
    /// pairs; what cannot be expanded or split is an error (no pairs). supervisord splits it
    /// like a shell lexer and silently keeps what that makes of it; corral reads it the same
    /// way and, with `warn`, says what was lost.
    pub(super) fn environment(
        &mut self,
        section: &str,
        raw: &str,
        names: &Expansions,
        warn: bool,
    ) -> Vec<(String, String)> {
        let value = match pyformat::expand(raw, names, "environment") {
            Ok(v) => v,
            Err(e) => {
                let loc = self.loc(section, "environment");
                self.error_at(loc, e.to_string(), false);
                return Vec::new();
            }
        };
        let pairs = match dt::dict_of_key_value_pairs(&value) {
            Ok(pairs) => pairs,
            Err(e) => {
                self.dt_error(section, "environment", e);
                return Vec::new();
            }
        };
        let mangled = dt::environment_mangling(&value, &pairs);
        if warn && !mangled.is_empty() {
            let loc = self.loc(section, "environment");
            self.corral_warning_at(
                &loc,
                &format!(
                    "[{section}] environment: as supervisord reads it, {} (quote values with \
                     spaces, $, # or other punctuation: KEY=\"value\")",
                    mangled.join("; ")
                ),
            );
        }
        pairs
    }
}
