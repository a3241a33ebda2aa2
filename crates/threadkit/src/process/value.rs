//! Shared [`Value`] and [`Array`] of plain numbers (Python's `multiprocessing.Value` /
//! `Array`, and their lock-free `RawValue` / `RawArray`).

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::OwnedFd;
use std::sync::atomic::{self, Ordering};
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::lock::Lock;
use super::shm::Segment;
use super::wire;

mod sealed {
    pub trait Sealed {}
}

/// A plain number that can live in shared memory: `bool`, `i8`…`i64`, `u8`…`u64`, `isize`,
/// `usize`, `f32`, `f64` (Python's typecodes `'?'`, `'b'`, `'i'`, `'q'`, `'d'`, …).
///
/// Every read and write is one atomic operation, so a value is never torn, even without the
/// lock; the lock ([`Value::get_lock`]) is for read-modify-write sequences such as `+= 1`.
pub trait Element: Copy + Send + Sync + fmt::Debug + 'static + sealed::Sealed {
    /// The atomic type with the same size used to store it.
    #[doc(hidden)]
    type Atom: Send + Sync;
    #[doc(hidden)]
    fn load(atom: &Self::Atom) -> Self;
    #[doc(hidden)]
    fn store(atom: &Self::Atom, value: Self);
}

/// An [`Element`] with atomic arithmetic ([`RawValue::fetch_add`], [`Value::fetch_add`]).
pub trait AtomicElement: Element {
    #[doc(hidden)]
    fn fetch_add(atom: &Self::Atom, value: Self) -> Self;
    #[doc(hidden)]
    fn fetch_sub(atom: &Self::Atom, value: Self) -> Self;
}

macro_rules! int_element {
    ($($t:ty => $a:ty),* $(,)?) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            type Atom = $a;
            fn load(atom: &$a) -> $t {
                atom.load(Ordering::SeqCst)
            }
            fn store(atom: &$a, value: $t) {
                atom.store(value, Ordering::SeqCst)
            }
        }
        impl AtomicElement for $t {
            fn fetch_add(atom: &$a, value: $t) -> $t {
                atom.fetch_add(value, Ordering::SeqCst)
            }
            fn fetch_sub(atom: &$a, value: $t) -> $t {
                atom.fetch_sub(value, Ordering::SeqCst)
            }
        }
    )*};
}

int_element! {
    i8 => atomic::AtomicI8, u8 => atomic::AtomicU8, i16 => atomic::AtomicI16,
    u16 => atomic::AtomicU16, i32 => atomic::AtomicI32, u32 => atomic::AtomicU32,
    i64 => atomic::AtomicI64, u64 => atomic::AtomicU64, isize => atomic::AtomicIsize,
    usize => atomic::AtomicUsize,
}

impl sealed::Sealed for bool {}
impl Element for bool {
    type Atom = atomic::AtomicBool;
    fn load(atom: &atomic::AtomicBool) -> bool {
        atom.load(Ordering::SeqCst)
    }
    fn store(atom: &atomic::AtomicBool, value: bool) {
        atom.store(value, Ordering::SeqCst)
    }
}

macro_rules! float_element {
    ($($t:ty => $a:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl Element for $t {
            type Atom = $a;
            fn load(atom: &$a) -> $t {
                <$t>::from_bits(atom.load(Ordering::SeqCst))
            }
            fn store(atom: &$a, value: $t) {
                atom.store(value.to_bits(), Ordering::SeqCst)
            }
        }
    )*};
}

float_element!(f32 => atomic::AtomicU32, f64 => atomic::AtomicU64);

/// Serializes a segment's descriptor.
struct SegFd<'a>(&'a Segment);

impl Serialize for SegFd<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        wire::serialize_fd(self.0.fd(), s)
    }
}

/// Deserializes a descriptor.
struct FdIn(OwnedFd);

impl<'de> Deserialize<'de> for FdIn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        wire::deserialize_fd(d).map(FdIn)
    }
}

/// `len` elements of `T` in shared memory, accessed atomically.
struct Cells<T: Element> {
    seg: Arc<Segment>,
    len: usize,
    _t: PhantomData<T>,
}

