//! The log commands: `tail`, `maintail` (both with `-f`, which streams
//! `GET /logtail/...` / `/mainlogtail` until Ctrl-C), and `fg`, which streams a process's
//! output while sending the lines typed to its stdin.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use corral_proto::api::Fault;
use corral_proto::client::LogStream;
use corral_proto::{Client, ClientError, ProcessState, ServerUrl, Value};

use crate::controller::{Controller, exit, split_args, write_stdout};
use crate::error::{CtlError, fault_str, python_exception};
use crate::format::{self, member_int};
use crate::term::{self, SigintGuard};

/// How often a streaming read wakes up to notice Ctrl-C or the end of `fg`.
const POLL: Duration = Duration::from_millis(200);

/// supervisorctl's default number of bytes for `tail` and `maintail`.
const DEFAULT_BYTES: i64 = 1600;

fn is_timeout(e: &ClientError) -> bool {
    matches!(e, ClientError::Io(io) if matches!(
        io.kind(),
        std::io::ErrorKind::WouldBlock
            | std::io::ErrorKind::TimedOut
            | std::io::ErrorKind::Interrupted
    ))
}

/// What supervisor's `http_client` prints to stderr when a stream fails: the URL (the
/// server URL with the path appended) and the reason.
fn stream_failure(url: &str, e: &ClientError) -> String {
    match e {
        ClientError::Http { status, .. } => format!("{url} Cannot read, status code {status}"),
        ClientError::Unauthorized => format!("{url} Cannot read, status code 401"),
        other => {
            let (class, message) = python_exception(other);
            format!("{url} Cannot connect, error: <class '{class}'> ({message})")
        }
    }
}

/// `-N` for tail/maintail: Python's `int()` of what follows the dash, checked against
/// what XML-RPC can carry once negated.
fn parse_bytes(what: &str) -> Option<Result<i64, CtlError>> {
    let n = corral_config::pystr::int(what).ok()?;
    Some(match n.checked_neg().and_then(|m| i32::try_from(m).ok()) {
        Some(_) => Ok(n),
        None => Err(CtlError::python(
            "OverflowError",
            "int exceeds XML-RPC limits",
        )),
    })
}

/// Whether a process record's `state` is RUNNING, which `fg` requires.
fn is_running(info: &Value) -> Result<bool, CtlError> {
    Ok(member_int(info, "state")? == i64::from(ProcessState::Running.code()))
}

/// The offset that reads the last `bytes` of a log (`bytes` checked by [`parse_bytes`]).
fn tail_offset(bytes: i64) -> Value {
    Value::Int(i32::try_from(-bytes).expect("checked by parse_bytes"))
}

/// Streams `path` to stdout until the server ends it, it fails (reported on stderr), or
/// Ctrl-C; with `stop`, also until that flag is set. Returns whether Ctrl-C ended it.
fn pump(
    url: &ServerUrl,
    creds: Option<(String, String)>,
    label: &str,
    path: &str,
    stop: Option<&AtomicBool>,
) -> bool {
    let stopped = || stop.is_some_and(|s| s.load(Ordering::SeqCst));
    let client = Client::new(url.clone(), creds);
    let mut stream: LogStream = match client.get_stream(path) {
        Ok(s) => s,
        Err(e) if is_timeout(&e) && term::interrupted() => return true,
        Err(e) => {
            eprintln!("{}", stream_failure(label, &e));
            return false;
        }
    };
    if let Err(e) = stream.set_read_timeout(Some(POLL)) {
        eprintln!("{}", stream_failure(label, &e));
        return false;
    }
    loop {
        if term::interrupted() && stop.is_none() {
            return true;
        }
        if stopped() {
            return false;
        }
        match stream.next_chunk() {
            Ok(Some(data)) => {
                if !stopped() {
                    write_stdout(&data);
                }
            }
            Ok(None) => return false,
            Err(e) if is_timeout(&e) => {}
            Err(e) => {
                if !stopped() {
                    eprintln!("{}", stream_failure(label, &e));
                }
                return false;
            }
        }
    }
}

impl Controller {
    fn stream_target(&mut self) -> Result<(ServerUrl, Option<(String, String)>), CtlError> {
        let url = self.client()?.url().clone();
        let creds = self.opts.username.clone().zip(self.opts.password.clone());
        Ok((url, creds))
    }

