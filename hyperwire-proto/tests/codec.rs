#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs,
    unreachable_pub
)]
//! Codec tests: golden frames for every backend message, malformed bodies, and
//! property tests that round-trip every backend message (through a test-only
//! encoder) and every frontend message (through a test-only decoder).

use hyperwire_proto::codec::frontend;
use hyperwire_proto::codec::{
    decode, message_name, Authentication, BackendMessage, CopyResponse, DataRow, ErrorFields,
    FieldDescription, Format, Header, ParameterTypes, ProtocolVersion, RowDescription, StrList,
    Target, TransactionStatus, HEADER_LEN, MAX_CANCEL_KEY_LEN,
};
// Frames a body as the server does (the test encoder's last step).
use hyperwire_proto::testing::msg as frame;
use hyperwire_proto::{EncodeError, ProtocolError};
use proptest::collection::vec;
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Hex to bytes, ignoring whitespace.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits in {s:?}");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// Parses the 5-byte header at the front of a frame, with no size limit.
fn header(frame: &[u8]) -> Header {
    let bytes: [u8; HEADER_LEN] = frame[..HEADER_LEN].try_into().unwrap();
    Header::parse(bytes, u32::MAX).unwrap()
}

/// Splits a whole frame, checks the header's length against the frame, and decodes
/// the body.
fn decode_frame(frame: &[u8]) -> BackendMessage<'_> {
    let h = header(frame);
    assert_eq!(h.tag, frame[0]);
    assert_eq!(
        h.body_len,
        frame.len() - HEADER_LEN,
        "declared length does not match the frame"
    );
    let msg = decode(h.tag, &frame[HEADER_LEN..])
        .unwrap_or_else(|e| panic!("golden frame {:?} rejected: {e}", h.tag as char));
    assert_eq!(msg.name(), message_name(h.tag));
    assert_ne!(msg.name(), "unknown");
    msg
}

/// Decodes a golden frame, checks it against the owned model of the message, and
/// checks that the test encoder reproduces the frame byte for byte (so the test
/// encoder used by the property tests is itself pinned to the golden bytes).
fn golden(frame_hex: &str, expected: &Be) -> Vec<u8> {
    let frame = hex(frame_hex);
    let msg = decode_frame(&frame);
    assert_eq!(&model(&msg), expected);
    assert_eq!(
        encode_be(expected),
        frame,
        "test encoder disagrees with the golden frame"
    );
    frame
}

fn assert_malformed(tag: u8, body: &[u8]) {
    match decode(tag, body) {
        Err(ProtocolError::Malformed { message, reason }) => {
            assert_eq!(message, message_name(tag), "wrong message name");
            assert!(!reason.is_empty());
        }
        other => panic!(
            "{} body {body:02x?}: expected Malformed, got {other:?}",
            message_name(tag)
        ),
    }
}

fn put_cstr(b: &mut Vec<u8>, s: &[u8]) {
    assert!(!s.contains(&0), "test bug: NUL inside a C string");
    b.extend_from_slice(s);
    b.push(0);
}

fn count16(n: usize) -> [u8; 2] {
    u16::try_from(n).unwrap().to_be_bytes()
}

const BACKEND_TAGS: &[u8] = b"RK23CdcGHWDIEVvnNAtS1sZT";

// ---------------------------------------------------------------------------
// An owned model of every backend message, a test-only encoder for it, and the
// conversion from the crate's borrowed views (through public accessors only).
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    name: String,
    table_oid: u32,
    column_id: i16,
    type_oid: u32,
    type_size: i16,
    type_modifier: i32,
    format: i16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct CopyModel {
    format: u8,
    columns: Vec<i16>,
}

type Fields = Vec<(u8, Vec<u8>)>;
type Row = Vec<Option<Vec<u8>>>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Be {
    AuthOk,
    AuthKerberosV5,
    AuthCleartext,
    AuthMd5([u8; 4]),
    AuthScm,
    AuthGss,
    AuthGssContinue(Vec<u8>),
    AuthSspi,
    AuthSasl(Vec<String>),
    AuthSaslContinue(Vec<u8>),
    AuthSaslFinal(Vec<u8>),
    BackendKeyData {
        process_id: u32,
        secret_key: Vec<u8>,
    },
    BindComplete,
    CloseComplete,
    CommandComplete(String),
    CopyData(Vec<u8>),
    CopyDone,
    CopyIn(CopyModel),
    CopyOut(CopyModel),
    CopyBoth(CopyModel),
    DataRow(Row),
    EmptyQueryResponse,
    ErrorResponse(Fields),
    NoticeResponse(Fields),
    FunctionCallResponse(Option<Vec<u8>>),
    NegotiateProtocolVersion {
        newest_version: u32,
        unrecognized: Vec<String>,
    },
    NoData,
    NotificationResponse {
        process_id: u32,
        channel: String,
        payload: String,
    },
    ParameterDescription(Vec<u32>),
    ParameterStatus {
        name: String,
        value: String,
    },
    ParseComplete,
    PortalSuspended,
    /// The status byte: `I`, `T` or `E`.
    ReadyForQuery(u8),
    RowDescription(Vec<Field>),
}

/// The test-only backend encoder: one whole frame.
fn encode_be(m: &Be) -> Vec<u8> {
    let mut b = Vec::new();
    let auth = |b: &mut Vec<u8>, code: i32, extra: &[u8]| {
        b.extend_from_slice(&code.to_be_bytes());
        b.extend_from_slice(extra);
        b'R'
    };
    let copy = |b: &mut Vec<u8>, c: &CopyModel, tag: u8| {
        b.push(c.format);
        b.extend_from_slice(&count16(c.columns.len()));
        for f in &c.columns {
            b.extend_from_slice(&f.to_be_bytes());
        }
        tag
    };
    let fields = |b: &mut Vec<u8>, fs: &Fields, tag: u8| {
        for (code, value) in fs {
            assert_ne!(*code, 0, "test bug: field code 0");
            b.push(*code);
            put_cstr(b, value);
        }
        b.push(0);
        tag
    };
    let tag = match m {
        Be::AuthOk => auth(&mut b, 0, &[]),
        Be::AuthKerberosV5 => auth(&mut b, 2, &[]),
        Be::AuthCleartext => auth(&mut b, 3, &[]),
        Be::AuthMd5(salt) => auth(&mut b, 5, salt),
        Be::AuthScm => auth(&mut b, 6, &[]),
        Be::AuthGss => auth(&mut b, 7, &[]),
        Be::AuthGssContinue(d) => auth(&mut b, 8, d),
        Be::AuthSspi => auth(&mut b, 9, &[]),
        Be::AuthSasl(mechs) => {
            b.extend_from_slice(&10i32.to_be_bytes());
            for m in mechs {
                assert!(!m.is_empty(), "test bug: empty mechanism ends the list");
                put_cstr(&mut b, m.as_bytes());
            }
            b.push(0);
            b'R'
        }
        Be::AuthSaslContinue(d) => auth(&mut b, 11, d),
        Be::AuthSaslFinal(d) => auth(&mut b, 12, d),
        Be::BackendKeyData {
            process_id,
            secret_key,
        } => {
            b.extend_from_slice(&process_id.to_be_bytes());
            b.extend_from_slice(secret_key);
            b'K'
        }
        Be::BindComplete => b'2',
        Be::CloseComplete => b'3',
        Be::CommandComplete(t) => {
            put_cstr(&mut b, t.as_bytes());
            b'C'
        }
        Be::CopyData(d) => {
            b.extend_from_slice(d);
            b'd'
        }
        Be::CopyDone => b'c',
        Be::CopyIn(c) => copy(&mut b, c, b'G'),
        Be::CopyOut(c) => copy(&mut b, c, b'H'),
        Be::CopyBoth(c) => copy(&mut b, c, b'W'),
        Be::DataRow(cols) => {
            b.extend_from_slice(&count16(cols.len()));
            for c in cols {
                match c {
                    None => b.extend_from_slice(&(-1i32).to_be_bytes()),
                    Some(v) => {
                        b.extend_from_slice(&i32::try_from(v.len()).unwrap().to_be_bytes());
                        b.extend_from_slice(v);
                    }
                }
            }
            b'D'
        }
        Be::EmptyQueryResponse => b'I',
        Be::ErrorResponse(fs) => fields(&mut b, fs, b'E'),
        Be::NoticeResponse(fs) => fields(&mut b, fs, b'N'),
        Be::FunctionCallResponse(v) => {
            match v {
                None => b.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(v) => {
                    b.extend_from_slice(&i32::try_from(v.len()).unwrap().to_be_bytes());
                    b.extend_from_slice(v);
                }
            }
            b'V'
        }
        Be::NegotiateProtocolVersion {
            newest_version,
            unrecognized,
        } => {
            b.extend_from_slice(&newest_version.to_be_bytes());
            b.extend_from_slice(&u32::try_from(unrecognized.len()).unwrap().to_be_bytes());
            for o in unrecognized {
                put_cstr(&mut b, o.as_bytes());
            }
            b'v'
        }
        Be::NoData => b'n',
        Be::NotificationResponse {
            process_id,
            channel,
            payload,
        } => {
            b.extend_from_slice(&process_id.to_be_bytes());
            put_cstr(&mut b, channel.as_bytes());
            put_cstr(&mut b, payload.as_bytes());
            b'A'
        }
        Be::ParameterDescription(oids) => {
            b.extend_from_slice(&count16(oids.len()));
            for o in oids {
                b.extend_from_slice(&o.to_be_bytes());
            }
            b't'
        }
        Be::ParameterStatus { name, value } => {
            put_cstr(&mut b, name.as_bytes());
            put_cstr(&mut b, value.as_bytes());
            b'S'
        }
        Be::ParseComplete => b'1',
        Be::PortalSuspended => b's',
        Be::ReadyForQuery(s) => {
            b.push(*s);
            b'Z'
        }
        Be::RowDescription(fs) => {
            b.extend_from_slice(&count16(fs.len()));
            for f in fs {
                put_cstr(&mut b, f.name.as_bytes());
                b.extend_from_slice(&f.table_oid.to_be_bytes());
                b.extend_from_slice(&f.column_id.to_be_bytes());
                b.extend_from_slice(&f.type_oid.to_be_bytes());
                b.extend_from_slice(&f.type_size.to_be_bytes());
                b.extend_from_slice(&f.type_modifier.to_be_bytes());
                b.extend_from_slice(&f.format.to_be_bytes());
            }
            b'T'
        }
    };
    frame(tag, &b)
}

