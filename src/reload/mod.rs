//! Reload policies: follow a registry alias with a background thread.
//!
//! This layer sits above both the [server](crate::server) and the
//! [registry](crate::registry): the server knows nothing of where versions
//! come from, and the registry nothing of serving.

use std::fmt;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::artifact::ReadOptions;
use crate::registry::{ModelRef, Registry};
use crate::server::{InProcessServer, ModelServer, SwapOptions, SwapReport};
use crate::{Error, Result};

/// How a server's version changes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ReloadPolicy {
    /// Only when the host calls [`InProcessServer::swap`] or
    /// [`InProcessServer::rollback`].
    Manual,
    /// Whenever a registry alias moves (see [`AliasWatcher`]).
    FollowAlias(WatchOptions),
}

/// What an [`AliasWatcher`] reports.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum WatchEvent {
    /// The alias moved and the new version is serving.
    Swapped(SwapReport),
    /// The alias points at a version that could not be loaded or swapped in;
    /// the serving version is unchanged and the load is retried at the next
    /// check.
    Failed {
        /// The version the alias points at, when it resolved.
        version: Option<u64>,
        /// Why it failed.
        error: Error,
    },
    /// The registry answers again after checks that failed for a reason
    /// that may pass (its storage was unreachable or failing).
    Recovered {
        /// How many checks in a row had failed.
        failed_checks: u32,
    },
}

type Callback = Arc<dyn Fn(&WatchEvent) + Send + Sync>;

/// Options of an [`AliasWatcher`].
#[derive(Clone)]
#[must_use]
pub struct WatchOptions {
    interval: Duration,
    pub(crate) read: ReadOptions,
    allow_breaking_schema: bool,
    on_event: Option<Callback>,
}

impl Default for WatchOptions {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(5),
            read: ReadOptions::default(),
            allow_breaking_schema: false,
            on_event: None,
        }
    }
}

impl WatchOptions {
    /// Default options: check every 5 seconds, default read limits, refuse
    /// breaking schema changes, no callback.
    pub fn new() -> Self {
        Self::default()
    }

    /// Time between checks of the alias (default 5 s).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Limits for reading artifacts (default [`ReadOptions::default`]).
    pub fn read_options(mut self, read: ReadOptions) -> Self {
        self.read = read;
        self
    }

    /// Swap in versions whose schema breaks currently valid input (default:
    /// refused, reported as [`WatchEvent::Failed`]).
    pub fn allow_breaking_schema(mut self, allow: bool) -> Self {
        self.allow_breaking_schema = allow;
        self
    }

    /// Called on the watcher thread for every swap and every failure
    /// (default: none). Failures are also logged.
    pub fn on_event(mut self, f: impl Fn(&WatchEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(f));
        self
    }
}

impl fmt::Debug for WatchOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WatchOptions")
            .field("interval", &self.interval)
            .field("read", &self.read)
            .field("allow_breaking_schema", &self.allow_breaking_schema)
            .field("on_event", &self.on_event.is_some())
            .finish()
    }
}

/// A background thread that keeps a server on the version a registry alias
/// points at.
///
/// Every interval it resolves the alias; when it points elsewhere than the
/// serving version, it loads that version with every check of
/// [`Artifact::load`](crate::artifact::Artifact::load) and swaps it in (an
/// alias moved back to an older version is followed too). Loading happens on
/// the watcher thread, off the request path. A failure (missing or corrupt
/// artifact, breaking schema, failed warm-up) is logged, reported to the
/// callback, retried at the next check, and never takes the serving version
/// down.
///
/// Each check is one conditional read of the model's index (on an object
/// store, a GET with `If-None-Match` that usually answers `304` without a
/// body). Checks come every interval give or take 10%, so replicas started
/// together spread out; while the registry's storage fails, the wait
/// doubles with each failed check up to a minute (or the interval, if
/// longer), and the return of the registry is logged.
///
/// The thread stops when the watcher is dropped or
/// [`shut down`](AliasWatcher::shutdown).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use modelhost::registry::Registry;
/// use modelhost::reload::{AliasWatcher, WatchOptions};
/// use modelhost::{ModelServer, PredictRequest};
///
/// let registry = Registry::open("/var/lib/models")?;
/// let (server, watcher) = AliasWatcher::serve(
///     registry,
///     "recommender@production".parse()?,
///     WatchOptions::new().interval(Duration::from_secs(10)),
/// )?;
/// // ... serve requests; promote a version in the registry, and within
/// // 10 seconds `server` serves it ...
/// watcher.shutdown();
/// # Ok::<(), modelhost::Error>(())
/// ```
pub struct AliasWatcher {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl AliasWatcher {
    /// Loads the version `reference` resolves to, serves it, and starts
    /// following the alias.
    ///
    /// # Errors
    ///
    /// When the initial version cannot be resolved or loaded.
    pub fn serve(
        registry: Registry,
        reference: ModelRef,
        options: WatchOptions,
    ) -> Result<(Arc<InProcessServer>, Self)> {
        let loaded = registry.load(&reference, options.read)?;
        let server = Arc::new(InProcessServer::new(loaded.deployment()?)?);
        let watcher = Self::spawn(server.clone(), registry, reference, options)?;
        Ok((server, watcher))
    }

