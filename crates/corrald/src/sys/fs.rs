//! File-system calls the standard library lacks.

use std::ffi::CString;
use std::io;

/// `access(path, X_OK)`: whether this process may execute `path`.
pub fn can_execute(path: &str) -> io::Result<bool> {
    let c = CString::new(path).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: access reads a NUL-terminated path we own.
    Ok(unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0)
}

/// `mkstemps(template, suffix_len)`: create a new file from `template` (its `XXXXXX`
/// before the last `suffix_len` bytes replaced by random characters) and return its path.
pub fn mkstemps(template: &str, suffix_len: i32) -> io::Result<String> {
    let c = CString::new(template)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    let mut bytes = c.into_bytes_with_nul();
    // SAFETY: mkstemps rewrites the XXXXXX in place in our NUL-terminated buffer and
    // returns a new descriptor, which we close.
    let fd = unsafe { libc::mkstemps(bytes.as_mut_ptr().cast(), suffix_len) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned to us by mkstemps.
    unsafe { libc::close(fd) };
    bytes.pop();
    String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "non-UTF-8 path"))
}

/// One line to syslog at LOG_INFO (supervisord's `syslog=true` channels).
pub fn syslog_info(line: &str) {
    if let Ok(c) = CString::new(line) {
        // SAFETY: "%s" with one NUL-terminated argument.
        unsafe { libc::syslog(libc::LOG_INFO, c"%s".as_ptr(), c.as_ptr()) };
    }
}
