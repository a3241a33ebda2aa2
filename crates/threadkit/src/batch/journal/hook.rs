//! The glue between a run and its journal: what the builder captures ([`JournalHook`]), what
//! the driver of a journaled run holds ([`JournalState`]), and what its workers hold with
//! per-item durability ([`Shared`]: the worker that runs an item records its start right
//! before it starts, and its outcome as soon as it ends).

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use parking_lot::{MappedMutexGuard, Mutex, MutexGuard};

use super::store::{Entry, Journal, JournalError};
use crate::batch::outcome::{self, Cause, FailedInput, Outcome};
use crate::batch::run::ItemLog;

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

/// The journal of a run, shared by its driver (lookups, outcomes, commits) and, with per-item
/// durability, its workers (starts and outcomes of the items they run): one SQLite
/// connection behind a lock.
///
/// The driver closes the connection when the run ends ([`JournalState`]'s drop), not the last
/// holder: a worker thread may let go of its handle a moment after the run has returned (or
/// much later, after an abandoned call), and the journal must be free for the next run or
/// `Journal::open` at once.
pub(crate) struct Shared<T, E> {
    /// `None` once the run is over.
    journal: Mutex<Option<Journal>>,
    encode: fn(&T) -> Option<String>,
    cause_text: fn(&Cause<E>) -> String,
    /// The first error a worker met writing the journal: the driver ends the journaled mode
    /// with it (see [`JournalState::worker_error`]).
    error: Mutex<Option<JournalError>>,
}

impl<T, E> Shared<T, E> {
    /// The journal, locked, for the driver: always there while its [`JournalState`] lives
    /// (only that state's drop takes it out).
    fn locked(&self) -> MappedMutexGuard<'_, Journal> {
        MutexGuard::map(self.journal.lock(), |j| {
            j.as_mut()
                .expect("the journal is taken out only when the run's JournalState is dropped")
        })
    }

    /// Records `outcome` under `key`, or forgets the start of an item that did not finish.
    fn record<I>(
        &self,
        journal: &mut Journal,
        key: &str,
        index: u64,
        outcome: &Outcome<T, I, E>,
    ) -> Result<(), JournalError> {
        match outcome {
            Ok(v) => match (self.encode)(v) {
                Some(text) => journal.record(key, index, Ok(&text), 1),
                None => journal.forget_start(key),
            },
            Err(f) if f.cause.is_failure() => {
                let text = (self.cause_text)(&f.cause);
                journal.record(key, index, Err(&text), f.attempts)
            }
            // Not finished: not recorded, so a resumed run runs it.
            Err(_) => journal.forget_start(key),
        }
    }

    fn failed(&self, r: Result<(), JournalError>) -> bool {
        match r {
            Ok(()) => true,
            Err(e) => {
                self.error.lock().get_or_insert(e);
                false
            }
        }
    }
}

impl<T, I, E> ItemLog<T, I, E> for Shared<T, E>
where
    T: Send,
    E: Send,
{
    fn start(&self, key: &str, index: u64) -> bool {
        let r = {
            let mut journal = self.journal.lock();
            // The run is over (closed by its driver): nothing more starts.
            let Some(journal) = journal.as_mut() else {
                return false;
            };
            journal
                .record_start(key, index)
                .and_then(|()| journal.commit())
        };
        self.failed(r)
    }

    fn finish(&self, key: &str, index: u64, outcome: &Outcome<T, I, E>) -> bool {
        // Committed with the next start of any worker, or by the driver before the outcome is
        // yielded, whichever comes first: one commit an item rather than two. Until then its
        // start stays on record: a kill meanwhile runs it again and counts it as running, and
        // its slot starts nothing else before that commit.
        let mut journal = self.journal.lock();
        // The run is over: its driver has recorded what it claimed, and this outcome, come
        // after the end (an abandoned call), belongs to no run.
        let Some(journal) = journal.as_mut() else {
            return true;
        };
        let r = self.record(journal, key, index, outcome);
        self.failed(r)
    }
}

/// A journaled run's journal as its driver holds it: the hook's key and codecs, the journal
/// (shared with the workers), and the keys of the items handed to workers (by index), whose
/// outcomes it records when they come back.
pub(crate) struct JournalState<I, T, E> {
    key: Box<dyn Fn(&I) -> String + Send + Sync>,
    decode: fn(&str) -> Option<T>,
    retry_failed: bool,
    was_empty: bool,
    per_item: bool,
    shared: Arc<Shared<T, E>>,
    keys: HashMap<u64, String>,
}

impl<I: fmt::Debug, T: Send + 'static, E: Send + 'static> JournalState<I, T, E> {
    pub(crate) fn new(hook: JournalHook<I, T, E>) -> Self {
        let JournalHook {
            journal,
            key,
            encode,
            decode,
            cause_text,
            retry_failed,
        } = hook;
        JournalState {
            key,
            decode,
            retry_failed,
            was_empty: journal.was_empty(),
            per_item: journal.per_item(),
            shared: Arc::new(Shared {
                journal: Mutex::new(Some(journal)),
                encode,
                cause_text,
                error: Mutex::new(None),
            }),
            keys: HashMap::new(),
        }
    }

