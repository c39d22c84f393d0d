//! Everything the parser needs from the machine. [`RealHost`] is the only code in this
//! crate that touches the operating system; tests use their own [`Host`].

// The user, group and host-name lookups call libc (getpwnam_r & co, uname).
#![allow(unsafe_code)]

use std::ffi::{CStr, CString};
use std::io;

/// A passwd entry, as much of it as supervisord looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserEntry {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
}

/// How a directory entry looks to `glob` (`os.scandir` + `entry.is_dir()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: String,
    /// A directory, or a symlink to one.
    pub is_dir: bool,
}

pub trait Host {
    /// The bytes of a file (relative paths are relative to [`Host::cwd`]).
    fn read_file(&self, path: &str) -> io::Result<Vec<u8>>;
    /// `os.path.exists` (follows symlinks).
    fn exists(&self, path: &str) -> bool;
    /// `os.path.lexists` (a dangling symlink exists).
    fn lexists(&self, path: &str) -> bool;
    /// `os.path.isdir` (follows symlinks).
    fn is_dir(&self, path: &str) -> bool;
    /// `os.scandir(path)`; `None` when it cannot be listed.
    fn list_dir(&self, path: &str) -> Option<Vec<DirEntry>>;
    /// `pwd.getpwnam`.
    fn user_by_name(&self, name: &str) -> Option<UserEntry>;
    /// `pwd.getpwuid`.
    fn user_by_uid(&self, uid: u32) -> Option<UserEntry>;
    /// `grp.getgrnam` (the gid).
    fn group_by_name(&self, name: &str) -> Option<u32>;
    /// `grp.getgrgid` succeeds.
    fn group_exists(&self, gid: u32) -> bool;
    /// `os.getuid()`.
    fn current_uid(&self) -> u32;
    /// The process environment, in `os.environ` order.
    fn env_vars(&self) -> Vec<(String, String)>;
    /// `os.getcwd()`.
    fn cwd(&self) -> String;
    /// `platform.node()`.
    fn hostname(&self) -> String;
    /// `tempfile.gettempdir()`.
    fn tempdir(&self) -> String;

    fn env_var(&self, name: &str) -> Option<String> {
        self.env_vars()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// The machine corral runs on.
#[derive(Debug, Clone, Copy, Default)]
pub struct RealHost;

fn cstr(s: &str) -> Option<CString> {
    CString::new(s).ok()
}

/// Run a `get*_r` lookup with a growing buffer (ERANGE means: try a bigger one).
fn with_buffer<T>(mut f: impl FnMut(&mut [libc::c_char]) -> Result<Option<T>, i32>) -> Option<T> {
    let mut size = 1024usize;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        match f(&mut buf) {
            Ok(v) => return v,
            Err(libc::ERANGE) if size < (1 << 22) => size *= 4,
            Err(_) => return None,
        }
    }
}

/// # Safety
/// `pw` must point to a passwd record filled in by `getpw*_r`.
unsafe fn user_entry(pw: &libc::passwd) -> UserEntry {
    let text = |p: *const libc::c_char| {
        if p.is_null() {
            String::new()
        } else {
            // SAFETY: getpw*_r filled these fields with NUL-terminated strings in our buffer.
            unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
        }
    };
    UserEntry {
        name: text(pw.pw_name),
        uid: pw.pw_uid,
        gid: pw.pw_gid,
        home: text(pw.pw_dir),
    }
}

/// A `getpw*_r` call (`call(record, buffer, result)` returns its error number), with a
/// growing buffer.
fn lookup_user(
    call: impl Fn(&mut libc::passwd, &mut [libc::c_char], &mut *mut libc::passwd) -> libc::c_int,
) -> Option<UserEntry> {
    with_buffer(|buf| {
        // SAFETY: all-zero is a valid passwd (plain integers and null pointers).
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        match call(&mut pw, buf, &mut result) {
            // SAFETY: on success with a non-null result, pw holds a record pointing into buf.
            0 => Ok((!result.is_null()).then(|| unsafe { user_entry(&pw) })),
            rc => Err(rc),
        }
    })
}

/// A `getgr*_r` call, as [`lookup_user`]: the group's gid.
fn lookup_group(
    call: impl Fn(&mut libc::group, &mut [libc::c_char], &mut *mut libc::group) -> libc::c_int,
) -> Option<u32> {
    with_buffer(|buf| {
        // SAFETY: all-zero is a valid group record (integers and null pointers).
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::group = std::ptr::null_mut();
        match call(&mut gr, buf, &mut result) {
            0 => Ok((!result.is_null()).then_some(gr.gr_gid)),
            rc => Err(rc),
        }
    })
}

impl Host for RealHost {
    fn read_file(&self, path: &str) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }

    fn exists(&self, path: &str) -> bool {
        std::fs::metadata(path).is_ok()
    }

    fn lexists(&self, path: &str) -> bool {
        std::fs::symlink_metadata(path).is_ok()
    }

    fn is_dir(&self, path: &str) -> bool {
        std::fs::metadata(path).is_ok_and(|m| m.is_dir())
    }

