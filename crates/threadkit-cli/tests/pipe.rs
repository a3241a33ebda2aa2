//! Issue 18, part 2: `--pipe` and `--pipe-part`, against GNU parallel 20221122 (same stdout
//! bytes with `-k`, same exit code; skipped with the reason printed when GNU parallel is
//! missing): block boundaries by size, `--recend`/`--recstart`, `-N`, hostile bytes; then what
//! GNU parallel cannot be compared on (a record longer than a block, where it grows its block
//! size for good), memory bounds, a job that writes before it reads, a job that leaves its input
//! unread, and the refusals. Memory bounds: tests/pipe_memory.rs.

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::*;

/// `n` numbered lines.
fn numbers(n: u32) -> Vec<u8> {
    (1..=n)
        .flat_map(|i| format!("{i}\n").into_bytes())
        .collect()
}

/// Bytes that are not UTF-8, NULs, quotes, CRs, and no newline at the end.
fn hostile() -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..400u32 {
        v.extend_from_slice(format!("rec {i} ").as_bytes());
        v.extend_from_slice(b"\xe9\0'\"\r $x `y`\n");
        v.extend_from_slice(&[0xff, 0xfe, b';', b'\n']);
    }
    v.extend_from_slice(b"last \xc3 no newline");
    v
}

/// Each job shows its number and the size of its block, so the boundaries are compared.
const SHOW: &str = "printf '%s ' {#}; wc -c";

fn agree(args: &[&str], stdin: &[u8]) {
    let d = TempDir::new("pipe");
    agree_in(&d, args, stdin);
}

fn agree_in(d: &TempDir, args: &[&str], stdin: &[u8]) {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    same_bytes_as_gnu(&d.0, &args, stdin, &[]);
}

#[test]
fn pipe_blocks_are_cut_where_gnu_parallel_cuts_them() {
    let input = numbers(200_000);
    // The default block (1M): two blocks.
    agree(&["--pipe", "-k", SHOW], &input);
    for block in ["1k", "3333", "10K", "1.5k"] {
        agree(&["--pipe", "--block", block, "-k", SHOW], &input[..50_000]);
    }
    // Bytes preserved, in order.
    agree(&["--pipe", "--block", "1k", "-k", "cat"], &input[..50_000]);
}

#[test]
fn pipe_records_by_recend_recstart_and_n() {
    let input = numbers(20_000);
    for extra in [
        &["--recend", "0"][..],
        &["--recstart", "1"],
        &["--recend", "77"],
    ] {
        let mut args = vec!["--pipe", "--block", "1k", "-k"];
        args.extend_from_slice(extra);
        args.push(SHOW);
        agree(&args, &input);
    }
    // -N: n records per job (a few hundred jobs: GNU parallel takes ~10 ms each).
    for n in [&["-N", "7"][..], &["-N", "3", "--recstart", "1"]] {
        let mut args = vec!["--pipe", "-k"];
        args.extend_from_slice(n);
        args.push(SHOW);
        agree(&args, &input[..3000]);
    }
    // Both: a boundary is a record end followed by a record start.
    let xml: Vec<u8> = (0..600)
        .flat_map(|i| format!("<rec {i}>\n{}\n</rec>\n", "b".repeat(i % 50)).into_bytes())
        .collect();
    for n in [None, Some("4")] {
        let mut args = vec![
            "--pipe",
            "--block",
            "1k",
            "-k",
            "--recstart",
            "<rec",
            "--recend",
            "</rec>\n",
        ];
        if let Some(n) = n {
            args.extend(["-N", n]);
        }
        args.push(SHOW);
        agree(&args, &xml);
    }
}

#[test]
fn pipe_keeps_hostile_bytes_and_a_last_record_without_newline() {
    let input = hostile();
    agree(&["--pipe", "--block", "1k", "-k", "cat"], &input);
    agree(&["--pipe", "--block", "1k", "-k", SHOW], &input);
    agree(
        &["--pipe", "--block", "500", "--recend", ";\n", "-k", SHOW],
        &input,
    );
    agree(&["--pipe", "-N", "50", "-k", "cat"], &input);
    agree(&["--pipe", "-k", "--tag", "cat"], b"a\nb\nc");
}

#[test]
fn pipe_exit_codes_count_failed_jobs() {
    let input = numbers(10_000);
    agree(
        &["--pipe", "--block", "4k", "cat >/dev/null; exit 3"],
        &input,
    );
    // A job that exits without reading a block larger than a pipe holds (every block here):
    // failed in both. (With smaller blocks GNU parallel's count depends on timing.)
    agree(&["--pipe", "--block", "100k", "true"], &numbers(50_000));
}

#[test]
fn pipe_part_parts_are_where_gnu_parallel_puts_them() {
    let d = TempDir::new("pipe-part");
    std::fs::write(d.path("n"), numbers(20_000)).unwrap();
    std::fs::write(d.path("h"), hostile()).unwrap();
    for extra in [
        &[][..],
        &["--recend", "0"],
        &["--recstart", "1"],
        &["--recstart", "2", "--recend", "9"],
    ] {
        for block in ["1k", "3333"] {
            let mut args = vec!["--pipe-part", "--block", block, "-a", "n", "-k"];
            args.extend_from_slice(extra);
            args.push(SHOW);
            agree_in(&d, &args, b"");
        }
    }
    agree_in(
        &d,
        &["--pipe-part", "--block", "1k", "-k", "cat", "::::", "h"],
        b"",
    );
    agree_in(
        &d,
        &["--pipe-part", "--block", "700", "-k", SHOW, "::::", "h"],
        b"",
    );
}

