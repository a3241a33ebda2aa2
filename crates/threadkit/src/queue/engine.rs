//! Which engine a queue runs on: the lock-free ring for bounded FIFO queues of moderate size,
//! the lock-based engine for everything else (unbounded, LIFO, priority, very large bounds).

use super::error::Fail;
use super::locked::Locked;
use super::ring::Ring;
use super::store::{Order, Store};
use crate::time::Wait;
use std::time::Instant;

/// The largest bound served by the ring, which allocates every slot up front (the lock-based
/// engine preallocates as many items and grows on demand beyond).
pub(super) const RING_MAX: usize = 4096;

/// Always behind an `Arc`, so the padded ring costs one allocation as the lock does.
#[allow(clippy::large_enum_variant)]
pub(super) enum Engine<T> {
    Locked(Locked<T>),
    Ring(Ring<T>),
}

/// What an immediate shutdown took out of the queue, to be dropped outside any lock.
pub(super) enum Dropped<T> {
    #[allow(dead_code)] // only ever dropped
    Store(Option<Store<T>>),
    #[allow(dead_code)] // only ever dropped
    Items(Vec<T>),
}

/// Calls the same method on whichever engine this is.
macro_rules! each {
    ($self:ident, $e:ident => $call:expr) => {
        match $self {
            Engine::Locked($e) => $call,
            Engine::Ring($e) => $call,
        }
    };
}

impl<T> Engine<T> {
    pub(super) fn locked(store: Store<T>, maxsize: usize) -> Self {
        Engine::Locked(Locked::new(store, maxsize))
    }

    pub(super) fn ring(maxsize: usize) -> Self {
        Engine::Ring(Ring::new(maxsize))
    }

    #[inline]
    pub(super) fn put(&self, item: T, wait: Wait) -> Result<(), (Fail, T)> {
        each!(self, e => e.put(item, wait))
    }

    #[inline]
    pub(super) fn get(&self, wait: Wait) -> Result<T, Fail> {
        each!(self, e => e.get(wait))
    }

    pub(super) fn task_done(&self) -> bool {
        each!(self, e => e.task_done())
    }

    pub(super) fn join(&self, deadline: Option<Instant>) -> bool {
        each!(self, e => e.join(deadline))
    }

    pub(super) fn shutdown(&self, immediate: bool) -> Dropped<T> {
        match self {
            Engine::Locked(e) => Dropped::Store(e.shutdown(immediate)),
            Engine::Ring(e) => Dropped::Items(e.shutdown(immediate)),
        }
    }

    pub(super) fn qsize(&self) -> usize {
        each!(self, e => e.qsize())
    }

    pub(super) fn order(&self) -> Order {
        match self {
            Engine::Locked(e) => e.order(),
            Engine::Ring(_) => Order::Fifo,
        }
    }

    pub(super) fn maxsize(&self) -> usize {
        each!(self, e => e.maxsize())
    }

    pub(super) fn unfinished(&self) -> usize {
        each!(self, e => e.unfinished())
    }

    pub(super) fn is_shutdown(&self) -> bool {
        each!(self, e => e.is_shutdown())
    }

    pub(super) fn waiting_getters(&self) -> usize {
        each!(self, e => e.waiting_getters())
    }

    pub(super) fn waiting_putters(&self) -> usize {
        each!(self, e => e.waiting_putters())
    }

    /// `(qsize, unfinished, shutdown)` if it can be read without waiting for a lock.
    pub(super) fn try_snapshot(&self) -> Option<(usize, usize, bool)> {
        match self {
            Engine::Locked(e) => e.try_snapshot(),
            Engine::Ring(e) => Some((e.qsize(), e.unfinished(), e.is_shutdown())),
        }
    }
}
