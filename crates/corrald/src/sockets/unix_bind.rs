//! Binding a unix socket so that it is never reachable with another mode or owner than the
//! configured ones.
//!
//! Binding the final path and then `chmod`ing it leaves a window in which the socket
//! file has 0777 less the umask: with a permissive umask (000, 002) another local user can
//! connect in it (the probe did, in 4 starts of 10). supervisord binds a temporary name,
//! chmods it, and hard-links it into place. corral does the same, and closes the two gaps
//! left: the temporary name lives in a fresh directory only corrald can enter (so nobody
//! reaches it before its chmod and chown), and the socket is `fchmod`ed before `bind` (so
//! even that name is created with at most the configured mode).

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::os::unix::net::UnixListener as StdUnixListener;
use std::path::{Path, PathBuf};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::sys;

/// The longest path a `sockaddr_un` holds (108 bytes with the terminating NUL).
const SUN_PATH_MAX: usize = 107;

/// Why a socket could not be put in place.
#[derive(Debug)]
pub enum BindError {
    /// Something answers on the path already.
    InUse,
    /// Creating or binding the socket failed.
    Bind(io::Error),
    /// The configured mode could not be set.
    Chmod(io::Error),
    /// The configured owner could not be set (supervisord's message names no cause).
    Chown,
}

/// Bind a listening unix socket at `path` whose file has `mode` and, if given, the owner
/// `(uid, gid)` before it appears at `path`. A stale socket file at `path` (nobody
/// answering) is replaced.
pub fn bind(
    path: &str,
    mode: u32,
    owner: Option<(u32, Option<u32>)>,
) -> Result<StdUnixListener, BindError> {
    bind_with_backlog(path, mode, owner, -1)
}

/// [`bind`], listening with `backlog` (-1: the system's maximum, as std's
/// `UnixListener::bind`).
pub fn bind_with_backlog(
    path: &str,
    mode: u32,
    owner: Option<(u32, Option<u32>)>,
    backlog: i32,
) -> Result<StdUnixListener, BindError> {
    crate::sockets::remove_stale_unix_socket(path).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            BindError::InUse
        } else {
            BindError::Bind(e)
        }
    })?;
    let Some(staging) = Staging::create(Path::new(path)) else {
        // No room for a temporary name (a path close to the limit, or a directory we
        // cannot write): bind in place. The fchmod before bind still keeps the mode.
        let listener = listen_at(Path::new(path), mode, backlog)?;
        finish(Path::new(path), mode, owner)?;
        return Ok(listener);
    };
    let listener = listen_at(&staging.socket, mode, backlog)?;
    finish(&staging.socket, mode, owner)?;
    match fs::hard_link(&staging.socket, path) {
        Ok(()) => Ok(listener),
        // Someone put a file there since the check: take its place only if it is a stale
        // socket, as supervisord does.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            crate::sockets::remove_stale_unix_socket(path).map_err(|_| BindError::InUse)?;
            fs::hard_link(&staging.socket, path).map_err(BindError::Bind)?;
            Ok(listener)
        }
        Err(e) => Err(BindError::Bind(e)),
    }
}

/// A socket listening at `path`, created with `mode` (less the umask) from the start.
fn listen_at(path: &Path, mode: u32, backlog: i32) -> Result<StdUnixListener, BindError> {
    let socket =
        Socket::new(Domain::UNIX, Type::STREAM.cloexec(), None).map_err(BindError::Bind)?;
    // Linux creates the socket file with the socket inode's mode less the umask.
    sys::fchmod(&socket, mode).map_err(BindError::Chmod)?;
    let addr = SockAddr::unix(path).map_err(BindError::Bind)?;
    socket.bind(&addr).map_err(BindError::Bind)?;
    socket.listen(backlog).map_err(BindError::Bind)?;
    Ok(socket.into())
}

/// The exact mode (the umask may have taken bits off) and the owner.
fn finish(path: &Path, mode: u32, owner: Option<(u32, Option<u32>)>) -> Result<(), BindError> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(BindError::Chmod)?;
    if let Some((uid, gid)) = owner {
        sys::chown(&path.to_string_lossy(), uid, gid).map_err(|_| BindError::Chown)?;
    }
    Ok(())
}

/// A new directory beside the final path that only corrald can enter, holding the socket
/// until it is ready; removed (with its name for the socket) when dropped.
struct Staging {
    dir: PathBuf,
    socket: PathBuf,
}

impl Staging {
    fn create(path: &Path) -> Option<Staging> {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let pid = sys::getpid();
        for n in 0..16 {
            let dir = parent.join(format!(".corrald.{pid}.{n}"));
            let socket = dir.join("s");
            if socket.as_os_str().len() > SUN_PATH_MAX {
                return None;
            }
            // A fresh directory (never one that exists: it could be anybody's), 0700 whatever
            // the umask (which can only take bits off).
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Some(Staging { dir, socket }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(_) => return None,
            }
        }
        None
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.socket);
        let _ = fs::remove_dir(&self.dir);
    }
}

impl From<BindError> for io::Error {
    fn from(e: BindError) -> io::Error {
        match e {
            BindError::InUse => io::Error::from(io::ErrorKind::AddrInUse),
            BindError::Bind(e) | BindError::Chmod(e) => e,
            BindError::Chown => io::Error::from(io::ErrorKind::PermissionDenied),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::os::unix::net::UnixStream;

    #[test]
    fn the_socket_appears_with_its_mode_and_nothing_is_left_beside_it() {
        let dir = std::env::temp_dir().join(format!("corral-unix-bind-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let path_s = path.to_str().unwrap();
        let listener = bind(path_s, 0o640, None).unwrap();
        let m = fs::symlink_metadata(&path).unwrap();
        assert!(m.file_type().is_socket());
        assert_eq!(m.mode() & 0o7777, 0o640);
        let names: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("s.sock")]);
        UnixStream::connect(&path).unwrap();
        listener.accept().unwrap();
        // A second bind finds it in use; once closed, it is stale and replaced.
        assert!(matches!(bind(path_s, 0o600, None), Err(BindError::InUse)));
        drop(listener);
        let _again = bind(path_s, 0o600, None).unwrap();
        assert_eq!(fs::symlink_metadata(&path).unwrap().mode() & 0o7777, 0o600);
        let _ = fs::remove_dir_all(dir);
    }
}
