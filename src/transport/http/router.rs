//! [`HttpTransport`]: turns servers into an axum [`Router`].

use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Bytes;
use axum::error_handling::HandleErrorLayer;
use axum::extract::DefaultBodyLimit;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::routing::{MethodRouter, get, post};
use tower_http::decompression::RequestDecompressionLayer;

use super::error::{ApiError, Rejection, Shape};
use super::metrics::Stats;
use super::{admin, feedback, guard, kserve, metrics, mlflow, oip, openapi, rank, stats};
use crate::monitor::Monitor;
use crate::registry::{ModelRef, Registry};
use crate::server::{ModelServer, PredictRequest, PredictResponse};
use crate::{InProcessServer, Result};

/// The default limit on request bodies: 2 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The default limit on rows per request: 10,000.
pub const DEFAULT_MAX_ROWS: usize = 10_000;

/// The default number of inference requests answered at once: 256.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 256;

/// Renders metrics in the Prometheus text format for `GET /metrics`, for
/// example a Prometheus recorder handle's `render`.
pub type MetricsRenderer = Arc<dyn Fn() -> String + Send + Sync>;

/// How the transport calls into a [`ModelServer`].
///
/// # Choosing
///
/// A single-row prediction through an [`InProcessServer`] takes well under a
/// microsecond, less than handing it to another thread costs; the `http`
/// benchmark measures inline calls at a higher throughput than the blocking
/// pool on small models. A [`Batcher`](crate::Batcher) never blocks the
/// caller on [`ModelServer::predict_async`]: it queues the request (or
/// refuses it with [`Error::Overloaded`](crate::Error::Overloaded), a 503
/// with `Retry-After`) and the handler awaits the answer. Servers without an
/// async path whose models take milliseconds per call would stall the
/// runtime's worker threads: use [`Blocking::Pool`] for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Blocking {
    /// Await [`ModelServer::predict_async`] on the async worker thread (the
    /// default): a queueing server (a batcher) waits without blocking the
    /// worker, an [`InProcessServer`] predicts inline.
    #[default]
    Inline,
    /// Call [`ModelServer::predict`] on tokio's blocking thread pool
    /// (`spawn_blocking`), for slow servers without an async path.
    Pool,
}

/// A served model with the management handles the admin endpoints need.
pub(crate) struct ModelEntry {
    pub(crate) name: Arc<str>,
    pub(crate) server: Arc<dyn ModelServer>,
    pub(crate) managed: Option<Managed>,
    /// The model's monitor, for feedback and the report.
    pub(crate) monitor: Option<Arc<Monitor>>,
    /// Inference counts and durations per version (`/stats`).
    pub(crate) stats: super::stats::ModelStats,
    /// Set by the repository `unload` endpoint; cleared by `load`.
    pub(crate) unloaded: AtomicBool,
}

/// An [`InProcessServer`] with the registry it loads versions from.
#[derive(Clone)]
pub(crate) struct Managed {
    pub(crate) server: Arc<InProcessServer>,
    pub(crate) registry: Registry,
    pub(crate) reference: ModelRef,
}

impl ModelEntry {
    pub(crate) fn is_unloaded(&self) -> bool {
        self.unloaded.load(Ordering::Acquire)
    }
}

/// State shared by every handler.
pub(crate) struct Shared {
    pub(crate) models: Vec<ModelEntry>,
    /// SHA-256 of the admin token; `None` disables the admin endpoints.
    pub(crate) admin_token: Option<[u8; 32]>,
    pub(crate) body_limit: usize,
    pub(crate) max_rows: usize,
    pub(crate) renderer: Option<MetricsRenderer>,
    pub(crate) blocking: Blocking,
    pub(crate) stats: Stats,
    /// The inference admission slots, shared by every transport built
    /// from one configuration (REST admits through its tower layer over the
    /// same semaphore; gRPC reads these directly).
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) admission: Arc<tokio::sync::Semaphore>,
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) max_in_flight: usize,
}

impl Shared {
    /// The model called `name`.
    pub(crate) fn model(&self, name: &str) -> Result<&ModelEntry, Rejection> {
        self.models
            .iter()
            .find(|m| &*m.name == name)
            .ok_or_else(|| Rejection::ModelNotFound(name.to_owned()))
    }

