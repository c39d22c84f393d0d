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
//! The child's descriptors are put into low slots reserved at start-up, and the child
//! starts on corrald's descriptor table without a copy (`CLONE_FILES`), then takes a
//! private copy of the slots alone (`close_range(…, CLOSE_RANGE_UNSHARE)`): a spawn costs
//! the same however many descriptors corrald holds (see `Slots`).
//!
//! The child also gets supervisord's `RLIMIT_NOFILE` back ([`set_child_nofile`]): corrald
//! raises its own soft limit to the hard one, its children get what supervisord gives
//! them (its soft limit, raised to `minfds`).
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
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// The same for `WATCHDOG_PID=` (`watchdogsecs`).
    pub watchdog_pid_slot: Option<usize>,
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
    /// A command of corrald's own (a probe, the upgrade's check): its stdio, nothing
    /// else passed, corrald's credentials, directory and umask.
    pub fn plain(
        filename: CString,
        argv: Vec<CString>,
        env: Vec<CString>,
        stdio: [RawFd; 3],
    ) -> ExecPlan {
        let display_argv0 = argv
            .first()
            .map(|a| a.to_string_lossy().into_owned())
            .unwrap_or_default();
        ExecPlan {
            filename,
            argv,
            env,
            listen_pid_slot: None,
            watchdog_pid_slot: None,
            cwd: None,
            umask: None,
            credentials: None,
            stdio,
            pass_fds: Vec::new(),
            display_argv0,
        }
    }

    /// The `LISTEN_PID=` entry with room for any pid.
    pub fn listen_pid_placeholder() -> CString {
        Self::pid_placeholder("LISTEN_PID")
    }

    /// A `KEY=` entry with room for any pid, which the child fills with its own.
    pub fn pid_placeholder(key: &str) -> CString {
        CString::new(format!("{key}={}", " ".repeat(LISTEN_PID_WIDTH))).expect("no NUL")
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

/// The soft and hard `RLIMIT_NOFILE` children get (0, 0: corrald's own).
static CHILD_NOFILE: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Children get this `RLIMIT_NOFILE` (soft, hard), not corrald's: corrald raises its own
/// soft limit to the hard one, while children get what supervisord would give them.
pub fn set_child_nofile(soft: u64, hard: u64) {
    CHILD_NOFILE[0].store(soft, Ordering::Relaxed);
    CHILD_NOFILE[1].store(hard, Ordering::Relaxed);
}

/// Fork and exec. Returns the child's pid; a failure after the fork is reported by the child
/// itself on its stderr (as supervisord does) and it exits 127.
///
/// What it costs does not depend on how many descriptors corrald holds (see `Slots`).
///
/// # Safety-relevant contract
/// The caller must not hold the reaper's pid table in a way that lets the child's exit be
/// reaped before the caller registers the returned pid; corrald runs its reaper on the same
/// single thread, so registering right after this returns is race-free.
pub fn fork_exec(plan: &ExecPlan) -> io::Result<Pid> {
    let nofile = libc::rlimit64 {
        rlim_cur: CHILD_NOFILE[0].load(Ordering::Relaxed),
        rlim_max: CHILD_NOFILE[1].load(Ordering::Relaxed),
    };
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
    // The descriptors the child keeps, in the low slots when there are (see `Slots`).
    let mut fds = ChildFds {
        fds: [0; MAX_CHILD_FDS],
        count: 0,
        unshare_from: None,
    };
    for fd in plan.stdio.iter().chain(plan.pass_fds.iter()) {
        if fds.count == MAX_CHILD_FDS {
            break;
        }
        fds.fds[fds.count] = *fd;
        fds.count += 1;
    }
    let slots = SLOTS.get().filter(|s| s.place(&mut fds));
    let mut args = ChildArgs {
        plan,
        argv: &argv,
        env_bufs: &mut env_bufs,
        env_ptrs,
        msgs: &msgs,
        nofile: (nofile.rlim_cur != 0).then_some(nofile),
        fds,
    };
    // With the descriptors in the low slots, the child starts on corrald's own table
    // (CLONE_FILES: nothing copied) and then takes a private copy of the slots alone.
    let share_files = if args.fds.unshare_from.is_some() {
        libc::CLONE_FILES
    } else {
        0
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
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD | share_files,
                (&raw mut args).cast(),
            )
        };
        let err = io::Error::last_os_error();
        if let Some(slots) = slots {
            slots.clear(args.fds.count);
        }
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
    /// The children's `RLIMIT_NOFILE`, when it differs from corrald's.
    nofile: Option<libc::rlimit64>,
    fds: ChildFds,
}

/// Most descriptors a child gets: stdio and 61 passed sockets.
const MAX_CHILD_FDS: usize = 64;

