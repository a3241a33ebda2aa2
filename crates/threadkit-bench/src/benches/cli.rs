//! The `threadkit` command against `xargs`, GNU parallel and rust-parallel.
//!
//! * `cli_true_5000`: 5,000 `true` jobs, 2 at a time: `threadkit -j2 true :::: FILE` vs
//!   `xargs -P2 -n1 true < FILE` (target ratio <= 1.1), `parallel --will-cite -j2 true ::::
//!   FILE` (target <= 0.35) and `rust-parallel -j 2 true < FILE` (one job per stdin line;
//!   target <= 0.8).
//! * `journal_overhead`: the same 5,000 `true` jobs with `--journal` (each job's start and
//!   outcome committed to the SQLite journal before it counts) over the same without (target
//!   ratio <= 1.05).
//! * `cli_memory_1m`: 1M stdin lines through `threadkit --dry-run echo {}`; prints the peak RSS
//!   as `"peak_mib"` (target <= 64) in its own JSON line, and times it against `xargs -n1000
//!   echo` reading the same lines.
//! * `cli_big_output`: 4 jobs writing 1 GiB each (128 MiB under `--quick`), `threadkit -j4
//!   'head -c N /dev/zero' ::: 1 2 3 4` against GNU parallel; prints the peak RSS of both as
//!   `"peak_mib"` / `"peer_peak_mib"` (target <= 64) in its own JSON line.
//! * `cli_keep_order`: `threadkit -k -j4 'sleep {}' ::: 4 and 24 x 0.5` (a slow first job;
//!   1 and 0.125 under `--quick`) against the same without `-k` (target ratio <= 1.1), and
//!   against GNU parallel `-k`.
//! * `cli_pack`: 100,000 short arguments from stdin, `threadkit -X -j2 echo` (as many per
//!   command line as fit) against `xargs -P2 echo` (its default packing; target ratio <= 1.1).
//! * `cli_pipe`: 1 GiB of lines (256 MiB under `--quick`) through `threadkit --pipe --block
//!   10M wc -l` against GNU parallel's `--pipe` (target ratio <= 0.5), and `threadkit
//!   --pipe-part --block 10M -a FILE wc -l` against GNU's `--pipe-part` (target <= 1.0); both
//!   print the peak RSS as `"peak_mib"` (target <= 64) in their own JSON line.
//!
//! The `threadkit` binary is looked for next to this one (`target/release/threadkit`) and built
//! with `cargo build --release -p threadkit-cli` when missing. Peers that are not installed are
//! reported as skipped, with the reason. A bench machine gets them with `apt-get install
//! parallel` (GNU parallel; `xargs` comes with GNU findutils) and `cargo install rust-parallel`
//! (the tokio-based GNU parallel replacement, installed into `~/.cargo/bin`, which must be on
//! `PATH`).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use super::Bench;
use crate::harness::{compare, Ctx, Line, Peer};

pub(super) fn benches() -> Vec<Bench> {
    vec![
        Bench {
            name: "cli_true_5000",
            about: "threadkit -j2 true over 5,000 inputs vs xargs -P2 -n1, GNU parallel -j2 and \
                    rust-parallel -j 2",
            run: cli_true_5000,
        },
        Bench {
            name: "journal_overhead",
            about: "threadkit -j2 true over 5,000 inputs with --journal vs without",
            run: journal_overhead,
        },
        Bench {
            name: "cli_memory_1m",
            about: "threadkit --dry-run over 1M stdin lines: peak RSS (peak_mib) and time vs xargs",
            run: cli_memory_1m,
        },
        Bench {
            name: "cli_big_output",
            about: "4 jobs writing 1 GiB each: peak RSS (peak_mib) and time vs GNU parallel",
            run: cli_big_output,
        },
        Bench {
            name: "cli_pack",
            about: "threadkit -X -j2 echo over 100,000 stdin arguments vs xargs -P2 echo",
            run: cli_pack,
        },
        Bench {
            name: "cli_pipe",
            about:
                "1 GiB of lines through --pipe / --pipe-part --block 10M wc -l vs GNU parallel's",
            run: cli_pipe,
        },
        Bench {
            name: "cli_keep_order",
            about: "-k -j4 with a slow first job, over the same without -k (and GNU parallel -k)",
            run: cli_keep_order,
        },
    ]
}

