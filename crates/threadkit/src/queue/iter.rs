//! Iterators over a queue's items.

use super::Queue;
use std::fmt;
use std::iter::FusedIterator;

/// A blocking iterator over a queue's items, ending when the queue is shut down and drained.
/// Made by [`Queue::iter`] or `for item in &queue`.
///
/// # Examples
///
/// ```
/// use threadkit::queue::Queue;
///
/// let q = Queue::new();
/// q.put("a").unwrap();
/// q.shutdown(false);
/// for item in &q {
///     assert_eq!(item, "a");
/// }
/// ```
pub struct Iter<'a, T> {
    queue: &'a Queue<T>,
}

impl<'a, T> Iter<'a, T> {
    pub(super) fn new(queue: &'a Queue<T>) -> Self {
        Iter { queue }
    }
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.queue.get().ok()
    }
}

/// Once a get has failed the queue is shut down and empty, and no put can succeed again.
impl<T> FusedIterator for Iter<'_, T> {}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").field("queue", self.queue).finish()
    }
}

/// A non-blocking iterator over the items in a queue right now, ending at the first empty
/// queue. Made by [`Queue::try_iter`].
///
/// # Examples
///
/// ```
/// use threadkit::queue::Queue;
///
/// let q = Queue::lifo(0);
/// q.put(1).unwrap();
/// q.put(2).unwrap();
/// assert_eq!(q.try_iter().collect::<Vec<_>>(), [2, 1]);
/// ```
pub struct TryIter<'a, T> {
    queue: &'a Queue<T>,
}

impl<'a, T> TryIter<'a, T> {
    pub(super) fn new(queue: &'a Queue<T>) -> Self {
        TryIter { queue }
    }
}

impl<T> Iterator for TryIter<'_, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.queue.try_get().ok()
    }
}

impl<T> fmt::Debug for TryIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryIter")
            .field("queue", self.queue)
            .finish()
    }
}

/// A blocking iterator owning a queue handle, ending when the queue is shut down and drained.
/// Made by `queue.into_iter()` or `for item in queue`; handy to move into a consumer thread.
///
/// # Examples
///
/// ```
/// use threadkit::queue::Queue;
///
/// let q = Queue::new();
/// let consumer = {
///     let items = q.clone().into_iter();
///     std::thread::spawn(move || items.sum::<u32>())
/// };
/// for n in 1..=4 {
///     q.put(n).unwrap();
/// }
/// q.shutdown(false);
/// assert_eq!(consumer.join().unwrap(), 10);
/// ```
pub struct IntoIter<T> {
    queue: Queue<T>,
}

impl<T> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.queue.get().ok()
    }
}

impl<T> FusedIterator for IntoIter<T> {}

impl<T> fmt::Debug for IntoIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IntoIter")
            .field("queue", &self.queue)
            .finish()
    }
}

impl<'a, T> IntoIterator for &'a Queue<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> IntoIterator for Queue<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter { queue: self }
    }
}
