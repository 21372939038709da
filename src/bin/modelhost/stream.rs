//! `modelhost stream`: predictions for a NATS JetStream event stream, from a
//! registry model that follows its alias.

use std::sync::Arc;
use std::time::Duration;

use modelhost::registry::{ModelRef, Registry};
use modelhost::transport::TransportError;
use modelhost::transport::stream::StreamOptions;
use modelhost::transport::stream::nats::{NatsConfig, NatsStream};
use modelhost::{Error, ModelServer, Serving};

use crate::io;

#[derive(clap::Args)]
pub(crate) struct StreamArgs {
    /// The model and the alias to follow, as `NAME@ALIAS` (`NAME/VERSION`
    /// pins a version).
    #[arg(long)]
    model: String,
    /// The NATS server.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    nats: String,
    /// The subject events arrive on.
    #[arg(long)]
    input: String,
    /// The subject predictions are published on.
    #[arg(long)]
    output: String,
    /// The subject of dead letters (default: OUTPUT.dead).
    #[arg(long)]
    dead_letter: Option<String>,
    /// The JetStream stream holding the events (created if missing).
    #[arg(long, default_value = "MODELHOST_EVENTS")]
    input_stream: String,
    /// The JetStream stream holding predictions and dead letters (created if
    /// missing).
    #[arg(long, default_value = "MODELHOST_PREDICTIONS")]
    output_stream: String,
    /// The durable consumer's name: consumers with the same name share the
    /// work and its progress survives restarts.
    #[arg(long, default_value = "modelhost")]
    durable: String,
    /// Events processed at once.
    #[arg(long, default_value_t = 256)]
    max_in_flight: usize,
    /// Events handed out by the broker and not yet acknowledged.
    #[arg(long, default_value_t = 1024)]
    max_ack_pending: i64,
    /// Deliveries of an event whose prediction fails before it is
    /// dead-lettered.
    #[arg(long, default_value_t = 5)]
    max_deliver: u32,
    /// Milliseconds before a failed event is delivered again.
    #[arg(long, default_value_t = 1000)]
    retry_delay_ms: u64,
    /// Seconds the broker waits for an acknowledgement before delivering an
    /// event again.
    #[arg(long, default_value_t = 30)]
    ack_wait_secs: u64,
    #[command(flatten)]
    follow: crate::FollowArgs,
}

pub(crate) fn run(args: StreamArgs, registry: Registry) -> modelhost::Result<()> {
    let reference: ModelRef = args.model.parse()?;
    let options = args.follow.watch_options();
    let mut serving =
        Serving::from_registry(&registry, reference.to_string())?.watch_options(options);
    if let Some(config) = args.follow.batch_config() {
        let config = config
            // Every event in flight may wait for a batch.
            .queue_capacity(args.max_in_flight.max(1));
        serving = serving.batching(config.build()?);
    }
    let served = Arc::new(serving.start()?);
    let version = served.metadata()?.version;
    let server: Arc<dyn ModelServer> = served;
    let mut config = NatsConfig::new(&args.nats, &args.input, &args.output)
        .input_stream(&args.input_stream)
        .output_stream(&args.output_stream)
        .durable(&args.durable)
        .max_ack_pending(args.max_ack_pending)
        .ack_wait(Duration::from_secs(args.ack_wait_secs.max(1)));
    if let Some(dead) = &args.dead_letter {
        config = config.dead_letter_subject(dead);
    }
    let dead_letter = config.dead_letter_subject.clone();
    let stream_options = StreamOptions::new()
        .max_in_flight(args.max_in_flight)
        .max_deliver(args.max_deliver)
        .retry_delay(Duration::from_millis(args.retry_delay_ms));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io("start the async runtime"))?;
    runtime.block_on(async {
        let stream = NatsStream::connect(config).await.map_err(|e| {
            Error::from(TransportError::InvalidConfig {
                reason: e.to_string(),
            })
        })?;
        say!(
            "streaming {reference} (version {version}): {} -> {} (dead letters: {dead_letter})",
            args.input,
            args.output
        );
        let counts = stream.run(server, stream_options, shutdown_signal()).await;
        say!(
            "stopped: {} consumed, {} published, {} dead-lettered, {} retried, {} broker errors",
            counts.consumed,
            counts.published,
            counts.dead_lettered,
            counts.retried,
            counts.broker_errors
        );
        Ok(())
    })
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
