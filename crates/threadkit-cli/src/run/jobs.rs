//! The jobs of a run: the combined inputs numbered and keyed ([`Keyer`]) into [`JobInput`]s, the
//! batch runner's items. A source that cannot be read ends the jobs, and its [`InputError`]
//! comes back to the driver as a value, through a channel ([`Jobs::new`]).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::AtomicU32;
use std::sync::mpsc;

use crate::inputs::{InputError, Inputs};
use crate::pipe::{Blocks, Feed};
use crate::values::{ValueList, Values};

/// One job: its number, its inputs (one per source) and its journal key.
pub(crate) struct JobInput {
    /// `{#}`: position in the input, from 1.
    pub(crate) seq: u64,
    /// One value per input source (bytes, as read); an `-X` job's tens of thousands, packed in
    /// one buffer ([`Values`]). Shared with what the job left ([`super::task::Ran`]) as it
    /// was made.
    pub(crate) args: std::sync::Arc<Values>,
    /// Stable journal key: the inputs as a JSON array ([`crate::bytes::List`]: lossless for
    /// inputs that are not UTF-8), `#N` appended for the Nth repeat of the same inputs. Not the sequence number: adding or removing inputs does not shift it.
    pub(crate) key: String,
    /// Attempts so far (retries).
    pub(super) attempts: AtomicU32,
    /// `--pipe`, `--pipe-part`: what the job's stdin is fed (each attempt from its start);
    /// dropped once no attempt will need it, since the batch runner keeps the job until its
    /// outcome is taken.
    pub(crate) feed: std::sync::Mutex<Option<std::sync::Arc<Feed>>>,
}

/// Short: the batch runner formats every job it starts (to name it if it hangs), and with
/// `-X` a job holds 128 KiB of values, which `derive(Debug)` would print as a list of numbers.
impl std::fmt::Debug for JobInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let first = self
            .args
            .get_value(0)
            .map(|a| &a[..a.len().min(40)])
            .unwrap_or_default();
        write!(
            f,
            "job {} ({} values, first \"{}\")",
            self.seq,
            self.args.len(),
            first.escape_ascii()
        )
    }
}

/// Builds [`JobInput`]s with keys that are stable across runs.
#[derive(Debug, Default)]
pub(crate) struct Keyer {
    seen: Option<HashMap<u64, u32>>,
    seq: u64,
}

impl Keyer {
    /// `track_repeats`: count repeated inputs (needed with a journal; costs about 16 bytes
    /// per distinct input).
    pub(crate) fn new(track_repeats: bool) -> Keyer {
        Keyer {
            seen: track_repeats.then(HashMap::new),
            seq: 0,
        }
    }

    /// The next job of these inputs.
    pub(crate) fn job(&mut self, args: Values) -> JobInput {
        self.seq += 1;
        let mut key = String::new();
        if let Some(seen) = &mut self.seen {
            key = serde_json::to_string(&crate::bytes::List(&args)).unwrap_or_default();
            let mut h = std::hash::DefaultHasher::new();
            key.hash(&mut h);
            let n = seen.entry(h.finish()).or_insert(0);
            *n += 1;
            if *n > 1 {
                key.push_str(&format!("#{n}"));
            }
        }
        JobInput {
            seq: self.seq,
            args: std::sync::Arc::new(args),
            key,
            attempts: AtomicU32::new(0),
            feed: std::sync::Mutex::new(None),
        }
    }

    /// The next job of `--pipe`: no values, `feed` on its stdin; not journaled (its key is its
    /// number).
    pub(crate) fn block(&mut self, feed: Feed) -> JobInput {
        let mut job = self.job(Values::default());
        job.key = format!("#{}", job.seq);
        job.feed = std::sync::Mutex::new(Some(std::sync::Arc::new(feed)));
        job
    }
}

/// The jobs of the combined inputs, in input order. The batch runner pulls them; a read error
/// ends them and is sent to the receiver made with them, which the driver reads once the run
/// is over (the jobs read before the error have run).
#[derive(Debug)]
pub(crate) struct Jobs {
    inputs: Inputs,
    /// `--pipe`, `--pipe-part`: the jobs are these blocks (`inputs` is not read).
    blocks: Option<Blocks>,
    keyer: Keyer,
    errors: mpsc::Sender<InputError>,
}

impl Jobs {
    /// The jobs of `inputs`, and where a read error of theirs arrives.
    pub(crate) fn new(
        inputs: Inputs,
        blocks: Option<Blocks>,
        keyer: Keyer,
    ) -> (Jobs, mpsc::Receiver<InputError>) {
        let (errors, received) = mpsc::channel();
        (
            Jobs {
                inputs,
                blocks,
                keyer,
                errors,
            },
            received,
        )
    }
}

impl Iterator for Jobs {
    type Item = JobInput;

    fn next(&mut self) -> Option<JobInput> {
        if let Some(blocks) = &mut self.blocks {
            return match blocks.next()? {
                Ok(feed) => Some(self.keyer.block(feed)),
                Err(e) => {
                    let _ = self.errors.send(e);
                    None
                }
            };
        }
        match self.inputs.next()? {
            Ok(args) => Some(self.keyer.job(args)),
            Err(e) => {
                // The receiver lives as long as the run; after the run nobody asks.
                let _ = self.errors.send(e);
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.blocks.is_some() {
            return (0, None);
        }
        self.inputs.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_inputs_with_repeat_counts() {
        let mut k = Keyer::new(true);
        let a = k.job(Values::from_iter(["a", "1"]));
        let b = k.job(Values::from_iter(["a", "1"]));
        let c = k.job(Values::from_iter(["b"]));
        assert_eq!((a.seq, a.key.as_str()), (1, r#"["a","1"]"#));
        assert_eq!((b.seq, b.key.as_str()), (2, r#"["a","1"]#2"#));
        assert_eq!((c.seq, c.key.as_str()), (3, r#"["b"]"#));
        // Not UTF-8: lossless, so apart from its U+FFFD lookalike.
        let d = k.job(Values::from_iter([b"\xe9"]));
        let e = k.job(Values::from_iter(["\u{FFFD}"]));
        assert_eq!(d.key, "[{\"hex\":\"e9\",\"lossy\":\"\u{FFFD}\"}]");
        assert_eq!(e.key, "[\"\u{FFFD}\"]");
    }
}
