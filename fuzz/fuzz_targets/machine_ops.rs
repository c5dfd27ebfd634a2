//! Structured: interleaves request calls with server messages. Contract: no panic,
//! every request ends (Done) unless the machine goes Fatal, nothing after Fatal.
#![no_main]

use arbitrary::Arbitrary;
use hyperwire_proto::{Event, Protocol, RequestId, Settings};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;

#[derive(Arbitrary, Debug)]
enum Op {
    Query,
    Extended {
        sync: bool,
        max_rows: u8,
    },
    Sync,
    Abandon(u8),
    CopyData,
    CopyDone,
    CopyFail,
    /// A well-formed server message of this type with this body.
    Server {
        tag: u8,
        body: Vec<u8>,
    },
    /// Raw bytes.
    Raw(Vec<u8>),
}

fn frame(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    v.extend_from_slice(body);
    v
}

fuzz_target!(|ops: Vec<Op>| {
    let mut s = Settings::new("fuzz");
    s.drain_budget(32).max_message_size(1 << 16);
    let mut p = Protocol::new(s);
    let n = p.pending_send().len();
    p.advance_send(n);
    p.receive(&frame(b'R', &[0, 0, 0, 0]));
    p.receive(&frame(b'Z', b"I"));
    while p.poll_event().is_some() {}

    let mut open: BTreeSet<RequestId> = BTreeSet::new();
    let mut all: Vec<RequestId> = Vec::new();
    let mut fatal = false;
    for op in ops {
        match op {
            Op::Query => {
                if let Ok(id) = p.query("SELECT 1") {
                    open.insert(id);
                    all.push(id);
                }
            }
            Op::Extended { sync, max_rows } => {
                let b = p
                    .request()
                    .bind("", "", &[], &[], &[])
                    .execute("", u32::from(max_rows));
                if let Ok(id) = if sync { b.sync() } else { b }.finish() {
                    open.insert(id);
                    all.push(id);
                }
            }
            Op::Sync => {
                if let Ok(id) = p.sync() {
                    open.insert(id);
                    all.push(id);
                }
            }
            Op::Abandon(i) => {
                if let Some(id) = all.get(usize::from(i) % all.len().max(1)).copied() {
                    if p.abandon(id) {
                        open.remove(&id);
                    }
                }
            }
            Op::CopyData => drop(p.copy_data(b"1\n")),
            Op::CopyDone => drop(p.copy_done()),
            Op::CopyFail => drop(p.copy_fail("no")),
            Op::Server { tag, body } => p.receive(&frame(tag, &body)),
            Op::Raw(bytes) => p.receive(&bytes),
        }
        let n = p.pending_send().len();
        p.advance_send(n);
        while let Some(ev) = p.poll_event() {
            assert!(!fatal, "an event after Fatal");
            match ev {
                Event::Fatal(_) => fatal = true,
                Event::Done { request } => {
                    assert!(
                        open.remove(&request),
                        "Done for a request not open: {request:?}"
                    );
                }
                _ => {}
            }
        }
    }
    if !fatal && p.is_healthy() && p.pending_responses() == 0 && !p.in_copy_in() {
        assert!(open.is_empty(), "requests never ended: {open:?}");
    }
});
