//! The example adapter on plain `std::net` (examples/std-threads) against real
//! servers: PostgreSQL 15 with SCRAM and with TLS verify-full (SCRAM-SHA-256-PLUS),
//! hyperd with trust, SCRAM and TLS verify-full. Each connection runs a
//! parameterized query, streams 100,000 rows in place, does COPY IN and OUT of the
//! same rows and cancels a running query from another thread; on PostgreSQL a
//! notification sent by a second session arrives.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use hyperwire_example_std::{Error, Session};
use hyperwire_proto::engine::RequestError;
use hyperwire_proto::SqlState;
use hyperwire_tests::{self as harness, Server, ServerKind, ServerOptions};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

fn connect(conninfo: &str) -> Session {
    Session::connect(conninfo).unwrap_or_else(|e| panic!("{conninfo}: {e}"))
}

fn sql_state(e: &Error) -> Option<SqlState> {
    match e.downcast_ref::<RequestError>() {
        Some(RequestError::Server(e)) => e.sql_state(),
        _ => None,
    }
}

/// What every connection must do, on PostgreSQL or hyperd.
fn exercise(s: &mut Session, hyper: bool) {
    // A parameterized query, values checked; run again, the statement cache's
    // prepared statement is reused.
    let sql = "SELECT $1::int4 + 1, $2::text || '!', $3::int8 * 2, $4::text IS NULL";
    let rows = s
        .query(sql, &[&41i32, &"hello", &21i64, &None::<&str>])
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<i32>(0).unwrap(), 42);
    assert_eq!(rows[0].get::<&str>(1).unwrap(), "hello!");
    assert_eq!(rows[0].get::<i64>(2).unwrap(), 42);
    assert!(rows[0].get::<bool>(3).unwrap());
    let again = s.query(sql, &[&1i32, &"a", &2i64, &Some("x")]).unwrap();
    assert_eq!(again[0].get::<i32>(0).unwrap(), 2);
    assert!(!again[0].get::<bool>(3).unwrap());

    // 100,000 rows streamed in place.
    let mut sum = 0i64;
    let n = s
        .for_each_row(
            "SELECT g::int8 FROM generate_series(1, $1::int4) g",
            &[&100_000i32],
            |row| sum += row.get::<i64>(0).unwrap(),
        )
        .unwrap();
    assert_eq!((n, sum), (100_000, 5_000_050_000));

    // COPY IN, then COPY OUT of the same rows: the same bytes.
    let format = if hyper { " WITH (FORMAT TEXT)" } else { "" };
    s.query("CREATE TEMP TABLE example_copy (i int, t text)", &[])
        .unwrap();
    let data: String = (1..=20_000)
        .map(|i| match i % 100 {
            0 => format!("{i}\t\\N\n"),
            _ => format!("{i}\trow {i}\\twith a tab and \\\\ a backslash\n"),
        })
        .collect();
    let copy_in = format!("COPY example_copy FROM STDIN{format}");
    assert_eq!(s.copy_in(&copy_in, data.as_bytes()).unwrap(), 20_000);
    let copy_out = format!("COPY (SELECT i, t FROM example_copy ORDER BY i) TO STDOUT{format}");
    let out = s.copy_out(&copy_out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), data);
    // A statement that is not COPY FROM STDIN is refused, and the session goes on.
    assert!(s.copy_in("SELECT 1", b"").is_err());

    // A server error leaves the session usable.
    let err = s.query("SELECT * FROM no_such_table", &[]).unwrap_err();
    assert_eq!(sql_state(&err), Some(SqlState::UNDEFINED_TABLE), "{err}");
    assert_eq!(s.query("SELECT 1", &[]).unwrap().len(), 1);
}

/// The SQL that runs long enough to be cancelled.
fn long_query(hyper: bool) -> &'static str {
    if hyper {
        "SELECT count(*) FROM generate_series(1, 10000000000)"
    } else {
        "SELECT pg_sleep(30)"
    }
}

/// A query cancelled from another thread: 57014, and the session works after.
fn cancel(s: &mut Session, hyper: bool) {
    let handle = s.cancel_handle();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        handle.cancel()
    });
    let started = Instant::now();
    let err = s.query(long_query(hyper), &[]).unwrap_err();
    canceller.join().unwrap().unwrap();
    assert_eq!(sql_state(&err), Some(SqlState::QUERY_CANCELED), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    let rows = s.query("SELECT $1::int4", &[&7i32]).unwrap();
    assert_eq!(rows[0].get::<i32>(0).unwrap(), 7);
}

