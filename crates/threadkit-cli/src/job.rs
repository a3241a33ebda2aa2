//! Starting one job and waiting for it: its own process group, its output captured, its timeout
//! enforced with TERM then KILL to the whole group.
//!
//! Spawning uses `std::process::Command` with `process_group(0)` and no `pre_exec`, so std keeps
//! its `posix_spawn` path. A job is waited for with one `poll(2)` over its stdout, its stderr and
//! a pidfd (Linux 5.3+; older kernels fall back to a 20 ms `try_wait` tick), so a slot costs one
//! thread and no extra reader threads. A job is finished when its process has exited and its
//! stdout and stderr are closed (as with `$(...)` in the shell).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::process::{kill_process_group, pidfd_open, Pid, PidfdFlags, Signal};

use crate::template::Launch;

/// The shell commands run under.
pub(crate) const SHELL: &str = "/bin/sh";

/// Which output stream a piece of output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// The job's stdout.
    Out,
    /// The job's stderr.
    Err,
}

/// Receives output lines as they come (`--line-buffer`).
pub(crate) trait LineSink: Sync {
    /// One complete line, including its newline (the last line of a stream may lack it).
    fn line(&self, stream: Stream, line: &[u8]);
}

/// What one run of a command produced.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    /// Wall-clock start.
    pub(crate) start: SystemTime,
    /// Run time.
    pub(crate) duration: Duration,
    /// Exit code, if it exited (127/126 when a directly exec'd program is missing / not
    /// executable, as the shell reports them).
    pub(crate) exit: Option<i32>,
    /// The signal that killed it, if one did.
    pub(crate) signal: Option<i32>,
    /// It ran past `--timeout` and was killed.
    pub(crate) timed_out: bool,
    /// Captured stdout (empty when streamed with `--line-buffer`).
    pub(crate) stdout: Vec<u8>,
    /// Captured stderr (empty when streamed with `--line-buffer`).
    pub(crate) stderr: Vec<u8>,
    /// Bytes of output, also when streamed.
    pub(crate) received: u64,
}

impl Attempt {
    /// The record of a job that was never started (a stop came first).
    pub(crate) fn not_started() -> Attempt {
        Attempt {
            start: SystemTime::now(),
            duration: Duration::ZERO,
            exit: None,
            signal: None,
            timed_out: false,
            stdout: Vec::new(),
            stderr: Vec::new(),
            received: 0,
        }
    }

    /// True if the command exited with code 0.
    pub(crate) fn succeeded(&self) -> bool {
        self.exit == Some(0) && !self.timed_out
    }
}

/// Process groups of running jobs, so halt-now and Ctrl-C can signal all of them.
#[derive(Debug, Default)]
pub(crate) struct Running {
    groups: Mutex<HashMap<u64, Pid>>,
    /// 0: run; 1: TERM sent to everything; 2: KILL sent to everything.
    level: AtomicU8,
    wake: Condvar,
}

impl Running {
    /// Send TERM to every running job now and to any started later, then KILL after `grace`
    /// unless [`Running::kill_all`] comes first. Returns at once (a thread waits out the grace).
    pub(crate) fn terminate_all(&'static self, grace: Duration) {
        if self
            .level
            .compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return;
        }
        self.signal_all(Signal::TERM);
        let _ = std::thread::Builder::new()
            .name("threadkit-grace".into())
            .spawn(move || {
                let deadline = Instant::now() + grace;
                let mut g = self.groups.lock().unwrap_or_else(|e| e.into_inner());
                while self.level.load(Ordering::SeqCst) < 2 {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    g = self
                        .wake
                        .wait_timeout(g, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                drop(g);
                self.kill_all();
            });
    }

    /// Send KILL to every running job now and to any started later.
    pub(crate) fn kill_all(&self) {
        self.level.store(2, Ordering::SeqCst);
        self.signal_all(Signal::KILL);
        self.wake.notify_all();
    }

    fn signal_all(&self, sig: Signal) {
        let g = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        for pid in g.values() {
            let _ = kill_process_group(*pid, sig);
        }
    }

    fn register(&self, seq: u64, pid: Pid) {
        let mut g = self.groups.lock().unwrap_or_else(|e| e.into_inner());
        g.insert(seq, pid);
        // A stop that raced with this spawn still reaches the new job.
        match self.level.load(Ordering::SeqCst) {
            0 => {}
            1 => {
                let _ = kill_process_group(pid, Signal::TERM);
            }
            _ => {
                let _ = kill_process_group(pid, Signal::KILL);
            }
        }
    }

    /// Forget a job before it is reaped, so its pid is never signalled after reuse.
    fn unregister(&self, seq: u64) {
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&seq);
    }

