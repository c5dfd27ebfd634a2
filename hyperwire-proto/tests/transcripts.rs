//! Transcript tests: scripted server bytes in, expected events and client bytes out.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use hyperwire_proto::config::{AuthMethod, ChannelBinding, RequireAuth};
use hyperwire_proto::{
    AuthError, DesyncReason, Error, Execute, Format, Protocol, ProtocolError, ProtocolVersion,
    Settings, TlsPlan, TransactionStatus,
};
use support::*;

/// The variant names of the events, e.g. `["DataRow", "Done"]`.
fn kinds(events: &[String]) -> Vec<String> {
    events
        .iter()
        .map(|e| e.split([' ', '(', '{']).next().unwrap().to_string())
        .collect()
}

fn startup_params(sent: &[u8]) -> Vec<String> {
    let msgs = split_client(sent, true);
    let body = &msgs[0].1;
    assert_eq!(&body[..4], &[0, 3, 0, 0]);
    body[4..]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect()
}

#[test]
fn trust_startup_reports_parameters_key_and_ready() {
    let mut s = Settings::new("alice");
    s.param("database", "db").param("options", "-c x=1");
    let mut p = Protocol::new(s);
    let sent = take_sent(&mut p);
    assert_eq!(
        startup_params(&sent),
        ["user", "alice", "database", "db", "options", "-c x=1"]
    );
    assert!(!p.is_ready());
    assert!(
        p.query("SELECT 1").is_err(),
        "no request before the startup ends"
    );
    p.receive(&trust_startup());
    let ev = drain(&mut p);
    assert_eq!(
        kinds(&ev),
        [
            "Authenticated",
            "ParameterStatus",
            "ParameterStatus",
            "BackendKeyData",
            "StartupComplete"
        ]
    );
    assert!(p.is_ready() && p.is_idle());
    assert_eq!(p.parameter("server_version"), Some("15.18"));
    assert_eq!(p.backend_key().unwrap().process_id, 42);
    assert_eq!(p.auth_method(), Some(AuthMethod::None));
    let cancel = p.cancel_request().unwrap();
    assert_eq!(
        cancel.as_bytes(),
        &[0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 42, 1, 2, 3, 4]
    );
}

#[test]
fn cleartext_password_is_sent_when_allowed() {
    let mut s = Settings::new("alice");
    s.password("secret");
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    p.receive(&auth(3, &[]));
    assert!(drain(&mut p).is_empty());
    let sent = split_client(&take_sent(&mut p), false);
    assert_eq!(sent, [(b'p', b"secret\0".to_vec())]);
    p.receive(&trust_startup());
    assert!(has(&drain(&mut p), "StartupComplete"));
    assert_eq!(p.auth_method(), Some(AuthMethod::Password));
}

#[test]
fn md5_password_matches_an_independent_computation() {
    let mut s = Settings::new("alice");
    s.password("secret");
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    p.receive(&auth(5, &[1, 2, 3, 4]));
    assert!(drain(&mut p).is_empty());
    // python3: "md5" + md5(md5(b"secretalice").hexdigest() + b"\x01\x02\x03\x04")
    let expected = b"md598a0412b9c31436fc53776e863350083\0".to_vec();
    assert_eq!(split_client(&take_sent(&mut p), false), [(b'p', expected)]);
}

#[test]
fn missing_password_is_a_clear_error() {
    let mut p = Protocol::new(Settings::new("alice"));
    take_sent(&mut p);
    p.receive(&auth(3, &[]));
    let ev = drain(&mut p);
    assert_eq!(ev.len(), 1);
    assert!(matches!(
        p.error(),
        Some(Error::Auth(AuthError::PasswordMissing))
    ));
    assert!(p.pending_send().is_empty());
}

#[test]
fn require_auth_refuses_cleartext_and_md5_before_sending_anything() {
    for (code, extra) in [(3, vec![]), (5, vec![9, 9, 9, 9])] {
        let mut s = Settings::new("alice");
        s.password("secret")
            .require_auth("scram-sha-256".parse::<RequireAuth>().unwrap());
        let mut p = Protocol::new(s);
        take_sent(&mut p);
        p.receive(&auth(code, &extra));
        let ev = drain(&mut p);
        assert_eq!(kinds(&ev), ["Fatal"]);
        assert!(ev[0].contains("require_auth"), "{ev:?}");
        assert!(p.pending_send().is_empty(), "nothing was sent");
        assert!(!p.is_healthy());
        // Poisoned: the same error forever.
        assert_eq!(p.query("SELECT 1").unwrap_err(), p.error().unwrap().clone());
        assert!(p.poll_event().is_none());
    }
}

#[test]
fn require_auth_none_refused_when_server_skips_authentication() {
    let mut s = Settings::new("alice");
    s.require_auth("!none".parse::<RequireAuth>().unwrap());
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    p.receive(&auth_ok());
    drain(&mut p);
    assert!(matches!(
        p.error(),
        Some(Error::Auth(AuthError::NoAuthentication { .. }))
    ));
}

const NONCE: [u8; 18] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
];
// Computed independently with python3 hashlib/hmac from the RFC 7677 example's
// password ("pencil"), salt and iteration count, with PostgreSQL's empty user name
// and our deterministic nonce (base64 of bytes 1..=18).
const SERVER_FIRST: &str =
    "r=AQIDBAUGBwgJCgsMDQ4PEBES%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const CLIENT_FINAL: &str = "c=biws,r=AQIDBAUGBwgJCgsMDQ4PEBES%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=SvxuOhnzH3pTxk3FMj9aqbBRAjGYxRYBPnF5X1zm+sU=";
const SERVER_FINAL: &str = "v=CISco96RC9u7gAEqmJfhSNSlqiuECE8ob1Dk07keCgg=";

fn scram_machine() -> Protocol {
    let mut s = Settings::new("user");
    s.password("pencil");
    let mut p = Protocol::new(s);
    deterministic_nonce(&mut p, NONCE);
    take_sent(&mut p);
    p
}

#[test]
fn scram_sha_256_full_exchange() {
    let mut p = scram_machine();
    p.receive(&sasl(&["SCRAM-SHA-256"]));
    assert!(drain(&mut p).is_empty());
    let sent = split_client(&take_sent(&mut p), false);
    let mut expected = cstr("SCRAM-SHA-256");
    let first = b"n,,n=,r=AQIDBAUGBwgJCgsMDQ4PEBES";
    expected.extend((first.len() as i32).to_be_bytes());
    expected.extend(first);
    assert_eq!(sent, [(b'p', expected)]);

    p.receive(&auth(11, SERVER_FIRST.as_bytes()));
    assert!(drain(&mut p).is_empty());
    let sent = split_client(&take_sent(&mut p), false);
    assert_eq!(sent, [(b'p', CLIENT_FINAL.as_bytes().to_vec())]);

    p.receive(&auth(12, SERVER_FINAL.as_bytes()));
    p.receive(&trust_startup());
    assert!(has(&drain(&mut p), "StartupComplete"));
    assert_eq!(p.auth_method(), Some(AuthMethod::ScramSha256));
    assert!(p.scram_salted_password().is_some());
}

#[test]
fn scram_cache_reuses_the_salted_password() {
    let mut p = scram_machine();
    p.receive(&sasl(&["SCRAM-SHA-256"]));
    p.receive(&auth(11, SERVER_FIRST.as_bytes()));
    drain(&mut p);
    let cached = p.scram_salted_password().unwrap().clone();

    let mut s = Settings::new("user");
    s.password("pencil").scram_cache(cached);
    let mut q = Protocol::new(s);
    deterministic_nonce(&mut q, NONCE);
    take_sent(&mut q);
    q.receive(&sasl(&["SCRAM-SHA-256"]));
    q.receive(&auth(11, SERVER_FIRST.as_bytes()));
    drain(&mut q);
    let sent = split_client(&take_sent(&mut q), false);
    assert_eq!(sent[1], (b'p', CLIENT_FINAL.as_bytes().to_vec()));
}

