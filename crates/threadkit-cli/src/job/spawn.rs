//! Starting a job's process: `clone3(CLONE_VM | CLONE_VFORK | CLONE_CLEAR_SIGHAND |
//! CLONE_PIDFD)` and a child of our own that only makes raw system calls, with
//! `std::process::Command` (glibc's `posix_spawn`) as the fallback.
//!
//! Why: glibc's `posix_spawn` child cannot know which signals have handlers, so it asks the
//! kernel about all 64 and resets the handled ones (about 121 `rt_sigaction` calls a job), and
//! it maps and unmaps a stack for every child (a TLB shoot-down in a process with threads);
//! std adds a `CString` per argument (20,000 allocations for an `-X` job) and an `open` of
//! /dev/null per job. Here the kernel resets the handlers in the clone itself
//! (`CLONE_CLEAR_SIGHAND`, Linux 5.5), the child runs on a stack each worker thread keeps, the
//! argv is one buffer, /dev/null is opened once, the pidfd comes with the clone
//! (`CLONE_PIDFD`), and the program's place along `PATH` is remembered per worker thread, as a
//! shell's `hash` does (tried first next time; the whole `PATH` again if it fails).
//!
//! What the job sees is what `posix_spawn` gave it: its own process group, stdin/stdout/stderr
//! as asked, `--workdir` as its directory, default handlers for every signal (those ignored by
//! threadkit's own parent stay ignored, as with `posix_spawn`; SIGPIPE, which Rust ignores,
//! back to default as std does), an empty signal mask, threadkit's environment. An `execve`
//! that fails comes back as the same error `posix_spawnp` gives (`PATH` searched the way
//! glibc's `execvp` does: EACCES remembered and reported if nothing else ran), through a word
//! in the memory the child shares with its suspended parent.
//!
//! Each job slot keeps to one CPU while it starts its jobs (when there are no more slots than
//! CPUs threadkit may use): the worker thread of slot `k` is pinned to the `k`-th of those CPUs,
//! so its child is created there and, as the job of every other slot runs on a CPU of its own,
//! starts there; the child gives itself threadkit's whole CPU set back before `execve`, so the
//! job runs where the kernel likes, as it would without this. Left to the scheduler, a new job
//! often landed on the CPU where the other slot's job was running, and waited there while the
//! CPU its slot had just freed stayed idle (see docs/architecture.md, `cli13`).
//!
//! The own path exists on x86_64 Linux; elsewhere, when the kernel refuses `clone3` or its
//! flags (ENOSYS, EINVAL, EPERM under a seccomp filter), or when `THREADKIT_SPAWN=std` is set
//! (for tests and measurements), jobs start through `std::process::Command` as before.

use std::cell::{Cell, RefCell};
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::raw::c_char;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

use rustix::process::{pidfd_open, Pid, PidfdFlags};

use crate::template::Argv;

/// A NULL-terminated array of pointers to `argv`'s words (valid while `argv` is).
///
/// # Errors
///
/// A word holds a NUL byte (which `execve` cannot pass): the error std's `Command` gives.
fn pointers(argv: &Argv) -> io::Result<Vec<*const c_char>> {
    if argv.has_inner_nul() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "nul byte found in provided data",
        ));
    }
    let bytes = argv.terminated();
    let mut ptrs: Vec<*const c_char> = argv.starts().map(|s| bytes[s..].as_ptr().cast()).collect();
    ptrs.push(std::ptr::null());
    Ok(ptrs)
}

/// The job's standard streams: `None` for stdout or stderr means threadkit's own.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fds<'a> {
    pub(super) stdin: BorrowedFd<'a>,
    pub(super) stdout: Option<BorrowedFd<'a>>,
    pub(super) stderr: Option<BorrowedFd<'a>>,
}

/// A started job: its pid (its process group's id too) and a pidfd when the kernel has them.
#[derive(Debug)]
pub(super) struct Started {
    pub(super) pid: Pid,
    pub(super) pidfd: Option<OwnedFd>,
}

