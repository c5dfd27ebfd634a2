//! Cancelling a running request from any thread: the core's [`CancelExchange`]
//! decides; this file opens the socket and moves the bytes.

use std::os::unix::net::UnixStream;
use std::time::Instant;

use hyperwire_proto::engine::{CancelAction, CancelError, CancelExchange, CancelTlsMode};
use hyperwire_proto::CancelRequest;

use crate::clock;
use crate::conn;
use crate::connect::{open_tcp, Target};
use crate::error::{Error, Result};
use crate::stream::Stream;
use crate::tls::{self, TlsSetup};

/// Sends a CancelRequest for one session on a separate connection, with TLS when
/// the session used it. `Send + Sync`: clone it into another thread.
#[derive(Debug, Clone)]
pub struct CancelToken {
    target: Target,
    request: CancelRequest,
    tls: Option<(TlsSetup, CancelTlsMode)>,
}

impl CancelToken {
    pub(crate) fn new(
        target: Target,
        request: CancelRequest,
        tls: Option<(TlsSetup, CancelTlsMode)>,
    ) -> Self {
        CancelToken {
            target,
            request,
            tls,
        }
    }

    /// Asks the server to cancel whatever the session is running. Returns once the
    /// server closed the cancel connection, i.e. once it has acted on the request;
    /// a session that is idle by then is not affected.
    pub fn cancel(&self) -> Result<()> {
        let mode = self.tls.as_ref().map(|(_, m)| *m);
        let mut x = CancelExchange::new(self.request.clone(), mode, clock::now());
        let mut stream = None;
        loop {
            let deadline = x.poll_timeout().map(clock::instant);
            match x.poll_action() {
                CancelAction::Open => {
                    stream = Some(self.open(deadline)?);
                    x.opened();
                }
                CancelAction::StartTls { .. } => {
                    let (setup, _) = self.tls.as_ref().ok_or_else(no_tls)?;
                    let plain = stream.take().ok_or_else(no_tls)?;
                    stream = Some(tls::start(plain, setup, deadline)?.0);
                    x.tls_established();
                }
                CancelAction::Io => {
                    let s = stream.as_mut().ok_or_else(no_tls)?;
                    match conn::pump(s, &mut x, deadline) {
                        Ok(()) => {}
                        Err(Error::Timeout) => x.handle_timeout(clock::now()),
                        Err(e) => return Err(e),
                    }
                }
                CancelAction::Done => return Ok(()),
                CancelAction::Failed(CancelError::TimedOut) => return Err(Error::Timeout),
                CancelAction::Failed(CancelError::Protocol(e)) => return Err(Error::Protocol(e)),
                _ => return Err(Error::Config("unsupported cancel step".into())),
            }
        }
    }

    fn open(&self, deadline: Option<Instant>) -> Result<Stream> {
        let stream = match &self.target {
            Target::Tcp(addr) => {
                let (s, _) =
                    open_tcp(&[*addr], deadline).map_err(|e| e.unwrap_or(Error::Timeout))?;
                Stream::Tcp(s)
            }
            Target::Unix(path) => Stream::Unix(UnixStream::connect(path)?),
        };
        stream.set_nonblocking(true)?;
        Ok(stream)
    }
}

fn no_tls() -> Error {
    Error::Io(std::io::ErrorKind::NotConnected.into())
}
