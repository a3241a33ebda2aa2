// Seed: 004_cf939ae0d651d25c.txt, "Race Conditions" FakeDatabase and "Basic Synchronization Using Lock".
//! Two workers each copy the value, increment the copy, "sleep", and write it back. Without a
//! lock the ending value is 1 (one update is lost); with the lock it is 2.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use threadkit::log::info;
use threadkit::sync::Lock;
use threadkit::thread;

/// The racy database: the value is read and written in two separate steps.
#[derive(Default)]
struct FakeDatabase {
    value: AtomicU32,
}

impl FakeDatabase {
    fn update(&self, name: usize) {
        info!("Thread {name}: starting update");
        let mut local_copy = self.value.load(Ordering::SeqCst);
        local_copy += 1;
        std::thread::sleep(Duration::from_millis(100));
        self.value.store(local_copy, Ordering::SeqCst);
        info!("Thread {name}: finishing update");
    }
}

/// The fixed database: `self._lock = threading.Lock()` owns the value.
#[derive(Default)]
struct LockedDatabase {
    value: Lock<u32>,
}

impl LockedDatabase {
    fn update(&self, name: usize) {
        info!("Thread {name}: starting update");
        {
            let mut value = self.value.lock(); // `with self._lock:`
            let mut local_copy = *value;
            local_copy += 1;
            std::thread::sleep(Duration::from_millis(100));
            *value = local_copy;
        }
        info!("Thread {name}: finishing update");
    }
}

fn main() {
    threadkit::log::init_with(threadkit::log::Level::INFO).unwrap();

    let database = Arc::new(FakeDatabase::default());
    info!(
        "Testing update. Starting value is {}.",
        database.value.load(Ordering::SeqCst)
    );
    let hs: Vec<_> = (0..2)
        .map(|index| {
            let db = Arc::clone(&database);
            thread::spawn(move || db.update(index))
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
    let lost = database.value.load(Ordering::SeqCst);
    info!("Testing update. Ending value is {lost}.");

    let database = Arc::new(LockedDatabase::default());
    info!(
        "Testing update. Starting value is {}.",
        *database.value.lock()
    );
    let hs: Vec<_> = (0..2)
        .map(|index| {
            let db = Arc::clone(&database);
            thread::spawn(move || db.update(index))
        })
        .collect();
    hs.into_iter().for_each(|h| h.join().unwrap());
    let ending = *database.value.lock();
    info!("Testing update. Ending value is {ending}.");
    assert_eq!(ending, 2);
}
