//! HYPERBINARY COPY: Hyper's binary bulk format for `COPY ... FROM STDIN` and
//! `COPY ... TO STDOUT` `WITH (FORMAT HYPERBINARY)` (docs/hyper.md §6).
//!
//! A stream is a 19-byte header (the signature `HPRCPY` and five NULs, flags and a
//! header-extension length as big-endian i32s), then rows with no header, count or
//! trailer: per column, a nullable column's 1-byte indicator (`00` a value follows,
//! `01` NULL), then the value in its HyperBinary (format 2) encoding; text, varchar,
//! char(n) (which hyperd types as "char", and sends unpadded here), json and bytea
//! values carry a u32 little-endian length. The stream says nothing of its columns,
//! so both sides need the [`CopySchema`]. Measured on hyperd: every fixed-size
//! type of the value layer (numeric at the column's scale, uuid as a little-endian
//! u128) round-trips through `COPY ... FROM STDIN` and `COPY ... TO STDOUT`.
//!
//! * [`CopyEncoder`] writes the header once, then rows, into a buffer the caller
//!   sends as CopyData chunks of bounded size.
//! * [`CopyDecoder`] takes CopyData chunks split at any byte and yields rows whose
//!   values borrow from it; it never panics and never buffers more than one row
//!   plus what was fed, with a bound on any value's length.

mod decode;
mod encode;
mod error;
mod schema;

pub use decode::{CopyDecoder, CopyRow};
pub use encode::CopyEncoder;
pub use error::CopyError;
pub use schema::{CopyColumn, CopySchema};

/// The stream's signature: `HPRCPY` and five NULs.
pub const SIGNATURE: [u8; 11] = *b"HPRCPY\0\0\0\0\0";

/// The header this crate writes: the signature, flags 0, no header extension.
pub const HEADER: [u8; 19] = *b"HPRCPY\0\0\0\0\0\0\0\0\0\0\0\0\0";

/// The largest value the decoder accepts by default (1 GiB, PostgreSQL's limit for
/// one field).
pub const DEFAULT_MAX_VALUE_LEN: usize = 1 << 30;

/// The default size of the chunks the encoder hands out (64 KiB, what hyperd sends).
pub const DEFAULT_CHUNK_SIZE: usize = 64 * 1024;
