//! fork + exec of a supervised child.
//!
//! Everything the child needs (argv, envp, paths, ids, fd numbers, error texts) is prepared
//! in the parent. Between `fork` and `execve` the child runs only async-signal-safe code: the
//! parent may have other threads, and a lock held by one of them at fork time would never be
//! released in the child. So: no allocation, no `format!`, no Rust std I/O — only raw
//! syscalls and writes of pre-built byte strings.
//!
//! The child becomes the leader of a new session (`setsid`), hence of a new process group
//! whose id is its pid. That is what lets corrald signal the program as a group
//! (`stopasgroup`/`killasgroup`), find what it left behind (same session or group), and
//! keeps signals aimed at corrald's terminal (Ctrl-C) away from it. supervisord uses
//! `setpgrp`; a session is the same group plus no controlling terminal, which a daemon
//! should not have anyway.

use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;

use super::{Pid, errno};

/// A child's identity when it must run as another user.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// Everything needed to start one child, prepared before `fork`.
#[derive(Debug)]
pub struct ExecPlan {
    /// The file to exec (already resolved against PATH).
    pub filename: CString,
    pub argv: Vec<CString>,
    /// `KEY=VALUE` entries. If `listen_pid_slot` is set, that entry is `LISTEN_PID=` followed
    /// by blank padding which the child overwrites with its own pid (only the child knows it).
    pub env: Vec<CString>,
    pub listen_pid_slot: Option<usize>,
    pub cwd: Option<CString>,
    pub umask: Option<u32>,
    pub credentials: Option<Credentials>,
    /// fds that become the child's 0, 1, 2.
    pub stdio: [RawFd; 3],
    /// fds that become the child's 3, 4, … (systemd's LISTEN_FDS protocol).
    pub pass_fds: Vec<RawFd>,
    /// For messages: argv[0] and the uid/cwd as supervisord prints them.
    pub display_argv0: String,
}

/// Width reserved for the pid in `LISTEN_PID=`.
pub const LISTEN_PID_WIDTH: usize = 10;

impl ExecPlan {
    /// The `LISTEN_PID=` entry with room for any pid.
    pub fn listen_pid_placeholder() -> CString {
        CString::new(format!("LISTEN_PID={}", " ".repeat(LISTEN_PID_WIDTH))).expect("no NUL")
    }
}

/// Pre-built messages the child may need to write to its stderr (which is the program's
/// stderr log), in supervisord's words.
struct ChildMessages {
    setuid: Vec<u8>,
    chdir: Vec<u8>,
    exec: Vec<u8>,
    not_spawned: &'static [u8],
}

/// Fork and exec. Returns the child's pid; a failure after the fork is reported by the child
/// itself on its stderr (as supervisord does) and it exits 127.
///
/// # Safety-relevant contract
/// The caller must not hold the reaper's pid table in a way that lets the child's exit be
/// reaped before the caller registers the returned pid; corrald runs its reaper on the same
/// single thread, so registering right after this returns is race-free.
pub fn fork_exec(plan: &ExecPlan) -> io::Result<Pid> {
    let argv: Vec<*const libc::c_char> = plan
        .argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // The env strings are copied so the child can patch LISTEN_PID in its own copy.
    let mut env_bufs: Vec<Vec<u8>> = plan
        .env
        .iter()
        .map(|e| e.as_bytes_with_nul().to_vec())
        .collect();
    let msgs = ChildMessages {
        setuid: format!(
            "supervisor: couldn't setuid to {}: ",
            plan.credentials.as_ref().map_or(0, |c| c.uid)
        )
        .into_bytes(),
        chdir: format!(
            "supervisor: couldn't chdir to {}: ",
            plan.cwd
                .as_ref()
                .map_or(String::new(), |c| c.to_string_lossy().into_owned())
        )
        .into_bytes(),
        exec: format!("supervisor: couldn't exec {}: ", plan.display_argv0).into_bytes(),
        not_spawned: b"supervisor: child process was not spawned\n",
    };
    // Pre-size so the child never reallocates.
    let mut env_ptrs: Vec<*const libc::c_char> = Vec::with_capacity(env_bufs.len() + 1);

    // SAFETY: fork has no memory-safety preconditions; what matters is what the child does
    // afterwards, which is restricted to async-signal-safe calls below.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid > 0 {
        return Ok(pid);
    }

    // ---- in the child: async-signal-safe code only from here on ----
    // SAFETY: every call below is a raw syscall wrapper on data prepared before the fork;
    // nothing allocates (env_ptrs has capacity for all pushes).
    unsafe {
        if let Some(slot) = plan.listen_pid_slot {
            write_pid_into(&mut env_bufs[slot], libc::getpid());
        }
        for buf in &env_bufs {
            env_ptrs.push(buf.as_ptr().cast());
        }
        env_ptrs.push(std::ptr::null());
        child_exec(plan, &argv, &env_ptrs, &msgs)
    }
}

