//! A process's output channels: the `stdout_*` and `stderr_*` settings (log file,
//! rotation, syslog, capture mode, events), and `redirect_stderr=`.

use crate::datatypes::{self as dt, LogfileName};
use crate::model::*;
use crate::pyformat::{self, Expansions};

use super::Loader;

/// A channel's capture mode settings, read once per section.
#[derive(Debug, Clone, Copy)]
pub(super) struct Capture {
    /// `{ch}_capture_maxbytes`.
    maxbytes: u64,
    /// `{ch}_events_enabled`.
    events: bool,
}

impl Loader<'_> {
    /// `{ch}_capture_maxbytes` and `{ch}_events_enabled` (`ch` is `stdout` or `stderr`).
    pub(super) fn capture(&mut self, s: &str, ch: &str, names: &Expansions) -> Capture {
        let key = format!("{ch}_capture_maxbytes");
        let maxbytes = self.conv_unsigned::<u64>(s, &key, "0", names, true, 0);
        let events = self.bool_opt(s, &format!("{ch}_events_enabled"), "false", names);
        Capture { maxbytes, events }
    }

    /// The `{ch}_*` settings of one process.
    pub(super) fn channel(
        &mut self,
        s: &str,
        ch: &str,
        names: &Expansions,
        capture: Capture,
    ) -> ChannelConfig {
        let lf_key = format!("{ch}_logfile");
        let mut logfile = self.logfile_name(s, &lf_key, names);
        let backups =
            self.conv_unsigned::<u32>(s, &format!("{ch}_logfile_backups"), "10", names, false, 10);
        let maxbytes = self.conv_unsigned::<u64>(
            s,
            &format!("{ch}_logfile_maxbytes"),
            "50MB",
            names,
            true,
            50 << 20,
        );
        let sy_key = format!("{ch}_syslog");
        let mut syslog = self.bool_opt(s, &sy_key, "false", names);
        if logfile == LogfileName::Syslog {
            self.warnings.push(format!(
                "For [{s}], {lf_key}=syslog but this is deprecated and will be removed.  Use \
                 {sy_key}=true to enable syslog instead."
            ));
            logfile = LogfileName::None;
            syslog = true;
        }
        if logfile == LogfileName::Auto && maxbytes == 0 {
            self.warnings.push(format!(
                "For [{s}], AUTO logging used for {lf_key} without rollover, set maxbytes > 0 \
                 to avoid filling up filesystem unintentionally"
            ));
        }
        ChannelConfig {
            logfile: match logfile {
                LogfileName::Auto => LogFile::Auto,
                LogfileName::None | LogfileName::Syslog => LogFile::None,
                LogfileName::Path(p) => LogFile::Path(p),
            },
            logfile_maxbytes: maxbytes,
            logfile_backups: backups,
            capture_maxbytes: capture.maxbytes,
            events_enabled: capture.events,
            syslog,
        }
    }

    /// `{ch}_logfile` (`lf_key`): AUTO when absent or not expandable; a path's directory
    /// must exist.
    fn logfile_name(&mut self, s: &str, lf_key: &str, names: &Expansions) -> LogfileName {
        // The logfile is expanded twice: by saneget, then by expand() under the bare key.
        let logfile = match self.get(s, lf_key, None, names, true) {
            Ok(Some(v)) => match pyformat::expand(&v, names, lf_key) {
                Ok(v) => Some(v),
                Err(e) => {
                    let loc = self.loc(s, lf_key);
                    self.error_at(loc, e.to_string(), false);
                    None
                }
            },
            _ => None,
        };
        match logfile.as_deref().map(dt::logfile_name) {
            None | Some(LogfileName::Auto) => LogfileName::Auto,
            Some(LogfileName::Path(p)) => {
                LogfileName::Path(self.existing_dir_at(s, lf_key, &p, dt::existing_dirpath))
            }
            Some(other) => other,
        }
    }

    /// `redirect_stderr=true`: stderr goes to stdout's log, so it has no log file of its own.
    pub(super) fn redirect_stderr(&mut self, s: &str, stderr: &mut ChannelConfig) {
        if matches!(stderr.logfile, LogFile::Path(_)) {
            self.warnings.push(format!(
                "For [{s}], redirect_stderr=true but stderr_logfile has also been set \
                 to a filename, the filename has been ignored"
            ));
        }
        stderr.logfile = LogFile::None;
    }
}
