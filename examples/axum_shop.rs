//! A webshop's own axum server with the recommender inside it.
//!
//! Run with `cargo run --example axum_shop --features http,prometheus`.
//! The shop has its own routes, shaped for its own front end, and mounts
//! modelhost's HTTP transport under `/ml` for other services. It walks
//! through:
//! 1. training two versions of the recommender into a registry, and
//!    serving `recommender@production` with a monitor, in one call
//!    (`Serving::from_registry`);
//! 2. `POST /recommend`: a typed request straight from the shop's JSON (the
//!    visit's features and the candidate products), ranked by one model
//!    version in one call: the top 3 products by probability of "buy".
//!    Errors become HTTP answers through `IntoResponse for modelhost::Error`
//!    (400 naming the bad feature, 503 when overloaded, …);
//! 3. `POST /outcome`: whether the visitor bought a shown product, fed back
//!    to the monitor (candidate `i` of visit `v` is joined as `v#i`);
//! 4. `GET /metrics`: the Prometheus text of the whole process;
//! 5. `/ml/...`: the Open Inference Protocol and MLflow endpoints of the
//!    same model, for other services;
//! 6. promoting version 2 while the shop serves: the next recommendation
//!    comes from it.
//!
//! The example then calls its own routes over real HTTP and prints what it
//! got, so it runs on its own and ends.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use modelhost::rank::{RankRequest, rank};
use modelhost::transport::http::HttpTransport;
use modelhost::{FeatureMap, ModelServer, Registry, Served, Serving};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What the shop's front end sends when a visitor opens a page: who they
/// are, and the products the page could show.
#[derive(Debug, Clone, Deserialize)]
struct Visit {
    visit_id: String,
    candidates: Vec<Product>,
    /// The visit's own features (the model's feature names), in the same
    /// JSON object.
    #[serde(flatten)]
    session: FeatureMap,
}

/// A product the page could show.
#[derive(Debug, Clone, Deserialize)]
struct Product {
    sku: String,
    product_price: f64,
}

/// One recommended product.
#[derive(Debug, Serialize)]
struct Shown {
    sku: String,
    /// The candidate's position, for the outcome.
    candidate: usize,
    p_buy: f64,
}

/// The shop's own answer shape.
#[derive(Debug, Serialize)]
struct Recommendation {
    visit_id: String,
    products: Vec<Shown>,
    model_version: u64,
}

#[derive(Debug, Deserialize)]
struct Outcome {
    visit_id: String,
    candidate: usize,
    bought: bool,
}

#[derive(Clone)]
struct Shop {
    served: Arc<Served>,
    metrics: modelhost::monitor::prometheus::PrometheusHandle,
}

/// `POST /recommend`: a modelhost `Error` is an axum response, so `?` is
/// the whole error handling.
async fn recommend(
    State(shop): State<Shop>,
    Json(visit): Json<Visit>,
) -> Result<Json<Recommendation>, modelhost::Error> {
    let candidates: Vec<FeatureMap> = visit
        .candidates
        .iter()
        .map(|p| FeatureMap::new().with("product_price", p.product_price))
        .collect();
    // Every candidate is scored by the same model version, in one call.
    let ranked = rank(
        &*shop.served,
        RankRequest::new(&visit.session, &candidates, 3)
            .with_id(visit.visit_id.clone())
            .by_label("buy"),
    )?;
    Ok(Json(Recommendation {
        visit_id: visit.visit_id,
        products: ranked
            .items
            .iter()
            .map(|r| Shown {
                sku: visit.candidates[r.index].sku.clone(),
                candidate: r.index,
                p_buy: r.score,
            })
            .collect(),
        model_version: ranked.version,
    }))
}

/// `POST /outcome`: the visitor bought or not; the monitor joins it to the
/// prediction made for that visit.
async fn outcome(
    State(shop): State<Shop>,
    Json(o): Json<Outcome>,
) -> Result<Json<Value>, modelhost::Error> {
    let label = if o.bought { "buy" } else { "ignore" };
    let joined = match shop.served.monitor() {
        Some(m) => m.record_outcome(&format!("{}#{}", o.visit_id, o.candidate), label)?,
        None => false,
    };
    Ok(Json(json!({ "joined": joined })))
}

/// `GET /metrics`: every metric of the process, the monitor's included.
async fn render_metrics(State(shop): State<Shop>) -> String {
    // The monitor folds the server's request counts into its metrics every
    // second on its own thread; folding now makes a scrape exact.
    if let Some(m) = shop.served.monitor() {
        m.flush();
    }
    shop.metrics.render()
}

