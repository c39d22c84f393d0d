//! The interactive shell: supervisorctl's `exec_cmdloop`. It runs `status` first, then
//! reads lines until EOF, `quit`/`exit`, or Ctrl-C (which ends the shell, as
//! KeyboardInterrupt does supervisorctl's). In a terminal, lines are edited with rustyline,
//! with supervisorctl's tab completion and a history kept in `history_file`; otherwise
//! the prompt is written to stdout and lines are read from stdin, as Python's `input()`
//! does.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use corral_proto::client::ClientOptions;
use corral_proto::{Client, ServerUrl, Value};
use rustyline::completion::{Completer, Pair};
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::{History, MemHistory, SearchDirection};
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

use crate::controller::{Controller, Input};
use crate::term::{ReadStop, SigintGuard};

/// Word separators for completion: readline's defaults less `:`, `*` and `-`, which
/// supervisorctl removes so that `group:*` and `web-1` complete as one word.
const DELIMS: &str = " \t\n`~!@#$%^&()=+[{]}\\|;'\",<>/?";

/// What the completer needs to ask the daemon for names, and its cached answer (dropped
/// after every command, as supervisorctl drops `_complete_info`).
#[derive(Default)]
pub struct CompletionSource {
    pub url: Option<ServerUrl>,
    pub creds: Option<(String, String)>,
    /// `(group, name)` of every process.
    cache: Option<Vec<(String, String)>>,
}

impl CompletionSource {
    pub fn reset(&mut self) {
        self.cache = None;
    }

    fn processes(&mut self) -> Vec<(String, String)> {
        if let Some(c) = &self.cache {
            return c.clone();
        }
        let Some(url) = self.url.clone() else {
            return Vec::new();
        };
        // Tab must not hang on a daemon that does not answer.
        let options = ClientOptions {
            connect_timeout: Some(Duration::from_secs(3)),
            read_timeout: Some(Duration::from_secs(5)),
            ..ClientOptions::default()
        };
        let mut client = Client::with_options(url, self.creds.clone(), options);
        let Ok(Value::Array(infos)) = client.call("supervisor.getAllProcessInfo", &[]) else {
            return Vec::new();
        };
        let names: Vec<(String, String)> = infos
            .iter()
            .filter_map(|i| {
                Some((
                    i.get("group")?.as_str()?.to_string(),
                    i.get("name")?.as_str()?.to_string(),
                ))
            })
            .collect();
        self.cache = Some(names.clone());
        names
    }
}

/// supervisorctl's `complete()`: the candidates (each with a trailing space) for the word
/// `text` in the whole `line`. `processes` is only called when names are needed.
pub fn candidates(
    text: &str,
    line: &str,
    processes: &mut dyn FnMut() -> Vec<(String, String)>,
) -> Vec<String> {
    let actions = || {
        let mut seen: Vec<String> = Vec::new();
        for a in crate::help::COMMANDS {
            let c = format!("{a} ");
            if a.starts_with(text) && !seen.contains(&c) {
                seen.push(c);
            }
        }
        seen
    };
    if corral_config::pystr::strip(line).is_empty() {
        return actions();
    }
    let words = crate::controller::split_args(line);
    let action = words[0].as_str();
    if words.len() == 1 && !line.ends_with(' ') {
        return actions();
    }
    // supervisorctl tests `action in ('help')`, a substring test on the string "help".
    if "help".contains(action) {
        return actions();
    }
    if ["add", "remove", "update"].contains(&action) {
        let mut groups: Vec<String> = Vec::new();
        for (g, _) in processes() {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        return groups
            .into_iter()
            .filter(|g| g.starts_with(text))
            .map(|g| format!("{g} "))
            .collect();
    }
    if [
        "clear", "fg", "pid", "restart", "signal", "start", "status", "stop", "tail",
    ]
    .contains(&action)
    {
        let mut names: Vec<String> = Vec::new();
        for (g, n) in processes() {
            if text.contains(':') || n != g {
                names.push(format!("{g}:{n}"));
                let star = format!("{g}:*");
                if !names.contains(&star) {
                    names.push(star);
                }
            } else {
                names.push(n);
            }
        }
        return names
            .into_iter()
            .filter(|n| n.starts_with(text))
            .map(|n| format!("{n} "))
            .collect();
    }
    Vec::new()
}

/// The rustyline helper: completion only.
pub struct CtlHelper {
    source: Rc<RefCell<CompletionSource>>,
}

impl Completer for CtlHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = line[..pos]
            .rfind(|c: char| DELIMS.contains(c))
            .map_or(0, |i| {
                i + line[i..].chars().next().map_or(1, char::len_utf8)
            });
        let text = &line[start..pos];
        let mut source = self.source.borrow_mut();
        let found = candidates(text, line, &mut || source.processes());
        Ok((
            start,
            found
                .into_iter()
                .map(|c| Pair {
                    display: c.trim_end().to_string(),
                    replacement: c,
                })
                .collect(),
        ))
    }
}

impl Hinter for CtlHelper {
    type Hint = String;
}
impl Highlighter for CtlHelper {}
impl Validator for CtlHelper {}
impl Helper for CtlHelper {}

