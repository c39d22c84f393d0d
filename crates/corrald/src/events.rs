//! supervisord's event system: events, and the eventlistener pools that receive them.
//!
//! The protocol is supervisord's (`events.py`, `dispatchers.py`, `process.py`'s
//! `EventListenerPool`), so superlance (memmon, crashmail, httpok, fatalmailbatch) and every
//! `childutils.listener` script work unchanged: a listener says `READY\n` on stdout, gets a
//! header line and a payload on stdin, answers `RESULT 2\nOK` (or `FAIL`), and so on. Each
//! pool buffers up to `buffer_size` events (dropping the oldest with an error), numbers them
//! (global serial and pool serial), and re-queues an event at the head when a listener
//! rejects it or dies while busy.
//!
//! Costs nothing when unused: without pools, `publish` returns at once, and the TICK timer
//! only runs while some pool subscribes to TICK events.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

use corral_config::{GroupConfig, GroupKind, ProcessConfig};
use corral_core::ProcessState;

use crate::logs::channel::{ChannelLog, undecodable};
use crate::mainlog;
use crate::sys;

/// One event, with what its payload needs.
#[derive(Debug, Clone)]
pub enum Event {
    ProcessState {
        name: String,
        group: String,
        from: ProcessState,
        to: ProcessState,
        expected: bool,
        pid: Option<i32>,
        tries: u64,
    },
    ProcessLog {
        name: String,
        group: String,
        pid: i32,
        channel: &'static str,
        data: Vec<u8>,
    },
    ProcessCommunication {
        name: String,
        group: String,
        pid: i32,
        channel: &'static str,
        data: Vec<u8>,
    },
    RemoteCommunication {
        kind: String,
        data: String,
    },
    SupervisorRunning,
    SupervisorStopping,
    Tick {
        period: u64,
        when: u64,
    },
    ProcessGroupAdded(String),
    ProcessGroupRemoved(String),
}

impl Event {
    /// The concrete type name (`PROCESS_STATE_RUNNING`).
    pub fn type_name(&self) -> String {
        match self {
            Event::ProcessState { to, .. } => format!("PROCESS_STATE_{}", to.name()),
            Event::ProcessLog { channel, .. } => format!("PROCESS_LOG_{}", channel.to_uppercase()),
            Event::ProcessCommunication { channel, .. } => {
                format!("PROCESS_COMMUNICATION_{}", channel.to_uppercase())
            }
            Event::RemoteCommunication { .. } => "REMOTE_COMMUNICATION".into(),
            Event::SupervisorRunning => "SUPERVISOR_STATE_CHANGE_RUNNING".into(),
            Event::SupervisorStopping => "SUPERVISOR_STATE_CHANGE_STOPPING".into(),
            Event::Tick { period, .. } => format!("TICK_{period}"),
            Event::ProcessGroupAdded(_) => "PROCESS_GROUP_ADDED".into(),
            Event::ProcessGroupRemoved(_) => "PROCESS_GROUP_REMOVED".into(),
        }
    }

    /// Whether a subscription to `subscribed` (concrete or abstract) covers this event
    /// (supervisord checks `isinstance` against the class hierarchy).
    pub fn matches(&self, subscribed: &str) -> bool {
        let concrete = self.type_name();
        if subscribed == "EVENT" || subscribed == concrete {
            return true;
        }
        let parent = match self {
            Event::ProcessState { .. } => "PROCESS_STATE",
            Event::ProcessLog { .. } => "PROCESS_LOG",
            Event::ProcessCommunication { .. } => "PROCESS_COMMUNICATION",
            Event::SupervisorRunning | Event::SupervisorStopping => "SUPERVISOR_STATE_CHANGE",
            Event::Tick { .. } => "TICK",
            Event::ProcessGroupAdded(_) | Event::ProcessGroupRemoved(_) => "PROCESS_GROUP",
            Event::RemoteCommunication { .. } => return false,
        };
        subscribed == parent
    }

