//! [`Running`]: the process groups of jobs, those of running jobs and those whose leader was
//! reaped while other processes were still in them ("lingering"), so that `--halt now`,
//! Ctrl-C and a pending timeout KILL reach every process a job started.

use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::process::{kill_process_group, pidfd_open, Pid, PidfdFlags, Signal};

/// Process groups of jobs, so `--halt now` and Ctrl-C can signal all of them: those of
/// running jobs, and those of finished jobs whose leader exited but left background processes
/// in its group ("lingering").
#[derive(Debug, Default)]
pub(crate) struct Running {
    groups: Mutex<Groups>,
    /// 0: run; 1: TERM sent to everything; 2: KILL sent to everything.
    level: AtomicU8,
    pub(super) wake: Condvar,
}

#[derive(Debug, Default)]
pub(super) struct Groups {
    /// Running jobs by sequence number: the group id is the leader's pid, which cannot be
    /// reused while the leader is unreaped.
    pub(super) running: HashMap<u64, Pid>,
    /// Groups whose leader was reaped while other processes were still in them.
    lingering: Vec<Lingering>,
}

/// A process group whose leader was reaped. Its id stays reserved (no new process or group
/// gets it) while a member lives; `member` is a pidfd of one live member, so the group is
/// only signalled while it provably is still ours, never after its id may have been reused.
#[derive(Debug)]
struct Lingering {
    pgid: Pid,
    member: Option<OwnedFd>,
}

impl Lingering {
    /// Find a live member of `pgid` (scanning /proc: only done for groups that outlive their
    /// leader, which are rare).
    fn find(pgid: Pid) -> Option<Lingering> {
        let member = find_member(pgid)?;
        Some(Lingering {
            pgid,
            member: Some(member),
        })
    }

    /// True while the group still has a member (re-found if the known one exited).
    fn still_ours(&mut self) -> bool {
        if let Some(fd) = &self.member {
            if !pidfd_exited(fd) {
                return true;
            }
        }
        match find_member(self.pgid) {
            Some(fd) => {
                self.member = Some(fd);
                true
            }
            None => false,
        }
    }
}

/// True once the process behind `pidfd` has exited.
fn pidfd_exited(pidfd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    !matches!(poll(&mut fds, Some(&zero)), Ok(0))
}

/// The group id of process `pid` and whether it is a zombie, from /proc/PID/stat.
fn proc_group(pid: &str) -> Option<(i32, bool)> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid pgrp ...": comm may hold anything, so parse after the last ')'.
    let rest = &stat[stat.iter().rposition(|&b| b == b')')? + 1..];
    let mut fields = std::str::from_utf8(rest).ok()?.split_ascii_whitespace();
    let state = fields.next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    Some((pgrp, state == "Z"))
}

/// A pidfd of a live (not zombie) process in group `pgid`, if there is one.
fn find_member(pgid: Pid) -> Option<OwnedFd> {
    let want = pgid.as_raw_nonzero().get();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Ok(raw) = name.parse::<i32>() else {
            continue;
        };
        if proc_group(name) != Some((want, false)) {
            continue;
        }
        let Some(pid) = Pid::from_raw(raw) else {
            continue;
        };
        let Ok(fd) = pidfd_open(pid, PidfdFlags::empty()) else {
            continue;
        };
        // The pidfd names the process we looked at only if it is still there, in the group.
        if proc_group(name) == Some((want, false)) && !pidfd_exited(&fd) {
            return Some(fd);
        }
    }
    None
}

impl Running {
    /// Send TERM to every job's group now (running ones and lingering ones) and to any started
    /// later, then KILL after `grace` unless [`Running::kill_all`] comes first. Returns at
    /// once (a thread waits out the grace).
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
                let mut g = self.lock();
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

