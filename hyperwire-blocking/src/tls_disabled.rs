//! Built without the `tls` feature: the same names, and a clear error wherever TLS
//! would be needed.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use hyperwire_proto::config::Config;

use crate::error::{Error, Result};

fn disabled() -> Error {
    Error::Tls("this build of hyperwire-blocking has no TLS (the `tls` feature is off)".into())
}

/// TLS settings (never built without the feature).
#[derive(Debug, Clone)]
pub(crate) struct TlsSetup(());

impl TlsSetup {
    pub(crate) fn for_cancel(&self) -> TlsSetup {
        self.clone()
    }
}

/// What the handshake agreed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1_3`, `TLSv1_2`.
    pub protocol_version: String,
    /// The negotiated cipher suite.
    pub cipher_suite: String,
    /// The ALPN protocol, if the server chose one.
    pub alpn: Option<String>,
}

pub(crate) fn setup(_: &Config, _: &str) -> Result<TlsSetup> {
    Err(disabled())
}

/// The same shape as with the feature; `TlsStream::new` says TLS is missing.
pub(crate) fn start(
    stream: crate::stream::Stream,
    setup: &TlsSetup,
    deadline: Option<Instant>,
) -> Result<(crate::stream::Stream, Option<Vec<u8>>)> {
    let crate::stream::Stream::Tcp(sock) = stream else {
        return Err(disabled());
    };
    let mut tls = TlsStream::new(setup, sock)?;
    tls.handshake(deadline)?;
    let end_point = tls.server_end_point();
    Ok((crate::stream::Stream::Tls(Box::new(tls)), end_point))
}

/// Never constructed without the feature.
#[derive(Debug)]
pub(crate) struct TlsStream {
    pub(crate) sock: TcpStream,
    never: std::convert::Infallible,
}

impl TlsStream {
    pub(crate) fn new(_: &TlsSetup, _: TcpStream) -> Result<TlsStream> {
        Err(disabled())
    }
    pub(crate) fn handshake(&mut self, _: Option<Instant>) -> Result<()> {
        match self.never {}
    }
    pub(crate) fn push_tls(&mut self) -> Result<()> {
        match self.never {}
    }
    pub(crate) fn wants_write(&self) -> bool {
        match self.never {}
    }
    pub(crate) fn has_plaintext(&mut self) -> bool {
        match self.never {}
    }
    pub(crate) fn server_end_point(&self) -> Option<Vec<u8>> {
        match self.never {}
    }
    pub(crate) fn info(&self) -> TlsInfo {
        match self.never {}
    }
}

impl Read for TlsStream {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        match self.never {}
    }
}

impl Write for TlsStream {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        match self.never {}
    }
    fn flush(&mut self) -> io::Result<()> {
        match self.never {}
    }
}
