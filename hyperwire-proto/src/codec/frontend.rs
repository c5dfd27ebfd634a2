//! Encoders for every message a client sends. Each appends one whole message to `buf`
//! or, on error, leaves `buf` exactly as it was.

use alloc::vec::Vec;

use crate::error::EncodeError;

/// The protocol version sent in StartupMessage and negotiated with the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProtocolVersion {
    /// Major version (3).
    pub major: u16,
    /// Minor version (0 or 2).
    pub minor: u16,
}

impl ProtocolVersion {
    /// Protocol 3.0: every PostgreSQL since 7.4, and Hyper.
    pub const V3_0: ProtocolVersion = ProtocolVersion { major: 3, minor: 0 };
    /// Protocol 3.2: PostgreSQL 18 (long cancel keys).
    pub const V3_2: ProtocolVersion = ProtocolVersion { major: 3, minor: 2 };

    fn code(self) -> i32 {
        (i32::from(self.major) << 16) | i32::from(self.minor)
    }
}

impl core::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A value format code, as sent in Bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Format {
    /// 0: text.
    #[default]
    Text,
    /// 1: PostgreSQL binary (big-endian).
    Binary,
    /// 2: HyperBinary (little-endian; Hyper only).
    HyperBinary,
}

impl Format {
    /// The wire code.
    pub fn code(self) -> i16 {
        match self {
            Format::Text => 0,
            Format::Binary => 1,
            Format::HyperBinary => 2,
        }
    }
    /// The format for a wire code, if it is one we know.
    pub fn from_code(code: i16) -> Option<Format> {
        match code {
            0 => Some(Format::Text),
            1 => Some(Format::Binary),
            2 => Some(Format::HyperBinary),
            _ => None,
        }
    }
}

/// What Describe and Close act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// A prepared statement (`S`).
    Statement,
    /// A portal (`P`).
    Portal,
}

impl Target {
    fn byte(self) -> u8 {
        match self {
            Target::Statement => b'S',
            Target::Portal => b'P',
        }
    }
}

const SSL_REQUEST_CODE: i32 = (1234 << 16) | 5679;
const GSSENC_REQUEST_CODE: i32 = (1234 << 16) | 5680;
const CANCEL_REQUEST_CODE: i32 = (1234 << 16) | 5678;
/// The longest cancel key protocol 3.2 allows.
pub const MAX_CANCEL_KEY_LEN: usize = 256;

/// Writes a message with a type byte (or none, for startup-phase packets) and a
/// length prefix, checking the total and rolling back on error.
fn framed(
    buf: &mut Vec<u8>,
    tag: Option<u8>,
    message: &'static str,
    body: impl FnOnce(&mut Vec<u8>) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    let start = buf.len();
    if let Some(t) = tag {
        buf.push(t);
    }
    let len_at = buf.len();
    buf.extend_from_slice(&[0; 4]);
    let result = body(buf).and_then(|()| {
        i32::try_from(buf.len() - len_at).map_err(|_| EncodeError::MessageTooLong { message })
    });
    match result {
        Ok(len) => {
            if let Some(slot) = buf.get_mut(len_at..len_at + 4) {
                slot.copy_from_slice(&len.to_be_bytes());
            }
            Ok(())
        }
        Err(e) => {
            buf.truncate(start);
            Err(e)
        }
    }
}

fn put_cstr(
    buf: &mut Vec<u8>,
    s: &[u8],
    message: &'static str,
    field: &'static str,
) -> Result<(), EncodeError> {
    if memchr::memchr(0, s).is_some() {
        return Err(EncodeError::NulInString { message, field });
    }
    buf.extend_from_slice(s);
    buf.push(0);
    Ok(())
}

fn put_count(
    buf: &mut Vec<u8>,
    count: usize,
    message: &'static str,
    what: &'static str,
) -> Result<(), EncodeError> {
    let n = u16::try_from(count).map_err(|_| EncodeError::TooMany {
        message,
        what,
        count,
    })?;
    buf.extend_from_slice(&n.to_be_bytes());
    Ok(())
}

fn put_formats(
    buf: &mut Vec<u8>,
    formats: &[Format],
    message: &'static str,
    what: &'static str,
) -> Result<(), EncodeError> {
    put_count(buf, formats.len(), message, what)?;
    for f in formats {
        buf.extend_from_slice(&f.code().to_be_bytes());
    }
    Ok(())
}