impl<T: Element> Clone for Cells<T> {
    fn clone(&self) -> Self {
        Cells {
            seg: self.seg.clone(),
            len: self.len,
            _t: PhantomData,
        }
    }
}

impl<T: Element> Cells<T> {
    fn new(len: usize, values: impl Iterator<Item = T>) -> io::Result<Cells<T>> {
        let size = std::mem::size_of::<T::Atom>();
        let bytes = len
            .checked_mul(size)
            .ok_or_else(|| io::Error::other("too large"))?;
        let cells = Cells {
            seg: Arc::new(Segment::new(bytes)?),
            len,
            _t: PhantomData,
        };
        for (i, v) in values.enumerate() {
            cells.set(i, v);
        }
        Ok(cells)
    }

    fn from_fd(fd: OwnedFd, len: usize) -> io::Result<Cells<T>> {
        let bytes = len
            .checked_mul(std::mem::size_of::<T::Atom>())
            .ok_or_else(|| io::Error::other("too large"))?;
        Ok(Cells {
            seg: Arc::new(Segment::from_fd(fd, bytes)?),
            len,
            _t: PhantomData,
        })
    }

    fn atom(&self, i: usize) -> &T::Atom {
        assert!(i < self.len);
        self.seg
            .atomic::<T::Atom>(i * std::mem::size_of::<T::Atom>())
    }

    fn get(&self, i: usize) -> T {
        T::load(self.atom(i))
    }

    fn set(&self, i: usize, v: T) {
        T::store(self.atom(i), v)
    }
}

/// A number in shared memory without a lock (Python's `RawValue`, or `Value(.., lock=False)`).
///
/// Reads and writes are atomic; read-modify-write sequences need a lock of your own (several
/// values may share one [`Lock`]), or [`fetch_add`](RawValue::fetch_add) for integers.
///
/// # Examples
///
/// ```
/// let v = threadkit::process::RawValue::new(5i32).unwrap();
/// v.set(v.get() + 1);
/// assert_eq!(v.get(), 6);
/// ```
pub struct RawValue<T: Element> {
    cells: Cells<T>,
}

impl<T: Element> Clone for RawValue<T> {
    fn clone(&self) -> Self {
        RawValue {
            cells: self.cells.clone(),
        }
    }
}

impl<T: Element> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawValue").field(&self.get()).finish()
    }
}

impl<T: Element> RawValue<T> {
    /// A new shared value.
    ///
    /// # Errors
    ///
    /// The error of `memfd_create`/`mmap`.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::process::RawValue::new(1.5f64).unwrap().get(), 1.5);
    /// ```
    pub fn new(value: T) -> io::Result<RawValue<T>> {
        Ok(RawValue {
            cells: Cells::new(1, std::iter::once(value))?,
        })
    }

    /// The value (Python's `.value`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(threadkit::process::RawValue::new(true).unwrap().get());
    /// ```
    pub fn get(&self) -> T {
        self.cells.get(0)
    }

    /// Sets the value (Python's `.value = v`).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = threadkit::process::RawValue::new(0u8).unwrap();
    /// v.set(9);
    /// assert_eq!(v.get(), 9);
    /// ```
    pub fn set(&self, value: T) {
        self.cells.set(0, value)
    }
}

impl<T: AtomicElement> RawValue<T> {
    /// Adds atomically, returning the previous value (wrapping on overflow).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = threadkit::process::RawValue::new(1u64).unwrap();
    /// assert_eq!(v.fetch_add(2), 1);
    /// assert_eq!(v.get(), 3);
    /// ```
    pub fn fetch_add(&self, value: T) -> T {
        T::fetch_add(self.cells.atom(0), value)
    }

    /// Subtracts atomically, returning the previous value (wrapping on overflow).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = threadkit::process::RawValue::new(5i32).unwrap();
    /// assert_eq!(v.fetch_sub(2), 5);
    /// ```
    pub fn fetch_sub(&self, value: T) -> T {
        T::fetch_sub(self.cells.atom(0), value)
    }
}

