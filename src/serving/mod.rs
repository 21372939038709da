//! [`Serving`]: one call from a registry reference to a running server that
//! follows its alias, optionally monitored and batched.
//!
//! Without it, a monitored server that follows an alias takes seven steps
//! (load the version, build its deployment, build a monitor for it, build a
//! server with the monitor as observer, wrap it, start a watcher, put a
//! batcher in front). [`Serving`] does them in order and returns a
//! [`Served`] handle that is itself a [`ModelServer`] and owns the
//! background threads: dropping it (or calling [`Served::shutdown`]) stops
//! the alias watcher and the batcher.
//!
//! ```no_run
//! use std::time::Duration;
//! use modelhost::serving::Serving;
//! use modelhost::{FeatureMap, ModelServer, PredictRequest, Registry};
//!
//! # fn main() -> modelhost::Result<()> {
//! let registry = Registry::open("/var/lib/models")?;
//! let served = Serving::from_registry(&registry, "recommender@production")?
//!     .monitor(|monitor| monitor.window_rows(1_000))
//!     .watch_every(Duration::from_secs(5))
//!     .start()?;
//! let input = FeatureMap::new().with("basket_value", 80.0);
//! let response = served.predict(PredictRequest::new(&input).with_id("visit-17"));
//! // Later, when the visit's outcome is known:
//! if let Some(monitor) = served.monitor() {
//!     monitor.record_outcome("visit-17", "buy")?;
//! }
//! # let _ = response;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::Result;
use crate::batching::{BatchConfig, Batcher};
use crate::monitor::{Monitor, MonitorBuilder};
use crate::registry::{ModelRef, Registry};
use crate::reload::{AliasWatcher, WatchOptions};
use crate::server::{
    Health, InProcessServer, ModelMetadata, ModelServer, PredictFuture, PredictRequest,
    PredictResponse,
};

type ConfigureMonitor = Box<dyn FnOnce(MonitorBuilder) -> MonitorBuilder + Send>;

/// Builds a [`Served`] model from a registry reference; see the
/// [module documentation](self).
#[must_use]
pub struct Serving {
    registry: Registry,
    reference: ModelRef,
    watch: WatchOptions,
    follow: bool,
    monitor: Option<ConfigureMonitor>,
    batching: Option<BatchConfig>,
}

impl Serving {
    /// Serves what `reference` (`name@alias`, `name/version` or `name`)
    /// names in `registry`. By default the server follows the alias every 5
    /// seconds (a reference that is not an alias is served as it is), with
    /// no monitor and no batcher.
    ///
    /// # Errors
    ///
    /// [`Error::Registry`](crate::Error::Registry) when `reference` does not
    /// parse.
    pub fn from_registry(registry: &Registry, reference: impl AsRef<str>) -> Result<Self> {
        let reference: ModelRef = reference.as_ref().parse()?;
        let follow = matches!(reference, ModelRef::Alias(..));
        Ok(Self {
            registry: registry.clone(),
            reference,
            watch: WatchOptions::new(),
            follow,
            monitor: None,
            batching: None,
        })
    }

    /// Attaches a [`Monitor`], built for the loaded version and configured
    /// by `configure` (pass `|m| m` for the defaults). Install a metrics
    /// recorder (for example `monitor::prometheus::install`) before
    /// [`start`](Self::start) if the monitor's metrics should reach it.
    pub fn monitor(
        mut self,
        configure: impl FnOnce(MonitorBuilder) -> MonitorBuilder + Send + 'static,
    ) -> Self {
        self.monitor = Some(Box::new(configure));
        self
    }

    /// Puts a [`Batcher`] with `config` in front of the server (default:
    /// none; worth it only for models with a large cost per call).
    pub fn batching(mut self, config: BatchConfig) -> Self {
        self.batching = Some(config);
        self
    }

    /// How often the alias is checked (default 5 seconds).
    pub fn watch_every(mut self, interval: Duration) -> Self {
        self.watch = self.watch.interval(interval);
        self
    }

    /// The alias watcher's options in full (read limits, breaking-schema
    /// policy, an event callback), replacing [`watch_every`](Self::watch_every).
    pub fn watch_options(mut self, options: WatchOptions) -> Self {
        self.watch = options;
        self
    }

