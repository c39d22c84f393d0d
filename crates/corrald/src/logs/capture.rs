//! Reading a child's stdout/stderr pipe into its [`ChannelLog`].
//!
//! Cost matters here: a chatty child writing one line per `write(2)` would otherwise wake
//! the daemon once per line. So when a wake-up finds only a little data, the reader lets the
//! pipe fill for a few milliseconds before reading again; a child that writes a lot keeps the
//! pipe full and is read back to back without pauses. Reads go through one buffer shared by
//! every reader (corrald runs on one thread), so a thousand idle programs cost no buffers.

use std::cell::RefCell;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use tokio::io::Interest;

use crate::logs::channel::{ChannelLog, Routed};

/// Bytes read per `read(2)`.
const READ_CHUNK: usize = 256 * 1024;
/// A wake-up that found less than this was a trickle: pause before the next read.
const TRICKLE: usize = 32 * 1024;
/// How long to let a trickling pipe fill. Bounds wake-ups per chatty child to ~200/s.
const TRICKLE_PAUSE: Duration = Duration::from_millis(5);
/// Pipe buffer to ask the kernel for, so a fast writer blocks less often.
pub const PIPE_SIZE: i32 = 256 * 1024;

thread_local! {
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
}

/// What the reader reports for each chunk (events are built from these).
pub type OnOutput = Box<dyn FnMut(&Routed)>;

/// Read `fd` until EOF (every writer closed it), routing output to `log`.
pub async fn run(fd: OwnedFd, log: Rc<RefCell<ChannelLog>>, mut on_output: Option<OnOutput>) {
    let afd = match crate::sys::async_fd(fd, Interest::READABLE) {
        Ok(a) => a,
        Err(e) => {
            crate::mainlog::error(format!("cannot watch output pipe: {e}"));
            return;
        }
    };
    loop {
        let Ok(mut guard) = afd.readable().await else {
            return;
        };
        let mut total = 0usize;
        let eof = loop {
            match read_chunk(afd.get_ref(), &log, &mut on_output) {
                Ok(0) => break true,
                Ok(n) => total += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    guard.clear_ready();
                    break false;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break true,
            }
            // Don't monopolise the thread with a firehose: yield between big batches.
            if total >= 4 * READ_CHUNK {
                break false;
            }
        };
        if eof {
            return;
        }
        if total < TRICKLE {
            tokio::time::sleep(TRICKLE_PAUSE).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

/// One `read(2)` into the shared buffer, routed at once. Ok(0) is EOF.
fn read_chunk(
    fd: &OwnedFd,
    log: &Rc<RefCell<ChannelLog>>,
    on_output: &mut Option<OnOutput>,
) -> io::Result<usize> {
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        // SAFETY: reading into a buffer we own, within its length.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        if n > 0 {
            let routed = log.borrow_mut().record(&buf[..n]);
            if let Some(cb) = on_output.as_mut() {
                cb(&routed);
            }
        }
        Ok(n)
    })
}
