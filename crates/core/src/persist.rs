//! Saving a machine and restoring it in another process (corrald's in-place upgrade).
//!
//! A machine is plain data except for its `Instant`s, which mean nothing in another
//! process. They are written as milliseconds relative to a base instant (the moment of
//! saving, or of restoring), set for the duration of one serialization with [`with_base`];
//! a deadline 3 s away when saved is 3 s away when restored. Every `Instant` field of the
//! machine's types carries `#[serde(with = "crate::persist::instant")]`.

use std::cell::Cell;
use std::time::{Duration, Instant};

thread_local! {
    static BASE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Run `f` (a serialization or deserialization) with `base` as the reference instant.
pub fn with_base<T>(base: Instant, f: impl FnOnce() -> T) -> T {
    struct Reset(Option<Instant>);
    impl Drop for Reset {
        fn drop(&mut self) {
            BASE.with(|b| b.set(self.0));
        }
    }
    let _reset = Reset(BASE.with(|b| b.replace(Some(base))));
    f()
}

fn base() -> Instant {
    // Without a base (a bug), "now" keeps deadlines meaningful rather than failing.
    BASE.with(Cell::get).unwrap_or_else(Instant::now)
}

/// Milliseconds from the base (negative: before it).
fn to_millis(t: Instant) -> i64 {
    let b = base();
    match t.checked_duration_since(b) {
        Some(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        None => -i64::try_from(b.duration_since(t).as_millis()).unwrap_or(i64::MAX),
    }
}

fn from_millis(ms: i64) -> Instant {
    let b = base();
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        b + d
    } else {
        b.checked_sub(d).unwrap_or(b)
    }
}

/// `#[serde(with = "crate::persist::instant")]`
pub mod instant {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::time::Instant;

    pub fn serialize<S: Serializer>(t: &Instant, s: S) -> Result<S::Ok, S::Error> {
        super::to_millis(*t).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Instant, D::Error> {
        i64::deserialize(d).map(super::from_millis)
    }
}

/// `#[serde(with = "crate::persist::opt_instant")]`
pub mod opt_instant {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::time::Instant;

    pub fn serialize<S: Serializer>(t: &Option<Instant>, s: S) -> Result<S::Ok, S::Error> {
        t.map(super::to_millis).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Instant>, D::Error> {
        Option::<i64>::deserialize(d).map(|o| o.map(super::from_millis))
    }
}
