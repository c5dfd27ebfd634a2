//! An owned server error or notice, with every field the server sent.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::codec::ErrorFields;

/// An ErrorResponse or NoticeResponse, copied out of the receive buffer.
///
/// Named getters cover the standard fields; [`ServerError::field`] reaches any other,
/// such as Hyper's `B` (the error's source: `User` or `System`).
#[derive(Clone, PartialEq, Eq)]
pub struct ServerError {
    fields: Vec<(u8, String)>,
}

impl ServerError {
    /// Copies the fields (invalid UTF-8 is replaced, never dropped).
    pub fn from_fields(fields: &ErrorFields<'_>) -> Self {
        ServerError {
            fields: fields
                .iter()
                .map(|(c, v)| (c, String::from_utf8_lossy(v).into_owned()))
                .collect(),
        }
    }

    /// The value of field `code`, if the server sent it.
    pub fn field(&self, code: u8) -> Option<&str> {
        self.fields
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_str())
    }

    /// Every field, in the order the server sent them.
    pub fn fields(&self) -> impl Iterator<Item = (u8, &str)> {
        self.fields.iter().map(|(c, v)| (*c, v.as_str()))
    }

    /// Severity (`V` when sent, as it is never localized; otherwise `S`).
    pub fn severity(&self) -> &str {
        self.field(b'V').or(self.field(b'S')).unwrap_or("")
    }
    /// The SQLSTATE code (`C`), empty if the server sent none.
    pub fn code(&self) -> &str {
        self.field(b'C').unwrap_or("")
    }
    /// The SQLSTATE, typed (`None` if the server sent no valid code).
    pub fn sql_state(&self) -> Option<crate::SqlState> {
        crate::SqlState::from_code(self.code())
    }
    /// The primary message (`M`).
    pub fn message(&self) -> &str {
        self.field(b'M').unwrap_or("")
    }
    /// Detail (`D`).
    pub fn detail(&self) -> Option<&str> {
        self.field(b'D')
    }
    /// Hint (`H`).
    pub fn hint(&self) -> Option<&str> {
        self.field(b'H')
    }
    /// 1-based character position in the query (`P`).
    pub fn position(&self) -> Option<u32> {
        self.field(b'P').and_then(|p| p.parse().ok())
    }
    /// Where in the server's code the error was raised (`R`): used to tell apart
    /// errors that share a SQLSTATE, never the message text.
    pub fn routine(&self) -> Option<&str> {
        self.field(b'R')
    }
    /// Hyper's error source (`B`): `User` or `System`.
    pub fn hyper_source(&self) -> Option<&str> {
        self.field(b'B')
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.severity(), self.message())?;
        if !self.code().is_empty() {
            write!(f, " (SQLSTATE {})", self.code())?;
        }
        if let Some(d) = self.detail() {
            write!(f, "\nDETAIL: {}", d.trim_start_matches('\n'))?;
        }
        if let Some(h) = self.hint() {
            write!(f, "\nHINT: {h}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (c, v) in &self.fields {
            m.entry(&(*c as char), v);
        }
        m.finish()
    }
}

impl core::error::Error for ServerError {}
