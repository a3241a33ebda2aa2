// Seed: 001_e760d7e4a4782a84.txt, "Timers" demo; also seed 004_cf939ae0d651d25c.txt, "Timer" with cancel.
//! A timer runs a function on its own thread after a delay; the main thread goes on meanwhile.
//! A timer cancelled before it fires never runs; cancelling after it fired does nothing.
//! (The seed's 5 s delay becomes 500 ms.)

use std::time::Duration;
use threadkit::log::debug;
use threadkit::sync::Timer;

fn timer_event() {
    debug!("Our timer fired");
}

fn main() {
    threadkit::log::init_with(threadkit::log::Level::DEBUG).unwrap();

    // Seed 001.
    let timer = Timer::start(Duration::from_millis(500), timer_event).unwrap();
    debug!("Main completed");
    timer.join().unwrap(); // Python waits for the (non-daemon) timer thread at exit

    // Seed 004: prompt the user unless they act first.
    let reminder = Timer::start(Duration::from_secs(30), || {
        debug!("You did not act in time!");
    })
    .unwrap();
    debug!("The user acted: cancelling the reminder");
    debug!("cancelled in time: {}", reminder.cancel());
    reminder.join().unwrap();

    // Cancelling after the timer fired does nothing (and says so).
    let fired = Timer::start(Duration::ZERO, || debug!("fired at once")).unwrap();
    while fired.runs() == 0 {
        std::thread::yield_now();
    }
    debug!("cancel after firing: {}", fired.cancel());
    fired.join().unwrap();

    // A repeating timer: a heartbeat every 100 ms until cancelled.
    let heartbeat = Timer::repeating(Duration::from_millis(100), || debug!("heartbeat")).unwrap();
    std::thread::sleep(Duration::from_millis(350));
    heartbeat.cancel();
    let runs = heartbeat.runs();
    heartbeat.join().unwrap();
    debug!("heartbeat ran {runs} times");
}
