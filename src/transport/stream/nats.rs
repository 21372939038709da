//! The NATS JetStream adapter of the stream loop.
//!
//! Events are pulled from a durable consumer (explicit acks, at most
//! [`NatsConfig::max_ack_pending`] unacknowledged, so the broker stops
//! handing out events while the model is behind). Outputs and dead letters
//! are published with a `Nats-Msg-Id` header and the loop waits for the
//! stream's publish acknowledgement before acknowledging the event; the
//! output stream's duplicate window (2 minutes by default) drops the copy a
//! redelivered event publishes again. Acknowledgements are double acks: the
//! loop waits for the broker to confirm them, so shutdown returns only once
//! every finished event is acknowledged.
//!
//! [`NatsStream::connect`] creates what is missing: the input stream (with
//! the input subject) and the output stream (with the output and
//! dead-letter subjects), and the durable consumer. Existing streams are used
//! as they are. The server's own redelivery limit is left unlimited: the loop
//! counts deliveries itself and dead-letters an event after
//! [`StreamOptions::max_deliver`](super::StreamOptions::max_deliver), so no
//! event is ever silently dropped by the broker.
//!
//! ```no_run
//! # use std::sync::Arc;
//! # async fn run(server: Arc<dyn modelhost::ModelServer>) -> Result<(), Box<dyn std::error::Error>> {
//! use modelhost::transport::stream::StreamOptions;
//! use modelhost::transport::stream::nats::{NatsConfig, NatsStream};
//!
//! let config = NatsConfig::new("nats://127.0.0.1:4222", "shop.events", "shop.predictions")
//!     .dead_letter_subject("shop.dead");
//! let stream = NatsStream::connect(config).await?;
//! let counts = stream
//!     .run(server, StreamOptions::new(), async {
//!         let _ = tokio::signal::ctrl_c().await;
//!     })
//!     .await;
//! println!("{} published, {} dead-lettered", counts.published, counts.dead_lettered);
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, AckKind, Context, stream};
use futures_util::StreamExt;

use super::{
    BrokerError, Delivery, Destination, Outgoing, Position, Sink, Source, StreamCounts,
    StreamOptions, StreamStats,
};
use crate::server::ModelServer;

/// Where the events come from and where predictions go.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NatsConfig {
    /// The server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The subject events are published on.
    pub input_subject: String,
    /// The JetStream stream holding them (created with the input subject if
    /// missing; default `MODELHOST_EVENTS`).
    pub input_stream: String,
    /// The durable consumer's name (default `modelhost`).
    pub durable: String,
    /// The subject predictions are published on.
    pub output_subject: String,
    /// The subject of dead letters (default: the output subject + `.dead`).
    pub dead_letter_subject: String,
    /// The stream holding outputs and dead letters (created if missing;
    /// default `MODELHOST_PREDICTIONS`).
    pub output_stream: String,
    /// Most events handed out and not yet acknowledged (default 1,024).
    pub max_ack_pending: i64,
    /// How long the broker waits for an acknowledgement before delivering
    /// an event again (default 30 s).
    pub ack_wait: Duration,
    /// Events per pull request (default 128).
    pub pull_batch: usize,
}

impl NatsConfig {
    /// Events from `input_subject` on the server at `url`, predictions to
    /// `output_subject`, with the defaults.
    pub fn new(
        url: impl Into<String>,
        input_subject: impl Into<String>,
        output_subject: impl Into<String>,
    ) -> Self {
        let output_subject = output_subject.into();
        Self {
            url: url.into(),
            input_subject: input_subject.into(),
            input_stream: "MODELHOST_EVENTS".to_owned(),
            durable: "modelhost".to_owned(),
            dead_letter_subject: format!("{output_subject}.dead"),
            output_subject,
            output_stream: "MODELHOST_PREDICTIONS".to_owned(),
            max_ack_pending: 1_024,
            ack_wait: Duration::from_secs(30),
            pull_batch: 128,
        }
    }

