//! Binding a socket and serving a router until shutdown, with timeouts, a
//! connection cap and a bounded drain.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

/// The default time a client has to send a request's headers, and the
/// longest a kept-alive connection may sit idle: 10 seconds.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The default time a request has from its headers to its answer, body
/// upload included: 30 seconds.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The default time in-flight requests get to finish after shutdown
/// begins: 10 seconds.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The answer to a connection beyond the cap, written before closing it.
const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 51\r\n\r\n\
{\"error\":\"too many open connections; retry later\"}\n";

/// How [`serve_with`] treats connections.
///
/// Every timeout is enforced by hyper's own timer or a tower layer, never
/// by a request handler:
///
/// | option | default | on expiry |
/// |---|---|---|
/// | [`header_read_timeout`](Self::header_read_timeout): headers of each request, and idle keep-alive time | 10 s | connection closed |
/// | [`request_timeout`](Self::request_timeout): from headers to answer, body upload included | 30 s | 408, connection closed |
/// | [`max_connections`](Self::max_connections): open connections | ¾ of the process's open-file limit | the excess gets 503 + `Retry-After` and is closed |
/// | [`drain_timeout`](Self::drain_timeout): in-flight requests after shutdown | 10 s | remaining connections dropped |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use modelhost::transport::http::ServeOptions;
///
/// let options = ServeOptions::new()
///     .header_read_timeout(Duration::from_secs(5))
///     .max_connections(2_000);
/// assert_eq!(options.connection_cap(), 2_000);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ServeOptions {
    header_read_timeout: Duration,
    request_timeout: Duration,
    max_connections: Option<usize>,
    drain_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl ServeOptions {
    /// The defaults in the table above.
    pub fn new() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_connections: None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }

    /// How long a client may take to send a request's headers, and how
    /// long a kept-alive connection may wait for its next request (default
    /// [`DEFAULT_HEADER_READ_TIMEOUT`]). Slow-header clients and idle
    /// connections are closed when it runs out.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long a request may take from its headers to its answer, reading
    /// the body included (default [`DEFAULT_REQUEST_TIMEOUT`]). A client
    /// that sends its body too slowly, or announces more bytes than it
    /// sends, gets 408.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The most connections open at once (default: three quarters of the
    /// process's open-file limit, read from `/proc/self/limits`, or 768
    /// where that cannot be read). Connections beyond it are answered 503
    /// with `Retry-After` and closed at once, so the file descriptors left
    /// stay available to the process. At least 1.
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = Some(connections.max(1));
        self
    }

    /// How long requests in flight get to finish once shutdown begins
    /// (default [`DEFAULT_DRAIN_TIMEOUT`]); connections still open after it
    /// are dropped, so one slow client cannot hold shutdown.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// The connection cap these options give.
    #[must_use]
    pub fn connection_cap(&self) -> usize {
        self.max_connections.unwrap_or_else(default_connection_cap)
    }
}

/// Three quarters of the soft open-file limit, leaving the rest to the
/// process's own files (artifacts, the registry, logs).
fn default_connection_cap() -> usize {
    let soft = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3))
                .and_then(|n| n.parse::<usize>().ok())
        })
        .unwrap_or(1024);
    (soft / 4 * 3).max(1)
}

/// Binds `addr` and serves `router` with the default [`ServeOptions`] until
/// `shutdown` completes, then stops accepting connections and lets the
/// requests in flight finish (at most [`DEFAULT_DRAIN_TIMEOUT`]).
///
/// Run it inside a tokio runtime. To learn the port of an `addr` with port
/// 0, bind the listener yourself and use [`serve_on`].
///
/// # Errors
///
/// When the address cannot be bound.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(router: axum::Router) -> std::io::Result<()> {
/// use modelhost::transport::http::serve;
///
/// serve("127.0.0.1:8080".parse().unwrap(), router, async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await
/// # }
/// ```
pub async fn serve<F>(addr: SocketAddr, router: Router, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_on(TcpListener::bind(addr).await?, router, shutdown).await
}

