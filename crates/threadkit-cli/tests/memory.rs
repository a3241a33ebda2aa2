//! 1M stdin lines stream through in bounded memory (`--dry-run`, so the test takes seconds).
//! Its own test binary: the peak RSS is read with wait4(2) for this one child.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::*;

#[test]
fn one_million_stdin_lines_in_bounded_memory() {
    let mut child = threadkit()
        .args(["--dry-run", "echo", "{}", "{#}"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let mut buf = Vec::with_capacity(1 << 20);
        for i in 0..1_000_000u32 {
            writeln!(buf, "line-{i}").unwrap();
            if buf.len() > (1 << 20) - 64 {
                input.write_all(&buf).unwrap();
                buf.clear();
            }
        }
        input.write_all(&buf).unwrap();
    });
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut count = 0u64;
        let mut last = Vec::new();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = std::io::Read::read(&mut out, &mut buf).unwrap();
            if n == 0 {
                break;
            }
            count += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
            last.extend_from_slice(&buf[..n]);
            if last.len() > 4096 {
                last.drain(..last.len() - 64);
            }
        }
        (count, String::from_utf8_lossy(&last).into_owned())
    });
    writer.join().unwrap();
    let (count, tail) = reader.join().unwrap();
    let (status, peak_mib) = wait_peak_mib(child);
    assert!(status.success());
    assert_eq!(count, 1_000_000);
    assert!(tail.ends_with("echo line-999999 1000000\n"), "{tail}");
    eprintln!("peak RSS for 1M lines: {peak_mib:.1} MiB");
    assert!(peak_mib < 64.0, "peak RSS {peak_mib:.1} MiB");
}
