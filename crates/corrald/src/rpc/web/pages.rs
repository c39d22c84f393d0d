//! The status page (StatusView) and the tail page (TailView), rendered as supervisord
//! writes them: its meld3 templates (`ui/status.html`, `ui/tail.html`) as meld serializes
//! them (attributes in lexical order, `meld:id`s and namespace declarations dropped,
//! repeated elements separated by the template element's trailing whitespace), with meld's
//! escaping.
//!
//! The markup is in `templates/`: each page, and each fragment that repeats or varies, as
//! meld writes it, with `{{name}}` where a value goes. The trailing whitespace of a
//! fragment (a row and the indentation of the next one) is part of the fragment, as meld
//! repeats it with the element.

use corral_proto::api::{self, Fault, ProcessState, make_namespec};
use corral_proto::localtime::LocalTime;

use super::escape::{meld_attr, meld_text, quote};
use crate::rpc::error::RpcError;
use crate::rpc::supervisor::logs::read_bytes;
use crate::rpc::supervisor::lookup::{check_running, existing_file, process_log};
use crate::rpc::supervisor::process::process_info;
use crate::supervisor::Supervisor;

const STATUS: &str = include_str!("templates/status.html");
const STATUS_TABLE: &str = include_str!("templates/status_table.html");
const STATUS_ROW: &str = include_str!("templates/status_row.html");
const STATUS_ACTION: &str = include_str!("templates/status_action.html");
const ACTION: &str = include_str!("templates/action.html");
const ACTION_LOG: &str = include_str!("templates/action_log.html");
const ACTION_HIDDEN: &str = include_str!("templates/action_hidden.html");
const TAIL: &str = include_str!("templates/tail.html");
const TAIL_REFRESH: &str = include_str!("templates/tail_refresh.html");