/// /dev/null for reading, opened once (close-on-exec): the stdin of jobs without input.
///
/// # Errors
///
/// /dev/null cannot be opened.
pub(super) fn dev_null() -> io::Result<BorrowedFd<'static>> {
    static NULL: OnceLock<OwnedFd> = OnceLock::new();
    if let Some(fd) = NULL.get() {
        return Ok(fd.as_fd());
    }
    let fd = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )?;
    // Another thread may have won the race: its descriptor is kept, ours closed.
    Ok(NULL.get_or_init(|| fd).as_fd())
}

/// Start `argv` in a process group of its own, in `workdir` if given, with `fds`.
///
/// # Errors
///
/// What starting it failed with: the program's lookup or `execve` (ENOENT, EACCES,
/// ENOEXEC...), `chdir` into `workdir`, or a resource of ours (EAGAIN, EMFILE, ENOMEM).
pub(super) fn start(
    argv: &Argv,
    workdir: Option<&'static Path>,
    fds: Fds<'_>,
) -> io::Result<Started> {
    // (A NUL inside a word: both paths refuse it with std's error.)
    if own_path_enabled() {
        match own::start(argv, workdir, fds) {
            Ok(Some(started)) => return Ok(started),
            Ok(None) => OWN.store(OWN_OFF, Ordering::Relaxed),
            Err(e) => return Err(e),
        }
    }
    start_std(argv, workdir, fds)
}

const OWN_UNKNOWN: u8 = 0;
const OWN_ON: u8 = 1;
const OWN_OFF: u8 = 2;
/// Whether jobs start through [`own`]: decided at the first start (the environment, the
/// platform), and turned off for good when the kernel refuses `clone3`.
static OWN: AtomicU8 = AtomicU8::new(OWN_UNKNOWN);

fn own_path_enabled() -> bool {
    match OWN.load(Ordering::Relaxed) {
        OWN_ON => true,
        OWN_OFF => false,
        _ => {
            let on = cfg!(all(target_os = "linux", target_arch = "x86_64"))
                && std::env::var_os("THREADKIT_SPAWN").is_none_or(|v| v != "std");
            OWN.store(if on { OWN_ON } else { OWN_OFF }, Ordering::Relaxed);
            on
        }
    }
}

/// The fallback: std's `Command` (glibc's `posix_spawn`), as jobs started before.
fn start_std(argv: &Argv, workdir: Option<&'static Path>, fds: Fds<'_>) -> io::Result<Started> {
    let mut words = argv.words().map(OsStr::from_bytes);
    let mut cmd = Command::new(words.next().unwrap_or_default());
    cmd.args(words).process_group(0);
    if let Some(dir) = workdir {
        cmd.current_dir(dir);
    }
    cmd.stdin(Stdio::from(fds.stdin.try_clone_to_owned()?));
    for (fd, set) in [
        (
            fds.stdout,
            Command::stdout::<Stdio> as fn(&mut Command, Stdio) -> &mut Command,
        ),
        (fds.stderr, Command::stderr::<Stdio>),
    ] {
        if let Some(fd) = fd {
            set(&mut cmd, Stdio::from(fd.try_clone_to_owned()?));
        }
    }
    let child = cmd.spawn()?;
    let pid = Pid::from_child(&child);
    // The child's handles are the copies given above (none piped): dropping it closes nothing
    // of the job's and does not wait; the job is reaped by its pid.
    drop(child);
    Ok(Started {
        pid,
        pidfd: pidfd_open(pid, PidfdFlags::empty()).ok(),
    })
}

/// The environment jobs get: threadkit's, as it is when the first job starts (nothing changes
/// it afterwards: `--tmpdir` sets TMPDIR before any thread starts).
struct Env {
    _strings: Vec<CString>,
    pointers: Vec<*const c_char>,
    /// `PATH`'s directories (glibc's default when unset).
    path: Vec<Vec<u8>>,
}

