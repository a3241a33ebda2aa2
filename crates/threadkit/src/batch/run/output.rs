//! Where a run's outcomes go: the output mode ([`Output`], chosen once at start) and the queue
//! that puts segments of outcomes in order for the consumer ([`Delivery`]).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use super::outbuf::OutBuf;
use super::worker::ItemLogRef;
use crate::batch::journal::JournalHook;
#[cfg(feature = "journal")]
use crate::batch::journal::JournalState;
use crate::batch::outcome::{Failure, Outcome};
use crate::batch::task::Task;

/// A run of outcomes: the index of the first, and the outcomes.
pub(super) type Seg<T, I, E> = (u64, Vec<Outcome<T, I, E>>);

/// The in-place part of a direct run: the values in input order and the failures by index.
pub(super) type InPlace<T, I, E> = (Vec<T>, Vec<Box<Failure<I, E>>>);

/// Where outcomes go, chosen once when the run starts.
pub(super) enum Output<K: Task<I>, I> {
    /// Values written in place by the workers, failures kept on the side: a `run` over an
    /// input of known length, untracked, without a journal. If the input turns out longer
    /// than its size hint said, the run goes on in [`Output::Segments`] once the buffer is
    /// full (the one change of mode).
    Direct(Direct<K::Output, I, K::Error>),
    /// Outcomes come back in segments and go through the [`Delivery`] queue.
    Segments,
    /// As [`Output::Segments`], each outcome recorded in the journal on its way; inputs the
    /// journal already has are resolved without running. A journal that cannot be written
    /// ends this mode (the run stops, in [`Output::Segments`]).
    #[cfg(feature = "journal")]
    Journaled(Box<JournalState<I, K::Output, K::Error>>),
}

/// The output buffer of a direct run and the failures beside it.
pub(super) struct Direct<T, I, E> {
    pub(super) buf: Arc<OutBuf<T>>,
    /// Indices below this have a slot.
    pub(super) cap: u64,
    pub(super) failures: Vec<Box<Failure<I, E>>>,
}

impl<K: Task<I>, I> Output<K, I> {
    /// The mode of a run: journaled with a journal; direct for a `run` (`in_place`) over a
    /// non-empty input of known length (`total`) that is not tracked; else segments.
    pub(super) fn choose(
        journal: Option<JournalHook<I, K::Output, K::Error>>,
        in_place: bool,
        tracked: bool,
        total: Option<u64>,
    ) -> Output<K, I>
    where
        I: std::fmt::Debug,
    {
        #[cfg(feature = "journal")]
        if let Some(hook) = journal {
            return Output::Journaled(Box::new(JournalState::new(hook)));
        }
        #[cfg(not(feature = "journal"))]
        let _ = journal;
        match total {
            Some(cap) if cap > 0 && in_place && !tracked => Output::Direct(Direct {
                buf: Arc::new(OutBuf::new(cap as usize)),
                cap,
                failures: Vec::new(),
            }),
            _ => Output::Segments,
        }
    }

    /// Where the workers record each item's start and outcome: a journaled run with
    /// per-item durability.
    pub(super) fn item_log(&self) -> Option<ItemLogRef<K, I>>
    where
        I: std::fmt::Debug,
    {
        #[cfg(feature = "journal")]
        if let Output::Journaled(journal) = self {
            return journal.item_log();
        }
        None
    }

    /// The output buffer, for the workers of a direct run.
    pub(super) fn buffer(&self) -> Option<Arc<OutBuf<K::Output>>> {
        match self {
            Output::Direct(d) => Some(d.buf.clone()),
            _ => None,
        }
    }

    pub(super) fn is_direct(&self) -> bool {
        matches!(self, Output::Direct(_))
    }

    /// How many more inputs this mode takes after the first `pulled`: in direct mode, up to
    /// the buffer's end; else any number.
    #[inline]
    pub(super) fn room(&self, pulled: u64) -> usize {
        match self {
            Output::Direct(d) => (d.cap - pulled) as usize,
            _ => usize::MAX,
        }
    }

    /// How often the driver must wake to commit the journal's groups.
    pub(super) fn tick(&self) -> Option<Duration> {
        #[cfg(feature = "journal")]
        if let Output::Journaled(_) = self {
            return Some(Duration::from_millis(50));
        }
        None
    }
}

/// Outcomes on their way to the consumer: counts of those in flight and held, the reorder
/// buffer (ordered runs), and the segments ready to be yielded.
pub(super) struct Delivery<T, I, E> {
    ordered: bool,
    /// Inputs handed to workers (or queued) whose outcomes have not come back.
    pub(super) in_flight: usize,
    /// Outcomes back and not yet yielded.
    buffered: usize,
    reorder: BTreeMap<u64, Vec<Outcome<T, I, E>>>,
    /// The index of the next outcome in order.
    pub(super) next_out: u64,
    ready: VecDeque<Seg<T, I, E>>,
}

impl<T, I, E> Delivery<T, I, E> {
    pub(super) fn new(ordered: bool) -> Self {
        Delivery {
            ordered,
            in_flight: 0,
            buffered: 0,
            reorder: BTreeMap::new(),
            next_out: 0,
            ready: VecDeque::new(),
        }
    }

    /// Inputs taken and not yet yielded: what the window bounds.
    pub(super) fn held(&self) -> usize {
        self.in_flight + self.buffered
    }

    /// Queues counted outcomes for the consumer, in order unless unordered.
    pub(super) fn push(&mut self, start: u64, outcomes: Vec<Outcome<T, I, E>>) {
        self.buffered += outcomes.len();
        if self.ordered {
            if start == self.next_out {
                self.next_out += outcomes.len() as u64;
                self.ready.push_back((start, outcomes));
                while let Some(seg) = self.reorder.remove(&self.next_out) {
                    let s = self.next_out;
                    self.next_out += seg.len() as u64;
                    self.ready.push_back((s, seg));
                }
            } else {
                self.reorder.insert(start, outcomes);
            }
        } else {
            self.ready.push_back((start, outcomes));
        }
    }

    /// The next segment ready to be yielded.
    pub(super) fn pop(&mut self) -> Option<Seg<T, I, E>> {
        let seg = self.ready.pop_front()?;
        self.buffered -= seg.1.len();
        Some(seg)
    }

    pub(super) fn nothing_ready(&self) -> bool {
        self.ready.is_empty()
    }
}
