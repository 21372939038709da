//! A model kind of your own: a points scorecard, stored in artifacts,
//! loaded and served like the built-in kinds.
//!
//! Run with `cargo run --example custom_kind`. It shows:
//! 1. a `Model` (the scorecard: points per feature, a logistic link),
//! 2. its payload, written with `PayloadWriter` and read back by a
//!    `KindDecoder` with `PayloadReader` (every count checked before
//!    anything is allocated),
//! 3. `register_kind`, after which `Artifact::load` (and a registry) can
//!    serve artifacts of the kind,
//! 4. a round trip: pack, write, load, serve.

mod common;

use std::ops::RangeInclusive;
use std::sync::Arc;

use modelhost::artifact::{
    Artifact, ArtifactError, ArtifactHeader, DecodeLimits, KindDecoder, ModelKind, PayloadReader,
    PayloadWriter, ReadOptions, register_kind,
};
use modelhost::model::{Model, ModelError, OutputKind, Predictions, check_width};
use modelhost::{FeatureSchema, InProcessServer, ModelServer, PredictRequest};
use ndarray::{Array2, ArrayView2};

/// The kind id: prefixed with the owner, so it cannot clash with a built-in.
const SCORECARD: ModelKind = ModelKind::from_static("acme.scorecard");

/// Points per encoded feature; a customer "buys" when the points pass 0.
#[derive(Debug)]
struct Scorecard {
    schema: FeatureSchema,
    output: OutputKind,
    points: Vec<f64>,
    offset: f64,
}

impl Scorecard {
    fn new(schema: FeatureSchema, points: Vec<f64>, offset: f64) -> Result<Self, ModelError> {
        if points.len() != schema.len() || points.iter().any(|p| !p.is_finite()) {
            return Err(ModelError::InvalidModel {
                reason: "one finite number of points per feature".into(),
            });
        }
        Ok(Self {
            schema,
            // Every prediction carries p(ignore), p(buy): say so.
            output: OutputKind::classification_with_probabilities(common::LABELS),
            points,
            offset,
        })
    }

    fn payload(&self) -> Vec<u8> {
        let mut w = PayloadWriter::new();
        w.f64(self.offset);
        w.f64s(&self.points);
        w.into_bytes()
    }
}

impl Model for Scorecard {
    fn schema(&self) -> &FeatureSchema {
        &self.schema
    }

    fn output(&self) -> &OutputKind {
        &self.output
    }

    fn predict_batch(&self, rows: ArrayView2<'_, f64>) -> Result<Predictions, ModelError> {
        check_width(&self.schema, &rows)?;
        let mut classes = Vec::with_capacity(rows.nrows());
        let mut p = Array2::zeros((rows.nrows(), 2));
        for (i, row) in rows.rows().into_iter().enumerate() {
            let score: f64 = row
                .iter()
                .zip(&self.points)
                .map(|(x, w)| x * w)
                .sum::<f64>()
                + self.offset;
            let buy = 1.0 / (1.0 + (-score).exp());
            classes.push(usize::from(score > 0.0));
            p[(i, 0)] = 1.0 - buy;
            p[(i, 1)] = buy;
        }
        Predictions::classes(classes, 2)?.with_probabilities(p)
    }
}

/// Reads scorecard payloads (version 1: offset, then the points).
#[derive(Debug)]
struct ScorecardDecoder;

impl KindDecoder for ScorecardDecoder {
    fn kind(&self) -> ModelKind {
        SCORECARD
    }

    fn payload_versions(&self) -> RangeInclusive<u32> {
        1..=1
    }

    fn decode(
        &self,
        payload: &[u8],
        _payload_version: u32,
        header: &ArtifactHeader,
        _limits: &DecodeLimits,
    ) -> Result<Arc<dyn Model>, ArtifactError> {
        let mut r = PayloadReader::new(payload);
        let offset = r.finite_f64()?;
        let points = r.f64s()?;
        r.finish()?;
        Ok(Arc::new(Scorecard::new(
            header.schema.clone(),
            points,
            offset,
        )?))
    }
}

fn main() -> modelhost::Result<()> {
    // 3. Once per process, before loading artifacts of the kind.
    register_kind(Arc::new(ScorecardDecoder))?;

    // 1. A hand-made scorecard: recent, frequent, full baskets buy.
    let schema = common::webshop_schema();
    //    Columns in schema order: recency, frequency, basket, price first.
    let mut points = vec![0.0; schema.len()];
    points[..4].copy_from_slice(&[-0.04, 0.12, 0.007, -0.017]);
    let card = Scorecard::new(schema.clone(), points, 1.5)?;

    // 4. Pack it with training rows (reference statistics and warm-up rows
    //    come from them), write, load, serve.
    let (rows, _) = common::webshop_data(500, 3, 0.0);
    let training = schema.validate_batch(&rows)?;
    let artifact =
        Artifact::from_model("scorecard", SCORECARD, 1, card.payload(), &card, &training)?;
    let dir = std::env::temp_dir().join(format!("modelhost-custom-kind-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| ArtifactError::Io {
        path: dir.display().to_string(),
        source: Arc::new(e),
    })?;
    let path = dir.join("scorecard.mhart");
    artifact.write(&path)?;
    let loaded = Artifact::load(&path, ReadOptions::new())?;
    println!(
        "Loaded {} ({}, payload version {})",
        loaded.header.name, loaded.header.model_kind, loaded.header.payload_version
    );
    let server = InProcessServer::new(loaded.deployment()?)?;
    for (i, row) in rows.iter().take(3).enumerate() {
        let r = server.predict(PredictRequest::new(row))?;
        let p = r.predictions.probabilities(0).map_or(f64::NAN, |p| p[1]);
        println!(
            "  visit {i}: {} (p(buy) = {p:.3})",
            r.label(0).unwrap_or("?")
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
