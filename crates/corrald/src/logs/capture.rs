//! Reading a child's stdout/stderr pipe into its [`ChannelLog`].
//!
//! Cost matters here. A daemon that reads a pipe the moment it becomes readable reads one
//! line per wake-up from a chatty child, and pays a read, a log write and a trip through
//! the scheduler for every line: more CPU than supervisord, whose slow loop lets output pile
//! up and reads it in big chunks. So reads are paced by the rate the child writes at:
//!
//! - A read shorter than the buffer drained the pipe (a pipe read returns as soon as the
//!   pipe is empty), so a batch of reads ends there, without another read to see `EAGAIN`.
//! - A child that writes now and then is watched all the time: one wake-up per write, the
//!   output logged at once.
//! - A child that writes steadily (its next output is due within the pause [`Pacer`] picks:
//!   the time its rate needs to fill a quarter of the pipe, at most [`MAX_PAUSE`]) is not
//!   watched during the pause: its pipe is taken out of the epoll set, then put back when
//!   the pause ends and read in one go. Merely pausing would not do: Linux wakes an epoll
//!   waiter on every write to a watched pipe, even one that already holds data, so a child
//!   writing a line at a time would wake the daemon per line regardless. Pause deadlines
//!   are rounded to a [`COALESCE`] grid, so steady children are read together.
//! - A child that fills the pipe faster than it is read (a flood) is read back to back,
//!   [`YIELD_AFTER`] bytes at a time between yields, so other programs' work goes on.
//!
//! - A quiet pipe has no task at all: it waits in the [`Watcher`]'s epoll set, and a
//!   reader task runs only while its child writes.
//!
//! Reads go through one buffer shared by every reader (corrald runs on one thread), so a
//! thousand idle programs cost no buffers, and when nothing but the log file wants the
//! output it is written from that buffer without a copy.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

use crate::logs::channel::{ChannelLog, Routed};
use crate::sys;

/// Bytes read per `read(2)`.
const READ_CHUNK: usize = 256 * 1024;
/// Read at most this much in one go before letting other tasks run.
const YIELD_AFTER: usize = 4 * READ_CHUNK;
/// The shortest pause.
const MIN_PAUSE: Duration = Duration::from_millis(1);
/// Pauses shorter than this are not worth unwatching the pipe for.
const MIN_UNWATCHED: Duration = Duration::from_millis(2);
/// The longest pause: output reaches the log at most this late.
pub const MAX_PAUSE: Duration = Duration::from_millis(50);
/// Pause deadlines are rounded up to a multiple of this, so the pauses of several steady
/// children end together, in one wake-up.
pub const COALESCE: Duration = Duration::from_millis(4);
/// A gap this long since the last batch means the child went quiet: start over at
/// [`MIN_PAUSE`].
const IDLE_GAP: Duration = Duration::from_millis(200);
/// Pipe buffer for busy children, so a fast writer blocks less often. root's pipes get it
/// at spawn; an unprivileged corrald grows a pipe only once its child turns out to be busy:
/// pipe buffers count against a per-user budget (`pipe-user-pages-soft`), and growing every
/// pipe of a few hundred programs would leave the rest with one-page pipes.
pub const PIPE_SIZE: usize = 256 * 1024;
/// What to assume when the pipe's size cannot be read (Linux's default).
const DEFAULT_PIPE: usize = 64 * 1024;

thread_local! {
    static BUF: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_CHUNK]);
    /// The origin of the [`COALESCE`] grid.
    static EPOCH: Instant = Instant::now();
}

/// What the reader reports for each chunk (events are built from these).
pub type OnOutput = Box<dyn FnMut(&Routed)>;

/// How a batch of reads ended.
enum Batch {
    /// The pipe is empty for now.
    Drained(usize),
    /// Read [`YIELD_AFTER`] bytes and the pipe may hold more.
    Busy,
    /// Every writer closed the pipe (or it failed).
    Eof,
}

/// The pacing of one reader: how long to let its pipe fill.
#[derive(Debug)]
pub struct Pacer {
    /// The pipe's capacity.
    capacity: usize,
    /// Bytes a batch should bring: a quarter of the pipe.
    target: usize,
    pause: Duration,
    /// When the last batch that found data ended.
    last: Instant,
}

