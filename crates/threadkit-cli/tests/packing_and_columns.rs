//! Issue 18, part 1: `-N`, `-m`, `-X`, `-s`, `--colsep`, `--header :`, `--env`, `--workdir`,
//! `--tmpdir`, against GNU parallel 20221122 (same stdout bytes, same order with `-k`, same exit
//! code; skipped with the reason printed when GNU parallel is missing), with hostile bytes
//! (spaces, quotes, newlines with `-0`, bytes that are not UTF-8); and what threadkit refuses
//! (`{= perl =}`, `--csv`, `-N` with several sources), with a message and exit 255 before any
//! job runs.

mod common;

use std::os::unix::ffi::OsStrExt;

use common::*;

/// Each case through both programs, in a fresh directory, with `-k` inside the case.
fn agree(cases: &[(&[&[u8]], &[u8])]) {
    let d = TempDir::new("pack");
    agree_in(&d, cases);
}

fn agree_in(d: &TempDir, cases: &[(&[&[u8]], &[u8])]) {
    for (args, stdin) in cases {
        if same_bytes_as_gnu(&d.0, args, stdin, &[]).is_none() {
            return;
        }
    }
}

/// Command lines written as one string each, split at spaces (plain words only), no stdin.
fn agree_words(lines: &[&str]) {
    agree_words_in(&TempDir::new("pack-words"), lines);
}

fn agree_words_in(d: &TempDir, lines: &[&str]) {
    for line in lines {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        if same_bytes_as_gnu(&d.0, &args, b"", &[]).is_none() {
            return;
        }
    }
}

#[test]
fn max_args_gives_n_values_per_job() {
    agree_words(&[
        "-k -N2 echo ::: a b c d e",
        "-k -N2 echo {} ::: a b c d e",
        // -N repeats the word around {} (context replace), the last job has the rest.
        "-k -N2 echo pre{}post ::: a b c d e",
        "-k -N3 echo {3}x{1} {#} ::: a b c d e",
        "-k -N0 echo x ::: a b c",
        "-k -N2 --tag echo {2} ::: a b c",
    ]);
    // From stdin, -0, with a newline, quotes and spaces inside values.
    agree(&[(
        &[b"-k", b"-0", b"-N2", b"printf", b"[%s]\\n"],
        b"a b\0c'd\0e\nf\0\"g\"\0",
    )]);
}

#[test]
fn m_and_x_fill_lines_and_spread_the_last_over_the_slots() {
    let many: String = (0..40).map(|i| format!(" v{i}")).collect();
    agree_words(&[
        "-k -j1 -m echo pre{}post ::: a b c",
        "-k -j1 -X echo pre{}post ::: a b c",
        "-k -j2 -X echo pre{}post ::: a b c d e",
        "-k -j3 -m echo ::: a b c d e",
        // ({%} is left out: which slot a job gets depends on timing, in both programs.)
        "-k -j2 -X echo {1} {#} ::: a b c d",
        "-k -j2 -X echo {.} {/} ::: d/a.x d/b.y c",
        "-k -j2 -s 20 -X echo ::: aaaa bbbb cccc dddd eeee ffff",
        &format!("-k -j3 -s 60 -X echo <{{}}> :::{many}"),
        &format!("-k -j2 -s 45 -m echo {{}} :::{many}"),
        // Failing jobs count as usual.
        "-k -j2 -X false ::: a b c d",
    ]);
    agree(&[
        // Hostile values from stdin with -0: quoted in the line, counted quoted in its length.
        (
            &[
                b"-k", b"-j2", b"-0", b"-s", b"40", b"-X", b"printf", b"[%s]\\n", b"x{}",
            ],
            b"a b\0c'd\0e\nf\0\xe9\xff\0$(echo no)\0`x`\0;\0",
        ),
        (
            &[b"-k", b"-j1", b"-0", b"-m", b"printf", b"[%s]\\n"],
            b"a b\0c'd\0e\nf\0\xe9\0",
        ),
    ]);
}

