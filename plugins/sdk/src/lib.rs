//! lazyhost-sdk: writes lazyhost plugins in Rust as ordinary Rust.
//!
//! The crate generates the bindings of the WIT world `plugin` from the
//! repository's `wit/` folder once, and adds typed helpers on top:
//!
//! - [`Error`]: the WIT `error` variant and the plugin's own failures, with
//!   `Display` as `case: message` and [`Error::is_not_found`] and friends;
//! - [`kube`]: `list`, `get`, `create`, `patch` and `delete` of
//!   [`k8s_openapi`] objects (or any `serde` type), with paging over
//!   `metadata.continue`;
//! - [`Args`]: the `--arg key=value` pairs, parsed with [`Args::get`];
//! - [`Plugin`] and [`export_plugin!`]: the plugin's entry point.
//!
//! ```no_run
//! use lazyhost_sdk::k8s_openapi::api::core::v1::Pod;
//! use lazyhost_sdk::serde_json::{Value, json};
//! use lazyhost_sdk::{Args, Error, Plugin, export_plugin, kube};
//!
//! struct PendingPods;
//!
//! impl Plugin for PendingPods {
//!     fn run(cluster: &str, args: &Args) -> Result<Value, Error> {
//!         args.reject_unknown(&["namespace"])?;
//!         let params = kube::ListParams::default()
//!             .namespace_opt(args.get("namespace")?)
//!             .fields("status.phase=Pending");
//!         let pods = kube::list::<Pod>(cluster, &params)?; // every page
//!         println!("{cluster}: {} pending pods", pods.len());
//!         Ok(json!({ "pending": pods.len() }))
//!     }
//! }
//!
//! export_plugin!(PendingPods);
//! # fn main() {}
//! ```

mod args;
mod error;
pub mod kube;

pub use args::{Args, DurationArg};
pub use error::{Error, ErrorKind, ResultExt};
pub use k8s_openapi;
pub use serde_json;

/// The bindings that `wit_bindgen::generate!` writes for the world `plugin`.
///
/// Plugins rarely need them directly: [`client`], [`kube_client`],
/// [`stats`] and [`types`] re-export the imported interfaces, and
/// [`export_plugin!`] wires up the export.
pub mod bindings {
    #![allow(missing_docs, reason = "generated from the documented WIT file")]

    wit_bindgen::generate!({
        world: "plugin",
        path: "../../wit",
        // The export macro is called from the plugin crate, so it must be
        // public and find the generated types in this module.
        pub_export_macro: true,
        default_bindings_module: "lazyhost_sdk::bindings",
    });
}

pub use bindings::lazyhost::plugin::{client, kube_client, stats, types};

/// A plugin of the world `plugin`. The host calls [`Plugin::run`] once per
/// target cluster, each call in a fresh instance.
pub trait Plugin {
    /// Runs against `cluster` with the user's `--arg` pairs and returns the
    /// result that `lazyhost run` shows, or an error that fails this
    /// cluster's invocation with the error's text.
    fn run(cluster: &str, args: &Args) -> Result<serde_json::Value, Error>;
}

/// Calls `P::run` with the raw export's arguments and converts its result
/// into the WIT export's `result<string, string>`. [`export_plugin!`]
/// calls it; plugins do not need to.
#[doc(hidden)]
pub fn run_export<P: Plugin>(
    cluster: String,
    args: Vec<(String, String)>,
) -> Result<String, String> {
    let args = Args::new(args);
    P::run(&cluster, &args)
        .map(|value| value.to_string())
        .map_err(|error| error.to_string())
}

/// Exports a type that implements [`Plugin`] as the component's `run`.
/// Call it once, at the plugin crate's root: `export_plugin!(MyPlugin);`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        struct __LazyhostPluginExport;

        impl $crate::bindings::Guest for __LazyhostPluginExport {
            fn run(
                cluster: ::std::string::String,
                args: ::std::vec::Vec<(::std::string::String, ::std::string::String)>,
            ) -> ::std::result::Result<::std::string::String, ::std::string::String> {
                $crate::run_export::<$plugin>(cluster, args)
            }
        }

        $crate::bindings::export!(__LazyhostPluginExport with_types_in $crate::bindings);
    };
}

/// Runs `call`, records its duration under `cluster` and `verb` with
/// `stats.record-request`, and returns its result. The request counts as
/// successful when `call` returns `Ok`.
pub fn timed<T, E>(cluster: &str, verb: &str, call: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let started = std::time::Instant::now();
    let result = call();
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    stats::record_request(cluster, verb, duration_ms, result.is_ok());
    result
}

/// Returns the current time from the wall clock that WASI gives the
/// sandbox, as the timestamp type of [`k8s_openapi`] times.
///
/// # Panics
///
/// Panics when the clock reads before 1970 or after the year 9999, which
/// `jiff` cannot represent.
pub fn now() -> k8s_openapi::jiff::Timestamp {
    // k8s-openapi builds jiff without its `std` feature, so
    // `Timestamp::now` does not exist; the time comes from `SystemTime`.
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock reads after 1970");
    let seconds = i64::try_from(since_epoch.as_secs()).expect("seconds fit in i64");
    let nanoseconds = i32::try_from(since_epoch.subsec_nanos()).expect("nanoseconds fit in i32");
    k8s_openapi::jiff::Timestamp::new(seconds, nanoseconds)
        .expect("the clock reads a representable time")
}
