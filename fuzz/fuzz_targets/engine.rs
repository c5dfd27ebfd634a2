//! The engine driven as an adapter would drive it, with the input choosing every
//! outcome: a `Connector` from a fuzzer-built `Config` (hosts, sslmode, direct SSL,
//! target_session_attrs, protocol version, load_balance_hosts=random, connect_timeout,
//! a password or a password file), where each action is answered by the input (the
//! socket opens or not, the TLS handshake succeeds or not, the server sends well-formed
//! messages from a menu — a real SCRAM exchange included — or arbitrary bytes, closes,
//! the socket fails, time passes); then a `CancelExchange` the same way.
//!
//! The contract, checked as it runs:
//! - no panic;
//! - the loop ends (`Ready` or `Failed`) within a bound once the input runs out (from
//!   then on every `Open` fails, every handshake fails, every `Io` reads EOF);
//! - `Ready` holds a ready machine, encrypted when sslmode=require over TCP (and TLS is
//!   reported as direct exactly when the handshake was); `Failed` lists at least one
//!   attempt, and no socket is left open;
//! - one socket at a time: `Open` never comes twice without a `Close` or an
//!   `open_failed` between them, `Close` only closes an open socket, `StartTls` and
//!   `Io` only act on an open socket (`StartTls` once per socket);
//! - no plaintext before TLS where TLS is required (direct SSL: not a byte; sslmode=
//!   require: nothing but the SSLRequest);
//! - `poll_timeout()` never goes backwards within one attempt; a timeout before the
//!   deadline changes nothing; a failed socket, a failed handshake or a timeout that
//!   fired closes the socket next; no `Io` after the server's EOF was read;
//! - the cancel exchange ends in `Done` or `Failed` within a bound, reads exactly one
//!   byte at a time while the SSLRequest's answer is awaited, starts TLS only as the
//!   session did (and after an 'S'), is `Done` only once the request was written in
//!   full (after the SSLRequest, if any), and times out only after its deadline.
#![no_main]

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use hyperwire_proto::auth::ScramKeyCache;
use hyperwire_proto::config::plan::{Endpoint, EndpointTarget};
use hyperwire_proto::config::{
    ChannelBinding, Config, GssEncMode, Host, LoadBalanceHosts, SslMode, SslNegotiation,
    TargetSessionAttrs,
};
use hyperwire_proto::engine::{
    CancelAction, CancelError, CancelExchange, CancelTlsMode, ConnectAction, Connector,
    Environment, ScramKeyStore, Timestamp, CANCEL_TIMEOUT,
};
use hyperwire_proto::testing::{
    auth, auth_ok, complete, data_row, empty, error, fatal, key, msg, negotiate_version, notice,
    param, ready, row_desc, sasl,
};
use hyperwire_proto::{Protocol, ProtocolVersion, Settings};
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;

/// Actions before a run must have ended (the input is at most a few KiB, and every
/// action taken while there is input left consumes some of it).
const MAX_STEPS: usize = 10_000;

const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];
const GSSENC_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30];

const HOSTS: [&str; 5] = ["a", "b", "10.0.0.1", "/tmp", "a"];
const PORTS: [u16; 3] = [5432, 5433, 1];
const PASSWORDS: [&str; 3] = ["secret", "hunter2", "pa:ss\\"];
const PARAMS: [&str; 8] = [
    "in_hot_standby",
    "default_transaction_read_only",
    "hyper_version",
    "server_version",
    "client_encoding",
    "result_format_code",
    "TimeZone",
    "integer_datetimes",
];
const VALUES: [&str; 6] = ["on", "off", "", "15.4", "hyperbinary", "UTF8"];
const ANSWERS: [Option<&str>; 7] = [
    Some("on"),
    Some("off"),
    Some("t"),
    Some("f"),
    None,
    Some(""),
    Some("yes"),
];
const ERROR_CODES: [&str; 7] = [
    "28000", "28P01", "57P03", "53300", "0A000", "08P01", "42501",
];

// ---- the connection settings ---------------------------------------------------------

