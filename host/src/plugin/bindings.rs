//! Rust bindings of the WIT package in `wit/`, generated at build time.

#![allow(
    missing_docs,
    reason = "generated from the WIT package, whose own docs are kept"
)]

wasmtime::component::bindgen!({
    world: "plugin",
    path: "wit",
    imports: { default: async },
    exports: { default: async },
});

pub use self::lazyhost::plugin::{client, kube_client, stats, types};
