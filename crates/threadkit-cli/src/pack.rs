//! The inputs of each job: one record per job (the default), `-N n` values per job, or as many
//! as fit on one command line (`-m`, `-X`); and the command-line length limit, checked for
//! every job, whatever the mode.
//!
//! The limit ([`LineLimit`]) is GNU parallel's rule (a command line of `len` bytes fits when
//! `len < max`, `-s` sets `max`) and the kernel's: a command line is one argv string for
//! `sh -c`, at most 128 KiB (`MAX_ARG_STRLEN`), and the argv and the environment together
//! (strings, NULs and pointers) at most `sysconf(ARG_MAX)`. The default `max` is the most the
//! system accepts, as xargs does (GNU parallel halves it, keeping room for remote quoting).
//!
//! An input that alone makes a line too long stops the run (the jobs before it run), with
//! [`InputError::TooLong`] and exit 255, as GNU parallel does. At the end of the input, `-m`
//! and `-X` spread the last command line's values over the job slots (GNU parallel's rule:
//! `ceil(n / slots)` each), so the last values do not run in one job while the other slots
//! idle.

use std::collections::VecDeque;

use crate::inputs::{InputError, Inputs};
use crate::template::Template;
use crate::values::{ValueList, Values};

/// The kernel's limit on one argv string (`MAX_ARG_STRLEN`, 32 pages), its NUL included.
const MAX_ARG_STRLEN: usize = 128 * 1024;

/// Bytes of argv and environment budget kept for what the estimate leaves out (the shell's
/// own words, alignment).
const SLACK: usize = 2048;

/// How many inputs a job takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packing {
    /// One record (one value per input source) per job.
    One,
    /// `-N n`: `n` values per job (the last job may have fewer); `-N 0` runs one job per value
    /// with none of them.
    Args(usize),
    /// `-m`, `-X`: as many values as fit on the command line.
    Fill,
}

/// The longest command line a job may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineLimit {
    /// A line fits when shorter than this (`-s`, or what the system accepts).
    pub(crate) max: usize,
    /// Bytes of `ARG_MAX` left once the environment is counted: the line, its values' NULs
    /// and pointers must fit in it.
    pub(crate) exec_budget: usize,
}

impl LineLimit {
    /// The system's limit here: `sysconf(ARG_MAX)` less the environment (strings, NULs,
    /// pointers) and some slack, and at most `MAX_ARG_STRLEN` for the line itself.
    pub(crate) fn system() -> LineLimit {
        // SAFETY: sysconf has no preconditions; it only reads a system parameter.
        let arg_max = unsafe { libc::sysconf(libc::_SC_ARG_MAX) };
        let arg_max = usize::try_from(arg_max)
            .unwrap_or(MAX_ARG_STRLEN)
            .max(MAX_ARG_STRLEN);
        let env: usize = std::env::vars_os()
            .map(|(k, v)| k.len() + v.len() + 2 + std::mem::size_of::<usize>())
            .sum();
        let exec_budget = arg_max.saturating_sub(env + SLACK);
        LineLimit {
            max: MAX_ARG_STRLEN.min(exec_budget),
            exec_budget,
        }
    }

    /// `-s BYTES`: at most the system's limit (with a warning when more was asked, as GNU
    /// parallel's).
    ///
    /// # Errors
    ///
    /// `-s 0`.
    pub(crate) fn with_max_chars(self, s: usize) -> anyhow::Result<LineLimit> {
        if s == 0 {
            anyhow::bail!("-s/--max-chars must be at least 1 byte");
        }
        if s > self.max {
            eprintln!(
                "threadkit: warning: -s {s} is more than the system accepts here; using {}",
                self.max
            );
            return Ok(self);
        }
        Ok(LineLimit { max: s, ..self })
    }

    /// True if a command line of `len` bytes with `values` substituted values can run.
    fn fits(&self, len: usize, values: usize) -> bool {
        let pointers = (values + 8) * (std::mem::size_of::<usize>() + 1);
        len < self.max && len + pointers <= self.exec_budget
    }
}

/// Turns the records of the inputs into the values of each job, within the line limit.
#[derive(Debug)]
pub(crate) struct Packer {
    template: Template,
    packing: Packing,
    limit: LineLimit,
    /// `-j`: the widest `{%}`, and what `-m`/`-X` spread the last values over.
    slots: usize,
    /// Values taken back (they did not fit): the next job starts with them.
    back: VecDeque<Vec<u8>>,
    /// Jobs made by the spreading at the end, still to hand out.
    ready: VecDeque<Values>,
    /// Jobs handed out.
    seq: u64,
    /// The number (from 1) of the next value taken from the inputs.
    next_no: u64,
    /// The last values were spread already.
    spread: bool,
    /// The inputs ended (or failed: then the error is in `error`).
    eof: bool,
    error: Option<InputError>,
    /// Values in the last job filled: the next one's list starts that large (an `-X` job has
    /// tens of thousands, grown by doubling otherwise), and their bytes.
    last_len: usize,
    last_bytes: usize,
}

