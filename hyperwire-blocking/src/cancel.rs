//! Cancelling a running request from any thread.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use hyperwire_proto::codec::frontend;
use hyperwire_proto::CancelRequest;

use crate::connect::Target;
use crate::error::{Error, Result};
use crate::tls::TlsSetup;

/// Sends a CancelRequest for one session on a separate connection, with TLS when
/// the session used it. `Send + Sync`: clone it into another thread.
#[derive(Debug, Clone)]
pub struct CancelToken {
    target: Target,
    request: CancelRequest,
    /// TLS settings, and whether TLS starts at once (direct SSL).
    tls: Option<(TlsSetup, bool)>,
}

/// How long a cancel may take to connect and be acknowledged.
const CANCEL_TIMEOUT: Duration = Duration::from_secs(10);

impl CancelToken {
    pub(crate) fn new(
        target: Target,
        request: CancelRequest,
        tls: Option<(TlsSetup, bool)>,
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
        match (&self.target, &self.tls) {
            (Target::Tcp(addr), Some((setup, direct))) => {
                let mut sock = TcpStream::connect_timeout(addr, CANCEL_TIMEOUT)?;
                sock.set_read_timeout(Some(CANCEL_TIMEOUT))?;
                if !direct {
                    let mut req = Vec::new();
                    frontend::ssl_request(&mut req);
                    sock.write_all(&req)?;
                    let mut answer = [0u8; 1];
                    sock.read_exact(&mut answer)?;
                    if answer != *b"S" {
                        return Err(Error::Tls(
                            "the server refused TLS for the cancel request".into(),
                        ));
                    }
                }
                crate::tls::send_over_tls(setup, sock, self.request.as_bytes())?;
            }
            (Target::Tcp(addr), None) => {
                let mut s = TcpStream::connect_timeout(addr, CANCEL_TIMEOUT)?;
                s.set_read_timeout(Some(CANCEL_TIMEOUT))?;
                s.write_all(self.request.as_bytes())?;
                drain(&mut s);
            }
            (Target::Unix(path), _) => {
                let mut s = UnixStream::connect(path)?;
                s.set_read_timeout(Some(CANCEL_TIMEOUT))?;
                s.write_all(self.request.as_bytes())?;
                drain(&mut s);
            }
        }
        Ok(())
    }
}

/// The server answers nothing and closes: wait for that (an abrupt close counts).
pub(crate) fn drain(s: &mut impl Read) {
    let mut rest = [0u8; 64];
    while matches!(s.read(&mut rest), Ok(n) if n > 0) {}
}
