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
//! Costs nothing when unused: without pools or subscribers, `publish` returns at once, and
//! the TICK timer only runs while some pool subscribes to TICK events.
//!
//! Inside the daemon, [`EventBus::subscribe`] gives a lightweight [`Subscription`] (the
//! JSON API's event stream uses it): every event its filter accepts, in order, through a
//! bounded queue. A subscriber that falls behind by a whole queue is dropped (its
//! subscription ends), never buffered without bound: it starts again from a snapshot.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::task::JoinHandle;

use corral_config::{GroupConfig, GroupKind, ProcessConfig};
use corral_core::ProcessState;
use corral_proto::listener::{self, Output, ProtocolError, State as ListenerState};

use crate::logs::channel::{ChannelLog, undecodable};
use crate::logs::mainlog;
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
    /// corral, internal: a program was scaled at run time (for the JSON API's event stream;
    /// no listener can subscribe to it).
    GroupScaled {
        group: String,
        processes: u32,
    },
    /// An event that was waiting in a pool when corrald upgraded itself in place, as it
    /// will be sent: only its name and payload travel.
    Restored {
        type_name: String,
        payload: String,
    },
    /// corral: a health check or the watchdog found the process healthy or unhealthy.
    ProcessHealth {
        name: String,
        group: String,
        pid: i32,
        healthy: bool,
        text: String,
    },
    /// corral: a process is being recycled (`max_memory`, `max_lifetime`).
    ProcessRecycled {
        name: String,
        group: String,
        pid: i32,
        reason: &'static str,
        text: String,
    },
}

impl Event {
    /// The concrete type name (`PROCESS_STATE_RUNNING`).
    pub fn type_name(&self) -> String {
        match self {
            Event::Restored { type_name, .. } => type_name.clone(),
            Event::GroupScaled { .. } => "CORRAL_GROUP_SCALED".to_string(),
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
            Event::ProcessHealth { healthy: true, .. } => "PROCESS_HEALTH_HEALTHY".into(),
            Event::ProcessHealth { healthy: false, .. } => "PROCESS_HEALTH_UNHEALTHY".into(),
            Event::ProcessRecycled { .. } => "PROCESS_RECYCLED".into(),
        }
    }

