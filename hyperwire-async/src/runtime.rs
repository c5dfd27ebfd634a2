//! What this crate needs from an async runtime: sockets, a TLS handshake and a
//! timer. hyperwire-tokio and hyperwire-async-std each implement [`Runtime`];
//! everything else (connections, streams, the pipelining driver) is written once,
//! here, against these traits.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A connected byte stream: TCP, a unix socket, or TLS over TCP.
pub trait Socket: Send + Unpin + 'static {
    /// Reads into `buf`; `Ok(0)` is the end of the stream.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Writes from `buf` (TLS may keep encrypted records buffered: see
    /// [`poll_flush`](Self::poll_flush)).
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
    /// Writes out whatever the stream buffered (TLS records); `Ready` when none
    /// is left.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Shuts the writing side down (sends TLS close_notify first).
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// The TLS session, when the stream is encrypted.
    fn tls(&self) -> Option<&rustls::ClientConnection>;
    /// Whether this is a TCP stream that TLS can start on.
    fn is_tcp(&self) -> bool;
}

/// A runtime's sockets and timer.
pub trait Runtime: Send + Sync + Sized + 'static {
    /// The runtime's connected stream.
    type Socket: Socket;
    /// A sleep future.
    type Sleep: Future<Output = ()> + Send;

    /// Connects over TCP (with `TCP_NODELAY`); returns the peer's address.
    fn connect_tcp(
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<(Self::Socket, SocketAddr)>> + Send;
    /// Connects over TCP to an address (the cancel connection).
    fn connect_addr(addr: SocketAddr) -> impl Future<Output = io::Result<Self::Socket>> + Send;
    /// Connects to a unix socket.
    fn connect_unix(path: &Path) -> impl Future<Output = io::Result<Self::Socket>> + Send;
    /// Runs the TLS handshake on a TCP stream.
    fn start_tls(
        socket: Self::Socket,
        setup: &hyperwire_tls::TlsSetup,
    ) -> impl Future<Output = Result<Self::Socket, String>> + Send;
    /// A future that is ready after `duration`.
    fn sleep(duration: Duration) -> Self::Sleep;
}

/// Runs `work` with a time limit: `None` when the time ran out first.
pub(crate) async fn timeout<R: Runtime, F: Future>(limit: Duration, work: F) -> Option<F::Output> {
    let mut work = std::pin::pin!(work);
    let mut sleep = std::pin::pin!(R::sleep(limit));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        match Pin::new(&mut sleep).as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}
