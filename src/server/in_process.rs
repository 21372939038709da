//! [`InProcessServer`]: one atomically swappable model slot.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use arc_swap::{ArcSwap, ArcSwapOption};

use super::service::version_not_held;
use super::{
    Deployment, Health, ModelMetadata, ModelServer, PredictEvent, PredictObserver, PredictRequest,
    PredictResponse, RequestCounts, SchemaDiff, SwapEvent, Tally,
};
use crate::model::Predictions;
use crate::{Error, Result};

/// A deployment in the slot, with the generation it was stored at.
#[derive(Debug)]
pub(crate) struct Served {
    pub(crate) deployment: Deployment,
    pub(crate) generation: u64,
}

/// Serves one named model in-process and swaps its versions atomically.
///
/// # Guarantees
///
/// - **One version per request.** Each request loads the current deployment
///   once (an `Arc`, taken with `ArcSwap::load_full`) and uses it for
///   validation, prediction and the response, which names that version. A
///   concurrent swap never fails a request or mixes versions in one.
/// - **Fallible work before the store.** [`swap`](Self::swap) checks the
///   name, the version order and the schema change, and runs the warm-up rows,
///   before it stores; any failure returns a typed error and the serving
///   version is untouched. The store itself cannot fail.
/// - **Old versions are freed.** The server keeps the current version and
///   (unless [`ServerBuilder::retain_previous`] turns it off) the one before
///   it, for [`rollback`](Self::rollback). Any older version is released at
///   the swap and freed when its last in-flight request finishes.
/// - **Swaps are serialized**, and a swap to a version not newer than the
///   serving one is refused unless [`SwapOptions::allow_older`] says otherwise.
/// - **A panicking model fails its own request only**
///   ([`Error::ModelPanicked`]); the server keeps serving.
///
/// # Holding a version: the right way and the wrong way
///
/// Multi-step work that must see one model (predict, then explain with the
/// same model) pins it with [`pin`](Self::pin), which holds exactly one
/// version for as long as the pin lives:
///
/// ```
/// # use modelhost::{Deployment, FeatureMap, InProcessServer, ModelServer, PredictRequest};
/// # fn demo(server: &InProcessServer, input: &FeatureMap) -> modelhost::Result<()> {
/// let pinned = server.pin();
/// let first = pinned.predict(PredictRequest::new(input))?;
/// let second = pinned.predict(PredictRequest::new(input))?;
/// assert_eq!(first.version, second.version); // always, even if a swap ran in between
/// # Ok(()) }
/// ```
///
/// Calling the server twice does **not** give that guarantee: a swap can land
/// between the calls, and the second response then names a newer version.
///
/// ```
/// # use modelhost::{FeatureMap, InProcessServer, ModelServer, PredictRequest};
/// # fn demo(server: &InProcessServer, input: &FeatureMap) -> modelhost::Result<()> {
/// let first = server.predict(PredictRequest::new(input))?;
/// let second = server.predict(PredictRequest::new(input))?;
/// // Wrong: `first.version == second.version` may not hold.
/// # Ok(()) }
/// ```
///
/// A pin keeps its version alive: drop it when the work is done, and never
/// keep one for the life of a connection.
///
/// # Examples
///
/// ```
/// use linfa::prelude::*;
/// use linfa_trees::DecisionTree;
/// use modelhost::{Deployment, Feature, FeatureMap, FeatureSchema, InProcessServer, LinfaModel,
///                 ModelServer, PredictRequest};
/// use ndarray::array;
///
/// let schema = FeatureSchema::builder().feature(Feature::float("basket_value")).build()?;
/// let fit = |y| DecisionTree::params().fit(&Dataset::new(array![[1.0], [10.0]], y)).unwrap();
/// let v1 = LinfaModel::decision_tree(fit(array![0usize, 1]), schema.clone(), ["no", "yes"])?;
/// let v2 = LinfaModel::decision_tree(fit(array![1usize, 0]), schema.clone(), ["no", "yes"])?;
///
/// let server = InProcessServer::new(Deployment::new("recommender", 1, v1))?;
/// let input = FeatureMap::new().with("basket_value", 12.0);
/// assert_eq!(server.predict(PredictRequest::new(&input))?.label(0), Some("yes"));
///
/// let report = server.swap(Deployment::new("recommender", 2, v2))?;
/// assert_eq!((report.from, report.to), (1, 2));
/// let response = server.predict(PredictRequest::new(&input))?;
/// assert_eq!((response.version, response.label(0)), (2, Some("no")));
///
/// server.rollback()?;
/// assert_eq!(server.predict(PredictRequest::new(&input))?.version, 1);
/// # Ok::<(), modelhost::Error>(())
/// ```
pub struct InProcessServer {
    slot: ArcSwap<Served>,
    previous: ArcSwapOption<Served>,
    /// Serializes swaps and rollbacks.
    swap_lock: Mutex<()>,
    generation: AtomicU64,
    retain_previous: bool,
    observer: Option<Observed>,
}

