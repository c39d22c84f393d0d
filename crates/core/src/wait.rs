//! Decoding `waitpid` statuses the way supervisord reports them.

/// A raw status from `waitpid(2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitStatus(pub i32);

impl WaitStatus {
    /// A status for "exited with `code`" (for tests and synthetic exits).
    pub fn exited(code: u8) -> WaitStatus {
        WaitStatus(i32::from(code) << 8)
    }

    /// A status for "killed by `sig`".
    pub fn signaled(sig: i32) -> WaitStatus {
        WaitStatus(sig & 0x7f)
    }

    // The W* macros, written out: they are bit tests on the status word and the same on
    // every Linux architecture.
    fn termsig(self) -> i32 {
        self.0 & 0x7f
    }

    pub fn exited_normally(self) -> bool {
        self.termsig() == 0
    }

    pub fn signal(self) -> Option<i32> {
        let sig = self.termsig();
        // 0x7f means "stopped", not "terminated".
        (sig != 0 && sig != 0x7f).then_some(sig)
    }

    /// supervisord's `decode_wait_status`: (exit status or -1, message).
    pub fn decode(self) -> (i32, String) {
        if self.exited_normally() {
            let es = (self.0 >> 8) & 0xff;
            (es, format!("exit status {es}"))
        } else if let Some(sig) = self.signal() {
            let mut msg = format!("terminated by {}", corral_config::signals::name(sig));
            if self.0 & 0x80 != 0 {
                msg.push_str(" (core dumped)");
            }
            (-1, msg)
        } else {
            (-1, format!("unknown termination cause 0x{:04x}", self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_like_supervisord() {
        assert_eq!(WaitStatus::exited(0).decode(), (0, "exit status 0".into()));
        assert_eq!(WaitStatus::exited(3).decode(), (3, "exit status 3".into()));
        assert_eq!(
            WaitStatus::signaled(15).decode(),
            (-1, "terminated by SIGTERM".into())
        );
        assert_eq!(
            WaitStatus(9 | 0x80).decode(),
            (-1, "terminated by SIGKILL (core dumped)".into())
        );
    }
}
