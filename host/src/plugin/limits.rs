//! Enforcing [`Limits`] on one call's wasmtime store.

use std::fmt;

use crate::connector::{Limit, Limits};

/// The error a limiter raises; it travels inside the trap so the call's
/// error can name the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Breach(pub Limit);

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for Breach {}

/// The `ResourceLimiter` of one call's store.
pub(crate) struct CallLimiter {
    limits: Limits,
    memory_in_use: u64,
}

impl CallLimiter {
    pub(crate) fn new(limits: Limits) -> CallLimiter {
        CallLimiter {
            limits,
            memory_in_use: 0,
        }
    }
}

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let grow = (desired - current) as u64;
        if self.memory_in_use + grow > self.limits.memory {
            // Trap rather than fail the grow: a plugin that needs more than
            // its cap cannot finish the call anyway, and the trap names why.
            return Err(wasmtime::Error::new(Breach(Limit::Memory(
                self.limits.memory,
            ))));
        }
        self.memory_in_use += grow;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limits.table_elements as u64 {
            return Err(wasmtime::Error::new(Breach(Limit::TableElements(
                self.limits.table_elements,
            ))));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.limits.instances as usize
    }

    fn tables(&self) -> usize {
        self.limits.tables as usize
    }

    fn memories(&self) -> usize {
        self.limits.memories as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn memory_cap_traps_with_the_limit() {
        use wasmtime::ResourceLimiter;
        let mut l = CallLimiter::new(Limits {
            memory: 2 * MIB,
            ..Limits::default()
        });
        assert!(l.memory_growing(0, MIB as usize, None).unwrap());
        let err = l
            .memory_growing(MIB as usize, 3 * MIB as usize, None)
            .unwrap_err();
        assert_eq!(
            err.downcast_ref::<Breach>(),
            Some(&Breach(Limit::Memory(2 * MIB)))
        );
        assert_eq!(err.to_string(), "memory limit of 2 MiB exceeded");
    }
}
