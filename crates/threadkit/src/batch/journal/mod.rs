//! The resumable journal (feature `journal`): what a run records so that a later run with the
//! same journal skips the inputs already done. In reading order:
//!
//! - `store.rs`: the SQLite file ([`Journal`], [`Durability`], [`JournalError`]): opening
//!   and checking it, recording outcomes and starts, group or per-item commits.
//! - `hook.rs`: the glue between a run and its journal: the [`JournalHook`] the builder
//!   captures (key, value encoding), and the [`JournalState`] the driver of a journaled run
//!   holds: it resolves inputs the journal already has, and records the outcomes of the
//!   others before they are yielded. With per-item durability the workers share its
//!   connection: each records the start of an item right before it starts and its outcome
//!   as soon as it ends (the driver then only records the outcomes it makes itself).
//!
//! Without the feature, only an empty [`JournalHook`] is left, so that the builder keeps one
//! shape.

#[cfg(feature = "journal")]
mod hook;
#[cfg(feature = "journal")]
mod store;

#[cfg(feature = "journal")]
pub(crate) use hook::{JournalHook, JournalState};
#[cfg(feature = "journal")]
pub(crate) use store::debug_key;
#[cfg(feature = "journal")]
pub use store::{Durability, Journal, JournalCounts, JournalError};

/// Journal plumbing: without the `journal` feature there is none.
#[cfg(not(feature = "journal"))]
pub(crate) struct JournalHook<I, T, E>(std::marker::PhantomData<fn(&I, T, E)>);
