//! Cancelling a running request from any thread.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use hyperwire_proto::CancelRequest;

use crate::connect::Target;
use crate::error::Result;

/// Sends a CancelRequest for one session on a separate connection. `Send + Sync`:
/// clone it into another thread.
#[derive(Debug, Clone)]
pub struct CancelToken {
    target: Target,
    request: CancelRequest,
}

/// How long a cancel may take to connect and be acknowledged.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

impl CancelToken {
    pub(crate) fn new(target: Target, request: CancelRequest) -> Self {
        CancelToken { target, request }
    }

    /// Asks the server to cancel whatever the session is running. Returns once the
    /// server closed the cancel connection, i.e. once it has acted on the request;
    /// a session that is idle by then is not affected.
    pub fn cancel(&self) -> Result<()> {
        let mut rest = [0u8; 64];
        match &self.target {
            Target::Tcp(addr) => {
                let mut s = TcpStream::connect_timeout(addr, CANCEL_TIMEOUT)?;
                s.set_read_timeout(Some(CANCEL_TIMEOUT))?;
                s.write_all(self.request.as_bytes())?;
                // The server answers nothing and closes: wait for that.
                while s.read(&mut rest)? > 0 {}
            }
            Target::Unix(path) => {
                let mut s = UnixStream::connect(path)?;
                s.set_read_timeout(Some(CANCEL_TIMEOUT))?;
                s.write_all(self.request.as_bytes())?;
                while s.read(&mut rest)? > 0 {}
            }
        }
        Ok(())
    }
}