/// `template` with each `{{name}}` replaced by its value in `values` (already escaped, and
/// not scanned again). The template file's final newline is not part of it: files end
/// with one, supervisord's pages and fragments do not.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut rest = template.strip_suffix('\n').unwrap_or(template);
    let extra: usize = values.iter().map(|(_, v)| v.len()).sum();
    let mut out = String::with_capacity(rest.len() + extra);
    while let Some(open) = rest.find("{{") {
        let Some(len) = rest[open + 2..].find("}}") else {
            break;
        };
        let name = &rest[open + 2..open + 2 + len];
        out.push_str(&rest[..open]);
        match values.iter().find(|(n, _)| *n == name) {
            Some((_, value)) => out.push_str(value),
            None => {
                debug_assert!(false, "no value for {{{{{name}}}}}");
                out.push_str(&rest[open..open + len + 4]);
            }
        }
        rest = &rest[open + len + 4..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------
// The status page

/// One process as its row shows it.
struct Row {
    namespec: String,
    state: ProcessState,
    description: String,
}

/// StatusView.render: the processes sorted by (group, name), each with its state, its
/// description, a link to its tail page and its actions; `message` above them.
pub(super) fn status(sup: &Supervisor, message: Option<&str>) -> Result<String, RpcError> {
    let mut procs: Vec<_> = sup.groups().into_iter().flat_map(|g| g.processes).collect();
    procs.sort_by(|a, b| (a.group(), a.name()).cmp(&(b.group(), b.name())));
    // Each row is a getProcessInfo call, which fails once shutdown began.
    if !procs.is_empty() {
        check_running(sup)?;
    }
    let rows: Vec<Row> = procs
        .iter()
        .map(|p| {
            let info = process_info(p);
            Row {
                namespec: make_namespec(p.group(), p.name()),
                state: info.state,
                description: info.description,
            }
        })
        .collect();
    Ok(status_page(&rows, message, LocalTime::now().year))
}

fn status_page(rows: &[Row], message: Option<&str>, year: i64) -> String {
    let (message_class, message) = match message {
        Some(m) => ("status_msg", meld_text(m)),
        None => ("hidden", "#".to_string()),
    };
    let table = if rows.is_empty() {
        // meld replaces the table, and the whitespace after it, with this text.
        "No programs to manage".to_string()
    } else {
        let rows: String = rows
            .iter()
            .enumerate()
            .map(|(i, row)| status_row(row, i % 2 == 1))
            .collect();
        fill(STATUS_TABLE, &[("rows", &rows)])
    };
    fill(
        STATUS,
        &[
            ("message_class", message_class),
            ("message", &message),
            ("table", &table),
            ("version", api::SUPERVISOR_VERSION),
            ("year", &year.to_string()),
        ],
    )
}

fn status_row(row: &Row, shaded: bool) -> String {
    let quoted = quote(&row.namespec);
    let actions: String = actions(&quoted, row.state)
        .iter()
        .map(|action| {
            let anchor = match action {
                None => fill(ACTION_HIDDEN, &[]),
                Some(a) => fill(
                    if a.log { ACTION_LOG } else { ACTION },
                    &[
                        ("href", &meld_attr(&a.href)),
                        ("name", &meld_attr(a.label)),
                        ("label", &meld_text(a.label)),
                    ],
                ),
            };
            fill(STATUS_ACTION, &[("anchor", &anchor)])
        })
        .collect();
    fill(
        STATUS_ROW,
        &[
            ("shade", if shaded { "shade" } else { "" }),
            ("state_class", state_class(row.state)),
            ("state", &row.state.name().to_lowercase()),
            ("description", &meld_text(&row.description)),
            (
                "tail_href",
                &meld_attr(&format!("tail.html?processname={quoted}")),
            ),
            ("namespec", &meld_text(&row.namespec)),
            ("actions", &actions),
        ],
    )
}

/// One link in a row's action list.
struct Action {
    label: &'static str,
    href: String,
    /// A log tail, opened in a new window.
    log: bool,
}

/// The actions each state offers (StatusView.actions_for_process), `None` for a hidden slot.
fn actions(namespec_quoted: &str, state: ProcessState) -> [Option<Action>; 5] {
    let action = |label: &'static str, what: &str| {
        Some(Action {
            label,
            href: format!("index.html?processname={namespec_quoted}&amp;action={what}"),
            log: false,
        })
    };
    let clearlog = action("Clear Log", "clearlog");
    let stdout = Some(Action {
        label: "Tail -f Stdout",
        href: format!("logtail/{namespec_quoted}"),
        log: true,
    });
    let stderr = Some(Action {
        label: "Tail -f Stderr",
        href: format!("logtail/{namespec_quoted}/stderr"),
        log: true,
    });
    match state {
        ProcessState::Running => [
            action("Restart", "restart"),
            action("Stop", "stop"),
            clearlog,
            stdout,
            stderr,
        ],
        ProcessState::Stopped | ProcessState::Exited | ProcessState::Fatal => {
            [action("Start", "start"), None, clearlog, stdout, stderr]
        }
        _ => [None, None, clearlog, stdout, stderr],
    }
}

fn state_class(state: ProcessState) -> &'static str {
    match state {
        ProcessState::Running => "statusrunning",
        ProcessState::Fatal | ProcessState::Backoff => "statuserror",
        _ => "statusnominal",
    }
}

// ---------------------------------------------------------------------------------------
// The tail page

/// TailView: the last `limit` (at least 1024) bytes of the stdout log of `processname`.
pub(super) fn tail(sup: &Supervisor, processname: Option<&str>, limit: Option<&str>) -> String {
    let name = processname.filter(|n| !n.is_empty());
    let Some(name) = name else {
        return tail_page(None, "No process name found", None);
    };
    let (bytes, limit) = tail_limit(limit.unwrap_or("1024"));
    let text = match read_stdout_tail(sup, name, bytes) {
        Ok(t) => t,
        Err(e) if e.code == Fault::NoFile.code() => format!("No file for {name}"),
        Err(e) => format!("ERROR: unexpected rpc fault [{}] {}", e.code, e.text),
    };
    let href = format!(
        "tail.html?processname={}&limit={}",
        quote(name),
        quote(&limit)
    );
    tail_page(Some(name), &text, Some(&href))
}

