//! What a custom runtime costs: a hyperwire adapter on plain `std::net` (blocking
//! sockets with timeouts, a thread for a cancel, no `poll(2)`). It opens sockets,
//! runs TLS handshakes and moves bytes; every protocol decision is the core's
//! (`Connector`, `CancelExchange`, `QueryReader`, statement cache, collectors,
//! inbox). One request runs at a time, so writing everything before reading
//! cannot deadlock against a server that is writing too.

use std::collections::hash_map::RandomState;
use std::convert::Infallible;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, ErrorKind as K, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::fs::PermissionsExt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hyperwire_proto::config::plan::{Endpoint, EndpointTarget};
use hyperwire_proto::config::Config;
use hyperwire_proto::engine::{
    CancelAction, CancelExchange, CancelTlsMode, ConnectAction, Connector, Environment,
    QueryReader, ReadStep, RequestError, Timestamp, Wire,
};
use hyperwire_proto::inbox::{Inbox, Notification};
use hyperwire_proto::result::{CollectError, Collector, Row, RowRef, RowVisitor, VisitEnd};
use hyperwire_proto::statement_cache::{self, StatementCache, StatementPolicy};
use hyperwire_proto::value::{EncodedParams, ToSql};
use hyperwire_proto::{CancelRequest, Event, Protocol};
use hyperwire_tls::TlsSetup;
use rustls::{ClientConnection, StreamOwned};

/// Bytes read per system call, and the size of the pieces COPY data is sent in.
const CHUNK: usize = 64 * 1024;

/// Every failure: the core's [`RequestError`] for a request (downcast to it;
/// `RequestError::Server` leaves the session usable), else a socket, TLS,
/// settings, connection or cancel error.
pub type Error = Box<dyn std::error::Error + Send + Sync>;
/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;
/// A point in time by which an operation must finish (`None`: no limit).
type Deadline = Option<Timestamp>;

/// Now on this process's monotonic clock, as the core takes time.
fn now() -> Timestamp {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    Timestamp::from_since_origin(ORIGIN.get_or_init(Instant::now).elapsed())
}

trait ReadWrite: Read + Write + Send {}
impl<T: Read + Write + Send> ReadWrite for T {}

/// A TCP socket (its handle sets the timeouts) and the bytes over it, plain or TLS.
struct Stream {
    tcp: TcpStream,
    io: Box<dyn ReadWrite>,
}

impl Stream {
    fn open(addr: &SocketAddr, timeout: Option<Duration>) -> io::Result<Stream> {
        let tcp = timeout.map_or_else(
            || TcpStream::connect(addr),
            |t| TcpStream::connect_timeout(addr, t),
        )?;
        tcp.set_nodelay(true)?;
        let io = Box::new(tcp.try_clone()?);
        Ok(Stream { tcp, io })
    }

    /// Runs a TLS handshake on this socket (plain until now); returns the
    /// channel-binding data.
    fn start_tls(&mut self, setup: &TlsSetup, deadline: Deadline) -> io::Result<Option<Vec<u8>>> {
        let name = setup.server_name.clone();
        let mut conn =
            ClientConnection::new(Arc::clone(&setup.config), name).map_err(io::Error::other)?;
        let mut sock = self.tcp.try_clone()?;
        self.until(deadline)?;
        while conn.is_handshaking() {
            conn.complete_io(&mut sock)?;
        }
        let end_point = hyperwire_tls::server_end_point(&conn);
        self.io = Box::new(StreamOwned::new(conn, sock));
        Ok(end_point)
    }

    /// Makes reads and writes give up at `deadline` (`None`: wait for ever).
    fn until(&self, deadline: Deadline) -> io::Result<()> {
        let left = deadline.map(|d| d.saturating_duration_since(now()));
        if left == Some(Duration::ZERO) {
            return Err(K::TimedOut.into());
        }
        self.tcp.set_read_timeout(left)?;
        self.tcp.set_write_timeout(left)
    }

