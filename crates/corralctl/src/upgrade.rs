//! `corralctl upgrade [--binary PATH]` (corrald only): replace the running corrald's binary
//! in place (same pid, every program kept running), then wait until the new image
//! answers.

use std::time::{Duration, Instant};

use corral_proto::api::Fault;
use corral_proto::xmlrpc::Value;

use crate::controller::{Controller, exit};
use crate::error::CtlError;
use crate::format;

/// `help upgrade`.
pub const HELP: &str = "upgrade\t\t\tReplace the running corrald with its binary, in place\n\
upgrade --binary <path>\tReplace it with <path> (checked first; nothing changes if the\n\
\t\t\tcheck fails). The pid, the programs and their sockets are kept.";

/// How long the new image may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

impl Controller {
    pub(crate) fn do_upgrade(&mut self, arg: &str) -> Result<(), CtlError> {
        let args: Vec<&str> = arg.split_whitespace().collect();
        let binary = match args.as_slice() {
            [] => String::new(),
            ["--binary", path] => (*path).to_string(),
            [flag] if flag.starts_with("--binary=") => flag["--binary=".len()..].to_string(),
            _ => {
                self.usage_error("Error: upgrade [--binary <path>]", exit::GENERIC, "upgrade");
                return Ok(());
            }
        };
        let before = self.call("supervisor.getPID", &[])?;
        let old_version = self
            .call("corral.getVersion", &[])
            .map(|v| format::py_str(&v))
            .unwrap_or_default();
        // The image answering now: the new one answers with another start time.
        let old_image = self
            .call("corral.getImage", &[])
            .ok()
            .and_then(|v| v.get("started").cloned());
        match self.call("corral.upgrade", &[Value::from(binary.as_str())]) {
            Ok(_) => {}
            Err(e)
                if e.fault()
                    .is_some_and(|(c, _)| c == Fault::UnknownMethod.code()) =>
            {
                self.output("ERROR: upgrade needs corrald (this daemon has no corral.upgrade)");
                self.exitstatus = exit::GENERIC;
                return Ok(());
            }
            Err(e) if e.fault().is_some() => {
                let (_, text) = e.fault().unwrap_or_default();
                self.output(&format!("ERROR: {text}"));
                self.exitstatus = exit::GENERIC;
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        self.text_only("upgrade: the new binary passed its check; handing over");
        // The daemon answers again once the new image runs: same pid.
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let image = self
                .call("corral.getImage", &[])
                .ok()
                .and_then(|v| v.get("started").cloned());
            let answer = self.call("supervisor.getPID", &[]);
            if let (Ok(pid), true) = (answer, image.is_some() && image != old_image) {
                let version = self
                    .call("corral.getVersion", &[])
                    .map(|v| format::py_str(&v))
                    .unwrap_or_default();
                if pid != before {
                    self.output(&format!(
                        "ERROR: corrald answers with pid {} (was {})",
                        format::py_str(&pid),
                        format::py_str(&before)
                    ));
                    self.exitstatus = exit::GENERIC;
                } else {
                    self.output(&format!(
                        "upgraded: corrald pid {} runs corral {version} (was {old_version})",
                        format::py_str(&pid)
                    ));
                }
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.output(&format!(
                    "ERROR: corrald did not answer within {} s of the upgrade",
                    ANSWER_TIMEOUT.as_secs()
                ));
                self.exitstatus = exit::GENERIC;
                return Ok(());
            }
        }
    }
}
