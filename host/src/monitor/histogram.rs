//! A fixed-size log-linear latency histogram.
//!
//! Latencies are counted in whole microseconds, in 82 buckets:
//!
//! - bucket 0 counts latencies under 2^7 µs (0.128 ms);
//! - each power of two from 2^7 µs up to 2^27 µs (about 134.2 s) is split
//!   into four sub-buckets of equal width, buckets 1 to 80;
//! - bucket 81 counts latencies of 2^27 µs and more.
//!
//! A percentile reads as the midpoint of the bucket that contains it. Inside
//! the power of two `[2^k, 2^(k+1))` a sub-bucket is `2^(k-2)` wide and
//! starts at `2^k` or above, so its midpoint is at most `2^(k-3)` away from
//! any latency in it: a relative error of at most 12.5%. Bucket 0 reads as
//! 0.064 ms, an absolute error of at most 0.064 ms. Bucket 81 reads as
//! 134217.728 ms, which is a lower bound for the latencies it counts.

/// The lowest power of two, in microseconds, that is split into sub-buckets.
const FIRST_POWER: u32 = 7;
/// The highest power of two, in microseconds, that is split into sub-buckets.
const LAST_POWER: u32 = 26;
/// Sub-buckets per power of two, as a power of two.
const SUB_BUCKET_BITS: u32 = 2;
const SUB_BUCKETS: usize = 1 << SUB_BUCKET_BITS;
/// Latencies from this many microseconds on count in the top bucket.
const OVERFLOW_MICROS: u64 = 1 << (LAST_POWER + 1);
/// Buckets of one histogram: the one under 2^7 µs, the sub-buckets, and the
/// top bucket.
pub(super) const BUCKETS: usize = 1 + (LAST_POWER - FIRST_POWER + 1) as usize * SUB_BUCKETS + 1;

/// Latency counts per bucket, 328 bytes. A bucket stops counting at
/// `u32::MAX` rather than wrapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Histogram {
    counts: [u32; BUCKETS],
}

impl Histogram {
    /// A histogram with no latencies.
    pub(super) const EMPTY: Self = Self {
        counts: [0; BUCKETS],
    };

    /// Counts one latency, in microseconds.
    pub(super) fn record(&mut self, micros: u64) {
        let count = &mut self.counts[bucket_index(micros)];
        *count = count.saturating_add(1);
    }

    /// Adds the counts of `other` to this histogram.
    pub(super) fn merge(&mut self, other: &Self) {
        for (count, added) in self.counts.iter_mut().zip(&other.counts) {
            *count = count.saturating_add(*added);
        }
    }

    /// Returns the number of latencies counted.
    pub(super) fn count(&self) -> u64 {
        self.counts.iter().map(|&count| u64::from(count)).sum()
    }

    /// Returns the nearest-rank percentile, in milliseconds, as the value of
    /// its bucket (see the module documentation), or 0 when empty.
    pub(super) fn percentile_ms(&self, percent: u64) -> f64 {
        let total = self.count();
        if total == 0 {
            return 0.0;
        }
        let rank = (total * percent).div_ceil(100).clamp(1, total);
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += u64::from(count);
            if seen >= rank {
                return bucket_value_ms(index);
            }
        }
        bucket_value_ms(BUCKETS - 1)
    }
}

/// Returns the bucket that counts a latency of `micros` microseconds.
fn bucket_index(micros: u64) -> usize {
    if micros < 1 << FIRST_POWER {
        return 0;
    }
    if micros >= OVERFLOW_MICROS {
        return BUCKETS - 1;
    }
    let power = micros.ilog2();
    let sub_bucket = (micros >> (power - SUB_BUCKET_BITS)) as usize & (SUB_BUCKETS - 1);
    1 + (power - FIRST_POWER) as usize * SUB_BUCKETS + sub_bucket
}

