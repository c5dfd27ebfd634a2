//! Structured: interleaves request calls (simple, extended, pipelined, COPY, abandon)
//! with server messages (well-formed ones from a menu, arbitrary frames, raw bytes).
//!
//! The machine's contract, checked after every step:
//! - no panic;
//! - nothing after `Fatal`, and a fatal machine refuses requests with the same error;
//! - an event names only a request that was issued, is not `Done`, and was not
//!   abandoned; `Done` comes once per request;
//! - every request ends: whenever the machine is healthy and owes no response, every
//!   request issued (and not abandoned) has had its `Done`; after the server's EOF the
//!   machine is fatal.
#![no_main]

use arbitrary::Arbitrary;
use hyperwire_proto::testing::{
    auth_ok, complete, copy_data, copy_response, data_row, empty, fields, key, msg, notice,
    notification, param, param_desc, ready, row_desc_with,
};
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
    Prepare,
    ExecuteDescribed,
    CloseStatement,
    Sync,
    Flush,
    Abandon(u8),
    CopyData,
    CopyDone,
    CopyFail,
    /// A well-formed server message from a menu.
    Canned(Canned),
    /// A frame of this type with this body.
    Server {
        tag: u8,
        body: Vec<u8>,
    },
    /// Raw bytes.
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Canned {
    ParseComplete,
    BindComplete,
    CloseComplete,
    NoData,
    ParameterDescription,
    RowDescription,
    DataRow,
    DataRowNull,
    CommandComplete,
    EmptyQuery,
    PortalSuspended,
    Error,
    ReadyIdle,
    ReadyInTransaction,
    ReadyFailed,
    CopyInResponse,
    CopyOutResponse,
    CopyData,
    CopyDone,
    Notice,
    Notification,
    ParameterStatus,
}

fn canned(c: Canned) -> Vec<u8> {
    match c {
        Canned::ParseComplete => empty(b'1'),
        Canned::BindComplete => empty(b'2'),
        Canned::CloseComplete => empty(b'3'),
        Canned::NoData => empty(b'n'),
        Canned::ParameterDescription => param_desc(&[23]),
        Canned::RowDescription => row_desc_with(&[("c", 23, 4, 0)]),
        Canned::DataRow => data_row(&[Some(b"1")]),
        Canned::DataRowNull => data_row(&[None]),
        Canned::CommandComplete => complete("SELECT 1"),
        Canned::EmptyQuery => empty(b'I'),
        Canned::PortalSuspended => empty(b's'),
        Canned::Error => fields(
            b'E',
            &[(b'S', "ERROR"), (b'C', "22012"), (b'M', "division by zero")],
        ),
        Canned::ReadyIdle => ready(b'I'),
        Canned::ReadyInTransaction => ready(b'T'),
        Canned::ReadyFailed => ready(b'E'),
        Canned::CopyInResponse => copy_response(b'G', 1),
        Canned::CopyOutResponse => copy_response(b'H', 1),
        Canned::CopyData => copy_data(b"1\n"),
        Canned::CopyDone => empty(b'c'),
        Canned::Notice => notice("hi"),
        Canned::Notification => notification(7, "ch", "payload"),
        Canned::ParameterStatus => param("TimeZone", "UTC"),
    }
}

struct Contract {
    /// Issued, not abandoned, no `Done` yet.
    open: BTreeSet<RequestId>,
    /// Issued at some point.
    issued: Vec<RequestId>,
    abandoned: BTreeSet<RequestId>,
    done: BTreeSet<RequestId>,
    fatal: bool,
}

impl Contract {
    fn issued(&mut self, r: Result<RequestId, hyperwire_proto::Error>) {
        match r {
            Ok(id) => {
                assert!(!self.fatal, "a fatal machine accepted a request");
                assert!(!self.done.contains(&id) && !self.open.contains(&id));
                self.open.insert(id);
                self.issued.push(id);
            }
            Err(_) => {}
        }
    }

    fn poll(&mut self, p: &mut Protocol) {
        let n = p.pending_send().len();
        p.advance_send(n);
        while let Some(ev) = p.poll_event() {
            assert!(!self.fatal, "an event after Fatal: {ev:?}");
            if let Some(r) = ev.request() {
                assert!(
                    self.open.contains(&r),
                    "event for a request that is not open: {ev:?} (done: {}, abandoned: {})",
                    self.done.contains(&r),
                    self.abandoned.contains(&r)
                );
            }
            match ev {
                Event::Fatal(_) => self.fatal = true,
                Event::Done { request } => {
                    self.open.remove(&request);
                    self.done.insert(request);
                }
                _ => {}
            }
        }
        if self.fatal {
            assert!(!p.is_healthy());
            assert!(
                p.query("SELECT 1").is_err(),
                "a fatal machine took a request"
            );
        } else if p.is_healthy() && p.pending_responses() == 0 && !p.in_copy_in() {
            assert!(
                self.open.is_empty(),
                "requests never ended: {:?}",
                self.open
            );
        }
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let mut s = Settings::new("fuzz");
    s.drain_budget(32).max_message_size(1 << 16);
    let mut p = Protocol::new(s);
    let n = p.pending_send().len();
    p.advance_send(n);
    p.receive(&auth_ok());
    p.receive(&key(1, &[0, 0, 0, 2]));
    p.receive(&ready(b'I'));
    while p.poll_event().is_some() {}
    assert!(p.is_ready());

    let mut c = Contract {
        open: BTreeSet::new(),
        issued: Vec::new(),
        abandoned: BTreeSet::new(),
        done: BTreeSet::new(),
        fatal: false,
    };
    for op in ops {
        match op {
            Op::Query => c.issued(p.query("SELECT 1")),
            Op::Extended { sync, max_rows } => {
                let b = p
                    .request()
                    .bind("", "", &[], &[], &[])
                    .execute("", u32::from(max_rows));
                c.issued(if sync { b.sync() } else { b }.finish());
            }
            Op::Prepare => c.issued(p.prepare("s1", "SELECT $1::int4", &[23])),
            Op::ExecuteDescribed => c.issued(
                p.request()
                    .parse("", "SELECT 1", &[])
                    .bind("", "", &[], &[], &[])
                    .describe_portal("")
                    .execute("", 0)
                    .sync()
                    .finish(),
            ),
            Op::CloseStatement => c.issued(p.request().close_statement("s1").sync().finish()),
            Op::Sync => c.issued(p.sync()),
            Op::Flush => drop(p.flush()),
            Op::Abandon(i) => {
                if let Some(id) = c
                    .issued
                    .get(usize::from(i) % c.issued.len().max(1))
                    .copied()
                {
                    if p.abandon(id) && !c.abandoned.contains(&id) {
                        assert!(c.open.remove(&id), "abandoned a request not open: {id:?}");
                        c.abandoned.insert(id);
                    }
                }
            }
            Op::CopyData => drop(p.copy_data(b"1\n")),
            Op::CopyDone => drop(p.copy_done()),
            Op::CopyFail => drop(p.copy_fail("no")),
            Op::Canned(m) => p.receive(&canned(m)),
            Op::Server { tag, body } => p.receive(&msg(tag, &body)),
            Op::Raw(bytes) => p.receive(&bytes),
        }
        c.poll(&mut p);
    }
    p.recv_eof();
    c.poll(&mut p);
    assert!(c.fatal, "EOF did not make the machine fatal");
});