/// The observer, with the counts of the requests it is not told about.
#[derive(Debug)]
struct Observed {
    observer: Arc<dyn PredictObserver>,
    counts: RequestCounts,
}

/// How one request is observed: by whom, into which thread's counts, and
/// since when, when it is sampled.
#[derive(Clone, Copy)]
struct Watch<'a> {
    observed: &'a Observed,
    tally: &'a Tally,
    started: Option<Instant>,
}

/// Options for one [`InProcessServer::swap_with`].
#[derive(Debug, Clone, Copy, Default)]
#[must_use]
pub struct SwapOptions {
    allow_older: bool,
    allow_breaking_schema: bool,
}

impl SwapOptions {
    /// Default options: refuse stale versions and breaking schema changes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accept a version that is not newer than the serving one (default: refused).
    pub fn allow_older(mut self) -> Self {
        self.allow_older = true;
        self
    }

    /// Accept a schema change that makes currently valid input invalid
    /// (default: refused with [`Error::IncompatibleSchema`]).
    pub fn allow_breaking_schema(mut self) -> Self {
        self.allow_breaking_schema = true;
        self
    }
}

/// What a successful swap or rollback changed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SwapReport {
    /// The version serving before.
    pub from: u64,
    /// The version serving now.
    pub to: u64,
    /// The input contract's change.
    pub diff: SchemaDiff,
    /// The server's generation after the change.
    pub generation: u64,
}

/// Configures an [`InProcessServer`].
#[derive(Debug)]
#[must_use]
pub struct ServerBuilder {
    initial: Deployment,
    retain_previous: bool,
    observer: Option<Arc<dyn PredictObserver>>,
}

impl ServerBuilder {
    /// Keep the version before the current one loaded, so
    /// [`InProcessServer::rollback`] is instant and cannot fail to load
    /// (default: `true`). With `false`, at most the serving version (plus any
    /// version still finishing requests) is in memory, and `rollback` returns
    /// [`Error::NoPreviousVersion`].
    pub fn retain_previous(mut self, retain: bool) -> Self {
        self.retain_previous = retain;
        self
    }

    /// Reports requests and swaps to `observer` (default: none): every
    /// request, or a sample with the rest counted, as
    /// [`PredictObserver::report_stride`] says.
    pub fn observer(mut self, observer: Arc<dyn PredictObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Warms the initial deployment up and starts serving it.
    ///
    /// # Errors
    ///
    /// [`Error::WarmupFailed`] when the initial deployment fails its warm-up.
    pub fn build(self) -> Result<InProcessServer> {
        self.initial.warm_up()?;
        let observer = self.observer.map(|observer| {
            let counts = RequestCounts::default();
            observer.attach(counts.clone());
            Observed { observer, counts }
        });
        Ok(InProcessServer {
            slot: ArcSwap::from_pointee(Served {
                deployment: self.initial,
                generation: 0,
            }),
            previous: ArcSwapOption::empty(),
            swap_lock: Mutex::new(()),
            generation: AtomicU64::new(0),
            retain_previous: self.retain_previous,
            observer,
        })
    }
}

impl InProcessServer {
    /// Serves `initial` with default options.
    ///
    /// # Errors
    ///
    /// As [`ServerBuilder::build`].
    pub fn new(initial: Deployment) -> Result<Self> {
        Self::builder(initial).build()
    }

