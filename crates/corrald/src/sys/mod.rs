//! The daemon's only door to the kernel: thin, safe wrappers over the libc calls corrald
//! needs. Everything `unsafe` lives in this module tree, each block saying why it is sound.

// Every call corrald makes that needs `unsafe` is here, each with its SAFETY argument;
// the rest of the crate is denied it (workspace lints).
#![allow(unsafe_code)]

pub mod daemon;
pub mod errno;
pub mod fs;
pub mod handover;
pub mod procfs;
pub mod spawn;
pub mod user;

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

pub type Pid = i32;

/// Turn a libc return value into an `io::Result`, reading errno on -1.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `kill(2)`. A negative `pid` signals a process group.
pub fn kill(pid: Pid, sig: i32) -> io::Result<()> {
    // SAFETY: kill takes plain integers and has no memory effects.
    cvt(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// The size of a memory page (for `/proc` figures counted in pages).
pub fn page_size() -> u64 {
    static SIZE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    // SAFETY: sysconf takes an integer name and has no memory effects.
    *SIZE
        .get_or_init(|| u64::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096))
}

pub fn getpid() -> Pid {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

pub fn getuid() -> u32 {
    // SAFETY: getuid cannot fail.
    unsafe { libc::getuid() }
}

/// Make corrald a child subreaper: when a process it started dies, that process's
/// children are re-parented to corrald (not to PID 1), so orphans of a supervised tree stay
/// visible, are reaped by us, and can be stopped with the program they came from.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer flag.
    cvt(unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) }).map(drop)
}

/// `waitpid(-1, WNOHANG)`: one exited child, if any.
pub fn reap_one() -> io::Result<Option<(Pid, i32)>> {
    let mut status = 0;
    // SAFETY: status is a valid out-pointer for the duration of the call.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
    match pid {
        -1 => {
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ECHILD) => Ok(None),
                Some(libc::EINTR) => Ok(None),
                _ => Err(err),
            }
        }
        0 => Ok(None),
        pid => Ok(Some((pid, status))),
    }
}

/// A pipe whose both ends are close-on-exec; the child's ends are dup2'ed into place, which
/// clears the flag on the copies only.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid two-element array for pipe2 to fill.
    cvt(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn set_nonblocking(fd: &impl AsRawFd, on: bool) -> io::Result<()> {
    let fd = fd.as_raw_fd();
    // SAFETY: fcntl on a descriptor we hold, with integer arguments.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let flags = if on {
        flags | libc::O_NONBLOCK
    } else {
        flags & !libc::O_NONBLOCK
    };
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) }).map(drop)
}

/// Try to grow a pipe's buffer (the kernel may refuse or cap it; that is fine).
pub fn set_pipe_size(fd: &impl AsRawFd, bytes: i32) {
    // SAFETY: fcntl with an integer argument; failure is harmless and ignored.
    unsafe {
        libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, bytes);
    }
}

/// A pipe's capacity (`F_GETPIPE_SZ`), if the kernel tells.
pub fn pipe_size(fd: &impl AsRawFd) -> Option<usize> {
    // SAFETY: fcntl on a descriptor the caller holds, no pointer arguments.
    let n = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) };
    usize::try_from(n).ok().filter(|&n| n > 0)
}

/// One `read(2)` into `buf`. Ok(0) is end of file.
pub fn read(fd: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: reading into a live buffer, within its length, from a descriptor the caller
    // holds.
    let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// `chown(2)`; `gid` None keeps the group.
pub fn chown(path: &str, uid: u32, gid: Option<u32>) -> io::Result<()> {
    let c = CString::new(path)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))?;
    // SAFETY: chown reads a NUL-terminated path we own; -1 (u32::MAX) keeps the group.
    cvt(unsafe { libc::chown(c.as_ptr(), uid, gid.unwrap_or(u32::MAX)) }).map(drop)
}

/// `fchmod(2)`. On a unix socket before `bind`, Linux gives the socket file this mode (less
/// the umask) from the moment it appears, instead of 0777 less the umask.
pub fn fchmod(fd: &impl AsRawFd, mode: u32) -> io::Result<()> {
    // SAFETY: fchmod on a descriptor the caller holds, no pointer arguments.
    cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode) }).map(drop)
}

