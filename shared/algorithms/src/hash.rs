//! Stable, fast hashing for placing targets and keys on the ring.
//!
//! Stable means: the same bytes hash the same in every router process and every release, so all
//! routers of a deployment agree on where a client IP lands. `std`'s `DefaultHasher` promises no
//! such thing across Rust releases.

/// FNV-1a over the bytes, then the MurmurHash3 64-bit finalizer: FNV alone distributes short,
/// similar keys (IPv4 addresses in one subnet) poorly in the high bits the ring relies on.
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    fmix64(h)
}

/// MurmurHash3's 64-bit avalanche step.
#[inline]
pub const fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny deterministic generator. The crate never draws
/// entropy; callers seed this (per request, from a random number they pass in) and tests seed it
/// with constants.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// ```
    /// use switchyard_algorithms::hash::SplitMix64;
    ///
    /// let (mut a, mut b) = (SplitMix64::new(7), SplitMix64::new(7));
    /// assert_eq!(a.next_u64(), b.next_u64(), "the same seed, the same numbers");
    /// assert!(a.below(10) < 10);
    /// ```
    #[inline]
    pub const fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-32 for n < 2^32).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_is_stable_across_releases() {
        // Pinned values: changing them re-homes every sticky client of a running deployment.
        assert_eq!(hash_bytes(b""), fmix64(0xcbf2_9ce4_8422_2325));
        assert_eq!(hash_bytes(&[10, 0, 0, 1]), hash_bytes(&[10, 0, 0, 1]));
        assert_ne!(hash_bytes(&[10, 0, 0, 1]), hash_bytes(&[10, 0, 0, 2]));
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = SplitMix64::new(7);
        for n in 1..50 {
            for _ in 0..100 {
                assert!(rng.below(n) < n);
            }
        }
    }
}