/// GNU parallel grows its block size for good (x1.3 per try, with a warning) when a record is
/// longer than a block, so its later boundaries differ; what must hold: every byte arrives,
/// the long record whole in one job.
#[test]
fn a_record_longer_than_the_block_goes_whole_to_one_job() {
    let mut input = b"a\nb\n".to_vec();
    input.extend(std::iter::repeat_n(b'x', 5000));
    input.extend_from_slice(b"\nc\nd\n");
    let out = run_with_stdin(&["--pipe", "--block", "3", "-k", SHOW], &input);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "1 2\n2 2\n3 5001\n4 2\n5 2\n");
    let out = run_with_stdin(&["--pipe", "--block", "3", "-k", "cat"], &input);
    assert_eq!(out.stdout, input);
}

#[test]
fn pipe_jobs_number_and_order_like_argument_jobs() {
    // -k: in block order whatever finishes first; the first job is the slowest.
    let input = numbers(3000);
    let out = run_with_stdin(
        &[
            "--pipe",
            "--block",
            "2k",
            "-k",
            "-j4",
            "if [ {#} = 1 ]; then sleep 0.3; fi; echo {#}; cat >/dev/null",
        ],
        &input,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let n: Vec<u32> = stdout(&out).lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(n, (1..=n.len() as u32).collect::<Vec<_>>());
    assert!(n.len() > 3);
}

/// A job that writes a lot before it reads its input (here: echoes it back, `cat`, with
/// blocks far larger than a pipe holds) does not deadlock with the block being written.
#[test]
fn a_job_writing_before_reading_does_not_deadlock() {
    let input = numbers(1_500_000); // ~10 MB
    let mut cmd = threadkit();
    cmd.args([
        "--pipe",
        "--block",
        "4M",
        "-k",
        "-j2",
        "cat; head -c 3000000 /dev/zero | tr '\\0' x; echo",
    ]);
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut w = child.stdin.take().unwrap();
    let data = input.clone();
    let writer = std::thread::spawn(move || w.write_all(&data).unwrap());
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut out, &mut v).unwrap();
        v
    });
    let status = wait_bounded(&mut child, Duration::from_secs(120));
    writer.join().unwrap();
    let out = reader.join().unwrap();
    assert!(status.success());
    let kept: Vec<u8> = out.iter().copied().filter(|&b| b != b'x').collect();
    // Each job's block, then its x's and a newline.
    let blocks: Vec<u8> = kept
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .flat_map(|l| l.iter().copied().chain(*b"\n"))
        .collect();
    assert_eq!(blocks, input);
}

#[test]
fn a_job_that_leaves_its_input_unread_fails_with_a_message() {
    // Blocks larger than what `head` reads at once.
    let input = numbers(50_000);
    let out = run_with_stdin(&["--pipe", "--block", "100k", "-k", "head -n 1"], &input);
    let jobs = stdout(&out).lines().count();
    assert!(jobs > 2);
    assert_eq!(out.status.code(), Some(jobs as i32), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("exited without reading"),
        "{}",
        stderr(&out)
    );
    // Reading it all is success.
    let out = run_with_stdin(&["--pipe", "--block", "4k", "cat >/dev/null"], &input);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn pipe_flags_that_cannot_apply_are_refused() {
    let d = TempDir::new("pipe-refused");
    std::fs::write(d.path("f"), b"a\n").unwrap();
    let f = d.s("f");
    for args in [
        vec!["--pipe", "cat", ":::", "a"],
        vec!["--pipe", "--block", "0", "cat"],
        vec!["--pipe", "--block", "1Q", "cat"],
        vec!["--block", "1k", "cat", ":::", "a"],
        vec!["--pipe", "-N", "0", "cat"],
        vec!["--pipe", "--recend", "", "--recstart", "", "cat"],
        vec!["--pipe", "--journal", "j.db", "cat"],
        vec!["--pipe", "--dry-run", "cat"],
        vec!["--pipe-part", "cat"],
        vec!["--pipe-part", "-N", "2", "-a", &f, "cat"],
        vec!["--pipe-part", "-a", "/dev/null", "cat"],
        vec!["--pipe-part", "-a", "/nonexistent/x", "cat"],
    ] {
        let out = run_with_stdin(&args, b"a\n");
        assert_eq!(out.status.code(), Some(255), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).starts_with("threadkit: "),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    // The SQL mode's jobs are command lines in a table, with no stdin to feed: refused by the
    // argument parser, before any database is reached.
    for args in [
        vec!["--pipe", "--sqlmaster", "pg://h/db/t", "cat"],
        vec!["--pipe", "--sqlworker", "pg://h/db/t"],
        vec![
            "--pipe-part",
            "-a",
            &f,
            "--sqlandworker",
            "pg://h/db/t",
            "cat",
        ],
    ] {
        let out = run_with_stdin(&args, b"a\n");
        assert_eq!(out.status.code(), Some(255), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("cannot be used with"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