/// StartupMessage: the protocol version and `(name, value)` parameters.
pub fn startup<'p>(
    buf: &mut Vec<u8>,
    version: ProtocolVersion,
    params: impl IntoIterator<Item = (&'p str, &'p str)>,
) -> Result<(), EncodeError> {
    const M: &str = "StartupMessage";
    framed(buf, None, M, |buf| {
        buf.extend_from_slice(&version.code().to_be_bytes());
        for (name, value) in params {
            if name.is_empty() {
                return Err(EncodeError::EmptyParameterName);
            }
            put_cstr(buf, name.as_bytes(), M, "parameter name")?;
            put_cstr(buf, value.as_bytes(), M, "parameter value")?;
        }
        buf.push(0);
        Ok(())
    })
}

/// SSLRequest.
pub fn ssl_request(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&8i32.to_be_bytes());
    buf.extend_from_slice(&SSL_REQUEST_CODE.to_be_bytes());
}

/// GSSENCRequest.
pub fn gssenc_request(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&8i32.to_be_bytes());
    buf.extend_from_slice(&GSSENC_REQUEST_CODE.to_be_bytes());
}

/// CancelRequest, sent alone on a new connection: a 4-byte key (protocol 3.0) or up
/// to 256 bytes (3.2).
pub fn cancel_request(
    buf: &mut Vec<u8>,
    process_id: u32,
    secret_key: &[u8],
) -> Result<(), EncodeError> {
    if !(4..=MAX_CANCEL_KEY_LEN).contains(&secret_key.len()) {
        return Err(EncodeError::InvalidCancelKeyLength(secret_key.len()));
    }
    framed(buf, None, "CancelRequest", |buf| {
        buf.extend_from_slice(&CANCEL_REQUEST_CODE.to_be_bytes());
        buf.extend_from_slice(&process_id.to_be_bytes());
        buf.extend_from_slice(secret_key);
        Ok(())
    })
}

/// PasswordMessage carrying a cleartext or MD5 password (NUL-terminated).
pub fn password(buf: &mut Vec<u8>, password: &[u8]) -> Result<(), EncodeError> {
    const M: &str = "PasswordMessage";
    framed(buf, Some(b'p'), M, |buf| {
        put_cstr(buf, password, M, "password")
    })
}

/// SASLInitialResponse: the chosen mechanism and the client-first message.
pub fn sasl_initial_response(
    buf: &mut Vec<u8>,
    mechanism: &str,
    data: &[u8],
) -> Result<(), EncodeError> {
    const M: &str = "SASLInitialResponse";
    framed(buf, Some(b'p'), M, |buf| {
        put_cstr(buf, mechanism.as_bytes(), M, "mechanism")?;
        let n =
            i32::try_from(data.len()).map_err(|_| EncodeError::MessageTooLong { message: M })?;
        buf.extend_from_slice(&n.to_be_bytes());
        buf.extend_from_slice(data);
        Ok(())
    })
}

/// SASLResponse: the client-final message.
pub fn sasl_response(buf: &mut Vec<u8>, data: &[u8]) -> Result<(), EncodeError> {
    framed(buf, Some(b'p'), "SASLResponse", |buf| {
        buf.extend_from_slice(data);
        Ok(())
    })
}

/// Query (simple protocol).
pub fn query(buf: &mut Vec<u8>, sql: &str) -> Result<(), EncodeError> {
    const M: &str = "Query";
    framed(buf, Some(b'Q'), M, |buf| {
        put_cstr(buf, sql.as_bytes(), M, "query")
    })
}

/// Parse: a statement name (empty for unnamed), its SQL and declared parameter types
/// (OID 0 leaves a type to the server; Hyper requires one entry per `$n`).
pub fn parse(
    buf: &mut Vec<u8>,
    statement: &str,
    sql: &str,
    param_types: &[u32],
) -> Result<(), EncodeError> {
    const M: &str = "Parse";
    framed(buf, Some(b'P'), M, |buf| {
        put_cstr(buf, statement.as_bytes(), M, "statement name")?;
        put_cstr(buf, sql.as_bytes(), M, "query")?;
        put_count(buf, param_types.len(), M, "parameter types")?;
        for t in param_types {
            buf.extend_from_slice(&t.to_be_bytes());
        }
        Ok(())
    })
}

