//! The CLI's exit codes against the library's (`threadkit::batch::Report::exit_code`) on real
//! runs of the same jobs: equal where they mean the same thing (every job succeeded), and
//! GNU parallel's codes in the CLI where the library has one code per kind of ending (the
//! table in crates/threadkit-cli/src/exit.rs).

mod common;

use threadkit::batch::{Batch, FailurePolicy};

use common::*;

/// The exit code of `threadkit -j1 [--halt HALT] 'exit {}' ::: CODES`.
fn cli(halt: Option<&str>, codes: &[i32]) -> i32 {
    let codes: Vec<String> = codes.iter().map(i32::to_string).collect();
    let mut args = vec!["-j1"];
    if let Some(h) = halt {
        args.extend(["--halt", h]);
    }
    args.extend(["exit {}", ":::"]);
    args.extend(codes.iter().map(String::as_str));
    let out = run(&args);
    out.status.code().expect("threadkit was killed")
}

/// The library's exit code for a batch whose items fail with these codes, one at a time, under
/// `policy` (`--halt`'s syntax).
fn library(policy: Option<&str>, codes: &[i32]) -> u8 {
    let policy: FailurePolicy = policy.unwrap_or("all").parse().unwrap();
    Batch::new(|c: &i32| if *c == 0 { Ok(()) } else { Err(*c) })
        .workers(1)
        .chunk_size(1)
        .on_failure(policy)
        .progress(false)
        .run(codes.iter().copied())
        .unwrap()
        .exit_code()
}

#[test]
fn exit_codes_agree_with_the_library_on_the_same_jobs() {
    // (halt, job exit codes, the CLI's code, the library's code)
    let cases: [(Option<&str>, &[i32], i32, u8); 7] = [
        // Every job succeeded: 0 in both.
        (None, &[0, 0, 0], 0, 0),
        // Some failed: the count in the CLI, 1 in the library.
        (None, &[0, 3, 4, 0], 2, 1),
        // A halt on the first failure: the failing job's code in the CLI, 2 (halted) in the
        // library.
        (Some("soon,fail=1"), &[0, 7, 0, 0], 7, 2),
        (Some("now,fail=1"), &[5, 0], 5, 2),
        // A halt on successes: 0 in the CLI (GNU parallel's), 2 (halted) in the library.
        (Some("soon,success=1"), &[3, 0, 4], 0, 2),
        // On finished jobs: the failed ones counted in the CLI.
        (Some("soon,done=2"), &[0, 3, 0, 0], 1, 2),
        // `N%` of all the jobs: 2 of 4 failed when half of them were done.
        (Some("soon,done=50%"), &[6, 7, 0, 0], 50, 2),
    ];
    for (halt, codes, want_cli, want_library) in cases {
        assert_eq!(
            cli(halt, codes),
            want_cli,
            "CLI, --halt {halt:?}, {codes:?}"
        );
        assert_eq!(
            library(halt, codes),
            want_library,
            "library, --halt {halt:?}, {codes:?}"
        );
        if want_library == 0 {
            assert_eq!(want_cli, i32::from(want_library));
        }
    }
}