/// Serves `router` on an already bound listener with the default
/// [`ServeOptions`]; see [`serve_with`].
///
/// # Errors
///
/// None today: failures to accept a connection are logged and retried.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(router: axum::Router) -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// println!("listening on {}", listener.local_addr()?);
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let server = tokio::spawn(modelhost::transport::http::serve_on(listener, router, async {
///     let _ = stopped.await;
/// }));
/// // ... later:
/// let _ = stop.send(());
/// server.await.expect("server task")?;
/// # Ok(()) }
/// ```
pub async fn serve_on<F>(listener: TcpListener, router: Router, shutdown: F) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    serve_with(listener, router, shutdown, ServeOptions::new()).await
}

/// Serves `router` on `listener` until `shutdown` completes, with the
/// timeouts and the connection cap of `options`.
///
/// Each connection is an HTTP/1.1 connection of hyper's, with `TCP_NODELAY`
/// (small responses are not held back by Nagle's algorithm). When
/// `shutdown` completes, the listener closes; a request in flight, or one
/// whose bytes the client has already sent, is answered and its connection
/// then closed; idle connections close at once; and after the drain
/// timeout whatever is still open is dropped.
///
/// # Errors
///
/// None today: failures to accept a connection (for example the process
/// running out of file descriptors) are logged and retried after a pause.
///
/// # Examples
///
/// ```no_run
/// # async fn demo(router: axum::Router) -> std::io::Result<()> {
/// use std::time::Duration;
/// use modelhost::transport::http::{ServeOptions, serve_with};
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// let options = ServeOptions::new().drain_timeout(Duration::from_secs(5));
/// serve_with(listener, router, async { let _ = tokio::signal::ctrl_c().await; }, options).await
/// # }
/// ```
pub async fn serve_with<F>(
    listener: TcpListener,
    router: Router,
    shutdown: F,
    options: ServeOptions,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let router = router.layer(tower_http::timeout::TimeoutLayer::with_status_code(
        axum::http::StatusCode::REQUEST_TIMEOUT,
        options.request_timeout,
    ));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(options.connection_cap()));
    let (stopping, stop_seen) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut refusals = JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        // Reap finished tasks so the sets stay as small as what is open.
        while connections.try_join_next().is_some() {}
        while refusals.try_join_next().is_some() {}
        let (tcp, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before
                    // it was accepted: keep serving those already open.
                    log::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            refusals.spawn(refuse(tcp));
            continue;
        };
        // Best effort: a socket that refuses the option still serves.
        let _ = tcp.set_nodelay(true);
        let tcp = Arc::new(tcp);
        let service = TowerToHyperService::new(router.clone());
        let connection = http.serve_connection(TokioIo::new(SharedTcp(tcp.clone())), service);
        let stop_seen = stop_seen.clone();
        connections.spawn(async move {
            serve_connection(connection, tcp, stop_seen).await;
            drop(permit);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    let drained = tokio::time::timeout(options.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        log::warn!(
            "{} connections still open after the {:?} drain; dropping them",
            connections.len(),
            options.drain_timeout
        );
    }
    connections.abort_all();
    refusals.abort_all();
    Ok(())
}

type Connection = http1::Connection<TokioIo<SharedTcp>, TowerToHyperService<Router>>;

/// Drives one connection until it ends, or until shutdown: then a request
/// the client has already sent (its bytes waiting in the socket) is still
/// read and answered, with `Connection: close`, before the connection
/// closes; an idle connection closes at once.
async fn serve_connection(
    connection: Connection,
    tcp: Arc<TcpStream>,
    mut stop_seen: watch::Receiver<bool>,
) {
    let mut connection = std::pin::pin!(connection);
    let ended = tokio::select! {
        result = connection.as_mut() => Some(result),
        _ = stop_seen.wait_for(|stopping| *stopping) => None,
    };
    let result = match ended {
        Some(result) => result,
        None => {
            // hyper reads whatever is in the socket as soon as it is polled
            // with the socket readable; drive it until nothing is left
            // unread, so that graceful shutdown sees a request in progress
            // (and finishes it) rather than an idle connection.
            let mut finished = None;
            while finished.is_none() && has_unread_bytes(&tcp) {
                tokio::select! {
                    result = connection.as_mut() => finished = Some(result),
                    () = tokio::time::sleep(Duration::from_millis(1)) => {}
                }
            }
            match finished {
                Some(result) => result,
                None => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            }
        }
    };
    if let Err(e) = result {
        log::debug!("connection ended with an error: {e}");
    }
}

/// Whether the client has sent bytes the server has not read yet (a
/// non-blocking peek at the socket).
fn has_unread_bytes(tcp: &TcpStream) -> bool {
    let mut byte = [MaybeUninit::<u8>::uninit(); 1];
    matches!(socket2::SockRef::from(tcp).peek(&mut byte), Ok(n) if n > 0)
}

/// A connection's socket shared by hyper, which reads and writes it, and
/// the shutdown path, which peeks at it. Reads and writes go through
/// tokio's readiness API on a shared reference.
struct SharedTcp(Arc<TcpStream>);

impl AsyncRead for SharedTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for SharedTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        match socket2::SockRef::from(&*self.0).shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

/// Answers a connection over the cap with 503 and closes it, giving the
/// client at most a second to take the answer.
async fn refuse(mut tcp: TcpStream) {
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        tcp.write_all(REFUSED).await?;
        tcp.shutdown().await
    })
    .await;
}