#[test]
fn scram_wrong_server_signature_is_fatal() {
    let mut p = scram_machine();
    p.receive(&sasl(&["SCRAM-SHA-256"]));
    p.receive(&auth(11, SERVER_FIRST.as_bytes()));
    drain(&mut p);
    take_sent(&mut p);
    p.receive(&auth(12, b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
    p.receive(&trust_startup());
    let ev = drain(&mut p);
    assert_eq!(
        kinds(&ev),
        ["Fatal"],
        "nothing after the bad signature: {ev:?}"
    );
    assert!(matches!(p.error(), Some(Error::Scram(_))));
    assert!(!p.is_ready());
}

#[test]
fn authentication_ok_before_scram_final_is_fatal() {
    let mut p = scram_machine();
    p.receive(&sasl(&["SCRAM-SHA-256"]));
    p.receive(&auth(11, SERVER_FIRST.as_bytes()));
    p.receive(&trust_startup());
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev), ["Fatal"]);
    assert_eq!(p.error(), Some(&Error::Auth(AuthError::PrematureOk)));
}

#[test]
fn channel_binding_require_refuses_plain_tcp_before_any_secret() {
    let mut s = Settings::new("user");
    s.password("pencil")
        .channel_binding(ChannelBinding::Require);
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    p.receive(&sasl(&["SCRAM-SHA-256"]));
    drain(&mut p);
    assert!(matches!(
        p.error(),
        Some(Error::Auth(AuthError::ChannelBindingRequired(_)))
    ));
    assert!(p.pending_send().is_empty());
}

#[test]
fn scram_plus_offered_without_tls_is_refused() {
    let mut p = scram_machine();
    p.receive(&sasl(&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]));
    drain(&mut p);
    assert!(matches!(
        p.error(),
        Some(Error::Auth(AuthError::ChannelBindingInvalid(_)))
    ));
}

