//! What the detector reports: [`Report`] and the values inside it.

use std::fmt;
use std::panic::Location;
use std::time::Duration;

/// The kind of a threadkit primitive named in a [`Report`].
///
/// # Examples
///
/// ```
/// use threadkit::sync::deadlock::ResourceKind;
/// use threadkit::sync::Lock;
///
/// let lock = Lock::new(());
/// assert_eq!(lock.deadlock_resource().kind, ResourceKind::Lock);
/// assert_eq!(ResourceKind::RLock.to_string(), "RLock");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResourceKind {
    /// A [`Lock`](crate::sync::Lock).
    Lock,
    /// An [`RLock`](crate::sync::RLock).
    RLock,
    /// A [`Condition`](crate::sync::Condition) (waiting for a notification).
    Condition,
    /// A [`Semaphore`](crate::sync::Semaphore) or [`BoundedSemaphore`](crate::sync::BoundedSemaphore).
    Semaphore,
    /// An [`Event`](crate::sync::Event).
    Event,
    /// A [`Barrier`](crate::sync::Barrier).
    Barrier,
    /// The result of an executor task (a future), for the executor's blocking waits.
    Future,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceKind::Lock => "Lock",
            ResourceKind::RLock => "RLock",
            ResourceKind::Condition => "Condition",
            ResourceKind::Semaphore => "Semaphore",
            ResourceKind::Event => "Event",
            ResourceKind::Barrier => "Barrier",
            ResourceKind::Future => "Future",
        })
    }
}

/// One threadkit primitive: its kind and an id unique in the process, assigned the first time
/// the detector sees it (never reused). Displays as `Lock#3`.
///
/// Get the one of your own primitive with `deadlock_resource()` (on [`Lock`](crate::sync::Lock),
/// [`RLock`](crate::sync::RLock), [`Condition`](crate::sync::Condition),
/// [`Semaphore`](crate::sync::Semaphore), [`Event`](crate::sync::Event) and
/// [`Barrier`](crate::sync::Barrier)) to recognise it in reports.
///
/// # Examples
///
/// ```
/// use threadkit::sync::Lock;
///
/// let a = Lock::new(());
/// let b = Lock::new(());
/// assert_ne!(a.deadlock_resource(), b.deadlock_resource());
/// assert_eq!(a.deadlock_resource(), a.deadlock_resource());
/// assert!(a.deadlock_resource().to_string().starts_with("Lock#"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Resource {
    /// What kind of primitive it is.
    pub kind: ResourceKind,
    /// Its id, unique in the process.
    pub id: u64,
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.kind, self.id)
    }
}

/// A thread acquiring a [`Lock`](crate::sync::Lock) it already holds: it would wait for itself
/// forever.
///
/// # Examples
///
/// ```
/// use threadkit::sync::deadlock::{self, Report};
/// use threadkit::sync::Lock;
///
/// deadlock::set_reaction(deadlock::Reaction::Report);
/// let lock = Lock::new(());
/// lock.acquire();
/// // Panics instead of hanging.
/// let again = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| lock.acquire()));
/// assert!(again.is_err());
/// let found = deadlock::reports().into_iter().any(|r| {
///     matches!(r, Report::SelfDeadlock(s) if s.lock == lock.deadlock_resource())
/// });
/// assert!(found);
/// lock.release().unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SelfDeadlock {
    /// The lock.
    pub lock: Resource,
    /// The thread's name.
    pub thread: String,
    /// Where the thread acquired the lock the first time.
    pub held_at: &'static Location<'static>,
    /// Where it tried to acquire it again.
    pub again_at: &'static Location<'static>,
}

impl fmt::Display for SelfDeadlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "self-deadlock: thread '{}' acquires {} at {} but already holds it (acquired at {}); \
             a Lock is not reentrant, so this would wait forever (use an RLock, or release it first)",
            self.thread, self.lock, self.again_at, self.held_at
        )
    }
}