    fn list_dir(&self, path: &str) -> Option<Vec<DirEntry>> {
        let rd = std::fs::read_dir(if path.is_empty() { "." } else { path }).ok()?;
        let mut out = Vec::new();
        for entry in rd.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // entry.is_dir() in Python follows symlinks.
            let is_dir = std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
            out.push(DirEntry { name, is_dir });
        }
        Some(out)
    }

    fn user_by_name(&self, name: &str) -> Option<UserEntry> {
        let cname = cstr(name)?;
        lookup_user(|pw, buf, result| {
            // SAFETY: every pointer is valid for the call.
            unsafe { libc::getpwnam_r(cname.as_ptr(), pw, buf.as_mut_ptr(), buf.len(), result) }
        })
    }

    fn user_by_uid(&self, uid: u32) -> Option<UserEntry> {
        lookup_user(|pw, buf, result| {
            // SAFETY: every pointer is valid for the call.
            unsafe { libc::getpwuid_r(uid, pw, buf.as_mut_ptr(), buf.len(), result) }
        })
    }

    fn group_by_name(&self, name: &str) -> Option<u32> {
        let cname = cstr(name)?;
        lookup_group(|gr, buf, result| {
            // SAFETY: every pointer is valid for the call.
            unsafe { libc::getgrnam_r(cname.as_ptr(), gr, buf.as_mut_ptr(), buf.len(), result) }
        })
    }

    fn group_exists(&self, gid: u32) -> bool {
        lookup_group(|gr, buf, result| {
            // SAFETY: every pointer is valid for the call.
            unsafe { libc::getgrgid_r(gid, gr, buf.as_mut_ptr(), buf.len(), result) }
        })
        .is_some()
    }

    fn current_uid(&self) -> u32 {
        // SAFETY: getuid has no preconditions and cannot fail.
        unsafe { libc::getuid() }
    }

    fn env_vars(&self) -> Vec<(String, String)> {
        std::env::vars_os()
            .map(|(k, v)| {
                (
                    k.to_string_lossy().into_owned(),
                    v.to_string_lossy().into_owned(),
                )
            })
            .collect()
    }

    fn env_var(&self, name: &str) -> Option<String> {
        std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
    }

    fn cwd(&self) -> String {
        std::env::current_dir()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_else(|_| ".".into())
    }

    fn hostname(&self) -> String {
        // SAFETY: all-zero is a valid utsname.
        let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: uts is a valid, writable utsname.
        if unsafe { libc::uname(&mut uts) } != 0 {
            return String::new();
        }
        // SAFETY: uname NUL-terminates nodename.
        unsafe { CStr::from_ptr(uts.nodename.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    }

    /// `tempfile.gettempdir()`: `$TMPDIR`, `$TEMP`, `$TMP`, `/tmp`, `/var/tmp`, `/usr/tmp`,
    /// then the cwd; the first where a file can actually be created wins.
    fn tempdir(&self) -> String {
        let mut candidates: Vec<String> = ["TMPDIR", "TEMP", "TMP"]
            .iter()
            .filter_map(|k| self.env_var(k))
            .filter(|v| !v.is_empty())
            .collect();
        candidates.extend(["/tmp", "/var/tmp", "/usr/tmp"].map(String::from));
        let cwd = self.cwd();
        candidates.push(cwd.clone());
        for dir in candidates {
            let dir = crate::pypath::abspath(&dir, &cwd);
            let probe = format!(
                "{}/.corral-probe-{}-{}",
                dir.trim_end_matches('/'),
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0)
            );
            let created = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&probe)
                .and_then(|mut f| std::io::Write::write_all(&mut f, b"blat"));
            if created.is_ok() {
                let _ = std::fs::remove_file(&probe);
                return dir;
            }
        }
        cwd
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_host_lookups() {
        let h = RealHost;
        let root = h.user_by_name("root").expect("root exists");
        assert_eq!(root.uid, 0);
        assert_eq!(h.user_by_uid(0).map(|u| u.name), Some("root".into()));
        assert!(h.user_by_name("no-such-user-corral").is_none());
        assert!(h.group_by_name("no-such-group-corral").is_none());
        assert!(h.group_exists(root.gid));
        assert!(!h.hostname().is_empty());
        assert!(h.is_dir(&h.tempdir()));
    }

    #[test]
    fn real_host_files_and_glob() {
        let dir = std::env::temp_dir().join(format!("corral-host-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        for f in ["b.conf", "a.conf", ".hidden.conf", "c.ini"] {
            std::fs::write(dir.join(f), "x").unwrap();
        }
        let d = dir.to_string_lossy().into_owned();
        let h = RealHost;
        let mut found = crate::pyglob::glob(&h, &format!("{d}/*.conf"));
        found.sort();
        assert_eq!(found, vec![format!("{d}/a.conf"), format!("{d}/b.conf")]);
        assert_eq!(
            crate::pyglob::glob(&h, &format!("{d}/.*.conf")),
            vec![format!("{d}/.hidden.conf")]
        );
        assert_eq!(
            crate::pyglob::glob(&h, &format!("{d}/s*/")),
            vec![format!("{d}/sub/")]
        );
        assert_eq!(
            crate::pyglob::glob(&h, &format!("{d}/c.ini")),
            vec![format!("{d}/c.ini")]
        );
        assert!(crate::pyglob::glob(&h, &format!("{d}/nope.ini")).is_empty());
        assert_eq!(h.read_file(&format!("{d}/c.ini")).unwrap(), b"x");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
