//! [`Sparse`]: a value that costs one pointer while it is its type's "off" value.
//!
//! corral's options (liveness rules, and the like) are off for most programs, and a daemon
//! may hold thousands of processes: a few hundred bytes of rules per process that nobody
//! set add up to megabytes. A `Sparse<T>` reads as a `T` (the shared [`Off::OFF`] while
//! unset), allocates on the first write, and serializes exactly as a `T` would, so the
//! state an upgrade hands over keeps its format.

use std::ops::{Deref, DerefMut};

/// A type with a value meaning "nothing set", available as a `'static` reference.
pub trait Off: Sized + PartialEq + 'static {
    const OFF: &'static Self;
}

#[derive(Debug, Clone)]
pub struct Sparse<T: Off>(Option<Box<T>>);

/// By value: an unset `Sparse` equals one that holds its `OFF` value (after a write through
/// `DerefMut` that left it off). Configurations are compared this way to tell what changed.
impl<T: Off> PartialEq for Sparse<T> {
    fn eq(&self, other: &Sparse<T>) -> bool {
        **self == **other
    }
}

impl<T: Off + Eq> Eq for Sparse<T> {}

impl<T: Off> Sparse<T> {
    pub fn new(value: T) -> Sparse<T> {
        if value == *T::OFF {
            Sparse(None)
        } else {
            Sparse(Some(Box::new(value)))
        }
    }

    /// Whether anything is set.
    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// Change the value; unlike a write through `DerefMut`, a change that leaves it off
    /// (a reset of what was never set) allocates nothing.
    pub fn update(&mut self, f: impl FnOnce(&mut T))
    where
        T: Clone,
    {
        match &mut self.0 {
            Some(v) => f(v),
            None => {
                let mut v = T::OFF.clone();
                f(&mut v);
                if v != *T::OFF {
                    self.0 = Some(Box::new(v));
                }
            }
        }
    }
}

impl<T: Off> Default for Sparse<T> {
    fn default() -> Sparse<T> {
        Sparse(None)
    }
}

impl<T: Off> Deref for Sparse<T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.0.as_deref().unwrap_or(T::OFF)
    }
}

impl<T: Off + Clone> DerefMut for Sparse<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.0.get_or_insert_with(|| Box::new(T::OFF.clone()))
    }
}

impl<T: Off + serde::Serialize> serde::Serialize for Sparse<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

impl<'de, T: Off + serde::Deserialize<'de>> serde::Deserialize<'de> for Sparse<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Sparse<T>, D::Error> {
        T::deserialize(d).map(Sparse::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Rules {
        a: Option<u32>,
        b: Vec<u8>,
    }

    impl Off for Rules {
        const OFF: &'static Rules = &Rules {
            a: None,
            b: Vec::new(),
        };
    }

    #[test]
    fn reads_off_until_written() {
        let mut s = Sparse::<Rules>::default();
        assert_eq!(s.a, None);
        assert!(!s.is_set());
        s.a = Some(3);
        assert!(s.is_set());
        assert_eq!(s.a, Some(3));
        assert!(!Sparse::new(Rules::OFF.clone()).is_set());
        assert_eq!(
            Sparse::new(Rules {
                a: Some(1),
                b: vec![]
            })
            .a,
            Some(1)
        );
    }

    #[test]
    fn an_update_that_leaves_it_off_allocates_nothing() {
        let mut s = Sparse::<Rules>::default();
        s.update(|r| r.a = None);
        assert!(!s.is_set());
        s.update(|r| r.a = Some(2));
        assert!(s.is_set());
        s.update(|r| r.a = None);
        assert_eq!(s.a, None);
    }

    #[test]
    fn equality_is_by_value() {
        let mut written = Sparse::<Rules>::default();
        // A write through `DerefMut` allocates, even one that leaves the value off.
        let rules: &mut Rules = &mut written;
        rules.b.clear();
        assert!(written.is_set());
        assert_eq!(written, Sparse::default());
        assert_ne!(
            written,
            Sparse::new(Rules {
                a: Some(1),
                b: vec![]
            })
        );
    }

    #[test]
    fn serializes_as_the_value() {
        for s in [
            Sparse::<Rules>::default(),
            Sparse::new(Rules {
                a: Some(7),
                b: vec![1, 2],
            }),
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, serde_json::to_string(&*s).unwrap());
            let back: Sparse<Rules> = serde_json::from_str(&json).unwrap();
            assert_eq!(back, s);
            assert_eq!(back.is_set(), s.is_set());
        }
    }
}
