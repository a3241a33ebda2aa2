// Seed: 004_cf939ae0d651d25c.txt, "Deadlock" demo (l.acquire(); l.acquire() hangs in Python); also seed 003_51b0639b010488b3.txt, "Deadlock" notes.
//! Python answers a self-deadlock with a hang. Run plainly
//! (`cargo run -p threadkit --example deadlock_demo`), the demo shows the hang bounded by a
//! timed acquire. With the `deadlock-detection` feature
//! (`cargo run -p threadkit --example deadlock_demo --features deadlock-detection`) threadkit
//! names it: the second `acquire` panics with a report. The demo then shows an AB/BA lock-order
//! inversion reported although no deadlock happened, and a real AB/BA deadlock (broken by
//! timeouts) named by the watchdog.

/// Seed 004's transcript up to the second acquire: a lock, acquired once.
fn seed_004_first_acquire() -> threadkit::sync::Lock<()> {
    println!("--- seed 004: a Lock acquired twice by the same thread ---");
    let l = threadkit::sync::Lock::new(());
    println!(">>> l = threading.Lock()");
    println!(">>> l.acquire()");
    l.acquire();
    println!("True");
    l
}

#[cfg(not(feature = "deadlock-detection"))]
fn main() {
    use std::time::Duration;

    let l = seed_004_first_acquire();
    println!(
        ">>> l.acquire(timeout=1)   # a plain l.acquire() hangs here until ^C, in Python as here"
    );
    let got = l
        .acquire_timeout(Duration::from_secs(1))
        .expect("a small timeout");
    println!("{}", if got { "True" } else { "False" });
    l.release().expect("held by this thread");
    println!(
        "\nThe deadlock detector names this mistake (and lock-order inversions) instead: run\n  \
         cargo run -p threadkit --example deadlock_demo --features deadlock-detection"
    );
}

#[cfg(feature = "deadlock-detection")]
use std::panic::{catch_unwind, AssertUnwindSafe};
#[cfg(feature = "deadlock-detection")]
use std::sync::Arc;
#[cfg(feature = "deadlock-detection")]
use std::time::Duration;
#[cfg(feature = "deadlock-detection")]
use threadkit::sync::deadlock::{self, Reaction, Report, Watchdog};
#[cfg(feature = "deadlock-detection")]
use threadkit::sync::{Barrier, Lock, RLock};
#[cfg(feature = "deadlock-detection")]
use threadkit::thread::Builder;

#[cfg(feature = "deadlock-detection")]
fn main() {
    // Reports are values here; print each as it is made.
    deadlock::set_reaction(Reaction::Report);
    deadlock::set_report_callback(|report| println!("[deadlock detector] {report}"));

    let l = seed_004_first_acquire();
    println!(">>> l.acquire()   # Python hangs here until ^C");
    // The self-deadlock panics (after the report above) instead of waiting forever; the
    // default panic message is silenced for the demo.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let again = catch_unwind(AssertUnwindSafe(|| l.acquire()));
    std::panic::set_hook(hook);
    match again {
        Err(_) => println!("(panicked instead of hanging; the lock is still held once)"),
        Ok(()) => unreachable!("a second acquire cannot succeed"),
    }
    println!(">>> l.release()");
    l.release().unwrap();
    println!(">>> l.release()");
    println!("RuntimeError: {}", l.release().unwrap_err());

    println!("\n--- seed 004: RLock may be acquired again by its owner (no report) ---");
    let r = RLock::new(());
    for _ in 0..3 {
        r.acquire();
        println!(">>> l.acquire()\nTrue");
    }
    for _ in 0..3 {
        r.release().unwrap();
        println!(">>> l.release()");
    }
    println!(">>> l.release()");
    println!("RuntimeError: {}", r.release().unwrap_err());

    println!("\n--- AB/BA: two code paths take the same locks in opposite orders ---");
    let accounts = Arc::new(Lock::new(100));
    let audit = Arc::new(Lock::new(Vec::<i32>::new()));
    let (a1, l1) = (Arc::clone(&accounts), Arc::clone(&audit));
    Builder::new()
        .name("transfer")
        .spawn(move || {
            let mut a = a1.lock();
            *a -= 10;
            l1.lock().push(-10); // accounts, then audit
        })
        .unwrap()
        .join()
        .unwrap();
    let (a2, l2) = (Arc::clone(&accounts), Arc::clone(&audit));
    Builder::new()
        .name("report")
        .spawn(move || {
            let log = l2.lock();
            let balance = *a2.lock(); // audit, then accounts: reported at once
            println!("report thread: balance {balance}, {} entries", log.len());
        })
        .unwrap()
        .join()
        .unwrap();
    println!("(no deadlock happened this time: the threads ran one after the other)");

    println!(
        "\n--- the same two orders at the same time: a real deadlock, named by the watchdog ---"
    );
    let dog = Watchdog::start(Duration::from_millis(100));
    let both_hold = Arc::new(Barrier::new(2).unwrap());
    let patience = Duration::from_millis(600);
    let transfer = {
        let (accounts, audit, both_hold) = (accounts.clone(), audit.clone(), both_hold.clone());
        Builder::new()
            .name("transfer")
            .spawn(move || {
                let _a = accounts.lock();
                both_hold.wait().unwrap();
                audit.lock_timeout(patience).unwrap().is_some()
            })
            .unwrap()
    };
    let report = {
        let (accounts, audit, both_hold) = (accounts.clone(), audit.clone(), both_hold.clone());
        Builder::new()
            .name("report")
            .spawn(move || {
                let _l = audit.lock();
                both_hold.wait().unwrap();
                accounts.lock_timeout(patience).unwrap().is_some()
            })
            .unwrap()
    };
    let got = (transfer.join().unwrap(), report.join().unwrap());
    dog.stop();
    println!(
        "transfer got the audit log: {}, report got the accounts: {} (timeouts broke the deadlock)",
        got.0, got.1
    );
    let stuck = deadlock::take_reports()
        .into_iter()
        .filter(|r| matches!(r, Report::StuckThread(s) if !s.cycle.is_empty()))
        .count();
    println!("{stuck} stuck-thread reports named the cycle");
}
