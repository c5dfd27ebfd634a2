//! A connected socket over the futures-io traits: TCP, unix, or TLS over TCP
//! (futures-rustls). async-std's and smol's sockets both fit.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use futures_rustls::client::TlsStream;
use hyperwire_async::runtime::Socket;

/// A connected socket: `T` is the runtime's TCP stream, `U` its unix stream.
#[derive(Debug)]
#[non_exhaustive]
pub enum FuturesSocket<T, U> {
    /// TCP.
    Tcp(T),
    /// A unix-domain socket.
    Unix(U),
    /// TLS over TCP.
    Tls(Box<TlsStream<T>>),
}

impl<T, U> FuturesSocket<T, U>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    U: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    /// Runs the TLS handshake on a TCP socket.
    pub(crate) async fn start_tls(
        self,
        setup: &hyperwire_tls::TlsSetup,
    ) -> Result<FuturesSocket<T, U>, String> {
        let FuturesSocket::Tcp(tcp) = self else {
            return Err("TLS needs a TCP connection".to_owned());
        };
        let connector = futures_rustls::TlsConnector::from(std::sync::Arc::clone(&setup.config));
        let tls = connector
            .connect(setup.server_name.clone(), tcp)
            .await
            .map_err(|e| e.to_string())?;
        Ok(FuturesSocket::Tls(Box::new(tls)))
    }
}

impl<T, U> Socket for FuturesSocket<T, U>
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    U: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self {
            FuturesSocket::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            FuturesSocket::Unix(s) => Pin::new(s).poll_read(cx, buf),
            FuturesSocket::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            FuturesSocket::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            FuturesSocket::Unix(s) => Pin::new(s).poll_write(cx, buf),
            FuturesSocket::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            FuturesSocket::Tcp(s) => Pin::new(s).poll_flush(cx),
            FuturesSocket::Unix(s) => Pin::new(s).poll_flush(cx),
            FuturesSocket::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            FuturesSocket::Tcp(s) => Pin::new(s).poll_close(cx),
            FuturesSocket::Unix(s) => Pin::new(s).poll_close(cx),
            FuturesSocket::Tls(s) => Pin::new(&mut **s).poll_close(cx),
        }
    }

    fn tls(&self) -> Option<&rustls::ClientConnection> {
        match self {
            FuturesSocket::Tls(s) => Some(s.get_ref().1),
            _ => None,
        }
    }

    fn is_tcp(&self) -> bool {
        matches!(self, FuturesSocket::Tcp(_))
    }
}
