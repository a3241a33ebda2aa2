//! The bookkeeping behind the detector: lazily assigned ids, per-lock holder records, each
//! thread's stack of held locks and its "waiting for" slot, and the hooks `raw.rs` and the
//! blocking primitives call.
//!
//! Costs on the uncontended path of a lock: one thread-local access, a few relaxed loads and
//! stores on the lock's own cache line, a push and a pop on the thread's held-lock `Vec`. The
//! global order graph is consulted only when a thread acquires a lock while holding others,
//! and only for edges this thread has not seen before (a per-thread cache).

use super::graph;
use super::report::{OrderEdge, Report, Resource, ResourceKind, SelfDeadlock};
use super::{dispatch, Reaction};
use crate::time::Wait;
use parking_lot::Mutex;
use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn lazy_id(slot: &AtomicU64) -> u64 {
    let id = slot.load(Relaxed);
    if id != 0 {
        return id;
    }
    let new = NEXT_ID.fetch_add(1, Relaxed);
    match slot.compare_exchange(0, new, Relaxed, Relaxed) {
        Ok(_) => new,
        Err(won) => won,
    }
}

type Site = &'static Location<'static>;

fn site_ptr(at: Site) -> *mut Location<'static> {
    (at as *const Location<'static>).cast_mut()
}

fn load_site(p: &AtomicPtr<Location<'static>>) -> Option<Site> {
    let p = p.load(Relaxed);
    // SAFETY: the pointer is null or was made by `site_ptr` from a `&'static Location`.
    unsafe { p.as_ref() }
}

/// The id of a primitive that is not a lock (Semaphore, Event, Barrier, Condition).
#[derive(Debug)]
pub(crate) struct ResourceId(AtomicU64);

impl ResourceId {
    pub(crate) const fn new() -> Self {
        ResourceId(AtomicU64::new(0))
    }

    pub(crate) fn get(&self) -> u64 {
        lazy_id(&self.0)
    }
}

/// What the detector keeps in each `Lock` and `RLock`: its id, the token of the thread holding
/// it (0 = none or untracked) and where that thread acquired it.
#[derive(Debug)]
pub(crate) struct LockMeta {
    id: AtomicU64,
    holder: AtomicU64,
    at: AtomicPtr<Location<'static>>,
}

