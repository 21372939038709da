//! Install `metrics-exporter-prometheus` as the process's metrics recorder
//! (`prometheus` feature). No HTTP listener and no async runtime: serve
//! [`PrometheusHandle::render`] from your own `/metrics` endpoint.

pub use metrics_exporter_prometheus::PrometheusHandle;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};

use super::MonitorError;
use super::metrics::{BATCH_SIZE, QUEUE_WAIT_SECONDS, REQUEST_DURATION_SECONDS};
use crate::Result;

/// Latency buckets in seconds: 50 µs to 10 s.
pub const LATENCY_BUCKETS: [f64; 16] = [
    50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 0.5,
    1.0, 2.5, 10.0,
];

/// Batch-size buckets.
pub const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// A builder with modelhost's histogram buckets, for callers that add
/// settings of their own before installing it.
///
/// # Errors
///
/// [`MonitorError::Exporter`] if the exporter refuses the buckets.
pub fn builder() -> Result<PrometheusBuilder> {
    let e = |e: metrics_exporter_prometheus::BuildError| MonitorError::Exporter {
        reason: e.to_string(),
    };
    Ok(PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(REQUEST_DURATION_SECONDS.into()),
            &LATENCY_BUCKETS,
        )
        .map_err(e)?
        .set_buckets_for_metric(Matcher::Full(QUEUE_WAIT_SECONDS.into()), &LATENCY_BUCKETS)
        .map_err(e)?
        .set_buckets_for_metric(Matcher::Full(BATCH_SIZE.into()), &BATCH_BUCKETS)
        .map_err(e)?)
}

/// Installs the Prometheus recorder globally (histograms as buckets, see
/// [`LATENCY_BUCKETS`]), describes modelhost's metrics, and returns the
/// handle whose [`render`](PrometheusHandle::render) gives the text
/// exposition format. Call it once, before building a
/// [`Monitor`](super::Monitor).
///
/// Call [`PrometheusHandle::run_upkeep`] now and then (say, every few
/// seconds, or before each render) so histogram buffers are drained.
///
/// # Errors
///
/// [`MonitorError::Exporter`] when a recorder is already installed.
///
/// # Examples
///
/// ```no_run
/// let handle = modelhost::monitor::prometheus::install()?;
/// // ... build the monitor and the server, serve requests ...
/// let body = handle.render(); // answer GET /metrics with this
/// # Ok::<(), modelhost::Error>(())
/// ```
pub fn install() -> Result<PrometheusHandle> {
    let handle = builder()?
        .install_recorder()
        .map_err(|e| MonitorError::Exporter {
            reason: e.to_string(),
        })?;
    super::describe_metrics();
    Ok(handle)
}