    /// The most JSON values (arrays, objects, numbers, strings…) a request
    /// body for a model of `features` features may hold: generous for any
    /// request within the row limit (four times the values of `max_rows`
    /// rows with two of structure each), and small enough that the parsed
    /// tree stays a small multiple of the body limit.
    pub(crate) fn json_value_budget(&self, features: usize) -> usize {
        self.max_rows
            .saturating_mul(features.saturating_add(2))
            .saturating_mul(4)
            .saturating_add(4096)
    }

    /// Predicts `request` with `server` as configured by [`Blocking`]. A
    /// panic in the server becomes a 500, never a dropped connection.
    pub(crate) async fn predict(
        &self,
        entry: &ModelEntry,
        request: PredictRequest<'static>,
    ) -> Result<PredictResponse, Rejection> {
        let started = std::time::Instant::now();
        let asked = request.version();
        let server = &entry.server;
        let answer = match self.blocking {
            Blocking::Inline => {
                let future = catch_unwind(AssertUnwindSafe(|| server.predict_async(request)))
                    .map_err(|_| panicked())?;
                CatchUnwind(future).await.map_err(|_| panicked())?
            }
            Blocking::Pool => {
                let server = server.clone();
                blocking(move || server.predict(request)).await?
            }
        };
        // Statistics per version: the one that answered, or for a failure
        // the one asked for or serving.
        let version = match &answer {
            Ok(r) => Some(r.version),
            Err(_) => asked.or_else(|| server.metadata().ok().map(|m| m.version)),
        };
        if let Some(v) = version {
            entry.stats.record(v, answer.is_ok(), started.elapsed());
        }
        Ok(answer?)
    }
}

fn panicked() -> Rejection {
    Rejection::Internal("the server panicked".into())
}

/// Polls a future under `catch_unwind`, so that a panic inside a server's
/// own future answers 500 instead of aborting the connection's task.
struct CatchUnwind<F>(F);

impl<F: Future + Unpin> Future for CatchUnwind<F> {
    type Output = std::thread::Result<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let inner = &mut self.0;
        match catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(answer)) => Poll::Ready(Ok(answer)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

/// Runs `f` on the blocking pool (admin work: registry I/O, artifact loads).
pub(crate) async fn blocking<T, F>(f: F) -> Result<T, Rejection>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|_| panicked())
}

/// The body, or the fixed rejection for a body over the limit (413) or one
/// that could not be read (400).
pub(crate) fn body(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, Rejection> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Rejection::BodyTooLarge { limit }
        } else {
            Rejection::BodyUnreadable(e.body_text())
        }
    })
}

/// Builds the HTTP [`Router`] for one or more model servers.
///
/// The router speaks:
///
/// | endpoints | protocol |
/// |---|---|
/// | `GET /v2/health/live`, `GET /v2/health/ready`, `GET /v2` | Open Inference Protocol v2: server liveness, readiness, metadata |
/// | `GET /v2/models/{name}[/versions/{v}]`, `GET …/ready`, `POST …/infer` | OIP v2: model metadata, readiness, inference (JSON or the binary tensor extension) |
/// | `POST /invocations`, `GET /ping`, `GET /health`, `GET /version` | MLflow scoring protocol (the first model added) |
/// | `GET /v1/models`, `GET /v1/models/{name}`, `POST /v1/models/{name}:predict` | KServe V1: models, readiness, prediction |
/// | `GET /metrics` | Prometheus text format |
/// | `GET /openapi.json` | OpenAPI 3 document of these endpoints and every model's input schema |
/// | `POST /v2/repository/index`, `POST /v2/repository/models/{name}/load`, `…/unload`, `POST /admin/models/{name}/aliases/{alias}` | model repository and alias admin (bearer token) |
///
/// The module documentation of [`transport::http`](super) describes each
/// endpoint, its errors and the choices made where the protocols are silent.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// # use linfa::prelude::*;
/// # use linfa_trees::DecisionTree;
/// # use modelhost::{Deployment, Feature, FeatureSchema, InProcessServer, LinfaModel};
/// # use ndarray::array;
/// use modelhost::transport::http::HttpTransport;
///
/// # let schema = FeatureSchema::builder().feature(Feature::float("basket_value")).build()?;
/// # let tree = DecisionTree::params().fit(&Dataset::new(array![[1.0], [10.0]], array![0usize, 1])).unwrap();
/// # let model = LinfaModel::decision_tree(tree, schema, ["ignore", "buy"])?;
/// let server = Arc::new(InProcessServer::new(Deployment::new("recommender", 1, model))?);
/// let router: axum::Router = HttpTransport::new()
///     .model(server)
///     .body_limit(1 << 20)
///     .build()?;
/// // Mount it in a host application, or run it with `transport::http::serve`.
/// let app = axum::Router::new().nest("/ml", router);
/// # let _ = app;
/// # Ok::<(), modelhost::Error>(())
/// ```
#[must_use]
pub struct HttpTransport {
    models: Vec<(Arc<dyn ModelServer>, Option<Managed>)>,
    admin_token: Option<[u8; 32]>,
    body_limit: usize,
    max_rows: usize,
    renderer: Option<MetricsRenderer>,
    blocking: Blocking,
    max_in_flight: usize,
    monitors: Vec<Arc<Monitor>>,
}

