//! Server messages, built as a server sends them: for transcript tests, property
//! tests, benchmarks and fuzz targets, here and in other crates (feature
//! `testing`). Test code: lengths are computed with plain casts.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    missing_docs
)]

use alloc::vec;
use alloc::vec::Vec;

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
