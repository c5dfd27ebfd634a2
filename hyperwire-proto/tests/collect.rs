//! The result collector: rows of a cached statement (executed without Describe,
//! so the machine cannot check them) must match the statement's columns.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use hyperwire_proto::result::{CollectError, Collector};
use hyperwire_proto::{Protocol, Settings};
use support::*;

fn collect(p: &mut Protocol, mut c: Collector) -> Result<usize, CollectError> {
    while let Some(ev) = p.poll_event() {
        if c.on_event(&ev) {
            break;
        }
    }
    c.finish().map(|r| r.iter().map(|q| q.rows.len()).sum())
}

#[test]
fn rows_of_a_cached_statement_must_match_its_columns() {
    let mut p = Protocol::new(Settings::new("alice"));
    p.receive(&trust_startup());
    drain(&mut p);
    // Learn two columns from a described query.
    p.query("SELECT 1, 2").unwrap();
    p.receive(&cat(&[
        row_desc(&[("a", 23), ("b", 23)]),
        data_row(&[Some(b"1"), Some(b"2")]),
        complete("SELECT 1"),
        ready(b'I'),
    ]));
    let mut columns = None;
    while let Some(ev) = p.poll_event() {
        if let hyperwire_proto::Event::RowDescription {
            description,
            formats,
            ..
        } = &ev
        {
            columns = Some(hyperwire_proto::result::columns_of(description, formats));
        }
    }
    let columns = columns.unwrap();
    // The cached statement runs without Describe; the server answers one column.
    for (cols, expect) in [(1usize, false), (2, true)] {
        p.request()
            .bind("", "s1", &[], &[], &[])
            .execute("", 0)
            .sync()
            .finish()
            .unwrap();
        let row: Vec<Option<&[u8]>> = (0..cols).map(|_| Some(&b"7"[..])).collect();
        p.receive(&cat(&[
            empty(b'2'),
            data_row(&row),
            complete("SELECT 1"),
            ready(b'I'),
        ]));
        let r = collect(&mut p, Collector::with_columns(columns.clone()));
        match (r, expect) {
            (Ok(1), true) => {}
            (
                Err(CollectError::ColumnCount {
                    expected: 2,
                    found: 1,
                }),
                false,
            ) => {}
            (other, _) => panic!("{cols} columns: {other:?}"),
        }
        assert!(p.is_healthy());
    }
}
