//! The `threadkit` command's SQL mode (distributed batches on PostgreSQL, `--sqlmaster` /
//! `--sqlworker`), against a local run and GNU parallel's own SQL mode.
//!
//! * `dist_throughput`: 20,000 `true` jobs (2,000 under `--quick`) enqueued by `threadkit
//!   --sqlmaster` and run by 2 `threadkit --sqlworker -j1` processes, against the same command
//!   line run locally with `-j2` (peer `local`, target ratio <= 3: the price of the
//!   database) and against GNU parallel's `--sqlmaster` + 2 `--sqlworker -j1` on the same
//!   PostgreSQL (peer `gnu-parallel-sql`, target ratio <= 0.1; it needs Perl's DBD::Pg,
//!   Debian's `libdbd-pg-perl`, and is skipped with the reason without it). GNU parallel runs
//!   400 of the jobs (200 under `--quick`): at about 20 jobs a second all of them would take
//!   minutes a round; its time is scaled to the whole count (its start-up of a fraction of a
//!   second, scaled with it, adds a few percent to its figure). Shell jobs, not a library
//!   function: GNU parallel's SQL mode only runs command lines, so the comparison with it is
//!   only fair with the CLI; each line carries `jobs_per_s` (ours). Every round uses a table
//!   of its own: a worker started before the master on a finished table would exit at once
//!   (as GNU parallel's do). GNU parallel's workers start after its master has submitted (its
//!   `--sqlmaster` returns then): started before, they find no table and exit at once, and
//!   nothing runs (the first version of this bench timed that: 0.88, not a measurement).
//! * `dist_recovery`: a worker holding a job is SIGKILLed; the time from the kill to the job's
//!   output printed by the master (recorded by the other worker and delivered), against the
//!   lease length (peer `lease`, `--sql-lease 2`; target ratio <= 1.5).
//!
//! The database is `THREADKIT_PG_URL`; when it is unset, a throwaway cluster is started with
//! `scripts/postgres start` for the bench and stopped after it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::cli::{have, skipped, threadkit_bin, timed};
use super::Bench;
use crate::harness::{compare, Ctx, Line, Peer};

pub(super) fn benches() -> Vec<Bench> {
    vec![
        Bench {
            name: "dist_throughput",
            about: "20,000 true jobs via --sqlmaster + 2 --sqlworker vs local -j2 and GNU parallel's SQL mode",
            run: dist_throughput,
        },
        Bench {
            name: "dist_recovery",
            about: "a SIGKILLed --sqlworker's job finished by another: time from the kill vs the lease",
            run: dist_recovery,
        },
    ]
}

/// The database for a bench: `THREADKIT_PG_URL`, or a cluster of our own (stopped on drop).
struct Pg {
    url: String,
    /// The cluster's directory when we started it.
    own: Option<String>,
}

impl Pg {
    fn get() -> Result<Pg, String> {
        if let Ok(url) = std::env::var("THREADKIT_PG_URL") {
            return Ok(Pg { url, own: None });
        }
        let script = scripts_postgres();
        let out = Command::new(&script)
            .arg("start")
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} start failed ({})",
                script.display(),
                out.status
            ));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let var = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("export {name}=")))
                .map(|v| v.trim_matches('\'').to_owned())
        };
        match (var("THREADKIT_PG_URL"), var("THREADKIT_PG_DIR")) {
            (Some(url), Some(dir)) => Ok(Pg {
                url,
                own: Some(dir),
            }),
            _ => Err(format!("{} start printed no URL", script.display())),
        }
    }

    /// A DBURL for a table of its own.
    fn dburl(&self, table: &str) -> String {
        format!("{}/{table}_{}", self.url, std::process::id())
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        if let Some(dir) = &self.own {
            let _ = Command::new(scripts_postgres())
                .args(["stop", dir])
                .stdout(Stdio::null())
                .status();
        }
    }
}

fn scripts_postgres() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/postgres")
}

/// A worker process (`args` after the program), its output thrown away.
fn spawn(program: &Path, args: &[&str]) -> Result<Child, String> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", program.display()))
}

/// Wait for the workers; an error when one failed.
fn reap(workers: Vec<Child>) -> Result<(), String> {
    for mut w in workers {
        let st = w.wait().map_err(|e| e.to_string())?;
        if !st.success() {
            return Err(format!("a worker failed: {st}"));
        }
    }
    Ok(())
}