    /// Writes everything `w` has to send (by `deadline`).
    fn write_all<W: Wire>(&mut self, w: &mut W, deadline: Deadline) -> io::Result<()> {
        while !w.pending_send().is_empty() {
            self.until(deadline)?;
            let n = self.io.write(w.pending_send())?;
            w.advance_send(n);
            if n == 0 {
                return Err(K::WriteZero.into());
            }
        }
        self.io.flush()
    }

    /// The one byte-moving function, for the connector, a cancel exchange and a
    /// session alike: write what is pending, then read once. `Ok(false)`: the
    /// deadline passed first.
    fn pump<W: Wire>(&mut self, w: &mut W, deadline: Deadline) -> io::Result<bool> {
        let read = self.write_all(w, deadline).and_then(|()| {
            self.until(deadline)?;
            self.io.read(w.recv_buf(CHUNK))
        });
        match read.as_ref().map_err(io::Error::kind) {
            Ok(0) => w.recv_eof(),
            Ok(&n) => w.recv_commit(n),
            Err(K::WouldBlock | K::TimedOut) => return Ok(false),
            Err(K::Interrupted) => {}
            // Reset, or TLS closed without close_notify: the peer is gone.
            Err(K::ConnectionReset | K::UnexpectedEof) => w.recv_eof(),
            Err(_) => {
                w.recv_eof();
                return read.map(|_| true);
            }
        }
        Ok(true)
    }
}

const NOT_OPEN: &str = "no socket is open";

