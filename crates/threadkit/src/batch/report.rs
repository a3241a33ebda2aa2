//! The [`Report`] of a run: every outcome in input order, made from the stream's segments, and
//! its `Display` and JSON forms.

use std::fmt;

use serde::Serialize;

use super::outcome::{Failure, Outcome, Summary};
use super::run::Stream;
use super::task::Task;
use super::RunError;

/// Every item's outcome in input order, and the [`Summary`].
///
/// `Display` prints the summary and a failures table (input, cause, attempts);
/// [`to_json`](Report::to_json) exports the same; [`exit_code`](Report::exit_code) maps it to
/// a process exit code.
///
/// # Examples
///
/// ```
/// use threadkit::batch::Batch;
///
/// let report = Batch::new(|x: &u8| if *x == 1 { Err("odd one") } else { Ok(x * 10) })
///     .progress(false)
///     .run([0u8, 1, 2])
///     .unwrap();
/// assert_eq!(report.values().collect::<Vec<_>>(), [&0, &20]);
/// assert_eq!(report.exit_code(), 1);
/// println!("{report}");
/// ```
#[derive(Debug)]
pub struct Report<T, I, E> {
    /// The successful values, in input order (failed indices leave no gap).
    pub(crate) values: Vec<T>,
    /// The failures, by index.
    pub(crate) failures: Vec<Box<Failure<I, E>>>,
    pub(crate) summary: Summary,
}

impl<T, I, E> Report<T, I, E> {
    /// The report of a `run`: the values written in place and the failures beside them (an
    /// input of known length comes back in one piece), then any segments after them (a size
    /// hint that was too low), in input order. `cap`: the input's size hint, to reserve for.
    pub(crate) fn from_stream<K, It>(
        mut stream: Stream<K, I, It>,
        cap: usize,
    ) -> Result<Self, RunError>
    where
        K: Task<I, Output = T, Error = E>,
        I: fmt::Debug + Send + 'static,
        It: Iterator<Item = I>,
    {
        let mut report = Report {
            values: Vec::new(),
            failures: Vec::new(),
            summary: Summary::default(),
        };
        let mut reserved = false;
        loop {
            let seg = stream.next_segment();
            if let Some((values, failures)) = stream.take_in_place() {
                report.values = values;
                report.failures = failures;
            }
            let Some((_, seg)) = seg else {
                break;
            };
            if !reserved {
                report
                    .values
                    .reserve(cap.saturating_sub(report.values.len()));
                reserved = true;
            }
            report.extend(seg);
        }
        if let Some(e) = stream.take_error() {
            return Err(e);
        }
        report.summary = stream.summary().clone();
        Ok(report)
    }

    /// Appends outcomes (the next indices).
    pub(crate) fn extend(&mut self, outcomes: impl IntoIterator<Item = Outcome<T, I, E>>) {
        let it = outcomes.into_iter();
        self.values.reserve(it.size_hint().0);
        for o in it {
            match o {
                Ok(v) => self.values.push(v),
                Err(f) => self.failures.push(f),
            }
        }
    }

    /// The number of items (every input has exactly one outcome).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| *x).progress(false).run(0..5u8).unwrap();
    /// assert_eq!(r.len(), 5);
    /// ```
    pub fn len(&self) -> usize {
        self.values.len() + self.failures.len()
    }

    /// Whether the run had no input at all.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| *x).progress(false).run(Vec::new()).unwrap();
    /// assert!(r.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The outcome of the input at `index`: its value or its failure; `None` past the end.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::new(|x: &u8| if *x == 1 { Err("one") } else { Ok(*x) })
    ///     .progress(false)
    ///     .run(0..3u8)
    ///     .unwrap();
    /// assert_eq!(r.outcome(2).unwrap().ok(), Some(&2));
    /// assert_eq!(r.outcome(1).unwrap().unwrap_err().index, 1);
    /// assert!(r.outcome(3).is_none());
    /// ```
    pub fn outcome(&self, index: usize) -> Option<Result<&T, &Failure<I, E>>> {
        let k = self.failures.partition_point(|f| f.index < index as u64);
        match self.failures.get(k) {
            Some(f) if f.index == index as u64 => Some(Err(f)),
            _ => self.values.get(index - k).map(Ok),
        }
    }

