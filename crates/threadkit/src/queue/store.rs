//! The storage behind a queue: a ring buffer (FIFO), a stack (LIFO) or a stable binary heap
//! (priority). Plain data structures: all locking is done by the caller.

use std::cmp::Ordering;
use std::collections::VecDeque;

/// The order in which a [`Queue`](super::Queue) hands out its items.
///
/// # Examples
///
/// ```
/// use threadkit::queue::{Order, Queue};
///
/// assert_eq!(Queue::<u8>::new().order(), Order::Fifo);
/// assert_eq!(Queue::<u8>::lifo(0).order(), Order::Lifo);
/// assert_eq!(Queue::<u8>::priority(0).order(), Order::Priority);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Order {
    /// First in, first out (Python's `queue.Queue` and `queue.SimpleQueue`).
    Fifo,
    /// Last in, first out (Python's `queue.LifoQueue`).
    Lifo,
    /// Smallest first by the item's ordering, first in first out among equals (Python's
    /// `queue.PriorityQueue`).
    Priority,
}

/// One of the three stores. An enum rather than a type parameter so that every kind of queue is
/// the same type, `Queue<T>`, as in Python.
pub(super) enum Store<T> {
    Fifo(VecDeque<T>),
    Lifo(Vec<T>),
    Priority(Heap<T>),
}

impl<T> Store<T> {
    pub(super) fn order(&self) -> Order {
        match self {
            Store::Fifo(_) => Order::Fifo,
            Store::Lifo(_) => Order::Lifo,
            Store::Priority(_) => Order::Priority,
        }
    }

    #[inline]
    pub(super) fn len(&self) -> usize {
        match self {
            Store::Fifo(q) => q.len(),
            Store::Lifo(v) => v.len(),
            Store::Priority(h) => h.items.len(),
        }
    }

    /// Adds `item`. For the priority store this runs the item's comparison, which may panic: the
    /// item is stored before any comparison runs, so a panic leaves it in the store (possibly out
    /// of heap order), never lost or duplicated.
    #[inline]
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    #[inline]
    pub(super) fn push(&mut self, item: T) {
        match self {
            Store::Fifo(q) => q.push_back(item),
            Store::Lifo(v) => v.push(item),
            Store::Priority(h) => h.push(item),
        }
    }

    #[inline]
    pub(super) fn pop(&mut self) -> Option<T> {
        match self {
            Store::Fifo(q) => q.pop_front(),
            Store::Lifo(v) => v.pop(),
            Store::Priority(h) => h.pop(),
        }
    }

    /// Takes every item out, leaving an empty store of the same kind (so the caller can drop the
    /// items after releasing its lock).
    pub(super) fn take(&mut self) -> Store<T> {
        match self {
            Store::Fifo(q) => Store::Fifo(std::mem::take(q)),
            Store::Lifo(v) => Store::Lifo(std::mem::take(v)),
            Store::Priority(h) => Store::Priority(Heap {
                items: std::mem::take(&mut h.items),
                next_seq: h.next_seq,
                cmp: h.cmp,
            }),
        }
    }
}

/// A binary min-heap ordered by `cmp`, then by insertion sequence, so equal items come out in
/// the order they went in (Python's `PriorityQueue` is not stable; ours is, as the docs promise).
///
/// The comparison is a plain function pointer captured where `T: Ord` is known, which keeps
/// `Queue<T>` free of an `Ord` bound for the FIFO and LIFO kinds.
pub(super) struct Heap<T> {
    items: Vec<(T, u64)>,
    next_seq: u64,
    cmp: fn(&T, &T) -> Ordering,
}

impl<T> Heap<T> {
    pub(super) fn new(cmp: fn(&T, &T) -> Ordering, capacity: usize) -> Self {
        Heap {
            items: Vec::with_capacity(capacity),
            next_seq: 0,
            cmp,
        }
    }

    /// True when the item at `a` must come out before the item at `b`.
    #[inline]
    fn before(&self, a: usize, b: usize) -> bool {
        let (x, sx) = &self.items[a];
        let (y, sy) = &self.items[b];
        match (self.cmp)(x, y) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal => sx < sy,
        }
    }

    fn push(&mut self, item: T) {
        let seq = self.next_seq;
        // 2^64 insertions never happen; wrapping keeps even that case free of a panic.
        self.next_seq = self.next_seq.wrapping_add(1);
        self.items.push((item, seq));
        let mut i = self.items.len() - 1;
        while i > 0 {
            let parent = (i - 1) / 2;
            if !self.before(i, parent) {
                break;
            }
            self.items.swap(i, parent);
            i = parent;
        }
    }

    /// Takes the first item out. The top is parked at the end of the vector while the last
    /// item sifts down, and leaves only once that is done: a comparison that panics then
    /// leaves every item in the heap (maybe out of order, never lost), where Python's
    /// `heapq.heappop` loses the top.
    fn pop(&mut self) -> Option<T> {
        let n = self.items.len().checked_sub(1)?;
        self.items.swap(0, n);
        let mut i = 0;
        loop {
            let left = 2 * i + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let child = if right < n && self.before(right, left) {
                right
            } else {
                left
            };
            if !self.before(child, i) {
                break;
            }
            self.items.swap(child, i);
            i = child;
        }
        self.items.pop().map(|(top, _)| top)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn heap_is_a_stable_min_heap() {
        // Pairs compared by the first field only: the second shows insertion order.
        fn by_key(a: &(u32, u32), b: &(u32, u32)) -> Ordering {
            a.0.cmp(&b.0)
        }
        let mut h = Heap::new(by_key, 0);
        let mut x: u32 = 12345;
        let mut input = Vec::new();
        for i in 0..500 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            input.push((x % 20, i));
            h.push((x % 20, i));
        }
        let mut out = Vec::new();
        while let Some(v) = h.pop() {
            out.push(v);
        }
        // A stable sort by key is exactly what a stable priority queue produces.
        input.sort_by_key(|p| p.0);
        assert_eq!(out, input);
    }

    #[test]
    fn take_leaves_an_empty_store_of_the_same_kind() {
        let mut s = Store::Lifo(vec![1, 2, 3]);
        let taken = s.take();
        assert_eq!(taken.len(), 3);
        assert_eq!(s.len(), 0);
        assert_eq!(s.order(), Order::Lifo);
    }
}
