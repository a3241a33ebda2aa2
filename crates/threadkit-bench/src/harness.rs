//! The comparison harness: alternate ours and each peer, take medians, print one JSON line each.

use serde::Serialize;
use std::time::Instant;

/// Options every benchmark sees.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ctx {
    /// `--quick`: keep each comparison under about 10 s on 2 cores.
    pub(crate) quick: bool,
    /// Run at least [`Ctx::spread_rounds`] rounds and put the run-to-run spread of ours and of
    /// each peer on the lines (see [`Ctx::with_spread`]).
    pub(crate) spread: bool,
}

impl Ctx {
    /// The fewest alternating rounds of ours/peer to time.
    pub(crate) fn rounds(&self) -> usize {
        if self.quick {
            3
        } else {
            7
        }
    }

    /// Short comparisons keep alternating rounds until the comparison has run this long (at
    /// most [`MAX_ROUNDS`]): on 2 cores a contended 30 ms round swings with one preemption,
    /// and the median of many rounds does not.
    pub(crate) fn budget_s(&self) -> f64 {
        if self.quick {
            0.3
        } else {
            2.0
        }
    }

    /// This context for a comparison whose lines also carry the run-to-run spread of ours and of
    /// the peer (`"spread"`, `"peer_spread"`: p90 / p10 of the round times) and `"rounds"`, over
    /// at least [`Ctx::spread_rounds`] rounds: a user sees the median, and the tail.
    pub(crate) fn with_spread(self) -> Ctx {
        Ctx {
            spread: true,
            ..self
        }
    }

    /// The fewest rounds of a comparison that reports its run-to-run spread: 31 (the issue's
    /// p90 / p10 over 31 rounds), 11 under `--quick`.
    pub(crate) fn spread_rounds(&self) -> usize {
        if self.quick {
            11
        } else {
            31
        }
    }

    /// `full` items normally, `quick` items under `--quick`.
    pub(crate) fn scale(&self, full: u64, quick: u64) -> u64 {
        if self.quick {
            quick
        } else {
            full
        }
    }
}

/// One output line: a measured comparison or a peer that could not run here.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub(crate) enum Line {
    /// Ours and the peer both ran.
    Measured {
        bench: String,
        ours_s: f64,
        peer: String,
        peer_s: f64,
        ratio: f64,
        n: u64,
        /// p90 / p10 of ours' round times (1.0: every round alike), on comparisons made with
        /// [`Ctx::with_spread`]; absent from the JSON line otherwise.
        #[serde(skip_serializing_if = "Option::is_none")]
        spread: Option<f64>,
        /// The same for the peer's round times.
        #[serde(skip_serializing_if = "Option::is_none")]
        peer_spread: Option<f64>,
        /// How many rounds each spread was taken over.
        #[serde(skip_serializing_if = "Option::is_none")]
        rounds: Option<usize>,
    },
    /// The peer could not run on this machine; no figure is made up.
    Skipped {
        bench: String,
        peer: String,
        skipped: String,
    },
}

/// A peer implementation of the same workload.
pub(crate) enum Peer<'a> {
    /// Runs in this process: timed like ours.
    Run(&'a str, Box<dyn FnMut() + 'a>),
    /// Runs elsewhere (a Python program, a shell tool): the closure returns its own measured
    /// seconds for one round, or the reason it cannot run.
    Timed(&'a str, Box<dyn FnMut() -> Result<f64, String> + 'a>),
}

/// The most rounds a short comparison runs (see [`Ctx::budget_s`]).
const MAX_ROUNDS: usize = 101;

