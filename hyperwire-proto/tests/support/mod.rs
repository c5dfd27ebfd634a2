//! Test-only helpers: a server-side encoder for backend messages, a client-message
//! splitter, and a driver that runs a transcript through a `Protocol`.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

use hyperwire_proto::{Event, Protocol, Settings};

pub use hyperwire_proto::testing::*;

/// Splits client bytes into (tag, body) messages; startup-phase packets (no tag) are
/// returned with tag 0.
pub fn split_client(mut bytes: &[u8], startup_first: bool) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    if startup_first && bytes.len() >= 4 {
        let len = i32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
        out.push((0, bytes[4..len].to_vec()));
        bytes = &bytes[len..];
    }
    while bytes.len() >= 5 {
        let tag = bytes[0];
        let len = i32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize;
        out.push((tag, bytes[5..1 + len].to_vec()));
        bytes = &bytes[1 + len..];
    }
    assert!(bytes.is_empty(), "trailing partial client message");
    out
}

/// Drains events as strings (their Debug form), stopping after Fatal.
pub fn drain(p: &mut Protocol) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(ev) = p.poll_event() {
        out.push(format!("{ev:?}"));
    }
    out
}

/// Takes every pending client byte.
pub fn take_sent(p: &mut Protocol) -> Vec<u8> {
    let v = p.pending_send().to_vec();
    p.advance_send(v.len());
    v
}

/// Feeds `bytes` in the given chunk sizes (cycled), draining events after each.
pub fn feed_chunked(p: &mut Protocol, bytes: &[u8], chunks: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < bytes.len() {
        let n = chunks
            .get(k % chunks.len().max(1))
            .copied()
            .unwrap_or(bytes.len())
            .max(1)
            .min(bytes.len() - i);
        k += 1;
        let buf = p.recv_buf(n);
        buf[..n].copy_from_slice(&bytes[i..i + n]);
        p.recv_commit(n);
        i += n;
        out.extend(drain(p));
    }
    out
}

/// A machine that finished a trust startup, with its startup bytes taken.
pub fn ready_machine() -> Protocol {
    let mut p = Protocol::new(Settings::new("alice"));
    take_sent(&mut p);
    p.receive(&trust_startup());
    let evs = drain(&mut p);
    assert!(
        evs.last().unwrap().starts_with("StartupComplete"),
        "{evs:?}"
    );
    p
}

/// True if `events` contains one matching `pat` (substring of the Debug form).
pub fn has(events: &[String], pat: &str) -> bool {
    events.iter().any(|e| e.contains(pat))
}

pub fn deterministic_nonce(p: &mut Protocol, nonce: [u8; 18]) {
    p.set_nonce_source(Box::new(move |buf: &mut [u8]| {
        for (d, s) in buf.iter_mut().zip(nonce.iter().cycle()) {
            *d = *s;
        }
    }));
}

/// Keeps a compile-time reference to Event so the import is used in every test crate.
pub fn is_fatal(ev: &Event<'_>) -> bool {
    matches!(ev, Event::Fatal(_))
}
