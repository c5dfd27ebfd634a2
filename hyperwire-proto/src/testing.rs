//! Server messages, built as a server sends them: for transcript tests, property
//! tests, benchmarks and fuzz targets, here and in other crates (feature
//! `testing`). Test code: lengths are computed with plain casts.
#![allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]

use alloc::vec;
use alloc::vec::Vec;

/// Encodes one backend message.
pub fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

/// A C string: the bytes of `s` and a NUL.
pub fn cstr(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// An Authentication message (`R`): the request `code` (0 Ok, 3 cleartext, 5 MD5,
/// 10 SASL, 11 SASL continue, 12 SASL final) followed by `extra`.
pub fn auth(code: i32, extra: &[u8]) -> Vec<u8> {
    let mut b = code.to_be_bytes().to_vec();
    b.extend_from_slice(extra);
    msg(b'R', &b)
}
/// AuthenticationOk.
pub fn auth_ok() -> Vec<u8> {
    auth(0, &[])
}
/// AuthenticationSASL offering `mechanisms`, in that order.
pub fn sasl(mechanisms: &[&str]) -> Vec<u8> {
    let mut b = Vec::new();
    for m in mechanisms {
        b.extend(cstr(m));
    }
    b.push(0);
    auth(10, &b)
}
/// ParameterStatus `name` = `value`.
pub fn param(name: &str, value: &str) -> Vec<u8> {
    let mut b = cstr(name);
    b.extend(cstr(value));
    msg(b'S', &b)
}
/// BackendKeyData: the process id and the secret key (4 bytes in protocol 3.0,
/// up to 256 in 3.2).
pub fn key(pid: u32, secret: &[u8]) -> Vec<u8> {
    let mut b = pid.to_be_bytes().to_vec();
    b.extend_from_slice(secret);
    msg(b'K', &b)
}
/// ReadyForQuery with the transaction status `I`, `T` or `E`.
pub fn ready(status: u8) -> Vec<u8> {
    msg(b'Z', &[status])
}
/// RowDescription with text columns of the given (name, type oid).
pub fn row_desc(cols: &[(&str, u32)]) -> Vec<u8> {
    let cols: Vec<_> = cols.iter().map(|&(name, oid)| (name, oid, -1, 0)).collect();
    row_desc_with(&cols)
}
/// RowDescription with columns of the given (name, type oid, type length, format
/// code: 0 text, 1 binary); no table (oid 0, column 0), type modifier -1.
pub fn row_desc_with(cols: &[(&str, u32, i16, i16)]) -> Vec<u8> {
    let mut b = (cols.len() as u16).to_be_bytes().to_vec();
    for (name, oid, len, format) in cols {
        b.extend(cstr(name));
        b.extend(0u32.to_be_bytes());
        b.extend(0i16.to_be_bytes());
        b.extend(oid.to_be_bytes());
        b.extend(len.to_be_bytes());
        b.extend((-1i32).to_be_bytes());
        b.extend(format.to_be_bytes());
    }
    msg(b'T', &b)
}
/// ParameterDescription with the given parameter type oids.
pub fn param_desc(oids: &[u32]) -> Vec<u8> {
    let mut b = (oids.len() as u16).to_be_bytes().to_vec();
    for oid in oids {
        b.extend(oid.to_be_bytes());
    }
    msg(b't', &b)
}
/// DataRow with the given columns (`None` is NULL).
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
/// DataRow with the given non-NULL text columns.
pub fn text_row(cols: &[&str]) -> Vec<u8> {
    let cols: Vec<_> = cols.iter().map(|c| Some(c.as_bytes())).collect();
    data_row(&cols)
}
/// CommandComplete with the command tag (`SELECT 1`, `INSERT 0 5`, ...).
pub fn complete(tag: &str) -> Vec<u8> {
    msg(b'C', &cstr(tag))
}
/// An ErrorResponse (`E`) or NoticeResponse (`N`) with the given (field code, value)
/// pairs, in that order.
pub fn fields(tag: u8, f: &[(u8, &str)]) -> Vec<u8> {
    let f: Vec<_> = f.iter().map(|&(c, v)| (c, v.as_bytes())).collect();
    fields_raw(tag, &f)
}
/// [`fields`] with values as raw bytes (not UTF-8, say); a value must not contain a NUL.
pub fn fields_raw(tag: u8, f: &[(u8, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (c, v) in f {
        b.push(*c);
        b.extend_from_slice(v);
        b.push(0);
    }
    b.push(0);
    msg(tag, &b)
}
/// An ErrorResponse of severity ERROR with the SQLSTATE `code` and `message`.
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
/// An ErrorResponse of severity FATAL (the server closes the connection after it).
pub fn fatal(code: &str, message: &str) -> Vec<u8> {
    fields(
        b'E',
        &[
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', code),
            (b'M', message),
        ],
    )
}
/// A NoticeResponse of severity WARNING (SQLSTATE 01000) with `message`.
pub fn notice(message: &str) -> Vec<u8> {
    fields(b'N', &[(b'S', "WARNING"), (b'C', "01000"), (b'M', message)])
}
/// NotificationResponse from the backend `pid` on `channel`.
pub fn notification(pid: u32, channel: &str, payload: &str) -> Vec<u8> {
    let mut b = pid.to_be_bytes().to_vec();
    b.extend(cstr(channel));
    b.extend(cstr(payload));
    msg(b'A', &b)
}
/// A message with an empty body: ParseComplete (`1`), BindComplete (`2`),
/// CloseComplete (`3`), NoData (`n`), EmptyQueryResponse (`I`), PortalSuspended
/// (`s`), CopyDone (`c`).
pub fn empty(tag: u8) -> Vec<u8> {
    msg(tag, &[])
}
/// CopyInResponse (`G`), CopyOutResponse (`H`) or CopyBothResponse (`W`): text
/// format, `columns` text columns.
pub fn copy_response(tag: u8, columns: u16) -> Vec<u8> {
    let mut b = vec![0u8];
    b.extend(columns.to_be_bytes());
    for _ in 0..columns {
        b.extend(0i16.to_be_bytes());
    }
    msg(tag, &b)
}

/// CopyData carrying `data`.
pub fn copy_data(data: &[u8]) -> Vec<u8> {
    msg(b'd', data)
}
/// NegotiateProtocolVersion: the newest minor version the server supports (the
/// whole `3.x` version number, `0x0003_0000` for 3.0) and the options it did not
/// recognize.
pub fn negotiate_version(newest: u32, unrecognized: &[&str]) -> Vec<u8> {
    let mut b = newest.to_be_bytes().to_vec();
    b.extend((unrecognized.len() as u32).to_be_bytes());
    for o in unrecognized {
        b.extend(cstr(o));
    }
    msg(b'v', &b)
}

/// The parts one after another, as one write of a server.
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