    /// Sets [`dead_letter_subject`](Self::dead_letter_subject).
    #[must_use]
    pub fn dead_letter_subject(mut self, subject: impl Into<String>) -> Self {
        self.dead_letter_subject = subject.into();
        self
    }

    /// Sets [`input_stream`](Self::input_stream).
    #[must_use]
    pub fn input_stream(mut self, name: impl Into<String>) -> Self {
        self.input_stream = name.into();
        self
    }

    /// Sets [`output_stream`](Self::output_stream).
    #[must_use]
    pub fn output_stream(mut self, name: impl Into<String>) -> Self {
        self.output_stream = name.into();
        self
    }

    /// Sets [`durable`](Self::durable).
    #[must_use]
    pub fn durable(mut self, name: impl Into<String>) -> Self {
        self.durable = name.into();
        self
    }

    /// Sets [`max_ack_pending`](Self::max_ack_pending) (at least 1).
    #[must_use]
    pub fn max_ack_pending(mut self, n: i64) -> Self {
        self.max_ack_pending = n.max(1);
        self
    }

    /// Sets [`ack_wait`](Self::ack_wait).
    #[must_use]
    pub fn ack_wait(mut self, wait: Duration) -> Self {
        self.ack_wait = wait;
        self
    }

    /// Sets [`pull_batch`](Self::pull_batch) (at least 1).
    #[must_use]
    pub fn pull_batch(mut self, n: usize) -> Self {
        self.pull_batch = n.max(1);
        self
    }
}

/// A connected consumer, ready to [`run`](Self::run).
#[derive(Debug)]
pub struct NatsStream {
    consumer: PullConsumer,
    sink: Arc<NatsSink>,
    config: NatsConfig,
    stats: Arc<StreamStats>,
}

