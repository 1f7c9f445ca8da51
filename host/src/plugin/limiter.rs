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

impl StoreLimiter {
    /// Counts a growth of one memory or table from `current` to `desired`
    /// into `counted`, the sum over the instance, and checks the new sum
    /// against `allowed`. Returns the new sum, or `None` when the growth
    /// passes the memory's or table's own declared `maximum`: WebAssembly
    /// then fails it (`memory.grow` returns -1), so it raises no error.
    fn grow(
        &self,
        counted: usize,
        (current, desired): (usize, usize),
        maximum: Option<usize>,
        (limit, allowed, unit): (Limit, usize, &str),
    ) -> wasmtime::Result<Option<usize>> {
        if maximum.is_some_and(|maximum| desired > maximum) {
            return Ok(None);
        }
        let total = counted.saturating_sub(current).saturating_add(desired);
        if total > allowed {
            let detail = format!("it requested {total} {unit}");
            return Err(self.exceeded(limit, detail));
        }
        Ok(Some(total))
    }
}

impl ResourceLimiter for StoreLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let limit = (
            Limit::Memory,
            self.limits.memory_bytes,
            "bytes of linear memory",
        );
        let grown = self.grow(self.memory_bytes, (current, desired), maximum, limit)?;
        // NOTE: a growth that wasmtime fails after this approval, such as
        // a failed mmap, stays counted, so the sum can only overstate.
        if let Some(total) = grown {
            self.memory_bytes = total;
        }
        Ok(grown.is_some())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let limit = (
            Limit::TableElements,
            self.limits.table_elements,
            "table elements",
        );
        let grown = self.grow(self.table_elements, (current, desired), maximum, limit)?;
        if let Some(total) = grown {
            self.table_elements = total;
        }
        Ok(grown.is_some())
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
             it requested 11534336 bytes of linear memory"
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
             it requested 1001 table elements"
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