impl Default for HttpTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl HttpTransport {
    /// A transport with no models yet, a 2 MiB body limit, inline calls, the
    /// transport's own metrics, and the admin endpoints disabled.
    pub fn new() -> Self {
        Self {
            models: Vec::new(),
            admin_token: None,
            body_limit: DEFAULT_BODY_LIMIT,
            max_rows: DEFAULT_MAX_ROWS,
            renderer: None,
            blocking: Blocking::Inline,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            monitors: Vec::new(),
        }
    }

    /// Serves `server` under its model name. The first model added also
    /// answers MLflow's `/invocations`.
    ///
    /// The repository `load` endpoint can only re-mark such a model ready;
    /// use [`managed_model`](Self::managed_model) to let it load versions.
    pub fn model(mut self, server: Arc<dyn ModelServer>) -> Self {
        self.models.push((server, None));
        self
    }

    /// Serves an [`InProcessServer`] whose versions live in `registry`, so
    /// the admin endpoints can load versions into it. `reference` (usually
    /// `name@alias`, the alias an [`AliasWatcher`](crate::reload::AliasWatcher)
    /// follows) is what `load` resolves when no version is given, and
    /// promoting that alias swaps the new version in at once.
    pub fn managed_model(
        self,
        server: Arc<InProcessServer>,
        registry: Registry,
        reference: ModelRef,
    ) -> Self {
        self.managed_model_via(server.clone(), server, registry, reference)
    }

    /// As [`managed_model`](Self::managed_model), but inference goes through
    /// `front` (for example a [`Batcher`](crate::Batcher) in front of
    /// `server`), while the admin endpoints load versions into `server`.
    pub fn managed_model_via(
        mut self,
        front: Arc<dyn ModelServer>,
        server: Arc<InProcessServer>,
        registry: Registry,
        reference: ModelRef,
    ) -> Self {
        let managed = Managed {
            server,
            registry,
            reference,
        };
        self.models.push((front, Some(managed)));
        self
    }

    /// Enables the admin endpoints, guarded by this bearer token (default:
    /// no token, and every admin endpoint answers 404). The token is kept
    /// only as a SHA-256 digest and compared in constant time.
    pub fn admin_token(mut self, token: impl AsRef<[u8]>) -> Self {
        self.admin_token = Some(admin::digest(token.as_ref()));
        self
    }

    /// The largest request body accepted, binary tensor data included
    /// (default [`DEFAULT_BODY_LIMIT`], 2 MiB). Larger bodies get 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The most rows one request may carry (default [`DEFAULT_MAX_ROWS`]).
    /// More get 413. Together with the body limit this bounds the memory a
    /// request can make the server use: a 2 MiB binary tensor of booleans
    /// is two million rows, each of which becomes a map of features.
    pub fn max_rows(mut self, rows: usize) -> Self {
        self.max_rows = rows;
        self
    }

    /// Renders `GET /metrics` with `renderer` followed by the transport's
    /// own counters (default: the transport's counters only).
    pub fn metrics_renderer(mut self, renderer: MetricsRenderer) -> Self {
        self.renderer = Some(renderer);
        self
    }

    /// Attaches `monitor` to the served model of the same name (see
    /// [`Monitor::model`]), enabling `POST /v2/models/{name}/feedback`
    /// (outcomes joined to predictions) and `GET /v2/models/{name}/report`
    /// (the HTML report). The monitor must also observe the model's server
    /// (as its observer) to see predictions.
    pub fn monitor(mut self, monitor: Arc<Monitor>) -> Self {
        self.monitors.push(monitor);
        self
    }

