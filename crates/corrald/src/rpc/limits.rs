//! How many connections one HTTP server keeps, and which one goes when there are too many.
//!
//! Each server has its own pool, so clients of the unix socket are never starved by TCP
//! clients (anyone who can reach `[inet_http_server]` may open connections, no credentials
//! needed). Within a TCP server, one client address (an IPv6 /64 counts as one) may hold
//! only a share of the pool. When a limit is reached, the connection that has waited
//! longest for its client to send something is closed to make room, and only when every
//! connection is busy (a request being answered, a log being tailed) is the new one
//! refused: idle connections can never lock clients out, which is what supervisord's
//! behaviour (it keeps answering with 600 idle connections) requires. What happened is
//! logged once per [`REPORT_EVERY`] with counts, not once per connection.

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::rc::Rc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::logs::mainlog;

/// How often the count of closed and refused connections is reported while it grows.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Who is at the other end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    Inet(IpAddr),
    /// A unix socket client, with its pid and uid when the kernel tells (SO_PEERCRED).
    Unix {
        pid: Option<i32>,
        uid: Option<u32>,
    },
}

impl Peer {
    /// The address a per-client limit counts by: the IPv4 address, or the /64 of an IPv6
    /// one (what one host is usually given); `None` for the unix socket.
    pub fn address_key(&self) -> Option<IpAddr> {
        match self {
            Peer::Inet(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => Some(IpAddr::V4(v4)),
                None => {
                    let mut segments = v6.segments();
                    segments[4..].fill(0);
                    Some(IpAddr::V6(segments.into()))
                }
            },
            Peer::Inet(v4) => Some(*v4),
            Peer::Unix { .. } => None,
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Inet(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => write!(f, "{v4}"),
                None => write!(f, "{v6}"),
            },
            Peer::Inet(ip) => write!(f, "{ip}"),
            Peer::Unix { pid, uid } => {
                f.write_str("unix socket")?;
                match (pid, uid) {
                    (Some(pid), Some(uid)) => write!(f, " (pid {pid}, uid {uid})"),
                    (None, Some(uid)) => write!(f, " (uid {uid})"),
                    (Some(pid), None) => write!(f, " (pid {pid})"),
                    (None, None) => Ok(()),
                }
            }
        }
    }
}

/// The limits of one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections the server keeps open at once.
    pub total: usize,
    /// Connections one client address keeps open at once (TCP only).
    pub per_peer: usize,
}

impl Limits {
    /// Limits that leave most of the descriptors (`nofile`, the soft RLIMIT_NOFILE) to
    /// the programs' pipes and log files: a quarter of them per server, from 32 to 512
    /// connections, and a quarter of that per client address.
    pub fn for_descriptors(nofile: u64) -> Limits {
        let total = usize::try_from(nofile / 4)
            .unwrap_or(usize::MAX)
            .clamp(32, 512);
        Limits {
            total,
            per_peer: total / 4,
        }
    }
}

/// The open connections of one server.
#[derive(Debug)]
pub struct Pool {
    limits: Limits,
    conns: RefCell<Vec<Rc<Tracked>>>,
    report: Rc<Report>,
}

/// One open connection, as its pool sees it.
#[derive(Debug)]
struct Tracked {
    address: Option<IpAddr>,
    /// Since when it has been waiting for its client (`None` while it is busy answering).
    waiting_since: Cell<Option<Instant>>,
    /// Told when the pool closes it to make room.
    evicted: Notify,
}

/// A connection's place in its pool; dropping it frees the place.
#[derive(Debug)]
pub struct Ticket {
    pool: Rc<Pool>,
    conn: Rc<Tracked>,
}

/// Why a connection was turned away or closed, counted between reports.
#[derive(Debug, Default)]
struct Report {
    section: String,
    closed: Cell<u64>,
    refused: Cell<u64>,
    /// A report is due at the end of the current interval.
    armed: Cell<bool>,
}

impl Pool {
    pub fn new(section: &str, limits: Limits) -> Rc<Pool> {
        Rc::new(Pool {
            limits,
            conns: RefCell::new(Vec::new()),
            report: Rc::new(Report {
                section: section.to_string(),
                ..Report::default()
            }),
        })
    }

    /// Connections open now.
    pub fn len(&self) -> usize {
        self.conns.borrow().len()
    }

    /// Take a place for a new connection from `peer`, closing the longest-waiting idle
    /// connection if a limit is reached; `None` (refused) if every connection that would
    /// have to go is busy. The new connection starts out waiting for its request.
    pub fn admit(self: &Rc<Self>, peer: &Peer) -> Option<Ticket> {
        let address = peer.address_key();
        if let Some(addr) = address {
            let from_peer = self
                .conns
                .borrow()
                .iter()
                .filter(|c| c.address == Some(addr))
                .count();
            if from_peer >= self.limits.per_peer
                && !self.evict_longest_waiting(|c| c.address == Some(addr))
            {
                self.refused();
                return None;
            }
        }
        if self.len() >= self.limits.total && !self.evict_longest_waiting(|_| true) {
            self.refused();
            return None;
        }
        let conn = Rc::new(Tracked {
            address,
            waiting_since: Cell::new(Some(Instant::now())),
            evicted: Notify::new(),
        });
        self.conns.borrow_mut().push(conn.clone());
        Some(Ticket {
            pool: self.clone(),
            conn,
        })
    }

    /// Close the connection among `which` that has waited longest for its client.
    fn evict_longest_waiting(&self, which: impl Fn(&Tracked) -> bool) -> bool {
        let mut conns = self.conns.borrow_mut();
        let oldest = conns
            .iter()
            .enumerate()
            .filter(|(_, c)| which(c))
            .filter_map(|(i, c)| c.waiting_since.get().map(|t| (t, i)))
            .min();
        let Some((_, i)) = oldest else {
            return false;
        };
        let conn = conns.swap_remove(i);
        drop(conns);
        // A permit is stored if the connection is not polling right now: it sees it at
        // its next wait.
        conn.evicted.notify_one();
        self.report.count(&self.report.closed, &self.limits);
        true
    }

