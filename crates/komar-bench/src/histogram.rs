//! A latency histogram with bounded memory: log-linear buckets (16 per
//! power of two) from 1 µs to about 70 s, so percentiles are within ~6 %.

/// Sub-buckets per power of two.
const SUB: usize = 16;
/// Powers of two covered (2^26 µs ≈ 67 s).
const POWERS: usize = 27;

/// Counts of latencies, in microseconds.
#[derive(Debug, Clone)]
pub struct Histogram {
    buckets: Vec<u64>,
    count: u64,
    max_us: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: vec![0; SUB * POWERS],
            count: 0,
            max_us: 0,
        }
    }
}

fn bucket_of(us: u64) -> usize {
    if us < SUB as u64 {
        return us as usize;
    }
    let power = 63 - us.leading_zeros() as usize; // floor(log2(us)) >= 4
    let shift = power - 4;
    let sub = ((us >> shift) as usize) - SUB; // 0..16
    ((power - 3) * SUB + sub).min(SUB * POWERS - 1)
}

fn bucket_floor(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let power = i / SUB + 3;
    let sub = (i % SUB) as u64;
    (SUB as u64 + sub) << (power - 4)
}

impl Histogram {
    /// Record one latency.
    pub fn record(&mut self, us: u64) {
        let i = bucket_of(us);
        if let Some(b) = self.buckets.get_mut(i) {
            *b += 1;
        }
        self.count += 1;
        self.max_us = self.max_us.max(us);
    }

    /// Add another histogram's counts.
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(&other.buckets) {
            *a += b;
        }
        self.count += other.count;
        self.max_us = self.max_us.max(other.max_us);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The latency below which `q` (0..=1) of the samples fall, in µs.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let target = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += b;
            if seen >= target {
                return bucket_floor(i).min(self.max_us);
            }
        }
        self.max_us
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_close() {
        let mut last = 0;
        for us in [
            0u64, 1, 15, 16, 17, 100, 1000, 12_345, 1_000_000, 60_000_000,
        ] {
            let i = bucket_of(us);
            assert!(i >= last);
            last = i;
            let floor = bucket_floor(i);
            assert!(floor <= us && us - floor <= us / 16 + 1, "{us} -> {floor}");
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for us in 1..=1000 {
            h.record(us);
        }
        let p50 = h.quantile(0.5);
        assert!((470..=500).contains(&p50), "{p50}");
        assert!(h.quantile(1.0) <= 1000);
        assert_eq!(h.count(), 1000);
    }
}