#[test]
fn scram_plus_binds_to_the_tls_certificate_hash() {
    let mut s = Settings::new("user");
    s.password("pencil").tls(TlsPlan::Require);
    let mut p = Protocol::new(s);
    deterministic_nonce(&mut p, NONCE);
    assert_eq!(take_sent(&mut p), [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
    p.receive(b"S");
    assert_eq!(kinds(&drain(&mut p)), ["TlsAnswer"]);
    assert!(p.wants_tls_handshake());
    p.tls_established(Some(vec![0xab; 32])).unwrap();
    take_sent(&mut p);
    p.receive(&sasl(&["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]));
    drain(&mut p);
    let sent = split_client(&take_sent(&mut p), false);
    let body = &sent[0].1;
    assert!(body.starts_with(b"SCRAM-SHA-256-PLUS\0"));
    assert!(body.ends_with(b"p=tls-server-end-point,,n=,r=AQIDBAUGBwgJCgsMDQ4PEBES"));
    assert!(p.channel_bound());
}

#[test]
fn ssl_refused_continues_in_plaintext_under_prefer() {
    let mut s = Settings::new("alice");
    s.tls(TlsPlan::Prefer);
    let mut p = Protocol::new(s);
    assert_eq!(take_sent(&mut p), [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
    p.receive(b"N");
    assert_eq!(kinds(&drain(&mut p)), ["TlsAnswer"]);
    assert_eq!(split_client(&take_sent(&mut p), true)[0].0, 0);
    p.receive(&trust_startup());
    assert!(has(&drain(&mut p), "StartupComplete"));
}

#[test]
fn ssl_refused_is_fatal_under_require() {
    let mut s = Settings::new("alice");
    s.tls(TlsPlan::Require);
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    p.receive(b"N");
    assert_eq!(kinds(&drain(&mut p)), ["Fatal"]);
    assert_eq!(p.error(), Some(&Error::TlsRefused));
    assert!(p.pending_send().is_empty(), "no plaintext startup");
}

#[test]
fn ssl_accept_followed_by_plaintext_bytes_is_fatal() {
    // CVE-2021-23222: bytes after 'S' were not encrypted and may be injected.
    let mut s = Settings::new("alice");
    s.tls(TlsPlan::Require);
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    let mut bytes = b"S".to_vec();
    bytes.extend(auth_ok());
    p.receive(&bytes);
    assert_eq!(kinds(&drain(&mut p)), ["Fatal"]);
    assert_eq!(
        p.error(),
        Some(&Error::Protocol(
            ProtocolError::UnencryptedBytesAfterTlsAnswer
        ))
    );

    // Also when they arrive after the answer was read but before the handshake.
    let mut s = Settings::new("alice");
    s.tls(TlsPlan::Require);
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    p.receive(b"S");
    drain(&mut p);
    p.receive(b"Rxx");
    assert!(p.tls_established(None).is_err());
    assert!(!p.is_healthy());
}

#[test]
fn ssl_answer_other_than_s_or_n_is_fatal() {
    let mut s = Settings::new("alice");
    s.tls(TlsPlan::Prefer);
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    p.receive(b"E");
    drain(&mut p);
    assert_eq!(
        p.error(),
        Some(&Error::Protocol(ProtocolError::BadEncryptionAnswer(b'E')))
    );
}

#[test]
fn negotiate_protocol_version_downgrades_3_2_to_3_0() {
    let mut s = Settings::new("alice");
    s.protocol_versions(ProtocolVersion::V3_0, ProtocolVersion::V3_2);
    let mut p = Protocol::new(s);
    let sent = take_sent(&mut p);
    assert_eq!(&sent[4..8], &[0, 3, 0, 2]);
    let mut body = 0i32.to_be_bytes().to_vec();
    body.extend(1i32.to_be_bytes());
    body.extend(cstr("_pq_.something"));
    p.receive(&msg(b'v', &body));
    p.receive(&trust_startup());
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev)[0], "ProtocolNegotiated");
    assert!(ev[0].contains("_pq_.something"), "{ev:?}");
    assert!(has(&ev, "StartupComplete"));
    assert_eq!(p.protocol_version(), ProtocolVersion::V3_0);
}

#[test]
fn negotiate_protocol_version_as_postgresql_sends_it() {
    // PostgreSQL 15 answers a 3.2 StartupMessage with the whole version code 3.0.
    let mut s = Settings::new("alice");
    s.protocol_versions(ProtocolVersion::V3_0, ProtocolVersion::V3_2);
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    let mut body = 0x0003_0000i32.to_be_bytes().to_vec();
    body.extend(0i32.to_be_bytes());
    p.receive(&cat(&[msg(b'v', &body), trust_startup()]));
    let ev = drain(&mut p);
    assert!(has(&ev, "StartupComplete"), "{ev:?}");
    assert_eq!(p.protocol_version(), ProtocolVersion::V3_0);

    // Another major version is refused.
    let mut s = Settings::new("alice");
    s.protocol_versions(ProtocolVersion::V3_0, ProtocolVersion::V3_2);
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    let mut body = 0x0002_0000i32.to_be_bytes().to_vec();
    body.extend(0i32.to_be_bytes());
    p.receive(&msg(b'v', &body));
    drain(&mut p);
    assert!(matches!(
        p.error(),
        Some(Error::Protocol(ProtocolError::Negotiation(_)))
    ));
}

#[test]
fn negotiate_protocol_version_below_minimum_is_fatal() {
    let mut s = Settings::new("alice");
    s.protocol_versions(ProtocolVersion::V3_2, ProtocolVersion::V3_2);
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    let mut body = 0i32.to_be_bytes().to_vec();
    body.extend(0i32.to_be_bytes());
    p.receive(&msg(b'v', &body));
    drain(&mut p);
    assert!(matches!(
        p.error(),
        Some(Error::Protocol(ProtocolError::Negotiation(_)))
    ));
}

#[test]
fn protocol_3_2_long_cancel_key() {
    let mut s = Settings::new("alice");
    s.protocol_versions(ProtocolVersion::V3_0, ProtocolVersion::V3_2);
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    p.receive(&cat(&[auth_ok(), key(7, &[0x5a; 32]), ready(b'I')]));
    drain(&mut p);
    let c = p.cancel_request().unwrap();
    assert_eq!(c.as_bytes().len(), 16 + 28);
    assert_eq!(&c.as_bytes()[..4], &44i32.to_be_bytes());
}

#[test]
fn silent_close_of_a_3_2_startup_suggests_retrying_with_3_0() {
    let mut s = Settings::new("alice");
    s.protocol_versions(ProtocolVersion::V3_0, ProtocolVersion::V3_2);
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    p.recv_eof();
    assert_eq!(kinds(&drain(&mut p)), ["Fatal"]);
    assert_eq!(p.retry_with_protocol(), Some(ProtocolVersion::V3_0));
}

#[test]
fn startup_error_is_fatal_with_every_field() {
    let mut p = Protocol::new(Settings::new("other"));
    take_sent(&mut p);
    p.receive(&fields(
        b'E',
        &[
            (b'S', "ERROR"),
            (b'C', "42501"),
            (b'M', "could not connect as 'other'"),
            (b'B', "User"),
        ],
    ));
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev), ["Fatal"]);
    let Some(Error::Server(e)) = p.error() else {
        panic!("{ev:?}")
    };
    assert_eq!(e.code(), "42501");
    assert_eq!(e.hyper_source(), Some("User"));
    assert_eq!(p.error().unwrap().sqlstate(), Some("42501"));
}

#[test]
fn notice_during_startup_is_not_fatal() {
    let mut p = Protocol::new(Settings::new("alice"));
    take_sent(&mut p);
    p.receive(&cat(&[notice("hello"), trust_startup()]));
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev)[0], "Notice");
    assert!(p.is_ready());
}

#[test]
fn gss_and_sspi_are_clearly_unsupported() {
    for code in [7, 9, 2] {
        let mut p = Protocol::new(Settings::new("alice"));
        take_sent(&mut p);
        p.receive(&auth(code, &[]));
        drain(&mut p);
        assert!(
            matches!(p.error(), Some(Error::Auth(AuthError::Unsupported(_)))),
            "{:?}",
            p.error()
        );
    }
}

#[test]
fn multi_statement_simple_query() {
    let mut p = ready_machine();
    let id = p.query("SELECT 1; SELECT 'a', NULL; ;").unwrap();
    assert_eq!(
        split_client(&take_sent(&mut p), false),
        [(b'Q', cstr("SELECT 1; SELECT 'a', NULL; ;"))]
    );
    p.receive(&cat(&[
        row_desc(&[("?column?", 23)]),
        data_row(&[Some(b"1")]),
        complete("SELECT 1"),
        row_desc(&[("a", 25), ("b", 25)]),
        data_row(&[Some(b"a"), None]),
        complete("SELECT 1"),
        empty(b'I'),
        ready(b'I'),
    ]));
    let ev = drain(&mut p);
    assert_eq!(
        kinds(&ev),
        [
            "RowDescription",
            "CommandComplete",
            "RowDescription",
            "CommandComplete",
            "EmptyQuery",
            "ReadyForQuery",
            "Done"
        ]
        .iter()
        .flat_map(|k| if k.starts_with("Row") {
            vec![*k, "DataRow"]
        } else {
            vec![*k]
        })
        .collect::<Vec<_>>()
    );
    assert!(ev[4].contains("[Some([97]), None]"), "{}", ev[4]);
    assert!(ev
        .iter()
        .all(|e| !e.contains("request") || e.contains(&format!("{id:?}"))));
    assert!(p.is_idle());
}

#[test]
fn data_rows_borrow_validated_columns() {
    let mut p = ready_machine();
    p.query("SELECT").unwrap();
    p.receive(&cat(&[
        row_desc(&[("a", 25), ("b", 25), ("c", 25)]),
        data_row(&[Some(b""), None, Some(b"xyz")]),
    ]));
    let mut seen = false;
    while let Some(ev) = p.poll_event() {
        if let hyperwire_proto::Event::DataRow { row, formats, .. } = ev {
            let cols: Vec<_> = row.columns().collect();
            assert_eq!(cols, [Some(&b""[..]), None, Some(&b"xyz"[..])]);
            assert_eq!(row.get(2), Some(Some(&b"xyz"[..])));
            assert_eq!(row.get(3), None);
            assert_eq!(formats.get(1), Format::Text);
            seen = true;
        }
    }
    assert!(seen);
}

/// A run of rows takes a short path in the machine; whatever breaks the run
/// (another message between rows, an abandoned request, a malformed row, a row
/// with the wrong column count) must still be handled as on the general path.
#[test]
fn runs_of_rows_end_on_anything_but_a_row() {
    let rows = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| data_row(&[Some(format!("{i}").as_bytes()), None]))
            .collect()
    };
    // hyperd's mid-result ParameterStatus, a notice, then more rows.
    let mut p = ready_machine();
    let id = p.query("SELECT").unwrap();
    p.receive(&cat(&[
        row_desc(&[("a", 25), ("b", 25)]),
        rows(3),
        param("alive", "?"),
        rows(2),
        notice("hi"),
        rows(2),
        complete("SELECT 7"),
        ready(b'I'),
    ]));
    let ev = drain(&mut p);
    let kinds = kinds(&ev);
    assert_eq!(
        kinds.iter().filter(|k| *k == "DataRow").count(),
        7,
        "{ev:?}"
    );
    assert!(has(&ev, "ParameterStatus") && has(&ev, "Notice"), "{ev:?}");
    assert_eq!(kinds.last().map(String::as_str), Some("Done"));
    assert!(p.is_healthy() && p.is_idle());

    // Abandoned mid-run: the rows after it are discarded, the next request works.
    let mut p = ready_machine();
    let first = p.query("SELECT").unwrap();
    let second = p.query("SELECT 2").unwrap();
    p.receive(&cat(&[row_desc(&[("a", 25), ("b", 25)]), rows(2)]));
    let ev = drain(&mut p);
    assert_eq!(ev.iter().filter(|e| e.starts_with("DataRow")).count(), 2);
    assert!(p.abandon(first));
    p.receive(&cat(&[
        rows(5),
        complete("SELECT 7"),
        ready(b'I'),
        row_desc(&[("a", 25), ("b", 25)]),
        rows(1),
        complete("SELECT 1"),
        ready(b'I'),
    ]));
    let ev = drain(&mut p);
    let rows_seen = ev.iter().filter(|e| e.starts_with("DataRow")).count();
    assert_eq!(rows_seen, 1, "{ev:?}");
    assert!(
        ev.iter().all(|e| !e.contains(&format!("{first:?}"))),
        "{ev:?}"
    );
    assert!(has(&ev, &format!("Done {{ request: {second:?}")), "{ev:?}");
    let _ = id;

    // A malformed row and a row of the wrong width, each after a run: fatal.
    for bad in [
        msg(b'D', &[0, 2, 0, 0, 0, 9, b'x']),
        data_row(&[Some(b"1"), None, None]),
    ] {
        let mut p = ready_machine();
        p.query("SELECT").unwrap();
        p.receive(&cat(&[
            row_desc(&[("a", 25), ("b", 25)]),
            rows(3),
            bad,
            rows(1),
        ]));
        let mut events = 0;
        let mut fatal = false;
        while let Some(ev) = p.poll_event() {
            events += 1;
            fatal |= is_fatal(&ev);
        }
        assert!(fatal, "no fatal error");
        assert_eq!(events, 1 + 3 + 1, "description, three rows, the error");
        assert!(!p.is_healthy());
    }
}