/// Seconds one call of `f` takes.
pub(crate) fn time(mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    f();
    start.elapsed().as_secs_f64()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// p90 / p10 of `sorted` (ascending, not empty), nearest rank: how much slower a slow round is
/// than a fast one.
fn spread(sorted: &[f64]) -> f64 {
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    at(0.9) / at(0.1)
}

fn round(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    // Four significant digits is all a timing deserves.
    let digits = 3 - x.abs().log10().floor() as i32;
    let p = 10f64.powi(digits.max(0));
    (x * p).round() / p
}

/// Times `ours` and each peer alternately for `ctx.rounds()` rounds, or more while the
/// comparison is under `ctx.budget_s()` (after one warm-up round
/// each) and returns one [`Line`] per peer, with medians (and spreads, when `ctx.spread`).
pub(crate) fn compare(
    ctx: &Ctx,
    bench: &str,
    n: u64,
    mut ours: impl FnMut(),
    mut peers: Vec<Peer<'_>>,
) -> Vec<Line> {
    let rounds = if ctx.spread {
        ctx.rounds().max(ctx.spread_rounds())
    } else {
        ctx.rounds()
    };
    let mut ours_t = Vec::with_capacity(rounds);
    let mut peer_t: Vec<Result<Vec<f64>, String>> = peers.iter().map(|_| Ok(Vec::new())).collect();
    // Warm-up round, not recorded.
    ours();
    for (p, slot) in peers.iter_mut().zip(peer_t.iter_mut()) {
        match p {
            Peer::Run(_, f) => f(),
            Peer::Timed(_, f) => {
                if let Err(why) = f() {
                    *slot = Err(why);
                }
            }
        }
    }
    let started = Instant::now();
    while ours_t.len() < rounds
        || (started.elapsed().as_secs_f64() < ctx.budget_s() && ours_t.len() < MAX_ROUNDS)
    {
        ours_t.push(time(&mut ours));
        for (p, slot) in peers.iter_mut().zip(peer_t.iter_mut()) {
            let Ok(times) = slot else { continue };
            match p {
                Peer::Run(_, f) => times.push(time(f)),
                Peer::Timed(_, f) => match f() {
                    Ok(s) => times.push(s),
                    Err(why) => *slot = Err(why),
                },
            }
        }
    }
    let ours_s = median(&mut ours_t);
    let ours_spread = spread(&ours_t);
    peers
        .iter()
        .zip(peer_t)
        .map(|(p, t)| {
            let name = match p {
                Peer::Run(name, _) | Peer::Timed(name, _) => (*name).to_owned(),
            };
            match t {
                Ok(mut times) => {
                    let peer_s = median(&mut times);
                    let with_spread = ctx.spread;
                    Line::Measured {
                        bench: bench.to_owned(),
                        ours_s: round(ours_s),
                        peer: name,
                        peer_s: round(peer_s),
                        ratio: round(ours_s / peer_s),
                        n,
                        spread: with_spread.then(|| round(ours_spread)),
                        peer_spread: with_spread.then(|| round(spread(&times))),
                        rounds: with_spread.then_some(times.len()),
                    }
                }
                Err(why) => Line::Skipped {
                    bench: bench.to_owned(),
                    peer: name,
                    skipped: why,
                },
            }
        })
        .collect()
}

/// Runs a Python peer program from `bench/peers/` with `args`; the program prints the seconds
/// its timed section took as its last line. Returns why it cannot run when python3 or a
/// package is missing.
#[allow(dead_code)]
pub(crate) fn python_peer(script: &str, args: &[String]) -> Result<f64, String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../bench/peers")
        .join(script);
    let out = std::process::Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .map_err(|e| format!("python3 not runnable: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "{script} failed: {}",
            err.lines().last().unwrap_or("no output")
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .last()
        .and_then(|l| l.trim().parse::<f64>().ok())
        .ok_or_else(|| format!("{script} printed no timing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_is_p90_over_p10_by_nearest_rank() {
        // 31 rounds: p10 is the 4th fastest (index 3), p90 the 4th slowest (index 27).
        let rounds: Vec<f64> = (1..=31).map(f64::from).collect();
        assert_eq!(spread(&rounds), 28.0 / 4.0);
        assert_eq!(spread(&[2.0; 31]), 1.0);
        // Three rounds (--quick without a spread minimum): the slowest over the fastest.
        assert_eq!(spread(&[1.0, 1.5, 3.0]), 3.0);
    }

    /// A round of a few microseconds of work (never 0 s).
    fn work() {
        std::hint::black_box((0..10_000u64).map(std::hint::black_box).sum::<u64>());
    }

    /// Both kinds of comparison as JSON lines, over rounds of [`work`].
    fn lines(with_spread: bool) -> Vec<serde_json::Value> {
        let ctx = Ctx {
            quick: true,
            spread: with_spread,
        };
        let peers = vec![Peer::Run("work", Box::new(work))];
        let lines = compare(&ctx, "b", 1, work, peers);
        lines
            .iter()
            .map(|l| serde_json::to_value(l).unwrap())
            .collect()
    }

    #[test]
    fn only_spread_comparisons_add_fields_to_the_json_line() {
        let plain = &lines(false)[0];
        let mut keys: Vec<&str> = plain
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["bench", "n", "ours_s", "peer", "peer_s", "ratio"]);

        let with = &lines(true)[0];
        // --quick: at least 11 rounds (31 without --quick).
        assert!(with["rounds"].as_u64().unwrap() >= 11, "{with}");
        assert!(with["spread"].as_f64().unwrap() >= 1.0, "{with}");
        assert!(with["peer_spread"].as_f64().unwrap() >= 1.0, "{with}");
    }
}