// SAFETY: `pointers` point into `_strings`, which is never changed after the `Env` is built;
// both are only read, from any thread.
unsafe impl Sync for Env {}
// SAFETY: as for Sync: the pointers are owned data, read-only.
unsafe impl Send for Env {}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let strings: Vec<CString> = std::env::vars_os()
            .filter_map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).ok()
            })
            .collect();
        let mut pointers: Vec<*const c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        pointers.push(std::ptr::null());
        let path = std::env::var_os("PATH").map_or_else(
            || vec![b"/bin".to_vec(), b"/usr/bin".to_vec()],
            |p| {
                p.as_bytes()
                    .split(|&b| b == b':')
                    .map(<[u8]>::to_vec)
                    .collect()
            },
        );
        Env {
            _strings: strings,
            pointers,
            path,
        }
    })
}

/// Where a program may be, in the order `execvp` tries them, and which one ran last time.
#[derive(Debug)]
struct Lookup {
    program: Vec<u8>,
    /// Owns the strings `pointers` point into.
    #[cfg_attr(not(test), allow(dead_code))]
    candidates: Vec<CString>,
    pointers: Vec<*const c_char>,
    /// The candidate that ran the last time: tried first.
    hint: usize,
}

impl Lookup {
    /// The paths glibc's `execvp` tries for `program`: itself if it has a slash, else each
    /// `PATH` directory joined with it (an empty directory is the current one); none for an
    /// empty name (ENOENT).
    fn new(program: &[u8]) -> Lookup {
        let candidates: Vec<CString> = if program.is_empty() {
            Vec::new()
        } else if program.contains(&b'/') {
            CString::new(program).into_iter().collect()
        } else {
            env()
                .path
                .iter()
                .filter_map(|dir| {
                    let mut p = dir.clone();
                    if !p.is_empty() {
                        p.push(b'/');
                    }
                    p.extend_from_slice(program);
                    CString::new(p).ok()
                })
                .collect()
        };
        let pointers = candidates.iter().map(|c| c.as_ptr()).collect();
        Lookup {
            program: program.to_vec(),
            candidates,
            pointers,
            hint: 0,
        }
    }
}

thread_local! {
    /// This worker thread's lookup of the last program it started.
    static LOOKUP: RefCell<Option<Lookup>> = const { RefCell::new(None) };
    /// This worker thread's stack for its children (each runs only while the thread waits
    /// for it in `clone3`).
    static CHILD_STACK: Cell<Option<Box<[u128]>>> = const { Cell::new(None) };
}

/// Bytes of the stack a child runs on until `execve`: the child calls one function that makes
/// system calls, a few hundred bytes of frames.
const CHILD_STACK_BYTES: usize = 64 * 1024;

