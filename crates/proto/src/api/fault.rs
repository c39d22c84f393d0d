//! supervisord's fault codes (`supervisor.xmlrpc.Faults`) and faultString rule.

/// Every fault code supervisord 4.3.0 defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum Fault {
    UnknownMethod = 1,
    IncorrectParameters = 2,
    BadArguments = 3,
    SignatureUnsupported = 4,
    ShutdownState = 6,
    BadName = 10,
    BadSignal = 11,
    NoFile = 20,
    NotExecutable = 21,
    Failed = 30,
    AbnormalTermination = 40,
    SpawnError = 50,
    AlreadyStarted = 60,
    NotRunning = 70,
    Success = 80,
    AlreadyAdded = 90,
    StillRunning = 91,
    CantReread = 92,
}

impl Fault {
    pub const ALL: [Fault; 18] = [
        Fault::UnknownMethod,
        Fault::IncorrectParameters,
        Fault::BadArguments,
        Fault::SignatureUnsupported,
        Fault::ShutdownState,
        Fault::BadName,
        Fault::BadSignal,
        Fault::NoFile,
        Fault::NotExecutable,
        Fault::Failed,
        Fault::AbnormalTermination,
        Fault::SpawnError,
        Fault::AlreadyStarted,
        Fault::NotRunning,
        Fault::Success,
        Fault::AlreadyAdded,
        Fault::StillRunning,
        Fault::CantReread,
    ];

    pub fn code(self) -> i32 {
        self as i32
    }

    pub fn from_code(code: i32) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.code() == code)
    }

    /// The attribute name in `Faults`, which supervisord uses as the faultString.
    pub fn name(self) -> &'static str {
        match self {
            Fault::UnknownMethod => "UNKNOWN_METHOD",
            Fault::IncorrectParameters => "INCORRECT_PARAMETERS",
            Fault::BadArguments => "BAD_ARGUMENTS",
            Fault::SignatureUnsupported => "SIGNATURE_UNSUPPORTED",
            Fault::ShutdownState => "SHUTDOWN_STATE",
            Fault::BadName => "BAD_NAME",
            Fault::BadSignal => "BAD_SIGNAL",
            Fault::NoFile => "NO_FILE",
            Fault::NotExecutable => "NOT_EXECUTABLE",
            Fault::Failed => "FAILED",
            Fault::AbnormalTermination => "ABNORMAL_TERMINATION",
            Fault::SpawnError => "SPAWN_ERROR",
            Fault::AlreadyStarted => "ALREADY_STARTED",
            Fault::NotRunning => "NOT_RUNNING",
            Fault::Success => "SUCCESS",
            Fault::AlreadyAdded => "ALREADY_ADDED",
            Fault::StillRunning => "STILL_RUNNING",
            Fault::CantReread => "CANT_REREAD",
        }
    }

    /// This fault's faultString with optional detail: `BAD_NAME: foo`.
    pub fn text(self, extra: Option<&str>) -> String {
        fault_text(self.code(), extra)
    }
}

/// supervisord's `RPCError(code, extra).text`: the fault's name (`UNKNOWN` for a code
/// supervisord does not define), then `": "` and `extra` when given (even if empty).
pub fn fault_text(code: i32, extra: Option<&str>) -> String {
    let name = Fault::from_code(code).map_or("UNKNOWN", Fault::name);
    match extra {
        Some(extra) => format!("{name}: {extra}"),
        None => name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names_round_trip() {
        for f in Fault::ALL {
            assert_eq!(Fault::from_code(f.code()), Some(f));
        }
        assert_eq!(Fault::from_code(5), None);
        assert_eq!(Fault::BadName.code(), 10);
        assert_eq!(Fault::CantReread.name(), "CANT_REREAD");
    }

    #[test]
    fn text_rule() {
        assert_eq!(fault_text(10, Some("foo")), "BAD_NAME: foo");
        assert_eq!(fault_text(10, None), "BAD_NAME");
        assert_eq!(fault_text(10, Some("")), "BAD_NAME: ");
        assert_eq!(fault_text(12345, Some("x")), "UNKNOWN: x");
        assert_eq!(Fault::SpawnError.text(Some("cat")), "SPAWN_ERROR: cat");
    }
}
