//! Hostile servers: a scripted fake server (a std `TcpListener` on 127.0.0.1 in a
//! thread) plays one misbehaviour per case, and every case runs through the blocking
//! and the tokio adapters. Each case must end with a clear, typed error (or, for the
//! success cases, the right result) within a few seconds, and the fake server records
//! every byte the client sent so the test can check that no secret left when the
//! policy forbade it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hyperwire_proto::auth::ScramError;
use hyperwire_proto::testing::{
    auth, auth_ok, cat, complete, copy_data, copy_response, empty, fields, fields_raw, key, msg,
    negotiate_version, notification, param, param_desc, ready, row_desc, sasl, text_row,
};
use hyperwire_proto::{AuthError, ClosedReason, DesyncReason, Error as Core, ProtocolError};

/// The type oid of `text`, for the fake servers' columns.
const TEXT: u32 = 25;

const PASSWORD: &str = "hostile-secret-pw";
/// Every case must finish within this (the client has connect_timeout=5 too).
const CASE_BOUND: Duration = Duration::from_secs(8);
/// How long the fake server waits for the client before giving up on a read.
const SERVER_READ_TIMEOUT: Duration = Duration::from_secs(6);

/// How much a case may grow the process's peak RSS.
const MEMORY_BOUND: u64 = 64 << 20;

/// VmHWM (peak resident set) in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

// ---- the fake server ------------------------------------------------------------

/// The server side of one connection; every byte read is recorded.
struct Peer {
    sock: TcpStream,
    record: Arc<Mutex<Vec<u8>>>,
}

impl Peer {
    fn read_exact(&mut self, n: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0; n];
        self.sock.read_exact(&mut buf).ok()?;
        self.record.lock().unwrap().extend_from_slice(&buf);
        Some(buf)
    }

    /// An untagged message (SSLRequest, GSSENCRequest, StartupMessage): its code and body.
    fn read_initial(&mut self) -> Option<(u32, Vec<u8>)> {
        let len = u32::from_be_bytes(self.read_exact(4)?.try_into().ok()?) as usize;
        let rest = self.read_exact(len.checked_sub(4)?)?;
        let code = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?);
        Some((code, rest[4..].to_vec()))
    }

    /// The StartupMessage, answering an SSLRequest with 'N' first if one comes.
    fn read_startup(&mut self) -> Option<Vec<u8>> {
        loop {
            let (code, body) = self.read_initial()?;
            match code {
                0x0003_0000 | 0x0003_0002 => return Some(body),
                80_877_103 | 80_877_104 => self.send(b"N"),
                _ => return None,
            }
        }
    }

    fn read_msg(&mut self) -> Option<(u8, Vec<u8>)> {
        let h = self.read_exact(5)?;
        let len = u32::from_be_bytes(h[1..5].try_into().ok()?) as usize;
        let body = self.read_exact(len.checked_sub(4)?)?;
        Some((h[0], body))
    }

    /// Reads messages until one with `tag` (None if the client closed first).
    fn expect(&mut self, tag: u8) -> Option<Vec<u8>> {
        loop {
            let (t, body) = self.read_msg()?;
            if t == tag {
                return Some(body);
            }
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let _ = self.sock.write_all(bytes);
        let _ = self.sock.flush();
    }

    /// Closes the server's sending side (the client reads EOF); what the client
    /// still sends is recorded.
    fn close(&mut self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Write);
    }

    /// AuthenticationOk, a parameter, the key, ReadyForQuery.
    fn startup_ok(&mut self) {
        self.send(&cat(&[
            auth_ok(),
            param("server_version", "15.0"),
            param("client_encoding", "UTF8"),
            key(7, &[1, 2, 3, 4]),
            ready(b'I'),
        ]));
    }

    /// Startup with SCRAM up to the client's first message; returns its nonce.
    fn scram_start(&mut self) -> Option<String> {
        self.read_startup()?;
        self.send(&sasl(&["SCRAM-SHA-256"]));
        let body = self.expect(b'p')?;
        let nul = body.iter().position(|&b| b == 0)?;
        let first = String::from_utf8(body.get(nul + 5..)?.to_vec()).ok()?;
        Some(first.split("r=").nth(1)?.to_string())
    }

    /// Reads until the client closes (or the read timeout), so everything it sends
    /// after the script is recorded too.
    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.sock.read(&mut buf) {
            if n == 0 {
                break;
            }
            self.record.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    }
}

type Script = fn(&mut Peer);

struct FakeServer {
    port: u16,
    record: Arc<Mutex<Vec<u8>>>,
    thread: JoinHandle<()>,
}