fn strs(list: StrList<'_>) -> Vec<String> {
    list.iter().map(str::to_owned).collect()
}

fn copy_model(c: CopyResponse<'_>) -> CopyModel {
    let columns: Vec<i16> = c.column_formats().collect();
    assert_eq!(columns.len(), c.columns(), "columns() vs column_formats()");
    CopyModel {
        format: c.format,
        columns,
    }
}

fn row_model(row: DataRow<'_>) -> Row {
    let it = row.columns();
    assert_eq!(it.len(), row.len(), "ExactSizeIterator length");
    let cols: Row = it.map(|c| c.map(<[u8]>::to_vec)).collect();
    assert_eq!(
        cols.len(),
        row.len(),
        "a DataRow iterates exactly len() columns"
    );
    assert_eq!(row.is_empty(), cols.is_empty());
    assert_eq!(row.get(row.len()), None, "get past the end");
    if row.len() <= 32 {
        for (i, c) in cols.iter().enumerate() {
            assert_eq!(row.get(i).map(|v| v.map(<[u8]>::to_vec)).as_ref(), Some(c));
        }
    }
    // raw() is the body after the count: re-encoding the columns must give it back.
    let mut raw = Vec::new();
    for c in &cols {
        match c {
            None => raw.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(v) => {
                raw.extend_from_slice(&i32::try_from(v.len()).unwrap().to_be_bytes());
                raw.extend_from_slice(v);
            }
        }
    }
    assert_eq!(row.raw(), &raw[..], "raw() vs the columns");
    cols
}

fn fields_model(f: ErrorFields<'_>) -> Fields {
    let fields: Fields = f.iter().map(|(c, v)| (c, v.to_vec())).collect();
    let first = |code: u8| {
        fields
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_slice())
    };
    for (code, _) in &fields {
        assert_eq!(f.get(*code), first(*code), "get returns the first field");
    }
    assert_eq!(f.severity(), first(b'S'));
    assert_eq!(f.code(), first(b'C'));
    assert_eq!(f.message(), first(b'M'));
    let sev = first(b'V').or_else(|| first(b'S'));
    assert_eq!(
        f.is_fatal(),
        sev == Some(b"FATAL".as_slice()) || sev == Some(b"PANIC".as_slice())
    );
    fields
}

fn param_model(p: ParameterTypes<'_>) -> Vec<u32> {
    let oids: Vec<u32> = p.iter().collect();
    assert_eq!(oids.len(), p.len());
    assert_eq!(oids.is_empty(), p.is_empty());
    oids
}

fn row_desc_model(d: RowDescription<'_>) -> Vec<Field> {
    let fields: Vec<Field> = d
        .fields()
        .map(|f| Field {
            name: f.name.to_owned(),
            table_oid: f.table_oid,
            column_id: f.column_id,
            type_oid: f.type_oid,
            type_size: f.type_size,
            type_modifier: f.type_modifier,
            format: f.format,
        })
        .collect();
    assert_eq!(
        fields.len(),
        d.len(),
        "a RowDescription iterates len() fields"
    );
    assert_eq!(fields.is_empty(), d.is_empty());
    fields
}

/// The owned model of a decoded message, read through the public accessors.
fn model(msg: &BackendMessage<'_>) -> Be {
    match *msg {
        BackendMessage::Authentication(a) => match a {
            Authentication::Ok => Be::AuthOk,
            Authentication::KerberosV5 => Be::AuthKerberosV5,
            Authentication::CleartextPassword => Be::AuthCleartext,
            Authentication::Md5Password { salt } => Be::AuthMd5(salt),
            Authentication::ScmCredential => Be::AuthScm,
            Authentication::Gss => Be::AuthGss,
            Authentication::GssContinue(d) => Be::AuthGssContinue(d.to_vec()),
            Authentication::Sspi => Be::AuthSspi,
            Authentication::Sasl(list) => Be::AuthSasl(strs(list)),
            Authentication::SaslContinue(d) => Be::AuthSaslContinue(d.to_vec()),
            Authentication::SaslFinal(d) => Be::AuthSaslFinal(d.to_vec()),
            other => panic!("authentication kind not modelled: {other:?}"),
        },
        BackendMessage::BackendKeyData {
            process_id,
            secret_key,
        } => Be::BackendKeyData {
            process_id,
            secret_key: secret_key.to_vec(),
        },
        BackendMessage::BindComplete => Be::BindComplete,
        BackendMessage::CloseComplete => Be::CloseComplete,
        BackendMessage::CommandComplete(t) => Be::CommandComplete(t.to_owned()),
        BackendMessage::CopyData(d) => Be::CopyData(d.to_vec()),
        BackendMessage::CopyDone => Be::CopyDone,
        BackendMessage::CopyInResponse(c) => Be::CopyIn(copy_model(c)),
        BackendMessage::CopyOutResponse(c) => Be::CopyOut(copy_model(c)),
        BackendMessage::CopyBothResponse(c) => Be::CopyBoth(copy_model(c)),
        BackendMessage::DataRow(row) => Be::DataRow(row_model(row)),
        BackendMessage::EmptyQueryResponse => Be::EmptyQueryResponse,
        BackendMessage::ErrorResponse(f) => Be::ErrorResponse(fields_model(f)),
        BackendMessage::NoticeResponse(f) => Be::NoticeResponse(fields_model(f)),
        BackendMessage::FunctionCallResponse(v) => Be::FunctionCallResponse(v.map(<[u8]>::to_vec)),
        BackendMessage::NegotiateProtocolVersion {
            newest_version,
            unrecognized,
        } => Be::NegotiateProtocolVersion {
            newest_version,
            unrecognized: strs(unrecognized),
        },
        BackendMessage::NoData => Be::NoData,
        BackendMessage::NotificationResponse {
            process_id,
            channel,
            payload,
        } => Be::NotificationResponse {
            process_id,
            channel: channel.to_owned(),
            payload: payload.to_owned(),
        },
        BackendMessage::ParameterDescription(p) => Be::ParameterDescription(param_model(p)),
        BackendMessage::ParameterStatus { name, value } => Be::ParameterStatus {
            name: name.to_owned(),
            value: value.to_owned(),
        },
        BackendMessage::ParseComplete => Be::ParseComplete,
        BackendMessage::PortalSuspended => Be::PortalSuspended,
        BackendMessage::ReadyForQuery(s) => Be::ReadyForQuery(match s {
            TransactionStatus::Idle => b'I',
            TransactionStatus::InTransaction => b'T',
            TransactionStatus::Failed => b'E',
            other => panic!("transaction status not modelled: {other:?}"),
        }),
        BackendMessage::RowDescription(d) => Be::RowDescription(row_desc_model(d)),
        other => panic!("message not modelled: {other:?}"),
    }
}

// ---------------------------------------------------------------------------
// 1. Golden frames for every backend message
// ---------------------------------------------------------------------------

#[test]
fn golden_authentication() {
    // Hyper's AuthenticationOk.
    let f = golden("52 00000008 00000000", &Be::AuthOk);
    assert_eq!(
        decode_frame(&f),
        BackendMessage::Authentication(Authentication::Ok)
    );

    let f = golden("52 00000008 00000002", &Be::AuthKerberosV5);
    assert_eq!(
        decode_frame(&f),
        BackendMessage::Authentication(Authentication::KerberosV5)
    );

    let f = golden("52 00000008 00000003", &Be::AuthCleartext);
    assert_eq!(
        decode_frame(&f),
        BackendMessage::Authentication(Authentication::CleartextPassword)
    );

    let f = golden(
        "52 0000000c 00000005 a1b2c3d4",
        &Be::AuthMd5([0xa1, 0xb2, 0xc3, 0xd4]),
    );
    assert_eq!(
        decode_frame(&f),
        BackendMessage::Authentication(Authentication::Md5Password {
            salt: [0xa1, 0xb2, 0xc3, 0xd4]
        })
    );

    let f = golden("52 00000008 00000006", &Be::AuthScm);
    assert_eq!(
        decode_frame(&f),
        BackendMessage::Authentication(Authentication::ScmCredential)
    );

    let f = golden("52 00000008 00000007", &Be::AuthGss);
    assert_eq!(
        decode_frame(&f),
        BackendMessage::Authentication(Authentication::Gss)
    );

    let f = golden(
        "52 0000000b 00000008 deadbe",
        &Be::AuthGssContinue(vec![0xde, 0xad, 0xbe]),
    );
    assert_eq!(
        decode_frame(&f),
        BackendMessage::Authentication(Authentication::GssContinue(&[0xde, 0xad, 0xbe]))
    );

    let f = golden("52 00000008 00000009", &Be::AuthSspi);
    assert_eq!(
        decode_frame(&f),
        BackendMessage::Authentication(Authentication::Sspi)
    );

    // AuthenticationSASL: "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", then the empty terminator.
    let f = golden(
        "52 0000002a 0000000a
         534352414d2d5348412d3235362d504c555300
         534352414d2d5348412d32353600
         00",
        &Be::AuthSasl(vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()]),
    );
    match decode_frame(&f) {
        BackendMessage::Authentication(Authentication::Sasl(list)) => {
            assert_eq!(
                list.iter().collect::<Vec<_>>(),
                ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]
            );
        }
        other => panic!("{other:?}"),
    }
    // No mechanism at all is still well-formed (an empty list).
    let f = golden("52 00000009 0000000a 00", &Be::AuthSasl(vec![]));
    match decode_frame(&f) {
        BackendMessage::Authentication(Authentication::Sasl(list)) => {
            assert_eq!(list.iter().count(), 0);
        }
        other => panic!("{other:?}"),
    }

    // AuthenticationSASLContinue: "r=abc,s=c2FsdA==,i=4096".
    let f = golden(
        "52 0000001f 0000000b 723d6162632c733d6332467364413d3d2c693d34303936",
        &Be::AuthSaslContinue(b"r=abc,s=c2FsdA==,i=4096".to_vec()),
    );
    assert_eq!(
        decode_frame(&f),
        BackendMessage::Authentication(Authentication::SaslContinue(b"r=abc,s=c2FsdA==,i=4096"))
    );

    // AuthenticationSASLFinal: "v=dHJ1c3Q=".
    let f = golden(
        "52 00000012 0000000c 763d64484a316333513d",
        &Be::AuthSaslFinal(b"v=dHJ1c3Q=".to_vec()),
    );
    assert_eq!(
        decode_frame(&f),
        BackendMessage::Authentication(Authentication::SaslFinal(b"v=dHJ1c3Q="))
    );
}

