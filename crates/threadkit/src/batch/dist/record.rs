//! The worker's two database threads besides the claimer, each on a connection of its own:
//! the recorder (outcomes in short batched transactions, with fencing, and the batch's
//! counters and halt in the same transaction) and the heartbeat (renews the leases of the
//! jobs this worker holds, and reads the batch's state so a cancel or a halt reaches it
//! while every slot is busy).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use super::conn::{Conn, Target, CHANNEL};
use super::worker::{Claimed, Shared};
use super::DistError;
use crate::batch::{Halt, HaltOn, StopReason};

/// A group's outcomes, fenced by token: $1 ids, $2 tokens, $3 kinds, $4 outcomes, $5 failed,
/// $6 retry delays in seconds.
const WRITE: &str = "UPDATE tk_job j SET
                state = CASE WHEN r.kind = 'done' THEN 'done' ELSE 'queued' END,
                outcome = r.outcome,
                failed = CASE WHEN r.kind = 'done' THEN r.failed END,
                recorded = j.recorded + (r.kind = 'done')::int,
                token = CASE WHEN r.kind = 'done' THEN j.token END,
                locked_until = NULL,
                not_before = CASE WHEN r.kind = 'retry'
                    THEN now() + r.delay * interval '1 second' END,
                attempt = j.attempt - (r.kind = 'release')::int
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::bytea[], $5::bool[],
                         $6::float8[]) AS r (id, token, kind, outcome, failed, delay)
             WHERE j.id = r.id AND j.token = r.token AND j.state = 'running'
             RETURNING r.kind, r.failed";

/// The batch's counters after a group: $1 batch, $2 done, $3 failed, $4 fenced.
const COUNT: &str =
    "UPDATE tk_batch SET done = done + $2, failed = failed + $3, fenced = fenced + $4
                 WHERE id = $1 RETURNING done, failed, total, state";

/// Wakes the other workers and the submitter: $1 the channel, $2 the batch.
const NOTIFY: &str = "SELECT pg_notify($1, $2)";

/// How long the recorder waits for more records after the first of a group.
const LINGER: Duration = Duration::from_millis(3);
/// The longest a recorder goes without notifying (outcomes recorded) when it records.
const NOTIFY_EVERY: Duration = Duration::from_millis(25);

/// Records per transaction at most.
const GROUP: usize = 1_000;

/// What the recorder and the heartbeat need to know.
#[derive(Debug, Clone)]
pub(super) struct Context {
    pub(super) target: Target,
    pub(super) batch: String,
    pub(super) lease: Duration,
    pub(super) halt: Option<Halt>,
    pub(super) shared: Arc<Shared>,
}

/// What to write for one claimed job.
#[derive(Debug)]
pub(super) enum RecKind {
    /// Its final outcome (postcard bytes of a `Stored`), and whether it is a failure.
    Done { outcome: Vec<u8>, failed: bool },
    /// Back to the queue for another attempt, not before `after`.
    Retry { after: Duration },
    /// Back to the queue unstarted (its attempt does not count).
    Release,
}

/// One record: the job, the token of the claim, what to write.
#[derive(Debug)]
pub(super) struct Rec {
    id: i64,
    token: i64,
    kind: RecKind,
}

impl Rec {
    /// The record of `kind` for `job`.
    pub(super) fn of(job: &Claimed, kind: RecKind) -> Rec {
        Rec {
            id: job.id,
            token: job.token,
            kind,
        }
    }
}

/// The stop reason a batch state means for a worker.
pub(super) fn stop_reason(state: &str) -> Option<StopReason> {
    match state {
        "halting" => Some(StopReason::Halted),
        "cancelled" => Some(StopReason::Cancelled),
        _ => None,
    }
}