impl FakeServer {
    /// Listens on a free port and plays `script` to the first client.
    fn start(script: Script) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let record = Arc::new(Mutex::new(Vec::new()));
        let rec = Arc::clone(&record);
        let thread = std::thread::spawn(move || {
            // Accept with a deadline: a client that never connects ends the thread.
            listener.set_nonblocking(true).unwrap();
            let deadline = Instant::now() + SERVER_READ_TIMEOUT;
            let sock = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(_) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Err(_) => return,
                }
            };
            // Nothing else may connect (a cancel request would wait on the backlog).
            drop(listener);
            sock.set_nonblocking(false).unwrap();
            sock.set_nodelay(true).unwrap();
            sock.set_read_timeout(Some(SERVER_READ_TIMEOUT)).unwrap();
            let mut peer = Peer { sock, record: rec };
            script(&mut peer);
            peer.drain();
        });
        FakeServer {
            port,
            record,
            thread,
        }
    }

    fn conninfo(&self, extra: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user=hostile dbname=db password={PASSWORD} \
             sslmode=disable connect_timeout=5 {extra}",
            self.port
        )
    }

    /// Waits for the script to end; everything the client sent.
    fn finish(self) -> Vec<u8> {
        self.thread.join().unwrap();
        Arc::try_unwrap(self.record)
            .map(|m| m.into_inner().unwrap())
            .unwrap_or_else(|a| a.lock().unwrap().clone())
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// How many messages with `tag` the client sent after its startup packet.
fn count_tagged(record: &[u8], tag: u8) -> usize {
    // Skip untagged packets (SSLRequest, StartupMessage) at the front.
    let mut rest = record;
    loop {
        let Some(len) = rest.get(..4) else { return 0 };
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        let code = rest
            .get(4..8)
            .map(|c| u32::from_be_bytes(c.try_into().unwrap()));
        match code {
            Some(0x0003_0000 | 0x0003_0002 | 80_877_103 | 80_877_104) => rest = &rest[len..],
            _ => break,
        }
    }
    let mut n = 0;
    while rest.len() >= 5 {
        let len = u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        if rest[0] == tag {
            n += 1;
        }
        rest = rest.get(1 + len..).unwrap_or_default();
    }
    n
}

// ---- what the client did, whatever the adapter ----------------------------------

/// (The payloads are read through `Debug` in failure messages.)
#[allow(dead_code)]
#[derive(Debug)]
enum Got {
    /// The core's error (fatal for the connection).
    Core(Core),
    /// A server error that left the connection usable: SQLSTATE and message.
    Server(String, String),
    Tls(String),
    Io(std::io::ErrorKind),
    Other(String),
}

#[derive(Debug, Default)]
struct Outcome {
    /// The connection error, if connecting failed.
    connect: Option<Got>,
    /// Per query: rows (as text) or the error.
    queries: Vec<Result<Vec<Vec<Option<String>>>, Got>>,
    healthy: bool,
    protocol: Option<hyperwire_proto::ProtocolVersion>,
    notices: Vec<String>,
    notifications: Vec<(String, String)>,
    parameter: Option<String>,
    elapsed: Duration,
}

impl Outcome {
    #[track_caller]
    fn connect_error(&self) -> &Got {
        match &self.connect {
            Some(e) => e,
            None => panic!("connecting should have failed: {self:?}"),
        }
    }

    #[track_caller]
    fn core_connect_error(&self) -> &Core {
        match self.connect_error() {
            Got::Core(e) => e,
            other => panic!("expected the core's error, got {other:?}"),
        }
    }

    #[track_caller]
    fn query_core_error(&self, i: usize) -> &Core {
        assert!(self.connect.is_none(), "connect failed: {self:?}");
        match self.queries.get(i) {
            Some(Err(Got::Core(e))) => e,
            other => panic!("query {i}: expected the core's error, got {other:?}"),
        }
    }
}

mod blocking {
    use super::*;
    use hyperwire_blocking::{Client, Error, TimeoutPolicy};

    pub(super) fn got(e: Error) -> Got {
        match e {
            Error::Protocol(e) => Got::Core(e),
            Error::Server(e) => Got::Server(e.code().into(), e.message().into()),
            Error::Tls(s) => Got::Tls(s),
            Error::Io(e) => Got::Io(e.kind()),
            Error::Connect(mut v) if v.len() == 1 => got(v.remove(0).1),
            other => Got::Other(other.to_string()),
        }
    }

    pub(super) fn run(conninfo: &str, queries: &[&str]) -> Outcome {
        let start = Instant::now();
        let mut out = Outcome::default();
        let mut c = match Client::connect(conninfo) {
            Ok(c) => c,
            Err(e) => {
                out.connect = Some(got(e));
                out.elapsed = start.elapsed();
                return out;
            }
        };
        out.protocol = Some(c.protocol_version());
        c.set_request_timeout(Some(CASE_BOUND / 2), TimeoutPolicy::CancelThenClose);
        for q in queries {
            let r = c.simple_query(q).map_err(got).map(|results| {
                results
                    .iter()
                    .flat_map(|r| r.rows.iter())
                    .map(|row| {
                        (0..row.len())
                            .map(|i| row.get::<Option<String>>(i).unwrap())
                            .collect()
                    })
                    .collect()
            });
            out.queries.push(r);
        }
        out.healthy = c.is_healthy();
        out.notices = c
            .take_notices()
            .iter()
            .map(|n| n.message().into())
            .collect();
        out.notifications = c.notifications().map(|n| (n.channel, n.payload)).collect();
        out.parameter = c.parameter("TimeZone").map(String::from);
        drop(c);
        out.elapsed = start.elapsed();
        out
    }
}

mod tokio_adapter {
    use super::*;
    use hyperwire_tokio::{Connection, Error};

    pub(super) fn got(e: Error) -> Got {
        match e {
            Error::Protocol(e) => Got::Core(e),
            Error::Server(e) => Got::Server(e.code().into(), e.message().into()),
            Error::Tls(s) => Got::Tls(s),
            Error::Io(e) => Got::Io(e.kind()),
            Error::Connect(mut v) if v.len() == 1 => got(v.remove(0).1),
            other => Got::Other(other.to_string()),
        }
    }

    async fn run_inner(conninfo: &str, queries: &[&str]) -> Outcome {
        let mut out = Outcome::default();
        let mut c = match Connection::connect(conninfo).await {
            Ok(c) => c,
            Err(e) => {
                out.connect = Some(got(e));
                return out;
            }
        };
        out.protocol = Some(c.protocol_version());
        for q in queries {
            let r = c.simple_query(q).await.map_err(got).map(|results| {
                results
                    .iter()
                    .flat_map(|r| r.rows.iter())
                    .map(|row| {
                        (0..row.len())
                            .map(|i| row.get::<Option<String>>(i).unwrap())
                            .collect()
                    })
                    .collect()
            });
            out.queries.push(r);
        }
        out.healthy = c.is_healthy();
        out.notices = c
            .take_notices()
            .iter()
            .map(|n| n.message().into())
            .collect();
        out.notifications = c
            .take_notifications()
            .into_iter()
            .map(|n| (n.channel, n.payload))
            .collect();
        out.parameter = c.parameter("TimeZone").map(String::from);
        out
    }

    pub(super) fn run(conninfo: &str, queries: &[&str]) -> Outcome {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let start = Instant::now();
        let mut out = rt.block_on(async {
            tokio::time::timeout(CASE_BOUND, run_inner(conninfo, queries))
                .await
                .unwrap_or_else(|_| Outcome {
                    connect: Some(Got::Other("the case timed out".into())),
                    ..Outcome::default()
                })
        });
        out.elapsed = start.elapsed();
        out
    }
}

// ---- the cases ------------------------------------------------------------------

struct Case {
    name: &'static str,
    /// Added to the conninfo.
    conninfo: &'static str,
    /// Simple queries to run once connected.
    queries: &'static [&'static str],
    script: Script,
    check: fn(&Outcome, &[u8]),
}