    fn refused(&self) {
        self.report.count(&self.report.refused, &self.limits);
    }
}

impl Report {
    /// Count one event. The first one of a quiet spell is reported at once; the counts
    /// follow at the end of each interval that had any.
    fn count(self: &Rc<Self>, counter: &Cell<u64>, limits: &Limits) {
        counter.set(counter.get() + 1);
        if self.armed.replace(true) {
            return;
        }
        mainlog::warn(format!(
            "[{}]: connection limit reached (at most {} connections, {} per client \
             address): closing the connections that waited longest for their clients, \
             refusing new ones while all are busy; counts follow every {} s",
            self.section,
            limits.total,
            limits.per_peer,
            REPORT_EVERY.as_secs()
        ));
        let report = self.clone();
        tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(REPORT_EVERY).await;
                let (closed, refused) = (report.closed.replace(0), report.refused.replace(0));
                if closed + refused == 0 {
                    report.armed.set(false);
                    return;
                }
                mainlog::warn(format!(
                    "[{}]: in the last {} s, closed {closed} idle connection(s) to make room \
                     and refused {refused}",
                    report.section,
                    REPORT_EVERY.as_secs()
                ));
            }
        });
    }
}

impl Ticket {
    /// The connection now waits for its client (evictable from now on).
    pub fn waiting(&self) {
        if self.conn.waiting_since.get().is_none() {
            self.conn.waiting_since.set(Some(Instant::now()));
        }
    }

    /// The connection is answering a request (never evicted while so).
    pub fn busy(&self) {
        self.conn.waiting_since.set(None);
    }

    /// Resolves when the pool has closed this connection to make room.
    pub async fn evicted(&self) {
        self.conn.evicted.notified().await;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut conns = self.pool.conns.borrow_mut();
        if let Some(i) = conns.iter().position(|c| Rc::ptr_eq(c, &self.conn)) {
            conns.swap_remove(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn inet(last: u8) -> Peer {
        Peer::Inet(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
    }

    use crate::testutil::local_set;

    #[test]
    fn limits_follow_the_descriptor_limit() {
        assert_eq!(
            Limits::for_descriptors(1024),
            Limits {
                total: 256,
                per_peer: 64
            }
        );
        assert_eq!(Limits::for_descriptors(65536).total, 512);
        assert_eq!(Limits::for_descriptors(20).total, 32);
    }

    #[test]
    fn a_full_pool_closes_the_longest_waiting_connection_never_a_busy_one() {
        local_set(async {
            let pool = Pool::new(
                "inet_http_server",
                Limits {
                    total: 3,
                    per_peer: 3,
                },
            );
            let a = pool.admit(&inet(1)).unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
            let b = pool.admit(&inet(2)).unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
            let c = pool.admit(&inet(3)).unwrap();
            a.busy();
            // b has waited longest of those waiting.
            let _d = pool.admit(&inet(4)).unwrap();
            assert_eq!(pool.len(), 3);
            tokio::time::timeout(Duration::from_millis(1), b.evicted())
                .await
                .expect("b is told");
            assert!(
                tokio::time::timeout(Duration::from_millis(1), a.evicted())
                    .await
                    .is_err()
            );
            drop(b);
            assert_eq!(pool.len(), 3);
            // Every connection busy: the new one is refused.
            c.busy();
            _d.busy();
            assert!(pool.admit(&inet(5)).is_none());
            drop(a);
            assert!(pool.admit(&inet(5)).is_some());
        });
    }

    #[test]
    fn one_address_cannot_take_the_others_places() {
        local_set(async {
            let pool = Pool::new(
                "inet_http_server",
                Limits {
                    total: 10,
                    per_peer: 2,
                },
            );
            let other = pool.admit(&inet(9)).unwrap();
            let mut mine = Vec::new();
            for _ in 0..20 {
                mine.push(pool.admit(&inet(1)).unwrap());
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            // The address keeps its two newest; the other client was never touched.
            assert_eq!(pool.len(), 3);
            assert!(
                tokio::time::timeout(Duration::from_millis(1), other.evicted())
                    .await
                    .is_err()
            );
            // The unix socket has no per-client limit.
            let unix = Pool::new(
                "unix_http_server",
                Limits {
                    total: 10,
                    per_peer: 2,
                },
            );
            let peer = Peer::Unix {
                pid: Some(1),
                uid: Some(0),
            };
            let kept: Vec<_> = (0..10).map(|_| unix.admit(&peer).unwrap()).collect();
            assert_eq!(unix.len(), 10);
            drop(kept);
        });
    }

    #[test]
    fn peers_are_counted_by_address_and_ipv6_by_its_64() {
        let v6 = |s: &str| Peer::Inet(IpAddr::V6(s.parse::<Ipv6Addr>().unwrap()));
        assert_eq!(
            v6("2001:db8:1:2:aaaa::1").address_key(),
            v6("2001:db8:1:2:bbbb::2").address_key()
        );
        assert_ne!(
            v6("2001:db8:1:2::1").address_key(),
            v6("2001:db8:1:3::1").address_key()
        );
        assert_eq!(v6("::ffff:192.0.2.1").address_key(), inet(1).address_key());
        assert_eq!(v6("::ffff:192.0.2.1").to_string(), "192.0.2.1");
        assert_eq!(
            Peer::Unix {
                pid: Some(12),
                uid: Some(0)
            }
            .to_string(),
            "unix socket (pid 12, uid 0)"
        );
    }
}
