//! `--halt WHEN,WHY=N`: GNU parallel's syntax, shorthands included, parsed into a [`HaltSpec`]:
//! the batch runner's [`Halt`] policy, which the runner evaluates (`run/halt.rs` only acts on
//! it: kills the running jobs for `now`, says so on stderr).

use threadkit::batch::{Halt, HaltOn, HaltWhen, Threshold};

/// `--halt`: never, or the batch runner's [`Halt`] policy (on failures, successes or finished
/// jobs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum HaltSpec {
    /// Never halt.
    Never,
    /// Halt when the condition is met.
    Halt(Halt),
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
        let on = match what {
            "fail" => HaltOn::Fail,
            "success" => HaltOn::Success,
            "done" => HaltOn::Done,
            _ => return Err(bad("WHY is fail, success or done")),
        };
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
        Ok(HaltSpec::Halt(Halt {
            when,
            on,
            threshold,
        }))
    }

    /// The batch runner's policy (`None`: never halt).
    pub(crate) fn halt(&self) -> Option<Halt> {
        match self {
            HaltSpec::Never => None,
            HaltSpec::Halt(h) => Some(*h),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halt_specs_parse_like_gnu_parallel() {
        let halt = |s| HaltSpec::parse(s).unwrap().halt();
        assert_eq!(halt("never"), None);
        assert_eq!(halt("0"), None);
        assert_eq!(halt("1"), Some(Halt::soon().fail_count(1)));
        assert_eq!(halt("soon,fail=1"), Some(Halt::soon().fail_count(1)));
        assert_eq!(halt("2"), Some(Halt::now().fail_count(1)));
        assert_eq!(halt("now,success=3"), Some(Halt::now().success_count(3)));
        assert_eq!(halt("-1"), Some(Halt::soon().success_count(1)));
        assert_eq!(halt("-2"), Some(Halt::now().success_count(1)));
        assert_eq!(halt("soon,done=50%"), Some(Halt::soon().done_percent(50.0)));
        assert_eq!(halt("20%"), Some(Halt::soon().fail_percent(20.0)));
        // The same policy the library parses from the same words.
        for s in ["now,fail=3", "soon,success=25%", "now,done=7"] {
            assert_eq!(halt(s), Some(s.parse::<Halt>().unwrap()), "{s}");
        }
        assert_eq!(HaltWhen::Soon, halt("1").unwrap().when);
        assert_eq!(Threshold::Count(1), halt("1").unwrap().threshold);
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
