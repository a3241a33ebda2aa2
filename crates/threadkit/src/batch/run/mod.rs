//! The engine behind [`Batch`](crate::batch::Batch), in rooms of one job each. In reading
//! order:
//!
//! 1. `config.rs`: what the run was asked to do ([`Config`]) and what follows from it: whether
//!    items are *tracked* (a timeout, a grace period, Ctrl-C or `--halt now`: items go one at
//!    a time and are registered while they run), chunk sizes (about 100 µs of work per chunk,
//!    smaller near the end of an input of known length), the window of inputs in flight.
//! 2. `shared.rs`: the state the driver, the workers and the progress ticker share: the task,
//!    the stop level and its reason, progress counters (bumped once per chunk), the halt
//!    policy (evaluated in one place, [`Shared::note`](shared::Shared), where each final
//!    outcome is counted), the table of running items. Beside it, `slot.rs` (the slot number
//!    each worker thread holds, [`slot`]) and `spacing.rs` (the turns of spaced starts).
//! 3. `engine.rs`: the threads. Worker loops run on a process-wide pool whose idle threads
//!    later runs reuse, or on a pool of the run's own when that one is full; a run's own pool
//!    is joined on a reaper thread.
//! 4. `worker.rs`: a worker loop: take a chunk, run the function on each item (catching
//!    panics, retrying; in a journaled run with per-item durability, recording each item's
//!    start right before it starts and its outcome as soon as it ends), send the outcomes back with their counts.
//! 5. `outbuf.rs`: the output buffer a `run` over an input of known length has its values
//!    written into, in place: the only raw-pointer code, its invariant stated at its top.
//! 6. `output.rs`: where outcomes go, chosen once at start (direct into the buffer, segments,
//!    or segments recorded in the journal), and the queue that puts them in order.
//! 7. `supervisor.rs`: stop requests (the token, Ctrl-C, the grace period), timeouts and the
//!    claiming of tracked items, the driver's tick.
//! 8. `stream.rs`: the driver, [`Stream`], on the caller's thread: pulls inputs into chunks
//!    while the window has room, receives outcomes (running queued chunks itself while it
//!    waits, in untracked runs), lets the supervisor look, yields segments, tears down.
//!
//! Every input gets exactly one outcome: a value or a failure from the worker that ran it, a
//! "not started" failure from whoever finds it unscheduled when the run stopped (a worker, the
//! drain of queued chunks, the drain of the intake), or a claim by the supervisor.

mod config;
mod engine;
mod outbuf;
mod output;
mod shared;
mod slot;
mod spacing;
mod stream;
mod supervisor;
mod worker;

pub(crate) use config::{Config, ProgressChoice};
pub use slot::slot;
pub use stream::Stream;
pub(crate) use worker::ItemLog;