    /// The payload text, byte for byte what supervisord sends.
    pub fn payload(&self) -> String {
        match self {
            Event::ProcessState {
                name,
                group,
                from,
                to,
                expected,
                pid,
                tries,
            } => {
                let mut s = format!(
                    "processname:{name} groupname:{group} from_state:{}",
                    from.name()
                );
                let pid = pid.unwrap_or(0);
                match to {
                    ProcessState::Starting | ProcessState::Backoff => {
                        s.push_str(&format!(" tries:{tries}"));
                    }
                    ProcessState::Exited => {
                        s.push_str(&format!(" expected:{} pid:{pid}", i32::from(*expected)));
                    }
                    ProcessState::Running | ProcessState::Stopping | ProcessState::Stopped => {
                        s.push_str(&format!(" pid:{pid}"));
                    }
                    ProcessState::Fatal | ProcessState::Unknown => {}
                }
                s
            }
            Event::ProcessLog {
                name,
                group,
                pid,
                channel,
                data,
            } => format!(
                "processname:{name} groupname:{group} pid:{pid} channel:{channel}\n{}",
                undecodable(data)
            ),
            Event::ProcessCommunication {
                name,
                group,
                pid,
                data,
                ..
            } => format!(
                "processname:{name} groupname:{group} pid:{pid}\n{}",
                undecodable(data)
            ),
            Event::RemoteCommunication { kind, data } => format!("type:{kind}\n{data}"),
            Event::SupervisorRunning | Event::SupervisorStopping => String::new(),
            Event::Tick { when, .. } => format!("when:{when}"),
            Event::ProcessGroupAdded(g) | Event::ProcessGroupRemoved(g) => {
                format!("groupname:{g}\n")
            }
        }
    }
}

/// An event as queued in a pool.
#[derive(Debug, Clone)]
struct Queued {
    serial: u64,
    pool_serial: u64,
    event: Rc<Event>,
}

/// supervisord's `EventListenerStates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListenerState {
    Ready,
    Busy,
    Acknowledged,
    Unknown,
}

impl ListenerState {
    fn name(self) -> &'static str {
        match self {
            ListenerState::Ready => "READY",
            ListenerState::Busy => "BUSY",
            ListenerState::Acknowledged => "ACKNOWLEDGED",
            ListenerState::Unknown => "UNKNOWN",
        }
    }
}

/// One listener process of a pool.
struct Listener {
    name: String,
    pid: i32,
    state: ListenerState,
    /// RUNNING per its own state events (supervisord only sends to RUNNING listeners).
    running: bool,
    stdin: Rc<AsyncFd<OwnedFd>>,
    current: Option<Queued>,
}

struct Pool {
    name: String,
    events: Vec<String>,
    buffer_size: usize,
    buffer: RefCell<VecDeque<Queued>>,
    serial: Cell<u64>,
    listeners: RefCell<Vec<Listener>>,
}

/// The event bus: every event in the daemon goes through [`EventBus::publish`].
pub struct EventBus {
    identifier: RefCell<String>,
    pools: RefCell<Vec<Rc<Pool>>>,
    serial: Cell<u64>,
    ticker: RefCell<Option<JoinHandle<()>>>,
    me: RefCell<std::rc::Weak<EventBus>>,
    /// Woken whenever a listener finishes an event (for draining at shutdown).
    progress: tokio::sync::Notify,
}

impl EventBus {
    pub fn new(identifier: &str) -> Rc<EventBus> {
        let bus = Rc::new(EventBus {
            identifier: RefCell::new(identifier.to_string()),
            pools: RefCell::new(Vec::new()),
            serial: Cell::new(0),
            ticker: RefCell::new(None),
            me: RefCell::new(std::rc::Weak::new()),
            progress: tokio::sync::Notify::new(),
        });
        *bus.me.borrow_mut() = Rc::downgrade(&bus);
        bus
    }

    pub fn set_identifier(&self, id: &str) {
        *self.identifier.borrow_mut() = id.to_string();
    }

    /// A group became part of the running configuration: if it is a listener pool, start
    /// collecting its events.
    pub fn add_group(&self, group: &GroupConfig) {
        if let GroupKind::EventListener(p) = &group.kind {
            self.pools.borrow_mut().push(Rc::new(Pool {
                name: group.name.clone(),
                events: p.events.clone(),
                buffer_size: p.buffer_size.max(1),
                buffer: RefCell::new(VecDeque::new()),
                serial: Cell::new(0),
                listeners: RefCell::new(Vec::new()),
            }));
            self.update_ticker();
        }
    }

    /// Whether the pool `name` has nothing buffered and no listener busy with an event.
    fn pool_idle(&self, name: &str) -> bool {
        self.pools
            .borrow()
            .iter()
            .filter(|p| p.name == name)
            .all(|p| {
                let listeners = p.listeners.borrow();
                let busy = listeners.iter().any(|l| l.state == ListenerState::Busy);
                // Buffered events only count if some listener could still take them.
                let can_take = listeners
                    .iter()
                    .any(|l| l.running && l.state != ListenerState::Unknown);
                !busy && (p.buffer.borrow().is_empty() || !can_take)
            })
    }

