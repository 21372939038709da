//! The transport's own metrics and `GET /metrics`.
//!
//! The counters live in a private `metrics-exporter-prometheus` recorder:
//! not installed as the process's global recorder (that one belongs to the
//! host), but the same storage and text format the host's own Prometheus
//! recorder uses. Handles are registered once per route and status, so a
//! request costs an atomic add per counter and one histogram sample.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{Counter, Gauge, Histogram, Key, Label, Level, Metadata, Recorder, Unit};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use super::router::Shared;

const REQUESTS: &str = "modelhost_http_requests_total";
const DURATION: &str = "modelhost_http_request_duration_seconds";
const IN_FLIGHT: &str = "modelhost_http_requests_in_flight";
const MODEL_READY: &str = "modelhost_http_model_ready";
const MODEL_VERSION: &str = "modelhost_http_model_version";
const ADMIN_FAILURES: &str = "modelhost_http_admin_failures_total";

/// Histogram buckets for request durations, in seconds: from the
/// sub-millisecond answers of tabular models to the slowest batch.
const BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Status codes counted under their own label; anything else is `other`.
const STATUSES: [u16; 12] = [200, 400, 401, 403, 404, 405, 409, 413, 415, 500, 503, 504];

fn metadata() -> Metadata<'static> {
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()))
}

/// One route's handles: a counter per status and a latency histogram,
/// registered when first used, so `/metrics` lists only the routes and
/// statuses that have answered.
struct RouteStats {
    route: &'static str,
    by_status: [OnceLock<Counter>; STATUSES.len() + 1],
    duration: OnceLock<Histogram>,
}

/// Requests by route and status, their durations, requests in flight, and
/// each model's readiness and serving version.
pub(crate) struct Stats {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    routes: Vec<RouteStats>,
    unmatched: RouteStats,
    in_flight: Gauge,
}

impl Stats {
    pub(crate) fn new(routes: &[&'static str]) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), BUCKETS)
            // Only an empty bucket list is refused, and this one is not.
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        recorder.describe_counter(
            REQUESTS.into(),
            None,
            "HTTP requests answered, by route pattern and status code.".into(),
        );
        recorder.describe_histogram(
            DURATION.into(),
            Some(Unit::Seconds),
            "Time to answer HTTP requests, by route pattern.".into(),
        );
        recorder.describe_gauge(
            IN_FLIGHT.into(),
            None,
            "HTTP requests being answered.".into(),
        );
        recorder.describe_counter(
            ADMIN_FAILURES.into(),
            None,
            "Admin operations (load, set_alias) that failed and changed nothing.".into(),
        );
        recorder.describe_gauge(
            MODEL_READY.into(),
            None,
            "Whether a model served over HTTP takes requests (1) or not (0).".into(),
        );
        recorder.describe_gauge(
            MODEL_VERSION.into(),
            None,
            "The version serving new requests.".into(),
        );
        let route = |route: &'static str| RouteStats {
            route,
            by_status: std::array::from_fn(|_| OnceLock::new()),
            duration: OnceLock::new(),
        };
        let routes = routes.iter().map(|&r| route(r)).collect();
        let unmatched = route("unmatched");
        let in_flight = recorder.register_gauge(&Key::from_name(IN_FLIGHT), &metadata());
        let handle = recorder.handle();
        Self {
            recorder,
            handle,
            routes,
            unmatched,
            in_flight,
        }
    }

    /// The route of a matched pattern. Nested in a host's router under a
    /// prefix, the pattern carries the prefix (`/ml/v2/health/live`): the
    /// longest route it ends with, at a `/`, is the one.
    fn route(&self, pattern: Option<&str>) -> &RouteStats {
        let Some(p) = pattern else {
            return &self.unmatched;
        };
        self.routes
            .iter()
            .filter(|r| {
                r.route == p
                    || p.strip_suffix(r.route)
                        .is_some_and(|prefix| prefix.starts_with('/') && !prefix.ends_with('/'))
            })
            .max_by_key(|r| r.route.len())
            .unwrap_or(&self.unmatched)
    }

    fn record(&self, pattern: Option<&str>, status: u16, seconds: f64) {
        let route = self.route(pattern);
        let slot = STATUSES
            .iter()
            .position(|&c| c == status)
            .unwrap_or(STATUSES.len());
        route.by_status[slot]
            .get_or_init(|| {
                let status = STATUSES
                    .get(slot)
                    .map_or_else(|| "other".to_owned(), u16::to_string);
                self.recorder.register_counter(
                    &Key::from_parts(
                        REQUESTS,
                        vec![
                            Label::new("route", route.route),
                            Label::new("status", status),
                        ],
                    ),
                    &metadata(),
                )
            })
            .increment(1);
        route
            .duration
            .get_or_init(|| {
                self.recorder.register_histogram(
                    &Key::from_parts(DURATION, vec![Label::new("route", route.route)]),
                    &metadata(),
                )
            })
            .record(seconds);
    }

    /// Counts an admin operation that failed.
    pub(crate) fn admin_failed(&self, action: &'static str) {
        self.recorder
            .register_counter(
                &Key::from_parts(ADMIN_FAILURES, vec![Label::new("action", action)]),
                &metadata(),
            )
            .increment(1);
    }

    /// Sets a model's gauges (read when `/metrics` is rendered).
    fn model(&self, name: &str, ready: bool, version: Option<u64>) {
        let labels = || vec![Label::new("model", name.to_owned())];
        self.recorder
            .register_gauge(&Key::from_parts(MODEL_READY, labels()), &metadata())
            .set(f64::from(u8::from(ready)));
        if let Some(v) = version {
            self.recorder
                .register_gauge(&Key::from_parts(MODEL_VERSION, labels()), &metadata())
                .set(v as f64);
        }
    }
}

/// One request counted in the in-flight gauge until dropped.
struct InFlight<'a>(&'a Gauge);

impl<'a> InFlight<'a> {
    fn enter(gauge: &'a Gauge) -> Self {
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// Middleware: counts every request by matched route and status.
pub(crate) async fn track(
    State(shared): State<Arc<Shared>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let pattern = request.extensions().get::<MatchedPath>().cloned();
    // A guard, so a request whose client hangs up (its future dropped
    // mid-way) still leaves the gauge.
    let _in_flight = InFlight::enter(&shared.stats.in_flight);
    let response = next.run(request).await;
    shared.stats.record(
        pattern.as_ref().map(MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`: the host's renderer (if any), then the transport's
/// metrics with each model's serving version and readiness.
pub(crate) async fn render(State(shared): State<Arc<Shared>>) -> Response {
    for m in &shared.models {
        let ready = !m.is_unloaded() && m.server.health().is_ready();
        let version = m.server.metadata().ok().map(|meta| meta.version);
        shared.stats.model(&m.name, ready, version);
    }
    let mut out = String::new();
    if let Some(r) = &shared.renderer {
        out.push_str(&r());
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
    }
    out.push_str(&shared.stats.handle.render());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
