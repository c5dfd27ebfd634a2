//! The conninfo/URL parser and the password-file parser on arbitrary text.
#![no_main]

use hyperwire_proto::config::{lookup_password, Config};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(mut c) = Config::parse(s) {
        let _ = c.validate();
        let _ = c.startup_params();
        // A marker no input can contain by accident (parsing is done).
        c.password("\u{1}hyperwire-secret-marker\u{2}");
        assert!(
            !format!("{c:?}").contains("hyperwire-secret-marker"),
            "password in Debug output"
        );
    }
    let _ = lookup_password(s, "localhost", 5432, "db", "user");
});