/// A line editor for the terminal.
pub struct LineEditor {
    editor: Editor<CtlHelper, MemHistory>,
    pub source: Rc<RefCell<CompletionSource>>,
}

impl LineEditor {
    pub fn new() -> Option<LineEditor> {
        let config = Config::builder()
            .completion_type(CompletionType::List)
            .auto_add_history(true)
            .history_ignore_dups(true)
            .ok()?
            .build();
        let mut editor = Editor::with_history(config, MemHistory::new()).ok()?;
        let source = Rc::new(RefCell::new(CompletionSource::default()));
        editor.set_helper(Some(CtlHelper {
            source: Rc::clone(&source),
        }));
        Some(LineEditor { editor, source })
    }

    /// One line; Ctrl-C and Ctrl-D come back as [`ReadStop`].
    pub fn read(&mut self, prompt: &str) -> Result<String, ReadStop> {
        match self.editor.readline(prompt) {
            Ok(line) => Ok(line),
            Err(ReadlineError::Interrupted) => Err(ReadStop::Interrupted),
            Err(_) => Err(ReadStop::Eof),
        }
    }

    /// Reads a history file as GNU readline writes it (one entry per line); a missing or
    /// unreadable file is no history, as in supervisorctl.
    pub fn load_history(&mut self, path: &str) {
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        for (i, line) in text.lines().enumerate() {
            // libedit's header, in files written by a Python linked against it.
            if i == 0 && line == "_HiStOrY_V2_" {
                continue;
            }
            if !line.is_empty() {
                let _ = self.editor.history_mut().add(line);
            }
        }
    }

    /// Writes the history as GNU readline does, so supervisorctl and corralctl can share
    /// a file. Failure is ignored, as supervisorctl ignores it.
    pub fn save_history(&self, path: &str) {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut text = String::new();
        let history = self.editor.history();
        for i in 0..history.len() {
            if let Ok(Some(found)) = history.get(i, SearchDirection::Forward) {
                text.push_str(&found.entry);
                text.push('\n');
            }
        }
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
        {
            let _ = f.write_all(text.as_bytes());
        }
    }
}

/// `exec_cmdloop`. Returns the exit status, which supervisorctl always makes 0 here.
pub fn run(ctl: &mut Controller) -> i32 {
    let _guard = SigintGuard::install();
    let history = ctl.opts.history_file.clone();
    if let (Input::Editor(ed), Some(path)) = (&mut ctl.input, &history) {
        ed.load_history(path);
    }
    let mut queue = vec!["status".to_string()];
    loop {
        let line = match queue.pop() {
            Some(l) => l,
            None => {
                let prompt = format!("{}> ", ctl.opts.prompt);
                let url = ServerUrl::parse(&ctl.opts.serverurl).ok();
                let creds = ctl.opts.username.clone().zip(ctl.opts.password.clone());
                if let Input::Editor(ed) = &mut ctl.input {
                    let mut s = ed.source.borrow_mut();
                    s.url = url;
                    s.creds = creds;
                }
                match ctl.raw_input(&prompt) {
                    Ok(l) => l,
                    Err(crate::error::CtlError::Interrupted) => {
                        ctl.output("");
                        break;
                    }
                    Err(_) => "EOF".to_string(),
                }
            }
        };
        ctl.command_ran = false;
        let outcome = ctl.onecmd(&line);
        if ctl.command_ran {
            if let Input::Editor(ed) = &mut ctl.input {
                ed.source.borrow_mut().reset();
            }
        }
        match outcome {
            Ok(true) => break,
            Ok(false) => {}
            Err(_) => {
                ctl.output("");
                break;
            }
        }
    }
    if let (Input::Editor(ed), Some(path)) = (&ctl.input, &history) {
        ed.save_history(path);
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn procs() -> Vec<(String, String)> {
        [("cat", "cat"), ("web", "web_0"), ("web", "web_1")]
            .iter()
            .map(|(g, n)| (g.to_string(), n.to_string()))
            .collect()
    }

    fn complete(text: &str, line: &str) -> Vec<String> {
        candidates(text, line, &mut procs)
    }

    #[test]
    fn commands_complete_first() {
        assert_eq!(complete("st", "st"), ["start ", "status ", "stop "]);
        assert_eq!(complete("", "").len(), crate::help::COMMANDS.len());
        assert_eq!(complete("he", "help he"), ["help "]);
        // supervisorctl's substring test: "el" is "in" "help".
        assert_eq!(complete("q", "el q"), ["quit "]);
    }

    #[test]
    fn process_and_group_names() {
        assert_eq!(
            complete("", "start "),
            ["cat ", "web:web_0 ", "web:* ", "web:web_1 "]
        );
        assert_eq!(
            complete("w", "stop w"),
            ["web:web_0 ", "web:* ", "web:web_1 "]
        );
        assert_eq!(complete("cat:", "tail cat:"), ["cat:cat ", "cat:* "]);
        assert_eq!(complete("", "update "), ["cat ", "web "]);
        assert!(complete("", "version ").is_empty());
    }
}