#[test]
fn golden_backend_key_data() {
    // Hyper's: connection slot 0, 4-byte key (protocol 3.0).
    let f = golden(
        "4b 0000000c 00000000 e22110f4",
        &Be::BackendKeyData {
            process_id: 0,
            secret_key: vec![0xe2, 0x21, 0x10, 0xf4],
        },
    );
    assert_eq!(
        decode_frame(&f),
        BackendMessage::BackendKeyData {
            process_id: 0,
            secret_key: &[0xe2, 0x21, 0x10, 0xf4],
        }
    );

    // PostgreSQL 18 with protocol 3.2: a 32-byte key.
    let key: Vec<u8> = (0u8..32).collect();
    let f = golden(
        "4b 00000028 00003039
         000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f",
        &Be::BackendKeyData {
            process_id: 12345,
            secret_key: key.clone(),
        },
    );
    match decode_frame(&f) {
        BackendMessage::BackendKeyData {
            process_id,
            secret_key,
        } => {
            assert_eq!(process_id, 12345);
            assert_eq!(secret_key, &key[..]);
        }
        other => panic!("{other:?}"),
    }

    // The longest key the protocol allows is accepted.
    let long = [0x5a; MAX_CANCEL_KEY_LEN];
    let mut body = 7u32.to_be_bytes().to_vec();
    body.extend_from_slice(&long);
    assert_eq!(
        decode(b'K', &body).unwrap(),
        BackendMessage::BackendKeyData {
            process_id: 7,
            secret_key: &long,
        }
    );
}

#[test]
fn golden_empty_messages() {
    let cases = [
        (
            "32 00000004",
            Be::BindComplete,
            BackendMessage::BindComplete,
        ),
        (
            "33 00000004",
            Be::CloseComplete,
            BackendMessage::CloseComplete,
        ),
        ("63 00000004", Be::CopyDone, BackendMessage::CopyDone),
        (
            "49 00000004",
            Be::EmptyQueryResponse,
            BackendMessage::EmptyQueryResponse,
        ),
        ("6e 00000004", Be::NoData, BackendMessage::NoData),
        (
            "31 00000004",
            Be::ParseComplete,
            BackendMessage::ParseComplete,
        ),
        (
            "73 00000004",
            Be::PortalSuspended,
            BackendMessage::PortalSuspended,
        ),
    ];
    for (h, model, expected) in cases {
        let f = golden(h, &model);
        assert_eq!(header(&f).body_len, 0);
        assert_eq!(decode_frame(&f), expected);
    }
}

#[test]
fn golden_command_complete() {
    let f = golden(
        "43 0000000d 53454c454354203100",
        &Be::CommandComplete("SELECT 1".into()),
    );
    assert_eq!(
        decode_frame(&f),
        BackendMessage::CommandComplete("SELECT 1")
    );
}

