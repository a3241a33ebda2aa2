//! The progress bar as a person sees it: lines printed with `progress::write` from item
//! functions appear above the bar, never on its row, and no stale bar is left between them
//! (checked on a real pseudo-terminal); rates read at a glance.

mod common;

use std::process::Command;
use std::time::Duration;

use common::pty::{replay, run_on_pty};
use threadkit::batch::Batch;
use threadkit::progress::{self, format_rate};

#[test]
fn rates_have_a_sensible_precision() {
    let cases = [
        (1012.4255, "1,012/s"),
        (1_234_567.8, "1,234,568/s"),
        (99.5, "100/s"),
        (99.4, "99/s"),
        (42.7, "43/s"),
        (9.96, "10/s"),
        (9.94, "9.9/s"),
        (3.4189, "3.4/s"),
        (1.0, "1.0/s"),
        (0.9951, "1.0/s"),
        (0.25, "0.25/s"),
        (0.0312, "0.031/s"),
        (0.0001234, "0.00012/s"),
        (0.0, "0/s"),
        (-3.0, "0/s"),
        (f64::NAN, "0/s"),
        (f64::INFINITY, "0/s"),
    ];
    for (rate, shown) in cases {
        assert_eq!(format_rate(rate), shown, "rate {rate}");
    }
}

#[test]
fn write_without_a_bar_prints_the_line() {
    // No bar is drawn under the test harness (stderr is captured): `write` and `suspend` still
    // write, and `suspend` hands back the closure's value.
    progress::write("a line with no bar").unwrap();
    assert_eq!(progress::suspend(|| 7), 7);
    // Nested: the inner call just runs its closure.
    assert_eq!(progress::suspend(|| progress::suspend(|| 8)), 8);
}

#[test]
fn replay_models_a_redrawn_bar() {
    // A bar drawn, cleared (carriage return, erase line), a line printed, the bar drawn again.
    let bytes = b"[==  ] 1/4\r\x1b[2Kout 1\r\n[=== ] 2/4";
    assert_eq!(replay(bytes, 20, 5), vec!["out 1", "[=== ] 2/4"]);
    // A line printed on the bar's row without clearing it: the garbling the tests look for.
    assert_eq!(
        replay(b"[==  ] 1/4out 1\r\n", 30, 5),
        vec!["[==  ] 1/4out 1"]
    );
    // Autowrap and scrolling keep every line.
    assert_eq!(
        replay(b"abcdef\r\n1\r\n2\r\n3", 4, 2),
        vec!["abcd", "ef", "1", "2", "3"]
    );
    // Cursor up stops at the top of the screen, not in the scrollback.
    assert_eq!(replay(b"1\r\n2\r\n3\x1b[5A\rx", 4, 2), vec!["1", "x", "3"]);
}

/// Set in the child process that runs [`child_batch_writes_above_its_bar`] on the pty.
const CHILD: &str = "THREADKIT_TEST_PROGRESS_CHILD";
const ITEMS: u64 = 12;

/// In the child (on a pty): a batch with the default bar whose items print three lines each
/// through `progress::write`, with some work between them so that the bar is redrawn.
#[test]
fn child_batch_writes_above_its_bar() {
    if std::env::var_os(CHILD).is_none() {
        return; // run by `write_lands_above_the_bar_on_a_terminal` only
    }
    progress::write("before the run").unwrap();
    let report = Batch::new(|n: &u64| -> Result<u64, std::io::Error> {
        for step in 0..3 {
            progress::write(format_args!("item {n} step {step}"))?;
            std::thread::sleep(Duration::from_millis(40)); // the item's "work"
        }
        Ok(*n)
    })
    .workers(3)
    .progress_interval(Duration::from_millis(10))
    .run(0..ITEMS)
    .unwrap();
    assert_eq!(report.values().count() as u64, ITEMS);
    progress::write("after the run").unwrap();
}

#[test]
fn write_lands_above_the_bar_on_a_terminal() {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_batch_writes_above_its_bar",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD, "1");
    let screen = run_on_pty(cmd, 100, 30, Duration::from_secs(120));
    assert!(screen.status.success(), "{screen:#?}");
    let lines = screen.text_lines();
    let shown = || {
        format!(
            "{lines:#?}\nraw: {:?}",
            String::from_utf8_lossy(&screen.raw)
        )
    };
    // The harness may print `test NAME ... ` on the same row before the child's first line.
    let first = lines.iter().position(|l| l.ends_with("before the run"));
    let last = lines.iter().position(|l| *l == "after the run");
    let (Some(first), Some(last)) = (first, last) else {
        panic!("the child's lines are missing: {}", shown());
    };
    // Between the two: every item line once, whole, then the bar's summary line, and nothing else.
    let between = &lines[first + 1..last];
    let (summary, items) = between.split_last().expect("lines between");
    let mut items: Vec<&str> = items.to_vec();
    items.sort_unstable();
    let mut expected: Vec<String> = (0..ITEMS)
        .flat_map(|n| (0..3).map(move |s| format!("item {n} step {s}")))
        .collect();
    expected.sort_unstable();
    assert_eq!(items, expected, "stale bar or garbled line: {}", shown());
    assert!(
        summary.contains(&format!("] {ITEMS}/{ITEMS} ")) && summary.ends_with("/s"),
        "the last line is the summary (count and rate, no ETA): {}",
        shown()
    );
    assert!(!summary.contains("  "), "double space: {summary:?}");
}
