//! The swap module: every lower-level primitive threadkit builds on comes from here.
//!
//! In a normal build these are `parking_lot`'s `Mutex` and `Condvar` and `std`'s atomics, `Arc` and
//! `thread`. Under `RUSTFLAGS="--cfg loom"` they are loom's instrumented versions, so that the loom
//! model tests (`tests/loom_*.rs`) exercise threadkit's real code paths, as crossbeam-utils'
//! `primitive` module and tokio's `loom` module do.
//!
//! The API is parking_lot's shape (`lock()` returns a guard directly, `Condvar::wait(&mut guard)`)
//! in both builds. Under loom, timed waits are not modelled (loom has no clock): they wait like
//! the untimed ones and report "not timed out", so loom models must always arrange a notify;
//! only a deadline already passed times out at once (models use `Duration::ZERO` for that).
#![allow(dead_code, unreachable_pub, unused_imports)]

#[cfg(not(loom))]
mod imp {
    pub(crate) use parking_lot::{Condvar as RawCondvar, Mutex, MutexGuard};
    pub(crate) use std::sync::atomic;
    pub(crate) use std::sync::Arc;
    pub(crate) use std::thread;
    use std::time::Instant;

    /// A condition variable paired with [`Mutex`]; no spurious wakeups are reported as timeouts.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(RawCondvar);

    impl Condvar {
        pub(crate) const fn new() -> Self {
            Condvar(RawCondvar::new())
        }
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            self.0.wait(guard);
        }
        /// Waits until notified or `deadline` passes; returns true when it timed out.
        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            deadline: Instant,
        ) -> bool {
            self.0.wait_until(guard, deadline).timed_out()
        }
        pub(crate) fn notify_one(&self) -> bool {
            self.0.notify_one()
        }
        pub(crate) fn notify_all(&self) -> usize {
            self.0.notify_all()
        }
    }

    /// A non-zero number unique to the calling thread for the life of the process (owner ids
    /// for reentrant locks and deadlock bookkeeping). Cheaper than `std::thread::current().id()`.
    pub(crate) fn thread_token() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        std::thread_local! {
            static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        TOKEN.with(|t| *t)
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::atomic;
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::thread;
    use std::ops::{Deref, DerefMut};
    use std::time::Instant;

    /// loom's mutex behind parking_lot's API (no poisoning, guard returned directly).
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// Guard of [`Mutex`]; the `Option` lets [`Condvar::wait`] take it out and put it back.
    #[derive(Debug)]
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap_or_else(|e| e.into_inner())))
        }
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok().map(|g| MutexGuard(Some(g)))
        }
        pub(crate) fn into_inner(self) -> T {
            self.0.into_inner().unwrap_or_else(|e| e.into_inner())
        }
        pub(crate) fn get_mut(&mut self) -> &mut T {
            self.0.get_mut().unwrap_or_else(|e| e.into_inner())
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().expect("guard present")
        }
    }
    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("guard present")
        }
    }

    /// loom's condition variable behind parking_lot's API.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let g = guard.0.take().expect("guard present");
            guard.0 = Some(self.0.wait(g).unwrap_or_else(|e| e.into_inner()));
        }
        /// Timeouts are not modelled under loom (it has no clock), except a deadline that has
        /// already passed: that times out at once, without waiting, as it does in a normal
        /// build, so models can take the time-out paths with `Duration::ZERO`. Any other
        /// deadline waits for a notify and reports no timeout.
        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            deadline: Instant,
        ) -> bool {
            if Instant::now() >= deadline {
                return true;
            }
            self.wait(guard);
            false
        }
        pub(crate) fn notify_one(&self) -> bool {
            self.0.notify_one();
            true
        }
        pub(crate) fn notify_all(&self) -> usize {
            self.0.notify_all();
            1
        }
    }

    /// Under loom, threads are modelled on one OS thread, so the token comes from a loom
    /// thread-local.
    pub(crate) fn thread_token() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(1);
        loom::thread_local! {
            static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
        }
        TOKEN.with(|t| *t)
    }
}

pub(crate) use imp::*;
