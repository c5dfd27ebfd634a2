//! A zero-copy decoder for every message a server sends.
//!
//! Decoding validates the whole body once, so the borrowed views handed out
//! afterwards (a DataRow's columns, a RowDescription's fields) can be walked without
//! further checks and without allocating.

use crate::codec::fields::ErrorFields;
use crate::codec::reader::{ReadResult, Reader};
use crate::codec::row::{DataRow, RowDescription};
use crate::error::ProtocolError;

/// The length of a message header: type byte plus 32-bit length.
pub const HEADER_LEN: usize = 5;

/// A message header: its type byte and the length of its body (without the length
/// field itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The message type byte.
    pub tag: u8,
    /// Body length in bytes.
    pub body_len: usize,
}

impl Header {
    /// Reads a header from 5 bytes, refusing lengths under 4 and bodies over `max_body`.
    pub fn parse(bytes: [u8; HEADER_LEN], max_body: u32) -> Result<Header, ProtocolError> {
        let [tag, a, b, c, d] = bytes;
        let len = i32::from_be_bytes([a, b, c, d]);
        if len < 4 {
            return Err(ProtocolError::LengthTooShort { tag, len });
        }
        let body = len.unsigned_abs() - 4;
        if body > max_body {
            return Err(ProtocolError::MessageTooLarge {
                tag,
                len: len.unsigned_abs(),
                max: max_body,
            });
        }
        Ok(Header {
            tag,
            body_len: body as usize,
        })
    }
}

/// The transaction status carried by ReadyForQuery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransactionStatus {
    /// `I`: not in a transaction block.
    Idle,
    /// `T`: in a transaction block.
    InTransaction,
    /// `E`: in a failed transaction block (commands are refused until ROLLBACK).
    Failed,
}

/// A CopyInResponse, CopyOutResponse or CopyBothResponse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyResponse<'a> {
    /// Overall format: 0 text, 1 binary. Hyper says 0 even for its binary formats.
    pub format: u8,
    column_formats: &'a [u8],
}

impl<'a> CopyResponse<'a> {
    fn parse(body: &'a [u8]) -> ReadResult<Self> {
        let mut r = Reader::new(body);
        let format = r.u8()?;
        let n = r.u16()?;
        let column_formats = r.take(usize::from(n) * 2)?;
        r.finish()?;
        Ok(CopyResponse {
            format,
            column_formats,
        })
    }

    /// The number of columns.
    pub fn columns(&self) -> usize {
        self.column_formats.len() / 2
    }

    /// Each column's format code.
    pub fn column_formats(&self) -> impl Iterator<Item = i16> + 'a {
        self.column_formats.chunks_exact(2).map(|c| {
            i16::from_be_bytes([
                c.first().copied().unwrap_or(0),
                c.get(1).copied().unwrap_or(0),
            ])
        })
    }
}

/// A list of NUL-terminated strings (SASL mechanisms, unrecognized protocol options).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct StrList<'a> {
    body: &'a [u8],
}

impl<'a> StrList<'a> {
    /// Validates `count` strings, or (with `None`) strings up to an empty one.
    fn parse(r: &mut Reader<'a>, count: Option<u32>) -> ReadResult<Self> {
        let start = r.clone().rest();
        let mut len = 0usize;
        let mut seen = 0u32;
        loop {
            if Some(seen) == count {
                break;
            }
            let s = r.cstr()?;
            if count.is_none() && s.is_empty() {
                // The terminator of a SASL mechanism list is not an entry.
                break;
            }
            len += s.len() + 1;
            seen += 1;
        }
        Ok(StrList {
            body: start.get(..len).unwrap_or_default(),
        })
    }

    /// Iterates over the strings (validated UTF-8; a list's terminator is not one).
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        let mut r = Reader::new(self.body);
        core::iter::from_fn(move || r.cstr().ok())
    }
}

