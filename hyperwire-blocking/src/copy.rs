//! COPY FROM STDIN as `std::io::Write`, COPY TO STDOUT as `std::io::Read`.

use hyperwire_proto::engine::{
    AbandonPolicy, CopyDirection, CopyReader, CopyStart, CopyStep, CopyWriter, WriteStep,
};
use std::io::{self, Read, Write};

use hyperwire_proto::RequestId;

use crate::client::Client;
use crate::error::{Error, Result};

fn io_err(e: Error) -> io::Error {
    match e {
        Error::Io(e) => e,
        other => io::Error::other(other),
    }
}

/// Sends `sql` and reads until its COPY starts in the wanted direction (the
/// core's rule refuses the other one and a statement without COPY).
fn start(client: &mut Client, sql: &str, direction: CopyDirection) -> Result<RequestId> {
    let reader = CopyStart::send(client.proto(), sql, direction)?;
    let request = reader.request();
    client.read(reader)?;
    Ok(request)
}

/// Reads `reader` until it hands out data or the COPY ends, applying the request
/// timeout and its policy.
fn poll_copy(
    client: &mut Client,
    reader: &mut CopyReader,
    mut data: impl FnMut(&[u8]) -> bool,
) -> Result<CopyStep> {
    let request = reader.request();
    let step = client.poll_until(request, |session| {
        let (proto, _, inbox) = session.parts();
        match reader.poll(proto, inbox, &mut data) {
            Ok(CopyStep::NeedIo) => None,
            Ok(step) => Some(Ok(step)),
            Err(e) => Some(Err(e.into())),
        }
    });
    if matches!(step, Err(Error::Timeout)) {
        // The policy cancelled and drained (or closed): the COPY ends here.
        reader.settled();
    }
    step
}

/// Reads `reader` to the COPY's end: the rows loaded, or the error.
fn copy_end(client: &mut Client, reader: &mut CopyReader) -> Result<u64> {
    while poll_copy(client, reader, |_| false)? != CopyStep::Done {}
    Ok(reader.outcome()?)
}

/// Data for COPY FROM STDIN. Call [`finish`](Self::finish) to commit; dropping it
/// unfinished sends CopyFail, and the connection stays usable.
pub struct CopyIn<'c> {
    client: &'c mut Client,
    writer: CopyWriter,
}

impl<'c> CopyIn<'c> {
    pub(crate) fn start(client: &'c mut Client, sql: &str) -> Result<Self> {
        let request = start(client, sql, CopyDirection::In)?;
        Ok(CopyIn {
            client,
            writer: CopyWriter::new(request),
        })
    }

    /// Writes the queued bytes out while the core asks for it, within the
    /// request timeout (past it the policy settles the COPY: nothing more goes).
    fn flush_if(&mut self, step: WriteStep) -> Result<()> {
        if step == WriteStep::Flush {
            self.flush_now()?;
        }
        Ok(())
    }

    fn flush_now(&mut self) -> Result<()> {
        // Writes while reading: the server may be sending notices or an error.
        let r = self.client.flush_request(self.writer.request());
        if matches!(r, Err(Error::Timeout)) {
            self.writer.abandon(self.client.proto());
        }
        r
    }

    /// Ends the COPY; returns the number of rows the server loaded.
    pub fn finish(mut self) -> Result<u64> {
        let mut reader = self.writer.finish(self.client.proto())?;
        copy_end(self.client, &mut reader)
    }

    /// Aborts the COPY with `reason` (the server's error quotes it); nothing is loaded.
    pub fn abort(mut self, reason: &str) -> Result<()> {
        let mut reader = self.writer.abort(self.client.proto(), reason)?;
        copy_end(self.client, &mut reader).map(drop)
    }
}

impl Write for CopyIn<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let step = self
            .writer
            .write(self.client.proto(), data)
            .map_err(io::Error::other)?;
        self.flush_if(step).map_err(io_err)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        let queued = self.writer.queue_gathered(self.client.proto());
        queued.map_err(|e| io_err(e.into()))?;
        self.flush_now().map_err(io_err)
    }
}