    /// Every item's outcome, in input order: `Ok(&value)` or `Err(&failure)`.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| x + 1).progress(false).run([1u8]).unwrap();
    /// let all: Vec<_> = r.outcomes().collect();
    /// assert_eq!(all[0].ok(), Some(&2));
    /// ```
    pub fn outcomes(&self) -> Outcomes<'_, T, I, E> {
        Outcomes {
            values: self.values.iter(),
            failures: self.failures.iter().peekable(),
            next: 0,
        }
    }

    /// The outcomes, by value, in input order.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| x + 1).progress(false).run([1u8]).unwrap();
    /// assert_eq!(r.into_outcomes().pop().unwrap().ok(), Some(2));
    /// ```
    pub fn into_outcomes(self) -> Vec<Outcome<T, I, E>> {
        let mut out = Vec::with_capacity(self.len());
        let mut failures = self.failures.into_iter().peekable();
        for v in self.values {
            while let Some(f) = failures.next_if(|f| f.index == out.len() as u64) {
                out.push(Err(f));
            }
            out.push(Ok(v));
        }
        out.extend(failures.map(Err));
        out
    }

    /// The values of the items that succeeded, in input order.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| x * 2).progress(false).run(0..3u8).unwrap();
    /// assert_eq!(r.values().copied().collect::<Vec<_>>(), [0, 2, 4]);
    /// ```
    pub fn values(&self) -> std::slice::Iter<'_, T> {
        self.values.iter()
    }

    /// The values of the items that succeeded, in input order, by value (no copy: this is
    /// how the report stores them).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| x * 2).progress(false).run(0..3u8).unwrap();
    /// assert_eq!(r.into_values(), [0, 2, 4]);
    /// ```
    pub fn into_values(self) -> Vec<T> {
        self.values
    }

    /// The failures, in input order.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::new(|x: &u8| if *x > 0 { Err(*x) } else { Ok(()) })
    ///     .progress(false)
    ///     .run(0..3u8)
    ///     .unwrap();
    /// assert_eq!(r.failures().map(|f| f.index).collect::<Vec<_>>(), [1, 2]);
    /// ```
    pub fn failures(&self) -> impl ExactSizeIterator<Item = &Failure<I, E>> + '_ {
        self.failures.iter().map(|b| &**b)
    }

    /// The counts.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| *x).progress(false).run(0..3u8).unwrap();
    /// assert_eq!(r.summary().succeeded, 3);
    /// ```
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Whether every item succeeded (none failed, none was left unfinished).
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| *x).progress(false).run(0..3u8).unwrap();
    /// assert!(r.is_success());
    /// ```
    pub fn is_success(&self) -> bool {
        self.summary.failed() + self.summary.unfinished() == 0
    }

    /// See [`Summary::exit_code`].
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::infallible(|x: &u8| *x).progress(false).run(0..3u8).unwrap();
    /// assert_eq!(r.exit_code(), 0);
    /// ```
    pub fn exit_code(&self) -> u8 {
        self.summary.exit_code()
    }
}

/// The outcomes of a [`Report`] in input order (made by [`Report::outcomes`]).
///
/// # Examples
///
/// ```
/// let r = threadkit::batch::Batch::new(|x: &u8| if *x == 0 { Err(()) } else { Ok(*x) })
///     .progress(false)
///     .run(0..3u8)
///     .unwrap();
/// let mut it = r.outcomes();
/// assert_eq!(it.len(), 3);
/// assert!(it.next().unwrap().is_err());
/// assert_eq!(it.next().unwrap().ok(), Some(&1));
/// ```
pub struct Outcomes<'a, T, I, E> {
    values: std::slice::Iter<'a, T>,
    failures: std::iter::Peekable<std::slice::Iter<'a, Box<Failure<I, E>>>>,
    next: u64,
}