/// COPY OUT data takes the same short path; a notice in the middle, the end
/// of the COPY and an abandoned COPY OUT are handled as on the general path.
#[test]
fn runs_of_copy_out_data_end_on_anything_but_data() {
    let data = |n: usize| -> Vec<u8> {
        (0..n)
            .flat_map(|i| msg(b'd', format!("{i}\n").as_bytes()))
            .collect()
    };
    let mut p = ready_machine();
    p.query("COPY t TO STDOUT").unwrap();
    p.receive(&cat(&[
        copy_response(b'H', 1),
        data(3),
        notice("mid-copy"),
        data(2),
        empty(b'c'),
        complete("COPY 5"),
        ready(b'I'),
    ]));
    let mut got = Vec::new();
    let mut kinds = Vec::new();
    while let Some(ev) = p.poll_event() {
        if let hyperwire_proto::Event::CopyData { data, .. } = &ev {
            got.extend_from_slice(data);
        }
        kinds.push(
            format!("{ev:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(got, b"0\n1\n2\n0\n1\n");
    assert_eq!(kinds.iter().filter(|k| *k == "CopyData").count(), 5);
    let notice_at = kinds.iter().position(|k| k == "Notice").unwrap();
    assert_eq!(
        &kinds[notice_at - 1..=notice_at + 1],
        ["CopyData", "Notice", "CopyData"]
    );
    assert_eq!(kinds.last().map(String::as_str), Some("Done"));
    assert!(p.is_healthy() && p.is_idle());

    // Abandoned mid-COPY: the rest is drained, the next request is answered.
    let mut p = ready_machine();
    let copy = p.query("COPY t TO STDOUT").unwrap();
    let next = p.query("SELECT 1").unwrap();
    p.receive(&cat(&[copy_response(b'H', 1), data(2)]));
    assert_eq!(
        drain(&mut p)
            .iter()
            .filter(|e| e.starts_with("CopyData"))
            .count(),
        2
    );
    assert!(p.abandon(copy));
    p.receive(&cat(&[
        data(4),
        empty(b'c'),
        complete("COPY 6"),
        ready(b'I'),
        row_desc(&[("a", 25)]),
        data_row(&[Some(b"1")]),
        complete("SELECT 1"),
        ready(b'I'),
    ]));
    let ev = drain(&mut p);
    assert!(!ev.iter().any(|e| e.starts_with("CopyData")), "{ev:?}");
    assert!(has(&ev, &format!("Done {{ request: {next:?}")), "{ev:?}");
    assert!(p.is_healthy() && p.is_idle());
}

fn three_executes(p: &mut Protocol, sync_each: bool) -> Vec<hyperwire_proto::RequestId> {
    let mut ids = Vec::new();
    for i in 0..3 {
        let sql = format!("SELECT {i}");
        let mut b = p
            .request()
            .parse("", &sql, &[])
            .bind("", "", &[], &[], &[])
            .execute("", 0);
        if sync_each {
            b = b.sync();
        }
        ids.push(b.finish().unwrap());
    }
    if !sync_each {
        ids.push(p.sync().unwrap());
    }
    ids
}

#[test]
fn pipeline_error_in_the_second_with_a_sync_per_request() {
    let mut p = ready_machine();
    let ids = three_executes(&mut p, true);
    let tags: Vec<u8> = split_client(&take_sent(&mut p), false)
        .iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(tags, b"PBESPBESPBES");
    p.receive(&cat(&[
        empty(b'1'),
        empty(b'2'),
        data_row(&[Some(b"0")]),
        complete("SELECT 1"),
        ready(b'I'),
        error("42601", "syntax error"),
        ready(b'I'),
        empty(b'1'),
        empty(b'2'),
        data_row(&[Some(b"2")]),
        complete("SELECT 1"),
        ready(b'I'),
    ]));
    let ev = drain(&mut p);
    let per = |id: hyperwire_proto::RequestId| -> Vec<String> {
        let tag = format!("{id:?}");
        kinds(
            &ev.iter()
                .filter(|e| e.contains(&tag))
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    let ok = [
        "ParseComplete",
        "BindComplete",
        "DataRow",
        "CommandComplete",
        "ReadyForQuery",
        "Done",
    ];
    assert_eq!(per(ids[0]), ok);
    assert_eq!(per(ids[1]), ["ServerError", "ReadyForQuery", "Done"]);
    assert_eq!(per(ids[2]), ok, "a Sync per request isolates the error");
    assert!(p.is_idle());
}

#[test]
fn pipeline_error_in_the_second_under_one_sync() {
    let mut p = ready_machine();
    let ids = three_executes(&mut p, false);
    let tags: Vec<u8> = split_client(&take_sent(&mut p), false)
        .iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(tags, b"PBEPBEPBES", "exactly one Sync");
    p.receive(&cat(&[
        empty(b'1'),
        empty(b'2'),
        data_row(&[Some(b"0")]),
        complete("SELECT 1"),
        error("22012", "division by zero"),
    ]));
    let ev = drain(&mut p);
    let per = |id: hyperwire_proto::RequestId| -> Vec<String> {
        let tag = format!("{id:?}");
        kinds(
            &ev.iter()
                .filter(|e| e.contains(&tag))
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(
        per(ids[0]),
        [
            "ParseComplete",
            "BindComplete",
            "DataRow",
            "CommandComplete",
            "Done"
        ]
    );
    assert_eq!(per(ids[1]), ["ServerError", "Done"]);
    assert_eq!(
        per(ids[2]),
        ["Skipped", "Done"],
        "skipped at once, without waiting"
    );
    assert!(per(ids[3]).is_empty(), "the Sync's answer has not come yet");
    p.receive(&ready(b'I'));
    let ev2 = drain(&mut p);
    assert_eq!(kinds(&ev2), ["ReadyForQuery", "Done"]);
    assert!(p.is_idle());
    // The connection is still usable.
    p.query("SELECT 1").unwrap();
}

#[test]
fn requests_sent_after_an_error_but_before_the_sync_are_skipped() {
    let mut p = ready_machine();
    let a = p
        .request()
        .parse("", "SELEKT", &[])
        .flush()
        .finish()
        .unwrap();
    take_sent(&mut p);
    p.receive(&error("42601", "syntax error"));
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev), ["ServerError", "Done"]);
    assert!(ev[0].contains(&format!("{a:?}")));
    let b = p
        .request()
        .bind("", "", &[], &[], &[])
        .execute("", 0)
        .finish()
        .unwrap();
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev), ["Skipped", "Done"]);
    assert!(ev[0].contains(&format!("{b:?}")));
    let s = p.sync().unwrap();
    p.receive(&ready(b'I'));
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev), ["ReadyForQuery", "Done"]);
    assert!(ev[0].contains(&format!("{s:?}")));
}

#[test]
fn prepare_then_execute_with_formats_and_portal_suspended() {
    let mut p = ready_machine();
    let prep = p
        .prepare("s1", "SELECT i FROM t WHERE i > $1", &[23])
        .unwrap();
    let tags: Vec<u8> = split_client(&take_sent(&mut p), false)
        .iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(tags, b"PDS");
    let mut pd = 1u16.to_be_bytes().to_vec();
    pd.extend(23u32.to_be_bytes());
    p.receive(&cat(&[
        empty(b'1'),
        msg(b't', &pd),
        row_desc(&[("i", 23)]),
        ready(b'I'),
    ]));
    let ev = drain(&mut p);
    assert_eq!(
        kinds(&ev),
        [
            "ParseComplete",
            "ParameterDescription",
            "RowDescription",
            "ReadyForQuery",
            "Done"
        ]
    );
    assert!(ev.iter().all(|e| e.contains(&format!("{prep:?}"))));

    let param = 5i32.to_be_bytes();
    let params = [Some(&param[..])];
    let ex = p
        .execute(&Execute {
            statement: "s1",
            portal: "p1",
            params: &params,
            param_formats: &[Format::Binary],
            result_formats: &[Format::Binary],
            max_rows: 2,
            describe: true,
        })
        .unwrap();
    let tags: Vec<u8> = split_client(&take_sent(&mut p), false)
        .iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(tags, b"BDES");
    p.receive(&cat(&[
        empty(b'2'),
        row_desc(&[("i", 23)]),
        data_row(&[Some(&6i32.to_be_bytes())]),
        data_row(&[Some(&7i32.to_be_bytes())]),
        empty(b's'),
        ready(b'T'),
    ]));
    let mut formats_seen = Vec::new();
    let mut k = Vec::new();
    while let Some(ev) = p.poll_event() {
        if let hyperwire_proto::Event::DataRow { formats, .. } = &ev {
            formats_seen.push(formats.get(0));
        }
        k.push(format!("{ev:?}"));
    }
    assert_eq!(
        kinds(&k),
        [
            "BindComplete",
            "RowDescription",
            "DataRow",
            "DataRow",
            "PortalSuspended",
            "ReadyForQuery",
            "Done"
        ]
    );
    assert!(k.iter().all(|e| e.contains(&format!("{ex:?}"))));
    assert_eq!(
        formats_seen,
        [Format::Binary, Format::Binary],
        "the requested format, not the server's claim"
    );
    assert_eq!(p.transaction_status(), TransactionStatus::InTransaction);

    // Resume the named portal: the formats bound earlier still apply.
    p.request().execute("p1", 2).sync().finish().unwrap();
    take_sent(&mut p);
    p.receive(&cat(&[
        data_row(&[Some(&8i32.to_be_bytes())]),
        complete("SELECT 3"),
        ready(b'T'),
    ]));
    let mut fmt = None;
    while let Some(ev) = p.poll_event() {
        if let hyperwire_proto::Event::DataRow { formats, .. } = &ev {
            fmt = Some(formats.get(0));
        }
    }
    assert_eq!(fmt, Some(Format::Binary));
}

#[test]
fn hyper_never_resumes_a_portal_with_zero() {
    let mut p = Protocol::new(Settings::new("tableau_internal_user"));
    take_sent(&mut p);
    p.receive(&cat(&[
        auth_ok(),
        param("hyper_version", "main.0"),
        key(0, &[1, 2, 3, 4]),
        ready(b'I'),
    ]));
    drain(&mut p);
    assert!(p.is_hyper());
    p.request().execute("pp", 0).sync().finish().unwrap();
    let sent = split_client(&take_sent(&mut p), false);
    assert_eq!(sent[0].0, b'E');
    assert_eq!(&sent[0].1[sent[0].1.len() - 4..], &i32::MAX.to_be_bytes());
}

#[test]
fn hyper_binary_session_default_applies_to_unspecified_formats() {
    let mut s = Settings::new("u");
    s.param("options", "-c result_format_code=HyperBinary");
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    p.receive(&trust_startup());
    drain(&mut p);
    p.query("SELECT 1").unwrap();
    p.receive(&cat(&[
        row_desc(&[("x", 23)]),
        data_row(&[Some(&[1, 0, 0, 0])]),
    ]));
    let mut f = None;
    while let Some(ev) = p.poll_event() {
        if let hyperwire_proto::Event::DataRow { formats, .. } = ev {
            f = Some(formats.get(0));
        }
    }
    assert_eq!(f, Some(Format::HyperBinary));
}

#[test]
fn copy_in_done_via_simple_query() {
    let mut p = ready_machine();
    let id = p.query("COPY t FROM STDIN").unwrap();
    take_sent(&mut p);
    assert!(p.copy_data(b"x").is_err(), "not in COPY yet");
    p.receive(&copy_response(b'G', 2));
    assert_eq!(kinds(&drain(&mut p)), ["CopyInStart"]);
    assert!(p.in_copy_in());
    assert!(p.query("SELECT 1").is_err(), "no request during COPY IN");
    p.copy_data(b"1\ta\n").unwrap();
    p.copy_data(b"2\tb\n").unwrap();
    p.copy_done().unwrap();
    let tags: Vec<u8> = split_client(&take_sent(&mut p), false)
        .iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(tags, b"ddc", "no Sync for a simple query");
    p.receive(&cat(&[complete("COPY 2"), ready(b'I')]));
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev), ["CommandComplete", "ReadyForQuery", "Done"]);
    assert!(ev[0].contains(&format!("{id:?}")));
    assert!(p.is_idle());
}

