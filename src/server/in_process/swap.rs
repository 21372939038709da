//! Swaps and rollbacks: every fallible step before the store, which
//! cannot fail. Called with `swap_lock` held, the only lock of the server.

use std::sync::{Arc, PoisonError};

use super::{InProcessServer, Served, SwapOptions, SwapReport};
use crate::Error;
use crate::Result;
use crate::deployment::Deployment;
use crate::schema::SchemaDiff;
use crate::server::SwapEvent;

impl InProcessServer {
    /// Replaces the serving version with `next` (default [`SwapOptions`]).
    ///
    /// # Errors
    ///
    /// As [`swap_with`](Self::swap_with).
    pub fn swap(&self, next: Deployment) -> Result<SwapReport> {
        self.swap_with(next, SwapOptions::default())
    }

    /// Replaces the serving version with `next`. Requests already admitted
    /// finish on the version they pinned; new requests see `next`.
    ///
    /// # Errors
    ///
    /// Each leaves the serving version untouched:
    /// [`Error::WrongModel`] for another model name, [`Error::StaleVersion`]
    /// for a version not newer than the serving one, [`Error::IncompatibleSchema`]
    /// for a breaking schema change, [`Error::WarmupFailed`] when the warm-up
    /// rows fail.
    pub fn swap_with(&self, next: Deployment, options: SwapOptions) -> Result<SwapReport> {
        let _serialized = self
            .swap_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let current = self.slot.load_full();
        let result = self.check(&current.deployment, &next, options);
        match result {
            Ok(diff) => Ok(self.store(current, next, diff, false)),
            Err(e) => {
                if let Some(o) = &self.observed {
                    o.observer
                        .on_failed_load(&current.deployment.name, Some(next.version), &e);
                }
                Err(e)
            }
        }
    }

    fn check(
        &self,
        current: &Deployment,
        next: &Deployment,
        options: SwapOptions,
    ) -> Result<SchemaDiff> {
        if next.name != current.name {
            return Err(Error::WrongModel {
                serving: current.name.to_string(),
                offered: next.name.to_string(),
            });
        }
        if next.version <= current.version && !options.allow_older {
            return Err(Error::StaleVersion {
                current: current.version,
                offered: next.version,
            });
        }
        let diff = SchemaDiff::between(current.schema(), next.schema());
        if diff.is_breaking() && !options.allow_breaking_schema {
            return Err(Error::IncompatibleSchema { diff });
        }
        next.warm_up()?;
        Ok(diff)
    }

    /// The infallible part of a swap. Called with the swap lock held.
    fn store(
        &self,
        current: Arc<Served>,
        next: Deployment,
        diff: SchemaDiff,
        rollback: bool,
    ) -> SwapReport {
        let generation = current.generation + 1;
        let from = current.deployment.version;
        let to = next.version;
        self.slot.store(Arc::new(Served {
            deployment: next,
            generation,
        }));
        self.previous.store(self.retain_previous.then_some(current));
        if let Some(o) = &self.observed {
            let now = self.slot.load();
            o.observer.on_swap(&SwapEvent {
                model: &now.deployment.name,
                from,
                to,
                rollback,
                generation,
                deployment: &now.deployment,
            });
        }
        SwapReport {
            from,
            to,
            diff,
            generation,
        }
    }

    /// Serves the previous version again; the version rolled back from becomes
    /// the previous one, so a second rollback rolls forward.
    ///
    /// # Errors
    ///
    /// [`Error::NoPreviousVersion`] when no previous version is retained.
    pub fn rollback(&self) -> Result<SwapReport> {
        let _serialized = self
            .swap_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let previous = self.previous.load_full().ok_or(Error::NoPreviousVersion)?;
        let current = self.slot.load_full();
        let diff = SchemaDiff::between(current.deployment.schema(), previous.deployment.schema());
        Ok(self.store(current, previous.deployment.clone(), diff, true))
    }
}