impl<T, I, E> fmt::Debug for Outcomes<'_, T, I, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outcomes")
            .field("next", &self.next)
            .field("remaining", &self.len())
            .finish()
    }
}

impl<'a, T, I, E> Iterator for Outcomes<'a, T, I, E> {
    type Item = Result<&'a T, &'a Failure<I, E>>;

    fn next(&mut self) -> Option<Self::Item> {
        let index = self.next;
        self.next += 1;
        if let Some(f) = self.failures.next_if(|f| f.index == index) {
            return Some(Err(&**f));
        }
        match self.values.next() {
            Some(v) => Some(Ok(v)),
            None => self.failures.next().map(|f| Err(&**f)),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.values.len() + self.failures.len();
        (n, Some(n))
    }
}

impl<T, I, E> ExactSizeIterator for Outcomes<'_, T, I, E> {}

#[derive(Serialize)]
struct JsonFailure<'a> {
    index: u64,
    input: String,
    cause: &'static str,
    message: String,
    attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    location: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    backtrace: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    summary: &'a Summary,
    failures: Vec<JsonFailure<'a>>,
}

impl<T, I: fmt::Debug, E: fmt::Display> Report<T, I, E> {
    /// The summary and the failures (index, input as `Debug` text, cause, message, attempts;
    /// for a panic its `location`, and its `backtrace` when one was taken) as one JSON object;
    /// durations in seconds.
    ///
    /// # Examples
    ///
    /// ```
    /// let r = threadkit::batch::Batch::new(|x: &u8| if *x == 1 { Err("bad") } else { Ok(()) })
    ///     .progress(false)
    ///     .run(0..2u8)
    ///     .unwrap();
    /// let json = r.to_json();
    /// assert!(json.contains(r#""cause":"error","message":"error: bad","attempts":1"#), "{json}");
    /// ```
    pub fn to_json(&self) -> String {
        let failures = self
            .failures()
            .map(|f| JsonFailure {
                index: f.index,
                input: f.input.to_string(),
                cause: f.cause.kind(),
                message: f.cause.to_string(),
                attempts: f.attempts,
                location: f.cause.panic_origin().0,
                backtrace: f.cause.panic_origin().1,
            })
            .collect();
        let doc = JsonReport {
            summary: &self.summary,
            failures,
        };
        // Cannot fail: plain strings and numbers.
        serde_json::to_string(&doc).unwrap_or_default()
    }
}

impl<T, I: fmt::Debug, E: fmt::Display> fmt::Display for Report<T, I, E> {
    /// The summary line, then one line per failure: index, input, cause, attempts; then the
    /// backtraces of the panics that have one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.summary)?;
        let rows: Vec<(String, String, String, String)> = self
            .failures()
            .map(|x| {
                (
                    x.index.to_string(),
                    x.input.to_string(),
                    x.cause.to_string(),
                    x.attempts.to_string(),
                )
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let w = |sel: fn(&(String, String, String, String)) -> usize, head: &str| {
            rows.iter().map(sel).max().unwrap_or(0).max(head.len())
        };
        let (wi, wn, wc) = (
            w(|r| r.0.len(), "index"),
            w(|r| r.1.chars().count().min(60), "input"),
            w(|r| r.2.chars().count().min(80), "cause"),
        );
        writeln!(
            f,
            "{:>wi$}  {:<wn$}  {:<wc$}  attempts",
            "index", "input", "cause"
        )?;
        for (i, input, cause, attempts) in &rows {
            let input = clip(input, 60);
            let cause = clip(cause, 80);
            writeln!(f, "{i:>wi$}  {input:<wn$}  {cause:<wc$}  {attempts}")?;
        }
        for x in self.failures() {
            if let (Some(at), Some(trace)) = x.cause.panic_origin() {
                writeln!(
                    f,
                    "item {} panicked at {at}:\n{}",
                    x.index,
                    trace.trim_end()
                )?;
            }
        }
        Ok(())
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(3)).collect();
        t.push_str("...");
        t
    }
}
