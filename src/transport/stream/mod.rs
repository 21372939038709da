//! Predictions for event streams: a consumer that takes events from a
//! broker, predicts each through any [`ModelServer`], publishes the
//! prediction, and acknowledges the event only after the broker confirmed
//! the publish.
//!
//! The loop is broker-agnostic: a broker adapter provides a [`Source`] of
//! [`Delivery`]s and a [`Sink`]; [`nats`] is the NATS JetStream adapter
//! (`modelhost stream` runs it). Per event:
//!
//! 1. **Decode** the payload, read with a size limit
//!    ([`StreamOptions::max_payload`]): a JSON object is one row (a feature
//!    map), a JSON array a batch of rows (at most
//!    [`StreamOptions::max_rows`]). An envelope
//!    `{"id": "...", "features": {...}}` or `{"id": "...", "rows": [...]}`
//!    (an object whose only keys are `id` and `features` or `rows`) carries
//!    the request id in the body; otherwise it comes from the header named by
//!    [`StreamOptions::id_header`] (`Request-Id`), and without one it is
//!    `STREAM:SEQUENCE`.
//! 2. **Predict** through the server's `predict_async`, so a
//!    [`Batcher`](crate::Batcher) in front batches events that arrive
//!    together, and a swap mid-stream fails nothing: every output names the
//!    version that computed it.
//! 3. **Publish** the [`StreamOutput`] (JSON) to the output destination with
//!    a de-duplication id derived from the event's position
//!    (`STREAM:SEQUENCE`), which stays the same when the event is delivered
//!    again. Then **acknowledge** the event. A crash between the two
//!    redelivers the event; its output is published again under the same id
//!    and dropped by the broker's de-duplication window: at least once end
//!    to end, exactly once in effect within the window.
//!
//! Events that can never succeed go to the **dead-letter** destination and
//! are then acknowledged: malformed JSON, payloads over the limit, schema
//! violations. The dead letter's body is the original payload, byte for
//! byte; headers say why (`Modelhost-Error-Kind`, `Modelhost-Error`, bounded
//! to one line of at most 512 bytes) and where it came from
//! (`Modelhost-Input-Stream`, `Modelhost-Input-Sequence`,
//! `Modelhost-Deliveries`, `Modelhost-Request-Id`). Model failures (a
//! failing or panicking model, an overloaded batcher) are retried after
//! [`StreamOptions::retry_delay`] up to [`StreamOptions::max_deliver`]
//! deliveries, then dead-lettered with kind `model`. A server without room
//! (a full batcher queue, a deadline passed in its queue, not ready, shutting
//! down) is not the event's fault nor the model's: such events are retried
//! after the delay for as long as it lasts, never dead-lettered. A publish the broker
//! does not confirm leaves the event unacknowledged: it is retried, never
//! lost.
//!
//! The events in flight are polled by the loop's own task, so a model called
//! inline (an [`InProcessServer`](crate::InProcessServer) without a batcher)
//! runs on that task: right for microsecond models, which it keeps free of
//! hand-offs; a slow model should have a [`Batcher`](crate::Batcher) in
//! front, which calls it on its own workers while the loop goes on
//! publishing and acknowledging.
//!
//! At most [`StreamOptions::max_in_flight`] events are processed at once (and
//! adapters bound what the broker hands out, as JetStream's max ack pending
//! does), so a slow model slows the consumer instead of filling memory. On
//! shutdown the loop stops taking events, finishes and acknowledges those in
//! flight, and returns; events the adapter had fetched but not handed out
//! are not acknowledged and are redelivered to the next consumer.
//!
//! Counters go through the `metrics` facade:
//! `modelhost_stream_consumed_total`, `modelhost_stream_published_total`,
//! `modelhost_stream_dead_lettered_total{reason}`,
//! `modelhost_stream_redelivered_total` (events seen more than once),
//! `modelhost_stream_retried_total`, `modelhost_stream_broker_errors_total`,
//! the gauge `modelhost_stream_lag` (events waiting in the broker for this
//! consumer) and the histogram `modelhost_stream_latency_seconds` (event
//! received to output confirmed).
//!
//! ## The same design on Kafka
//!
//! A Kafka adapter maps one to one: the source is a consumer in a consumer
//! group with auto-commit off; "acknowledge" is committing the partition's
//! offset after the produce of the output was acknowledged (`acks=all`), in
//! offset order per partition; the de-duplication id is
//! `TOPIC:PARTITION:OFFSET`, used as the record key with an idempotent
//! producer (or a transactional one with `sendOffsetsToTransaction` for
//! exactly once); "retry later" is not committing and seeking back, and the
//! dead letter is a topic of its own. Lag is the group's lag.

