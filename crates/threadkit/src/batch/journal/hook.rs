//! The glue between a run and its journal: what the builder captures ([`JournalHook`]) and
//! what the driver of a journaled run holds ([`JournalState`]).

use std::collections::HashMap;
use std::fmt;

use super::store::{Entry, Journal, JournalError};
use crate::batch::outcome::{self, Cause, FailedInput, Outcome};

/// Journal plumbing captured by [`Batch::journal`](crate::batch::Batch::journal), where the
/// serde bounds are checked.
pub(crate) struct JournalHook<I, T, E> {
    pub(crate) journal: Journal,
    pub(crate) key: Box<dyn Fn(&I) -> String + Send + Sync>,
    pub(crate) encode: fn(&T) -> Option<String>,
    pub(crate) decode: fn(&str) -> Option<T>,
    pub(crate) cause_text: fn(&Cause<E>) -> String,
    pub(crate) retry_failed: bool,
}

/// A journaled run's journal: the hook, and the keys of the items handed to workers (by
/// index), whose outcomes it records when they come back.
pub(crate) struct JournalState<I, T, E> {
    hook: JournalHook<I, T, E>,
    keys: HashMap<u64, String>,
}

impl<I: fmt::Debug, T, E> JournalState<I, T, E> {
    pub(crate) fn new(hook: JournalHook<I, T, E>) -> Self {
        JournalState {
            hook,
            keys: HashMap::new(),
        }
    }

    /// At the start of the run: with per-item durability, how many items an earlier run left
    /// started and unfinished (see [`Journal::begin_run`]); 0 otherwise.
    pub(crate) fn begin_run(&mut self) -> Result<u64, JournalError> {
        if self.hook.journal.per_item() {
            self.hook.journal.begin_run()
        } else {
            Ok(0)
        }
    }

    /// The outcome of the input at `index` when the journal has it (a value taken from it,
    /// or, unless failures are retried, the failure it records); otherwise `None`: the item
    /// is to run, and its key (and, per item, its start) is noted for [`record`](Self::record).
    ///
    /// # Errors
    ///
    /// The journal could not be read or written; the item is to run.
    pub(crate) fn resolve(
        &mut self,
        index: u64,
        input: &I,
    ) -> Result<Option<Outcome<T, I, E>>, JournalError> {
        let hook = &mut self.hook;
        let key = (hook.key)(input);
        if !hook.journal.was_empty() {
            match hook.journal.lookup(&key)? {
                Some(Entry::Done(v)) => {
                    if let Some(value) = (hook.decode)(&v) {
                        return Ok(Some(Ok(value)));
                    }
                }
                Some(Entry::Failed { message, attempts }) if !hook.retry_failed => {
                    return Ok(Some(outcome::failed(
                        index,
                        FailedInput::Debug(format!("{input:?}")),
                        attempts,
                        Cause::Journaled { message },
                    )));
                }
                _ => {}
            }
        }
        if hook.journal.per_item() {
            hook.journal.record_start(&key, index)?;
        }
        self.keys.insert(index, key);
        Ok(None)
    }

    /// Records the outcomes of the items at `start..` that were resolved to run: values and
    /// failures; an item that did not finish only loses its start record, so a resumed run
    /// runs it. Then commits if a group is due.
    ///
    /// # Errors
    ///
    /// The journal could not be written; the outcomes after the failed one are not recorded.
    pub(crate) fn record(
        &mut self,
        start: u64,
        outcomes: &[Outcome<T, I, E>],
    ) -> Result<(), JournalError> {
        let hook = &mut self.hook;
        for (k, o) in outcomes.iter().enumerate() {
            let index = start + k as u64;
            let Some(key) = self.keys.remove(&index) else {
                continue;
            };
            match o {
                Ok(v) => {
                    if let Some(text) = (hook.encode)(v) {
                        hook.journal.record(&key, index, Ok(&text), 1)?;
                    }
                }
                Err(f) if f.cause.is_failure() => {
                    let text = (hook.cause_text)(&f.cause);
                    hook.journal.record(&key, index, Err(&text), f.attempts)?;
                }
                // Not finished: not recorded, so a resumed run runs it.
                Err(_) => hook.journal.forget_start(&key)?,
            }
        }
        hook.journal.commit_if_due()
    }

    /// With per-item durability, commits what is recorded: before an outcome is yielded (it
    /// counts as done from then on) and before items are handed to workers (their starts).
    ///
    /// # Errors
    ///
    /// The commit failed.
    pub(crate) fn commit_per_item(&mut self) -> Result<(), JournalError> {
        if self.hook.journal.per_item() {
            self.hook.journal.commit()?;
        }
        Ok(())
    }

    /// Commits the open group if it is due (the driver calls this while it waits).
    ///
    /// # Errors
    ///
    /// The commit failed.
    pub(crate) fn commit_if_due(&mut self) -> Result<(), JournalError> {
        self.hook.journal.commit_if_due()
    }

    /// Commits what is recorded (at the end of the run).
    ///
    /// # Errors
    ///
    /// The commit failed.
    pub(crate) fn commit(&mut self) -> Result<(), JournalError> {
        self.hook.journal.commit()
    }
}