impl<T: Element> Serialize for RawValue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        SegFd(&self.cells.seg).serialize(s)
    }
}

impl<'de, T: Element> Deserialize<'de> for RawValue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let fd = FdIn::deserialize(d)?;
        Ok(RawValue {
            cells: Cells::from_fd(fd.0, 1).map_err(D::Error::custom)?,
        })
    }
}

/// A number in shared memory with a [`Lock`] (Python's `multiprocessing.Value`).
///
/// [`get`](Value::get) and [`set`](Value::set) are atomic each; hold
/// [`get_lock`](Value::get_lock) across a read-modify-write (Python's
/// `with v.get_lock(): v.value += 1`), or use [`update`](Value::update).
///
/// # Examples
///
/// ```
/// use threadkit::process::{Process, Value};
///
/// fn add_100(counter: Value<i64>) {
///     for _ in 0..100 {
///         let _g = counter.get_lock().lock();
///         counter.set(counter.get() + 1);
///     }
/// }
///
/// threadkit::process::init();
/// let counter = Value::new(0i64).unwrap();
/// let mut ps: Vec<_> = (0..2).map(|_| Process::spawn(add_100, counter.clone()).unwrap()).collect();
/// for p in &mut ps {
///     p.join().unwrap();
/// }
/// assert_eq!(counter.get(), 200);
/// ```
pub struct Value<T: Element> {
    raw: RawValue<T>,
    lock: Lock,
}

impl<T: Element> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value {
            raw: self.raw.clone(),
            lock: self.lock.clone(),
        }
    }
}

impl<T: Element> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Value").field(&self.get()).finish()
    }
}

impl<T: Element> Value<T> {
    /// A new shared value with its own lock (Python's `Value(typecode, value)`).
    ///
    /// # Errors
    ///
    /// The error of `memfd_create`/`mmap`.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = threadkit::process::Value::new(5i32).unwrap();
    /// assert_eq!(v.get(), 5);
    /// ```
    pub fn new(value: T) -> io::Result<Value<T>> {
        Value::with_lock(value, Lock::new()?)
    }

    /// A new shared value guarded by an existing lock (Python's `Value(.., lock=lock)`), so that
    /// several values can be updated together under one lock.
    ///
    /// # Errors
    ///
    /// The error of `memfd_create`/`mmap`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::{Lock, Value};
    ///
    /// let lock = Lock::new().unwrap();
    /// let a = Value::with_lock(1u32, lock.clone()).unwrap();
    /// let b = Value::with_lock(2u32, lock.clone()).unwrap();
    /// assert!(a.get_lock().ptr_eq(b.get_lock()));
    /// ```
    pub fn with_lock(value: T, lock: Lock) -> io::Result<Value<T>> {
        Ok(Value {
            raw: RawValue::new(value)?,
            lock,
        })
    }

    /// The value (Python's `.value`).
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::process::Value::new(2.5f32).unwrap().get(), 2.5);
    /// ```
    pub fn get(&self) -> T {
        self.raw.get()
    }

    /// Sets the value (Python's `.value = v`).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = threadkit::process::Value::new(0i8).unwrap();
    /// v.set(-3);
    /// assert_eq!(v.get(), -3);
    /// ```
    pub fn set(&self, value: T) {
        self.raw.set(value)
    }

    /// The lock guarding this value (Python's `get_lock()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let v = threadkit::process::Value::new(0i32).unwrap();
    /// {
    ///     let _g = v.get_lock().lock();
    ///     v.set(v.get() + 1);
    /// }
    /// assert_eq!(v.get(), 1);
    /// ```
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }

    /// Replaces the value with `f(value)` under the lock; returns the new value.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = threadkit::process::Value::new(20u16).unwrap();
    /// assert_eq!(v.update(|x| x * 2), 40);
    /// ```
    pub fn update(&self, f: impl FnOnce(T) -> T) -> T {
        let _g = self.lock.lock();
        let new = f(self.get());
        self.set(new);
        new
    }

    /// The same memory without the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = threadkit::process::Value::new(1u8).unwrap();
    /// v.raw().set(2);
    /// assert_eq!(v.get(), 2);
    /// ```
    pub fn raw(&self) -> &RawValue<T> {
        &self.raw
    }
}

