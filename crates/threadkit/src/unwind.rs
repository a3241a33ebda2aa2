//! The one place where panics are caught and turned into values (rayon-core's `unwind.rs`).
#![allow(dead_code)]

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

/// Returns the message a panic payload carries: the `&str` or `String` given to `panic!`, or a
/// placeholder for payloads of other types.
pub(crate) fn payload_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "Box<dyn Any> (a non-string panic payload)".to_owned()
    }
}

/// Runs `f`, turning a panic into `Err(payload)`.
///
/// The closure is wrapped in `AssertUnwindSafe`: every caller hands the payload back to the
/// user as a value and never observes state the closure may have left half-updated.
pub(crate) fn catch<T>(f: impl FnOnce() -> T) -> Result<T, Box<dyn Any + Send + 'static>> {
    panic::catch_unwind(AssertUnwindSafe(f))
}