    /// Wait (at most `limit`) until the pool `name` has delivered what it holds. At
    /// shutdown, listeners stop last so that they see the other processes stop; this makes
    /// sure they also get those last events before they are stopped themselves.
    pub async fn drain(&self, name: &str, limit: std::time::Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while !self.pool_idle(name) {
            let notified = self.progress.notified();
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }

    pub fn remove_group(&self, name: &str) {
        self.pools.borrow_mut().retain(|p| p.name != name);
        self.update_ticker();
    }

    /// Hand an event to every pool subscribed to it.
    pub fn publish(&self, event: Event) {
        if self.pools.borrow().is_empty() {
            return;
        }
        // A listener's own state changes drive dispatch eligibility.
        if let Event::ProcessState {
            name, group, to, ..
        } = &event
        {
            for pool in self.pools.borrow().iter().filter(|p| &p.name == group) {
                for l in pool
                    .listeners
                    .borrow_mut()
                    .iter_mut()
                    .filter(|l| &l.name == name)
                {
                    l.running = *to == ProcessState::Running;
                }
            }
        }
        let pools: Vec<Rc<Pool>> = self
            .pools
            .borrow()
            .iter()
            .filter(|p| p.events.iter().any(|e| event.matches(e)))
            .cloned()
            .collect();
        if pools.is_empty() {
            self.dispatch_all();
            return;
        }
        let event = Rc::new(event);
        let serial = self.serial.get() + 1;
        self.serial.set(serial);
        for pool in pools {
            let pool_serial = pool.serial.get() + 1;
            pool.serial.set(pool_serial);
            self.accept(
                &pool,
                Queued {
                    serial,
                    pool_serial,
                    event: event.clone(),
                },
                false,
            );
        }
        self.dispatch_all();
    }

    fn accept(&self, pool: &Pool, q: Queued, head: bool) {
        let mut buf = pool.buffer.borrow_mut();
        if buf.len() >= pool.buffer_size {
            if let Some(dropped) = buf.pop_front() {
                mainlog::error(format!(
                    "pool {} event buffer overflowed, discarding event {}",
                    pool.name, dropped.serial
                ));
            }
        }
        if head {
            buf.push_front(q);
        } else {
            buf.push_back(q);
        }
    }

    fn dispatch_all(&self) {
        let pools: Vec<Rc<Pool>> = self.pools.borrow().clone();
        for pool in pools {
            self.dispatch(&pool);
        }
    }

    /// Send buffered events to READY listeners, oldest first.
    fn dispatch(&self, pool: &Pool) {
        loop {
            let Some(q) = pool.buffer.borrow_mut().pop_front() else {
                return;
            };
            let mut listeners = pool.listeners.borrow_mut();
            let Some(l) = listeners
                .iter_mut()
                .find(|l| l.running && l.state == ListenerState::Ready)
            else {
                pool.buffer.borrow_mut().push_front(q);
                return;
            };
            let payload = q.event.payload();
            let envelope = format!(
                "ver:3.0 server:{} serial:{} pool:{} poolserial:{} eventname:{} len:{}\n{}",
                self.identifier.borrow(),
                q.serial,
                pool.name,
                q.pool_serial,
                q.event.type_name(),
                // Python's len() of a str: characters, not bytes.
                payload.chars().count(),
                payload
            );
            match write_now(&l.stdin, envelope.as_bytes()) {
                Ok(()) => {
                    mainlog::debug(format!("event {} sent to listener {}", q.serial, l.name));
                    set_state(l, ListenerState::Busy);
                    l.current = Some(q);
                }
                Err(_) => {
                    mainlog::debug(format!(
                        "epipe occurred while sending event {} to listener {}, listener state unchanged",
                        q.serial, l.name
                    ));
                    drop(listeners);
                    pool.buffer.borrow_mut().push_front(q);
                    return;
                }
            }
        }
    }

    /// A listener process was spawned: read its protocol from `stdout`, write events to
    /// `stdin`. The returned task ends when its stdout closes.
    pub fn attach_listener(
        &self,
        cfg: &ProcessConfig,
        pid: i32,
        stdout: OwnedFd,
        log: Rc<RefCell<ChannelLog>>,
        stdin: OwnedFd,
    ) -> JoinHandle<()> {
        let pool = self
            .pools
            .borrow()
            .iter()
            .find(|p| p.name == cfg.group)
            .cloned();
        let name = cfg.name.clone();
        let bus = self.me.borrow().upgrade();
        let stdin = sys::async_writer(stdin).map(Rc::new);
        // Register now, not in the task: the process may turn RUNNING before the task runs.
        if let (Some(pool), Ok(stdin)) = (&pool, stdin) {
            let mut ls = pool.listeners.borrow_mut();
            ls.retain(|l| l.name != name);
            ls.push(Listener {
                name: name.clone(),
                pid,
                state: ListenerState::Acknowledged,
                running: false,
                stdin,
                current: None,
            });
        }
        tokio::task::spawn_local(async move {
            let (Some(pool), Some(bus)) = (pool, bus) else {
                return;
            };
            read_protocol(&bus, &pool, &name, pid, stdout, log).await;
            // stdout closed: the listener is gone; an event it held is rejected.
            let held = {
                let mut ls = pool.listeners.borrow_mut();
                let pos = ls.iter().position(|l| l.name == name && l.pid == pid);
                pos.and_then(|i| ls.remove(i).current)
            };
            if let Some(q) = held {
                bus.accept(&pool, q, true);
            }
            bus.dispatch(&pool);
        })
    }

    fn update_ticker(&self) {
        let wants_ticks = self.pools.borrow().iter().any(|p| {
            p.events
                .iter()
                .any(|e| e == "EVENT" || e.starts_with("TICK"))
        });
        let mut ticker = self.ticker.borrow_mut();
        match (wants_ticks, ticker.is_some()) {
            (true, false) => {
                let me = self.me.borrow().clone();
                *ticker = Some(tokio::task::spawn_local(tick_loop(me)));
            }
            (false, true) => {
                if let Some(t) = ticker.take() {
                    t.abort();
                }
            }
            _ => {}
        }
    }
}

fn set_state(l: &mut Listener, state: ListenerState) {
    mainlog::debug(format!(
        "{}: {} -> {}",
        l.name,
        l.state.name(),
        state.name()
    ));
    l.state = state;
    if state == ListenerState::Unknown {
        mainlog::warn(format!(
            "{}: has entered the UNKNOWN state and will no longer receive events, this usually indicates the process violated the eventlistener protocol",
            l.name
        ));
    }
}

/// Emit TICK_5/60/3600 when the wall clock crosses each period boundary.
async fn tick_loop(bus: std::rc::Weak<EventBus>) {
    let periods = [5u64, 60, 3600];
    let now = unix_now();
    let mut last: Vec<u64> = periods.iter().map(|p| now - now % p).collect();
    loop {
        let now = unix_now();
        let next = now - now % 5 + 5;
        let wait = (next as f64) - sys::unix_time();
        tokio::time::sleep(Duration::from_secs_f64(wait.max(0.001))).await;
        let Some(bus) = bus.upgrade() else { return };
        let now = unix_now();
        for (i, period) in periods.iter().enumerate() {
            let slice = now - now % period;
            if slice != last[i] {
                last[i] = slice;
                bus.publish(Event::Tick {
                    period: *period,
                    when: slice,
                });
            }
        }
    }
}

fn unix_now() -> u64 {
    sys::unix_time() as u64
}

/// Write a whole envelope now; a listener that can't take a few KB at once is treated like
/// a closed pipe (supervisord writes synchronously too).
fn write_now(fd: &AsyncFd<OwnedFd>, data: &[u8]) -> io::Result<()> {
    match sys::write_nonblocking(fd, data)? {
        n if n == data.len() => Ok(()),
        _ => Err(io::Error::from(io::ErrorKind::WouldBlock)),
    }
}

/// Parse the listener's stdout: `READY\n`, then `RESULT <len>\n<body>` per event.
async fn read_protocol(
    bus: &EventBus,
    pool: &Rc<Pool>,
    name: &str,
    pid: i32,
    stdout: OwnedFd,
    log: Rc<RefCell<ChannelLog>>,
) {
    let Ok(afd) = sys::async_fd(stdout, Interest::READABLE) else {
        return;
    };
    let mut state_buf: Vec<u8> = Vec::new();
    let mut result_len: Option<usize> = None;
    let mut result: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let Ok(mut guard) = afd.readable().await else {
            return;
        };
        let n = match sys::read(afd.get_ref(), &mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                guard.clear_ready();
                continue;
            }
            Err(_) => return,
        };
        let data = &buf[..n];
        // Logged (and shown in the main log at debug level) as any output is.
        log.borrow_mut().record(data);
        state_buf.extend_from_slice(data);
        handle_state(
            bus,
            pool,
            name,
            pid,
            &mut state_buf,
            &mut result_len,
            &mut result,
        );
        bus.dispatch(pool);
    }
}