#[derive(Arbitrary, Debug)]
struct Setup {
    hosts: [u8; 3],
    host_count: u8,
    ports: Option<[u8; 3]>,
    sslmode: Ssl,
    direct: bool,
    /// Direct SSL with a weaker sslmode too (a settings error, before any Open).
    direct_anyway: u8,
    attrs: Attrs,
    max_3_2: bool,
    /// min_protocol_version=3.2 (sometimes above max: the machine refuses).
    min_3_2: u8,
    load_balance: Option<u64>,
    connect_timeout: Option<u8>,
    password: PasswordSource,
    user: bool,
    dbname: Option<bool>,
    channel_binding: Binding,
    /// gssencmode=require (unsupported: fails before opening).
    gss_require: u8,
    scram_store: bool,
    drain_budget: Option<u8>,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Ssl {
    Disable,
    Allow,
    Prefer,
    Require,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Attrs {
    Any,
    ReadWrite,
    ReadOnly,
    Primary,
    Standby,
    PreferStandby,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Binding {
    Prefer,
    Require,
    Disable,
}

#[derive(Arbitrary, Debug)]
enum PasswordSource {
    None,
    Config(u8),
    /// `set_password_file`.
    File {
        mode: FileMode,
        file: PassFile,
    },
    /// Found by `read_environment` (`$HOME/.pgpass` or `passfile`).
    Environment {
        passfile_key: bool,
        mode: FileMode,
        file: PassFile,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum FileMode {
    Private,
    PrivateNoType,
    GroupReadable,
    Directory,
    Other(u32),
}

impl FileMode {
    fn bits(self) -> u32 {
        match self {
            FileMode::Private => 0o100600,
            FileMode::PrivateNoType => 0o600,
            FileMode::GroupReadable => 0o100640,
            FileMode::Directory => 0o040700,
            FileMode::Other(m) => m,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum PassFile {
    Lines(Vec<PassLine>),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct PassLine {
    host: u8,
    port: u8,
    db: u8,
    user: u8,
    password: u8,
}

fn pick<T: Copy>(items: &[T], i: u8) -> T {
    items[usize::from(i) % items.len()]
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace(':', "\\:")
}

impl PassFile {
    fn contents(&self) -> String {
        match self {
            PassFile::Raw(s) => s.clone(),
            PassFile::Lines(lines) => {
                let mut out = String::new();
                for l in lines.iter().take(8) {
                    let host = match l.host % 6 {
                        0 => "*".to_string(),
                        i => escape(HOSTS[usize::from(i - 1) % HOSTS.len()]),
                    };
                    let port = match l.port % 4 {
                        0 => "*".to_string(),
                        i => PORTS[usize::from(i - 1)].to_string(),
                    };
                    let db = pick(&["*", "d", "u"], l.db);
                    let user = pick(&["*", "u", "x"], l.user);
                    let pw = escape(pick(&PASSWORDS, l.password));
                    out.push_str(&format!("{host}:{port}:{db}:{user}:{pw}\n"));
                }
                out
            }
        }
    }
}

impl Setup {
    fn config(&self) -> Config {
        let mut c = Config::new();
        let n = usize::from(self.host_count % 3) + 1;
        for &h in &self.hosts[..n] {
            let h = pick(&HOSTS, h);
            c.host(if h.starts_with('/') {
                Host::Unix(h.into())
            } else {
                Host::Tcp(h.into())
            });
        }
        match self.ports {
            None => {}
            Some(ports) if ports[0] % 2 == 0 => {
                c.port(pick(&PORTS, ports[1]));
            }
            Some(ports) => {
                for &p in &ports[..n] {
                    c.port(pick(&PORTS, p));
                }
            }
        }
        c.sslmode(match self.sslmode {
            Ssl::Disable => SslMode::Disable,
            Ssl::Allow => SslMode::Allow,
            Ssl::Prefer => SslMode::Prefer,
            Ssl::Require => SslMode::Require,
        });
        if self.direct && (self.sslmode == Ssl::Require || self.direct_anyway == 0xff) {
            c.sslnegotiation(SslNegotiation::Direct);
        }
        c.target_session_attrs(match self.attrs {
            Attrs::Any => TargetSessionAttrs::Any,
            Attrs::ReadWrite => TargetSessionAttrs::ReadWrite,
            Attrs::ReadOnly => TargetSessionAttrs::ReadOnly,
            Attrs::Primary => TargetSessionAttrs::Primary,
            Attrs::Standby => TargetSessionAttrs::Standby,
            Attrs::PreferStandby => TargetSessionAttrs::PreferStandby,
        });
        c.max_protocol_version(if self.max_3_2 {
            ProtocolVersion::V3_2
        } else {
            ProtocolVersion::V3_0
        });
        if self.min_3_2 == 0xff {
            c.min_protocol_version(ProtocolVersion::V3_2);
        }
        if self.load_balance.is_some() {
            c.load_balance_hosts(LoadBalanceHosts::Random);
        }
        if let Some(t) = self.connect_timeout {
            c.connect_timeout(Duration::from_secs(u64::from(t % 6)));
        }
        if self.user {
            c.user("u");
        }
        if let Some(db) = self.dbname {
            c.dbname(if db { "d" } else { "u" });
        }
        c.channel_binding(match self.channel_binding {
            Binding::Prefer => ChannelBinding::Prefer,
            Binding::Require => ChannelBinding::Require,
            Binding::Disable => ChannelBinding::Disable,
        });
        if self.gss_require == 0xff {
            c.gssencmode(GssEncMode::Require);
        }
        match &self.password {
            PasswordSource::Config(i) => {
                c.password(pick(&PASSWORDS, *i));
            }
            PasswordSource::Environment {
                passfile_key: true, ..
            } => {
                c.passfile("/etc/pgpass");
            }
            _ => {}
        }
        c
    }
}

/// Salted SCRAM passwords, shared by the runs of one input (emptied before each).
struct Store(Mutex<ScramKeyCache>);

impl ScramKeyStore for Store {
    fn with(&self, f: &mut dyn FnMut(&mut ScramKeyCache)) {
        if let Ok(mut cache) = self.0.lock() {
            f(&mut cache);
        }
    }
}

static STORE: Store = Store(Mutex::new(ScramKeyCache::new(4)));

// ---- what the input answers ----------------------------------------------------------

#[derive(Arbitrary, Debug)]
enum OpenOutcome {
    Opened { after_ms: u16 },
    Failed,
}

#[derive(Arbitrary, Debug)]
enum TlsOutcome {
    Established(EndPoint),
    Failed,
    /// The handshake is still running when the adapter wakes up at this time.
    Timeout(TimeStep, EndPoint),
}

#[derive(Arbitrary, Debug)]
enum EndPoint {
    None,
    Sha256,
    Bytes(Vec<u8>),
}

impl EndPoint {
    fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            EndPoint::None => None,
            EndPoint::Sha256 => Some(vec![0xab; 32]),
            EndPoint::Bytes(b) => Some(b.clone()),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum TimeStep {
    /// Just past the deadline (or this much later without one).
    PastDeadline {
        extra_ms: u16,
    },
    Advance {
        ms: u32,
    },
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum WriteAmount {
    All,
    Part(u16),
    Nothing,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum ReadLimit {
    All,
    UpTo(u16),
}

#[derive(Arbitrary, Debug)]
struct IoTurn {
    write: WriteAmount,
    event: ServerEvent,
    read: ReadLimit,
}

#[derive(Arbitrary, Debug)]
enum ServerEvent {
    Send(Vec<Piece>),
    Close,
    IoFailed,
    Timeout(TimeStep),
    Quiet,
}

/// Server bytes: a message from the menu, a frame of any type, or raw bytes.
#[derive(Arbitrary, Debug)]
enum Piece {
    /// AuthenticationOk, parameters, BackendKeyData, ReadyForQuery.
    Startup {
        hot_standby: Option<bool>,
        read_only: Option<bool>,
        hyper: bool,
    },
    /// RowDescription, DataRow, CommandComplete, ReadyForQuery for the check query.
    CheckAnswer(u8),
    AuthOk,
    AuthCleartext,
    AuthMd5([u8; 4]),
    AuthSasl {
        plain: bool,
        plus: bool,
    },
    /// The server-first message for the client's SCRAM first message on this socket.
    ScramFirst {
        nonce: u32,
        salt: [u8; 3],
        iterations: u8,
    },
    /// The server-final message, signed with this password (or tampered with).
    ScramFinal {
        password: u8,
        tamper: bool,
    },
    AuthOther(u8),
    Parameter {
        name: u8,
        value: u8,
    },
    BackendKey {
        pid: u32,
        secret_len: u8,
    },
    Ready(u8),
    /// One byte answering an SSLRequest.
    EncryptionAnswer(u8),
    Error(u8),
    /// An error for the check query, then ReadyForQuery.
    CheckError,
    Notice,
    NegotiateVersion {
        newest: u32,
        options: u8,
    },
    RowDescription(u8),
    DataRow(u8),
    CommandComplete,
    EmptyQuery,
    Frame {
        tag: u8,
        body: Vec<u8>,
    },
    Raw(Vec<u8>),
}

/// A DataRow of one text column (`None` is NULL).
fn one_column_row(value: Option<&str>) -> Vec<u8> {
    data_row(&[value.map(str::as_bytes)])
}

fn on_off(v: bool) -> &'static str {
    if v {
        "on"
    } else {
        "off"
    }
}

/// The client's messages on one socket so far: the untagged packets first
/// (SSLRequest, GSSENCRequest, the StartupMessage), then tagged ones.
fn client_messages(w: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(head) = w.get(i..i + 8) {
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let code = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        if len == 8 && (code == 80877103 || code == 80877104) {
            i += 8;
            continue;
        }
        if len >= 8 && w.len() >= i + len {
            i += len;
        } else {
            return out;
        }
        break;
    }
    while let Some(head) = w.get(i..i + 5) {
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let Some(body) = len.checked_sub(4).and_then(|n| w.get(i + 5..i + 5 + n)) else {
            break;
        };
        out.push((head[0], body));
        i += 1 + len;
    }
    out
}

/// A SASLInitialResponse: the mechanism, then the client-first message.
fn sasl_initial(body: &[u8]) -> Option<&[u8]> {
    let nul = body.iter().position(|&b| b == 0)?;
    let mech = &body[..nul];
    if !mech.starts_with(b"SCRAM-SHA-256") {
        return None;
    }
    let rest = &body[nul + 1..];
    let len = i32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
    let data = rest.get(4..)?;
    (usize::try_from(len).ok()? == data.len()).then_some(data)
}

/// The server's side of one SCRAM exchange.
#[derive(Debug, Clone)]
struct ScramServer {
    client_first_bare: Vec<u8>,
    server_first: Vec<u8>,
    salt: Vec<u8>,
    iterations: u32,
}

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    m.update(msg);
    m.finalize().into_bytes().into()
}

// ---- the connector -------------------------------------------------------------------

/// The adapter's one socket.
#[derive(Debug)]
struct Socket {
    endpoint: Endpoint,
    opened: bool,
    tls_started: bool,
    tls: Option<bool>,
    /// Bytes written in plaintext, before any TLS.
    plain: Vec<u8>,
    /// Every byte written (as the server reads it).
    written: Vec<u8>,
    /// Server bytes not read yet.
    inbox: VecDeque<u8>,
    closed_by_server: bool,
    eof_read: bool,
    scram: Option<ScramServer>,
    /// The latest deadline this attempt gave.
    deadline: Option<Timestamp>,
}

/// What the next action must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Anything,
    /// The socket failed or timed out: `Close` is owed.
    Close,
    /// `open_failed`: no socket to close.
    NoClose,
}

struct Driver<'a, 'u> {
    u: &'a mut Unstructured<'u>,
    setup: &'a Setup,
    now: Duration,
    socket: Option<Socket>,
    opens: usize,
    expect: Expect,
}

impl Driver<'_, '_> {
    fn now(&self) -> Timestamp {
        Timestamp::from_since_origin(self.now)
    }

    /// The input's next choice, or `None` once it has run out.
    fn choose<T: for<'x> Arbitrary<'x>>(&mut self) -> Option<T> {
        if self.u.is_empty() {
            return None;
        }
        T::arbitrary(self.u).ok()
    }

    fn advance(&mut self, step: TimeStep, deadline: Option<Timestamp>) {
        match step {
            TimeStep::PastDeadline { extra_ms } => {
                let extra = Duration::from_millis(u64::from(extra_ms));
                self.now = match deadline {
                    Some(d) => self.now.max(d.since_origin()) + extra,
                    None => self.now + extra,
                };
            }
            TimeStep::Advance { ms } => self.now += Duration::from_millis(u64::from(ms)),
        }
    }

    /// `handle_timeout` at the time `step` moves to: returns whether it fired.
    fn timeout(&mut self, c: &mut Connector<String>, step: TimeStep) -> bool {
        let before = c.poll_timeout();
        self.advance(step, before);
        let fires = before.is_some_and(|d| self.now() >= d);
        c.handle_timeout(self.now());
        if fires {
            self.expect = Expect::Close;
        } else {
            assert_eq!(
                c.poll_timeout(),
                before,
                "a timeout before the deadline changed the deadline"
            );
        }
        fires
    }

    fn check_deadline(&mut self, c: &Connector<String>) {
        let Some(s) = self.socket.as_mut() else {
            return;
        };
        if let Some(d) = c.poll_timeout() {
            if let Some(prev) = s.deadline {
                assert!(d >= prev, "poll_timeout went back: {prev:?} then {d:?}");
            }
            s.deadline = Some(d);
        }
    }

    /// Plaintext may hold nothing but the SSLRequest where TLS is required.
    fn check_plaintext(&self, s: &Socket) {
        let tcp = !s.endpoint.is_unix();
        if !tcp || s.tls.is_some() {
            return;
        }
        let direct = self.setup.direct && self.setup.sslmode == Ssl::Require;
        if direct {
            assert!(
                s.plain.is_empty(),
                "bytes written before a direct TLS handshake: {:?}",
                s.plain
            );
        } else if self.setup.sslmode == Ssl::Require {
            let mut allowed = GSSENC_REQUEST.to_vec();
            allowed.extend_from_slice(&SSL_REQUEST);
            let ok = SSL_REQUEST.starts_with(&s.plain) || allowed.starts_with(&s.plain);
            assert!(
                ok,
                "sslmode=require wrote more than an SSLRequest in plaintext: {:?}",
                s.plain
            );
        }
    }

    fn write(&mut self, c: &mut Connector<String>, amount: WriteAmount) {
        let pending = c.pending_send();
        let n = match amount {
            WriteAmount::All => pending.len(),
            WriteAmount::Part(k) => usize::from(k) % (pending.len() + 1),
            WriteAmount::Nothing => 0,
        };
        let bytes = pending[..n].to_vec();
        c.advance_send(n);
        let s = self.socket.as_mut().expect("Io without a socket");
        if s.tls.is_none() {
            s.plain.extend_from_slice(&bytes);
        }
        s.written.extend_from_slice(&bytes);
        let s = self.socket.as_ref().expect("checked");
        self.check_plaintext(s);
    }

    fn read(&mut self, c: &mut Connector<String>, limit: ReadLimit) {
        let s = self.socket.as_mut().expect("Io without a socket");
        if s.inbox.is_empty() {
            if s.closed_by_server {
                s.eof_read = true;
                c.recv_eof();
            }
            return;
        }
        let want = match limit {
            ReadLimit::All => s.inbox.len(),
            ReadLimit::UpTo(k) => (usize::from(k) % s.inbox.len()) + 1,
        };
        let buf = c.recv_buf(want);
        assert!(!buf.is_empty(), "recv_buf gave no space during Io");
        let n = want.min(buf.len());
        for (dst, src) in buf[..n].iter_mut().zip(s.inbox.drain(..n)) {
            *dst = src;
        }
        c.recv_commit(n);
    }

    fn render(&mut self, piece: &Piece) -> Vec<u8> {
        let s = self.socket.as_mut().expect("Io without a socket");
        match piece {
            Piece::Startup {
                hot_standby,
                read_only,
                hyper,
            } => {
                let mut v = auth_ok();
                v.extend(param("server_version", "17.2"));
                if let Some(h) = hot_standby {
                    v.extend(param("in_hot_standby", on_off(*h)));
                }
                if let Some(r) = read_only {
                    v.extend(param("default_transaction_read_only", on_off(*r)));
                }
                if *hyper {
                    v.extend(param("hyper_version", "0.0.1"));
                }
                v.extend(key(7, &[1, 2, 3, 4]));
                v.extend(ready(b'I'));
                v
            }
            Piece::CheckAnswer(i) => {
                let mut v = row_desc(&[("v", 25)]);
                v.extend(one_column_row(pick(&ANSWERS, *i)));
                v.extend(complete("SHOW"));
                v.extend(ready(b'I'));
                v
            }
            Piece::AuthOk => auth_ok(),
            Piece::AuthCleartext => auth(3, &[]),
            Piece::AuthMd5(salt) => auth(5, salt),
            Piece::AuthSasl { plain, plus } => {
                let mut offered = Vec::new();
                if *plus {
                    offered.push("SCRAM-SHA-256-PLUS");
                }
                if *plain {
                    offered.push("SCRAM-SHA-256");
                }
                sasl(&offered)
            }
            Piece::ScramFirst {
                nonce,
                salt,
                iterations,
            } => {
                let written = s.written.clone();
                let first = client_messages(&written)
                    .into_iter()
                    .filter(|(t, _)| *t == b'p')
                    .find_map(|(_, body)| sasl_initial(body));
                let Some(first) = first else {
                    return auth(11, b"r=x,s=QUJD,i=1");
                };
                // gs2 header "x,[a],", then client-first-bare "n=...,r=<nonce>".
                let bare_at = first
                    .iter()
                    .enumerate()
                    .filter(|(_, b)| **b == b',')
                    .nth(1)
                    .map_or(first.len(), |(i, _)| i + 1);
                let bare = first[bare_at..].to_vec();
                let client_nonce = bare
                    .windows(3)
                    .position(|w| w == b",r=")
                    .map(|i| bare[i + 3..].to_vec())
                    .unwrap_or_default();
                let iterations = u32::from(iterations % 4) + 1;
                let mut server_first = b"r=".to_vec();
                server_first.extend_from_slice(&client_nonce);
                server_first.extend_from_slice(format!("{nonce:x}").as_bytes());
                server_first.extend_from_slice(b",s=");
                server_first.extend_from_slice(B64.encode(salt).as_bytes());
                server_first.extend_from_slice(format!(",i={iterations}").as_bytes());
                s.scram = Some(ScramServer {
                    client_first_bare: bare,
                    server_first: server_first.clone(),
                    salt: salt.to_vec(),
                    iterations,
                });
                auth(11, &server_first)
            }
            Piece::ScramFinal { password, tamper } => {
                let Some(server) = s.scram.clone() else {
                    return auth(12, b"v=AAAA");
                };
                let written = s.written.clone();
                // The client-final message: the last 'p' message, not the first one.
                let last = client_messages(&written)
                    .into_iter()
                    .rfind(|(t, body)| *t == b'p' && sasl_initial(body).is_none());
                let Some((_, client_final)) = last else {
                    return auth(12, b"v=AAAA");
                };
                let without_proof = client_final
                    .windows(3)
                    .position(|w| w == b",p=")
                    .map_or(client_final, |i| &client_final[..i]);
                let mut salted = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(
                    pick(&PASSWORDS, *password).as_bytes(),
                    &server.salt,
                    server.iterations,
                    &mut salted,
                );
                let server_key = hmac(&salted, b"Server Key");
                let mut auth_message = server.client_first_bare.clone();
                auth_message.push(b',');
                auth_message.extend_from_slice(&server.server_first);
                auth_message.push(b',');
                auth_message.extend_from_slice(without_proof);
                let mut signature = hmac(&server_key, &auth_message);
                if *tamper {
                    signature[0] ^= 1;
                }
                let mut v = b"v=".to_vec();
                v.extend_from_slice(B64.encode(signature).as_bytes());
                auth(12, &v)
            }
            Piece::AuthOther(code) => auth(i32::from(*code % 14), &[]),
            Piece::Parameter { name, value } => param(pick(&PARAMS, *name), pick(&VALUES, *value)),
            Piece::BackendKey { pid, secret_len } => {
                let len = match secret_len % 4 {
                    0 => 4,
                    1 => 32,
                    2 => 256,
                    _ => usize::from(*secret_len),
                };
                key(*pid, &vec![0x5a; len])
            }
            Piece::Ready(status) => ready(pick(b"ITEX", *status)),
            Piece::EncryptionAnswer(b) => vec![pick(b"SNGE", *b)],
            Piece::Error(i) => fatal(pick(&ERROR_CODES, *i), "no"),
            Piece::CheckError => {
                let mut v = error("42501", "no");
                v.extend(ready(b'I'));
                v
            }
            Piece::Notice => notice("hm"),
            Piece::NegotiateVersion { newest, options } => {
                let newest = match newest % 4 {
                    0 => 0x0003_0000,
                    1 => 0,
                    2 => 0x0003_0001,
                    _ => *newest,
                };
                negotiate_version(newest, &vec!["_pq_.x"; usize::from(*options % 3)])
            }
            Piece::RowDescription(i) => row_desc(&[("v", pick(&[25, 16, 23], *i))]),
            Piece::DataRow(i) => one_column_row(pick(&ANSWERS, *i)),
            Piece::CommandComplete => complete("SELECT 1"),
            Piece::EmptyQuery => empty(b'I'),
            Piece::Frame { tag, body } => msg(*tag, body),
            Piece::Raw(bytes) => bytes.clone(),
        }
    }

    /// One run of the connector: returns the session when it connected.
    fn run(
        &mut self,
        c: &mut Connector<String>,
    ) -> Option<Box<hyperwire_proto::engine::Connected>> {
        for _ in 0..MAX_STEPS {
            let action = c.poll_action();
            let expect = std::mem::replace(&mut self.expect, Expect::Anything);
            match (&action, expect) {
                (ConnectAction::Close, Expect::NoClose) => panic!("Close after open_failed"),
                (ConnectAction::Close, _) | (_, Expect::Anything | Expect::NoClose) => {}
                (_, Expect::Close) => panic!("{action:?} where Close was owed"),
            }
            match action {
                ConnectAction::Open(endpoint) => {
                    assert!(
                        self.socket.is_none(),
                        "Open while a socket is open: {:?}",
                        self.socket.as_ref().map(|s| &s.endpoint)
                    );
                    self.opens += 1;
                    self.socket = Some(Socket {
                        endpoint,
                        opened: false,
                        tls_started: false,
                        tls: None,
                        plain: Vec::new(),
                        written: Vec::new(),
                        inbox: VecDeque::new(),
                        closed_by_server: false,
                        eof_read: false,
                        scram: None,
                        deadline: None,
                    });
                    match self.choose::<OpenOutcome>() {
                        Some(OpenOutcome::Opened { after_ms }) => {
                            self.now += Duration::from_millis(u64::from(after_ms));
                            if let Some(s) = self.socket.as_mut() {
                                s.opened = true;
                            }
                            c.opened(self.now());
                        }
                        Some(OpenOutcome::Failed) | None => {
                            self.socket = None;
                            self.expect = Expect::NoClose;
                            c.open_failed("connection refused".into(), self.now());
                        }
                    }
                }
                ConnectAction::StartTls { host, direct } => {
                    let s = self.socket.as_mut().expect("StartTls without a socket");
                    assert!(s.opened, "StartTls before the socket opened");
                    assert!(!s.tls_started, "StartTls twice on one socket");
                    assert!(!s.endpoint.is_unix(), "StartTls on a unix socket");
                    assert_eq!(host, s.endpoint.host, "StartTls verifies another host");
                    assert_eq!(
                        direct,
                        self.setup.direct && self.setup.sslmode == Ssl::Require,
                        "direct SSL not as configured"
                    );
                    assert!(!s.eof_read, "StartTls after the server's EOF");
                    s.tls_started = true;
                    // Unread bytes are the TLS layer's now.
                    s.inbox.clear();
                    let outcome = self.choose::<TlsOutcome>();
                    let established = match outcome {
                        Some(TlsOutcome::Established(ep)) => Some(ep),
                        Some(TlsOutcome::Timeout(step, ep)) => {
                            (!self.timeout(c, step)).then_some(ep)
                        }
                        Some(TlsOutcome::Failed) | None => {
                            self.expect = Expect::Close;
                            c.tls_failed("handshake failed".into(), self.now());
                            None
                        }
                    };
                    if let Some(ep) = established {
                        if let Some(s) = self.socket.as_mut() {
                            s.tls = Some(direct);
                        }
                        c.tls_established(ep.bytes(), self.now());
                    }
                }
                ConnectAction::Io => {
                    let s = self.socket.as_ref().expect("Io without a socket");
                    assert!(s.opened, "Io before the socket opened");
                    assert!(
                        !s.tls_started || s.tls.is_some(),
                        "Io during the TLS handshake"
                    );
                    assert!(!s.eof_read, "Io after the server's EOF was read");
                    match self.choose::<IoTurn>() {
                        Some(turn) => {
                            self.write(c, turn.write);
                            match &turn.event {
                                ServerEvent::Send(pieces) => {
                                    for p in pieces {
                                        let bytes = self.render(p);
                                        if let Some(s) = self.socket.as_mut() {
                                            s.inbox.extend(bytes);
                                        }
                                    }
                                }
                                ServerEvent::Close => {
                                    if let Some(s) = self.socket.as_mut() {
                                        s.closed_by_server = true;
                                    }
                                }
                                ServerEvent::IoFailed => {
                                    self.expect = Expect::Close;
                                    c.io_failed("connection reset".into(), self.now());
                                }
                                ServerEvent::Timeout(step) => {
                                    self.timeout(c, *step);
                                }
                                ServerEvent::Quiet => {}
                            }
                            if matches!(turn.event, ServerEvent::Send(_) | ServerEvent::Close) {
                                self.read(c, turn.read);
                            }
                        }
                        None => {
                            // Out of input: the server writes nothing more and closes.
                            self.write(c, WriteAmount::All);
                            if let Some(s) = self.socket.as_mut() {
                                s.closed_by_server = true;
                            }
                            self.read(c, ReadLimit::All);
                        }
                    }
                }
                ConnectAction::Close => {
                    assert!(self.socket.is_some(), "Close without a socket");
                    self.socket = None;
                }
                ConnectAction::Ready(connected) => {
                    assert!(
                        connected.protocol.is_ready(),
                        "Ready with a machine that is not ready: {:?}",
                        connected.protocol.error()
                    );
                    let s = self.socket.as_ref().expect("Ready without a socket");
                    assert_eq!(connected.endpoint, s.endpoint, "Ready on another endpoint");
                    let expected = s.tls.map(|direct| {
                        if direct {
                            CancelTlsMode::Direct
                        } else {
                            CancelTlsMode::SslRequest
                        }
                    });
                    assert_eq!(connected.tls, expected, "Ready reports TLS wrongly");
                    if self.setup.sslmode == Ssl::Require
                        && matches!(s.endpoint.target, EndpointTarget::Tcp { .. })
                    {
                        assert!(s.tls.is_some(), "sslmode=require connected in plaintext");
                    }
                    return Some(connected);
                }
                ConnectAction::Failed(e) => {
                    assert!(!e.attempts.is_empty(), "Failed without an attempt");
                    assert!(
                        e.attempts.len() <= self.opens.max(1),
                        "{} attempts from {} sockets",
                        e.attempts.len(),
                        self.opens
                    );
                    assert!(self.socket.is_none(), "Failed with a socket open");
                    return None;
                }
                other => panic!("unknown action {other:?}"),
            }
            self.check_deadline(c);
        }
        panic!("the connector did not finish within {MAX_STEPS} actions");
    }
}

fn connector(setup: &Setup, config: &Config) -> Connector<String> {
    let mut c: Connector<String> = Connector::new(config);
    let home = |k: &str| (k == "HOME").then(|| "/home/u".to_string());
    let (file_mode, file_contents) = match &setup.password {
        PasswordSource::Environment { mode, file, .. } => (mode.bits(), Some(file.contents())),
        _ => (0, None),
    };
    let read_file = |_: &str| file_contents.clone().map(|f| (file_mode, f));
    let exists = |_: &str| false;
    let warning = c.read_environment(&Environment {
        var: &home,
        read_file: &read_file,
        exists: &exists,
        random: setup.load_balance.unwrap_or(0),
    });
    if let Some(w) = warning {
        assert!(w.contains("group or world access"), "{w}");
    }
    if let PasswordSource::File { mode, file } = &setup.password {
        let _ = c.set_password_file("/home/u/.pgpass", mode.bits(), file.contents());
    }
    if setup.scram_store {
        c.set_scram_keys(&STORE);
    }
    if let Some(n) = setup.drain_budget {
        c.set_drain_budget(u64::from(n));
    }
    c
}

fn fuzz_connector(setup: &Setup, u: &mut Unstructured<'_>) {
    STORE.with(&mut |cache| cache.clear());
    let config = setup.config();
    let mut driver = Driver {
        u,
        setup,
        now: Duration::ZERO,
        socket: None,
        opens: 0,
        expect: Expect::Anything,
    };
    // A second connection with the same settings reuses what the first one learned
    // (the SCRAM key store).
    for _ in 0..2 {
        let mut c = connector(setup, &config);
        driver.socket = None;
        driver.opens = 0;
        driver.expect = Expect::Anything;
        let Some(connected) = driver.run(&mut c) else {
            return;
        };
        drop(connected);
        if !driver.choose::<bool>().unwrap_or(false) {
            return;
        }
    }
}

// ---- the cancel exchange --------------------------------------------------------------

#[derive(Arbitrary, Debug)]
struct CancelSetup {
    tls: Option<bool>,
    pid: u32,
    long_key: Option<u8>,
    start_ms: u32,
}

#[derive(Arbitrary, Debug)]
enum CancelTlsOutcome {
    Established,
    /// The adapter wakes up at this time during the handshake.
    Timeout(TimeStep),
}

#[derive(Arbitrary, Debug)]
struct CancelTurn {
    write: WriteAmount,
    event: CancelEvent,
    read: ReadLimit,
}

#[derive(Arbitrary, Debug)]
enum CancelEvent {
    Send(Vec<u8>),
    Answer(u8),
    Close,
    Timeout(TimeStep),
    Quiet,
}

fn cancel_request(setup: &CancelSetup) -> hyperwire_proto::CancelRequest {
    let request_for = |long: Option<u8>| {
        let mut s = Settings::new("u");
        let secret_len = match long {
            Some(n) => {
                s.protocol_versions(ProtocolVersion::V3_2, ProtocolVersion::V3_2);
                usize::from(n)
            }
            None => 4,
        };
        let mut p = Protocol::new(s);
        let n = p.pending_send().len();
        p.advance_send(n);
        p.receive(&auth_ok());
        p.receive(&key(setup.pid, &vec![0xc3; secret_len]));
        p.receive(&ready(b'I'));
        while p.poll_event().is_some() {}
        p.cancel_request()
    };
    request_for(setup.long_key)
        .or_else(|_| request_for(None))
        .expect("a 4-byte key makes a cancel request")
}

fn fuzz_cancel(setup: &CancelSetup, u: &mut Unstructured<'_>) {
    let request = cancel_request(setup);
    let mode = setup.tls.map(|direct| {
        if direct {
            CancelTlsMode::Direct
        } else {
            CancelTlsMode::SslRequest
        }
    });
    let start = Duration::from_millis(u64::from(setup.start_ms));
    let mut now = start;
    let deadline = Timestamp::from_since_origin(start + CANCEL_TIMEOUT);
    let mut x = CancelExchange::new(request.clone(), mode, Timestamp::from_since_origin(now));
    let mut opened = false;
    let mut answer: Option<u8> = None;
    let mut tls = false;
    let mut written = Vec::new();
    let mut inbox: VecDeque<u8> = VecDeque::new();
    let mut closed = false;
    let mut eof_read = false;
    let choose = |u: &mut Unstructured<'_>| -> Option<CancelTurn> {
        if u.is_empty() {
            None
        } else {
            CancelTurn::arbitrary(u).ok()
        }
    };
    let advance = |now: &mut Duration, step: TimeStep| match step {
        TimeStep::PastDeadline { extra_ms } => {
            *now = (*now).max(deadline.since_origin()) + Duration::from_millis(u64::from(extra_ms))
        }
        TimeStep::Advance { ms } => *now += Duration::from_millis(u64::from(ms)),
    };
    for _ in 0..MAX_STEPS {
        let action = x.poll_action();
        match action {
            CancelAction::Open => {
                assert!(!opened, "Open twice");
                opened = true;
                x.opened();
            }
            CancelAction::StartTls { direct } => {
                assert!(opened && !tls, "StartTls out of place");
                match mode {
                    Some(CancelTlsMode::Direct) => {
                        assert!(direct, "direct TLS reported as SSLRequest");
                        assert!(written.is_empty(), "bytes before a direct handshake");
                    }
                    Some(CancelTlsMode::SslRequest) => {
                        assert!(!direct, "SSLRequest TLS reported as direct");
                        assert_eq!(answer, Some(b'S'), "TLS without an 'S'");
                        assert!(
                            SSL_REQUEST.starts_with(&written),
                            "plaintext after the SSLRequest"
                        );
                    }
                    _ => panic!("StartTls for a plaintext session"),
                }
                inbox.clear();
                let outcome = if u.is_empty() {
                    None
                } else {
                    CancelTlsOutcome::arbitrary(u).ok()
                };
                if let Some(CancelTlsOutcome::Timeout(step)) = outcome {
                    advance(&mut now, step);
                    x.handle_timeout(Timestamp::from_since_origin(now));
                    if Timestamp::from_since_origin(now) >= deadline {
                        continue;
                    }
                }
                tls = true;
                x.tls_established();
            }
            CancelAction::Io => {
                assert!(opened, "Io before Open");
                assert!(!eof_read, "Io after the server's EOF");
                let awaiting = mode == Some(CancelTlsMode::SslRequest) && answer.is_none();
                if awaiting {
                    assert_eq!(
                        x.recv_buf().len(),
                        1,
                        "the SSL answer's buffer is not one byte"
                    );
                } else {
                    assert!(!x.recv_buf().is_empty(), "recv_buf gave no space during Io");
                }
                let turn = choose(u);
                let (write, read) = match &turn {
                    Some(t) => (t.write, t.read),
                    None => (WriteAmount::All, ReadLimit::All),
                };
                let pending = x.pending_send();
                let n = match write {
                    WriteAmount::All => pending.len(),
                    WriteAmount::Part(k) => usize::from(k) % (pending.len() + 1),
                    WriteAmount::Nothing => 0,
                };
                written.extend_from_slice(&pending[..n]);
                x.advance_send(n);
                match turn.map(|t| t.event) {
                    Some(CancelEvent::Send(bytes)) => inbox.extend(bytes),
                    Some(CancelEvent::Answer(b)) => inbox.push_back(pick(b"SNE", b)),
                    Some(CancelEvent::Close) | None => closed = true,
                    Some(CancelEvent::Timeout(step)) => {
                        advance(&mut now, step);
                        x.handle_timeout(Timestamp::from_since_origin(now));
                        continue;
                    }
                    Some(CancelEvent::Quiet) => continue,
                }
                if inbox.is_empty() {
                    if closed {
                        eof_read = true;
                        x.recv_eof();
                    }
                    continue;
                }
                let buf = x.recv_buf();
                let want = match read {
                    ReadLimit::All => inbox.len(),
                    ReadLimit::UpTo(k) => (usize::from(k) % inbox.len()) + 1,
                };
                let n = want.min(buf.len());
                for (dst, src) in buf[..n].iter_mut().zip(inbox.drain(..n)) {
                    *dst = src;
                }
                if awaiting {
                    answer = Some(buf[0]);
                }
                x.recv_commit(n);
            }
            CancelAction::Done => {
                let mut expected = Vec::new();
                if mode == Some(CancelTlsMode::SslRequest) {
                    expected.extend_from_slice(&SSL_REQUEST);
                }
                expected.extend_from_slice(request.as_bytes());
                assert!(
                    x.pending_send().is_empty() && written == expected,
                    "Done before the request was written: wrote {written:?}, still pending {:?}",
                    x.pending_send()
                );
                assert_eq!(x.poll_timeout(), None);
                return;
            }
            CancelAction::Failed(e) => {
                if e == CancelError::TimedOut {
                    assert!(
                        Timestamp::from_since_origin(now) >= deadline,
                        "timed out before the deadline"
                    );
                }
                assert_eq!(x.poll_timeout(), None);
                return;
            }
            other => panic!("unknown cancel action {other:?}"),
        }
        if let Some(d) = x.poll_timeout() {
            assert_eq!(d, deadline, "the cancel deadline moved");
        }
    }
    panic!("the cancel exchange did not finish within {MAX_STEPS} actions");
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else {
        return;
    };
    // The first byte splits the input: the cancel exchange's share, then the connector's.
    let cancel_len = (usize::from(split) * 2).min(rest.len());
    let (cancel, connect) = rest.split_at(cancel_len);

    let mut u = Unstructured::new(connect);
    if let Ok(setup) = Setup::arbitrary(&mut u) {
        fuzz_connector(&setup, &mut u);
    }

    let mut u = Unstructured::new(cancel);
    if let Ok(setup) = CancelSetup::arbitrary(&mut u) {
        fuzz_cancel(&setup, &mut u);
    }
});