/// One edge of the lock-order graph: a thread acquired `to` while holding `from`.
///
/// # Examples
///
/// ```
/// use threadkit::sync::deadlock::{self, Report};
/// use threadkit::sync::Lock;
///
/// deadlock::set_reaction(deadlock::Reaction::Report);
/// let (a, b) = (Lock::new(()), Lock::new(()));
/// drop((a.lock(), b.lock())); // a then b
/// let g = b.lock();
/// let _ = a.lock(); // b then a: reported
/// drop(g);
/// let edge = deadlock::reports()
///     .into_iter()
///     .find_map(|r| match r {
///         Report::LockOrderInversion(inv) if inv.involves(a.deadlock_resource()) => {
///             Some(inv.cycle[0].clone())
///         }
///         _ => None,
///     })
///     .unwrap();
/// assert_eq!((edge.from, edge.to), (b.deadlock_resource(), a.deadlock_resource()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OrderEdge {
    /// The lock that was held.
    pub from: Resource,
    /// The lock acquired while holding it.
    pub to: Resource,
    /// The name of the thread that did it first.
    pub thread: String,
    /// Where that thread had acquired `from`.
    pub from_at: &'static Location<'static>,
    /// Where it acquired `to`.
    pub to_at: &'static Location<'static>,
}

impl fmt::Display for OrderEdge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "thread '{}' acquired {} at {} while holding {} (acquired at {})",
            self.thread, self.to, self.to_at, self.from, self.from_at
        )
    }
}

/// Locks taken in orders that form a cycle (A then B in one place, B then A in another): two
/// threads running those places at the same time can deadlock, even if they did not this time.
/// Reported the moment the closing edge is first seen, as Linux's lockdep does.
///
/// # Examples
///
/// See [`OrderEdge`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockOrderInversion {
    /// The cycle: the new edge first, then the earlier edges leading from its `to` back to its
    /// `from` (`cycle[i].to == cycle[i + 1].from`, and the last `to` is the first `from`).
    pub cycle: Vec<OrderEdge>,
}

impl LockOrderInversion {
    /// Whether `lock` is on the cycle.
    ///
    /// # Examples
    ///
    /// See [`OrderEdge`].
    pub fn involves(&self, lock: Resource) -> bool {
        self.cycle.iter().any(|e| e.from == lock || e.to == lock)
    }
}

impl fmt::Display for LockOrderInversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("lock order inversion (a potential deadlock): ")?;
        if let Some(first) = self.cycle.first() {
            write!(f, "{}", first.from)?;
        }
        for e in &self.cycle {
            write!(f, " -> {}", e.to)?;
        }
        for (i, e) in self.cycle.iter().enumerate() {
            let when = if i == 0 { "now" } else { "earlier" };
            write!(f, "\n  {when}: {e}")?;
        }
        Ok(())
    }
}

/// The thread holding what a stuck thread waits for.
///
/// # Examples
///
/// See [`StuckThread`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Holder {
    /// Its name.
    pub thread: String,
    /// Where it acquired the resource, when known.
    pub acquired_at: Option<&'static Location<'static>>,
}

/// One step of a wait cycle: `thread` waits for `waiting_for`, held by the next link's thread.
///
/// # Examples
///
/// See [`StuckThread`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitLink {
    /// The waiting thread's name.
    pub thread: String,
    /// What it waits for.
    pub waiting_for: Resource,
}

