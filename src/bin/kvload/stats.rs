//! Latency recording: a fixed-size log-bucket histogram of nanoseconds, one
//! per worker, merged per level, plus exact count/sum/min/max.
//!
//! Log buckets rather than a Vec of samples so memory stays constant however
//! long a `--duration` run is; nanoseconds rather than microseconds so the
//! ~20 µs loopback latencies of a fast server still resolve well.

/// Values below `2^SUB_BITS` get one bucket each; above that every power of
/// two is split into `2^(SUB_BITS-1)` buckets, so a reported percentile is
/// within 1/128 (< 0.8 %) of the true value.
const SUB_BITS: u32 = 7;
const EXACT: u64 = 1 << SUB_BITS;
const HALF: u64 = EXACT / 2;
/// Exponents SUB_BITS..=63 each get HALF buckets after the EXACT ones.
const BUCKETS: usize = EXACT as usize + (64 - SUB_BITS as usize) * HALF as usize;

#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    count: u64,
    sum: u128,
    min: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            count: 0,
            sum: 0,
            min: u64::MAX,
            max: 0,
        }
    }

    pub fn record(&mut self, nanos: u64) {
        self.counts[index(nanos)] += 1;
        self.count += 1;
        self.sum += nanos as u128;
        self.min = self.min.min(nanos);
        self.max = self.max.max(nanos);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
    }

    #[cfg(test)] // only tests need the raw count; reports use mean/quantiles
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    pub fn max(&self) -> Option<u64> {
        (self.count > 0).then_some(self.max)
    }

    /// The value at quantile `q` (0..=1): the smallest bucket whose
    /// cumulative count reaches `ceil(q * count)`, reported as the bucket's
    /// midpoint and clamped to the exact observed min/max (so p100 == max).
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, hi) = bounds(i);
                let mid = lo + (hi - lo) / 2;
                return Some(mid.clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

fn index(v: u64) -> usize {
    if v < EXACT {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros(); // >= SUB_BITS
    let shift = exp - (SUB_BITS - 1);
    let mantissa = (v >> shift) - HALF; // 0..HALF
    (EXACT + (exp - SUB_BITS) as u64 * HALF + mantissa) as usize
}

/// Inclusive value range `[lo, hi]` of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < EXACT {
        return (i, i);
    }
    let exp = (i - EXACT) / HALF + SUB_BITS as u64;
    let mantissa = (i - EXACT) % HALF + HALF;
    let shift = exp - (SUB_BITS as u64 - 1);
    let lo = mantissa << shift;
    let hi = lo + ((1u64 << shift) - 1);
    (lo, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_bounds_agree() {
        for v in (0..5000u64).chain([u64::MAX, 1 << 40, (1 << 40) - 1, 123_456_789]) {
            let i = index(v);
            assert!(i < BUCKETS, "{v}");
            let (lo, hi) = bounds(i);
            assert!(lo <= v && v <= hi, "v={v} i={i} lo={lo} hi={hi}");
            // Relative bucket width bounds the reporting error.
            assert!((hi - lo) as f64 <= (lo as f64 / 64.0).max(0.0), "v={v}");
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_are_close() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 1000);
        }
        let p50 = h.quantile(0.5).unwrap() as f64;
        let p99 = h.quantile(0.99).unwrap() as f64;
        assert!((p50 / 50_000_000.0 - 1.0).abs() < 0.01, "{p50}");
        assert!((p99 / 99_000_000.0 - 1.0).abs() < 0.01, "{p99}");
        assert_eq!(h.quantile(1.0), Some(100_000_000));
        assert_eq!(h.max(), Some(100_000_000));
        assert_eq!(h.mean(), Some(50_000_500.0));
    }

    #[test]
    fn merge_and_empty() {
        let mut a = Histogram::new();
        assert_eq!(a.quantile(0.5), None);
        assert_eq!(a.mean(), None);
        let mut b = Histogram::new();
        b.record(10);
        b.record(30);
        a.merge(&b);
        assert_eq!(a.count(), 2);
        assert_eq!(a.quantile(0.5), Some(10));
        assert_eq!(a.quantile(0.99), Some(30));
    }
}
