//! Shared test helpers: a scriptable mock model whose latency, failures and
//! panics a test controls, and a gate to hold a model call until released.

#![allow(dead_code)]

#[cfg(feature = "http")]
pub mod http;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use modelhost::model::ModelError;
use modelhost::{Deployment, Feature, FeatureSchema, Model, OutputKind, Predictions};
use ndarray::ArrayView2;

/// A value of `x` that makes the mock model panic.
pub const POISON: f64 = 666.0;
/// A value of `x` that makes the mock model return an error.
pub const FAIL: f64 = 13.0;

/// The mock's schema: one float feature `x` in [0, 1000].
pub fn mock_schema() -> FeatureSchema {
    FeatureSchema::builder()
        .feature(Feature::float("x").min(0.0).max(1000.0))
        .build()
        .unwrap()
}

/// Holds model calls until opened.
#[derive(Debug, Default, Clone)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    /// A closed gate.
    pub fn closed() -> Self {
        Self::default()
    }
    /// Lets every held and future call through.
    pub fn open(&self) {
        *self.0.0.lock().unwrap() = true;
        self.0.1.notify_all();
    }
    fn wait(&self) {
        let mut open = self.0.0.lock().unwrap();
        while !*open {
            open = self.0.1.wait(open).unwrap();
        }
    }
}

/// A regression model that predicts its own version for every row (so a
/// response shows which version computed it), with scriptable behaviour.
#[derive(Debug)]
pub struct MockModel {
    pub version: u64,
    schema: FeatureSchema,
    output: OutputKind,
    /// Fixed cost per call.
    pub per_call: Duration,
    /// Extra cost per row.
    pub per_row: Duration,
    /// Calls wait here first, when set.
    pub gate: Option<Gate>,
    /// Number of `predict_batch` calls that have begun (before the gate).
    pub entered: Arc<AtomicUsize>,
    /// Number of `predict_batch` calls.
    pub calls: Arc<AtomicUsize>,
    /// Number of rows predicted.
    pub rows: Arc<AtomicUsize>,
    /// Sizes of the batches seen, in order.
    pub batch_sizes: Arc<Mutex<Vec<usize>>>,
}

impl MockModel {
    pub fn new(version: u64) -> Self {
        Self::with_schema(version, mock_schema())
    }

    pub fn with_schema(version: u64, schema: FeatureSchema) -> Self {
        Self {
            version,
            schema,
            output: OutputKind::Regression,
            per_call: Duration::ZERO,
            per_row: Duration::ZERO,
            gate: None,
            entered: Arc::default(),
            calls: Arc::default(),
            rows: Arc::default(),
            batch_sizes: Arc::default(),
        }
    }

    pub fn latency(mut self, per_call: Duration, per_row: Duration) -> Self {
        self.per_call = per_call;
        self.per_row = per_row;
        self
    }

    pub fn gated(mut self, gate: Gate) -> Self {
        self.gate = Some(gate);
        self
    }

    /// A deployment of this model named `mock`.
    pub fn deploy(self) -> Deployment {
        let v = self.version;
        Deployment::new("mock", v, self)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("scripted failure")]
pub struct Scripted;

impl Model for MockModel {
    fn schema(&self) -> &FeatureSchema {
        &self.schema
    }
    fn output(&self) -> &OutputKind {
        &self.output
    }
    fn predict_batch(&self, rows: ArrayView2<'_, f64>) -> Result<Predictions, ModelError> {
        modelhost::model::check_width(&self.schema, &rows)?;
        self.entered.fetch_add(1, Ordering::SeqCst);
        if let Some(g) = &self.gate {
            g.wait();
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.rows.fetch_add(rows.nrows(), Ordering::SeqCst);
        self.batch_sizes.lock().unwrap().push(rows.nrows());
        let cost = self.per_call + self.per_row * rows.nrows() as u32;
        if !cost.is_zero() {
            std::thread::sleep(cost);
        }
        if rows.iter().any(|&v| v == POISON) {
            panic!("poisoned row");
        }
        if rows.iter().any(|&v| v == FAIL) {
            return Err(ModelError::failed(Scripted));
        }
        Ok(Predictions::scores(vec![self.version as f64; rows.nrows()]))
    }
}
