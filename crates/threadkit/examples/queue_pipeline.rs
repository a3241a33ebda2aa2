// Seed: 004_cf939ae0d651d25c.txt, "Producer-Consumer Threading" (the note ends at this heading; this is the classic pipeline it introduces: a Pipeline queue, a producer, a consumer and an Event).
//! `class Pipeline(queue.Queue)` with `maxsize=10` logs around every `put` and `get`; the
//! producer sends random numbers until the event is set, the consumer stores them until the
//! event is set and the pipeline is empty; main runs both on a two-worker pool and sets the
//! event after a moment (the seed's `time.sleep(0.1)`, shortened).
//!
//! One change for correctness: the tutorial's consumer loop, `while not event.is_set() or not
//! pipeline.empty()`, races with the producer (a message put after the consumer's last check is
//! never stored, and a consumer waiting in `get` on an empty queue can hang). As Python 3.13
//! code would, the producer shuts the pipeline down on its way out and the consumer gets until
//! the pipeline is shut down and drained.

use std::sync::Arc;
use std::time::Duration;
use threadkit::executor::ThreadPool;
use threadkit::log::{debug, info};
use threadkit::queue::{GetError, PutError, Queue};
use threadkit::sync::Event;

const RUN_FOR: Duration = Duration::from_millis(2);

/// A queue that logs what goes in and out, like the tutorial's `Pipeline(queue.Queue)`.
#[derive(Clone)]
struct Pipeline {
    queue: Queue<u64>,
}

impl Pipeline {
    fn new() -> Self {
        Pipeline {
            queue: Queue::bounded(10),
        }
    }

    fn get_message(&self, name: &str) -> Result<u64, GetError> {
        debug!("{name}:about to get from queue");
        let value = self.queue.get()?;
        debug!("{name}:got {value} from queue");
        Ok(value)
    }

    fn set_message(&self, value: u64, name: &str) -> Result<(), PutError<u64>> {
        debug!("{name}:about to add {value} to queue");
        self.queue.put(value)?;
        debug!("{name}:added {value} to queue");
        Ok(())
    }
}

fn random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    1 + *state % 101 // random.randint(1, 101)
}

/// Pretend we're getting a number from the network.
fn producer(pipeline: Pipeline, event: Arc<Event>) {
    let mut seed = 0x2545_F491_4F6C_DD1D;
    while !event.is_set() {
        let message = random(&mut seed);
        info!("Producer got message: {message}");
        if pipeline.set_message(message, "Producer").is_err() {
            break;
        }
    }
    info!("Producer received EXIT event. Exiting");
    pipeline.queue.shutdown(false);
}

/// Pretend we're saving a number in the database.
fn consumer(pipeline: Pipeline) {
    while let Ok(message) = pipeline.get_message("Consumer") {
        info!(
            "Consumer storing message: {message}  (queue size={})",
            pipeline.queue.qsize()
        );
    }
    info!("Consumer received EXIT event. Exiting");
}

fn main() {
    // logging.basicConfig(format="%(asctime)s: %(message)s", level=logging.INFO);
    // RUST_LOG=debug shows the Pipeline's own lines, as getLogger().setLevel(logging.DEBUG).
    threadkit::log::init().unwrap();

    let pipeline = Pipeline::new();
    let event = Arc::new(Event::new());
    {
        let executor = ThreadPool::builder().max_workers(2).build().unwrap();
        let (p, e) = (pipeline.clone(), event.clone());
        executor.submit(move || producer(p, e)).unwrap();
        let p = pipeline.clone();
        executor.submit(move || consumer(p)).unwrap();

        std::thread::sleep(RUN_FOR);
        info!("Main: about to set event");
        event.set();
    } // leaving the block shuts the pool down and waits for both, like the `with` block
    assert!(pipeline.queue.is_empty());
}
