//! `modelhost serve`: the HTTP transport in front of an alias watcher.

use crate::io;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use modelhost::registry::{ModelRef, Registry};
use modelhost::transport::TransportError;
use modelhost::transport::http::{HttpTransport, ServeOptions, serve_with};
use std::sync::Arc;

use modelhost::monitor::LogSink;
use modelhost::{ModelServer, Serving};

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    /// The model to serve and the alias to follow, as `NAME@ALIAS`
    /// (`NAME/VERSION` pins a version).
    #[arg(long)]
    model: String,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// A file holding the bearer token of the admin endpoints (without
    /// one they are disabled).
    #[arg(long)]
    admin_token_file: Option<PathBuf>,
    #[command(flatten)]
    follow: crate::FollowArgs,
    /// The largest request body accepted, in bytes.
    #[arg(long, default_value_t = modelhost::transport::http::DEFAULT_BODY_LIMIT)]
    body_limit: usize,
    /// With --batch: requests that may wait; more are refused with 503.
    #[arg(long, default_value_t = 1024, requires = "batch")]
    batch_queue: usize,
    /// With --batch: a request still queued after this many milliseconds
    /// is answered 504 without reaching the model (default: no deadline).
    #[arg(long, requires = "batch")]
    batch_deadline_ms: Option<u64>,
    /// With --batch: worker threads calling the model.
    #[arg(long, default_value_t = 1, requires = "batch")]
    batch_workers: usize,
    /// Inference requests answered at once; more get 503 with
    /// Retry-After.
    #[arg(long, default_value_t = modelhost::transport::http::DEFAULT_MAX_IN_FLIGHT)]
    max_in_flight: usize,
    /// Open connections at most; more are answered 503 and closed
    /// (default: three quarters of the open-file limit).
    #[arg(long)]
    max_connections: Option<usize>,
    /// Milliseconds a client has to send a request's headers; also the
    /// longest a kept-alive connection may stay idle.
    #[arg(long, default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Milliseconds a request has from its headers to its answer, body
    /// upload included (408 after).
    #[arg(long, default_value_t = 30_000)]
    request_timeout_ms: u64,
    /// Attach a monitor: drift against the artifact's training
    /// statistics, live quality from `POST /v2/models/NAME/feedback`,
    /// alerts in the log; its metrics join `/metrics` and its report is
    /// `GET /v2/models/NAME/report`.
    #[arg(long)]
    monitor: bool,
    /// Milliseconds in-flight requests get to finish on shutdown.
    #[arg(long, default_value_t = 10_000)]
    drain_timeout_ms: u64,
    /// Also serve the Open Inference Protocol over gRPC on this address
    /// (the same models, limits, statistics and admin token).
    #[cfg(feature = "grpc")]
    #[arg(long)]
    grpc_addr: Option<SocketAddr>,
}

