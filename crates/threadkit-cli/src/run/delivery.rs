//! What the driver does with each finished job: its joblog and results lines ([`Logs`]), then
//! its output ([`Delivery`]: at once, or with `-k` in input order).

use std::collections::BTreeMap;

use super::task::Ran;
use crate::flags::OutputMode;
use crate::joblog::{JobLog, Results};
use crate::output::Printer;

/// Bytes of held-back output (`-k`) kept in memory in all; past this, output that has to
/// wait is moved to the spill file.
const HELD_RAM: usize = 8 << 20;

/// Prints finished jobs' output: at once, or with `-k` in input order, holding back the
/// output of jobs that finished before an earlier one (spilled to disk past [`HELD_RAM`]).
/// Output is printed here, on the driver thread, so it is never interleaved.
pub(super) struct Delivery {
    keep_order: bool,
    /// `--line-buffer`: the lines were printed as they came; nothing is left to print.
    streamed: bool,
    /// The index of the next job to print (`-k`).
    next: u64,
    waiting: BTreeMap<u64, Option<Box<Ran>>>,
    ram: usize,
}

impl Delivery {
    pub(super) fn new(mode: OutputMode) -> Delivery {
        Delivery {
            keep_order: mode == OutputMode::KeepOrder,
            streamed: mode == OutputMode::Lines,
            next: 0,
            waiting: BTreeMap::new(),
            ram: 0,
        }
    }

    /// The job at `index` finished (`None`: it has nothing to print).
    pub(super) fn put(&mut self, index: u64, ran: Option<Box<Ran>>, printer: &Printer) {
        if !self.keep_order {
            if let Some(r) = ran {
                self.print(&r, printer);
            }
            return;
        }
        if index != self.next {
            let mut ran = ran;
            if let Some(r) = &mut ran {
                let a = &mut r.attempt;
                if self.ram + a.stdout.ram() + a.stderr.ram() > HELD_RAM {
                    a.stdout.spill_all();
                    a.stderr.spill_all();
                }
                self.ram += a.stdout.ram() + a.stderr.ram();
            }
            self.waiting.insert(index, ran);
            return;
        }
        if let Some(r) = ran {
            self.print(&r, printer);
        }
        self.next += 1;
        while let Some(e) = self.waiting.first_entry() {
            if *e.key() != self.next {
                break;
            }
            if let Some(r) = e.remove() {
                self.ram -= r.attempt.stdout.ram() + r.attempt.stderr.ram();
                self.print(&r, printer);
            }
            self.next += 1;
        }
    }

    /// The run ended: print what still waits (behind jobs that never ran), in order.
    pub(super) fn finish(&mut self, printer: &Printer) {
        for r in std::mem::take(&mut self.waiting).into_values().flatten() {
            self.print(&r, printer);
        }
    }

    fn print(&self, ran: &Ran, printer: &Printer) {
        if !self.streamed {
            let a = &ran.attempt;
            printer.job(printer.prefix(&*ran.args).as_deref(), &a.stdout, &a.stderr);
        }
    }
}

/// `--joblog` and `--results`: a line for each finished job, written as it finishes (also with
/// `-k`, so a killed run leaves a log of everything that finished).
pub(super) struct Logs {
    pub(super) joblog: Option<JobLog>,
    pub(super) results: Option<Results>,
}

impl Logs {
    /// Write a finished job's lines. A failed write is reported, that log is closed, and the
    /// result is false: the caller stops the run, which exits 255.
    pub(super) fn write(&mut self, ran: &Ran) -> bool {
        let a = &ran.attempt;
        let mut ok = true;
        if let Some(log) = &mut self.joblog {
            if let Err(e) = log.write(ran.seq, a, &ran.line) {
                eprintln!("threadkit: cannot write the joblog: {e}; starting no more jobs");
                self.joblog = None;
                ok = false;
            }
        }
        if let Some(res) = &mut self.results {
            let (stdout, stderr) = (a.stdout.to_vec(), a.stderr.to_vec());
            if let Err(e) = res.write(&Results::record(
                ran.seq,
                &ran.args,
                &ran.line,
                a,
                (&stdout, &stderr),
                ran.attempts,
            )) {
                eprintln!("threadkit: cannot write the results file: {e}; starting no more jobs");
                self.results = None;
                ok = false;
            }
        }
        ok
    }
}