/// Starts the recorder: it writes what `rx` brings until every sender is gone.
pub(super) fn spawn_recorder(ctx: Context, rx: Receiver<Rec>) -> Result<JoinHandle<()>, DistError> {
    let mut conn = Conn::open(&ctx.target, false)?;
    std::thread::Builder::new()
        .name("tk-dist-recorder".into())
        .spawn(move || {
            let mut failed = false;
            let mut notified = std::time::Instant::now();
            while let Ok(first) = rx.recv() {
                let mut group = vec![first];
                // Linger a little for more: each group is a transaction and a commit.
                let until = std::time::Instant::now() + LINGER;
                while group.len() < GROUP {
                    match rx.recv_deadline(until) {
                        Ok(r) => group.push(r),
                        Err(_) => break,
                    }
                }
                if !failed {
                    let due = notified.elapsed() >= NOTIFY_EVERY;
                    if due {
                        notified = std::time::Instant::now();
                    }
                    if let Err(e) = write_group(&mut conn, &ctx, &group, due) {
                        // The jobs it held are recovered by others after their lease.
                        ctx.shared.stop(None, Some(e));
                        failed = true;
                    }
                }
                let mut l = ctx.shared.local.lock();
                for r in &group {
                    l.held.remove(&r.id);
                }
                drop(l);
                ctx.shared.cv.notify_all();
            }
        })
        .map_err(|e| DistError::Run {
            message: e.to_string(),
        })
}

/// Writes one group in one transaction: the fenced updates of the jobs, then the batch's
/// counters and state (done, halting), then a notification.
fn write_group(conn: &mut Conn, ctx: &Context, group: &[Rec], due: bool) -> Result<(), DistError> {
    // Idle workers need to hear of a job queued again at once; the submitter and busy
    // workers are told at most every NOTIFY_EVERY (they also poll).
    let requeued = group
        .iter()
        .any(|r| !matches!(r.kind, RecKind::Done { .. }));
    let ids: Vec<i64> = group.iter().map(|r| r.id).collect();
    let tokens: Vec<i64> = group.iter().map(|r| r.token).collect();
    let mut kinds = Vec::with_capacity(group.len());
    let mut outcomes: Vec<Option<&[u8]>> = Vec::with_capacity(group.len());
    let mut fails = Vec::with_capacity(group.len());
    let mut delays = Vec::with_capacity(group.len());
    for r in group {
        let (kind, outcome, failed, delay) = match &r.kind {
            RecKind::Done { outcome, failed } => ("done", Some(&outcome[..]), *failed, 0.0),
            RecKind::Retry { after } => ("retry", None, false, after.as_secs_f64()),
            RecKind::Release => ("release", None, false, 0.0),
        };
        kinds.push(kind);
        outcomes.push(outcome);
        fails.push(failed);
        delays.push(delay);
    }
    let batch = ctx.batch.as_str();
    let (written, done, state) =
        conn.run_prepared([WRITE, COUNT, NOTIFY], |c, [write, count, notify]| {
            let mut tx = c.transaction()?;
            let mut state = None;
            let mut changed = false;
            let rows = tx.query(write, &[&ids, &tokens, &kinds, &outcomes, &fails, &delays])?;
            let done = rows.iter().filter(|r| r.get::<_, &str>(0) == "done");
            let failed = done.clone().filter(|r| r.get::<_, bool>(1)).count() as i64;
            let done = done.count() as i64;
            let fenced = (group.len() - rows.len()) as i64;
            if done > 0 || fenced > 0 {
                let row = tx.query_one(count, &[&batch, &done, &failed, &fenced])?;
                let (all_done, all_failed, total) = (
                    row.get::<_, i64>(0),
                    row.get::<_, i64>(1),
                    row.get::<_, i64>(2),
                );
                state = Some(row.get::<_, String>(3));
                if state.as_deref() == Some("open") {
                    // The batch's halt policy over every worker's outcomes, judged as a local
                    // run judges it (the total is known: `N%` is of all the batch's jobs).
                    let halt = ctx.halt.is_some_and(|h| {
                        let count = match h.on {
                            HaltOn::Fail => all_failed,
                            HaltOn::Success => all_done - all_failed,
                            HaltOn::Done => all_done,
                        };
                        h.met(count as u64, all_done as u64, Some(total as u64))
                    });
                    let next = if halt {
                        Some("halting")
                    } else if all_done >= total {
                        Some("done")
                    } else {
                        None
                    };
                    if let Some(next) = next {
                        tx.execute(
                            "UPDATE tk_batch SET state = $2 WHERE id = $1 AND state = 'open'",
                            &[&batch, &next],
                        )?;
                        state = Some(next.to_owned());
                        changed = true;
                    }
                }
            }
            if due || requeued || changed {
                tx.execute(notify, &[&CHANNEL, &batch])?;
            }
            tx.commit()?;
            Ok((rows.len(), done, state))
        })?;
    // A halt or a cancel reaches this worker with its next record (the heartbeat also looks,
    // every third of a lease): its slots start none of the jobs it claimed ahead.
    if let Some(reason) = state.as_deref().and_then(stop_reason) {
        ctx.shared.stop(Some(reason), None);
    }
    let s = &ctx.shared;
    s.recorded.fetch_add(done as u64, Ordering::Relaxed);
    s.fenced
        .fetch_add((group.len() - written) as u64, Ordering::Relaxed);
    let retried = group
        .iter()
        .filter(|r| matches!(r.kind, RecKind::Retry { .. }))
        .count();
    let released = group
        .iter()
        .filter(|r| matches!(r.kind, RecKind::Release))
        .count();
    s.retried.fetch_add(retried as u64, Ordering::Relaxed);
    s.released.fetch_add(released as u64, Ordering::Relaxed);
    Ok(())
}

