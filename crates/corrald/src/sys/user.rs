//! The user database: what a child needs to run as another user.

use std::ffi::CString;
use std::io;

use corral_config::host::{Host, RealHost, UserEntry};

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
    RealHost
        .user_by_uid(uid)
        .map(account)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("Can't find uid {uid}")))
}

/// Look a user up by name, or by number written as a name (supervisord's `name_to_uid`).
pub fn by_name(spec: &str) -> io::Result<Account> {
    if let Ok(uid) = spec.parse::<u32>() {
        return by_uid(uid);
    }
    RealHost.user_by_name(spec).map(account).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("Can't find username '{spec}'"),
        )
    })
}

fn account(u: UserEntry) -> Account {
    let groups = group_list(&u.name, u.gid);
    Account {
        name: u.name,
        uid: u.uid,
        gid: u.gid,
        home: u.home,
        groups,
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

#[cfg(test)]
mod tests {
    #[test]
    fn root_is_found() {
        let root = super::by_uid(0).unwrap();
        assert_eq!(root.name, "root");
        assert_eq!(root.groups[0], root.gid);
    }
}