/// The descriptors that become the child's 0, 1, 2, 3, … (stdio, then passed sockets), as
/// numbers in the table the child starts with.
#[derive(Debug, Clone, Copy)]
struct ChildFds {
    fds: [RawFd; MAX_CHILD_FDS],
    count: usize,
    /// The child shares corrald's table (CLONE_FILES) and must first make a private copy
    /// of the descriptors below this one (the slots), leaving out all the others.
    unshare_from: Option<libc::c_uint>,
}

/// Low descriptors reserved at start-up, where the descriptors a child gets are put just
/// before it is created.
///
/// Without them, creating a child copies corrald's whole descriptor table (a reference
/// per descriptor, `dup_fd`) and the child then closes all of it but its own few
/// (`close_range`, a flush per file): corrald holds about five descriptors per program
/// (pipe ends, log files), so each spawn cost more than the one before, and with 3,000
/// programs that close alone was 41 % of the CPU of starting them. With them, the child
/// starts on corrald's table without copying it (`CLONE_FILES`; corrald is suspended
/// until the child execs, `CLONE_VFORK`), and its first act is
/// `close_range(end, ~0, CLOSE_RANGE_UNSHARE)`: a private table with only the
/// descriptors below `end` (the kernel copies just those: the range punches a hole to
/// the end of the table). What a spawn costs no longer depends on how many descriptors
/// corrald holds.
#[derive(Debug, Clone, Copy)]
struct Slots {
    /// `/dev/null`, what a slot holds while unused.
    placeholder: RawFd,
    slots: [RawFd; MAX_CHILD_FDS],
    /// One above the highest slot (and the placeholder).
    end: RawFd,
}

thread_local! {
    static SLOTS: std::cell::Cell<Option<Slots>> = const { std::cell::Cell::new(None) };
}

/// Reserve the low slots (see `Slots`). Call at start-up, before corrald opens anything
/// else, so they are the lowest descriptors. Without them, spawning still works, at a cost
/// that grows with the descriptors corrald holds.
pub fn reserve_slots() -> io::Result<()> {
    // SAFETY: open/fcntl/close on a path literal and on descriptors this function creates
    // and owns.
    unsafe {
        let placeholder = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC);
        if placeholder < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut slots = [0; MAX_CHILD_FDS];
        for (i, slot) in slots.iter_mut().enumerate() {
            let fd = libc::fcntl(placeholder, libc::F_DUPFD_CLOEXEC, 0);
            if fd < 0 {
                let err = io::Error::last_os_error();
                for s in &slots[..i] {
                    libc::close(*s);
                }
                libc::close(placeholder);
                return Err(err);
            }
            *slot = fd;
        }
        let end = slots
            .iter()
            .copied()
            .max()
            .unwrap_or(placeholder)
            .max(placeholder)
            + 1;
        SLOTS.set(Some(Slots {
            placeholder,
            slots,
            end,
        }));
    }
    Ok(())
}

impl Slots {
    /// Copy the child's descriptors into the slots (`fds` then names the slots). False if
    /// that failed; `fds` is then unchanged and the slots are as before.
    fn place(&self, fds: &mut ChildFds) -> bool {
        for (i, (fd, slot)) in fds.fds.iter().zip(&self.slots).take(fds.count).enumerate() {
            // SAFETY: dup3 onto one of our reserved slots (replacing the placeholder) from
            // a descriptor the plan's owner keeps open for the duration of the spawn.
            if unsafe { libc::dup3(*fd, *slot, libc::O_CLOEXEC) } < 0 {
                self.clear(i);
                return false;
            }
        }
        fds.fds[..fds.count].copy_from_slice(&self.slots[..fds.count]);
        // Slots come in ascending order: the child copies those in use and what lies below
        // them (stdio, the placeholder), nothing else.
        let end = fds
            .count
            .checked_sub(1)
            .map_or(self.end, |i| self.slots[i] + 1);
        fds.unshare_from = Some(end as libc::c_uint);
        true
    }

    /// Put the placeholder back into the first `n` slots (dropping corrald's extra
    /// references to the child's descriptors).
    fn clear(&self, n: usize) {
        for slot in &self.slots[..n] {
            // SAFETY: dup3 of our placeholder onto our own slot.
            unsafe { libc::dup3(self.placeholder, *slot, libc::O_CLOEXEC) };
        }
    }
}

/// The child's entry point after clone: patch LISTEN_PID, build envp, exec.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // ---- in the child: async-signal-safe code only from here on ----
    // SAFETY: `arg` is the ChildArgs fork_exec passed, alive while the parent waits for us;
    // nothing allocates (env_ptrs has capacity for every push) and the calls are raw
    // syscall wrappers on data prepared before the clone.
    unsafe {
        let args = &mut *arg.cast::<ChildArgs<'_>>();
        for slot in [args.plan.listen_pid_slot, args.plan.watchdog_pid_slot]
            .into_iter()
            .flatten()
        {
            write_pid_into(&mut args.env_bufs[slot], libc::getpid());
        }
        for buf in args.env_bufs.iter() {
            args.env_ptrs.push(buf.as_ptr().cast());
        }
        args.env_ptrs.push(std::ptr::null());
        child_exec(
            args.plan,
            args.argv,
            &args.env_ptrs,
            args.msgs,
            args.nofile,
            &args.fds,
        )
    }
}