    /// The most inference requests (OIP `infer`, MLflow `/invocations`)
    /// answered at once, over all models (default
    /// [`DEFAULT_MAX_IN_FLIGHT`]). Beyond it a request is refused at once
    /// with 503 and `Retry-After: 1` instead of queueing without bound
    /// (admission control: tower's global concurrency limit with load
    /// shedding). Health, metadata, metrics and admin endpoints are not
    /// counted, so probes answer under overload. A [`Batcher`](crate::Batcher)
    /// in front of a model queues up to its own capacity within this limit.
    /// At least 1.
    pub fn max_in_flight(mut self, requests: usize) -> Self {
        self.max_in_flight = requests.max(1);
        self
    }

    /// Where calls into the servers run (default [`Blocking::Inline`]).
    pub fn blocking(mut self, blocking: Blocking) -> Self {
        self.blocking = blocking;
        self
    }

    /// Builds the router.
    ///
    /// # Errors
    ///
    /// [`Error::Component`](crate::Error::Component) with a [`TransportError`](crate::transport::TransportError)
    /// when no model was added or two share a name;
    /// [`Error::NotReady`](crate::Error::NotReady) when a server cannot report its metadata (its
    /// name).
    pub fn build(self) -> Result<Router> {
        let (shared, admission) = self.into_shared()?;
        Ok(router(shared, &admission))
    }

    /// Builds the router and the gRPC service of the same models: both
    /// share the models, the admission limit, the statistics, the unloaded
    /// state and the admin token, so a model unloaded over one protocol is
    /// unloaded over the other, and `/stats` counts both.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build).
    #[cfg(feature = "grpc")]
    pub fn build_with_grpc(self) -> Result<(Router, crate::transport::grpc::GrpcService)> {
        let (shared, admission) = self.into_shared()?;
        let grpc = crate::transport::grpc::service(shared.clone());
        Ok((router(shared, &admission), grpc))
    }

    /// Builds only the gRPC service (see [`transport::grpc`](crate::transport::grpc)),
    /// to add to a host's tonic server.
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build).
    #[cfg(feature = "grpc")]
    pub fn build_grpc(self) -> Result<crate::transport::grpc::GrpcService> {
        let (shared, _) = self.into_shared()?;
        Ok(crate::transport::grpc::service(shared))
    }

    fn into_shared(self) -> Result<(Arc<Shared>, Admission)> {
        if self.models.is_empty() {
            return Err(crate::transport::TransportError::NoModels.into());
        }
        let mut models: Vec<ModelEntry> = Vec::with_capacity(self.models.len());
        for (server, managed) in self.models {
            let name = server.metadata()?.name;
            if models.iter().any(|m| m.name == name) {
                return Err(crate::transport::TransportError::DuplicateModel {
                    name: name.to_string(),
                }
                .into());
            }
            let monitor = self.monitors.iter().find(|m| m.model() == &*name).cloned();
            models.push(ModelEntry {
                name,
                server,
                managed,
                monitor,
                stats: super::stats::ModelStats::default(),
                unloaded: AtomicBool::new(false),
            });
        }
        if let Some(m) = self
            .monitors
            .iter()
            .find(|m| !models.iter().any(|e| &*e.name == m.model()))
        {
            return Err(crate::transport::TransportError::InvalidConfig {
                reason: format!("a monitor of `{}`, which is not served", m.model()),
            }
            .into());
        }
        let admission = Admission::new(self.max_in_flight);
        let patterns: Vec<&'static str> = routes(&admission)
            .iter()
            .map(|(pattern, _)| *pattern)
            .collect();
        let shared = Arc::new(Shared {
            models,
            admin_token: self.admin_token,
            body_limit: self.body_limit,
            max_rows: self.max_rows,
            renderer: self.renderer,
            blocking: self.blocking,
            stats: Stats::new(&patterns),
            admission: admission.slots.clone(),
            max_in_flight: admission.limit,
        });
        Ok((shared, admission))
    }
}

