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

/// Bindings of the `controller` world. Its imports are the interfaces of the
/// `plugin` world, so they reuse those bindings and one `HostState` serves
/// both worlds.
pub mod controller_world {
    wasmtime::component::bindgen!({
        world: "controller",
        path: "wit",
        imports: { default: async },
        exports: { default: async },
        with: {
            "lazyhost:plugin/types": super::lazyhost::plugin::types,
            "lazyhost:plugin/client": super::lazyhost::plugin::client,
            "lazyhost:plugin/kube-client": super::lazyhost::plugin::kube_client,
            "lazyhost:plugin/stats": super::lazyhost::plugin::stats,
        },
    });

    pub use self::lazyhost::plugin::watch_types;
}
