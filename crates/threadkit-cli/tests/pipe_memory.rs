//! Issue 18, part 2: `--pipe` and `--pipe-part` in bounded memory, whatever the input's size.
//! Alone in their test binary: a child's peak RSS (wait4) counts the memory of the process it
//! was forked from, so the other tests' data must not be around (under plain `cargo test`).

mod common;

use std::io::Write;
use std::process::Stdio;

use common::*;

/// Memory is bounded by the slots times the block size, whatever the input's size: stdin is
/// never read whole.
#[test]
fn pipe_memory_is_bounded_by_slots_times_block() {
    let mib = 128 * stress();
    let mut child = threadkit()
        .args(["--pipe", "--block", "1M", "-j2", "wc -c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let line = [b'y'; 99].iter().chain(b"\n").copied().collect::<Vec<u8>>();
        let chunk: Vec<u8> = line.repeat(10_486); // ~1 MiB
        let mut sent = 0u64;
        for _ in 0..mib {
            input.write_all(&chunk).unwrap();
            sent += chunk.len() as u64;
        }
        sent
    });
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    let (status, peak_mib) = wait_peak_mib(child);
    let sent = writer.join().unwrap();
    let counted: u64 = reader
        .join()
        .unwrap()
        .lines()
        .map(|l| l.trim().parse::<u64>().unwrap())
        .sum();
    assert!(status.success());
    assert_eq!(counted, sent);
    eprintln!("peak RSS for {mib} MiB through --pipe --block 1M -j2: {peak_mib:.1} MiB");
    assert!(peak_mib < 32.0, "peak RSS {peak_mib:.1} MiB");
}

/// `--pipe-part`: the parts go from the file to the jobs without passing through threadkit, so
/// even a block larger than the memory bound costs nothing.
#[test]
fn pipe_part_bytes_do_not_pass_through_threadkit() {
    let d = TempDir::new("pipe-part-mem");
    let mut f = std::fs::File::create(d.path("big")).unwrap();
    let line = [b'z'; 99].iter().chain(b"\n").copied().collect::<Vec<u8>>();
    let chunk = line.repeat(10_486);
    for _ in 0..96 {
        f.write_all(&chunk).unwrap();
    }
    drop(f);
    let size = std::fs::metadata(d.path("big")).unwrap().len();
    let mut child = threadkit()
        .args(["--pipe-part", "--block", "40M", "-j2", "-a"])
        .arg(d.path("big"))
        .arg("wc -c")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).unwrap();
        s
    });
    let (status, peak_mib) = wait_peak_mib(child);
    let counted: Vec<u64> = reader
        .join()
        .unwrap()
        .lines()
        .map(|l| l.trim().parse().unwrap())
        .collect();
    assert!(status.success());
    assert_eq!(counted.len(), 3);
    assert_eq!(counted.iter().sum::<u64>(), size);
    eprintln!("peak RSS for a 96 MiB file through --pipe-part --block 40M: {peak_mib:.1} MiB");
    assert!(peak_mib < 24.0, "peak RSS {peak_mib:.1} MiB");
}
