//! A log file rotated by size, as supervisord's `RotatingFileHandler` rotates it.
//!
//! supervisord writes a whole chunk and then rotates once the file has reached `maxbytes`
//! (`app.log` → `app.log.1` → … → `app.log.N`, the oldest dropped; with `backups=0` the file
//! is simply truncated). corral applies the same rule but cuts the chunk at the boundary, so
//! every rotated file holds exactly `maxbytes` bytes and no byte is lost or written twice.
//!
//! Robustness: a write error (disk full, I/O error) drops that data and is reported once
//! per error streak to the caller; a log file deleted from under us (`rm`, a foreign
//! logrotate) is noticed on the next write (its link count is 0) and recreated.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

#[derive(Debug)]
pub struct RotatingFile {
    /// Shared with the process's published log paths (one copy of each name).
    path: Rc<str>,
    maxbytes: u64,
    backups: u32,
    file: Option<File>,
    /// Size of the current file, as last seen.
    size: u64,
    /// A device or FIFO (`/dev/stdout`): never rotated, never recreated.
    special: bool,
}

impl RotatingFile {
    /// Open `path` for appending (creating it). `maxbytes = 0` never rotates.
    pub fn open(path: impl Into<Rc<str>>, maxbytes: u64, backups: u32) -> io::Result<RotatingFile> {
        let mut f = RotatingFile {
            path: path.into(),
            maxbytes,
            backups,
            file: None,
            size: 0,
            special: false,
        };
        f.reopen()?;
        if f.special {
            f.maxbytes = 0;
        }
        Ok(f)
    }

    pub fn path(&self) -> &Path {
        Path::new(&*self.path)
    }

