//! `GET /api/v1/events`: a Server-Sent Events stream of what happens to the processes.
//!
//! First a `snapshot` of every process (the objects `GET /api/v1/processes` returns),
//! then one event per change, in order, each with an `id` one higher than the last: `state`
//! (a process changed state: from, to, and the process as it is now), `group` (a group was
//! added or removed), `supervisor` (the daemon is stopping), and, with `?stats=1`, a
//! `stats` event every 5 seconds with each process tree's CPU and memory (the dashboard's
//! plots). `health` and `scale` events have their place here for when the daemon learns
//! them.
//!
//! The stream subscribes to the daemon's event bus before it takes the snapshot, within
//! one step of the single-threaded daemon, so nothing falls between the two. Each stream
//! has a bounded queue ([`QUEUE`] events): a client that falls that far behind is dropped
//! (its connection closes; an EventSource reconnects and starts from a new snapshot),
//! never buffered without bound. An event is written as soon as it is published.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::{Rc, Weak};
use std::time::Duration;

use serde_json::{Value as Json, json};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use corral_proto::api::make_namespec;
use corral_proto::http::{Request, Response, encode_chunk};

use super::stats;
use super::{Answer, Params, process_json};
use crate::events::Event;
use crate::rpc::supervisor::lookup::all_processes;
use crate::supervisor::Supervisor;

/// Events a stream may fall behind by before it is dropped.
pub const QUEUE: usize = 1024;
/// A comment line this often keeps proxies from closing a quiet stream.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// What a client asked of its stream.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Send `stats` events (sampling /proc every 5 s while connected).
    pub stats: bool,
}

impl Options {
    pub(super) fn of(params: &Params) -> Result<Options, Answer> {
        Ok(Options {
            stats: params.flag("stats", false)?,
        })
    }
}

/// What the stream sends after its snapshot.
#[derive(Debug)]
enum StreamEvent {
    State(Rc<Event>),
    Group {
        name: String,
        added: bool,
    },
    Supervisor {
        state: &'static str,
    },
    /// A health check's (or the watchdog's) verdict changed.
    Health {
        group: String,
        name: String,
        healthy: bool,
        detail: String,
    },
    /// A program was scaled at run time (`corralctl scale`).
    Scale {
        group: String,
        desired: u32,
    },
}

impl StreamEvent {
    fn of(e: Rc<Event>) -> Option<StreamEvent> {
        Some(match &*e {
            Event::ProcessState { .. } => StreamEvent::State(e),
            Event::ProcessGroupAdded(g) => StreamEvent::Group {
                name: g.clone(),
                added: true,
            },
            Event::ProcessGroupRemoved(g) => StreamEvent::Group {
                name: g.clone(),
                added: false,
            },
            Event::SupervisorRunning => StreamEvent::Supervisor { state: "RUNNING" },
            Event::SupervisorStopping => StreamEvent::Supervisor { state: "SHUTDOWN" },
            Event::ProcessHealth {
                name,
                group,
                healthy,
                text,
                ..
            } => StreamEvent::Health {
                group: group.clone(),
                name: name.clone(),
                healthy: *healthy,
                detail: text.clone(),
            },
            Event::GroupScaled { group, processes } => StreamEvent::Scale {
                group: group.clone(),
                desired: *processes,
            },
            _ => return None,
        })
    }

    /// Whether the bus event is one a stream wants.
    fn wanted(e: &Event) -> bool {
        matches!(
            e,
            Event::ProcessState { .. }
                | Event::ProcessGroupAdded(_)
                | Event::ProcessGroupRemoved(_)
                | Event::SupervisorRunning
                | Event::SupervisorStopping
                | Event::ProcessHealth { .. }
                | Event::GroupScaled { .. }
        )
    }

    /// (event name, data). A state event's data is made once and shared by every stream
    /// (it is most of the work: the process as it is, as JSON).
    fn encode(&self, sup: &Supervisor) -> (&'static str, Rc<str>) {
        if let StreamEvent::State(e) = self {
            let data = ENCODED.with(|cache| {
                let mut cache = cache.borrow_mut();
                let hit = cache.iter().find_map(|(w, d)| {
                    w.upgrade()
                        .filter(|ev| Rc::ptr_eq(ev, e))
                        .map(|_| d.clone())
                });
                hit.unwrap_or_else(|| {
                    let d: Rc<str> = self.data(sup).to_string().into();
                    if cache.len() >= ENCODED_KEEP {
                        cache.pop_front();
                    }
                    cache.push_back((Rc::downgrade(e), d.clone()));
                    d
                })
            });
            return ("state", data);
        }
        let name = match self {
            StreamEvent::State(_) => "state",
            StreamEvent::Group { .. } => "group",
            StreamEvent::Supervisor { .. } => "supervisor",
            StreamEvent::Health { .. } => "health",
            StreamEvent::Scale { .. } => "scale",
        };
        (name, self.data(sup).to_string().into())
    }

