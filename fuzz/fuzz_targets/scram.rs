//! SCRAM server-first and server-final parsing on arbitrary bytes.
#![no_main]

use hyperwire_proto::auth::{ScramBinding, ScramClient};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0xff).unwrap_or(data.len());
    let (first, fin) = data.split_at(split);
    let mut c = ScramClient::new(
        b"pw",
        "abcdefghijklmnopqrstuvwx".into(),
        ScramBinding::Unsupported,
    );
    c.set_max_iterations(64);
    if c.handle_server_first(first, None).is_ok() {
        let _ = c.handle_server_final(fin);
    }
    let mut c = ScramClient::new(
        b"pw",
        "abcdefghijklmnopqrstuvwx".into(),
        ScramBinding::Unsupported,
    );
    assert!(c.handle_server_final(data).is_err());
    assert!(!c.is_verified());
});
