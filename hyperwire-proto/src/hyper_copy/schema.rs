//! The columns of a HYPERBINARY COPY stream: types and nullability.

use alloc::vec::Vec;

use super::CopyError;
use crate::value::{oid, ColumnType};

/// One column of a HYPERBINARY COPY stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyColumn {
    /// The type (numeric needs its modifier for the scale).
    pub ty: ColumnType,
    /// Whether values carry a NULL indicator byte. It must match what hyperd
    /// expects: NOT NULL columns have none, and on COPY OUT hyperd follows its own
    /// inferred nullability (docs/hyper.md §6).
    pub nullable: bool,
}

impl CopyColumn {
    /// A nullable column.
    pub fn nullable(ty: impl Into<ColumnType>) -> CopyColumn {
        CopyColumn {
            ty: ty.into(),
            nullable: true,
        }
    }

    /// A NOT NULL column.
    pub fn not_null(ty: impl Into<ColumnType>) -> CopyColumn {
        CopyColumn {
            ty: ty.into(),
            nullable: false,
        }
    }
}

/// How a value of a column is laid out in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Always this many bytes.
    Fixed(usize),
    /// A u32 little-endian length, then that many bytes.
    Sized,
}

/// The layout of a type's values, if this codec knows it.
fn layout(ty: ColumnType) -> Result<Layout, Option<CopyError>> {
    Ok(match ty.oid {
        oid::BOOL => Layout::Fixed(1),
        oid::INT2 => Layout::Fixed(2),
        oid::INT4 | oid::FLOAT4 | oid::DATE | oid::OID => Layout::Fixed(4),
        oid::INT8 | oid::FLOAT8 | oid::TIME | oid::TIMESTAMP | oid::TIMESTAMPTZ => Layout::Fixed(8),
        oid::INTERVAL | oid::UUID => Layout::Fixed(16),
        oid::NUMERIC => match ty.numeric_precision_scale() {
            Some((precision, _)) if precision <= 18 => Layout::Fixed(8),
            Some(_) => Layout::Fixed(16),
            None => return Err(None),
        },
        // hyperd's char(n) is "char" (OID 18) on the wire; in COPY it is sized
        // text like the others (and not blank-padded).
        oid::TEXT
        | oid::VARCHAR
        | oid::BPCHAR
        | oid::CHAR
        | oid::NAME
        | oid::UNKNOWN
        | oid::JSON
        | oid::BYTEA => Layout::Sized,
        _ => return Err(None),
    })
}

/// The columns of a HYPERBINARY COPY stream, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySchema {
    columns: Vec<CopyColumn>,
    layouts: Vec<Layout>,
}

impl CopySchema {
    /// A schema of these columns. Numeric columns need their type modifier
    /// ([`ColumnType::numeric`]); a type without a known layout is
    /// [`CopyError::UnsupportedType`].
    pub fn new(columns: Vec<CopyColumn>) -> Result<CopySchema, CopyError> {
        let layouts = columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                layout(c.ty).map_err(|_| CopyError::UnsupportedType {
                    column: i,
                    type_oid: c.ty.oid,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(CopySchema { columns, layouts })
    }

    /// A schema from result columns (those of `SELECT * FROM t` as prepared, say,
    /// which carry the type modifiers), with each column's nullability (by index),
    /// which hyperd's descriptions do not tell.
    pub fn from_columns(
        columns: &[crate::result::Column],
        nullable: impl Fn(usize) -> bool,
    ) -> Result<CopySchema, CopyError> {
        CopySchema::new(
            columns
                .iter()
                .enumerate()
                .map(|(i, c)| CopyColumn {
                    ty: c.column_type(),
                    nullable: nullable(i),
                })
                .collect(),
        )
    }

    /// The columns.
    pub fn columns(&self) -> &[CopyColumn] {
        &self.columns
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// Whether there are no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// A column and its layout.
    pub(crate) fn column(&self, i: usize) -> Option<(CopyColumn, Layout)> {
        Some((*self.columns.get(i)?, *self.layouts.get(i)?))
    }
}