/// Opens a socket to `ep`, trying each address of its host in turn.
fn open(ep: &Endpoint, timeout: Option<Duration>) -> io::Result<(Stream, SocketAddr)> {
    let EndpointTarget::Tcp { address } = &ep.target else {
        return Err(io::Error::other("this example speaks TCP only"));
    };
    let mut last = io::Error::other(format!("could not resolve \"{address}\""));
    for addr in (address.as_str(), ep.port).to_socket_addrs()? {
        match Stream::open(&addr, timeout) {
            Ok(s) => return Ok((s, addr)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Cancels whatever its session is running, from any thread: the server's
/// address, the request, and TLS as the session did it.
#[derive(Debug, Clone)]
pub struct CancelHandle(SocketAddr, CancelRequest, Option<(CancelTlsMode, TlsSetup)>);

impl CancelHandle {
    /// Runs the core's cancel exchange on a new connection; returns once the
    /// server acted on it.
    pub fn cancel(&self) -> Result<()> {
        let CancelHandle(addr, request, tls) = self;
        let mode = tls.as_ref().map(|(m, _)| *m);
        let mut x = CancelExchange::new(request.clone(), mode, now());
        let mut sock = None;
        loop {
            let deadline = x.poll_timeout();
            let left = deadline.map(|d| d.saturating_duration_since(now()));
            match (x.poll_action(), sock.as_mut(), tls) {
                (CancelAction::Open, _, _) => {
                    sock = Some(Stream::open(addr, left)?);
                    x.opened();
                }
                (CancelAction::StartTls { .. }, Some(s), Some((_, setup))) => {
                    s.start_tls(setup, deadline)?;
                    x.tls_established();
                }
                (CancelAction::Io, Some(s), _) => {
                    if !s.pump(&mut x, deadline)? {
                        x.handle_timeout(now());
                    }
                }
                (CancelAction::Done, _, _) => return Ok(()),
                (CancelAction::Failed(e), _, _) => return Err(e.into()),
                _ => return Err(NOT_OPEN.into()),
            }
        }
    }
}

/// One connection, one request at a time.
pub struct Session {
    sock: Stream,
    proto: Protocol,
    cache: StatementCache,
    inbox: Inbox,
    cancel: CancelHandle,
}

impl Session {
    /// Connects as libpq would with `conninfo` and the libpq environment
    /// (hosts, sslmode, SCRAM, the password file...), as the core's connector
    /// decides.
    pub fn connect(conninfo: &str) -> Result<Session> {
        let mut config = Config::parse(conninfo)?;
        config.apply_env(&|k| std::env::var(k).ok())?;
        let mut c = Connector::<io::Error>::new(&config);
        // What the connector reads from this machine: HOME, the password file,
        // the default socket directories, randomness.
        let read_file = |p: &str| {
            let mode = std::fs::metadata(p).ok()?.permissions().mode();
            Some((mode, std::fs::read_to_string(p).ok()?))
        };
        let env = Environment {
            var: &|k| std::env::var(k).ok(),
            read_file: &read_file,
            exists: &|p| std::path::Path::new(p).exists(),
            random: RandomState::new().build_hasher().finish(),
        };
        if let Some(warning) = c.read_environment(&env) {
            eprintln!("{warning}");
        }
        let (mut sock, mut tls) = (None, None);
        loop {
            let deadline = c.poll_timeout();
            match (c.poll_action(), sock.as_mut()) {
                (ConnectAction::Open(ep), _) => match open(&ep, c.connect_timeout()) {
                    Ok(opened) => {
                        sock = Some(opened);
                        c.opened(now());
                    }
                    Err(e) => c.open_failed(e, now()),
                },
                (ConnectAction::StartTls { host, .. }, Some((s, _))) => {
                    let setup = hyperwire_tls::setup(&config, &host).map_err(io::Error::other);
                    match setup.and_then(|t| Ok((s.start_tls(&t, deadline)?, t))) {
                        Ok((end_point, setup)) => {
                            tls = Some(setup.for_cancel());
                            c.tls_established(end_point, now());
                        }
                        Err(e) => c.tls_failed(e, now()),
                    }
                }
                (ConnectAction::Io, Some((s, _))) => match s.pump(&mut c, deadline) {
                    Ok(true) => {}
                    Ok(false) => c.handle_timeout(now()),
                    Err(e) => c.io_failed(e, now()),
                },
                (ConnectAction::Close, _) => (sock, tls) = (None, None),
                (ConnectAction::Ready(ready), Some(_)) => {
                    let (sock, addr) = sock.ok_or(NOT_OPEN)?;
                    let request = ready.protocol.cancel_request()?;
                    return Ok(Session {
                        sock,
                        proto: ready.protocol,
                        cache: StatementCache::new(StatementPolicy::default()),
                        inbox: Inbox::default(),
                        cancel: CancelHandle(addr, request, ready.tls.zip(tls)),
                    });
                }
                (ConnectAction::Failed(e), _) => return Err(e.to_string().into()),
                _ => return Err(NOT_OPEN.into()),
            }
        }
    }

    /// A handle that cancels this session's running request from another thread.
    pub fn cancel_handle(&self) -> CancelHandle {
        self.cancel.clone()
    }

    /// Runs one statement with parameters (through the statement cache) and
    /// returns the rows of its result.
    pub fn query(&mut self, sql: &str, params: &[&dyn ToSql]) -> Result<Vec<Row>> {
        let params = encode(params)?;
        let mut reader = QueryReader::send(&mut self.proto, &mut self.cache, sql, params)?;
        loop {
            match reader.poll(&mut self.proto, &mut self.cache, &mut self.inbox) {
                ReadStep::Done(results) => return Ok(results?.pop().unwrap_or_default().rows),
                ReadStep::NeedIo => {
                    if let Err(e) = self.sock.pump(&mut self.proto, None) {
                        reader.abandon(&mut self.cache);
                        return Err(e.into());
                    }
                }
                _ => {}
            }
        }
    }

    /// Runs one statement and hands each row to `f` where it lies in the receive
    /// buffer, never holding the result; returns the number of rows. Not for
    /// COPY: the core's `RowVisitor` does not say when to fail a COPY FROM STDIN.
    pub fn for_each_row(
        &mut self,
        sql: &str,
        params: &[&dyn ToSql],
        mut f: impl FnMut(RowRef<'_>),
    ) -> Result<u64> {
        let id = statement_cache::send_unnamed(&mut self.proto, sql, &encode(params)?)?;
        let mut visitor = RowVisitor::new(id, |row| {
            f(row);
            Ok::<(), Infallible>(())
        });
        self.drive(None, |ev| visitor.on_event(ev))?;
        visitor.finish().map_err(|end| match end {
            VisitEnd::Server(e) => RequestError::Server(e).into(),
            VisitEnd::Callback(never) => match never {},
            _ => RequestError::CopyNotExpected.into(),
        })
    }

    /// Runs `COPY ... FROM STDIN` with `data`; returns the rows loaded.
    pub fn copy_in(&mut self, sql: &str, data: &[u8]) -> Result<u64> {
        let id = self.proto.query(sql)?;
        let (mut collector, mut started) = (Collector::default(), false);
        self.drive(None, |ev| {
            started = matches!(ev, Event::CopyInStart { request, .. } if *request == id);
            started || (ev.request() == Some(id) && collector.on_event(ev))
        })?;
        if started {
            // The machine knows when the server ended the COPY early (an error).
            let mut chunks = data.chunks(CHUNK);
            while let Some(chunk) = chunks.next().filter(|_| self.proto.in_copy_in()) {
                self.proto.copy_data(chunk)?;
                self.sock.write_all(&mut self.proto, None)?;
            }
            if self.proto.in_copy_in() {
                self.proto.copy_done()?;
            }
            self.drive(None, |e| e.request() == Some(id) && collector.on_event(e))?;
        }
        let results = collector.finish().map_err(request_error)?;
        let loaded = results.last().and_then(|r| r.rows_affected()).unwrap_or(0);
        started.then_some(loaded).ok_or("no COPY FROM STDIN".into())
    }

    /// Runs `COPY ... TO STDOUT` and returns its data. Not for COPY FROM STDIN,
    /// which the core gives no rule to refuse.
    pub fn copy_out(&mut self, sql: &str) -> Result<Vec<u8>> {
        let id = self.proto.query(sql)?;
        let (mut data, mut collector) = (Vec::new(), Collector::default());
        self.drive(None, |ev| match ev {
            Event::CopyData { request, data: d } if *request == id => {
                data.extend_from_slice(d);
                false
            }
            _ => ev.request() == Some(id) && collector.on_event(ev),
        })?;
        collector.finish().map_err(request_error)?;
        Ok(data)
    }

    /// Waits up to `timeout` for a LISTEN notification while idle.
    pub fn wait_notification(&mut self, timeout: Duration) -> Result<Option<Notification>> {
        let deadline = Some(now().saturating_add(timeout));
        if let Some(n) = self.inbox.pop_notification() {
            return Ok(Some(n));
        }
        self.drive(deadline, |ev| matches!(ev, Event::Notification { .. }))?;
        Ok(self.inbox.pop_notification())
    }

    /// Hands each event to `f` (notifications and notices also go to the
    /// inbox) until `f` says `true`, reading as needed. `Ok(false)`: the
    /// deadline passed first.
    fn drive(&mut self, deadline: Deadline, mut f: impl FnMut(&Event<'_>) -> bool) -> Result<bool> {
        loop {
            while let Some(ev) = self.proto.poll_event() {
                if let Event::Fatal(e) = ev {
                    return Err(RequestError::Protocol(e).into());
                }
                let done = f(&ev);
                self.inbox.take(&ev);
                if done {
                    return Ok(true);
                }
            }
            if !self.sock.pump(&mut self.proto, deadline)? {
                return Ok(false);
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.proto.terminate();
        let deadline = now().saturating_add(Duration::from_secs(1));
        let _ = self.sock.write_all(&mut self.proto, Some(deadline));
    }
}

fn encode(params: &[&dyn ToSql]) -> Result<EncodedParams> {
    EncodedParams::new(params, None).map_err(|(i, e)| format!("${}: {e}", i + 1).into())
}

fn request_error(e: CollectError) -> Error {
    match e {
        CollectError::Server(e) => RequestError::Server(e).into(),
        other => RequestError::Collect(other).into(),
    }
}