/// The router of `shared`'s models.
fn router(shared: Arc<Shared>, admission: &Admission) -> Router {
    let body_limit = shared.body_limit;
    let router = routes(admission)
        .into_iter()
        .fold(Router::new(), |router, (pattern, handlers)| {
            router.route(pattern, handlers)
        });
    // Outermost last: every request is counted, then checked for a
    // declared length over the limit and its encoding before any body
    // byte is read, then decompressed under the same body limit.
    router
        .fallback(|| async { ApiError::from(Rejection::RouteNotFound) })
        .method_not_allowed_fallback(|| async { ApiError::from(Rejection::MethodNotAllowed) })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(RequestDecompressionLayer::new().gzip(true).deflate(true))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            guard::declared_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            metrics::track,
        ))
        .with_state(shared)
}

/// The shared admission limit of the inference routes.
#[derive(Clone)]
struct Admission {
    slots: Arc<tokio::sync::Semaphore>,
    limit: usize,
}

impl Admission {
    fn new(limit: usize) -> Self {
        Self {
            slots: Arc::new(tokio::sync::Semaphore::new(limit)),
            limit,
        }
    }

    /// `handlers` behind the limit: a request that finds every slot taken
    /// is shed at once with 503 (in `shape`), never queued.
    fn admit(
        &self,
        handlers: MethodRouter<Arc<Shared>>,
        shape: Shape,
    ) -> MethodRouter<Arc<Shared>> {
        let limit = self.limit;
        handlers.layer(
            tower::ServiceBuilder::new()
                .layer(HandleErrorLayer::new(
                    move |_: tower::BoxError| async move {
                        ApiError {
                            rejection: Rejection::Busy { limit },
                            shape,
                        }
                    },
                ))
                .layer(tower::load_shed::LoadShedLayer::new())
                .layer(tower::limit::GlobalConcurrencyLimitLayer::with_semaphore(
                    self.slots.clone(),
                )),
        )
    }
}

/// Every route: its pattern (also its label in the metrics) and its
/// handlers. The router and the metrics are both built from this table.
fn routes(admission: &Admission) -> Vec<(&'static str, MethodRouter<Arc<Shared>>)> {
    let infer = |handlers| admission.admit(handlers, Shape::Oip);
    vec![
        ("/v2/health/live", get(oip::live)),
        ("/v2/health/ready", get(oip::ready)),
        ("/v2", get(oip::server_metadata)),
        ("/v2/models", get(stats::models)),
        ("/v2/models/stats", get(stats::all_stats)),
        ("/v2/models/{name}", get(oip::model_metadata)),
        ("/v2/models/{name}/config", get(stats::config)),
        ("/v2/models/{name}/stats", get(stats::model_stats)),
        ("/v2/models/{name}/ready", get(oip::model_ready)),
        ("/v2/models/{name}/infer", infer(post(oip::infer))),
        ("/v2/models/{name}/rank", infer(post(rank::rank))),
        (
            "/v2/models/{name}/versions/{version}",
            get(oip::version_metadata),
        ),
        (
            "/v2/models/{name}/versions/{version}/ready",
            get(oip::version_ready),
        ),
        (
            "/v2/models/{name}/versions/{version}/infer",
            infer(post(oip::version_infer)),
        ),
        ("/v2/repository/index", post(admin::index)),
        ("/v2/repository/models/{name}/load", post(admin::load)),
        ("/v2/repository/models/{name}/unload", post(admin::unload)),
        (
            "/admin/models/{name}/aliases/{alias}",
            post(admin::set_alias),
        ),
        (
            "/invocations",
            admission.admit(post(mlflow::invocations), Shape::Mlflow),
        ),
        ("/ping", get(mlflow::ping)),
        ("/health", get(mlflow::ping)),
        ("/version", get(mlflow::version)),
        ("/metrics", get(metrics::render)),
        ("/openapi.json", get(openapi::document)),
        ("/v2/models/{name}/feedback", post(feedback::feedback)),
        ("/v2/models/{name}/report", get(feedback::report)),
        ("/v1/models", get(kserve::models)),
        (
            "/v1/models/{name}",
            get(kserve::model).merge(infer(post(kserve::predict))),
        ),
    ]
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("models", &self.models.len())
            .field("admin", &self.admin_token.is_some())
            .field("body_limit", &self.body_limit)
            .field("max_rows", &self.max_rows)
            .field("metrics_renderer", &self.renderer.is_some())
            .field("blocking", &self.blocking)
            .field("max_in_flight", &self.max_in_flight)
            .field("monitors", &self.monitors.len())
            .finish()
    }
}
