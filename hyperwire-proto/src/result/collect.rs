//! Turning one request's events into results: the rows of each statement, its tag,
//! and its error. Every adapter shares this.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::machine::Event;
use crate::result::row::{columns_of, Column, Row, RowBatch};
use crate::server_error::ServerError;

/// Why a request produced no results.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CollectError {
    /// The server reported an error.
    Server(ServerError),
    /// The server skipped the request after an earlier error in its Sync group.
    Skipped,
    /// A row's column count differs from its result's columns (a cached
    /// statement's rows come without a description, so the machine cannot check
    /// them): the rows are not delivered.
    ColumnCount {
        /// The columns the result has.
        expected: usize,
        /// The columns a row had.
        found: usize,
    },
}

impl core::fmt::Display for CollectError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CollectError::Server(e) => write!(f, "{e}"),
            CollectError::Skipped => {
                f.write_str("skipped after an earlier error in the same Sync group")
            }
            CollectError::ColumnCount { expected, found } => write!(
                f,
                "a row has {found} columns where the statement has {expected}"
            ),
        }
    }
}

impl core::error::Error for CollectError {}

/// The result of one statement.
#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    /// The columns (empty for statements without rows).
    pub columns: Arc<[Column]>,
    /// The rows.
    pub rows: Vec<Row>,
    /// The command tag (`SELECT 2`, `INSERT 0 1`...); empty for an empty query.
    pub tag: String,
    /// Whether the statement returns rows (it sent a row description), even none.
    pub returns_rows: bool,
}

impl QueryResult {
    /// The row count from the tag (`INSERT 0 5` → 5), if the tag has one.
    pub fn rows_affected(&self) -> Option<u64> {
        rows_affected(&self.tag)
    }
}

/// The row count at the end of a command tag (`INSERT 0 5` → 5).
pub fn rows_affected(tag: &str) -> Option<u64> {
    tag.rsplit(' ').next().and_then(|n| n.parse().ok())
}

/// Collects the results of one request from its events.
#[derive(Debug, Default)]
pub struct Collector {
    results: Vec<QueryResult>,
    current: Option<QueryResult>,
    batch: RowBatch,
    error: Option<ServerError>,
    skipped: bool,
    copy: bool,
    /// The first row whose column count disagreed with its columns.
    mismatch: Option<(usize, usize)>,
    /// Columns known in advance (a cached statement bound without Describe).
    preset: Option<Arc<[Column]>>,
}

impl Collector {
    /// A collector for rows that arrive without a RowDescription (a cached
    /// statement executed without Describe): they get these columns.
    pub fn with_columns(columns: Arc<[Column]>) -> Collector {
        Collector {
            preset: Some(columns),
            ..Collector::default()
        }
    }

    /// Handles one event of the request. `Ok(true)` at its end.
    pub fn on_event(&mut self, ev: &Event<'_>) -> bool {
        match ev {
            Event::RowDescription {
                description,
                formats,
                ..
            } => {
                self.finish_current();
                self.current = Some(QueryResult {
                    columns: columns_of(description, formats),
                    returns_rows: true,
                    ..QueryResult::default()
                });
            }
            Event::DataRow { row, formats, .. } => {
                let preset = &self.preset;
                let current = self.current.get_or_insert_with(|| match preset {
                    Some(columns) => QueryResult {
                        columns: Arc::clone(columns),
                        returns_rows: true,
                        ..QueryResult::default()
                    },
                    None => QueryResult::default(),
                });
                // The formats of the rows are the request's; fix columns described
                // before the Bind chose them (checked on a result's first row).
                let first = self.batch.is_empty() && current.rows.is_empty();
                let stale = first
                    && current
                        .columns
                        .iter()
                        .enumerate()
                        .any(|(i, c)| c.format() != formats.get(i));
                if stale {
                    current.columns = current
                        .columns
                        .iter()
                        .enumerate()
                        .map(|(i, c)| c.with_format(formats.get(i)))
                        .collect();
                }
                // Checked when the columns are known (a portal fetched again
                // has none here: its caller holds them).
                let expected = current.columns.len();
                if expected != 0 && expected != row.len() && self.mismatch.is_none() {
                    self.mismatch = Some((expected, row.len()));
                }
                self.batch.push(row);
            }
            Event::CommandComplete { tag, .. } => {
                let current = self.current.get_or_insert_with(QueryResult::default);
                current.tag = (*tag).to_owned();
                self.finish_current();
            }
            Event::EmptyQuery { .. } => {
                self.finish_current();
                self.results.push(QueryResult::default());
            }
            Event::ServerError { error, .. } => {
                self.flush_rows();
                if self.error.is_none() {
                    self.error = Some(ServerError::from_fields(error));
                }
            }
            Event::Skipped { .. } => self.skipped = true,
            Event::CopyInStart { .. } | Event::CopyOutStart { .. } => self.copy = true,
            Event::Done { .. } => {
                self.finish_current();
                return true;
            }
            _ => {}
        }
        false
    }

    /// Whether the request started a COPY (which a query call cannot serve).
    pub fn saw_copy(&self) -> bool {
        self.copy
    }

    fn flush_rows(&mut self) {
        if let Some(current) = &mut self.current {
            if !self.batch.is_empty() {
                let columns = Arc::clone(&current.columns);
                self.batch.drain_into(&columns, &mut current.rows);
            }
        }
    }

    fn finish_current(&mut self) {
        self.flush_rows();
        if let Some(current) = self.current.take() {
            self.results.push(current);
        }
    }

    /// The statements' results, or the request's error.
    pub fn finish(self) -> core::result::Result<Vec<QueryResult>, CollectError> {
        if let Some(e) = self.error {
            return Err(CollectError::Server(e));
        }
        if self.skipped {
            return Err(CollectError::Skipped);
        }
        if let Some((expected, found)) = self.mismatch {
            return Err(CollectError::ColumnCount { expected, found });
        }
        Ok(self.results)
    }
}

#[cfg(test)]
mod tests {
    use super::rows_affected;

    #[test]
    fn tags_give_row_counts() {
        assert_eq!(rows_affected("INSERT 0 5"), Some(5));
        assert_eq!(rows_affected("SELECT 3"), Some(3));
        assert_eq!(rows_affected("CREATE TABLE"), None);
    }
}
