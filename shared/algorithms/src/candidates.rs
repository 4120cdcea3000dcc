//! The ranked targets for one request: the pick first, then where to fall through to.

/// Upper bound on candidates per request: one pick and up to seven retries. Retries beyond a few
/// only add latency to a request that is already failing.
pub const MAX_CANDIDATES: usize = 8;

/// Up to [`MAX_CANDIDATES`] distinct target indices, best first. A fixed array: picking allocates
/// nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidates {
    indices: [u32; MAX_CANDIDATES],
    len: u8,
    capacity: u8,
}

impl Candidates {
    /// Room for `capacity` candidates (clamped to `1..=MAX_CANDIDATES`).
    ///
    /// ```
    /// use switchyard_algorithms::Candidates;
    ///
    /// let mut candidates = Candidates::with_capacity(2);
    /// assert!(candidates.push(4) && !candidates.push(4), "distinct");
    /// assert!(candidates.push(1) && !candidates.push(2), "full");
    /// assert_eq!(candidates.iter().collect::<Vec<_>>(), [4, 1]);
    /// ```
    #[inline]
    pub fn with_capacity(capacity: usize) -> Self {
        Candidates { indices: [0; MAX_CANDIDATES], len: 0, capacity: capacity.clamp(1, MAX_CANDIDATES) as u8 }
    }

    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn is_full(&self) -> bool {
        self.len >= self.capacity
    }

    /// The pick: the best candidate, if any.
    #[inline]
    pub fn first(&self) -> Option<usize> {
        self.iter().next()
    }

    /// The candidate ranked last: the one a retry falls through from.
    #[inline]
    pub fn last(&self) -> Option<usize> {
        self.len().checked_sub(1).map(|i| self.indices[i] as usize)
    }

    #[inline]
    pub fn contains(&self, index: usize) -> bool {
        self.indices[..self.len()].iter().any(|&i| i as usize == index)
    }

    /// Add `index` unless full or already present; whether it was added.
    #[inline]
    pub fn push(&mut self, index: usize) -> bool {
        if self.is_full() || self.contains(index) {
            return false;
        }
        self.indices[self.len()] = index as u32;
        self.len += 1;
        true
    }

    /// A copy with room for one more candidate than it holds (`None` when already at
    /// [`MAX_CANDIDATES`]): how a retry asks for the next fall-through.
    pub fn with_room_for_one_more(&self) -> Option<Candidates> {
        (self.len() < MAX_CANDIDATES).then(|| Candidates { capacity: self.len + 1, ..*self })
    }

    /// Candidate indices into the balancer's target set, best first.
    #[inline]
    pub fn iter(&self) -> impl ExactSizeIterator<Item = usize> + '_ {
        self.indices[..self.len()].iter().map(|&i| i as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_refuses_duplicates_and_overflow() {
        let mut c = Candidates::with_capacity(3);
        assert!(c.push(5));
        assert!(!c.push(5));
        assert!(c.push(1));
        assert!(c.push(9));
        assert!(!c.push(2));
        assert_eq!(c.iter().collect::<Vec<_>>(), [5, 1, 9]);
        assert_eq!(c.first(), Some(5));
    }
}