#[test]
fn copy_in_failed_via_extended_query_resends_the_swallowed_sync() {
    let mut p = ready_machine();
    let id = p
        .request()
        .parse("", "COPY t FROM STDIN (FORMAT csv)", &[])
        .bind("", "", &[], &[], &[])
        .execute("", 0)
        .sync()
        .finish()
        .unwrap();
    take_sent(&mut p);
    p.receive(&cat(&[empty(b'1'), empty(b'2'), copy_response(b'G', 1)]));
    assert_eq!(
        kinds(&drain(&mut p)),
        ["ParseComplete", "BindComplete", "CopyInStart"]
    );
    p.copy_data(b"1\n").unwrap();
    p.copy_fail("client gave up").unwrap();
    let sent = split_client(&take_sent(&mut p), false);
    let tags: Vec<u8> = sent.iter().map(|m| m.0).collect();
    assert_eq!(
        tags, b"dfS",
        "the server ignored our first Sync during COPY: send another"
    );
    assert_eq!(sent[1].1, cstr("client gave up"));
    p.receive(&cat(&[
        error("57014", "copy failed: client gave up"),
        ready(b'I'),
    ]));
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev), ["ServerError", "ReadyForQuery", "Done"]);
    assert!(ev.iter().all(|e| e.contains(&format!("{id:?}"))));
    assert!(p.is_idle());
}

#[test]
fn copy_in_error_instead_of_copy_in_response() {
    let mut p = ready_machine();
    p.query("COPY nope FROM STDIN").unwrap();
    take_sent(&mut p);
    p.receive(&cat(&[
        error("42P01", "relation does not exist"),
        ready(b'I'),
    ]));
    assert_eq!(
        kinds(&drain(&mut p)),
        ["ServerError", "ReadyForQuery", "Done"]
    );
    assert!(p.copy_done().is_err());
    assert!(p.is_idle());
}