/// The `threadkit` binary, built if needed.
pub(super) fn threadkit_bin() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let bin = me.with_file_name("threadkit");
    if bin.exists() {
        return Ok(bin);
    }
    let target_dir = me
        .parent()
        .and_then(|p| p.parent())
        .ok_or("no target dir")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "threadkit-cli",
            "--target-dir",
        ])
        .arg(target_dir)
        .status()
        .map_err(|e| format!("cannot build threadkit-cli: {e}"))?;
    if !status.success() || !bin.exists() {
        return Err(format!("cannot build threadkit-cli ({status})"));
    }
    Ok(bin)
}

/// Seconds one run of `cmd` takes; an error when it cannot start or fails.
pub(super) fn timed(mut cmd: Command) -> Result<f64, String> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let t0 = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    let s = t0.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("{:?} failed: {status}", cmd.get_program()));
    }
    Ok(s)
}

/// Seconds one run of `cmd` takes with the file `input` as its stdin; an error when it cannot
/// start or fails.
fn timed_reading(mut cmd: Command, input: &std::path::Path) -> Result<f64, String> {
    let f = std::fs::File::open(input).map_err(|e| e.to_string())?;
    cmd.stdout(Stdio::null()).stderr(Stdio::null()).stdin(f);
    let t0 = Instant::now();
    let st = cmd
        .status()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    st.success()
        .then(|| t0.elapsed().as_secs_f64())
        .ok_or_else(|| format!("{:?} failed: {st}", cmd.get_program()))
}

/// 100,000 short arguments packed into as few `echo` command lines as fit, 2 at a time:
/// `threadkit -X -j2 echo` against `xargs -P2 echo`, both reading them from stdin.
fn cli_pack(ctx: &Ctx) -> Vec<Line> {
    let n = 100_000u64;
    let (bin, dir) = match bin_and_inputs("cli_pack", n, &["xargs"]) {
        Ok(found) => found,
        Err(skipped) => return skipped,
    };
    let inputs = dir.join("inputs");
    let ours = || {
        let mut c = Command::new(&bin);
        c.args(["-X", "-j2", "echo"]);
        timed_reading(c, &inputs).expect("threadkit run failed");
    };
    let xargs = || -> Result<f64, String> {
        have("xargs", "GNU findutils")?;
        let mut c = Command::new("xargs");
        c.args(["-P2", "echo"]);
        timed_reading(c, &inputs)
    };
    let lines = compare(
        ctx,
        "cli_pack",
        n,
        ours,
        vec![Peer::Timed("xargs", Box::new(xargs))],
    );
    let _ = std::fs::remove_dir_all(&dir);
    lines
}

pub(super) fn have(program: &str, version_marker: &str) -> Result<(), String> {
    match Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(o) if String::from_utf8_lossy(&o.stdout).contains(version_marker) => Ok(()),
        Ok(_) => Err(format!("`{program}` here is not {version_marker}")),
        Err(e) => Err(format!("`{program}` not installed ({e})")),
    }
}