    /// Send KILL to every job's group now and to any started later.
    pub(crate) fn kill_all(&self) {
        self.level.store(2, Ordering::SeqCst);
        self.signal_all(Signal::KILL);
        self.wake.notify_all();
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, Groups> {
        self.groups.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn signal_all(&self, sig: Signal) {
        let mut g = self.lock();
        for pid in g.running.values() {
            let _ = kill_process_group(*pid, sig);
        }
        g.lingering.retain_mut(|l| {
            let ours = l.still_ours();
            if ours {
                let _ = kill_process_group(l.pgid, sig);
            }
            ours
        });
    }

    /// The signal a job started now must get at once (a stop raced with its start).
    fn pending_signal(&self) -> Option<Signal> {
        match self.level.load(Ordering::SeqCst) {
            0 => None,
            1 => Some(Signal::TERM),
            _ => Some(Signal::KILL),
        }
    }

    pub(super) fn register(&self, seq: u64, pid: Pid) {
        let mut g = self.lock();
        g.running.insert(seq, pid);
        // Forget lingering groups that have emptied since.
        g.lingering.retain_mut(Lingering::still_ours);
        // A stop that raced with this spawn still reaches the new job.
        if let Some(sig) = self.pending_signal() {
            let _ = kill_process_group(pid, sig);
        }
    }

    /// Reap the job's leader (which has exited or is about to), keeping its group as
    /// lingering if other processes remain in it. Done under the lock, so a concurrent stop
    /// signals the group either as running or as lingering, and never a reused id.
    pub(super) fn reap(
        &self,
        seq: u64,
        pid: Pid,
        block: bool,
    ) -> io::Result<Option<std::process::ExitStatus>> {
        let mut g = self.lock();
        let st = super::wait_pid(pid, block)?;
        if st.is_some() {
            g.running.remove(&seq);
            // A job waiting for resources to start may try again.
            self.wake.notify_all();
            // Right after the reap the id cannot have been reused yet: success means members.
            if rustix::process::test_kill_process_group(pid).is_ok() {
                if let Some(l) = Lingering::find(pid) {
                    if let Some(sig) = self.pending_signal() {
                        let _ = kill_process_group(pid, sig);
                    }
                    g.lingering.push(l);
                }
            }
        }
        Ok(st)
    }

    /// Forget a job whose leader could not be watched (it was KILLed and is reaped next).
    pub(super) fn unregister(&self, seq: u64) {
        self.lock().running.remove(&seq);
    }

    /// After a timeout's TERM killed the leader: KILL what is left of its group at `at`
    /// (the end of the grace period), unless the group empties first.
    pub(super) fn kill_lingering_at(&self, pgid: Pid, at: Instant) {
        loop {
            let member = {
                let mut g = self.lock();
                let Some(i) = g.lingering.iter().position(|l| l.pgid == pgid) else {
                    return;
                };
                if !g.lingering[i].still_ours() {
                    g.lingering.swap_remove(i);
                    return;
                }
                if Instant::now() >= at {
                    let _ = kill_process_group(pgid, Signal::KILL);
                    return;
                }
                g.lingering[i].member.as_ref().map(|fd| fd.try_clone())
            };
            // Wait for the known member to exit, or for the deadline.
            let left = at.saturating_duration_since(Instant::now());
            match member {
                Some(Ok(fd)) => {
                    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
                    let t = rustix::event::Timespec::try_from(left).unwrap_or(
                        rustix::event::Timespec {
                            tv_sec: 1,
                            tv_nsec: 0,
                        },
                    );
                    let _ = poll(&mut fds, Some(&t));
                }
                _ => std::thread::sleep(left.min(Duration::from_millis(10))),
            }
        }
    }

    /// True once a stop (halt now, Ctrl-C) was requested.
    pub(crate) fn stopping(&self) -> bool {
        self.level.load(Ordering::SeqCst) > 0
    }

    /// After a stop: wait until the lingering groups are gone or were sent KILL, so that no
    /// process of a job outlives the run it was stopped with.
    pub(crate) fn wait_lingering(&self) {
        let mut g = self.lock();
        loop {
            g.lingering.retain_mut(Lingering::still_ours);
            if g.lingering.is_empty() || self.level.load(Ordering::SeqCst) >= 2 {
                return;
            }
            g = self
                .wake
                .wait_timeout(g, Duration::from_millis(10))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}
