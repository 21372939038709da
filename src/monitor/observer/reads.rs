//! Reads: snapshots, reports, memory use.

use super::*;

impl Monitor {
    /// A JSON-serializable copy of the monitor's state, for
    /// [`MonitorSnapshot::render_html`], the `modelhost report` command, or
    /// your own tooling.
    #[must_use]
    pub fn snapshot(&self) -> MonitorSnapshot {
        self.flush();
        let (version, lifetime, windows, drift, latency, swaps) = {
            let live = lock(&self.live);
            let mut latency = live.lifetime.latency.clone();
            latency.merge(&lock(&self.latency));
            (
                live.version,
                (
                    live.lifetime.requests,
                    live.lifetime.errors,
                    live.lifetime.rows,
                    live.lifetime.sketched,
                ),
                live.history.iter().cloned().collect(),
                live.last_drift.clone(),
                latency,
                live.swaps.iter().copied().collect(),
            )
        };
        let quality_history = {
            let q = lock(&self.quality);
            let mut h: Vec<QualityPoint> = q
                .versions
                .values()
                .flat_map(|(_, h)| h.iter().cloned())
                .collect();
            h.sort_by_key(|p| (p.metrics.version, p.outcomes));
            h
        };
        self.refresh_alerts();
        let (active, log) = {
            let a = lock(&self.alerts);
            (a.active(), a.log.iter().cloned().collect())
        };
        let pending = lock(&self.pendings).len() as u64;
        MonitorSnapshot {
            format: MonitorSnapshot::FORMAT,
            model: self.model.to_string(),
            version,
            started_at_ms: self.started_at_ms,
            taken_at_ms: now_ms(),
            requests: lifetime.0,
            errors: lifetime.1,
            rows: lifetime.2,
            sketched_rows: lifetime.3,
            pending_feedback: pending,
            latency,
            thresholds: self.config.thresholds.clone(),
            windows,
            drift,
            quality: self.quality(),
            quality_history,
            active_alerts: active,
            alert_log: log,
            swaps,
        }
    }

    /// The monitoring report as one self-contained HTML page (inline SVG,
    /// no scripts, no external resources).
    #[must_use]
    pub fn report(&self) -> String {
        report::render_html(&self.snapshot())
    }

    /// Writes [`report`](Self::report) to `path`.
    ///
    /// # Errors
    ///
    /// [`MonitorError::Io`] when the file cannot be written.
    pub fn write_report(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::monitor::snapshot::write(path.as_ref(), self.report().as_bytes())
    }

    /// Writes [`snapshot`](Self::snapshot) to `path` as JSON.
    ///
    /// # Errors
    ///
    /// [`MonitorError::Io`] when the file cannot be written.
    pub fn write_snapshot(&self, path: impl AsRef<Path>) -> Result<()> {
        crate::monitor::snapshot::write(path.as_ref(), self.snapshot().to_json().as_bytes())
    }

    /// Bytes-free view of how much the bounded stores hold, for tests and
    /// diagnostics.
    #[must_use]
    pub fn memory(&self) -> MemoryUse {
        self.flush();
        let ring_slots = self.shards.iter().map(|s| s.ring.capacity()).sum();
        let (window_values, window_capacity_rows) = {
            let live = lock(&self.live);
            (live.window.held_values(), live.window.capacity_rows())
        };
        let (pending, pending_queue, expired, evicted) = {
            let p = lock(&self.pendings);
            (p.len(), p.queued(), p.expired, p.evicted)
        };
        let q = lock(&self.quality);
        MemoryUse {
            window_values,
            window_capacity_rows,
            ring_slots,
            pending,
            pending_queue,
            pending_expired: expired,
            pending_evicted: evicted,
            quality_outcomes: q.versions.values().map(|(r, _)| r.held()).sum(),
            quality_versions: q.versions.len(),
        }
    }
}

/// How much the monitor's bounded stores hold (see [`Monitor::memory`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryUse {
    /// `f64` slots allocated by the window ring (features and predictions).
    pub window_values: usize,
    /// The ring's capacity in rows.
    pub window_capacity_rows: usize,
    /// Slots (one `f64` each) of the per-thread rings that carry sketched
    /// rows to the window, summed over the threads that served requests.
    pub ring_slots: usize,
    /// Predictions waiting for feedback.
    pub pending: usize,
    /// Entries in the pending expiry queue (at most twice `max_pending`).
    pub pending_queue: usize,
    /// Pending predictions dropped for age.
    pub pending_expired: u64,
    /// Pending predictions dropped for the count bound.
    pub pending_evicted: u64,
    /// Outcomes held by the rolling quality windows.
    pub quality_outcomes: usize,
    /// Versions with rolling quality.
    pub quality_versions: usize,
}