    /// True once a stop (halt now, Ctrl-C) was requested.
    pub(crate) fn stopping(&self) -> bool {
        self.level.load(Ordering::SeqCst) > 0
    }
}

/// How to run and watch one job.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// `--timeout`.
    pub(crate) timeout: Option<Duration>,
    /// `--term-grace`.
    pub(crate) grace: Duration,
}

/// Run one job to completion.
///
/// `line` is the shell command line (used with [`Launch::Shell`]). Output is captured unless
/// `lines` is given, in which case complete lines are handed to it as they arrive.
pub(crate) fn run(
    seq: u64,
    line: &[u8],
    launch: &Launch,
    limits: Limits,
    running: &Running,
    lines: Option<&dyn LineSink>,
) -> Attempt {
    let start = SystemTime::now();
    let t0 = Instant::now();
    let mut cmd = match launch {
        Launch::Shell => {
            let mut c = Command::new(SHELL);
            c.arg("-c").arg(OsStr::from_bytes(line));
            c
        }
        Launch::Direct(argv) => {
            let mut c = Command::new(OsStr::from_bytes(&argv[0]));
            c.args(argv[1..].iter().map(|a| OsStr::from_bytes(a)));
            c
        }
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut attempt = Attempt {
        start,
        duration: Duration::ZERO,
        exit: None,
        signal: None,
        timed_out: false,
        stdout: Vec::new(),
        stderr: Vec::new(),
        received: 0,
    };
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let program = match launch {
                Launch::Direct(argv) => String::from_utf8_lossy(&argv[0]),
                Launch::Shell => SHELL.into(),
            };
            let (code, what) = match e.kind() {
                io::ErrorKind::NotFound => (127, "not found".to_string()),
                io::ErrorKind::PermissionDenied => (126, "permission denied".to_string()),
                _ => (255, format!("cannot start: {e}")),
            };
            let msg = format!("threadkit: {program}: {what}\n");
            attempt.received = msg.len() as u64;
            match lines {
                Some(sink) => sink.line(Stream::Err, msg.as_bytes()),
                None => attempt.stderr = msg.into_bytes(),
            }
            attempt.exit = Some(code);
            attempt.duration = t0.elapsed();
            return attempt;
        }
    };
    let pid = Pid::from_child(&child);
    running.register(seq, pid);
    let result = watch(
        &mut child,
        seq,
        pid,
        t0,
        limits,
        running,
        lines,
        &mut attempt,
    );
    if result.is_err() {
        // Could not watch the child (poll failed): make sure it is gone, then reap it.
        let _ = kill_process_group(pid, Signal::KILL);
        running.unregister(seq);
        if let Ok(st) = child.wait() {
            attempt.exit = st.code();
            attempt.signal = st.signal();
        }
    }
    attempt.duration = t0.elapsed();
    attempt
}

/// Per-stream reading state.
struct Pipe<R> {
    reader: Option<R>,
    buf: Vec<u8>,
    stream: Stream,
}

