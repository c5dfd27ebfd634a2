//! The connection loop: a socket, the protocol machine, and the code that moves
//! bytes between them. All protocol decisions stay in the machine.

use std::io::{self, Read, Write};
use std::time::Instant;

use hyperwire_proto::inbox::Inbox;
use hyperwire_proto::{Event, Protocol};

use crate::error::{Error, Result};
use crate::stream::Stream;

/// How much to read per system call.
const READ_CHUNK: usize = 64 * 1024;
pub(crate) struct Conn {
    pub(crate) stream: Stream,
    pub(crate) proto: Protocol,
    pub(crate) inbox: Inbox,
}

impl Conn {
    pub(crate) fn new(stream: Stream, proto: Protocol) -> Conn {
        Conn {
            stream,
            proto,
            inbox: Inbox::default(),
        }
    }

    /// Turns the TCP socket into a TLS session and runs the handshake; returns the
    /// channel-binding data for SCRAM-SHA-256-PLUS.
    pub(crate) fn upgrade_tls(
        &mut self,
        setup: &crate::tls::TlsSetup,
        deadline: Option<Instant>,
    ) -> Result<Option<Vec<u8>>> {
        let sock = match &self.stream {
            Stream::Tcp(s) => s.try_clone()?,
            _ => return Err(Error::Tls("TLS needs a TCP connection".into())),
        };
        let mut tls = crate::tls::TlsStream::new(setup, sock)?;
        tls.handshake(deadline)?;
        let end_point = tls.server_end_point();
        self.stream = Stream::Tls(Box::new(tls));
        Ok(end_point)
    }

    /// Writes what it can. `Ok(true)` if bytes moved.
    fn write_some(&mut self) -> Result<bool> {
        self.stream.push()?;
        let pending = self.proto.pending_send();
        if pending.is_empty() {
            return Ok(false);
        }
        match self.stream.write(pending) {
            Ok(n) => {
                self.proto.advance_send(n);
                Ok(n > 0)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) => {
                // The connection is gone: the machine must not look usable.
                self.proto.recv_eof();
                Err(e.into())
            }
        }
    }

    /// Reads what has arrived. `Ok(true)` if bytes (or EOF) arrived.
    fn read_some(&mut self) -> Result<bool> {
        let buf = self.proto.recv_buf(READ_CHUNK);
        match self.stream.read(buf) {
            Ok(0) => {
                self.proto.recv_eof();
                Ok(true)
            }
            Ok(n) => {
                self.proto.recv_commit(n);
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                self.proto.recv_eof();
                Ok(true)
            }
            Err(e) => {
                self.proto.recv_eof();
                Err(e.into())
            }
        }
    }

    /// Blocks until something was read (or the peer closed), writing pending bytes
    /// meanwhile, so a large write never waits on a server that is writing too.
    pub(crate) fn pump(&mut self, deadline: Option<Instant>) -> Result<()> {
        loop {
            self.write_some()?;
            let want_write = !self.proto.pending_send().is_empty() || self.stream.wants_write();
            let Some(ready) = self.stream.wait(want_write, deadline)? else {
                return Err(Error::Timeout);
            };
            if ready.write {
                self.write_some()?;
            }
            if ready.read && self.read_some()? {
                return Ok(());
            }
        }
    }

    /// Writes everything pending, reading (into the machine's buffer) meanwhile.
    pub(crate) fn flush(&mut self, deadline: Option<Instant>) -> Result<()> {
        while !self.proto.pending_send().is_empty() || self.stream.wants_write() {
            if self.write_some()? {
                continue;
            }
            let Some(ready) = self.stream.wait(true, deadline)? else {
                return Err(Error::Timeout);
            };
            if ready.read {
                self.read_some()?;
            }
        }
        Ok(())
    }

    /// Feeds events to `f` until it returns `Some`, reading as needed. Notices and
    /// notifications are taken care of here; `Fatal` ends it with an error.
    pub(crate) fn drive<T>(
        &mut self,
        deadline: Option<Instant>,
        mut f: impl FnMut(Event<'_>) -> Result<Option<T>>,
    ) -> Result<T> {
        loop {
            while let Some(ev) = self.proto.poll_event() {
                if self.inbox.take(&ev) {
                    continue;
                }
                match ev {
                    Event::Fatal(e) => return Err(e.into()),
                    other => {
                        if let Some(t) = f(other)? {
                            return Ok(t);
                        }
                    }
                }
            }
            self.pump(deadline)?;
        }
    }
}
