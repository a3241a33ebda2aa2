//! What crosses from a parent to a child: the markers a re-executed child recognizes itself
//! by, the first frame ([`Start`]), a function call as an offset from a known function of the
//! same executable with its serialized arguments ([`Call`]), and what it came to ([`Outcome`]).
//! [`make_call`] builds a call on the parent's side; [`execute`] runs one on the child's.

use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::wire;
use crate::executor::TupleFn;
use crate::unwind::{catch, payload_message};

/// The environment variable that tells [`init`](super::init) it runs in a child.
pub(crate) const ENV_CHILD: &str = "THREADKIT_PROCESS_CHILD";

/// The value of [`ENV_CHILD`]: the control socket is the child's standard input (passed that
/// way so that `std::process::Command` can use `posix_spawn`, which is much faster than `fork`).
pub(crate) const STDIN_MARK: &str = "stdin";

/// The name of the test that [`enable_test_support!`](crate::process::enable_test_support)
/// defines; children of a test binary are started with it as libtest's filter.
pub(crate) const TEST_ENTRY: &str = "threadkit_process_test_child";

/// Largest control frame (arguments, results, pool tasks): 1 GiB.
pub(crate) const MAX_CONTROL_FRAME: usize = 1 << 30;

/// A call of a function in a child: which monomorphized runner, which function, which arguments.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Call {
    pub(crate) runner: isize,
    pub(crate) func: isize,
    pub(crate) payload: Vec<u8>,
}

/// The first frame a child receives.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Start {
    /// Run one call, send its outcome, exit.
    Once(Call),
    /// Be a pool worker: run the initializer, then calls until the socket closes.
    Worker { initializer: Option<Call> },
    /// Be the fork server: fork a child for each request until the socket closes.
    ForkServer,
}

/// What a call came to, as sent back to the parent.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum Outcome {
    /// The encoded return value (its descriptors travel with the frame).
    Returned(Vec<u8>),
    /// The function panicked with this message, there, with this backtrace.
    Panicked {
        message: String,
        location: Option<String>,
        backtrace: Option<String>,
    },
    /// The arguments or the result could not be (de)serialized.
    Failed(String),
}

/// A frame from a worker: acknowledgement of the initializer, or a task's outcome.
pub(crate) type Runner = fn(usize, &[u8], Vec<OwnedFd>) -> (Outcome, Vec<OwnedFd>);

/// A function of this executable whose address every function of a call is measured from
/// (parent and child run the same file, so code sits at the same offsets from it).
fn anchor() -> usize {
    anchor as fn() -> usize as usize
}

/// The executable's own address range (code of the main program, not of shared libraries).
fn exe_range() -> Option<(usize, usize)> {
    static RANGE: OnceLock<Option<(usize, usize)>> = OnceLock::new();
    *RANGE.get_or_init(|| {
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        let at = anchor();
        let parse = |line: &str| -> Option<(usize, usize, String)> {
            let mut parts = line.split_whitespace();
            let range = parts.next()?;
            let (lo, hi) = range.split_once('-')?;
            let path = parts.nth(4).unwrap_or("").to_owned();
            Some((
                usize::from_str_radix(lo, 16).ok()?,
                usize::from_str_radix(hi, 16).ok()?,
                path,
            ))
        };
        let entries: Vec<_> = maps.lines().filter_map(parse).collect();
        let path = entries
            .iter()
            .find(|(lo, hi, _)| (*lo..*hi).contains(&at))
            .map(|e| e.2.clone())
            .filter(|p| !p.is_empty())?;
        let lo = entries.iter().filter(|e| e.2 == path).map(|e| e.0).min()?;
        let hi = entries.iter().filter(|e| e.2 == path).map(|e| e.1).max()?;
        Some((lo, hi))
    })
}

/// The offset of a function address from the anchor, checked to be in this executable.
pub(crate) fn offset_of(addr: usize) -> Result<isize, String> {
    let (lo, hi) = exe_range().ok_or("cannot read this executable's mappings")?;
    if !(lo..hi).contains(&addr) {
        return Err(
            "the function is not in the main executable (a dynamically loaded library?); \
             only functions of the executable itself can run in a child"
                .to_owned(),
        );
    }
    Ok(addr.wrapping_sub(anchor()) as isize)
}

/// The [`Call`] of `f(args)`.
pub(crate) fn make_call<A, R>(f: fn(A) -> R, args: &A) -> Result<(Call, Vec<OwnedFd>), String>
where
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    let runner = offset_of(run_call::<A, R> as Runner as usize)?;
    let func = offset_of(f as usize)?;
    let (payload, fds) =
        wire::encode(args).map_err(|e| format!("could not serialize the arguments: {e}"))?;
    Ok((
        Call {
            runner,
            func,
            payload,
        },
        fds,
    ))
}

