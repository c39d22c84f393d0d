//! supervisorctl's `Controller`: one command line at a time (`onecmd`), the exit status,
//! the connection to the daemon, `upcheck`, and where output goes (text, or one JSON
//! document per command with `--json`).

use std::io::{IsTerminal, Write};

use corral_proto::api::{API_VERSION, Fault};
use corral_proto::{Client, ClientError, ServerUrl, Value};
use serde_json::json;

use crate::error::CtlError;
use crate::options::{Options, UrlSource};
use crate::term::{self, FdLines, ReadStop};

/// `LSBInitExitStatuses`.
pub mod exit {
    pub const SUCCESS: i32 = 0;
    pub const GENERIC: i32 = 1;
    pub const INVALID_ARGS: i32 = 2;
    pub const UNIMPLEMENTED_FEATURE: i32 = 3;
    pub const INSUFFICIENT_PRIVILEGES: i32 = 4;
    pub const NOT_INSTALLED: i32 = 5;
    pub const NOT_RUNNING: i32 = 7;
    /// `LSBStatusExitStatuses`, used by `status` only.
    pub const STATUS_NOT_RUNNING: i32 = 3;
    pub const STATUS_UNKNOWN: i32 = 4;
}

/// The commands whose results `--json` prints as JSON.
pub const JSON_COMMANDS: [&str; 13] = [
    "status", "pid", "avail", "reread", "update", "start", "stop", "restart", "signal", "version",
    "health", "scale", "deps",
];

/// Ctrl-C reached a place where supervisorctl does not catch KeyboardInterrupt.
#[derive(Debug)]
pub struct Interrupt;

/// Where `input()` reads from: a line editor in an interactive terminal, else stdin.
pub enum Input {
    Plain(FdLines),
    Editor(Box<crate::shell::LineEditor>),
}

/// The JSON document being built for the current command.
struct JsonDoc {
    command: String,
    results: Vec<serde_json::Value>,
    errors: Vec<serde_json::Value>,
}

pub struct Controller {
    pub opts: Options,
    pub exitstatus: i32,
    pub input: Input,
    client: Option<(ClientKey, Client)>,
    json: Option<JsonDoc>,
    colour: bool,
    /// Set by every command; the shell's completer drops its cached process list.
    pub command_ran: bool,
    /// corral: where output goes instead of stdout (a server's part of a command run on
    /// several servers, see `fleet.rs`).
    pub(crate) capture: Option<Vec<u8>>,
    /// corral: one controller per server when there are several.
    pub(crate) fleet: Vec<crate::fleet::Member>,
}

#[derive(PartialEq, Eq, Clone)]
struct ClientKey {
    url: String,
    username: Option<String>,
    password: Option<String>,
}

/// Python's `cmd.Cmd.parseline`: `(command, argument, line)`; `command` is `None` for a
/// `!` line, and may be empty when the line does not start with a word character.
pub fn parseline(line: &str) -> (Option<String>, String, String) {
    let mut line = corral_config::pystr::strip(line).to_string();
    if line.is_empty() {
        return (None, String::new(), line);
    }
    if let Some(rest) = line.strip_prefix('?') {
        line = format!("help {rest}");
    } else if line.starts_with('!') {
        return (None, String::new(), line);
    }
    let end = line
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(line.len());
    let cmd = line[..end].to_string();
    let arg = corral_config::pystr::strip(&line[end..]).to_string();
    (Some(cmd), arg, line)
}