    /// `_tailf`: the banner, then the stream until Ctrl-C (which prints an empty line).
    fn tailf(&mut self, path: &str) -> Result<(), CtlError> {
        self.output("==> Press Ctrl-C to exit <==");
        let (url, creds) = self.stream_target()?;
        let label = format!("{}{}", self.opts.serverurl, path);
        let _guard = SigintGuard::install();
        if pump(&url, creds, &label, path, None) {
            term::clear_interrupt();
            self.output("");
        }
        Ok(())
    }

    /// The end of a log without `-f`: what `method` returns for `params` (ending in the
    /// offset and 0), or supervisorctl's `who: ERROR (why)` for the faults it knows, which
    /// include BAD_NAME only for a `process`'s log.
    fn print_log_end(
        &mut self,
        who: &str,
        method: &str,
        params: &[Value],
        process: bool,
    ) -> Result<(), CtlError> {
        match self.call(method, params) {
            Ok(text) => self.output(&format::py_str(&text)),
            Err(e) => self.fault_line(e, |fault, _| {
                let why = match fault {
                    Some(Fault::NoFile) => "no log file",
                    Some(Fault::Failed) => "unknown error reading log",
                    Some(Fault::BadName) if process => "no such process name",
                    _ => return None,
                };
                Some(format!("{who}: ERROR ({why})"))
            })?,
        }
        Ok(())
    }

    pub(crate) fn do_tail(&mut self, arg: &str) -> Result<(), CtlError> {
        if !self.upcheck()? {
            return Ok(());
        }
        let mut args = split_args(arg);
        if args.is_empty() {
            self.usage_error("Error: too few arguments", exit::GENERIC, "tail");
            return Ok(());
        }
        if args.len() > 3 {
            self.usage_error("Error: too many arguments", exit::GENERIC, "tail");
            return Ok(());
        }
        let modifier = if args[0].starts_with('-') {
            Some(args.remove(0))
        } else {
            None
        };
        let (name, channel) = match args.as_slice() {
            [name] => (name.clone(), "stdout".to_string()),
            [name, .., last] => {
                let channel = corral_config::pystr::lower(last);
                if channel != "stderr" && channel != "stdout" {
                    self.output(&format!(
                        "Error: bad channel {}",
                        corral_config::pystr::repr(&channel)
                    ));
                    self.exitstatus = exit::GENERIC;
                    return Ok(());
                }
                (name.clone(), channel)
            }
            [] => {
                self.output("Error: tail requires process name");
                self.exitstatus = exit::GENERIC;
                return Ok(());
            }
        };
        let bytes = match &modifier {
            None => DEFAULT_BYTES,
            Some(m) if m == "-f" => return self.tailf(&format!("/logtail/{name}/{channel}")),
            Some(m) => match parse_bytes(&m[1..]) {
                Some(n) => n?,
                None => {
                    self.output(&format!("Error: bad argument {m}"));
                    self.exitstatus = exit::GENERIC;
                    return Ok(());
                }
            },
        };
        let method = if channel == "stdout" {
            "supervisor.readProcessStdoutLog"
        } else {
            "supervisor.readProcessStderrLog"
        };
        let params = [
            Value::from(name.as_str()),
            tail_offset(bytes),
            Value::Int(0),
        ];
        self.print_log_end(&name, method, &params, true)
    }

    pub(crate) fn do_maintail(&mut self, arg: &str) -> Result<(), CtlError> {
        if !self.upcheck()? {
            return Ok(());
        }
        let args = split_args(arg);
        let bytes = match args.as_slice() {
            [] => DEFAULT_BYTES,
            [one] => {
                let parsed = match one.strip_prefix('-') {
                    Some("f") => return self.tailf("/mainlogtail"),
                    Some(what) => parse_bytes(what),
                    None => None,
                };
                match parsed {
                    Some(n) => n?,
                    None => {
                        self.output(&format!("Error: bad argument {one}"));
                        self.exitstatus = exit::GENERIC;
                        return Ok(());
                    }
                }
            }
            _ => {
                self.usage_error("Error: too many arguments", exit::GENERIC, "maintail");
                return Ok(());
            }
        };
        let params = [tail_offset(bytes), Value::Int(0)];
        self.print_log_end("supervisord", "supervisor.readLog", &params, false)
    }

