//! A few hand-written protocol bytes: send a StartupMessage and see how the server answers.
//! Used for readiness checks and by the harness's own tests; independent of the hyperwire
//! crates on purpose.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::server::Server;

/// How long one probe may wait for the server.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What a server answered to a StartupMessage (protocol 3.0).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartupReply {
    /// AuthenticationOk, then ReadyForQuery: the `ParameterStatus` pairs seen on the way.
    Ready {
        /// `(name, value)` in the order received.
        parameters: Vec<(String, String)>,
    },
    /// An authentication request other than Ok: 3 cleartext, 5 MD5, 10 SASL, …
    Auth(u32),
    /// An ErrorResponse: its SQLSTATE (`C`) and message (`M`).
    Error {
        /// SQLSTATE.
        code: String,
        /// Primary message.
        message: String,
    },
}

impl StartupReply {
    /// For [`StartupReply::Ready`], the value of a `ParameterStatus`.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        match self {
            StartupReply::Ready { parameters } => parameters
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str()),
            _ => None,
        }
    }
}

/// Sends a StartupMessage for `user` (and `database`) on `stream` and reads the answer up to
/// ReadyForQuery, the first non-Ok authentication request, or an ErrorResponse.
pub fn startup<S: Read + Write>(
    stream: &mut S,
    user: &str,
    database: Option<&str>,
) -> io::Result<StartupReply> {
    let mut body = Vec::new();
    body.extend_from_slice(&0x0003_0000_u32.to_be_bytes());
    for (k, v) in [("user", Some(user)), ("database", database)] {
        if let Some(v) = v {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
    }
    body.push(0);
    let len = u32::try_from(body.len() + 4).map_err(|_| bad("startup message too long"))?;
    let mut msg = len.to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    stream.write_all(&msg)?;
    stream.flush()?;

    let mut parameters = Vec::new();
    loop {
        let mut head = [0u8; 5];
        stream.read_exact(&mut head)?;
        let [tag, l0, l1, l2, l3] = head;
        let len = u32::from_be_bytes([l0, l1, l2, l3]);
        if !(4..=1 << 20).contains(&len) {
            return Err(bad(&format!(
                "message {:?} with length {len}",
                char::from(tag)
            )));
        }
        let mut body = vec![0u8; len as usize - 4];
        stream.read_exact(&mut body)?;
        match tag {
            b'R' => {
                let code = body
                    .get(..4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_be_bytes)
                    .ok_or_else(|| bad("short Authentication message"))?;
                if code != 0 {
                    return Ok(StartupReply::Auth(code));
                }
            }
            b'S' => {
                let mut parts = body.split(|b| *b == 0);
                let name = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
                let value = String::from_utf8_lossy(parts.next().unwrap_or_default()).into_owned();
                parameters.push((name, value));
            }
            b'Z' => return Ok(StartupReply::Ready { parameters }),
            b'E' => {
                let (mut code, mut message) = (String::new(), String::new());
                for field in body.split(|b| *b == 0) {
                    if let Some((kind, text)) = field.split_first() {
                        let text = String::from_utf8_lossy(text).into_owned();
                        match kind {
                            b'C' => code = text,
                            b'M' => message = text,
                            _ => {}
                        }
                    }
                }
                return Ok(StartupReply::Error { code, message });
            }
            // BackendKeyData, NoticeResponse, NegotiateProtocolVersion: keep reading.
            _ => {}
        }
    }
}

/// [`startup`] over TCP to `host:port` (10 s timeouts).
pub fn startup_tcp_addr(
    host: &str,
    port: u16,
    user: &str,
    database: Option<&str>,
) -> io::Result<StartupReply> {
    let ip = host
        .parse()
        .map_err(|_| bad(&format!("not an IP address: {host}")))?;
    let mut s = TcpStream::connect_timeout(&SocketAddr::new(ip, port), TIMEOUT)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    s.set_nodelay(true)?;
    startup(&mut s, user, database)
}

/// [`startup`] over TCP to `server` as `user`, with the server's database.
pub fn startup_tcp(server: &Server, user: &str) -> io::Result<StartupReply> {
    startup_tcp_addr(server.host(), server.port(), user, server.database())
}

/// [`startup`] over the server's unix socket as `user`, with the server's database.
pub fn startup_unix(server: &Server, user: &str) -> io::Result<StartupReply> {
    let path = server
        .socket_path()
        .ok_or_else(|| bad(&format!("{} has no unix socket", server.kind())))?;
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    startup(&mut s, user, server.database())
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}