/// The SCRAM proof never left: no SASLResponse after the initial one.
#[track_caller]
fn no_proof_sent(record: &[u8]) {
    assert!(!contains(record, b",p="), "the client sent a SCRAM proof");
    assert!(
        count_tagged(record, b'p') <= 1,
        "more than the initial SASL message"
    );
}

/// No password message at all.
#[track_caller]
fn nothing_secret_sent(record: &[u8]) {
    assert_eq!(
        count_tagged(record, b'p'),
        0,
        "the client sent a password message"
    );
}

/// A valid server-first for `nonce` with `iterations`.
fn server_first(nonce: &str, iterations: &str) -> Vec<u8> {
    auth(
        11,
        format!("r={nonce}SERVERPART,s=c2FsdHNhbHQ=,i={iterations}").as_bytes(),
    )
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "SCRAM without the server's final message",
            conninfo: "",
            queries: &[],
            script: |p| {
                let Some(nonce) = p.scram_start() else { return };
                p.send(&server_first(&nonce, "4096"));
                if p.expect(b'p').is_none() {
                    return;
                }
                // AuthenticationOk without AuthenticationSASLFinal.
                p.startup_ok();
            },
            check: |o, _| {
                assert!(
                    matches!(o.core_connect_error(), Core::Auth(AuthError::PrematureOk)),
                    "{o:?}"
                );
            },
        },
        Case {
            name: "SCRAM with a wrong server signature",
            conninfo: "",
            queries: &[],
            script: |p| {
                let Some(nonce) = p.scram_start() else { return };
                p.send(&server_first(&nonce, "4096"));
                if p.expect(b'p').is_none() {
                    return;
                }
                p.send(&auth(12, b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
                p.startup_ok();
            },
            check: |o, _| {
                assert!(
                    matches!(
                        o.core_connect_error(),
                        Core::Scram(ScramError::ServerSignatureMismatch)
                    ),
                    "{o:?}"
                );
            },
        },
        Case {
            name: "SCRAM server nonce that does not extend the client's",
            conninfo: "",
            queries: &[],
            script: |p| {
                if p.scram_start().is_none() {
                    return;
                }
                p.send(&auth(
                    11,
                    b"r=somebodyelsesnonce0123456789,s=c2FsdHNhbHQ=,i=4096",
                ));
                p.expect(b'p');
            },
            check: |o, record| {
                assert!(
                    matches!(
                        o.core_connect_error(),
                        Core::Scram(ScramError::NonceNotExtended | ScramError::NonceMismatch)
                    ),
                    "{o:?}"
                );
                no_proof_sent(record);
            },
        },
        Case {
            name: "SCRAM iteration count 0",
            conninfo: "",
            queries: &[],
            script: |p| {
                let Some(nonce) = p.scram_start() else { return };
                p.send(&server_first(&nonce, "0"));
                p.expect(b'p');
            },
            check: |o, record| {
                assert!(
                    matches!(
                        o.core_connect_error(),
                        Core::Scram(ScramError::IterationCountZero)
                    ),
                    "{o:?}"
                );
                no_proof_sent(record);
            },
        },
        Case {
            name: "cleartext password under require_auth=scram-sha-256",
            conninfo: "require_auth=scram-sha-256",
            queries: &[],
            script: |p| {
                if p.read_startup().is_some() {
                    p.send(&auth(3, &[]));
                    p.expect(b'p');
                }
            },
            check: |o, record| {
                let e = o.core_connect_error();
                assert!(
                    matches!(e, Core::Auth(AuthError::MethodRefused { .. })),
                    "{o:?}"
                );
                assert!(e.to_string().contains("require_auth"), "{e}");
                nothing_secret_sent(record);
            },
        },
        Case {
            name: "MD5 under require_auth=scram-sha-256",
            conninfo: "require_auth=scram-sha-256",
            queries: &[],
            script: |p| {
                if p.read_startup().is_some() {
                    p.send(&auth(5, b"salt"));
                    p.expect(b'p');
                }
            },
            check: |o, record| {
                let e = o.core_connect_error();
                assert!(
                    matches!(e, Core::Auth(AuthError::MethodRefused { .. })),
                    "{o:?}"
                );
                assert!(e.to_string().contains("md5"), "{e}");
                nothing_secret_sent(record);
            },
        },
        Case {
            name: "no authentication at all under require_auth=scram-sha-256",
            conninfo: "require_auth=scram-sha-256",
            queries: &[],
            script: |p| {
                if p.read_startup().is_some() {
                    p.startup_ok();
                }
            },
            check: |o, record| {
                assert!(
                    matches!(
                        o.core_connect_error(),
                        Core::Auth(AuthError::NoAuthentication { .. })
                    ),
                    "{o:?}"
                );
                nothing_secret_sent(record);
            },
        },
        Case {
            name: "channel_binding=require on plain TCP",
            conninfo: "channel_binding=require",
            queries: &[],
            script: |p| {
                if p.read_startup().is_some() {
                    p.send(&sasl(&["SCRAM-SHA-256"]));
                    p.expect(b'p');
                }
            },
            check: |o, record| {
                // Refused before any SCRAM message (or before connecting at all).
                let e = o.connect_error();
                assert!(
                    matches!(
                        e,
                        Got::Core(Core::Auth(AuthError::ChannelBindingRequired(_)))
                    ) || format!("{e:?}").contains("channel_binding"),
                    "{o:?}"
                );
                nothing_secret_sent(record);
            },
        },
        Case {
            name: "SCRAM-SHA-256-PLUS offered on plain TCP",
            conninfo: "",
            queries: &[],
            script: |p| {
                if p.read_startup().is_some() {
                    p.send(&sasl(&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]));
                    p.expect(b'p');
                }
            },
            check: |o, record| {
                assert!(
                    matches!(
                        o.core_connect_error(),
                        Core::Auth(AuthError::ChannelBindingInvalid(_))
                    ),
                    "{o:?}"
                );
                nothing_secret_sent(record);
            },
        },
        Case {
            name: "sslmode=require answered 'N'",
            conninfo: "sslmode=require",
            queries: &[],
            script: |p| {
                if let Some((80_877_103, _)) = p.read_initial() {
                    p.send(b"N");
                }
            },
            check: |o, record| {
                assert!(matches!(o.core_connect_error(), Core::TlsRefused), "{o:?}");
                // Only the SSLRequest went out: no StartupMessage in plaintext.
                assert_eq!(record, &[0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f], "{record:?}");
            },
        },
        Case {
            name: "'S' followed by plaintext bytes (CVE-2021-23222)",
            conninfo: "sslmode=require",
            queries: &[],
            script: |p| {
                if let Some((80_877_103, _)) = p.read_initial() {
                    // One write: the answer and an injected AuthenticationOk.
                    let mut b = b"S".to_vec();
                    b.extend(auth_ok());
                    p.send(&b);
                }
            },
            check: |o, record| {
                assert!(
                    matches!(
                        o.core_connect_error(),
                        Core::Protocol(ProtocolError::UnencryptedBytesAfterTlsAnswer)
                    ),
                    "{o:?}"
                );
                assert_eq!(record.len(), 8, "only the SSLRequest: {record:?}");
            },
        },
        Case {
            name: "gssencmode=require (no GSSAPI here)",
            conninfo: "gssencmode=require",
            queries: &[],
            script: |p| {
                // Nothing may even be sent; if something is, refuse it.
                if p.read_initial().is_some() {
                    p.send(b"G");
                }
            },
            check: |o, record| {
                let e = o.connect_error();
                assert!(format!("{e:?}").contains("GSSAPI"), "{o:?}");
                assert!(record.is_empty(), "sent {record:?}");
            },
        },
        Case {
            name: "gssencmode=prefer does not probe; AuthenticationGSS is refused",
            conninfo: "gssencmode=prefer",
            queries: &[],
            script: |p| {
                // The first packet must be the StartupMessage, not a GSSENCRequest.
                if let Some((0x0003_0000, _)) = p.read_initial() {
                    p.send(&auth(7, &[]));
                }
            },
            check: |o, record| {
                assert!(
                    matches!(
                        o.core_connect_error(),
                        Core::Auth(AuthError::Unsupported("GSSAPI"))
                    ),
                    "{o:?}"
                );
                assert_eq!(&record[4..8], &[0, 3, 0, 0], "{record:?}");
                nothing_secret_sent(record);
            },
        },
        Case {
            name: "message length under 4",
            conninfo: "",
            queries: &[],
            script: |p| {
                if p.read_startup().is_some() {
                    p.send(&[b'R', 0, 0, 0, 2]);
                }
            },
            check: |o, _| {
                assert!(
                    matches!(
                        o.core_connect_error(),
                        Core::Protocol(ProtocolError::LengthTooShort { .. })
                    ),
                    "{o:?}"
                );
            },
        },
        Case {
            name: "message length near 2 GiB",
            conninfo: "",
            queries: &["SELECT 1"],
            script: |p| {
                if p.read_startup().is_some() {
                    p.startup_ok();
                    p.expect(b'Q');
                    p.send(&[b'D', 0x7f, 0xff, 0xff, 0xf0]);
                    p.send(&[0; 1024]);
                }
            },
            check: |o, _| {
                assert!(
                    matches!(
                        o.query_core_error(0),
                        Core::Protocol(ProtocolError::MessageTooLarge { .. })
                    ),
                    "{o:?}"
                );
                assert!(!o.healthy);
            },
        },
        Case {
            name: "a 1 GiB message announced, 1 MiB sent, then close",
            conninfo: "",
            queries: &["SELECT 1"],
            script: |p| {
                if p.read_startup().is_some() {
                    p.startup_ok();
                    p.expect(b'Q');
                    p.send(&row_desc(&[("a", TEXT)]));
                    p.send(&[b'D', 0x3f, 0xff, 0xff, 0x00]);
                    p.send(&vec![0; 1 << 20]);
                    p.close();
                }
            },
            check: |o, _| {
                assert!(
                    matches!(
                        o.query_core_error(0),
                        Core::Closed(ClosedReason::MidMessage)
                    ),
                    "{o:?}"
                );
            },
        },
        Case {
            name: "unknown message type during startup",
            conninfo: "",
            queries: &[],
            script: |p| {
                if p.read_startup().is_some() {
                    p.send(&msg(b'!', b"what"));
                }
            },
            check: |o, _| {
                assert!(
                    matches!(
                        o.core_connect_error(),
                        Core::Protocol(ProtocolError::UnknownMessage(b'!'))
                    ),
                    "{o:?}"
                );
            },
        },
        Case {
            name: "unknown message type inside a result",
            conninfo: "",
            queries: &["SELECT 1"],
            script: |p| {
                if p.read_startup().is_some() {
                    p.startup_ok();
                    p.expect(b'Q');
                    p.send(&cat(&[
                        row_desc(&[("a", TEXT)]),
                        msg(b'~', b"x"),
                        ready(b'I'),
                    ]));
                }
            },
            check: |o, _| {
                assert!(
                    matches!(
                        o.query_core_error(0),
                        Core::Protocol(ProtocolError::UnknownMessage(b'~'))
                    ),
                    "{o:?}"
                );
                assert!(!o.healthy);
            },
        },
        Case {
            name: "DataRow whose column count disagrees with its length",
            conninfo: "",
            queries: &["SELECT 1"],
            script: |p| {
                if p.read_startup().is_some() {
                    p.startup_ok();
                    p.expect(b'Q');
                    // Says 2 columns, holds one.
                    let bad = msg(b'D', &[0, 2, 0, 0, 0, 1, b'1']);
                    p.send(&cat(&[
                        row_desc(&[("a", TEXT)]),
                        bad,
                        complete("SELECT 1"),
                        ready(b'I'),
                    ]));
                }
            },
            check: |o, _| {
                assert!(
                    matches!(
                        o.query_core_error(0),
                        Core::Protocol(ProtocolError::Malformed {
                            message: "DataRow",
                            ..
                        })
                    ),
                    "{o:?}"
                );
                assert!(!o.healthy);
            },
        },
        Case {
            name: "DataRow whose column length runs past its message",
            conninfo: "",
            queries: &["SELECT 1"],
            script: |p| {
                if p.read_startup().is_some() {
                    p.startup_ok();
                    p.expect(b'Q');
                    let bad = msg(b'D', &[0, 1, 0, 0, 0, 9, b'1', b'2']);
                    p.send(&cat(&[
                        row_desc(&[("a", TEXT)]),
                        bad,
                        complete("SELECT 1"),
                        ready(b'I'),
                    ]));
                }
            },
            check: |o, _| {
                assert!(
                    matches!(
                        o.query_core_error(0),
                        Core::Protocol(ProtocolError::Malformed {
                            message: "DataRow",
                            ..
                        })
                    ),
                    "{o:?}"
                );
            },
        },
        Case {
            name: "DataRow with more columns than the RowDescription",
            conninfo: "",
            queries: &["SELECT 1"],
            script: |p| {
                if p.read_startup().is_some() {
                    p.startup_ok();
                    p.expect(b'Q');
                    p.send(&cat(&[
                        row_desc(&[("a", TEXT)]),
                        text_row(&["1", "2"]),
                        complete("SELECT 1"),
                        ready(b'I'),
                    ]));
                }
            },
            check: |o, _| {
                // Well-framed but not what was described: malformed, never a row
                // delivered as right.
                assert!(
                    matches!(
                        o.query_core_error(0),
                        Core::Protocol(ProtocolError::Malformed {
                            message: "DataRow",
                            ..
                        })
                    ),
                    "{o:?}"
                );
                assert!(!o.healthy);
            },
        },
        Case {
            name: "invalid UTF-8 in an error's fields",
            conninfo: "",
            queries: &["SELECT 1", "SELECT 2"],
            script: |p| {
                if p.read_startup().is_some() {
                    p.startup_ok();
                    p.expect(b'Q');
                    let e = fields_raw(
                        b'E',
                        &[
                            (b'S', b"ERROR"),
                            (b'C', b"XX000"),
                            (b'M', b"bad \xff\xfe bytes"),
                        ],
                    );
                    p.send(&cat(&[e, ready(b'I')]));
                    p.expect(b'Q');
                    p.send(&cat(&[
                        row_desc(&[("a", TEXT)]),
                        text_row(&["2"]),
                        complete("SELECT 1"),
                        ready(b'I'),
                    ]));
                }
            },
            check: |o, _| {
                match &o.queries[0] {
                    Err(Got::Server(code, message)) => {
                        assert_eq!(code, "XX000");
                        assert!(message.starts_with("bad "), "{message}");
                        assert!(message.contains('\u{fffd}'), "{message}");
                    }
                    other => panic!("{other:?}"),
                }
                // The connection is still good.
                assert_eq!(o.queries[1].as_ref().unwrap(), &[vec![Some("2".into())]]);
                assert!(o.healthy);
            },
        },
        Case {
            name: "invalid UTF-8 in a startup error",
            conninfo: "",
            queries: &[],
            script: |p| {
                if p.read_startup().is_some() {
                    let e = fields_raw(
                        b'E',
                        &[
                            (b'S', b"FATAL"),
                            (b'C', b"28000"),
                            (b'M', b"no \xc3\x28 entry"),
                        ],
                    );
                    p.send(&e);
                }
            },
            check: |o, _| {
                let e = o.core_connect_error();
                assert_eq!(e.sqlstate(), Some("28000"), "{e:?}");
            },
        },
        Case {
            name: "close in the middle of a DataRow",
            conninfo: "",
            queries: &["SELECT 1"],
            script: |p| {
                if p.read_startup().is_some() {
                    p.startup_ok();
                    p.expect(b'Q');
                    let row = text_row(&["hello"]);
                    p.send(&cat(&[
                        row_desc(&[("a", TEXT)]),
                        row[..row.len() - 3].to_vec(),
                    ]));
                    p.close();
                }
            },
            check: |o, _| {
                assert!(
                    matches!(
                        o.query_core_error(0),
                        Core::Closed(ClosedReason::MidMessage)
                    ),
                    "{o:?}"
                );
                assert!(!o.healthy);
            },
        },
        Case {
            name: "close between messages with a request pending",
            conninfo: "",
            queries: &["SELECT 1"],
            script: |p| {
                if p.read_startup().is_some() {
                    p.startup_ok();
                    p.expect(b'Q');
                    p.send(&cat(&[row_desc(&[("a", TEXT)]), text_row(&["1"])]));
                    p.close();
                }
            },
            check: |o, _| {
                assert!(
                    matches!(
                        o.query_core_error(0),
                        Core::Closed(ClosedReason::WithPendingRequests)
                    ),
                    "{o:?}"
                );
            },
        },
        Case {
            name: "a second ReadyForQuery",
            conninfo: "",
            queries: &["SELECT 1", "SELECT 2"],
            script: |p| {
                if p.read_startup().is_some() {
                    p.startup_ok();
                    p.expect(b'Q');
                    p.send(&cat(&[
                        row_desc(&[("a", TEXT)]),
                        text_row(&["1"]),
                        complete("SELECT 1"),
                        ready(b'I'),
                        ready(b'I'),
                    ]));
                    // Whatever comes next, answer it as if for the extra one.
                    if p.expect(b'Q').is_some() {
                        p.send(&cat(&[
                            row_desc(&[("a", TEXT)]),
                            text_row(&["wrong"]),
                            complete("SELECT 1"),
                            ready(b'I'),
                        ]));
                    }
                }
            },
            check: |o, _| {
                assert!(o.connect.is_none(), "{o:?}");
                // The first query may get its row, or already see the extra message;
                // the second never gets an answer delivered as right.
                if let Ok(rows) = &o.queries[0] {
                    assert_eq!(rows, &[vec![Some("1".into())]]);
                }
                assert!(
                    matches!(
                        o.query_core_error(1),
                        Core::Desynchronized(DesyncReason::UnexpectedMessage { .. })
                    ),
                    "{o:?}"
                );
                assert!(!o.healthy);
            },
        },
        Case {
            name: "a query answered by a bare ReadyForQuery",
            conninfo: "",
            queries: &["SELECT 1", "SELECT 2"],
            script: |p| {
                if p.read_startup().is_none() {
                    return;
                }
                p.startup_ok();
                if p.expect(b'Q').is_some() {
                    p.send(&cat(&[
                        row_desc(&[("a", TEXT)]),
                        text_row(&["1"]),
                        complete("SELECT 1"),
                        ready(b'I'),
                    ]));
                }
                // No CommandComplete, EmptyQueryResponse or ErrorResponse first.
                if p.expect(b'Q').is_some() {
                    p.send(&ready(b'I'));
                }
            },
            check: |o, _| {
                assert_eq!(
                    o.queries[0].as_ref().ok(),
                    Some(&vec![vec![Some("1".into())]])
                );
                assert!(
                    matches!(
                        o.query_core_error(1),
                        Core::Desynchronized(DesyncReason::UnexpectedMessage {
                            message: "ReadyForQuery",
                            ..
                        })
                    ),
                    "{o:?}"
                );
                assert!(!o.healthy);
            },
        },
        Case {
            name: "NegotiateProtocolVersion with malformed content",
            conninfo: "max_protocol_version=3.2",
            queries: &[],
            script: |p| {
                if p.read_startup().is_some() {
                    // Newest version, then a count of 5 options that are not there.
                    p.send(&msg(b'v', &[0, 3, 0, 0, 0, 0, 0, 5, b'x']));
                }
            },
            check: |o, _| {
                assert!(
                    matches!(
                        o.core_connect_error(),
                        Core::Protocol(ProtocolError::Malformed {
                            message: "NegotiateProtocolVersion",
                            ..
                        })
                    ),
                    "{o:?}"
                );
            },
        },
        Case {
            name: "NegotiateProtocolVersion offering a newer minor",
            conninfo: "max_protocol_version=3.2",
            queries: &[],
            script: |p| {
                if p.read_startup().is_some() {
                    p.send(&negotiate_version(0x0003_0009, &[]));
                }
            },
            check: |o, _| {
                assert!(
                    matches!(
                        o.core_connect_error(),
                        Core::Protocol(ProtocolError::Negotiation(_))
                    ),
                    "{o:?}"
                );
            },
        },
        Case {
            name: "NegotiateProtocolVersion without asking for 3.2",
            conninfo: "",
            queries: &[],
            script: |p| {
                if p.read_startup().is_some() {
                    p.send(&negotiate_version(0x0003_0000, &[]));
                }
            },
            check: |o, _| {
                assert!(
                    matches!(
                        o.core_connect_error(),
                        Core::Protocol(ProtocolError::Negotiation(_))
                    ),
                    "{o:?}"
                );
            },
        },
        // ---- success cases ----
        Case {
            name: "NegotiateProtocolVersion downgrades 3.2 to 3.0",
            conninfo: "max_protocol_version=3.2",
            queries: &["SELECT 1"],
            script: |p| {
                let Some((code, _)) = p.read_initial() else {
                    return;
                };
                assert_eq!(code, 0x0003_0002, "the client asked for 3.2");
                p.send(&negotiate_version(0x0003_0000, &[]));
                p.startup_ok();
                p.expect(b'Q');
                p.send(&cat(&[
                    row_desc(&[("a", TEXT)]),
                    text_row(&["1"]),
                    complete("SELECT 1"),
                    ready(b'I'),
                ]));
            },
            check: |o, _| {
                assert!(o.connect.is_none(), "{o:?}");
                assert_eq!(o.protocol, Some(hyperwire_proto::ProtocolVersion::V3_0));
                assert_eq!(o.queries[0].as_ref().unwrap(), &[vec![Some("1".into())]]);
                assert!(o.healthy);
            },
        },
        Case {
            name: "a notice, a parameter status and a notification inside a result",
            conninfo: "",
            queries: &["SELECT 1"],
            script: |p| {
                if p.read_startup().is_none() {
                    return;
                }
                p.startup_ok();
                p.expect(b'Q');
                let notice = fields(b'N', &[(b'S', "NOTICE"), (b'C', "00000"), (b'M', "hello")]);
                let notification = notification(9, "chan", "payload");
                p.send(&cat(&[
                    row_desc(&[("a", TEXT)]),
                    text_row(&["1"]),
                    notice,
                    text_row(&["2"]),
                    param("TimeZone", "Antarctica/Troll"),
                    text_row(&["3"]),
                    notification,
                    complete("SELECT 3"),
                    ready(b'I'),
                ]));
            },
            check: |o, _| {
                assert!(o.connect.is_none(), "{o:?}");
                let rows = o.queries[0].as_ref().unwrap();
                assert_eq!(
                    rows,
                    &[
                        vec![Some("1".into())],
                        vec![Some("2".into())],
                        vec![Some("3".into())]
                    ]
                );
                assert_eq!(o.notices, ["hello"]);
                assert_eq!(o.notifications, [("chan".into(), "payload".into())]);
                assert_eq!(o.parameter.as_deref(), Some("Antarctica/Troll"));
                assert!(o.healthy);
            },
        },
    ]
}

