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

/// Runs `f`, turning a panic into `Err(message)`. The payload is dropped here, and a payload
/// whose own `Drop` panics (`panic_any` of such a value) cannot unwind out of this call: that
/// second panic is caught and its payload leaked. Callers that must reach a later step whatever
/// `f` did (publishing a future's outcome, leaving a barrier consistent) use this rather than
/// [`catch`] followed by their own drop of the payload.
pub(crate) fn catch_message<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch(f).map_err(|payload| {
        let message = payload_message(&*payload);
        drop_payload(payload);
        message
    })
}

/// Drops a panic payload; a panic from its `Drop` is caught and that payload leaked.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch(move || drop(payload)) {
        std::mem::forget(again);
    }
}
