//! supervisorctl's help: the `help_*` texts word for word, and the topic list `help`
//! prints (Python's `cmd.Cmd.print_topics`/`columnize`).

/// Every command the default plugin has (`do_*`), sorted as `dir()` sorts them; these are
/// also the words tab completion offers for a command.
pub const COMMANDS: [&str; 22] = [
    "add", "avail", "clear", "exit", "fg", "help", "maintail", "open", "pid", "quit", "reload",
    "remove", "reread", "restart", "shutdown", "signal", "start", "status", "stop", "tail",
    "update", "version",
];

/// corral's own commands (corrald only): not in `help`'s list (which stays
/// supervisorctl's), but `help <command>` explains each.
pub const CORRAL_COMMANDS: [&str; 4] = ["deps", "health", "scale", "upgrade"];

/// `help <topic>` for each documented command; `None` for anything else (supervisorctl
/// then prints `*** No help on <topic>`).
pub fn topic(name: &str) -> Option<&'static str> {
    Some(match name {
        "upgrade" => crate::upgrade::HELP,
        "scale" => crate::orchestration::HELP_SCALE,
        "deps" => crate::orchestration::HELP_DEPS,
        "tail" => {
            "tail [-f] <name> [stdout|stderr] (default stdout)\n\
             Ex:\n\
             tail -f <name>\t\tContinuous tail of named process stdout\n\
             \t\t\tCtrl-C to exit.\n\
             tail -100 <name>\tlast 100 *bytes* of process stdout\n\
             tail <name> stderr\tlast 1600 *bytes* of process stderr"
        }
        "maintail" => {
            "maintail -f \tContinuous tail of supervisor main log file (Ctrl-C to exit)\n\
             maintail -100\tlast 100 *bytes* of supervisord main log file\n\
             maintail\tlast 1600 *bytes* of supervisor main log file\n"
        }
        "quit" => "quit\tExit the supervisor shell.",
        "exit" => "exit\tExit the supervisor shell.",
        "status" => {
            "status <name>\t\tGet status for a single process\n\
             status <gname>:*\tGet status for all processes in a group\n\
             status <name> <name>\tGet status for multiple named processes\n\
             status\t\t\tGet all process status info"
        }
        "pid" => {
            "pid\t\t\tGet the PID of supervisord.\n\
             pid <name>\t\tGet the PID of a single child process by name.\n\
             pid all\t\t\tGet the PID of every child process, one per line."
        }
        "start" => {
            "start <name>\t\tStart a process\n\
             start <gname>:*\t\tStart all processes in a group\n\
             start <name> <name>\tStart multiple processes or groups\n\
             start all\t\tStart all processes"
        }
        "stop" => {
            "stop <name>\t\tStop a process\n\
             stop <gname>:*\t\tStop all processes in a group\n\
             stop <name> <name>\tStop multiple processes or groups\n\
             stop all\t\tStop all processes"
        }
        "signal" => {
            "signal <signal name> <name>\t\tSignal a process\n\
             signal <signal name> <gname>:*\t\tSignal all processes in a group\n\
             signal <signal name> <name> <name>\tSignal multiple processes or groups\n\
             signal <signal name> all\t\tSignal all processes"
        }
        "restart" => {
            "restart <name>\t\tRestart a process\n\
             restart <gname>:*\tRestart all processes in a group\n\
             restart <name> <name>\tRestart multiple processes or groups\n\
             restart all\t\tRestart all processes\n\
             Note: restart does not reread config files. For that, see reread and update."
        }
        "shutdown" => "shutdown \tShut the remote supervisord down.",
        "reload" => "reload \t\tRestart the remote supervisord.",
        "avail" => "avail\t\t\tDisplay all configured processes",
        "reread" => "reread \t\t\tReload the daemon's configuration files without add/remove",
        "add" => "add <name> [...]\tActivates any updates in config for process/group",
        "remove" => "remove <name> [...]\tRemoves process/group from active config",
        "update" => {
            "update\t\t\tReload config and add/remove as necessary, and will restart affected programs\n\
             update all\t\tReload config and add/remove as necessary, and will restart affected programs\n\
             update <gname> [...]\tUpdate specific groups"
        }
        "clear" => {
            "clear <name>\t\tClear a process' log files.\n\
             clear <name> <name>\tClear multiple process' log files\n\
             clear all\t\tClear all process' log files"
        }
        "open" => {
            "open <url>\tConnect to a remote supervisord process.\n\
             \t\t(for UNIX domain socket, use unix:///socket/path)"
        }
        "version" => "version\t\t\tShow the version of the remote supervisord process",
        "fg" => "fg <process>\tConnect to a process in foreground mode\n\t\tCtrl-C to exit",
        "health" => crate::health::HELP,
        _ => return None,
    })
}