impl<T: AtomicElement> Value<T> {
    /// Adds atomically (without taking the lock), returning the previous value.
    ///
    /// # Examples
    ///
    /// ```
    /// let v = threadkit::process::Value::new(1i64).unwrap();
    /// assert_eq!(v.fetch_add(1), 1);
    /// ```
    pub fn fetch_add(&self, value: T) -> T {
        self.raw.fetch_add(value)
    }
}

impl<T: Element> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.raw, &self.lock).serialize(s)
    }
}

impl<'de, T: Element> Deserialize<'de> for Value<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (raw, lock) = <(RawValue<T>, Lock)>::deserialize(d)?;
        Ok(Value { raw, lock })
    }
}

/// Error of [`RawArray::set`] (also through an [`Array`]) and the other indexed or length-checked
/// writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArrayError {
    /// The index is past the end (Python's `IndexError: invalid index`).
    IndexOutOfRange {
        /// The index.
        index: usize,
        /// The array's length.
        len: usize,
    },
    /// The slice's length differs from the array's (Python's `ValueError: Can only assign
    /// sequence of same size`).
    LengthMismatch {
        /// The slice's length.
        given: usize,
        /// The array's length.
        len: usize,
    },
    /// A byte string longer than the array (Python's `ValueError: byte string too long`).
    TooLong {
        /// The string's length.
        given: usize,
        /// The array's length.
        len: usize,
    },
}

impl fmt::Display for ArrayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArrayError::IndexOutOfRange { index, len } => {
                write!(f, "invalid index {index} (array of length {len})")
            }
            ArrayError::LengthMismatch { given, len } => write!(
                f,
                "Can only assign sequence of same size ({given} given, array of length {len})"
            ),
            ArrayError::TooLong { given, len } => write!(
                f,
                "byte string too long ({given} bytes, array of length {len})"
            ),
        }
    }
}

impl std::error::Error for ArrayError {}

/// A fixed-length array of numbers in shared memory without a lock (Python's `RawArray`, or
/// `Array(.., lock=False)`).
///
/// # Examples
///
/// ```
/// let a = threadkit::process::RawArray::from_slice(&[1u32, 2, 3]).unwrap();
/// a.set(0, 10).unwrap();
/// assert_eq!(a.to_vec(), [10, 2, 3]);
/// ```
pub struct RawArray<T: Element> {
    cells: Cells<T>,
}

impl<T: Element> Clone for RawArray<T> {
    fn clone(&self) -> Self {
        RawArray {
            cells: self.cells.clone(),
        }
    }
}

impl<T: Element> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawArray").field(&self.to_vec()).finish()
    }
}

impl<T: Element> RawArray<T> {
    /// A shared array holding a copy of `values`.
    ///
    /// # Errors
    ///
    /// The error of `memfd_create`/`mmap`.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = threadkit::process::RawArray::from_slice(&[0.5f64; 4]).unwrap();
    /// assert_eq!(a.len(), 4);
    /// ```
    pub fn from_slice(values: &[T]) -> io::Result<RawArray<T>> {
        Ok(RawArray {
            cells: Cells::new(values.len(), values.iter().copied())?,
        })
    }

    /// A shared array of `len` copies of `value` (Python's `Array('i', 10)` for zeros).
    ///
    /// # Errors
    ///
    /// The error of `memfd_create`/`mmap`.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = threadkit::process::RawArray::filled(0i32, 3).unwrap();
    /// assert_eq!(a.to_vec(), [0, 0, 0]);
    /// ```
    pub fn filled(value: T, len: usize) -> io::Result<RawArray<T>> {
        Ok(RawArray {
            cells: Cells::new(len, std::iter::repeat_n(value, len))?,
        })
    }

    /// The number of elements.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(threadkit::process::RawArray::filled(1u8, 7).unwrap().len(), 7);
    /// ```
    pub fn len(&self) -> usize {
        self.cells.len
    }