    /// Whether a subscription to `subscribed` (concrete or abstract) covers this event
    /// (supervisord checks `isinstance` against the class hierarchy).
    /// corral's own events match only their exact name, never `EVENT`: a listener written
    /// for supervisord sees nothing new.
    pub fn matches(&self, subscribed: &str) -> bool {
        let concrete = self.type_name();
        if matches!(
            self,
            Event::ProcessHealth { .. } | Event::ProcessRecycled { .. }
        ) {
            return subscribed == concrete;
        }
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
            // Restored events sit in a pool's buffer only: nothing subscribes anew.
            Event::RemoteCommunication { .. }
            | Event::ProcessHealth { .. }
            | Event::ProcessRecycled { .. }
            | Event::Restored { .. }
            | Event::GroupScaled { .. } => return false,
        };
        subscribed == parent
    }

    /// The payload text, byte for byte what supervisord sends.
    pub fn payload(&self) -> String {
        match self {
            Event::Restored { payload, .. } => payload.clone(),
            Event::GroupScaled { group, processes } => {
                format!("groupname:{group} processes:{processes}")
            }
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
            // corral's: supervisord's header style, then the reason as the body (as
            // PROCESS_LOG carries its data), which childutils.eventdata splits off.
            Event::ProcessHealth {
                name,
                group,
                pid,
                text,
                ..
            } => format!("processname:{name} groupname:{group} pid:{pid}\n{text}"),
            Event::ProcessRecycled {
                name,
                group,
                pid,
                reason,
                text,
            } => format!("processname:{name} groupname:{group} pid:{pid} reason:{reason}\n{text}"),
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

/// One listener process of a pool.
struct Listener {
    name: String,
    pid: i32,
    /// The number of the stdout pipe its reader holds (for an upgrade's handover).
    stdout_fd: std::os::fd::RawFd,
    /// Its protocol state and unread output (supervisord's `listener_state` and
    /// `state_buffer`).
    protocol: listener::Parser,
    /// RUNNING per its own state events (supervisord only sends to RUNNING listeners).
    running: bool,
    stdin: Rc<AsyncFd<OwnedFd>>,
    current: Option<Queued>,
}

struct Pool {
    name: String,
    /// Handed over by the corrald this one replaced, until its listeners are back.
    restored: RefCell<Vec<ListenerExport>>,
    events: Vec<String>,
    buffer_size: usize,
    buffer: RefCell<VecDeque<Queued>>,
    serial: Cell<u64>,
    listeners: RefCell<Vec<Listener>>,
}

/// An in-daemon subscriber: its filter and its queue.
struct Subscriber {
    wants: Box<dyn Fn(&Event) -> bool>,
    tx: tokio::sync::mpsc::Sender<Rc<Event>>,
}

/// What [`EventBus::subscribe`] returns: the accepted events, in order, until the bus drops
/// the subscriber (its queue was full) or the subscription is dropped.
pub struct Subscription {
    rx: tokio::sync::mpsc::Receiver<Rc<Event>>,
}

impl Subscription {
    /// The next event; `None` once the bus dropped this subscriber for being too slow.
    pub async fn recv(&mut self) -> Option<Rc<Event>> {
        self.rx.recv().await
    }

    /// The next event if one is queued.
    pub fn try_recv(&mut self) -> Option<Rc<Event>> {
        self.rx.try_recv().ok()
    }
}

/// The event bus: every event in the daemon goes through [`EventBus::publish`].
pub struct EventBus {
    subscribers: RefCell<Vec<Subscriber>>,
    identifier: RefCell<String>,
    pools: RefCell<Vec<Rc<Pool>>>,
    serial: Cell<u64>,
    ticker: RefCell<Option<JoinHandle<()>>>,
    me: RefCell<std::rc::Weak<EventBus>>,
    /// Woken whenever a listener finishes an event (for draining at shutdown).
    progress: tokio::sync::Notify,
    /// Pools handed over by an upgrade, until their groups are created again.
    restored: RefCell<Vec<PoolExport>>,
}

/// The event system's part of an in-place upgrade (see `crate::upgrade`).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct EventsExport {
    pub serial: u64,
    pub pools: Vec<PoolExport>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct PoolExport {
    pub name: String,
    pub serial: u64,
    pub buffer: Vec<QueuedExport>,
    pub listeners: Vec<ListenerExport>,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct QueuedExport {
    pub serial: u64,
    pub pool_serial: u64,
    pub type_name: String,
    pub payload: String,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ListenerExport {
    pub name: String,
    pub pid: i32,
    pub protocol: listener::Parser,
    pub running: bool,
    pub current: Option<QueuedExport>,
    pub stdin: std::os::fd::RawFd,
    pub stdout: std::os::fd::RawFd,
}

impl EventsExport {
    /// Every descriptor it names.
    pub fn descriptors(&self) -> Vec<std::os::fd::RawFd> {
        self.pools
            .iter()
            .flat_map(|p| p.listeners.iter().flat_map(|l| [l.stdin, l.stdout]))
            .collect()
    }
}

impl Queued {
    fn export(&self) -> QueuedExport {
        QueuedExport {
            serial: self.serial,
            pool_serial: self.pool_serial,
            type_name: self.event.type_name(),
            payload: self.event.payload(),
        }
    }

    fn import(q: QueuedExport) -> Queued {
        Queued {
            serial: q.serial,
            pool_serial: q.pool_serial,
            event: Rc::new(Event::Restored {
                type_name: q.type_name,
                payload: q.payload,
            }),
        }
    }
}

impl EventBus {
    pub fn new(identifier: &str) -> Rc<EventBus> {
        let bus = Rc::new(EventBus {
            subscribers: RefCell::new(Vec::new()),
            identifier: RefCell::new(identifier.to_string()),
            pools: RefCell::new(Vec::new()),
            serial: Cell::new(0),
            ticker: RefCell::new(None),
            me: RefCell::new(std::rc::Weak::new()),
            progress: tokio::sync::Notify::new(),
            restored: RefCell::new(Vec::new()),
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
            // After an upgrade: the pool's buffer, numbering and listeners as they were.
            let restored = {
                let mut r = self.restored.borrow_mut();
                r.iter()
                    .position(|p| p.name == group.name)
                    .map(|i| r.remove(i))
            };
            let (buffer, serial, listeners) = match restored {
                Some(r) => (
                    r.buffer.into_iter().map(Queued::import).collect(),
                    r.serial,
                    r.listeners,
                ),
                None => (VecDeque::new(), 0, Vec::new()),
            };
            self.pools.borrow_mut().push(Rc::new(Pool {
                name: group.name.clone(),
                restored: RefCell::new(listeners),
                events: p.events.clone(),
                buffer_size: p.buffer_size.max(1),
                buffer: RefCell::new(buffer),
                serial: Cell::new(serial),
                listeners: RefCell::new(Vec::new()),
            }));
            self.update_ticker();
        }
    }

    /// An upgrade's handover: every pool's buffer and numbering, every listener's protocol
    /// state, the event it holds and its pipes.
    pub fn export(&self) -> EventsExport {
        EventsExport {
            serial: self.serial.get(),
            pools: self
                .pools
                .borrow()
                .iter()
                .map(|p| PoolExport {
                    name: p.name.clone(),
                    serial: p.serial.get(),
                    buffer: p.buffer.borrow().iter().map(Queued::export).collect(),
                    listeners: p
                        .listeners
                        .borrow()
                        .iter()
                        .map(|l| ListenerExport {
                            name: l.name.clone(),
                            pid: l.pid,
                            protocol: l.protocol.clone(),
                            running: l.running,
                            current: l.current.as_ref().map(Queued::export),
                            stdin: l.stdin.as_raw_fd(),
                            stdout: l.stdout_fd,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// Take over what an upgraded corrald handed over; its pools come back as their groups
    /// are created again, and their listeners as their processes are restored.
    pub fn restore(&self, export: EventsExport) {
        self.serial.set(export.serial);
        *self.restored.borrow_mut() = export.pools;
    }

    /// Every listener that was handed over and not taken back (its process is gone) is
    /// forgotten, its pipes closed; an event it held goes back to its pool.
    pub fn reattach_done(&self) {
        self.restored.borrow_mut().clear();
        for pool in self.pools.borrow().iter() {
            let left: Vec<ListenerExport> = pool.restored.borrow_mut().drain(..).collect();
            for l in left {
                for fd in [l.stdin, l.stdout] {
                    drop(crate::sys::handover::adopt_inherited(fd));
                }
                if let Some(q) = l.current {
                    self.accept(pool, Queued::import(q), true);
                }
            }
            self.dispatch(pool);
        }
    }

    /// A listener process restored after an upgrade: its protocol state, held event and
    /// pipes as they were. `None` if nothing was handed over for it.
    pub fn reattach_listener(
        &self,
        cfg: &ProcessConfig,
        pid: i32,
        log: Rc<RefCell<ChannelLog>>,
    ) -> Option<JoinHandle<()>> {
        let pool = self
            .pools
            .borrow()
            .iter()
            .find(|p| *p.name == *cfg.group)
            .cloned()?;
        let l = {
            let mut r = pool.restored.borrow_mut();
            let i = r.iter().position(|l| l.name == cfg.name && l.pid == pid)?;
            r.remove(i)
        };
        let stdin = crate::sys::handover::adopt_inherited(l.stdin);
        let stdout = crate::sys::handover::adopt_inherited(l.stdout);
        let (Ok(stdin), Ok(stdout)) = (stdin, stdout) else {
            mainlog::error(format!(
                "upgrade: the pipes of listener '{}' were not handed over",
                cfg.name
            ));
            return None;
        };
        let _ = sys::set_nonblocking(&stdout, true);
        Some(self.listen(
            pool,
            Listener {
                name: l.name,
                pid,
                stdout_fd: stdout.as_raw_fd(),
                protocol: l.protocol,
                running: l.running,
                stdin: Rc::new(sys::async_writer(stdin).ok()?),
                current: l.current.map(Queued::import),
            },
            stdout,
            log,
        ))
    }

    /// Whether the pool `name` has nothing buffered and no listener busy with an event.
    fn pool_idle(&self, name: &str) -> bool {
        self.pools
            .borrow()
            .iter()
            .filter(|p| p.name == name)
            .all(|p| {
                let listeners = p.listeners.borrow();
                let busy = listeners
                    .iter()
                    .any(|l| l.protocol.state() == ListenerState::Busy);
                // Buffered events only count if some listener could still take them.
                let can_take = listeners
                    .iter()
                    .any(|l| l.running && l.protocol.state() != ListenerState::Unknown);
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

    /// Subscribe to the events `wants` accepts, with a queue of `capacity` events. The
    /// subscriber gets every such event published from now on, in order; if its queue is
    /// full when one is published, it is dropped (logged), and its `recv` returns `None`
    /// once it has read what was queued.
    pub fn subscribe(
        &self,
        capacity: usize,
        wants: impl Fn(&Event) -> bool + 'static,
    ) -> Subscription {
        let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
        self.subscribers.borrow_mut().push(Subscriber {
            wants: Box::new(wants),
            tx,
        });
        Subscription { rx }
    }

    /// How many in-daemon subscribers there are.
    #[cfg(test)]
    pub fn subscriber_count(&self) -> usize {
        self.subscribers.borrow().len()
    }

    fn fan_out(&self, event: &Event) {
        let mut shared: Option<Rc<Event>> = None;
        self.subscribers.borrow_mut().retain(|s| {
            if s.tx.is_closed() {
                return false;
            }
            if !(s.wants)(event) {
                return true;
            }
            let ev = shared.get_or_insert_with(|| Rc::new(event.clone())).clone();
            match s.tx.try_send(ev) {
                Ok(()) => true,
                Err(tokio::sync::mpsc::error::TrySendError::Closed(_)) => false,
                Err(tokio::sync::mpsc::error::TrySendError::Full(_)) => {
                    mainlog::warn(format!(
                        "event stream subscriber dropped: it fell {} events behind",
                        s.tx.max_capacity()
                    ));
                    false
                }
            }
        });
    }

    /// Hand an event to every pool subscribed to it, and to every in-daemon subscriber.
    pub fn publish(&self, event: Event) {
        if !self.subscribers.borrow().is_empty() {
            self.fan_out(&event);
        }
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
                .find(|l| l.running && l.protocol.state() == ListenerState::Ready)
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
                    l.protocol.event_sent();
                    log_transition(&l.name, ListenerState::Ready, ListenerState::Busy);
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
            .find(|p| *p.name == *cfg.group)
            .cloned();
        let (Some(pool), Ok(stdin)) = (pool, sys::async_writer(stdin)) else {
            return tokio::task::spawn_local(async {});
        };
        self.listen(
            pool,
            Listener {
                name: cfg.name.clone(),
                pid,
                stdout_fd: stdout.as_raw_fd(),
                protocol: listener::Parser::new(),
                running: false,
                stdin: Rc::new(stdin),
                current: None,
            },
            stdout,
            log,
        )
    }

    /// Register `listener` in `pool` and read its protocol from `stdout` until it closes.
    fn listen(
        &self,
        pool: Rc<Pool>,
        listener: Listener,
        stdout: OwnedFd,
        log: Rc<RefCell<ChannelLog>>,
    ) -> JoinHandle<()> {
        let (name, pid) = (listener.name.clone(), listener.pid);
        let bus = self.me.borrow().upgrade();
        // Register now, not in the task: the process may turn RUNNING before the task runs.
        {
            let mut ls = pool.listeners.borrow_mut();
            ls.retain(|l| l.name != name);
            ls.push(listener);
        }
        tokio::task::spawn_local(async move {
            let Some(bus) = bus else {
                return;
            };
            let raw = stdout.as_raw_fd();
            read_protocol(&bus, &pool, &name, pid, stdout, log).await;
            crate::logs::log_stopped_monitoring(raw, "PEventListenerDispatcher", &name, "stdout");
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

/// supervisord's `_change_listener_state` log lines.
fn log_transition(name: &str, from: ListenerState, to: ListenerState) {
    mainlog::debug(format!("{}: {} -> {}", name, from.name(), to.name()));
    if to == ListenerState::Unknown {
        mainlog::warn(format!(
            "{name}: has entered the UNKNOWN state and will no longer receive events, this usually indicates the process violated the eventlistener protocol"
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
        handle_state(bus, pool, name, pid, data);
        bus.dispatch(pool);
    }
}

/// supervisord's `handle_listener_state_change`: the listener's output goes through its
/// protocol parser (`corral_proto::listener`), and the daemon acts on what it said.
fn handle_state(bus: &EventBus, pool: &Rc<Pool>, name: &str, pid: i32, data: &[u8]) {
    let mut ls = pool.listeners.borrow_mut();
    let Some(l) = ls.iter_mut().find(|l| l.name == name && l.pid == pid) else {
        return;
    };
    l.protocol.feed(data);
    // An event the listener rejected goes back to the head of the buffer.
    let mut rejected = None;
    loop {
        let before = l.protocol.state();
        let Some(output) = l.protocol.next_output() else {
            break;
        };
        if let Output::Garbage(ProtocolError::BadResultLine(line)) = &output {
            mainlog::warn(format!(
                "{}: bad result line: '{}'",
                name,
                String::from_utf8_lossy(line)
            ));
        }
        log_transition(name, before, l.protocol.state());
        match output {
            Output::Ready => l.current = None,
            Output::Result(body) => {
                let current = l.current.take();
                bus.progress.notify_waiters();
                if body == b"OK" {
                    mainlog::debug(format!("{name}: event was processed"));
                } else {
                    mainlog::warn(format!("{name}: event was rejected"));
                    rejected = rejected.or(current);
                }
            }
            Output::Garbage(e) => {
                let current = l.current.take();
                if matches!(e, ProtocolError::BadResultLine(_)) {
                    rejected = rejected.or(current);
                }
            }
        }
    }
    drop(ls);
    if let Some(q) = rejected {
        bus.accept(pool, q, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(name: &str, to: ProcessState) -> Event {
        Event::ProcessState {
            name: name.into(),
            group: name.into(),
            from: ProcessState::Stopped,
            to,
            expected: true,
            pid: None,
            tries: 0,
        }
    }

    #[test]
    fn subscribers_get_what_they_want_in_order() {
        let bus = EventBus::new("t");
        let mut all = bus.subscribe(8, |_| true);
        let mut states = bus.subscribe(8, |e| matches!(e, Event::ProcessState { .. }));
        bus.publish(state("a", ProcessState::Starting));
        bus.publish(Event::ProcessGroupAdded("g".into()));
        bus.publish(state("a", ProcessState::Running));
        let names = |s: &mut Subscription| {
            std::iter::from_fn(|| s.try_recv())
                .map(|e| e.type_name())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&mut all),
            [
                "PROCESS_STATE_STARTING",
                "PROCESS_GROUP_ADDED",
                "PROCESS_STATE_RUNNING"
            ]
        );
        assert_eq!(
            names(&mut states),
            ["PROCESS_STATE_STARTING", "PROCESS_STATE_RUNNING"]
        );
    }

    #[test]
    fn a_slow_subscriber_is_dropped_not_buffered() {
        let bus = EventBus::new("t");
        let mut slow = bus.subscribe(2, |_| true);
        let mut fast = bus.subscribe(100, |_| true);
        for _ in 0..5 {
            bus.publish(state("a", ProcessState::Starting));
        }
        assert_eq!(bus.subscriber_count(), 1, "the slow one is gone");
        // It reads what was queued, then its subscription ends.
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            assert!(slow.recv().await.is_some());
            assert!(slow.recv().await.is_some());
            assert!(slow.recv().await.is_none());
        });
        assert_eq!(std::iter::from_fn(|| fast.try_recv()).count(), 5);
        // A dropped subscription is forgotten at the next event.
        drop(fast);
        bus.publish(state("a", ProcessState::Running));
        assert_eq!(bus.subscriber_count(), 0);
    }

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

    #[test]
    fn corral_events_go_only_to_listeners_that_name_them() {
        let e = Event::ProcessHealth {
            name: "web_1".into(),
            group: "web".into(),
            pid: 42,
            healthy: false,
            text: "unhealthy: tcp://127.0.0.1:8000: connection refused (3 in a row)".into(),
        };
        assert_eq!(e.type_name(), "PROCESS_HEALTH_UNHEALTHY");
        assert_eq!(
            e.payload(),
            "processname:web_1 groupname:web pid:42\nunhealthy: tcp://127.0.0.1:8000: connection refused (3 in a row)"
        );
        assert!(e.matches("PROCESS_HEALTH_UNHEALTHY"));
        for other in [
            "EVENT",
            "PROCESS_STATE",
            "PROCESS_HEALTH_HEALTHY",
            "PROCESS_HEALTH",
        ] {
            assert!(!e.matches(other), "{other}");
        }
        let r = Event::ProcessRecycled {
            name: "w".into(),
            group: "w".into(),
            pid: 7,
            reason: "lifetime",
            text: "max_lifetime 60 s reached".into(),
        };
        assert_eq!(r.type_name(), "PROCESS_RECYCLED");
        assert_eq!(
            r.payload(),
            "processname:w groupname:w pid:7 reason:lifetime\nmax_lifetime 60 s reached"
        );
        assert!(r.matches("PROCESS_RECYCLED") && !r.matches("EVENT"));
    }
}