pub mod nats;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::{OutputKind, Prediction};
use crate::schema::FeatureMap;
use crate::server::{ModelServer, PredictRequest, PredictResponse};

/// Limits and retry policy of the stream loop.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StreamOptions {
    /// Most events processed at once (default 256).
    pub max_in_flight: usize,
    /// Deliveries of an event whose prediction fails before it is
    /// dead-lettered (default 5).
    pub max_deliver: u32,
    /// How long a failed event waits before its next delivery (default 1 s).
    pub retry_delay: Duration,
    /// Largest payload decoded, in bytes (default 1 MiB); larger ones are
    /// dead-lettered unread.
    pub max_payload: usize,
    /// Most rows in one batch event (default 1,000).
    pub max_rows: usize,
    /// The header that carries a request id (default `Request-Id`).
    pub id_header: String,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            max_in_flight: 256,
            max_deliver: 5,
            retry_delay: Duration::from_secs(1),
            max_payload: 1 << 20,
            max_rows: 1_000,
            id_header: "Request-Id".to_owned(),
        }
    }
}

impl StreamOptions {
    /// The defaults.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`max_in_flight`](Self::max_in_flight) (at least 1).
    #[must_use]
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Sets [`max_deliver`](Self::max_deliver) (at least 1).
    #[must_use]
    pub fn max_deliver(mut self, n: u32) -> Self {
        self.max_deliver = n.max(1);
        self
    }

    /// Sets [`retry_delay`](Self::retry_delay).
    #[must_use]
    pub fn retry_delay(mut self, delay: Duration) -> Self {
        self.retry_delay = delay;
        self
    }

    /// Sets [`max_payload`](Self::max_payload).
    #[must_use]
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Sets [`max_rows`](Self::max_rows) (at least 1).
    #[must_use]
    pub fn max_rows(mut self, rows: usize) -> Self {
        self.max_rows = rows.max(1);
        self
    }

    /// Sets [`id_header`](Self::id_header).
    #[must_use]
    pub fn id_header(mut self, name: impl Into<String>) -> Self {
        self.id_header = name.into();
        self
    }
}

/// A broker operation that failed (connection lost, publish not
/// confirmed, acknowledgement refused).
#[derive(Debug, Clone, thiserror::Error)]
#[error("broker: cannot {action}: {reason}")]
pub struct BrokerError {
    /// What was attempted.
    pub action: String,
    /// The broker's or client's reason, bounded.
    pub reason: String,
}

impl BrokerError {
    /// A failed `action` for `reason`.
    pub fn new(action: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Self {
            action: action.into(),
            reason: one_line(&reason.to_string(), 512),
        }
    }
}

/// Where an event sits in its broker: what names it across deliveries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// The stream (topic) it was read from.
    pub stream: String,
    /// Its sequence (offset) there.
    pub sequence: u64,
    /// How many times it has been delivered, this time included.
    pub deliveries: u64,
}

impl Position {
    /// `STREAM:SEQUENCE`: the same for every delivery of the event.
    #[must_use]
    pub fn key(&self) -> String {
        format!("{}:{}", self.stream, self.sequence)
    }
}

/// One delivered event, as a broker adapter hands it to the loop.
pub trait Delivery: Send + 'static {
    /// The payload.
    fn payload(&self) -> &[u8];
    /// A header's value, if present.
    fn header(&self, name: &str) -> Option<&str>;
    /// Where the event sits in the broker.
    fn position(&self) -> Position;
    /// Events waiting in the broker behind this one, where known.
    fn pending(&self) -> Option<u64> {
        None
    }
    /// Acknowledges the event (and waits for the broker to confirm it).
    fn ack(&self) -> impl Future<Output = Result<(), BrokerError>> + Send;
    /// Asks for the event again after `delay`.
    fn retry(&self, delay: Duration) -> impl Future<Output = Result<(), BrokerError>> + Send;
}

/// The events of a broker. `next` yields `None` only when the source is
/// closed for good; transient trouble is an `Err` item, after which the
/// loop asks again.
pub trait Source: Send {
    /// The adapter's delivery.
    type Delivery: Delivery;
    /// The next event.
    fn next(&mut self) -> impl Future<Output = Option<Result<Self::Delivery, BrokerError>>> + Send;
}

