//! `--bar` as a person sees it: the command runs on a real pseudo-terminal and the bytes it
//! wrote are replayed on a small terminal model. The screen must show the jobs' output lines,
//! whole and in order, then one line: the bar's summary. No stale bar between the lines, no
//! line drawn on the bar's row.

mod common;
#[path = "../../threadkit/tests/common/pty.rs"]
mod pty;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::*;

const COLS: u16 = 120;
const ROWS: u16 = 40;

/// Runs `threadkit ARGS` on a pty (in `dir`) and checks the screen: `expected` lines (in this
/// order, or in any order when `ordered` is false), then the summary line ending in `count`
/// and a rate.
fn check_screen(dir: &Path, args: &[&str], expected: &[String], ordered: bool, count: &str) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_threadkit"));
    cmd.current_dir(dir).args(args);
    let screen = pty::run_on_pty(cmd, COLS, ROWS, Duration::from_secs(120));
    let lines = screen.text_lines();
    let shown = format!(
        "threadkit {args:?}\nscreen: {lines:#?}\nraw: {:?}",
        String::from_utf8_lossy(&screen.raw)
    );
    assert!(screen.status.success(), "{shown}");
    let Some((summary, output)) = lines.split_last() else {
        panic!("nothing on the screen: {shown}");
    };
    let mut output = output.to_vec();
    let mut expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    if !ordered {
        output.sort_unstable();
        expected.sort_unstable();
    }
    assert_eq!(output, expected, "a stale bar or a garbled line: {shown}");
    assert!(
        summary.contains(&format!(" {count}")) && summary.ends_with("/s"),
        "the last line is the bar's summary (count, rate): {shown}"
    );
    assert!(!summary.contains("ETA"), "no ETA once done: {shown}");
    // Every bar drawn along the way: one space between its parts, no rate or ETA at 0 done.
    let raw = String::from_utf8_lossy(&screen.raw);
    for drawn in raw.split(['\r', '\n', '\x1b']) {
        let Some((_, stats)) = drawn.rsplit_once("] ") else {
            continue;
        };
        assert!(!stats.contains("  "), "double space in {drawn:?}");
        if stats.starts_with("0/") {
            assert!(!stats.contains('s'), "a rate or ETA at 0 done: {drawn:?}");
        }
    }
}

fn seq(n: u32) -> Vec<String> {
    (1..=n).map(|i| i.to_string()).collect()
}

/// `FIRST i`, `SECOND i` for each input `i`.
fn two_lines_each(inputs: &[String], first: &str, second: &str) -> Vec<String> {
    inputs
        .iter()
        .flat_map(|i| [format!("{first} {i}"), format!("{second} {i}")])
        .collect()
}

fn args<'a>(head: &[&'a str], inputs: &'a [String]) -> Vec<&'a str> {
    let mut a = head.to_vec();
    a.extend(inputs.iter().map(String::as_str));
    a
}

#[test]
fn bar_keeps_grouped_output_whole_in_order() {
    // The issue's `--bar -k "sleep 0.4; echo {}"`: each job takes a moment, so the bar is
    // drawn between outputs; stderr goes above the bar too.
    let inputs = seq(12);
    let cmd = "sleep 0.1; echo out {}; echo err {} >&2";
    let a = args(&["--bar", "-k", "-j3", cmd, ":::"], &inputs);
    let expected = two_lines_each(&inputs, "out", "err");
    check_screen(Path::new("."), &a, &expected, true, "12/12");
}

#[test]
fn bar_keeps_streamed_lines_whole() {
    let inputs = seq(9);
    let cmd = "echo a {}; sleep 0.1; echo b {}";
    let a = args(&["--bar", "--line-buffer", "-j3", cmd, ":::"], &inputs);
    let expected = two_lines_each(&inputs, "a", "b");
    check_screen(Path::new("."), &a, &expected, false, "9/9");
}

#[test]
fn counter_with_unknown_total_keeps_output_whole() {
    let d = TempDir::new("bar-counter");
    let inputs = seq(8);
    std::fs::write(d.path("in"), inputs.join("\n") + "\n").unwrap();
    let a = ["--bar", "-k", "-j2", "sleep 0.1; echo {}", "::::", "in"];
    check_screen(&d.0, &a, &inputs, true, "8");
}