impl Packer {
    /// A packer of the records of the inputs; `template` is the command (its lengths decide
    /// what fits).
    pub(crate) fn new(
        template: Template,
        packing: Packing,
        limit: LineLimit,
        slots: usize,
    ) -> Packer {
        Packer {
            template,
            packing,
            limit,
            slots: slots.max(1),
            back: VecDeque::new(),
            ready: VecDeque::new(),
            seq: 0,
            next_no: 1,
            spread: false,
            eof: false,
            error: None,
            last_len: 0,
            last_bytes: 0,
        }
    }

    /// The number of jobs still to come when the inputs say how many records remain.
    pub(crate) fn size_hint(&self, records: Option<usize>) -> Option<usize> {
        match self.packing {
            Packing::One | Packing::Args(0) => records,
            Packing::Args(n) => records.map(|r| (r + self.back.len()).div_ceil(n)),
            Packing::Fill => None,
        }
    }

    /// The next job's values.
    pub(crate) fn next(&mut self, src: &mut Inputs) -> Option<Result<Values, InputError>> {
        let job = match self.ready.pop_front() {
            Some(job) => Some(Ok(job)),
            None => self.make(src),
        };
        match job {
            Some(Ok(values)) => {
                self.seq += 1;
                Some(Ok(values))
            }
            None => self.error.take().map(Err),
            err => err,
        }
    }

    fn make(&mut self, src: &mut Inputs) -> Option<Result<Values, InputError>> {
        match self.packing {
            Packing::One => {
                let record = self.record(src)?;
                let no = self.next_no - 1;
                let bound = self.template.len_bound(&record);
                if self.limit.fits(bound, record.len()) {
                    return Some(Ok(record));
                }
                let len = self.line_len(&record);
                if self.limit.fits(len, record.len()) {
                    return Some(Ok(record));
                }
                Some(Err(self.too_long(no, len, record.joined(b' '))))
            }
            Packing::Args(0) => {
                self.record(src)?;
                Some(Ok(Values::default()))
            }
            Packing::Args(_) | Packing::Fill => self.fill(src),
        }
    }

    /// The line of `values` for the next job, as it will be rendered (at the widest slot).
    fn line_len(&self, values: &Values) -> usize {
        self.line_len_at(values, self.seq + 1)
    }

    /// The line of `values` as job `seq`.
    fn line_len_at(&self, values: &Values, seq: u64) -> usize {
        self.template.render(values, seq, self.slots).len()
    }

    fn too_long(&mut self, input: u64, len: usize, preview: Vec<u8>) -> InputError {
        self.eof = true;
        self.back.clear();
        InputError::TooLong {
            input,
            len,
            max: self.limit.max,
            preview,
        }
    }

    /// The next record of the inputs; `None` at their end (or error, kept for after the job
    /// being made).
    fn record(&mut self, src: &mut Inputs) -> Option<Values> {
        if self.eof {
            return None;
        }
        let next = src.next_values();
        self.take(next)
    }

    /// Append the next value to `values` (packing takes one source without columns: a record
    /// is one value), first those given back; false if there is none.
    fn value_into(&mut self, src: &mut Inputs, values: &mut Values) -> bool {
        if let Some(v) = self.back.pop_front() {
            self.next_no += 1;
            values.push(&v);
            return true;
        }
        if self.eof {
            return false;
        }
        let next = src.next_value_into(values);
        self.take(next).is_some()
    }

    /// Count what the inputs gave; at their end or error, remember it.
    fn take<T>(&mut self, next: Option<Result<T, InputError>>) -> Option<T> {
        match next {
            Some(Ok(r)) => {
                self.next_no += 1;
                Some(r)
            }
            Some(Err(e)) => {
                self.eof = true;
                self.error = Some(e);
                None
            }
            None => {
                self.eof = true;
                None
            }
        }
    }

    fn unget(&mut self, v: Vec<u8>) {
        self.next_no -= 1;
        self.back.push_front(v);
    }