#[test]
fn golden_copy() {
    // CopyData "1\t2\n".
    let f = golden("64 00000008 3109320a", &Be::CopyData(b"1\t2\n".to_vec()));
    assert_eq!(decode_frame(&f), BackendMessage::CopyData(b"1\t2\n"));
    // An empty CopyData is allowed.
    let f = golden("64 00000004", &Be::CopyData(vec![]));
    assert_eq!(decode_frame(&f), BackendMessage::CopyData(b""));

    // Hyper's CopyInResponse: overall format 0, 6 columns, all 0.
    let f = golden(
        "47 00000013 00 0006 0000 0000 0000 0000 0000 0000",
        &Be::CopyIn(CopyModel {
            format: 0,
            columns: vec![0; 6],
        }),
    );
    match decode_frame(&f) {
        BackendMessage::CopyInResponse(c) => {
            assert_eq!(c.format, 0);
            assert_eq!(c.columns(), 6);
            assert_eq!(c.column_formats().collect::<Vec<_>>(), [0; 6]);
        }
        other => panic!("{other:?}"),
    }

    let f = golden(
        "48 0000000b 01 0002 0001 0001",
        &Be::CopyOut(CopyModel {
            format: 1,
            columns: vec![1, 1],
        }),
    );
    match decode_frame(&f) {
        BackendMessage::CopyOutResponse(c) => {
            assert_eq!(c.format, 1);
            assert_eq!(c.columns(), 2);
            assert_eq!(c.column_formats().collect::<Vec<_>>(), [1, 1]);
        }
        other => panic!("{other:?}"),
    }

    let f = golden(
        "57 00000007 00 0000",
        &Be::CopyBoth(CopyModel {
            format: 0,
            columns: vec![],
        }),
    );
    match decode_frame(&f) {
        BackendMessage::CopyBothResponse(c) => {
            assert_eq!(c.format, 0);
            assert_eq!(c.columns(), 0);
            assert_eq!(c.column_formats().count(), 0);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn golden_data_row() {
    // Three columns: NULL, empty, "42".
    let f = golden(
        "44 00000014 0003 ffffffff 00000000 00000002 3432",
        &Be::DataRow(vec![None, Some(vec![]), Some(b"42".to_vec())]),
    );
    let BackendMessage::DataRow(row) = decode_frame(&f) else {
        panic!("not a DataRow")
    };
    assert_eq!(row.len(), 3);
    assert!(!row.is_empty());
    let cols: Vec<_> = row.columns().collect();
    assert_eq!(cols, [None, Some(&b""[..]), Some(&b"42"[..])]);
    assert_eq!(row.get(0), Some(None), "NULL");
    assert_eq!(row.get(1), Some(Some(&b""[..])), "empty, not NULL");
    assert_eq!(row.get(2), Some(Some(&b"42"[..])));
    assert_eq!(row.get(3), None);
    assert_eq!(row.raw(), &f[7..]);

    // A row with no columns.
    let f = golden("44 00000006 0000", &Be::DataRow(vec![]));
    let BackendMessage::DataRow(row) = decode_frame(&f) else {
        panic!("not a DataRow")
    };
    assert!(row.is_empty());
    assert_eq!(row.columns().next(), None);
}

#[test]
fn golden_data_row_with_u16_max_columns() {
    let cols: Row = (0..usize::from(u16::MAX))
        .map(|i| {
            if i % 2 == 0 {
                None
            } else {
                Some(vec![i as u8])
            }
        })
        .collect();
    let f = encode_be(&Be::DataRow(cols.clone()));
    let BackendMessage::DataRow(row) = decode_frame(&f) else {
        panic!("not a DataRow")
    };
    assert_eq!(row.len(), 65535);
    assert_eq!(row_model(row), cols);
}

#[test]
fn golden_error_and_notice() {
    // Hyper's refusal, with its non-standard `B` field, which must be kept.
    let f = golden(
        "45 00000037
         53 4552524f5200
         43 343235303100
         4d 636f756c64206e6f7420636f6e6e65637420617320276f746865722700
         42 5573657200
         00",
        &Be::ErrorResponse(vec![
            (b'S', b"ERROR".to_vec()),
            (b'C', b"42501".to_vec()),
            (b'M', b"could not connect as 'other'".to_vec()),
            (b'B', b"User".to_vec()),
        ]),
    );
    let BackendMessage::ErrorResponse(e) = decode_frame(&f) else {
        panic!("not an ErrorResponse")
    };
    assert_eq!(e.severity(), Some(&b"ERROR"[..]));
    assert_eq!(e.code(), Some(&b"42501"[..]));
    assert_eq!(e.message(), Some(&b"could not connect as 'other'"[..]));
    assert_eq!(e.get(b'B'), Some(&b"User"[..]), "Hyper's B field is kept");
    assert_eq!(e.get(b'D'), None);
    assert!(!e.is_fatal());
    assert_eq!(
        e.iter().map(|(c, _)| c).collect::<Vec<_>>(),
        b"SCMB",
        "fields in the order sent"
    );

    let f = golden(
        "4e 00000027
         53 5741524e494e4700
         56 5741524e494e4700
         43 303130303000
         4d 6361726566756c00
         00",
        &Be::NoticeResponse(vec![
            (b'S', b"WARNING".to_vec()),
            (b'V', b"WARNING".to_vec()),
            (b'C', b"01000".to_vec()),
            (b'M', b"careful".to_vec()),
        ]),
    );
    let BackendMessage::NoticeResponse(n) = decode_frame(&f) else {
        panic!("not a NoticeResponse")
    };
    assert_eq!(n.severity(), Some(&b"WARNING"[..]));
    assert_eq!(n.get(b'V'), Some(&b"WARNING"[..]));
    assert_eq!(n.code(), Some(&b"01000"[..]));
    assert_eq!(n.message(), Some(&b"careful"[..]));
    assert!(!n.is_fatal());

    // A body with only the terminator is a valid, empty field list.
    let f = golden("45 00000005 00", &Be::ErrorResponse(vec![]));
    let BackendMessage::ErrorResponse(e) = decode_frame(&f) else {
        panic!("not an ErrorResponse")
    };
    assert_eq!(e.iter().count(), 0);
    assert_eq!(e.code(), None);

    // Values are bytes: a non-UTF-8 message does not hide the error.
    let f = golden(
        "45 0000000c 4d fffe 00 43 78 00 00",
        &Be::ErrorResponse(vec![(b'M', vec![0xff, 0xfe]), (b'C', b"x".to_vec())]),
    );
    let BackendMessage::ErrorResponse(e) = decode_frame(&f) else {
        panic!("not an ErrorResponse")
    };
    assert_eq!(e.message(), Some(&[0xff, 0xfe][..]));
}

#[test]
fn error_fields_is_fatal_prefers_the_nonlocalized_severity() {
    // S "FATAL": fatal.
    let body = b"SFATAL\0C57P01\0\0";
    let BackendMessage::ErrorResponse(e) = decode(b'E', body).unwrap() else {
        panic!()
    };
    assert!(e.is_fatal());
    // Localized S ("PANIK"), non-localized V "PANIC": fatal through V.
    let body = b"SPANIK\0VPANIC\0\0";
    let BackendMessage::ErrorResponse(e) = decode(b'E', body).unwrap() else {
        panic!()
    };
    assert!(e.is_fatal());
    // Localized S "FATAL" but V says ERROR: V wins.
    let body = b"SFATAL\0VERROR\0\0";
    let BackendMessage::ErrorResponse(e) = decode(b'E', body).unwrap() else {
        panic!()
    };
    assert!(!e.is_fatal());
}

#[test]
fn golden_function_call_response() {
    let f = golden(
        "56 0000000c 00000004 0000002a",
        &Be::FunctionCallResponse(Some(vec![0, 0, 0, 42])),
    );
    assert_eq!(
        decode_frame(&f),
        BackendMessage::FunctionCallResponse(Some(&[0, 0, 0, 42]))
    );
    let f = golden("56 00000008 ffffffff", &Be::FunctionCallResponse(None));
    assert_eq!(decode_frame(&f), BackendMessage::FunctionCallResponse(None));
    let f = golden(
        "56 00000008 00000000",
        &Be::FunctionCallResponse(Some(vec![])),
    );
    assert_eq!(
        decode_frame(&f),
        BackendMessage::FunctionCallResponse(Some(&[])),
        "empty is not NULL"
    );
}

#[test]
fn golden_negotiate_protocol_version() {
    // Newest minor 0, one unrecognized option "_pq_.compression".
    let f = golden(
        "76 0000001d 00000000 00000001 5f70715f2e636f6d7072657373696f6e00",
        &Be::NegotiateProtocolVersion {
            newest_version: 0,
            unrecognized: vec!["_pq_.compression".into()],
        },
    );
    match decode_frame(&f) {
        BackendMessage::NegotiateProtocolVersion {
            newest_version,
            unrecognized,
        } => {
            assert_eq!(newest_version, 0);
            assert_eq!(
                unrecognized.iter().collect::<Vec<_>>(),
                ["_pq_.compression"]
            );
        }
        other => panic!("{other:?}"),
    }
    // A 3.2 request answered with "3.0 and no unknown options".
    let f = golden(
        "76 0000000c 00000000 00000000",
        &Be::NegotiateProtocolVersion {
            newest_version: 0,
            unrecognized: vec![],
        },
    );
    match decode_frame(&f) {
        BackendMessage::NegotiateProtocolVersion { unrecognized, .. } => {
            assert_eq!(unrecognized.iter().count(), 0);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn golden_notification_response() {
    let f = golden(
        "41 00000010 00001f90 6368616e00 686900",
        &Be::NotificationResponse {
            process_id: 8080,
            channel: "chan".into(),
            payload: "hi".into(),
        },
    );
    assert_eq!(
        decode_frame(&f),
        BackendMessage::NotificationResponse {
            process_id: 8080,
            channel: "chan",
            payload: "hi",
        }
    );
}

#[test]
fn golden_parameter_description() {
    let f = golden(
        "74 0000000e 0002 00000017 00000019",
        &Be::ParameterDescription(vec![23, 25]),
    );
    let BackendMessage::ParameterDescription(p) = decode_frame(&f) else {
        panic!("not a ParameterDescription")
    };
    assert_eq!(p.len(), 2);
    assert!(!p.is_empty());
    assert_eq!(p.iter().collect::<Vec<_>>(), [23, 25]);

    let f = golden("74 00000006 0000", &Be::ParameterDescription(vec![]));
    let BackendMessage::ParameterDescription(p) = decode_frame(&f) else {
        panic!("not a ParameterDescription")
    };
    assert!(p.is_empty());
    assert_eq!(p.iter().count(), 0);
}

#[test]
fn golden_parameter_status() {
    // Hyper's keep-alive parameter: alive=?
    let f = golden(
        "53 0000000c 616c69766500 3f00",
        &Be::ParameterStatus {
            name: "alive".into(),
            value: "?".into(),
        },
    );
    assert_eq!(
        decode_frame(&f),
        BackendMessage::ParameterStatus {
            name: "alive",
            value: "?",
        }
    );
}

#[test]
fn golden_ready_for_query() {
    for (h, byte, status) in [
        ("5a 00000005 49", b'I', TransactionStatus::Idle),
        ("5a 00000005 54", b'T', TransactionStatus::InTransaction),
        ("5a 00000005 45", b'E', TransactionStatus::Failed),
    ] {
        let f = golden(h, &Be::ReadyForQuery(byte));
        assert_eq!(decode_frame(&f), BackendMessage::ReadyForQuery(status));
    }
}

#[test]
fn golden_row_description() {
    let f = golden(
        "54 00000032 0002
         696400   00004001 0001 00000017 0004 ffffffff 0000
         6e616d6500 00000000 0000 00000019 ffff ffffffff 0001",
        &Be::RowDescription(vec![
            Field {
                name: "id".into(),
                table_oid: 16385,
                column_id: 1,
                type_oid: 23,
                type_size: 4,
                type_modifier: -1,
                format: 0,
            },
            Field {
                name: "name".into(),
                table_oid: 0,
                column_id: 0,
                type_oid: 25,
                type_size: -1,
                type_modifier: -1,
                format: 1,
            },
        ]),
    );
    let BackendMessage::RowDescription(d) = decode_frame(&f) else {
        panic!("not a RowDescription")
    };
    assert_eq!(d.len(), 2);
    assert!(!d.is_empty());
    let mut fields = d.fields();
    assert_eq!(
        fields.next(),
        Some(FieldDescription {
            name: "id",
            table_oid: 16385,
            column_id: 1,
            type_oid: 23,
            type_size: 4,
            type_modifier: -1,
            format: 0,
        })
    );
    assert_eq!(
        fields.next(),
        Some(FieldDescription {
            name: "name",
            table_oid: 0,
            column_id: 0,
            type_oid: 25,
            type_size: -1,
            type_modifier: -1,
            format: 1,
        })
    );
    assert_eq!(fields.next(), None);
    assert_eq!(fields.next(), None, "stays exhausted");

    let f = golden("54 00000006 0000", &Be::RowDescription(vec![]));
    let BackendMessage::RowDescription(d) = decode_frame(&f) else {
        panic!("not a RowDescription")
    };
    assert!(d.is_empty());
    assert_eq!(d.fields().count(), 0);
}

#[test]
fn message_names() {
    let names = [
        (b'R', "Authentication"),
        (b'K', "BackendKeyData"),
        (b'2', "BindComplete"),
        (b'3', "CloseComplete"),
        (b'C', "CommandComplete"),
        (b'd', "CopyData"),
        (b'c', "CopyDone"),
        (b'G', "CopyInResponse"),
        (b'H', "CopyOutResponse"),
        (b'W', "CopyBothResponse"),
        (b'D', "DataRow"),
        (b'I', "EmptyQueryResponse"),
        (b'E', "ErrorResponse"),
        (b'V', "FunctionCallResponse"),
        (b'v', "NegotiateProtocolVersion"),
        (b'n', "NoData"),
        (b'N', "NoticeResponse"),
        (b'A', "NotificationResponse"),
        (b't', "ParameterDescription"),
        (b'S', "ParameterStatus"),
        (b'1', "ParseComplete"),
        (b's', "PortalSuspended"),
        (b'Z', "ReadyForQuery"),
        (b'T', "RowDescription"),
    ];
    assert_eq!(names.len(), BACKEND_TAGS.len());
    for (tag, name) in names {
        assert!(BACKEND_TAGS.contains(&tag));
        assert_eq!(message_name(tag), name);
    }
    for tag in 0..=u8::MAX {
        if !BACKEND_TAGS.contains(&tag) {
            assert_eq!(message_name(tag), "unknown", "tag {tag:#04x}");
        }
    }
}

// ---------------------------------------------------------------------------
// 2. Malformed backend messages are errors, never panics
// ---------------------------------------------------------------------------

#[test]
fn header_length_too_short() {
    assert_eq!(
        Header::parse([b'Z', 0, 0, 0, 3], u32::MAX),
        Err(ProtocolError::LengthTooShort { tag: b'Z', len: 3 })
    );
    assert_eq!(
        Header::parse([b'D', 0xff, 0xff, 0xff, 0xff], u32::MAX),
        Err(ProtocolError::LengthTooShort { tag: b'D', len: -1 })
    );
    assert_eq!(
        Header::parse([b'D', 0, 0, 0, 0], u32::MAX),
        Err(ProtocolError::LengthTooShort { tag: b'D', len: 0 })
    );
    assert_eq!(
        Header::parse([b'T', 0x80, 0, 0, 0], u32::MAX),
        Err(ProtocolError::LengthTooShort {
            tag: b'T',
            len: i32::MIN
        })
    );
    // 4 is the smallest valid length: an empty body.
    assert_eq!(
        Header::parse([b'2', 0, 0, 0, 4], 0),
        Ok(Header {
            tag: b'2',
            body_len: 0
        })
    );
    // The largest length the protocol can express.
    assert_eq!(
        Header::parse([b'd', 0x7f, 0xff, 0xff, 0xff], u32::MAX),
        Ok(Header {
            tag: b'd',
            body_len: 0x7fff_fffb
        })
    );
}

#[test]
fn header_message_too_large() {
    // Body of 1025 bytes against a 1024-byte limit.
    assert_eq!(
        Header::parse([b'D', 0, 0, 0x04, 0x05], 1024),
        Err(ProtocolError::MessageTooLarge {
            tag: b'D',
            len: 1029,
            max: 1024
        })
    );
    // Exactly at the limit is fine.
    assert_eq!(
        Header::parse([b'D', 0, 0, 0x04, 0x04], 1024),
        Ok(Header {
            tag: b'D',
            body_len: 1024
        })
    );
    assert_eq!(
        Header::parse([b'd', 0x7f, 0xff, 0xff, 0xff], 1024),
        Err(ProtocolError::MessageTooLarge {
            tag: b'd',
            len: 0x7fff_ffff,
            max: 1024
        })
    );
    // A limit of 0 allows only empty bodies.
    assert_eq!(
        Header::parse([b'Z', 0, 0, 0, 5], 0),
        Err(ProtocolError::MessageTooLarge {
            tag: b'Z',
            len: 5,
            max: 0
        })
    );
}

#[test]
fn unknown_message_type() {
    for tag in [b'x', b'Q', b'P', b'B', b'p', b'X', b'f', b'F', 0, 0xff] {
        assert_eq!(
            decode(tag, &[]),
            Err(ProtocolError::UnknownMessage(tag)),
            "tag {tag:#04x}"
        );
        assert_eq!(
            decode(tag, b"Z\0\0\0\x05I"),
            Err(ProtocolError::UnknownMessage(tag))
        );
    }
}

#[test]
fn malformed_data_row() {
    // Count 2, one column present.
    assert_malformed(b'D', &hex("0002 00000001 61"));
    // Count 1, no column at all.
    assert_malformed(b'D', &hex("0001"));
    // A column length that runs past the end.
    assert_malformed(b'D', &hex("0001 00000005 616263"));
    assert_malformed(b'D', &hex("0001 7fffffff 61"));
    // A negative length other than -1.
    assert_malformed(b'D', &hex("0001 fffffffe"));
    assert_malformed(b'D', &hex("0001 80000000"));
    // Bytes after the last column.
    assert_malformed(b'D', &hex("0001 00000001 61 00"));
    assert_malformed(b'D', &hex("0000 00"));
    // A partial column length.
    assert_malformed(b'D', &hex("0001 000000"));
    // No column count.
    assert_malformed(b'D', &[]);
    assert_malformed(b'D', &[0]);
}

#[test]
fn malformed_ready_for_query() {
    assert_malformed(b'Z', b"X");
    assert_malformed(b'Z', b"i");
    assert_malformed(b'Z', b"");
    assert_malformed(b'Z', b"II");
}

#[test]
fn malformed_row_description() {
    let f = encode_be(&Be::RowDescription(vec![Field {
        name: "id".into(),
        table_oid: 1,
        column_id: 2,
        type_oid: 3,
        type_size: 4,
        type_modifier: 5,
        format: 0,
    }]));
    let body = &f[HEADER_LEN..];
    assert!(decode(b'T', body).is_ok());
    // Every truncation is an error.
    for n in 0..body.len() {
        assert_malformed(b'T', &body[..n]);
    }
    // The count promises two fields; only one is there.
    let mut two = body.to_vec();
    two[1] = 2;
    assert_malformed(b'T', &two);
    // A field name without its NUL.
    assert_malformed(b'T', &hex("0001 6964"));
    // Bytes after the last field.
    let mut extra = body.to_vec();
    extra.push(0);
    assert_malformed(b'T', &extra);
    // A field name that is not UTF-8.
    assert_malformed(
        b'T',
        &hex("0001 ff00 00000000 0000 00000019 ffff ffffffff 0000"),
    );
}

#[test]
fn malformed_error_response() {
    let hyper = hex("53 4552524f5200 43 343235303100
         4d 636f756c64206e6f7420636f6e6e65637420617320276f746865722700
         42 5573657200 00");
    assert!(decode(b'E', &hyper).is_ok());
    // Without the final NUL.
    assert_malformed(b'E', &hyper[..hyper.len() - 1]);
    assert_malformed(b'N', &hyper[..hyper.len() - 1]);
    // Every other truncation too.
    for n in 0..hyper.len() {
        assert_malformed(b'E', &hyper[..n]);
    }
    // A field value without its NUL.
    assert_malformed(b'E', b"SERROR");
    // Bytes after the terminating NUL.
    let mut extra = hyper.clone();
    extra.push(b'S');
    assert_malformed(b'E', &extra);
    assert_malformed(b'N', b"\0\0");
}

#[test]
fn malformed_backend_key_data() {
    // A 3-byte key.
    assert_malformed(b'K', &hex("00000001 aabbcc"));
    // No key, or no process id.
    assert_malformed(b'K', &hex("00000001"));
    assert_malformed(b'K', &hex("000000"));
    assert_malformed(b'K', &[]);
    // One byte over the 256-byte maximum.
    let mut body = 1u32.to_be_bytes().to_vec();
    body.extend_from_slice(&[0; MAX_CANCEL_KEY_LEN + 1]);
    assert_malformed(b'K', &body);
}

#[test]
fn malformed_nonempty_body_on_empty_messages() {
    for tag in [b'2', b'3', b'1', b'c', b'I', b'n', b's'] {
        assert_malformed(tag, &[0]);
        assert_malformed(tag, b"x");
    }
}

#[test]
fn malformed_command_complete() {
    assert_malformed(b'C', b"SELECT 1");
    assert_malformed(b'C', b"");
    assert_malformed(b'C', b"SELECT 1\0\0");
    assert_malformed(b'C', b"SELECT \xff\0");
}

#[test]
fn malformed_parameter_status() {
    // Invalid UTF-8 in the name.
    assert_malformed(b'S', b"\xffname\0value\0");
    assert_malformed(b'S', b"na\xc3me\0value\0");
    // Invalid UTF-8 in the value.
    assert_malformed(b'S', b"name\0\xc3\0");
    // Missing the value, or its NUL; trailing bytes.
    assert_malformed(b'S', b"name\0");
    assert_malformed(b'S', b"name\0value");
    assert_malformed(b'S', b"name\0value\0x");
}

#[test]
fn malformed_other_messages() {
    // Authentication: unknown code, truncated salt, trailing bytes.
    assert_malformed(b'R', &hex("00000004"));
    assert_malformed(b'R', &hex("ffffffff"));
    assert_malformed(b'R', &hex("000000"));
    assert_malformed(b'R', &hex("00000005 a1b2c3"));
    assert_malformed(b'R', &hex("00000005 a1b2c3d4 00"));
    assert_malformed(b'R', &hex("00000000 00"));
    assert_malformed(b'R', &hex("00000003 00"));
    // SASL: mechanism list without its terminator, or non-UTF-8 names.
    assert_malformed(b'R', &hex("0000000a 534352414d00"));
    assert_malformed(b'R', &hex("0000000a 534352414d"));
    assert_malformed(b'R', &hex("0000000a ff0000"));
    assert_malformed(b'R', &hex("0000000a 00 00"));
    // CopyIn/Out/Both: a format count that exceeds the body, trailing bytes.
    for tag in [b'G', b'H', b'W'] {
        assert_malformed(tag, &hex("00 0002 0000"));
        assert_malformed(tag, &hex("00 0001 0000 00"));
        assert_malformed(tag, &hex("00 00"));
        assert_malformed(tag, &[]);
    }
    // FunctionCallResponse: too short, negative length other than -1, trailing.
    assert_malformed(b'V', &hex("00000004 0000"));
    assert_malformed(b'V', &hex("fffffffe"));
    assert_malformed(b'V', &hex("ffffffff 00"));
    assert_malformed(b'V', &hex("00000001 61 62"));
    assert_malformed(b'V', &[]);
    // NegotiateProtocolVersion: negative fields, fewer options than counted, extra.
    assert_malformed(b'v', &hex("ffffffff 00000000"));
    assert_malformed(b'v', &hex("00000000 ffffffff"));
    assert_malformed(b'v', &hex("00000000 00000002 6100"));
    assert_malformed(b'v', &hex("00000000 00000000 6100"));
    assert_malformed(b'v', &hex("00000000"));
    // NotificationResponse: missing payload, non-UTF-8 channel, trailing.
    assert_malformed(b'A', &hex("00000001 6300"));
    assert_malformed(b'A', &hex("00000001 ff00 00"));
    assert_malformed(b'A', &hex("00000001 6300 6400 00"));
    // ParameterDescription: count exceeds the OIDs, trailing bytes.
    assert_malformed(b't', &hex("0002 00000017"));
    assert_malformed(b't', &hex("0001 00000017 00"));
    assert_malformed(b't', &hex("00"));
}

/// The canonical-form check used by the fuzz properties: an accepted body decodes to
/// a model that the test encoder turns back into exactly the same bytes.
fn check_accepted(tag: u8, body: &[u8], msg: &BackendMessage<'_>) {
    assert_eq!(msg.name(), message_name(tag));
    let m = model(msg);
    assert_eq!(
        encode_be(&m),
        frame(tag, body),
        "accepted body is not the canonical encoding of what was decoded: {m:?}"
    );
}

fn check_rejected(tag: u8, err: &ProtocolError) {
    match err {
        ProtocolError::UnknownMessage(t) => {
            assert_eq!(*t, tag);
            assert_eq!(message_name(tag), "unknown");
        }
        ProtocolError::Malformed { message, reason } => {
            assert_eq!(*message, message_name(tag));
            assert_ne!(*message, "unknown");
            assert!(!reason.is_empty());
        }
        other => panic!("decode returned a header-level error: {other:?}"),
    }
}

#[test]
fn negotiate_protocol_version_keeps_empty_option_names() {
    // Count 2: "" and "_pq_.x". The decoder validates both strings, then hides one.
    let body = hex("00000000 00000002 00 5f70715f2e7800");
    match decode(b'v', &body) {
        Ok(BackendMessage::NegotiateProtocolVersion { unrecognized, .. }) => {
            assert_eq!(
                unrecognized.iter().collect::<Vec<_>>(),
                ["", "_pq_.x"],
                "iterates a different number of options than the count it accepted"
            );
        }
        // Rejecting an empty option name would be acceptable too.
        Err(ProtocolError::Malformed { .. }) => {}
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Frontend: a test-only decoder for every client message
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Fe {
    Startup {
        version: ProtocolVersion,
        params: Vec<(String, String)>,
    },
    SslRequest,
    GssEncRequest,
    CancelRequest {
        process_id: u32,
        secret_key: Vec<u8>,
    },
    Password(Vec<u8>),
    SaslInitialResponse {
        mechanism: String,
        data: Vec<u8>,
    },
    SaslResponse(Vec<u8>),
    Query(String),
    Parse {
        statement: String,
        sql: String,
        param_types: Vec<u32>,
    },
    Bind {
        portal: String,
        statement: String,
        param_formats: Vec<Format>,
        params: Row,
        result_formats: Vec<Format>,
    },
    Describe(Target, String),
    Execute {
        portal: String,
        max_rows: u32,
    },
    Close(Target, String),
    Sync,
    Flush,
    CopyData(Vec<u8>),
    CopyDone,
    CopyFail(String),
    Terminate,
}

/// Encodes with the crate's encoders.
fn encode_fe(buf: &mut Vec<u8>, m: &Fe) -> Result<(), EncodeError> {
    match m {
        Fe::Startup { version, params } => frontend::startup(
            buf,
            *version,
            params.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        ),
        Fe::SslRequest => {
            frontend::ssl_request(buf);
            Ok(())
        }
        Fe::GssEncRequest => {
            frontend::gssenc_request(buf);
            Ok(())
        }
        Fe::CancelRequest {
            process_id,
            secret_key,
        } => frontend::cancel_request(buf, *process_id, secret_key),
        Fe::Password(p) => frontend::password(buf, p),
        Fe::SaslInitialResponse { mechanism, data } => {
            frontend::sasl_initial_response(buf, mechanism, data)
        }
        Fe::SaslResponse(d) => frontend::sasl_response(buf, d),
        Fe::Query(q) => frontend::query(buf, q),
        Fe::Parse {
            statement,
            sql,
            param_types,
        } => frontend::parse(buf, statement, sql, param_types),
        Fe::Bind {
            portal,
            statement,
            param_formats,
            params,
            result_formats,
        } => {
            let params: Vec<Option<&[u8]>> = params.iter().map(|p| p.as_deref()).collect();
            frontend::bind(
                buf,
                portal,
                statement,
                param_formats,
                &params,
                result_formats,
            )
        }
        Fe::Describe(t, name) => frontend::describe(buf, *t, name),
        Fe::Execute { portal, max_rows } => frontend::execute(buf, portal, *max_rows),
        Fe::Close(t, name) => frontend::close(buf, *t, name),
        Fe::Sync => {
            frontend::sync(buf);
            Ok(())
        }
        Fe::Flush => {
            frontend::flush(buf);
            Ok(())
        }
        Fe::CopyData(d) => frontend::copy_data(buf, d),
        Fe::CopyDone => {
            frontend::copy_done(buf);
            Ok(())
        }
        Fe::CopyFail(r) => frontend::copy_fail(buf, r),
        Fe::Terminate => {
            frontend::terminate(buf);
            Ok(())
        }
    }
}

/// A cursor that panics (failing the test) on anything that is not well formed.
struct Cur<'a>(&'a [u8]);

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        assert!(self.0.len() >= n, "message ends early");
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn cstr(&mut self) -> &'a [u8] {
        let end = self
            .0
            .iter()
            .position(|&b| b == 0)
            .expect("C string without NUL");
        let s = self.take(end);
        self.take(1);
        s
    }
    fn string(&mut self) -> String {
        String::from_utf8(self.cstr().to_vec()).expect("C string is not UTF-8")
    }
    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.0)
    }
    fn done(&self) {
        assert!(self.0.is_empty(), "trailing bytes: {:02x?}", self.0);
    }
    fn formats(&mut self) -> Vec<Format> {
        let n = self.u16();
        (0..n)
            .map(|_| {
                let code = self.i16();
                Format::from_code(code).unwrap_or_else(|| panic!("unknown format {code}"))
            })
            .collect()
    }
    fn target(&mut self) -> Target {
        match self.u8() {
            b'S' => Target::Statement,
            b'P' => Target::Portal,
            other => panic!("unknown Describe/Close target {other:#04x}"),
        }
    }
}

/// How to read a `p` message, which the protocol leaves to context.
#[derive(Clone, Copy)]
enum PKind {
    Password,
    SaslInitial,
    SaslResponse,
}

/// Takes one startup-phase packet (no type byte) off the front of `buf`.
fn decode_untagged(buf: &mut &[u8]) -> Fe {
    let len = i32::from_be_bytes(buf[..4].try_into().unwrap());
    assert!(len >= 8, "startup packet length {len}");
    let len = usize::try_from(len).unwrap();
    let (packet, tail) = buf.split_at(len);
    *buf = tail;
    let mut c = Cur(&packet[4..]);
    let code = c.i32();
    let m = match code {
        80_877_103 => Fe::SslRequest,
        80_877_104 => Fe::GssEncRequest,
        80_877_102 => Fe::CancelRequest {
            process_id: c.u32(),
            secret_key: c.rest().to_vec(),
        },
        _ => {
            let version = ProtocolVersion {
                major: u16::try_from(code >> 16).unwrap(),
                minor: u16::try_from(code & 0xffff).unwrap(),
            };
            let mut params = Vec::new();
            loop {
                let name = c.string();
                if name.is_empty() {
                    break;
                }
                params.push((name, c.string()));
            }
            Fe::Startup { version, params }
        }
    };
    c.done();
    m
}

/// Takes one regular message (type byte, length, body) off the front of `buf`.
fn decode_tagged(buf: &mut &[u8], p: PKind) -> Fe {
    let tag = buf[0];
    let len = i32::from_be_bytes(buf[1..5].try_into().unwrap());
    assert!(len >= 4, "length {len}");
    let total = 1 + usize::try_from(len).unwrap();
    let (msg, tail) = buf.split_at(total);
    *buf = tail;
    let mut c = Cur(&msg[5..]);
    let m = match tag {
        b'p' => match p {
            PKind::Password => Fe::Password(c.cstr().to_vec()),
            PKind::SaslInitial => {
                let mechanism = c.string();
                let n = c.i32();
                assert!(n >= 0, "SASLInitialResponse data length {n}");
                let data = c.take(usize::try_from(n).unwrap()).to_vec();
                Fe::SaslInitialResponse { mechanism, data }
            }
            PKind::SaslResponse => Fe::SaslResponse(c.rest().to_vec()),
        },
        b'Q' => Fe::Query(c.string()),
        b'P' => {
            let statement = c.string();
            let sql = c.string();
            let n = c.u16();
            let param_types = (0..n).map(|_| c.u32()).collect();
            Fe::Parse {
                statement,
                sql,
                param_types,
            }
        }
        b'B' => {
            let portal = c.string();
            let statement = c.string();
            let param_formats = c.formats();
            let n = c.u16();
            let params = (0..n)
                .map(|_| match c.i32() {
                    -1 => None,
                    len => {
                        assert!(len >= 0, "Bind parameter length {len}");
                        Some(c.take(usize::try_from(len).unwrap()).to_vec())
                    }
                })
                .collect();
            let result_formats = c.formats();
            Fe::Bind {
                portal,
                statement,
                param_formats,
                params,
                result_formats,
            }
        }
        b'D' => Fe::Describe(c.target(), c.string()),
        b'E' => {
            let portal = c.string();
            let max = c.i32();
            Fe::Execute {
                portal,
                max_rows: u32::try_from(max).expect("negative row limit"),
            }
        }
        b'C' => Fe::Close(c.target(), c.string()),
        b'S' => Fe::Sync,
        b'H' => Fe::Flush,
        b'd' => Fe::CopyData(c.rest().to_vec()),
        b'c' => Fe::CopyDone,
        b'f' => Fe::CopyFail(c.string()),
        b'X' => Fe::Terminate,
        other => panic!("unknown frontend message {other:#04x}"),
    };
    c.done();
    m
}

/// Decodes the next message, using `like` (the message that was encoded) only for
/// what the wire leaves to context: startup phase or not, and which `p` message.
fn decode_fe(buf: &mut &[u8], like: &Fe) -> Fe {
    match like {
        Fe::Startup { .. } | Fe::SslRequest | Fe::GssEncRequest | Fe::CancelRequest { .. } => {
            decode_untagged(buf)
        }
        Fe::Password(_) => decode_tagged(buf, PKind::Password),
        Fe::SaslInitialResponse { .. } => decode_tagged(buf, PKind::SaslInitial),
        _ => decode_tagged(buf, PKind::SaslResponse),
    }
}

fn decode_one(bytes: &[u8], like: &Fe) -> Fe {
    let mut rest = bytes;
    let m = decode_fe(&mut rest, like);
    assert!(rest.is_empty(), "bytes after the message: {rest:02x?}");
    m
}

#[test]
fn frontend_golden_frames() {
    // Hand-written frames pin both the crate's encoders and the test decoder.
    let cases = [
        (
            "00000014 00030002 7573657200 616c69636500 00",
            Fe::Startup {
                version: ProtocolVersion::V3_2,
                params: vec![("user".into(), "alice".into())],
            },
        ),
        ("00000008 04d2162f", Fe::SslRequest),
        ("00000008 04d21630", Fe::GssEncRequest),
        (
            "00000010 04d2162e 00000000 e22110f4",
            Fe::CancelRequest {
                process_id: 0,
                secret_key: vec![0xe2, 0x21, 0x10, 0xf4],
            },
        ),
        ("70 00000007 707700", Fe::Password(b"pw".to_vec())),
        (
            "70 00000019 534352414d2d5348412d32353600 00000003 6e2c2c",
            Fe::SaslInitialResponse {
                mechanism: "SCRAM-SHA-256".into(),
                data: b"n,,".to_vec(),
            },
        ),
        ("70 00000004", Fe::SaslResponse(vec![])),
        (
            "42 00000020 7000 7300 0001 0001 0002 00000004 00000063 ffffffff 0002 0000 0001",
            Fe::Bind {
                portal: "p".into(),
                statement: "s".into(),
                param_formats: vec![Format::Binary],
                params: vec![Some(vec![0, 0, 0, 99]), None],
                result_formats: vec![Format::Text, Format::Binary],
            },
        ),
        (
            "42 0000000e 00 00 0000 0000 0001 0002",
            Fe::Bind {
                portal: String::new(),
                statement: String::new(),
                param_formats: vec![],
                params: vec![],
                result_formats: vec![Format::HyperBinary],
            },
        ),
        (
            "45 00000009 00 00000000",
            Fe::Execute {
                portal: String::new(),
                max_rows: 0,
            },
        ),
        (
            "43 00000006 50 00",
            Fe::Close(Target::Portal, String::new()),
        ),
        (
            "44 00000007 53 7300",
            Fe::Describe(Target::Statement, "s".into()),
        ),
        ("66 00000005 00", Fe::CopyFail(String::new())),
    ];
    for (h, m) in cases {
        let bytes = hex(h);
        let mut buf = Vec::new();
        encode_fe(&mut buf, &m).unwrap();
        assert_eq!(buf, bytes, "{m:?}");
        assert_eq!(decode_one(&bytes, &m), m);
    }
}

#[test]
fn frontend_size_limits_roll_back() {
    let prefix = vec![9u8, 8, 7];
    let mut buf = prefix.clone();

    let key = [0u8; MAX_CANCEL_KEY_LEN + 1];
    assert_eq!(
        frontend::cancel_request(&mut buf, 1, &key),
        Err(EncodeError::InvalidCancelKeyLength(257))
    );
    assert_eq!(buf, prefix);
    frontend::cancel_request(&mut buf, 1, &key[..MAX_CANCEL_KEY_LEN]).unwrap();
    assert_eq!(buf.len(), prefix.len() + 16 + 252);
    buf.truncate(prefix.len());

    assert!(matches!(
        frontend::execute(&mut buf, "", u32::MAX),
        Err(EncodeError::ValueOutOfRange {
            message: "Execute",
            field: "max_rows"
        })
    ));
    assert!(matches!(
        frontend::execute(&mut buf, "", 1 << 31),
        Err(EncodeError::ValueOutOfRange { .. })
    ));
    assert_eq!(buf, prefix);
    frontend::execute(&mut buf, "", i32::MAX.unsigned_abs()).unwrap();
    assert_eq!(&buf[buf.len() - 4..], &i32::MAX.to_be_bytes());
    buf.truncate(prefix.len());

    let null: Vec<Option<&[u8]>> = vec![None; 65536];
    assert_eq!(
        frontend::bind(&mut buf, "p", "s", &[], &null, &[]),
        Err(EncodeError::TooMany {
            message: "Bind",
            what: "parameters",
            count: 65536
        })
    );
    assert_eq!(buf, prefix);
    let formats = vec![Format::Text; 65536];
    assert_eq!(
        frontend::bind(&mut buf, "p", "s", &formats, &[], &[]),
        Err(EncodeError::TooMany {
            message: "Bind",
            what: "parameter formats",
            count: 65536
        })
    );
    assert_eq!(buf, prefix);
    assert_eq!(
        frontend::bind(&mut buf, "p", "s", &[], &[], &formats),
        Err(EncodeError::TooMany {
            message: "Bind",
            what: "result formats",
            count: 65536
        })
    );
    assert_eq!(buf, prefix);

    // 65535 of each is the limit, and decodes back.
    let m = Fe::Bind {
        portal: String::new(),
        statement: String::new(),
        param_formats: vec![Format::Binary; 65535],
        params: vec![None; 65535],
        result_formats: vec![Format::HyperBinary; 65535],
    };
    encode_fe(&mut buf, &m).unwrap();
    assert_eq!(&buf[..3], &prefix[..]);
    assert_eq!(decode_one(&buf[3..], &m), m);
}

// ---------------------------------------------------------------------------
// 3. Property tests
// ---------------------------------------------------------------------------

/// Strings without NUL (any Unicode otherwise).
fn text() -> impl Strategy<Value = String> {
    "[^\\x00]{0,24}"
}

fn nonempty_text() -> impl Strategy<Value = String> {
    "[^\\x00]{1,24}"
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn nul_free_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(1u8..=255, 0..max)
}

fn copy_strategy() -> impl Strategy<Value = CopyModel> {
    (any::<u8>(), vec(any::<i16>(), 0..12))
        .prop_map(|(format, columns)| CopyModel { format, columns })
}

fn error_fields_strategy() -> impl Strategy<Value = Fields> {
    let code = prop_oneof![
        prop::sample::select(b"SVCMDHPpqWsctdnFLRB".to_vec()),
        1u8..=255
    ];
    vec((code, nul_free_bytes(24)), 0..8)
}

fn row_strategy(max_cols: usize) -> impl Strategy<Value = Row> {
    vec(proptest::option::of(bytes(16)), 0..max_cols)
}

fn field_strategy() -> impl Strategy<Value = Field> {
    (
        text(),
        any::<u32>(),
        any::<i16>(),
        any::<u32>(),
        any::<i16>(),
        any::<i32>(),
        any::<i16>(),
    )
        .prop_map(
            |(name, table_oid, column_id, type_oid, type_size, type_modifier, format)| Field {
                name,
                table_oid,
                column_id,
                type_oid,
                type_size,
                type_modifier,
                format,
            },
        )
}

fn be_strategy() -> impl Strategy<Value = Be> {
    prop_oneof![
        Just(Be::AuthOk),
        Just(Be::AuthKerberosV5),
        Just(Be::AuthCleartext),
        any::<[u8; 4]>().prop_map(Be::AuthMd5),
        Just(Be::AuthScm),
        Just(Be::AuthGss),
        bytes(64).prop_map(Be::AuthGssContinue),
        Just(Be::AuthSspi),
        vec(nonempty_text(), 0..4).prop_map(Be::AuthSasl),
        bytes(64).prop_map(Be::AuthSaslContinue),
        bytes(64).prop_map(Be::AuthSaslFinal),
        (any::<u32>(), vec(any::<u8>(), 4..=MAX_CANCEL_KEY_LEN)).prop_map(
            |(process_id, secret_key)| Be::BackendKeyData {
                process_id,
                secret_key
            }
        ),
        Just(Be::BindComplete),
        Just(Be::CloseComplete),
        text().prop_map(Be::CommandComplete),
        bytes(64).prop_map(Be::CopyData),
        Just(Be::CopyDone),
        copy_strategy().prop_map(Be::CopyIn),
        copy_strategy().prop_map(Be::CopyOut),
        copy_strategy().prop_map(Be::CopyBoth),
        row_strategy(24).prop_map(Be::DataRow),
        Just(Be::EmptyQueryResponse),
        error_fields_strategy().prop_map(Be::ErrorResponse),
        error_fields_strategy().prop_map(Be::NoticeResponse),
        proptest::option::of(bytes(32)).prop_map(Be::FunctionCallResponse),
        (0..=i32::MAX.unsigned_abs(), vec(nonempty_text(), 0..4)).prop_map(
            |(newest_version, unrecognized)| Be::NegotiateProtocolVersion {
                newest_version,
                unrecognized
            }
        ),
        Just(Be::NoData),
        (any::<u32>(), text(), text()).prop_map(|(process_id, channel, payload)| {
            Be::NotificationResponse {
                process_id,
                channel,
                payload,
            }
        }),
        vec(any::<u32>(), 0..16).prop_map(Be::ParameterDescription),
        (text(), text()).prop_map(|(name, value)| Be::ParameterStatus { name, value }),
        Just(Be::ParseComplete),
        Just(Be::PortalSuspended),
        prop::sample::select(b"ITE".to_vec()).prop_map(Be::ReadyForQuery),
        vec(field_strategy(), 0..6).prop_map(Be::RowDescription),
    ]
}

fn format_strategy() -> impl Strategy<Value = Format> {
    prop::sample::select(vec![Format::Text, Format::Binary, Format::HyperBinary])
}

fn target_strategy() -> impl Strategy<Value = Target> {
    prop::sample::select(vec![Target::Statement, Target::Portal])
}

fn fe_strategy() -> impl Strategy<Value = Fe> {
    prop_oneof![
        (
            prop::sample::select(vec![ProtocolVersion::V3_0, ProtocolVersion::V3_2]),
            // An empty name would end the list on the wire.
            vec((nonempty_text(), text()), 0..6),
        )
            .prop_map(|(version, params)| Fe::Startup { version, params }),
        Just(Fe::SslRequest),
        Just(Fe::GssEncRequest),
        (
            any::<u32>(),
            prop_oneof![
                vec(any::<u8>(), 4..=4),
                vec(any::<u8>(), 4..=MAX_CANCEL_KEY_LEN)
            ],
        )
            .prop_map(|(process_id, secret_key)| Fe::CancelRequest {
                process_id,
                secret_key
            }),
        nul_free_bytes(64).prop_map(Fe::Password),
        (text(), bytes(64))
            .prop_map(|(mechanism, data)| Fe::SaslInitialResponse { mechanism, data }),
        bytes(64).prop_map(Fe::SaslResponse),
        text().prop_map(Fe::Query),
        (text(), text(), vec(any::<u32>(), 0..8)).prop_map(|(statement, sql, param_types)| {
            Fe::Parse {
                statement,
                sql,
                param_types,
            }
        }),
        (
            text(),
            text(),
            vec(format_strategy(), 0..4),
            row_strategy(8),
            vec(format_strategy(), 0..4),
        )
            .prop_map(
                |(portal, statement, param_formats, params, result_formats)| Fe::Bind {
                    portal,
                    statement,
                    param_formats,
                    params,
                    result_formats,
                }
            ),
        (target_strategy(), text()).prop_map(|(t, n)| Fe::Describe(t, n)),
        (text(), 0..=i32::MAX.unsigned_abs())
            .prop_map(|(portal, max_rows)| Fe::Execute { portal, max_rows }),
        (target_strategy(), text()).prop_map(|(t, n)| Fe::Close(t, n)),
        Just(Fe::Sync),
        Just(Fe::Flush),
        bytes(64).prop_map(Fe::CopyData),
        Just(Fe::CopyDone),
        text().prop_map(Fe::CopyFail),
        Just(Fe::Terminate),
    ]
}

/// A change to a valid body, for the never-panic property.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(prop::sample::Index),
    Set(prop::sample::Index, u8),
    Insert(prop::sample::Index, u8),
    Remove(prop::sample::Index),
    Append(Vec<u8>),
    Retag(u8),
}

fn mutation_strategy() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Mutation::Remove),
        vec(any::<u8>(), 1..8).prop_map(Mutation::Append),
        prop::sample::select(BACKEND_TAGS.to_vec()).prop_map(Mutation::Retag),
    ]
}

