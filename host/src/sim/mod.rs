//! A simulated Kubernetes fleet for tests, benchmarks and first runs.
//!
//! [`Fleet::start`] runs clusters `sim-1` to `sim-N`, each an HTTPS API server on
//! its own ephemeral port of 127.0.0.1 with its own bearer token and seeded
//! objects. A client certificate that the fleet's certificate authority signed
//! ([`Fleet::issue_client_certificate`]) authenticates on every cluster. The servers speak enough of the Kubernetes API for kubectl 1.30 to
//! 1.33 and kube 5: legacy and aggregated discovery, OpenAPI v3 for validation,
//! get, list (selectors, paging, Tables), watch (bookmarks, 410 Expired after
//! [`Fleet::compact`]), create, replace, merge, JSON and strategic merge patch,
//! server-side apply with managedFields, `dryRun`, delete, and the Widget custom
//! resource defined by a CustomResourceDefinition. Requests may impersonate any
//! user and groups; such an identity reads everything and writes only as a member
//! of `system:masters`. [`Fleet::kubeconfig`]
//! describes how to reach them, and a plain-HTTP control endpoint reports traffic
//! counters per cluster.
//!
//! ```no_run
//! # async fn example() -> Result<(), lazyhost::sim::SimError> {
//! use lazyhost::sim::{Fleet, FleetOptions};
//!
//! let fleet = Fleet::start(FleetOptions { clusters: 3, ..FleetOptions::default() }).await?;
//! fleet.write_kubeconfig(std::path::Path::new("/tmp/sim-kubeconfig"))?;
//! // ... run clients against the contexts sim-1, sim-2 and sim-3 ...
//! fleet.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! The seeded objects of each cluster are listed in the `seed` module's documentation.

mod aggregated;
mod api;
mod apply;
mod base64;
mod body;
mod catalog;
mod cluster;
mod config_objects;
mod control;
mod crd;
mod digest;
mod discovery;
mod error;
mod events;
mod extra_objects;
mod faults;
mod fields;
mod fieldset;
mod fleet;
mod fleet_file;
mod kubeconfig;
mod managed;
mod merge_keys;
mod object;
mod openapi;
mod paging;
mod patch;
mod printers;
mod profile;
mod query;
mod read;
mod request_info;
mod resources;
mod seed;
pub(crate) use crate::selector;
mod server;
mod shared_port;
mod status;
mod store;
mod strategic;
mod table;
#[cfg(test)]
mod tests;
mod time;
mod tls;
mod validate;
mod watch;
mod widgets;
mod workloads;
mod write;
mod x509;

pub use cluster::ClusterCounts;
pub use discovery::KUBERNETES_VERSION;
pub use error::SimError;

/// Largest fleet one process serves.
pub const MAX_CLUSTERS: usize = 1000;
pub use faults::{FaultError, Faults, MAX_FAULT_DELAY, default_mix};
pub use fleet::{Fleet, FleetOptions, Listen, serve_until_interrupted};
pub use fleet_file::FleetFile;
pub use kubeconfig::UserAuth;
pub use tls::ClientCertificate;

/// Request header whose distinct values each cluster counts as clients; the
/// pool's clients send it.
pub use crate::cluster::CLIENT_HEADER;