    /// `-N`, `-m`, `-X`: values until the count or the line is full.
    fn fill(&mut self, src: &mut Inputs) -> Option<Result<Values, InputError>> {
        let most = match self.packing {
            Packing::Args(n) => n,
            _ => usize::MAX,
        };
        let mut len = self.line_len(&Values::default());
        let mut values = Values::with_capacity(self.last_len.min(most), self.last_bytes);
        while values.len() < most {
            if !self.value_into(src, &mut values) {
                break;
            }
            let cost = self.template.cost_of_last(&values);
            if self.limit.fits(len + cost, values.len()) {
                len += cost;
                continue;
            }
            let last = values.pop().unwrap_or_default();
            if values.is_empty() {
                let no = self.next_no - 1;
                return Some(Err(self.too_long(no, len + cost, last)));
            }
            self.unget(last);
            break;
        }
        if !self.template.cost_is_exact() {
            // A repeated word holds a `{N}`: check the real line, giving back what overflows.
            loop {
                let len = self.line_len(&values);
                if self.limit.fits(len, values.len()) {
                    break;
                }
                if values.len() == 1 {
                    let no = self.next_no - 1;
                    return Some(Err(self.too_long(no, len, values.joined(b' '))));
                }
                let last = values.pop().unwrap_or_default();
                self.unget(last);
            }
        }
        if values.is_empty() {
            return None;
        }
        self.last_len = values.len();
        self.last_bytes = values.total_bytes();
        if self.packing == Packing::Fill
            && !self.spread
            && values.len() > 1
            && self.at_end(src, &mut values)
        {
            // The last line: spread its values over the job slots (GNU parallel's rule), unless
            // a later job number (`{#}` one digit wider) would push a part over the limit.
            self.spread = true;
            let each = values.len().div_ceil(self.slots);
            let parts: Vec<Values> = (0..values.len())
                .step_by(each)
                .map(|start| values.part(start..(start + each).min(values.len())))
                .collect();
            let fit = parts.iter().enumerate().all(|(i, part)| {
                let len = self.line_len_at(part, self.seq + 1 + i as u64);
                self.limit.fits(len, part.len())
            });
            if fit {
                self.ready.extend(parts);
                return self.ready.pop_front().map(Ok);
            }
        }
        Some(Ok(values))
    }

    /// True if the inputs have no value left (looks one ahead, reading it into `scratch` and
    /// giving it back).
    fn at_end(&mut self, src: &mut Inputs, scratch: &mut Values) -> bool {
        if !self.back.is_empty() {
            return false;
        }
        if self.value_into(src, scratch) {
            let v = scratch.pop().unwrap_or_default();
            self.unget(v);
            return false;
        }
        self.error.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::{Separator, SourceSpec};
    use crate::template::Shape;

    fn jobs(
        words: &[&str],
        shape: Shape<'_>,
        packing: Packing,
        max: usize,
        slots: usize,
        values: &[&str],
    ) -> Vec<Result<Vec<String>, String>> {
        let words: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        let template = Template::parse(&words, shape).unwrap();
        let limit = LineLimit::system().with_max_chars(max).unwrap();
        let src = SourceSpec::Args(values.iter().map(|v| v.as_bytes().to_vec()).collect());
        let mut inputs = Inputs::open(&[src], Separator(b'\n'), false, false).unwrap();
        inputs.pack(Packer::new(template, packing, limit, slots));
        inputs
            .map(|j| {
                j.map(|vs| {
                    vs.each()
                        .map(|v| String::from_utf8(v.to_vec()).unwrap())
                        .collect()
                })
                .map_err(|e| e.to_string())
            })
            .collect()
    }

    fn multi(context: bool) -> Shape<'static> {
        Shape {
            multi: true,
            context,
            ..Shape::default()
        }
    }

    fn ok(groups: &[&[&str]]) -> Vec<Result<Vec<String>, String>> {
        groups
            .iter()
            .map(|g| Ok(g.iter().map(|s| s.to_string()).collect()))
            .collect()
    }

    #[test]
    fn lines_stay_under_max_chars_and_the_last_one_is_spread() {
        // GNU parallel 20221122: `-s 20 -X echo ::: aaaa ... ffff` with 2 slots.
        let v = ["aaaa", "bbbb", "cccc", "dddd", "eeee", "ffff"];
        assert_eq!(
            jobs(&["echo"], multi(true), Packing::Fill, 20, 2, &v),
            ok(&[&["aaaa", "bbbb", "cccc"], &["dddd", "eeee"], &["ffff"]])
        );
        assert_eq!(
            jobs(
                &["echo"],
                multi(false),
                Packing::Fill,
                1000,
                3,
                &["a", "b", "c", "d", "e"]
            ),
            ok(&[&["a", "b"], &["c", "d"], &["e"]])
        );
    }