/// `help help`.
pub const HELP_HELP: &str =
    "help\t\tPrint a list of available actions\nhelp <action>\tPrint help for <action>";

/// What `help` without a topic prints: an empty line, the header, a ruler, the documented
/// commands in columns for an 80-column screen, and an empty line.
pub fn topics() -> String {
    let header = "default commands (type help <topic>):";
    let documented: Vec<&str> = COMMANDS
        .iter()
        .copied()
        .filter(|c| topic(c).is_some())
        .collect();
    let mut out = String::from("\n");
    out.push_str(header);
    out.push('\n');
    out.push_str(&"=".repeat(header.chars().count()));
    out.push('\n');
    out.push_str(&columnize(&documented, 79));
    out.push('\n');
    out
}

/// Python's `cmd.Cmd.columnize`: the fewest rows whose columns (two spaces apart) fit in
/// `width`, filled column by column; each line ends after its last non-empty cell.
pub fn columnize(items: &[&str], width: usize) -> String {
    if items.is_empty() {
        return "<empty>\n".into();
    }
    if items.len() == 1 {
        return format!("{}\n", items[0]);
    }
    let size = items.len();
    let len = |s: &str| s.chars().count();
    let mut layout = None;
    for nrows in 1..size {
        let ncols = size.div_ceil(nrows);
        let mut widths = Vec::new();
        let mut total: isize = -2;
        for col in 0..ncols {
            let w = (0..nrows)
                .map(|row| row + nrows * col)
                .take_while(|&i| i < size)
                .map(|i| len(items[i]))
                .max()
                .unwrap_or(0);
            widths.push(w);
            total += w as isize + 2;
            if total > width as isize {
                break;
            }
        }
        if total <= width as isize {
            layout = Some((nrows, ncols, widths));
            break;
        }
    }
    let (nrows, ncols, widths) = layout.unwrap_or((size, 1, vec![0]));
    let mut out = String::new();
    for row in 0..nrows {
        let mut texts: Vec<&str> = (0..ncols)
            .map(|col| items.get(row + nrows * col).copied().unwrap_or(""))
            .collect();
        while texts.last() == Some(&"") {
            texts.pop();
        }
        let cells: Vec<String> = texts
            .iter()
            .enumerate()
            .map(|(col, t)| format!("{t:<w$}", w = widths[col]))
            .collect();
        out.push_str(&cells.join("  "));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_list_is_supervisorctls() {
        let expected = "\n\
default commands (type help <topic>):\n\
=====================================\n\
add    exit      open  reload  restart   start   tail   \n\
avail  fg        pid   remove  shutdown  status  update \n\
clear  maintail  quit  reread  signal    stop    version\n\
\n";
        assert_eq!(topics(), expected);
    }

    #[test]
    fn columnize_like_cmd() {
        assert_eq!(columnize(&[], 10), "<empty>\n");
        assert_eq!(columnize(&["one"], 10), "one\n");
        assert_eq!(columnize(&["a", "b", "c"], 80), "a  b  c\n");
        assert_eq!(
            columnize(&["aaaa", "bbbb", "cccc"], 10),
            "aaaa  cccc\nbbbb\n"
        );
        assert_eq!(columnize(&["aaaaaaaaaaaa", "b"], 5), "aaaaaaaaaaaa\nb\n");
    }

    #[test]
    fn help_texts() {
        assert_eq!(topic("quit"), Some("quit\tExit the supervisor shell."));
        assert!(topic("help").is_none());
        assert!(topic("EOF").is_none());
        assert!(
            topic("tail")
                .unwrap()
                .ends_with("last 1600 *bytes* of process stderr")
        );
        assert!(topic("maintail").unwrap().ends_with("main log file\n"));
    }
}