impl Pacer {
    pub fn new(pipe_size: usize, now: Instant) -> Pacer {
        Pacer {
            capacity: pipe_size,
            target: (pipe_size / 4).max(4096),
            pause: Duration::ZERO,
            last: now,
        }
    }

    /// A batch of `bytes` drained the pipe at `now`. Returns when to read next if the
    /// child writes steadily enough to stop watching its pipe until then, None to watch it.
    pub fn drained(&mut self, bytes: usize, now: Instant) -> Option<Instant> {
        if bytes == 0 {
            // A wake-up that found nothing (the child went quiet during a pause): watch.
            return None;
        }
        let window = now.saturating_duration_since(self.last);
        self.last = now;
        if window >= IDLE_GAP {
            self.pause = MIN_PAUSE;
            return None;
        }
        // The time this rate needs to bring `target` bytes.
        let wanted = window.mul_f64(self.target as f64 / bytes as f64);
        let grown = (self.pause * 2).max(MIN_PAUSE);
        self.pause = wanted.min(grown).min(MAX_PAUSE);
        // Steady: this batch's output came within the next pause.
        (self.pause >= MIN_UNWATCHED && window <= self.pause).then(|| coalesce(now + self.pause))
    }

    /// A batch stopped with the pipe possibly still full: read again at once.
    pub fn busy(&mut self, now: Instant) {
        self.pause = Duration::ZERO;
        self.last = now;
    }

    #[cfg(test)]
    fn pause(&self) -> Duration {
        self.pause
    }
}

/// `t` rounded up to the [`COALESCE`] grid.
fn coalesce(t: Instant) -> Instant {
    let epoch = EPOCH.with(|e| *e);
    let since = t.saturating_duration_since(epoch).as_nanos();
    let q = COALESCE.as_nanos();
    let rounded = since.div_ceil(q) * q;
    epoch + Duration::from_nanos(u64::try_from(rounded).unwrap_or(u64::MAX))
}

/// One pipe being read, and everything its reading keeps between wake-ups.
struct Reader {
    fd: OwnedFd,
    log: Rc<RefCell<ChannelLog>>,
    on_output: Option<OnOutput>,
    pacer: Pacer,
    /// The pipe is in the watcher's epoll set (armed or not).
    in_epoll: bool,
    /// Called at end of file, after the pipe is closed (its number may be reused).
    on_eof: Option<OnEof>,
}

/// What a reader's owner wants done when the pipe is read to its end.
pub type OnEof = Box<dyn FnOnce()>;

/// Read `fd` until EOF (every writer closed it), routing output to `log`. Nothing runs
/// for the pipe until the child writes (see [`Watcher`]); then `on_eof`.
pub fn start(
    fd: OwnedFd,
    log: Rc<RefCell<ChannelLog>>,
    on_output: Option<OnOutput>,
    on_eof: Option<OnEof>,
) {
    let pacer = Pacer::new(pipe_size(&fd), Instant::now());
    park(Reader {
        fd,
        log,
        on_output,
        pacer,
        in_epoll: false,
        on_eof,
    });
}

/// [`start`], and wait until EOF.
#[cfg(test)]
pub async fn run(fd: OwnedFd, log: Rc<RefCell<ChannelLog>>, on_output: Option<OnOutput>) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let done: OnEof = Box::new(move || {
        let _ = tx.send(());
    });
    start(fd, log, on_output, Some(done));
    let _ = rx.await;
}

