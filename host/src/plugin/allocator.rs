//! Where instances get their memories and tables: wasmtime's pooling
//! allocator, which reserves slots once and reuses them, or the on-demand
//! allocator, which maps fresh memory for every instance.
//!
//! The daemon prefers the pool: an invocation then reuses a warm slot
//! instead of mapping and zeroing memory again. Its slots are sized so
//! that the largest plugins seen in practice fit. A Python component built
//! by componentize-py needs 14 core instances, about 5,800 table elements
//! and 65 MiB to list 10,000 pods. A JavaScript one built by
//! componentize-js needs 4 core instances, about 7,700 table elements and
//! 62 MiB. A plugin whose limits or component need more than one slot
//! runs on the on-demand allocator instead. A machine that cannot reserve
//! the pool's address space runs everything on demand.

use wasmtime::component::Component;
use wasmtime::{InstanceAllocationStrategy, PoolingAllocationConfig};

use super::Limits;

/// Linear memory of one slot, and so the most one memory may grow to.
pub const SLOT_MEMORY_BYTES: usize = 1 << 30;
/// Table elements of one table slot.
pub const SLOT_TABLE_ELEMENTS: usize = 100_000;
/// Core instances one component instance may hold.
pub const SLOT_CORE_INSTANCES: u32 = 100;
/// Memories one component instance may hold.
const SLOT_MEMORIES: u32 = 16;
/// Tables one component instance may hold.
const SLOT_TABLES: u32 = 32;
/// Component instances alive at once, over every plugin of the process.
const TOTAL_COMPONENT_INSTANCES: u32 = 64;

/// The allocator a plugin's instances come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Allocator {
    /// Slots reserved once and reused.
    Pooling,
    /// Memory mapped for each instance.
    OnDemand,
}

impl Allocator {
    /// Returns the allocator's name, as the statistics show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pooling => "pooling",
            Self::OnDemand => "on-demand",
        }
    }
}

impl std::fmt::Display for Allocator {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// Returns the strategy of the pooling engine.
pub(super) fn pooling_strategy() -> InstanceAllocationStrategy {
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(TOTAL_COMPONENT_INSTANCES)
        .total_core_instances(TOTAL_COMPONENT_INSTANCES * 16)
        .total_memories(TOTAL_COMPONENT_INSTANCES * 2)
        .total_tables(TOTAL_COMPONENT_INSTANCES * 4)
        .max_core_instances_per_component(SLOT_CORE_INSTANCES)
        .max_memories_per_component(SLOT_MEMORIES)
        .max_tables_per_component(SLOT_TABLES)
        .max_memories_per_module(2)
        .max_tables_per_module(4)
        .max_memory_size(SLOT_MEMORY_BYTES)
        .table_elements(SLOT_TABLE_ELEMENTS)
        // Python components keep large core instances of their own.
        .max_core_instance_size(4 << 20)
        .max_component_instance_size(4 << 20);
    InstanceAllocationStrategy::Pooling(pool)
}

/// Returns why a plugin under `limits` cannot use the pool's slots, or
/// `None` when it can.
pub(super) fn misfit_of_limits(limits: &Limits) -> Option<String> {
    if limits.memory_bytes > SLOT_MEMORY_BYTES {
        return Some(format!(
            "its memory limit of {} is above a slot's {}",
            super::format_size(limits.memory_bytes),
            super::format_size(SLOT_MEMORY_BYTES)
        ));
    }
    if limits.table_elements > SLOT_TABLE_ELEMENTS {
        return Some(format!(
            "its table element limit of {} is above a slot's {SLOT_TABLE_ELEMENTS}",
            limits.table_elements
        ));
    }
    if limits.instances > SLOT_CORE_INSTANCES as usize {
        return Some(format!(
            "its instance limit of {} is above a slot's {SLOT_CORE_INSTANCES}",
            limits.instances
        ));
    }
    None
}

/// Returns why `component` cannot use the pool's slots, or `None` when it
/// can.
pub(super) fn misfit_of_component(component: &Component) -> Option<String> {
    let Some(required) = component.resources_required() else {
        return Some("it creates core instances at run time".to_string());
    };
    if required.num_memories > SLOT_MEMORIES {
        return Some(format!(
            "it has {} memories, above a slot's {SLOT_MEMORIES}",
            required.num_memories
        ));
    }
    if required.num_tables > SLOT_TABLES {
        return Some(format!(
            "it has {} tables, above a slot's {SLOT_TABLES}",
            required.num_tables
        ));
    }
    let page = 65_536u64;
    if let Some(pages) = required.max_initial_memory_size
        && pages.saturating_mul(page) > SLOT_MEMORY_BYTES as u64
    {
        return Some(format!("a memory starts at {pages} pages, above a slot"));
    }
    if let Some(elements) = required.max_initial_table_size
        && elements > SLOT_TABLE_ELEMENTS as u64
    {
        return Some(format!(
            "a table starts with {elements} elements, above a slot"
        ));
    }
    None
}
