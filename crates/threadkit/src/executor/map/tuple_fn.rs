//! [`TupleFn`]: a function called with a tuple's fields as its arguments (`starmap`'s).

#[cfg(doc)]
use super::super::pool::ThreadPool;

/// A function called with a tuple's fields as its arguments, for
/// [`ThreadPool::starmap`]: implemented for every `Fn(A, B, ...) -> R + Send + Sync +
/// 'static` of up to 8 arguments, with `Args = (A, B, ...)`.
///
/// # Examples
///
/// ```
/// use threadkit::executor::TupleFn;
///
/// fn add(a: i32, b: i32) -> i32 { a + b }
/// assert_eq!(add.call((2, 3)), 5);
/// ```
pub trait TupleFn<Args>: Send + Sync + 'static {
    /// What the function returns.
    type Output: Send + 'static;
    /// Calls the function with `args`' fields.
    fn call(&self, args: Args) -> Self::Output;
}

macro_rules! tuple_fn {
    ($($a:ident),*) => {
        impl<Func, Ret, $($a),*> TupleFn<($($a,)*)> for Func
        where
            Func: Fn($($a),*) -> Ret + Send + Sync + 'static,
            Ret: Send + 'static,
        {
            type Output = Ret;
            #[allow(non_snake_case)]
            fn call(&self, ($($a,)*): ($($a,)*)) -> Ret {
                self($($a),*)
            }
        }
    };
}

tuple_fn!();
tuple_fn!(A);
tuple_fn!(A, B);
tuple_fn!(A, B, C);
tuple_fn!(A, B, C, D);
tuple_fn!(A, B, C, D, E);
tuple_fn!(A, B, C, D, E, G);
tuple_fn!(A, B, C, D, E, G, H);
tuple_fn!(A, B, C, D, E, G, H, I);
