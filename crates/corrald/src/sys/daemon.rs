//! What daemonizing needs (supervisord's `_daemonize`): fork with the parent exiting at
//! once, a new session, the standard descriptors on /dev/null.

use std::io;
use std::os::fd::AsRawFd;

/// Fork; the parent exits at once (status 0) and only the child returns.
///
/// Only sound while the process has a single thread: corrald calls it before its runtime
/// exists.
pub fn fork_and_exit_parent() -> io::Result<()> {
    // SAFETY: the caller guarantees no other threads exist (the runtime is built after
    // this), so the child's copy of memory is consistent; the parent exits without
    // running destructors.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid > 0 {
        // SAFETY: _exit ends the parent immediately.
        unsafe { libc::_exit(0) };
    }
    Ok(())
}

/// Standard input, output and error on /dev/null.
pub fn stdio_to_devnull() -> io::Result<()> {
    let devnull = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard descriptors from a descriptor we own.
        if unsafe { libc::dup2(devnull.as_raw_fd(), fd) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// A new session (not a group leader after the fork, so it cannot fail in practice).
pub fn setsid() {
    // SAFETY: setsid has no arguments and touches no memory of ours.
    unsafe { libc::setsid() };
}