/// The `threadkit` binary, and a scratch directory holding `inputs`: the numbers below `n`, one
/// a line; or, when either cannot be had, a skipped line for each of `peers`.
fn bin_and_inputs(bench: &str, n: u64, peers: &[&str]) -> Result<(PathBuf, PathBuf), Vec<Line>> {
    let dir = std::env::temp_dir().join(format!("threadkit-bench-{bench}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let text: String = (0..n).map(|i| format!("{i}\n")).collect();
    threadkit_bin()
        .and_then(|b| {
            std::fs::write(dir.join("inputs"), text)
                .map(|()| (b, dir))
                .map_err(|e| e.to_string())
        })
        .map_err(|why| skipped(bench, peers, &why))
}

fn cli_true_5000(ctx: &Ctx) -> Vec<Line> {
    let n = 5_000u64;
    let peers = ["xargs", "gnu-parallel", "rust-parallel"];
    let (bin, dir) = match bin_and_inputs("cli_true_5000", n, &peers) {
        Ok(found) => found,
        Err(skipped) => return skipped,
    };
    let inputs = dir.join("inputs");
    let ours = || {
        let mut c = Command::new(&bin);
        c.args(["-j2", "true", "::::"]).arg(&inputs);
        timed(c).expect("threadkit run failed");
    };
    let xargs = || -> Result<f64, String> {
        have("xargs", "GNU findutils")?;
        let mut c = Command::new("xargs");
        c.args(["-P2", "-n1", "true"]);
        timed_reading(c, &inputs)
    };
    let quick = ctx.quick;
    let gnu = || -> Result<f64, String> {
        have("parallel", "GNU parallel")?;
        if quick {
            // About 45 s a round on 2 cores: too long for --quick.
            return Err(
                "skipped under --quick (GNU parallel takes ~45 s for 5,000 jobs here)".into(),
            );
        }
        let mut c = Command::new("parallel");
        c.args(["--will-cite", "-j2", "true", "::::"]).arg(&inputs);
        timed(c)
    };
    let rust_parallel = || rust_parallel_true("rust-parallel", &inputs);
    let lines = compare(
        ctx,
        "cli_true_5000",
        n,
        ours,
        vec![
            Peer::Timed(peers[0], Box::new(xargs)),
            Peer::Timed(peers[1], Box::new(gnu)),
            Peer::Timed(peers[2], Box::new(rust_parallel)),
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
    lines
}

/// Seconds `program -j 2 true` (rust-parallel) takes with the lines of `inputs` on stdin (one
/// `true LINE` each), or why it cannot run here.
fn rust_parallel_true(program: &str, inputs: &std::path::Path) -> Result<f64, String> {
    have(program, "rust-parallel")
        .map_err(|why| format!("{why}; `cargo install rust-parallel` installs it"))?;
    let mut c = Command::new(program);
    c.args(["-j", "2", "true"]);
    timed_reading(c, inputs)
}

/// `cli_true_5000`'s run with a fresh `--journal` each round, against the same run without.
fn journal_overhead(ctx: &Ctx) -> Vec<Line> {
    let n = 5_000u64;
    let (bin, dir) = match bin_and_inputs("journal_overhead", n, &["no-journal"]) {
        Ok(found) => found,
        Err(skipped) => return skipped,
    };
    let (inputs, journal) = (dir.join("inputs"), dir.join("j.db"));
    let run = |with_journal: bool| {
        let mut c = Command::new(&bin);
        c.arg("-j2");
        if with_journal {
            for end in ["", "-wal", "-shm"] {
                let mut p = journal.clone().into_os_string();
                p.push(end);
                let _ = std::fs::remove_file(p);
            }
            c.arg("--journal").arg(&journal);
        }
        c.args(["true", "::::"]).arg(&inputs);
        timed(c).expect("threadkit run failed");
    };
    let lines = compare(
        ctx,
        "journal_overhead",
        n,
        || run(true),
        vec![Peer::Run("no-journal", Box::new(|| run(false)))],
    );
    let _ = std::fs::remove_dir_all(&dir);
    lines
}

/// Peak RSS (VmHWM) of a running child, read from /proc until it exits.
fn watch_peak_kib(child: &mut std::process::Child) -> u64 {
    let path = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Ok(s) = std::fs::read_to_string(&path) {
            if let Some(kib) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            {
                peak = peak.max(kib);
            }
        }
        if matches!(child.try_wait(), Ok(Some(_)) | Err(_)) {
            return peak;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn million_lines() -> Vec<u8> {
    let mut buf = Vec::with_capacity(14 << 20);
    for i in 0..1_000_000u32 {
        let _ = writeln!(buf, "line-{i}");
    }
    buf
}

/// Runs `cmd` with `input` on stdin, output discarded; returns (seconds, peak KiB).
fn run_fed(mut cmd: Command, input: &[u8]) -> Result<(f64, u64), String> {
    run_watched(&mut cmd, Some(input))
}

/// Runs `cmd` (with `input` on stdin, or none), output discarded; returns (seconds, peak KiB).
fn run_watched(cmd: &mut Command, input: Option<&[u8]>) -> Result<(f64, u64), String> {
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    let stdin = child.stdin.take();
    let peak = std::thread::scope(|s| {
        if let (Some(mut stdin), Some(input)) = (stdin, input) {
            s.spawn(move || {
                let _ = stdin.write_all(input);
            });
        }
        watch_peak_kib(&mut child)
    });
    let status = child.wait().map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("{:?} failed: {status}", cmd.get_program()));
    }
    Ok((secs, peak))
}

/// Runs `cmd` with the file `input` (or nothing) on stdin, output discarded; returns (seconds,
/// peak KiB).
fn run_watched_reading(
    cmd: &mut Command,
    input: Option<&std::path::Path>,
) -> Result<(f64, u64), String> {
    let stdin = match input {
        Some(p) => Stdio::from(std::fs::File::open(p).map_err(|e| e.to_string())?),
        None => Stdio::null(),
    };
    cmd.stdin(stdin).stdout(Stdio::null()).stderr(Stdio::null());
    let t0 = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {:?}: {e}", cmd.get_program()))?;
    let peak = watch_peak_kib(&mut child);
    let status = child.wait().map_err(|e| e.to_string())?;
    let secs = t0.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!("{:?} failed: {status}", cmd.get_program()));
    }
    Ok((secs, peak))
}

/// A file of `size` bytes of numbered lines (made once per run of the bench).
fn lines_file(dir: &std::path::Path, size: u64) -> Result<PathBuf, String> {
    let path = dir.join("lines");
    let mut chunk = Vec::with_capacity(1 << 20);
    let mut i = 0u64;
    while chunk.len() < (1 << 20) - 32 {
        i += 1;
        writeln!(chunk, "line {i} of the cli_pipe bench").map_err(|e| e.to_string())?;
    }
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).map_err(|e| e.to_string())?);
    let mut written = 0;
    while written < size {
        f.write_all(&chunk).map_err(|e| e.to_string())?;
        written += chunk.len() as u64;
    }
    f.flush().map_err(|e| e.to_string())?;
    Ok(path)
}

