//! What the batch runs on each input: the [`Task`] trait (any `Fn(&I) -> Result<T, E>` is
//! one) and its adapters for other shapes of function, [`Infallible`] and [`Star`]. The
//! builder takes one, the workers call it, the isolation mode implements it.

use super::outcome::Cause;
use crate::executor::TupleFn;

/// A function the batch runs on each input: any `Fn(&I) -> Result<T, E>`; the wrappers
/// [`Infallible`] and [`Star`] adapt other shapes.
///
/// # Examples
///
/// ```
/// use threadkit::batch::Task;
///
/// let f = |x: &u8| -> Result<u8, ()> { Ok(x + 1) };
/// assert_eq!(Task::run(&f, &1), Ok(2));
/// ```
pub trait Task<I>: Send + Sync + 'static {
    /// The value of a successful item.
    type Output: Send + 'static;
    /// The error of a failed item.
    type Error: Send + 'static;
    /// Runs the function on one input.
    ///
    /// # Errors
    ///
    /// Whatever the function returns.
    fn run(&self, input: &I) -> Result<Self::Output, Self::Error>;

    /// Runs the function on one input and says why it failed: the runner calls this. The
    /// default reports [`run`](Task::run)'s `Err` as [`Cause::Error`]; a task that can fail in
    /// other ways (the process-pool [`Isolated`](super::Isolated) task: a crashed worker, a hard timeout)
    /// overrides it to report those as their own causes.
    ///
    /// # Errors
    ///
    /// The failure's cause.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::batch::{Cause, Task};
    ///
    /// let f = |x: &u8| if *x > 0 { Ok(*x) } else { Err("zero") };
    /// assert_eq!(f.attempt(&0), Err(Cause::Error("zero")));
    /// ```
    fn attempt(&self, input: &I) -> Result<Self::Output, Cause<Self::Error>> {
        self.run(input).map_err(Cause::Error)
    }
}

impl<F, I, T, E> Task<I> for F
where
    F: Fn(&I) -> Result<T, E> + Send + Sync + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    type Output = T;
    type Error = E;
    fn run(&self, input: &I) -> Result<T, E> {
        self(input)
    }
}

/// A function that cannot fail, as a [`Task`] (made by [`Batch::infallible`](super::Batch::infallible)).
///
/// # Examples
///
/// ```
/// use threadkit::batch::{Infallible, Task};
/// assert_eq!(Infallible(|x: &u8| x * 2).run(&4), Ok(8));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Infallible<F>(pub F);

impl<F, I, T> Task<I> for Infallible<F>
where
    F: Fn(&I) -> T + Send + Sync + 'static,
    T: Send + 'static,
{
    type Output = T;
    type Error = std::convert::Infallible;
    fn run(&self, input: &I) -> Result<T, std::convert::Infallible> {
        Ok((self.0)(input))
    }
}

/// A function of several arguments called with a tuple's fields (a clone of the input), as a
/// [`Task`] (made by [`Batch::starmap`](super::Batch::starmap)).
///
/// # Examples
///
/// ```
/// use threadkit::batch::{Star, Task};
/// fn add(a: u8, b: u8) -> Result<u8, String> { Ok(a + b) }
/// assert_eq!(Star(add).run(&(2, 3)), Ok(5));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Star<F>(pub F);

impl<F, Args, T, E> Task<Args> for Star<F>
where
    F: TupleFn<Args, Output = Result<T, E>>,
    Args: Clone,
    T: Send + 'static,
    E: Send + 'static,
{
    type Output = T;
    type Error = E;
    fn run(&self, input: &Args) -> Result<T, E> {
        self.0.call(input.clone())
    }
}
