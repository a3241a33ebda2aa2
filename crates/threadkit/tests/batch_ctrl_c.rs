#![cfg(not(loom))]
//! Ctrl-C during a batch: a re-executed child of this test binary runs the batch and is sent
//! SIGINT by the parent.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Gate;
use signal_hook::consts::SIGINT;
use signal_hook::iterator::Signals;
use threadkit::batch::Batch;

const CHILD_ENV: &str = "THREADKIT_BATCH_CTRL_C_CHILD";

/// In the child: runs a slow batch with Ctrl-C handling, prints `started` once the first item
/// runs and `interrupted` at each SIGINT, then the report's JSON, and exits with the report's
/// exit code. In `slow` mode the items wait for the first SIGINT, then take 20 ms each: the run
/// cannot end before the parent's first press, however late it comes. In `hang` mode they take
/// 60 s each.
fn child(mode: &str) -> ! {
    let hang = mode == "hang";
    let interrupted = Arc::new(Gate::default());
    let started = std::sync::Once::new();
    let i2 = interrupted;
    let report = Batch::infallible(move |_: &u32| {
        started.call_once(|| {
            // Registered after the run's own handler (installed when the run started), so
            // that the run has counted a press when it is acknowledged.
            let mut sigint = Signals::new([SIGINT]).unwrap();
            let i3 = i2.clone();
            std::thread::spawn(move || {
                for _ in sigint.forever() {
                    i3.open();
                    println!("interrupted");
                }
            });
            println!("started");
        });
        if hang {
            std::thread::sleep(Duration::from_secs(60));
        } else {
            i2.wait(Duration::from_secs(600));
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .workers(2)
    .ctrl_c(true)
    .grace(Duration::from_secs(if hang { 60 } else { 5 }))
    .progress(false)
    .run(0..500u32)
    .unwrap();
    println!("{}", report.to_json());
    std::process::exit(report.exit_code().into());
}

/// Reads the child's stdout until a line ends with `word`.
fn read_until(out: &mut impl BufRead, word: &str) {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "child ended before {word:?}"
        );
        if line.trim().ends_with(word) {
            return;
        }
    }
}

/// Runs the child, presses Ctrl-C `presses` times (each once the child has seen the one
/// before: two signals pending at once would count as one), and returns its exit code, the
/// rest of its output and the time from the first press to its end.
fn run_child(test: &str, mode: &str, presses: usize) -> (i32, String, Duration) {
    let mut c = common::this_test(test)
        .env(CHILD_ENV, mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(c.stdout.take().unwrap());
    read_until(&mut out, "started");
    let t0 = Instant::now();
    for k in 0..presses {
        if k > 0 {
            read_until(&mut out, "interrupted");
        }
        let ok = Command::new("kill")
            .args(["-INT", &c.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }
    let mut rest = String::new();
    for l in out.lines() {
        rest.push_str(&l.unwrap());
        rest.push('\n');
    }
    let status = c.wait().unwrap();
    (status.code().unwrap_or(-1), rest, t0.elapsed())
}

#[test]
fn first_ctrl_c_stops_scheduling_and_returns_a_partial_report() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        child(&mode);
    }
    let (code, out, _) = run_child(
        "first_ctrl_c_stops_scheduling_and_returns_a_partial_report",
        "slow",
        1,
    );
    assert_eq!(code, 130, "{out}");
    assert!(out.contains(r#""stopped":"interrupted""#), "{out}");
    assert!(out.contains(r#""total":500"#), "{out}");
    // The items waiting for a worker never started: reported so, not as failures.
    assert!(out.contains(r#""cause":"not-started""#), "{out}");
}

#[test]
fn second_ctrl_c_stops_at_once() {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        child(&mode);
    }
    let (code, out, took) = run_child("second_ctrl_c_stops_at_once", "hang", 2);
    assert_eq!(code, 130, "{out}");
    // The running items sleep 60 s and the grace period is 60 s: only the second Ctrl-C
    // can have ended the run this soon.
    assert!(took < Duration::from_secs(30), "{took:?}");
    // The running items were cancelled, the others never started: none is a failure.
    // The report's line, not the last line: the child's signal thread may print its
    // "interrupted" for the second press after the report.
    let report = out.lines().rev().find(|l| l.starts_with('{'));
    let json: serde_json::Value = serde_json::from_str(report.expect("the report")).unwrap();
    let s = &json["summary"];
    let (cancelled, not_started) = (s["cancelled"].as_u64(), s["not_started"].as_u64());
    assert!(matches!(cancelled, Some(1..=2)), "{out}");
    assert_eq!(cancelled.unwrap() + not_started.unwrap(), 500, "{out}");
    assert_eq!(s["errors"].as_u64(), Some(0), "{out}");
}