    /// With per-item durability, what the workers record each item's start with, right before
    /// it starts, and its outcome, as soon as it ends (the item's key comes with it in its
    /// chunk: see [`key_of`](Self::key_of)).
    pub(crate) fn item_log(&self) -> Option<Arc<dyn ItemLog<T, I, E>>> {
        if self.per_item {
            Some(self.shared.clone())
        } else {
            None
        }
    }

    /// The key of the item at `index`, resolved to run, for its chunk (per-item durability:
    /// its worker records its start and outcome under it).
    pub(crate) fn key_of(&self, index: u64) -> Option<String> {
        if self.per_item {
            self.keys.get(&index).cloned()
        } else {
            None
        }
    }

    /// The error a worker met writing the journal, if any (once).
    fn worker_error(&self) -> Result<(), JournalError> {
        match self.shared.error.lock().take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The outcomes of the items at `start..start + len` came back from a worker that
    /// recorded them itself (see [`item_log`](Self::item_log)): their keys are let go.
    ///
    /// # Errors
    ///
    /// A worker could not write the journal.
    pub(crate) fn recorded(&mut self, start: u64, len: usize) -> Result<(), JournalError> {
        for index in start..start + len as u64 {
            self.keys.remove(&index);
        }
        self.worker_error()
    }

    /// At the start of the run: with per-item durability, how many items an earlier run left
    /// started and unfinished (see [`Journal::begin_run`]); 0 otherwise.
    pub(crate) fn begin_run(&mut self) -> Result<u64, JournalError> {
        if self.per_item {
            self.journal().begin_run()
        } else {
            Ok(0)
        }
    }

    /// The outcome of the input at `index` when the journal has it (a value taken from it,
    /// or, unless failures are retried, the failure it records); otherwise `None`: the item
    /// is to run, and its key is noted for [`record`](Self::record) (and, per item, for the
    /// worker that records its start: [`key_of`](Self::key_of)).
    ///
    /// # Errors
    ///
    /// The journal could not be read; the item is to run.
    pub(crate) fn resolve(
        &mut self,
        index: u64,
        input: &I,
    ) -> Result<Option<Outcome<T, I, E>>, JournalError> {
        let key = (self.key)(input);
        if !self.was_empty {
            let entry = self.journal().lookup(&key)?;
            match entry {
                Some(Entry::Done(v)) => {
                    if let Some(value) = (self.decode)(&v) {
                        return Ok(Some(Ok(value)));
                    }
                }
                Some(Entry::Failed { message, attempts }) if !self.retry_failed => {
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
        self.keys.insert(index, key);
        Ok(None)
    }

    /// Records the outcomes of the items at `start..` that were resolved to run (those the
    /// workers did not record themselves, and those the supervisor claimed): values and
    /// failures; an item that did not finish only loses its start record (if its worker made
    /// one), so a resumed run runs it. Then commits if a group is due.
    ///
    /// # Errors
    ///
    /// The journal could not be written (by this thread, or by a worker);
    /// the outcomes after the failed one are not recorded.
    pub(crate) fn record(
        &mut self,
        start: u64,
        outcomes: &[Outcome<T, I, E>],
    ) -> Result<(), JournalError> {
        self.worker_error()?;
        let shared = &*self.shared;
        let mut journal = shared.locked();
        for index in start..start + outcomes.len() as u64 {
            let Some(key) = self.keys.remove(&index) else {
                continue;
            };
            let o = &outcomes[(index - start) as usize];
            shared.record(&mut journal, &key, index, o)?;
        }
        journal.commit_if_due()
    }

    /// With per-item durability, commits what is recorded before an outcome is yielded (it
    /// counts as done from then on).
    ///
    /// # Errors
    ///
    /// The commit failed, or a worker could not write the journal.
    pub(crate) fn commit_per_item(&mut self) -> Result<(), JournalError> {
        self.worker_error()?;
        if self.per_item {
            self.journal().commit()?;
        }
        Ok(())
    }

    /// Commits the open group if it is due (the driver calls this while it waits).
    ///
    /// # Errors
    ///
    /// The commit failed, or a worker could not write the journal.
    pub(crate) fn commit_if_due(&mut self) -> Result<(), JournalError> {
        self.worker_error()?;
        self.journal().commit_if_due()
    }

    /// Commits what is recorded (at the end of the run).
    ///
    /// # Errors
    ///
    /// The commit failed.
    pub(crate) fn commit(&mut self) -> Result<(), JournalError> {
        self.journal().commit()
    }

    /// The journal, locked (see [`Shared::locked`]).
    fn journal(&self) -> MappedMutexGuard<'_, Journal> {
        self.shared.locked()
    }
}

impl<I, T, E> Drop for JournalState<I, T, E> {
    /// Closes the journal (committing what is recorded) as the run ends, whoever still holds
    /// the shared handle (see [`Shared`]).
    fn drop(&mut self) {
        drop(self.shared.journal.lock().take());
    }
}