/// Where an outgoing message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The predictions.
    Output,
    /// Events that could not be predicted.
    DeadLetter,
}

/// A message for the [`Sink`].
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Output or dead letter.
    pub destination: Destination,
    /// The de-duplication id: the same for every attempt at the same event.
    pub dedup_id: String,
    /// Headers to set.
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub payload: Vec<u8>,
}

/// Publishes messages and resolves when the broker confirmed them.
pub trait Sink: Send + Sync + 'static {
    /// Publishes `message`; `Ok` only once the broker stored it (or
    /// recognised it as a duplicate).
    fn publish(&self, message: Outgoing) -> impl Future<Output = Result<(), BrokerError>> + Send;
}

/// The output published for one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamOutput {
    /// The request id (from the envelope, the id header, or the position).
    pub id: String,
    /// The model.
    pub model: String,
    /// The version that computed every prediction of this event.
    pub version: u64,
    /// The labels, in the order of each prediction's `probabilities`
    /// (classifiers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// One prediction per row.
    pub predictions: Vec<Prediction>,
    /// Where the event was read.
    pub input: Position,
    /// Microseconds from receiving the event to its prediction.
    pub latency_us: u64,
}

/// Counts of one loop, readable while it runs.
#[derive(Debug, Default)]
pub struct StreamStats {
    consumed: AtomicU64,
    published: AtomicU64,
    dead_lettered: AtomicU64,
    retried: AtomicU64,
    redelivered: AtomicU64,
    broker_errors: AtomicU64,
}

/// A snapshot of [`StreamStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct StreamCounts {
    /// Deliveries taken from the source.
    pub consumed: u64,
    /// Outputs published and their events acknowledged.
    pub published: u64,
    /// Events dead-lettered and acknowledged.
    pub dead_lettered: u64,
    /// Deliveries handed back for a later retry (model failures).
    pub retried: u64,
    /// Deliveries of events seen before.
    pub redelivered: u64,
    /// Broker operations that failed (their events stay unacknowledged).
    pub broker_errors: u64,
}

impl StreamStats {
    /// The counts now.
    #[must_use]
    pub fn counts(&self) -> StreamCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        StreamCounts {
            consumed: get(&self.consumed),
            published: get(&self.published),
            dead_lettered: get(&self.dead_lettered),
            retried: get(&self.retried),
            redelivered: get(&self.redelivered),
            broker_errors: get(&self.broker_errors),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// Runs the loop until `shutdown` resolves or the source closes, then
/// finishes the events in flight. Returns the final counts.
///
/// Broker trouble never ends the loop: a failed publish or acknowledgement
/// leaves its event to be delivered again, and an error from the source is
/// counted and the source asked again.
pub async fn run<S, K>(
    mut source: S,
    sink: Arc<K>,
    server: Arc<dyn ModelServer>,
    options: StreamOptions,
    stats: Arc<StreamStats>,
    shutdown: impl Future<Output = ()> + Send,
) -> StreamCounts
where
    S: Source,
    K: Sink,
{
    let options = Arc::new(options);
    let mut in_flight = FuturesUnordered::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut open = true;
    while open {
        tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(()) = in_flight.next(), if !in_flight.is_empty() => {}
            next = source.next(), if in_flight.len() < options.max_in_flight => match next {
                None => open = false,
                Some(Err(e)) => {
                    bump(&stats.broker_errors);
                    metrics::counter!("modelhost_stream_broker_errors_total").increment(1);
                    emit!(warn, "stream: {e}");
                    // A source in trouble (a broker restarting) must not
                    // spin: wait a little before asking again.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Some(Ok(delivery)) => in_flight.push(handle(
                    delivery,
                    sink.clone(),
                    server.clone(),
                    options.clone(),
                    stats.clone(),
                )),
            },
        }
    }
    // Finish (publish, acknowledge) what was taken.
    while in_flight.next().await.is_some() {}
    stats.counts()
}

