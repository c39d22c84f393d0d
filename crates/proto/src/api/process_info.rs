//! The record `getProcessInfo` / `getAllProcessInfo` return.

use super::description::process_description;
use super::states::ProcessState;
use crate::xmlrpc::Value;

/// Every field of supervisord's `getProcessInfo` struct. `statename` and `logfile` are
/// derived (from `state` and `stdout_logfile`) when converting to a [`Value`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    /// The process name (not the namespec).
    pub name: String,
    pub group: String,
    /// Unix times, capped to 32 bits as supervisord's `capped_int` does; 0 for never.
    pub start: i32,
    pub stop: i32,
    pub now: i32,
    pub state: ProcessState,
    pub spawnerr: String,
    pub exitstatus: i32,
    pub stdout_logfile: String,
    pub stderr_logfile: String,
    /// 0 when not running.
    pub pid: i32,
    pub description: String,
}

/// supervisord's `capped_int` for times: clamp to the XML-RPC int range.
pub fn capped_int(value: i64) -> i32 {
    value.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

impl ProcessInfo {
    /// The `description` this record should carry (see [`process_description`]).
    pub fn describe(&self) -> String {
        process_description(
            &self.name,
            self.state,
            self.start,
            self.stop,
            self.now,
            self.pid,
            &self.spawnerr,
        )
    }

    /// The struct supervisord returns, member for member in its order.
    pub fn to_value(&self) -> Value {
        Value::structure([
            ("name", Value::from(&self.name)),
            ("group", Value::from(&self.group)),
            ("start", Value::Int(self.start)),
            ("stop", Value::Int(self.stop)),
            ("now", Value::Int(self.now)),
            ("state", Value::Int(self.state.code())),
            ("statename", Value::from(self.state.name())),
            ("spawnerr", Value::from(&self.spawnerr)),
            ("exitstatus", Value::Int(self.exitstatus)),
            // supervisord keeps "logfile" as a backwards-compatible alias of stdout_logfile.
            ("logfile", Value::from(&self.stdout_logfile)),
            ("stdout_logfile", Value::from(&self.stdout_logfile)),
            ("stderr_logfile", Value::from(&self.stderr_logfile)),
            ("pid", Value::Int(self.pid)),
            ("description", Value::from(&self.description)),
        ])
    }

    /// Reads a `getProcessInfo` struct (from supervisord or corrald). Extra members are
    /// ignored; `logfile` and `statename` are not needed.
    pub fn from_value(v: &Value) -> Result<ProcessInfo, String> {
        if v.as_struct().is_none() {
            return Err(format!("process info is a {}, not a struct", v.type_name()));
        }
        let field = |name: &str| {
            v.get(name)
                .ok_or_else(|| format!("process info without '{name}'"))
        };
        let string = |name: &str| {
            field(name)?
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| format!("process info '{name}' is not a string"))
        };
        let int = |name: &str| {
            field(name)?
                .as_i32()
                .ok_or_else(|| format!("process info '{name}' is not an int"))
        };
        let state_code = int("state")?;
        let state = ProcessState::from_code(state_code)
            .ok_or_else(|| format!("unknown process state {state_code}"))?;
        Ok(ProcessInfo {
            name: string("name")?,
            group: string("group")?,
            start: int("start")?,
            stop: int("stop")?,
            now: int("now")?,
            state,
            spawnerr: string("spawnerr")?,
            exitstatus: int("exitstatus")?,
            stdout_logfile: string("stdout_logfile")?,
            stderr_logfile: string("stderr_logfile")?,
            pid: int("pid")?,
            description: string("description")?,
        })
    }

    /// `make_namespec(group, name)`.
    pub fn namespec(&self) -> String {
        super::namespec::make_namespec(&self.group, &self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ProcessInfo {
        let mut info = ProcessInfo {
            name: "cat".into(),
            group: "cat".into(),
            start: 1_700_000_000,
            stop: 0,
            now: 1_700_000_065,
            state: ProcessState::Running,
            spawnerr: String::new(),
            exitstatus: 0,
            stdout_logfile: "/tmp/cat.out".into(),
            stderr_logfile: String::new(),
            pid: 4641,
            description: String::new(),
        };
        info.description = info.describe();
        info
    }

    #[test]
    fn value_layout_matches_supervisord() {
        let v = sample().to_value();
        let keys: Vec<&str> = v.as_struct().unwrap().iter().map(|(k, _)| &**k).collect();
        assert_eq!(
            keys,
            [
                "name",
                "group",
                "start",
                "stop",
                "now",
                "state",
                "statename",
                "spawnerr",
                "exitstatus",
                "logfile",
                "stdout_logfile",
                "stderr_logfile",
                "pid",
                "description"
            ]
        );
        assert_eq!(v.get("statename"), Some(&Value::from("RUNNING")));
        assert_eq!(v.get("logfile"), Some(&Value::from("/tmp/cat.out")));
        assert_eq!(
            v.get("description"),
            Some(&Value::from("pid 4641, uptime 0:01:05"))
        );
    }

    #[test]
    fn round_trip_and_errors() {
        let info = sample();
        assert_eq!(ProcessInfo::from_value(&info.to_value()), Ok(info.clone()));
        assert_eq!(info.namespec(), "cat");
        let mut v = info.to_value();
        v.set("state", Value::Int(5));
        assert!(
            ProcessInfo::from_value(&v)
                .unwrap_err()
                .contains("unknown process state")
        );
        let mut v = info.to_value();
        v.set("pid", Value::from("x"));
        assert!(
            ProcessInfo::from_value(&v)
                .unwrap_err()
                .contains("'pid' is not an int")
        );
        assert!(ProcessInfo::from_value(&Value::Int(1)).is_err());
        assert!(
            ProcessInfo::from_value(&Value::Struct(vec![]))
                .unwrap_err()
                .contains("without")
        );
    }

    #[test]
    fn capping() {
        assert_eq!(capped_int(5), 5);
        assert_eq!(capped_int(1 << 40), i32::MAX);
        assert_eq!(capped_int(-(1 << 40)), i32::MIN);
    }
}
