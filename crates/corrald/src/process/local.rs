//! A channel and a watched value for the tasks of corrald's one thread.
//!
//! Every process has a command queue, an exit queue and a published snapshot, so their
//! cost is paid thousands of times. tokio's `mpsc` and `watch` are built for threads: an
//! unbounded channel allocates ~1.5 KiB up front (cache-padded counters and a first block
//! of 32 slots) and a watch channel ~0.5 KiB. These need no atomics and no padding: a
//! queue that allocates on its first message, a value with a version and a `Notify`.
//!
//! The channel also tells strong senders (a [`ProcessHandle`](super::ProcessHandle)'s)
//! from weak ones (the task's own, its probes'): when the last strong sender is gone, the
//! receiver sees the end, so a removed group's tasks end and close their log files.

use std::cell::{Cell, Ref, RefCell, RefMut};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};

use tokio::sync::Notify;

struct Shared<T> {
    queue: RefCell<VecDeque<T>>,
    waker: Cell<Option<Waker>>,
    senders: Cell<usize>,
    receiving: Cell<bool>,
}

impl<T> Shared<T> {
    fn send(&self, value: T) -> Result<(), T> {
        if !self.receiving.get() {
            return Err(value);
        }
        self.queue.borrow_mut().push_back(value);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
        Ok(())
    }
}

/// The sending side; clones count as senders.
pub struct Sender<T>(Rc<Shared<T>>);

/// A sender that does not keep the channel open.
pub struct WeakSender<T>(Rc<Shared<T>>);

pub struct Receiver<T>(Rc<Shared<T>>);

pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let shared = Rc::new(Shared {
        queue: RefCell::new(VecDeque::new()),
        waker: Cell::new(None),
        senders: Cell::new(1),
        receiving: Cell::new(true),
    });
    (Sender(shared.clone()), Receiver(shared))
}

impl<T> Sender<T> {
    /// Queue `value`; it comes back if the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), T> {
        self.0.send(value)
    }

    pub fn downgrade(&self) -> WeakSender<T> {
        WeakSender(self.0.clone())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Sender<T> {
        self.0.senders.set(self.0.senders.get() + 1);
        Sender(self.0.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let n = self.0.senders.get() - 1;
        self.0.senders.set(n);
        if n == 0 {
            if let Some(w) = self.0.waker.take() {
                w.wake();
            }
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sender")
    }
}

impl<T> WeakSender<T> {
    pub fn send(&self, value: T) -> Result<(), T> {
        self.0.send(value)
    }
}

impl<T> std::fmt::Debug for WeakSender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WeakSender")
    }
}

impl<T> Clone for WeakSender<T> {
    fn clone(&self) -> WeakSender<T> {
        WeakSender(self.0.clone())
    }
}

impl<T> Receiver<T> {
    /// The next message; `None` once every strong sender is gone and the queue is empty.
    /// Cancel-safe: nothing is taken until it returns.
    pub async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| {
            let mut queue = self.0.queue.borrow_mut();
            if let Some(v) = queue.pop_front() {
                if queue.is_empty() {
                    // Most queues are empty nearly always: hold no memory while empty.
                    *queue = VecDeque::new();
                }
                return Poll::Ready(Some(v));
            }
            drop(queue);
            if self.0.senders.get() == 0 {
                return Poll::Ready(None);
            }
            let w = self.0.waker.take();
            self.0.waker.set(match w {
                Some(w) if w.will_wake(cx.waker()) => Some(w),
                _ => Some(cx.waker().clone()),
            });
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
impl<T> Receiver<T> {
    /// The next message queued, if any.
    pub fn try_recv(&mut self) -> Option<T> {
        self.0.queue.borrow_mut().pop_front()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.0.receiving.set(false);
        // What was queued goes now (reply channels in it tell their callers).
        let queued = std::mem::take(&mut *self.0.queue.borrow_mut());
        drop(queued);
    }
}

/// A value one task publishes and others read or wait on (like `tokio::sync::watch`).
pub struct Watch<T> {
    value: RefCell<T>,
    /// Counts changes, so a watcher that was busy elsewhere still sees it missed one.
    version: Cell<u64>,
    notify: Notify,
    /// The publisher is gone: no change will come.
    closed: Cell<bool>,
}

impl<T> Watch<T> {
    pub fn new(value: T) -> Rc<Watch<T>> {
        Rc::new(Watch {
            value: RefCell::new(value),
            version: Cell::new(0),
            notify: Notify::new(),
            closed: Cell::new(false),
        })
    }

    pub fn borrow(&self) -> Ref<'_, T> {
        self.value.borrow()
    }

    /// Change the value without telling anyone; [`changed_now`](Watch::changed_now) tells.
    pub fn borrow_mut(&self) -> RefMut<'_, T> {
        self.value.borrow_mut()
    }