/// The [`Call`] of `f(a, b, ...)` with `args = (a, b, ...)` spread over the parameters of `f`,
/// a function item or a closure that captures nothing (a zero-sized `Copy` type: it crosses to
/// the child as its type alone, in the monomorphized runner).
pub(crate) fn make_star_call<F, Args>(args: &Args) -> Result<(Call, Vec<OwnedFd>), String>
where
    F: TupleFn<Args> + Copy,
    Args: Serialize + DeserializeOwned + 'static,
    F::Output: Serialize + DeserializeOwned,
{
    const {
        assert!(
            std::mem::size_of::<F>() == 0,
            "a function run in a child process must be a fn item or a closure that captures \
             nothing"
        )
    };
    let runner = offset_of(run_star::<F, Args> as Runner as usize)?;
    let (payload, fds) =
        wire::encode(args).map_err(|e| format!("could not serialize the arguments: {e}"))?;
    Ok((
        Call {
            runner,
            func: 0,
            payload,
        },
        fds,
    ))
}

/// Runs `f(args)` in this (child) process, `f` and `args` as the parent sent them.
fn run_call<A, R>(func: usize, payload: &[u8], fds: Vec<OwnedFd>) -> (Outcome, Vec<OwnedFd>)
where
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    // SAFETY: the parent made `func` from a `fn(A) -> R` of this very executable (children run
    // `/proc/self/exe`, the parent's own file, so code sits at the same offsets from `anchor`),
    // checked it lies in the executable's mapping, and paired it with this instantiation
    // `run_call::<A, R>` in the same `Call`, so the pointer has exactly this type.
    let f = unsafe { std::mem::transmute::<*const (), fn(A) -> R>(func as *const ()) };
    run_decoded(payload, fds, f)
}

/// Runs the zero-sized function `F` with the tuple `Args` spread over its parameters (see
/// [`make_star_call`]).
fn run_star<F, Args>(_func: usize, payload: &[u8], fds: Vec<OwnedFd>) -> (Outcome, Vec<OwnedFd>)
where
    F: TupleFn<Args> + Copy,
    Args: Serialize + DeserializeOwned + 'static,
    F::Output: Serialize + DeserializeOwned,
{
    // SAFETY: `make_star_call` checked that `F` is zero-sized, and the parent held a value of
    // `F` (so `F` is inhabited): a zero-sized inhabited type has exactly one value, made of no
    // bytes (so "all zeroes" is that value). Making it here is a copy of the parent's, which
    // `F: Copy` allows.
    let f: F = unsafe { std::mem::zeroed() };
    run_decoded(payload, fds, move |args: Args| f.call(args))
}

/// Decodes the arguments, runs `f` on them with panics caught, and encodes the outcome.
fn run_decoded<A, R>(
    payload: &[u8],
    fds: Vec<OwnedFd>,
    f: impl FnOnce(A) -> R,
) -> (Outcome, Vec<OwnedFd>)
where
    A: DeserializeOwned,
    R: Serialize,
{
    let args: A = match wire::decode(payload, fds) {
        Ok(a) => a,
        Err(e) => {
            return (
                Outcome::Failed(format!("could not deserialize the arguments: {e}")),
                Vec::new(),
            )
        }
    };
    match catch(move || f(args)) {
        Ok(r) => match wire::encode(&r) {
            Ok((bytes, fds)) => (Outcome::Returned(bytes), fds),
            Err(e) => (
                Outcome::Failed(format!("could not serialize the result: {e}")),
                Vec::new(),
            ),
        },
        Err(p) => {
            let origin = crate::unwind::take_origin();
            let outcome = Outcome::Panicked {
                message: payload_message(&*p),
                location: origin.location,
                backtrace: origin.backtrace,
            };
            (outcome, Vec::new())
        }
    }
}

/// Runs a [`Call`] received from the parent.
pub(crate) fn execute(call: &Call, fds: Vec<OwnedFd>) -> (Outcome, Vec<OwnedFd>) {
    let base = anchor();
    let runner = base.wrapping_add(call.runner as usize);
    let func = base.wrapping_add(call.func as usize);
    // SAFETY: `runner` is the relocated offset of a `Runner` (`run_call::<A, R>`) computed by
    // the parent from the same executable (see `run_call`).
    let runner = unsafe { std::mem::transmute::<*const (), Runner>(runner as *const ()) };
    runner(func, &call.payload, fds)
}
