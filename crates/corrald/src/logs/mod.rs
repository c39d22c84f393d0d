//! Log files: rotation, per-channel routing of child output, reading pipes, and supervisord's
//! AUTO log names in `childlogdir`.

pub mod capture;
pub mod channel;
pub mod rotating;

use std::ffi::CString;
use std::io;

/// Create an AUTO log file as supervisord does (`tempfile.mkstemp` in `childlogdir` with
/// prefix `NAME-CHANNEL---IDENTIFIER-` and suffix `.log`) and return its path.
pub fn auto_log_path(
    childlogdir: &str,
    name: &str,
    channel: &str,
    identifier: &str,
) -> io::Result<String> {
    let template = format!("{childlogdir}/{name}-{channel}---{identifier}-XXXXXX.log");
    let c = CString::new(template)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in log path"))?;
    let mut bytes = c.into_bytes_with_nul();
    // SAFETY: mkstemps rewrites the XXXXXX in place in our NUL-terminated buffer and
    // returns a new descriptor, which we close.
    let fd = unsafe { libc::mkstemps(bytes.as_mut_ptr().cast(), 4) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned to us by mkstemps.
    unsafe { libc::close(fd) };
    bytes.pop();
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "non-UTF-8 log path"))
}

/// supervisord's `clear_autochildlogdir`: at start-up, remove AUTO logs of earlier runs of
/// this identifier (`NAME-CHANNEL---IDENTIFIER-RANDOM.log[.N]`).
pub fn clear_auto_logs(childlogdir: &str, identifier: &str) {
    let Ok(dir) = std::fs::read_dir(childlogdir) else {
        crate::mainlog::warn("Could not clear childlog dir");
        return;
    };
    let marker = format!("---{identifier}-");
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if is_auto_log_name(name, &marker) {
            if let Err(e) = std::fs::remove_file(entry.path()) {
                crate::mainlog::warn(format!("Failed to clean up {:?}: {e}", entry.path()));
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
