//! The `threadkit` binary, flag by flag: inputs, replacement strings, quoting, output modes,
//! timeouts, retries, halting, logs, the journal, progress, dry runs, exit codes, Ctrl-C.

mod common;

use std::process::Stdio;
use std::time::Duration;

use common::*;

#[test]
fn help_prints_usage_and_exits_zero() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    assert!(
        stdout(&out).contains("Usage: threadkit"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn args_source_runs_each_input_in_order_with_keep_order() {
    let out = run(&["-k", "-j3", "echo", "item", ":::", "a", "b", "c", "d"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "item a\nitem b\nitem c\nitem d\n");
}

#[test]
fn without_keep_order_every_output_is_there() {
    let args: Vec<String> = (0..40).map(|i| i.to_string()).collect();
    let mut a = vec!["-j4", "echo", ":::"];
    a.extend(args.iter().map(String::as_str));
    let out = run(&a);
    let mut want = args.clone();
    want.sort();
    assert_eq!(sorted(&stdout(&out)), want);
}

#[test]
fn sources_combine_as_a_product_and_pair_with_link() {
    let out = run(&["-k", "echo", ":::", "a", "b", ":::", "1", "2"]);
    assert_eq!(stdout(&out), "a 1\na 2\nb 1\nb 2\n");
    let out = run(&[
        "-k", "--link", "echo", ":::", "a", "b", "c", ":::", "1", "2",
    ]);
    assert_eq!(stdout(&out), "a 1\nb 2\nc 1\n");
}

#[test]
fn file_sources_stdin_and_null_separated_input() {
    let d = TempDir::new("files");
    std::fs::write(d.path("in"), "x\ny z\n").unwrap();
    let out = run(&["-k", "echo", "f", "::::", &d.s("in")]);
    assert_eq!(stdout(&out), "f x\nf y z\n");
    let out = run(&["-k", "-a", &d.s("in"), "echo", "a"]);
    assert_eq!(stdout(&out), "a x\na y z\n");
    let out = run_with_stdin(&["-k", "echo", "s"], b"1\n2\n3");
    assert_eq!(stdout(&out), "s 1\ns 2\ns 3\n");
    let out = run_with_stdin(&["-k", "-0", "printf", "[%s]"], b"a\nb\0c d\0");
    assert_eq!(stdout(&out), "[a\nb][c d]");
    let out = run_with_stdin(&["-k", "-d", ",", "echo"], b"p,q");
    assert_eq!(stdout(&out), "p\nq\n");
}

#[test]
fn replacement_strings() {
    let out = run(&[
        "-k",
        "echo",
        "{},{.},{/},{//},{/.},{#}",
        ":::",
        "dir/sub/file.tar.gz",
        "plain",
    ]);
    assert_eq!(stdout(&out), "dir/sub/file.tar.gz,dir/sub/file.tar,file.tar.gz,dir/sub,file.tar,1\nplain,plain,plain,.,plain,2\n");
    let out = run(&[
        "-k", "echo", "{2}-{1}", "{1.}", "{2/}", ":::", "a.x", ":::", "p/q",
    ]);
    assert_eq!(stdout(&out), "p/q-a.x a q\n");
    let out = run(&["-j2", "echo", "{%}", ":::", "a", "b", "c", "d", "e", "f"]);
    for slot in stdout(&out).lines() {
        assert!(slot == "1" || slot == "2", "slot {slot}");
    }
    let out = run(&["echo", "{3}", ":::", "a"]);
    assert_eq!(out.status.code(), Some(255));
}

#[test]
fn hostile_inputs_stay_one_argument_and_never_run() {
    let d = TempDir::new("hostile");
    let pwned = d.s("PWNED");
    let hostile = [
        format!("a b; touch {pwned}"),
        format!("$(touch {pwned})"),
        format!("`touch {pwned}`"),
        format!("'; touch {pwned}; '"),
        format!("\"; touch {pwned}; \""),
        format!("x\ntouch {pwned}"),
        format!("| touch {pwned}"),
        "*".to_string(),
        "~".to_string(),
        "".to_string(),
        "-n".to_string(),
        "\\".to_string(),
    ];
    // Both the direct-exec path and the shell path (a pipe forces the shell).
    // Direct exec (-q: argv as given), the shell with the input appended, the shell with a pipe.
    for cmd in [
        vec!["-q", "printf", "<%s>\\n"],
        vec!["printf '<%s>\\n'"],
        vec!["printf '<%s>\\n' {} | cat"],
    ] {
        let mut args = vec!["-k"];
        args.extend(cmd.iter().copied());
        args.push(":::");
        args.extend(hostile.iter().map(String::as_str));
        let out = run(&args);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let want: String = hostile.iter().map(|h| format!("<{h}>\n")).collect();
        assert_eq!(stdout(&out), want);
        assert!(!d.path("PWNED").exists(), "an input was run as code");
    }
    // From stdin, too.
    let out = run_with_stdin(
        &["-k", "printf '<%s>\\n'"],
        format!("$(touch {pwned})\n; touch {pwned}\n").as_bytes(),
    );
    assert_eq!(
        stdout(&out),
        format!("<$(touch {pwned})>\n<; touch {pwned}>\n")
    );
    assert!(!d.path("PWNED").exists());
}

#[test]
fn replacement_strings_inside_quotes_are_not_protected() {
    // docs/cli.md warns about this (GNU parallel does the same) and shows the right way; each
    // command of its example behaves as the docs say.
    let docs = include_str!("../../../docs/cli.md");
    assert!(
        docs.contains("Never put a replacement string inside quotes in the command"),
        "docs/cli.md lost its warning about quoted replacement strings"
    );
    let d = TempDir::new("quoted-repl");
    let cases = [
        ("echo \"{}\"", "$(touch pwned)", true),
        ("echo 'got {}'", "; touch pwned #", true),
        ("echo {}", "$(touch pwned)", false),
        ("echo \"got: \"{}", "$(touch pwned)", false),
    ];
    for (cmd, input, runs) in cases {
        assert!(
            docs.contains(&format!("threadkit '{cmd}'"))
                || docs.contains(&format!("threadkit \"{cmd}\"")),
            "{cmd} not in docs/cli.md"
        );
        let out = threadkit()
            .current_dir(&d.0)
            .args([cmd, ":::", input])
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}: {}", stderr(&out));
        let pwned = d.path("pwned");
        assert_eq!(pwned.exists(), runs, "{cmd} with input {input:?}");
        let _ = std::fs::remove_file(pwned);
        if !runs {
            assert!(
                stdout(&out).ends_with(&format!("{input}\n")),
                "{cmd}: {}",
                stdout(&out)
            );
        }
    }
}

#[test]
fn empty_command_runs_each_input_as_a_command() {
    let out = run(&["-k", ":::", "echo a; echo b", "echo c"]);
    assert_eq!(stdout(&out), "a\nb\nc\n");
}

#[test]
fn jobs_forms_are_accepted_and_bad_ones_refused() {
    for j in ["1", "0", "50%", "+1", "-1", "200%"] {
        let out = run(&[&format!("--jobs={j}"), "-k", "echo", ":::", "a", "b"]);
        assert_eq!(stdout(&out), "a\nb\n", "-j {j}");
    }
    // `-N` as a separate word (documented as `-j -1`) and glued to the flag.
    for form in [
        &["-j", "-1"][..],
        &["-j-1"],
        &["--jobs", "-1"],
        &["-j", "+1"],
    ] {
        let mut a = form.to_vec();
        a.extend(["-k", "echo", ":::", "a", "b"]);
        let out = run(&a);
        assert_eq!(out.status.code(), Some(0), "{form:?}: {}", stderr(&out));
        assert_eq!(stdout(&out), "a\nb\n", "{form:?}");
    }
    let out = run(&["-j", "x", "echo", ":::", "a"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(stderr(&out).contains("invalid -j"), "{}", stderr(&out));
}

#[test]
fn jobs_limit_concurrency() {
    // Each job creates a marker, counts the markers present, then removes its own.
    let d = TempDir::new("conc");
    let dir = d.s("");
    let script = format!("touch {dir}/$$; ls {dir} | wc -l; sleep 0.05; rm {dir}/$$");
    let items: Vec<String> = (0..12).map(|i| i.to_string()).collect();
    let mut args = vec!["-j2", &script, ":::"];
    args.extend(items.iter().map(String::as_str));
    let out = run(&args);
    let max = stdout(&out)
        .lines()
        .map(|l| l.trim().parse::<u32>().unwrap())
        .max()
        .unwrap();
    assert!(max <= 2, "more than 2 jobs at once: {max}");
}

#[test]
fn grouped_output_is_never_interleaved() {
    let script = "for i in $(seq 1 300); do printf '%s %s\\n' {} $i; done";
    let out = run(&["-j4", script, ":::", "A", "B", "C", "D"]);
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1200);
    for block in lines.chunks(300) {
        let job = block[0].split(' ').next().unwrap();
        for (i, l) in block.iter().enumerate() {
            assert_eq!(*l, format!("{job} {}", i + 1));
        }
    }
}

#[test]
fn line_buffer_prints_lines_while_the_job_runs() {
    use std::io::{BufRead, BufReader, Write};
    let d = TempDir::new("lb");
    let fifo = d.path("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let script = format!(
        "echo first; read x < {}; echo second $x # {{}}",
        fifo.display()
    );
    let mut child = threadkit()
        .args(["--line-buffer", "--tag", &script, ":::", "J"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "J\tfirst\n"); // printed while the job still waits on the FIFO
    std::fs::OpenOptions::new()
        .write(true)
        .open(&fifo)
        .unwrap()
        .write_all(b"go\n")
        .unwrap();
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "J\tsecond go\n");
    assert!(child.wait().unwrap().success());
}

#[test]
fn tag_prefixes_each_line_with_the_inputs() {
    let out = run(&[
        "-k",
        "--tag",
        "echo x; echo y; : {}",
        ":::",
        "a",
        "b",
        ":::",
        "1",
    ]);
    assert_eq!(stdout(&out), "a 1\tx\na 1\ty\nb 1\tx\nb 1\ty\n");
}

#[test]
fn timeout_kills_the_whole_process_group() {
    let d = TempDir::new("timeout");
    let pidfile = d.s("pid");
    // The job starts a grandchild and waits: both must die.
    let script = format!("sleep 30 & echo $! > {pidfile}; wait # {{}}");
    let out = run_promptly(&[
        "--timeout",
        "0.3",
        "--joblog",
        &d.s("log"),
        &script,
        ":::",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let pid = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .to_string();
    // Gone, or a zombie waiting for init to reap it.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let alive = status
        .lines()
        .any(|l| l.starts_with("State:") && !l.contains('Z'));
    assert!(!alive, "grandchild {pid} survived the timeout: {status}");
    let log = lines(&d.path("log"));
    let cols: Vec<&str> = log[1].split('\t').collect();
    assert_eq!((cols[6], cols[7]), ("-1", "15"));
}

#[test]
fn timeout_sends_kill_after_the_grace_period() {
    let out = run_promptly(&[
        "--timeout",
        "0.2",
        "--term-grace",
        "0.2",
        "trap '' TERM; sleep 30",
        ":::",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn timeout_zero_means_no_timeout() {
    // GNU parallel's `--timeout 0` is "no timeout". The job outlives a zero deadline by far
    // (it sleeps), so a zero deadline kills it; no timing assumption either way.
    for t in ["0", "0s", "0.0"] {
        let out = run(&["--timeout", t, "sleep 0.3; echo ok # {}", ":::", "x"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "--timeout {t}: {}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "ok\n", "--timeout {t}");
    }
}

#[test]
fn retries_run_a_failing_job_n_times_and_stop_at_success() {
    let d = TempDir::new("retries");
    let runs = d.s("runs");
    let out = run(&[
        "--retries",
        "3",
        &format!("echo {{}} >> {runs}; false"),
        ":::",
        "a",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&d.path("runs")), ["a", "a", "a"]);
    // Fails twice, then succeeds.
    let flaky = format!("echo x >> {runs}2; test $(wc -l < {runs}2) -ge 3 # {{}}");
    let out = run(&["--retries", "5", &flaky, ":::", "a"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lines(&d.path("runs2")).len(), 3);
}

#[test]
fn halt_soon_fail_starts_no_more_jobs() {
    let d = TempDir::new("halt");
    let runs = d.s("runs");
    let out = run(&[
        "-j1",
        "--halt",
        "soon,fail=1",
        &format!("echo {{}} >> {runs}; exit {{}}"),
        ":::",
        "0",
        "3",
        "0",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(3)); // GNU parallel: fail=1 exits with the job's code
    assert_eq!(lines(&d.path("runs")), ["0", "3"]);
    assert!(stderr(&out).contains("halting"), "{}", stderr(&out));
}

#[test]
fn halt_soon_fail_exits_with_the_code_of_the_job_that_triggered_it() {
    // Four jobs run at once (each waits until all four have started). Job `3` fails first; the
    // others fail only after threadkit has logged job 3 (its joblog line), so they finish after
    // the halt was triggered. The exit code is 3, the trigger's (GNU parallel: 3), not the code
    // of whichever failure came last.
    let d = TempDir::new("halt-trigger");
    std::fs::create_dir(d.path("started")).unwrap();
    let (started, log) = (d.s("started"), d.s("log"));
    let script = format!(
        "touch {started}/{{}}; until [ $(ls {started} | wc -l) -ge 4 ]; do sleep 0.01; done; \
         if [ {{}} = 3 ]; then exit 3; fi; \
         until [ $(wc -l < {log}) -ge 2 ]; do sleep 0.01; done; exit {{}}"
    );
    let out = run(&[
        "-j4",
        "--halt",
        "soon,fail=1",
        "--joblog",
        &log,
        &script,
        ":::",
        "3",
        "5",
        "7",
        "9",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(
        lines(&d.path("log")).len(),
        5,
        "every started job is logged"
    );
}

#[test]
fn halt_values_are_checked_in_the_cli_vocabulary() {
    // Refused before any job starts: exit 255; the message.
    let refused = |value: &str| {
        let out = run(&["--halt", value, "true", ":::", "a"]);
        assert_eq!(out.status.code(), Some(255), "--halt {value}");
        stderr(&out)
    };
    for zero in [
        "soon,fail=0",
        "now,success=0",
        "soon,done=0",
        "soon,fail=0%",
        "now,done=0%",
    ] {
        let err = refused(zero);
        assert!(
            err.contains(&format!("--halt {zero}")) && err.contains("--halt never"),
            "--halt {zero}: {err}"
        );
    }
    for bad in [
        "soon,fail=abc",
        "later,fail=1",
        "soon,boom=1",
        "soon",
        "soon,fail=101%",
    ] {
        let err = refused(bad);
        assert!(
            err.contains(&format!("invalid --halt {bad:?}")),
            "--halt {bad}: {err}"
        );
        // The library's parser speaks of `all` / `fast` failure policies: not CLI words.
        assert!(
            !err.contains("failure policy") && !err.contains("`fast`"),
            "{err}"
        );
    }
}

#[test]
fn halt_now_fail_kills_running_jobs() {
    let out = run_promptly(&[
        "-j2",
        "--halt",
        "now,fail=1",
        "--term-grace",
        "0.5",
        ":::",
        "sleep 30",
        "sleep 0.2; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4));
}

#[test]
fn halt_success_stops_with_exit_zero() {
    let d = TempDir::new("halts");
    let runs = d.s("runs");
    let out = run(&[
        "-j1",
        "--halt",
        "soon,success=1",
        &format!("echo {{}} >> {runs}; exit {{}}"),
        ":::",
        "1",
        "0",
        "1",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lines(&d.path("runs")), ["1", "0"]);
    let out = run_promptly(&["-j2", "--halt", "now,success=1", ":::", "sleep 30", "true"]);
    assert_eq!(out.status.code(), Some(0));
    // The shorthand `-1` (soon,success=1) as a separate word.
    let out = run(&["-j1", "--halt", "-1", "exit {}", ":::", "1", "0", "1"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run(&["--halt", "bogus", "true", ":::", "a"]);
    assert_eq!(out.status.code(), Some(255));
}

#[test]
fn halt_done_counts_finished_jobs() {
    let d = TempDir::new("haltd");
    let runs = d.s("runs");
    let out = run(&[
        "-j1",
        "--halt",
        "soon,done=2",
        &format!("echo {{}} >> {runs}; exit {{}}"),
        ":::",
        "1",
        "0",
        "0",
        "0",
    ]);
    assert_eq!(lines(&d.path("runs")), ["1", "0"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn delay_spaces_job_starts() {
    let (out, took) = run_timed(&["-j3", "--delay", "0.15", "true", ":::", "a", "b", "c"]);
    assert!(out.status.success());
    assert!(took >= Duration::from_millis(300), "{took:?}");
}

/// `{%}` is the batch runner's slot: from 1 to `-j`, never held by two running jobs at once
/// (each job takes its slot's directory with `mkdir`, which fails if it exists, and gives it
/// back when it ends).
#[test]
fn running_jobs_never_share_a_slot() {
    let d = TempDir::new("slots");
    let dir = d.s("taken");
    std::fs::create_dir(&dir).unwrap();
    let job = format!(
        "test {{%}} -ge 1 && test {{%}} -le 3 && mkdir {dir}/{{%}} || exit 9; \
         sleep 0.02; rmdir {dir}/{{%}}"
    );
    let mut args = vec!["-j3", job.as_str(), ":::"];
    let inputs: Vec<String> = (0..30).map(|i| i.to_string()).collect();
    args.extend(inputs.iter().map(String::as_str));
    let out = run(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn joblog_is_gnu_parallels_format() {
    let d = TempDir::new("joblog");
    let out = run(&[
        "-k",
        "--joblog",
        &d.s("log"),
        "echo {}; exit {}",
        ":::",
        "0",
        "3",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let log = lines(&d.path("log"));
    assert_eq!(
        log[0],
        "Seq\tHost\tStarttime\tJobRuntime\tSend\tReceive\tExitval\tSignal\tCommand"
    );
    assert_eq!(log.len(), 3);
    let mut rows: Vec<Vec<&str>> = log[1..].iter().map(|l| l.split('\t').collect()).collect();
    rows.sort_by_key(|r| r[0].to_string());
    for (r, (seq, exit)) in rows.iter().zip([("1", "0"), ("2", "3")]) {
        assert_eq!(r.len(), 9);
        assert_eq!(
            (r[0], r[1], r[4], r[5], r[6], r[7]),
            (seq, ":", "0", "2", exit, "0")
        );
        assert!(r[2].trim().parse::<f64>().unwrap() > 1.6e9);
        assert!(r[3].trim().parse::<f64>().unwrap() >= 0.0);
        assert_eq!(r[8], format!("echo {exit}; exit {exit}"));
    }
}

#[test]
fn results_writes_one_json_object_per_job() {
    let d = TempDir::new("results");
    let out = run(&[
        "--results",
        &d.s("r.jsonl"),
        "echo out {}; echo err >&2; exit {}",
        ":::",
        "0",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let mut recs: Vec<serde_json::Value> = lines(&d.path("r.jsonl"))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    recs.sort_by_key(|r| r["seq"].as_u64());
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1]["input"], serde_json::json!(["2"]));
    assert_eq!(recs[1]["command"], "echo out 2; echo err >&2; exit 2");
    assert_eq!(recs[1]["exit_code"], 2);
    assert_eq!(recs[1]["signal"], serde_json::Value::Null);
    assert_eq!(recs[1]["stdout"], "out 2\n");
    assert_eq!(recs[1]["stderr"], "err\n");
    assert!(recs[0]["duration_s"].as_f64().unwrap() >= 0.0);
}

#[test]
fn journal_resume_skips_finished_jobs_matched_by_input() {
    let d = TempDir::new("journal");
    let (j, runs) = (d.s("j.db"), d.s("runs"));
    let cmd = format!("echo {{}} >> {runs}; test {{}} != bad");
    let out = run(&["--journal", &j, &cmd, ":::", "a", "bad", "c"]);
    assert_eq!(out.status.code(), Some(1));
    // Without --resume an existing journal is refused, nothing runs.
    let out = run(&["--journal", &j, &cmd, ":::", "a", "bad", "c"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(stderr(&out).contains("--resume"), "{}", stderr(&out));
    // --resume: nothing left but the new input, inserted first (sequence numbers all shift:
    // matching is by input, not by position).
    let out = run(&[
        "--journal",
        &j,
        "--resume",
        &cmd,
        ":::",
        "new",
        "a",
        "bad",
        "c",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut got = lines(&d.path("runs"));
    got.sort();
    assert_eq!(got, ["a", "bad", "c", "new"]);
    // --resume-failed: only the failed one runs again.
    let out = run(&[
        "--journal",
        &j,
        "--resume-failed",
        &cmd,
        ":::",
        "new",
        "a",
        "bad",
        "c",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let mut got = lines(&d.path("runs"));
    got.sort();
    assert_eq!(got, ["a", "bad", "bad", "c", "new"]);
    // Another command with this journal is refused.
    let out = run(&["--journal", &j, "--resume", "true", ":::", "a"]);
    assert_eq!(out.status.code(), Some(255));
    // --resume needs --journal.
    assert_eq!(
        run(&["--resume", "true", ":::", "a"]).status.code(),
        Some(255)
    );
}

#[test]
fn journal_keeps_repeated_inputs_apart() {
    let d = TempDir::new("journal-dup");
    let (j, runs) = (d.s("j.db"), d.s("runs"));
    let cmd = format!("echo {{}} >> {runs}");
    run(&["--journal", &j, &cmd, ":::", "x", "x"]);
    run(&["--journal", &j, "--resume", &cmd, ":::", "x", "x", "x"]);
    assert_eq!(lines(&d.path("runs")), ["x", "x", "x"]);
}

#[test]
fn progress_bar_and_eta_leave_stdout_alone() {
    for flag in ["--bar", "--eta"] {
        let out = run(&[flag, "-k", "echo", ":::", "a", "b"]);
        assert_eq!(stdout(&out), "a\nb\n");
        assert!(out.status.success());
    }
}

#[test]
fn dry_run_prints_commands_and_runs_nothing() {
    let d = TempDir::new("dry");
    let f = d.s("made");
    let out = run(&["--dry-run", "touch", &f, "{}", ":::", "a b", "c"]);
    assert_eq!(stdout(&out), format!("touch {f} 'a b'\ntouch {f} c\n"));
    assert!(!d.path("made").exists());
}

#[test]
fn exit_codes_count_failed_jobs() {
    assert_eq!(run(&["exit {}", ":::", "0", "0"]).status.code(), Some(0));
    assert_eq!(
        run(&["exit {}", ":::", "0", "1", "7", "0"]).status.code(),
        Some(2)
    );
    let many: Vec<String> = (0..150).map(|i| i.to_string()).collect();
    let mut args = vec!["-j4", "false", ":::"];
    args.extend(many.iter().map(String::as_str));
    assert_eq!(run(&args).status.code(), Some(101));
    args.truncate(3);
    args.extend(many[..100].iter().map(String::as_str));
    assert_eq!(run(&args).status.code(), Some(100));
    // A missing program is a failed job (127 from the shell's point of view), not an error.
    assert_eq!(
        run(&["no-such-program-xyz", ":::", "a"]).status.code(),
        Some(1)
    );
}

#[test]
fn errors_before_start_exit_255_and_start_nothing() {
    let d = TempDir::new("err");
    let f = d.s("made");
    let cases: Vec<Vec<String>> = vec![
        vec!["--no-such-flag".into()],
        vec!["--timeout".into(), "soon".into()],
        vec!["-a".into(), d.s("missing")],
        vec!["::::".into(), d.s("missing")],
        vec!["--halt".into(), "later".into()],
        vec!["-d".into(), "ab".into()],
    ];
    for extra in cases {
        let mut args: Vec<String> = Vec::new();
        let tail: Vec<String> = vec!["touch".into(), f.clone(), ":::".into(), "x".into()];
        if extra[0] == "::::" {
            args.extend(tail[..2].iter().cloned());
            args.extend(extra.iter().cloned());
        } else {
            args.extend(extra.iter().cloned());
            args.extend(tail);
        }
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(&a);
        assert_eq!(out.status.code(), Some(255), "{args:?}: {}", stderr(&out));
        assert!(!stderr(&out).is_empty());
        assert!(!d.path("made").exists(), "{args:?} started a job");
    }
}

#[test]
fn an_input_that_cannot_be_read_is_an_error_during_the_run() {
    // /proc/self/mem opens, but reading it at offset 0 fails (EIO): the error comes from the
    // streamed first source while the run is under way, not when the sources are opened.
    let d = TempDir::new("read-error");
    let made = d.s("made");
    for extra in [&[][..], &[":::", "a", "b"][..]] {
        let mut args = vec!["touch", &made, "::::", "/proc/self/mem"];
        args.extend(extra);
        let out = run(&args);
        assert_eq!(out.status.code(), Some(255), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("reading input from /proc/self/mem"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!d.path("made").exists(), "{args:?} started a job");
    }
    let out = run(&["--dry-run", "echo", "::::", "/proc/self/mem"]);
    assert_eq!(out.status.code(), Some(255));
    assert!(stderr(&out).contains("reading input from /proc/self/mem"));
}

#[test]
fn ctrl_c_terms_running_jobs_then_a_second_kills() {
    let d = TempDir::new("ctrlc");
    let dir = d.s("");
    // Jobs note that they started, and note TERM when they get it.
    let script = format!(
        "trap 'echo {{}} >> {dir}/termed; exit 1' TERM; touch {dir}/started.{{}}; sleep 30 & wait"
    );
    let mut child = threadkit()
        .args([
            "-j2",
            "--joblog",
            &d.s("log"),
            &script,
            ":::",
            "1",
            "2",
            "3",
            "4",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("two jobs to start", || {
        d.path("started.1").exists() && d.path("started.2").exists()
    });
    let pid = child.id().to_string();
    kill("-INT", &pid);
    let status = wait_bounded(&mut child, PROMPTLY);
    assert_eq!(status.code(), Some(130));
    let mut termed = lines(&d.path("termed"));
    termed.sort();
    assert_eq!(termed, ["1", "2"]);
    assert!(!d.path("started.3").exists(), "a job started after Ctrl-C");
    // Recorded in the joblog.
    assert_eq!(lines(&d.path("log")).len(), 3);

    // Jobs that ignore TERM: the second Ctrl-C kills them.
    let script = format!("trap '' TERM; touch {dir}/s2.{{}}; sleep 30");
    let mut child = threadkit()
        .args(["-j2", "--term-grace", "60", &script, ":::", "1", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("two jobs to start", || {
        d.path("s2.1").exists() && d.path("s2.2").exists()
    });
    let pid = child.id().to_string();
    kill("-INT", &pid);
    // Signals do not queue: send the second once the first was handled.
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut err, &mut line).unwrap();
    assert!(line.contains("interrupted"), "{line}");
    kill("-INT", &pid);
    let status = wait_bounded(&mut child, PROMPTLY);
    assert_eq!(status.code(), Some(130));
}

#[test]
fn trace_prints_each_command_on_stderr_and_will_cite_is_accepted() {
    let out = run(&["--will-cite", "-t", "-k", "echo", ":::", "a b"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "a b\n");
    assert_eq!(stderr(&out), "echo 'a b'\n");
}

#[test]
fn keep_order_holds_back_fast_jobs_behind_slow_ones() {
    // Each job waits until the test releases it (a file named after its input), so the test
    // decides the order the jobs finish in: c, then b, then a (the reverse of the input).
    // Without -k each output shows as its job ends; with -k, in input order.
    for (keep, expect) in [(false, ["c", "b", "a"]), (true, ["a", "b", "c"])] {
        let d = TempDir::new("order");
        let cmd = format!(
            "while [ ! -e {dir}/{{}} ]; do sleep 0.01; done; echo {{}}",
            dir = d.s("")
        );
        let mut args = vec!["-j3", cmd.as_str(), ":::", "a", "b", "c"];
        if keep {
            args.insert(0, "-k");
        }
        let mut child = threadkit()
            .args(&args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines =
            std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
        let mut seen = Vec::new();
        for (k, release) in ["c", "b", "a"].into_iter().enumerate() {
            std::fs::write(d.path(release), b"").unwrap();
            if !keep {
                // The released job's line comes before the next job is released.
                seen.push(lines.next().unwrap().unwrap());
                assert_eq!(seen[k], release, "without -k, output as each job ends");
            }
        }
        seen.extend(lines.map(Result::unwrap));
        assert!(wait_bounded(&mut child, PROMPTLY).success());
        assert_eq!(seen, expect, "keep order: {keep}");
    }
}