impl NatsStream {
    /// Connects, creates the streams and the durable consumer if missing.
    ///
    /// # Errors
    ///
    /// [`BrokerError`] when the server cannot be reached, or a stream or the
    /// consumer cannot be created (a subject already taken by another
    /// stream, say).
    pub async fn connect(config: NatsConfig) -> Result<Self, BrokerError> {
        let client = async_nats::ConnectOptions::new()
            .name("modelhost stream")
            .connection_timeout(Duration::from_secs(5))
            // Reconnect quickly after a broker restart, forever.
            .reconnect_delay_callback(|attempt| Duration::from_millis(100 * attempt.min(20) as u64))
            .connect(config.url.as_str())
            .await
            .map_err(|e| BrokerError::new(format!("connect to {}", config.url), e))?;
        let js = jetstream::new(client);
        let input = js
            .get_or_create_stream(stream::Config {
                name: config.input_stream.clone(),
                subjects: vec![config.input_subject.clone()],
                ..Default::default()
            })
            .await
            .map_err(|e| BrokerError::new(format!("open stream {}", config.input_stream), e))?;
        js.get_or_create_stream(stream::Config {
            name: config.output_stream.clone(),
            subjects: vec![
                config.output_subject.clone(),
                config.dead_letter_subject.clone(),
            ],
            ..Default::default()
        })
        .await
        .map_err(|e| BrokerError::new(format!("open stream {}", config.output_stream), e))?;
        let consumer: PullConsumer = input
            .get_or_create_consumer(
                &config.durable,
                pull::Config {
                    durable_name: Some(config.durable.clone()),
                    ack_policy: AckPolicy::Explicit,
                    deliver_policy: DeliverPolicy::All,
                    ack_wait: config.ack_wait,
                    max_ack_pending: config.max_ack_pending,
                    max_deliver: -1,
                    filter_subject: config.input_subject.clone(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| BrokerError::new(format!("open consumer {}", config.durable), e))?;
        let sink = Arc::new(NatsSink {
            js,
            output: config.output_subject.clone(),
            dead_letter: config.dead_letter_subject.clone(),
        });
        Ok(Self {
            consumer,
            sink,
            config,
            stats: Arc::new(StreamStats::default()),
        })
    }

    /// The loop's counts, readable while it runs.
    #[must_use]
    pub fn stats(&self) -> Arc<StreamStats> {
        self.stats.clone()
    }

    /// Runs the loop (see [`super::run`]) until `shutdown` resolves.
    pub async fn run(
        self,
        server: Arc<dyn ModelServer>,
        options: StreamOptions,
        shutdown: impl Future<Output = ()> + Send,
    ) -> StreamCounts {
        let source = NatsSource {
            consumer: self.consumer,
            messages: None,
            batch: self.config.pull_batch,
        };
        super::run(source, self.sink, server, options, self.stats, shutdown).await
    }
}

struct NatsSource {
    consumer: PullConsumer,
    messages: Option<pull::Stream>,
    batch: usize,
}

impl Source for NatsSource {
    type Delivery = NatsDelivery;

    async fn next(&mut self) -> Option<Result<NatsDelivery, BrokerError>> {
        let messages = match &mut self.messages {
            Some(m) => m,
            None => {
                let opened = self
                    .consumer
                    .stream()
                    .max_messages_per_batch(self.batch)
                    .heartbeat(Duration::from_secs(5))
                    .expires(Duration::from_secs(30))
                    .messages()
                    .await;
                match opened {
                    Ok(m) => self.messages.insert(m),
                    Err(e) => return Some(Err(BrokerError::new("pull events", e))),
                }
            }
        };
        match messages.next().await {
            Some(Ok(message)) => Some(Ok(NatsDelivery::new(message))),
            // Trouble (missed heartbeats across a broker restart, say):
            // start a fresh pull next time.
            Some(Err(e)) => {
                self.messages = None;
                Some(Err(BrokerError::new("pull events", e)))
            }
            None => {
                self.messages = None;
                Some(Err(BrokerError::new("pull events", "the pull ended")))
            }
        }
    }
}

/// One JetStream message with its position read once.
struct NatsDelivery {
    message: jetstream::Message,
    position: Position,
    pending: Option<u64>,
}

impl NatsDelivery {
    fn new(message: jetstream::Message) -> Self {
        let (position, pending) = match message.info() {
            Ok(info) => (
                Position {
                    stream: info.stream.to_owned(),
                    sequence: info.stream_sequence,
                    deliveries: u64::try_from(info.delivered).unwrap_or(1).max(1),
                },
                Some(info.pending),
            ),
            // Without a reply subject there is no position; the id is then
            // unique to this delivery only.
            Err(_) => (
                Position {
                    stream: message.subject.to_string(),
                    sequence: 0,
                    deliveries: 1,
                },
                None,
            ),
        };
        Self {
            message,
            position,
            pending,
        }
    }
}

impl Delivery for NatsDelivery {
    fn payload(&self) -> &[u8] {
        &self.message.payload
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.message
            .headers
            .as_ref()?
            .get(name)
            .map(async_nats::HeaderValue::as_str)
    }

    fn position(&self) -> Position {
        self.position.clone()
    }

    fn pending(&self) -> Option<u64> {
        self.pending
    }

    async fn ack(&self) -> Result<(), BrokerError> {
        self.message
            .double_ack()
            .await
            .map_err(|e| BrokerError::new("acknowledge an event", e))
    }

    async fn retry(&self, delay: Duration) -> Result<(), BrokerError> {
        self.message
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| BrokerError::new("hand an event back", e))
    }
}

#[derive(Debug)]
struct NatsSink {
    js: Context,
    output: String,
    dead_letter: String,
}

impl Sink for NatsSink {
    async fn publish(&self, message: Outgoing) -> Result<(), BrokerError> {
        let subject = match message.destination {
            Destination::Output => self.output.clone(),
            Destination::DeadLetter => self.dead_letter.clone(),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in message.headers {
            headers.insert(name, value.as_str());
        }
        let publish = PublishMessage::build()
            .payload(message.payload.into())
            .headers(headers)
            .message_id(&message.dedup_id);
        let ack = self
            .js
            .send_publish(subject.clone(), publish)
            .await
            .map_err(|e| BrokerError::new(format!("publish to {subject}"), e))?;
        ack.await
            .map_err(|e| BrokerError::new(format!("confirm a publish to {subject}"), e))?;
        Ok(())
    }
}
