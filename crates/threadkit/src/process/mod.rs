//! Processes (`multiprocessing`): Rust functions in child processes, pipes, queues, shared memory, a process pool.

mod child;
mod handle;
mod lock;
mod pipe;
mod pool;
mod queue;
mod shm;
mod value;
mod wire;

pub use child::{init, is_child};
pub use handle::{JoinTimeoutError, Process, ProcessError, SpawnError};
pub use lock::{Event, Lock, LockGuard, ReleaseError};
pub use pipe::{
    pipe, Connection, RecvError, RecvTimeoutError, SendError, SendTimeoutError,
    DEFAULT_MAX_MESSAGE_LEN,
};
pub use pool::{
    cpu_count, BuildError, Builder as ProcessPoolBuilder, Future, MapResults, ProcessPool,
    SubmitError, TaskError,
};
pub use queue::{GetError, GetTimeoutError, PutError, PutTimeoutError, Queue};
pub use value::{Array, ArrayError, AtomicElement, Element, RawArray, RawValue, Value};

#[doc(hidden)]
#[macro_export]
macro_rules! __threadkit_process_enable_test_support {
    () => {
        /// Serves as the entry point of `threadkit::process` children of this test binary.
        #[test]
        fn threadkit_process_test_child() {
            $crate::process::init();
        }
    };
}

/// Lets a test binary (whose `main` is libtest's) serve as a `threadkit::process` child.
///
/// Invoke it once at the root of the integration-test file (or of the crate's unit tests). It
/// defines a test named `threadkit_process_test_child` that calls [`init`]: children are started
/// with that name as libtest's filter, so a child runs only that test, which runs the function
/// the parent asked for. In the parent the test does nothing and passes. Works with `cargo test`
/// and `cargo nextest run`.
///
/// # Examples
///
/// ```ignore
/// // tests/my_processes.rs
/// threadkit::process::enable_test_support!();
///
/// fn double(x: u32) -> u32 { x * 2 }
///
/// #[test]
/// fn doubles_in_a_child() {
///     let mut p = threadkit::process::Process::spawn(double, 21).unwrap();
///     assert_eq!(p.join(), Ok(42));
/// }
/// ```
pub use crate::__threadkit_process_enable_test_support as enable_test_support;
