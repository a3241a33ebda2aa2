//! The cancellation token and Ctrl-C (SIGINT) handling.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// A flag the caller sets to stop a run: scheduling stops, running items finish (within the
/// grace period, if one is set) and the rest are reported
/// [`Cause::Cancelled`](crate::batch::Cause::Cancelled). Clones share the flag.
///
/// # Examples
///
/// ```
/// use threadkit::batch::CancelToken;
///
/// let token = CancelToken::new();
/// let other = token.clone();
/// assert!(!token.is_cancelled());
/// other.cancel();
/// assert!(token.is_cancelled());
/// ```
#[derive(Clone, Default)]
pub struct CancelToken {
    flag: Arc<AtomicBool>,
}

impl fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelToken {
    /// A token not yet cancelled.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!threadkit::batch::CancelToken::new().is_cancelled());
    /// ```
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Cancels every run watching this token (and any later run given it).
    ///
    /// # Examples
    ///
    /// ```
    /// let t = threadkit::batch::CancelToken::new();
    /// t.cancel();
    /// t.cancel(); // harmless
    /// assert!(t.is_cancelled());
    /// ```
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
    }

    /// Whether [`cancel`](CancelToken::cancel) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(!threadkit::batch::CancelToken::default().is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }
}

/// SIGINTs received since the process installed the handler.
static PRESSES: AtomicUsize = AtomicUsize::new(0);
/// Runs currently watching Ctrl-C; when none is, SIGINT keeps its default action.
static WATCHERS: AtomicUsize = AtomicUsize::new(0);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

fn on_sigint() {
    if WATCHERS.load(Ordering::SeqCst) == 0 {
        // No run is watching: behave as if no handler were installed (terminate).
        let _ = signal_hook::low_level::emulate_default_handler(signal_hook::consts::SIGINT);
    }
    PRESSES.fetch_add(1, Ordering::SeqCst);
}

/// While alive, the run it belongs to sees Ctrl-C presses instead of the process dying.
pub(crate) struct CtrlC {
    start: usize,
}

impl CtrlC {
    /// Installs the process-wide handler once (it stays installed; it falls back to the
    /// default action whenever no run is watching) and starts watching.
    pub(crate) fn watch() -> io::Result<CtrlC> {
        let installed = INSTALLED.get_or_init(|| {
            // SAFETY: the action only touches atomics and calls `emulate_default_handler`,
            // which signal-hook documents as usable from a signal handler; both are
            // async-signal-safe.
            unsafe { signal_hook::low_level::register(signal_hook::consts::SIGINT, on_sigint) }
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        if let Err(e) = installed {
            return Err(io::Error::other(e.clone()));
        }
        WATCHERS.fetch_add(1, Ordering::SeqCst);
        Ok(CtrlC {
            start: PRESSES.load(Ordering::SeqCst),
        })
    }

    /// Presses since this run started watching.
    pub(crate) fn presses(&self) -> usize {
        PRESSES.load(Ordering::SeqCst).wrapping_sub(self.start)
    }
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        WATCHERS.fetch_sub(1, Ordering::SeqCst);
    }
}
