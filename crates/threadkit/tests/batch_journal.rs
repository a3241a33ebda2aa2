//! The batch journal: resume after SIGKILL, retry-failed, refusing foreign or corrupt files.
#![cfg(all(not(loom), feature = "journal"))]

mod common;

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use threadkit::batch::{Batch, Cause, Durability, Journal, JournalError};

const CHILD_ENV: &str = "THREADKIT_BATCH_JOURNAL_CHILD";
const N: u64 = 3_000;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tk-batch-journal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The batch both the killed child and the resuming parent run: each execution appends the
/// input to `log` (one line, written with O_APPEND) before returning. With per-item durability,
/// four items at a time are handed out (one per worker), so those handed out are those
/// running. In the child (`block_from`), items from that index on never return: the child is
/// killed mid-run however fast or slow the machine is.
fn run_batch(
    journal: &Path,
    log: &Path,
    per_item: bool,
    block_from: Option<u64>,
) -> threadkit::batch::Report<u64, u64, String> {
    let log = log.to_path_buf();
    let mut batch = Batch::new(move |i: &u64| -> Result<u64, String> {
        if block_from.is_some_and(|b| *i >= b) {
            loop {
                std::thread::park();
            }
        }
        std::thread::sleep(Duration::from_millis(1));
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| e.to_string())?;
        f.write_all(format!("{i}\n").as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(i * 3)
    })
    .workers(4)
    .progress(false);
    let mut journal = Journal::open(journal, "journal-kill-test").unwrap();
    if per_item {
        batch = batch.chunk_size(1).window(4);
        journal = journal.durability(Durability::PerItem);
    }
    batch
        .journal(journal)
        .journal_key(|i: &u64| i.to_string())
        .run(0..N)
        .unwrap()
}

fn executions(log: &Path) -> Vec<u64> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

#[test]
fn resume_after_sigkill_loses_nothing_and_redoes_nothing_done() {
    kill_and_resume(
        "resume_after_sigkill_loses_nothing_and_redoes_nothing_done",
        false,
    );
}

/// Per-item durability: what runs again after a SIGKILL is at most the items that were
/// running, and the resumed run says how many those were.
#[test]
fn per_item_durability_reruns_only_the_items_running_at_sigkill() {
    kill_and_resume(
        "per_item_durability_reruns_only_the_items_running_at_sigkill",
        true,
    );
}

