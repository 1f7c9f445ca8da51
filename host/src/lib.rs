//! lazyhost runs sandboxed WebAssembly plugins across a fleet of Kubernetes
//! clusters through a lazy pool of cluster clients.
//!
//! The parts, in the order a run uses them:
//!
//! - [`config`]: the `lazyhost.toml` configuration file;
//! - [`manifest`]: a plugin's `PLUGIN.toml`, stating what it requests;
//! - [`policy`]: what a plugin may do, checked on every host call;
//! - [`grant`]: a plugin's policy from lazyhost.toml, the command line and its manifest;
//! - [`inventory`]: cluster configurations read from kubeconfig files;
//! - [`pool`]: the lazy pool that starts a cluster's client on first use;
//! - [`cluster`]: a started client and the requests sent through it;
//! - [`discovery`]: the resource types a cluster serves and name resolution;
//! - [`monitor`]: memory and request statistics;
//! - [`plugin`]: the WebAssembly engine and the host side of the WIT interfaces;
//! - [`run`]: fan-out of one plugin over many clusters;
//! - [`inspect`]: what a plugin file is, for `lazyhost inspect`;
//! - [`output`]: tables and JSON for people and scripts;
//! - [`serve`]: the `lazyhost serve` daemon, its HTTP endpoints and the
//!   watches of controllers;
//! - [`remote`]: the client of those endpoints, for `--server`;
//! - [`sim`]: a simulated fleet of Kubernetes API servers for tests and demos.
//! - [`new`]: plugin skeletons for `lazyhost new`, embedded from `templates/`.

pub mod cluster;
pub mod config;
pub mod discovery;
pub mod grant;
pub mod inspect;
pub mod inventory;
pub mod manifest;
pub mod monitor;
pub mod new;
pub mod output;
pub mod plugin;
pub mod policy;
pub mod pool;
pub mod remote;
pub mod run;
pub(crate) mod selector;
pub mod serve;
pub mod sim;
pub mod transport;