    /// Whether the array has no elements.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(threadkit::process::RawArray::<u8>::from_slice(&[]).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.cells.len == 0
    }

    /// Element `index`, or `None` past the end.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = threadkit::process::RawArray::from_slice(&[4u8, 5]).unwrap();
    /// assert_eq!(a.get(1), Some(5));
    /// assert_eq!(a.get(2), None);
    /// ```
    pub fn get(&self, index: usize) -> Option<T> {
        (index < self.len()).then(|| self.cells.get(index))
    }

    /// Sets element `index` (Python's `a[i] = v`).
    ///
    /// # Errors
    ///
    /// [`ArrayError::IndexOutOfRange`] past the end.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = threadkit::process::RawArray::filled(0u8, 2).unwrap();
    /// assert!(a.set(5, 1).is_err());
    /// ```
    pub fn set(&self, index: usize, value: T) -> Result<(), ArrayError> {
        if index >= self.len() {
            return Err(ArrayError::IndexOutOfRange {
                index,
                len: self.len(),
            });
        }
        self.cells.set(index, value);
        Ok(())
    }

    /// A copy of every element (Python's `a[:]`).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = threadkit::process::RawArray::from_slice(&[1i16, -1]).unwrap();
    /// assert_eq!(a.to_vec(), [1, -1]);
    /// ```
    pub fn to_vec(&self) -> Vec<T> {
        (0..self.len()).map(|i| self.cells.get(i)).collect()
    }

    /// Overwrites every element (Python's `a[:] = values`).
    ///
    /// # Errors
    ///
    /// [`ArrayError::LengthMismatch`] when `values` has another length.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = threadkit::process::RawArray::filled(0u8, 2).unwrap();
    /// a.copy_from_slice(&[1, 2]).unwrap();
    /// assert!(a.copy_from_slice(&[1]).is_err());
    /// ```
    pub fn copy_from_slice(&self, values: &[T]) -> Result<(), ArrayError> {
        if values.len() != self.len() {
            return Err(ArrayError::LengthMismatch {
                given: values.len(),
                len: self.len(),
            });
        }
        for (i, v) in values.iter().enumerate() {
            self.cells.set(i, *v);
        }
        Ok(())
    }
}

impl RawArray<u8> {
    /// The bytes up to the first NUL (Python's `.value` of a `'c'` array).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = threadkit::process::RawArray::from_slice(b"Hello\0World").unwrap();
    /// assert_eq!(a.value(), b"Hello");
    /// ```
    pub fn value(&self) -> Vec<u8> {
        (0..self.len())
            .map(|i| self.cells.get(i))
            .take_while(|&b| b != 0)
            .collect()
    }

    /// Writes a byte string, followed by a NUL when it is shorter than the array (Python's
    /// `.value = b"..."` of a `'c'` array).
    ///
    /// # Errors
    ///
    /// [`ArrayError::TooLong`] when `bytes` is longer than the array ("byte string too long").
    ///
    /// # Examples
    ///
    /// ```
    /// let a = threadkit::process::RawArray::from_slice(b"Hello, World!").unwrap();
    /// a.set_value(b"new string").unwrap();
    /// assert_eq!(a.value(), b"new string");
    /// ```
    pub fn set_value(&self, bytes: &[u8]) -> Result<(), ArrayError> {
        if bytes.len() > self.len() {
            return Err(ArrayError::TooLong {
                given: bytes.len(),
                len: self.len(),
            });
        }
        for (i, b) in bytes.iter().enumerate() {
            self.cells.set(i, *b);
        }
        if bytes.len() < self.len() {
            self.cells.set(bytes.len(), 0);
        }
        Ok(())
    }
}

impl<T: Element> Serialize for RawArray<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (SegFd(&self.cells.seg), self.cells.len as u64).serialize(s)
    }
}

impl<'de, T: Element> Deserialize<'de> for RawArray<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let (fd, len) = <(FdIn, u64)>::deserialize(d)?;
        let len = usize::try_from(len).map_err(D::Error::custom)?;
        Ok(RawArray {
            cells: Cells::from_fd(fd.0, len).map_err(D::Error::custom)?,
        })
    }
}

