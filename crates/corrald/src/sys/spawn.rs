//! fork + exec of a supervised child.
//!
//! Everything the child needs (argv, envp, paths, ids, fd numbers, error texts) is prepared
//! in the parent. Between the fork and `execve` the child runs only async-signal-safe code:
//! no allocation, no `format!`, no Rust std I/O — only raw syscalls and writes of pre-built
//! byte strings.
//!
//! The fork is `clone(CLONE_VM | CLONE_VFORK)`, as glibc's `posix_spawn` does: the child
//! borrows corrald's memory on a stack of its own and corrald waits until it has exec'd.
//! A plain `fork` copies corrald's page tables and write-protects all its memory, so corrald
//! then takes a page fault on each page it writes; that grows with corrald's size (with
//! 1000 programs it was half the CPU of starting them, docs/PERFORMANCE.md). Sharing
//! memory adds three rules for the child: every signal is
//! blocked from before the clone until the child has reset the dispositions (a handler of
//! corrald's must never run in it), credentials are changed with raw syscalls (glibc's
//! wrappers may coordinate with "other threads" through corrald's memory), and the only
//! memory it writes is the environment copy and pointer vector prepared for it.
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
    let env_ptrs: Vec<*const libc::c_char> = Vec::with_capacity(env_bufs.len() + 1);
    let mut args = ChildArgs {
        plan,
        argv: &argv,
        env_bufs: &mut env_bufs,
        env_ptrs,
        msgs: &msgs,
    };

    CHILD_STACK.with(|stack| {
        let mut stack = stack.borrow_mut();
        let base = stack.as_mut_ptr() as usize;
        // The stack grows down from its 16-byte aligned top.
        let top = (base + stack.len()) & !15;
        // SAFETY: sigfillset/pthread_sigmask write only the sigset_t values we pass. Every
        // signal stays blocked until the mask is restored below, after the child has exec'd
        // or exited (CLONE_VFORK), so no handler of ours can run in the child.
        let old_mask = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            old
        };
        // SAFETY: the child runs `child_main` on CHILD_STACK (ours alone: we are suspended
        // until it execs or exits, and nothing else uses that buffer), reading `args` and
        // writing only the environment copy and the pre-sized pointer vector in it; `args`
        // outlives the call since clone with CLONE_VFORK returns only after that.
        let pid = unsafe {
            libc::clone(
                child_main,
                top as *mut libc::c_void,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&raw mut args).cast(),
            )
        };
        let err = io::Error::last_os_error();
        // SAFETY: restores the mask saved above.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old_mask, std::ptr::null_mut()) };
        if pid < 0 { Err(err) } else { Ok(pid) }
    })
}

/// Stack for the child between clone and exec (it needs little: pre-built data, raw
/// syscalls). Allocated once; only the pages it touches are ever resident.
const CHILD_STACK_SIZE: usize = 64 * 1024;

thread_local! {
    static CHILD_STACK: std::cell::RefCell<Vec<u8>> =
        std::cell::RefCell::new(vec![0; CHILD_STACK_SIZE]);
}

/// What the child gets from `fork_exec`.
struct ChildArgs<'a> {
    plan: &'a ExecPlan,
    argv: &'a [*const libc::c_char],
    env_bufs: &'a mut Vec<Vec<u8>>,
    env_ptrs: Vec<*const libc::c_char>,
    msgs: &'a ChildMessages,
}

/// The child's entry point after clone: patch LISTEN_PID, build envp, exec.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // ---- in the child: async-signal-safe code only from here on ----
    // SAFETY: `arg` is the ChildArgs fork_exec passed, alive while the parent waits for us;
    // nothing allocates (env_ptrs has capacity for every push) and the calls are raw
    // syscall wrappers on data prepared before the clone.
    unsafe {
        let args = &mut *arg.cast::<ChildArgs<'_>>();
        if let Some(slot) = args.plan.listen_pid_slot {
            write_pid_into(&mut args.env_bufs[slot], libc::getpid());
        }
        for buf in args.env_bufs.iter() {
            args.env_ptrs.push(buf.as_ptr().cast());
        }
        args.env_ptrs.push(std::ptr::null());
        child_exec(args.plan, args.argv, &args.env_ptrs, args.msgs)
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
        // Dispositions first: every signal is still blocked (fork_exec blocked them before
        // the clone), and a handler of corrald's must not run here, in its memory.
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());

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
                // Raw syscalls: glibc's wrappers would apply the change to every thread of
                // the process it believes it is in, through corrald's memory.
                } else if libc::syscall(libc::SYS_setgroups, c.groups.len(), c.groups.as_ptr()) != 0
                {
                    Some(&b"Could not set groups of effective user\n"[..])
                } else if libc::syscall(libc::SYS_setgid, c.gid) != 0 {
                    Some(&b"Could not set group id of effective user\n"[..])
                } else if libc::syscall(libc::SYS_setuid, c.uid) != 0 {
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
