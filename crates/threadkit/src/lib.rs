//! # threadkit
//!
//! (tutorial to be written)
#![cfg_attr(docsrs, feature(doc_cfg))]

pub(crate) mod primitive;
mod time;
pub(crate) mod unwind;

pub mod executor;
pub mod log;
pub mod process;
pub mod queue;
pub mod sync;
pub mod thread;

pub use time::{deadline_after, TimeoutOverflow};
