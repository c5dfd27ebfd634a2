//! The socket, and the one poll function that moves bytes between it and the
//! protocol machine: writes what it can, then reads.

use std::io;
use std::task::{Context, Poll};

use hyperwire_proto::engine::Wire;

use crate::runtime::Socket;

/// How much to read at a time.
const READ_CHUNK: usize = 64 * 1024;

/// The connection's socket; empty only while a TLS handshake has it.
#[derive(Debug)]
pub(crate) struct Io<S>(Option<S>);

fn upgrading() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "the TLS handshake did not finish",
    )
}

impl<S: Socket> Io<S> {
    pub(crate) fn new(socket: S) -> Io<S> {
        Io(Some(socket))
    }

    /// Takes the socket out (for the TLS handshake).
    pub(crate) fn take(&mut self) -> Option<S> {
        self.0.take()
    }

    pub(crate) fn put(&mut self, socket: S) {
        self.0 = Some(socket);
    }

    pub(crate) fn get(&self) -> Option<&S> {
        self.0.as_ref()
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.0 {
            Some(s) => s.poll_write(cx, buf),
            None => Poll::Ready(Err(upgrading())),
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match &mut self.0 {
            Some(s) => s.poll_read(cx, buf),
            None => Poll::Ready(Err(upgrading())),
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.0 {
            Some(s) => s.poll_flush(cx),
            None => Poll::Ready(Err(upgrading())),
        }
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.0 {
            Some(s) => s.poll_shutdown(cx),
            None => Poll::Ready(Ok(())),
        }
    }
}

/// Writes pending bytes as far as the socket takes them.
pub(crate) fn poll_write_pending<S: Socket>(
    io: &mut Io<S>,
    proto: &mut impl Wire,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    while !proto.pending_send().is_empty() {
        match io.poll_write(cx, proto.pending_send()) {
            Poll::Ready(Ok(0)) => {
                proto.recv_eof();
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            Poll::Ready(Ok(n)) => proto.advance_send(n),
            Poll::Ready(Err(e)) => {
                // The connection is gone: the machine must not look usable.
                proto.recv_eof();
                return Poll::Ready(Err(e));
            }
            Poll::Pending => return Poll::Pending,
        }
    }
    // TLS may still hold encrypted records: they must reach the socket too.
    match io.poll_flush(cx) {
        Poll::Ready(Err(e)) => {
            proto.recv_eof();
            Poll::Ready(Err(e))
        }
        other => other,
    }
}

/// Writes what it can, then reads once. Ready when bytes (or the end of the
/// stream) arrived. Dropping the future between polls loses nothing: every byte
/// moved is already accounted for in the machine.
pub(crate) fn poll_pump<S: Socket>(
    io: &mut Io<S>,
    proto: &mut impl Wire,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    if let Poll::Ready(Err(e)) = poll_write_pending(io, proto, cx) {
        return Poll::Ready(Err(e));
    }
    let spare = proto.recv_buf(READ_CHUNK);
    match io.poll_read(cx, spare) {
        Poll::Ready(Ok(n)) => {
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
        Poll::Ready(Err(e)) => {
            proto.recv_eof();
            Poll::Ready(Err(e))
        }
        Poll::Pending => Poll::Pending,
    }
}

/// Flushes everything pending (reads meanwhile land in the machine's buffer).
pub(crate) fn poll_flush<S: Socket>(
    io: &mut Io<S>,
    proto: &mut impl Wire,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    loop {
        match poll_write_pending(io, proto, cx) {
            Poll::Ready(r) => return Poll::Ready(r),
            Poll::Pending => {
                // Keep reading so a server that is writing too never blocks us.
                let spare = proto.recv_buf(READ_CHUNK);
                match io.poll_read(cx, spare) {
                    Poll::Ready(Ok(n)) => {
                        if n == 0 {
                            proto.recv_eof();
                            return Poll::Ready(Err(io::ErrorKind::UnexpectedEof.into()));
                        }
                        proto.recv_commit(n);
                    }
                    Poll::Ready(Err(e)) => {
                        proto.recv_eof();
                        return Poll::Ready(Err(e));
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
        }
    }
}

pub(crate) fn poll_close<S: Socket>(
    io: &mut Io<S>,
    proto: &mut impl Wire,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    match poll_write_pending(io, proto, cx) {
        Poll::Ready(Ok(())) => io.poll_shutdown(cx),
        other => other,
    }
}
