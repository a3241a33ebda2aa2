//! One job's values, packed: every value's bytes in one buffer, with where each ends.
//!
//! A job of `-X` holds tens of thousands of values. Kept as a `Vec<u8>` each, every value was
//! an allocation by the thread that read it and a free by whichever thread dropped the job last
//! (glibc's `free` of another thread's chunk takes its arena's lock): about 28% of the main
//! thread's instructions for `-X echo` over 100,000 values. [`Values`] is two allocations
//! per job whatever its size, and a record is read straight into it ([`Values::push_with`]).
//!
//! [`ValueList`] is what the template, the journal keys, `--tag` and the results read: the
//! values by position, from a [`Values`] or a plain list of `Vec<u8>` (the unit tests').

use std::ops::Index;

/// Values by position, as bytes.
pub(crate) trait ValueList {
    /// How many values.
    fn count(&self) -> usize;

    /// The value at `i`.
    ///
    /// # Panics
    ///
    /// If `i >= self.count()`.
    fn value(&self, i: usize) -> &[u8];

    /// The value at `i`, if there is one.
    fn get_value(&self, i: usize) -> Option<&[u8]> {
        (i < self.count()).then(|| self.value(i))
    }

    /// The values in order.
    fn each(&self) -> impl ExactSizeIterator<Item = &[u8]> {
        (0..self.count()).map(|i| self.value(i))
    }

    /// The values joined by `sep` (`--tag`'s prefix, an error's preview).
    fn joined(&self, sep: u8) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, v) in self.each().enumerate() {
            if k > 0 {
                out.push(sep);
            }
            out.extend_from_slice(v);
        }
        out
    }
}

impl ValueList for [Vec<u8>] {
    fn count(&self) -> usize {
        self.len()
    }

    fn value(&self, i: usize) -> &[u8] {
        &self[i]
    }
}

impl ValueList for Vec<Vec<u8>> {
    fn count(&self) -> usize {
        self.len()
    }

    fn value(&self, i: usize) -> &[u8] {
        &self[i]
    }
}

/// One job's values in one buffer (see the module docs).
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Values {
    bytes: Vec<u8>,
    /// Where each value ends in `bytes`; value `i` starts where `i - 1` ends.
    ends: Vec<usize>,
}

impl Values {
    /// Room for `values` values of `bytes` bytes in all.
    pub(crate) fn with_capacity(values: usize, bytes: usize) -> Values {
        Values {
            bytes: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(values),
        }
    }

    /// How many values.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// True if there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of all the values together.
    pub(crate) fn total_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Append `v`.
    pub(crate) fn push(&mut self, v: &[u8]) {
        self.bytes.extend_from_slice(v);
        self.ends.push(self.bytes.len());
    }

    /// Append a value written by `write` at the end of the buffer (which it may only append
    /// to); none is added when `write` returns `None` (what it appended is dropped).
    pub(crate) fn push_with<T>(
        &mut self,
        write: impl FnOnce(&mut Vec<u8>) -> Option<T>,
    ) -> Option<T> {
        let start = self.bytes.len();
        let r = write(&mut self.bytes);
        if r.is_some() && self.bytes.len() >= start {
            self.ends.push(self.bytes.len());
        } else {
            self.bytes.truncate(start);
        }
        r
    }

    /// Remove the last value and return it.
    pub(crate) fn pop(&mut self) -> Option<Vec<u8>> {
        self.ends.pop()?;
        let start = self.ends.last().copied().unwrap_or(0);
        let v = self.bytes[start..].to_vec();
        self.bytes.truncate(start);
        Some(v)
    }

    /// The values `range` as a list of their own.
    pub(crate) fn part(&self, range: std::ops::Range<usize>) -> Values {
        let mut out = Values::with_capacity(range.len(), 0);
        for i in range {
            out.push(&self[i]);
        }
        out
    }

    /// The values, one `Vec` each.
    #[cfg(test)]
    pub(crate) fn to_vecs(&self) -> Vec<Vec<u8>> {
        self.each().map(<[u8]>::to_vec).collect()
    }
}

impl ValueList for Values {
    fn count(&self) -> usize {
        self.ends.len()
    }

    fn value(&self, i: usize) -> &[u8] {
        &self[i]
    }
}

impl Index<usize> for Values {
    type Output = [u8];

    fn index(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }
}

impl<T: AsRef<[u8]>> FromIterator<T> for Values {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Values {
        let mut out = Values::default();
        for v in iter {
            out.push(v.as_ref());
        }
        out
    }
}

impl From<Vec<Vec<u8>>> for Values {
    fn from(v: Vec<Vec<u8>>) -> Values {
        let total = v.iter().map(Vec::len).sum();
        let mut out = Values::with_capacity(v.len(), total);
        for x in &v {
            out.push(x);
        }
        out
    }
}

impl std::fmt::Debug for Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.each().map(<[u8]>::escape_ascii))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_bytes_and_boundaries() {
        let mut v = Values::default();
        v.push(b"");
        v.push(b"a\0b");
        v.push(b"\xff\n");
        assert_eq!(v.len(), 3);
        assert_eq!(
            v.to_vecs(),
            vec![b"".to_vec(), b"a\0b".to_vec(), b"\xff\n".to_vec()]
        );
        assert_eq!(v.get_value(3), None);
        assert_eq!(v.joined(b' '), b" a\0b \xff\n");
        assert_eq!(
            v.part(1..3).to_vecs(),
            vec![b"a\0b".to_vec(), b"\xff\n".to_vec()]
        );
        assert_eq!(v.pop(), Some(b"\xff\n".to_vec()));
        assert_eq!(v.total_bytes(), 3);
        // A value written in place, and one abandoned half-written.
        assert_eq!(
            v.push_with(|b| {
                b.extend_from_slice(b"xy");
                Some(1)
            }),
            Some(1)
        );
        assert_eq!(
            v.push_with(|b| {
                b.extend_from_slice(b"lost");
                None::<()>
            }),
            None
        );
        assert_eq!(
            v,
            Values::from(vec![b"".to_vec(), b"a\0b".to_vec(), b"xy".to_vec()])
        );
        assert_eq!(v.pop(), Some(b"xy".to_vec()));
        assert_eq!(v.pop(), Some(b"a\0b".to_vec()));
        assert_eq!(v.pop(), Some(Vec::new()));
        assert_eq!(v.pop(), None);
    }
}
