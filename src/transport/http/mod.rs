//! The HTTP transport: a router, not a framework.
//!
//! [`HttpTransport`] turns one or more [`ModelServer`](crate::ModelServer)s
//! into an axum [`Router`](axum::Router) that a host mounts into its own
//! application (or runs with [`serve`] / [`serve_on`], which shut down
//! gracefully: in-flight requests finish). It speaks:
//!
//! - **Open Inference Protocol v2** (KServe / Triton REST), so the stock
//!   `tritonclient.http` client works with its default options;
//! - **MLflow's scoring protocol** (`POST /invocations`);
//! - **KServe's V1 protocol** (`GET /v1/models[/{name}]`,
//!   `POST /v1/models/{name}:predict`; see the `kserve` table below);
//! - **operations**: Prometheus `GET /metrics`, `GET /openapi.json`, and
//!   model repository and alias admin endpoints behind a bearer token.
//!
//! ```no_run
//! use std::time::Duration;
//! use modelhost::registry::Registry;
//! use modelhost::reload::{AliasWatcher, WatchOptions};
//! use modelhost::transport::http::{HttpTransport, serve};
//!
//! # async fn run() -> modelhost::Result<()> {
//! let registry = Registry::open("/var/lib/models")?;
//! let reference: modelhost::registry::ModelRef = "recommender@production".parse()?;
//! let (server, _watcher) = AliasWatcher::serve(
//!     registry.clone(),
//!     reference.clone(),
//!     WatchOptions::new().interval(Duration::from_secs(5)),
//! )?;
//! let router = HttpTransport::new()
//!     .managed_model(server, registry, reference)
//!     .admin_token("s3cret")
//!     .build()?;
//! serve("127.0.0.1:8080".parse().unwrap(), router, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! .map_err(|e| modelhost::transport::TransportError::io("serve", e).into())
//! # }
//! ```
//!
//! # KServe V1
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /v1/models` | `{"models": ["name", ...]}` |
//! | `GET /v1/models/{name}` | `{"name": "...", "ready": true}` (503 with `"ready": false`) |
//! | `POST /v1/models/{name}:predict` | `{"instances": [...]}` → `{"predictions": [...]}`: labels or scores; with `"parameters": {"probabilities": true}`, one list of class probabilities per instance in label order |
//!
//! An instance is an object of named features or a list of values in schema
//! order; columns the schema lacks are dropped. Errors are `{"error": "..."}`
//! with the OIP status codes.
//!
//! # Open Inference Protocol v2
//!
//! | endpoint | answer |
//! |---|---|
//! | `GET /v2/health/live` | 200 `{"live": true}` |
//! | `GET /v2/health/ready` | 200 when every model is ready, else 503 |
//! | `GET /v2` | server name, version, extensions (`binary_tensor_data`, and `model_repository` when admin is on) |
//! | `GET /v2/models/{name}[/versions/{v}]` | inputs (one per feature: `FP64` float, `INT64` integer, `BOOL` boolean, `BYTES` categorical; shape `[-1]`), outputs, held versions |
//! | `GET /v2/models/{name}[/versions/{v}]/ready` | 200 ready, 503 not ready (or unloaded) |
//! | `POST /v2/models/{name}[/versions/{v}]/infer` | predictions; an output `{"name": "label", "parameters": {"classification": k}}` answers Triton's classification extension: the top `k` classes of each row as `"score:index:label"` strings, shape `[N, k]` (400 for a model without probabilities) |
//! | `GET /v2/models` | every model with its held versions and state (`READY` / `UNAVAILABLE`) |
//! | `GET /v2/models/{name}/config` | Triton's model configuration: `platform`/`backend` `modelhost`, `max_batch_size` (the row limit), inputs and outputs with per-row `dims` |
//! | `GET /v2/models/{name}/stats`, `GET /v2/models/stats` | Triton's inference statistics per version, counted by the transport: success and failure counts with cumulative nanoseconds, last inference time |
//!
//! A `{v}` path segment selects a version the server still holds (the
//! serving one, or the retained previous one); any other gives 404, and a
//! segment that is not a positive integer 400. Version metadata describes
//! the serving version's inputs.
//!
//! **Inputs.** Either one input per feature, each of shape `[N]` or
//! `[N, 1]` (`BYTES` for categorical levels, `BOOL` for booleans, any
//! integer or float type for numbers; the usual lossless-cast rules apply),
//! or a single `FP64`/`FP32` input of shape `[N, features]` whose name is not
//! a feature: rows already encoded in schema order. Encoded rows do not
//! bypass validation: they are checked with
//! [`FeatureSchema::validate_encoded_batch`](crate::FeatureSchema::validate_encoded_batch)
//! (ranges, finiteness, integrality, categorical index range).
//!
//! **Outputs.** Classifiers return `label` (`BYTES`, `[N]`) and, when their
//! output promises them ([`OutputKind::has_probabilities`](crate::OutputKind::has_probabilities)),
//! `probabilities` (`FP64`, `[N, classes]`); regressors return `score`
//! (`FP64`, `[N]`). The model metadata lists exactly these outputs, so a
//! client may request every listed one; the `probabilities` tensor names its
//! class order in `parameters.labels`. The request's `id` is echoed, and
//! `model_version` names the version that served the request.
//!
//! **Ranking.** `POST /v2/models/{name}/rank` takes `{"session": {...},
//! "candidates": [{...}], "k": 3, "id": "...", "label": "buy"}` and answers
//! the top `k` candidates with their scores, the version that scored them
//! all and the id (see [`crate::rank`]; documented in `/openapi.json`).
//!
//! **Binary tensor data extension.** A request whose JSON header is
//! followed by raw tensor data announces the header's length in
//! `Inference-Header-Content-Length`; each binary input carries
//! `"parameters": {"binary_data_size": n}` instead of `data`. Outputs are
//! returned in binary when the request sets `"binary_data_output": true` or
//! an output asks for `"binary_data": true`; the response then carries the
//! same header. `BYTES` elements are a 4-byte little-endian length followed
//! by the bytes; other types are little-endian. Every length is checked
//! against the bytes present, and the body limit covers binary data too.
//!
//! # Feedback and the monitoring report
//!
//! A model whose [`Monitor`](crate::monitor::Monitor) is attached with
//! [`HttpTransport::monitor`] (`modelhost serve --monitor`) takes outcomes
//! and shows its report; other models answer both with 404.
//!
//! | endpoint | answer |
//! |---|---|
//! | `POST /v2/models/{name}/feedback` with `{"outcomes": [{"id": "visit-17", "actual": "buy"}]}` | `{"joined": n, "unknown": [ids no prediction waits for], "refused": [{"id", "error"}]}`. `actual` is a label (string), a class index (non-negative integer) or a regression target (number); the id is the inference request's `id`, and row `i` of a multi-row request is `id#i`. At most `max_rows` outcomes per request |
//! | `GET /v2/models/{name}/report` | the monitor's HTML report (drift per feature, live quality, latency, alerts) |
//!
//! # MLflow scoring protocol
//!
//! `POST /invocations` serves the **first** model added. It takes
//! `application/json` with exactly one of `dataframe_split`
//! (`{"columns": [...], "data": [[...]]}`), `dataframe_records`
//! (`[{...}]`), `instances` or `inputs` (a list of objects, a list of rows in
//! schema order, or an object of columns), plus an optional `params`; or
//! `text/csv` with a header line. It answers `{"predictions": [...]}`
//! (labels for classifiers, numbers for regressors). With
//! `"params": {"predict_method": "predict_proba"}`, a classifier with
//! probabilities answers one list of class probabilities per row in label
//! order, `{"predictions": [[0.2, 0.8], ...]}`: the shape an MLflow pyfunc of
//! a scikit-learn classifier logged with `pyfunc_predict_fn="predict_proba"`
//! returns (other models answer 400). Other content types get 415. Errors take MLflow's shape,
//! `{"error_code": "BAD_REQUEST", "message": "..."}`.
//!
//! *Extra columns are ignored*, as MLflow's own scoring server does: columns
//! the schema lacks are dropped before validation, so the model sees exactly
//! what a schema with [`ExtraFeatures::Ignore`](crate::schema::ExtraFeatures::Ignore)
//! would let through. The Open Inference Protocol endpoints keep the
//! schema's own policy, since a misspelt input name there is far more likely
//! a bug than a convenience. `GET /ping` and `GET /health` answer 200 when
//! the model can serve; `GET /version` returns the modelhost version.
//!
//! # Operations
//!
//! `GET /metrics` renders, in the Prometheus text format, the output of the
//! [`MetricsRenderer`] the host configured (for example its Prometheus
//! recorder's `render`), followed by the transport's own metrics, kept in a
//! private `metrics-exporter-prometheus` recorder (the process's global
//! recorder stays the host's): `modelhost_http_requests_total{route, status}`,
//! the histogram `modelhost_http_request_duration_seconds{route}` (buckets
//! from 100 µs to 10 s), `modelhost_http_requests_in_flight`, and per model
//! `modelhost_http_model_ready` and `modelhost_http_model_version`.
//!
//! `GET /openapi.json` is an OpenAPI 3 document of every endpoint, with each
//! model's input JSON Schema (from
//! [`FeatureSchema::to_json_schema`](crate::FeatureSchema::to_json_schema))
//! under `components.schemas.<name>_input`.
//!
//! **Admin endpoints** change the server and exist only when an admin token
//! is configured ([`HttpTransport::admin_token`]); without one each answers
//! 404 with a JSON error saying so. With one, a request needs
//! `Authorization: Bearer <token>`: a missing or malformed header gets 401
//! (with `WWW-Authenticate: Bearer`), a wrong token 403. Tokens are compared
//! as SHA-256 digests in constant time. The repository index only reads,
//! and is open, as in Triton: `POST /v2/repository/index` lists every model
//! with its serving version and state (`READY` / `UNAVAILABLE` and why).
//!
//! | endpoint | effect |
//! |---|---|
//! | `POST /v2/repository/models/{name}/load` | for a [managed](HttpTransport::managed_model) model: resolve its reference (or `{"parameters": {"version": N}}`) in the registry, load it with every artifact check and swap it in (older versions allowed); in every case mark the model ready again |
//! | `POST /v2/repository/models/{name}/unload` | mark the model unavailable: infer and ready answer 503 until it is loaded again. A server always holds one version, so nothing is freed; unloading is a drain switch, not a memory operation |
//! | `POST /admin/models/{name}/aliases/{alias}` with `{"version": N}` | point the registry alias at N; a managed model that follows that alias swaps the version in at once (the alias watcher would otherwise pick it up at its next check) |
//!
//! A version loaded by hand while an alias watcher follows another alias is
//! replaced at the watcher's next check: promote the alias instead.
//!
//! # Limits and errors
//!
//! Bodies are limited to 2 MiB by default ([`HttpTransport::body_limit`]),
//! after decompression (`Content-Encoding: gzip` or `deflate`; a zip bomb
//! gets 413, other encodings 415), and requests to 10,000 rows
//! ([`HttpTransport::max_rows`]): larger ones get 413. A client that sends
//! `Expect: 100-continue` with a declared length over the limit gets 413
//! before sending its body. At most [`HttpTransport::max_in_flight`]
//! inference requests are answered at once; the excess is shed at once
//! with 503 and `Retry-After: 1`. Connection timeouts and the connection
//! cap are [`ServeOptions`]. Every rejection has one fixed status and a JSON
//! body (`{"error": "..."}`; MLflow's shape on `/invocations`), whose
//! message is bounded (at most 20 schema violations are listed):
//!
//! | cause | status |
//! |---|---|
//! | malformed JSON, invalid tensor or binary framing, bad version segment, undecodable compressed body | 400 |
//! | schema violations ([`Error::Schema`](crate::Error::Schema)), naming the bad features | 400 |
//! | missing / wrong admin token | 401 / 403 |
//! | unknown model or route, version not held, admin disabled | 404 |
//! | body not complete within the request timeout ([`ServeOptions::request_timeout`]) | 408 |
//! | refused swap (stale, breaking schema, failed warm-up), model without registry | 409 |
//! | body or row count over the limit; more rows than a batcher's model call takes ([`Error::RequestTooLarge`](crate::Error::RequestTooLarge)) | 413 |
//! | unsupported content type (`/invocations`) or content encoding | 415 |
//! | model failure or panic, corrupt artifact | 500 |
//! | admission limit reached, [`Error::Overloaded`](crate::Error::Overloaded) (both with `Retry-After: 1`), not ready, unloaded, shutting down | 503 |
//! | [`Error::DeadlineExceeded`](crate::Error::DeadlineExceeded) | 504 |
//!
//! No input makes a handler panic; a panic inside a server is answered with
//! 500.
//!
//! # Blocking calls
//!
//! Inference awaits [`ModelServer::predict_async`](crate::ModelServer::predict_async)
//! on the async worker: an [`InProcessServer`](crate::InProcessServer)
//! predicts inline, the fastest choice for the sub-microsecond predictions of
//! tabular models, and a [`Batcher`](crate::Batcher) queues the request
//! without blocking the worker, so a full queue is answered 503 with
//! `Retry-After` at once. [`Blocking::Pool`] moves calls to
//! [`ModelServer::predict`](crate::ModelServer::predict) onto tokio's
//! blocking pool, for servers without an async path whose models take
//! milliseconds. Admin operations (registry I/O, artifact loads) always run
//! on the blocking pool.
//!
//! Admin endpoints take an `Admin` extractor that checks the bearer token
//! before the handler runs, and the router and its metrics labels are built
//! from one table of routes.

pub(crate) mod admin;
pub(crate) mod codec;
pub(crate) mod error;
mod feedback;
mod guard;
mod kserve;
mod metrics;
mod mlflow;
pub(crate) mod oip;
mod openapi;
mod rank;
pub(crate) mod router;
mod serve;
pub(crate) mod stats;

pub use router::{
    Blocking, DEFAULT_BODY_LIMIT, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_ROWS, HttpTransport,
    MetricsRenderer,
};
pub use serve::{
    DEFAULT_DRAIN_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, ServeOptions,
    serve, serve_on, serve_with,
};
