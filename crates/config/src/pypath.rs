//! `posixpath` as supervisord uses it: `normpath` (a leading `//` survives, `///` does not),
//! `abspath`, `dirname`, `split`, `join`, `isabs`, `expanduser`, and supervisord's
//! `normalize_path`.

use crate::host::Host;

pub fn isabs(p: &str) -> bool {
    p.starts_with('/')
}

/// `os.path.normpath`.
pub fn normpath(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let initial_slashes = if path.starts_with("//") && !path.starts_with("///") {
        2
    } else if path.starts_with('/') {
        1
    } else {
        0
    };
    let mut comps: Vec<&str> = Vec::new();
    for comp in path.split('/') {
        if comp.is_empty() || comp == "." {
            continue;
        }
        if comp != ".." || (initial_slashes == 0 && comps.is_empty()) || comps.last() == Some(&"..")
        {
            comps.push(comp);
        } else if !comps.is_empty() {
            comps.pop();
        }
    }
    let mut out = "/".repeat(initial_slashes);
    out.push_str(&comps.join("/"));
    if out.is_empty() { ".".into() } else { out }
}

/// `os.path.join(a, b)`.
pub fn join(a: &str, b: &str) -> String {
    if b.starts_with('/') || a.is_empty() {
        return b.to_string();
    }
    if a.ends_with('/') {
        format!("{a}{b}")
    } else {
        format!("{a}/{b}")
    }
}

/// `os.path.abspath` with an explicit current directory.
pub fn abspath(p: &str, cwd: &str) -> String {
    if isabs(p) {
        normpath(p)
    } else {
        normpath(&join(cwd, p))
    }
}

/// `os.path.split`.
pub fn split(p: &str) -> (String, String) {
    let i = p.rfind('/').map_or(0, |i| i + 1);
    let (head, tail) = p.split_at(i);
    let mut head = head.to_string();
    if !head.is_empty() && head.chars().any(|c| c != '/') {
        head = head.trim_end_matches('/').to_string();
    }
    (head, tail.to_string())
}

/// `os.path.dirname`.
pub fn dirname(p: &str) -> String {
    split(p).0
}

/// `os.path.expanduser`: `~` from `$HOME` (else the passwd entry of the current uid),
/// `~user` from passwd; unknown users leave the path alone.
pub fn expanduser(path: &str, host: &dyn Host) -> String {
    if !path.starts_with('~') {
        return path.to_string();
    }
    let i = path[1..].find('/').map_or(path.len(), |i| i + 1);
    let userhome = if i == 1 {
        match host.env_var("HOME") {
            Some(h) => h,
            None => match host.user_by_uid(host.current_uid()) {
                Some(u) => u.home,
                None => return path.to_string(),
            },
        }
    } else {
        match host.user_by_name(&path[1..i]) {
            Some(u) => u.home,
            None => return path.to_string(),
        }
    };
    let userhome = userhome.trim_end_matches('/');
    let out = format!("{userhome}{}", &path[i..]);
    if out.is_empty() { "/".into() } else { out }
}

/// supervisord's `normalize_path`: `normpath(abspath(expanduser(v)))`.
pub fn normalize_path(v: &str, host: &dyn Host, cwd: &str) -> String {
    normpath(&abspath(&expanduser(v, host), cwd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normpath_like_posixpath() {
        assert_eq!(normpath("//run/supervisor/sock"), "//run/supervisor/sock");
        assert_eq!(normpath("///run//x/"), "/run/x");
        assert_eq!(normpath("/a/b/../../../c"), "/c");
        assert_eq!(normpath("a/../../b/./c"), "../b/c");
        assert_eq!(normpath(""), ".");
        assert_eq!(normpath("./"), ".");
        assert_eq!(normpath("/"), "/");
        assert_eq!(normpath("/x/here/../run"), "/x/run");
    }

    #[test]
    fn split_and_dirname() {
        assert_eq!(dirname("/var/log/x.log"), "/var/log");
        assert_eq!(dirname("x.log"), "");
        assert_eq!(dirname("/x"), "/");
        assert_eq!(dirname("//x"), "//");
        assert_eq!(dirname("a//b"), "a");
        assert_eq!(dirname("/var/log/"), "/var/log");
        assert_eq!(split("a/b/"), ("a/b".into(), String::new()));
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(join("/a/", "/b"), "/b");
        assert_eq!(abspath("x/../y", "/h"), "/h/y");
    }
}
