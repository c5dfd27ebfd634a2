//! [`Wire`]: the byte side every sans-IO object here shares, so an adapter writes
//! its byte-moving loop once and runs the connector, the cancel exchange and the
//! session through it.

use crate::engine::{CancelExchange, Connector};
use crate::Protocol;

/// What to write to the socket, and where to read into.
pub trait Wire {
    /// Bytes to write (partial writes are fine).
    fn pending_send(&self) -> &[u8];
    /// `n` bytes of [`Wire::pending_send`] were written.
    fn advance_send(&mut self, n: usize);
    /// Space to read into: at least `min_len` bytes, unless the object must not
    /// read ahead (the one answer byte of an SSLRequest), then less.
    fn recv_buf(&mut self, min_len: usize) -> &mut [u8];
    /// `n` bytes were read into [`Wire::recv_buf`].
    fn recv_commit(&mut self, n: usize);
    /// The peer closed the connection.
    fn recv_eof(&mut self);
}

impl Wire for Protocol {
    fn pending_send(&self) -> &[u8] {
        Protocol::pending_send(self)
    }
    fn advance_send(&mut self, n: usize) {
        Protocol::advance_send(self, n);
    }
    fn recv_buf(&mut self, min_len: usize) -> &mut [u8] {
        Protocol::recv_buf(self, min_len)
    }
    fn recv_commit(&mut self, n: usize) {
        Protocol::recv_commit(self, n);
    }
    fn recv_eof(&mut self) {
        Protocol::recv_eof(self);
    }
}

impl<E> Wire for Connector<E> {
    fn pending_send(&self) -> &[u8] {
        Connector::pending_send(self)
    }
    fn advance_send(&mut self, n: usize) {
        Connector::advance_send(self, n);
    }
    fn recv_buf(&mut self, min_len: usize) -> &mut [u8] {
        Connector::recv_buf(self, min_len)
    }
    fn recv_commit(&mut self, n: usize) {
        Connector::recv_commit(self, n);
    }
    fn recv_eof(&mut self) {
        Connector::recv_eof(self);
    }
}

impl Wire for CancelExchange {
    fn pending_send(&self) -> &[u8] {
        CancelExchange::pending_send(self)
    }
    fn advance_send(&mut self, n: usize) {
        CancelExchange::advance_send(self, n);
    }
    fn recv_buf(&mut self, _min_len: usize) -> &mut [u8] {
        CancelExchange::recv_buf(self)
    }
    fn recv_commit(&mut self, n: usize) {
        CancelExchange::recv_commit(self, n);
    }
    fn recv_eof(&mut self) {
        CancelExchange::recv_eof(self);
    }
}
