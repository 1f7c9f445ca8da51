//! Faults a simulated cluster injects on request, to imitate a misbehaving fleet.
//!
//! A [`Faults`] value describes them. It comes from the fleet file, the control
//! endpoint or [`super::Fleet::set_faults`], and each cluster keeps its current
//! value in a [`FaultState`]. HTTP-level faults (latency, 5xx, 429 and an expired
//! token) are decided per request by [`FaultState::plan_request`], and their
//! responses are Kubernetes `Status` objects shaped as kube-apiserver 1.32 sends
//! them. Faults below HTTP (`down`, `wrong_ca`) act on the cluster's own listener,
//! see [`super::server`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::watch;

use super::status::ApiError;

/// Maximum delay a fault may add, so that a typo such as `latency = "5h"` is caught.
pub const MAX_FAULT_DELAY: Duration = Duration::from_secs(3600);

/// Faults of one cluster. The default injects none.
///
/// Durations are written as text such as `"250ms"` or `"2s"` in TOML and JSON.
/// Request numbers count from 1 and restart whenever the faults are replaced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Fixed delay added before each API response.
    #[serde(with = "duration_text")]
    pub latency: Duration,
    /// Upper bound of an extra delay per request, drawn deterministically from
    /// `seed` and the request number.
    #[serde(with = "duration_text")]
    pub jitter: Duration,
    /// Seed of the jitter sequence.
    pub seed: u64,
    /// Refuses connections: the cluster's listener is closed while this is set.
    pub down: bool,
    /// Presents a server certificate signed by a certificate authority other than
    /// the one in the kubeconfig, so that the TLS handshake fails.
    pub wrong_ca: bool,
    /// Fails every `error_every`-th request with `error_status`; 0 turns it off.
    pub error_every: u64,
    /// Status code of injected server errors: 500 (InternalError), 503
    /// (ServiceUnavailable) or 504 (Timeout). Defaults to 500.
    pub error_status: u16,
    /// Fails every `throttle_every`-th request with 429 TooManyRequests; 0 turns it off.
    pub throttle_every: u64,
    /// `Retry-After` of 429 responses, in whole seconds of at least 1. Defaults to 1.
    pub retry_after_seconds: u64,
    /// Time after the faults are applied from which every request gets 401
    /// Unauthorized, as if the bearer token had expired; `None` never expires it.
    #[serde(
        with = "optional_duration_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub token_expires_after: Option<Duration>,
    /// Delay before each event of a watch stream.
    #[serde(with = "duration_text")]
    pub watch_delay: Duration,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency: Duration::ZERO,
            jitter: Duration::ZERO,
            seed: 0,
            down: false,
            wrong_ca: false,
            error_every: 0,
            error_status: 500,
            throttle_every: 0,
            retry_after_seconds: 1,
            token_expires_after: None,
            watch_delay: Duration::ZERO,
        }
    }
}

/// An invalid [`Faults`] value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    /// `error_status` is not a server error the simulator can send.
    #[error("invalid error_status {0}: use 500, 503 or 504")]
    ErrorStatus(u16),
    /// `retry_after_seconds` is 0 while 429 responses are requested.
    #[error("invalid retry_after_seconds 0: use a whole number of seconds of at least 1")]
    RetryAfter,
    /// A delay is longer than [`MAX_FAULT_DELAY`].
    #[error("invalid {field} {value}: use at most 1h")]
    TooLong {
        /// Field name, such as `latency`.
        field: &'static str,
        /// The delay as written, such as `2h`.
        value: String,
    },
}

impl Faults {
    /// Checks that every field has a value the simulator can inject.
    pub fn validate(&self) -> Result<(), FaultError> {
        if !matches!(self.error_status, 500 | 503 | 504) {
            return Err(FaultError::ErrorStatus(self.error_status));
        }
        if self.throttle_every > 0 && self.retry_after_seconds == 0 {
            return Err(FaultError::RetryAfter);
        }
        let delays = [
            ("latency", Some(self.latency)),
            ("jitter", Some(self.jitter)),
            ("watch_delay", Some(self.watch_delay)),
            ("token_expires_after", self.token_expires_after),
        ];
        for (field, delay) in delays {
            if let Some(delay) = delay.filter(|delay| *delay > MAX_FAULT_DELAY) {
                let value = humantime::format_duration(delay).to_string();
                return Err(FaultError::TooLong { field, value });
            }
        }
        Ok(())
    }

