//! The machine fed arbitrary server bytes in several states, in arbitrary chunks.
//! Contract: no panic, nothing after Fatal, and a fatal machine refuses requests.
#![no_main]

use hyperwire_proto::{Event, Protocol, Settings, TlsPlan};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut s = Settings::new("fuzz");
    s.password("pw").max_message_size(1 << 16).drain_budget(64);
    if mode & 1 == 1 {
        s.tls(TlsPlan::Prefer);
    }
    let mut p = Protocol::new(s);
    p.set_nonce_source(Box::new(|b: &mut [u8]| b.fill(7)));
    let mut fatal = false;
    for (i, chunk) in rest.chunks(usize::from(mode >> 2).max(1)).enumerate() {
        let n = p.pending_send().len();
        p.advance_send(n);
        p.receive(chunk);
        while let Some(ev) = p.poll_event() {
            assert!(!fatal, "an event after Fatal");
            fatal = matches!(ev, Event::Fatal(_));
        }
        if p.is_ready() && i % 3 == 0 {
            let _ = p.query("SELECT 1");
            let _ = p
                .request()
                .parse("", "x", &[])
                .bind("", "", &[], &[], &[])
                .execute("", 1)
                .sync()
                .finish();
        }
        if p.in_copy_in() {
            let _ = p.copy_data(b"x");
            let _ = p.copy_done();
        }
    }
    p.recv_eof();
    while let Some(ev) = p.poll_event() {
        assert!(!fatal, "an event after Fatal");
        fatal = matches!(ev, Event::Fatal(_));
    }
    if fatal {
        assert!(p.query("SELECT 1").is_err());
    }
});
