//! The crate's one error type.

use crate::target::{MAX_TARGETS, TargetId};

/// What went wrong. Input is never a panic: every refusal is one of these.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("the target set is empty")]
    NoTargets,
    #[error("no target is usable: all are draining, ejected, or over their load bound")]
    NoUsableTarget,
    #[error("target {0} appears twice in the set")]
    DuplicateTarget(TargetId),
    #[error("{0} targets is more than the {MAX_TARGETS} a set may hold")]
    TooManyTargets(usize),
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
}