    /// Starts following `reference` (usually `name@alias`) for `server`.
    ///
    /// # Errors
    ///
    /// [`Error::WrongModel`] when the reference names another model than the
    /// server serves; an error when the thread cannot be started.
    pub fn spawn(
        server: Arc<InProcessServer>,
        registry: Registry,
        reference: ModelRef,
        options: WatchOptions,
    ) -> Result<Self> {
        let serving = server.metadata()?.name;
        if &*serving != reference.name() {
            return Err(Error::WrongModel {
                serving: serving.to_string(),
                offered: reference.name().to_owned(),
            });
        }
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let thread_stop = stop.clone();
        let thread = std::thread::Builder::new()
            .name(format!("modelhost-watch-{reference}"))
            .spawn(move || {
                let mut refused = None;
                let mut failures = 0u32;
                loop {
                    if check(&server, &registry, &reference, &options, &mut refused) {
                        failures = failures.saturating_add(1);
                    } else if failures > 0 {
                        emit!(
                            info,
                            "modelhost: following {reference}: the registry answers again after {failures} failed checks"
                        );
                        if let Some(f) = &options.on_event {
                            f(&WatchEvent::Recovered {
                                failed_checks: failures,
                            });
                        }
                        failures = 0;
                    }
                    let (lock, cv) = &*thread_stop;
                    let stopped = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    let (stopped, _) = cv
                        .wait_timeout_while(stopped, next_wait(options.interval, failures), |s| !*s)
                        .unwrap_or_else(PoisonError::into_inner);
                    if *stopped {
                        break;
                    }
                }
            })
            .map_err(|e| Error::NotReady {
                reason: format!("cannot start the watcher thread: {e}"),
            })?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it (at most one check in progress).
    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        let (lock, cv) = &*self.stop;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        cv.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for AliasWatcher {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

impl fmt::Debug for AliasWatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AliasWatcher")
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl InProcessServer {
    /// Loads version `version` of the served model from `registry`, with
    /// every check of [`Artifact::load`](crate::artifact::Artifact::load),
    /// and swaps it in with `options`. The alias watcher and the HTTP admin
    /// `load` endpoint both go through here.
    ///
    /// Every failure reaches the server's observer (a monitor counts it in
    /// `modelhost_failed_loads_total{reason}`).
    ///
    /// # Errors
    ///
    /// As [`Registry::load`] and [`InProcessServer::swap_with`]; the serving
    /// version is untouched on any error.
    pub fn swap_from_registry(
        &self,
        registry: &Registry,
        version: u64,
        read: ReadOptions,
        options: SwapOptions,
    ) -> Result<SwapReport> {
        let name = self.current().name().to_owned();
        let deployment = registry
            .load(&ModelRef::Version(name, version), read)
            .map_err(Error::from)
            .and_then(|l| l.deployment().map_err(Error::from));
        match deployment {
            // `swap_with` reports its own refusals to the observer.
            Ok(d) => self.swap_with(d, options),
            Err(e) => {
                // The swap never ran, so the observer has not heard of it.
                self.report_failed_load(Some(version), &e);
                Err(e)
            }
        }
    }
}

/// The wait before the next check: the interval, give or take 10% so that
/// replicas started together spread their requests out; after failed
/// checks, doubling with each failure up to the larger of the interval and
/// a minute, so a registry that is down is not hammered by every replica.
fn next_wait(interval: Duration, failures: u32) -> Duration {
    let base = if failures == 0 {
        interval
    } else {
        let cap = interval.max(Duration::from_secs(60));
        interval.saturating_mul(1 << failures.min(16)).min(cap)
    };
    // A factor in [0.9, 1.1].
    let factor = 0.9 + 0.2 * crate::registry::jitter(1000) as f64 / 1000.0;
    base.mul_f64(factor)
}

/// One check: resolve, and swap if the alias moved. Returns whether it
/// failed for a reason that may pass (the registry's storage), which the
/// watcher answers by backing off.
///
/// `refused` remembers a version that failed for a reason of its own
/// (corrupt, wrong schema, failed warm-up): versions never change, so it is
/// not loaded again, and its failure is reported once (to the log, the
/// callback and the server's observer), not once per check, until the alias
/// moves. Failures that may pass (storage errors) are retried and reported
/// each time.
fn check(
    server: &InProcessServer,
    registry: &Registry,
    reference: &ModelRef,
    options: &WatchOptions,
    refused: &mut Option<u64>,
) -> bool {
    let report = |event: WatchEvent| {
        if let WatchEvent::Failed { version, error } = &event {
            emit!(
                warn,
                "modelhost: following {reference}: version {} not served: {error}",
                version.map_or_else(|| "?".to_owned(), |v| v.to_string())
            );
        }
        if let Some(f) = &options.on_event {
            f(&event);
        }
    };
    let version = match registry.resolve(reference) {
        Ok(v) => v,
        Err(error) => {
            let error = Error::from(error);
            let trouble = passing(&error);
            report(WatchEvent::Failed {
                version: None,
                error,
            });
            return trouble;
        }
    };
    if version == server.current().version() || *refused == Some(version) {
        return false;
    }
    *refused = None;
    let loaded = registry
        .load(
            &ModelRef::Version(reference.name().to_owned(), version),
            options.read,
        )
        .map_err(Error::from)
        .and_then(|l| l.deployment().map_err(Error::from));
    let deployment = match loaded {
        Ok(d) => d,
        Err(error) => {
            // The swap never ran, so the server has not heard of it.
            server.report_failed_load(Some(version), &error);
            let trouble = passing(&error);
            if !trouble {
                *refused = Some(version);
            }
            report(WatchEvent::Failed {
                version: Some(version),
                error,
            });
            return trouble;
        }
    };
    let mut swap = SwapOptions::new().allow_older();
    if options.allow_breaking_schema {
        swap = swap.allow_breaking_schema();
    }
    match server.swap_with(deployment, swap) {
        Ok(r) => report(WatchEvent::Swapped(r)),
        Err(error) => {
            *refused = Some(version);
            report(WatchEvent::Failed {
                version: Some(version),
                error,
            });
        }
    }
    false
}

/// Whether a load failure may go away by itself (storage trouble), as
/// opposed to one of the version's own.
fn passing(error: &Error) -> bool {
    use crate::artifact::ArtifactError;
    use crate::registry::RegistryError;
    matches!(
        error,
        Error::Artifact(ArtifactError::Io { .. })
            | Error::Registry(RegistryError::Storage(_) | RegistryError::Conflict { .. })
    )
}

#[cfg(test)]
mod tests {
    use super::next_wait;
    use std::time::Duration;

    #[test]
    fn waits_spread_out_and_back_off_to_a_cap() {
        let interval = Duration::from_secs(5);
        let ok: Vec<Duration> = (0..50).map(|_| next_wait(interval, 0)).collect();
        assert!(
            ok.iter()
                .all(|w| *w >= interval.mul_f64(0.9) && *w <= interval.mul_f64(1.1))
        );
        assert!(ok.iter().any(|w| *w != ok[0]), "no jitter: {ok:?}");
        assert!(next_wait(interval, 1) >= Duration::from_secs(9));
        let capped = next_wait(interval, 30);
        assert!(
            capped <= Duration::from_secs(66) && capped >= Duration::from_secs(54),
            "{capped:?}"
        );
        // An interval above the cap is never shortened by failures.
        assert!(next_wait(Duration::from_secs(600), 3) >= Duration::from_secs(540));
    }
}