/// Bind: portal and statement names, parameter formats (none: all text; one: for all;
/// else one per parameter), parameter values (`None` is NULL) and result formats
/// (same rule, per result column).
pub fn bind(
    buf: &mut Vec<u8>,
    portal: &str,
    statement: &str,
    param_formats: &[Format],
    params: &[Option<&[u8]>],
    result_formats: &[Format],
) -> Result<(), EncodeError> {
    const M: &str = "Bind";
    framed(buf, Some(b'B'), M, |buf| {
        put_cstr(buf, portal.as_bytes(), M, "portal name")?;
        put_cstr(buf, statement.as_bytes(), M, "statement name")?;
        put_formats(buf, param_formats, M, "parameter formats")?;
        put_count(buf, params.len(), M, "parameters")?;
        for p in params {
            match p {
                None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(v) => {
                    let n = i32::try_from(v.len())
                        .map_err(|_| EncodeError::MessageTooLong { message: M })?;
                    buf.extend_from_slice(&n.to_be_bytes());
                    buf.extend_from_slice(v);
                }
            }
        }
        put_formats(buf, result_formats, M, "result formats")
    })
}

/// Describe a statement or a portal.
pub fn describe(buf: &mut Vec<u8>, target: Target, name: &str) -> Result<(), EncodeError> {
    const M: &str = "Describe";
    framed(buf, Some(b'D'), M, |buf| {
        buf.push(target.byte());
        put_cstr(buf, name.as_bytes(), M, "name")
    })
}

/// Execute a portal, returning at most `max_rows` rows (0: no limit).
pub fn execute(buf: &mut Vec<u8>, portal: &str, max_rows: u32) -> Result<(), EncodeError> {
    const M: &str = "Execute";
    let max = i32::try_from(max_rows).map_err(|_| EncodeError::ValueOutOfRange {
        message: M,
        field: "max_rows",
    })?;
    framed(buf, Some(b'E'), M, |buf| {
        put_cstr(buf, portal.as_bytes(), M, "portal name")?;
        buf.extend_from_slice(&max.to_be_bytes());
        Ok(())
    })
}

/// Close a statement or a portal.
pub fn close(buf: &mut Vec<u8>, target: Target, name: &str) -> Result<(), EncodeError> {
    const M: &str = "Close";
    framed(buf, Some(b'C'), M, |buf| {
        buf.push(target.byte());
        put_cstr(buf, name.as_bytes(), M, "name")
    })
}

fn empty(buf: &mut Vec<u8>, tag: u8) {
    buf.push(tag);
    buf.extend_from_slice(&4i32.to_be_bytes());
}

/// Sync: ends an extended-query batch; the server answers with exactly one ReadyForQuery.
pub fn sync(buf: &mut Vec<u8>) {
    empty(buf, b'S');
}

/// Flush: asks the server to send what it has buffered.
pub fn flush(buf: &mut Vec<u8>) {
    empty(buf, b'H');
}

/// CopyData.
pub fn copy_data(buf: &mut Vec<u8>, data: &[u8]) -> Result<(), EncodeError> {
    framed(buf, Some(b'd'), "CopyData", |buf| {
        buf.extend_from_slice(data);
        Ok(())
    })
}

/// CopyDone.
pub fn copy_done(buf: &mut Vec<u8>) {
    empty(buf, b'c');
}

/// CopyFail with the reason the server will quote in its error.
pub fn copy_fail(buf: &mut Vec<u8>, reason: &str) -> Result<(), EncodeError> {
    const M: &str = "CopyFail";
    framed(buf, Some(b'f'), M, |buf| {
        put_cstr(buf, reason.as_bytes(), M, "reason")
    })
}