/// When a distributed run's workers start.
#[derive(Clone, Copy)]
enum Order {
    /// Before the master (threadkit's workers wait for the batch to appear).
    WorkersFirst,
    /// After the master has submitted and exited: GNU parallel's workers exit at once when the
    /// table does not exist yet, and its `--sqlmaster` (without `--wait`) returns once the jobs
    /// are in the table.
    MasterFirst,
}

/// One distributed run: 2 workers of `program` (`worker_flag URL -j1`) and the master
/// (`master_args`, with the URL after `master_flag`), in `order`; seconds from the first start
/// to the end of the master and of the workers.
fn distributed(
    program: &Path,
    (master_flag, worker_flag): (&str, &str),
    url: &str,
    master_args: &[&str],
    order: Order,
) -> Result<f64, String> {
    let t0 = Instant::now();
    let start_workers = || {
        (0..2)
            .map(|_| spawn(program, &[worker_flag, url, "-j1"]))
            .collect::<Result<Vec<_>, _>>()
    };
    let early = match order {
        Order::WorkersFirst => Some(start_workers()?),
        Order::MasterFirst => None,
    };
    let mut master = Command::new(program);
    master.arg(master_flag).arg(url).args(master_args);
    let ran = timed(master);
    // A master that failed leaves workers waiting: stop them.
    if ran.is_err() {
        for mut w in early.into_iter().flatten() {
            let _ = w.kill();
            let _ = w.wait();
        }
        return ran;
    }
    let workers = match early {
        Some(w) => w,
        None => start_workers()?,
    };
    reap(workers)?;
    Ok(t0.elapsed().as_secs_f64())
}

