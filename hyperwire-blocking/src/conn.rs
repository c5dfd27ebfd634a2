//! Moving bytes: between a socket and any of the core's sans-IO objects (the
//! session's machine, the connector, a cancel exchange), written once. The
//! decisions are the core's.

use std::io::{self, Read, Write};
use std::time::Instant;

use hyperwire_proto::engine::{Session, Wire};
use hyperwire_proto::Event;

use crate::error::{Error, Result};
use crate::stream::Stream;

/// How much to read per system call.
const READ_CHUNK: usize = 64 * 1024;

/// A socket and the session it carries.
pub(crate) struct Conn {
    pub(crate) stream: Stream,
    pub(crate) session: Session,
}

impl Conn {
    /// Blocks until something was read (or the peer closed), writing meanwhile.
    pub(crate) fn pump(&mut self, deadline: Option<Instant>) -> Result<()> {
        pump(&mut self.stream, self.session.protocol_mut(), deadline)
    }

    /// Writes everything pending, reading (into the machine's buffer) meanwhile.
    pub(crate) fn flush(&mut self, deadline: Option<Instant>) -> Result<()> {
        flush(&mut self.stream, self.session.protocol_mut(), deadline)
    }

    /// Feeds events to `f` until it returns `Some`, reading as needed (the
    /// session keeps notices and notifications, and fails a COPY FROM STDIN
    /// nobody expects).
    pub(crate) fn drive<T>(
        &mut self,
        deadline: Option<Instant>,
        mut f: impl FnMut(&Event<'_>) -> Result<Option<T>>,
    ) -> Result<T> {
        loop {
            if let Some(r) = self.session.drive(|ev| f(ev).transpose())? {
                return r;
            }
            self.pump(deadline)?;
        }
    }
}

/// Writes what it can. `Ok(true)` if bytes moved.
fn write_some(stream: &mut Stream, wire: &mut impl Wire) -> Result<bool> {
    stream.push()?;
    let pending = wire.pending_send();
    if pending.is_empty() {
        return Ok(false);
    }
    match stream.write(pending) {
        Ok(n) => {
            wire.advance_send(n);
            Ok(n > 0)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => {
            // The connection is gone: the machine must not look usable.
            wire.recv_eof();
            Err(e.into())
        }
    }
}

/// Reads what has arrived. `Ok(true)` if bytes (or EOF) arrived.
fn read_some(stream: &mut Stream, wire: &mut impl Wire) -> Result<bool> {
    let buf = wire.recv_buf(READ_CHUNK);
    match stream.read(buf) {
        Ok(0) => {
            wire.recv_eof();
            Ok(true)
        }
        Ok(n) => {
            wire.recv_commit(n);
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
            wire.recv_eof();
            Ok(true)
        }
        Err(e) => {
            wire.recv_eof();
            Err(e.into())
        }
    }
}

/// Blocks until something was read (or the peer closed), writing pending bytes
/// meanwhile, so a large write never waits on a server that is writing too.
/// `Err(Timeout)` when the deadline passed first.
pub(crate) fn pump(
    stream: &mut Stream,
    wire: &mut impl Wire,
    deadline: Option<Instant>,
) -> Result<()> {
    loop {
        write_some(stream, wire)?;
        let want_write = !wire.pending_send().is_empty() || stream.wants_write();
        let Some(ready) = stream.wait(want_write, deadline)? else {
            return Err(Error::Timeout);
        };
        if ready.write {
            write_some(stream, wire)?;
        }
        if ready.read && read_some(stream, wire)? {
            return Ok(());
        }
    }
}

/// Writes everything pending, reading (into the object's buffer) meanwhile.
pub(crate) fn flush(
    stream: &mut Stream,
    wire: &mut impl Wire,
    deadline: Option<Instant>,
) -> Result<()> {
    while !wire.pending_send().is_empty() || stream.wants_write() {
        if write_some(stream, wire)? {
            continue;
        }
        let Some(ready) = stream.wait(true, deadline)? else {
            return Err(Error::Timeout);
        };
        if ready.read {
            read_some(stream, wire)?;
        }
    }
    Ok(())
}
