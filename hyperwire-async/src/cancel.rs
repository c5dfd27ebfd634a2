//! Cancelling a running request from any task.

use hyperwire_proto::CancelRequest;
use std::marker::PhantomData;

use crate::connect::{Target, CANCEL_TIMEOUT};
use crate::error::{Error, Result};
use crate::runtime::{self, Runtime};

/// Sends a CancelRequest for one session on a separate connection.
/// `Send + Sync + Clone`.
pub struct CancelToken<R> {
    target: Target,
    request: CancelRequest,
    /// TLS settings when the session used TLS, and whether TLS starts at once.
    tls: Option<(hyperwire_tls::TlsSetup, bool)>,
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
        tls: Option<(hyperwire_tls::TlsSetup, bool)>,
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
        runtime::timeout::<R, _>(CANCEL_TIMEOUT, self.send())
            .await
            .ok_or_else(|| Error::Io(std::io::ErrorKind::TimedOut.into()))?
    }

    async fn send(&self) -> Result<()> {
        let mut socket = match &self.target {
            Target::Tcp(addr) => R::connect_addr(*addr).await?,
            Target::Unix(path) => R::connect_unix(path).await?,
        };
        if let (Target::Tcp(_), Some((setup, direct))) = (&self.target, &self.tls) {
            if !direct {
                let mut req = Vec::new();
                hyperwire_proto::codec::frontend::ssl_request(&mut req);
                runtime::write_all(&mut socket, &req).await?;
                let mut answer = [0u8; 1];
                if runtime::read(&mut socket, &mut answer).await? != 1 || answer != *b"S" {
                    return Err(Error::Tls(
                        "the server refused TLS for the cancel request".into(),
                    ));
                }
            }
            socket = R::start_tls(socket, setup).await.map_err(Error::Tls)?;
        }
        runtime::write_all(&mut socket, self.request.as_bytes()).await?;
        // The server closes the connection once it has acted on the request.
        let mut rest = [0u8; 64];
        while matches!(runtime::read(&mut socket, &mut rest).await, Ok(n) if n > 0) {}
        Ok(())
    }
}