/// Overwrite the padding after `KEY=` (`LISTEN_PID=`, `WATCHDOG_PID=`) with the decimal
/// pid, NUL-terminated.
fn write_pid_into(entry: &mut [u8], pid: Pid) {
    let Some(eq) = entry.iter().position(|b| *b == b'=') else {
        return;
    };
    let start = eq + 1;
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
    nofile: Option<libc::rlimit64>,
    fds: &ChildFds,
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

        // A private descriptor table before touching any descriptor: this one is
        // corrald's (CLONE_FILES). The kernel copies only the slots, below
        // `unshare_from`; should that fail, a copy of the whole table will do.
        if let Some(from) = fds.unshare_from {
            let r = libc::syscall(
                libc::SYS_close_range,
                from,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_UNSHARE,
            );
            if r != 0 && libc::unshare(libc::CLONE_FILES) != 0 {
                libc::_exit(127);
            }
        }

        // stdio, then passed sockets at 3, 4, …. A source fd may sit where a target goes,
        // so first move every source above the highest target.
        let count = fds.count;
        let ntargets = count as RawFd;
        let mut sources = [0 as RawFd; MAX_CHILD_FDS];
        for (i, fd) in fds.fds.iter().take(count).enumerate() {
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
        // supervisord's children inherit its limit (raised to minfds); corrald's own is
        // higher (the hard limit), so the child takes theirs back.
        if let Some(lim) = &nofile {
            libc::syscall(
                libc::SYS_prlimit64,
                0,
                libc::RLIMIT_NOFILE,
                std::ptr::from_ref(lim),
                std::ptr::null_mut::<libc::rlimit64>(),
            );
        }

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
        let mut entry = ExecPlan::pid_placeholder("WATCHDOG_PID")
            .as_bytes_with_nul()
            .to_vec();
        write_pid_into(&mut entry, 42);
        let s = std::ffi::CStr::from_bytes_until_nul(&entry).unwrap();
        assert_eq!(s.to_str().unwrap(), "WATCHDOG_PID=42");
    }

    use std::io::Read;
    use std::os::fd::{AsRawFd, OwnedFd};

    /// Run `ls /proc/self/fd` with `pass` at fd 3 and return what it lists, besides the
    /// directory `ls` itself opens.
    fn child_fds(pass: &OwnedFd) -> Vec<String> {
        let (r, w) = crate::sys::pipe().unwrap();
        let devnull = std::fs::File::open("/dev/null").unwrap();
        let argv = [
            "sh",
            "-c",
            "for f in /proc/self/fd/*; do echo ${f##*/}; done",
        ]
        .iter()
        .map(|a| CString::new(*a).unwrap())
        .collect();
        let mut plan = ExecPlan::plain(
            CString::new("/bin/sh").unwrap(),
            argv,
            Vec::new(),
            [devnull.as_raw_fd(), w.as_raw_fd(), w.as_raw_fd()],
        );
        plan.pass_fds = vec![pass.as_raw_fd()];
        let pid = fork_exec(&plan).unwrap();
        drop(w);
        let mut out = String::new();
        std::fs::File::from(r).read_to_string(&mut out).unwrap();
        let mut status = 0;
        // SAFETY: waiting for our own child with a valid status pointer.
        unsafe { libc::waitpid(pid, &mut status, 0) };
        // The shell's glob lists the descriptor it reads the directory with too.
        let mut fds: Vec<String> = out.lines().map(str::to_string).collect();
        fds.pop();
        fds
    }

    #[test]
    fn a_child_gets_its_descriptors_and_nothing_else() {
        // Descriptors without close-on-exec, as a careless library might leave them.
        let leaks: Vec<OwnedFd> = (0..50)
            .map(|_| {
                let f = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
                // SAFETY: clears FD_CLOEXEC on a descriptor we own.
                unsafe { libc::fcntl(f.as_raw_fd(), libc::F_SETFD, 0) };
                f
            })
            .collect();
        let pass = OwnedFd::from(std::fs::File::open("/dev/null").unwrap());
        assert_eq!(child_fds(&pass), ["0", "1", "2", "3"], "without slots");
        reserve_slots().unwrap();
        let slots = SLOTS.get().expect("reserved");
        assert_eq!(child_fds(&pass), ["0", "1", "2", "3"], "with slots");
        // The slots hold the placeholder again.
        for slot in slots.slots {
            // SAFETY: fcntl on our own slot.
            assert!(unsafe { libc::fcntl(slot, libc::F_GETFD) } & libc::FD_CLOEXEC != 0);
        }
        drop(leaks);
    }
}