/// What went wrong with one event.
enum Failure {
    /// It can never succeed: dead-letter it now.
    Rejected { kind: &'static str, message: String },
    /// The model failed: retry, or dead-letter after the last delivery.
    Model(String),
    /// The server had no room or was not ready (a full batcher queue, a
    /// deadline passed in the queue, a swap or shutdown in progress): the
    /// event is fine and so is the model, so it is retried without limit.
    Busy(String),
}

async fn handle<D: Delivery, K: Sink>(
    delivery: D,
    sink: Arc<K>,
    server: Arc<dyn ModelServer>,
    options: Arc<StreamOptions>,
    stats: Arc<StreamStats>,
) {
    let received = Instant::now();
    let position = delivery.position();
    bump(&stats.consumed);
    metrics::counter!("modelhost_stream_consumed_total").increment(1);
    if position.deliveries > 1 {
        bump(&stats.redelivered);
        metrics::counter!("modelhost_stream_redelivered_total").increment(1);
    }
    if let Some(pending) = delivery.pending() {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("modelhost_stream_lag").set(pending as f64);
    }
    let header_id = delivery
        .header(&options.id_header)
        .map(|id| one_line(id, 256));
    let outcome = match decode(delivery.payload(), &options) {
        Err(f) => Err((f, header_id.unwrap_or_else(|| position.key()))),
        Ok(event) => {
            let id = event
                .id
                .clone()
                .or(header_id)
                .unwrap_or_else(|| position.key());
            let request = match event.rows {
                Rows::One(map) => PredictRequest::owned(map),
                Rows::Many(rows) => PredictRequest::rows(rows),
            }
            .with_id(id.clone());
            match server.predict_async(request).await {
                Ok(response) => Ok((response, id)),
                Err(e) => Err((classify(&e), id)),
            }
        }
    };
    let result = match outcome {
        Ok((response, id)) => {
            let output = StreamOutput::new(&response, id, position.clone(), received.elapsed());
            publish_then_ack(&delivery, &*sink, output.message(), &stats).await
        }
        Err((Failure::Rejected { kind, message }, id)) => {
            dead_letter(&delivery, &*sink, &position, id, kind, &message, &stats).await
        }
        Err((Failure::Busy(message), _)) => {
            bump(&stats.retried);
            metrics::counter!("modelhost_stream_retried_total").increment(1);
            emit!(debug, "stream: event {} retried: {message}", position.key());
            delivery.retry(options.retry_delay).await
        }
        Err((Failure::Model(message), id)) => {
            if position.deliveries >= u64::from(options.max_deliver) {
                dead_letter(&delivery, &*sink, &position, id, "model", &message, &stats).await
            } else {
                bump(&stats.retried);
                metrics::counter!("modelhost_stream_retried_total").increment(1);
                delivery.retry(options.retry_delay).await
            }
        }
    };
    match result {
        Ok(()) => metrics::histogram!("modelhost_stream_latency_seconds")
            .record(received.elapsed().as_secs_f64()),
        Err(e) => {
            // Not acknowledged: the broker delivers the event again.
            bump(&stats.broker_errors);
            metrics::counter!("modelhost_stream_broker_errors_total").increment(1);
            emit!(warn, "stream: event {}: {e}", position.key());
        }
    }
}

async fn publish_then_ack<D: Delivery, K: Sink>(
    delivery: &D,
    sink: &K,
    message: Outgoing,
    stats: &StreamStats,
) -> Result<(), BrokerError> {
    sink.publish(message).await?;
    delivery.ack().await?;
    bump(&stats.published);
    metrics::counter!("modelhost_stream_published_total").increment(1);
    Ok(())
}

async fn dead_letter<D: Delivery, K: Sink>(
    delivery: &D,
    sink: &K,
    position: &Position,
    id: String,
    kind: &'static str,
    message: &str,
    stats: &StreamStats,
) -> Result<(), BrokerError> {
    let letter = Outgoing {
        destination: Destination::DeadLetter,
        dedup_id: format!("dead:{}", position.key()),
        headers: vec![
            ("Modelhost-Error-Kind", kind.to_owned()),
            ("Modelhost-Error", one_line(message, 512)),
            ("Modelhost-Input-Stream", one_line(&position.stream, 256)),
            ("Modelhost-Input-Sequence", position.sequence.to_string()),
            ("Modelhost-Deliveries", position.deliveries.to_string()),
            ("Modelhost-Request-Id", id),
        ],
        payload: delivery.payload().to_vec(),
    };
    sink.publish(letter).await?;
    delivery.ack().await?;
    bump(&stats.dead_lettered);
    metrics::counter!("modelhost_stream_dead_lettered_total", "reason" => kind).increment(1);
    Ok(())
}

/// Whether an error is the event's fault (dead-letter at once) or the
/// model's (retry).
fn classify(e: &Error) -> Failure {
    let rejected = |kind| Failure::Rejected {
        kind,
        message: e.to_string(),
    };
    match e {
        Error::Schema(_) | Error::WidthMismatch { .. } | Error::TypedInput { .. } => {
            rejected("schema")
        }
        Error::RequestTooLarge { .. } => rejected("too_large"),
        Error::Overloaded { .. }
        | Error::NotReady { .. }
        | Error::ShuttingDown
        | Error::DeadlineExceeded { .. } => Failure::Busy(e.to_string()),
        _ => Failure::Model(e.to_string()),
    }
}

enum Rows {
    One(FeatureMap),
    Many(Vec<FeatureMap>),
}

struct Event {
    id: Option<String>,
    rows: Rows,
}

/// Decodes a payload: a feature map, an array of them, or an envelope.
fn decode(payload: &[u8], options: &StreamOptions) -> Result<Event, Failure> {
    if payload.len() > options.max_payload {
        return Err(Failure::Rejected {
            kind: "too_large",
            message: format!(
                "the payload has {} bytes, the limit is {}",
                payload.len(),
                options.max_payload
            ),
        });
    }
    // Count containers before parsing, so a payload of a million tiny
    // objects is refused without building them: a valid event has one
    // object per row, plus an envelope.
    let (objects, arrays) = containers(payload);
    if objects > options.max_rows + 1 || arrays > 1 {
        return Err(Failure::Rejected {
            kind: if arrays > 1 { "malformed" } else { "too_large" },
            message: format!(
                "the payload holds {objects} objects and {arrays} arrays; an event is one \
                 feature map or an array of at most {} (feature values are scalars)",
                options.max_rows
            ),
        });
    }
    let malformed = |e: serde_json::Error| Failure::Rejected {
        kind: "malformed",
        message: format!("the payload is not a JSON feature map or array of them: {e}"),
    };
    let value: serde_json::Value = serde_json::from_slice(payload).map_err(malformed)?;
    let (id, body) = match value {
        serde_json::Value::Object(mut o)
            if o.keys()
                .all(|k| k == "id" || k == "features" || k == "rows")
                && (o.get("features").is_some_and(serde_json::Value::is_object)
                    ^ o.get("rows").is_some_and(serde_json::Value::is_array)) =>
        {
            let id = match o.remove("id") {
                None | Some(serde_json::Value::Null) => None,
                Some(serde_json::Value::String(s)) => Some(one_line(&s, 256)),
                Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                Some(_) => {
                    return Err(Failure::Rejected {
                        kind: "malformed",
                        message: "the envelope's `id` is not a string or number".into(),
                    });
                }
            };
            let body = o
                .remove("features")
                .or_else(|| o.remove("rows"))
                .unwrap_or_default();
            (id, body)
        }
        other => (None, other),
    };
    let rows = match body {
        serde_json::Value::Array(rows) => {
            if rows.len() > options.max_rows {
                return Err(Failure::Rejected {
                    kind: "too_large",
                    message: format!(
                        "the event has {} rows, the limit is {}",
                        rows.len(),
                        options.max_rows
                    ),
                });
            }
            if rows.is_empty() {
                return Err(Failure::Rejected {
                    kind: "malformed",
                    message: "the event has no rows".into(),
                });
            }
            Rows::Many(
                rows.into_iter()
                    .map(serde_json::from_value)
                    .collect::<Result<_, _>>()
                    .map_err(malformed)?,
            )
        }
        serde_json::Value::Object(_) => Rows::One(serde_json::from_value(body).map_err(malformed)?),
        _ => {
            return Err(Failure::Rejected {
                kind: "malformed",
                message: "the payload is neither a JSON object nor an array".into(),
            });
        }
    };
    Ok(Event { id, rows })
}

/// Objects and arrays in a JSON text, outside strings (a cheap scan: no
/// allocation, no validation).
fn containers(json: &[u8]) -> (usize, usize) {
    let (mut objects, mut arrays) = (0, 0);
    let mut in_string = false;
    let mut escaped = false;
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
        } else {
            match b {
                b'"' => in_string = true,
                b'{' => objects += 1,
                b'[' => arrays += 1,
                _ => {}
            }
        }
    }
    (objects, arrays)
}