pub(crate) fn run(args: ServeArgs, registry: Registry) -> modelhost::Result<()> {
    let reference: ModelRef = args.model.parse()?;
    let token = match &args.admin_token_file {
        None => None,
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(io(format!("read {}", path.display())))?;
            let token = text.trim().to_owned();
            if token.is_empty() {
                return Err(TransportError::InvalidConfig {
                    reason: format!("{} holds no token", path.display()),
                }
                .into());
            }
            Some(token)
        }
    };
    let options = args.follow.watch_options();
    // The recorder before the monitor, so the monitor's metrics reach it.
    let recorder = if args.monitor {
        Some(modelhost::monitor::prometheus::install()?)
    } else {
        None
    };
    let mut serving =
        Serving::from_registry(&registry, reference.to_string())?.watch_options(options);
    if args.monitor {
        // Drift against the artifact's reference statistics, live
        // quality from /feedback, and alerts in the log.
        serving = serving.monitor(|m| m.sink(Arc::new(LogSink)));
    }
    if let Some(config) = args.follow.batch_config() {
        let mut config = config
            .queue_capacity(args.batch_queue)
            .workers(args.batch_workers);
        if let Some(ms) = args.batch_deadline_ms {
            config = config.default_deadline(Duration::from_millis(ms));
        }
        serving = serving.batching(config.build()?);
    }
    let served = Arc::new(serving.start()?);
    let server = served.server().clone();
    let meta = server.metadata()?;
    let monitor = served.monitor().cloned();
    let front: Arc<dyn ModelServer> = served.clone();
    let mut http = HttpTransport::new()
        .managed_model_via(front, server, registry, reference.clone())
        .body_limit(args.body_limit)
        .max_in_flight(args.max_in_flight);
    if let Some(token) = token {
        http = http.admin_token(token);
    }
    if let Some(m) = monitor {
        let folding = m.clone();
        http = http.monitor(m);
        if let Some(handle) = recorder {
            // A scrape folds what the server counted since the monitor's
            // last tick, so it is exact.
            http = http.metrics_renderer(Arc::new(move || {
                folding.flush();
                handle.render()
            }));
        }
    }
    #[cfg(feature = "grpc")]
    let (router, grpc) = match args.grpc_addr {
        Some(addr) => {
            let (router, grpc) = http.build_with_grpc()?;
            (router, Some((addr, grpc)))
        }
        None => (http.build()?, None),
    };
    #[cfg(not(feature = "grpc"))]
    let router = http.build()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io("start the async runtime"))?;
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .map_err(io(format!("listen on {}", args.addr)))?;
        let local = listener
            .local_addr()
            .map_err(io("read the bound address"))?;
        say!(
            "serving {reference} (version {}) on http://{local}",
            meta.version
        );
        let mut serve = ServeOptions::new()
            .header_read_timeout(Duration::from_millis(args.header_timeout_ms.max(1)))
            .request_timeout(Duration::from_millis(args.request_timeout_ms.max(1)))
            .drain_timeout(Duration::from_millis(args.drain_timeout_ms));
        if let Some(n) = args.max_connections {
            serve = serve.max_connections(n);
        }
        // One signal stops every listener.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        });
        let signal = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        #[cfg(feature = "grpc")]
        let grpc = match grpc {
            Some((addr, service)) => {
                // Bound here, so a taken port stops the start.
                let incoming = tonic::transport::server::TcpIncoming::bind(addr)
                    .map_err(io(format!("listen on {addr} (gRPC)")))?
                    .with_nodelay(Some(true));
                say!("serving {reference} over gRPC on {addr}");
                let server = tonic::transport::Server::builder()
                    .timeout(Duration::from_millis(args.request_timeout_ms.max(1)))
                    .add_service(service)
                    .serve_with_incoming_shutdown(incoming, signal(stopped.clone()));
                Some(tokio::spawn(server))
            }
            None => None,
        };
        let http = serve_with(listener, router, signal(stopped), serve)
            .await
            .map_err(io("serve"));
        #[cfg(feature = "grpc")]
        if let Some(grpc) = grpc {
            match grpc.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    return Err(TransportError::io("serve gRPC", std::io::Error::other(e)).into());
                }
                Err(e) => {
                    return Err(TransportError::io("serve gRPC", std::io::Error::other(e)).into());
                }
            }
        }
        http
    });
    // Stop following the alias and let a batcher answer what it queued.
    match Arc::try_unwrap(served) {
        Ok(served) => served.shutdown(Duration::from_secs(5)),
        Err(still_shared) => drop(still_shared),
    }
    say!("stopped");
    result
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        let ctrl_c = std::pin::pin!(ctrl_c);
        let term = std::pin::pin!(term);
        futures_select(ctrl_c, term).await;
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

/// Completes when either future does.
async fn futures_select(
    a: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
    b: std::pin::Pin<&mut impl std::future::Future<Output = ()>>,
) {
    let (mut a, mut b) = (a, b);
    std::future::poll_fn(|cx| {
        if a.as_mut().poll(cx).is_ready() || b.as_mut().poll(cx).is_ready() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
}
