//! Counting operations over a fixed duration, and latency percentiles.

use std::time::Duration;

/// Operations done in some elapsed time, possibly summed over several rounds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rate {
    /// Completed operations.
    pub ops: u64,
    /// Wall time they took.
    pub elapsed: Duration,
}

impl Rate {
    /// Operations per second.
    pub fn per_sec(&self) -> f64 {
        if self.elapsed.is_zero() {
            return 0.0;
        }
        self.ops as f64 / self.elapsed.as_secs_f64()
    }

    /// Add another round.
    pub fn add(&mut self, other: Rate) {
        self.ops += other.ops;
        self.elapsed += other.elapsed;
    }
}

/// Latency samples of one run.
#[derive(Debug, Clone, Default)]
pub struct Latencies(pub Vec<Duration>);

impl Latencies {
    /// The `p`-th percentile (0..=100), in milliseconds; 0 when empty.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        let mut v = self.0.clone();
        if v.is_empty() {
            return 0.0;
        }
        v.sort_unstable();
        let rank = ((p / 100.0) * (v.len() - 1) as f64).round() as usize;
        v[rank.min(v.len() - 1)].as_secs_f64() * 1000.0
    }
}

/// The median of some values (0 when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}
