//! Threads with Python's thread model: names, daemon flags, a registry of live threads,
//! joining with a timeout, panics returned as values, per-object thread-local storage.
//!
//! (Tutorial below.)

mod builder;
mod exit;
mod handle;
mod registry;

pub use builder::{spawn, start, Builder, Runnable, SpawnError};
pub use exit::{
    exit_guard, main, wait_for_non_daemon, wait_for_non_daemon_timeout, ExitGuard, ExitWaitError,
};
pub use handle::{JoinHandle, JoinTimeoutError, ThreadPanic};
pub use registry::{
    active_count, current, enumerate, get_ident, get_native_id, main_thread, Thread,
    ThreadJoinError,
};
