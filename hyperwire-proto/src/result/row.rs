//! Rows the caller keeps: they share one buffer per batch of rows, so collecting
//! rows costs a reference count each, not an allocation.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use bytes::Bytes;

use crate::codec::{DataRow, FieldDescription, Format, RowDescription};
use crate::machine::ResultFormats;
use crate::result::RowError;
use crate::value::{decode_column, oid, ColumnType, FromSql};

type Result<T> = core::result::Result<T, RowError>;

/// A result column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    name: String,
    type_oid: u32,
    type_modifier: i32,
    type_size: i16,
    table_oid: u32,
    column_id: i16,
    format: Format,
}

impl Column {
    /// A column from its description, arriving in `format`.
    pub fn new(f: &FieldDescription<'_>, format: Format) -> Column {
        Column {
            name: f.name.to_owned(),
            type_oid: f.type_oid,
            type_modifier: f.type_modifier,
            type_size: f.type_size,
            table_oid: f.table_oid,
            column_id: f.column_id,
            format,
        }
    }

    /// The same column arriving in another format.
    pub fn with_format(&self, format: Format) -> Column {
        Column {
            format,
            ..self.clone()
        }
    }

    /// The column's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The OID of its type.
    pub fn type_oid(&self) -> u32 {
        self.type_oid
    }
    /// The type and its modifier, as [`FromSql`] gets them.
    pub fn column_type(&self) -> ColumnType {
        ColumnType::new(self.type_oid, self.type_modifier)
    }
    /// The type modifier (precision and scale of numeric, length of varchar...).
    pub fn type_modifier(&self) -> i32 {
        self.type_modifier
    }
    /// The type's size (negative: variable).
    pub fn type_size(&self) -> i16 {
        self.type_size
    }
    /// The source table's OID, or 0.
    pub fn table_oid(&self) -> u32 {
        self.table_oid
    }
    /// The source column's number, or 0.
    pub fn column_id(&self) -> i16 {
        self.column_id
    }
    /// The format values arrive in (the one requested).
    pub fn format(&self) -> Format {
        self.format
    }
}

/// The columns of a RowDescription, in the formats the request asked for.
pub fn columns_of(desc: &RowDescription<'_>, formats: &ResultFormats) -> Arc<[Column]> {
    desc.fields()
        .enumerate()
        .map(|(i, f)| Column::new(&f, formats.get(i)))
        .collect()
}

/// The result formats to ask for once a statement's columns are known: binary for
/// the types the value layer reads from binary (and arrays of them), text for the
/// rest.
pub fn binary_formats(columns: &[Column]) -> Vec<Format> {
    columns
        .iter()
        .map(|c| {
            let t = c.type_oid();
            if reads_binary(t) || oid::element_of(t).is_some_and(reads_binary) {
                Format::Binary
            } else {
                Format::Text
            }
        })
        .collect()
}

/// Whether the value layer decodes this type from PostgreSQL binary.
fn reads_binary(type_oid: u32) -> bool {
    matches!(
        type_oid,
        oid::BOOL
            | oid::INT2
            | oid::INT4
            | oid::INT8
            | oid::FLOAT4
            | oid::FLOAT8
            | oid::OID
            | oid::BYTEA
            | oid::TEXT
            | oid::VARCHAR
            | oid::BPCHAR
            | oid::NAME
            | oid::CHAR
            | oid::NUMERIC
            | oid::DATE
            | oid::TIME
            | oid::TIMESTAMP
            | oid::TIMESTAMPTZ
            | oid::INTERVAL
            | oid::UUID
            | oid::JSON
            | oid::JSONB
    )
}

/// Something that names a column: its index or its name.
pub trait ColumnIndex: core::fmt::Debug {
    /// The index in `columns`.
    fn index(&self, columns: &[Column]) -> Option<usize>;
}

impl ColumnIndex for usize {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        (*self < columns.len()).then_some(*self)
    }
}

impl ColumnIndex for &str {
    fn index(&self, columns: &[Column]) -> Option<usize> {
        columns.iter().position(|c| c.name == *self)
    }
}

/// One row of a result.
#[derive(Clone)]
pub struct Row {
    /// The batch this row came in: its columns and the bodies of its rows.
    batch: Arc<SharedBatch>,
    /// Where this row's DataRow body (column count, then the columns) lies in
    /// `batch.bodies`.
    start: usize,
    end: usize,
    /// Whether the machine validated the body (rows of a [`RowBatch`]); others
    /// are checked on each access.
    validated: bool,
}