/// Python's `str.split()`.
pub fn split_args(arg: &str) -> Vec<String> {
    arg.split(corral_config::pystr::is_space)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// Whether `NO_COLOR` asks for no colour (set and not empty, per no-color.org).
fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

impl Controller {
    pub fn new(opts: Options, input: Input) -> Controller {
        let colour = !opts.json && std::io::stdout().is_terminal() && !no_color_requested();
        let fleet = crate::fleet::members(&opts);
        Controller {
            opts,
            exitstatus: exit::SUCCESS,
            input,
            client: None,
            json: None,
            colour,
            command_ran: false,
            capture: None,
            fleet,
        }
    }

    /// Text for stdout (or the capture of a server's part of a fleet command).
    pub(crate) fn write_out(&mut self, bytes: &[u8]) {
        match &mut self.capture {
            Some(buf) => buf.extend_from_slice(bytes),
            None => write_stdout(bytes),
        }
    }

    pub fn colour(&self) -> bool {
        self.colour
    }

    // ---- output ----

    /// `ctl.output(message)`: a line on stdout; with `--json`, an entry in the current
    /// document's `errors` (every line a JSON command prints as text is a message about
    /// a failure or a usage).
    pub fn output(&mut self, message: &str) {
        if let Some(doc) = &mut self.json {
            doc.errors.push(json!({ "message": message }));
            return;
        }
        self.write_out(format!("{message}\n").as_bytes());
    }

    /// A line that is a result: printed as text, or `item` in the JSON document.
    pub fn result(&mut self, text: &str, item: serde_json::Value) {
        match &mut self.json {
            Some(doc) => doc.results.push(item),
            None => self.write_out(format!("{text}\n").as_bytes()),
        }
    }

    /// A line that only makes sense as text (`No config updates to processes`).
    pub fn text_only(&mut self, text: &str) {
        if self.json.is_none() {
            self.write_out(format!("{text}\n").as_bytes());
        }
    }

    /// corral's own explanation after a supervisorctl message, on stderr so that stdout
    /// stays what supervisorctl prints.
    pub fn hint(&mut self, text: &str) {
        eprintln!("corralctl: {text}");
    }

    /// A usage mistake: the message, the exit status, then the command's help.
    pub fn usage_error(&mut self, message: &str, status: i32, topic: &str) {
        self.output(message);
        self.exitstatus = status;
        if let Some(text) = crate::help::topic(topic) {
            self.output(text);
        }
    }

    /// supervisorctl's `except xmlrpclib.Fault as e: self.ctl.exitstatus = GENERIC; if
    /// e.faultCode == ...: self.ctl.output(...) else: raise`. For a fault: exit status 1,
    /// then the line `line_for` gives for it (from its fault and text), or the fault raised
    /// again when it gives none. Any other error is raised as it is.
    pub fn fault_line(
        &mut self,
        e: CtlError,
        line_for: impl FnOnce(Option<Fault>, &str) -> Option<String>,
    ) -> Result<(), CtlError> {
        let Some((code, text)) = e.fault() else {
            return Err(e);
        };
        self.exitstatus = exit::GENERIC;
        match line_for(Fault::from_code(code), text) {
            Some(line) => {
                self.output(&line);
                Ok(())
            }
            None => Err(e),
        }
    }

    // ---- the connection ----

    /// The client for the current server URL and credentials (a new one when `open` or
    /// an authentication prompt changed them).
    #[track_caller]
    pub fn client(&mut self) -> Result<&mut Client, CtlError> {
        let key = ClientKey {
            url: self.opts.serverurl.clone(),
            username: self.opts.username.clone(),
            password: self.opts.password.clone(),
        };
        if self.client.as_ref().is_none_or(|(k, _)| *k != key) {
            let url = parse_serverurl(&key.url)?;
            let creds = key.username.clone().zip(key.password.clone());
            self.client = Some((key, Client::new(url, creds)));
        }
        Ok(&mut self.client.as_mut().expect("set above").1)
    }

    /// One XML-RPC call. Ctrl-C while waiting (possible only where a SIGINT handler is
    /// installed) becomes [`CtlError::Interrupted`].
    #[track_caller]
    pub fn call(&mut self, method: &str, params: &[Value]) -> Result<Value, CtlError> {
        if term::interrupted() {
            return Err(CtlError::Interrupted);
        }
        let at = std::panic::Location::caller();
        let result = self.client()?.call(method, params);
        match result {
            Ok(v) => Ok(v),
            Err(ClientError::Io(e))
                if e.kind() == std::io::ErrorKind::Interrupted && term::interrupted() =>
            {
                Err(CtlError::Interrupted)
            }
            Err(error) => Err(CtlError::Client { error, at }),
        }
    }

    /// `upcheck`: is the daemon there and does it speak API 3.0? Prints supervisorctl's
    /// message and sets its exit status when not.
    pub fn upcheck(&mut self) -> Result<bool, CtlError> {
        let e = match self.call("supervisor.getVersion", &[]) {
            Ok(api) if api.as_str() == Some(API_VERSION) => return Ok(true),
            Ok(api) => {
                let remote = crate::format::py_str(&api);
                self.output(&format!(
                    "Sorry, this version of supervisorctl expects to talk to a server with \
                     API version {API_VERSION}, but the remote version is {remote}."
                ));
                self.exitstatus = exit::NOT_INSTALLED;
                return Ok(false);
            }
            Err(e) => e,
        };
        if let Some((code, _)) = e.fault() {
            if code == Fault::UnknownMethod.code() {
                self.output(
                    "Sorry, supervisord responded but did not recognize the supervisor \
                     namespace commands that supervisorctl uses to control it.  Please \
                     check that the [rpcinterface:supervisor] section is enabled in the \
                     configuration file (see sample.conf).",
                );
                self.exitstatus = exit::UNIMPLEMENTED_FEATURE;
                return Ok(false);
            }
            self.exitstatus = exit::GENERIC;
            return Err(e);
        }
        let (words, status) = match e.errno() {
            Some(libc::ECONNREFUSED) => ("refused connection", exit::INSUFFICIENT_PRIVILEGES),
            Some(libc::ENOENT) => ("no such file", exit::NOT_RUNNING),
            _ => {
                // Only socket errors pass through upcheck's handler; a 401 or a bad URL
                // reach onecmd untouched.
                if e.is_socket_error() {
                    self.exitstatus = exit::GENERIC;
                }
                return Err(e);
            }
        };
        let line = format!("{} {words}", self.opts.serverurl);
        self.output(&line);
        self.explain_unreachable(&e);
        self.exitstatus = status;
        Ok(false)
    }

    /// corral's line after a failed connection: what was tried, why it failed, and where
    /// the URL came from.
    pub fn explain_unreachable(&mut self, e: &CtlError) {
        let line = unreachable_hint(&self.opts.serverurl, &self.opts.url_source, e);
        self.hint(&line);
    }

    /// `set_exitstatus_from_xmlrpc_fault`.
    pub fn set_exitstatus_from_fault(&mut self, code: i32, ignored: Option<i32>) {
        if Some(code) == ignored || code == Fault::Success.code() {
            return;
        }
        if [
            Fault::SpawnError.code(),
            Fault::AbnormalTermination.code(),
            Fault::NotRunning.code(),
        ]
        .contains(&code)
        {
            self.exitstatus = exit::NOT_RUNNING;
        } else {
            self.exitstatus = exit::GENERIC;
        }
    }

    /// Python's `input(prompt)` (the y/N questions, the username, `fg`'s lines).
    pub fn raw_input(&mut self, prompt: &str) -> Result<String, CtlError> {
        match &mut self.input {
            Input::Plain(lines) => {
                write_stdout(prompt.as_bytes());
                lines.read_line()
            }
            Input::Editor(ed) => ed.read(prompt),
        }
        .map_err(input_stopped)
    }

    // ---- commands ----

    /// `onecmd`: runs one line; `Ok(true)` when the shell should stop (EOF, quit, exit).
    pub fn onecmd(&mut self, line: &str) -> Result<bool, Interrupt> {
        if !self.fleet.is_empty() {
            return self.fleet_onecmd(line);
        }
        let (cmd, arg, line) = parseline(line);
        if line.is_empty() {
            return Ok(false);
        }
        let Some(cmd) = cmd else {
            self.default(&line);
            return Ok(false);
        };
        self.command_ran = true;
        if !is_command(&cmd) {
            self.default(&line);
            return Ok(false);
        }
        if self.opts.json && JSON_COMMANDS.contains(&cmd.as_str()) {
            self.json = Some(JsonDoc {
                command: cmd.clone(),
                results: Vec::new(),
                errors: Vec::new(),
            });
        }
        let outcome = self.run_guarded(&cmd, &arg, &line);
        self.finish_json();
        outcome
    }

    fn run_guarded(&mut self, cmd: &str, arg: &str, line: &str) -> Result<bool, Interrupt> {
        match self.dispatch(cmd, arg) {
            Ok(stop) => Ok(stop),
            Err(CtlError::Interrupted) => Err(Interrupt),
            Err(e) if e.is_unauthorized() => {
                self.output("Server requires authentication");
                if self.opts.interactive {
                    match self.ask_credentials() {
                        Ok(()) => {
                            self.finish_json();
                            self.onecmd(line)
                        }
                        Err(CtlError::Interrupted) => Err(Interrupt),
                        Err(e) => {
                            self.report(&e);
                            Ok(false)
                        }
                    }
                } else {
                    self.exitstatus = exit::GENERIC;
                    // supervisorctl runs the command a second time here, and that attempt's
                    // failure is what it reports as an error.
                    match self.dispatch(cmd, arg) {
                        Ok(_) => Ok(false),
                        Err(CtlError::Interrupted) => Err(Interrupt),
                        Err(e) => {
                            self.report(&e);
                            Ok(false)
                        }
                    }
                }
            }
            Err(e) => {
                self.report(&e);
                Ok(false)
            }
        }
    }

    fn ask_credentials(&mut self) -> Result<(), CtlError> {
        let username = self.raw_input("Username:")?;
        let password = match &mut self.input {
            Input::Plain(lines) => term::getpass("Password:", lines),
            Input::Editor(_) => term::getpass("Password:", &mut FdLines::stdin()),
        }
        .map_err(input_stopped)?;
        self.output("");
        self.opts.username = Some(username);
        self.opts.password = Some(password);
        Ok(())
    }

    /// The catch-all of `onecmd`: supervisorctl's `error: ...` line, exit status 1.
    pub fn report(&mut self, e: &CtlError) {
        self.output(&e.traceback_line());
        if e.is_connect_failure() {
            self.explain_unreachable(e);
        }
        self.exitstatus = exit::GENERIC;
    }

    pub(crate) fn default(&mut self, line: &str) {
        self.output(&format!("*** Unknown syntax: {line}"));
        self.exitstatus = exit::GENERIC;
    }

    fn finish_json(&mut self) {
        if let Some(doc) = self.json.take() {
            let value = json!({
                "command": doc.command,
                "results": doc.results,
                "errors": doc.errors,
            });
            self.write_out(format!("{value}\n").as_bytes());
        }
    }

    fn dispatch(&mut self, cmd: &str, arg: &str) -> Result<bool, CtlError> {
        match cmd {
            "EOF" | "quit" | "exit" => return Ok(self.do_eof()),
            "help" => self.do_help(arg),
            "add" => self.do_add(arg)?,
            "avail" => self.do_avail(arg)?,
            "clear" => self.do_clear(arg)?,
            "fg" => self.do_fg(arg)?,
            "health" => self.do_health(arg)?,
            "maintail" => self.do_maintail(arg)?,
            "open" => self.do_open(arg)?,
            "pid" => self.do_pid(arg)?,
            "reload" => self.do_reload(arg)?,
            "remove" => self.do_remove(arg)?,
            "reread" => self.do_reread(arg)?,
            "restart" => self.do_restart(arg)?,
            "shutdown" => self.do_shutdown(arg)?,
            "signal" => self.do_signal(arg)?,
            "start" => self.do_start(arg)?,
            "status" => self.do_status(arg)?,
            "stop" => self.do_stop(arg)?,
            "tail" => self.do_tail(arg)?,
            "update" => self.do_update(arg)?,
            "version" => self.do_version(arg)?,
            "upgrade" => self.do_upgrade(arg)?,
            "scale" => self.do_scale(arg)?,
            "deps" => self.do_deps(arg)?,
            other => unreachable!("dispatch of a non-command {other}"),
        }
        Ok(false)
    }

    /// `do_EOF` (and quit/exit): an empty line, and stop.
    pub(crate) fn do_eof(&mut self) -> bool {
        self.output("");
        true
    }
}

/// Python's `input()` ending without a line: EOFError or KeyboardInterrupt.
#[track_caller]
fn input_stopped(stop: ReadStop) -> CtlError {
    match stop {
        ReadStop::Eof => CtlError::eof(),
        ReadStop::Interrupted => CtlError::Interrupted,
    }
}

/// The names `onecmd` finds a `do_` method for.
pub fn is_command(name: &str) -> bool {
    name == "EOF"
        || crate::help::COMMANDS.contains(&name)
        || crate::help::CORRAL_COMMANDS.contains(&name)
}

/// supervisor's transport accepts only these two prefixes, and says so with a ValueError.
#[track_caller]
fn parse_serverurl(url: &str) -> Result<ServerUrl, CtlError> {
    if !(url.starts_with("http://") || url.starts_with("unix://")) {
        return Err(CtlError::value(format!(
            "Unknown protocol for serverurl {url}"
        )));
    }
    ServerUrl::parse(url).map_err(|e| CtlError::value(e.to_string()))
}

/// Writes to stdout and flushes (prompts have no newline; `tail -f` must show output as
/// it comes).
pub fn write_stdout(bytes: &[u8]) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(bytes);
    let _ = out.flush();
}