fn tag_strategy() -> impl Strategy<Value = u8> {
    prop_oneof![prop::sample::select(BACKEND_TAGS.to_vec()), any::<u8>()]
}

/// Puts a NUL somewhere in an otherwise valid string.
fn with_nul() -> impl Strategy<Value = String> {
    (text(), text()).prop_map(|(a, b)| format!("{a}\0{b}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn backend_round_trip(m in be_strategy()) {
        let f = encode_be(&m);
        let h = Header::parse(f[..HEADER_LEN].try_into().unwrap(), u32::MAX).unwrap();
        prop_assert_eq!(h.tag, f[0]);
        prop_assert_eq!(h.body_len, f.len() - HEADER_LEN);
        let msg = decode(h.tag, &f[HEADER_LEN..]).unwrap();
        prop_assert_eq!(msg.name(), message_name(h.tag));
        prop_assert_eq!(model(&msg), m);
    }

    #[test]
    fn backend_messages_back_to_back(
        ms in vec(be_strategy(), 1..6),
        max_body in prop_oneof![Just(u32::MAX), 256u32..4096],
    ) {
        // Several frames in one buffer, split only by their headers.
        let stream: Vec<u8> = ms.iter().flat_map(encode_be).collect();
        let mut rest = &stream[..];
        for m in &ms {
            let h = match Header::parse(rest[..HEADER_LEN].try_into().unwrap(), max_body) {
                Ok(h) => h,
                Err(e) => {
                    let body = encode_be(m).len() - HEADER_LEN;
                    prop_assert!(u32::try_from(body).unwrap() > max_body);
                    prop_assert!(matches!(e, ProtocolError::MessageTooLarge { .. }), "{e:?}");
                    break;
                }
            };
            let (body, tail) = rest[HEADER_LEN..].split_at(h.body_len);
            prop_assert_eq!(&model(&decode(h.tag, body).unwrap()), m);
            rest = tail;
        }
    }

    #[test]
    fn frontend_round_trip(m in fe_strategy(), prefix in bytes(8)) {
        let mut buf = prefix.clone();
        encode_fe(&mut buf, &m).unwrap();
        prop_assert_eq!(&buf[..prefix.len()], &prefix[..], "encoders only append");
        prop_assert_eq!(decode_one(&buf[prefix.len()..], &m), m);
    }

    #[test]
    fn frontend_messages_back_to_back(ms in vec(fe_strategy(), 1..8)) {
        let mut buf = Vec::new();
        for m in &ms {
            encode_fe(&mut buf, m).unwrap();
        }
        let mut rest = &buf[..];
        for m in &ms {
            prop_assert_eq!(&decode_fe(&mut rest, m), m);
        }
        prop_assert!(rest.is_empty());
    }

    #[test]
    fn frontend_nul_in_c_string_is_refused(
        bad in with_nul(),
        good in text(),
        data in bytes(16),
        target in target_strategy(),
        prefix in bytes(8),
    ) {
        type Encode<'a> = Box<dyn Fn(&mut Vec<u8>) -> Result<(), EncodeError> + 'a>;
        let (b, g) = (bad.as_str(), good.as_str());
        let cases: Vec<(&str, &str, Encode<'_>)> = vec![
            ("StartupMessage", "parameter name", Box::new(|buf| {
                frontend::startup(buf, ProtocolVersion::V3_0, [("user", g), (b, g)])
            })),
            ("StartupMessage", "parameter value", Box::new(|buf| {
                frontend::startup(buf, ProtocolVersion::V3_2, [("user", g), ("database", b)])
            })),
            ("PasswordMessage", "password", Box::new(|buf| frontend::password(buf, b.as_bytes()))),
            ("SASLInitialResponse", "mechanism", Box::new(|buf| {
                frontend::sasl_initial_response(buf, b, &data)
            })),
            ("Query", "query", Box::new(|buf| frontend::query(buf, b))),
            ("Parse", "statement name", Box::new(|buf| frontend::parse(buf, b, g, &[23]))),
            ("Parse", "query", Box::new(|buf| frontend::parse(buf, g, b, &[23]))),
            ("Bind", "portal name", Box::new(|buf| {
                frontend::bind(buf, b, g, &[Format::Binary], &[Some(&data)], &[])
            })),
            ("Bind", "statement name", Box::new(|buf| {
                frontend::bind(buf, g, b, &[Format::Binary], &[Some(&data)], &[])
            })),
            ("Describe", "name", Box::new(|buf| frontend::describe(buf, target, b))),
            ("Execute", "portal name", Box::new(|buf| frontend::execute(buf, b, 10))),
            ("Close", "name", Box::new(|buf| frontend::close(buf, target, b))),
            ("CopyFail", "reason", Box::new(|buf| frontend::copy_fail(buf, b))),
        ];
        for (message, field, encode) in cases {
            let mut buf = prefix.clone();
            prop_assert_eq!(
                encode(&mut buf),
                Err(EncodeError::NulInString { message, field })
            );
            prop_assert_eq!(&buf, &prefix, "{} {}: buffer changed", message, field);
        }
        // NUL is fine where the protocol counts bytes instead of terminating them.
        let mut buf = Vec::new();
        frontend::copy_data(&mut buf, bad.as_bytes()).unwrap();
        frontend::sasl_response(&mut buf, bad.as_bytes()).unwrap();
        frontend::sasl_initial_response(&mut buf, "SCRAM-SHA-256", bad.as_bytes()).unwrap();
        frontend::bind(&mut buf, "", "", &[], &[Some(bad.as_bytes())], &[]).unwrap();
        prop_assert!(!buf.is_empty());
    }

    #[test]
    fn header_parse_never_panics(bytes in any::<[u8; HEADER_LEN]>(), max in prop_oneof![any::<u32>(), 0u32..2048]) {
        let [tag, a, b, c, d] = bytes;
        let len = i32::from_be_bytes([a, b, c, d]);
        let expected = if len < 4 {
            Err(ProtocolError::LengthTooShort { tag, len })
        } else if len.unsigned_abs() - 4 > max {
            Err(ProtocolError::MessageTooLarge { tag, len: len.unsigned_abs(), max })
        } else {
            Ok(Header { tag, body_len: usize::try_from(len - 4).unwrap() })
        };
        prop_assert_eq!(Header::parse(bytes, max), expected);
    }

    #[test]
    fn decode_never_panics(tag in tag_strategy(), body in vec(any::<u8>(), 0..=512)) {
        match decode(tag, &body) {
            Ok(msg) => {
                if let BackendMessage::DataRow(row) = msg {
                    prop_assert_eq!(row.columns().count(), row.len());
                }
                check_accepted(tag, &body, &msg);
            }
            Err(e) => check_rejected(tag, &e),
        }
    }

    #[test]
    fn decode_never_panics_on_mutated_messages(m in be_strategy(), mutation in mutation_strategy()) {
        let f = encode_be(&m);
        let mut tag = f[0];
        let mut body = f[HEADER_LEN..].to_vec();
        match mutation {
            Mutation::Truncate(i) => body.truncate(i.index(body.len() + 1)),
            Mutation::Set(i, b) => {
                if !body.is_empty() {
                    let i = i.index(body.len());
                    body[i] = b;
                }
            }
            Mutation::Insert(i, b) => body.insert(i.index(body.len() + 1), b),
            Mutation::Remove(i) => {
                if !body.is_empty() {
                    body.remove(i.index(body.len()));
                }
            }
            Mutation::Append(extra) => body.extend_from_slice(&extra),
            Mutation::Retag(t) => tag = t,
        }
        match decode(tag, &body) {
            Ok(msg) => {
                if let BackendMessage::DataRow(row) = msg {
                    prop_assert_eq!(row.columns().count(), row.len());
                }
                check_accepted(tag, &body, &msg);
            }
            Err(e) => check_rejected(tag, &e),
        }
    }

    #[test]
    fn data_row_of_random_bytes_iterates_len_columns(
        count in any::<u16>(),
        cells in vec(prop_oneof![
            Just(None),
            Just(Some(-2i32)),
            (0i32..8).prop_map(Some),
        ], 0..8),
        tail in bytes(4),
    ) {
        // Rows built from plausible column lengths, some of them wrong.
        let mut body = count.to_be_bytes().to_vec();
        for (i, c) in cells.iter().enumerate() {
            match c {
                None => body.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(n) => {
                    body.extend_from_slice(&n.to_be_bytes());
                    body.extend(std::iter::repeat_n(i as u8, usize::try_from(*n).unwrap_or(0)));
                }
            }
        }
        body.extend_from_slice(&tail);
        let well_formed = usize::from(count) == cells.len()
            && tail.is_empty()
            && cells.iter().all(|c| !matches!(c, Some(n) if *n < 0));
        match decode(b'D', &body) {
            Ok(BackendMessage::DataRow(row)) => {
                prop_assert!(well_formed, "accepted a malformed row {:02x?}", body);
                prop_assert_eq!(row.len(), cells.len());
                prop_assert_eq!(row.columns().count(), row.len());
                let expected: Row = cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| c.map(|n| vec![i as u8; usize::try_from(n).unwrap()]))
                    .collect();
                prop_assert_eq!(row_model(row), expected);
            }
            Ok(other) => prop_assert!(false, "not a DataRow: {:?}", other),
            Err(e) => {
                prop_assert!(!well_formed, "rejected a valid row: {:?}", e);
                prop_assert!(
                    matches!(e, ProtocolError::Malformed { message: "DataRow", .. }),
                    "{:?}",
                    e
                );
            }
        }
    }
}

proptest! {
    // Rows up to the full u16 column count: fewer cases, each one is large.
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn data_row_round_trip_any_u16_count(
        count in any::<u16>(),
        pattern in vec(proptest::option::of(bytes(4)), 1..6),
    ) {
        let cols: Row = pattern.iter().cloned().cycle().take(usize::from(count)).collect();
        let f = encode_be(&Be::DataRow(cols.clone()));
        let msg = decode_frame(&f);
        let BackendMessage::DataRow(row) = msg else {
            panic!("not a DataRow");
        };
        prop_assert_eq!(row.len(), usize::from(count));
        prop_assert_eq!(row_model(row), cols);
    }
}
