//! The decoder and encoder on their own: any chunking, bounds, hostile bytes.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema};
use hyperwire_arrow::{ArrowStreamDecoder, ArrowStreamEncoder, Error};

fn batches() -> (Arc<Schema>, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("i", DataType::Int64, false),
        Field::new("t", DataType::Utf8, true),
    ]));
    let out = (0..3)
        .map(|b| {
            let i: ArrayRef = Arc::new(Int64Array::from_iter_values(b * 10..b * 10 + 10));
            let t: ArrayRef = Arc::new(StringArray::from_iter(
                (0..10).map(|k| (k % 3 != 0).then(|| format!("v{b}-{k}"))),
            ));
            RecordBatch::try_new(schema.clone(), vec![i, t]).unwrap()
        })
        .collect();
    (schema, out)
}

fn stream() -> Vec<u8> {
    let (schema, batches) = batches();
    let mut enc = ArrowStreamEncoder::new(&schema).unwrap();
    let mut bytes = enc.take_pending();
    for b in &batches {
        enc.write_batch(b).unwrap();
        bytes.extend(enc.take_pending());
    }
    enc.finish().unwrap();
    bytes.extend(enc.take_pending());
    assert!(matches!(enc.write_batch(&batches[0]), Err(Error::Finished)));
    bytes
}

fn decode_chunked(bytes: &[u8], size: usize) -> Result<Vec<RecordBatch>, Error> {
    let mut dec = ArrowStreamDecoder::new();
    let mut got = Vec::new();
    for chunk in bytes.chunks(size) {
        dec.feed(chunk)?;
        while let Some(b) = dec.next_batch()? {
            got.push(b);
        }
    }
    dec.finish()?;
    Ok(got)
}

#[test]
fn any_chunking_gives_the_same_batches() {
    let bytes = stream();
    let (_, want) = batches();
    for size in [1, 2, 3, 7, 8, 64, 1000, bytes.len()] {
        assert_eq!(decode_chunked(&bytes, size).unwrap(), want, "chunk {size}");
    }
}

#[test]
fn truncation_anywhere_is_an_error_never_a_panic() {
    // hyperd ends its streams without the end-of-stream marker, so a cut between
    // two messages is a shorter stream; a cut anywhere else is an error.
    let bytes = stream();
    let (_, want) = batches();
    let mut accepted = 0;
    for cut in 0..bytes.len() {
        if let Ok(got) = decode_chunked(&bytes[..cut], 5) {
            assert_eq!(got[..], want[..got.len()], "cut at {cut}");
            accepted += 1;
        }
    }
    // Empty, after the schema, and after each of the three batches.
    assert_eq!(accepted, 5);
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = stream();
    bytes.push(0);
    assert!(matches!(
        decode_chunked(&bytes, 64),
        Err(Error::TrailingData)
    ));
}

#[test]
fn a_huge_declared_length_is_refused_before_buffering() {
    // Framing errors surface at feed, before anything is reserved.
    let mut dec = ArrowStreamDecoder::new().with_max_message_len(1024);
    assert!(matches!(
        dec.feed(&[0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x7f]),
        Err(Error::MessageTooLarge { max: 1024, .. })
    ));
    assert!(matches!(dec.next_batch(), Err(Error::Finished)));
    assert!(matches!(dec.feed(&[0]), Err(Error::Finished)));
    let mut dec = ArrowStreamDecoder::new();
    assert!(matches!(
        dec.feed(&[0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x80]),
        Err(Error::Malformed(_))
    ));
}

#[test]
fn corrupted_streams_never_panic() {
    let bytes = stream();
    // Flip each byte in turn (a cheap deterministic fuzz): an error or some
    // batches are both fine; the test thread must never unwind. arrow-ipc panics on
    // some malformed schemas (unknown types): the decoder catches those and
    // reports Error::Panicked.
    let mut caught = 0;
    for i in 0..bytes.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= x;
            if let Err(Error::Panicked) = decode_chunked(&b, 13) {
                caught += 1;
            }
        }
    }
    assert!(caught < bytes.len(), "{caught} caught panics");
}

#[test]
fn a_batch_of_another_schema_is_refused() {
    let (schema, batches) = batches();
    let other = Schema::new(vec![Field::new("i", DataType::Int64, true)]);
    let mut enc = ArrowStreamEncoder::new(&other).unwrap();
    assert!(matches!(
        enc.write_batch(&batches[0]),
        Err(Error::SchemaMismatch)
    ));
    let _ = schema;
}
