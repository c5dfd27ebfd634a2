//! ErrorResponse / NoticeResponse bodies: a list of (field code, NUL-terminated value).

use crate::error::ProtocolError;

/// The fields of an ErrorResponse or NoticeResponse, borrowed from the receive buffer.
///
/// Every field is kept, including codes this crate does not name (Hyper sends `B`
/// for the error's source). Values are bytes: servers may send any encoding here,
/// and a bad byte in an error message must not hide the error itself.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ErrorFields<'a> {
    body: &'a [u8],
}

impl<'a> ErrorFields<'a> {
    /// Validates a body: fields of `code, value, NUL`, ending with a lone NUL.
    pub(crate) fn parse(body: &'a [u8], message: &'static str) -> Result<Self, ProtocolError> {
        let mut rest = body;
        loop {
            match rest.split_first() {
                Some((0, [])) => return Ok(ErrorFields { body }),
                Some((0, _)) => {
                    return Err(ProtocolError::Malformed {
                        message,
                        reason: "bytes after the terminating NUL",
                    })
                }
                Some((_, tail)) => match memchr::memchr(0, tail) {
                    Some(end) => rest = tail.get(end + 1..).unwrap_or_default(),
                    None => {
                        return Err(ProtocolError::Malformed {
                            message,
                            reason: "field value without its terminating NUL",
                        })
                    }
                },
                None => {
                    return Err(ProtocolError::Malformed {
                        message,
                        reason: "missing the terminating NUL",
                    })
                }
            }
        }
    }

    /// Iterates over `(code, value)` pairs in the order the server sent them.
    pub fn iter(&self) -> ErrorFieldIter<'a> {
        ErrorFieldIter { rest: self.body }
    }

    /// The value of the first field with this code.
    pub fn get(&self, code: u8) -> Option<&'a [u8]> {
        self.iter().find(|(c, _)| *c == code).map(|(_, v)| v)
    }

    /// Severity, localized (`S`).
    pub fn severity(&self) -> Option<&'a [u8]> {
        self.get(b'S')
    }
    /// SQLSTATE code (`C`).
    pub fn code(&self) -> Option<&'a [u8]> {
        self.get(b'C')
    }
    /// Primary message (`M`).
    pub fn message(&self) -> Option<&'a [u8]> {
        self.get(b'M')
    }
    /// Whether the severity (non-localized `V` if present, else `S`) is FATAL or PANIC:
    /// the server will close the connection.
    pub fn is_fatal(&self) -> bool {
        let sev = self.get(b'V').or_else(|| self.get(b'S'));
        matches!(sev, Some(b"FATAL") | Some(b"PANIC"))
    }
}

impl core::fmt::Debug for ErrorFields<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut m = f.debug_map();
        for (code, value) in self.iter() {
            m.entry(
                &(code as char),
                &alloc::string::String::from_utf8_lossy(value),
            );
        }
        m.finish()
    }
}

/// Iterator over the fields of an [`ErrorFields`].
#[derive(Debug, Clone)]
pub struct ErrorFieldIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for ErrorFieldIter<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let (&code, tail) = self.rest.split_first()?;
        if code == 0 {
            return None;
        }
        // Validated at parse time; a missing NUL here just ends the iteration.
        let end = memchr::memchr(0, tail)?;
        let value = tail.get(..end)?;
        self.rest = tail.get(end + 1..)?;
        Some((code, value))
    }
}
