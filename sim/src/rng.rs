//! Deterministic randomness: SplitMix64 streams derived from the fleet seed.
//!
//! The simulator's promise is "same seed, same bytes", on every machine and after every
//! dependency update. A fixed, tiny generator written here keeps that promise where an
//! external crate could change its algorithm in a minor release. Every host gets its own
//! stream (derived from the seed and the host index), so the output of one host does not
//! depend on how many other hosts were generated before it.

/// A SplitMix64 generator (Steele, Lea, Flood 2014): fast, full period, good enough
/// statistical quality for simulated noise.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The SplitMix64 finaliser, also used as a stateless 64-bit hash mixer.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stateless hash of a few words, for values that must not depend on generation order
/// (for example the jitter of a given night's backup start on a given host).
pub fn hash(words: &[u64]) -> u64 {
    words
        .iter()
        .fold(GOLDEN, |acc, w| mix(acc ^ mix(w.wrapping_add(GOLDEN))))
}

/// A uniform value in `[0, 1)` from a hash, see [`hash`].
pub fn unit(words: &[u64]) -> f64 {
    to_unit(hash(words))
}

fn to_unit(x: u64) -> f64 {
    // The top 53 bits fill an f64 mantissa exactly.
    (x >> 11) as f64 / (1u64 << 53) as f64
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// An independent stream for `(seed, stream, index)`.
    pub fn derive(seed: u64, stream: u64, index: u64) -> Self {
        Self::new(hash(&[seed, stream, index]))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix(self.state)
    }

    /// Uniform in `[0, 1)`.
    pub fn f64(&mut self) -> f64 {
        to_unit(self.next_u64())
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// Uniform integer in `[lo, hi)`; `lo` when the range is empty.
    pub fn int(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo) as u64;
        lo + (self.next_u64() % span) as i64
    }

    /// Uniform index in `0..len`; 0 when `len` is 0.
    pub fn index(&mut self, len: usize) -> usize {
        if len == 0 {
            return 0;
        }
        (self.next_u64() % len as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// Standard normal (Box–Muller; one value per call keeps the stream simple).
    pub fn normal(&mut self) -> f64 {
        let u1 = self.f64().max(f64::MIN_POSITIVE);
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Exponentially distributed with the given mean.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.f64()).ln()
    }
}

/// FNV-1a over bytes: the same per-host phase function as the agent, so simulated
/// hosts spread over the interval exactly as real ones do.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::derive(7, 1, 2).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(
            Rng::derive(7, 1, 2).next_u64(),
            Rng::derive(7, 1, 3).next_u64()
        );
    }

    #[test]
    fn uniform_and_normal_are_plausible() {
        let mut rng = Rng::new(42);
        let n = 20_000;
        let values: Vec<f64> = (0..n).map(|_| rng.f64()).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let mean = values.iter().sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
        let normals: Vec<f64> = (0..n).map(|_| rng.normal()).collect();
        let m = normals.iter().sum::<f64>() / n as f64;
        let var = normals.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n as f64;
        assert!(m.abs() < 0.05 && (var - 1.0).abs() < 0.1, "{m} {var}");
    }
}
