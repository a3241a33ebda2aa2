// Seed: 000_4e73e19a86130902.txt, "Example Implimentation" demo (EnhancedThreadPool).
//! Seed 000's `EnhancedThreadPool` demo on the batch runner: 10 tasks on 4 workers, each
//! printing `idx -> i` three times under a print lock; task 4 raises. The run does not blow up:
//! the results come back in input order and the failure is tied to its arguments.
//!
//! The program exits with the report's exit code (1: an item failed), as the batch's command
//! would. The seed sleeps 1 s between prints; this sleeps 100 ms. The progress bar (the seed's tqdm)
//! is drawn on stderr when it is a terminal, and the tasks print with `progress::write` (the
//! seed's print under tqdm: `tqdm.write`), so each line lands above the bar, never on it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use threadkit::batch::{Batch, Cause, FailurePolicy};
use threadkit::progress;
use threadkit::sync::Lock;

/// The print lock every task shares, shown as `<lock>` wherever a failed input is printed.
#[derive(Clone)]
struct PrintLock(Arc<Lock<()>>);

impl fmt::Debug for PrintLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<lock>")
    }
}

/// The seed's `my_func(idx, lock)`: raises for 4, else prints three lines under the lock.
fn my_func(idx: usize, PrintLock(lock): PrintLock) -> Result<usize, String> {
    if idx == 4 {
        return Err("This should have been caught".to_string());
    }
    for i in 0..3 {
        lock.acquire();
        let printed = progress::write(format_args!("{idx} -> {i}"));
        lock.release().expect("held by this thread");
        printed.map_err(|e| format!("cannot print: {e}"))?;
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(idx)
}

fn main() {
    // Detine parameters for multithreading (sic)
    let num_ops = 10;
    let lock = PrintLock(Arc::new(Lock::new(())));
    let my_func_arg_set: Vec<(usize, PrintLock)> =
        (0..num_ops).map(|idx| (idx, lock.clone())).collect();

    // etp = EnhancedThreadPool(num_workers=4); results = etp.parralelize(my_func, args, kwargs)
    let report = Batch::starmap(my_func)
        .workers(4)
        .on_failure(FailurePolicy::CollectAll) // handle_exceptions=True
        .run(my_func_arg_set)
        .expect("the pool starts");

    println!(" ");
    // The seed prints [0, 1, 2, 3, EnhancedThreadPoolException(...), 5, 6, 7, 8, 9]. The failed
    // input is shown as the report's table below shows it.
    let shown: Vec<String> = report
        .outcomes()
        .map(|o| match o {
            Ok(v) => v.to_string(),
            Err(f) => format!("Failure(args={}, {})", f.input, f.cause),
        })
        .collect();
    println!("[{}]", shown.join(", "));

    // ... and the failure can be tied back to the original parameter set.
    let failure = report.failures().next().expect("task 4 failed");
    let (idx, _lock) = failure.input.value().expect("the input is kept");
    assert_eq!(*idx, 4);
    assert_eq!(
        failure.cause,
        Cause::Error("This should have been caught".to_string())
    );
    println!();
    print!("{report}");
    let code = report.exit_code();
    println!("exit code: {code}");
    std::process::exit(code.into());
}
