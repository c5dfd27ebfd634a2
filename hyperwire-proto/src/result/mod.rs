//! Results that outlive the receive buffer: columns, rows sharing one buffer per
//! batch, and the collector that turns a request's events into them.

mod collect;
mod row;
mod row_ref;
mod visit;

use alloc::vec::Vec;
use core::fmt;

pub use collect::{rows_affected, CollectError, Collector, QueryResult};
pub use row::{binary_formats, columns_of, Column, ColumnIndex, Row, RowBatch};
pub use row_ref::RowRef;
pub use visit::{RowVisitor, VisitEnd};

use crate::error::ProtocolError;
use crate::value::ValueError;

/// Reading a value from a [`Row`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RowError {
    /// No column with this index or name.
    NoSuchColumn(alloc::string::String),
    /// The value could not be read as the requested type.
    Value {
        /// The column index.
        index: usize,
        /// The column's name.
        name: alloc::string::String,
        /// What was wrong.
        error: ValueError,
    },
    /// The row's bytes are not a DataRow (only for rows built from raw bytes).
    Malformed(ProtocolError),
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowError::NoSuchColumn(c) => write!(f, "no column {c}"),
            RowError::Value { index, name, error } => {
                write!(f, "column {index} ({name:?}): {error}")
            }
            RowError::Malformed(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for RowError {}

/// `query_one`'s rule: exactly one row. Otherwise how many there were, as
/// 0 or 2 (2 meaning "more than one").
pub fn one_row(rows: Vec<Row>) -> Result<Row, usize> {
    let mut rows = rows.into_iter();
    match (rows.next(), rows.next()) {
        (Some(row), None) => Ok(row),
        (None, _) => Err(0),
        (Some(_), Some(_)) => Err(2),
    }
}

/// `query_opt`'s rule: at most one row. Otherwise 2 ("more than one").
pub fn at_most_one_row(rows: Vec<Row>) -> Result<Option<Row>, usize> {
    let mut rows = rows.into_iter();
    match (rows.next(), rows.next()) {
        (row, None) => Ok(row),
        (_, Some(_)) => Err(2),
    }
}
