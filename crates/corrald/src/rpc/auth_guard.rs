//! Failed Basic authentication: logged, and slowed down per client.
//!
//! Each failure is one main-log line in a fixed format a fail2ban filter can match
//! (docs/CONFIGURATION.md has the filter):
//!
//! ```text
//! 2025-01-01 12:00:00,123 WARN authentication failed from 192.0.2.7 for user "admin" on [inet_http_server]
//! 2025-01-01 12:00:00,123 WARN authentication failed from unix socket (pid 4242, uid 1000) for user "admin" on [unix_http_server]
//! ```
//!
//! The address comes first, right after fixed text, and the user name (which the client
//! chooses) is quoted with every quote, backslash and control character escaped, so a
//! crafted name can neither start a line of its own nor change what a filter takes for
//! the address. The password is never written.
//!
//! After [`FREE_FAILURES`] failures from one client within [`WINDOW`], the answer to each
//! further failure waits, [`FIRST_DELAY`] doubling up to [`MAX_DELAY`]. The wait is an
//! async sleep on that connection only: other connections, the same client's with the
//! right credentials included, are answered at once. Since a waiting connection is busy, it
//! keeps its place in the connection pool, so one address can have at most its share of
//! the pool's places waiting, which bounds how fast it can guess (64 places and 10 s: a
//! handful of guesses a second instead of thousands).

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use tokio::time::Instant;

use super::limits::Peer;
use crate::logs::mainlog;

/// Who a request's credentials name: the server's `username` (or anyone, on a server
/// without credentials), or its `readonly_username`, who may look but not act: every
/// action is refused with HTTP 403, whichever way it comes (XML-RPC, the JSON API, the
/// dashboard, supervisord's web page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Full,
    ReadOnly,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Full => "full",
            Role::ReadOnly => "readonly",
        }
    }
}

/// Failures from one client answered without delay, within [`WINDOW`].
pub const FREE_FAILURES: u32 = 5;
/// A client's failures are forgotten this long after its last one.
pub const WINDOW: Duration = Duration::from_secs(60);
/// The delay of the first slowed answer; each further failure doubles it.
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(10);
/// Clients remembered at most (beyond, the ones quiet longest are forgotten first).
const MAX_CLIENTS: usize = 4096;

/// Whom failures are counted against: a client address (an IPv6 /64), or a uid on the
/// unix socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Client {
    Address(IpAddr),
    Uid(Option<u32>),
}

impl Client {
    fn of(peer: &Peer) -> Client {
        match (peer.address_key(), peer) {
            (Some(addr), _) => Client::Address(addr),
            (None, Peer::Unix { uid, .. }) => Client::Uid(*uid),
            (None, Peer::Inet(ip)) => Client::Address(*ip),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// The failures of every client, shared by the servers.
#[derive(Debug, Default)]
pub struct AuthGuard {
    clients: RefCell<HashMap<Client, Failures>>,
}

impl AuthGuard {
    /// A failed attempt by `peer` as `user` (`None`: credentials that could not be read)
    /// on `section`: log it, and return how long to wait before answering it.
    pub fn failed(&self, peer: &Peer, user: Option<&str>, section: &str) -> Duration {
        let user = match user {
            Some(u) => format!("{u:?}"),
            None => "(unreadable credentials)".to_string(),
        };
        mainlog::warn(format!(
            "authentication failed from {peer} for user {user} on [{section}]"
        ));
        self.count(Client::of(peer), Instant::now())
    }

    fn count(&self, client: Client, now: Instant) -> Duration {
        let mut clients = self.clients.borrow_mut();
        if clients.len() >= MAX_CLIENTS && !clients.contains_key(&client) {
            clients.retain(|_, f| now.duration_since(f.last) < WINDOW);
            if clients.len() >= MAX_CLIENTS {
                // Many clients failing at once: forget the half quiet longest.
                let mut lasts: Vec<Instant> = clients.values().map(|f| f.last).collect();
                lasts.sort_unstable();
                let cut = lasts[lasts.len() / 2];
                clients.retain(|_, f| f.last > cut);
            }
        }
        let f = clients.entry(client).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(f.last) >= WINDOW {
            f.count = 0;
        }
        f.count = f.count.saturating_add(1);
        f.last = now;
        delay_after(f.count)
    }
}

/// The wait before answering a client's `n`th failure in a row.
fn delay_after(n: u32) -> Duration {
    if n <= FREE_FAILURES {
        return Duration::ZERO;
    }
    let doublings = (n - FREE_FAILURES - 1).min(16);
    (FIRST_DELAY * (1 << doublings)).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn delays_grow_after_five_failures_up_to_the_cap() {
        let delays: Vec<u64> = (1..=14)
            .map(|n| delay_after(n).as_millis() as u64)
            .collect();
        assert_eq!(
            delays,
            [
                0, 0, 0, 0, 0, 100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000
            ]
        );
        assert_eq!(delay_after(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn failures_count_per_client_and_are_forgotten_after_the_window() {
        let guard = AuthGuard::default();
        let a = Client::Address(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        let b = Client::Address(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
        let t0 = Instant::now();
        for _ in 0..FREE_FAILURES {
            assert_eq!(guard.count(a, t0), Duration::ZERO);
        }
        assert_eq!(guard.count(a, t0), FIRST_DELAY);
        assert_eq!(guard.count(b, t0), Duration::ZERO);
        // A steady attacker stays slowed; a quiet minute forgets.
        assert_eq!(guard.count(a, t0 + WINDOW / 2), FIRST_DELAY * 2);
        assert_eq!(guard.count(a, t0 + WINDOW * 2), Duration::ZERO);
    }

    #[test]
    fn many_clients_are_remembered_within_bounds() {
        let guard = AuthGuard::default();
        let t0 = Instant::now();
        for i in 0..(3 * MAX_CLIENTS as u32) {
            let ip = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            guard.count(
                Client::Address(ip),
                t0 + Duration::from_millis(u64::from(i)),
            );
        }
        assert!(guard.clients.borrow().len() <= MAX_CLIENTS);
    }
}
