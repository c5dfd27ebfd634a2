//! TLS over the blocking non-blocking socket; the configuration (sslmode and the
//! rest) comes from hyperwire-tls, shared with the other adapters.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Instant;

use hyperwire_proto::config::Config;
use rustls::ClientConnection;

pub use hyperwire_tls::TlsInfo;
pub(crate) use hyperwire_tls::TlsSetup;

use crate::error::{Error, Result};

fn tls_error(what: impl std::fmt::Display) -> Error {
    Error::Tls(what.to_string())
}

/// The TLS client configuration for `config`, to reach `host`.
pub(crate) fn setup(config: &Config, host: &str) -> Result<TlsSetup> {
    hyperwire_tls::setup(config, host).map_err(|e| Error::Tls(e.0))
}

/// Runs a TLS handshake on a TCP stream; returns the encrypted stream and the
/// channel-binding data for SCRAM-SHA-256-PLUS.
pub(crate) fn start(
    stream: crate::stream::Stream,
    setup: &TlsSetup,
    deadline: Option<Instant>,
) -> Result<(crate::stream::Stream, Option<Vec<u8>>)> {
    let crate::stream::Stream::Tcp(sock) = stream else {
        return Err(tls_error("TLS needs a TCP connection"));
    };
    let mut tls = TlsStream::new(setup, sock)?;
    tls.handshake(deadline)?;
    let end_point = tls.server_end_point();
    Ok((crate::stream::Stream::Tls(Box::new(tls)), end_point))
}

/// A TLS session over a non-blocking TCP socket.
pub(crate) struct TlsStream {
    pub(crate) conn: ClientConnection,
    pub(crate) sock: TcpStream,
}

impl std::fmt::Debug for TlsStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsStream")
            .field("sock", &self.sock)
            .finish_non_exhaustive()
    }
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

impl TlsStream {
    pub(crate) fn new(setup: &TlsSetup, sock: TcpStream) -> Result<TlsStream> {
        let conn = ClientConnection::new(Arc::clone(&setup.config), setup.server_name.clone())
            .map_err(tls_error)?;
        Ok(TlsStream { conn, sock })
    }

    /// Runs the handshake to its end (the socket is non-blocking; we wait with poll).
    pub(crate) fn handshake(&mut self, deadline: Option<Instant>) -> Result<()> {
        while self.conn.is_handshaking() {
            self.push_tls()?;
            let want_write = self.conn.wants_write();
            if self.conn.wants_read() {
                match self.conn.read_tls(&mut self.sock) {
                    Ok(0) => {
                        return Err(tls_error(
                            "the server closed the connection during the TLS handshake",
                        ))
                    }
                    Ok(_) => {
                        self.conn.process_new_packets().map_err(tls_error)?;
                        continue;
                    }
                    Err(e) if would_block(&e) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if crate::stream::wait_fd(&self.sock, want_write, deadline)?.is_none() {
                return Err(Error::Timeout);
            }
        }
        self.push_tls()
    }

    /// Writes buffered TLS records until the socket would block.
    pub(crate) fn push_tls(&mut self) -> Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut self.sock) {
                Ok(_) => {}
                Err(e) if would_block(&e) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Whether decrypted bytes are waiting (readable without the socket).
    pub(crate) fn has_plaintext(&mut self) -> bool {
        self.conn
            .process_new_packets()
            .map(|s| s.plaintext_bytes_to_read() > 0 || s.peer_has_closed())
            .unwrap_or(true)
    }

    /// The `tls-server-end-point` channel-binding data, if computable.
    pub(crate) fn server_end_point(&self) -> Option<Vec<u8>> {
        hyperwire_tls::server_end_point(&self.conn)
    }

    pub(crate) fn info(&self) -> TlsInfo {
        TlsInfo::of(&self.conn)
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match self.conn.read_tls(&mut self.sock) {
                Ok(0) => return Ok(0),
                Ok(_) => {
                    self.conn
                        .process_new_packets()
                        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.conn.writer().write(buf)?;
        self.push_tls().map_err(|e| match e {
            Error::Io(e) => e,
            other => io::Error::other(other),
        })?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