/// `--pipe` and `--pipe-part` with 10M blocks into `wc -l`, against GNU parallel's.
fn cli_pipe(ctx: &Ctx) -> Vec<Line> {
    let size = ctx.scale(1 << 30, 256 << 20);
    let peers = ["gnu-parallel"];
    let bin = match threadkit_bin() {
        Ok(b) => b,
        Err(why) => return skipped("cli_pipe", &peers, &why),
    };
    let dir = std::env::temp_dir().join(format!("threadkit-bench-cli_pipe-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let file = match lines_file(&dir, size) {
        Ok(f) => f,
        Err(why) => {
            let _ = std::fs::remove_dir_all(&dir);
            return skipped("cli_pipe", &peers, &why);
        }
    };
    let mut lines = Vec::new();
    for (bench, flags) in [
        ("cli_pipe", &["--pipe", "--block", "10M"][..]),
        ("cli_pipe_part", &["--pipe-part", "--block", "10M", "-a"]),
    ] {
        let part = bench == "cli_pipe_part";
        // --pipe reads stdin; --pipe-part names the file.
        let run = |program: &std::path::Path, pre: &[&str]| {
            let mut c = Command::new(program);
            c.args(pre).args(flags);
            if part {
                c.arg(&file);
            }
            c.arg("wc -l");
            run_watched_reading(&mut c, (!part).then_some(file.as_path()))
        };
        let mut peak_kib = 0;
        let ours = || {
            let (_, kib) = run(&bin, &[]).expect("threadkit run failed");
            peak_kib = peak_kib.max(kib);
        };
        let mut peer_kib = 0;
        let gnu = || -> Result<f64, String> {
            have("parallel", "GNU parallel")?;
            let (s, kib) = run(std::path::Path::new("parallel"), &["--will-cite"])?;
            peer_kib = peer_kib.max(kib);
            Ok(s)
        };
        lines.extend(compare(
            ctx,
            bench,
            size,
            ours,
            vec![Peer::Timed("gnu-parallel", Box::new(gnu))],
        ));
        let mut extra = serde_json::json!({"bench": bench, "peak_mib": mib(peak_kib), "target_mib": 64, "n": size});
        if peer_kib > 0 {
            extra["peer"] = "gnu-parallel".into();
            extra["peer_peak_mib"] = mib(peer_kib).into();
        }
        println!("{extra}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    lines
}

fn cli_memory_1m(ctx: &Ctx) -> Vec<Line> {
    let n = 1_000_000u64;
    let bin = match threadkit_bin() {
        Ok(b) => b,
        Err(why) => return skipped("cli_memory_1m", &["xargs"], &why),
    };
    let input = million_lines();
    let mut peak_kib = 0;
    let ours = || {
        let mut c = Command::new(&bin);
        c.args(["--dry-run", "echo", "{}"]);
        let (_, kib) = run_fed(c, &input).expect("threadkit --dry-run failed");
        peak_kib = peak_kib.max(kib);
    };
    let xargs = || -> Result<f64, String> {
        have("xargs", "GNU findutils")?;
        let mut c = Command::new("xargs");
        c.args(["-n1000", "echo"]);
        run_fed(c, &input).map(|(s, _)| s)
    };
    let lines = compare(
        ctx,
        "cli_memory_1m",
        n,
        ours,
        vec![Peer::Timed("xargs", Box::new(xargs))],
    );
    // The harness's line has no memory field: the peak goes in a line of its own.
    println!(
        "{}",
        serde_json::json!({"bench": "cli_memory_1m", "peak_mib": mib(peak_kib), "target_mib": 64, "n": n})
    );
    lines
}

/// The skipped lines of a comparison whose own side cannot run.
pub(super) fn skipped(bench: &str, peers: &[&str], why: &str) -> Vec<Line> {
    peers
        .iter()
        .map(|p| Line::Skipped {
            bench: bench.into(),
            peer: (*p).into(),
            skipped: why.into(),
        })
        .collect()
}

/// MiB with one decimal.
fn mib(kib: u64) -> f64 {
    (kib as f64 / 1024.0 * 10.0).round() / 10.0
}

fn cli_big_output(ctx: &Ctx) -> Vec<Line> {
    let size = ctx.scale(1 << 30, 128 << 20);
    let bin = match threadkit_bin() {
        Ok(b) => b,
        Err(why) => return skipped("cli_big_output", &["gnu-parallel"], &why),
    };
    let cmd = format!("head -c {size} /dev/zero # {{}}");
    let jobs = ["-j4", &cmd, ":::", "1", "2", "3", "4"];
    let mut peak_kib = 0;
    let ours = || {
        let mut c = Command::new(&bin);
        c.args(jobs);
        let (_, kib) = run_watched(&mut c, None).expect("threadkit run failed");
        peak_kib = peak_kib.max(kib);
    };
    let mut peer_kib = 0;
    let gnu = || -> Result<f64, String> {
        have("parallel", "GNU parallel")?;
        let mut c = Command::new("parallel");
        c.arg("--will-cite").args(jobs);
        let (s, kib) = run_watched(&mut c, None)?;
        peer_kib = peer_kib.max(kib);
        Ok(s)
    };
    let lines = compare(
        ctx,
        "cli_big_output",
        4 * size,
        ours,
        vec![Peer::Timed("gnu-parallel", Box::new(gnu))],
    );
    let mut extra = serde_json::json!({"bench": "cli_big_output", "peak_mib": mib(peak_kib), "target_mib": 64, "n": 4 * size});
    if peer_kib > 0 {
        extra["peer"] = "gnu-parallel".into();
        extra["peer_peak_mib"] = mib(peer_kib).into();
    }
    println!("{extra}");
    lines
}

fn cli_keep_order(ctx: &Ctx) -> Vec<Line> {
    let bin = match threadkit_bin() {
        Ok(b) => b,
        Err(why) => {
            return skipped(
                "cli_keep_order",
                &["threadkit-without-k", "gnu-parallel"],
                &why,
            )
        }
    };
    let (slow, fast) = if ctx.quick {
        ("1", "0.125")
    } else {
        ("4", "0.5")
    };
    let mut inputs = vec![slow];
    inputs.extend(std::iter::repeat_n(fast, 24));
    let args = |keep: bool| {
        let mut a = vec!["-j4", "sleep {}", ":::"];
        if keep {
            a.insert(0, "-k");
        }
        a.extend(&inputs);
        a
    };
    let ours = || {
        let mut c = Command::new(&bin);
        c.args(args(true));
        timed(c).expect("threadkit -k run failed");
    };
    let without = || {
        let mut c = Command::new(&bin);
        c.args(args(false));
        timed(c)
    };
    let gnu = || -> Result<f64, String> {
        have("parallel", "GNU parallel")?;
        let mut c = Command::new("parallel");
        c.arg("--will-cite").args(args(true));
        timed(c)
    };
    compare(
        ctx,
        "cli_keep_order",
        inputs.len() as u64,
        ours,
        vec![
            Peer::Timed("threadkit-without-k", Box::new(without)),
            Peer::Timed("gnu-parallel", Box::new(gnu)),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_parallel_missing_or_foreign_is_skipped_saying_how_to_get_it() {
        let inputs = std::path::Path::new("/dev/null");
        let missing = rust_parallel_true("threadkit-bench-no-such-program", inputs).unwrap_err();
        assert!(missing.contains("not installed"), "{missing}");
        assert!(missing.contains("cargo install rust-parallel"), "{missing}");
        // A program of that name that is something else is not timed either.
        let foreign = rust_parallel_true("true", inputs).unwrap_err();
        assert!(foreign.contains("is not rust-parallel"), "{foreign}");
    }
}