/// How many jobs run at once: set once by the run before the first job starts (0: unknown, no
/// pinning).
#[cfg_attr(
    not(all(target_os = "linux", target_arch = "x86_64")),
    allow(dead_code)
)]
static SLOTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Says how many job slots the run has: with at most as many slots as CPUs, each slot's worker
/// thread keeps to a CPU of its own while it starts jobs (see the module docs).
pub(crate) fn plan_slots(slots: usize) {
    SLOTS.store(slots, Ordering::Relaxed);
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod affinity {
    //! The CPU pinning of job slots (see the module docs).

    use std::cell::Cell;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;

    /// threadkit's CPU set, as the first job found it, and the CPUs in it.
    struct Set {
        mask: libc::cpu_set_t,
        cpus: Vec<usize>,
    }

    fn process_set() -> Option<&'static Set> {
        static SET: OnceLock<Option<Set>> = OnceLock::new();
        SET.get_or_init(|| {
            // SAFETY: cpu_set_t is plain bits (all zero is the empty set), and
            // sched_getaffinity writes at most its size into it.
            let mut mask: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            // SAFETY: as above; pid 0 is this thread, whose set every thread of ours was
            // started with (none changes its own before this, the first pinning).
            let r = unsafe {
                libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut mask)
            };
            if r != 0 {
                return None;
            }
            let cpus = (0..libc::CPU_SETSIZE as usize)
                // SAFETY: `cpu` is below CPU_SETSIZE, the set's size in bits.
                .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &mask) })
                .collect();
            Some(Set { mask, cpus })
        })
        .as_ref()
    }

    /// Slots pinned so far: the next worker thread takes the CPU at this index.
    static NEXT: AtomicUsize = AtomicUsize::new(0);

    const UNKNOWN: u8 = 0;
    const PINNED: u8 = 1;
    const FREE: u8 = 2;

    thread_local! {
        /// Whether this worker thread keeps to one CPU.
        static STATE: Cell<u8> = const { Cell::new(UNKNOWN) };
    }

    /// Called by a worker thread before it starts a job: pins it to a CPU of its own on its
    /// first job if the run's slots fit the CPUs. The set its children must give themselves
    /// back, when it is pinned.
    pub(super) fn for_child() -> Option<&'static libc::cpu_set_t> {
        let state = STATE.get();
        if state == FREE {
            return None;
        }
        let set = process_set()?;
        if state == PINNED {
            return Some(&set.mask);
        }
        let slots = super::SLOTS.load(Ordering::Relaxed);
        let pinned = (slots >= 1 && set.cpus.len() >= 2 && slots <= set.cpus.len())
            .then(|| NEXT.fetch_add(1, Ordering::Relaxed))
            .and_then(|k| set.cpus.get(k))
            .is_some_and(|&cpu| {
                // SAFETY: as in `process_set`: a set of one CPU, below CPU_SETSIZE.
                let mut one: libc::cpu_set_t = unsafe { std::mem::zeroed() };
                // SAFETY: `cpu` came from the set, so it is below CPU_SETSIZE.
                unsafe { libc::CPU_SET(cpu, &mut one) };
                // SAFETY: pid 0 is this thread; `one` is a valid set of its size.
                unsafe {
                    libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &one) == 0
                }
            });
        STATE.set(if pinned { PINNED } else { FREE });
        pinned.then_some(&set.mask)
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod own {
    //! The own spawn path: `clone3` and the child, x86_64 Linux.

    use std::ffi::CString;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::raw::{c_char, c_int, c_long, c_void};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

    use rustix::process::Pid;

    use super::{env, Argv, Fds, Lookup, Started, CHILD_STACK, CHILD_STACK_BYTES, LOOKUP};

    const CLONE_VM: u64 = 0x100;
    const CLONE_VFORK: u64 = 0x4000;
    const CLONE_PIDFD: u64 = 0x1000;
    const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;

    /// The kernel's `struct clone_args`, its first version (64 bytes, Linux 5.3).
    #[repr(C)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
    }

    /// The kernel's `struct sigaction` on x86_64.
    #[repr(C)]
    struct KernelSigaction {
        handler: usize,
        flags: u64,
        restorer: usize,
        mask: u64,
    }

    /// What the child does, prepared by the parent (the child only reads it, except for the
    /// two words it reports through).
    #[repr(C)]
    struct ChildPlan {
        candidates: *const *const c_char,
        count: usize,
        first: usize,
        argv: *const *const c_char,
        envp: *const *const c_char,
        /// NULL: stay in threadkit's directory.
        workdir: *const c_char,
        /// Source descriptors for 0, 1, 2; -1: keep threadkit's.
        fds: [c_int; 3],
        /// NULL: keep the CPU set; else the set to give the job (threadkit's whole set, when the
        /// parent thread keeps to one CPU).
        affinity: *const libc::cpu_set_t,
        /// 0 while all goes well; the errno that stopped the child.
        err: AtomicI32,
        /// The candidate being tried (the one that ran once the clone returns without error).
        tried: AtomicUsize,
    }

    /// A system call with up to four arguments; the result, or `-errno`.
    ///
    /// # Safety
    ///
    /// As for the system call `n` with these arguments.
    #[inline(always)]
    unsafe fn sys(n: c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
        let ret: isize;
        // SAFETY: the `syscall` instruction with the kernel's x86_64 convention; it clobbers
        // rcx and r11 only. What the call does is the caller's contract.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") n as isize => ret,
                in("rdi") a,
                in("rsi") b,
                in("rdx") c,
                in("r10") d,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        ret
    }

    /// Start the job; `Ok(None)` when the kernel refuses `clone3` or its flags (the caller
    /// falls back to std for good).
    pub(super) fn start(
        argv: &Argv,
        workdir: Option<&'static Path>,
        fds: Fds<'_>,
    ) -> io::Result<Option<Started>> {
        let argv_ptrs = super::pointers(argv)?;
        let workdir = workdir
            .map(|d| CString::new(d.as_os_str().as_bytes()))
            .transpose()?;
        let program = argv.program();
        LOOKUP.with_borrow_mut(|lookup| {
            if lookup.as_ref().is_none_or(|l| l.program != program) {
                *lookup = Some(Lookup::new(program));
            }
            let Some(l) = lookup.as_mut() else {
                unreachable!("set above")
            };
            let plan = ChildPlan {
                candidates: l.pointers.as_ptr(),
                count: l.pointers.len(),
                first: l.hint,
                argv: argv_ptrs.as_ptr(),
                envp: env().pointers.as_ptr(),
                workdir: workdir.as_ref().map_or(std::ptr::null(), |d| d.as_ptr()),
                fds: [
                    fds.stdin.as_raw_fd(),
                    fds.stdout.map_or(-1, |f| f.as_raw_fd()),
                    fds.stderr.map_or(-1, |f| f.as_raw_fd()),
                ],
                affinity: super::affinity::for_child().map_or(std::ptr::null(), std::ptr::from_ref),
                err: AtomicI32::new(0),
                tried: AtomicUsize::new(0),
            };
            let started = clone_child(&plan)?;
            if started.is_some() {
                l.hint = plan.tried.load(Ordering::SeqCst);
            }
            Ok(started)
        })
    }

    /// Clone the child that carries out `plan`, and wait (suspended by `CLONE_VFORK`) until
    /// it has called `execve` successfully or exited.
    fn clone_child(plan: &ChildPlan) -> io::Result<Option<Started>> {
        let mut stack = CHILD_STACK
            .take()
            .unwrap_or_else(|| vec![0u128; CHILD_STACK_BYTES / 16].into_boxed_slice());
        let mut pidfd: c_int = -1;
        let args = CloneArgs {
            flags: CLONE_VM | CLONE_VFORK | CLONE_CLEAR_SIGHAND | CLONE_PIDFD,
            pidfd: std::ptr::addr_of_mut!(pidfd) as u64,
            child_tid: 0,
            parent_tid: 0,
            exit_signal: libc::SIGCHLD as u64,
            stack: stack.as_mut_ptr() as u64,
            stack_size: (stack.len() * 16) as u64,
            tls: 0,
        };
        let all: u64 = !0;
        let mut old: u64 = 0;
        // SAFETY: rt_sigprocmask(SIG_SETMASK, all, &old) on this thread: both pointers are
        // valid u64 sigsets (the kernel's size, 8). Every signal is blocked while the child
        // shares this thread's memory, so that no handler of ours runs in it (the kernel
        // clears the handlers in the child anyway) and none runs here meanwhile.
        unsafe {
            sys(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK as usize,
                std::ptr::addr_of!(all) as usize,
                std::ptr::addr_of_mut!(old) as usize,
                8,
            );
        }
        let ret: isize;
        // SAFETY: clone3 with CLONE_VM | CLONE_VFORK: the child shares our memory and runs on
        // `stack` (this thread's, unused by anything else: this thread is suspended until the
        // child calls execve or exits, which CLONE_VFORK guarantees, and all its signals are
        // blocked). In the child (rax == 0) the stack pointer is the top of `stack` (16-byte
        // aligned, as a call needs); it calls `child_main(plan)`, which never returns (it
        // execs or exits), so the child never comes back into this function's frame. r12 and
        // r13 are preserved by the system call, so the child finds its arguments there.
        // `plan`, `args` and `pidfd` outlive the call (the parent waits for the child).
        unsafe {
            std::arch::asm!(
                "syscall",
                "test rax, rax",
                "jnz 2f",
                "xor ebp, ebp",
                "mov rdi, r12",
                "call r13",
                "ud2",
                "2:",
                inlateout("rax") libc::SYS_clone3 as isize => ret,
                in("rdi") std::ptr::addr_of!(args),
                in("rsi") std::mem::size_of::<CloneArgs>(),
                in("r12") std::ptr::from_ref(plan),
                in("r13") child_main as extern "C" fn(*const c_void) -> !,
                lateout("rcx") _,
                lateout("r11") _,
            );
        }
        // SAFETY: as above, the mask saved before the clone back on this thread.
        unsafe {
            sys(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK as usize,
                std::ptr::addr_of!(old) as usize,
                0,
                8,
            );
        }
        CHILD_STACK.set(Some(stack));
        if ret < 0 {
            let errno = -ret as i32;
            return match errno {
                libc::ENOSYS | libc::EINVAL | libc::EPERM => Ok(None),
                _ => Err(io::Error::from_raw_os_error(errno)),
            };
        }
        let pid = Pid::from_raw(ret as i32).ok_or_else(|| io::Error::other("clone3: pid 0"))?;
        // SAFETY: with CLONE_PIDFD the kernel stored a new descriptor of ours in `pidfd` (we
        // own it and close it once); -1 if it did not.
        let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
        let err = plan.err.load(Ordering::SeqCst);
        if err != 0 {
            // The child could not exec and has exited (or is exiting): reap it.
            let _ = crate::job::wait_pid(pid, true);
            return Err(io::Error::from_raw_os_error(err));
        }
        Ok(Some(Started { pid, pidfd }))
    }

    /// The child, from `clone3` to `execve`. It shares the parent's memory while the parent
    /// is suspended, so it only reads the plan and makes raw system calls: no allocation, no
    /// lock, no panic, no unwinding, no `errno` (whose thread-local slot is the parent
    /// thread's). It never returns: it execs or exits with 127.
    extern "C" fn child_main(plan: *const c_void) -> ! {
        // SAFETY: `plan` is the parent's `ChildPlan`, alive while the parent waits for us.
        let plan = unsafe { &*plan.cast::<ChildPlan>() };
        // SAFETY: the plan's pointers are valid C strings and arrays (see `child_setup`).
        let err = unsafe { child_setup(plan) };
        plan.err
            .store(if err == 0 { libc::EIO } else { err }, Ordering::SeqCst);
        loop {
            // SAFETY: exit(127) ends this process only (it has no other thread).
            unsafe { sys(libc::SYS_exit, 127, 0, 0, 0) };
        }
    }

    /// Set up the job's process and exec it; returns the errno that stopped it.
    ///
    /// # Safety
    ///
    /// Only in the child of [`clone_child`]: `plan`'s pointers are valid (C strings, arrays of
    /// `count` candidates, NULL-terminated argv and envp).
    unsafe fn child_setup(plan: &ChildPlan) -> c_int {
        let fail = |r: isize| (r < 0).then_some(-r as c_int);
        // SAFETY: raw system calls on our own process with valid pointers from the plan
        // (the caller's contract) or this frame; none allocates, locks or touches errno.
        unsafe {
            if let Some(e) = fail(sys(libc::SYS_setpgid, 0, 0, 0, 0)) {
                return e;
            }
            let mut target = 0;
            while target < 3 {
                let src = plan.fds[target];
                let r = if src < 0 {
                    0
                } else if src as usize == target {
                    // Already in place: keep it across the exec.
                    sys(libc::SYS_fcntl, target, libc::F_SETFD as usize, 0, 0)
                } else {
                    sys(libc::SYS_dup2, src as usize, target, 0, 0)
                };
                if let Some(e) = fail(r) {
                    return e;
                }
                target += 1;
            }
            if !plan.workdir.is_null() {
                if let Some(e) = fail(sys(libc::SYS_chdir, plan.workdir as usize, 0, 0, 0)) {
                    return e;
                }
            }
            if !plan.affinity.is_null() {
                // threadkit's whole CPU set back: only the start kept to the slot's CPU. A
                // failure (the cgroup's CPUs changed meanwhile) leaves the job on that CPU.
                sys(
                    libc::SYS_sched_setaffinity,
                    0,
                    std::mem::size_of::<libc::cpu_set_t>(),
                    plan.affinity as usize,
                    0,
                );
            }
            // Rust ignores SIGPIPE (an ignored signal stays ignored across CLONE_CLEAR_SIGHAND
            // and exec): the job gets the default, as std's spawn gives it.
            let dfl = KernelSigaction {
                handler: libc::SIG_DFL,
                flags: 0,
                restorer: 0,
                mask: 0,
            };
            sys(
                libc::SYS_rt_sigaction,
                libc::SIGPIPE as usize,
                std::ptr::addr_of!(dfl) as usize,
                0,
                8,
            );
            let empty: u64 = 0;
            sys(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK as usize,
                std::ptr::addr_of!(empty) as usize,
                0,
                8,
            );
            // `execvp`'s search: the candidate that ran last time first, then all in order.
            let mut eacces = false;
            let mut last = libc::ENOENT;
            let mut k = 0;
            while k <= plan.count {
                let i = if k == 0 { plan.first } else { k - 1 };
                k += 1;
                if i >= plan.count || (k > 1 && i == plan.first) {
                    continue;
                }
                plan.tried.store(i, Ordering::SeqCst);
                let path = *plan.candidates.add(i);
                let r = sys(
                    libc::SYS_execve,
                    path as usize,
                    plan.argv as usize,
                    plan.envp as usize,
                    0,
                );
                match -r as c_int {
                    libc::EACCES => eacces = true,
                    e @ (libc::ENOENT
                    | libc::ENOTDIR
                    | libc::ESTALE
                    | libc::ENODEV
                    | libc::ETIMEDOUT) => last = e,
                    e => return e,
                }
            }
            if eacces {
                libc::EACCES
            } else {
                last
            }
        }
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod own {
    //! No own spawn path on this platform: std's is used.
    use super::{Argv, Fds, Started};
    use std::io;
    use std::path::Path;

    pub(super) fn start(
        _: &Argv,
        _: Option<&'static Path>,
        _: Fds<'_>,
    ) -> io::Result<Option<Started>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_pointers_point_at_each_word_and_a_nul_inside_one_is_refused() {
        let words: [&[u8]; 3] = [b"echo", b"", b"a b"];
        let argv = Argv::from_words(words);
        let ptrs = pointers(&argv).unwrap();
        assert_eq!(ptrs.len(), 4);
        assert!(ptrs[3].is_null());
        for (p, w) in ptrs.iter().zip(words) {
            // SAFETY: each pointer points at a NUL-terminated word of `argv`, alive here.
            assert_eq!(unsafe { std::ffi::CStr::from_ptr(*p) }.to_bytes(), w);
        }
        let bad: [&[u8]; 2] = [b"echo", b"a\0b"];
        let err = pointers(&Argv::from_words(bad)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn lookup_follows_execvp() {
        assert!(Lookup::new(b"").candidates.is_empty());
        let abs = Lookup::new(b"/bin/sh");
        assert_eq!(abs.candidates, [CString::new("/bin/sh").unwrap()]);
        let rel = Lookup::new(b"./x");
        assert_eq!(rel.candidates.len(), 1);
        let searched = Lookup::new(b"true");
        assert_eq!(searched.candidates.len(), env().path.len());
        assert!(searched
            .candidates
            .iter()
            .all(|c| c.as_bytes().ends_with(b"true")));
    }
}