fn tail_page(name: Option<&str>, text: &str, refresh_href: Option<&str>) -> String {
    let refresh = refresh_href.map_or(String::new(), |href| {
        fill(TAIL_REFRESH, &[("href", &meld_attr(href))])
    });
    fill(
        TAIL,
        &[
            ("name", &meld_text(name.unwrap_or("None"))),
            ("text", &meld_text(text)),
            ("refresh", &refresh),
        ],
    )
}

/// TailView's `limit`: `min(-1024, -int(limit))` when it is all digits, else -1024; as
/// (bytes to read, the number the refresh link repeats).
fn tail_limit(text: &str) -> (u64, String) {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return (1024, "1024".to_string());
    }
    let digits = text.trim_start_matches('0');
    // More digits than a u64 holds: more bytes than any file has.
    let n = if digits.is_empty() {
        0
    } else {
        digits.parse::<u64>().unwrap_or(u64::MAX)
    };
    if n <= 1024 {
        (1024, "1024".to_string())
    } else {
        (n, digits.to_string())
    }
}

/// `readProcessStdoutLog(name, -bytes, 0)` as TailView calls it, with the same faults, but
/// the text as the log holds it: XML-RPC must replace the characters XML forbids (ESC of
/// coloured output…), an HTML page shows them as supervisord does. Invalid UTF-8, and a
/// slice starting inside a character, become U+FFFD (supervisord fails with a 500).
fn read_stdout_tail(sup: &Supervisor, name: &str, bytes: u64) -> Result<String, RpcError> {
    check_running(sup)?;
    let path = existing_file(process_log(sup, name, false)?)?;
    // A `limit` past i64::MAX (many digits) reads the whole file either way.
    let offset = -i64::try_from(bytes).unwrap_or(i64::MAX);
    let data = read_bytes(&path, offset, 0)?;
    Ok(String::from_utf8_lossy(&data).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every placeholder of every template is filled, and the pages end where supervisord's
    /// do. (Their bytes are compared with supervisord's own in tests/test_web_ui.py.)
    #[test]
    fn pages_fill_every_placeholder() {
        let rows: Vec<Row> = ProcessState::ALL
            .iter()
            .map(|&state| Row {
                namespec: "grp:a&b".to_string(),
                state,
                description: "x<y".to_string(),
            })
            .collect();
        let pages = [
            status_page(&rows, Some("m"), 2026),
            status_page(&[], None, 2026),
            tail_page(
                Some("p"),
                "text",
                Some("tail.html?processname=p&limit=1024"),
            ),
            tail_page(None, "No process name found", None),
        ];
        for page in &pages {
            assert!(!page.contains("{{") && !page.contains("}}"), "{page}");
            assert!(page.starts_with("<!DOCTYPE html PUBLIC"), "{page}");
            assert!(page.ends_with("</body>\n</html>"), "{page}");
        }
        let status = &pages[0];
        assert_eq!(status.matches("<tr class=").count(), rows.len());
        assert_eq!(status.matches("<li>").count(), rows.len() * 5);
        assert!(status.contains("grp%3Aa%26b") && status.contains("x&lt;y"));
        assert!(pages[1].contains("No programs to manage</form>"));
    }

    #[test]
    fn tail_limits() {
        assert_eq!(tail_limit("5000"), (5000, "5000".into()));
        assert_eq!(tail_limit("005000"), (5000, "5000".into()));
        assert_eq!(tail_limit("100"), (1024, "1024".into()));
        assert_eq!(tail_limit("000"), (1024, "1024".into()));
        assert_eq!(tail_limit("-5000"), (1024, "1024".into()));
        assert_eq!(
            tail_limit("99999999999999999999999"),
            (u64::MAX, "99999999999999999999999".into())
        );
    }
}