#[test]
fn postgres_with_scram() {
    let pg = harness::pg15();
    let mut s = connect(&pg.conninfo(harness::SCRAM_USER));
    let who = s.query("SELECT current_user::text", &[]).unwrap();
    assert_eq!(who[0].get::<&str>(0).unwrap(), harness::SCRAM_USER);
    exercise(&mut s, false);
    cancel(&mut s, false);

    // A notification sent by a second session.
    s.query("LISTEN example_channel", &[]).unwrap();
    assert!(s
        .wait_notification(Duration::from_millis(100))
        .unwrap()
        .is_none());
    let mut other = connect(&pg.conninfo(harness::TRUST_USER));
    let pid = other.query("SELECT pg_backend_pid()", &[]).unwrap()[0]
        .get::<i32>(0)
        .unwrap();
    other
        .query(
            "SELECT pg_notify($1, $2)",
            &[&"example_channel", &"payload 1"],
        )
        .unwrap();
    let n = s
        .wait_notification(Duration::from_secs(10))
        .unwrap()
        .expect("a notification");
    assert_eq!(n.channel, "example_channel");
    assert_eq!(n.payload, "payload 1");
    assert_eq!(n.process_id, pid as u32);
    // One that arrives during a query is kept for later.
    other
        .query("NOTIFY example_channel, 'payload 2'", &[])
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    s.query("SELECT 1", &[]).unwrap();
    let n = s.wait_notification(Duration::ZERO).unwrap().expect("kept");
    assert_eq!(n.payload, "payload 2");
}

/// A CA and a server certificate for 127.0.0.1, made here; the CA file's path.
struct Certs {
    ca_file: String,
    ca_pem: String,
    cert: String,
    key: String,
}

fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "hyperwire example CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        let key = KeyPair::generate().unwrap();
        let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
        let dir: PathBuf =
            std::env::temp_dir().join(format!("hyperwire-example-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let ca_file = dir.join("ca.crt");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        Certs {
            ca_file: ca_file.display().to_string(),
            ca_pem: ca_cert.pem(),
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    })
}

#[test]
fn postgres_with_tls_verify_full() {
    let c = certs();
    let opts = ServerOptions::new()
        .data_file("server.crt", c.cert.clone())
        .data_file("server.key", c.key.clone())
        .data_file("root.crt", c.ca_pem.clone())
        .conf("ssl", "on")
        .conf("ssl_cert_file", "server.crt")
        .conf("ssl_key_file", "server.key")
        .hba("hostnossl all ssl_user 127.0.0.1/32 reject")
        .hba("hostssl all ssl_user 127.0.0.1/32 scram-sha-256");
    let server = Server::start(ServerKind::Pg15, opts).unwrap();
    let out = server
        .psql_command(harness::SUPERUSER)
        .arg("-c")
        .arg("CREATE ROLE ssl_user LOGIN PASSWORD 'pw-ssl'; GRANT CONNECT ON DATABASE hyperwire TO ssl_user")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // channel_binding=require: SCRAM-SHA-256-PLUS over the verified TLS session.
    let conninfo = |host: &str| {
        format!(
            "{host} port={} user=ssl_user password=pw-ssl dbname=hyperwire \
             sslmode=verify-full sslrootcert={} channel_binding=require",
            server.port(),
            c.ca_file
        )
    };
    let mut s = connect(&conninfo("host=127.0.0.1"));
    let ssl = s
        .query(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap();
    assert!(ssl[0].get::<bool>(0).unwrap(), "the session is encrypted");
    exercise(&mut s, false);
    cancel(&mut s, false);
    // The same server under a name its certificate does not have: refused.
    let err = Session::connect(&conninfo("host=wrong.example hostaddr=127.0.0.1"))
        .err()
        .expect("verify-full refuses the name");
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[test]
fn hyperd_with_trust_and_scram() {
    for server in [harness::hyper(), harness::hyper_scram()] {
        let mut s = connect(&server.conninfo(harness::HYPER_USER));
        exercise(&mut s, true);
        cancel(&mut s, true);
    }
}

#[test]
fn hyperd_with_tls_verify_full() {
    let c = certs();
    let opts = ServerOptions::new()
        .data_file("tls.crt", c.cert.clone())
        .data_file("tls.key", c.key.clone())
        .arg("--ssl-certificate=tls.crt")
        .arg("--ssl-key=tls.key")
        .hyper_password(harness::HYPER_SCRAM_PASSWORD);
    let server = Server::start(ServerKind::Hyper, opts).unwrap();
    let mut s = connect(&format!(
        "host=127.0.0.1 port={} user={} password={} sslmode=verify-full sslrootcert={}",
        server.port(),
        harness::HYPER_USER,
        harness::HYPER_SCRAM_PASSWORD,
        c.ca_file
    ));
    exercise(&mut s, true);
    // The cancel connection does a full TLS handshake: hyperd refuses to resume
    // the session's TLS session (hyperwire_tls::TlsSetup::for_cancel).
    cancel(&mut s, true);
}
