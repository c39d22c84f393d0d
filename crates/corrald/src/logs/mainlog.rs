//! corrald's own log, in supervisord's format: `2024-05-01 12:00:00,123 INFO message`.
//!
//! One logger per daemon, reachable from anywhere through these free functions (corrald
//! runs on one thread, so a thread-local is the whole story). Messages logged before
//! [`configure`] (start-up work that must precede opening the log, such as stopping a
//! predecessor's processes) are kept and written first once it is configured, or to stderr
//! by [`flush_early_to_stderr`] if corrald gives up before that.

use std::cell::RefCell;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use corral_config::LogLevel;
use corral_proto::localtime::local_time;

use crate::logs::rotating::RotatingFile;

struct MainLog {
    level: LogLevel,
    file: Option<RotatingFile>,
    /// nodaemon and not silent: also to stdout.
    to_stdout: bool,
    /// A write error is reported to stderr once, not for every line.
    failing: bool,
}

thread_local! {
    static LOG: RefCell<Option<MainLog>> = const { RefCell::new(None) };
    static EARLY: RefCell<Vec<(LogLevel, String)>> = const { RefCell::new(Vec::new()) };
}

/// Where and what to log. Replaces any earlier configuration (used again on reload).
pub fn configure(level: LogLevel, file: Option<RotatingFile>, to_stdout: bool) {
    LOG.with(|l| {
        *l.borrow_mut() = Some(MainLog {
            level,
            file,
            to_stdout,
            failing: false,
        });
    });
    for (level, line) in EARLY.with(|e| std::mem::take(&mut *e.borrow_mut())) {
        write_line(level, &line);
    }
}

/// corrald is exiting before the log was configured: show what was logged so far.
pub fn flush_early_to_stderr() {
    for (_, line) in EARLY.with(|e| std::mem::take(&mut *e.borrow_mut())) {
        eprint!("{line}");
    }
}

/// Whether messages at `level` are written (to skip building expensive ones).
pub fn enabled(level: LogLevel) -> bool {
    LOG.with(|l| l.borrow().as_ref().is_none_or(|m| level >= m.level))
}

/// The main log file's path, if it has one.
pub fn path() -> Option<std::path::PathBuf> {
    LOG.with(|l| {
        l.borrow()
            .as_ref()
            .and_then(|m| m.file.as_ref().map(|f| f.path().to_path_buf()))
    })
}

/// `YYYY-mm-dd HH:MM:SS,mmm` in local time, as supervisord's `asctime`.
pub fn timestamp(now: SystemTime) -> String {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!(
        "{},{:03}",
        local_time(d.as_secs() as i64).datetime(),
        d.subsec_millis()
    )
}

pub fn log(level: LogLevel, msg: impl AsRef<str>) {
    // None: not configured yet, so the message is kept whatever its level; else whether
    // the level is written (a message below it costs no timestamp and no line).
    let wanted = LOG.with(|l| {
        l.try_borrow()
            .map_or(Some(true), |m| m.as_ref().map(|m| level >= m.level))
    });
    if wanted == Some(false) {
        return;
    }
    let line = format!(
        "{} {} {}\n",
        timestamp(SystemTime::now()),
        level.label(),
        msg.as_ref()
    );
    match wanted {
        None => EARLY.with(|e| e.borrow_mut().push((level, line))),
        Some(_) => write_line(level, &line),
    }
}

fn write_line(level: LogLevel, line: &str) {
    LOG.with(|l| {
        // A panic while the log itself is being written must not panic again here.
        let Ok(mut guard) = l.try_borrow_mut() else {
            return;
        };
        let Some(m) = guard.as_mut() else { return };
        if level < m.level {
            return;
        }
        if m.to_stdout {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
        if let Some(f) = m.file.as_mut() {
            match f.write(line.as_bytes()) {
                Ok(()) => m.failing = false,
                Err(e) => {
                    if !m.failing {
                        eprintln!("corrald: cannot write main log {}: {e}", f.path().display());
                    }
                    m.failing = true;
                }
            }
        }
    });
}

/// SIGUSR2 / reopen: close and reopen the file (after an external logrotate).
pub fn reopen() {
    LOG.with(|l| {
        if let Some(f) = l.borrow_mut().as_mut().and_then(|m| m.file.as_mut()) {
            let _ = f.reopen();
        }
    });
}

/// `clearLog`: empty the main log.
pub fn clear() -> std::io::Result<()> {
    LOG.with(
        |l| match l.borrow_mut().as_mut().and_then(|m| m.file.as_mut()) {
            Some(f) => f.clear(),
            None => Ok(()),
        },
    )
}

pub fn critical(msg: impl AsRef<str>) {
    log(LogLevel::Critical, msg);
}
pub fn error(msg: impl AsRef<str>) {
    log(LogLevel::Error, msg);
}
pub fn warn(msg: impl AsRef<str>) {
    log(LogLevel::Warn, msg);
}
pub fn info(msg: impl AsRef<str>) {
    log(LogLevel::Info, msg);
}
pub fn debug(msg: impl AsRef<str>) {
    log(LogLevel::Debug, msg);
}
pub fn trace(msg: impl AsRef<str>) {
    log(LogLevel::Trace, msg);
}
