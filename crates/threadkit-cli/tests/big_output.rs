//! Job output larger than memory should hold: spilled to disk past a small buffer per job
//! (peak RSS bounded, output byte-exact, with and without `-k`); `-k` holding finished jobs
//! back without stalling the slots; `--line-buffer` linear in the length of a line.
//!
//! Its own test binary: the peak RSS is read with wait4(2) for each threadkit child.
//! `THREADKIT_STRESS=32` makes the outputs 1 GiB per job (the figure).

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::Duration;

use common::*;

/// Bytes each job writes: 32 MiB by default, four jobs at once, so holding them in memory
/// (the old behaviour) needs at least 128 MiB.
fn job_bytes() -> u64 {
    32 * 1024 * 1024 * stress()
}

/// The line job `k` repeats (`yes`): all the same length, the job's number at byte 4.
fn pattern(k: u8) -> Vec<u8> {
    format!("job-{}-{}\n", k as char, "x".repeat(40)).into_bytes()
}

/// Checks, as it streams by, that the output is whole blocks of `size` bytes, each the
/// exact output of one job; returns the jobs in the order their blocks came.
struct Blocks {
    size: u64,
    /// The current block: its job's line and how far into the block we are.
    cur: Option<(Vec<u8>, u64)>,
    /// The first bytes of a block, until the job's number is known.
    head: Vec<u8>,
    order: Vec<u8>,
}

impl Blocks {
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.cur.is_none() {
                let need = 5 - self.head.len();
                let n = need.min(data.len());
                self.head.extend_from_slice(&data[..n]);
                data = &data[n..];
                if self.head.len() < 5 {
                    return;
                }
                let k = self.head[4];
                self.order.push(k);
                let p = pattern(k);
                assert_eq!(self.head[..], p[..5], "a block starts mid-output");
                self.cur = Some((p, 5));
                self.head.clear();
                continue;
            }
            let (p, off) = self.cur.as_mut().unwrap();
            let n = ((self.size - *off) as usize).min(data.len());
            for (i, &b) in data[..n].iter().enumerate() {
                let at = *off + i as u64;
                if b != p[(at % p.len() as u64) as usize] {
                    panic!(
                        "byte {at} of job {}'s block is {b:#x}: outputs mixed or damaged",
                        p[4] as char
                    );
                }
            }
            *off += n as u64;
            data = &data[n..];
            if *off == self.size {
                self.cur = None;
            }
        }
    }
}

/// Four jobs writing `job_bytes()` each; returns the order of their blocks and the peak RSS.
fn four_big_jobs(keep_order: bool) -> (Vec<u8>, f64) {
    let size = job_bytes();
    let cmd = format!("yes job-{{}}-{} | head -c {size}", "x".repeat(40));
    let mut args = vec!["-j4", &cmd, ":::", "1", "2", "3", "4"];
    if keep_order {
        args.insert(0, "-k");
    }
    let mut child = threadkit()
        .args(&args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut blocks = Blocks {
            size,
            cur: None,
            head: Vec::new(),
            order: Vec::new(),
        };
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = out.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            blocks.feed(&buf[..n]);
        }
        assert!(
            blocks.cur.is_none() && blocks.head.is_empty(),
            "output ends mid-block"
        );
        blocks.order
    });
    let (status, peak_mib) = wait_peak_mib(child);
    let order = reader.join().unwrap();
    assert!(status.success(), "{status:?}");
    eprintln!(
        "4 jobs x {} MiB (-k: {keep_order}): peak RSS {peak_mib:.1} MiB",
        size >> 20
    );
    (order, peak_mib)
}

#[test]
fn big_outputs_are_exact_in_bounded_memory() {
    let (mut order, peak_mib) = four_big_jobs(false);
    order.sort();
    assert_eq!(order, b"1234");
    assert!(peak_mib <= 64.0, "peak RSS {peak_mib:.1} MiB");
}

#[test]
fn big_outputs_are_exact_in_bounded_memory_with_keep_order() {
    let (order, peak_mib) = four_big_jobs(true);
    assert_eq!(order, b"1234");
    assert!(peak_mib <= 64.0, "peak RSS {peak_mib:.1} MiB");
}

#[test]
fn keep_order_holds_finished_jobs_back_while_the_slots_keep_running() {
    let d = TempDir::new("k-slots");
    let dir = d.s("");
    // Job 1 waits until every other job has run: with -k its slot stays busy, and the other
    // slot must go on running jobs 2..8 while their output waits for job 1's.
    let script = format!(
        "if [ {{}} = 1 ]; then until [ -e {dir}/go ]; do sleep 0.01; done; fi; touch {dir}/done.{{}}; echo {{}}"
    );
    let inputs: Vec<String> = (1..=8).map(|i| i.to_string()).collect();
    let mut args = vec!["-k", "-j2", &script, ":::"];
    args.extend(inputs.iter().map(String::as_str));
    let mut child = threadkit()
        .args(&args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("jobs 2..8 to run while job 1 is running", || {
        (2..=8).all(|i| d.path(&format!("done.{i}")).exists())
    });
    std::fs::write(d.path("go"), "").unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(wait_bounded(&mut child, Duration::from_secs(30)).success());
    assert_eq!(out, "1\n2\n3\n4\n5\n6\n7\n8\n");
}

/// Seconds `threadkit --line-buffer --tag` takes to pass on one line of `n` bytes with no
/// newline (best of 3), checking the bytes.
fn long_line_secs(n: u64) -> f64 {
    let cmd = format!("head -c {n} /dev/zero | tr '\\0' x # {{}}");
    let mut best = f64::MAX;
    for _ in 0..3 {
        let (out, took) = run_timed(&["--line-buffer", "--tag", &cmd, ":::", "T"]);
        best = best.min(took.as_secs_f64());
        assert!(out.status.success());
        assert_eq!(out.stdout.len() as u64, n + 2);
        assert_eq!(&out.stdout[..3], b"T\tx");
        assert!(out.stdout[2..].iter().all(|&b| b == b'x'));
    }
    best
}

#[test]
fn line_buffer_is_linear_in_the_length_of_a_line() {
    // Quadratic (rescanning the whole pending line on every read) took 8.9 s for 20 MB and
    // 16 times the time of 5 MB; linear is about 4 times, plus a constant.
    let small = long_line_secs(5_000_000 * stress());
    let big = long_line_secs(20_000_000 * stress());
    eprintln!("--line-buffer, one line: 5 MB {small:.3}s, 20 MB {big:.3}s");
    assert!(
        big < 1.0 || big / small < 8.0,
        "20 MB took {big:.3}s, {:.1} times 5 MB ({small:.3}s)",
        big / small
    );
}