#[test]
fn copy_in_behind_another_request_is_a_desync() {
    let mut p = ready_machine();
    p.query("COPY t FROM STDIN").unwrap();
    p.query("SELECT 1").unwrap();
    p.receive(&copy_response(b'G', 1));
    drain(&mut p);
    assert_eq!(
        p.error(),
        Some(&Error::Desynchronized(DesyncReason::CopyInPipelined))
    );
}

#[test]
fn copy_out_streams_data_events() {
    let mut p = ready_machine();
    p.query("COPY t TO STDOUT").unwrap();
    p.receive(&cat(&[
        copy_response(b'H', 2),
        msg(b'd', b"1\ta\n"),
        msg(b'd', b"2\tb\n"),
        empty(b'c'),
        complete("COPY 2"),
        ready(b'I'),
    ]));
    let ev = drain(&mut p);
    assert_eq!(
        kinds(&ev),
        [
            "CopyOutStart",
            "CopyData",
            "CopyData",
            "CopyDone",
            "CommandComplete",
            "ReadyForQuery",
            "Done"
        ]
    );
}

#[test]
fn copy_both_is_refused() {
    let mut p = ready_machine();
    p.query("START_REPLICATION").unwrap();
    p.receive(&copy_response(b'W', 0));
    drain(&mut p);
    assert!(p.error().unwrap().to_string().contains("replication"));
}

#[test]
fn notification_notice_and_parameter_mid_result() {
    let mut p = ready_machine();
    let id = p.query("SELECT").unwrap();
    p.receive(&cat(&[
        row_desc(&[("a", 23)]),
        data_row(&[Some(b"1")]),
        notification(99, "chan", "payload"),
        notice("careful"),
        param("alive", "?"),
        data_row(&[Some(b"2")]),
        complete("SELECT 2"),
        ready(b'I'),
    ]));
    let ev = drain(&mut p);
    assert_eq!(
        kinds(&ev),
        [
            "RowDescription",
            "DataRow",
            "Notification",
            "Notice",
            "ParameterStatus",
            "DataRow",
            "CommandComplete",
            "ReadyForQuery",
            "Done"
        ]
    );
    assert!(ev[2].contains("chan") && ev[2].contains("payload"));
    assert!(
        ev[5].contains(&format!("{id:?}")),
        "the rows after still belong to the query"
    );
    assert_eq!(p.parameter("alive"), Some("?"));
}

#[test]
fn notification_while_idle() {
    let mut p = ready_machine();
    p.receive(&notification(1, "c", "x"));
    assert_eq!(kinds(&drain(&mut p)), ["Notification"]);
    assert!(p.is_idle());
}

#[test]
fn abandon_drains_within_the_budget() {
    let mut p = ready_machine();
    let a = p.query("SELECT big").unwrap();
    let b = p.query("SELECT 1").unwrap();
    assert!(p.abandon(a));
    let mut bytes = vec![row_desc(&[("a", 23)])];
    for _ in 0..100 {
        bytes.push(data_row(&[Some(b"x")]));
    }
    bytes.extend([
        complete("SELECT 100"),
        ready(b'I'),
        row_desc(&[("x", 23)]),
        data_row(&[Some(b"1")]),
        complete("SELECT 1"),
        ready(b'I'),
    ]);
    p.receive(&cat(&bytes));
    let ev = drain(&mut p);
    assert!(
        ev.iter().all(|e| !e.contains(&format!("{a:?}"))),
        "nothing for the abandoned request: {ev:?}"
    );
    assert_eq!(
        kinds(&ev),
        [
            "RowDescription",
            "DataRow",
            "CommandComplete",
            "ReadyForQuery",
            "Done"
        ]
    );
    assert!(ev[1].contains(&format!("{b:?}")));
    assert!(p.is_idle() && p.is_healthy());
}

#[test]
fn abandon_exhausting_its_budget_desynchronizes() {
    let mut s = Settings::new("alice");
    s.drain_budget(10);
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    p.receive(&trust_startup());
    drain(&mut p);
    let a = p.query("SELECT huge").unwrap();
    p.abandon(a);
    let mut bytes = vec![row_desc(&[("a", 23)])];
    for _ in 0..50 {
        bytes.push(data_row(&[Some(b"x")]));
    }
    p.receive(&cat(&bytes));
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev), ["Fatal"]);
    assert!(ev[0].contains("DrainBudgetExhausted"));
    assert!(p.poll_event().is_none(), "Fatal is reported once");
    let err = p.query("SELECT 1").unwrap_err();
    assert!(err.to_string().contains("desynchronized"), "{err}");
    assert!(p
        .prepare("", "x", &[])
        .unwrap_err()
        .to_string()
        .contains("desynchronized"));
}

#[test]
fn abandoned_copy_in_sends_copy_fail() {
    let mut p = ready_machine();
    let id = p.query("COPY t FROM STDIN").unwrap();
    take_sent(&mut p);
    p.receive(&copy_response(b'G', 1));
    drain(&mut p);
    p.abandon(id);
    let tags: Vec<u8> = split_client(&take_sent(&mut p), false)
        .iter()
        .map(|m| m.0)
        .collect();
    assert_eq!(tags, b"f");
    p.receive(&cat(&[error("57014", "copy failed"), ready(b'I')]));
    let ev = drain(&mut p);
    assert!(ev.is_empty(), "{ev:?}");
    assert!(p.is_idle());
}

#[test]
fn unexpected_message_desynchronizes() {
    for bytes in [ready(b'I'), data_row(&[Some(b"1")]), empty(b'1')] {
        let mut p = ready_machine();
        p.receive(&bytes);
        let ev = drain(&mut p);
        assert_eq!(kinds(&ev), ["Fatal"], "{ev:?}");
        assert!(matches!(p.error(), Some(Error::Desynchronized(_))));
    }
    // A second ReadyForQuery for one query.
    let mut p = ready_machine();
    p.query("SELECT 1").unwrap();
    p.receive(&cat(&[complete("SELECT 0"), ready(b'I'), ready(b'I')]));
    let ev = drain(&mut p);
    assert_eq!(
        kinds(&ev),
        ["CommandComplete", "ReadyForQuery", "Done", "Fatal"]
    );
}

#[test]
fn message_length_under_four_is_fatal() {
    let mut p = ready_machine();
    p.receive(&[b'Z', 0, 0, 0, 3, b'I']);
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev), ["Fatal"]);
    assert_eq!(
        p.error(),
        Some(&Error::Protocol(ProtocolError::LengthTooShort {
            tag: b'Z',
            len: 3
        }))
    );
}

#[test]
fn message_over_the_maximum_is_fatal_before_buffering() {
    let mut s = Settings::new("alice");
    s.max_message_size(1024);
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    p.receive(&trust_startup());
    drain(&mut p);
    p.query("SELECT").unwrap();
    // A header claiming ~2 GiB: refused from the 5 header bytes alone.
    p.receive(&[b'D', 0x7f, 0xff, 0xff, 0xff]);
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev), ["Fatal"]);
    assert!(matches!(
        p.error(),
        Some(Error::Protocol(ProtocolError::MessageTooLarge {
            max: 1024,
            ..
        }))
    ));
    // Nothing was reserved on the header's say-so.
    assert!(p.recv_buf(1).len() < 64 * 1024);
}