    /// The value changed: waiters are told.
    pub fn changed_now(&self) {
        self.version.set(self.version.get() + 1);
        self.notify.notify_waiters();
    }

    /// Change the value in place; waiters are told if `f` says it changed.
    pub fn send_if_modified(&self, f: impl FnOnce(&mut T) -> bool) -> bool {
        let changed = f(&mut self.value.borrow_mut());
        if changed {
            self.changed_now();
        }
        changed
    }

    pub fn send_modify(&self, f: impl FnOnce(&mut T)) {
        self.send_if_modified(|v| {
            f(v);
            true
        });
    }

    /// The current version: pass it to [`changed`](Watch::changed).
    pub fn version(&self) -> u64 {
        self.version.get()
    }

    /// Wait for a change after version `seen` (at once if there was one since), and
    /// move `seen` to it: false once closed (no change will come).
    pub async fn changed(&self, seen: &mut u64) -> bool {
        loop {
            // Registered before looking, so a change between the look and the wait is seen.
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.closed.get() {
                return false;
            }
            if self.version.get() != *seen {
                *seen = self.version.get();
                return true;
            }
            notified.await;
        }
    }

    /// No more changes (the publisher is gone): waiters get the value as it is.
    pub fn close(&self) {
        self.closed.set(true);
        self.notify.notify_waiters();
    }

    /// Wait until `pred` holds (checked at once, then at each change); returns the value
    /// `pred` accepted, as `f` maps it (or the last value, once closed).
    pub async fn wait_until<R>(&self, mut pred: impl FnMut(&T) -> bool, f: impl Fn(&T) -> R) -> R {
        loop {
            // Registered before looking, so a change between the look and the wait is seen.
            let changed = self.notify.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let v = self.value.borrow();
                if pred(&v) || self.closed.get() {
                    return f(&v);
                }
            }
            changed.await;
        }
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Watch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Watch").field(&*self.value.borrow()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testutil::local_set as local;

    #[test]
    fn messages_arrive_in_order_and_the_end_is_seen() {
        local(async {
            let (tx, mut rx) = channel();
            let tx2 = tx.clone();
            let weak = tx.downgrade();
            let reader = tokio::task::spawn_local(async move {
                let mut got = Vec::new();
                while let Some(v) = rx.recv().await {
                    got.push(v);
                }
                got
            });
            tx.send(1).unwrap();
            tokio::task::yield_now().await;
            tx2.send(2).unwrap();
            weak.send(3).unwrap();
            drop(tx);
            tokio::task::yield_now().await;
            drop(tx2); // the last strong sender: the reader ends, the weak one aside
            assert_eq!(reader.await.unwrap(), vec![1, 2, 3]);
            assert_eq!(weak.send(4), Err(4), "nobody receives any more");
        });
    }

    #[test]
    fn a_dropped_receiver_refuses_and_drops_what_was_queued() {
        let (tx, rx) = channel::<Rc<()>>();
        let item = Rc::new(());
        tx.send(item.clone()).unwrap();
        assert_eq!(Rc::strong_count(&item), 2);
        drop(rx);
        assert_eq!(Rc::strong_count(&item), 1);
        assert!(tx.send(item).is_err());
    }

    #[test]
    fn waiters_see_the_change_they_wait_for() {
        local(async {
            let w = Watch::new(0);
            let waiter = {
                let w = w.clone();
                tokio::task::spawn_local(async move { w.wait_until(|v| *v >= 2, |v| *v).await })
            };
            tokio::task::yield_now().await;
            w.send_modify(|v| *v = 1);
            assert!(!w.send_if_modified(|_| false));
            w.send_modify(|v| *v = 2);
            assert_eq!(waiter.await.unwrap(), 2);
            assert_eq!(
                w.wait_until(|v| *v == 2, |v| *v + 1).await,
                3,
                "true at once"
            );
            let never = {
                let w = w.clone();
                tokio::task::spawn_local(async move { w.wait_until(|v| *v > 5, |v| *v).await })
            };
            tokio::task::yield_now().await;
            w.close();
            assert_eq!(never.await.unwrap(), 2, "closed: the value as it is");
        });
    }

    #[test]
    fn a_watcher_sees_changes_made_before_it_first_runs() {
        local(async {
            let w = Watch::new(0);
            let mut seen = w.version();
            let watcher = {
                let w = w.clone();
                tokio::task::spawn_local(async move {
                    let mut wakes = 0;
                    while w.changed(&mut seen).await {
                        wakes += 1;
                    }
                    wakes
                })
            };
            // Changed before the watcher ran: it still wakes (once for both).
            w.send_modify(|v| *v = 1);
            w.send_modify(|v| *v = 2);
            tokio::task::yield_now().await;
            w.send_modify(|v| *v = 3);
            tokio::task::yield_now().await;
            w.close();
            assert_eq!(watcher.await.unwrap(), 2);
        });
    }
}
