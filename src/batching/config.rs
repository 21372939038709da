//! [`BatchConfig`]: the checked settings of a [`Batcher`](super::Batcher).

use std::time::Duration;

/// How a [`Batcher`](super::Batcher) groups requests, how long it may hold
/// them and how many it queues.
///
/// Built once by [`BatchConfig::builder`] and checked by
/// [`BatchConfigBuilder::build`]: a `BatchConfig` value is always valid.
/// [`BatchConfig::default`] gives the defaults each setter names.
///
/// See the [module documentation](super#choosing-the-settings) for how to
/// choose each setting, with measured figures.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use modelhost::BatchConfig;
///
/// let config = BatchConfig::builder()
///     .max_batch_rows(64)
///     .max_wait(Duration::from_millis(2))
///     .queue_capacity(512)
///     .default_deadline(Duration::from_millis(50))
///     .build()?;
/// assert_eq!(config.max_batch_rows(), 64);
/// assert_eq!(config.workers(), 1);
/// # Ok::<(), modelhost::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchConfig {
    max_batch_rows: usize,
    max_wait: Duration,
    queue_capacity: usize,
    default_deadline: Option<Duration>,
    workers: usize,
}

/// Default largest batch, in rows.
const MAX_BATCH_ROWS: usize = 64;
/// Default batching window.
const MAX_WAIT: Duration = Duration::from_millis(2);
/// Default queue capacity, in requests.
const QUEUE_CAPACITY: usize = 1024;

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_batch_rows: MAX_BATCH_ROWS,
            max_wait: MAX_WAIT,
            queue_capacity: QUEUE_CAPACITY,
            default_deadline: None,
            workers: 1,
        }
    }
}

impl BatchConfig {
    /// Starts from the defaults.
    pub fn builder() -> BatchConfigBuilder {
        BatchConfigBuilder {
            config: Self::default(),
        }
    }

    /// The largest batch, in rows; larger requests are refused.
    #[must_use]
    pub fn max_batch_rows(&self) -> usize {
        self.max_batch_rows
    }

    /// The longest a request waits in the queue for others to join its batch.
    #[must_use]
    pub fn max_wait(&self) -> Duration {
        self.max_wait
    }

    /// How many requests may wait in the queue.
    #[must_use]
    pub fn queue_capacity(&self) -> usize {
        self.queue_capacity
    }

    /// The deadline given to requests that carry none, measured from
    /// admission.
    #[must_use]
    pub fn default_deadline(&self) -> Option<Duration> {
        self.default_deadline
    }

    /// How many worker threads [`Batcher::new`](super::Batcher::new) starts,
    /// which is how many batches may run at once.
    #[must_use]
    pub fn workers(&self) -> usize {
        self.workers
    }
}

/// Builds a [`BatchConfig`]; see [`BatchConfig::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct BatchConfigBuilder {
    config: BatchConfig,
}

impl BatchConfigBuilder {
    /// The largest batch handed to the model, in rows (default: 64). A request
    /// with more rows is refused with
    /// [`Error::RequestTooLarge`](crate::Error::RequestTooLarge). Must be at
    /// least 1.
    pub fn max_batch_rows(mut self, rows: usize) -> Self {
        self.config.max_batch_rows = rows;
        self
    }

    /// The batching window: the longest a queued request waits for others
    /// to join its batch while a worker is free (default: 2 ms). Adaptive
    /// dispatch usually sends a batch sooner; zero means a batch is sent
    /// as soon as a worker is free, so batches only form from requests that
    /// queued while every worker was busy.
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.config.max_wait = wait;
        self
    }

    /// How many requests may wait in the queue (default: 1024). A request
    /// that finds the queue full is refused at once with
    /// [`Error::Overloaded`](crate::Error::Overloaded). Must be at least 1.
    pub fn queue_capacity(mut self, capacity: usize) -> Self {
        self.config.queue_capacity = capacity;
        self
    }

    /// A deadline, counted from admission, for requests that carry none
    /// (default: none; a request's own
    /// [`with_deadline`](crate::PredictRequest::with_deadline) always wins).
    /// A request still queued at its deadline fails with
    /// [`Error::DeadlineExceeded`](crate::Error::DeadlineExceeded) without
    /// reaching the model. Must be longer than zero.
    pub fn default_deadline(mut self, deadline: Duration) -> Self {
        self.config.default_deadline = Some(deadline);
        self
    }

    /// How many worker threads [`Batcher::new`](super::Batcher::new) starts,
    /// that is how many batches may run at once (default: 1).
    /// [`Batcher::new_manual`](super::Batcher::new_manual) hands out this
    /// many workers for the caller to run. Must be at least 1.
    pub fn workers(mut self, workers: usize) -> Self {
        self.config.workers = workers;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// [`BatchConfigError`] naming the first invalid setting.
    pub fn build(self) -> Result<BatchConfig, BatchConfigError> {
        let c = self.config;
        if c.max_batch_rows == 0 {
            return Err(BatchConfigError::ZeroBatchRows);
        }
        if c.queue_capacity == 0 {
            return Err(BatchConfigError::ZeroQueueCapacity);
        }
        if c.workers == 0 {
            return Err(BatchConfigError::ZeroWorkers);
        }
        if c.default_deadline == Some(Duration::ZERO) {
            return Err(BatchConfigError::ZeroDeadline);
        }
        Ok(c)
    }
}

/// Why a [`BatchConfigBuilder`] refused its settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchConfigError {
    /// [`BatchConfigBuilder::max_batch_rows`] was zero.
    #[error("invalid batch config: max_batch_rows must be at least 1")]
    ZeroBatchRows,
    /// [`BatchConfigBuilder::queue_capacity`] was zero.
    #[error("invalid batch config: queue_capacity must be at least 1")]
    ZeroQueueCapacity,
    /// [`BatchConfigBuilder::workers`] was zero.
    #[error("invalid batch config: workers must be at least 1")]
    ZeroWorkers,
    /// [`BatchConfigBuilder::default_deadline`] was zero.
    #[error("invalid batch config: default_deadline must be longer than zero")]
    ZeroDeadline,
}

impl From<BatchConfigError> for crate::Error {
    fn from(e: BatchConfigError) -> Self {
        Self::component(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_documented_values() {
        let c = BatchConfig::builder().build().unwrap();
        assert_eq!(c, BatchConfig::default());
        assert_eq!(c.max_batch_rows(), 64);
        assert_eq!(c.max_wait(), Duration::from_millis(2));
        assert_eq!(c.queue_capacity(), 1024);
        assert_eq!(c.default_deadline(), None);
        assert_eq!(c.workers(), 1);
    }

    #[test]
    fn zero_settings_are_refused() {
        let b = BatchConfig::builder;
        assert_eq!(
            b().max_batch_rows(0).build(),
            Err(BatchConfigError::ZeroBatchRows)
        );
        assert_eq!(
            b().queue_capacity(0).build(),
            Err(BatchConfigError::ZeroQueueCapacity)
        );
        assert_eq!(b().workers(0).build(), Err(BatchConfigError::ZeroWorkers));
        assert_eq!(
            b().default_deadline(Duration::ZERO).build(),
            Err(BatchConfigError::ZeroDeadline)
        );
        // A zero window is allowed: batches then form only while workers are busy.
        assert!(b().max_wait(Duration::ZERO).build().is_ok());
    }
}
