//! The runtimes: async-std, and smol (feature `smol`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use hyperwire_async::runtime::Runtime;

use crate::socket::FuturesSocket;

/// A boxed sleep (async-std's and async-io's sleeps either have no name or are not `Send`-stable).
pub type BoxedSleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// async-std's sockets and timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStd;

/// A connected async-std socket.
pub type AsyncStdSocket =
    FuturesSocket<async_std::net::TcpStream, async_std::os::unix::net::UnixStream>;

impl Runtime for AsyncStd {
    type Socket = AsyncStdSocket;
    type Sleep = BoxedSleep;

    fn connect_tcp(
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<(AsyncStdSocket, SocketAddr)>> + Send {
        let host = host.to_owned();
        async move {
            let s = async_std::net::TcpStream::connect((host.as_str(), port)).await?;
            s.set_nodelay(true)?;
            let peer = s.peer_addr()?;
            Ok((FuturesSocket::Tcp(s), peer))
        }
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<AsyncStdSocket> {
        Ok(FuturesSocket::Tcp(
            async_std::net::TcpStream::connect(addr).await?,
        ))
    }

    fn connect_unix(path: &Path) -> impl Future<Output = io::Result<AsyncStdSocket>> + Send {
        let path = path.to_owned();
        async move {
            Ok(FuturesSocket::Unix(
                async_std::os::unix::net::UnixStream::connect(path).await?,
            ))
        }
    }

    fn start_tls(
        socket: AsyncStdSocket,
        setup: &hyperwire_tls::TlsSetup,
    ) -> impl Future<Output = Result<AsyncStdSocket, String>> + Send {
        let setup = setup.clone();
        async move { socket.start_tls(&setup).await }
    }

    fn sleep(duration: Duration) -> BoxedSleep {
        Box::pin(async_std::task::sleep(duration))
    }
}

/// smol's sockets (async-net) and timer (async-io).
#[cfg(feature = "smol")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

/// A connected smol socket.
#[cfg(feature = "smol")]
pub type SmolSocket = FuturesSocket<async_net::TcpStream, async_net::unix::UnixStream>;

#[cfg(feature = "smol")]
impl Runtime for Smol {
    type Socket = SmolSocket;
    type Sleep = BoxedSleep;

    fn connect_tcp(
        host: &str,
        port: u16,
    ) -> impl Future<Output = io::Result<(SmolSocket, SocketAddr)>> + Send {
        let host = host.to_owned();
        async move {
            let s = async_net::TcpStream::connect((host.as_str(), port)).await?;
            s.set_nodelay(true)?;
            let peer = s.peer_addr()?;
            Ok((FuturesSocket::Tcp(s), peer))
        }
    }

    async fn connect_addr(addr: SocketAddr) -> io::Result<SmolSocket> {
        Ok(FuturesSocket::Tcp(
            async_net::TcpStream::connect(addr).await?,
        ))
    }

    fn connect_unix(path: &Path) -> impl Future<Output = io::Result<SmolSocket>> + Send {
        let path = path.to_owned();
        async move {
            Ok(FuturesSocket::Unix(
                async_net::unix::UnixStream::connect(path).await?,
            ))
        }
    }

    fn start_tls(
        socket: SmolSocket,
        setup: &hyperwire_tls::TlsSetup,
    ) -> impl Future<Output = Result<SmolSocket, String>> + Send {
        let setup = setup.clone();
        async move { socket.start_tls(&setup).await }
    }

    fn sleep(duration: Duration) -> BoxedSleep {
        Box::pin(async move {
            async_io::Timer::after(duration).await;
        })
    }
}