/// Starts the heartbeat: every third of the lease, renews the leases of the jobs this worker
/// holds and reads the batch's state; ends when the returned sender is dropped.
pub(super) fn spawn_heartbeat(ctx: Context) -> Result<(JoinHandle<()>, Sender<()>), DistError> {
    let mut conn = Conn::open(&ctx.target, false)?;
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
    let every = ctx.lease / 3;
    let handle = std::thread::Builder::new()
        .name("tk-dist-heartbeat".into())
        .spawn(move || loop {
            match stop_rx.recv_timeout(every) {
                Err(RecvTimeoutError::Timeout) => {}
                _ => return,
            }
            let (ids, tokens): (Vec<i64>, Vec<i64>) = ctx
                .shared
                .local
                .lock()
                .held
                .iter()
                .map(|(i, t)| (*i, *t))
                .unzip();
            let batch = ctx.batch.as_str();
            let lease_s = ctx.lease.as_secs_f64();
            let state = conn.run(|c| {
                let mut renewed = HashSet::new();
                if !ids.is_empty() {
                    let rows = c.query(
                        "UPDATE tk_job j SET locked_until = now() + $3::float8 * interval '1 second'
                         FROM unnest($1::bigint[], $2::bigint[]) AS r (id, token)
                         WHERE j.id = r.id AND j.token = r.token AND j.state = 'running'
                         RETURNING j.id",
                        &[&ids, &tokens, &lease_s],
                    )?;
                    renewed.extend(rows.iter().map(|r| r.get::<_, i64>(0)));
                }
                let row = c.query_one("SELECT state FROM tk_batch WHERE id = $1", &[&batch])?;
                Ok((row.get::<_, String>(0), renewed))
            });
            match state {
                Ok((s, renewed)) => {
                    if renewed.len() < ids.len() {
                        drop_lost(&ctx.shared, &ids, &renewed);
                    }
                    if s == "halting" || s == "cancelled" {
                        ctx.shared.stop(stop_reason(&s), None);
                    }
                }
                Err(e) => {
                    ctx.shared.stop(None, Some(e));
                    return;
                }
            }
        })
        .map_err(|e| DistError::Run {
            message: e.to_string(),
        })?;
    Ok((handle, stop_tx))
}

/// Drops the claimed jobs not started yet whose lease the heartbeat asked to renew (`asked`)
/// and could not (this worker stalled past the lease and another owns them now): running
/// them would only have their results fenced. Counted as fenced. A started one stays held:
/// its result is fenced when it comes.
fn drop_lost(shared: &Shared, asked: &[i64], renewed: &HashSet<i64>) {
    let lost: HashSet<i64> = asked
        .iter()
        .filter(|id| !renewed.contains(id))
        .copied()
        .collect();
    let mut l = shared.local.lock();
    let mut dropped = Vec::new();
    l.queue.retain(|job| {
        let keep = !lost.contains(&job.id);
        if !keep {
            dropped.push(job.id);
        }
        keep
    });
    for id in &dropped {
        l.held.remove(id);
    }
    drop(l);
    if !dropped.is_empty() {
        let n = dropped.len() as u64;
        shared.fenced.fetch_add(n, Ordering::Relaxed);
        shared.cv.notify_all();
    }
}
