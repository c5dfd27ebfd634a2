//! Cancelling a running request from any task.

use hyperwire_proto::CancelRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use crate::connect::{Target, CANCEL_TIMEOUT};
use crate::error::{Error, Result};

/// Sends a CancelRequest for one session on a separate connection.
/// `Send + Sync + Clone`.
#[derive(Debug, Clone)]
pub struct CancelToken {
    target: Target,
    request: CancelRequest,
    /// TLS settings when the session used TLS, and whether TLS starts at once.
    tls: Option<(hyperwire_tls::TlsSetup, bool)>,
}

impl CancelToken {
    pub(crate) fn new(
        target: Target,
        request: CancelRequest,
        tls: Option<(hyperwire_tls::TlsSetup, bool)>,
    ) -> Self {
        CancelToken {
            target,
            request,
            tls,
        }
    }

    /// Asks the server to cancel the session's running request; returns once the
    /// server closed the cancel connection (it has acted on the request).
    pub async fn cancel(&self) -> Result<()> {
        let work = async {
            let mut rest = [0u8; 64];
            match (&self.target, &self.tls) {
                (Target::Tcp(addr), Some((setup, direct))) => {
                    let mut s = TcpStream::connect(addr).await?;
                    if !direct {
                        let mut req = Vec::new();
                        hyperwire_proto::codec::frontend::ssl_request(&mut req);
                        s.write_all(&req).await?;
                        let mut answer = [0u8; 1];
                        s.read_exact(&mut answer).await?;
                        if answer != *b"S" {
                            return Err(Error::Tls(
                                "the server refused TLS for the cancel request".into(),
                            ));
                        }
                    }
                    let connector =
                        tokio_rustls::TlsConnector::from(std::sync::Arc::clone(&setup.config));
                    let mut tls = connector
                        .connect(setup.server_name.clone(), s)
                        .await
                        .map_err(|e| Error::Tls(e.to_string()))?;
                    tls.write_all(self.request.as_bytes()).await?;
                    tls.flush().await?;
                    while matches!(tls.read(&mut rest).await, Ok(n) if n > 0) {}
                }
                (Target::Tcp(addr), None) => {
                    let mut s = TcpStream::connect(addr).await?;
                    s.write_all(self.request.as_bytes()).await?;
                    while matches!(s.read(&mut rest).await, Ok(n) if n > 0) {}
                }
                (Target::Unix(path), _) => {
                    let mut s = UnixStream::connect(path).await?;
                    s.write_all(self.request.as_bytes()).await?;
                    while matches!(s.read(&mut rest).await, Ok(n) if n > 0) {}
                }
            }
            Ok::<(), Error>(())
        };
        tokio::time::timeout(CANCEL_TIMEOUT, work)
            .await
            .map_err(|_| Error::Io(std::io::ErrorKind::TimedOut.into()))?
    }
}