    /// Starts configuring a server that will serve `initial`.
    pub fn builder(initial: Deployment) -> ServerBuilder {
        ServerBuilder {
            initial,
            retain_previous: true,
            observer: None,
        }
    }

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
                if let Some(o) = &self.observer {
                    o.observer.on_swap_failed(&current.deployment.name, &e);
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
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let from = current.deployment.version;
        let to = next.version;
        self.slot.store(Arc::new(Served {
            deployment: next,
            generation,
        }));
        self.previous.store(self.retain_previous.then_some(current));
        if let Some(o) = &self.observer {
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

    /// Pins the serving version: every request through the returned handle is
    /// served by exactly that version, whatever swaps happen meanwhile.
    #[must_use]
    pub fn pin(&self) -> PinnedModel {
        PinnedModel {
            served: self.slot.load_full(),
        }
    }

    /// The deployment serving now.
    #[must_use]
    pub fn current(&self) -> Deployment {
        self.slot.load().deployment.clone()
    }

    /// The server's generation: the number of swaps and rollbacks so far.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn held_versions(&self, current: &Served) -> Vec<u64> {
        let mut held = vec![current.deployment.version];
        if let Some(p) = &*self.previous.load() {
            held.push(p.deployment.version);
        }
        held
    }

    /// How this thread's next request is observed, if there is an
    /// observer: sampled (timed from now) or not.
    #[inline]
    fn watch(&self) -> Option<Watch<'_>> {
        let o = self.observer.as_ref()?;
        let tally = o.counts.tally();
        let sampled = tally.sample(|| o.observer.report_stride());
        Some(Watch {
            observed: o,
            tally,
            started: sampled.then(Instant::now),
        })
    }

    /// The deployment that must serve `request`: the current one, or the held
    /// version it asks for.
    fn select(&self, version: Option<u64>) -> Result<Arc<Served>> {
        let current = self.slot.load_full();
        match version {
            None => Ok(current),
            Some(v) if v == current.deployment.version => Ok(current),
            Some(v) => match self.previous.load_full() {
                Some(p) if p.deployment.version == v => Ok(p),
                _ => Err(version_not_held(
                    &current.deployment.name,
                    v,
                    self.held_versions(&current),
                )),
            },
        }
    }
}

/// Reports one request to the observer, or only counts it: a successful
/// request without an id that was not sampled.
#[inline]
fn observe<'a>(
    watch: Option<Watch<'_>>,
    d: &'a Deployment,
    request: &'a PredictRequest<'_>,
    rows: Option<ndarray::ArrayView2<'a, f64>>,
    outcome: Result<&'a Predictions, &'a Error>,
) {
    let Some(w) = watch else { return };
    // A request that asked for a version is counted only if this thread
    // counts for that version already, so that requests alternating
    // between the serving and a held version don't move the slot.
    if let (None, None, Ok(p)) = (w.started, &request.id, outcome)
        && w.tally.count(
            &w.observed.counts,
            d.version,
            p.len() as u64,
            request.version.is_none(),
        )
    {
        return;
    }
    w.observed.observer.on_predict(&PredictEvent {
        model: &d.name,
        version: d.version,
        request_id: request.id(),
        rows,
        outcome,
        latency: w.started.map(|s| s.elapsed()),
    });
}

/// Serves `request` with one pinned deployment.
fn serve(
    served: &Served,
    request: PredictRequest<'_>,
    watch: Option<Watch<'_>>,
) -> Result<PredictResponse> {
    let d = &served.deployment;
    let encoded = match request.encode(d.schema()) {
        Ok(e) => e,
        Err(e) => {
            observe(watch, d, &request, None, Err(&e));
            return Err(e);
        }
    };
    let rows = encoded.view();
    let result = d.predict(rows).map_err(Error::from);
    observe(watch, d, &request, Some(rows), result.as_ref());
    drop(encoded);
    Ok(PredictResponse {
        model: d.name.clone(),
        version: d.version,
        id: request.id,
        predictions: result?,
        output: d.output.clone(),
    })
}

/// Serves several requests with one pinned deployment and one model call,
/// reporting each request (with its own rows) to the observer.
fn serve_many(
    served: &Served,
    requests: Vec<PredictRequest<'_>>,
    watch: Option<Watch<'_>>,
) -> Vec<Result<PredictResponse>> {
    let d = &served.deployment;
    let width = d.schema().len();
    let mut values = Vec::with_capacity(requests.len() * width);
    // Row range of each request in the stacked matrix, or its own error.
    let mut spans: Vec<Result<std::ops::Range<usize>>> = Vec::with_capacity(requests.len());
    let mut total = 0;
    for r in &requests {
        let before = values.len();
        let encoded = match r.version {
            Some(v) if v != d.version => Err(version_not_held(&d.name, v, vec![d.version])),
            _ => r.encode_into(d.schema(), &mut values),
        };
        match encoded {
            Ok(n) => {
                spans.push(Ok(total..total + n));
                total += n;
            }
            Err(e) => {
                values.truncate(before);
                spans.push(Err(e));
            }
        }
    }
    let matrix = ndarray::ArrayView2::from_shape((total, width), &values)
        .expect("each request appended whole rows of the schema's width");
    let outcome = (total > 0).then(|| d.predict(matrix).map_err(Error::from));
    requests
        .into_iter()
        .zip(spans)
        .map(|(r, span)| {
            let result = span.and_then(|span| {
                let predictions = match &outcome {
                    Some(Ok(p)) => p.slice(span.clone()),
                    Some(Err(e)) => return Err(e.clone()),
                    None => Predictions::scores(Vec::new()),
                };
                Ok((span, predictions))
            });
            match result {
                Ok((span, predictions)) => {
                    let rows = matrix.slice_axis(ndarray::Axis(0), span.into());
                    observe(watch, d, &r, Some(rows), Ok(&predictions));
                    Ok(PredictResponse {
                        model: d.name.clone(),
                        version: d.version,
                        id: r.id,
                        predictions,
                        output: d.output.clone(),
                    })
                }
                Err(e) => {
                    observe(watch, d, &r, None, Err(&e));
                    Err(e)
                }
            }
        })
        .collect()
}

