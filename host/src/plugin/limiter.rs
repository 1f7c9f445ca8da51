//! The resource limiter of a plugin's store.
//!
//! wasmtime's own `StoreLimits` caps each memory and each table on its
//! own, so a component with many memories could take the memory limit
//! once per memory. This limiter caps the sum over all memories, and over
//! all tables, of one store. wasmtime calls it before it creates a memory
//! or table (with a current size of 0) and before every growth.
//!
//! Going past a limit is an error, not a refused growth, so the plugin
//! traps at once with a [`super::LimitExceeded`] that the host reports, instead
//! of failing an allocation somewhere inside its runtime.

use wasmtime::ResourceLimiter;

use super::limits::{Limit, Limits};

/// Tracks the memory and table sizes of one store against its limits.
pub(super) struct StoreLimiter {
    limits: Limits,
    memory_bytes: usize,
    table_elements: usize,
}

impl StoreLimiter {
    /// Creates a limiter for a store that has no memory or table yet.
    pub(super) fn new(limits: &Limits) -> Self {
        Self {
            limits: limits.clone(),
            memory_bytes: 0,
            table_elements: 0,
        }
    }

    fn exceeded(&self, limit: Limit, detail: String) -> wasmtime::Error {
        wasmtime::Error::new(self.limits.exceeded(limit, detail))
    }
}

impl ResourceLimiter for StoreLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Growing past the memory's own declared maximum fails the way
        // WebAssembly defines (`memory.grow` returns -1). It is not a host
        // limit, so it raises no error.
        if maximum.is_some_and(|maximum| desired > maximum) {
            return Ok(false);
        }
        let total = self
            .memory_bytes
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.limits.memory_bytes {
            let detail = format!("it asked for {total} bytes of linear memory");
            return Err(self.exceeded(Limit::Memory, detail));
        }
        // NOTE: a growth that wasmtime fails after this approval, such as
        // a failed mmap, stays counted, so the sum can only overstate.
        self.memory_bytes = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|maximum| desired > maximum) {
            return Ok(false);
        }
        let total = self
            .table_elements
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.limits.table_elements {
            let detail = format!("its tables asked for {total} elements");
            return Err(self.exceeded(Limit::TableElements, detail));
        }
        self.table_elements = total;
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.limits.instances
    }

    fn tables(&self) -> usize {
        self.limits.instances
    }

    fn memories(&self) -> usize {
        self.limits.instances
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::LimitExceeded;

    fn limiter(memory_bytes: usize, table_elements: usize) -> StoreLimiter {
        StoreLimiter::new(&Limits {
            memory_bytes,
            table_elements,
            ..Limits::default()
        })
    }

    fn limit_error(error: &wasmtime::Error) -> &LimitExceeded {
        error
            .downcast_ref::<LimitExceeded>()
            .expect("the error is a LimitExceeded")
    }

    #[test]
    fn memories_share_one_budget() {
        let mut limiter = limiter(10 << 20, 1000);
        // Two memories created at 4 MiB each, then the first grows by 2 MiB.
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        assert!(limiter.memory_growing(0, 4 << 20, None).unwrap());
        assert!(limiter.memory_growing(4 << 20, 6 << 20, None).unwrap());

        let error = limiter.memory_growing(4 << 20, 5 << 20, None).unwrap_err();
        assert_eq!(
            limit_error(&error).to_string(),
            "the plugin exceeded its memory limit of 10 MiB (memory): \
             it asked for 11534336 bytes of linear memory"
        );
        // The refused growth is not counted.
        assert!(limiter.memory_growing(4 << 20, 4 << 20, None).unwrap());
    }

    #[test]
    fn declared_maximum_refuses_without_error() {
        let mut limiter = limiter(10 << 20, 1000);
        assert!(!limiter.memory_growing(0, 2 << 20, Some(1 << 20)).unwrap());
        assert!(!limiter.table_growing(0, 20, Some(10)).unwrap());
    }

    #[test]
    fn tables_share_one_budget() {
        let mut limiter = limiter(10 << 20, 1000);
        assert!(limiter.table_growing(0, 600, None).unwrap());
        let error = limiter.table_growing(0, 401, None).unwrap_err();
        assert_eq!(
            limit_error(&error).to_string(),
            "the plugin exceeded its table element limit of 1000 (table_elements): \
             its tables asked for 1001 elements"
        );
        assert!(limiter.table_growing(600, 1000, None).unwrap());
    }

    #[test]
    fn counts_follow_the_instance_limit() {
        let limiter = StoreLimiter::new(&Limits {
            instances: 7,
            ..Limits::default()
        });
        assert_eq!(limiter.instances(), 7);
        assert_eq!(limiter.tables(), 7);
        assert_eq!(limiter.memories(), 7);
    }
}
