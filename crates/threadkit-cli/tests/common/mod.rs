//! Helpers shared by the CLI integration tests: run the binary, temp dirs, waiting for files.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The `threadkit` binary under test.
pub(crate) fn threadkit() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_threadkit"));
    c.stdin(Stdio::null());
    c
}

/// Run `cmd` with `stdin` fed to it; its output.
pub(crate) fn output_with_stdin(cmd: &mut Command, stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// Run `threadkit ARGS` with `stdin` fed to it.
pub(crate) fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    output_with_stdin(threadkit().args(args), stdin)
}

/// Arguments that need not be UTF-8.
pub(crate) fn os_args<'a>(args: &'a [&'a [u8]]) -> impl Iterator<Item = &'a OsStr> + 'a {
    args.iter().map(|a| OsStr::from_bytes(a))
}

/// Run `threadkit ARGS` (any bytes) in `dir`, with `stdin` fed to it.
pub(crate) fn run_bytes_in(dir: &Path, args: &[&[u8]], stdin: &[u8]) -> Output {
    output_with_stdin(threadkit().current_dir(dir).args(os_args(args)), stdin)
}

/// Run `threadkit ARGS` (stdin empty).
pub(crate) fn run(args: &[&str]) -> Output {
    threadkit().args(args).output().unwrap()
}

/// How long a run that must not wait for its slow jobs (a 30 s `sleep` killed by a timeout,
/// a halt, Ctrl-C) may take: generous, since the machine may be loaded; it tells "did not
/// wait" from "waited", not fast from slow.
pub(crate) const PROMPTLY: Duration = Duration::from_secs(10);

/// Run `threadkit ARGS` (stdin empty); its output and how long it took.
pub(crate) fn run_timed(args: &[&str]) -> (Output, Duration) {
    let t0 = Instant::now();
    let out = run(args);
    (out, t0.elapsed())
}

/// Run `threadkit ARGS` (stdin empty), asserting that it ended within [`PROMPTLY`].
pub(crate) fn run_promptly(args: &[&str]) -> Output {
    let (out, took) = run_timed(args);
    assert!(took < PROMPTLY, "{args:?} took {took:?}: {}", stderr(&out));
    out
}

/// Stdout as text.
pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Stderr as text.
pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh empty directory, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "threadkit-cli-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    pub(crate) fn s(&self, name: &str) -> String {
        self.path(name).to_str().unwrap().to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Wait (polling the file system, bounded) until `cond` holds; panics after 20 s.
pub(crate) fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Lines of a file (empty when missing).
pub(crate) fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The numbers a file holds, one a line, sorted (a log that jobs append their input to).
pub(crate) fn sorted_numbers(p: &Path) -> Vec<u32> {
    let mut v: Vec<u32> = lines(p).iter().map(|l| l.parse().unwrap()).collect();
    v.sort();
    v
}

/// Sorted lines of a string.
pub(crate) fn sorted(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.lines().map(str::to_owned).collect();
    v.sort();
    v
}

/// The stress multiplier: `THREADKIT_STRESS` (default 1, at least 1).
pub(crate) fn stress() -> u64 {
    std::env::var("THREADKIT_STRESS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1u64)
        .max(1)
}

/// Wait for `child` to exit (bounded: killed and a panic after `limit`).
pub(crate) fn wait_bounded(child: &mut std::process::Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("threadkit still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Wait for `child` to exit and return its status and peak RSS in MiB (wait4(2)'s rusage of
/// this one child).
pub(crate) fn wait_peak_mib(child: std::process::Child) -> (ExitStatus, f64) {
    use std::os::unix::process::ExitStatusExt;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our unreaped child; `status` and `usage` are valid for writes.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid);
    std::mem::forget(child); // reaped above
    (
        ExitStatus::from_raw(status),
        usage.ru_maxrss as f64 / 1024.0,
    )
}

/// True while process `pid` exists and is not a zombie.
pub(crate) fn alive(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("State:") && !l.contains('Z'))
}

/// The pid written to `path` by a job (waits for it, bounded).
pub(crate) fn pid_in(path: &Path) -> String {
    let mut pid = String::new();
    wait_until(&format!("a pid in {}", path.display()), || {
        pid = std::fs::read_to_string(path).unwrap_or_default();
        pid.ends_with('\n')
    });
    pid.trim().to_owned()
}

/// Send `sig` (e.g. "-INT") to a process.
pub(crate) fn kill(sig: &str, pid: &str) {
    assert!(Command::new("kill")
        .args([sig, pid])
        .status()
        .unwrap()
        .success());
}

/// Run the command with `resource` limited to `soft` (and `hard`, when given) and SIGXFSZ
/// ignored (so a file size limit makes writes fail with EFBIG instead of killing the process).
pub(crate) fn limit(cmd: &mut Command, resource: i32, soft: u64, hard: Option<u64>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure only calls getrlimit, setrlimit and signal, which are
    // async-signal-safe, on memory it owns.
    unsafe {
        cmd.pre_exec(move || {
            let mut cur = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(resource as _, &mut cur) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let new = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard.map_or(cur.rlim_max, |h| h as libc::rlim_t),
            };
            if libc::setrlimit(resource as _, &new) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
}

/// GNU parallel, or `None` (with the reason printed) when it is not installed or is not GNU's.
pub(crate) fn gnu_parallel() -> Option<Command> {
    let probe = Command::new("parallel")
        .arg("--version")
        .stdin(Stdio::null())
        .output();
    match probe {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains("GNU parallel") => {
            let mut c = Command::new("parallel");
            c.arg("--will-cite")
                .env("SHELL", "/bin/sh")
                .stdin(Stdio::null());
            Some(c)
        }
        Ok(_) => {
            eprintln!("skipped: `parallel` is not GNU parallel (moreutils' parallel?); install the Debian package `parallel`");
            None
        }
        Err(e) => {
            eprintln!(
                "skipped: GNU parallel not found ({e}); install the Debian package `parallel`"
            );
            None
        }
    }
}

/// The same command line through `threadkit` and GNU parallel, in `dir` with `stdin` and the
/// extra environment `env`: asserts the same stdout bytes and the same exit code; returns
/// our output (`None` when GNU parallel is missing).
pub(crate) fn same_bytes_as_gnu(
    dir: &Path,
    args: &[&[u8]],
    stdin: &[u8],
    env: &[(&str, &str)],
) -> Option<Output> {
    let mut gnu = gnu_parallel()?;
    let theirs = output_with_stdin(
        gnu.current_dir(dir)
            .envs(env.iter().copied())
            .args(os_args(args)),
        stdin,
    );
    let ours = output_with_stdin(
        threadkit()
            .current_dir(dir)
            .envs(env.iter().copied())
            .args(os_args(args)),
        stdin,
    );
    let what: Vec<String> = args.iter().map(|a| a.escape_ascii().to_string()).collect();
    assert_eq!(
        ours.stdout.escape_ascii().to_string(),
        theirs.stdout.escape_ascii().to_string(),
        "stdout of {what:?}\nour stderr: {}\ntheirs: {}",
        stderr(&ours),
        stderr(&theirs)
    );
    assert_eq!(
        ours.status.code(),
        theirs.status.code(),
        "exit code of {what:?}\nour stderr: {}\ntheirs: {}",
        stderr(&ours),
        stderr(&theirs)
    );
    Some(ours)
}
