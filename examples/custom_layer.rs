//! A serving layer of your own, written against modelhost's public API only.
//!
//! Run with `cargo run --example custom_layer`. `ModelServer` is to
//! modelhost what tower's `Service` is to a web stack: anything that serves
//! predictions implements it, and a layer wraps one server in another. This
//! example writes a *cache*: a webshop asks for the same product page's
//! recommendation many times a second, and the answer only changes when the
//! features or the model version change. It walks through:
//! 1. wrapping an `InProcessServer` in `Cached`, which validates each request
//!    with the serving version's schema (`PredictRequest::encode`, the very
//!    checks the server makes) and keys the cache by version and row;
//! 2. serving repeats from the cache, answers built with
//!    `PredictResponse::new`;
//! 3. swapping the model: the cache misses for the new version, so no
//!    answer of the old version is served as the new one's.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use modelhost::server::{Health, ModelMetadata};
use modelhost::{
    Deployment, FeatureMap, InProcessServer, LinfaModel, Model, ModelServer, PredictRequest,
    PredictResponse,
};

/// Caches single-row answers per model version and validated row.
#[derive(Debug)]
struct Cached<S> {
    inner: S,
    answers: Mutex<HashMap<(u64, Vec<u64>), PredictResponse>>,
    hits: Mutex<u64>,
}

impl<S: ModelServer> Cached<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            answers: Mutex::new(HashMap::new()),
            hits: Mutex::new(0),
        }
    }
}

impl<S: ModelServer> ModelServer for Cached<S> {
    fn predict(&self, request: PredictRequest<'_>) -> modelhost::Result<PredictResponse> {
        if request.row_count() != 1 {
            return self.inner.predict(request);
        }
        // Validate with the schema of the version serving now, exactly as the
        // inner server would; invalid input is refused here, uncached.
        let meta = self.inner.metadata()?;
        let rows = request.encode(&meta.schema)?;
        let key = (
            meta.version,
            rows.view().iter().map(|v| v.to_bits()).collect(),
        );
        if let Some(hit) = self.answers.lock().unwrap().get(&key) {
            *self.hits.lock().unwrap() += 1;
            let answer = PredictResponse::new(
                hit.model.clone(),
                hit.version,
                hit.predictions.clone(),
                hit.output.clone(),
            );
            return Ok(answer.with_id(request.id().map(str::to_owned)));
        }
        // A miss: ask for exactly the version whose schema validated the row,
        // so a swap in between cannot pair this key with another version.
        let response = self.inner.predict(request.with_version(meta.version))?;
        self.answers.lock().unwrap().insert(key, response.clone());
        Ok(response)
    }

    fn metadata(&self) -> modelhost::Result<ModelMetadata> {
        self.inner.metadata()
    }

    fn health(&self) -> Health {
        self.inner.health()
    }
}

fn main() -> modelhost::Result<()> {
    // 1. A decision tree behind an in-process server, wrapped in the cache.
    let (training, tree) = common::train_tree(2_000, 11, 6)?;
    let model: Arc<dyn Model> = Arc::new(LinfaModel::decision_tree(
        tree,
        training.schema().clone(),
        common::LABELS,
    )?);
    let server = Arc::new(InProcessServer::new(Deployment::from_arc(
        "recommender",
        1,
        model.clone(),
    ))?);
    let cached = Cached::new(server.clone());

    // 2. The same product page, asked for ten times: one model call.
    let visit: FeatureMap = serde_json::from_str(
        r#"{"recency_days": 2, "frequency": 14, "basket_value": 180.5,
            "product_price": 19.99, "device": "desktop"}"#,
    )
    .expect("valid JSON");
    for i in 0..10 {
        let r = cached.predict(PredictRequest::new(&visit).with_id(format!("page-{i}")))?;
        assert_eq!(r.id.as_deref(), Some(format!("page-{i}").as_str()));
    }
    let first = cached.predict(PredictRequest::new(&visit))?;
    println!(
        "10 + 1 requests for one page: {} cache hits, answer {:?} from version {}",
        cached.hits.lock().unwrap(),
        first.label(0),
        first.version
    );
    assert_eq!(*cached.hits.lock().unwrap(), 10);

    // Invalid input is refused by the layer, with every violation named.
    let bad = FeatureMap::new().with("recency_days", -3);
    let err = cached.predict(PredictRequest::new(&bad)).unwrap_err();
    println!("a bad request is refused before the cache: {err}");

    // 3. Promote version 2: the cache keys on the version, so the next
    //    request is a miss answered by version 2.
    server.swap(Deployment::from_arc("recommender", 2, model))?;
    let after = cached.predict(PredictRequest::new(&visit))?;
    println!(
        "after the swap: version {} answered ({} hits so far)",
        after.version,
        cached.hits.lock().unwrap()
    );
    assert_eq!(after.version, 2);
    assert_eq!(*cached.hits.lock().unwrap(), 10);
    Ok(())
}
