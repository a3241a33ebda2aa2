//! Inputs that are not UTF-8 go through byte for byte: from every kind of source, into
//! templates, replacement strings and shell quoting, into the joblog, `--results` and the
//! journal (issue 14, item 1). Real files with such names in a temporary directory.

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use common::*;

/// `report\xe9.txt`: Latin-1, not UTF-8.
const LATIN1: &[u8] = b"report\xe9.txt";
/// `report\u{FFFD}.txt`: what a lossy conversion turns `LATIN1` into.
const LOOKALIKE: &[u8] = b"report\xef\xbf\xbd.txt";

/// Both files, with different contents.
fn two_files(d: &TempDir) {
    std::fs::write(d.0.join(OsStr::from_bytes(LATIN1)), "x\n").unwrap();
    std::fs::write(d.0.join(OsStr::from_bytes(LOOKALIKE)), "IMPORTANT\n").unwrap();
}

fn exists(d: &TempDir, name: &[u8]) -> bool {
    d.0.join(OsStr::from_bytes(name)).exists()
}

#[test]
fn rm_of_a_latin1_name_removes_that_file_and_not_its_lookalike() {
    let d = TempDir::new("bytes-rm");
    std::fs::write(d.path("names"), [LATIN1, b"\n"].concat()).unwrap();
    std::fs::write(d.path("names0"), [LATIN1, b"\0"].concat()).unwrap();
    let line = [LATIN1, b"\n"].concat();
    let nul = [LATIN1, b"\0"].concat();
    // (arguments, stdin): every kind of source, the direct-exec path and the shell path.
    let cases: Vec<(Vec<&[u8]>, &[u8])> = vec![
        (vec![b"rm"], &line),
        (vec![b"-0", b"rm"], &nul),
        (vec![b"rm", b"::::", b"names"], b""),
        (vec![b"-0", b"-a", b"names0", b"rm"], b""),
        (vec![b"rm", b":::", LATIN1], b""),
        (vec![b"rm -- {} || exit 9"], &line),
        (vec![b"rm -- {} || exit 9", b":::", LATIN1], b""),
    ];
    for (args, stdin) in cases {
        two_files(&d);
        let out = run_bytes_in(&d.0, &args, stdin);
        let what = format!(
            "{:?}",
            args.iter()
                .map(|a| a.escape_ascii().to_string())
                .collect::<Vec<_>>()
        );
        assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(&out));
        assert!(
            !exists(&d, LATIN1),
            "{what}: report\\xe9.txt is still there"
        );
        assert!(
            exists(&d, LOOKALIKE),
            "{what}: the UTF-8 lookalike was removed"
        );
    }
}

#[test]
fn replacement_strings_quoting_and_command_words_work_on_bytes() {
    let d = TempDir::new("bytes-repl");
    let input: &[u8] = b"d\xe9 x/f\xff'.tar.gz";
    let want: &[u8] =
        b"d\xe9 x/f\xff'.tar.gz|d\xe9 x/f\xff'.tar|f\xff'.tar.gz|d\xe9 x|f\xff'.tar\n";
    // The shell path (a pipe), then the direct path (-q): the job gets the same bytes.
    let shell: &[&[u8]] = &[
        b"printf '%s|%s|%s|%s|%s\\n' {} {.} {/} {//} {/.} | cat",
        b":::",
        input,
    ];
    let direct: &[&[u8]] = &[
        b"-q",
        b"printf",
        b"%s|%s|%s|%s|%s\\n",
        b"{}",
        b"{.}",
        b"{/}",
        b"{//}",
        b"{/.}",
        b":::",
        input,
    ];
    for args in [shell, direct] {
        let out = run_bytes_in(&d.0, args, b"");
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(
            out.stdout.escape_ascii().to_string(),
            want.escape_ascii().to_string(),
            "{}",
            args[0].escape_ascii()
        );
    }
    // Command words that are not UTF-8, a second source, --tag and --dry-run.
    let out = run_bytes_in(
        &d.0,
        &[
            b"--tag",
            b"-q",
            b"printf",
            b"\xfe%s\\n",
            b":::",
            b"a\xe9",
            b":::",
            b"\xff",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, b"a\xe9 \xff\t\xfea\xe9\na\xe9 \xff\t\xfe\xff\n");
    let out = run_bytes_in(
        &d.0,
        &[b"--dry-run", b"echo", b"\xfe{}", b":::", b"a\xe9"],
        b"",
    );
    assert_eq!(out.stdout, b"echo \xfe'a\xe9'\n");
    // -d with a delimiter byte that is not UTF-8.
    let out = run_bytes_in(&d.0, &[b"-k", b"-d", b"\xff", b"echo"], b"a\xffb\xe9");
    assert_eq!(out.stdout, b"a\nb\xe9\n");
}

#[test]
fn joblog_results_and_journal_keep_the_bytes() {
    let d = TempDir::new("bytes-logs");
    let (joblog, results, journal) = (d.path("jl"), d.path("r.jsonl"), d.path("j.db"));
    let args = |extra: &[&[u8]]| -> Vec<Vec<u8>> {
        let mut a: Vec<Vec<u8>> = vec![
            b"-k".to_vec(),
            b"--joblog".to_vec(),
            joblog.as_os_str().as_bytes().to_vec(),
            b"--results".to_vec(),
            results.as_os_str().as_bytes().to_vec(),
            b"--journal".to_vec(),
            journal.as_os_str().as_bytes().to_vec(),
        ];
        a.extend(extra.iter().map(|e| e.to_vec()));
        a
    };
    let run_args = |a: Vec<Vec<u8>>| {
        let a: Vec<&[u8]> = a.iter().map(Vec::as_slice).collect();
        run_bytes_in(&d.0, &a, b"")
    };
    let out = run_args(args(&[b"printf '%s\\n' {} | tee -a ran", b":::", LATIN1]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, [LATIN1, b"\n"].concat());

    // The joblog's Command column is the command line run, bytes included (as GNU parallel's).
    let log = std::fs::read(&joblog).unwrap();
    let row = log.split(|&b| b == b'\n').nth(1).unwrap();
    let command = row.split(|&b| b == b'\t').nth(8).unwrap();
    assert_eq!(
        command,
        [&b"printf '%s\\n' '"[..], LATIN1, b"' | tee -a ran"].concat()
    );

    // --results: a non-UTF-8 value is {"hex", "lossy"} (docs/cli.md), UTF-8 ones are strings.
    let rec: serde_json::Value = serde_json::from_slice(
        std::fs::read(&results)
            .unwrap()
            .split(|&b| b == b'\n')
            .next()
            .unwrap(),
    )
    .unwrap();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(
        rec["input"],
        serde_json::json!([{"hex": hex(LATIN1), "lossy": "report\u{FFFD}.txt"}])
    );
    assert_eq!(rec["command"]["hex"], hex(command));
    assert_eq!(rec["stdout"]["hex"], hex(&out.stdout));
    assert_eq!(rec["stderr"], "");

    // The journal keys the two names apart: resuming with both runs only the lookalike.
    let out = run_args(args(&[
        b"--resume",
        b"printf '%s\\n' {} | tee -a ran",
        b":::",
        LATIN1,
        LOOKALIKE,
    ]));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout, [LOOKALIKE, b"\n"].concat());
    let ran = std::fs::read(d.path("ran")).unwrap();
    assert_eq!(ran, [LATIN1, b"\n", LOOKALIKE, b"\n"].concat());
}