impl LockMeta {
    pub(crate) const fn new() -> Self {
        LockMeta {
            id: AtomicU64::new(0),
            holder: AtomicU64::new(0),
            at: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    pub(crate) fn id(&self) -> u64 {
        lazy_id(&self.id)
    }
}

impl Drop for LockMeta {
    fn drop(&mut self) {
        let id = *self.id.get_mut();
        if id == 0 {
            return;
        }
        // A lock dropped while held through `acquire()` leaves its holder's stack.
        let holder = *self.holder.get_mut();
        if holder != 0 {
            forget_hold(holder, id);
        }
        graph::forget(id);
    }
}

/// A lock on a thread's held stack.
#[derive(Debug, Clone, Copy)]
struct Held {
    id: u64,
    kind: ResourceKind,
    at: Site,
}

/// Where a waiting thread's holder can be read (the atomics live in the lock or future being
/// waited for, which outlives the wait).
#[derive(Debug, Clone, Copy)]
struct HolderPtr {
    token: *const AtomicU64,
    at: *const AtomicPtr<Location<'static>>,
}

// SAFETY: the pointers are only dereferenced by the watchdog while it holds the waiting
// thread's slot mutex, and the slot is cleared (under that mutex) before the wait returns,
// while the pointees are still borrowed by the waiting thread; the pointees are atomics.
unsafe impl Send for HolderPtr {}

/// A thread's current blocking wait.
#[derive(Debug)]
pub(super) struct Waiting {
    pub(super) resource: Resource,
    pub(super) at: Site,
    pub(super) since: Instant,
    holder: Option<HolderPtr>,
    /// Bumped per wait, so the watchdog reports each wait once.
    pub(super) seq: u64,
}

impl Waiting {
    /// The token of the holder and where it acquired the resource, read live.
    pub(super) fn holder(&self) -> Option<(u64, Option<Site>)> {
        let h = self.holder?;
        // SAFETY: see `HolderPtr`: called only with the slot mutex held while this is set.
        let token = unsafe { &*h.token }.load(Relaxed);
        if token == 0 {
            return None;
        }
        let at = if h.at.is_null() {
            None
        } else {
            // SAFETY: as above.
            load_site(unsafe { &*h.at })
        };
        Some((token, at))
    }
}

/// The part of a thread's state other threads (and the watchdog) may read.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) token: u64,
    pub(super) name: String,
    pub(super) waiting: Mutex<Option<Waiting>>,
    next_seq: AtomicU64,
    foreign: AtomicBool,
    foreign_ids: Mutex<Vec<u64>>,
}

/// Every thread that has touched a tracked primitive and not exited.
static THREADS: Mutex<Vec<Arc<Shared>>> = Mutex::new(Vec::new());

/// A snapshot of the registered threads.
pub(super) fn threads() -> Vec<Arc<Shared>> {
    THREADS.lock().clone()
}

fn find_thread(token: u64) -> Option<Arc<Shared>> {
    THREADS.lock().iter().find(|s| s.token == token).cloned()
}

/// The name of the thread with `token`, if it is alive.
pub(super) fn thread_name(token: u64) -> Option<String> {
    find_thread(token).map(|s| s.name.clone())
}

/// The calling thread's name: threadkit's name for it when threadkit knows the thread
/// (without registering a "dummy" thread as a side effect), otherwise the standard library's.
fn current_name() -> String {
    if let Some(t) = crate::thread::try_current() {
        return t.name().to_owned();
    }
    let t = std::thread::current();
    match t.name() {
        Some(n) => n.to_owned(),
        None => format!("<unnamed {:?}>", t.id()),
    }
}

/// FxHash's mixing step: the per-thread edge cache hashes pairs of ids on every nested
/// acquisition, where SipHash would cost more than the rest of the bookkeeping.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

type EdgeSet = HashSet<(u64, u64), BuildHasherDefault<IdHasher>>;

struct Local {
    shared: Arc<Shared>,
    held: RefCell<Vec<Held>>,
    /// Order-graph edges this thread knows are recorded already.
    known: RefCell<EdgeSet>,
}

impl Local {
    fn new() -> Self {
        let shared = Arc::new(Shared {
            token: crate::primitive::thread_token(),
            name: current_name(),
            waiting: Mutex::new(None),
            next_seq: AtomicU64::new(0),
            foreign: AtomicBool::new(false),
            foreign_ids: Mutex::new(Vec::new()),
        });
        THREADS.lock().push(Arc::clone(&shared));
        Local {
            shared,
            held: RefCell::new(Vec::new()),
            known: RefCell::new(EdgeSet::default()),
        }
    }

    /// Takes off the stack the locks other threads released for us (Python lets any thread
    /// release a `Lock`).
    #[inline]
    fn drain_foreign(&self) {
        if self.shared.foreign.load(Relaxed) {
            self.drain_foreign_slow();
        }
    }

    #[cold]
    fn drain_foreign_slow(&self) {
        self.shared.foreign.store(false, Relaxed);
        let ids = std::mem::take(&mut *self.shared.foreign_ids.lock());
        for id in ids {
            self.remove(id);
        }
    }

    #[inline]
    fn remove(&self, id: u64) {
        let mut held = self.held.borrow_mut();
        if let Some(i) = held.iter().rposition(|h| h.id == id) {
            held.remove(i);
        }
    }

    /// Records the edges from every held lock to the one being acquired; returns the cycles
    /// the new edges close.
    fn check_order(&self, id: u64, kind: ResourceKind, at: Site) -> Vec<Report> {
        let held = self.held.borrow();
        if held.is_empty() {
            return Vec::new();
        }
        let mut reports = Vec::new();
        let mut known = self.known.borrow_mut();
        for h in held.iter() {
            if h.id == id || known.contains(&(h.id, id)) {
                continue;
            }
            if known.len() >= 1 << 16 {
                known.clear();
            }
            known.insert((h.id, id));
            if graph::contains(h.id, id) {
                continue;
            }
            let edge = OrderEdge {
                from: Resource {
                    kind: h.kind,
                    id: h.id,
                },
                to: Resource { kind, id },
                thread: self.shared.name.clone(),
                from_at: h.at,
                to_at: at,
            };
            if let Some(cycle) = graph::add(edge) {
                reports.push(Report::LockOrderInversion(
                    super::report::LockOrderInversion { cycle },
                ));
            }
        }
        reports
    }