/// One input longer than any command line: the jobs before it run, then GNU parallel's
/// "Command line too long" and exit 255; nothing after it runs.
#[test]
fn an_input_too_long_for_any_command_line_is_an_error() {
    let mut stdin = b"a\n".to_vec();
    stdin.extend(std::iter::repeat_n(b'x', 140_000));
    stdin.extend(b"\nb\n");
    let d = TempDir::new("pack-long");
    for mode in [&b"-N1"[..], b"-X", b"-m"] {
        let args: [&[u8]; 4] = [b"-j1", mode, b"echo", b"{}"];
        let Some(ours) = same_bytes_as_gnu(&d.0, &args, &stdin, &[]) else {
            return;
        };
        assert!(
            stderr(&ours).contains("command line too long"),
            "{}",
            stderr(&ours)
        );
    }
    let Some(ours) = same_bytes_as_gnu(&d.0, &[b"-j1", b"echo"], &stdin, &[]) else {
        return;
    };
    assert_eq!(ours.stdout, b"a\n");
    // With -s, the same error for a shorter input.
    let ours = run_bytes_in(
        &d.0,
        &[b"-j1", b"-s", b"10", b"echo"],
        b"a\nbbbbbbbbbbb\nc\n",
    );
    assert_eq!(
        (ours.status.code(), &ours.stdout[..]),
        (Some(255), &b"a\n"[..])
    );
    assert!(
        stderr(&ours).contains("(16 >= 10 bytes, see -s) at input 2"),
        "{}",
        stderr(&ours)
    );
}

