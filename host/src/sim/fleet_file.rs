//! The fleet file: a TOML description of a simulated fleet for
//! `lazyhost sim --fleet FILE`.
//!
//! ```toml
//! clusters = 20
//! objects = 100
//! listen = "shared-port"
//! request_latency = "5ms"
//! faulty = 2
//!
//! [faults.sim-3]
//! latency = "200ms"
//! jitter = "50ms"
//! seed = 7
//!
//! [faults.sim-4]
//! error_every = 3
//! error_status = 503
//! ```
//!
//! Every key is optional. The `[faults.<cluster>]` tables take the fields of
//! [`Faults`] and replace what `faulty` gives the same cluster.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::SimError;
use super::faults::Faults;
use super::fleet::{FleetOptions, Listen};

/// The contents of a fleet file; a missing key leaves the option unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetFile {
    /// Number of clusters.
    pub clusters: Option<usize>,
    /// Extra objects per cluster, see [`FleetOptions::objects`].
    pub objects: Option<usize>,
    /// Listening layout of the clusters.
    pub listen: Option<Listen>,
    /// Delay added before each API response of every cluster, such as `"5ms"`.
    #[serde(default, with = "humantime_option")]
    pub request_latency: Option<Duration>,
    /// Number of clusters with the default fault mix.
    pub faulty: Option<usize>,
    /// Faults per cluster name.
    #[serde(default)]
    pub faults: BTreeMap<String, Faults>,
}

impl FleetFile {
    /// Reads and parses the fleet file at `path`.
    pub fn load(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::ReadFleetFile {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| SimError::ParseFleetFile {
            path: path.to_path_buf(),
            message: source.to_string().trim_end().to_string(),
        })
    }

    /// Copies every key the file sets into `options`; faults are added per
    /// cluster, replacing earlier faults of the same cluster.
    pub fn apply_to(self, options: &mut FleetOptions) {
        if let Some(clusters) = self.clusters {
            options.clusters = clusters;
        }
        if let Some(objects) = self.objects {
            options.objects = objects;
        }
        if let Some(listen) = self.listen {
            options.listen = listen;
        }
        if let Some(latency) = self.request_latency {
            options.request_latency = latency;
        }
        if let Some(faulty) = self.faulty {
            options.faulty = faulty;
        }
        options.faults.extend(self.faults);
    }
}

/// Serde adapter for an optional duration written as text such as `"5ms"`.
mod humantime_option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, de::Error as _};

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map(Some).map_err(|error| {
            D::Error::custom(format!(
                "invalid duration `{text}`: {error}; use a form such as 5ms or 1s"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<FleetFile, String> {
        toml::from_str(text).map_err(|error| error.to_string())
    }

    #[test]
    fn full_file_applies() {
        let file = parse(
            r#"
            clusters = 20
            objects = 100
            listen = "shared-port"
            request_latency = "5ms"
            faulty = 2

            [faults.sim-3]
            latency = "200ms"
            down = true
            "#,
        )
        .unwrap();
        let mut options = FleetOptions::default();
        file.apply_to(&mut options);
        assert_eq!(options.clusters, 20);
        assert_eq!(options.objects, 100);
        assert_eq!(options.listen, Listen::SharedPort);
        assert_eq!(options.request_latency, Duration::from_millis(5));
        assert_eq!(options.faulty, 2);
        assert_eq!(options.faults["sim-3"].latency, Duration::from_millis(200));
        assert!(options.faults["sim-3"].down);
    }

    #[test]
    fn unknown_keys_named() {
        let error = parse("[faults.sim-1]\nlatncy = \"1s\"\n").unwrap_err();
        assert!(error.contains("unknown field `latncy`"), "{error}");
        let error = parse("listen = \"udp\"\n").unwrap_err();
        assert!(error.contains("unknown variant `udp`"), "{error}");
        let error = parse("[faults.sim-1]\nlatency = \"soon\"\n").unwrap_err();
        assert!(error.contains("invalid duration `soon`"), "{error}");
    }
}
