//! Triton's model configuration and statistics endpoints, and the model
//! list, for clients and tools that read them first (`get_model_config`,
//! `get_inference_statistics`, perf_analyzer).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::error::ApiError;
use super::oip::{LABEL, PROBABILITIES, SCORE};
use super::router::Shared;
use crate::model::OutputKind;
use crate::schema::FeatureKind;

/// Versions whose statistics are kept per model; the oldest go first.
const MAX_VERSIONS: usize = 64;

/// Inference counts and cumulative durations of one version.
#[derive(Debug, Default)]
pub(crate) struct VersionStats {
    success: AtomicU64,
    success_ns: AtomicU64,
    fail: AtomicU64,
    fail_ns: AtomicU64,
    last_ms: AtomicU64,
}

/// Inference statistics of one served model, per version. A request takes
/// a read lock to find its version's counters (a write lock only the first
/// time a version answers) and adds with relaxed atomics.
#[derive(Debug, Default)]
pub(crate) struct ModelStats {
    versions: RwLock<Vec<(u64, Arc<VersionStats>)>>,
}

impl ModelStats {
    fn of(&self, version: u64) -> Arc<VersionStats> {
        {
            let read = self.versions.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((_, s)) = read.iter().find(|(v, _)| *v == version) {
                return s.clone();
            }
        }
        let mut write = self
            .versions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((_, s)) = write.iter().find(|(v, _)| *v == version) {
            return s.clone();
        }
        if write.len() >= MAX_VERSIONS {
            write.remove(0);
        }
        let s = Arc::new(VersionStats::default());
        write.push((version, s.clone()));
        s
    }

    /// Counts one inference request of `version` that took `took`.
    pub(crate) fn record(&self, version: u64, ok: bool, took: Duration) {
        let s = self.of(version);
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        if ok {
            s.success.fetch_add(1, Relaxed);
            s.success_ns.fetch_add(ns, Relaxed);
        } else {
            s.fail.fetch_add(1, Relaxed);
            s.fail_ns.fetch_add(ns, Relaxed);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        s.last_ms.fetch_max(now, Relaxed);
    }
}

/// What one version's counters read at one moment.
pub(crate) struct VersionSnapshot {
    pub(crate) version: u64,
    pub(crate) success: u64,
    pub(crate) success_ns: u64,
    pub(crate) fail: u64,
    pub(crate) fail_ns: u64,
    /// Milliseconds since the Unix epoch of the last request.
    pub(crate) last_ms: u64,
}

impl ModelStats {
    /// Every kept version's counters, oldest version first.
    pub(crate) fn snapshot(&self) -> Vec<VersionSnapshot> {
        let versions = self.versions.read().unwrap_or_else(PoisonError::into_inner);
        versions
            .iter()
            .map(|(v, s)| VersionSnapshot {
                version: *v,
                success: s.success.load(Relaxed),
                success_ns: s.success_ns.load(Relaxed),
                fail: s.fail.load(Relaxed),
                fail_ns: s.fail_ns.load(Relaxed),
                last_ms: s.last_ms.load(Relaxed),
            })
            .collect()
    }
}

/// Triton's name for a feature's datatype.
pub(crate) fn triton_type(kind: &FeatureKind) -> &'static str {
    match kind {
        FeatureKind::Float { .. } => "TYPE_FP64",
        FeatureKind::Integer { .. } => "TYPE_INT64",
        FeatureKind::Boolean => "TYPE_BOOL",
        FeatureKind::Categorical { .. } => "TYPE_STRING",
    }
}

/// `GET /v2/models/{name}/config`: Triton's model configuration. Rows are
/// the batch dimension (`max_batch_size` is the row limit), so each input
/// and output has the per-row shape.
pub(crate) async fn config(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = shared.model(&name)?;
    let meta = entry.server.metadata()?;
    let input: Vec<Value> = meta
        .schema
        .features()
        .iter()
        .map(|f| json!({ "name": f.name(), "data_type": triton_type(f.kind()), "dims": [1] }))
        .collect();
    let output: Vec<Value> = match &*meta.output {
        OutputKind::Classification {
            labels,
            probabilities,
        } => {
            let mut out = vec![json!({ "name": LABEL, "data_type": "TYPE_STRING", "dims": [1] })];
            if *probabilities {
                out.push(json!({
                    "name": PROBABILITIES, "data_type": "TYPE_FP64", "dims": [labels.len()],
                    "label_filename": "", "parameters": { "labels": &labels[..] },
                }));
            }
            out
        }
        OutputKind::Regression => {
            vec![json!({ "name": SCORE, "data_type": "TYPE_FP64", "dims": [1] })]
        }
    };
    Ok(Json(json!({
        "name": &*meta.name,
        "platform": "modelhost",
        "backend": "modelhost",
        "version_policy": { "specific": { "versions": meta.held_versions } },
        "max_batch_size": shared.max_rows,
        "input": input,
        "output": output,
    })))
}

/// `GET /v2/models/{name}/stats` (and `/v2/models/stats` for every model):
/// Triton's inference statistics per version, counted by this transport.
pub(crate) async fn model_stats(
    State(shared): State<Arc<Shared>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = shared.model(&name)?;
    Ok(Json(
        json!({ "model_stats": stats_of(&entry.name, &entry.stats) }),
    ))
}

/// `GET /v2/models/stats`: every model's statistics.
pub(crate) async fn all_stats(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let all: Vec<Value> = shared
        .models
        .iter()
        .flat_map(|m| stats_of(&m.name, &m.stats))
        .collect();
    Json(json!({ "model_stats": all }))
}

fn stats_of(name: &str, stats: &ModelStats) -> Vec<Value> {
    stats
        .snapshot()
        .into_iter()
        .map(|s| {
            let zero = json!({ "count": 0, "ns": 0 });
            let success = json!({ "count": s.success, "ns": s.success_ns });
            json!({
                "name": name,
                "version": s.version.to_string(),
                "last_inference": s.last_ms,
                "inference_count": s.success,
                "execution_count": s.success,
                "inference_stats": {
                    "success": success,
                    "fail": { "count": s.fail, "ns": s.fail_ns },
                    "queue": zero, "compute_input": zero,
                    "compute_infer": success,
                    "compute_output": zero,
                },
                "batch_stats": [],
            })
        })
        .collect()
}

/// `GET /v2/models`: every served model with its held versions and state.
pub(crate) async fn models(State(shared): State<Arc<Shared>>) -> Json<Value> {
    let models: Vec<Value> = shared
        .models
        .iter()
        .map(|m| {
            let versions: Vec<String> = m
                .server
                .metadata()
                .map(|meta| meta.held_versions.iter().map(u64::to_string).collect())
                .unwrap_or_default();
            let ready = !m.is_unloaded() && m.server.health().is_ready();
            json!({
                "name": &*m.name,
                "versions": versions,
                "state": if ready { "READY" } else { "UNAVAILABLE" },
            })
        })
        .collect();
    Json(json!({ "models": models }))
}
