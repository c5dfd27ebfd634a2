//! Cancelling a running request from any task: the core's [`CancelExchange`]
//! decides; this file opens the socket and moves the bytes.

use std::future::poll_fn;
use std::marker::PhantomData;

use hyperwire_proto::engine::{CancelAction, CancelError, CancelExchange, CancelTlsMode};
use hyperwire_proto::CancelRequest;

use crate::connect::{now, until, Target};
use crate::error::{Error, Result};
use crate::io::{self, Io};
use crate::runtime::{self, Runtime};

/// Sends a CancelRequest for one session on a separate connection.
/// `Send + Sync + Clone`.
pub struct CancelToken<R> {
    target: Target,
    request: CancelRequest,
    /// TLS settings when the session used TLS, and whether TLS starts at once.
    tls: Option<(hyperwire_tls::TlsSetup, CancelTlsMode)>,
    runtime: PhantomData<fn() -> R>,
}

impl<R> Clone for CancelToken<R> {
    fn clone(&self) -> Self {
        CancelToken {
            target: self.target.clone(),
            request: self.request.clone(),
            tls: self.tls.clone(),
            runtime: PhantomData,
        }
    }
}

impl<R> std::fmt::Debug for CancelToken<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("target", &self.target)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> CancelToken<R> {
    pub(crate) fn new(
        target: Target,
        request: CancelRequest,
        tls: Option<(hyperwire_tls::TlsSetup, CancelTlsMode)>,
    ) -> Self {
        CancelToken {
            target,
            request,
            tls,
            runtime: PhantomData,
        }
    }

    /// Asks the server to cancel the session's running request; returns once the
    /// server closed the cancel connection (it has acted on the request).
    pub async fn cancel(&self) -> Result<()> {
        let mode = self.tls.as_ref().map(|(_, m)| *m);
        let mut x = CancelExchange::new(self.request.clone(), mode, now());
        let mut io: Option<Io<R::Socket>> = None;
        loop {
            let limit = x.poll_timeout().map(until).unwrap_or_default();
            match x.poll_action() {
                CancelAction::Open => {
                    let socket = runtime::timeout::<R, _>(limit, self.open())
                        .await
                        .ok_or_else(timed_out)??;
                    io = Some(Io::new(socket));
                    x.opened();
                }
                CancelAction::StartTls { .. } => {
                    let (setup, _) = self.tls.as_ref().ok_or_else(not_open)?;
                    let tcp = io.as_mut().and_then(Io::take).ok_or_else(not_open)?;
                    let tls = runtime::timeout::<R, _>(limit, R::start_tls(tcp, setup))
                        .await
                        .ok_or_else(timed_out)?
                        .map_err(Error::Tls)?;
                    io = Some(Io::new(tls));
                    x.tls_established();
                }
                CancelAction::Io => {
                    let sock = io.as_mut().ok_or_else(not_open)?;
                    let pump = poll_fn(|cx| io::poll_pump(sock, &mut x, cx));
                    match runtime::timeout::<R, _>(limit, pump).await {
                        Some(r) => r?,
                        None => x.handle_timeout(now()),
                    }
                }
                CancelAction::Done => return Ok(()),
                CancelAction::Failed(CancelError::Protocol(e)) => return Err(Error::Protocol(e)),
                CancelAction::Failed(_) => return Err(timed_out()),
                _ => return Err(Error::Config("unsupported cancel step".into())),
            }
        }
    }
}

impl<R: Runtime> CancelToken<R> {
    async fn open(&self) -> std::io::Result<R::Socket> {
        match &self.target {
            Target::Tcp(addr) => R::connect_addr(*addr).await,
            Target::Unix(path) => R::connect_unix(path).await,
        }
    }
}

fn timed_out() -> Error {
    Error::Io(std::io::ErrorKind::TimedOut.into())
}

fn not_open() -> Error {
    Error::Io(std::io::ErrorKind::NotConnected.into())
}
