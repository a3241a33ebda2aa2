//! Integration tests for `threadkit::process::{pipe, Connection}`.
#![cfg(not(loom))]

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use threadkit::process::{
    pipe, Connection, Process, RecvError, RecvTimeoutError, SendError, SendTimeoutError,
};

threadkit::process::enable_test_support!();

fn squares(conn: Connection<u64>) {
    let n = conn.recv().unwrap();
    for i in 1..=n {
        conn.send(&(i * i)).unwrap();
    }
}

fn echo_until_closed(conn: Connection<String>) -> usize {
    let mut n = 0;
    while let Ok(s) = conn.recv() {
        conn.send(&s.to_uppercase()).unwrap();
        n += 1;
    }
    n
}

/// Receives a connection through a connection, and answers on it.
fn forwarded(conn: Connection<Connection<u32>>) {
    let inner = conn.recv().unwrap();
    inner.send(&99).unwrap();
}

#[test]
fn squares_through_a_pipe_with_a_child() {
    let (parent, child) = pipe::<u64>().unwrap();
    let mut p = Process::spawn(squares, child).unwrap();
    parent.send(&10).unwrap();
    let got: Vec<u64> = (0..10).map(|_| parent.recv().unwrap()).collect();
    assert_eq!(got, (1..=10).map(|i| i * i).collect::<Vec<_>>());
    p.join().unwrap();
    // The child's end is closed in the child and (moved into spawn) in the parent.
    assert_eq!(parent.recv(), Err(RecvError::Disconnected));
}

#[test]
fn the_child_sees_the_end_of_the_stream() {
    let (parent, child) = pipe::<String>().unwrap();
    let mut p = Process::spawn(echo_until_closed, child).unwrap();
    for w in ["a", "bc", "def"] {
        parent.send(&w.to_owned()).unwrap();
        assert_eq!(parent.recv().unwrap(), w.to_uppercase());
    }
    drop(parent);
    assert_eq!(p.join(), Ok(3));
}

#[test]
fn connections_travel_through_connections() {
    let (a, b) = pipe::<Connection<u32>>().unwrap();
    let (x, y) = pipe::<u32>().unwrap();
    let mut p = Process::spawn(forwarded, b).unwrap();
    a.send(&y).unwrap();
    drop(y);
    assert_eq!(x.recv_timeout(Duration::from_secs(30)), Ok(99));
    p.join().unwrap();
}

#[test]
fn recv_timeout_then_value() {
    let (a, b) = pipe::<u32>().unwrap();
    assert_eq!(
        b.recv_timeout(Duration::from_millis(10)),
        Err(RecvTimeoutError::Timeout)
    );
    assert!(matches!(
        b.recv_timeout(Duration::MAX),
        Err(RecvTimeoutError::Overflow(_))
    ));
    a.send(&3).unwrap();
    assert_eq!(b.recv_timeout(Duration::from_secs(5)), Ok(3));
}

#[test]
fn send_timeout_when_nobody_reads() {
    let (a, _b) = pipe::<Vec<u8>>().unwrap();
    let chunk = vec![7u8; 100_000];
    let mut timed_out = false;
    for _ in 0..1000 {
        match a.send_timeout(&chunk, Duration::from_millis(20)) {
            Ok(()) => {}
            Err(SendTimeoutError::Timeout) => {
                timed_out = true;
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(timed_out);
}

#[test]
fn peer_closed_is_disconnected_both_ways() {
    let (a, b) = pipe::<u8>().unwrap();
    a.send(&1).unwrap();
    drop(a);
    assert_eq!(b.recv(), Ok(1));
    assert_eq!(b.recv(), Err(RecvError::Disconnected));
    assert_eq!(b.send(&2), Err(SendError::Disconnected));
}

#[test]
fn too_large_on_either_side() {
    let (a, b) = pipe::<Vec<u8>>().unwrap();
    a.set_max_message_len(16);
    assert_eq!(
        a.send(&vec![0; 100]),
        Err(SendError::TooLarge { len: 101, max: 16 })
    );
    b.send(&vec![0; 100]).unwrap();
    assert_eq!(a.recv(), Err(RecvError::TooLarge { len: 101, max: 16 }));
    // The stream cannot be resynchronized: the error stays.
    assert_eq!(a.recv(), Err(RecvError::TooLarge { len: 101, max: 16 }));
}

#[test]
fn corrupt_message_is_a_typed_error_and_the_stream_goes_on() {
    let (a, b) = pipe::<String>().unwrap();
    let mut raw = UnixStream::from(a.as_fd().try_clone_to_owned().unwrap());
    // A frame of 2 bytes: a string of length 5 with only one byte.
    raw.write_all(&[2, 0, 0, 0, 0, 0, 0, 0, 5, b'x']).unwrap();
    assert!(matches!(b.recv(), Err(RecvError::Corrupt { .. })));
    // Invalid UTF-8.
    raw.write_all(&[2, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]).unwrap();
    assert!(matches!(b.recv(), Err(RecvError::Corrupt { .. })));
    a.send(&"fine".to_owned()).unwrap();
    assert_eq!(b.recv().unwrap(), "fine");
}

#[test]
fn many_messages_both_directions_between_threads() {
    let n = 20_000
        * std::env::var("THREADKIT_STRESS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1);
    let (a, b) = pipe::<(u32, String)>().unwrap();
    let t = std::thread::spawn(move || {
        let mut sum = 0u64;
        for _ in 0..n {
            let (i, s) = b.recv().unwrap();
            assert_eq!(s, i.to_string());
            sum += u64::from(i);
        }
        sum
    });
    for i in 0..n {
        a.send(&(i, i.to_string())).unwrap();
    }
    assert_eq!(t.join().unwrap(), (0..u64::from(n)).sum::<u64>());
}
