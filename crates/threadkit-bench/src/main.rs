//! `threadkit-bench`: threadkit against its peers, one JSON line per comparison.
//!
//! ```text
//! threadkit-bench [--quick] [--markdown] (all | NAME...)
//! threadkit-bench --list
//! threadkit-bench probe CHANNEL PRODUCERS CONSUMERS CAPACITY N [ROUNDS]
//! threadkit-bench pool-probe N [ROUNDS] [SEND_AHEAD]
//! ```
//!
//! Each comparison runs ours and the peer in the same process, alternating, and prints
//! `{"bench":..,"ours_s":..,"peer":..,"peer_s":..,"ratio":..,"n":..}` with ratio = ours / peer
//! (below 1 means threadkit is faster). A peer that cannot run here prints
//! `{"bench":..,"peer":..,"skipped":"reason"}`. A comparison that reports its run-to-run spread
//! (`queue_mpmc`) adds `"spread"` and `"peer_spread"` (p90 / p10 of ours' and the peer's round
//! times) and `"rounds"` (how many) to its lines.

mod benches;
mod harness;

use anyhow::{bail, Context, Result};
use harness::{Ctx, Line};
use std::io::Write;

const USAGE: &str =
    "usage: threadkit-bench [--quick] [--markdown] (all | NAME...)\n       threadkit-bench --list\n       \
     threadkit-bench probe CHANNEL PRODUCERS CONSUMERS CAPACITY N [ROUNDS]\n       \
     threadkit-bench pool-probe N [ROUNDS] [SEND_AHEAD]";

fn main() {
    // The process benches re-execute this binary as their child processes.
    threadkit::process::init();
    if let Err(e) = run() {
        eprintln!("threadkit-bench: {e:#}");
        std::process::exit(2);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("probe") {
        return benches::probe(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("pool-probe") {
        return benches::pool_probe(&args[1..]);
    }
    let mut quick = false;
    let mut markdown = false;
    let mut list = false;
    let mut names = Vec::new();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            "--markdown" => markdown = true,
            "--list" => list = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            s if s.starts_with('-') => bail!("unknown flag {s}\n{USAGE}"),
            s => names.push(s.to_owned()),
        }
    }
    let all = benches::all();
    if list {
        for b in &all {
            println!("{:<24} {}", b.name, b.about);
        }
        return Ok(());
    }
    if names.is_empty() {
        bail!("name at least one comparison, or all\n{USAGE}");
    }
    let selected: Vec<&benches::Bench> = if names.iter().any(|n| n == "all") {
        all.iter().collect()
    } else {
        names
            .iter()
            .map(|n| {
                all.iter()
                    .find(|b| b.name == n)
                    .with_context(|| format!("no comparison named {n:?} (see --list)"))
            })
            .collect::<Result<_>>()?
    };
    let ctx = Ctx {
        quick,
        spread: false,
    };
    let mut lines = Vec::new();
    let stdout = std::io::stdout();
    for b in selected {
        for line in (b.run)(&ctx) {
            let mut out = stdout.lock();
            writeln!(out, "{}", serde_json::to_string(&line)?)?;
            out.flush()?;
            lines.push(line);
        }
    }
    if markdown {
        write_markdown(&lines, quick)?;
    }
    Ok(())
}

/// How a bench machine gets the peers that are programs (a missing one is reported as skipped).
const PEERS: &str = "Peers that are programs, and how a bench machine gets them: `xargs` (GNU \
findutils), GNU parallel (`apt-get install parallel`), rust-parallel (`cargo install \
rust-parallel`), python3 (the Python peers). A missing one is reported as skipped, with the reason.\n\n";

/// The run-to-run spread (p90 / p10 of the rounds) of the comparisons that report it, as a
/// table of its own after the main one.
fn write_spreads(md: &mut String, lines: &[Line]) {
    let mut table = String::new();
    for l in lines {
        if let Line::Measured {
            bench,
            peer,
            spread: Some(spread),
            peer_spread: Some(peer_spread),
            rounds: Some(rounds),
            ..
        } = l
        {
            table.push_str(&format!(
                "| {bench} | {peer} | {spread} | {peer_spread} | {rounds} |\n"
            ));
        }
    }
    if !table.is_empty() {
        md.push_str("\nRun-to-run spread: p90 / p10 of each side's round times (1 = every round alike).\n\n");
        md.push_str("| bench | peer | ours | peer | rounds |\n|---|---|---|---|---|\n");
        md.push_str(&table);
    }
}

fn write_markdown(lines: &[Line], quick: bool) -> Result<()> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md");
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mut md = String::new();
    md.push_str("# Benchmarks\n\n");
    md.push_str("Generated by `cargo run --release -p threadkit-bench -- --markdown all`");
    if quick {
        md.push_str(" `--quick`");
    }
    md.push_str(&format!(
        " on a {cores}-core machine. ratio = ours / peer: below 1 means threadkit is faster.\n\n"
    ));
    md.push_str(PEERS);
    md.push_str("| bench | peer | ours (s) | peer (s) | ratio | n |\n|---|---|---|---|---|---|\n");
    for l in lines {
        match l {
            Line::Measured {
                bench,
                ours_s,
                peer,
                peer_s,
                ratio,
                n,
                ..
            } => {
                md.push_str(&format!(
                    "| {bench} | {peer} | {ours_s} | {peer_s} | {ratio} | {n} |\n"
                ));
            }
            Line::Skipped {
                bench,
                peer,
                skipped,
            } => {
                md.push_str(&format!(
                    "| {bench} | {peer} | skipped: {skipped} | | | |\n"
                ));
            }
        }
    }
    write_spreads(&mut md, lines);
    std::fs::write(&path, md).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
