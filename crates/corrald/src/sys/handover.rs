//! What an in-place upgrade needs from the kernel: a memory file for the state, descriptors
//! that survive `execve` (and only those), `execve` itself, and taking ownership of a
//! descriptor inherited across it.

use std::ffi::CString;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use super::cvt;

/// An anonymous memory file holding `data`, rewound, CLOEXEC (the caller clears that for
/// the one exec it must survive).
pub fn memfd_with(name: &str, data: &[u8]) -> io::Result<OwnedFd> {
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: memfd_create reads a NUL-terminated name and returns a new descriptor.
    let fd = cvt(unsafe { libc::memfd_create(cname.as_ptr(), libc::MFD_CLOEXEC) })?;
    // SAFETY: fd was just returned to us and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut file = std::fs::File::from(owned);
    file.write_all(data)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(OwnedFd::from(file))
}

/// Whether `fd` is closed by `execve` (`on`) or survives it.
pub fn set_cloexec(fd: RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor number; a stale number fails with EBADF.
    let flags = cvt(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    let new = if on {
        flags | libc::FD_CLOEXEC
    } else {
        flags & !libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, new) }).map(drop)
}

/// Whether `fd` is an open descriptor of this process.
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD only reads the descriptor's flags.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    flags != -1
}

/// Take ownership of descriptor `fd`, inherited across `execve` from the corrald this
/// process replaced. The caller must know `fd` is open and owned by nothing else in this
/// process (the state that names it is read once, at start-up, before anything opens files
/// that could take those numbers); a closed number is refused.
pub fn adopt_inherited(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 || !is_open(fd) {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // Inherited descriptors had CLOEXEC cleared for the exec: set it again, so that the
    // children corrald spawns don't get them.
    set_cloexec(fd, true)?;
    // SAFETY: `fd` is open (checked) and, per the contract above, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Read a whole inherited memory file (the upgrade state) and close it.
pub fn read_inherited(fd: RawFd) -> io::Result<Vec<u8>> {
    let mut file = std::fs::File::from(adopt_inherited(fd)?);
    file.seek(SeekFrom::Start(0))?;
    let mut data = Vec::new();
    file.read_to_end(&mut data)?;
    Ok(data)
}

/// Replace this process's image with `path`, keeping its pid, its children and every
/// descriptor without CLOEXEC. Returns only on failure.
pub fn execve(path: &str, argv: &[String], env: &[(String, String)]) -> io::Error {
    let cstr = |s: &str| CString::new(s).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput));
    let prepared = (|| {
        let path = cstr(path)?;
        let argv: Vec<CString> = argv.iter().map(|a| cstr(a)).collect::<io::Result<_>>()?;
        let env: Vec<CString> = env
            .iter()
            .map(|(k, v)| cstr(&format!("{k}={v}")))
            .collect::<io::Result<_>>()?;
        Ok::<_, io::Error>((path, argv, env))
    })();
    let (path, argv, env) = match prepared {
        Ok(p) => p,
        Err(e) => return e,
    };
    let mut argv_p: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut env_p: Vec<*const libc::c_char> = env.iter().map(|e| e.as_ptr()).collect();
    env_p.push(std::ptr::null());
    // SAFETY: NUL-terminated strings and NULL-terminated arrays that outlive the call;
    // execve only returns on failure.
    unsafe { libc::execve(path.as_ptr(), argv_p.as_ptr(), env_p.as_ptr()) };
    io::Error::last_os_error()
}
