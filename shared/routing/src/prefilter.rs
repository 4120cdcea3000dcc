//! A cheap first look at each rule, so that most rules are dismissed with two integer
//! comparisons instead of walking their conditions.
//!
//! For each rule, at compile time: the case-folded hashes of its host names when its host
//! condition has no wildcard, and the literal bytes (up to 8) that every path it accepts starts
//! with. Per request, the host is hashed once and the first 8 bytes of the path loaded once.
//! The filter only ever dismisses rules that cannot match: a host that matches a literal host
//! pattern folds to the same bytes and so the same hash; a path that matches starts with the
//! pattern's literal prefix. A rule it admits is then checked in full. The filters sit in one
//! dense array, so scanning a thousand rules reads 40 KB in order.

use crate::routes::{Condition, Rule};

/// What a rule requires of the request's host and path, in a form checked in a few cycles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Prefilter {
    /// Folded hashes of the literal host names the rule accepts; unused slots repeat the first.
    /// `None`: any host may match.
    hosts: Option<[u64; 3]>,
    /// The path's first bytes (little-endian, zero-padded) must equal `path_head` under `path_mask`.
    path_head: u64,
    path_mask: u64,
}

/// The parts of a request the filter reads, computed once per request.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe {
    host: u64,
    path_head: u64,
}

impl Probe {
    pub(crate) fn new(host: &str, path: &str) -> Self {
        Probe { host: folded_hash(host.as_bytes()), path_head: head(path.as_bytes()) }
    }
}

impl Prefilter {
    pub(crate) fn of(rule: &Rule) -> Self {
        let mut filter = Prefilter { hosts: None, path_head: 0, path_mask: 0 };
        for condition in &rule.conditions {
            match condition {
                Condition::Host(globs) => {
                    let literals: Option<Vec<u64>> = globs.iter().map(|g| g.literal().map(folded_hash)).collect();
                    if let Some(hashes) = literals.filter(|h| (1..=3).contains(&h.len())) {
                        filter.hosts = Some([0, 1, 2].map(|i| hashes.get(i).copied().unwrap_or(hashes[0])));
                    }
                }
                Condition::Path(globs) => {
                    // The bytes every alternative starts with.
                    let mut common: &[u8] = globs.first().map_or(&[], |g| g.literal_prefix());
                    for g in globs {
                        let p = g.literal_prefix();
                        let same = common.iter().zip(p).take_while(|(a, b)| a == b).count();
                        common = &common[..same];
                    }
                    let common = &common[..common.len().min(8)];
                    filter.path_head = head(common);
                    filter.path_mask = if common.len() == 8 { u64::MAX } else { (1u64 << (8 * common.len())) - 1 };
                }
                _ => {}
            }
        }
        filter
    }

    /// False only if the rule cannot match the probed request.
    #[inline(always)]
    pub(crate) fn admits(&self, probe: &Probe) -> bool {
        probe.path_head & self.path_mask == self.path_head
            && self.hosts.is_none_or(|h| h[0] == probe.host || h[1] == probe.host || h[2] == probe.host)
    }
}

/// FNV-1a over the ASCII-lowercased bytes.
fn folded_hash(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3))
}

/// The first 8 bytes, little-endian, zero-padded. Rule values are visible ASCII, never 0, so a
/// path shorter than a rule's prefix never passes.
fn head(bytes: &[u8]) -> u64 {
    let mut buffer = [0u8; 8];
    let n = bytes.len().min(8);
    buffer[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(buffer)
}