    pub(crate) fn do_fg(&mut self, arg: &str) -> Result<(), CtlError> {
        if !self.upcheck()? {
            return Ok(());
        }
        let names = split_args(arg);
        if names.is_empty() {
            self.usage_error("ERROR: no process name supplied", exit::GENERIC, "fg");
            return Ok(());
        }
        if names.len() > 1 {
            self.output("ERROR: too many process names supplied");
            self.exitstatus = exit::GENERIC;
            return Ok(());
        }
        let name = names[0].as_str();
        let info = match self.call("supervisor.getProcessInfo", &[Value::from(name)]) {
            Ok(info) => info,
            Err(e) => match e.fault() {
                Some((code, _)) if code == Fault::BadName.code() => {
                    self.output("ERROR: bad process name supplied");
                    self.exitstatus = exit::GENERIC;
                    return Ok(());
                }
                Some((code, text)) => {
                    let line = format!("ERROR: {}", fault_str(code, text));
                    self.output(&line);
                    return Ok(());
                }
                None => return Err(e),
            },
        };
        if !is_running(&info)? {
            self.output("ERROR: process not running");
            self.exitstatus = exit::GENERIC;
            return Ok(());
        }
        self.output("==> Press Ctrl-C to exit <==");
        let (url, creds) = self.stream_target()?;
        let _guard = SigintGuard::install();
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<JoinHandle<()>> = ["stdout", "stderr"]
            .into_iter()
            .map(|channel| {
                let (url, creds, stop) = (url.clone(), creds.clone(), Arc::clone(&stop));
                let path = format!("/logtail/{name}/{channel}");
                let label = format!("{}{}", self.opts.serverurl, path);
                std::thread::spawn(move || {
                    term::block_sigint_in_this_thread();
                    pump(&url, creds, &label, &path, Some(&stop));
                })
            })
            .collect();
        let ended = self.forward_stdin(name);
        stop.store(true, Ordering::SeqCst);
        for t in threads {
            let _ = t.join();
        }
        if let Some(line) = ended? {
            self.output(&line);
        }
        self.output("Exiting foreground");
        Ok(())
    }

    /// `fg`'s loop: every line typed goes to `name`'s stdin, until EOF or Ctrl-C (`None`)
    /// or the process is gone (`Some` line to print before leaving).
    fn forward_stdin(&mut self, name: &str) -> Result<Option<String>, CtlError> {
        loop {
            let line = match self.raw_input("") {
                Ok(l) => l,
                Err(CtlError::Eof { .. }) | Err(CtlError::Interrupted) => {
                    term::clear_interrupt();
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            let sent = self.call(
                "supervisor.sendProcessStdin",
                &[Value::from(name), Value::from(format!("{line}\n"))],
            );
            if let Err(e) = sent {
                let Some((code, text)) = e.fault() else {
                    return Err(e);
                };
                return Ok(Some(if code == Fault::NotRunning.code() {
                    "Process got killed".to_string()
                } else {
                    format!("ERROR: {}", fault_str(code, text))
                }));
            }
            let info = self.call("supervisor.getProcessInfo", &[Value::from(name)])?;
            if !is_running(&info)? {
                return Ok(Some("Process got killed".to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_counts() {
        assert_eq!(parse_bytes("100").unwrap().unwrap(), 100);
        assert_eq!(parse_bytes("+5").unwrap().unwrap(), 5);
        assert_eq!(parse_bytes("-5").unwrap().unwrap(), -5);
        assert_eq!(parse_bytes("1_000").unwrap().unwrap(), 1000);
        assert!(parse_bytes("x").is_none());
        assert!(parse_bytes("").is_none());
        assert!(
            parse_bytes("99999999999")
                .unwrap()
                .unwrap_err()
                .traceback_line()
                .contains("OverflowError")
        );
    }

    #[test]
    fn stream_failures_like_http_client() {
        assert_eq!(
            stream_failure(
                "unix:///s.sock/logtail/x/stdout",
                &ClientError::Http {
                    status: 404,
                    reason: "Not Found".into()
                }
            ),
            "unix:///s.sock/logtail/x/stdout Cannot read, status code 404"
        );
    }
}
