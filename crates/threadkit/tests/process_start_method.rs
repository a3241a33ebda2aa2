//! Integration tests for start methods: `Spawn` and `ForkServer` children behave the same
//! (results, panics, exit codes, signals, `is_alive`), fork-server children come from one helper
//! process, which reaps them, ends with its parent, and is replaced when it is killed; every
//! kind of handle works in children of both methods.
#![cfg(not(loom))]

mod common;

use common::{aborts, exits, panics, parks, stress};
use std::os::unix::process::parent_id;
use std::time::{Duration, Instant};

use threadkit::process::{
    get_start_method, pipe, set_start_method, Array, Connection, Event, JoinTimeoutError, Lock,
    Process, ProcessError, ProcessPool, Queue, StartMethod, TaskError, Value,
};

threadkit::process::enable_test_support!();

const METHODS: [StartMethod; 2] = [StartMethod::Spawn, StartMethod::ForkServer];

fn square(x: u64) -> u64 {
    x * x
}

fn ppid(_: ()) -> u32 {
    parent_id()
}

/// Sends (own pid, parent pid), then waits until the other end closes.
fn report_then_wait(conn: Connection<(u32, u32)>) {
    conn.send(&(std::process::id(), parent_id())).unwrap();
    while conn.recv().is_ok() {}
}

fn send_signal(sig: &str, pid: u32) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Whether process `pid` is gone (or a zombie waiting for a reaper that is not ours).
fn ended(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
    }
}

