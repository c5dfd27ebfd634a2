//! The machine brought into a chosen state by a scripted, well-formed startup and
//! conversation, then fed arbitrary server bytes.
//!
//! States: ready (idle), mid-result of a simple query, mid-rows of an Execute,
//! COPY IN, COPY OUT, a pipeline of several requests half answered, inside a
//! transaction, between AuthenticationOk and ReadyForQuery, and inside SCRAM.
//!
//! Contract: no panic; nothing after `Fatal`; an event names only a request that is
//! open (issued and not yet `Done`); `Done` once per request; after the server's EOF
//! every request has ended or the machine is fatal; a fatal machine refuses new
//! requests. And invariant 3: the same bytes in one piece and in arbitrary chunks
//! give the same events.
#![no_main]

use std::collections::BTreeSet;

use hyperwire_proto::testing::{
    auth_ok, complete, copy_data, copy_response, data_row, empty, key, param, ready, row_desc_with,
    sasl,
};
use hyperwire_proto::{Event, Protocol, RequestId, Settings};
use libfuzzer_sys::fuzz_target;

/// The one column of the scripted results: `c0 int4`.
const INT4_COLUMN: &[(&str, u32, i16, i16)] = &[("c0", 23, 4, 0)];

/// What the scripted conversation leaves open.
struct Scene {
    p: Protocol,
    open: BTreeSet<RequestId>,
}

fn drain(p: &mut Protocol) {
    let n = p.pending_send().len();
    p.advance_send(n);
    while p.poll_event().is_some() {}
}

/// Brings a fresh machine into state `state`, returning `None` if the script itself
/// failed (a bug: the script is well-formed).
fn scene(state: u8) -> Scene {
    let mut s = Settings::new("fuzz");
    s.password("pw").max_message_size(1 << 16).drain_budget(64);
    let mut p = Protocol::new(s);
    p.set_nonce_source(Box::new(|b: &mut [u8]| b.fill(7)));
    drain(&mut p);
    let mut open = BTreeSet::new();
    match state % 9 {
        // Inside SCRAM: AuthenticationSASL answered, server-first expected.
        7 => {
            p.receive(&sasl(&["SCRAM-SHA-256"]));
            drain(&mut p);
            assert!(p.is_healthy(), "script: SASL");
            return Scene { p, open };
        }
        // AuthenticationOk seen; parameters and the key until ReadyForQuery.
        8 => {
            p.receive(&auth_ok());
            p.receive(&param("server_version", "15.0"));
            drain(&mut p);
            assert!(p.is_healthy(), "script: auth ok");
            return Scene { p, open };
        }
        _ => {}
    }
    p.receive(&auth_ok());
    p.receive(&param("server_version", "15.0"));
    p.receive(&key(42, &[1, 2, 3, 4]));
    p.receive(&ready(b'I'));
    drain(&mut p);
    assert!(p.is_ready(), "script: startup");
    let mut add = |r: Result<RequestId, hyperwire_proto::Error>| {
        if let Ok(id) = r {
            open.insert(id);
        }
    };
    match state % 9 {
        // Ready, nothing pending.
        0 => {}
        // Mid-result of a simple query: RowDescription and a row seen.
        1 => {
            let r = p.query("SELECT 1");
            add(r);
            p.receive(&row_desc_with(INT4_COLUMN));
            p.receive(&data_row(&[Some(b"1")]));
        }
        // Mid-rows of an extended Execute (portal with max_rows).
        2 => {
            let r = p
                .request()
                .parse("", "SELECT g FROM t", &[])
                .bind("", "", &[], &[], &[])
                .describe_portal("")
                .execute("", 10)
                .sync()
                .finish();
            add(r);
            p.receive(&empty(b'1'));
            p.receive(&empty(b'2'));
            p.receive(&row_desc_with(INT4_COLUMN));
            p.receive(&data_row(&[Some(b"7")]));
        }
        // COPY FROM STDIN, the caller sending data.
        3 => {
            let r = p.query("COPY t FROM STDIN");
            add(r);
            p.receive(&copy_response(b'G', 1));
            drain(&mut p);
            let _ = p.copy_data(b"1\n");
        }
        // COPY TO STDOUT, data arriving.
        4 => {
            let r = p.query("COPY t TO STDOUT");
            add(r);
            p.receive(&copy_response(b'H', 1));
            p.receive(&copy_data(b"1\n"));
        }
        // A pipeline: simple query, prepare, execute, a sync; the first half answered.
        5 => {
            let r = p.query("SELECT 1");
            add(r);
            let r = p.prepare("s1", "SELECT $1::int4", &[23]);
            add(r);
            let r = p
                .request()
                .bind("", "s1", &[], &[], &[])
                .execute("", 0)
                .finish();
            add(r);
            let r = p.sync();
            add(r);
            p.receive(&row_desc_with(INT4_COLUMN));
            p.receive(&data_row(&[Some(b"1")]));
            p.receive(&complete("SELECT 1"));
            p.receive(&ready(b'I'));
            p.receive(&empty(b'1'));
        }
        // Inside a failed transaction, a query pending.
        6 => {
            let r = p.query("BEGIN");
            add(r);
            p.receive(&complete("BEGIN"));
            p.receive(&ready(b'E'));
            let r = p.query("SELECT 1");
            add(r);
        }
        _ => {}
    }
    // Take the scripted events out: Done for what finished.
    let n = p.pending_send().len();
    p.advance_send(n);
    while let Some(ev) = p.poll_event() {
        match ev {
            Event::Done { request } => {
                open.remove(&request);
            }
            Event::Fatal(e) => panic!("script went fatal: {e}"),
            _ => {}
        }
    }
    Scene { p, open }
}

/// Feeds `bytes` in chunks of `chunk` (0: one piece), then EOF; checks the contract
/// and returns the events as text.
fn run(state: u8, bytes: &[u8], chunk: usize) -> Vec<String> {
    let Scene { mut p, mut open } = scene(state);
    let mut done = BTreeSet::new();
    let mut log = Vec::new();
    let mut fatal = false;
    let mut check = |p: &mut Protocol, log: &mut Vec<String>| {
        let n = p.pending_send().len();
        p.advance_send(n);
        while let Some(ev) = p.poll_event() {
            assert!(!fatal, "an event after Fatal: {ev:?}");
            if let Some(r) = ev.request() {
                // RequestId(u64::MAX) marks events tied to no request.
                if r.get() != u64::MAX {
                    assert!(!done.contains(&r), "event after Done: {ev:?}");
                    assert!(open.contains(&r), "event for an unknown request: {ev:?}");
                }
            }
            match &ev {
                Event::Fatal(_) => fatal = true,
                Event::Done { request } => {
                    open.remove(request);
                    done.insert(*request);
                }
                _ => {}
            }
            log.push(format!("{ev:?}"));
        }
    };
    if chunk == 0 {
        p.receive(bytes);
        check(&mut p, &mut log);
    } else {
        for piece in bytes.chunks(chunk) {
            p.receive(piece);
            check(&mut p, &mut log);
        }
    }
    p.recv_eof();
    check(&mut p, &mut log);
    assert!(fatal, "EOF did not make the machine fatal");
    assert!(!p.is_healthy());
    assert!(
        p.query("SELECT 1").is_err(),
        "a fatal machine took a request"
    );
    log
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, bytes)) = data.split_first() else {
        return;
    };
    let state = mode & 0x0f;
    let chunk = usize::from(mode >> 4) + 1;
    let whole = run(state, bytes, 0);
    let pieces = run(state, bytes, chunk);
    assert_eq!(whole, pieces, "chunking changed the events");
});
