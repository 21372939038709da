//! Predictions for an event stream: webshop visits arrive on a NATS
//! JetStream subject, the recommender scores each, and the predictions go
//! to another subject — the course's event case.
//!
//! Start a local broker with JetStream first (Debian: `apt install
//! nats-server`):
//!
//! ```text
//! nats-server -js -a 127.0.0.1 -p 4222 -sd /tmp/nats-store
//! cargo run --example stream --features nats
//! ```
//!
//! `MODELHOST_NATS_URL` names another server. The example publishes 1,000
//! visits (two of them broken), runs the stream loop until every visit has
//! its prediction or its dead letter, and prints a few of each.

#[path = "common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer};
use futures_util::StreamExt;
use modelhost::artifact::{Artifact, ReadOptions};
use modelhost::transport::stream::nats::{NatsConfig, NatsStream};
use modelhost::transport::stream::{StreamOptions, StreamOutput};
use modelhost::{InProcessServer, ModelServer};

const VISITS: &str = "shop.visits";
const PREDICTIONS: &str = "shop.recommendations";
const DEAD: &str = "shop.recommendations.dead";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::var("MODELHOST_NATS_URL").unwrap_or("nats://127.0.0.1:4222".into());

    // 1. Is a broker there? If not, say how to start one and stop here.
    let client = match async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(url.as_str())
        .await
    {
        Ok(c) => c,
        Err(e) => {
            println!("No NATS server at {url} ({e}).");
            println!("Start one with JetStream, then run this example again:");
            println!("    nats-server -js -a 127.0.0.1 -p 4222 -sd /tmp/nats-store");
            println!("(Debian and Ubuntu: `apt install nats-server`.)");
            return Ok(());
        }
    };
    let js = jetstream::new(client);

    // 2. The model: a decision tree trained on synthetic webshop visits,
    //    packed as an artifact and served in process.
    let options = ReadOptions::new();
    let bytes = common::tree_artifact("shop", 2_000, 7, 5)?.to_bytes()?;
    let loaded = Artifact::from_bytes(&bytes, options)?.into_loaded(options)?;
    let server: Arc<dyn ModelServer> = Arc::new(InProcessServer::new(loaded.deployment()?)?);

    // 3. The stream loop: it creates the event and prediction streams and a
    //    durable consumer if they are missing. A fresh run of the example
    //    starts from clean streams.
    for name in ["EXAMPLE_VISITS", "EXAMPLE_RECOMMENDATIONS"] {
        let _ = js.delete_stream(name).await;
    }
    let config = NatsConfig::new(&url, VISITS, PREDICTIONS)
        .dead_letter_subject(DEAD)
        .input_stream("EXAMPLE_VISITS")
        .output_stream("EXAMPLE_RECOMMENDATIONS")
        .durable("example");
    let stream = NatsStream::connect(config).await?;
    let stats = stream.stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(stream.run(server, StreamOptions::new(), async {
        let _ = stopped.await;
    }));

    // 4. Visits arrive: 998 good ones, one that is not JSON, one with a
    //    negative basket (the schema refuses it).
    let (visits, _) = common::webshop_data(1_000, 11, 0.0);
    let started = Instant::now();
    for (i, visit) in visits.iter().enumerate() {
        let payload = match i {
            100 => b"{this is not json".to_vec(),
            200 => {
                let mut bad = visit.clone();
                bad.insert("basket_value", -1.0);
                serde_json::to_vec(&bad)?
            }
            _ => serde_json::to_vec(visit)?,
        };
        // The visit's own id travels in a header and comes back in the
        // prediction.
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Request-Id", format!("visit-{i}").as_str());
        js.publish_with_headers(VISITS, headers, payload.into())
            .await?
            .await?;
    }

    // 5. Wait until every visit has its prediction or its dead letter.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c = stats.counts();
        if c.published + c.dead_lettered >= 1_000 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!("only {c:?} after 60 s").into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop.send(());
    let counts = running.await?;
    println!(
        "{} visits in {:.2?}: {} predictions published, {} dead letters",
        counts.consumed,
        started.elapsed(),
        counts.published,
        counts.dead_lettered
    );

    // 6. Read back a few predictions and both dead letters, as a downstream
    //    service would.
    let out = js.get_stream("EXAMPLE_RECOMMENDATIONS").await?;
    let reader: consumer::PullConsumer = out
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await?;
    let mut messages = reader.fetch().max_messages(1_000).messages().await?;
    let (mut shown, mut dead) = (0, 0);
    while let Some(message) = messages.next().await {
        let message = message.map_err(|e| e.to_string())?;
        if message.subject.as_str() == PREDICTIONS && shown < 3 {
            let p: StreamOutput = serde_json::from_slice(&message.payload)?;
            println!(
                "  {} -> {} (model {} version {}, {} µs)",
                p.id,
                serde_json::to_string(&p.predictions[0])?,
                p.model,
                p.version,
                p.latency_us
            );
            shown += 1;
        } else if message.subject.as_str() == DEAD {
            let h = message.headers.as_ref();
            let get = |k: &str| {
                h.and_then(|h| h.get(k))
                    .map_or("", |v| v.as_str())
                    .to_owned()
            };
            println!(
                "  dead letter {}: {} — {}",
                get("Modelhost-Request-Id"),
                get("Modelhost-Error-Kind"),
                get("Modelhost-Error")
            );
            dead += 1;
        }
    }
    assert_eq!((counts.published, dead), (998, 2));
    Ok(())
}