/// supervisord's `handle_listener_state_change`, as a loop.
fn handle_state(
    bus: &EventBus,
    pool: &Rc<Pool>,
    name: &str,
    pid: i32,
    state_buf: &mut Vec<u8>,
    result_len: &mut Option<usize>,
    result: &mut Vec<u8>,
) {
    const READY: &[u8] = b"READY\n";
    loop {
        if state_buf.is_empty() {
            return;
        }
        let mut ls = pool.listeners.borrow_mut();
        let Some(l) = ls.iter_mut().find(|l| l.name == name && l.pid == pid) else {
            return;
        };
        match l.state {
            ListenerState::Unknown => {
                state_buf.clear();
                return;
            }
            ListenerState::Acknowledged => {
                if state_buf.len() < READY.len() {
                    return;
                }
                if state_buf.starts_with(READY) {
                    set_state(l, ListenerState::Ready);
                    state_buf.drain(..READY.len());
                    l.current = None;
                } else {
                    set_state(l, ListenerState::Unknown);
                    state_buf.clear();
                    l.current = None;
                    return;
                }
            }
            ListenerState::Ready => {
                // Spurious output: supervisord is strict about it.
                set_state(l, ListenerState::Unknown);
                state_buf.clear();
                l.current = None;
                return;
            }
            ListenerState::Busy => match *result_len {
                None => {
                    let Some(pos) = state_buf.iter().position(|b| *b == b'\n') else {
                        return;
                    };
                    let line: Vec<u8> = state_buf.drain(..=pos).collect();
                    let line = &line[..line.len() - 1];
                    let len = line
                        .strip_prefix(b"RESULT ")
                        .and_then(|n| std::str::from_utf8(n).ok())
                        .and_then(|n| n.trim().parse::<usize>().ok());
                    match len {
                        Some(n) => *result_len = Some(n),
                        None => {
                            mainlog::warn(format!(
                                "{}: bad result line: '{}'",
                                name,
                                String::from_utf8_lossy(line)
                            ));
                            set_state(l, ListenerState::Unknown);
                            state_buf.clear();
                            if let Some(q) = l.current.take() {
                                drop(ls);
                                bus.accept(pool, q, true);
                            }
                            return;
                        }
                    }
                }
                Some(n) => {
                    let need = n - result.len();
                    let take = need.min(state_buf.len());
                    result.extend(state_buf.drain(..take));
                    if result.len() < n {
                        return;
                    }
                    let ok = result.as_slice() == b"OK";
                    result.clear();
                    *result_len = None;
                    let current = l.current.take();
                    set_state(l, ListenerState::Acknowledged);
                    bus.progress.notify_waiters();
                    if ok {
                        mainlog::debug(format!("{name}: event was processed"));
                    } else {
                        mainlog::warn(format!("{name}: event was rejected"));
                        if let Some(q) = current {
                            drop(ls);
                            bus.accept(pool, q, true);
                        }
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_match_supervisord() {
        let e = Event::ProcessState {
            name: "web".into(),
            group: "web".into(),
            from: ProcessState::Starting,
            to: ProcessState::Running,
            expected: true,
            pid: Some(42),
            tries: 0,
        };
        assert_eq!(
            e.payload(),
            "processname:web groupname:web from_state:STARTING pid:42"
        );
        assert_eq!(e.type_name(), "PROCESS_STATE_RUNNING");
        assert!(e.matches("PROCESS_STATE") && e.matches("EVENT") && !e.matches("TICK"));

        let e = Event::ProcessState {
            name: "w".into(),
            group: "g".into(),
            from: ProcessState::Running,
            to: ProcessState::Exited,
            expected: false,
            pid: Some(7),
            tries: 0,
        };
        assert_eq!(
            e.payload(),
            "processname:w groupname:g from_state:RUNNING expected:0 pid:7"
        );

        let e = Event::ProcessLog {
            name: "w".into(),
            group: "g".into(),
            pid: 7,
            channel: "stdout",
            data: b"hi\n".to_vec(),
        };
        assert_eq!(
            e.payload(),
            "processname:w groupname:g pid:7 channel:stdout\nhi\n"
        );
        assert_eq!(
            Event::Tick {
                period: 60,
                when: 120
            }
            .payload(),
            "when:120"
        );
        assert_eq!(
            Event::ProcessGroupAdded("g".into()).payload(),
            "groupname:g\n"
        );
    }
}
