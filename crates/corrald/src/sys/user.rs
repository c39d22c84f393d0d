//! The user database: what a child needs to run as another user.

use std::ffi::{CStr, CString};
use std::io;

/// A passwd entry plus its supplementary groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    /// Every group the user belongs to, primary gid first (supervisord puts it first so a
    /// later setgid cannot drop it).
    pub groups: Vec<u32>,
}

/// Look a user up by uid (the config has resolved names to uids already).
pub fn by_uid(uid: u32) -> io::Result<Account> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: all pointers refer to live locals; getpwuid_r writes only into `pwd`,
        // `buf` (within buf.len()) and `result`.
        let (rc, found, pwd) = unsafe {
            let mut pwd: libc::passwd = std::mem::zeroed();
            let mut result: *mut libc::passwd = std::ptr::null_mut();
            let rc = libc::getpwuid_r(
                uid,
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            );
            (rc, !result.is_null(), pwd)
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        if !found {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("Can't find uid {uid}"),
            ));
        }
        // SAFETY: on success pw_name and pw_dir point into `buf`, NUL-terminated.
        let (name, home) = unsafe {
            (
                CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned(),
                CStr::from_ptr(pwd.pw_dir).to_string_lossy().into_owned(),
            )
        };
        let groups = group_list(&name, pwd.pw_gid);
        return Ok(Account {
            name,
            uid,
            gid: pwd.pw_gid,
            home,
            groups,
        });
    }
}

/// `getgrouplist`: the primary gid first, then every group listing the user.
fn group_list(name: &str, gid: u32) -> Vec<u32> {
    let Ok(cname) = CString::new(name) else {
        return vec![gid];
    };
    let mut n: libc::c_int = 64;
    loop {
        let mut groups = vec![0 as libc::gid_t; n as usize];
        let mut count = n;
        // SAFETY: `groups` has room for `count` entries; getgrouplist updates `count`.
        let rc =
            unsafe { libc::getgrouplist(cname.as_ptr(), gid, groups.as_mut_ptr(), &mut count) };
        if rc >= 0 {
            groups.truncate(count as usize);
            groups.retain(|g| *g != gid);
            groups.insert(0, gid);
            return groups;
        }
        if count <= n || n > 65536 {
            return vec![gid];
        }
        n = count;
    }
}

/// Look a user up by name, or by number written as a name (supervisord's `name_to_uid`).
pub fn by_name(spec: &str) -> io::Result<Account> {
    if let Ok(uid) = spec.parse::<u32>() {
        return by_uid(uid);
    }
    let cname = CString::new(spec)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in user name"))?;
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: as in by_uid, with a NUL-terminated name we own.
        let (rc, found, uid) = unsafe {
            let mut pwd: libc::passwd = std::mem::zeroed();
            let mut result: *mut libc::passwd = std::ptr::null_mut();
            let rc = libc::getpwnam_r(
                cname.as_ptr(),
                &mut pwd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut result,
            );
            (rc, !result.is_null(), pwd.pw_uid)
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        if !found {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("Can't find username '{spec}'"),
            ));
        }
        return by_uid(uid);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_is_found() {
        let root = super::by_uid(0).unwrap();
        assert_eq!(root.name, "root");
        assert_eq!(root.groups[0], root.gid);
    }
}