/// Overwrite the padding after `LISTEN_PID=` with the decimal pid, NUL-terminated.
fn write_pid_into(entry: &mut [u8], pid: Pid) {
    let start = b"LISTEN_PID=".len();
    let mut digits = [0u8; 12];
    let mut n = pid.unsigned_abs();
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let d = &digits[i..];
    entry[start..start + d.len()].copy_from_slice(d);
    entry[start + d.len()] = 0;
}

/// Write all of `buf` to fd 2, ignoring errors (there is no one to tell).
unsafe fn ewrite(buf: &[u8]) {
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: the pointer and length describe a live slice.
        let n = unsafe { libc::write(2, buf[off..].as_ptr().cast(), buf.len() - off) };
        if n <= 0 {
            return;
        }
        off += n as usize;
    }
}

unsafe fn fail_with_errno(prefix: &[u8], err: i32) {
    // SAFETY: forwarded to ewrite with live slices.
    unsafe {
        ewrite(prefix);
        ewrite(errno::static_name(err).unwrap_or("EUNKNOWN").as_bytes());
        ewrite(b"\n");
    }
}

fn last_errno() -> i32 {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// The child's side: set up and exec, or report and exit 127.
unsafe fn child_exec(
    plan: &ExecPlan,
    argv: &[*const libc::c_char],
    envp: &[*const libc::c_char],
    msgs: &ChildMessages,
) -> ! {
    // SAFETY: raw syscalls on integers and on pointers prepared before the fork.
    unsafe {
        // Signals: corrald catches some and Rust ignores SIGPIPE; exec keeps ignored
        // dispositions and the signal mask, so reset both to what a fresh process expects.
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }

        libc::setsid();

        // stdio, then passed sockets at 3, 4, …. A source fd may sit where a target goes,
        // so first move every source above the highest target.
        let ntargets = 3 + plan.pass_fds.len() as RawFd;
        let mut sources = [0 as RawFd; 64];
        let count = 3 + plan.pass_fds.len().min(61);
        for (i, fd) in plan
            .stdio
            .iter()
            .chain(plan.pass_fds.iter())
            .take(count)
            .enumerate()
        {
            let moved = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, ntargets);
            sources[i] = if moved < 0 { *fd } else { moved };
        }
        for (target, src) in sources.iter().take(count).enumerate() {
            // dup2 clears close-on-exec on the target: exactly these survive exec.
            libc::dup2(*src, target as RawFd);
        }
        // Anything else inherited without CLOEXEC must not leak into the child
        // (supervisord closes 3..minfds for the same reason).
        libc::syscall(
            libc::SYS_close_range,
            ntargets as libc::c_uint,
            libc::c_uint::MAX,
            0,
        );

        if let Some(c) = &plan.credentials {
            if libc::getuid() != c.uid {
                let failed = if libc::getuid() != 0 {
                    Some(&b"Can't drop privilege as nonroot user\n"[..])
                } else if libc::setgroups(c.groups.len(), c.groups.as_ptr()) != 0 {
                    Some(&b"Could not set groups of effective user\n"[..])
                } else if libc::setgid(c.gid) != 0 {
                    Some(&b"Could not set group id of effective user\n"[..])
                } else if libc::setuid(c.uid) != 0 {
                    Some(&b"Could not set user id of effective user\n"[..])
                } else {
                    None
                };
                if let Some(why) = failed {
                    ewrite(&msgs.setuid);
                    ewrite(why);
                    ewrite(msgs.not_spawned);
                    libc::_exit(127);
                }
            }
        }

        if let Some(cwd) = &plan.cwd {
            if libc::chdir(cwd.as_ptr()) != 0 {
                fail_with_errno(&msgs.chdir, last_errno());
                ewrite(msgs.not_spawned);
                libc::_exit(127);
            }
        }

        if let Some(mask) = plan.umask {
            libc::umask(mask);
        }

        libc::execve(plan.filename.as_ptr(), argv.as_ptr(), envp.as_ptr());
        fail_with_errno(&msgs.exec, last_errno());
        ewrite(msgs.not_spawned);
        libc::_exit(127)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_pid_is_patched_in_place() {
        let mut entry = ExecPlan::listen_pid_placeholder()
            .as_bytes_with_nul()
            .to_vec();
        write_pid_into(&mut entry, 4_194_304);
        let s = std::ffi::CStr::from_bytes_until_nul(&entry).unwrap();
        assert_eq!(s.to_str().unwrap(), "LISTEN_PID=4194304");
    }
}
