//! Comparisons for `threadkit::process`.

use super::Bench;

/// The comparisons of this module.
pub(super) fn benches() -> Vec<Bench> {
    vec![]
}
