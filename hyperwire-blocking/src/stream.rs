//! The socket: TCP, unix or TLS over TCP, non-blocking, waited on with poll(2) for
//! reads and writes together.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::Instant;

use rustix::event::{poll, PollFd, PollFlags, Timespec};

use crate::tls::TlsStream;

/// A connected socket.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<TlsStream>),
}

/// What the socket is ready for.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ready {
    pub(crate) read: bool,
    pub(crate) write: bool,
}

/// Waits on one descriptor until readable (and writable, if asked) or the deadline.
/// `Ok(None)` means the deadline passed.
pub(crate) fn wait_fd(
    fd: &impl AsFd,
    want_write: bool,
    deadline: Option<Instant>,
) -> io::Result<Option<Ready>> {
    let mut flags = PollFlags::IN;
    if want_write {
        flags |= PollFlags::OUT;
    }
    let mut fds = [PollFd::from_borrowed_fd(fd.as_fd(), flags)];
    loop {
        let timeout = match deadline {
            None => None,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(None);
                }
                Some(Timespec::try_from(left).map_err(|_| io::Error::other("timeout too large"))?)
            }
        };
        match poll(&mut fds, timeout.as_ref()) {
            Ok(0) => continue,
            Ok(_) => {
                let r = fds[0].revents();
                // Errors and hang-ups surface on the next read or write.
                let broken = r.intersects(PollFlags::ERR | PollFlags::HUP | PollFlags::NVAL);
                return Ok(Some(Ready {
                    read: r.contains(PollFlags::IN) || broken,
                    write: r.contains(PollFlags::OUT) || broken,
                }));
            }
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

impl Stream {
    pub(crate) fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_nonblocking(on),
            Stream::Unix(s) => s.set_nonblocking(on),
            Stream::Tls(s) => s.sock.set_nonblocking(on),
        }
    }

    /// Encrypted bytes are waiting to go out.
    pub(crate) fn wants_write(&self) -> bool {
        matches!(self, Stream::Tls(t) if t.wants_write())
    }

    /// Sends buffered encrypted bytes, as far as the socket takes them.
    pub(crate) fn push(&mut self) -> crate::error::Result<()> {
        match self {
            Stream::Tls(t) => t.push_tls(),
            _ => Ok(()),
        }
    }

    /// Waits until readable (and writable, if `want_write`), or the deadline.
    /// `Ok(None)` means the deadline passed.
    pub(crate) fn wait(
        &mut self,
        want_write: bool,
        deadline: Option<Instant>,
    ) -> io::Result<Option<Ready>> {
        if let Stream::Tls(t) = self {
            // Decrypted bytes already buffered: readable without the socket.
            if t.has_plaintext() {
                return Ok(Some(Ready {
                    read: true,
                    write: false,
                }));
            }
        }
        let want_write = want_write || self.wants_write();
        wait_fd(self, want_write, deadline)
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Stream::Tcp(s) => s.as_fd(),
            Stream::Unix(s) => s.as_fd(),
            Stream::Tls(s) => s.sock.as_fd(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