/// The line corralctl adds when the daemon cannot be reached.
pub fn unreachable_hint(serverurl: &str, source: &UrlSource, e: &CtlError) -> String {
    let target = match serverurl.strip_prefix("unix://") {
        Some(path) => format!("the unix socket {path}"),
        None => serverurl.to_string(),
    };
    let why = match e.errno() {
        Some(libc::ENOENT) => format!("{target} does not exist"),
        Some(libc::ECONNREFUSED) => format!("nothing accepts connections on {target}"),
        Some(libc::EACCES) | Some(libc::EPERM) => {
            format!("no permission to connect to {target}")
        }
        Some(n) => format!(
            "connecting to {target} failed: {}",
            crate::error::strerror(n)
        ),
        None => format!("connecting to {target} failed"),
    };
    let from = match source {
        UrlSource::CommandLine => "the URL is from -s/--serverurl".to_string(),
        UrlSource::Config(file) => format!("the URL is serverurl= in [supervisorctl] of {file}"),
        UrlSource::ConfigDefault(file, None) => format!(
            "{file} has no serverurl= in [supervisorctl], so supervisorctl's default applies"
        ),
        UrlSource::ConfigDefault(file, Some(daemon)) => format!(
            "{file} has no serverurl= in [supervisorctl], so supervisorctl's default applies; \
             its daemon serves {daemon}: add serverurl={daemon} to [supervisorctl]"
        ),
        UrlSource::NoConfig(searched) => format!(
            "no config file was found (tried {}), so supervisorctl's default applies; use -c FILE",
            searched.join(", ")
        ),
        UrlSource::Open => "the URL was given to 'open'".to_string(),
    };
    format!("{why} ({from}); is corrald (or supervisord) running?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parseline_like_cmd() {
        assert_eq!(
            parseline("  status  cat  "),
            (Some("status".into()), "cat".into(), "status  cat".into())
        );
        assert_eq!(
            parseline("?status"),
            (Some("help".into()), "status".into(), "help status".into())
        );
        assert_eq!(parseline("!ls"), (None, String::new(), "!ls".into()));
        assert_eq!(
            parseline("status:cat"),
            (Some("status".into()), ":cat".into(), "status:cat".into())
        );
        assert_eq!(
            parseline("-x"),
            (Some(String::new()), "-x".into(), "-x".into())
        );
        assert_eq!(parseline("   "), (None, String::new(), String::new()));
    }

    #[test]
    fn split_like_python() {
        assert_eq!(split_args(" a\tb\x1c c "), ["a", "b", "c"]);
        assert!(split_args("").is_empty());
    }

    #[test]
    fn commands() {
        assert!(is_command("EOF") && is_command("status") && is_command("exit"));
        assert!(!is_command("Status") && !is_command("") && !is_command("shell"));
    }

    #[test]
    fn serverurl_protocols() {
        assert!(parse_serverurl("unix:///x").is_ok());
        assert!(parse_serverurl("http://h:1").is_ok());
        assert!(
            parse_serverurl("ftp://x")
                .unwrap_err()
                .traceback_line()
                .starts_with("error: <class 'ValueError'>, Unknown protocol for serverurl ftp://x")
        );
    }

    #[test]
    fn hints_name_the_source() {
        let err = CtlError::client(ClientError::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "connecting to unix:///run/x.sock: No such file or directory (os error 2)",
        )));
        let h = unreachable_hint(
            "unix:///run/x.sock",
            &UrlSource::Config("/etc/s.conf".into()),
            &err,
        );
        assert_eq!(
            h,
            "the unix socket /run/x.sock does not exist (the URL is serverurl= in \
             [supervisorctl] of /etc/s.conf); is corrald (or supervisord) running?"
        );
        let h = unreachable_hint(
            "http://localhost:9001",
            &UrlSource::NoConfig(vec!["a".into(), "b".into()]),
            &err,
        );
        assert!(h.contains("tried a, b"), "{h}");
    }
}