#[test]
fn readme_main_job_shows_the_hashes_then_one_summary() {
    // The README's main job, from the workspace root:
    // threadkit --bar -k sha256sum ::: crates/threadkit/src/*/*.rs
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for dir in std::fs::read_dir(root.join("crates/threadkit/src")).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "rs") {
                files.push(f.strip_prefix(&root).unwrap().to_str().unwrap().to_string());
            }
        }
    }
    files.sort();
    let direct = Command::new("sha256sum")
        .current_dir(&root)
        .args(&files)
        .output()
        .unwrap();
    assert!(direct.status.success());
    let expected: Vec<String> = String::from_utf8(direct.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    let a = args(&["--bar", "-k", "sha256sum", ":::"], &files);
    let n = files.len();
    check_screen(&root, &a, &expected, true, &format!("{n}/{n}"));
}

#[test]
fn bar_stays_put_when_stdout_is_redirected() {
    // `threadkit --bar ... > file`: the output never reaches the terminal, so the bar is never
    // cleared for it (no flicker), and the screen shows only the summary.
    let d = TempDir::new("bar-redirected");
    let inputs = seq(10);
    let mut cmd = Command::new("sh");
    cmd.current_dir(&d.0).args([
        "-c",
        "exec \"$0\" \"$@\" > out",
        env!("CARGO_BIN_EXE_threadkit"),
        "--bar",
        "-k",
        "-j3",
        "sleep 0.05; echo {}",
        ":::",
    ]);
    cmd.args(&inputs);
    let screen = pty::run_on_pty(cmd, COLS, ROWS, Duration::from_secs(120));
    let raw = String::from_utf8_lossy(&screen.raw);
    assert!(screen.status.success(), "{screen:#?}");
    assert_eq!(
        std::fs::read_to_string(d.path("out")).unwrap(),
        inputs.join("\n") + "\n"
    );
    let lines = screen.text_lines();
    assert!(
        lines.len() == 1 && lines[0].contains(" 10/10 "),
        "only the summary: {lines:#?}"
    );
    assert!(
        !raw.contains("\r\x1b[K\r"),
        "the bar was cleared for output that went to a file: {raw:?}"
    );
}

#[test]
fn ctrl_c_leaves_no_stale_bar() {
    // Ctrl-C typed on the terminal: the terminal echoes `^C` at the cursor (the end of the
    // bar's row) and threadkit prints its message above the bar; the `^C` must not push a
    // stale copy of the bar up the screen.
    let inputs = seq(20);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_threadkit"));
    cmd.args(args(
        &["--bar", "-j2", "sleep 0.3; echo {}", ":::"],
        &inputs,
    ));
    let mut session = pty::Session::spawn(cmd, COLS, ROWS, true);
    session.wait_for("a bar with an ETA", Duration::from_secs(120), |raw| {
        let text = String::from_utf8_lossy(raw);
        let last = text.rsplit('\r').next().unwrap_or("");
        text.ends_with("\x1b[K") && last.contains(" ETA ")
    });
    session.type_bytes(b"\x03");
    let screen = session.finish(Duration::from_secs(120));
    let lines = screen.text_lines();
    let shown = format!(
        "screen: {lines:#?}\nraw: {:?}",
        String::from_utf8_lossy(&screen.raw)
    );
    assert_eq!(screen.status.code(), Some(130), "{shown}");
    let (summary, rest) = lines.split_last().expect("lines");
    assert!(
        summary.contains("/20 ") && !summary.contains("ETA"),
        "{shown}"
    );
    let message = "threadkit: interrupted: starting no more jobs";
    for line in rest {
        let line = line.trim_start_matches("^C");
        assert!(
            line.starts_with(message) || inputs.iter().any(|i| i == line),
            "a stale bar or a garbled line: {line:?}\n{shown}"
        );
    }
    assert_eq!(
        rest.iter().filter(|l| l.contains(message)).count(),
        1,
        "{shown}"
    );
}

#[test]
fn output_ending_mid_line_is_not_covered_by_the_bar() {
    // Jobs that print no final newline: on the terminal each output is ended so that the bar,
    // drawn again at the start of the row, does not cover it (a file gets the bytes as they are).
    let inputs = seq(6);
    let expected: Vec<String> = inputs.iter().map(|i| format!("x{i}")).collect();
    let a = args(
        &["--bar", "-k", "-j2", "sleep 0.1; printf x{}", ":::"],
        &inputs,
    );
    check_screen(Path::new("."), &a, &expected, true, "6/6");
}