impl Drop for CopyIn<'_> {
    fn drop(&mut self) {
        if self.client.is_healthy() && self.writer.abandon(self.client.proto()) {
            self.client
                .give_up(self.writer.request(), AbandonPolicy::Drain);
        }
    }
}

/// The data of COPY TO STDOUT, streamed.
pub struct CopyOut<'c> {
    client: &'c mut Client,
    reader: CopyReader,
    chunk: Vec<u8>,
    pos: usize,
}

impl<'c> CopyOut<'c> {
    pub(crate) fn start(client: &'c mut Client, sql: &str) -> Result<Self> {
        let request = start(client, sql, CopyDirection::Out)?;
        Ok(CopyOut {
            client,
            reader: CopyReader::new(request),
            chunk: Vec::new(),
            pos: 0,
        })
    }

    /// The command tag (`COPY n`), once all data was read.
    pub fn tag(&self) -> Option<&str> {
        self.reader.tag()
    }

    /// Reads the next CopyData message into `chunk` (`Ok(false)` at the end).
    fn next_chunk(&mut self) -> Result<bool> {
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.clear();
        self.pos = 0;
        let got = self.next_with(|data| chunk.extend_from_slice(data));
        self.chunk = chunk;
        got
    }

    /// Hands the next CopyData message to `f` where it arrived, in the receive
    /// buffer (`Ok(false)` at the end, `f` not called).
    pub(crate) fn next_with(&mut self, mut f: impl FnMut(&[u8])) -> Result<bool> {
        let mut got = false;
        let step = poll_copy(self.client, &mut self.reader, |data| {
            f(data);
            got = true;
            true
        })?;
        if step == CopyStep::Done {
            self.reader.outcome()?;
        }
        Ok(got)
    }

    /// Writes the rest of the data to `out`, each CopyData message straight
    /// from the receive buffer (no copy on the way); returns the bytes written.
    /// If `out` fails, the COPY is cancelled and drained and the error returned.
    pub fn write_to(&mut self, out: &mut dyn Write) -> Result<u64> {
        let mut bytes = 0u64;
        if let Some(rest) = self.chunk.get(self.pos..) {
            out.write_all(rest)?;
            bytes += rest.len() as u64;
        }
        self.chunk.clear();
        self.pos = 0;
        let mut failed = None;
        while !self.reader.is_done() {
            let got = self.next_with(|data| {
                if failed.is_none() {
                    match out.write_all(data) {
                        Ok(()) => bytes += data.len() as u64,
                        Err(e) => failed = Some(e),
                    }
                }
            })?;
            if let Some(e) = failed {
                if !self.reader.is_done() {
                    self.client
                        .give_up(self.reader.request(), AbandonPolicy::CancelThenDrain);
                    self.reader.settled();
                }
                return Err(Error::Io(e));
            }
            if !got {
                break;
            }
        }
        Ok(bytes)
    }
}

impl Read for CopyOut<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.chunk.len() {
            if self.reader.is_done() || !self.next_chunk().map_err(io_err)? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        if let (Some(dst), Some(src)) = (out.get_mut(..n), self.chunk.get(self.pos..self.pos + n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n;
        Ok(n)
    }
}

impl Drop for CopyOut<'_> {
    fn drop(&mut self) {
        if self.reader.is_done() || !self.client.is_healthy() {
            return;
        }
        self.client
            .give_up(self.reader.request(), AbandonPolicy::CancelThenDrain);
    }
}

impl Client {
    /// Starts `COPY ... FROM STDIN`; write the data to the returned writer.
    pub fn copy_in(&mut self, sql: &str) -> Result<CopyIn<'_>> {
        CopyIn::start(self, sql)
    }

    /// Starts `COPY ... TO STDOUT`; read the data from the returned reader.
    pub fn copy_out(&mut self, sql: &str) -> Result<CopyOut<'_>> {
        CopyOut::start(self, sql)
    }

    /// Runs `COPY ... TO STDOUT` and writes its data to `out`, each CopyData
    /// message straight from the receive buffer; returns the bytes written.
    pub fn copy_out_to(&mut self, sql: &str, out: &mut dyn Write) -> Result<u64> {
        self.copy_out(sql)?.write_to(out)
    }
}
