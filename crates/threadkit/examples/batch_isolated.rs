// Seed: 000_4e73e19a86130902.txt, "Example Implimentation" demo (EnhancedThreadPool), in processes.
//! Seed 000's batch, run in isolation mode: each item in a worker process of a `ProcessPool`.
//! A thread pool cannot survive a task that aborts or segfaults, and cannot stop one that hangs;
//! here input 4 aborts the process running it, input 7 hangs past the hard timeout, and input 9
//! returns an error: each failure is tied to its input, the pool replaces the dead workers, and
//! every other result comes back in input order.

use std::time::Duration;

use threadkit::batch::{Batch, Cause};
use threadkit::process::ProcessPool;

/// Runs in a worker process: prints its pid; 4 aborts, 7 hangs, 9 fails.
fn my_func(idx: u32) -> Result<u32, String> {
    println!("{idx} -> running in process {}", std::process::id());
    match idx {
        4 => std::process::abort(),
        7 => loop {
            std::thread::park();
        },
        9 => Err(format!("input {idx} is not welcome")),
        _ => Ok(idx * idx),
    }
}

fn main() {
    // Lets this binary serve as a worker process: first thing in main.
    threadkit::process::init();

    let pool = ProcessPool::builder()
        .max_workers(4)
        .task_timeout(Duration::from_secs(1))
        .build()
        .expect("the pool starts");
    let report = Batch::isolated(pool, my_func)
        .run(0..10u32)
        .expect("the run starts");

    let shown: Vec<String> = report
        .outcomes()
        .map(|o| match o {
            Ok(v) => v.to_string(),
            Err(f) => format!("<{}: {}>", f.input, f.cause.kind()),
        })
        .collect();
    println!("[{}]", shown.join(", "));
    for f in report.failures() {
        println!("input {} failed: {}", f.input, f.cause);
    }
    let kinds: Vec<_> = report
        .failures()
        .map(|f| (f.index, f.cause.kind()))
        .collect();
    assert_eq!(kinds, [(4, "crashed"), (7, "timeout"), (9, "error")]);
    assert!(
        matches!(&report.failures().next().unwrap().cause, Cause::Crashed { message } if message.contains("SIGABRT"))
    );
    println!();
    print!("{report}");
    println!("exit code: {}", report.exit_code());
}