/// A thread blocked on a threadkit primitive for longer than the [`Watchdog`](super::Watchdog)'s
/// threshold.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use threadkit::sync::deadlock::{self, Report, Watchdog};
/// use threadkit::sync::Event;
///
/// deadlock::set_reaction(deadlock::Reaction::Report);
/// let _dog = Watchdog::start(Duration::from_millis(20));
/// let never = Event::new();
/// assert_eq!(never.wait_timeout(Duration::from_millis(300)), Ok(false));
/// let stuck = deadlock::reports().into_iter().find_map(|r| match r {
///     Report::StuckThread(s) if s.waiting_for == never.deadlock_resource() => Some(s),
///     _ => None,
/// });
/// let stuck = stuck.expect("the watchdog saw the wait");
/// assert!(stuck.holder.is_none()); // an Event has no holder
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StuckThread {
    /// The stuck thread's name.
    pub thread: String,
    /// What it waits for.
    pub waiting_for: Resource,
    /// Where it started waiting.
    pub wait_at: &'static Location<'static>,
    /// How long it had waited when reported.
    pub waited: Duration,
    /// The thread holding what it waits for (only locks and futures have one).
    pub holder: Option<Holder>,
    /// When the holder waits in turn, and so on back to this thread: the threads of that
    /// deadlock, starting with this one. Empty when there is no such cycle.
    pub cycle: Vec<WaitLink>,
}

impl fmt::Display for StuckThread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stuck thread: thread '{}' has waited {:.3} s for {} (waiting at {})",
            self.thread,
            self.waited.as_secs_f64(),
            self.waiting_for,
            self.wait_at
        )?;
        match &self.holder {
            Some(Holder {
                thread,
                acquired_at: Some(at),
            }) => write!(f, ", held by thread '{thread}' (acquired at {at})")?,
            Some(Holder {
                thread,
                acquired_at: None,
            }) => write!(f, ", held by thread '{thread}'")?,
            None => {}
        }
        if !self.cycle.is_empty() {
            f.write_str("; deadlock: ")?;
            for (i, link) in self.cycle.iter().enumerate() {
                if i == 0 {
                    write!(f, "'{}' waits for {}", link.thread, link.waiting_for)?;
                } else {
                    write!(f, ", which waits for {}", link.waiting_for)?;
                }
                let next = &self.cycle[(i + 1) % self.cycle.len()];
                write!(f, " held by '{}'", next.thread)?;
            }
        }
        Ok(())
    }
}

/// One finding of the deadlock detector.
///
/// # Examples
///
/// ```
/// use threadkit::sync::deadlock::{self, Report};
///
/// for report in deadlock::reports() {
///     match &report {
///         Report::SelfDeadlock(s) => eprintln!("{}: {report}", s.thread),
///         Report::LockOrderInversion(inv) => eprintln!("{} edges: {report}", inv.cycle.len()),
///         Report::StuckThread(s) => eprintln!("{:?}: {report}", s.waited),
///         _ => eprintln!("{report}"),
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Report {
    /// A thread acquiring a `Lock` it already holds.
    SelfDeadlock(SelfDeadlock),
    /// Locks acquired in orders forming a cycle.
    LockOrderInversion(LockOrderInversion),
    /// A thread blocked longer than the watchdog's threshold.
    StuckThread(StuckThread),
}

impl Report {
    /// Whether `resource` is named in the report (the lock of a self-deadlock, any lock of an
    /// inversion's cycle, what a stuck thread waits for or any resource of its wait cycle).
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::sync::{deadlock, Lock};
    ///
    /// let lock = Lock::new(());
    /// let _g = lock.lock();
    /// // This lock is in no report.
    /// assert!(!deadlock::reports().iter().any(|r| r.involves(lock.deadlock_resource())));
    /// ```
    pub fn involves(&self, resource: Resource) -> bool {
        match self {
            Report::SelfDeadlock(s) => s.lock == resource,
            Report::LockOrderInversion(inv) => inv.involves(resource),
            Report::StuckThread(s) => {
                s.waiting_for == resource || s.cycle.iter().any(|l| l.waiting_for == resource)
            }
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::SelfDeadlock(r) => r.fmt(f),
            Report::LockOrderInversion(r) => r.fmt(f),
            Report::StuckThread(r) => r.fmt(f),
        }
    }
}
