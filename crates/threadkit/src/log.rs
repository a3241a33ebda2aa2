//! Logging through [`tracing`], with each line naming the threadkit thread that wrote it: the
//! Rust form of Python's `logging.basicConfig(format="%(asctime)s [%(threadName)s] %(levelname)s
//! %(message)s")`, which seed 003 recommends for debugging races.
//!
//! Log with `tracing`'s macros, re-exported here so that threadkit alone is enough
//! ([`info!`], [`debug!`], [`warn!`], [`error!`], [`trace!`], the span macros, [`Level`], and
//! the whole crate as [`tracing`](mod@tracing) for the rest); `tracing::info!` from your own
//! `tracing` dependency goes to the same subscriber. Install the subscriber once at the start of
//! `main`:
//!
//! ```
//! threadkit::log::init_with(threadkit::log::Level::DEBUG).unwrap();
//! threadkit::log::debug!("Starting Thread");
//! let h = threadkit::thread::Builder::new()
//!     .name("worker")
//!     .spawn(|| threadkit::log::info!("Running Thread 1"))
//!     .unwrap();
//! h.join().unwrap();
//! ```
//!
//! prints, on standard error:
//!
//! ```text
//! 2025-03-01T14:15:36.120512Z DEBUG [MainThread] Starting Thread
//! 2025-03-01T14:15:36.120811Z  INFO [worker] Running Thread 1
//! ```
//!
//! The thread name is [`threadkit::thread::current().name()`](crate::thread::current):
//! `MainThread`, the name given to the [`Builder`](crate::thread::Builder), `Thread-N (target)`,
//! or `Dummy-N` for threads threadkit did not start. Times are UTC (RFC 3339).
//!
//! [`Format`] is the line format alone, for composing your own `tracing_subscriber` setup.

use std::fmt;

/// The `tracing` crate this module logs through (its dispatchers, spans, fields, ...).
///
/// # Examples
///
/// ```
/// let dispatch = threadkit::log::Builder::new().build();
/// threadkit::log::tracing::dispatcher::with_default(&dispatch, || threadkit::log::info!("hi"));
/// ```
pub use tracing;
pub use tracing::{
    debug, debug_span, error, error_span, event, info, info_span, span, trace, trace_span, warn,
    warn_span, Level,
};

use tracing::level_filters::LevelFilter;
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, MakeWriter};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber with the default settings: level from the `RUST_LOG`
/// environment variable when it is set (`tracing_subscriber`'s `EnvFilter` syntax), else
/// `INFO`; lines with time, level and thread name on standard error.
///
/// # Errors
///
/// [`InitError`] when a global `tracing` subscriber (or `log` logger) is already installed;
/// the existing one stays in place.
///
/// # Examples
///
/// ```
/// threadkit::log::init().unwrap();
/// threadkit::log::info!("Main    : before creating thread");
/// assert!(threadkit::log::init().is_err()); // only once per process
/// ```
pub fn init() -> Result<(), InitError> {
    Builder::new().init()
}

/// Installs the global subscriber showing events at `level` and more severe ones.
///
/// # Errors
///
/// [`InitError`] when a global subscriber is already installed.
///
/// # Examples
///
/// ```
/// threadkit::log::init_with(threadkit::log::Level::DEBUG).unwrap();
/// threadkit::log::debug!("Hello");
/// ```
pub fn init_with(level: Level) -> Result<(), InitError> {
    Builder::new().level(level).init()
}

/// Configures the subscriber before installing it ([`init`](Builder::init)) or using it
/// locally ([`build`](Builder::build)).
///
/// # Examples
///
/// ```
/// use threadkit::log::Builder;
///
/// Builder::new()
///     .level(threadkit::log::Level::DEBUG)
///     .target(true)
///     .writer(std::io::stdout) // seed 001: logging.basicConfig(stream=sys.stdout, ...)
///     .init()
///     .unwrap();
/// threadkit::log::debug!("Hello");
/// ```
#[must_use = "a Builder does nothing until init or build is called"]
pub struct Builder {
    level: Option<LevelFilter>,
    format: Format,
    ansi: bool,
    writer: BoxMakeWriter,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("level", &self.level)
            .field("format", &self.format)
            .field("ansi", &self.ansi)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// The defaults of [`init`]: `RUST_LOG` or `INFO`, time on, target off, no ANSI styling,
    /// standard error.
    ///
    /// # Examples
    ///
    /// ```
    /// let dispatch = threadkit::log::Builder::new().build();
    /// threadkit::log::tracing::dispatcher::with_default(&dispatch, || threadkit::log::info!("local to this scope"));
    /// ```
    pub fn new() -> Builder {
        Builder {
            level: None,
            format: Format::default(),
            ansi: false,
            writer: BoxMakeWriter::new(std::io::stderr),
        }
    }

    /// Shows events at `level` and more severe ones (ignoring `RUST_LOG`). Accepts a
    /// [`Level`] or a [`LevelFilter`] (`LevelFilter::OFF` silences everything).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = threadkit::log::Builder::new().level(threadkit::log::Level::WARN).build();
    /// ```
    pub fn level(mut self, level: impl Into<LevelFilter>) -> Builder {
        self.level = Some(level.into());
        self
    }

