//! Test-only helpers: a server-side encoder for backend messages, a client-message
//! splitter, and a driver that runs a transcript through a `Protocol`.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use hyperwire_proto::{Event, Protocol, Settings};

/// Encodes one backend message.
pub fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

pub fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

pub fn auth(code: i32, extra: &[u8]) -> Vec<u8> {
    let mut b = code.to_be_bytes().to_vec();
    b.extend_from_slice(extra);
    msg(b'R', &b)
}
pub fn auth_ok() -> Vec<u8> {
    auth(0, &[])
}
pub fn param(name: &str, value: &str) -> Vec<u8> {
    let mut b = cstr(name);
    b.extend(cstr(value));
    msg(b'S', &b)
}
pub fn key(pid: u32, secret: &[u8]) -> Vec<u8> {
    let mut b = pid.to_be_bytes().to_vec();
    b.extend_from_slice(secret);
    msg(b'K', &b)
}
pub fn ready(status: u8) -> Vec<u8> {
    msg(b'Z', &[status])
}
/// RowDescription with text columns of the given (name, type oid).
pub fn row_desc(cols: &[(&str, u32)]) -> Vec<u8> {
    let mut b = (cols.len() as u16).to_be_bytes().to_vec();
    for (name, oid) in cols {
        b.extend(cstr(name));
        b.extend(0u32.to_be_bytes());
        b.extend(0i16.to_be_bytes());
        b.extend(oid.to_be_bytes());
        b.extend((-1i16).to_be_bytes());
        b.extend((-1i32).to_be_bytes());
        b.extend(0i16.to_be_bytes());
    }
    msg(b'T', &b)
}
pub fn data_row(cols: &[Option<&[u8]>]) -> Vec<u8> {
    let mut b = (cols.len() as u16).to_be_bytes().to_vec();
    for c in cols {
        match c {
            None => b.extend((-1i32).to_be_bytes()),
            Some(v) => {
                b.extend((v.len() as i32).to_be_bytes());
                b.extend_from_slice(v);
            }
        }
    }
    msg(b'D', &b)
}
pub fn complete(tag: &str) -> Vec<u8> {
    msg(b'C', &cstr(tag))
}
pub fn fields(tag: u8, f: &[(u8, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (c, v) in f {
        b.push(*c);
        b.extend(cstr(v));
    }
    b.push(0);
    msg(tag, &b)
}
pub fn error(code: &str, message: &str) -> Vec<u8> {
    fields(
        b'E',
        &[
            (b'S', "ERROR"),
            (b'V', "ERROR"),
            (b'C', code),
            (b'M', message),
        ],
    )
}
pub fn notice(message: &str) -> Vec<u8> {
    fields(b'N', &[(b'S', "WARNING"), (b'C', "01000"), (b'M', message)])
}
pub fn notification(pid: u32, channel: &str, payload: &str) -> Vec<u8> {
    let mut b = pid.to_be_bytes().to_vec();
    b.extend(cstr(channel));
    b.extend(cstr(payload));
    msg(b'A', &b)
}
pub fn empty(tag: u8) -> Vec<u8> {
    msg(tag, &[])
}
pub fn copy_response(tag: u8, columns: u16) -> Vec<u8> {
    let mut b = vec![0u8];
    b.extend(columns.to_be_bytes());
    for _ in 0..columns {
        b.extend(0i16.to_be_bytes());
    }
    msg(tag, &b)
}

pub fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

/// A plain (trust) startup as a server sends it.
pub fn trust_startup() -> Vec<u8> {
    cat(&[
        auth_ok(),
        param("server_version", "15.18"),
        param("client_encoding", "UTF8"),
        key(42, &[1, 2, 3, 4]),
        ready(b'I'),
    ])
}

/// Splits client bytes into (tag, body) messages; startup-phase packets (no tag) are
/// returned with tag 0.
pub fn split_client(mut bytes: &[u8], startup_first: bool) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    if startup_first && bytes.len() >= 4 {
        let len = i32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        out.push((0, bytes[4..len].to_vec()));
        bytes = &bytes[len..];
    }
    while bytes.len() >= 5 {
        let tag = bytes[0];
        let len = i32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize;
        out.push((tag, bytes[5..1 + len].to_vec()));
        bytes = &bytes[1 + len..];
    }
    assert!(bytes.is_empty(), "trailing partial client message");
    out
}

/// Drains events as strings (their Debug form), stopping after Fatal.
pub fn drain(p: &mut Protocol) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(ev) = p.poll_event() {
        out.push(format!("{ev:?}"));
    }
    out
}

/// Takes every pending client byte.
pub fn take_sent(p: &mut Protocol) -> Vec<u8> {
    let v = p.pending_send().to_vec();
    p.advance_send(v.len());
    v
}

/// Feeds `bytes` in the given chunk sizes (cycled), draining events after each.
pub fn feed_chunked(p: &mut Protocol, bytes: &[u8], chunks: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < bytes.len() {
        let n = chunks
            .get(k % chunks.len().max(1))
            .copied()
            .unwrap_or(bytes.len())
            .max(1)
            .min(bytes.len() - i);
        k += 1;
        let buf = p.recv_buf(n);
        buf[..n].copy_from_slice(&bytes[i..i + n]);
        p.recv_commit(n);
        i += n;
        out.extend(drain(p));
    }
    out
}

/// A machine that finished a trust startup, with its startup bytes taken.
pub fn ready_machine() -> Protocol {
    let mut p = Protocol::new(Settings::new("alice"));
    take_sent(&mut p);
    p.receive(&trust_startup());
    let evs = drain(&mut p);
    assert!(
        evs.last().unwrap().starts_with("StartupComplete"),
        "{evs:?}"
    );
    p
}

/// True if `events` contains one matching `pat` (substring of the Debug form).
pub fn has(events: &[String], pat: &str) -> bool {
    events.iter().any(|e| e.contains(pat))
}

pub fn deterministic_nonce(p: &mut Protocol, nonce: [u8; 18]) {
    p.set_nonce_source(Box::new(move |buf: &mut [u8]| {
        for (d, s) in buf.iter_mut().zip(nonce.iter().cycle()) {
            *d = *s;
        }
    }));
}

/// Keeps a compile-time reference to Event so the import is used in every test crate.
pub fn is_fatal(ev: &Event<'_>) -> bool {
    matches!(ev, Event::Fatal(_))
}
