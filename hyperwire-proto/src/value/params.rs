//! Encoding parameters for Bind: declared types, formats and values in one buffer.

use alloc::vec::Vec;

use crate::codec::Format;
use crate::value::{ToSql, ValueError};

/// Encoded parameters: declared types, formats and values, sharing one buffer.
#[derive(Debug, Default)]
pub struct EncodedParams {
    /// The types to declare in Parse.
    pub types: Vec<u32>,
    /// The format of each value, for Bind.
    pub formats: Vec<Format>,
    buf: Vec<u8>,
    /// `None` for NULL, else the value's range in `buf`.
    ranges: Vec<Option<(usize, usize)>>,
}

impl EncodedParams {
    /// Encodes `params`. With `declared` (a prepared statement's parameter types) a
    /// value goes in binary only when its type is exactly the declared one, else in
    /// text, which the server parses for any type. Without, text values are declared
    /// as unknown (OID 0) so the server infers their type, as libpq does.
    pub fn new(
        params: &[&dyn ToSql],
        declared: Option<&[u32]>,
    ) -> Result<EncodedParams, (usize, ValueError)> {
        let mut e = EncodedParams::default();
        for (i, p) in params.iter().enumerate() {
            let declared_type = declared.and_then(|d| d.get(i).copied());
            let format = match declared_type {
                Some(t) if t == p.type_oid() => p.preferred_format(),
                Some(_) => Format::Text,
                None => p.preferred_format(),
            };
            let start = e.buf.len();
            let present = p.encode(format, &mut e.buf).map_err(|error| (i, error))?;
            e.ranges.push(present.then_some((start, e.buf.len())));
            e.formats.push(format);
            e.types.push(match (declared_type, format) {
                (Some(t), _) => t,
                (None, Format::Text) => 0,
                (None, _) if present => p.type_oid(),
                // A NULL: let the server decide its type.
                (None, _) => 0,
            });
        }
        Ok(e)
    }

    /// The values for Bind (`None` is NULL).
    pub fn values(&self) -> Vec<Option<&[u8]>> {
        self.ranges
            .iter()
            .map(|r| r.and_then(|(s, e)| self.buf.get(s..e)))
            .collect()
    }
}
