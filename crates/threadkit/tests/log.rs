#![cfg(not(loom))]
//! `threadkit::log`: lines carry the time, the level and the threadkit thread name.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing::level_filters::LevelFilter;
use tracing::Level;

/// A writer collecting everything written to it.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

fn capture(builder: threadkit::log::Builder) -> (tracing::Dispatch, Buf) {
    let buf = Buf::default();
    let b = buf.clone();
    (builder.writer(move || b.clone()).build(), buf)
}

#[test]
fn lines_name_the_thread_that_logged() {
    let (dispatch, buf) = capture(threadkit::log::Builder::new().level(Level::DEBUG));
    let d = dispatch.clone();
    threadkit::thread::Builder::new()
        .name("worker-1")
        .spawn(move || {
            tracing::dispatcher::with_default(&d, || {
                tracing::info!(attempt = 2, "Running Thread 1")
            })
        })
        .unwrap()
        .join()
        .unwrap();
    let d = dispatch.clone();
    let dummy = std::thread::spawn(move || {
        tracing::dispatcher::with_default(&d, || tracing::warn!("from std"));
        threadkit::thread::current().name().to_owned()
    })
    .join()
    .unwrap();
    let text = buf.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].ends_with("  INFO [worker-1] Running Thread 1 attempt=2"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with(&format!("  WARN [{dummy}] from std")),
        "{}",
        lines[1]
    );
    // RFC 3339 UTC time first: 2025-03-01T14:15:36.120512Z
    let time = lines[0].split(' ').next().unwrap();
    assert!(
        time.len() >= 20 && time.ends_with('Z') && time.contains('T'),
        "{time}"
    );
}

#[test]
fn level_target_time_and_spans() {
    let (dispatch, buf) = capture(
        threadkit::log::Builder::new()
            .level(Level::INFO)
            .time(false)
            .target(true),
    );
    let name = threadkit::thread::current().name().to_owned();
    tracing::dispatcher::with_default(&dispatch, || {
        tracing::debug!("hidden");
        let span = tracing::info_span!("job");
        let _e = span.enter();
        tracing::error!("shown");
    });
    assert_eq!(buf.text(), format!("ERROR [{name}] log: job: shown\n"));

    let (dispatch, buf) = capture(threadkit::log::Builder::new().level(LevelFilter::OFF));
    tracing::dispatcher::with_default(&dispatch, || tracing::error!("silenced"));
    assert_eq!(buf.text(), "");
}

#[test]
fn format_composes_with_tracing_subscriber() {
    let buf = Buf::default();
    let b = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .event_format(threadkit::log::Format::default())
        .with_writer(move || b.clone())
        .finish();
    let name = threadkit::thread::current().name().to_owned();
    tracing::subscriber::with_default(subscriber, || tracing::info!("hello"));
    assert!(
        buf.text().ends_with(&format!("  INFO [{name}] hello\n")),
        "{}",
        buf.text()
    );
}

#[test]
fn init_twice_is_an_error_not_a_panic() {
    // The first call may succeed (nothing installed yet in this process); the second cannot.
    let _ = threadkit::log::init();
    let err = threadkit::log::init_with(Level::DEBUG).unwrap_err();
    assert!(err.to_string().contains("already set"), "{err}");
}