#[test]
fn malformed_data_row_is_fatal_not_null() {
    for body in [
        vec![0, 2, 0, 0, 0, 1, b'x'],             // count says 2, one present
        vec![0, 1, 0, 0, 0, 5, b'x'],             // length beyond the message
        vec![0, 1, 0xff, 0xff, 0xff, 0xfe],       // length -2
        vec![0, 1, 0xff, 0xff, 0xff, 0xff, 0x00], // trailing byte after NULL
    ] {
        let mut p = ready_machine();
        p.query("SELECT").unwrap();
        p.receive(&cat(&[row_desc(&[("a", 25)]), msg(b'D', &body)]));
        let ev = drain(&mut p);
        assert_eq!(kinds(&ev), ["RowDescription", "Fatal"], "{body:?}");
        assert!(matches!(
            p.error(),
            Some(Error::Protocol(ProtocolError::Malformed {
                message: "DataRow",
                ..
            }))
        ));
    }
}

#[test]
fn unknown_message_type_is_fatal_not_a_hang() {
    let mut p = ready_machine();
    p.receive(&msg(b'?', b"abc"));
    drain(&mut p);
    assert_eq!(
        p.error(),
        Some(&Error::Protocol(ProtocolError::UnknownMessage(b'?')))
    );
}

#[test]
fn eof_mid_message_and_with_pending_requests() {
    let mut p = ready_machine();
    p.query("SELECT").unwrap();
    p.receive(&data_row(&[Some(b"1")])[..3]);
    p.recv_eof();
    drain(&mut p);
    assert_eq!(
        p.error(),
        Some(&Error::Closed(hyperwire_proto::ClosedReason::MidMessage))
    );

    let mut p = ready_machine();
    p.query("SELECT").unwrap();
    p.recv_eof();
    drain(&mut p);
    assert_eq!(
        p.error(),
        Some(&Error::Closed(
            hyperwire_proto::ClosedReason::WithPendingRequests
        ))
    );
}

#[test]
fn fatal_server_error_mid_request_ends_the_connection() {
    let mut p = ready_machine();
    let id = p.query("SELECT pg_sleep(10)").unwrap();
    p.receive(&fields(
        b'E',
        &[
            (b'S', "FATAL"),
            (b'V', "FATAL"),
            (b'C', "57P01"),
            (b'M', "terminating connection"),
        ],
    ));
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev), ["ServerError", "Fatal"]);
    assert!(ev[0].contains(&format!("{id:?}")));
    assert_eq!(p.error().unwrap().sqlstate(), Some("57P01"));
}

#[test]
fn terminate_queues_x_and_refuses_requests() {
    let mut p = ready_machine();
    p.terminate();
    assert_eq!(take_sent(&mut p), [b'X', 0, 0, 0, 4]);
    assert_eq!(p.query("SELECT 1").unwrap_err(), Error::Terminated);
    assert!(!p.is_healthy());
}

#[test]
fn a_failed_request_builder_queues_nothing() {
    let mut p = ready_machine();
    let before = p.pending_responses();
    let err = p
        .request()
        .parse("", "SELECT 1", &[])
        .parse("", "bad\0sql", &[])
        .sync()
        .finish();
    assert!(err.is_err());
    assert!(p.pending_send().is_empty());
    assert_eq!(p.pending_responses(), before);
    assert!(p.request().finish().is_err(), "an empty request is refused");
}

#[test]
fn settings_and_protocol_debug_hide_the_password() {
    let mut s = Settings::new("alice");
    s.password("hunter2");
    assert!(!format!("{s:?}").contains("hunter2"));
    let p = Protocol::new(s);
    assert!(!format!("{p:?}").contains("hunter2"));
}

#[test]
fn gssenc_refused_then_tls_refused_then_plain() {
    let mut s = Settings::new("alice");
    s.gssenc_request(true).tls(TlsPlan::Prefer);
    let mut p = Protocol::new(s);
    assert_eq!(take_sent(&mut p), [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30]);
    p.receive(b"N");
    assert_eq!(kinds(&drain(&mut p)), ["GssEncAnswer"]);
    assert_eq!(take_sent(&mut p), [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);
    p.receive(b"N");
    assert_eq!(kinds(&drain(&mut p)), ["TlsAnswer"]);
    assert_eq!(split_client(&take_sent(&mut p), true)[0].0, 0);
    p.receive(&trust_startup());
    assert!(has(&drain(&mut p), "StartupComplete"));
}

#[test]
fn gssenc_accepted_is_a_clear_unsupported_error() {
    let mut s = Settings::new("alice");
    s.gssenc_request(true);
    let mut p = Protocol::new(s);
    take_sent(&mut p);
    p.receive(b"G");
    assert_eq!(kinds(&drain(&mut p)), ["Fatal"]);
    assert_eq!(
        p.error(),
        Some(&Error::Auth(AuthError::Unsupported("GSSAPI encryption")))
    );
}

#[test]
fn hyperd_skipping_an_abandoned_execute_completion_is_tolerated() {
    // Measured on hyperd: a cancel after the last row makes it answer the Sync
    // without the Execute's CommandComplete.
    let mut p = ready_machine();
    let a = p
        .request()
        .bind("", "", &[], &[], &[])
        .execute("", 0)
        .sync()
        .finish()
        .unwrap();
    let b = p.query("SELECT 1").unwrap();
    p.abandon(a);
    p.receive(&cat(&[
        empty(b'2'),
        data_row(&[Some(b"1")]),
        ready(b'I'),
        row_desc(&[("x", 23)]),
        data_row(&[Some(b"1")]),
        complete("SELECT 1"),
        ready(b'I'),
    ]));
    let ev = drain(&mut p);
    assert!(ev.iter().all(|e| !e.contains(&format!("{a:?}"))), "{ev:?}");
    assert!(
        ev.iter()
            .any(|e| e.starts_with("Done") && e.contains(&format!("{b:?}"))),
        "{ev:?}"
    );
    assert!(p.is_healthy());

    // Not abandoned: the same bytes are a protocol violation.
    let mut p = ready_machine();
    p.request()
        .bind("", "", &[], &[], &[])
        .execute("", 0)
        .sync()
        .finish()
        .unwrap();
    p.receive(&cat(&[empty(b'2'), data_row(&[Some(b"1")]), ready(b'I')]));
    drain(&mut p);
    assert!(matches!(p.error(), Some(Error::Desynchronized(_))));
}

// ---- regressions from the hostile-server tests and the fuzzers (issue #7) ----------

/// Found by tests/tests/hostile.rs: a well-framed DataRow with more (or fewer)
/// columns than its RowDescription was delivered as a row, and the caller read a
/// result whose rows did not match its columns. It is malformed: Fatal, no row.
#[test]
fn data_row_column_count_must_match_the_row_description() {
    for (row, ok) in [
        (data_row(&[Some(b"1")]), true),
        (data_row(&[Some(b"1"), Some(b"2")]), false),
        (data_row(&[]), false),
    ] {
        // Simple query (the fast path).
        let mut p = ready_machine();
        p.query("SELECT 1").unwrap();
        take_sent(&mut p);
        p.receive(&cat(&[
            row_desc(&[("a", 23)]),
            row.clone(),
            complete("SELECT 1"),
            ready(b'I'),
        ]));
        let ev = drain(&mut p);
        if ok {
            assert_eq!(
                kinds(&ev),
                [
                    "RowDescription",
                    "DataRow",
                    "CommandComplete",
                    "ReadyForQuery",
                    "Done"
                ]
            );
        } else {
            assert_eq!(kinds(&ev), ["RowDescription", "Fatal"], "{ev:?}");
            assert!(
                matches!(
                    p.error(),
                    Some(Error::Protocol(ProtocolError::Malformed {
                        message: "DataRow",
                        ..
                    }))
                ),
                "{:?}",
                p.error()
            );
        }

        // Extended, Describe portal then Execute; the request abandoned, so the row
        // goes through the general dispatch instead of the fast path.
        for abandon in [false, true] {
            let mut p = ready_machine();
            let id = p
                .request()
                .parse("", "SELECT 1", &[])
                .bind("", "", &[], &[], &[])
                .describe_portal("")
                .execute("", 0)
                .sync()
                .finish()
                .unwrap();
            take_sent(&mut p);
            if abandon {
                assert!(p.abandon(id));
            }
            p.receive(&cat(&[
                empty(b'1'),
                empty(b'2'),
                row_desc(&[("a", 23)]),
                row.clone(),
                complete("SELECT 1"),
                ready(b'I'),
            ]));
            let ev = drain(&mut p);
            assert_eq!(has(&ev, "Fatal"), !ok, "abandon={abandon}: {ev:?}");
            assert_eq!(p.is_healthy(), ok);
        }
    }
    // A later result with another shape is checked against its own description.
    let mut p = ready_machine();
    p.query("SELECT 1; SELECT 1, 2").unwrap();
    take_sent(&mut p);
    p.receive(&cat(&[
        row_desc(&[("a", 23)]),
        data_row(&[Some(b"1")]),
        complete("SELECT 1"),
        row_desc(&[("a", 23), ("b", 23)]),
        data_row(&[Some(b"1"), Some(b"2")]),
        complete("SELECT 1"),
        ready(b'I'),
    ]));
    assert!(!has(&drain(&mut p), "Fatal"));
    assert!(p.is_idle());
}

/// Found by tests/tests/hostile.rs: a server that sent a second ReadyForQuery had it
/// taken as the whole answer to the *next* query when both arrived in one read (the
/// next query "succeeded" with no rows, and its real answer was read as the one
/// after). Bytes received before a request was made cannot answer it: desync.
#[test]
fn a_message_received_before_its_request_cannot_answer_it() {
    let mut p = ready_machine();
    let first = p.query("SELECT 1").unwrap();
    take_sent(&mut p);
    // The answer and a stray ReadyForQuery arrive in one read.
    p.receive(&cat(&[
        row_desc(&[("a", 23)]),
        data_row(&[Some(b"1")]),
        complete("SELECT 1"),
        ready(b'I'),
        ready(b'I'),
    ]));
    // The adapter stops at the first request's Done...
    let mut ev = Vec::new();
    while let Some(e) = p.poll_event() {
        let done = e == hyperwire_proto::Event::Done { request: first };
        ev.push(format!("{e:?}"));
        if done {
            break;
        }
    }
    assert_eq!(
        kinds(&ev),
        [
            "RowDescription",
            "DataRow",
            "CommandComplete",
            "ReadyForQuery",
            "Done"
        ]
    );
    // ...and sends the next one with the stray message still unread.
    p.query("SELECT 2").unwrap();
    take_sent(&mut p);
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev), ["Fatal"], "{ev:?}");
    assert!(matches!(
        p.error(),
        Some(Error::Desynchronized(DesyncReason::UnexpectedMessage {
            message: "ReadyForQuery",
            ..
        }))
    ));

    // The same for rows (the fast path) and for the extended protocol.
    let mut p = ready_machine();
    p.query("SELECT 1").unwrap();
    take_sent(&mut p);
    p.receive(&cat(&[
        row_desc(&[("a", 23)]),
        complete("SELECT 0"),
        ready(b'I'),
        row_desc(&[("a", 23)]),
        data_row(&[Some(b"1")]),
    ]));
    while let Some(e) = p.poll_event() {
        if matches!(e, hyperwire_proto::Event::Done { .. }) {
            break;
        }
    }
    p.request()
        .bind("", "", &[], &[], &[])
        .execute("", 0)
        .sync()
        .finish()
        .unwrap();
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev), ["Fatal"], "{ev:?}");

    // Bytes that arrive after the request are its answer, however they are chunked.
    let mut p = ready_machine();
    let id = p.query("SELECT 1").unwrap();
    take_sent(&mut p);
    let ev = feed_chunked(
        &mut p,
        &cat(&[
            row_desc(&[("a", 23)]),
            data_row(&[Some(b"1")]),
            complete("SELECT 1"),
            ready(b'I'),
        ]),
        &[1, 2, 3],
    );
    assert_eq!(ev.last().unwrap(), &format!("Done {{ request: {id:?} }}"));
}

