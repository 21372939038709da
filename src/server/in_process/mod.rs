//! [`InProcessServer`]: one atomically swappable model slot.
//!
//! - `mod.rs`: the server, its builder and its accessors;
//! - `swap.rs`: swaps and rollbacks (every fallible step before the store);
//! - `serve.rs`: the request path and how each request is observed;
//! - `pinned.rs`: [`PinnedModel`], one version held for multi-step work.
//!
//! # Locks
//!
//! One: `swap_lock` serializes swaps and rollbacks (a swap's warm-up runs
//! under it). The request path takes no lock: it reads the slot through
//! arc-swap and counts into its thread's tally.

mod pinned;
mod serve;
mod swap;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use arc_swap::{ArcSwap, ArcSwapOption};

use super::counts::Tally;
use super::{Deployment, PredictObserver, RequestTotals, SchemaDiff};
use crate::{Error, Result};

pub use pinned::PinnedModel;

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
///   once (an arc-swap guard: no reference count is touched) and uses it for
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
    /// The serving deployment, with the generation it was stored at (the
    /// one generation counter there is).
    slot: ArcSwap<Served>,
    previous: ArcSwapOption<Served>,
    /// Serializes swaps and rollbacks.
    swap_lock: Mutex<()>,
    retain_previous: bool,
    observed: Option<Arc<Observed>>,
}

/// The observer, and the totals the server counts for it.
#[derive(Debug)]
struct Observed {
    observer: Arc<dyn PredictObserver>,
    totals: RequestTotals,
}

impl Observed {
    /// How the calling thread's next request is observed: into which
    /// tally, and whether it is sampled (timed from now).
    #[inline]
    fn watch(&self) -> Watch<'_> {
        let tally = self.totals.tallies.tally();
        let sampled = tally.sample(|| self.observer.sample_every());
        Watch {
            observed: self,
            tally,
            started: sampled.then(Instant::now),
        }
    }
}

/// How one request is observed: by whom, into which thread's tally, and
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

    /// Reports requests, swaps and failed loads to `observer` (default:
    /// none): a sample of the requests, as
    /// [`PredictObserver::sample_every`] says, plus every failed request and
    /// every request with an id; the server's totals go to
    /// [`PredictObserver::attached`].
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
        let observed = self.observer.map(|observer| {
            let totals = RequestTotals::default();
            observer.attached(totals.clone());
            Arc::new(Observed { observer, totals })
        });
        Ok(InProcessServer {
            slot: ArcSwap::from_pointee(Served {
                deployment: self.initial,
                generation: 0,
            }),
            previous: ArcSwapOption::empty(),
            swap_lock: Mutex::new(()),
            retain_previous: self.retain_previous,
            observed,
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

    /// Pins the serving version: every request through the returned handle is
    /// served by exactly that version, whatever swaps happen meanwhile, and
    /// observed as the server's own requests are.
    #[must_use]
    pub fn pin(&self) -> PinnedModel {
        PinnedModel::new(self.slot.load_full(), self.observed.clone())
    }

    /// The deployment serving now.
    #[must_use]
    pub fn current(&self) -> Deployment {
        self.slot.load().deployment.clone()
    }

    /// The server's generation: the number of swaps and rollbacks so far.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.slot.load().generation
    }

    /// The server's request totals (every request, per version and
    /// outcome), when it was built with an observer.
    #[must_use]
    pub fn totals(&self) -> Option<RequestTotals> {
        self.observed.as_ref().map(|o| o.totals.clone())
    }

    /// Tells the observer that loading `version` (when known) of the served
    /// model failed, for loaders outside the server (a registry watcher, an
    /// admin endpoint). Refused swaps are reported by the server itself.
    pub fn report_failed_load(&self, version: Option<u64>, error: &Error) {
        if let Some(o) = &self.observed {
            let name = self.slot.load().deployment.name.clone();
            o.observer.on_failed_load(&name, version, error);
        }
    }

    fn held_versions(&self, current: &Served) -> Vec<u64> {
        let mut held = vec![current.deployment.version];
        if let Some(p) = &*self.previous.load() {
            held.push(p.deployment.version);
        }
        held
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
