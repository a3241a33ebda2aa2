// Seed: 003_51b0639b010488b3.txt, "Producer Consumer" (a queue, an Event and a ThreadPoolExecutor).
//! The producer puts random numbers into a bounded queue (`queue.Queue(maxsize=10)`) until the
//! event is set; the consumer stores them until the event is set and the queue is empty. Main
//! sets the event after a short while (the seed's `time.sleep(1)`, shortened: without a GIL
//! the producer fills a second with hundreds of thousands of lines).
//!
//! One change for correctness: the seed's consumer loop, `while not event.is_set() or not
//! queue.empty()`, races with the producer (it can leave a message put after its last check in
//! the queue, or block forever in `get()` on an empty queue once the producer is gone). Here the
//! producer shuts the queue down when it leaves (Python 3.13's `Queue.shutdown()`) and the
//! consumer gets until the queue is shut down and drained: every message is stored.

use std::sync::Arc;
use std::time::Duration;
use threadkit::executor::ThreadPool;
use threadkit::log::info;
use threadkit::queue::Queue;
use threadkit::sync::Event;

/// How long main lets the two run before setting the event (the seed sleeps 1 s).
const RUN_FOR: Duration = Duration::from_millis(3);

/// `random.randint(1, 101)` from a small xorshift generator (no dependency needed).
fn randint(state: &mut u64, low: u64, high: u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    low + *state % (high - low + 1)
}

/// Pretend we're getting a number from the network.
fn producer(queue: Queue<u64>, event: Arc<Event>) {
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9E37_79B9_7F4A_7C15, |d| d.as_nanos() as u64)
        | 1;
    while !event.is_set() {
        let message = randint(&mut seed, 1, 101);
        info!("Producer got message: {message}");
        if queue.put(message).is_err() {
            break;
        }
    }
    info!("Producer received event. Exiting");
    queue.shutdown(false); // wakes the consumer if it waits on an empty queue
}

/// Pretend we're saving a number in the database.
fn consumer(queue: Queue<u64>) -> usize {
    let mut stored = 0;
    // `while not event.is_set() or not queue.empty(): message = queue.get()`, made race-free:
    // get fails only once the producer has shut the queue down and it is empty.
    while let Ok(message) = queue.get() {
        info!(
            "Consumer storing message: {message} (size={})",
            queue.qsize()
        );
        stored += 1;
    }
    info!("Consumer received event. Exiting");
    stored
}

fn main() {
    // format="%(asctime)s: %(message)s", level=logging.INFO
    threadkit::log::init_with(threadkit::log::Level::INFO).unwrap();

    let pipeline = Queue::bounded(10);
    let event = Arc::new(Event::new());
    let stored = {
        // `with concurrent.futures.ThreadPoolExecutor(max_workers=2) as executor:`
        let executor = ThreadPool::builder().max_workers(2).build().unwrap();
        let (q, e) = (pipeline.clone(), event.clone());
        let produced = executor.submit(move || producer(q, e)).unwrap();
        let q = pipeline.clone();
        let consumed = executor.submit(move || consumer(q)).unwrap();

        std::thread::sleep(RUN_FOR);
        info!("Main: about to set event");
        event.set();

        produced.result().unwrap();
        consumed.result().unwrap()
        // the pool is shut down (and waited for) here, as at the end of the `with` block
    };
    assert!(
        pipeline.is_empty(),
        "the consumer stores everything that was put"
    );
    info!("Main: {stored} messages stored");
}