    fn acquire(
        &self,
        meta: &LockMeta,
        kind: ResourceKind,
        wait: Wait,
        at: Site,
        lock: &mut dyn FnMut(Wait) -> bool,
    ) -> bool {
        self.drain_foreign();
        let me = self.shared.token;
        if kind == ResourceKind::Lock
            && matches!(wait, Wait::Forever)
            && meta.holder.load(Relaxed) == me
        {
            self_deadlock(meta, at, &self.shared.name);
        }
        let id = meta.id();
        if !matches!(wait, Wait::No) {
            for report in self.check_order(id, kind, at) {
                dispatch(report);
            }
        }
        let got = lock(Wait::No)
            || (!matches!(wait, Wait::No) && {
                let _waiting = self.waiting_for_lock(meta, id, kind, at);
                lock(wait)
            });
        if got {
            self.record(meta, id, kind, at);
        }
        got
    }

    /// Marks `meta`'s lock as held by this thread, acquired at `at`.
    fn record(&self, meta: &LockMeta, id: u64, kind: ResourceKind, at: Site) {
        meta.holder.store(self.shared.token, Relaxed);
        meta.at.store(site_ptr(at), Relaxed);
        self.held.borrow_mut().push(Held { id, kind, at });
    }

    /// A condition taking its lock back after a wait (Python's `_acquire_restore`). Unlike
    /// [`acquire`](Self::acquire), this never leaves without the lock, whether it returns or
    /// a report's callback or [`Reaction::Panic`] unwinds: the caller's guard is still alive
    /// and will unlock the lock when it drops, so leaving without it would release a lock
    /// another thread holds (two owners, two `&mut` to the data).
    ///
    /// Order: try the lock without waiting (then every report below is made with the lock
    /// held); check the order and dispatch the reports *before* blocking, so that an
    /// inversion that deadlocks right here is still named; a report that unwinds takes the
    /// lock back first (blocking, as Python's `finally` does); then block and record.
    fn restore(
        &self,
        meta: &LockMeta,
        kind: ResourceKind,
        at: Site,
        lock: &mut dyn FnMut(Wait) -> bool,
    ) {
        /// Takes the lock (untracked by the order graph, recorded as held) if it is dropped
        /// before the lock was taken, i.e. on unwinding.
        struct Retake<'a> {
            local: &'a Local,
            meta: &'a LockMeta,
            id: u64,
            kind: ResourceKind,
            at: Site,
            lock: &'a mut dyn FnMut(Wait) -> bool,
            held: bool,
        }
        impl Retake<'_> {
            fn take(&mut self, wait: Wait) -> bool {
                self.held = (self.lock)(wait);
                if self.held {
                    self.local.record(self.meta, self.id, self.kind, self.at);
                }
                self.held
            }
        }
        impl Drop for Retake<'_> {
            fn drop(&mut self) {
                if !self.held {
                    self.take(Wait::Forever);
                }
            }
        }

        self.drain_foreign();
        let id = meta.id();
        let mut retake = Retake {
            local: self,
            meta,
            id,
            kind,
            at,
            lock,
            held: false,
        };
        retake.take(Wait::No);
        for report in self.check_order(id, kind, at) {
            dispatch(report);
        }
        if !retake.held {
            let _waiting = self.waiting_for_lock(meta, id, kind, at);
            retake.take(Wait::Forever);
        }
    }

    /// Marks this thread as blocked on `meta`'s lock (whose holder the watchdog reads live)
    /// until the guard drops.
    fn waiting_for_lock<'m>(
        &self,
        meta: &'m LockMeta,
        id: u64,
        kind: ResourceKind,
        at: Site,
    ) -> WaitGuard<'m> {
        WaitGuard {
            shared: Some(self.begin_wait(
                Resource { kind, id },
                Some(HolderPtr {
                    token: &meta.holder,
                    at: &meta.at,
                }),
                at,
            )),
            _borrow: PhantomData,
        }
    }

    /// Fills this thread's waiting slot; the caller wraps the result in a [`WaitGuard`].
    fn begin_wait(&self, resource: Resource, holder: Option<HolderPtr>, at: Site) -> Arc<Shared> {
        let seq = self.shared.next_seq.fetch_add(1, Relaxed);
        *self.shared.waiting.lock() = Some(Waiting {
            resource,
            at,
            since: Instant::now(),
            holder,
            seq,
        });
        Arc::clone(&self.shared)
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let mut threads = THREADS.lock();
        if let Some(i) = threads.iter().position(|s| Arc::ptr_eq(s, &self.shared)) {
            threads.swap_remove(i);
        }
    }
}

thread_local! {
    static LOCAL: Local = Local::new();
}