    /// Describes the faults in force in a few words, such as
    /// `500 on every 2nd request, latency 300ms`, or `none`.
    pub fn describe(&self) -> String {
        let duration = |value: Duration| humantime::format_duration(value).to_string();
        let mut parts = Vec::new();
        if self.down {
            parts.push("down (connections refused)".to_string());
        }
        if self.wrong_ca {
            parts.push("certificate from the wrong CA".to_string());
        }
        if let Some(after) = self.token_expires_after {
            parts.push(format!("token expires after {}", duration(after)));
        }
        if self.throttle_every > 0 {
            parts.push(format!(
                "429 on {} (Retry-After {}s)",
                every(self.throttle_every),
                self.retry_after_seconds
            ));
        }
        if self.error_every > 0 {
            let requests = every(self.error_every);
            parts.push(format!("{} on {requests}", self.error_status));
        }
        if !self.latency.is_zero() || !self.jitter.is_zero() {
            let jitter = duration(self.jitter);
            parts.push(format!(
                "latency {} + up to {jitter}",
                duration(self.latency)
            ));
        }
        if !self.watch_delay.is_zero() {
            parts.push(format!(
                "watch events delayed {}",
                duration(self.watch_delay)
            ));
        }
        if parts.is_empty() {
            return "none".to_string();
        }
        parts.join(", ")
    }

    /// Returns whether any fault acts below HTTP and so needs the cluster's own port.
    pub fn needs_own_port(&self) -> bool {
        self.down || self.wrong_ca
    }

    /// Returns the extra delay of request `number`: up to `jitter`, from `seed`.
    fn jitter_for(&self, number: u64) -> Duration {
        let range = self.jitter.as_nanos() as u64;
        if range == 0 {
            return Duration::ZERO;
        }
        let mixed = splitmix64(self.seed ^ splitmix64(number));
        Duration::from_nanos(mixed % (range + 1))
    }
}

/// One step of the SplitMix64 generator: a fast, well-mixed hash of a `u64`.
fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Returns whether request `number` (counting from 1) is a multiple of `every`.
fn fires(every: u64, number: u64) -> bool {
    every > 0 && number.is_multiple_of(every)
}

/// Faults in force and the time they were applied.
#[derive(Clone)]
pub(crate) struct Applied {
    /// The faults.
    pub(crate) faults: Arc<Faults>,
    /// When they were applied, the origin of `token_expires_after`.
    pub(crate) at: Instant,
}

/// The faults of one cluster, replaceable at run time.
pub(crate) struct FaultState {
    applied: watch::Sender<Applied>,
    requests: AtomicU64,
}

/// Delay and injected failure of one request.
pub(crate) struct RequestPlan {
    /// Delay before the response.
    pub(crate) delay: Duration,
    /// Injected failure sent in place of the API response, if any.
    pub(crate) failure: Option<ApiError>,
}

impl FaultState {
    /// Creates the state with `faults` applied now.
    pub(crate) fn new(faults: Faults) -> Self {
        let applied = Applied {
            faults: Arc::new(faults),
            at: Instant::now(),
        };
        Self {
            applied: watch::Sender::new(applied),
            requests: AtomicU64::new(0),
        }
    }

    /// Returns the faults in force.
    pub(crate) fn current(&self) -> Arc<Faults> {
        self.applied.borrow().faults.clone()
    }

    /// Replaces the faults, restarting request numbers and the token expiry clock.
    pub(crate) fn replace(&self, faults: Faults) {
        self.requests.store(0, Ordering::Relaxed);
        self.applied.send_replace(Applied {
            faults: Arc::new(faults),
            at: Instant::now(),
        });
    }

