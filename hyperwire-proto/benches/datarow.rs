//! Decoding 1,000,000 DataRows (int8, text, float8) through `Protocol::poll_event`,
//! beside postgres-protocol's `Message::parse` on the same bytes.
//!
//! Run: `cargo bench -p hyperwire-proto --bench datarow`. Criterion reports time per
//! iteration (divide by 1,000,000 for ns/row) and throughput in bytes/s.
#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use hyperwire_proto::testing::{auth_ok, cat, data_row, ready};
use hyperwire_proto::{Event, Protocol, Settings};

const ROWS: usize = 1_000_000;

/// The result of `SELECT i::int8, ('row'||i)::text, (i*0.5)::float8` in binary format.
fn rows() -> Vec<u8> {
    let mut out = Vec::with_capacity(ROWS * 48);
    for i in 0..ROWS {
        out.extend(data_row(&[
            Some(&(i as i64).to_be_bytes()),
            Some(format!("row{i}").as_bytes()),
            Some(&(i as f64 * 0.5).to_be_bytes()),
        ]));
    }
    out
}

fn ready_machine() -> Protocol {
    let mut p = Protocol::new(Settings::new("bench"));
    let n = p.pending_send().len();
    p.advance_send(n);
    p.receive(&cat(&[auth_ok(), ready(b'I')]));
    while p.poll_event().is_some() {}
    // The rows answer an Execute (the Bind's answer is not part of the measurement).
    p.request().execute("", 0).finish().unwrap();
    assert!(p.poll_event().is_none());
    p
}

fn bench(c: &mut Criterion) {
    let data = rows();
    let mut group = c.benchmark_group("datarow_1m");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(data.len() as u64));

    group.bench_function("hyperwire_poll_event", |b| {
        b.iter_batched(
            || {
                let mut p = ready_machine();
                p.receive(&data);
                p
            },
            |mut p| {
                let mut sum = 0usize;
                let mut rows = 0usize;
                while let Some(ev) = p.poll_event() {
                    if let Event::DataRow { row, .. } = ev {
                        for col in row.columns() {
                            sum += col.map_or(0, <[u8]>::len);
                        }
                        rows += 1;
                    }
                }
                assert_eq!(rows, ROWS);
                black_box(sum)
            },
            BatchSize::PerIteration,
        )
    });

    group.bench_function("postgres_protocol_parse", |b| {
        use fallible_iterator::FallibleIterator;
        use postgres_protocol::message::backend::Message;
        b.iter_batched(
            || BytesMut::from(&data[..]),
            |mut buf| {
                let mut sum = 0usize;
                let mut rows = 0usize;
                while let Some(m) = Message::parse(&mut buf).unwrap() {
                    if let Message::DataRow(body) = m {
                        let bytes = body.buffer();
                        let mut ranges = body.ranges();
                        while let Some(r) = ranges.next().unwrap() {
                            sum += r.map_or(0, |r| bytes[r].len());
                        }
                        rows += 1;
                    }
                }
                assert_eq!(rows, ROWS);
                black_box(sum)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