/// What the rows of one batch share: one reference count per row, not two.
struct SharedBatch {
    columns: Arc<[Column]>,
    bodies: Bytes,
}

impl Row {
    /// A row from a DataRow body (column count, then columns); reading it checks
    /// the body, so malformed bytes are an error, never a panic.
    pub fn new(columns: Arc<[Column]>, body: Bytes) -> Row {
        let end = body.len();
        Row {
            batch: Arc::new(SharedBatch {
                columns,
                bodies: body,
            }),
            start: 0,
            end,
            validated: false,
        }
    }

    /// The columns.
    pub fn columns(&self) -> &[Column] {
        &self.batch.columns
    }

    /// Replaces the columns (rows that came without a description).
    pub fn set_columns(&mut self, columns: Arc<[Column]>) {
        self.batch = Arc::new(SharedBatch {
            columns,
            bodies: self.batch.bodies.clone(),
        });
    }

    /// The number of values.
    pub fn len(&self) -> usize {
        self.data().map_or(0, |r| r.len())
    }

    /// Whether the row has no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn body(&self) -> &[u8] {
        self.batch
            .bodies
            .get(self.start..self.end)
            .unwrap_or_default()
    }

    #[inline]
    fn data(&self) -> Result<DataRow<'_>> {
        if self.validated {
            return Ok(DataRow::validated(self.body()));
        }
        DataRow::from_body(self.body()).map_err(RowError::Malformed)
    }

    /// The raw bytes of a value (`None` for NULL), in the column's format.
    pub fn raw(&self, index: impl ColumnIndex) -> Result<Option<&[u8]>> {
        let i = index
            .index(&self.batch.columns)
            .ok_or_else(|| RowError::NoSuchColumn(format!("{index:?}")))?;
        self.data()?
            .get(i)
            .ok_or_else(|| RowError::NoSuchColumn(format!("{index:?}")))
    }

    /// The raw values in order.
    pub fn values(&self) -> impl Iterator<Item = Option<&[u8]>> {
        self.data().ok().into_iter().flat_map(|r| r.columns())
    }

    /// A value as `T` (use `Option<T>` for nullable columns). Borrowing types
    /// (`&str`, `&[u8]`) borrow from the row.
    #[inline]
    pub fn get<'a, T: FromSql<'a>>(&'a self, index: impl ColumnIndex) -> Result<T> {
        let columns = &self.batch.columns;
        let Some((i, column)) = index
            .index(columns)
            .and_then(|i| Some((i, columns.get(i)?)))
        else {
            return Err(RowError::NoSuchColumn(format!("{index:?}")));
        };
        let raw = self
            .data()?
            .get(i)
            .ok_or_else(|| RowError::NoSuchColumn(format!("{index:?}")))?;
        decode_column(column.column_type(), column.format, raw).map_err(|error| RowError::Value {
            index: i,
            name: column.name.clone(),
            error,
        })
    }
}

impl core::fmt::Debug for Row {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut l = f.debug_list();
        for v in self.values() {
            l.entry(&v.map(String::from_utf8_lossy));
        }
        l.finish()
    }
}

/// Collects DataRow bodies into one shared buffer; `Row`s are slices of it.
#[derive(Debug, Default)]
pub struct RowBatch {
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl RowBatch {
    /// Copies one row in.
    pub fn push(&mut self, row: &DataRow<'_>) {
        // The count, then the columns exactly as received.
        let count = u16::try_from(row.len()).unwrap_or(u16::MAX);
        self.buf.extend_from_slice(&count.to_be_bytes());
        self.buf.extend_from_slice(row.raw());
        self.ends.push(self.buf.len());
    }

    /// Whether no row is waiting.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Turns the batch into rows (one allocation for the batch).
    pub fn drain_into(&mut self, columns: &Arc<[Column]>, out: &mut impl Extend<Row>) {
        let batch = Arc::new(SharedBatch {
            columns: Arc::clone(columns),
            bodies: Bytes::from(core::mem::take(&mut self.buf)),
        });
        let mut start = 0;
        out.extend(self.ends.drain(..).map(|end| {
            // The machine validated each DataRow before `push` copied it.
            let row = Row {
                batch: Arc::clone(&batch),
                start,
                end,
                validated: true,
            };
            start = end;
            row
        }));
    }
}