    /// Append `data`, rotating at exactly `maxbytes`.
    pub fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let take = if self.maxbytes > 0 {
                let room = self.maxbytes.saturating_sub(self.size).max(1);
                data.len().min(usize::try_from(room).unwrap_or(usize::MAX))
            } else {
                data.len()
            };
            self.write_once(&data[..take])?;
            data = &data[take..];
            if self.maxbytes > 0 && self.size >= self.maxbytes {
                self.rollover()?;
            }
        }
        Ok(())
    }

    /// One write and one `fstat` (the write path of every log line, so it stays at two
    /// system calls).
    fn write_once(&mut self, chunk: &[u8]) -> io::Result<()> {
        if self.file.is_none() {
            self.reopen()?;
        }
        let file = self.file.as_mut().expect("opened above");
        let result = file.write_all(chunk);
        if self.special {
            return result;
        }
        match file.metadata() {
            // Deleted from under us (before or during this write)? What we wrote went to a
            // file nobody can open: recreate it and write the chunk there, so the log goes
            // on where users look for it and nothing is lost.
            Ok(m) if m.nlink() == 0 => {
                self.reopen()?;
                let file = self.file.as_mut().expect("reopened above");
                let result = file.write_all(chunk);
                self.size = file
                    .metadata()
                    .map_or(self.size + chunk.len() as u64, |m| m.len());
                result
            }
            // O_APPEND: another writer (two programs may share a file) moves the end too;
            // supervisord reads tell() after each write, which is the true end.
            Ok(m) => {
                self.size = m.len();
                result
            }
            Err(_) => {
                self.size += chunk.len() as u64;
                result
            }
        }
    }

    /// supervisord's `doRollover`.
    fn rollover(&mut self) -> io::Result<()> {
        self.file = None;
        if self.backups > 0 {
            for i in (1..self.backups).rev() {
                let src = self.numbered(i);
                if src.exists() {
                    remove_and_rename(&src, &self.numbered(i + 1))?;
                }
            }
            remove_and_rename(self.path(), &self.numbered(1))?;
        }
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(self.path())?;
        // Keep appending semantics for later writes (truncate above is the 'wb' open).
        drop(file);
        let (file, _) = open_append(self.path())?;
        self.file = Some(file);
        self.size = 0;
        Ok(())
    }

    fn numbered(&self, i: u32) -> PathBuf {
        let mut s = std::ffi::OsString::from(&*self.path);
        s.push(format!(".{i}"));
        PathBuf::from(s)
    }

    /// Close and open again (SIGUSR2, after an external rotation).
    pub fn reopen(&mut self) -> io::Result<()> {
        self.file = None;
        let (file, special) = open_append(self.path())?;
        self.size = if special {
            0
        } else {
            file.metadata().map(|m| m.len()).unwrap_or(0)
        };
        self.special = special || is_stream_path(self.path());
        self.file = Some(file);
        Ok(())
    }

    /// supervisord's `remove` + `reopen` (clearLog): delete the file and start afresh.
    pub fn clear(&mut self) -> io::Result<()> {
        self.file = None;
        if !self.special {
            match fs::remove_file(self.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        self.reopen()
    }
}

/// `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/*/fd/N`: corrald's (or another
/// process's) own output, whatever it is connected to. Never rotated, never removed: when
/// corrald's stdout is a regular file (`corrald > out.log`), supervisord would rename
/// `/dev/stdout` itself to `/dev/stdout.1`.
fn is_stream_path(path: &Path) -> bool {
    let p = path.to_string_lossy();
    matches!(p.as_ref(), "/dev/stdout" | "/dev/stderr")
        || p.starts_with("/dev/fd/")
        || (p.starts_with("/proc/") && p.contains("/fd/"))
}

/// corrald's own stdout or stderr, named by a path: a duplicate of the descriptor, so that
/// it shares the descriptor's offset. Opening `/dev/stdout` afresh would not: when
/// corrald's stdout is a regular file opened without O_APPEND (`corrald > out.log`), its
/// own lines and the program's would overwrite each other.
fn own_stream(path: &Path) -> Option<io::Result<File>> {
    use std::os::fd::AsFd;
    let fd = match path.to_str()? {
        "/dev/stdout" | "/dev/fd/1" | "/proc/self/fd/1" => {
            io::stdout().as_fd().try_clone_to_owned()
        }
        "/dev/stderr" | "/dev/fd/2" | "/proc/self/fd/2" => {
            io::stderr().as_fd().try_clone_to_owned()
        }
        _ => return None,
    };
    Some(fd.map(File::from))
}

fn open_append(path: &Path) -> io::Result<(File, bool)> {
    if let Some(f) = own_stream(path) {
        return Ok((f?, true));
    }
    match OpenOptions::new().append(true).create(true).open(path) {
        Ok(f) => {
            let special = f.metadata().map(|m| !m.is_file()).unwrap_or(false);
            Ok((f, special))
        }
        // Some special files refuse O_APPEND's implied seek; supervisord retries with 'wb'.
        Err(e) if e.raw_os_error() == Some(libc::ESPIPE) => {
            let f = OpenOptions::new().write(true).open(path)?;
            Ok((f, true))
        }
        Err(e) => Err(e),
    }
}

/// supervisord's `removeAndRename`: tolerate a destination or source that vanished.
fn remove_and_rename(src: &Path, dst: &Path) -> io::Result<()> {
    if dst.exists() {
        match fs::remove_file(dst) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    match fs::rename(src, dst) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("corral-rot-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    fn read(p: &Path) -> Vec<u8> {
        fs::read(p).unwrap_or_default()
    }

    #[test]
    fn rotates_at_exactly_maxbytes_without_losing_bytes() {
        let d = tmpdir("exact");
        let p = d.join("app.log");
        let mut f = RotatingFile::open(p.to_str().unwrap(), 100, 5).unwrap();
        let mut all = Vec::new();
        for i in 0..37u32 {
            let chunk = format!("line {i:04} {}\n", "x".repeat((i % 7) as usize));
            all.extend_from_slice(chunk.as_bytes());
            f.write(chunk.as_bytes()).unwrap();
        }
        let mut joined = Vec::new();
        for i in (1..=5).rev() {
            let b = read(&d.join(format!("app.log.{i}")));
            if !b.is_empty() {
                assert_eq!(b.len(), 100, "backup {i} holds exactly maxbytes");
            }
            joined.extend(b);
        }
        joined.extend(read(&p));
        assert_eq!(joined, all, "every byte once, in order");
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn oldest_backup_is_dropped() {
        let d = tmpdir("drop");
        let p = d.join("a.log");
        let mut f = RotatingFile::open(p.to_str().unwrap(), 10, 2).unwrap();
        f.write(&[b'a'; 10]).unwrap();
        f.write(&[b'b'; 10]).unwrap();
        f.write(&[b'c'; 10]).unwrap();
        f.write(b"d").unwrap();
        assert_eq!(read(&d.join("a.log.2")), vec![b'b'; 10]);
        assert_eq!(read(&d.join("a.log.1")), vec![b'c'; 10]);
        assert_eq!(read(&p), b"d");
        assert!(!d.join("a.log.3").exists());
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn zero_backups_truncates() {
        let d = tmpdir("zero");
        let p = d.join("a.log");
        let mut f = RotatingFile::open(p.to_str().unwrap(), 4, 0).unwrap();
        f.write(b"abcdef").unwrap();
        assert_eq!(read(&p), b"ef");
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn deleted_file_is_recreated() {
        let d = tmpdir("deleted");
        let p = d.join("a.log");
        let mut f = RotatingFile::open(p.to_str().unwrap(), 0, 0).unwrap();
        f.write(b"one\n").unwrap();
        fs::remove_file(&p).unwrap();
        f.write(b"two\n").unwrap();
        assert_eq!(read(&p), b"two\n");
        let _ = fs::remove_dir_all(d);
    }

    #[test]
    fn dev_paths_are_never_rotated() {
        assert!(is_stream_path(Path::new("/dev/stdout")));
        assert!(is_stream_path(Path::new("/proc/self/fd/1")));
        assert!(!is_stream_path(Path::new("/var/log/app.log")));
        assert!(
            !is_stream_path(Path::new("/dev/shm/app.log")),
            "a file in a tmpfs rotates"
        );
        let f = RotatingFile::open("/dev/null", 10, 3).unwrap();
        assert_eq!(f.maxbytes, 0);
    }

    #[test]
    fn clear_starts_afresh() {
        let d = tmpdir("clear");
        let p = d.join("a.log");
        let mut f = RotatingFile::open(p.to_str().unwrap(), 0, 0).unwrap();
        f.write(b"old\n").unwrap();
        f.clear().unwrap();
        f.write(b"new\n").unwrap();
        assert_eq!(read(&p), b"new\n");
        let _ = fs::remove_dir_all(d);
    }
}