    fn data(&self, sup: &Supervisor) -> Json {
        let now = crate::sys::unix_time();
        match self {
            StreamEvent::State(e) => {
                let Event::ProcessState {
                    name,
                    group,
                    from,
                    to,
                    expected,
                    pid,
                    tries,
                } = &**e
                else {
                    unreachable!("a State wraps a ProcessState event")
                };
                let process = sup
                    .group(group)
                    .and_then(|g| g.find(name).map(process_json))
                    .unwrap_or(Json::Null);
                json!({
                    "time": now,
                    "group": group, "name": name, "namespec": make_namespec(group, name),
                    "from": from.name(), "to": to.name(), "expected": expected,
                    "pid": pid, "tries": tries, "process": process,
                })
            }
            StreamEvent::Group { name, added } => {
                json!({"time": now, "group": name, "added": added})
            }
            StreamEvent::Supervisor { state } => json!({"time": now, "state": state}),
            StreamEvent::Health {
                group,
                name,
                healthy,
                detail,
            } => json!({
                "time": now, "group": group, "name": name,
                "namespec": make_namespec(group, name), "healthy": healthy, "detail": detail,
            }),
            StreamEvent::Scale { group, desired } => {
                json!({"time": now, "group": group, "desired": desired})
            }
        }
    }
}

/// State events encoded lately, shared by the streams.
const ENCODED_KEEP: usize = 256;

thread_local! {
    static ENCODED: RefCell<VecDeque<(Weak<Event>, Rc<str>)>> = const { RefCell::new(VecDeque::new()) };
}

/// One SSE message.
fn message(event: &str, id: Option<u64>, data: &dyn std::fmt::Display) -> Vec<u8> {
    let mut s = String::new();
    if let Some(id) = id {
        s.push_str(&format!("id: {id}\n"));
    }
    s.push_str(&format!("event: {event}\ndata: {data}\n\n"));
    encode_chunk(s.as_bytes())
}

/// Serve the stream until the client goes away or falls too far behind.
pub async fn serve<S>(stream: S, sup: &Rc<Supervisor>, req: &Request, opts: Options)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Subscribe, then take the snapshot, with no await between: nothing is missed.
    let mut sub = sup.services().events.subscribe(QUEUE, StreamEvent::wanted);
    let processes: Vec<Json> = all_processes(sup, true).iter().map(process_json).collect();
    let snapshot = json!({
        "time": crate::sys::unix_time(),
        "supervisor": {"state": sup.state().name()},
        "processes": processes,
    });
    let (mut reader, mut writer) = tokio::io::split(stream);
    let head = Response::new(200)
        .version(req.version)
        .header("Content-Type", "text/event-stream")
        .header("Cache-Control", "no-store")
        .header("X-Accel-Buffering", "no")
        .chunked();
    let mut first = head.head_bytes();
    // An EventSource that loses the stream reconnects after a second.
    first.extend(encode_chunk(b"retry: 1000\n\n"));
    first.extend(message("snapshot", Some(0), &snapshot));
    if opts.stats {
        first.extend(message("stats", None, &stats_data(sup)));
    }
    if writer.write_all(&first).await.is_err() || writer.flush().await.is_err() {
        return;
    }
    let mut seq = 0u64;
    let tick = Duration::from_secs(if opts.stats {
        stats::INTERVAL_SECS
    } else {
        HEARTBEAT.as_secs()
    });
    let mut next_tick = tokio::time::Instant::now() + tick;
    let mut probe = [0u8; 256];
    loop {
        let out = tokio::select! {
            ev = sub.recv() => match ev {
                Some(ev) => {
                    let Some(se) = StreamEvent::of(ev) else { continue };
                    seq += 1;
                    let (name, data) = se.encode(sup);
                    let mut out = message(name, Some(seq), &data);
                    // Whatever else is queued goes in the same write.
                    while let Some(ev) = sub.try_recv() {
                        if let Some(se) = StreamEvent::of(ev) {
                            seq += 1;
                            let (name, data) = se.encode(sup);
                            out.extend(message(name, Some(seq), &data));
                        }
                    }
                    out
                }
                None => {
                    // Dropped for falling behind: say so if the client still reads.
                    let data = json!({"reason": "the client fell too far behind", "queue": QUEUE});
                    let _ = writer.write_all(&message("dropped", None, &data)).await;
                    let _ = writer.write_all(corral_proto::http::LAST_CHUNK).await;
                    return;
                }
            },
            () = tokio::time::sleep_until(next_tick) => {
                next_tick = tokio::time::Instant::now() + tick;
                if opts.stats {
                    message("stats", None, &stats_data(sup))
                } else {
                    encode_chunk(b": keep-alive\n\n")
                }
            }
            r = reader.read(&mut probe) => {
                if matches!(r, Ok(0) | Err(_)) {
                    return;
                }
                continue;
            }
        };
        if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
            return;
        }
    }
}

fn stats_data(sup: &Supervisor) -> Json {
    stats::sample(sup);
    json!({"time": crate::sys::unix_time(), "processes": stats::latest()})
}