    /// Returns a receiver notified of every replacement.
    pub(crate) fn subscribe(&self) -> watch::Receiver<Applied> {
        self.applied.subscribe()
    }

    /// Numbers one API request and decides its delay and injected failure.
    ///
    /// The checks follow kube-apiserver's filter order: authentication (an expired
    /// token), then priority and fairness (429), then the handler (5xx).
    pub(crate) fn plan_request(&self) -> RequestPlan {
        let applied = self.applied.borrow().clone();
        let faults = &applied.faults;
        let number = self.requests.fetch_add(1, Ordering::Relaxed) + 1;
        let expired = faults
            .token_expires_after
            .is_some_and(|after| applied.at.elapsed() >= after);
        let failure = if expired {
            Some(ApiError::unauthorized())
        } else if fires(faults.throttle_every, number) {
            Some(too_many_requests(faults.retry_after_seconds))
        } else if fires(faults.error_every, number) {
            Some(server_error(faults.error_status, faults.error_every))
        } else {
            None
        };
        RequestPlan {
            delay: faults.latency + faults.jitter_for(number),
            failure,
        }
    }
}

/// 429 as kube-apiserver's `NewTooManyRequests` builds it; the server also sends
/// the `Retry-After` header with the same number of seconds.
fn too_many_requests(retry_after_seconds: u64) -> ApiError {
    ApiError {
        code: StatusCode::TOO_MANY_REQUESTS,
        reason: "TooManyRequests",
        message: "Too many requests, please try again later.".to_string(),
        details: Some(json!({"retryAfterSeconds": retry_after_seconds})),
    }
}

/// 500 InternalError, 503 ServiceUnavailable or 504 Timeout, worded as
/// kube-apiserver words them, naming the injected fault.
fn server_error(status: u16, period: u64) -> ApiError {
    let cause = format!("injected fault: {} fails", every(period));
    let (code, reason, message) = match status {
        503 => (
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!("the server is currently unable to handle the request ({cause})"),
        ),
        504 => (
            StatusCode::GATEWAY_TIMEOUT,
            "Timeout",
            format!("Timeout: request did not complete within the allowed duration ({cause})"),
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            format!("Internal error occurred: {cause}"),
        ),
    };
    let details = json!({"causes": [{"message": cause}]});
    ApiError {
        code,
        reason,
        message,
        details: Some(details),
    }
}

/// Returns `every request` for 1 and `every 2nd request`, `every 3rd request`, ...
/// for larger periods.
fn every(period: u64) -> String {
    match period {
        1 => "every request".to_string(),
        _ => format!("every {} request", ordinal(period)),
    }
}

/// Returns `1st`, `2nd`, `3rd`, `4th`, ... for `number`.
fn ordinal(number: u64) -> String {
    let suffix = match (number % 10, number % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{number}{suffix}")
}

/// Returns the faults that `--faulty` gives its clusters in turn: the `position`-th faulty
/// cluster (from 0) gets entry `position % 6` of this mix.
///
/// | position | fault | what clients see |
/// |---|---|---|
/// | 0 | `down` | connection refused |
/// | 1 | `error_every = 1`, `error_status = 500` | 500 InternalError on every request |
/// | 2 | `token_expires_after = 0s` | 401 Unauthorized on every request |
/// | 3 | `wrong_ca` | TLS handshake fails: unknown issuer |
/// | 4 | `throttle_every = 2`, `retry_after_seconds = 1` | 429 on every 2nd request |
/// | 5 | `latency = 300ms`, `jitter = 200ms`, `watch_delay = 1s` | slow replies and watch events |
pub fn default_mix(position: usize) -> Faults {
    let base = Faults::default();
    match position % 6 {
        0 => Faults { down: true, ..base },
        1 => Faults {
            error_every: 1,
            ..base
        },
        2 => Faults {
            token_expires_after: Some(Duration::ZERO),
            ..base
        },
        3 => Faults {
            wrong_ca: true,
            ..base
        },
        4 => Faults {
            throttle_every: 2,
            ..base
        },
        _ => Faults {
            latency: Duration::from_millis(300),
            jitter: Duration::from_millis(200),
            seed: position as u64,
            watch_delay: Duration::from_secs(1),
            ..base
        },
    }
}

/// Serde adapter for a [`Duration`] written as text such as `"250ms"`.
mod duration_text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub(super) fn serialize<S: Serializer>(
        value: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&humantime::format_duration(*value))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map_err(|error| {
            D::Error::custom(format!(
                "invalid duration `{text}`: {error}; use a form such as 250ms or 2s"
            ))
        })
    }
}

