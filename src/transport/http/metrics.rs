//! The transport's own counters and `GET /metrics`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::router::Shared;

/// Status codes counted separately; anything else counts as `other`.
const STATUSES: [u16; 13] = [
    200, 400, 401, 403, 404, 405, 409, 413, 415, 500, 503, 504, 0,
];

/// Per-route counters.
struct RouteStats {
    by_status: [AtomicU64; STATUSES.len()],
    micros: AtomicU64,
}

/// Requests by route and status, total latency by route, and requests in
/// flight. Lock-free: one atomic add per counter per request.
pub(crate) struct Stats {
    routes: Vec<(&'static str, RouteStats)>,
    unmatched: RouteStats,
    in_flight: AtomicI64,
}

impl RouteStats {
    fn new() -> Self {
        Self {
            by_status: std::array::from_fn(|_| AtomicU64::new(0)),
            micros: AtomicU64::new(0),
        }
    }
}

impl Stats {
    pub(crate) fn new(routes: &[&'static str]) -> Self {
        Self {
            routes: routes.iter().map(|&r| (r, RouteStats::new())).collect(),
            unmatched: RouteStats::new(),
            in_flight: AtomicI64::new(0),
        }
    }

    fn route(&self, pattern: Option<&str>) -> &RouteStats {
        pattern
            .and_then(|p| self.routes.iter().find(|(r, _)| *r == p))
            .map_or(&self.unmatched, |(_, s)| s)
    }

    fn record(&self, pattern: Option<&str>, status: u16, micros: u64) {
        let s = self.route(pattern);
        let slot = STATUSES
            .iter()
            .position(|&c| c == status)
            .unwrap_or(STATUSES.len() - 1);
        s.by_status[slot].fetch_add(1, Ordering::Relaxed);
        s.micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counters in the Prometheus text format.
    pub(crate) fn render(&self, out: &mut String) {
        let all = || {
            self.routes
                .iter()
                .map(|(r, s)| (*r, s))
                .chain(std::iter::once(("unmatched", &self.unmatched)))
        };
        out.push_str(
            "# HELP modelhost_http_requests_total HTTP requests answered, by route pattern and status code.\n\
             # TYPE modelhost_http_requests_total counter\n",
        );
        for (route, s) in all() {
            for (i, &code) in STATUSES.iter().enumerate() {
                let n = s.by_status[i].load(Ordering::Relaxed);
                if n == 0 {
                    continue;
                }
                let status = if code == 0 {
                    "other".to_owned()
                } else {
                    code.to_string()
                };
                let _ = writeln!(
                    out,
                    "modelhost_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        out.push_str(
            "# HELP modelhost_http_request_duration_seconds Time to answer HTTP requests, by route pattern.\n\
             # TYPE modelhost_http_request_duration_seconds summary\n",
        );
        for (route, s) in all() {
            let count: u64 = s.by_status.iter().map(|c| c.load(Ordering::Relaxed)).sum();
            if count == 0 {
                continue;
            }
            let secs = s.micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "modelhost_http_request_duration_seconds_sum{{route=\"{route}\"}} {secs}\n\
                 modelhost_http_request_duration_seconds_count{{route=\"{route}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP modelhost_http_requests_in_flight HTTP requests being answered.\n\
             # TYPE modelhost_http_requests_in_flight gauge\n\
             modelhost_http_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        );
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
    shared.stats.in_flight.fetch_add(1, Ordering::Relaxed);
    let response = next.run(request).await;
    shared.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    shared.stats.record(
        pattern.as_ref().map(MatchedPath::as_str),
        response.status().as_u16(),
        micros,
    );
    response
}

/// Escapes a Prometheus label value.
fn label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`: the host's renderer (if any), then the transport's
/// counters and each model's serving version and readiness.
pub(crate) async fn render(State(shared): State<Arc<Shared>>) -> Response {
    let mut out = String::new();
    if let Some(r) = &shared.renderer {
        out.push_str(&r());
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
    }
    shared.stats.render(&mut out);
    out.push_str(
        "# HELP modelhost_http_model_ready Whether a model served over HTTP takes requests (1) or not (0).\n\
         # TYPE modelhost_http_model_ready gauge\n",
    );
    let mut versions = String::from(
        "# HELP modelhost_http_model_version The version serving new requests.\n\
         # TYPE modelhost_http_model_version gauge\n",
    );
    for m in &shared.models {
        let ready = !m.is_unloaded() && m.server.health().is_ready();
        let name = label(&m.name);
        let _ = writeln!(
            out,
            "modelhost_http_model_ready{{model=\"{name}\"}} {}",
            u8::from(ready)
        );
        if let Ok(meta) = m.server.metadata() {
            let _ = writeln!(
                versions,
                "modelhost_http_model_version{{model=\"{name}\"}} {}",
                meta.version
            );
        }
    }
    out.push_str(&versions);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
