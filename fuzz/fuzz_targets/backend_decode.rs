//! The backend decoder on arbitrary bytes: only protocol errors may come out.
#![no_main]

use hyperwire_proto::codec::{decode, BackendMessage, Header, HEADER_LEN};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while rest.len() >= HEADER_LEN {
        let mut h = [0u8; HEADER_LEN];
        h.copy_from_slice(&rest[..HEADER_LEN]);
        let Ok(header) = Header::parse(h, 1 << 20) else {
            return;
        };
        let Some(body) = rest.get(HEADER_LEN..HEADER_LEN + header.body_len) else {
            return;
        };
        if let Ok(BackendMessage::DataRow(row)) = decode(header.tag, body) {
            assert_eq!(row.columns().count(), row.len());
        } else if let Ok(BackendMessage::RowDescription(d)) = decode(header.tag, body) {
            assert_eq!(d.fields().count(), d.len());
        }
        rest = &rest[HEADER_LEN + header.body_len..];
    }
});
