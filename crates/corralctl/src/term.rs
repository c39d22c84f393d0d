//! Ctrl-C and the terminal.
//!
//! supervisorctl treats Ctrl-C as Python's KeyboardInterrupt: `tail -f` and `fg` catch it
//! and return to the caller, the shell catches it and exits with status 0, and elsewhere
//! in a one-shot command it kills the program. corralctl gets the same by installing a
//! SIGINT handler (without SA_RESTART, so a blocked read returns EINTR) only where
//! supervisorctl catches the interrupt, and checking [`interrupted`] when a read fails.

// The terminal calls (termios, isatty, read) have no safe wrapper in std.
#![allow(unsafe_code)]

use std::io::{self, Write};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Whether Ctrl-C was pressed since the last [`clear_interrupt`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

pub fn clear_interrupt() {
    INTERRUPTED.store(false, Ordering::SeqCst);
}

/// While alive, SIGINT sets the [`interrupted`] flag instead of killing the program.
/// Dropping it restores what was there before.
pub struct SigintGuard {
    previous: libc::sigaction,
}

impl SigintGuard {
    pub fn install() -> SigintGuard {
        clear_interrupt();
        // SAFETY: sigaction with a zeroed, then filled, struct; the handler only stores
        // to an atomic, which is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigint as *const () as libc::sighandler_t;
            libc::sigemptyset(&mut action.sa_mask);
            action.sa_flags = 0;
            let mut previous: libc::sigaction = std::mem::zeroed();
            libc::sigaction(libc::SIGINT, &action, &mut previous);
            SigintGuard { previous }
        }
    }
}

impl Drop for SigintGuard {
    fn drop(&mut self) {
        // SAFETY: restores the action saved by `install`.
        unsafe {
            libc::sigaction(libc::SIGINT, &self.previous, std::ptr::null_mut());
        }
    }
}

/// Keeps SIGINT away from the calling thread (a helper thread), so that Ctrl-C
/// interrupts the main thread's read, where it is handled.
pub fn block_sigint_in_this_thread() {
    // SAFETY: pthread_sigmask on a set built with sigemptyset/sigaddset.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// A program writing to a closed pipe (`corralctl status | head -1`) should end quietly,
/// as command-line tools do, rather than fail on every later write.
pub fn default_sigpipe() {
    // SAFETY: resetting a signal disposition to its default.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Lines from a file descriptor, read with plain `read(2)` so that Ctrl-C (EINTR with
/// the flag set) reaches the caller; std's readers retry on EINTR.
pub struct FdLines {
    fd: RawFd,
    buf: Vec<u8>,
    eof: bool,
}

/// Why no line came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStop {
    Eof,
    Interrupted,
}

impl FdLines {
    pub fn stdin() -> FdLines {
        FdLines {
            fd: 0,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// The next line without its `\n` (a last line without one counts), or why there is
    /// none.
    pub fn read_line(&mut self) -> Result<String, ReadStop> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Ok(String::from_utf8_lossy(&line[..i]).into_owned());
            }
            if self.eof {
                if self.buf.is_empty() {
                    return Err(ReadStop::Eof);
                }
                let line = std::mem::take(&mut self.buf);
                return Ok(String::from_utf8_lossy(&line).into_owned());
            }
            if interrupted() {
                return Err(ReadStop::Interrupted);
            }
            let mut chunk = [0u8; 4096];
            // SAFETY: reading into a stack buffer of the given length.
            let n = unsafe { libc::read(self.fd, chunk.as_mut_ptr().cast(), chunk.len()) };
            if n < 0 {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // An unreadable stdin is the same as an empty one for a command reader.
                self.eof = true;
            } else if n == 0 {
                self.eof = true;
            } else {
                self.buf.extend_from_slice(&chunk[..n as usize]);
            }
        }
    }
}

/// Python's `getpass.getpass(prompt)`: the prompt and the answer go through the
/// controlling terminal with echo off; without one, the prompt goes to stderr and the
/// answer is read from stdin.
pub fn getpass(prompt: &str, stdin: &mut FdLines) -> Result<String, ReadStop> {
    use std::os::fd::AsRawFd;
    if let Ok(tty) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
    {
        let fd = tty.as_raw_fd();
        // SAFETY: tcgetattr/tcsetattr on an open terminal fd with a zeroed termios.
        let saved = unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            (libc::tcgetattr(fd, &mut t) == 0).then_some(t)
        };
        if let Some(saved) = saved {
            let mut quiet = saved;
            quiet.c_lflag &= !(libc::ECHO | libc::ECHONL);
            quiet.c_lflag |= libc::ICANON;
            // SAFETY: as above.
            unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) };
            let mut out = &tty;
            let _ = out.write_all(prompt.as_bytes());
            let _ = out.flush();
            let mut lines = FdLines {
                fd,
                buf: Vec::new(),
                eof: false,
            };
            let answer = lines.read_line();
            // SAFETY: restores the saved settings.
            unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &saved) };
            let _ = out.write_all(b"\n");
            return answer;
        }
    }
    eprint!("Warning: Password input may be echoed.\n{prompt}");
    stdin.read_line()
}

/// Restore `sig`'s default action and raise it at ourselves (die of it).
pub fn raise_default(sig: i32) {
    // SAFETY: restoring the default action and raising the signal at ourselves.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        libc::raise(sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pipe_with(data: &[u8]) -> FdLines {
        let mut fds = [0; 2];
        // SAFETY: pipe() into a two-element array; the write end is closed after writing.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            assert_eq!(
                libc::write(fds[1], data.as_ptr().cast(), data.len()),
                data.len() as isize
            );
            libc::close(fds[1]);
        }
        FdLines {
            fd: fds[0],
            buf: Vec::new(),
            eof: false,
        }
    }

    #[test]
    fn lines_with_and_without_final_newline() {
        let mut l = pipe_with(b"status\n\nstop all");
        assert_eq!(l.read_line(), Ok("status".into()));
        assert_eq!(l.read_line(), Ok("".into()));
        assert_eq!(l.read_line(), Ok("stop all".into()));
        assert_eq!(l.read_line(), Err(ReadStop::Eof));
        assert_eq!(l.read_line(), Err(ReadStop::Eof));
    }
}