impl<R: Read + AsFd> Pipe<R> {
    /// Read what is available; returns false at EOF.
    fn pump(&mut self, lines: Option<&dyn LineSink>, received: &mut u64) -> bool {
        let Some(r) = self.reader.as_mut() else {
            return false;
        };
        let mut chunk = [0u8; 16 * 1024];
        match r.read(&mut chunk) {
            Ok(0) | Err(_) => {
                if let Some(sink) = lines {
                    if !self.buf.is_empty() {
                        sink.line(self.stream, &self.buf);
                        self.buf.clear();
                    }
                }
                self.reader = None;
                false
            }
            Ok(n) => {
                *received += n as u64;
                self.buf.extend_from_slice(&chunk[..n]);
                if let Some(sink) = lines {
                    if let Some(last_nl) = self.buf.iter().rposition(|&b| b == b'\n') {
                        for l in self.buf[..=last_nl].split_inclusive(|&b| b == b'\n') {
                            sink.line(self.stream, l);
                        }
                        self.buf.drain(..=last_nl);
                    }
                }
                true
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn watch(
    child: &mut Child,
    seq: u64,
    pid: Pid,
    t0: Instant,
    limits: Limits,
    running: &Running,
    lines: Option<&dyn LineSink>,
    attempt: &mut Attempt,
) -> io::Result<()> {
    let mut out = Pipe {
        reader: child.stdout.take(),
        buf: Vec::new(),
        stream: Stream::Out,
    };
    let mut err = Pipe {
        reader: child.stderr.take(),
        buf: Vec::new(),
        stream: Stream::Err,
    };
    let pidfd: Option<OwnedFd> = pidfd_open(pid, PidfdFlags::empty()).ok();
    let mut deadline = limits.timeout.map(|t| t0 + t);
    let mut kill_at: Option<Instant> = None;
    let mut status = None;
    loop {
        if status.is_none() && pidfd.is_none() {
            if let Some(st) = try_reap(child, seq, running, false)? {
                status = Some(st);
            }
        }
        if status.is_some() && out.reader.is_none() && err.reader.is_none() {
            break;
        }
        let now = Instant::now();
        if let Some(d) = deadline {
            if now >= d {
                attempt.timed_out = true;
                deadline = None;
                let _ = kill_process_group(pid, Signal::TERM);
                kill_at = Some(now + limits.grace);
            }
        }
        if let Some(k) = kill_at {
            if now >= k {
                kill_at = None;
                let _ = kill_process_group(pid, Signal::KILL);
            }
        }
        let mut wait = [deadline, kill_at]
            .into_iter()
            .flatten()
            .min()
            .map(|d| d.saturating_duration_since(now));
        if pidfd.is_none() && status.is_none() {
            wait = Some(wait.map_or(Duration::from_millis(20), |w| {
                w.min(Duration::from_millis(20))
            }));
        }
        let timeout = wait.map(|w| {
            rustix::event::Timespec::try_from(w).unwrap_or(rustix::event::Timespec {
                tv_sec: i64::MAX,
                tv_nsec: 0,
            })
        });
        let (ready_out, ready_err, ready_pid) = {
            let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(3);
            let mut idx = [usize::MAX; 3];
            if let Some(r) = &out.reader {
                idx[0] = fds.len();
                fds.push(PollFd::new(r, PollFlags::IN));
            }
            if let Some(r) = &err.reader {
                idx[1] = fds.len();
                fds.push(PollFd::new(r, PollFlags::IN));
            }
            if let (Some(p), None) = (&pidfd, &status) {
                idx[2] = fds.len();
                fds.push(PollFd::new(p, PollFlags::IN));
            }
            match poll(&mut fds, timeout.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            let ready = |i: usize| i != usize::MAX && !fds[i].revents().is_empty();
            (ready(idx[0]), ready(idx[1]), ready(idx[2]))
        };
        if ready_out {
            out.pump(lines, &mut attempt.received);
        }
        if ready_err {
            err.pump(lines, &mut attempt.received);
        }
        if ready_pid && status.is_none() {
            status = try_reap(child, seq, running, true)?;
        }
    }
    let status = status.expect("loop exits with a status");
    attempt.exit = status.code();
    attempt.signal = status.signal();
    if lines.is_none() {
        attempt.stdout = out.buf;
        attempt.stderr = err.buf;
    }
    Ok(())
}

/// Reap the child if it has exited. With a pidfd that reported readiness the child is a
/// zombie, so unregistering first then waiting never blocks and never races pid reuse.
fn try_reap(
    child: &mut Child,
    seq: u64,
    running: &Running,
    exited: bool,
) -> io::Result<Option<std::process::ExitStatus>> {
    if exited {
        running.unregister(seq);
        return child.wait().map(Some);
    }
    // No pidfd: peek with waitid(WNOWAIT) semantics are not in std; try_wait reaps, so hold the
    // registry lock across it to keep a concurrent group signal from hitting a reused pid.
    let g = running.groups.lock().unwrap_or_else(|e| e.into_inner());
    let st = child.try_wait()?;
    drop(g);
    if st.is_some() {
        running.unregister(seq);
    }
    Ok(st)
}
