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

/// Another application's database in rollback mode is refused and left as it was, with no
/// file created: when it was closed, and with a hot journal (the application died in a
/// transaction whose pages it had already written to the file; a read-only look under a
/// lock cannot roll it back, and must not).
#[test]
fn another_applications_rollback_database_is_refused_and_not_modified() {
    const TEST: &str = "another_applications_rollback_database_is_refused_and_not_modified";
    let create = |db: &Path| {
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);
             WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 999)
             INSERT INTO notes (body) SELECT printf('%.300c', 'n') FROM n;",
        )
        .unwrap();
        conn
    };
    if let Ok(db) = std::env::var(FOREIGN_ENV) {
        // Dies in a transaction too large for its page cache, leaving a hot journal.
        let conn = create(Path::new(&db));
        conn.execute_batch("PRAGMA cache_size = 2; BEGIN; UPDATE notes SET body = upper(body);")
            .unwrap();
        std::process::exit(0);
    }
    let dir = scratch("foreign-rollback");
    let db = dir.join("closed.db");
    drop(create(&db));
    refused_untouched(&db);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);

    let db = dir.join("hot.db");
    let out = common::this_test(TEST)
        .env(FOREIGN_ENV, &db)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut hot = db.as_os_str().to_owned();
    hot.push("-journal");
    let journal = std::fs::read(&hot).unwrap();
    assert!(!journal.is_empty());
    refused_untouched(&db);
    assert_eq!(std::fs::read(&hot).unwrap(), journal);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_journal_whose_tables_are_only_in_its_wal_opens() {
    if let Ok(db) = std::env::var(FOREIGN_ENV) {
        // A run of an earlier version killed right after creating its journal (WAL mode
        // first, then the tables and the batch id): they are in the WAL only.
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .unwrap();
        conn.execute_batch(
            "CREATE TABLE tk_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE tk_outcomes (key TEXT PRIMARY KEY, idx INTEGER NOT NULL,
                 ok INTEGER NOT NULL, value TEXT, cause TEXT, attempts INTEGER NOT NULL);
             INSERT INTO tk_meta (key, value) VALUES ('batch_id', 'wal-only'), ('schema', '1');",
        )
        .unwrap();
        ready_then_wait_for_eof();
        std::mem::forget(conn);
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

/// What one opener got: `ok`, `other:<the id found>`, or `error:<the error>` (never expected).
fn verdict(opened: &Result<Journal, JournalError>) -> String {
    match opened {
        Ok(_) => "ok".into(),
        Err(JournalError::OtherBatch { found, .. }) => format!("other:{found}"),
        Err(e) => format!("error:{e:?}"),
    }
}

/// Opens `path` from one thread per id, all released at once by a barrier; each thread keeps
/// its journal until every thread has opened (so creators and inspectors overlap) when `keep`,
/// else drops it at once (so the last connection's checkpoint races the others' inspection).
fn open_at_once(path: &Path, ids: &[&str], keep: bool) -> Vec<(String, String)> {
    let start = std::sync::Barrier::new(ids.len());
    let opened = std::sync::Barrier::new(ids.len());
    std::thread::scope(|s| {
        let threads: Vec<_> = ids
            .iter()
            .map(|&id| {
                let (start, opened) = (&start, &opened);
                s.spawn(move || {
                    start.wait();
                    let j = Journal::open(path, id);
                    let v = verdict(&j);
                    if let Ok(j) = &j {
                        // The journal is usable: its tables are there.
                        j.counts().unwrap();
                    }
                    if !keep {
                        drop(j);
                    }
                    opened.wait();
                    (id.to_owned(), v)
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    })
}

/// Every opener of one id got its journal, every other one `OtherBatch` naming that id; the
/// file is a sound journal of it, with one batch id.
fn one_batch_won(path: &Path, verdicts: &[(String, String)]) {
    let winners: HashSet<&str> = verdicts
        .iter()
        .filter(|(_, v)| v == "ok")
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(winners.len(), 1, "{verdicts:?}");
    let winner = *winners.iter().next().unwrap();
    for (id, v) in verdicts {
        if id == winner {
            assert_eq!(v, "ok", "{verdicts:?}");
        } else {
            assert_eq!(*v, format!("other:{winner}"), "{verdicts:?}");
        }
    }
    let conn = rusqlite::Connection::open(path).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let ids: Vec<String> = conn
        .prepare("SELECT value FROM tk_meta WHERE key = 'batch_id'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(ids, [winner]);
    drop(conn);
    assert!(Journal::open(path, winner).is_ok());
}

/// Many threads creating the same journal at once: all get it, and it is one sound journal.
#[test]
fn threads_creating_one_journal_at_once_all_get_it() {
    let dir = scratch("create-race-same");
    for round in 0..50 * common::stress::<usize>() {
        let path = dir.join(format!("j{round}.db"));
        let verdicts = open_at_once(&path, &["same"; 8], round % 2 == 0);
        one_batch_won(&path, &verdicts);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Threads creating the same file for two batches at once: the openers of one batch get it,
/// every other one `OtherBatch` (never a journal of the wrong batch, never `NotAJournal`).
#[test]
fn threads_creating_one_file_for_two_batches_one_batch_wins() {
    let dir = scratch("create-race-two");
    for round in 0..50 * common::stress::<usize>() {
        let path = dir.join(format!("j{round}.db"));
        let verdicts = open_at_once(&path, &["x", "y", "x", "y", "x", "y"], round % 2 == 0);
        one_batch_won(&path, &verdicts);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const RACE_ENV: &str = "THREADKIT_BATCH_JOURNAL_RACE_CHILD";

/// Processes (each with threads) creating the same file for two batches at once: a child per
/// process says it is ready, waits for its stdin to close (all children are released at
/// once), opens from its threads and prints one `verdict ID VERDICT` line per thread.
#[test]
fn processes_creating_one_file_at_once_one_batch_wins() {
    const TEST: &str = "processes_creating_one_file_at_once_one_batch_wins";
    if let Ok(path) = std::env::var(RACE_ENV) {
        ready_then_wait_for_eof();
        for (id, v) in open_at_once(Path::new(&path), &["x", "y", "x"], false) {
            println!("verdict {id} {v}");
        }
        return;
    }
    use std::io::BufRead;
    let dir = scratch("create-race-processes");
    for round in 0..5 * common::stress::<usize>() {
        let path = dir.join(format!("j{round}.db"));
        let mut children: Vec<_> = (0..3)
            .map(|_| {
                let mut c = common::this_test(TEST)
                    .env(RACE_ENV, &path)
                    .stdin(std::process::Stdio::piped())
                    .stdout(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut out = std::io::BufReader::new(c.stdout.take().unwrap()).lines();
                let ready = out.by_ref().map(Result::unwrap).any(|l| l.ends_with(READY));
                assert!(ready, "a child ended before it was ready");
                (c, out)
            })
            .collect();
        for (c, _) in &mut children {
            drop(c.stdin.take()); // go
        }
        let mut verdicts = Vec::new();
        for (mut c, out) in children {
            for line in out.map(Result::unwrap) {
                if let Some(v) = line.strip_prefix("verdict ") {
                    let (id, v) = v.split_once(' ').unwrap();
                    verdicts.push((id.to_owned(), v.to_owned()));
                }
            }
            assert!(c.wait().unwrap().success());
        }
        assert_eq!(verdicts.len(), 9, "{verdicts:?}");
        one_batch_won(&path, &verdicts);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A journal still in rollback mode (as its creator commits it, before its switch to WAL)
/// that another process is writing: an opener at that moment gets the journal, never
/// `NotAJournal` or `Corrupt` for the torn file it may read without a lock. The writer (a
/// child process) commits the tables and 1,000 outcomes, then holds a transaction of 1,000
/// more too large for its page cache (SQLite writes them to the file under its exclusive
/// lock before the commit, tearing the file as a commit being written does), and commits it
/// when the parent closes its stdin, which the parent does right after starting the opener:
/// the two race, and either order must give the journal with 2,000 outcomes.
#[test]
fn a_journal_opened_while_another_process_commits_opens() {
    const TEST: &str = "a_journal_opened_while_another_process_commits_opens";
    if let Ok(db) = std::env::var(FOREIGN_ENV) {
        use std::io::Read;
        let conn = rusqlite::Connection::open(&db).unwrap();
        let outcomes = |from: u32| {
            format!(
                "WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n \
                 WHERE i < {from} + 999) \
                 INSERT INTO tk_outcomes SELECT i, i, 1, printf('%.300c', 'v'), NULL, 1 FROM n;"
            )
        };
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;
             CREATE TABLE tk_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE tk_outcomes (key TEXT PRIMARY KEY, idx INTEGER NOT NULL,
                 ok INTEGER NOT NULL, value TEXT, cause TEXT, attempts INTEGER NOT NULL);
             INSERT INTO tk_meta (key, value) VALUES ('batch_id', 'busy'), ('schema', '1');
             {}
             COMMIT;",
            outcomes(0)
        ))
        .unwrap();
        let size = std::fs::metadata(&db).unwrap().len();
        conn.execute_batch(&format!(
            "PRAGMA cache_size = 2; BEGIN IMMEDIATE; {}",
            outcomes(1000)
        ))
        .unwrap();
        assert!(
            std::fs::metadata(&db).unwrap().len() > size,
            "nothing spilled"
        );
        println!("{READY}");
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        conn.execute_batch("COMMIT").unwrap();
        return;
    }
    use std::io::BufRead;
    let dir = scratch("open-while-committing");
    for round in 0..10 * common::stress::<usize>() {
        let db = dir.join(format!("j{round}.db"));
        let mut writer = common::this_test(TEST)
            .env(FOREIGN_ENV, &db)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = std::io::BufReader::new(writer.stdout.take().unwrap()).lines();
        let ready = out.by_ref().map(Result::unwrap).any(|l| l.ends_with(READY));
        assert!(ready, "the writer ended before it was ready");
        std::thread::scope(|s| {
            let opener = s.spawn(|| Journal::open(&db, "busy"));
            drop(writer.stdin.take()); // commit
            let j = opener.join().unwrap().unwrap();
            assert_eq!(j.counts().unwrap().done, 2000);
        });
        out.for_each(drop); // the harness's last lines
        assert!(writer.wait().unwrap().success());
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Opening a journal that this process already has open, then another process's connection
/// closing, leaves the `-wal` and `-shm` in use here where they are. (The second open's reads
/// of the file outside SQLite's locking, the header and the `immutable` look, drop this
/// process's POSIX lock on the main file; SQLite's lock on the `-shm` still tells the other
/// process that it is not the last user.)
#[test]
fn opening_again_keeps_the_wal_of_this_process() {
    const TEST: &str = "opening_again_keeps_the_wal_of_this_process";
    if let Ok(db) = std::env::var(FOREIGN_ENV) {
        // Another process's connection, opened and closed.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.query_row("SELECT count(*) FROM tk_meta", [], |_| Ok(()))
            .unwrap();
        conn.close().unwrap();
        return;
    }
    let dir = scratch("locks-kept");
    let db = dir.join("j.db");
    let first = Journal::open(&db, "locks").unwrap();
    let second = Journal::open(&db, "locks").unwrap();
    let out = common::this_test(TEST)
        .env(FOREIGN_ENV, &db)
        .output()
        .unwrap();
    assert!(out.status.success());
    for f in wal_files(&db) {
        assert!(f.exists(), "{} was removed while in use", f.display());
    }
    drop((first, second));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Opening a file that a connection of this process is writing keeps that connection's lock:
/// another process still cannot start writing. (A descriptor of the file opened and closed
/// outside SQLite drops every POSIX lock this process holds on it.)
#[test]
fn opening_keeps_the_locks_of_this_processs_connections() {
    const TEST: &str = "opening_keeps_the_locks_of_this_processs_connections";
    if let Ok(db) = std::env::var(FOREIGN_ENV) {
        // Another process: can it start writing?
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.busy_timeout(Duration::ZERO).unwrap();
        match conn.execute_batch("BEGIN IMMEDIATE") {
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {}
            other => panic!("another process could write: {other:?}"),
        }
        return;
    }
    let dir = scratch("locks-writer");
    let db = dir.join("notes.db");
    // Another application's database in rollback mode, in a write transaction of this process.
    let app = rusqlite::Connection::open(&db).unwrap();
    app.execute_batch(
        "CREATE TABLE notes (body TEXT);
         BEGIN IMMEDIATE;
         INSERT INTO notes VALUES ('one');",
    )
    .unwrap();
    // Not `refused_untouched`: its reads of the file would drop the lock themselves.
    let err = Journal::open(&db, "x").unwrap_err();
    assert!(matches!(err, JournalError::NotAJournal { .. }), "{err:?}");
    let out = common::this_test(TEST)
        .env(FOREIGN_ENV, &db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    app.execute_batch("COMMIT").unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// A journal reached through a symbolic link opens (its header read resolves the link), and
/// one of another batch through it is refused.
#[test]
fn a_journal_opens_through_a_symbolic_link() {
    let dir = scratch("symlink");
    let path = dir.join("j.db");
    drop(Journal::open(&path, "linked").unwrap());
    let link = dir.join("link.db");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert_eq!(
        Journal::open(&link, "linked")
            .unwrap()
            .counts()
            .unwrap()
            .done,
        0
    );
    assert!(matches!(
        Journal::open(&link, "other"),
        Err(JournalError::OtherBatch { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}
