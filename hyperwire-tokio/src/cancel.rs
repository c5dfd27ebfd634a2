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
}

impl CancelToken {
    pub(crate) fn new(target: Target, request: CancelRequest) -> Self {
        CancelToken { target, request }
    }

    /// Asks the server to cancel the session's running request; returns once the
    /// server closed the cancel connection (it has acted on the request).
    pub async fn cancel(&self) -> Result<()> {
        let work = async {
            let mut rest = [0u8; 64];
            match &self.target {
                Target::Tcp(addr) => {
                    let mut s = TcpStream::connect(addr).await?;
                    s.write_all(self.request.as_bytes()).await?;
                    while matches!(s.read(&mut rest).await, Ok(n) if n > 0) {}
                }
                Target::Unix(path) => {
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
