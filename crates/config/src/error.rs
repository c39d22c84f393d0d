//! Configuration errors: each one says where (file, line, section, option) and what.

use std::fmt;

/// One problem found in a configuration. Loading collects all of them, so a user fixes
/// their file in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the problem is in (absolute path), if known.
    pub file: Option<String>,
    /// 1-based line of the option (or section header) at fault, if known.
    pub line: Option<usize>,
    /// `program:web`, `supervisord`, … if the problem is in a section.
    pub section: Option<String>,
    /// The option at fault, if any.
    pub option: Option<String>,
    /// What is wrong. Wherever supervisord has a message for the same problem, this is
    /// supervisord's wording (so users can search for it).
    pub message: String,
    /// True when the file itself is fine but this host is not (unknown user, missing log
    /// directory): `corrald --check` still prints what it would run.
    pub host_dependent: bool,
}

impl fmt::Display for ConfigError {
    /// `FILE:LINE: [SECTION] OPTION: MESSAGE`, leaving out what is unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            _ => {}
        }
        if let Some(section) = &self.section {
            write!(f, "[{section}] ")?;
        }
        if let Some(option) = &self.option {
            write!(f, "{option}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}