impl Reader {
    /// Read what the child writes, paced by its rate, until it goes quiet (`Some`: watch
    /// the pipe again) or closes the pipe (`None`).
    async fn serve(mut self) -> Option<Reader> {
        loop {
            let mut total = 0usize;
            let batch = loop {
                match read_chunk(&self.fd, &self.log, &mut self.on_output) {
                    Ok(0) => break Batch::Eof,
                    Ok(n) => {
                        total += n;
                        if n < READ_CHUNK {
                            // A short read emptied the pipe.
                            break Batch::Drained(total);
                        }
                        if total >= YIELD_AFTER {
                            break Batch::Busy;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        break Batch::Drained(total);
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break Batch::Eof,
                }
            };
            if total >= self.pacer.capacity {
                // The child filled its pipe: give it a bigger one.
                grow(&self.fd, &mut self.pacer);
            }
            match batch {
                Batch::Eof => {
                    self.finish();
                    return None;
                }
                Batch::Drained(n) => match self.pacer.drained(n, Instant::now()) {
                    Some(until) => {
                        // A steady writer: not watched while its pipe fills until `until`,
                        // then read in one go. A bigger pipe means fewer batches.
                        grow(&self.fd, &mut self.pacer);
                        tokio::time::sleep_until(until.into()).await;
                    }
                    None => return Some(self),
                },
                Batch::Busy => {
                    self.pacer.busy(Instant::now());
                    // Don't monopolise the thread with a firehose.
                    tokio::task::yield_now().await;
                }
            }
        }
    }

    fn finish(self) {
        // A last line without its newline still goes out whole (forward_output).
        self.log.borrow_mut().flush_partial();
        let log = self.log.borrow();
        super::log_stopped_monitoring(
            self.fd.as_raw_fd(),
            "POutputDispatcher",
            &log.process_name,
            log.channel,
        );
        drop(log);
        let on_eof = self.on_eof;
        drop(self.fd);
        if let Some(f) = on_eof {
            f();
        }
    }
}

/// Where quiet pipes wait for output: an epoll set of its own, registered with the runtime
/// as one descriptor, and the readers of the pipes in it.
///
/// A pipe costs a reader task and a registration with the runtime only while its child
/// writes. The pipes of thousands of quiet programs cost an entry here each (about 100
/// bytes), not a task and a registration (about 900 bytes). A pipe is watched one-shot
/// (`EPOLLONESHOT`): once it reports, it is not watched again until its reader, done with
/// what the child wrote, parks it here again, so a steady writer wakes nobody while it
/// fills its pipe.
struct Watcher {
    epoll: AsyncFd<OwnedFd>,
    /// Boxed: a map slot is then 16 bytes, and a map has about twice the slots it needs.
    parked: RefCell<HashMap<RawFd, Box<Reader>>>,
}

thread_local! {
    static WATCHER: RefCell<Option<Rc<Watcher>>> = const { RefCell::new(None) };
}

/// The watcher, created (and its task started) on first use.
fn watcher() -> io::Result<Rc<Watcher>> {
    if let Some(w) = WATCHER.with(|w| w.borrow().clone()) {
        return Ok(w);
    }
    let epoll = sys::async_fd(sys::epoll_create()?, Interest::READABLE)?;
    let w = Rc::new(Watcher {
        epoll,
        parked: RefCell::new(HashMap::new()),
    });
    WATCHER.with(|cell| *cell.borrow_mut() = Some(w.clone()));
    tokio::task::spawn_local(watch_parked(w.clone()));
    Ok(w)
}

/// Most pipes taken from the epoll set per look.
const READY_AT_ONCE: usize = 256;

/// Hand each parked pipe that became readable to a reader task.
async fn watch_parked(w: Rc<Watcher>) {
    let mut ready = Vec::with_capacity(READY_AT_ONCE);
    loop {
        let Ok(mut guard) = w.epoll.readable().await else {
            return;
        };
        ready.clear();
        if sys::epoll_ready(w.epoll.get_ref(), &mut ready, READY_AT_ONCE).is_err()
            || ready.len() < READY_AT_ONCE
        {
            guard.clear_ready();
        }
        for key in &ready {
            let reader = w.parked.borrow_mut().remove(&(*key as RawFd));
            if let Some(r) = reader {
                tokio::task::spawn_local(resume(*r));
            }
        }
    }
}

async fn resume(r: Reader) {
    if let Some(r) = r.serve().await {
        park(r);
    }
}

/// Watch a quiet pipe until its child writes (or closes it).
fn park(mut r: Reader) {
    let fd = r.fd.as_raw_fd();
    let armed = watcher().and_then(|w| {
        let op = if r.in_epoll {
            libc::EPOLL_CTL_MOD
        } else {
            libc::EPOLL_CTL_ADD
        };
        let events = (libc::EPOLLIN | libc::EPOLLONESHOT) as u32;
        sys::epoll_ctl(w.epoll.get_ref(), op, fd, events, fd as u64)?;
        Ok(w)
    });
    match armed {
        Ok(w) => {
            r.in_epoll = true;
            w.parked.borrow_mut().insert(fd, Box::new(r));
        }
        Err(e) => {
            // Out of epoll watches, say. Dropping the pipe would kill the child with
            // SIGPIPE; read it on a timer instead.
            crate::logs::mainlog::error(format!(
                "cannot watch the output pipe of '{}' ({e}); reading it every {} ms",
                r.log.borrow().process_name,
                MAX_PAUSE.as_millis()
            ));
            tokio::task::spawn_local(poll_on_timer(r));
        }
    }
}

/// Read a pipe that cannot be watched every [`MAX_PAUSE`], until EOF.
async fn poll_on_timer(mut r: Reader) {
    loop {
        tokio::time::sleep(MAX_PAUSE).await;
        loop {
            match read_chunk(&r.fd, &r.log, &mut r.on_output) {
                Ok(0) => return r.finish(),
                Ok(n) if n < READ_CHUNK => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => return r.finish(),
            }
        }
    }
}

/// Grow a busy child's pipe to [`PIPE_SIZE`], once.
fn grow(fd: &OwnedFd, pacer: &mut Pacer) {
    if pacer.capacity >= PIPE_SIZE {
        return;
    }
    sys::set_pipe_size(fd, PIPE_SIZE as i32);
    let capacity = pipe_size(fd).max(pacer.capacity + 1);
    pacer.capacity = capacity;
    pacer.target = (capacity / 4).max(4096);
}

/// The pipe's capacity.
fn pipe_size(fd: &OwnedFd) -> usize {
    sys::pipe_size(fd).unwrap_or(DEFAULT_PIPE)
}

/// One `read(2)` into the shared buffer, routed at once. Ok(0) is EOF.
fn read_chunk(
    fd: &OwnedFd,
    log: &Rc<RefCell<ChannelLog>>,
    on_output: &mut Option<OnOutput>,
) -> io::Result<usize> {
    BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        let n = sys::read(fd, &mut buf)?;
        if n > 0 {
            match on_output.as_mut() {
                Some(cb) => {
                    let routed = log.borrow_mut().record(&buf[..n]);
                    cb(&routed);
                }
                None => log.borrow_mut().record_unobserved(&buf[..n]),
            }
        }
        Ok(n)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// A child writing `rate` bytes/s, read whenever the pacer says (or after `idle` when
    /// it says to watch): the pauses it gets.
    fn simulate(pipe: usize, rate: f64, batches: usize) -> Vec<(Duration, bool)> {
        let t0 = Instant::now();
        let mut p = Pacer::new(pipe, t0);
        let mut t = t0;
        let mut out = vec![];
        for _ in 0..batches {
            let window = p.pause().max(MS);
            t += window;
            let bytes = (window.as_secs_f64() * rate) as usize;
            let steady = p.drained(bytes.max(1), t).is_some();
            out.push((p.pause(), steady));
        }
        out
    }

    #[test]
    fn a_steady_writer_is_read_about_a_quarter_pipe_at_a_time() {
        // 1 MB/s into a 256 KiB pipe: 64 KiB take ~65 ms; the pause doubles up to the cap.
        let got = simulate(256 * 1024, 1e6, 10);
        assert_eq!(got[0].0, MIN_PAUSE);
        assert!(got.windows(2).all(|w| w[1].0 <= w[0].0 * 2 + MS));
        assert_eq!(got.last().unwrap(), &(MAX_PAUSE, true));
        // 20 MB/s: a quarter pipe fills in ~3 ms.
        let got = simulate(256 * 1024, 20e6, 10);
        let last = got.last().unwrap();
        assert!(last.0 > 2 * MS && last.0 < 5 * MS, "{last:?}");
    }

    #[test]
    fn a_fast_writer_gets_short_pauses_and_a_full_pipe_none() {
        let t0 = Instant::now();
        let mut p = Pacer::new(64 * 1024, t0);
        p.drained(100, t0 + 10 * MS);
        p.drained(100, t0 + 20 * MS);
        assert!(p.pause() > Duration::ZERO);
        // 48 KiB in 2 ms: a quarter pipe takes well under a millisecond; not worth
        // unwatching the pipe for.
        assert_eq!(p.drained(48 * 1024, t0 + 22 * MS), None);
        assert!(p.pause() < MS, "{:?}", p.pause());
        p.busy(t0 + 23 * MS);
        assert_eq!(p.pause(), Duration::ZERO);
    }

    #[test]
    fn an_occasional_writer_stays_watched() {
        let t0 = Instant::now();
        let mut p = Pacer::new(256 * 1024, t0);
        // A line every 100 ms: the pause grows to the cap, but output comes later than
        // that, so the pipe stays watched (one wake-up per line, logged at once).
        for i in 1..20 {
            assert_eq!(p.drained(80, t0 + i * 100 * MS), None);
        }
        assert_eq!(p.pause(), MAX_PAUSE);
        // A quiet spell resets the pause; an empty wake-up changes nothing.
        assert_eq!(p.drained(80, t0 + Duration::from_secs(5)), None);
        assert_eq!(p.pause(), MIN_PAUSE);
        assert_eq!(p.drained(0, t0 + Duration::from_secs(6)), None);
        assert_eq!(p.pause(), MIN_PAUSE);
    }

    /// Read a pipe with `run` on a current-thread runtime while a thread writes `lines`
    /// lines to it, `per_ms` per millisecond, then a burst, then closes it; what landed.
    fn capture_through_run(rotate_at: u64, lines: usize, per_ms: usize) -> (Vec<u8>, Vec<u8>) {
        use std::io::Write;

        let dir = std::env::temp_dir().join(format!(
            "corral-capture-{}-{rotate_at}-{lines}-{per_ms}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.log");
        let cfg = corral_config::ChannelConfig {
            logfile: corral_config::LogFile::Path(path.display().to_string()),
            logfile_maxbytes: rotate_at,
            logfile_backups: 1000,
            capture_maxbytes: 0,
            events_enabled: false,
            syslog: false,
        };
        let log =
            ChannelLog::open("t", "stdout", &cfg, path.to_str().map(Rc::from), false).unwrap();
        let (r, w) = crate::sys::pipe().unwrap();
        crate::sys::set_nonblocking(&r, true).unwrap();
        let mut expected = Vec::new();
        for i in 0..lines {
            expected.extend_from_slice(format!("line {i:07} of the capture test\n").as_bytes());
        }
        expected.extend_from_slice(&[b'x'; 300_000]);
        let to_write = expected.clone();
        let writer = std::thread::spawn(move || {
            let mut w = std::fs::File::from(w);
            let body = &to_write[..to_write.len() - 300_000];
            for (n, line) in body.split_inclusive(|&b| b == b'\n').enumerate() {
                w.write_all(line).unwrap();
                if per_ms > 0 && n % per_ms == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            w.write_all(&to_write[to_write.len() - 300_000..]).unwrap();
        });
        crate::testutil::local_set(run(r, Rc::new(RefCell::new(log)), None));
        writer.join().unwrap();
        let mut numbered: Vec<(u32, std::path::PathBuf)> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let n = name.strip_prefix("out.log.")?.parse().ok()?;
                Some((n, e.path()))
            })
            .collect();
        numbered.sort_by_key(|e| std::cmp::Reverse(e.0));
        let mut got = Vec::new();
        for (_, p) in &numbered {
            let b = std::fs::read(p).unwrap();
            assert_eq!(
                b.len() as u64,
                rotate_at,
                "rotated files hold exactly maxbytes"
            );
            got.extend(b);
        }
        got.extend(std::fs::read(&path).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
        (got, expected)
    }

    fn assert_every_byte_lands_in_order(rotate_at: u64, lines: usize, per_ms: usize) {
        let (got, expected) = capture_through_run(rotate_at, lines, per_ms);
        assert!(
            got == expected,
            "got {} bytes, expected {}",
            got.len(),
            expected.len()
        );
    }

    #[test]
    fn a_paced_writer_lands_every_byte_in_order() {
        // ~30 lines per ms: steady enough to be unwatched between batches.
        assert_every_byte_lands_in_order(100_000, 20_000, 30);
    }

    #[test]
    fn a_flood_lands_every_byte_in_order() {
        assert_every_byte_lands_in_order(1 << 20, 200_000, 0);
    }

    #[test]
    fn pause_deadlines_fall_on_the_grid() {
        let now = Instant::now();
        let a = coalesce(now + 13 * MS);
        let b = coalesce(now + 14 * MS);
        assert!(a >= now + 13 * MS && a < now + 13 * MS + COALESCE);
        let epoch = EPOCH.with(|e| *e);
        let q = COALESCE.as_nanos();
        assert_eq!(a.duration_since(epoch).as_nanos() % q, 0);
        assert_eq!(b.duration_since(epoch).as_nanos() % q, 0);
    }
}
