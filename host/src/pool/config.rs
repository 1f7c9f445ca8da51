//! The rules of the pool: when clients are evicted, recycled and retried.

use std::time::Duration;

/// Settings of a [`super::Pool`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// A live client unused for longer than this is evicted.
    pub max_idle: Duration,
    /// A live client unused for longer than this counts as idle in the
    /// statistics; it is still live.
    pub idle_threshold: Duration,
    /// A client checked out this many times is replaced by a new one on the
    /// next checkout; 0 turns recycling off.
    pub max_access_count: u64,
    /// Most live clients at once; beyond it the least recently used is
    /// evicted. `None` sets no cap.
    pub max_live: Option<usize>,
    /// Maximum time starting one client may take, discovery included.
    pub init_timeout: Duration,
    /// Wait before retrying a cluster whose start failed once.
    pub backoff_initial: Duration,
    /// Maximum wait between retries of a failing cluster.
    pub backoff_max: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_idle: Duration::from_secs(30 * 60),
            idle_threshold: Duration::from_secs(5 * 60),
            max_access_count: 1000,
            max_live: None,
            init_timeout: Duration::from_secs(30),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(5 * 60),
        }
    }
}

impl PoolConfig {
    /// Returns the wait before the next start after `failures` failed
    /// starts in a row: the initial wait doubled for each further failure,
    /// capped at the maximum.
    pub fn backoff(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.backoff_initial
            .saturating_mul(1 << doublings)
            .min(self.backoff_max)
    }

    /// Returns whether a client checked out `accesses` times is due for
    /// replacement.
    pub fn recycle_due(&self, accesses: u64) -> bool {
        self.max_access_count > 0 && accesses >= self.max_access_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let config = PoolConfig {
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(10),
            ..PoolConfig::default()
        };
        let waits: Vec<u64> = (1..=6).map(|n| config.backoff(n).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 10, 10]);
        assert_eq!(config.backoff(u32::MAX), Duration::from_secs(10));
    }

    #[test]
    fn recycling_can_be_turned_off() {
        let config = PoolConfig::default();
        assert!(!config.recycle_due(999));
        assert!(config.recycle_due(1000));
        let off = PoolConfig {
            max_access_count: 0,
            ..PoolConfig::default()
        };
        assert!(!off.recycle_due(u64::MAX));
    }
}
