//! Pacing of one cluster's requests: a token bucket, and a hold that a
//! 429 reply's `Retry-After` sets.

use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::TransportConfig;

/// A token bucket with a hold: requests wait for a token, and while a hold
/// set by a `Retry-After` lasts, every request waits for it to pass.
pub(crate) struct Throttle {
    rate: f64,
    burst: f64,
    state: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
    hold_until: Option<Instant>,
}

impl Throttle {
    pub(crate) fn new(settings: &TransportConfig) -> Self {
        let burst = f64::from(settings.burst.max(1));
        Self {
            rate: f64::from(settings.requests_per_second),
            burst,
            state: Mutex::new(Bucket {
                tokens: burst,
                updated: Instant::now(),
                hold_until: None,
            }),
        }
    }

    /// Holds every request until `wait` has passed, unless a longer hold
    /// is already in force.
    pub(crate) fn hold(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut state = self.state.lock();
        if state.hold_until.is_none_or(|current| current < until) {
            state.hold_until = Some(until);
        }
    }

    /// Waits until a request may go; returns whether it had to wait.
    pub(crate) async fn acquire(&self) -> bool {
        let mut waited = false;
        loop {
            let wait = self.next_wait();
            if wait.is_zero() {
                return waited;
            }
            waited = true;
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a token and returns zero, or returns how long to wait first.
    fn next_wait(&self) -> Duration {
        let now = Instant::now();
        let mut state = self.state.lock();
        if let Some(until) = state.hold_until {
            if until > now {
                return until - now;
            }
            state.hold_until = None;
        }
        if self.rate <= 0.0 {
            return Duration::ZERO;
        }
        let elapsed = now.duration_since(state.updated).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.rate).min(self.burst);
        state.updated = now;
        if state.tokens >= 1.0 {
            state.tokens -= 1.0;
            return Duration::ZERO;
        }
        Duration::from_secs_f64((1.0 - state.tokens) / self.rate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(requests_per_second: u32, burst: u32) -> Throttle {
        Throttle::new(&TransportConfig {
            requests_per_second,
            burst,
            ..TransportConfig::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn burst_goes_at_once_then_the_rate_applies() {
        let throttle = throttle(10, 5);
        let start = Instant::now();
        for _ in 0..5 {
            assert!(!throttle.acquire().await, "the burst does not wait");
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        for _ in 0..10 {
            assert!(throttle.acquire().await, "past the burst, requests wait");
        }
        assert_eq!(start.elapsed(), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn hold_delays_every_request_until_it_passes() {
        let throttle = throttle(0, 1);
        throttle.hold(Duration::from_secs(3));
        throttle.hold(Duration::from_secs(1));
        let start = Instant::now();
        assert!(throttle.acquire().await);
        assert_eq!(
            start.elapsed(),
            Duration::from_secs(3),
            "the longer hold wins"
        );
        assert!(!throttle.acquire().await, "the hold is over");
    }

    #[tokio::test(start_paused = true)]
    async fn no_rate_means_no_wait() {
        let throttle = throttle(0, 1);
        for _ in 0..1000 {
            assert!(!throttle.acquire().await);
        }
    }
}
