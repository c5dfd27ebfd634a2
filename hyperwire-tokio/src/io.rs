//! The socket, and the one poll function that moves bytes between it and the
//! protocol machine: writes what it can, then reads.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyperwire_proto::Protocol;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::client::TlsStream;

/// How much to read at a time.
const READ_CHUNK: usize = 64 * 1024;

/// A connected socket.
#[derive(Debug)]
pub(crate) enum Io {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Between taking the TCP socket for the TLS handshake and putting the TLS
    /// stream back.
    Upgrading,
}

fn upgrading() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the TLS handshake did not finish",
    )
}

impl Io {
    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self {
            Io::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Io::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => {
                // rustls buffers the record: flush it so it reaches the socket.
                let r = Pin::new(&mut **s).poll_write(cx, buf);
                if let Poll::Ready(Err(e)) = Pin::new(&mut **s).poll_flush(cx) {
                    return Poll::Ready(Err(e));
                }
                r
            }
            Io::Upgrading => Poll::Ready(Err(upgrading())),
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self {
            Io::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Io::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
            Io::Upgrading => Poll::Ready(Err(upgrading())),
        }
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self {
            Io::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Io::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
            Io::Upgrading => Poll::Ready(Ok(())),
        }
    }
}

/// Writes pending bytes as far as the socket takes them.
pub(crate) fn poll_write_pending(
    io: &mut Io,
    proto: &mut Protocol,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while !proto.pending_send().is_empty() {
        match io.poll_write(cx, proto.pending_send()) {
            Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
            Poll::Ready(Ok(n)) => proto.advance_send(n),
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
    Poll::Ready(Ok(()))
}

/// Writes what it can, then reads once. Ready when bytes (or the end of the
/// stream) arrived. Dropping the future between polls loses nothing: every byte
/// moved is already accounted for in the machine.
pub(crate) fn poll_pump(
    io: &mut Io,
    proto: &mut Protocol,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    if let Poll::Ready(Err(e)) = poll_write_pending(io, proto, cx) {
        return Poll::Ready(Err(e));
    }
    let spare = proto.recv_buf(READ_CHUNK);
    let mut buf = ReadBuf::new(spare);
    match io.poll_read(cx, &mut buf) {
        Poll::Ready(Ok(())) => {
            let n = buf.filled().len();
            if n == 0 {
                proto.recv_eof();
            } else {
                proto.recv_commit(n);
            }
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::ConnectionReset => {
            proto.recv_eof();
            Poll::Ready(Ok(()))
        }
        Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
        Poll::Pending => Poll::Pending,
    }
}

/// Flushes everything pending (reads meanwhile land in the machine's buffer).
pub(crate) fn poll_flush(
    io: &mut Io,
    proto: &mut Protocol,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    loop {
        match poll_write_pending(io, proto, cx) {
            Poll::Ready(r) => return Poll::Ready(r),
            Poll::Pending => {
                // Keep reading so a server that is writing too never blocks us.
                let spare = proto.recv_buf(READ_CHUNK);
                let mut buf = ReadBuf::new(spare);
                match io.poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) => {
                        let n = buf.filled().len();
                        if n == 0 {
                            proto.recv_eof();
                            return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                        }
                        proto.recv_commit(n);
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
    }
}

pub(crate) fn poll_close(
    io: &mut Io,
    proto: &mut Protocol,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    match poll_write_pending(io, proto, cx) {
        Poll::Ready(Ok(())) => io.poll_shutdown(cx),
        other => other,
    }
}
