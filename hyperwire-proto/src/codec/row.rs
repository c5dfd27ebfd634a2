//! DataRow and RowDescription views: validated once at decode, then walked without
//! checks and without allocating.

use crate::codec::reader::{ReadResult, Reader};

/// One DataRow, borrowed from the receive buffer.
///
/// A NULL column is `None`; a malformed row never gets this far (it is a protocol
/// error at decode time), so NULL and malformed can never be confused.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct DataRow<'a> {
    columns: u16,
    body: &'a [u8],
}

impl<'a> DataRow<'a> {
    // Always inlined: it is the per-row work of the machine's two row paths,
    // and a call costs a sixth of it (measured with benches/datarow.rs).
    #[inline(always)]
    pub(crate) fn parse(body: &'a [u8]) -> ReadResult<Self> {
        let (count, columns) = match body {
            [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
            _ => return Err("message ends before the column count"),
        };
        // One bounds check per column: a value's length is checked against the
        // message when the next length (or the end) is read.
        let mut pos = 0usize;
        for _ in 0..count {
            let Some(&[a, b, c, d]) = columns.get(pos..pos.saturating_add(4)) else {
                return Err(if pos > columns.len() {
                    "column length exceeds the message"
                } else {
                    "column count exceeds the columns present"
                });
            };
            let len = i32::from_be_bytes([a, b, c, d]);
            pos += 4;
            if len >= 0 {
                pos = pos.saturating_add(len.unsigned_abs() as usize);
            } else if len != -1 {
                return Err("negative column length other than -1");
            }
        }
        match pos.cmp(&columns.len()) {
            core::cmp::Ordering::Equal => Ok(DataRow {
                columns: count,
                body: columns,
            }),
            core::cmp::Ordering::Greater => Err("column length exceeds the message"),
            core::cmp::Ordering::Less => Err("bytes after the last column"),
        }
    }

    /// Validates a DataRow body (column count, then the columns), as adapters do for
    /// rows they kept.
    pub fn from_body(body: &'a [u8]) -> Result<Self, crate::error::ProtocolError> {
        Self::parse(body).map_err(|reason| crate::error::ProtocolError::Malformed {
            message: "DataRow",
            reason,
        })
    }

    /// A row whose body `parse` already accepted: reads only the count.
    pub(crate) fn validated(body: &'a [u8]) -> Self {
        match body {
            [a, b, rest @ ..] => DataRow {
                columns: u16::from_be_bytes([*a, *b]),
                body: rest,
            },
            _ => DataRow {
                columns: 0,
                body: &[],
            },
        }
    }

    /// The number of columns.
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.columns)
    }

    /// Whether the row has no columns.
    pub fn is_empty(&self) -> bool {
        self.columns == 0
    }

    /// The columns in order: `None` is SQL NULL.
    #[inline]
    pub fn columns(&self) -> Columns<'a> {
        Columns {
            rest: self.body,
            left: self.columns,
        }
    }

    /// Column `index` (walks the row: use [`DataRow::columns`] to read them all).
    /// `None` if out of range, `Some(None)` for NULL.
    #[inline]
    pub fn get(&self, index: usize) -> Option<Option<&'a [u8]>> {
        self.columns().nth(index)
    }

    /// The raw body after the column count (for re-encoding and tests).
    pub fn raw(&self) -> &'a [u8] {
        self.body
    }
}

impl core::fmt::Debug for DataRow<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.columns()).finish()
    }
}

/// Iterator over a [`DataRow`]'s columns.
#[derive(Debug, Clone)]
pub struct Columns<'a> {
    rest: &'a [u8],
    left: u16,
}

impl<'a> Iterator for Columns<'a> {
    type Item = Option<&'a [u8]>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The row was validated at decode, so these never fail; if they did, the
        // iteration would just end early rather than panic.
        let (len, tail) = match self.rest {
            [a, b, c, d, tail @ ..] => (i32::from_be_bytes([*a, *b, *c, *d]), tail),
            _ => return None,
        };
        if len < 0 {
            self.rest = tail;
            return Some(None);
        }
        let n = len.unsigned_abs() as usize;
        let value = tail.get(..n)?;
        self.rest = tail.get(n..)?;
        Some(Some(value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.left), Some(usize::from(self.left)))
    }
}

impl ExactSizeIterator for Columns<'_> {}

/// One column of a RowDescription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDescription<'a> {
    /// Column name.
    pub name: &'a str,
    /// OID of the source table, or 0.
    pub table_oid: u32,
    /// Attribute number in the source table, or 0.
    pub column_id: i16,
    /// OID of the column's type.
    pub type_oid: u32,
    /// The type's size (negative: variable).
    pub type_size: i16,
    /// The type modifier (e.g. numeric precision and scale).
    pub type_modifier: i32,
    /// The format code the server claims. Hyper always says 0; use the format the
    /// request asked for instead (the machine tracks it).
    pub format: i16,
}

/// A RowDescription, borrowed from the receive buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RowDescription<'a> {
    columns: u16,
    body: &'a [u8],
}

impl<'a> RowDescription<'a> {
    pub(crate) fn parse(body: &'a [u8]) -> ReadResult<Self> {
        let mut r = Reader::new(body);
        let columns = r.u16()?;
        let fields = r.clone().rest();
        for _ in 0..columns {
            read_field(&mut r)?;
        }
        r.finish()?;
        Ok(RowDescription {
            columns,
            body: fields,
        })
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        usize::from(self.columns)
    }

    /// Whether there are no columns.
    pub fn is_empty(&self) -> bool {
        self.columns == 0
    }

    /// The columns in order.
    pub fn fields(&self) -> Fields<'a> {
        Fields {
            r: Reader::new(self.body),
            left: self.columns,
        }
    }
}

impl core::fmt::Debug for RowDescription<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.fields()).finish()
    }
}

fn read_field<'a>(r: &mut Reader<'a>) -> ReadResult<FieldDescription<'a>> {
    Ok(FieldDescription {
        name: r.cstr()?,
        table_oid: r.u32()?,
        column_id: r.i16()?,
        type_oid: r.u32()?,
        type_size: r.i16()?,
        type_modifier: r.i32()?,
        format: r.i16()?,
    })
}

/// Iterator over a [`RowDescription`]'s columns.
#[derive(Debug, Clone)]
pub struct Fields<'a> {
    r: Reader<'a>,
    left: u16,
}

impl<'a> Iterator for Fields<'a> {
    type Item = FieldDescription<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        read_field(&mut self.r).ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.left), Some(usize::from(self.left)))
    }
}

impl ExactSizeIterator for Fields<'_> {}