/// A fixed-length array of numbers in shared memory with a [`Lock`] (Python's
/// `multiprocessing.Array`).
///
/// Element reads and writes are atomic each; hold [`get_lock`](Array::get_lock) to read or
/// write several consistently.
///
/// # Examples
///
/// ```
/// use threadkit::process::{Array, Process};
///
/// fn negate(a: Array<f64>) {
///     let _g = a.get_lock().lock();
///     for i in 0..a.len() {
///         a.set(i, -a.get(i).unwrap()).unwrap();
///     }
/// }
///
/// threadkit::process::init();
/// let a = Array::from_slice(&[1.0, 2.5]).unwrap();
/// Process::spawn(negate, a.clone()).unwrap().join().unwrap();
/// assert_eq!(a.to_vec(), [-1.0, -2.5]);
/// ```
pub struct Array<T: Element> {
    raw: RawArray<T>,
    lock: Lock,
}

impl<T: Element> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            raw: self.raw.clone(),
            lock: self.lock.clone(),
        }
    }
}

impl<T: Element> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Array").field(&self.to_vec()).finish()
    }
}

impl<T: Element> std::ops::Deref for Array<T> {
    type Target = RawArray<T>;

    fn deref(&self) -> &RawArray<T> {
        &self.raw
    }
}

impl<T: Element> Array<T> {
    /// A shared array holding a copy of `values`, with its own lock (Python's
    /// `Array(typecode, values)`).
    ///
    /// # Errors
    ///
    /// The error of `memfd_create`/`mmap`.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = threadkit::process::Array::from_slice(&[1u8, 2]).unwrap();
    /// assert_eq!(a.to_vec(), [1, 2]);
    /// ```
    pub fn from_slice(values: &[T]) -> io::Result<Array<T>> {
        Array::from_slice_with_lock(values, Lock::new()?)
    }

    /// A shared array guarded by an existing lock (Python's `Array(.., lock=lock)`).
    ///
    /// # Errors
    ///
    /// The error of `memfd_create`/`mmap`.
    ///
    /// # Examples
    ///
    /// ```
    /// use threadkit::process::{Array, Lock};
    ///
    /// let lock = Lock::new().unwrap();
    /// let s = Array::from_slice_with_lock(b"Hello, World!", lock.clone()).unwrap();
    /// assert!(s.get_lock().ptr_eq(&lock));
    /// ```
    pub fn from_slice_with_lock(values: &[T], lock: Lock) -> io::Result<Array<T>> {
        Ok(Array {
            raw: RawArray::from_slice(values)?,
            lock,
        })
    }

    /// A shared array of `len` copies of `value`, with its own lock.
    ///
    /// # Errors
    ///
    /// The error of `memfd_create`/`mmap`.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = threadkit::process::Array::filled(0i64, 10).unwrap();
    /// assert_eq!(a.len(), 10);
    /// ```
    pub fn filled(value: T, len: usize) -> io::Result<Array<T>> {
        Ok(Array {
            raw: RawArray::filled(value, len)?,
            lock: Lock::new()?,
        })
    }

    /// The lock guarding this array (Python's `get_lock()`).
    ///
    /// # Examples
    ///
    /// ```
    /// let a = threadkit::process::Array::filled(0u8, 1).unwrap();
    /// let _g = a.get_lock().lock();
    /// ```
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }

    /// The same memory without the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let a = threadkit::process::Array::filled(0u8, 1).unwrap();
    /// assert_eq!(a.raw().len(), 1);
    /// ```
    pub fn raw(&self) -> &RawArray<T> {
        &self.raw
    }
}

impl<T: Element> Serialize for Array<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.raw, &self.lock).serialize(s)
    }
}

impl<'de, T: Element> Deserialize<'de> for Array<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (raw, lock) = <(RawArray<T>, Lock)>::deserialize(d)?;
        Ok(Array { raw, lock })
    }
}
