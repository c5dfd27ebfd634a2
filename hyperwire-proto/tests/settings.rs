//! From a libpq connection string (plus environment) to a running machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use hyperwire_proto::config::{Config, SslMode};
use hyperwire_proto::{AuthError, Error, Protocol, Settings, TlsPlan};
use support::*;

fn params_of(p: &mut Protocol) -> Vec<String> {
    let sent = take_sent(p);
    let msgs = split_client(&sent, true);
    msgs[0].1[4..]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8(s.to_vec()).unwrap())
        .collect()
}

#[test]
fn conninfo_becomes_startup_parameters() {
    let c = Config::parse(
        "user=alice dbname=db application_name=app options='-c result_format_code=HyperBinary' password=pw",
    )
    .unwrap();
    let mut p = Protocol::new(Settings::from_config(&c, TlsPlan::Disabled).unwrap());
    assert_eq!(
        params_of(&mut p),
        [
            "user",
            "alice",
            "database",
            "db",
            "application_name",
            "app",
            "options",
            "-c result_format_code=HyperBinary"
        ]
    );
    // The password from the conninfo answers a cleartext request.
    p.receive(&auth(3, &[]));
    drain(&mut p);
    assert_eq!(split_client(&take_sent(&mut p), false)[0].1, b"pw\0");
}

#[test]
fn environment_fills_only_what_the_conninfo_left_out() {
    let mut c = Config::parse("postgresql://bob@db.example:5433/app").unwrap();
    let env = |k: &str| match k {
        "PGUSER" => Some("ignored".to_string()),
        "PGPASSWORD" => Some("from-env".to_string()),
        "PGAPPNAME" => Some("envapp".to_string()),
        _ => None,
    };
    c.apply_env(&env).unwrap();
    let mut p = Protocol::new(Settings::from_config(&c, TlsPlan::Disabled).unwrap());
    let params = params_of(&mut p);
    assert_eq!(params[..2], ["user", "bob"]);
    assert!(params.contains(&"envapp".to_string()));
    p.receive(&auth(3, &[]));
    drain(&mut p);
    assert_eq!(split_client(&take_sent(&mut p), false)[0].1, b"from-env\0");
    assert_eq!(c.get_sslmode(), SslMode::Prefer);
}

#[test]
fn require_auth_from_conninfo_is_enforced() {
    let c = Config::parse("user=a password=pw require_auth=scram-sha-256").unwrap();
    let mut p = Protocol::new(Settings::from_config(&c, TlsPlan::Disabled).unwrap());
    take_sent(&mut p);
    p.receive(&auth(5, &[1, 2, 3, 4]));
    drain(&mut p);
    match p.error() {
        Some(Error::Auth(AuthError::MethodRefused {
            method,
            require_auth,
        })) => {
            assert_eq!(*method, "md5");
            assert_eq!(require_auth, "scram-sha-256");
        }
        other => panic!("{other:?}"),
    }
    assert!(p.pending_send().is_empty());
}

#[test]
fn gssencmode_require_is_a_clear_error() {
    let c = Config::parse("user=a gssencmode=require").unwrap();
    let err = Settings::from_config(&c, TlsPlan::Disabled).unwrap_err();
    assert!(err.to_string().contains("GSSAPI"), "{err}");
}

#[test]
fn direct_tls_starts_with_the_handshake() {
    let c = Config::parse("user=a sslmode=require sslnegotiation=direct").unwrap();
    let mut p = Protocol::new(Settings::from_config(&c, TlsPlan::Direct).unwrap());
    assert!(p.pending_send().is_empty(), "no SSLRequest with direct TLS");
    assert!(p.wants_tls_handshake());
    p.tls_established(None).unwrap();
    assert_eq!(params_of(&mut p)[..2], ["user", "a"]);
}
