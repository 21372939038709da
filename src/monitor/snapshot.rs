//! [`MonitorSnapshot`]: the monitor's state as JSON, for reports and tools.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::alert::Alert;
use super::drift::{DriftReport, DriftThresholds};
use super::error::MonitorError;
use super::quality::{QualityMetrics, QualityPoint};
use super::window::LatencyHistogram;
use crate::Result;

/// A copy of a [`Monitor`](super::Monitor)'s state, serializable as JSON.
///
/// Written by [`Monitor::write_snapshot`](super::Monitor::write_snapshot)
/// and read by `modelhost report --snapshot FILE --out report.html`. The
/// `format` field is 1; readers refuse other values.
///
/// # Examples
///
/// ```
/// # fn demo(monitor: &modelhost::monitor::Monitor) -> modelhost::Result<()> {
/// use modelhost::monitor::MonitorSnapshot;
///
/// let json = monitor.snapshot().to_json();
/// let back = MonitorSnapshot::from_json(&json)?;
/// let html: String = back.render_html();
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MonitorSnapshot {
    /// The snapshot format version ([`MonitorSnapshot::FORMAT`]).
    pub format: u32,
    /// The model's name.
    pub model: String,
    /// The version serving when the snapshot was taken.
    pub version: u64,
    /// When the monitor was built, in milliseconds since the Unix epoch.
    pub started_at_ms: u64,
    /// When the snapshot was taken, in milliseconds since the Unix epoch.
    pub taken_at_ms: u64,
    /// Requests served (every one, whatever the [sampling](super::Sampling)).
    pub requests: u64,
    /// Failed requests among them.
    pub errors: u64,
    /// Rows predicted among them.
    pub rows: u64,
    /// Rows sketched into drift windows (the [sampled](super::Sampling)
    /// rows of versions with a reference).
    #[serde(default)]
    pub sketched_rows: u64,
    /// Predictions waiting for feedback.
    pub pending_feedback: u64,
    /// Latency of the timed requests (every one with
    /// [`Sampling::Every(1)`](super::Sampling::Every)).
    pub latency: LatencyHistogram,
    /// The drift thresholds in force.
    pub thresholds: DriftThresholds,
    /// One point per completed evaluation period, oldest first.
    pub windows: Vec<WindowPoint>,
    /// The drift report of the last scored window.
    pub drift: Option<DriftReport>,
    /// Rolling quality per version.
    pub quality: Vec<QualityMetrics>,
    /// Quality history, by version then outcomes.
    pub quality_history: Vec<QualityPoint>,
    /// Alerts firing when the snapshot was taken.
    pub active_alerts: Vec<Alert>,
    /// Recent alert transitions, oldest first.
    pub alert_log: Vec<Alert>,
    /// Swaps and rollbacks of the serving version, oldest first (the last
    /// 256).
    #[serde(default)]
    pub swaps: Vec<SwapMark>,
}

/// A change of the serving version, for the report's markers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SwapMark {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The version that served before.
    pub from: u64,
    /// The version serving after.
    pub to: u64,
    /// Whether it was a rollback.
    pub rollback: bool,
}

/// One completed evaluation period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WindowPoint {
    /// The drift window's number within its version, when it was scored.
    pub index: Option<u64>,
    /// The version whose reference the window was compared with.
    pub version: Option<u64>,
    /// Milliseconds since the Unix epoch.
    pub ended_at_ms: u64,
    /// Rows the scored window covered (0 when not scored).
    pub rows: u64,
    /// Requests in the period.
    pub requests: u64,
    /// Failed requests in the period.
    pub errors: u64,
    /// Median latency in the period, in seconds.
    pub p50_seconds: Option<f64>,
    /// 90th percentile latency, in seconds.
    pub p90_seconds: Option<f64>,
    /// 99th percentile latency, in seconds.
    pub p99_seconds: Option<f64>,
    /// Share of drifting features, when scored.
    pub drift_share: Option<f64>,
    /// PSI per feature, when scored.
    pub psi: BTreeMap<String, f64>,
}

impl MonitorSnapshot {
    /// The format version this crate writes and reads.
    ///
    /// Format 2 (this version) added the drift tests and distributions to
    /// [`DriftReport`] and replaced the PSI thresholds of
    /// [`DriftThresholds`]; format 1 snapshots are refused with an error
    /// that says so (take the snapshot again with this version).
    pub const FORMAT: u32 = 2;

    /// The snapshot as pretty-printed JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        // Every field is a plain value or a map with string keys.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Parses a snapshot written by [`to_json`](Self::to_json).
    ///
    /// # Errors
    ///
    /// [`MonitorError::Snapshot`] for invalid JSON, a missing field, or a
    /// format other than [`FORMAT`](Self::FORMAT).
    pub fn from_json(json: &str) -> Result<Self> {
        let bad = |e: serde_json::Error| MonitorError::Snapshot {
            source: Arc::new(e),
        };
        // The format first, so an older snapshot gets a clear message
        // rather than the first field it lacks.
        #[derive(Deserialize)]
        struct Format {
            format: u32,
        }
        let f: Format = serde_json::from_str(json).map_err(bad)?;
        if f.format != Self::FORMAT {
            let e = <serde_json::Error as serde::de::Error>::custom(format!(
                "snapshot format {} is not supported (expected {}){}",
                f.format,
                Self::FORMAT,
                if f.format < Self::FORMAT {
                    "; it was written by an older modelhost: take it again with this one"
                } else {
                    ""
                }
            ));
            return Err(bad(e).into());
        }
        Ok(serde_json::from_str(json).map_err(bad)?)
    }

    /// Reads a snapshot file.
    ///
    /// # Errors
    ///
    /// [`MonitorError::Io`] when the file cannot be read (or exceeds 256
    /// MiB), otherwise as [`from_json`](Self::from_json).
    pub fn read(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let io = |e: std::io::Error| MonitorError::Io {
            path: path.to_owned(),
            source: Arc::new(e),
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > 256 << 20 {
            return Err(io(std::io::Error::other("snapshot larger than 256 MiB")).into());
        }
        Self::from_json(&std::fs::read_to_string(path).map_err(io)?)
    }

    /// The monitoring report as one self-contained HTML page.
    #[must_use]
    pub fn render_html(&self) -> String {
        super::report::render_html(self)
    }
}

pub(crate) fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|e| {
        MonitorError::Io {
            path: path.to_owned(),
            source: Arc::new(e),
        }
        .into()
    })
}