    /// Serves the loaded version as it is, without following the alias.
    pub fn pinned(mut self) -> Self {
        self.follow = false;
        self
    }

    /// Loads the version the reference names (every artifact check), builds
    /// the monitor, the server and the batcher, and starts following the
    /// alias.
    ///
    /// # Errors
    ///
    /// When the version cannot be resolved or loaded, the monitor's
    /// settings are invalid, or the watcher thread cannot start.
    pub fn start(self) -> Result<Served> {
        let loaded = self.registry.load(&self.reference, self.watch.read)?;
        let deployment = loaded.deployment()?;
        let monitor = match self.monitor {
            Some(configure) => Some(configure(Monitor::builder(&deployment)).build()?),
            None => None,
        };
        let mut builder = InProcessServer::builder(deployment);
        if let Some(m) = &monitor {
            builder = builder.observer(m.clone());
        }
        let server = Arc::new(builder.build()?);
        let watcher = if self.follow {
            Some(AliasWatcher::spawn(
                server.clone(),
                self.registry,
                self.reference,
                self.watch,
            )?)
        } else {
            None
        };
        let batcher = self
            .batching
            .map(|config| Batcher::new(server.clone(), config));
        Ok(Served {
            server,
            monitor,
            batcher,
            watcher,
        })
    }
}

impl fmt::Debug for Serving {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Serving")
            .field("reference", &self.reference.to_string())
            .field("follow", &self.follow)
            .field("monitor", &self.monitor.is_some())
            .field("batching", &self.batching)
            .finish_non_exhaustive()
    }
}

/// A running model from [`Serving`]: a [`ModelServer`] (through the batcher
/// when there is one) that owns its alias watcher and batcher. Dropping it
/// stops both; [`shutdown`](Self::shutdown) also waits for queued requests.
pub struct Served {
    server: Arc<InProcessServer>,
    monitor: Option<Arc<Monitor>>,
    batcher: Option<Batcher>,
    watcher: Option<AliasWatcher>,
}

impl Served {
    /// The in-process server (swap, roll back, pin a version, read totals).
    #[must_use]
    pub fn server(&self) -> &Arc<InProcessServer> {
        &self.server
    }

    /// The monitor, when one was configured: feedback
    /// ([`Monitor::record_outcome`]), snapshots, quality, reports.
    #[must_use]
    pub fn monitor(&self) -> Option<&Arc<Monitor>> {
        self.monitor.as_ref()
    }

    /// The batcher, when one was configured.
    #[must_use]
    pub fn batcher(&self) -> Option<&Batcher> {
        self.batcher.as_ref()
    }

    /// What requests go through: the batcher, or the server.
    fn front(&self) -> &dyn ModelServer {
        match &self.batcher {
            Some(b) => b,
            None => &*self.server,
        }
    }

    /// Stops following the alias, then lets the batcher answer what it has
    /// queued (at most `timeout`) and stops it.
    pub fn shutdown(mut self, timeout: Duration) {
        if let Some(w) = self.watcher.take() {
            w.shutdown();
        }
        if let Some(b) = self.batcher.take() {
            let _ = b.shutdown(timeout);
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // The watcher stops on its own drop; a batcher is told to stop so
        // its workers do not outlive the handle.
        if let Some(b) = self.batcher.take() {
            let _ = b.shutdown(Duration::ZERO);
        }
    }
}

impl ModelServer for Served {
    fn predict(&self, request: PredictRequest<'_>) -> Result<PredictResponse> {
        self.front().predict(request)
    }

    fn predict_async<'a>(&'a self, request: PredictRequest<'a>) -> PredictFuture<'a> {
        self.front().predict_async(request)
    }

    fn predict_many(&self, requests: Vec<PredictRequest<'_>>) -> Vec<Result<PredictResponse>> {
        self.front().predict_many(requests)
    }

    fn metadata(&self) -> Result<ModelMetadata> {
        self.front().metadata()
    }

    fn health(&self) -> Health {
        self.front().health()
    }
}

impl fmt::Debug for Served {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Served")
            .field("server", &self.server)
            .field("monitor", &self.monitor.is_some())
            .field("batcher", &self.batcher.is_some())
            .field("following", &self.watcher.is_some())
            .finish()
    }
}