impl ModelServer for InProcessServer {
    fn predict(&self, request: PredictRequest<'_>) -> Result<PredictResponse> {
        let watch = self.watch();
        let served = match self.select(request.version) {
            Ok(served) => served,
            Err(e) => {
                // Counted against the serving version: the requested one
                // may be anything, and labels must stay few.
                observe(watch, &self.slot.load().deployment, &request, None, Err(&e));
                return Err(e);
            }
        };
        serve(&served, request, watch)
    }

    fn predict_many(&self, requests: Vec<PredictRequest<'_>>) -> Vec<Result<PredictResponse>> {
        // One pinned deployment for the whole group; requests that ask for
        // another held version are served by that version separately.
        let current = self.slot.load_full();
        let (mine, others): (Vec<_>, Vec<_>) = requests
            .into_iter()
            .enumerate()
            .partition(|(_, r)| r.version.is_none_or(|v| v == current.deployment.version));
        let mut out: Vec<Option<Result<PredictResponse>>> =
            (0..mine.len() + others.len()).map(|_| None).collect();
        let (idx, reqs): (Vec<usize>, Vec<_>) = mine.into_iter().unzip();
        let watch = self.watch();
        for (i, r) in idx.into_iter().zip(serve_many(&current, reqs, watch)) {
            out[i] = Some(r);
        }
        for (i, r) in others {
            out[i] = Some(self.predict(r));
        }
        out.into_iter()
            .map(|r| r.expect("every slot filled"))
            .collect()
    }

    fn metadata(&self) -> Result<ModelMetadata> {
        let served = self.slot.load_full();
        Ok(ModelMetadata {
            name: served.deployment.name.clone(),
            version: served.deployment.version,
            held_versions: self.held_versions(&served),
            schema: served.deployment.schema().clone(),
            output: served.deployment.output.clone(),
            generation: served.generation,
        })
    }

    fn health(&self) -> Health {
        Health::Ready
    }
}

impl fmt::Debug for InProcessServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.slot.load();
        f.debug_struct("InProcessServer")
            .field("model", &current.deployment.name)
            .field("version", &current.deployment.version)
            .field("generation", &self.generation())
            .field("retain_previous", &self.retain_previous)
            .finish_non_exhaustive()
    }
}

/// One model version held for multi-step work (see [`InProcessServer::pin`]).
/// It serves every request with that version and keeps it alive until dropped.
#[derive(Debug, Clone)]
pub struct PinnedModel {
    served: Arc<Served>,
}

impl PinnedModel {
    /// The pinned deployment.
    #[must_use]
    pub fn deployment(&self) -> &Deployment {
        &self.served.deployment
    }
}

impl ModelServer for PinnedModel {
    fn predict(&self, request: PredictRequest<'_>) -> Result<PredictResponse> {
        let d = &self.served.deployment;
        if let Some(v) = request.version.filter(|&v| v != d.version) {
            return Err(version_not_held(&d.name, v, vec![d.version]));
        }
        serve(&self.served, request, None)
    }

    fn predict_many(&self, requests: Vec<PredictRequest<'_>>) -> Vec<Result<PredictResponse>> {
        serve_many(&self.served, requests, None)
    }

    fn metadata(&self) -> Result<ModelMetadata> {
        let d = &self.served.deployment;
        Ok(ModelMetadata {
            name: d.name.clone(),
            version: d.version,
            held_versions: vec![d.version],
            schema: d.schema().clone(),
            output: d.output.clone(),
            generation: self.served.generation,
        })
    }

    fn health(&self) -> Health {
        Health::Ready
    }
}