/// Lines as long as the system takes, never longer: 200,000 values of 6 bytes (1.4 MB) with
/// `-X` run in as few jobs as fit and every value arrives once, in order.
#[test]
fn x_never_exceeds_the_system_limit() {
    let n = 200_000 * stress() as usize;
    let input: Vec<u8> = (0..n)
        .flat_map(|i| format!("{i:06}\n").into_bytes())
        .collect();
    let out = run_with_stdin(
        &["-k", "-X", r#"sh -c 'echo $#; printf "%s\n" "$@"' sh"#],
        &input,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    let mut lines = text.lines();
    let mut got = Vec::new();
    let mut jobs = 0;
    while let Some(count) = lines.next() {
        let count: usize = count.parse().unwrap();
        jobs += 1;
        got.extend(lines.by_ref().take(count).map(str::to_owned));
    }
    assert_eq!(got.len(), n);
    assert!(got.iter().enumerate().all(|(i, v)| *v == format!("{i:06}")));
    // About 128 KiB a line: well over a few jobs, far under one per value.
    assert!(
        jobs >= n * 7 / (128 * 1024) && jobs <= n / 1000,
        "{jobs} jobs"
    );
}

#[test]
fn colsep_splits_inputs_into_positional_columns() {
    let d = TempDir::new("colsep");
    std::fs::write(d.path("t.tsv"), b"a\tb c\td\nx\ty\n'q\t\xe9\xff\t$(no)\n\n").unwrap();
    std::fs::write(d.path("h.csv"), b"name,age\nann,3\n\"bo, b\",4\n").unwrap();
    agree_words_in(
        &d,
        &[
            "-k --colsep \\t echo {2}-{1} :::: t.tsv",
            "-k --colsep \\t echo :::: t.tsv",
            // A column beyond the line's is nothing at all (not an empty word).
            "-k --colsep \\t printf [%s] {3} {} ; echo :::: t.tsv",
            "-k --colsep ,+ echo {1}_{2} ::: a,,b c,d",
            "-k --colsep , echo {2} ::: a,b ::: c,d",
            "-k --colsep , --header : echo {name} is {age} / {1} :::: h.csv",
            "-k --header : echo {foo} {bar.} ::: foo 1 2 ::: bar x.y z",
        ],
    );
    agree_in(
        &d,
        &[
            // Blanks around columns are trimmed (GNU's --trim lr with --colsep).
            (
                &[
                    b"-k",
                    b"--colsep",
                    b",",
                    b"printf",
                    b"[%s]",
                    b"{1}",
                    b"{2}",
                    b":::",
                    b" e , f ",
                ],
                b"",
            ),
            // -0: a column may hold a newline.
            (
                &[
                    b"-k",
                    b"-0",
                    b"--colsep",
                    b":",
                    b"printf",
                    b"<%s>",
                    b"{2}",
                    b"{1}",
                ],
                b"a:b\nc\0d:\xe9\0",
            ),
            (
                &[
                    b"-k",
                    b"--header",
                    b":",
                    b"--colsep",
                    b"\\t",
                    b"echo",
                    b"{b}{a}",
                ],
                b"a\tb\n1\t2\n3\t4\n",
            ),
        ],
    );
}

#[test]
fn env_workdir_and_tmpdir_reach_the_jobs() {
    let d = TempDir::new("env");
    let work = TempDir::new("env-work");
    let tmp = TempDir::new("env-tmp");
    // A work directory whose name has a space, a quote and a byte that is not UTF-8.
    let work_dir = std::fs::canonicalize(&work.0)
        .unwrap()
        .join(std::ffi::OsStr::from_bytes(b"w d'\xe9"));
    std::fs::create_dir(&work_dir).unwrap();
    let tmp_s = std::fs::canonicalize(&tmp.0).unwrap();
    let (work_s, tmp_s) = (work_dir.as_os_str(), tmp_s.to_str().unwrap());
    let cases: [&[&[u8]]; 4] = [
        &[
            b"-k",
            b"--env",
            b"TK_VAR",
            b"echo \"$TK_VAR\" {}",
            b":::",
            b"a",
            b"b c",
        ],
        &[
            b"-k",
            b"--workdir",
            work_s.as_bytes(),
            b"pwd; echo {}",
            b":::",
            b"a",
        ],
        &[
            b"-k",
            b"--wd",
            work_s.as_bytes(),
            b"echo {} > f; cat f",
            b":::",
            b"in-workdir",
        ],
        &[
            b"-k",
            b"--tmpdir",
            tmp_s.as_bytes(),
            b"echo $TMPDIR {}",
            b":::",
            b"a",
        ],
    ];
    for args in cases {
        if same_bytes_as_gnu(&d.0, args, b"", &[("TK_VAR", "x 'y' \"z\"")]).is_none() {
            return;
        }
    }
    // The jobs wrote into the work directory, not ours.
    assert!(work_dir.join("f").exists() && !d.path("f").exists());
}

#[test]
fn spill_files_go_to_the_tmpdir() {
    // 300 KiB of output is more than a job keeps in memory: the rest goes to the spill file,
    // opened in --tmpdir (seen through the job's own /proc/PPID/fd, since it is unlinked).
    let tmp = TempDir::new("spill-tmp");
    let canon = std::fs::canonicalize(&tmp.0).unwrap();
    let out = run(&[
        "--tmpdir",
        tmp.0.to_str().unwrap(),
        "head -c 300000 /dev/zero; ls -l /proc/$PPID/fd/ > /dev/stderr; : {}",
        ":::",
        "a",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(out.stdout.len(), 300_000);
    let fds = stderr(&out);
    assert!(
        fds.contains(canon.to_str().unwrap()),
        "no file of threadkit's in {}: {fds}",
        canon.display()
    );
}

#[test]
fn what_is_not_supported_is_refused_before_any_job_runs() {
    let d = TempDir::new("refused");
    let marker = d.s("ran");
    let touch = format!("touch {marker}");
    let missing = d.s("missing");
    for (args, says) in [
        (vec!["echo", "{= s/a/b/ =}", ":::", "a"], "{= s/a/b/ =}"),
        (vec!["--csv", &touch, ":::", "a"], "--csv is not supported"),
        (
            vec!["-N2", &touch, ":::", "a", ":::", "b"],
            "-N takes one input source",
        ),
        (
            vec!["-X", "--colsep", ",", &touch, ":::", "a"],
            "cannot be combined with --colsep",
        ),
        (
            vec!["--colsep", "(", &touch, ":::", "a"],
            "not a valid regular expression",
        ),
        (vec!["--header", "x", &touch, ":::", "a"], "--header"),
        (vec!["--env", "_", &touch, ":::", "a"], "--env _"),
        (
            vec!["--env", "1x", &touch, ":::", "a"],
            "not a variable name",
        ),
        (
            vec!["--workdir", "...", &touch, ":::", "a"],
            "--workdir ...",
        ),
        (vec!["--workdir", &missing, &touch, ":::", "a"], "--workdir"),
        (vec!["--tmpdir", &missing, &touch, ":::", "a"], "--tmpdir"),
        (vec!["-s", "0", &touch, ":::", "a"], "-s"),
        (
            vec!["-m", "-N", "2", &touch, ":::", "a"],
            "cannot be used with",
        ),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(255), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
        assert!(!d.path("ran").exists(), "{args:?} ran a job");
    }
}