/// Found by tests/tests/fault.rs: a connection cut during COPY IN left the tokio
/// connection reporting `is_healthy() == true` after its I/O error (the EOF was
/// recorded, but the machine turned fatal only when next polled). Once the server
/// has closed, the machine is not healthy, while the events received before the
/// close can still be polled.
#[test]
fn the_server_closing_makes_the_machine_unhealthy_at_once() {
    let mut p = ready_machine();
    let id = p.query("SELECT 1").unwrap();
    take_sent(&mut p);
    p.receive(&cat(&[row_desc(&[("a", 23)]), data_row(&[Some(b"1")])]));
    assert!(p.is_healthy());
    p.recv_eof();
    assert!(!p.is_healthy(), "closed by the server");
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev), ["RowDescription", "DataRow", "Fatal"], "{ev:?}");
    assert!(matches!(
        p.error(),
        Some(Error::Closed(
            hyperwire_proto::ClosedReason::WithPendingRequests
        ))
    ));
    assert!(!p.abandon(id) || !p.is_healthy());
    assert!(p.query("SELECT 1").is_err());
}

#[test]
fn a_query_answered_by_a_bare_ready_for_query_is_a_desync() {
    // Every statement gets an answer before ReadyForQuery; a bare one could be the
    // answer to anything, so the machine refuses to guess (it was taken as an
    // empty result, and hwsql printed nothing and exited 0).
    let mut p = ready_machine();
    let first = p.query("SELECT 1").unwrap();
    p.query("SELECT 2").unwrap();
    take_sent(&mut p);
    p.receive(&ready(b'I'));
    let ev = drain(&mut p);
    assert_eq!(kinds(&ev), ["Fatal"], "{ev:?}");
    assert_eq!(
        p.error(),
        Some(&Error::Desynchronized(DesyncReason::UnexpectedMessage {
            message: "ReadyForQuery",
            expected: "CommandComplete, EmptyQueryResponse or ErrorResponse before ReadyForQuery",
        }))
    );
    assert!(!p.is_healthy());
    let _ = first;

    // Answered by an error, by an empty query, or by several results: fine.
    for answer in [
        cat(&[error("42601", "syntax error"), ready(b'I')]),
        cat(&[empty(b'I'), ready(b'I')]),
        cat(&[complete("SET"), complete("SET"), ready(b'I')]),
    ] {
        let mut p = ready_machine();
        p.query("x").unwrap();
        take_sent(&mut p);
        p.receive(&answer);
        let ev = drain(&mut p);
        assert_eq!(
            kinds(&ev).last().map(String::as_str),
            Some("Done"),
            "{ev:?}"
        );
        assert!(p.is_healthy());
    }

    // An abandoned query may end that way (hyperd answers a late cancel so): its
    // rest is drained and the next query gets its own answer.
    let mut p = ready_machine();
    let abandoned = p.query("SELECT pg_sleep(10)").unwrap();
    p.abandon(abandoned);
    p.query("SELECT 2").unwrap();
    take_sent(&mut p);
    p.receive(&cat(&[ready(b'I'), complete("SELECT 0"), ready(b'I')]));
    let ev = drain(&mut p);
    assert_eq!(
        kinds(&ev),
        ["CommandComplete", "ReadyForQuery", "Done"],
        "{ev:?}"
    );
    assert!(p.is_healthy());
}