/// The candidate index of the first product a recommendation shows.
fn body_first_candidate(body: &Value) -> u64 {
    body["products"][0]["candidate"].as_u64().unwrap_or(0)
}

fn main() -> modelhost::Result<()> {
    // 1. A registry with two versions; production -> 1.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let registry = Registry::open(dir.path())?;
    for (depth, seed) in [(2, 1), (6, 2)] {
        registry.register(common::tree_artifact("recommender", 800, seed, depth)?)?;
    }
    registry.set_alias("recommender", "production", 1)?;

    // The recorder first, so the monitor's metrics reach it.
    let metrics = modelhost::monitor::prometheus::install()?;
    let served = Arc::new(
        Serving::from_registry(&registry, "recommender@production")?
            .monitor(|m| m)
            .watch_every(Duration::from_millis(50))
            .start()?,
    );
    println!(
        "1. serving recommender version {} with a monitor",
        served.metadata()?.version
    );

    // The shop's router, with the transport nested under /ml.
    let ml = HttpTransport::new().model(served.clone()).build()?;
    let app = Router::new()
        .route("/recommend", post(recommend))
        .route("/outcome", post(outcome))
        .route("/metrics", get(render_metrics))
        .with_state(Shop {
            served: served.clone(),
            metrics,
        })
        .nest("/ml", ml);

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(modelhost::transport::http::serve_on(listener, app, async {
        let _ = stopped.await;
    }));
    println!("   the shop listens on {base}");

    // From here on, the example is the shop's front end.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |path: &str, body: Value| -> (u16, Value) {
        let mut r = agent
            .post(&format!("{base}{path}"))
            .header("content-type", "application/json")
            .send(body.to_string())
            .expect("the shop answers");
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    };
    let visit = |id: &str, device: &str| {
        let candidates: Vec<Value> = (0..8)
            .map(|i| json!({ "sku": format!("sku-{i}"), "product_price": 5.0 + 17.5 * f64::from(i) }))
            .collect();
        json!({
            "visit_id": id, "recency_days": 3, "frequency": 5, "basket_value": 80.0,
            "device": device, "is_returning": true, "candidates": candidates
        })
    };

    // 2. A recommendation, and a visit the schema refuses.
    let (status, body) = post("/recommend", visit("visit-1", "desktop"));
    println!("2. POST /recommend -> {status} {body}");
    assert_eq!(status, 200);
    let (status, body) = post("/recommend", visit("visit-2", "smart-fridge"));
    println!("   an unknown device -> {status} {body}");
    assert_eq!(status, 400);

    // 3. The visitor bought: the monitor joins it to visit-1's prediction.
    let shown = body_first_candidate(&post("/recommend", visit("visit-1", "desktop")).1);
    let (status, body) = post(
        "/outcome",
        json!({ "visit_id": "visit-1", "candidate": shown, "bought": true }),
    );
    println!("3. POST /outcome -> {status} {body}");
    assert_eq!(body["joined"], true);

    // 4. The process's metrics.
    let text = agent
        .get(&format!("{base}/metrics"))
        .call()
        .expect("metrics")
        .body_mut()
        .read_to_string()
        .expect("text");
    let requests = text
        .lines()
        .find(|l| l.starts_with("modelhost_requests_total") && l.contains("outcome=\"ok\""))
        .unwrap_or("(no requests counted yet)");
    println!("4. GET /metrics -> {requests}");

    // 5. The same model for other services, under /ml.
    let meta: Value = serde_json::from_str(
        &agent
            .get(&format!("{base}/ml/v2/models/recommender"))
            .call()
            .expect("metadata")
            .body_mut()
            .read_to_string()
            .expect("text"),
    )
    .expect("JSON");
    println!(
        "5. GET /ml/v2/models/recommender -> {} inputs, versions {}",
        meta["inputs"].as_array().map_or(0, Vec::len),
        meta["versions"]
    );

    // 6. Promote version 2; the watcher swaps it in while the shop serves.
    registry.set_alias("recommender", "production", 2)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let version = loop {
        let (_, body) = post("/recommend", visit("visit-3", "mobile"));
        let v = body["model_version"].as_u64().unwrap_or(0);
        if v == 2 || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    println!("6. after promoting version 2, /recommend answers from version {version}");
    assert_eq!(version, 2);

    let _ = stop.send(());
    runtime
        .block_on(server)
        .expect("the server task")
        .expect("a clean shutdown");
    println!("done: the shop stopped cleanly");
    Ok(())
}
