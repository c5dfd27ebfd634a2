//! tokio's sockets, TLS (tokio-rustls) and timer, for hyperwire-async.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyperwire_async::runtime::{Runtime, Socket};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;

/// The tokio runtime (its reactor and timer must be running: call from inside it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

/// A connected tokio socket.
#[derive(Debug)]
pub enum TokioSocket {
    /// TCP.
    Tcp(TcpStream),
    /// A unix-domain socket.
    Unix(UnixStream),
    /// TLS over TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

fn read_into<S: AsyncRead + Unpin>(
    s: &mut S,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let mut rb = ReadBuf::new(buf);
    match Pin::new(s).poll_read(cx, &mut rb) {
        Poll::Ready(Ok(())) => Poll::Ready(Ok(rb.filled().len())),
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

impl Socket for TokioSocket {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self {
            TokioSocket::Tcp(s) => read_into(s, cx, buf),
            TokioSocket::Unix(s) => read_into(s, cx, buf),
            TokioSocket::Tls(s) => read_into(&mut **s, cx, buf),
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            TokioSocket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            TokioSocket::Unix(s) => Pin::new(s).poll_write(cx, buf),
            TokioSocket::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            TokioSocket::Tcp(s) => Pin::new(s).poll_flush(cx),
            TokioSocket::Unix(s) => Pin::new(s).poll_flush(cx),
            TokioSocket::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            TokioSocket::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            TokioSocket::Unix(s) => Pin::new(s).poll_shutdown(cx),
            TokioSocket::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }

    fn tls(&self) -> Option<&rustls::ClientConnection> {
        match self {
            TokioSocket::Tls(s) => Some(s.get_ref().1),
            _ => None,
        }
    }

    fn is_tcp(&self) -> bool {
        matches!(self, TokioSocket::Tcp(_))
    }
}

impl Runtime for Tokio {
    type Socket = TokioSocket;
    type Sleep = tokio::time::Sleep;

    fn connect_tcp(
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<(TokioSocket, SocketAddr)>> + Send {
        let host = host.to_owned();
        async move {
            let s = TcpStream::connect((host.as_str(), port)).await?;
            s.set_nodelay(true)?;
            let peer = s.peer_addr()?;
            Ok((TokioSocket::Tcp(s), peer))
        }
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<TokioSocket> {
        Ok(TokioSocket::Tcp(TcpStream::connect(addr).await?))
    }

    fn connect_unix(path: &Path) -> impl Future<Output = io::Result<TokioSocket>> + Send {
        let path = path.to_owned();
        async move { Ok(TokioSocket::Unix(UnixStream::connect(path).await?)) }
    }

    fn start_tls(
        socket: TokioSocket,
        setup: &hyperwire_tls::TlsSetup,
    ) -> impl Future<Output = Result<TokioSocket, String>> + Send {
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&setup.config));
        let name = setup.server_name.clone();
        async move {
            let TokioSocket::Tcp(tcp) = socket else {
                return Err("TLS needs a TCP connection".to_owned());
            };
            let tls = connector
                .connect(name, tcp)
                .await
                .map_err(|e| e.to_string())?;
            Ok(TokioSocket::Tls(Box::new(tls)))
        }
    }

    fn sleep(duration: Duration) -> tokio::time::Sleep {
        tokio::time::sleep(duration)
    }
}