    #[test]
    fn a_value_too_long_for_any_line_ends_the_jobs_with_an_error() {
        let got = jobs(
            &["echo"],
            multi(true),
            Packing::Fill,
            10,
            1,
            &["aaaa", "bbbbbbbbbbbbbbb", "cc"],
        );
        assert_eq!(got[0], Ok(vec!["aaaa".to_string()]));
        let err = got[1].clone().unwrap_err();
        assert!(
            err.contains("too long (20 >= 10 bytes") && err.contains("input 2"),
            "{err}"
        );
        assert_eq!(got.len(), 2);
        let one = jobs(
            &["echo"],
            Shape::default(),
            Packing::One,
            10,
            1,
            &["a", "bbbbbbbbbb", "c"],
        );
        assert_eq!(one.len(), 2);
        assert!(one[1].clone().unwrap_err().contains("at input 2"));
    }

    #[test]
    fn no_line_reaches_the_limit_whatever_the_job_numbers() {
        // `echo {#}x6 a b` is 15 bytes for jobs 1-9: two values a line under -s 16. The last
        // line (job 9) would be spread into jobs 9 and 10, and job 10's `{#}` is a digit wider
        // six times: 19 bytes. It is not spread then, and no line reaches the limit.
        let values: Vec<String> = (0..18).map(|i| ((b'a' + i) as char).to_string()).collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        let words = ["echo", "{#}{#}{#}{#}{#}{#}", "{}"];
        let shape = multi(true);
        let owned: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        let template = Template::parse(&owned, shape).unwrap();
        for slots in [1, 2, 3] {
            let got = jobs(&words, shape, Packing::Fill, 16, slots, &values);
            let mut seen = 0;
            for (i, job) in got.iter().enumerate() {
                let job: Vec<Vec<u8>> = job
                    .as_ref()
                    .unwrap()
                    .iter()
                    .map(|v| v.clone().into_bytes())
                    .collect();
                seen += job.len();
                let line = template.render(&job, i as u64 + 1, slots);
                assert!(line.len() < 16, "-j {slots}: {}", line.escape_ascii());
            }
            assert_eq!(seen, values.len());
        }
    }

    #[test]
    fn the_limit_is_the_system_s_at_most() {
        let sys = LineLimit::system();
        assert!(sys.max <= MAX_ARG_STRLEN && sys.max <= sys.exec_budget);
        assert_eq!(sys.with_max_chars(usize::MAX).unwrap(), sys);
        assert_eq!(sys.with_max_chars(100).unwrap().max, 100);
        assert!(sys.with_max_chars(0).is_err());
        // Many one-byte values: their pointers count too.
        let tight = LineLimit {
            max: 1000,
            exec_budget: 1500,
        };
        assert!(tight.fits(999, 10) && !tight.fits(999, 100) && !tight.fits(1000, 1));
    }

    #[test]
    fn max_args_counts_values_and_the_last_job_has_the_rest() {
        assert_eq!(
            jobs(
                &["echo"],
                multi(true),
                Packing::Args(2),
                1000,
                4,
                &["a", "b", "c"]
            ),
            ok(&[&["a", "b"], &["c"]])
        );
        assert_eq!(
            jobs(
                &["echo"],
                multi(true),
                Packing::Args(0),
                1000,
                4,
                &["a", "b"]
            ),
            ok(&[&[], &[]])
        );
    }

    #[test]
    fn repeated_words_with_positions_are_checked_on_the_real_line() {
        // `x{1}{}`: each repetition carries the first value; the estimate misses that.
        let got = jobs(
            &["echo", "x{1}{}"],
            multi(true),
            Packing::Fill,
            24,
            1,
            &["aaaa", "b", "c", "d"],
        );
        let got: Vec<Vec<String>> = got.into_iter().map(Result::unwrap).collect();
        assert!(got.len() > 1 && got.iter().all(|j| !j.is_empty()));
        let words = vec![b"echo".to_vec(), b"x{1}{}".to_vec()];
        let template = Template::parse(&words, multi(true)).unwrap();
        for (seq, job) in got.iter().enumerate() {
            let values: Vec<Vec<u8>> = job.iter().map(|v| v.clone().into_bytes()).collect();
            let line = template.render(&values, seq as u64 + 1, 1);
            assert!(line.len() < 24, "{}", String::from_utf8_lossy(&line));
        }
        let all: Vec<String> = got.into_iter().flatten().collect();
        assert_eq!(all, ["aaaa", "b", "c", "d"]);
    }
}