/// Serde adapter for an optional [`Duration`] written as text.
mod optional_duration_text {
    use std::time::Duration;

    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Option<Duration>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => super::duration_text::serialize(duration, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        super::duration_text::deserialize(deserializer).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_nth_request_fails() {
        let state = FaultState::new(Faults {
            error_every: 3,
            error_status: 503,
            ..Faults::default()
        });
        let codes: Vec<Option<u16>> = (0..6)
            .map(|_| {
                state
                    .plan_request()
                    .failure
                    .map(|error| error.code.as_u16())
            })
            .collect();
        assert_eq!(codes, [None, None, Some(503), None, None, Some(503)]);
    }

    #[test]
    fn throttle_carries_retry_after() {
        let state = FaultState::new(Faults {
            throttle_every: 1,
            retry_after_seconds: 7,
            ..Faults::default()
        });
        let failure = state.plan_request().failure.unwrap();
        assert_eq!(failure.code, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(failure.reason, "TooManyRequests");
        assert_eq!(failure.details.unwrap()["retryAfterSeconds"], 7);
    }

    #[test]
    fn jitter_is_deterministic_and_bounded() {
        let faults = Faults {
            jitter: Duration::from_millis(50),
            seed: 9,
            ..Faults::default()
        };
        let first: Vec<Duration> = (1..=20).map(|n| faults.jitter_for(n)).collect();
        let second: Vec<Duration> = (1..=20).map(|n| faults.jitter_for(n)).collect();
        assert_eq!(first, second);
        assert!(
            first
                .iter()
                .all(|delay| *delay <= Duration::from_millis(50))
        );
        assert!(first.iter().any(|delay| *delay != first[0]));
    }

    #[test]
    fn expired_token_wins_over_errors() {
        let state = FaultState::new(Faults {
            token_expires_after: Some(Duration::ZERO),
            error_every: 1,
            ..Faults::default()
        });
        let failure = state.plan_request().failure.unwrap();
        assert_eq!(failure.code, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn invalid_values_rejected() {
        let status = Faults {
            error_status: 418,
            ..Faults::default()
        };
        assert_eq!(
            status.validate().unwrap_err().to_string(),
            "invalid error_status 418: use 500, 503 or 504"
        );
        let latency = Faults {
            latency: Duration::from_secs(7200),
            ..Faults::default()
        };
        assert_eq!(
            latency.validate().unwrap_err().to_string(),
            "invalid latency 2h: use at most 1h"
        );
        assert_eq!(Faults::default().validate(), Ok(()));
    }

    #[test]
    fn ordinals() {
        let words: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 101].map(ordinal).into();
        assert_eq!(
            words,
            [
                "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st"
            ]
        );
    }

    #[test]
    fn faults_read_from_json_text() {
        let faults: Faults =
            serde_json::from_value(json!({"latency": "250ms", "token_expires_after": "1m"}))
                .unwrap();
        assert_eq!(faults.latency, Duration::from_millis(250));
        assert_eq!(faults.token_expires_after, Some(Duration::from_secs(60)));
        assert_eq!(faults.error_status, 500);
        let unknown = serde_json::from_value::<Faults>(json!({"latency_ms": 5})).unwrap_err();
        assert!(
            unknown.to_string().contains("unknown field `latency_ms`"),
            "{unknown}"
        );
    }
}
