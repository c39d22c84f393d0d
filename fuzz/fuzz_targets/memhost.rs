//! An in-memory `corral_config::host::Host` for the config targets: a fixed directory tree,
//! users and environment, and the files the fuzz input provides. Nothing touches the real
//! file system.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use corral_config::host::{DirEntry, Host, UserEntry};
use corral_config::pypath;

pub const CWD: &str = "/etc/supervisor";

pub struct MemHost {
    pub files: BTreeMap<String, Vec<u8>>,
    pub dirs: BTreeSet<String>,
}

impl MemHost {
    pub fn new() -> Self {
        let dirs = [
            "/",
            "/etc",
            "/etc/supervisor",
            "/etc/supervisor/conf.d",
            "/tmp",
            "/var",
            "/var/log",
            "/var/run",
            "/home",
            "/home/app",
        ];
        MemHost {
            files: BTreeMap::new(),
            dirs: dirs.iter().map(|d| d.to_string()).collect(),
        }
    }

    fn abs(&self, p: &str) -> String {
        pypath::abspath(p, CWD)
    }
}

impl Host for MemHost {
    fn read_file(&self, path: &str) -> io::Result<Vec<u8>> {
        let p = self.abs(path);
        if self.dirs.contains(&p) {
            return Err(io::Error::new(io::ErrorKind::IsADirectory, "Is a directory"));
        }
        self.files
            .get(&p)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "No such file or directory"))
    }
    fn exists(&self, path: &str) -> bool {
        let p = self.abs(path);
        self.files.contains_key(&p) || self.dirs.contains(&p)
    }
    fn lexists(&self, path: &str) -> bool {
        self.exists(path)
    }
    fn is_dir(&self, path: &str) -> bool {
        self.dirs.contains(&self.abs(path))
    }
    fn list_dir(&self, path: &str) -> Option<Vec<DirEntry>> {
        let dir = self.abs(path);
        if !self.dirs.contains(&dir) {
            return None;
        }
        let prefix = if dir == "/" { "/".to_string() } else { format!("{dir}/") };
        let entries = self
            .files
            .keys()
            .map(|p| (p, false))
            .chain(self.dirs.iter().map(|d| (d, true)));
        let mut out = Vec::new();
        for (p, is_dir) in entries {
            if let Some(rest) = p.strip_prefix(&prefix) {
                if !rest.is_empty() && !rest.contains('/') {
                    out.push(DirEntry { name: rest.into(), is_dir });
                }
            }
        }
        Some(out)
    }
    fn user_by_name(&self, name: &str) -> Option<UserEntry> {
        match name {
            "root" => Some(UserEntry { name: "root".into(), uid: 0, gid: 0, home: "/root".into() }),
            "app" => Some(UserEntry { name: "app".into(), uid: 1000, gid: 1000, home: "/home/app".into() }),
            _ => None,
        }
    }
    fn user_by_uid(&self, uid: u32) -> Option<UserEntry> {
        match uid {
            0 => self.user_by_name("root"),
            1000 => self.user_by_name("app"),
            _ => None,
        }
    }
    fn group_by_name(&self, name: &str) -> Option<u32> {
        match name {
            "root" => Some(0),
            "app" => Some(1000),
            _ => None,
        }
    }
    fn group_exists(&self, gid: u32) -> bool {
        gid == 0 || gid == 1000
    }
    fn current_uid(&self) -> u32 {
        0
    }
    fn env_vars(&self) -> Vec<(String, String)> {
        vec![
            ("HOME".into(), "/root".into()),
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("LANG".into(), "C.UTF-8".into()),
            // No variable with a number for a value: see config_load's many_processes.
            ("APP_NAME".into(), "web".into()),
        ]
    }
    fn cwd(&self) -> String {
        CWD.into()
    }
    fn hostname(&self) -> String {
        "fuzzhost".into()
    }
    fn tempdir(&self) -> String {
        "/tmp".into()
    }
}
