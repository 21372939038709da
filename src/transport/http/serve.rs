//! Binding a socket and serving a router until shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;

/// Binds `addr` and serves `router` until `shutdown` completes, then stops
/// accepting connections and waits for the requests in flight to finish.
///
/// Run it inside a multi-threaded tokio runtime. To learn the port of an
/// `addr` with port 0, bind the listener yourself and use [`serve_on`].
///
/// # Errors
///
/// When the address cannot be bound, or accepting fails fatally.
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

/// Serves `router` on an already bound listener until `shutdown` completes,
/// then lets the requests in flight finish (graceful shutdown: no new
/// connections, idle keep-alive connections closed, running requests
/// answered). Accepted connections get `TCP_NODELAY`, so small responses
/// are not held back by Nagle's algorithm.
///
/// # Errors
///
/// When accepting fails fatally.
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
    let listener = listener.tap_io(|tcp| {
        // Best effort: a socket that refuses the option still serves.
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
