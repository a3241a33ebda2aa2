//! What a run was asked to do ([`Config`], filled by the [`Batch`](crate::batch::Batch)
//! builder), and what follows from it: whether items are tracked, the chunk sizes, the window.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::batch::cancel::CancelToken;
use crate::batch::policy::{FailurePolicy, HaltEvent, HaltWhen, Retry};
use crate::progress::{Bar, ProgressSink, Silent};

/// Work per chunk the adaptive sizing aims at.
const TARGET_CHUNK_NS: u64 = 100_000;
/// The largest chunk.
const MAX_CHUNK: usize = 16_384;
/// The size of the chunks sent before any item was measured.
const FIRST_CHUNK: usize = 4;

/// Where progress goes.
#[derive(Clone)]
pub(crate) enum ProgressChoice {
    /// The stderr bar (hidden when stderr is not a terminal).
    Auto,
    /// Nowhere.
    Off,
    /// A sink of the caller's.
    Sink(Arc<dyn ProgressSink>),
}

/// What [`Batch::on_halt`](crate::batch::Batch::on_halt) calls when the halt policy is met.
pub(crate) type HaltHook = Arc<dyn Fn(&HaltEvent) + Send + Sync>;

/// A run's settings, as the builder's methods set them.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) workers: usize,
    pub(crate) chunk: Option<usize>,
    pub(crate) window: Option<usize>,
    pub(crate) ordered: bool,
    pub(crate) policy: FailurePolicy,
    pub(crate) retry: Retry,
    pub(crate) timeout: Option<Duration>,
    pub(crate) progress: ProgressChoice,
    pub(crate) progress_interval: Duration,
    pub(crate) cancel: Option<CancelToken>,
    pub(crate) ctrl_c: bool,
    pub(crate) grace: Option<Duration>,
    pub(crate) max_abandoned: usize,
    /// The number of inputs, when the caller says it (else the input's exact size hint).
    pub(crate) total: Option<u64>,
    pub(crate) on_halt: Option<HaltHook>,
    /// Consecutive item starts at least this far apart.
    pub(crate) delay: Option<Duration>,
    /// Whether the calling thread runs items while it waits (untracked runs only).
    pub(crate) caller_runs_items: bool,
}

impl Default for Config {
    /// One worker per core, adaptive chunks, in order, failures collected, no retry, no
    /// timeout, the stderr bar redrawn every 100 ms, 64 replacement threads at most.
    fn default() -> Config {
        Config {
            workers: std::thread::available_parallelism().map_or(4, |n| n.get()),
            chunk: None,
            window: None,
            ordered: true,
            policy: FailurePolicy::CollectAll,
            retry: Retry::new(0),
            timeout: None,
            progress: ProgressChoice::Auto,
            progress_interval: Duration::from_millis(100),
            cancel: None,
            ctrl_c: false,
            grace: None,
            max_abandoned: 64,
            total: None,
            on_halt: None,
            delay: None,
            caller_runs_items: true,
        }
    }
}

impl Config {
    /// Whether items are tracked: sent one at a time and registered while they run, so that
    /// the supervisor can claim an overdue or abandoned one (a timeout, a grace period,
    /// Ctrl-C, `--halt now`).
    pub(crate) fn tracked(&self) -> bool {
        self.timeout.is_some()
            || self.grace.is_some()
            || self.ctrl_c
            || matches!(self.policy.halt(), Some(h) if h.when == HaltWhen::Now)
    }

    /// Whether the calling thread runs queued chunks while it waits for outcomes: in untracked
    /// runs, unless [`caller_runs_items`](crate::batch::Batch::caller_runs_items) said no.
    pub(crate) fn caller_helps(&self) -> bool {
        self.caller_runs_items && !self.tracked()
    }

    /// The number of workers (at least one).
    pub(crate) fn workers(&self) -> usize {
        self.workers.max(1)
    }

    pub(crate) fn progress_enabled(&self) -> bool {
        !matches!(self.progress, ProgressChoice::Off)
    }

    pub(crate) fn sink(&self) -> Arc<dyn ProgressSink> {
        match &self.progress {
            ProgressChoice::Auto => Arc::new(Bar::stderr()),
            ProgressChoice::Off => Arc::new(Silent),
            ProgressChoice::Sink(s) => s.clone(),
        }
    }

    /// At most this many inputs taken and not yet yielded.
    pub(crate) fn window(&self) -> usize {
        self.window
            .unwrap_or_else(|| (self.workers() * 4 * self.chunk_cap()).clamp(64, 1 << 20))
    }

    fn chunk_cap(&self) -> usize {
        if self.tracked() {
            1
        } else {
            self.chunk.unwrap_or(MAX_CHUNK)
        }
    }

    /// The size of the next chunk: fixed when tracked (1) or set, else adapted to the measured
    /// cost of an item (`busy_ns` over `busy_items`), smaller near the end of an input of known
    /// length (`remaining` items).
    pub(crate) fn chunk_size(
        &self,
        busy_items: u64,
        busy_ns: u64,
        remaining: Option<u64>,
    ) -> usize {
        if self.tracked() {
            return 1;
        }
        if let Some(c) = self.chunk {
            return c.max(1);
        }
        let mut c = match busy_ns.checked_div(busy_items) {
            None => FIRST_CHUNK,
            Some(per_item) => ((TARGET_CHUNK_NS / per_item.max(1)) as usize).clamp(1, MAX_CHUNK),
        };
        if let Some(remaining) = remaining {
            // Guided scheduling: smaller chunks near the end so that the workers finish
            // together, but never so small that a chunk is mostly overhead (~1/16 of the
            // target time).
            let floor = (c / 16).max(1);
            c = c.min((remaining as usize / (self.workers() * 4)).max(floor));
        }
        c
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("workers", &self.workers)
            .field("chunk", &self.chunk)
            .field("window", &self.window)
            .field("ordered", &self.ordered)
            .field("policy", &self.policy)
            .field("retry", &self.retry)
            .field("timeout", &self.timeout)
            .field("ctrl_c", &self.ctrl_c)
            .field("grace", &self.grace)
            .field("total", &self.total)
            .field("on_halt", &self.on_halt.is_some())
            .field("delay", &self.delay)
            .field("caller_runs_items", &self.caller_runs_items)
            .finish_non_exhaustive()
    }
}
