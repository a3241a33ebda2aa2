// Seed: 000_4e73e19a86130902.txt, "Lock" acquire with a timeout and "Rlock" reentry; also seed 004_cf939ae0d651d25c.txt, "Deadlock" and RLock release errors.
//! A `Lock` is not reentrant: a second `acquire` by the same thread would wait forever, so the
//! seed gives up after three seconds. An `RLock` may be acquired again by its owner. Releasing
//! one time too many is an error, shown here as the `Err` value Python raises as RuntimeError.

use std::time::Duration;
use threadkit::sync::{Lock, RLock};

fn main() {
    // Seed 000, In [1]: `with lock: shared_int = 5`.
    let lock = Lock::new(0);
    *lock.lock() = 5;

    // Seed 000, In [71].
    let lock = Lock::new(());
    println!("Getting lock ...");
    lock.acquire();
    println!("Got lock, Getting lock again ...");
    match lock.acquire_timeout(Duration::from_secs(3)) {
        Ok(false) => println!("Gave up waiting after three seconds"),
        Ok(true) => unreachable!("a Lock is not reentrant"),
        Err(overflow) => println!("bad timeout: {overflow}"),
    }
    lock.release().unwrap(); // finally: lock.release()

    // Seed 000, In [73].
    let rlock = RLock::new(());
    println!("Getting lock ...");
    rlock.acquire();
    println!("Getting lock again ...");
    rlock.acquire();
    println!("Got lock again");
    rlock.release().unwrap();
    rlock.release().unwrap();

    // Seed 004, "Deadlock": a second acquire hangs (here: gives up after 100 ms), and a
    // second release is an error.
    println!(">>> l = threading.Lock()");
    let l = Lock::new(());
    println!(">>> l.acquire()");
    l.acquire();
    println!(">>> l.acquire()");
    let again = l.acquire_timeout(Duration::from_millis(100));
    println!("{again:?}  (would wait forever: the lock is not reentrant)");
    println!(">>> l.release()");
    l.release().unwrap();
    println!(">>> l.release()");
    match l.release() {
        Err(e) => println!("Err({e:?}): RuntimeError: {e}"),
        Ok(()) => unreachable!("the lock is not held"),
    }

    // Seed 004: three acquires of an RLock, four releases.
    println!(">>> l = threading.RLock()");
    let l = RLock::new(());
    for _ in 0..3 {
        println!(">>> l.acquire()");
        l.acquire();
    }
    for _ in 0..3 {
        println!(">>> l.release()");
        l.release().unwrap();
    }
    println!(">>> l.release()");
    match l.release() {
        Err(e) => println!("Err({e:?}): RuntimeError: {e}"),
        Ok(()) => unreachable!("every level was given back"),
    }
}