/// `pidfd_open(2)`: a descriptor that refers to exactly this process (immune to pid reuse)
/// and becomes readable when it exits.
pub fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: the raw syscall takes two integers and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just created this descriptor for us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_send_signal(2)`: signal the process the pidfd refers to.
pub fn pidfd_send_signal(pidfd: &OwnedFd, sig: i32) -> io::Result<()> {
    // SAFETY: the syscall takes a descriptor we own, a signal number and null info.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// (soft, hard) limits of a resource; `u64::MAX` stands for RLIM_INFINITY.
pub fn getrlimit(resource: libc::__rlimit_resource_t) -> io::Result<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid out-pointer.
    cvt(unsafe { libc::getrlimit(resource, &mut lim) })?;
    Ok((lim.rlim_cur, lim.rlim_max))
}

pub fn setrlimit(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: lim is a valid in-pointer.
    cvt(unsafe { libc::setrlimit(resource, &lim) }).map(drop)
}

/// Clock ticks per second (`/proc` times are in ticks).
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf takes an integer and cannot fail in a harmful way.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 { n as u64 } else { 100 }
}

pub fn umask(mask: u32) -> u32 {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask) }
}

/// Drop the daemon's own privileges (`[supervisord] user=`): groups, gid, then uid.
pub fn drop_privileges(uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
    // SAFETY: setgroups reads `groups.len()` gids from a valid slice.
    cvt(unsafe { libc::setgroups(groups.len(), groups.as_ptr()) })?;
    // SAFETY: integer arguments only.
    cvt(unsafe { libc::setgid(gid) })?;
    // SAFETY: integer arguments only.
    cvt(unsafe { libc::setuid(uid) }).map(drop)
}

/// Write as much of `data` as the descriptor takes now. Returns how many bytes were
/// written (fewer than `data.len()` when the pipe is full); other errors, EPIPE included,
/// are returned.
pub fn write_nonblocking(fd: &impl AsRawFd, data: &[u8]) -> io::Result<usize> {
    let mut off = 0;
    while off < data.len() {
        // SAFETY: writing from a live buffer within its bounds to a descriptor the caller holds.
        let n = unsafe {
            libc::write(
                fd.as_raw_fd(),
                data[off..].as_ptr().cast(),
                data.len() - off,
            )
        };
        if n >= 0 {
            off += n as usize;
            continue;
        }
        let err = io::Error::last_os_error();
        match err.kind() {
            io::ErrorKind::Interrupted => {}
            io::ErrorKind::WouldBlock => return Ok(off),
            _ => return Err(err),
        }
    }
    Ok(off)
}

/// A new epoll instance (close-on-exec).
pub fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: epoll_create1 takes a flag and returns a new descriptor or -1.
    let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    // SAFETY: the kernel just created this descriptor for us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `epoll_ctl(2)`: watch `fd` in `epoll` for `events`, reported with `data`
/// (`EPOLL_CTL_ADD` / `EPOLL_CTL_MOD` / `EPOLL_CTL_DEL`).
pub fn epoll_ctl(
    epoll: &impl AsRawFd,
    op: libc::c_int,
    fd: RawFd,
    events: u32,
    data: u64,
) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: ev is a valid epoll_event for the duration of the call.
    cvt(unsafe { libc::epoll_ctl(epoll.as_raw_fd(), op, fd, &mut ev) }).map(drop)
}

/// `epoll_wait(2)` without waiting: the `data` of each ready descriptor, into `out`.
pub fn epoll_ready(epoll: &impl AsRawFd, out: &mut Vec<u64>, max: usize) -> io::Result<()> {
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; max];
    // SAFETY: events has room for `max` entries, as passed.
    let n = unsafe { libc::epoll_wait(epoll.as_raw_fd(), events.as_mut_ptr(), max as i32, 0) };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    out.extend(events[..n].iter().map(|e| e.u64));
    Ok(())
}

/// Register an owned descriptor with the runtime's reactor.
pub fn async_fd(fd: OwnedFd, interest: Interest) -> io::Result<AsyncFd<OwnedFd>> {
    try_async_fd(fd, interest).map_err(|(_, e)| e)
}

/// [`async_fd`] that hands the descriptor back when the reactor refuses it.
pub fn try_async_fd(
    fd: OwnedFd,
    interest: Interest,
) -> Result<AsyncFd<OwnedFd>, (OwnedFd, io::Error)> {
    // SAFETY: an OwnedFd is open and refers to the same description until it is dropped,
    // and corrald never swaps the OwnedFd inside an AsyncFd (no get_mut + replace; it is
    // only taken back whole by `into_inner`), so the descriptor stays valid and unchanged
    // for the AsyncFd's whole life.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(|e| e.into_parts())
}

/// Our end of a pipe to a child's stdin: nonblocking, registered for writing.
pub fn async_writer(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    set_nonblocking(&fd, true)?;
    async_fd(fd, Interest::WRITABLE)
}

/// The wall clock in Unix seconds (0 if it is set before 1970).
pub fn unix_time() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Remove a variable from corrald's own environment. Only while corrald has one thread
/// (at start-up): `setenv`/`unsetenv` race with any other thread reading the environment.
pub fn remove_env(key: &str) {
    // SAFETY: called at start-up, before the runtime (and any other thread) exists.
    unsafe { std::env::remove_var(key) };
}

/// CLOCK_MONOTONIC in microseconds (what systemd's `MONOTONIC_USEC=` expects).
pub fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1_000
}