/// Returns the value, in milliseconds, that bucket `index` reads as: the
/// midpoint of its range, or the lower bound of the top bucket.
fn bucket_value_ms(index: usize) -> f64 {
    let micros = if index == 0 {
        (1 << FIRST_POWER) / 2
    } else if index >= BUCKETS - 1 {
        OVERFLOW_MICROS
    } else {
        let power = FIRST_POWER + ((index - 1) / SUB_BUCKETS) as u32;
        let sub_bucket = ((index - 1) % SUB_BUCKETS) as u64;
        let width = 1u64 << (power - SUB_BUCKET_BITS);
        (SUB_BUCKETS as u64 + sub_bucket) * width + width / 2
    };
    micros as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_has_82_buckets_of_328_bytes() {
        assert_eq!(BUCKETS, 82);
        assert_eq!(std::mem::size_of::<Histogram>(), 328);
    }

    #[test]
    fn bucket_index_at_boundaries() {
        let cases = [
            (0, 0),
            (127, 0),
            (128, 1),
            (159, 1),
            (160, 2),
            (255, 4),
            (256, 5),
            (1000, 12),
            (OVERFLOW_MICROS - 1, 80),
            (OVERFLOW_MICROS, 81),
            (u64::MAX, 81),
        ];
        for (micros, index) in cases {
            assert_eq!(bucket_index(micros), index, "bucket of {micros} µs");
        }
    }

    #[test]
    fn bucket_values_are_midpoints() {
        let cases = [
            (0, 0.064),
            (1, 0.144),
            (2, 0.176),
            (4, 0.240),
            (5, 0.288),
            (12, 0.960),
            (80, 125_829.12),
            (81, 134_217.728),
        ];
        for (index, value) in cases {
            assert_eq!(bucket_value_ms(index), value, "value of bucket {index}");
        }
    }

    #[test]
    fn error_is_at_most_an_eighth() {
        // The error within a bucket is largest at its ends, so checking the
        // first and last microsecond of each sub-bucket covers every latency.
        for index in 1..BUCKETS - 1 {
            let power = FIRST_POWER + ((index - 1) / SUB_BUCKETS) as u32;
            let width = 1u64 << (power - SUB_BUCKET_BITS);
            let lower = (SUB_BUCKETS as u64 + ((index - 1) % SUB_BUCKETS) as u64) * width;
            let value_micros = bucket_value_ms(index) * 1000.0;
            for micros in [lower, lower + width - 1] {
                assert_eq!(bucket_index(micros), index, "bucket of {micros} µs");
                let error = (value_micros - micros as f64).abs() / micros as f64;
                assert!(error <= 0.125, "{micros} µs reads as {value_micros} µs");
            }
        }
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut histogram = Histogram::EMPTY;
        for _ in 0..98 {
            histogram.record(1_000);
        }
        histogram.record(500_000);
        histogram.record(500_000);
        assert_eq!(histogram.count(), 100);
        assert_eq!(histogram.percentile_ms(50), 0.96);
        assert_eq!(histogram.percentile_ms(95), 0.96);
        assert_eq!(histogram.percentile_ms(98), 0.96);
        assert_eq!(histogram.percentile_ms(99), 491.52);
        assert_eq!(histogram.percentile_ms(100), 491.52);
    }

    #[test]
    fn empty_histogram_reads_zero() {
        assert_eq!(Histogram::EMPTY.count(), 0);
        assert_eq!(Histogram::EMPTY.percentile_ms(99), 0.0);
    }

    #[test]
    fn single_latency_is_every_percentile() {
        let mut histogram = Histogram::EMPTY;
        histogram.record(40_000);
        assert_eq!(histogram.percentile_ms(1), 36.864);
        assert_eq!(histogram.percentile_ms(50), 36.864);
        assert_eq!(histogram.percentile_ms(99), 36.864);
    }

    #[test]
    fn merge_adds_counts() {
        let mut first = Histogram::EMPTY;
        first.record(1_000);
        let mut second = Histogram::EMPTY;
        second.record(1_000);
        second.record(200_000);
        first.merge(&second);
        assert_eq!(first.count(), 3);
        assert_eq!(first.percentile_ms(50), 0.96);
        assert_eq!(first.percentile_ms(99), 212.992);
    }

    #[test]
    fn full_bucket_saturates() {
        let mut histogram = Histogram::EMPTY;
        histogram.counts[3] = u32::MAX;
        histogram.record(200);
        let mut other = Histogram::EMPTY;
        other.counts[3] = 5;
        histogram.merge(&other);
        assert_eq!(histogram.count(), u64::from(u32::MAX));
    }
}