#[cold]
#[inline(never)]
fn self_deadlock(meta: &LockMeta, again_at: Site, thread: &str) -> ! {
    let report = SelfDeadlock {
        lock: Resource {
            kind: ResourceKind::Lock,
            id: meta.id(),
        },
        thread: thread.to_owned(),
        held_at: load_site(&meta.at).unwrap_or(again_at),
        again_at,
    };
    let message = report.to_string();
    dispatch(Report::SelfDeadlock(report));
    // Whatever the reaction, waiting here would never end.
    if super::reaction() == Reaction::Abort {
        std::process::abort();
    }
    panic!("{message}");
}

/// A lock held on `holder`'s stack goes away without that thread releasing it.
fn forget_hold(holder: u64, id: u64) {
    let mine = LOCAL
        .try_with(|l| {
            if l.shared.token == holder {
                l.remove(id);
                true
            } else {
                false
            }
        })
        .unwrap_or(false);
    if !mine {
        if let Some(s) = find_thread(holder) {
            s.foreign_ids.lock().push(id);
            s.foreign.store(true, Relaxed);
        }
    }
}

/// THE tracked acquire of a `Lock` or `RLock` (`kind`): self-deadlock check (`Lock` only),
/// order-graph edges, the waiting slot while blocked, and the held stack. `lock` does the
/// actual locking.
#[inline]
#[track_caller]
pub(crate) fn acquire(
    meta: &LockMeta,
    kind: ResourceKind,
    wait: Wait,
    mut lock: impl FnMut(Wait) -> bool,
) -> bool {
    let at = Location::caller();
    match LOCAL.try_with(|l| l.acquire(meta, kind, wait, at, &mut lock)) {
        Ok(got) => got,
        // The thread is exiting (its thread-locals are gone): lock untracked.
        Err(_) => lock(wait),
    }
}

/// THE tracked re-acquire of a `Condition`'s lock after a wait: as [`acquire`] with
/// `Wait::Forever`, except that it never returns or unwinds without the lock (see
/// `Local::restore`). No self-deadlock check: the wait's release cleared this thread's hold.
#[inline]
#[track_caller]
pub(crate) fn restore(meta: &LockMeta, kind: ResourceKind, mut lock: impl FnMut(Wait) -> bool) {
    let at = Location::caller();
    if LOCAL
        .try_with(|l| l.restore(meta, kind, at, &mut lock))
        .is_err()
    {
        // The thread is exiting (its thread-locals are gone): lock untracked.
        lock(Wait::Forever);
    }
}

/// THE tracked release of a `Lock` or `RLock`: call before unlocking the raw mutex.
#[inline]
pub(crate) fn release(meta: &LockMeta) {
    let holder = meta.holder.load(Relaxed);
    if holder == 0 {
        return; // acquired untracked
    }
    meta.holder.store(0, Relaxed);
    let id = meta.id.load(Relaxed);
    let done = LOCAL
        .try_with(|l| {
            l.drain_foreign();
            if l.shared.token == holder {
                l.remove(id);
                true
            } else {
                false
            }
        })
        .unwrap_or(false);
    if !done {
        forget_hold(holder, id);
    }
}

/// Marks the calling thread as blocked on a primitive until the guard is dropped.
#[derive(Debug)]
#[must_use]
pub(crate) struct WaitGuard<'a> {
    shared: Option<Arc<Shared>>,
    _borrow: PhantomData<&'a ()>,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        if let Some(s) = &self.shared {
            *s.waiting.lock() = None;
        }
    }
}

/// Declares that the calling thread blocks on `resource` (with no holder: an Event, a
/// Semaphore, a Barrier, a Condition's notification) until the guard is dropped, so that the
/// watchdog can report it.
#[track_caller]
pub(crate) fn waiting(resource: Resource) -> WaitGuard<'static> {
    let at = Location::caller();
    let shared = LOCAL.try_with(|l| l.begin_wait(resource, None, at)).ok();
    WaitGuard {
        shared,
        _borrow: PhantomData,
    }
}

/// Like [`waiting`], for a resource held by the thread whose token is in `holder` (0 = none),
/// e.g. a future and the worker running its task. `holder` must outlive the guard.
#[track_caller]
pub(crate) fn waiting_on(resource: Resource, holder: &AtomicU64) -> WaitGuard<'_> {
    let at = Location::caller();
    let ptr = HolderPtr {
        token: holder,
        at: std::ptr::null(),
    };
    let shared = LOCAL
        .try_with(|l| l.begin_wait(resource, Some(ptr), at))
        .ok();
    WaitGuard {
        shared,
        _borrow: PhantomData,
    }
}
