//! Log files: rotation, per-channel routing of child output, reading pipes, and supervisord's
//! AUTO log names in `childlogdir`.

pub mod capture;
pub mod channel;
pub mod mainlog;
pub mod rotating;

use std::io;
use std::os::fd::RawFd;

/// supervisord's debug line when it stops reading a child's pipe, at EOF or on an error
/// (`PDispatcher.close` in dispatchers.py: `fd 6 closed, stopped monitoring
/// <POutputDispatcher at 1406... for <Subprocess at 1406... with name web in state RUNNING>
/// (stdout)>`). The shape and names are supervisord's; Python's object ids and the process
/// state, which the pipe reader does not know, are left out.
pub fn log_stopped_monitoring(fd: RawFd, dispatcher: &str, process_name: &str, channel: &str) {
    if crate::logs::mainlog::enabled(corral_config::LogLevel::Debug) {
        crate::logs::mainlog::debug(format!(
            "fd {fd} closed, stopped monitoring <{dispatcher} for <Subprocess with name \
             {process_name}> ({channel})>"
        ));
    }
}

/// Create an AUTO log file as supervisord does (`tempfile.mkstemp` in `childlogdir` with
/// prefix `NAME-CHANNEL---IDENTIFIER-` and suffix `.log`) and return its path.
pub fn auto_log_path(
    childlogdir: &str,
    name: &str,
    channel: &str,
    identifier: &str,
) -> io::Result<String> {
    let template = format!("{childlogdir}/{name}-{channel}---{identifier}-XXXXXX.log");
    crate::sys::fs::mkstemps(&template, 4)
}

/// supervisord's `clear_autochildlogdir`: at start-up, remove AUTO logs of earlier runs of
/// this identifier (`NAME-CHANNEL---IDENTIFIER-RANDOM.log[.N]`).
pub fn clear_auto_logs(childlogdir: &str, identifier: &str) {
    let Ok(dir) = std::fs::read_dir(childlogdir) else {
        crate::logs::mainlog::warn("Could not clear childlog dir");
        return;
    };
    let marker = format!("---{identifier}-");
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_auto_log_name(name, &marker) {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                crate::logs::mainlog::warn(format!("Failed to clean up {:?}: {e}", entry.path()));
            }
        }
    }
}

/// The regex `.+?---ID-\S+\.log\.{0,1}\d{0,4}`, matched from the start as `re.match` does.
fn is_auto_log_name(name: &str, marker: &str) -> bool {
    let Some(pos) = name.find(marker) else {
        return false;
    };
    if pos == 0 {
        return false;
    }
    let rest = &name[pos + marker.len()..];
    // \S+ then ".log" then optional "." and up to 4 digits: any ".log" at position >= 1
    // with only non-space before it satisfies the prefix match.
    rest.char_indices().any(|(i, _)| {
        i >= 1 && rest[i..].starts_with(".log") && !rest[..i].contains(char::is_whitespace)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_names_match_supervisord_cleanup_regex() {
        let m = "---supervisor-";
        assert!(is_auto_log_name("web-stdout---supervisor-abc123.log", m));
        assert!(is_auto_log_name("web-stdout---supervisor-abc123.log.3", m));
        assert!(!is_auto_log_name("web-stdout---other-abc123.log", m));
        assert!(!is_auto_log_name("notes.txt", m));
    }

    #[test]
    fn creates_auto_log() {
        let dir = std::env::temp_dir();
        let p = auto_log_path(dir.to_str().unwrap(), "web", "stdout", "corraltest").unwrap();
        assert!(p.contains("web-stdout---corraltest-") && p.ends_with(".log"));
        assert!(std::path::Path::new(&p).exists());
        std::fs::remove_file(p).unwrap();
    }
}