    /// Whether lines start with the UTC time (default on).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = threadkit::log::Builder::new().time(false).build();
    /// ```
    pub fn time(mut self, on: bool) -> Builder {
        self.format.time = on;
        self
    }

    /// Whether lines show the event's target (its module path, Python's `%(name)s`;
    /// default off).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = threadkit::log::Builder::new().target(true).build();
    /// ```
    pub fn target(mut self, on: bool) -> Builder {
        self.format.target = on;
        self
    }

    /// Whether field names are styled with ANSI terminal escapes (default off, so that lines
    /// written to files and pipes stay plain text).
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = threadkit::log::Builder::new().ansi(true).build();
    /// ```
    pub fn ansi(mut self, on: bool) -> Builder {
        self.ansi = on;
        self
    }

    /// Where lines go (default: standard error), e.g. `std::io::stdout`, or anything
    /// implementing `tracing_subscriber`'s [`MakeWriter`].
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = threadkit::log::Builder::new().writer(std::io::stdout).build();
    /// ```
    pub fn writer<W>(mut self, writer: W) -> Builder
    where
        W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
    {
        self.writer = BoxMakeWriter::new(writer);
        self
    }

    /// The configured subscriber as a [`Dispatch`], without installing it: use it with
    /// `tracing::dispatcher::with_default` for one scope, or `set_global_default`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    ///
    /// #[derive(Clone, Default)]
    /// struct Buf(Arc<Mutex<Vec<u8>>>);
    /// impl std::io::Write for Buf {
    ///     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
    ///         self.0.lock().unwrap().extend_from_slice(b);
    ///         Ok(b.len())
    ///     }
    ///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
    /// }
    ///
    /// let buf = Buf::default();
    /// let b = buf.clone();
    /// let dispatch = threadkit::log::Builder::new().time(false).writer(move || b.clone()).build();
    /// threadkit::log::tracing::dispatcher::with_default(&dispatch, || threadkit::log::info!("hello"));
    /// let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    /// assert_eq!(text, " INFO [MainThread] hello\n");
    /// ```
    pub fn build(self) -> Dispatch {
        let builder = tracing_subscriber::fmt()
            .with_ansi(self.ansi)
            .event_format(self.format)
            .with_writer(self.writer);
        match self.level {
            Some(level) => Dispatch::new(builder.with_max_level(level).finish()),
            None => match EnvFilter::try_from_default_env() {
                Ok(filter) => Dispatch::new(builder.with_env_filter(filter).finish()),
                Err(_) => Dispatch::new(builder.with_max_level(LevelFilter::INFO).finish()),
            },
        }
    }

    /// Installs the configured subscriber as the process's global default (and forwards the
    /// `log` crate's records to it).
    ///
    /// # Errors
    ///
    /// [`InitError`] when a global subscriber or `log` logger is already installed.
    ///
    /// # Examples
    ///
    /// ```
    /// threadkit::log::Builder::new().level(threadkit::log::Level::INFO).init().unwrap();
    /// ```
    pub fn init(self) -> Result<(), InitError> {
        self.build()
            .try_init()
            .map_err(|e| InitError { why: e.to_string() })
    }
}

/// A global subscriber was already installed, so [`init`] did not install another.
///
/// # Examples
///
/// ```
/// threadkit::log::init().unwrap();
/// let err = threadkit::log::init().unwrap_err();
/// assert!(err.to_string().contains("already"));
/// ```
#[derive(Debug, Clone)]
pub struct InitError {
    why: String,
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a global tracing subscriber is already set; threadkit::log::init did nothing ({})",
            self.why
        )
    }
}

impl std::error::Error for InitError {}

/// The line format: `TIME LEVEL [THREAD NAME] target: span: message fields`, the time and
/// target being optional. Usable on its own with `tracing_subscriber::fmt().event_format(...)`.
///
/// # Examples
///
/// ```
/// let subscriber = tracing_subscriber::fmt()
///     .event_format(threadkit::log::Format::default())
///     .finish();
/// threadkit::log::tracing::subscriber::with_default(subscriber, || threadkit::log::warn!("careful"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Format {
    time: bool,
    target: bool,
}

impl Default for Format {
    /// Time on, target off.
    fn default() -> Format {
        Format {
            time: true,
            target: false,
        }
    }
}

impl<S, N> FormatEvent<S, N> for Format
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if self.time {
            SystemTime.format_time(&mut writer)?;
            writer.write_char(' ')?;
        }
        let meta = event.metadata();
        let thread = crate::thread::current();
        write!(writer, "{:>5} [{}] ", meta.level(), thread.name())?;
        if self.target {
            write!(writer, "{}: ", meta.target())?;
        }
        let mut spans = false;
        ctx.visit_spans(|span| {
            spans = true;
            write!(writer, "{}:", span.name())
        })?;
        if spans {
            writer.write_char(' ')?;
        }
        ctx.format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}