impl StreamOutput {
    fn new(response: &PredictResponse, id: String, input: Position, latency: Duration) -> Self {
        Self {
            id,
            model: response.model.to_string(),
            version: response.version,
            labels: match &*response.output {
                OutputKind::Classification { labels, .. } => Some(labels.to_vec()),
                _ => None,
            },
            predictions: response.predictions.iter(&response.output).collect(),
            input,
            latency_us: u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
        }
    }

    fn message(&self) -> Outgoing {
        Outgoing {
            destination: Destination::Output,
            dedup_id: self.input.key(),
            headers: vec![
                ("Modelhost-Request-Id", self.id.clone()),
                ("Modelhost-Model-Version", self.version.to_string()),
                ("Content-Type", "application/json".to_owned()),
            ],
            payload: serde_json::to_vec(self).unwrap_or_default(),
        }
    }
}

/// `s` on one line (control characters as spaces), at most `max` bytes, cut
/// on a character boundary.
fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    for c in s.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > max {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> StreamOptions {
        StreamOptions::new().max_rows(2).max_payload(64)
    }

    fn rejected_kind(payload: &[u8]) -> &'static str {
        match decode(payload, &options()) {
            Err(Failure::Rejected { kind, .. }) => kind,
            Err(Failure::Model(_) | Failure::Busy(_)) => "model",
            Ok(_) => "accepted",
        }
    }

    #[test]
    fn decodes_maps_batches_and_envelopes() {
        let one = decode(br#"{"a": 1, "b": "x"}"#, &options()).ok().unwrap();
        assert!(one.id.is_none() && matches!(one.rows, Rows::One(_)));
        let many = decode(br#"[{"a": 1}, {"a": 2}]"#, &options()).ok().unwrap();
        assert!(matches!(many.rows, Rows::Many(r) if r.len() == 2));
        let env = decode(br#"{"id": "e-1", "features": {"a": 1}}"#, &options())
            .ok()
            .unwrap();
        assert_eq!(env.id.as_deref(), Some("e-1"));
        let env = decode(br#"{"id": 7, "rows": [{"a": 1}]}"#, &options())
            .ok()
            .unwrap();
        assert_eq!(env.id.as_deref(), Some("7"));
        // A feature named `id` in a plain map is a feature, not an id.
        let plain = decode(br#"{"id": 3, "a": 1}"#, &options()).ok().unwrap();
        assert!(plain.id.is_none() && matches!(plain.rows, Rows::One(m) if m.len() == 2));
    }

    #[test]
    fn refuses_what_can_never_succeed_with_its_reason() {
        assert_eq!(rejected_kind(b"{not json"), "malformed");
        assert_eq!(rejected_kind(b"42"), "malformed");
        assert_eq!(rejected_kind(b"[]"), "malformed");
        assert_eq!(rejected_kind(br#"[{"a":1},{"a":2},{"a":3}]"#), "too_large");
        assert_eq!(rejected_kind(&[b' '; 65]), "too_large");
        assert_eq!(
            rejected_kind(br#"{"id": [1], "features": {}}"#),
            "malformed"
        );
        assert_eq!(rejected_kind(br#"[1, 2]"#), "malformed");
        // Refused by counting, before any parsing.
        assert_eq!(rejected_kind(br#"[{}, {}, {}, {"#), "too_large");
        assert_eq!(rejected_kind(br#"{"a": [[1]]}"#), "malformed");
    }

    #[test]
    fn containers_are_counted_outside_strings_only() {
        assert_eq!(containers(br#"{"a{[": "}]\"{", "b": [1]}"#), (1, 1));
        assert_eq!(containers(b"[{},{}]"), (2, 1));
    }

    #[test]
    fn a_server_without_room_is_retried_not_dead_lettered() {
        let busy = [
            Error::Overloaded { capacity: 4 },
            Error::NotReady {
                reason: "loading".into(),
            },
            Error::ShuttingDown,
            Error::DeadlineExceeded {
                waited: Duration::from_millis(5),
            },
        ];
        for e in &busy {
            assert!(matches!(classify(e), Failure::Busy(_)), "{e}");
        }
        let failed = Error::Model {
            source: Arc::new(std::io::Error::other("boom")),
        };
        assert!(matches!(classify(&failed), Failure::Model(_)));
    }

    #[test]
    fn one_line_is_bounded_and_keeps_characters_whole() {
        assert_eq!(one_line("a\nb\r\tc", 100), "a b  c");
        assert_eq!(one_line("ééé", 5), "éé");
        assert_eq!(one_line(&"x".repeat(1000), 512).len(), 512);
    }
}
