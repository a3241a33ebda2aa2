//! The batch journal: resume after SIGKILL, retry-failed, refusing foreign or corrupt files.
#![cfg(all(not(loom), feature = "journal"))]

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use threadkit::batch::{Batch, Cause, Journal, JournalError, Task};

const KILL_TEST: &str = "resume_after_sigkill_loses_nothing_and_redoes_nothing_done";
const CHILD_ENV: &str = "THREADKIT_BATCH_JOURNAL_CHILD";
/// What the child prints once the journal holds committed outcomes.
const READY: &str = "child: outcomes committed, kill me";
const N: u64 = 3_000;
/// In the child, inputs from here on never finish (until the child is killed).
const PARK_FROM: u64 = 2_500;
/// The journal commits at least every 2,048 records (its documented policy).
const COMMIT_EVERY: u64 = 2_048;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tk-batch-journal-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The batch both the killed child and the resuming parent run: each execution appends the
/// input to `log` (one line, written with O_APPEND) before returning; with `park_from`, the
/// executions of the inputs from there on never return. The timeout makes the run tracked:
/// items run on pool threads only, never on the thread that reads the outcomes.
fn kill_test_batch(
    journal: &Path,
    log: &Path,
    park_from: Option<u64>,
) -> Batch<u64, impl Task<u64, Output = u64, Error = String>> {
    let log = log.to_path_buf();
    Batch::new(move |i: &u64| -> Result<u64, String> {
        if park_from.is_some_and(|p| *i >= p) {
            loop {
                std::thread::park();
            }
        }
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
    .timeout(Duration::from_secs(3600))
    .progress(false)
    .journal(Journal::open(journal, "journal-kill-test").unwrap())
    .journal_key(|i: &u64| i.to_string())
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
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        // The child: every input below PARK_FROM finishes, the others never do. The stream
        // hands out an outcome only after recording it in the journal, which commits at
        // least every COMMIT_EVERY records: once PARK_FROM outcomes are out, all but at most
        // COMMIT_EVERY - 1 of them are committed. Say so, then wait to be killed mid-run,
        // perhaps mid-transaction (the stream stays alive: dropping it would end the run).
        let dir = PathBuf::from(dir);
        let mut stream =
            kill_test_batch(&dir.join("j.db"), &dir.join("exec1.log"), Some(PARK_FROM))
                .stream(0..N)
                .unwrap();
        assert_eq!(
            stream.by_ref().take(PARK_FROM as usize).count(),
            PARK_FROM as usize
        );
        println!("{READY}");
        std::io::stdout().flush().unwrap();
        loop {
            std::thread::park();
        }
    }
    let dir = scratch("kill");
    let journal = dir.join("j.db");
    let mut child = common::this_test(KILL_TEST)
        .env(CHILD_ENV, &dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The child's word, not a clock, says when to kill it (libtest may print the test's name
    // on the same line).
    let out = child.stdout.take().unwrap();
    let (said, ready) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let ready = BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.ends_with(READY));
        let _ = said.send(ready);
    });
    match ready.recv_timeout(Duration::from_secs(300)) {
        Ok(true) => {}
        Ok(false) => panic!("the child ended without its word: {:?}", child.wait()),
        Err(_) => {
            let _ = child.kill();
            panic!("no word from the child in 5 minutes");
        }
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
    assert!(
        done_before.len() as u64 > PARK_FROM - COMMIT_EVERY,
        "{} committed",
        done_before.len()
    );
    // Nothing that never finished is marked done; everything that finished ran once.
    assert!(done_before.iter().all(|i| *i < PARK_FROM));
    let first_run = executions(&dir.join("exec1.log"));
    assert_eq!(first_run.len() as u64, PARK_FROM);
    let first_run: HashSet<u64> = first_run.into_iter().collect();
    assert_eq!(first_run, (0..PARK_FROM).collect());

    let report = kill_test_batch(&journal, &dir.join("exec2.log"), None)
        .run(0..N)
        .unwrap();
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