/// Runs the batch in a child (this test binary re-executed as `test`), SIGKILLs it once the
/// journal shows progress, resumes it here and checks that nothing was lost or done twice
/// that was recorded as done.
fn kill_and_resume(test: &str, per_item: bool) {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        // The child: run until killed.
        let dir = PathBuf::from(dir);
        run_batch(
            &dir.join("j.db"),
            &dir.join("exec1.log"),
            per_item,
            Some(N / 2),
        );
        return;
    }
    let dir = scratch(test);
    let journal = dir.join("j.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the journal to show progress, then SIGKILL the child mid-run.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the child made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child finished before it was killed"
        );
        if journal.exists() {
            if let Ok(j) = Journal::open(&journal, "journal-kill-test") {
                if j.counts().map(|c| c.done).unwrap_or(0) >= 300 {
                    break;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let done_before: HashSet<u64> = Journal::open(&journal, "journal-kill-test")
        .unwrap()
        .done_keys()
        .unwrap()
        .iter()
        .map(|k| k.parse().unwrap())
        .collect();
    assert!(done_before.len() >= 300);
    assert!(
        (done_before.len() as u64) < N,
        "killed too late to test anything"
    );
    let first_run: HashSet<u64> = executions(&dir.join("exec1.log")).into_iter().collect();
    // Never marked done without having run.
    assert!(done_before.is_subset(&first_run));

    let report = run_batch(&journal, &dir.join("exec2.log"), per_item, None);
    assert!(report.is_success(), "{report}");
    assert_eq!(report.summary().total, N);
    assert_eq!(report.summary().skipped, done_before.len() as u64);
    for (i, o) in report.outcomes().enumerate() {
        assert_eq!(**o.as_ref().unwrap(), i as u64 * 3);
    }
    let second_run = executions(&dir.join("exec2.log"));
    let second_set: HashSet<u64> = second_run.iter().copied().collect();
    assert_eq!(
        second_run.len(),
        second_set.len(),
        "an input ran twice in one run"
    );
    // Nothing recorded as done ran again; every input ran in one run or the other.
    assert!(done_before.is_disjoint(&second_set));
    assert_eq!(done_before.len() + second_set.len(), N as usize);
    if per_item {
        // Ran in both runs: finished, but not yet recorded, when the kill came.
        let again = first_run.intersection(&second_set).count() as u64;
        let running = report.summary().running_at_last_stop;
        assert!(
            again <= running && running <= 4,
            "{again} ran again, {running} were running"
        );
    } else {
        assert_eq!(report.summary().running_at_last_stop, 0);
    }
    let j = Journal::open(&journal, "journal-kill-test").unwrap();
    assert_eq!(j.counts().unwrap().done, N);
    drop(j);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn failed_items_are_reported_again_or_rerun_on_request() {
    let dir = scratch("failed");
    let path = dir.join("j.db");
    let r = Batch::new(|i: &u32| {
        if i.is_multiple_of(4) {
            Err(format!("bad {i}"))
        } else {
            Ok(*i)
        }
    })
    .progress(false)
    .journal(Journal::open(&path, "fails").unwrap())
    .run(0..100u32)
    .unwrap();
    assert_eq!(r.summary().errors, 25);

    let again = Batch::new(|_: &u32| -> Result<u32, String> { panic!("must not run") })
        .progress(false)
        .journal(Journal::open(&path, "fails").unwrap())
        .run(0..100u32)
        .unwrap();
    assert_eq!(again.summary().skipped, 75);
    assert_eq!(again.summary().journaled_failures, 25);
    let f = again.failures().next().unwrap();
    assert_eq!(f.index, 0);
    assert_eq!(
        f.cause,
        Cause::Journaled {
            message: "error: bad 0".into()
        }
    );

    let fixed = Batch::new(|i: &u32| -> Result<u32, String> { Ok(*i) })
        .progress(false)
        .journal(Journal::open(&path, "fails").unwrap())
        .retry_failed(true)
        .run(0..100u32)
        .unwrap();
    assert!(fixed.is_success());
    assert_eq!(fixed.summary().skipped, 75);
    let counts = Journal::open(&path, "fails").unwrap().counts().unwrap();
    assert_eq!((counts.done, counts.failed), (100, 0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A task that waits for its turn (as the `threadkit` command's `--delay` does) and finds the run
/// cancelled meanwhile: it never started.
struct Turns {
    token: threadkit::batch::CancelToken,
    stop_at: u32,
}

impl threadkit::batch::Task<u32> for Turns {
    type Output = u32;
    type Error = String;
    fn run(&self, i: &u32) -> Result<u32, String> {
        if *i == self.stop_at {
            self.token.cancel();
        }
        Ok(*i)
    }
    fn attempt(&self, i: &u32) -> Result<u32, Cause<String>> {
        if self.token.is_cancelled() {
            return Err(Cause::NotStarted);
        }
        self.run(i).map_err(Cause::Error)
    }
}

#[test]
fn items_that_never_started_are_counted_apart_and_run_on_resume() {
    let dir = scratch("not-started");
    let path = dir.join("j.db");
    let token = threadkit::batch::CancelToken::new();
    let first = Batch::with_task(Turns {
        token: token.clone(),
        stop_at: 9,
    })
    .workers(3)
    .chunk_size(1)
    .retry(threadkit::batch::Retry::new(2))
    .cancel_token(token)
    .progress(false)
    .journal(Journal::open(&path, "turns").unwrap())
    .run(0..40u32)
    .unwrap();
    let s = first.summary().clone();
    assert_eq!(s.total, 40);
    assert!(s.not_started > 0, "{s:?}");
    assert_eq!(s.succeeded + s.not_started, 40, "{s:?}");
    assert_eq!((s.failed(), s.errors, s.retries), (0, 0, 0), "{s:?}");
    assert_eq!(s.unfinished(), s.not_started);
    assert!(!first.is_success());
    assert_eq!(first.exit_code(), 3);
    for f in first.failures() {
        assert_eq!((&f.cause, f.attempts), (&Cause::NotStarted, 0), "{f:?}");
    }
    let text = first.to_string();
    assert!(
        text.contains(&format!("{} not started", s.not_started)),
        "{text}"
    );
    assert!(text.contains("0 failed"), "{text}");
    let counts = Journal::open(&path, "turns").unwrap().counts().unwrap();
    assert_eq!(
        (counts.done, counts.failed),
        (s.succeeded, 0),
        "never journaled as finished"
    );

    // Resumed: only the items that never started run.
    let ran = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let r2 = ran.clone();
    let again = Batch::new(move |i: &u32| -> Result<u32, String> {
        r2.lock().unwrap().push(*i);
        Ok(*i)
    })
    .progress(false)
    .journal(Journal::open(&path, "turns").unwrap())
    .run(0..40u32)
    .unwrap();
    assert!(again.is_success());
    assert_eq!(again.summary().skipped, s.succeeded);
    let mut ran = ran.lock().unwrap().clone();
    ran.sort();
    let never: Vec<u32> = first.failures().map(|f| f.index as u32).collect();
    assert_eq!(ran, never);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_journal_of_another_batch_is_refused_and_left_untouched() {
    let dir = scratch("other");
    let path = dir.join("j.db");
    Batch::new(|i: &u8| -> Result<u8, String> { Ok(*i) })
        .progress(false)
        .journal(Journal::open(&path, "first").unwrap())
        .run(0..10u8)
        .unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = Journal::open(&path, "second").unwrap_err();
    match &err {
        JournalError::OtherBatch {
            expected, found, ..
        } => {
            assert_eq!((expected.as_str(), found.as_str()), ("second", "first"));
        }
        e => panic!("unexpected {e:?}"),
    }
    assert!(err.to_string().contains("belongs to batch \"first\""));
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_file_is_refused_and_left_untouched() {
    let dir = scratch("corrupt");
    // Not SQLite at all.
    let garbage = dir.join("garbage.db");
    std::fs::write(&garbage, b"definitely not a database, just some bytes").unwrap();
    assert!(matches!(
        Journal::open(&garbage, "x"),
        Err(JournalError::NotAJournal { .. })
    ));
    assert_eq!(
        std::fs::read(&garbage).unwrap(),
        b"definitely not a database, just some bytes"
    );

    // A real journal whose pages were overwritten.
    let path = dir.join("j.db");
    Batch::new(|i: &u32| -> Result<String, String> {
        Ok(format!("value {i} {}", "x".repeat(200)))
    })
    .progress(false)
    .journal(Journal::open(&path, "c").unwrap())
    .run(0..2_000u32)
    .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 16 * 4096, "{}", bytes.len());
    for b in &mut bytes[4096..4096 * 12] {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    let err = Journal::open(&path, "c").unwrap_err();
    assert!(
        matches!(
            err,
            JournalError::Corrupt { .. } | JournalError::NotAJournal { .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("left untouched"));
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let _ = std::fs::remove_dir_all(&dir);
}

const FOREIGN_ENV: &str = "THREADKIT_BATCH_JOURNAL_FOREIGN_CHILD";
/// What a child prints when ready (at the end of the harness's `test NAME ... ` line).
const READY: &str = "<child ready>";

/// The files of an SQLite database in WAL mode: the main file, `-wal`, `-shm`.
fn wal_files(db: &Path) -> [PathBuf; 3] {
    let with = |suffix: &str| {
        let mut s = db.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    [db.to_path_buf(), with("-wal"), with("-shm")]
}

/// Run this test binary's `test` as a child with `FOREIGN_ENV` set to `db`; return once the
/// child wrote [`READY`] on stdout (it then has `db` in WAL mode with a non-empty `-wal`
/// and a `-shm`). The child's stdin is a pipe it may wait on.
fn start_child(test: &str, db: &Path) -> std::process::Child {
    use std::io::BufRead;
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(FOREIGN_ENV, db)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The test harness prints its own lines first.
    let out = std::io::BufReader::new(child.stdout.take().unwrap());
    let ready = out.lines().map(Result::unwrap).any(|l| l.ends_with(READY));
    assert!(ready, "the child ended before it was ready");
    for f in wal_files(db) {
        assert!(
            std::fs::metadata(&f).unwrap().len() > 0,
            "{} is empty",
            f.display()
        );
    }
    child
}

/// The child side of [`start_child`]: say so, then wait for the parent to close stdin.
fn ready_then_wait_for_eof() {
    use std::io::Read;
    println!("{READY}");
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
}

/// `Journal::open(db)` fails as `NotAJournal`, leaving `db`, `-wal` and `-shm` byte-identical
/// (a missing one still missing).
fn refused_untouched(db: &Path) {
    let read = || -> Vec<Option<Vec<u8>>> {
        wal_files(db)
            .iter()
            .map(|f| std::fs::read(f).ok())
            .collect()
    };
    let before = read();
    let err = Journal::open(db, "x").unwrap_err();
    assert!(matches!(err, JournalError::NotAJournal { .. }), "{err:?}");
    assert!(err.to_string().contains("left untouched"), "{err}");
    for ((f, was), now) in wal_files(db).iter().zip(before).zip(read()) {
        assert!(
            now == was,
            "{} was modified, created or removed",
            f.display()
        );
    }
}

#[test]
fn another_applications_wal_database_is_refused_and_not_modified() {
    if let Ok(db) = std::env::var(FOREIGN_ENV) {
        // The other application: its own schema, committed to the WAL, never checkpointed.
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        conn.execute_batch(
            "PRAGMA wal_autocheckpoint = 0;
             CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
             INSERT INTO notes (body) VALUES ('one'), ('two'), ('three');",
        )
        .unwrap();
        // Still running while the parent looks at the file; then it dies without closing the
        // connection (as a crashed or killed application does), which leaves -wal and -shm.
        ready_then_wait_for_eof();
        std::mem::forget(conn);
        std::process::exit(0);
    }
    let dir = scratch("foreign-wal");
    let db = dir.join("notes.db");
    let mut app = start_child(
        "another_applications_wal_database_is_refused_and_not_modified",
        &db,
    );
    refused_untouched(&db); // while the application runs
    drop(app.stdin.take());
    assert!(app.wait().unwrap().success());
    refused_untouched(&db); // after it died
    let [_, _, shm] = wal_files(&db);
    let shm_bytes = std::fs::read(&shm).unwrap();
    std::fs::remove_file(&shm).unwrap();
    refused_untouched(&db); // a -wal without its -shm (copied without it)
    std::fs::write(&shm, shm_bytes).unwrap();
    // The application still finds its data (its rows were only in the WAL).
    let conn = rusqlite::Connection::open(&db).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM notes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
    drop(conn);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_journal_whose_tables_are_only_in_its_wal_opens() {
    if let Ok(db) = std::env::var(FOREIGN_ENV) {
        // A run killed right after creating its journal: the tables are in the WAL only.
        let j = Journal::open(&db, "wal-only").unwrap();
        ready_then_wait_for_eof();
        std::mem::forget(j);
        std::process::exit(0);
    }
    let dir = scratch("wal-only");
    let db = dir.join("j.db");
    let mut run = start_child("a_journal_whose_tables_are_only_in_its_wal_opens", &db);
    drop(run.stdin.take());
    assert!(run.wait().unwrap().success());
    let j = Journal::open(&db, "wal-only").unwrap();
    assert_eq!(
        j.counts().unwrap(),
        threadkit::batch::JournalCounts::default()
    );
    drop(j);
    assert!(matches!(
        Journal::open(&db, "another"),
        Err(JournalError::OtherBatch { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_journal_reopens_whatever_its_file_name() {
    use std::os::unix::ffi::OsStrExt;
    let dir = scratch("odd-names");
    // URI syntax (`?`, `#`, `%`, `//`), spaces and bytes that are not UTF-8.
    let sub = dir.join(std::ffi::OsStr::from_bytes(b"a?b#c%41 d\xe9"));
    std::fs::create_dir_all(&sub).unwrap();
    for name in [&b"j.db"[..], b"x?mode=memory", b"%2e\xff.db"] {
        let path = sub.join(std::ffi::OsStr::from_bytes(name));
        Batch::new(|i: &u8| -> Result<u8, String> { Ok(*i) })
            .progress(false)
            .journal(Journal::open(&path, "odd").unwrap())
            .run(0..3u8)
            .unwrap();
        let j = Journal::open(&path, "odd").unwrap();
        assert_eq!(j.counts().unwrap().done, 3, "{}", path.display());
        drop(j);
        assert!(matches!(
            Journal::open(&path, "other"),
            Err(JournalError::OtherBatch { .. })
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Per-item durability with a window larger than the workers (items wait in the queue): each
/// worker records an item's start right before it starts, so a SIGKILL while items wait finds
/// only the running ones recorded as started. The child runs 40 items on 2 workers with a
/// window of 64; items from 10 on leave a marker and never return. Killed once two have
/// started (and 0-9 are done), the resumed run counts exactly 2 as running at the kill.
#[test]
fn per_item_starts_are_those_running_when_items_wait() {
    const TEST: &str = "per_item_starts_are_those_running_when_items_wait";
    let run = |dir: &Path, block: bool| {
        let markers = dir.to_path_buf();
        Batch::new(move |i: &u64| -> Result<u64, String> {
            if block && *i >= 10 {
                std::fs::write(markers.join(format!("started.{i}")), "").unwrap();
                loop {
                    std::thread::park();
                }
            }
            Ok(*i)
        })
        .workers(2)
        .chunk_size(1)
        .window(64)
        .progress(false)
        .journal(
            Journal::open(dir.join("j.db"), "waiting")
                .unwrap()
                .durability(Durability::PerItem),
        )
        .journal_key(|i: &u64| i.to_string())
        .run(0..40u64)
        .unwrap()
    };
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        run(Path::new(&dir), true);
        return;
    }
    let dir = scratch(TEST);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = || {
        std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("started."))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the child did not get there");
        assert!(child.try_wait().unwrap().is_none(), "the child ended");
        // Opened only once an item has started, so never while the child creates it (an open
        // of a journal another process is creating may find no batch id yet).
        let done = if started() > 0 {
            Journal::open(dir.join("j.db"), "waiting")
                .and_then(|j| j.counts())
                .map(|c| c.done)
                .unwrap_or(0)
        } else {
            0
        };
        if started() == 2 && done == 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL, with 28 items waiting in the queue
    child.wait().unwrap();
    assert_eq!(started(), 2);

    let again = run(&dir, false);
    assert!(again.is_success(), "{again}");
    assert_eq!(again.summary().skipped, 10);
    assert_eq!(again.summary().running_at_last_stop, 2);
    let _ = std::fs::remove_dir_all(&dir);
}
