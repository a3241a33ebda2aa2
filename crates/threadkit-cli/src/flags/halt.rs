//! `--halt WHEN,WHY=N`: GNU parallel's syntax, shorthands included, parsed into a [`HaltSpec`].
//! The run evaluates it in one place (`run/halt.rs`).

use threadkit::batch::{FailurePolicy, Halt, HaltWhen, Threshold};

/// `--halt`: the batch runner's failure policy, or a CLI-side stop on successes / finished jobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum HaltSpec {
    /// Never halt.
    Never,
    /// `fail=`: the batch runner's policy.
    Fail(FailurePolicy),
    /// `success=` (`done: false`) or `done=` (`done: true`).
    Count {
        when: HaltWhen,
        threshold: Threshold,
        done: bool,
    },
}

impl HaltSpec {
    /// Parse GNU parallel's `--halt` values, shorthands included. Errors name the flag and
    /// its forms (not the batch runner's policy syntax); a limit of 0 is refused, since it
    /// would halt before any job ran (`never` is the way to never halt).
    pub(crate) fn parse(s: &str) -> anyhow::Result<HaltSpec> {
        let s = s.trim();
        let expanded = match s {
            "0" | "never" => return Ok(HaltSpec::Never),
            "1" => "soon,fail=1".to_string(),
            "2" => "now,fail=1".to_string(),
            "-1" => "soon,success=1".to_string(),
            "-2" => "now,success=1".to_string(),
            p if p.ends_with('%') && !p.contains(',') => format!("soon,fail={p}"),
            other => other.to_string(),
        };
        let bad = |why: &str| {
            anyhow::anyhow!(
                "invalid --halt {s:?}: {why} (forms: never, soon|now,fail|success|done=N|N%, \
                 or the shorthands 0, 1, 2, -1, -2)"
            )
        };
        let (when, why) = expanded
            .split_once(',')
            .ok_or_else(|| bad("expected WHEN,WHY=N"))?;
        let when = match when {
            "soon" => HaltWhen::Soon,
            "now" => HaltWhen::Now,
            _ => return Err(bad("WHEN is soon or now")),
        };
        let (what, value) = why
            .split_once('=')
            .ok_or_else(|| bad("expected WHEN,WHY=N"))?;
        if !matches!(what, "fail" | "success" | "done") {
            return Err(bad("WHY is fail, success or done"));
        }
        let threshold = match value.strip_suffix('%') {
            Some(p) => Threshold::Percent(
                p.parse()
                    .ok()
                    .filter(|p: &f64| (0.0..=100.0).contains(p))
                    .ok_or_else(|| bad("N% is a percentage from 1 to 100"))?,
            ),
            None => Threshold::Count(
                value
                    .parse::<u64>()
                    .map_err(|_| bad("N is a whole number of jobs"))?,
            ),
        };
        if matches!(threshold, Threshold::Count(0)) || threshold == Threshold::Percent(0.0) {
            anyhow::bail!(
                "--halt {s}: a limit of 0 would halt before any job ran; give at least 1 \
                 (or 1%), or use --halt never to never halt"
            );
        }
        Ok(match what {
            "fail" => HaltSpec::Fail(FailurePolicy::Halt(Halt { when, threshold })),
            _ => HaltSpec::Count {
                when,
                threshold,
                done: what == "done",
            },
        })
    }

    /// When the run stops once the condition is met (`None`: it never halts).
    pub(crate) fn when(&self) -> Option<HaltWhen> {
        match self {
            HaltSpec::Never => None,
            HaltSpec::Fail(FailurePolicy::Halt(Halt { when, .. })) => Some(*when),
            HaltSpec::Fail(_) => Some(HaltWhen::Soon),
            HaltSpec::Count { when, .. } => Some(*when),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halt_specs_parse_like_gnu_parallel() {
        assert_eq!(HaltSpec::parse("never").unwrap(), HaltSpec::Never);
        assert_eq!(HaltSpec::parse("0").unwrap(), HaltSpec::Never);
        let soon1 = HaltSpec::Fail(FailurePolicy::Halt(Halt::soon().fail_count(1)));
        assert_eq!(HaltSpec::parse("1").unwrap(), soon1);
        assert_eq!(HaltSpec::parse("soon,fail=1").unwrap(), soon1);
        assert_eq!(
            HaltSpec::parse("2").unwrap(),
            HaltSpec::Fail(FailurePolicy::Halt(Halt::now().fail_count(1)))
        );
        assert_eq!(
            HaltSpec::parse("now,success=3").unwrap(),
            HaltSpec::Count {
                when: HaltWhen::Now,
                threshold: Threshold::Count(3),
                done: false
            }
        );
        assert_eq!(
            HaltSpec::parse("-1").unwrap(),
            HaltSpec::Count {
                when: HaltWhen::Soon,
                threshold: Threshold::Count(1),
                done: false
            }
        );
        assert_eq!(
            HaltSpec::parse("soon,done=50%").unwrap(),
            HaltSpec::Count {
                when: HaltWhen::Soon,
                threshold: Threshold::Percent(50.0),
                done: true
            }
        );
        for bad in [
            "",
            "later,fail=1",
            "soon",
            "soon,fail",
            "soon,fail=x",
            "now,success=0%",
            "soon,fail=0",
            "now,done=0",
            "soon,boom=1",
        ] {
            assert!(HaltSpec::parse(bad).is_err(), "{bad:?}");
        }
    }
}
