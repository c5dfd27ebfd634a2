//! A row borrowed from the receive buffer, for callers that read each row once.

use alloc::format;

use crate::codec::DataRow;
use crate::machine::ResultFormats;
use crate::result::{Column, RowError};
use crate::value::{decode_column, ColumnType, FromSql};

/// One row as the machine delivered it: its values borrow from the receive
/// buffer, so reading it allocates nothing (types that own, like `String`,
/// allocate their own copy). Valid only while the event it came from is.
#[derive(Debug, Clone, Copy)]
pub struct RowRef<'a> {
    columns: &'a [Column],
    row: DataRow<'a>,
    formats: &'a ResultFormats,
}

impl<'a> RowRef<'a> {
    /// The row of a `DataRow` event, described by `columns` (empty if the
    /// request got no description: values are then read as untyped text or
    /// bytes).
    pub fn new(columns: &'a [Column], row: DataRow<'a>, formats: &'a ResultFormats) -> Self {
        RowRef {
            columns,
            row,
            formats,
        }
    }

    /// The columns.
    pub fn columns(&self) -> &'a [Column] {
        self.columns
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.row.len()
    }

    /// Whether the row has no values.
    pub fn is_empty(&self) -> bool {
        self.row.is_empty()
    }

    /// The raw bytes of value `i` (`Ok(None)` for NULL) in its column's format.
    #[inline]
    pub fn raw(&self, i: usize) -> Result<Option<&'a [u8]>, RowError> {
        self.row
            .get(i)
            .ok_or_else(|| RowError::NoSuchColumn(format!("{i}")))
    }

    /// Value `i` as `T` (use `Option<T>` for nullable columns); borrowing types
    /// (`&str`, `&[u8]`) borrow from the receive buffer.
    #[inline]
    pub fn get<T: FromSql<'a>>(&self, i: usize) -> Result<T, RowError> {
        let raw = self.raw(i)?;
        let ty = self
            .columns
            .get(i)
            .map_or(ColumnType::new(0, -1), Column::column_type);
        decode_column(ty, self.formats.get(i), raw).map_err(|error| RowError::Value {
            index: i,
            name: self
                .columns
                .get(i)
                .map(|c| c.name().into())
                .unwrap_or_default(),
            error,
        })
    }
}