fn run_all(adapter: &str, run: fn(&str, &[&str]) -> Outcome) {
    let mut failures = Vec::new();
    for case in cases() {
        let server = FakeServer::start(case.script);
        let conninfo = server.conninfo(case.conninfo);
        let peak_before = peak_rss();
        let outcome = run(&conninfo, case.queries);
        let grew = peak_rss().saturating_sub(peak_before);
        let record = server.finish();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert!(
                outcome.elapsed < CASE_BOUND,
                "took {:?}: {outcome:?}",
                outcome.elapsed
            );
            // Nothing is reserved on a length's say-so (the cases send at most 1 MiB).
            assert!(grew < MEMORY_BOUND, "peak RSS grew by {} MiB", grew >> 20);
            assert!(
                !contains(&record, PASSWORD.as_bytes()),
                "the password went out in cleartext"
            );
            (case.check)(&outcome, &record);
        }));
        match result {
            Ok(()) => eprintln!("{adapter}: ok: {}", case.name),
            Err(e) => {
                let why = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                eprintln!("{adapter}: FAILED: {}: {why}", case.name);
                failures.push(case.name);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{adapter}: failed cases: {failures:#?}"
    );
}

#[test]
fn hostile_servers_blocking() {
    run_all("blocking", blocking::run);
}

#[test]
fn hostile_servers_tokio() {
    run_all("tokio", tokio_adapter::run);
}

/// COPY OUT through the tokio stream when the server's error arrives in the same
/// read as the data before it (the stream gathers every message already
/// received): the data comes first, then the error, never a clean end. Empty
/// CopyData messages are skipped without ending the stream.
#[test]
fn copy_out_error_after_data_in_one_read_is_reported() {
    fn script(peer: &mut Peer) {
        if peer.read_startup().is_none() {
            return;
        }
        peer.startup_ok();
        if peer.expect(b'Q').is_none() {
            return;
        }
        let copy_out = copy_response(b'H', 1);
        // An empty message alone in a write, then data and the error together.
        peer.send(&cat(&[copy_out, copy_data(b"")]));
        std::thread::sleep(Duration::from_millis(50));
        peer.send(&cat(&[
            copy_data(b"1\n"),
            copy_data(b""),
            copy_data(b"2\n"),
            fields(
                b'E',
                &[(b'S', "ERROR"), (b'C', "22012"), (b'M', "division by zero")],
            ),
            ready(b'I'),
        ]));
        // The next query on the same connection.
        if peer.expect(b'P').is_none() {
            return;
        }
        peer.send(&cat(&[
            empty(b'1'),
            param_desc(&[]),
            row_desc(&[]),
            empty(b'2'),
            complete("SELECT 0"),
            ready(b'I'),
        ]));
    }
    use futures_core::Stream;
    let server = FakeServer::start(script);
    let conninfo = server.conninfo("");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut conn = hyperwire_tokio::Connection::connect(&conninfo)
            .await
            .unwrap();
        let mut data = Vec::new();
        let mut error = None;
        {
            let mut out = conn.copy_out("COPY x TO STDOUT").await.unwrap();
            loop {
                let polled = std::future::poll_fn(|cx| std::pin::Pin::new(&mut out).poll_next(cx));
                let Some(chunk) = tokio::time::timeout(CASE_BOUND, polled).await.unwrap() else {
                    break;
                };
                match chunk {
                    Ok(bytes) => data.extend_from_slice(&bytes),
                    Err(e) => {
                        assert!(error.is_none(), "a second error: {e}");
                        error = Some(e);
                    }
                }
            }
        }
        assert_eq!(data, b"1\n2\n");
        let error = error.expect("the COPY's error was lost");
        assert_eq!(error.sqlstate(), Some("22012"), "{error}");
        let rows = conn.query("SELECT", &[]).await.unwrap();
        assert!(rows.is_empty());
    });
    drop(server);
}