fn dist_throughput(ctx: &Ctx) -> Vec<Line> {
    const BENCH: &str = "dist_throughput";
    let peers = ["local", "gnu-parallel-sql"];
    let n = ctx.scale(20_000, 2_000);
    let gnu_n = ctx.scale(400, 200);
    let pg = match Pg::get() {
        Ok(pg) => pg,
        Err(why) => return skipped(BENCH, &peers, &why),
    };
    let bin = match threadkit_bin() {
        Ok(b) => b,
        Err(why) => return skipped(BENCH, &peers, &why),
    };
    let dir = std::env::temp_dir().join(format!("threadkit-bench-{BENCH}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let inputs = dir.join("inputs");
    let text: String = (0..n).map(|i| format!("{i}\n")).collect();
    if let Err(e) = std::fs::write(&inputs, text) {
        return skipped(BENCH, &peers, &e.to_string());
    }
    let inputs_s = inputs.to_string_lossy().into_owned();
    let gnu_inputs = dir.join("gnu_inputs");
    let text: String = (0..gnu_n).map(|i| format!("{i}\n")).collect();
    if let Err(e) = std::fs::write(&gnu_inputs, text) {
        return skipped(BENCH, &peers, &e.to_string());
    }
    let gnu_inputs_s = gnu_inputs.to_string_lossy().into_owned();
    let mut round = 0;
    let ours = || {
        round += 1;
        distributed(
            &bin,
            ("--sqlmaster", "--sqlworker"),
            &pg.dburl(&format!("bench_tput_{round}")),
            &["true", "::::", &inputs_s],
            Order::WorkersFirst,
        )
        .expect("threadkit --sqlmaster run failed");
    };
    let local = || {
        let mut c = Command::new(&bin);
        c.args(["-j2", "true", "::::", &inputs_s]);
        timed(c)
    };
    // GNU parallel's DBURL: pg://user@host:port/database/table.
    let gnu_url = |round: u32| {
        pg.dburl(&format!("bench_gnu_{round}"))
            .replacen("postgres://", "pg://", 1)
            .replacen("postgresql://", "pg://", 1)
    };
    let mut gnu_round = 0;
    let gnu = move || -> Result<f64, String> {
        gnu_round += 1;
        have("parallel", "GNU parallel")?;
        let dbd = Command::new("perl")
            .args(["-MDBD::Pg", "-e1"])
            .stderr(Stdio::null())
            .status();
        if !dbd.is_ok_and(|s| s.success()) {
            return Err("Perl's DBD::Pg is missing (apt-get install -y libdbd-pg-perl)".into());
        }
        let s = distributed(
            Path::new("parallel"),
            ("--sqlmaster", "--sqlworker"),
            &gnu_url(gnu_round),
            &["--will-cite", "true", "::::", &gnu_inputs_s],
            Order::MasterFirst,
        )?;
        Ok(s * n as f64 / gnu_n as f64)
    };
    let lines = compare(
        ctx,
        BENCH,
        n,
        ours,
        vec![
            Peer::Timed("local", Box::new(local)),
            Peer::Timed("gnu-parallel-sql", Box::new(gnu)),
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
    with_jobs_per_s(lines, n)
}

/// Prints each measured line with `jobs_per_s` (ours) added.
fn with_jobs_per_s(lines: Vec<Line>, n: u64) -> Vec<Line> {
    for l in &lines {
        if let Line::Measured { ours_s, peer, .. } = l {
            println!(
                "{}",
                serde_json::json!({"bench": "dist_throughput", "peer": peer, "jobs_per_s": (n as f64 / ours_s).round()})
            );
        }
    }
    lines
}

/// One recovery: seconds from the SIGKILL of the worker holding the only job to the job's
/// output from the master.
fn recover_once(bin: &Path, url: &str, dir: &Path, lease: &str) -> Result<f64, String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let d = dir.display();
    // The first attempt marks that it started and blocks; the next one finishes at once.
    let script = format!(
        "if mkdir {d}/lock 2>/dev/null; then echo $$ > {d}/started; exec sleep 600; fi; echo recovered"
    );
    let mut holder = spawn(bin, &["--sqlworker", url, "-j1", "--sql-lease", lease])?;
    let mut master = Command::new(bin)
        .args(["--sqlmaster", url, &script, ":::", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let started = dir.join("started");
    let deadline = Instant::now() + Duration::from_secs(60);
    let sleeper = loop {
        match std::fs::read_to_string(&started) {
            Ok(pid) if pid.ends_with('\n') => break pid.trim().to_owned(),
            _ if Instant::now() > deadline => return Err("the job never started".into()),
            _ => std::thread::sleep(Duration::from_millis(2)),
        }
    };
    let other = spawn(bin, &["--sqlworker", url, "-j1", "--sql-lease", lease])?;
    let t0 = Instant::now();
    holder.kill().map_err(|e| e.to_string())?;
    let _ = holder.wait();
    let mut out = BufReader::new(master.stdout.take().ok_or("no stdout")?);
    let mut line = String::new();
    out.read_line(&mut line).map_err(|e| e.to_string())?;
    let s = t0.elapsed().as_secs_f64();
    let _ = Command::new("kill").args(["-KILL", &sleeper]).status();
    let _ = master.wait();
    reap(vec![other])?;
    if !line.starts_with("recovered") {
        return Err(format!("the master printed {line:?}"));
    }
    Ok(s)
}

fn dist_recovery(ctx: &Ctx) -> Vec<Line> {
    const BENCH: &str = "dist_recovery";
    let lease_s = 2.0;
    let pg = match Pg::get() {
        Ok(pg) => pg,
        Err(why) => return skipped(BENCH, &["lease"], &why),
    };
    let bin = match threadkit_bin() {
        Ok(b) => b,
        Err(why) => return skipped(BENCH, &["lease"], &why),
    };
    let dir = std::env::temp_dir().join(format!("threadkit-bench-{BENCH}-{}", std::process::id()));
    let mut times = Vec::new();
    for round in 0..ctx.rounds() {
        let url = pg.dburl(&format!("bench_recovery_{round}"));
        match recover_once(&bin, &url, &dir, &lease_s.to_string()) {
            Ok(s) => times.push(s),
            Err(why) => return skipped(BENCH, &["lease"], &why),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    times.sort_by(f64::total_cmp);
    let ours_s = times[times.len() / 2];
    vec![Line::Measured {
        bench: BENCH.into(),
        ours_s: (ours_s * 1000.0).round() / 1000.0,
        peer: "lease".into(),
        peer_s: lease_s,
        ratio: (ours_s / lease_s * 1000.0).round() / 1000.0,
        n: times.len() as u64,
        spread: None,
        peer_spread: None,
        rounds: None,
    }]
}