/// Polls (an external process's state has no event to wait on) for at most 10 s.
fn wait_until_ended(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !ended(pid) {
        assert!(Instant::now() < deadline, "{what} (pid {pid}) did not end");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn gone(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn results_panics_and_exit_codes_are_the_same_with_both_methods() {
    for m in METHODS {
        let mut p = Process::spawn_with(m, square, 12).unwrap();
        assert_eq!(p.join(), Ok(144), "{m}");
        assert!(!p.is_alive(), "{m}");
        assert_eq!(p.exitcode(), Some(0), "{m}");

        let mut p = Process::spawn_with(m, panics, "boom 7".to_owned()).unwrap();
        let r = p.join();
        assert!(
            matches!(&r, Err(ProcessError::Panicked { message, .. }) if message == "boom 7"),
            "{m}: {r:?}"
        );
        assert_eq!(p.exitcode(), Some(1), "{m}");

        let mut p = Process::spawn_with(m, exits, 7).unwrap();
        assert_eq!(p.join(), Err(ProcessError::Exited { code: 7 }), "{m}");
        assert_eq!(p.exitcode(), Some(7), "{m}");

        let mut p = Process::spawn_with(m, exits, 0).unwrap();
        assert_eq!(p.join(), Err(ProcessError::Exited { code: 0 }), "{m}");

        let mut p = Process::spawn_with(m, aborts, ()).unwrap();
        assert!(
            matches!(p.join(), Err(ProcessError::Signaled { signal: 6, ref name }) if name == "SIGABRT"),
            "{m}"
        );
        assert_eq!(p.exitcode(), Some(-6), "{m}");
    }
}

#[test]
fn signals_and_is_alive_are_the_same_with_both_methods() {
    for m in METHODS {
        let mut p = Process::spawn_with(m, parks, ()).unwrap();
        assert!(p.is_alive(), "{m}");
        assert_eq!(p.exitcode(), None, "{m}");
        assert_eq!(
            p.join_timeout(Duration::from_millis(20)),
            Err(JoinTimeoutError::Timeout),
            "{m}"
        );
        p.terminate().unwrap();
        assert_eq!(
            p.join(),
            Err(ProcessError::Signaled {
                signal: 15,
                name: "SIGTERM".into()
            }),
            "{m}"
        );
        assert_eq!(p.exitcode(), Some(-15), "{m}");
        assert!(!p.is_alive(), "{m}");
        // Signalling an ended (and reaped) child is a no-op.
        p.kill().unwrap();
        p.terminate().unwrap();

        let mut p = Process::spawn_with(m, parks, ()).unwrap();
        p.kill().unwrap();
        assert_died_by(&mut p, 9, "SIGKILL", m);
    }
}

/// `p` ended by signal `signal` (named `name`), as `join` and `exitcode` say.
fn assert_died_by(p: &mut Process<()>, signal: i32, name: &str, m: StartMethod) {
    assert_eq!(
        p.join(),
        Err(ProcessError::Signaled {
            signal,
            name: name.into()
        }),
        "{m}"
    );
    assert_eq!(p.exitcode(), Some(-signal), "{m}");
}

/// Set in the processes [`children_get_the_programs_sigint_disposition_with_both_methods`]
/// starts: `default` or `ignore`, the SIGINT disposition that process gives itself first.
const SIGINT_ENV: &str = "THREADKIT_TEST_SIGINT";

/// Whether `SIGINT` is in the `field` mask (`SigIgn`, `SigBlk`) of `/proc/PID/status`.
fn sigint_in(pid: u32, field: &str) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let mask = u64::from_str_radix(line.trim(), 16).unwrap();
    mask & (1 << (libc::SIGINT - 1)) != 0
}

/// A child's SIGINT is the program's: the default action ends it, and a program that ignores
/// SIGINT passes that on (as Python's children inherit it): what a test run started in the
/// background of a script (`cargo test &`, whose SIGINT the shell ignores) sees. The fork
/// server ignores and blocks SIGINT itself and gives each child the program's disposition back.
///
/// Each case runs in a process of its own (this test again, alone) that sets its disposition
/// before it starts any child, so the result does not depend on how this test was started.
#[test]
fn children_get_the_programs_sigint_disposition_with_both_methods() {
    let ignore = match std::env::var(SIGINT_ENV).as_deref() {
        Ok("default") => false,
        Ok("ignore") => true,
        _ => {
            // The child's output goes where this test's goes (no pipe to wait on).
            for mode in ["default", "ignore"] {
                let status = common::this_test(
                    "children_get_the_programs_sigint_disposition_with_both_methods",
                )
                .env(SIGINT_ENV, mode)
                .status()
                .unwrap();
                assert!(status.success(), "SIGINT {mode}: {status}");
            }
            return;
        }
    };
    let disposition = if ignore { libc::SIG_IGN } else { libc::SIG_DFL };
    // SAFETY: setting a disposition to the default action or to ignored installs no handler
    // code; this process runs this test alone (`--exact`) and has started no child yet.
    unsafe { libc::signal(libc::SIGINT, disposition) };
    for m in METHODS {
        let mut p = Process::spawn_with(m, parks, ()).unwrap();
        // A forked child gets the disposition back, then unblocks SIGINT: once it is unblocked,
        // the disposition is the one the child runs with (a re-executed one never blocks it).
        let deadline = Instant::now() + Duration::from_secs(120);
        while sigint_in(p.pid(), "SigBlk") && Instant::now() < deadline {
            std::thread::yield_now();
        }
        let (blocked, ignored) = (sigint_in(p.pid(), "SigBlk"), sigint_in(p.pid(), "SigIgn"));
        if blocked || ignored != ignore {
            // End the parked child before failing: it would outlive this process.
            p.kill().unwrap();
        }
        assert!(!blocked, "{m}: SIGINT still blocked");
        assert_eq!(ignored, ignore, "{m}");
        send_signal("INT", p.pid());
        if ignore {
            // An ignored signal is discarded when it is sent: the child is still there.
            assert!(p.is_alive(), "{m}");
            p.kill().unwrap();
            assert_died_by(&mut p, 9, "SIGKILL", m);
        } else {
            assert_died_by(&mut p, 2, "SIGINT", m);
        }
    }
}

#[test]
fn fork_server_children_come_from_one_helper_and_spawn_children_are_ours() {
    let me = std::process::id();
    let mut a = Process::spawn_with(StartMethod::ForkServer, ppid, ()).unwrap();
    let mut b = Process::spawn_with(StartMethod::ForkServer, ppid, ()).unwrap();
    let server = a.join().unwrap();
    assert_ne!(server, me);
    assert_eq!(b.join(), Ok(server));
    let mut c = Process::spawn_with(StartMethod::Spawn, ppid, ()).unwrap();
    assert_eq!(c.join(), Ok(me));
}

#[test]
fn many_threads_start_children_through_the_fork_server_at_once() {
    let per_thread = 25 * stress::<usize>() as u64;
    std::thread::scope(|s| {
        for t in 0..4u64 {
            s.spawn(move || {
                for i in 0..per_thread {
                    let x = t * 1000 + i;
                    let mut p = Process::spawn_with(StartMethod::ForkServer, square, x).unwrap();
                    assert_eq!(p.join(), Ok(x * x));
                    assert_eq!(p.exitcode(), Some(0));
                }
            });
        }
    });
}

#[test]
fn default_and_set_start_method() {
    let default = get_start_method();
    match std::env::var("THREADKIT_START_METHOD").as_deref() {
        Ok("spawn") => assert_eq!(default, StartMethod::Spawn),
        _ => assert_eq!(default, StartMethod::ForkServer),
    }
    assert_eq!(StartMethod::Spawn.as_str(), "spawn");
    assert_eq!(StartMethod::ForkServer.to_string(), "forkserver");
    let other = match default {
        StartMethod::Spawn => StartMethod::ForkServer,
        _ => StartMethod::Spawn,
    };
    set_start_method(other);
    assert_eq!(get_start_method(), other);
    let mut p = Process::spawn(ppid, ()).unwrap();
    let parent = p.join().unwrap();
    set_start_method(default);
    assert_eq!(parent == std::process::id(), other == StartMethod::Spawn);
}

#[test]
fn a_dropped_running_child_is_reaped_by_the_fork_server() {
    let (ours, theirs) = pipe::<(u32, u32)>().unwrap();
    let p = Process::spawn_with(StartMethod::ForkServer, report_then_wait, theirs).unwrap();
    let pid = p.pid();
    let (child, _) = ours.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(child, pid);
    drop(p);
    // The child returns once our end closes; the fork server reaps it: no zombie is left.
    drop(ours);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !gone(pid) {
        assert!(Instant::now() < deadline, "child {pid} was not reaped");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// In a child: starts a grandchild through this child's own fork server, then parks.
fn start_grandchild(conn: Connection<(u32, u32)>) {
    let _grandchild = Process::spawn_with(StartMethod::ForkServer, report_then_wait, conn).unwrap();
    loop {
        std::thread::park();
    }
}

#[test]
fn the_fork_server_ends_when_its_parent_is_killed() {
    let (ours, theirs) = pipe::<(u32, u32)>().unwrap();
    let mut child = Process::spawn_with(StartMethod::Spawn, start_grandchild, theirs).unwrap();
    let (grandchild, server) = ours.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_ne!(
        server,
        child.pid(),
        "the grandchild comes from the child's fork server"
    );
    assert!(!ended(server));
    child.kill().unwrap();
    assert!(matches!(
        child.join(),
        Err(ProcessError::Signaled { signal: 9, .. })
    ));
    // The server sees the end of its socket and exits.
    wait_until_ended(server, "the fork server of a killed parent");
    // The grandchild goes on, as an orphan (as with spawn), until its work is done.
    assert!(!ended(grandchild));
    drop(ours);
    wait_until_ended(grandchild, "the orphaned grandchild");
}

/// In a child (so as not to disturb the fork server of this test process): kills the fork
/// server under a running child; returns that child's result and exit code, and whether a
/// new server then serves new children.
fn kill_the_fork_server(_: ()) -> (bool, Option<i32>, bool) {
    let (ours, theirs) = pipe::<(u32, u32)>().unwrap();
    let mut a = Process::spawn_with(StartMethod::ForkServer, report_then_wait, theirs).unwrap();
    let (_, server) = ours.recv_timeout(Duration::from_secs(30)).unwrap();
    send_signal("KILL", server);
    wait_until_ended(server, "the killed fork server");
    drop(ours);
    let returned = a.join().is_ok();
    let code = a.exitcode();
    let mut b = Process::spawn_with(StartMethod::ForkServer, ppid, ()).unwrap();
    let new_server = b.join().unwrap();
    // The dead server was reaped (when its loss was noticed, or at the latest when the next
    // child needed a server): not left a zombie.
    let reaped = gone(server);
    (
        returned && reaped,
        code,
        new_server != server && new_server != std::process::id(),
    )
}

#[test]
fn a_killed_fork_server_is_replaced_and_its_children_report_code_255() {
    let mut p = Process::spawn_with(StartMethod::Spawn, kill_the_fork_server, ()).unwrap();
    assert_eq!(p.join(), Ok((true, Some(255), true)));
}

fn crash_if(x: u64) -> u64 {
    if x == 3 {
        std::process::abort();
    }
    x * 10
}

#[test]
fn pool_workers_use_the_chosen_start_method() {
    for m in METHODS {
        let pool = ProcessPool::builder()
            .max_workers(2)
            .start_method(m)
            .build()
            .unwrap();
        let parent = pool.submit(ppid, ()).unwrap().into_result().unwrap();
        assert_eq!(parent == std::process::id(), m == StartMethod::Spawn, "{m}");
        let out: Vec<_> = pool.map(crash_if, 0..6).unwrap().collect();
        assert_eq!(out[2], Ok(20), "{m}");
        assert_eq!(
            out[3],
            Err(TaskError::Signaled {
                signal: 6,
                name: "SIGABRT".into()
            }),
            "{m}"
        );
        assert_eq!(out[5], Ok(50), "{m}");
    }
}

type Handles = (
    Value<u64>,
    Array<u32>,
    Lock,
    Event,
    Queue<u32>,
    Connection<String>,
);

/// Uses every kind of handle it was given.
fn use_handles((total, array, lock, done, queue, conn): Handles) -> u32 {
    {
        let _held = lock.lock();
        total.update(|t| t + 5);
    }
    array.set(1, 42).unwrap();
    queue.put(7).unwrap();
    conn.send(&"hello".to_owned()).unwrap();
    let reply = conn.recv().unwrap();
    done.set();
    reply.len() as u32
}

#[test]
fn every_kind_of_handle_works_in_children_of_both_methods() {
    for m in METHODS {
        let total = Value::new(10u64).unwrap();
        let array = Array::from_slice(&[0u32; 3]).unwrap();
        let lock = Lock::new().unwrap();
        let done = Event::new().unwrap();
        let queue = Queue::new().unwrap();
        let (ours, theirs) = pipe::<String>().unwrap();
        let handles = (
            total.clone(),
            array.clone(),
            lock.clone(),
            done.clone(),
            queue.clone(),
            theirs,
        );
        let mut p = Process::spawn_with(m, use_handles, handles).unwrap();
        assert_eq!(
            ours.recv_timeout(Duration::from_secs(30)).unwrap(),
            "hello",
            "{m}"
        );
        ours.send(&"four".to_owned()).unwrap();
        assert_eq!(done.wait_timeout(Duration::from_secs(30)), Ok(true), "{m}");
        assert_eq!(p.join(), Ok(4), "{m}");
        assert_eq!(total.get(), 15, "{m}");
        assert_eq!(array.to_vec(), vec![0, 42, 0], "{m}");
        assert_eq!(queue.get_timeout(Duration::from_secs(30)), Ok(7), "{m}");
    }
}