/// Terminate.
pub fn terminate(buf: &mut Vec<u8>) {
    empty(buf, b'X');
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use alloc::vec;

    fn hex(s: &str) -> Vec<u8> {
        let s: alloc::string::String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn golden_frames() {
        let mut b = Vec::new();
        startup(&mut b, ProtocolVersion::V3_0, [("user", "u")]).unwrap();
        assert_eq!(b, hex("00000010 00030000 7573657200 7500 00"));

        b.clear();
        startup(&mut b, ProtocolVersion::V3_2, []).unwrap();
        assert_eq!(b, hex("00000009 00030002 00"));

        b.clear();
        ssl_request(&mut b);
        assert_eq!(b, hex("00000008 04d2162f"));
        b.clear();
        gssenc_request(&mut b);
        assert_eq!(b, hex("00000008 04d21630"));

        b.clear();
        cancel_request(&mut b, 7, &[0xe2, 0x21, 0x10, 0xf4]).unwrap();
        assert_eq!(b, hex("00000010 04d2162e 00000007 e22110f4"));
        b.clear();
        cancel_request(&mut b, 1, &[0xaa; 32]).unwrap();
        assert_eq!(b.len(), 16 + 28);
        assert_eq!(&b[..4], &44i32.to_be_bytes());

        b.clear();
        password(&mut b, b"pw").unwrap();
        assert_eq!(b, hex("70 00000007 707700"));

        b.clear();
        sasl_initial_response(&mut b, "SCRAM-SHA-256", b"n,,").unwrap();
        assert_eq!(
            b,
            hex("70 00000019 534352414d2d5348412d32353600 00000003 6e2c2c")
        );
        b.clear();
        sasl_response(&mut b, b"c=biws").unwrap();
        assert_eq!(b, hex("70 0000000a 633d62697773"));

        b.clear();
        query(&mut b, "SELECT 1").unwrap();
        assert_eq!(b, hex("51 0000000d 53454c4543542031 00"));

        b.clear();
        parse(&mut b, "s1", "SELECT $1", &[23]).unwrap();
        assert_eq!(
            b,
            hex("50 00000017 733100 53454c454354202431 00 0001 00000017")
        );

        b.clear();
        bind(&mut b, "", "", &[], &[], &[Format::HyperBinary]).unwrap();
        assert_eq!(b, hex("42 0000000e 00 00 0000 0000 0001 0002"));

        b.clear();
        bind(
            &mut b,
            "p",
            "s",
            &[Format::Binary],
            &[Some(&[0, 0, 0, 99]), None],
            &[Format::Text, Format::Binary],
        )
        .unwrap();
        assert_eq!(
            b,
            hex("42 00000020 7000 7300 0001 0001 0002 00000004 00000063 ffffffff 0002 0000 0001")
        );

        b.clear();
        describe(&mut b, Target::Portal, "").unwrap();
        assert_eq!(b, hex("44 00000006 50 00"));
        b.clear();
        describe(&mut b, Target::Statement, "s").unwrap();
        assert_eq!(b, hex("44 00000007 53 7300"));

        b.clear();
        execute(&mut b, "", 2).unwrap();
        assert_eq!(b, hex("45 00000009 00 00000002"));

        b.clear();
        close(&mut b, Target::Statement, "s1").unwrap();
        assert_eq!(b, hex("43 00000008 53 733100"));

        b.clear();
        sync(&mut b);
        flush(&mut b);
        copy_done(&mut b);
        terminate(&mut b);
        assert_eq!(b, hex("53 00000004 48 00000004 63 00000004 58 00000004"));

        b.clear();
        copy_data(&mut b, b"1\n").unwrap();
        assert_eq!(b, hex("64 00000006 310a"));
        b.clear();
        copy_fail(&mut b, "client gave up").unwrap();
        assert_eq!(b, hex("66 00000013 636c69656e742067617665207570 00"));
    }

    #[test]
    fn sizes_are_checked_and_roll_back() {
        let mut b = vec![1, 2, 3];
        let many = vec![0u32; 65536];
        let err = parse(&mut b, "", "x", &many).unwrap_err();
        assert!(matches!(err, EncodeError::TooMany { count: 65536, .. }));
        assert_eq!(b, [1, 2, 3], "a failed encode leaves the buffer unchanged");

        assert!(parse(&mut b, "", "x", &many[..65535]).is_ok());

        let mut b = Vec::new();
        let err = query(&mut b, "SELECT 1\0; DROP TABLE t").unwrap_err();
        assert_eq!(
            err,
            EncodeError::NulInString {
                message: "Query",
                field: "query"
            }
        );
        assert!(b.is_empty());

        let err = cancel_request(&mut b, 1, &[0; 257]).unwrap_err();
        assert_eq!(err, EncodeError::InvalidCancelKeyLength(257));
        let err = cancel_request(&mut b, 1, &[0; 3]).unwrap_err();
        assert_eq!(err, EncodeError::InvalidCancelKeyLength(3));

        let err = execute(&mut b, "", u32::MAX).unwrap_err();
        assert!(matches!(err, EncodeError::ValueOutOfRange { .. }));

        let err = startup(&mut b, ProtocolVersion::V3_0, [("", "x")]).unwrap_err();
        assert_eq!(err, EncodeError::EmptyParameterName);
        assert!(b.is_empty());
    }
}
