//! Pacing: at most [`PER_TURN`] units of process work per turn of the event loop, so the
//! control plane answers while corrald starts, stops or reloads thousands of processes.
//!
//! corrald runs everything on one thread, and tokio's local run queue is first in, first
//! out: when 3,000 process tasks are woken at once (every program activated, every child
//! reaped at shutdown), a request that arrives next waits behind all 3,000 spawns. With the
//! gate, a task that is about to do such work first calls [`Pace::admit`]: the first
//! `PER_TURN` callers of a turn pass at once, the others wait, in order, off the run queue,
//! and are let through `PER_TURN` at a time, each batch after the event loop has polled
//! for I/O and run what that woke (a turn ends with `yield_now`, which tokio resumes only
//! after the I/O driver ran). So a request waits for at most one batch of work, not for
//! all of it, and nothing is dropped or reordered: every process is served in the order it
//! asked.
//!
//! What counts as a unit is the caller's choice; it should be about one spawn's worth of
//! work (a spawn, a reaped exit, a process created with its log files).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use tokio::sync::oneshot;

/// Units of work per turn of the event loop. A spawn costs corrald 50–300 µs, so a batch
/// is a few milliseconds: a request waits a few batches at worst (accept, read, answer).
pub const PER_TURN: usize = 8;

#[derive(Debug)]
pub struct Pace {
    per_turn: usize,
    /// What is left of this turn's allowance.
    budget: Cell<usize>,
    waiting: RefCell<VecDeque<oneshot::Sender<()>>>,
    /// A task is handing out the next turns.
    dispatching: Cell<bool>,
}

impl Default for Pace {
    fn default() -> Pace {
        Pace::new(PER_TURN)
    }
}

impl Pace {
    pub fn new(per_turn: usize) -> Pace {
        let per_turn = per_turn.max(1);
        Pace {
            per_turn,
            budget: Cell::new(per_turn),
            waiting: RefCell::new(VecDeque::new()),
            dispatching: Cell::new(false),
        }
    }

    /// Wait for a unit of this turn's allowance (at once if some is left and nobody
    /// waits before us).
    pub async fn admit(self: &Rc<Self>) {
        if self.waiting.borrow().is_empty() && self.budget.get() > 0 {
            self.budget.set(self.budget.get() - 1);
            return;
        }
        let (tx, rx) = oneshot::channel();
        self.waiting.borrow_mut().push_back(tx);
        if !self.dispatching.replace(true) {
            tokio::task::spawn_local(self.clone().dispatch());
        }
        // A dropped sender cannot happen while the dispatcher runs; either way, go on.
        let _ = rx.await;
    }

    /// How many wait for their turn.
    #[cfg(test)]
    pub fn waiting(&self) -> usize {
        self.waiting.borrow().len()
    }

    /// Hand out the allowance one turn after another while anyone waits.
    async fn dispatch(self: Rc<Self>) {
        loop {
            tokio::task::yield_now().await;
            let mut budget = self.per_turn;
            while budget > 0 {
                let Some(tx) = self.waiting.borrow_mut().pop_front() else {
                    break;
                };
                // A waiter that went away (its task ended) takes nothing.
                if tx.send(()).is_ok() {
                    budget -= 1;
                }
            }
            self.budget.set(budget);
            if self.waiting.borrow().is_empty() {
                self.dispatching.set(false);
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testutil::local_set as local;

    #[test]
    fn the_first_of_a_turn_pass_at_once_the_rest_in_batches_in_order() {
        local(async {
            let pace = Rc::new(Pace::new(3));
            let order = Rc::new(RefCell::new(Vec::new()));
            let turns = Rc::new(Cell::new(0usize));
            let mut tasks = Vec::new();
            for i in 0..10 {
                let (pace, order, turns) = (pace.clone(), order.clone(), turns.clone());
                tasks.push(tokio::task::spawn_local(async move {
                    pace.admit().await;
                    order.borrow_mut().push((i, turns.get()));
                }));
            }
            // A task that counts turns: it yields once per turn.
            let counter = {
                let turns = turns.clone();
                tokio::task::spawn_local(async move {
                    for _ in 0..20 {
                        tokio::task::yield_now().await;
                        turns.set(turns.get() + 1);
                    }
                })
            };
            for t in tasks {
                t.await.unwrap();
            }
            counter.abort();
            let order = order.borrow();
            let ids: Vec<usize> = order.iter().map(|(i, _)| *i).collect();
            assert_eq!(ids, (0..10).collect::<Vec<_>>(), "served in order");
            // No more than 3 in any one turn.
            for t in 0..=order.last().unwrap().1 {
                let n = order.iter().filter(|(_, turn)| *turn == t).count();
                assert!(n <= 3, "turn {t} served {n}: {order:?}");
            }
            assert!(order.last().unwrap().1 >= 3, "10 need at least 4 turns");
            assert_eq!(pace.waiting(), 0);
        });
    }

    #[test]
    fn a_waiter_that_goes_away_takes_nothing() {
        local(async {
            let pace = Rc::new(Pace::new(1));
            pace.admit().await; // the allowance of this turn
            let gone = {
                let pace = pace.clone();
                tokio::task::spawn_local(async move { pace.admit().await })
            };
            let served = Rc::new(Cell::new(false));
            let next = {
                let (pace, served) = (pace.clone(), served.clone());
                tokio::task::spawn_local(async move {
                    pace.admit().await;
                    served.set(true);
                })
            };
            tokio::task::yield_now().await; // both are waiting now
            gone.abort();
            next.await.unwrap();
            assert!(served.get());
        });
    }

    #[test]
    fn the_allowance_comes_back_after_a_turn() {
        local(async {
            let pace = Rc::new(Pace::new(2));
            for _ in 0..7 {
                pace.admit().await;
            }
            assert_eq!(pace.waiting(), 0);
        });
    }
}