impl core::fmt::Debug for StrList<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// ParameterDescription: the type OID of each parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterTypes<'a> {
    oids: &'a [u8],
}

impl<'a> ParameterTypes<'a> {
    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.oids.len() / 4
    }
    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.oids.is_empty()
    }
    /// The type OIDs, in parameter order.
    pub fn iter(&self) -> impl Iterator<Item = u32> + 'a {
        self.oids
            .chunks_exact(4)
            .map(|c| c.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)))
    }
}

/// The authentication request kinds (`R` messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Authentication<'a> {
    /// 0: authentication succeeded.
    Ok,
    /// 2: Kerberos V5 (unsupported by any current server).
    KerberosV5,
    /// 3: send the password in clear text.
    CleartextPassword,
    /// 5: send the MD5-hashed password with this salt.
    Md5Password {
        /// The 4-byte salt.
        salt: [u8; 4],
    },
    /// 6: SCM credentials (long removed from PostgreSQL).
    ScmCredential,
    /// 7: start GSSAPI.
    Gss,
    /// 8: GSSAPI or SSPI continuation data.
    GssContinue(&'a [u8]),
    /// 9: start SSPI.
    Sspi,
    /// 10: start SASL with one of these mechanisms.
    Sasl(StrList<'a>),
    /// 11: SASL challenge (SCRAM server-first).
    SaslContinue(&'a [u8]),
    /// 12: SASL outcome (SCRAM server-final).
    SaslFinal(&'a [u8]),
}

/// Every message a server sends, borrowing from the receive buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendMessage<'a> {
    /// `R`.
    Authentication(Authentication<'a>),
    /// `K`: the cancel key (4 bytes in 3.0, up to 256 in 3.2).
    BackendKeyData {
        /// Process id (on Hyper: a connection slot).
        process_id: u32,
        /// The secret key.
        secret_key: &'a [u8],
    },
    /// `2`.
    BindComplete,
    /// `3`.
    CloseComplete,
    /// `C`: the command tag.
    CommandComplete(&'a str),
    /// `d`.
    CopyData(&'a [u8]),
    /// `c`.
    CopyDone,
    /// `G`.
    CopyInResponse(CopyResponse<'a>),
    /// `H`.
    CopyOutResponse(CopyResponse<'a>),
    /// `W` (replication only).
    CopyBothResponse(CopyResponse<'a>),
    /// `D`.
    DataRow(DataRow<'a>),
    /// `I`.
    EmptyQueryResponse,
    /// `E`.
    ErrorResponse(ErrorFields<'a>),
    /// `V`: the result of a FunctionCall (`None` is NULL).
    FunctionCallResponse(Option<&'a [u8]>),
    /// `v`: the newest protocol version the server supports, and the `_pq_.` options
    /// it did not recognize.
    NegotiateProtocolVersion {
        /// The newest supported version. The protocol documentation calls it the
        /// newest minor version; PostgreSQL sends the whole version code
        /// (`major << 16 | minor`, e.g. `0x00030000`), as libpq expects.
        newest_version: u32,
        /// Startup options the server did not recognize.
        unrecognized: StrList<'a>,
    },
    /// `n`.
    NoData,
    /// `N`.
    NoticeResponse(ErrorFields<'a>),
    /// `A`.
    NotificationResponse {
        /// The notifying backend's process id.
        process_id: u32,
        /// The channel.
        channel: &'a str,
        /// The payload.
        payload: &'a str,
    },
    /// `t`.
    ParameterDescription(ParameterTypes<'a>),
    /// `S`.
    ParameterStatus {
        /// The parameter.
        name: &'a str,
        /// Its new value.
        value: &'a str,
    },
    /// `1`.
    ParseComplete,
    /// `s`.
    PortalSuspended,
    /// `Z`.
    ReadyForQuery(TransactionStatus),
    /// `T`.
    RowDescription(RowDescription<'a>),
}

impl BackendMessage<'_> {
    /// The message's name, for errors.
    pub fn name(&self) -> &'static str {
        message_name(match self {
            BackendMessage::Authentication(_) => b'R',
            BackendMessage::BackendKeyData { .. } => b'K',
            BackendMessage::BindComplete => b'2',
            BackendMessage::CloseComplete => b'3',
            BackendMessage::CommandComplete(_) => b'C',
            BackendMessage::CopyData(_) => b'd',
            BackendMessage::CopyDone => b'c',
            BackendMessage::CopyInResponse(_) => b'G',
            BackendMessage::CopyOutResponse(_) => b'H',
            BackendMessage::CopyBothResponse(_) => b'W',
            BackendMessage::DataRow(_) => b'D',
            BackendMessage::EmptyQueryResponse => b'I',
            BackendMessage::ErrorResponse(_) => b'E',
            BackendMessage::FunctionCallResponse(_) => b'V',
            BackendMessage::NegotiateProtocolVersion { .. } => b'v',
            BackendMessage::NoData => b'n',
            BackendMessage::NoticeResponse(_) => b'N',
            BackendMessage::NotificationResponse { .. } => b'A',
            BackendMessage::ParameterDescription(_) => b't',
            BackendMessage::ParameterStatus { .. } => b'S',
            BackendMessage::ParseComplete => b'1',
            BackendMessage::PortalSuspended => b's',
            BackendMessage::ReadyForQuery(_) => b'Z',
            BackendMessage::RowDescription(_) => b'T',
        })
    }
}

/// The name of a backend message type, or "unknown".
pub fn message_name(tag: u8) -> &'static str {
    match tag {
        b'R' => "Authentication",
        b'K' => "BackendKeyData",
        b'2' => "BindComplete",
        b'3' => "CloseComplete",
        b'C' => "CommandComplete",
        b'd' => "CopyData",
        b'c' => "CopyDone",
        b'G' => "CopyInResponse",
        b'H' => "CopyOutResponse",
        b'W' => "CopyBothResponse",
        b'D' => "DataRow",
        b'I' => "EmptyQueryResponse",
        b'E' => "ErrorResponse",
        b'V' => "FunctionCallResponse",
        b'v' => "NegotiateProtocolVersion",
        b'n' => "NoData",
        b'N' => "NoticeResponse",
        b'A' => "NotificationResponse",
        b't' => "ParameterDescription",
        b'S' => "ParameterStatus",
        b'1' => "ParseComplete",
        b's' => "PortalSuspended",
        b'Z' => "ReadyForQuery",
        b'T' => "RowDescription",
        _ => "unknown",
    }
}

/// Decodes one message body. The header has already been checked.
pub fn decode(tag: u8, body: &[u8]) -> Result<BackendMessage<'_>, ProtocolError> {
    let name = message_name(tag);
    let malformed = |reason| ProtocolError::Malformed {
        message: name,
        reason,
    };
    let empty = |m: BackendMessage<'static>| {
        if body.is_empty() {
            Ok(m)
        } else {
            Err(malformed("expected an empty body"))
        }
    };
    match tag {
        b'D' => DataRow::parse(body)
            .map(BackendMessage::DataRow)
            .map_err(malformed),
        b'R' => authentication(body)
            .map(BackendMessage::Authentication)
            .map_err(malformed),
        b'E' => ErrorFields::parse(body, name).map(BackendMessage::ErrorResponse),
        b'N' => ErrorFields::parse(body, name).map(BackendMessage::NoticeResponse),
        b'2' => empty(BackendMessage::BindComplete),
        b'3' => empty(BackendMessage::CloseComplete),
        b'1' => empty(BackendMessage::ParseComplete),
        b'c' => empty(BackendMessage::CopyDone),
        b'I' => empty(BackendMessage::EmptyQueryResponse),
        b'n' => empty(BackendMessage::NoData),
        b's' => empty(BackendMessage::PortalSuspended),
        b'd' => Ok(BackendMessage::CopyData(body)),
        b'G' => CopyResponse::parse(body)
            .map(BackendMessage::CopyInResponse)
            .map_err(malformed),
        b'H' => CopyResponse::parse(body)
            .map(BackendMessage::CopyOutResponse)
            .map_err(malformed),
        b'W' => CopyResponse::parse(body)
            .map(BackendMessage::CopyBothResponse)
            .map_err(malformed),
        b'T' => RowDescription::parse(body)
            .map(BackendMessage::RowDescription)
            .map_err(malformed),
        _ => other(tag, body).map_err(|e| match e {
            Some(reason) => malformed(reason),
            None => ProtocolError::UnknownMessage(tag),
        }),
    }
}

/// The rarer messages. `Err(None)` means an unknown type.
fn other(tag: u8, body: &[u8]) -> Result<BackendMessage<'_>, Option<&'static str>> {
    let mut r = Reader::new(body);
    let msg = match tag {
        b'K' => {
            let process_id = r.u32()?;
            let secret_key = r.rest();
            if secret_key.len() < 4 || secret_key.len() > crate::codec::MAX_CANCEL_KEY_LEN {
                return Err(Some("cancel key must be 4 to 256 bytes"));
            }
            BackendMessage::BackendKeyData {
                process_id,
                secret_key,
            }
        }
        b'C' => BackendMessage::CommandComplete(r.cstr()?),
        b'V' => {
            let len = r.i32()?;
            let value = match len {
                -1 => None,
                n if n >= 0 => Some(r.take(n.unsigned_abs() as usize)?),
                _ => return Err(Some("negative length other than -1")),
            };
            BackendMessage::FunctionCallResponse(value)
        }
        b'v' => {
            let newest_version = r.i32()?;
            let count = r.i32()?;
            let (Ok(newest_version), Ok(count)) =
                (u32::try_from(newest_version), u32::try_from(count))
            else {
                return Err(Some("negative version or option count"));
            };
            BackendMessage::NegotiateProtocolVersion {
                newest_version,
                unrecognized: StrList::parse(&mut r, Some(count))?,
            }
        }
        b'A' => BackendMessage::NotificationResponse {
            process_id: r.u32()?,
            channel: r.cstr()?,
            payload: r.cstr()?,
        },
        b't' => {
            let n = r.u16()?;
            BackendMessage::ParameterDescription(ParameterTypes {
                oids: r.take(usize::from(n) * 4)?,
            })
        }
        b'S' => BackendMessage::ParameterStatus {
            name: r.cstr()?,
            value: r.cstr()?,
        },
        b'Z' => BackendMessage::ReadyForQuery(match r.u8()? {
            b'I' => TransactionStatus::Idle,
            b'T' => TransactionStatus::InTransaction,
            b'E' => TransactionStatus::Failed,
            _ => return Err(Some("unknown transaction status")),
        }),
        _ => return Err(None),
    };
    r.finish()?;
    Ok(msg)
}

fn authentication(body: &[u8]) -> ReadResult<Authentication<'_>> {
    let mut r = Reader::new(body);
    let auth = match r.i32()? {
        0 => Authentication::Ok,
        2 => Authentication::KerberosV5,
        3 => Authentication::CleartextPassword,
        5 => {
            let s = r.take(4)?;
            let mut salt = [0; 4];
            salt.copy_from_slice(s);
            Authentication::Md5Password { salt }
        }
        6 => Authentication::ScmCredential,
        7 => Authentication::Gss,
        8 => Authentication::GssContinue(r.rest()),
        9 => Authentication::Sspi,
        10 => {
            let list = StrList::parse(&mut r, None)?;
            Authentication::Sasl(list)
        }
        11 => Authentication::SaslContinue(r.rest()),
        12 => Authentication::SaslFinal(r.rest()),
        _ => return Err("unknown authentication request code"),
    };
    r.finish()?;
    Ok(auth)
}
