//! Signal names and numbers as supervisord (Python's `signal` module on this platform)
//! knows them.

/// `(name, number)` of every `signal.SIG*` attribute Python defines on this platform, in the
/// order that makes [`name`] agree with supervisord's `signame` when names share a number
/// (the later one wins, as in supervisord's table: `SIGABRT` over `SIGIOT`, `SIGCHLD` over
/// `SIGCLD`, `SIGPOLL` over `SIGIO`).
fn table() -> Vec<(&'static str, i32)> {
    let mut t = vec![
        ("SIGHUP", libc::SIGHUP),
        ("SIGINT", libc::SIGINT),
        ("SIGQUIT", libc::SIGQUIT),
        ("SIGILL", libc::SIGILL),
        ("SIGTRAP", libc::SIGTRAP),
        ("SIGIOT", libc::SIGIOT),
        ("SIGABRT", libc::SIGABRT),
        ("SIGBUS", libc::SIGBUS),
        ("SIGFPE", libc::SIGFPE),
        ("SIGKILL", libc::SIGKILL),
        ("SIGUSR1", libc::SIGUSR1),
        ("SIGSEGV", libc::SIGSEGV),
        ("SIGUSR2", libc::SIGUSR2),
        ("SIGPIPE", libc::SIGPIPE),
        ("SIGALRM", libc::SIGALRM),
        ("SIGTERM", libc::SIGTERM),
        ("SIGCHLD", libc::SIGCHLD),
        ("SIGCONT", libc::SIGCONT),
        ("SIGSTOP", libc::SIGSTOP),
        ("SIGTSTP", libc::SIGTSTP),
        ("SIGTTIN", libc::SIGTTIN),
        ("SIGTTOU", libc::SIGTTOU),
        ("SIGURG", libc::SIGURG),
        ("SIGXCPU", libc::SIGXCPU),
        ("SIGXFSZ", libc::SIGXFSZ),
        ("SIGVTALRM", libc::SIGVTALRM),
        ("SIGPROF", libc::SIGPROF),
        ("SIGWINCH", libc::SIGWINCH),
        ("SIGIO", libc::SIGIO),
        ("SIGSYS", libc::SIGSYS),
    ];
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        t.push(("SIGCLD", libc::SIGCHLD));
        t.push(("SIGCHLD", libc::SIGCHLD));
        t.push(("SIGPOLL", libc::SIGPOLL));
        t.push(("SIGPWR", libc::SIGPWR));
        t.push(("SIGSTKFLT", libc::SIGSTKFLT));
        t.push(("SIGRTMIN", libc::SIGRTMIN()));
        t.push(("SIGRTMAX", libc::SIGRTMAX()));
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        t.push(("SIGEMT", libc::SIGEMT));
        t.push(("SIGINFO", libc::SIGINFO));
    }
    t
}

/// `getattr(signal, name)` for the names `signal_number` builds (`SIG` + upper-cased): the
/// signals, plus the `SIG_DFL`/`SIG_IGN`/`SIG_BLOCK`/`SIG_UNBLOCK`/`SIG_SETMASK` constants
/// Python also exposes under that prefix.
pub(crate) fn python_signal_attr(name: &str) -> Option<i32> {
    match name {
        "SIG_DFL" | "SIG_BLOCK" => return Some(0),
        "SIG_IGN" | "SIG_UNBLOCK" => return Some(1),
        "SIG_SETMASK" => return Some(2),
        _ => {}
    }
    table()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// supervisord's `SIGNUMS`: the values of every `signal.SIG*` attribute (0, 1 and 2 come
/// from the `SIG_*` constants).
pub(crate) fn python_signums() -> Vec<i32> {
    let mut v: Vec<i32> = table().into_iter().map(|(_, n)| n).collect();
    v.extend([0, 1, 2]);
    v
}

/// `"TERM"`, `"SIGTERM"`, `"15"` (case-insensitive, surrounding blanks ignored) → 15, as
/// supervisord's `signal_number`; `None` when supervisord would refuse it.
pub fn number(name_or_number: &str) -> Option<i32> {
    crate::datatypes::signal_number(name_or_number).ok()
}

/// supervisord's `signame`: `"SIGTERM"`, or `"signal 99"` for a number without a name.
pub fn name(sig: i32) -> String {
    table()
        .into_iter()
        .rev()
        .find(|(_, n)| *n == sig)
        .map_or_else(|| format!("signal {sig}"), |(n, _)| n.to_string())
}

/// The name Python's `signal.Signals(sig).name` gives (what the conformance view prints,
/// without `SIG`): canonical names (`IO`, not `POLL`), or the number.
pub fn view_name(sig: i32) -> String {
    let canonical = match name(sig).as_str() {
        "SIGPOLL" => "SIGIO".to_string(),
        n => n.to_string(),
    };
    match canonical.strip_prefix("SIG") {
        Some(rest) => rest.to_string(),
        None => sig.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(number("TERM"), Some(libc::SIGTERM));
        assert_eq!(number("sigterm"), Some(libc::SIGTERM));
        assert_eq!(number("15"), Some(15));
        assert_eq!(number("FOO"), None);
        assert_eq!(number("_dfl"), Some(0));
        assert_eq!(name(libc::SIGTERM), "SIGTERM");
        assert_eq!(name(libc::SIGABRT), "SIGABRT");
        assert_eq!(name(99), "signal 99");
        assert_eq!(view_name(libc::SIGQUIT), "QUIT");
        assert_eq!(view_name(0), "0");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_aliases_like_supervisord() {
        assert_eq!(name(29), "SIGPOLL");
        assert_eq!(view_name(29), "IO");
        assert_eq!(name(17), "SIGCHLD");
        assert_eq!(name(34), "SIGRTMIN");
        assert_eq!(number("40"), None);
    }
}
