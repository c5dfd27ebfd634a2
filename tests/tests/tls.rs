//! TLS against real servers: every sslmode against a TLS and a plain server, with
//! libpq's outcome for each; certificate verification (wrong host, expired);
//! client certificates; SCRAM-SHA-256-PLUS channel binding; direct SSL on
//! PostgreSQL 17; hyperd with TLS. Certificates are made here with rcgen.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

mod async_suite;

use hyperwire_blocking::{Client, Error};
use hyperwire_tests::{self as harness, Server, ServerKind, ServerOptions};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

struct Certs {
    dir: PathBuf,
    ca_pem: String,
    server: (String, String),
    wrong_host: (String, String),
    expired: (String, String),
}

impl Certs {
    fn ca_file(&self) -> String {
        self.dir.join("ca.crt").display().to_string()
    }
    fn client_files(&self) -> (String, String) {
        (
            self.dir.join("client.crt").display().to_string(),
            self.dir.join("client.key").display().to_string(),
        )
    }
}

fn certs() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "hyperwire test CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let leaf = |names: &[&str], cn: &str, expired: bool| {
            let mut p =
                CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                    .unwrap();
            p.distinguished_name.push(DnType::CommonName, cn);
            if expired {
                p.not_before = rcgen::date_time_ymd(2000, 1, 1);
                p.not_after = rcgen::date_time_ymd(2001, 1, 1);
            }
            let key = KeyPair::generate().unwrap();
            let cert = p.signed_by(&key, &ca_cert, &ca_key).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let dir = std::env::temp_dir().join(format!("hyperwire-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let client = leaf(&[], "cert_user", false);
        std::fs::write(dir.join("ca.crt"), ca_cert.pem()).unwrap();
        std::fs::write(dir.join("client.crt"), &client.0).unwrap();
        std::fs::write(dir.join("client.key"), &client.1).unwrap();
        Certs {
            ca_pem: ca_cert.pem(),
            server: leaf(&["localhost", "127.0.0.1"], "localhost", false),
            wrong_host: leaf(&["wrong.example"], "wrong.example", false),
            expired: leaf(&["localhost", "127.0.0.1"], "localhost", true),
            dir,
        }
    })
}

/// A PostgreSQL server with TLS and the `ssl_user` (hostssl only, SCRAM) and
/// `cert_user` (client certificate) roles.
fn tls_server(kind: ServerKind, cert: &(String, String)) -> Server {
    let c = certs();
    let opts = ServerOptions::new()
        .data_file("server.crt", cert.0.clone())
        .data_file("server.key", cert.1.clone())
        .data_file("root.crt", c.ca_pem.clone())
        .conf("ssl", "on")
        .conf("ssl_cert_file", "server.crt")
        .conf("ssl_key_file", "server.key")
        .conf("ssl_ca_file", "root.crt")
        .hba("hostnossl all ssl_user 127.0.0.1/32 reject")
        .hba("hostssl all ssl_user 127.0.0.1/32 scram-sha-256")
        .hba("hostssl all cert_user 127.0.0.1/32 cert");
    let s = Server::start(kind, opts).unwrap();
    let out = s
        .psql_command(harness::SUPERUSER)
        .arg("-c")
        .arg("CREATE ROLE ssl_user LOGIN PASSWORD 'pw-ssl'; CREATE ROLE cert_user LOGIN; GRANT CONNECT ON DATABASE hyperwire TO ssl_user, cert_user")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s
}

fn pg15_tls() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(|| tls_server(ServerKind::Pg15, &certs().server))
}

fn base(s: &Server, user: &str) -> String {
    format!(
        "host=127.0.0.1 port={} user={user} dbname=hyperwire",
        s.port()
    )
}

#[test]
fn every_sslmode_against_a_tls_and_a_plain_server() {
    let c = certs();
    let ca = c.ca_file();
    let tls = pg15_tls();
    let plain = harness::pg15();
    // (sslmode, outcome on the TLS server, outcome on the plain server):
    // Some(true) = encrypted, Some(false) = plaintext, None = refused.
    let table = [
        ("disable", Some(false), Some(false)),
        ("allow", Some(false), Some(false)),
        ("prefer", Some(true), Some(false)),
        ("require", Some(true), None),
        ("verify-ca", Some(true), None),
        ("verify-full", Some(true), None),
    ];
    for (mode, on_tls, on_plain) in table {
        for (server, expected) in [(tls, on_tls), (plain, on_plain)] {
            let conninfo = format!(
                "{} sslmode={mode} sslrootcert={ca}",
                base(server, harness::TRUST_USER)
            );
            match (Client::connect(&conninfo), expected) {
                (Ok(mut client), Some(encrypted)) => {
                    assert_eq!(
                        client.is_tls(),
                        encrypted,
                        "sslmode={mode} on port {}",
                        server.port()
                    );
                    client.batch_execute("SELECT 1").unwrap();
                }
                // The plain server answered the SSLRequest with 'N': no downgrade.
                (Err(e), None) => assert!(
                    matches!(e, Error::Protocol(hyperwire_proto::Error::TlsRefused)),
                    "sslmode={mode}: {e:?}"
                ),
                (Ok(_), None) => panic!("sslmode={mode} connected to a plain server"),
                (Err(e), Some(_)) => panic!("sslmode={mode} on port {}: {e}", server.port()),
            }
        }
    }
}

#[test]
fn allow_retries_with_tls_when_plaintext_is_refused() {
    let s = pg15_tls();
    let conninfo = format!("{} password=pw-ssl", base(s, "ssl_user"));
    let err = Client::connect(&format!("{conninfo} sslmode=disable")).unwrap_err();
    assert_eq!(err.sqlstate(), Some("28000"), "{err}");
    let c = Client::connect(&format!("{conninfo} sslmode=allow")).unwrap();
    assert!(c.is_tls());
}

#[test]
fn verification_refuses_a_wrong_host_and_an_expired_certificate() {
    let c = certs();
    let ca = c.ca_file();
    let wrong = tls_server(ServerKind::Pg15, &c.wrong_host);
    let expired = tls_server(ServerKind::Pg15, &c.expired);
    let user = harness::TRUST_USER;
    // The wrong host passes verify-ca (the chain is fine) but not verify-full.
    Client::connect(&format!(
        "{} sslmode=verify-ca sslrootcert={ca}",
        base(&wrong, user)
    ))
    .unwrap();
    let err = Client::connect(&format!(
        "{} sslmode=verify-full sslrootcert={ca}",
        base(&wrong, user)
    ))
    .unwrap_err();
    assert!(
        matches!(&err, Error::Tls(m) if m.contains("certificate not valid for name \"127.0.0.1\"")),
        "{err:?}"
    );
    // Expired: refused when verifying, accepted by require without a root file.
    for mode in ["verify-ca", "verify-full"] {
        let err = Client::connect(&format!(
            "{} sslmode={mode} sslrootcert={ca}",
            base(&expired, user)
        ))
        .unwrap_err();
        assert!(
            matches!(&err, Error::Tls(m) if m.to_lowercase().contains("expired")),
            "{mode}: {err:?}"
        );
    }
    let c2 = Client::connect(&format!("{} sslmode=require", base(&expired, user))).unwrap();
    assert!(c2.is_tls());
    // A root certificate file that does not exist: a clear error, no connection.
    let err = Client::connect(&format!(
        "{} sslmode=verify-full sslrootcert=/nonexistent/root.crt",
        base(pg15_tls(), user)
    ))
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/root.crt"), "{err}");
}

#[test]
fn client_certificate_authentication() {
    let c = certs();
    let (crt, key) = c.client_files();
    let s = pg15_tls();
    let mut client = Client::connect(&format!(
        "{} sslmode=verify-full sslrootcert={} sslcert={crt} sslkey={key}",
        base(s, "cert_user"),
        c.ca_file()
    ))
    .unwrap();
    let who: String = client
        .query_one("SELECT current_user::text", &[])
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(who, "cert_user");
    // Without the certificate the server refuses: its FATAL error, invalid
    // authorization specification ("connection requires a valid client certificate").
    let err = Client::connect(&format!("{} sslmode=require", base(s, "cert_user"))).unwrap_err();
    assert_eq!(err.sqlstate(), Some("28000"), "{err:?}");
}

#[test]
fn channel_binding_and_tls_details() {
    let c = certs();
    let s = pg15_tls();
    let conninfo = format!(
        "{} password=pw-ssl sslmode=verify-full sslrootcert={}",
        base(s, "ssl_user"),
        c.ca_file()
    );
    let mut client = Client::connect(&format!("{conninfo} channel_binding=require")).unwrap();
    assert!(client.is_channel_bound(), "SCRAM-SHA-256-PLUS was used");
    let info = client.tls_info().unwrap();
    assert_eq!(info.protocol_version, "TLSv1_3");
    assert!(!info.cipher_suite.is_empty());
    // The cancel request goes over TLS too, as the session did.
    let token = client.cancel_token().unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        token.cancel().unwrap();
    });
    let err = client.query("SELECT pg_sleep(30)", &[]).unwrap_err();
    t.join().unwrap();
    assert_eq!(err.sqlstate(), Some("57014"), "{err}");

    // channel_binding=require over plain TCP: refused before any secret is sent.
    let plain = harness::pg15();
    let err = Client::connect(&format!(
        "{} channel_binding=require",
        plain.conninfo(harness::SCRAM_USER)
    ))
    .unwrap_err();
    assert!(err.to_string().contains("channel binding"), "{err}");
    // channel_binding=disable over TLS: plain SCRAM.
    let client = Client::connect(&format!("{conninfo} channel_binding=disable")).unwrap();
    assert!(!client.is_channel_bound());
}

#[test]
fn direct_ssl_on_postgres_17_and_a_clean_failure_on_15() {
    let c = certs();
    let s17 = tls_server(ServerKind::Pg17, &c.server);
    let direct = format!(
        "sslmode=verify-full sslrootcert={} sslnegotiation=direct",
        c.ca_file()
    );
    let mut client =
        Client::connect(&format!("{} {direct}", base(&s17, harness::TRUST_USER))).unwrap();
    assert!(client.is_tls());
    assert_eq!(
        client.tls_info().unwrap().alpn.as_deref(),
        Some("postgresql")
    );
    client.batch_execute("SELECT 1").unwrap();
    let err = Client::connect(&format!(
        "{} {direct} connect_timeout=10",
        base(pg15_tls(), harness::TRUST_USER)
    ))
    .unwrap_err();
    assert!(matches!(err, Error::Tls(_)), "{err:?}");
    // Direct SSL with a weak sslmode is a settings error.
    let err = Client::connect(&format!(
        "{} sslmode=prefer sslnegotiation=direct",
        base(&s17, harness::TRUST_USER)
    ))
    .unwrap_err();
    assert!(
        matches!(&err, Error::Config(m)
            if m.contains("weak sslmode \"prefer\"") && m.contains("sslnegotiation=direct")),
        "{err:?}"
    );
}

#[test]
fn hyperd_with_tls() {
    let c = certs();
    let opts = ServerOptions::new()
        .data_file("tls.crt", c.server.0.clone())
        .data_file("tls.key", c.server.1.clone())
        .arg("--ssl-certificate=tls.crt")
        .arg("--ssl-key=tls.key")
        .hyper_password("pw-hyper");
    let s = Server::start(ServerKind::Hyper, opts).unwrap();
    let conninfo = format!(
        "host=127.0.0.1 port={} user={} password=pw-hyper sslmode=verify-full sslrootcert={}",
        s.port(),
        harness::HYPER_USER,
        c.ca_file()
    );
    let mut client = Client::connect(&conninfo).unwrap();
    assert!(client.is_tls());
    assert_eq!(client.tls_info().unwrap().protocol_version, "TLSv1_3");
    assert_eq!(
        client
            .query_one("SELECT 1 + 1", &[])
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        2
    );
    assert!(
        !client.is_channel_bound(),
        "hyperd offers no SCRAM-SHA-256-PLUS"
    );
    // A cancel over TLS: a full handshake (hyperd refuses to resume the
    // session's TLS session with an internal_error alert).
    let token = client.cancel_token().unwrap();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        token.cancel()
    });
    let err = client
        .query("SELECT count(*) FROM generate_series(1, 10000000000)", &[])
        .unwrap_err();
    t.join().unwrap().unwrap();
    assert_eq!(err.sqlstate(), Some("57014"), "{err}");
    assert_eq!(
        client
            .query_one("SELECT 3", &[])
            .unwrap()
            .get::<i32>(0)
            .unwrap(),
        3
    );
    // hyperd never offers PLUS: channel_binding=require fails before the password.
    let err = Client::connect(&format!("{conninfo} channel_binding=require")).unwrap_err();
    assert!(err.to_string().contains("channel binding"), "{err}");
}

#[test]
fn hwsql_accepts_the_tls_keys() {
    let exe = std::env::current_exe().unwrap();
    let hwsql = exe.parent().and_then(|d| d.parent()).unwrap().join("hwsql");
    let c = certs();
    let conninfo = format!(
        "{} password=pw-ssl sslmode=verify-full sslrootcert={} channel_binding=require",
        base(pg15_tls(), "ssl_user"),
        c.ca_file()
    );
    let out = std::process::Command::new(hwsql)
        .args([
            conninfo.as_str(),
            "-At",
            "-c",
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "t\n");
}

#[test]
fn gssencmode_require_is_refused_and_prefer_falls_back() {
    let s = harness::pg15();
    let err = Client::connect(&format!(
        "{} gssencmode=require",
        s.conninfo(harness::TRUST_USER)
    ))
    .unwrap_err();
    assert!(err.to_string().contains("GSSAPI"), "{err}");
    let mut c = Client::connect(&format!(
        "{} gssencmode=prefer",
        s.conninfo(harness::TRUST_USER)
    ))
    .unwrap();
    c.batch_execute("SELECT 1").unwrap();
}

/// The tokio connection shares the same TLS configuration: the same outcomes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_sslmodes_channel_binding_direct_and_cancel() {
    async_sslmodes_channel_binding_direct_and_cancel::<hyperwire_tokio::Tokio>().await;
}

/// async-std (futures-rustls): the same outcomes.
#[test]
fn async_std_sslmodes_channel_binding_direct_and_cancel() {
    async_std::task::block_on(async_sslmodes_channel_binding_direct_and_cancel::<
        hyperwire_async_std::AsyncStd,
    >());
}

/// smol's executor and async-net sockets: the same outcomes.
#[test]
fn smol_sslmodes_channel_binding_direct_and_cancel() {
    smol::block_on(async_sslmodes_channel_binding_direct_and_cancel::<
        hyperwire_async_std::Smol,
    >());
}

async fn async_sslmodes_channel_binding_direct_and_cancel<R: async_suite::TestRuntime>() {
    type Connection<R> = hyperwire_async::Connection<R>;
    let c = certs();
    let ca = c.ca_file();
    let tls = pg15_tls();
    let plain = harness::pg15();
    for (mode, on_tls, on_plain) in [
        ("disable", Some(false), Some(false)),
        ("prefer", Some(true), Some(false)),
        ("require", Some(true), None),
        ("verify-full", Some(true), None),
    ] {
        for (server, expected) in [(tls, on_tls), (plain, on_plain)] {
            let conninfo = format!(
                "{} sslmode={mode} sslrootcert={ca}",
                base(server, harness::TRUST_USER)
            );
            match (Connection::<R>::connect(&conninfo).await, expected) {
                (Ok(conn), Some(encrypted)) => {
                    assert_eq!(conn.is_tls(), encrypted, "sslmode={mode}")
                }
                // The plain server answered the SSLRequest with 'N': no downgrade.
                (Err(e), None) => assert!(
                    matches!(
                        e,
                        hyperwire_async::Error::Protocol(hyperwire_proto::Error::TlsRefused)
                    ),
                    "sslmode={mode}: {e:?}"
                ),
                (Ok(_), None) => panic!("sslmode={mode} connected to a plain server"),
                (Err(e), Some(_)) => panic!("sslmode={mode}: {e}"),
            }
        }
    }
    // SCRAM-SHA-256-PLUS and a cancel over TLS.
    let conninfo = format!(
        "{} password=pw-ssl sslmode=verify-full sslrootcert={ca} channel_binding=require",
        base(tls, "ssl_user")
    );
    let mut conn = Connection::<R>::connect(&conninfo).await.unwrap();
    assert!(conn.is_channel_bound());
    assert_eq!(conn.tls_info().unwrap().protocol_version, "TLSv1_3");
    let token = conn.cancel_token().unwrap();
    let canceller = R::spawn(async move {
        R::sleep(Duration::from_millis(300)).await;
        token.cancel().await.unwrap();
    });
    let err = conn.query("SELECT pg_sleep(30)", &[]).await.unwrap_err();
    canceller.await;
    assert_eq!(err.sqlstate(), Some("57014"), "{err}");
    // Megabytes through TLS: every record reaches the socket (rustls buffers
    // them; the adapter must flush, or the COPY never ends).
    conn.batch_execute("CREATE TEMP TABLE big_tls (t text)")
        .await
        .unwrap();
    let mut w = conn
        .copy_in("COPY big_tls FROM STDIN WITH (FORMAT text)")
        .await
        .unwrap();
    let line = "x".repeat(1000) + "\n";
    for _ in 0..8000 {
        w.send(line.as_bytes()).await.unwrap();
    }
    let rows = async_suite::within::<R, _>(Duration::from_secs(60), w.finish())
        .await
        .expect("the COPY over TLS finished");
    assert_eq!(rows.unwrap(), 8000);
    // Direct SSL on PostgreSQL 17.
    let s17 = tls_server(ServerKind::Pg17, &c.server);
    let conn = Connection::<R>::connect(&format!(
        "{} sslmode=verify-full sslrootcert={ca} sslnegotiation=direct",
        base(&s17, harness::TRUST_USER)
    ))
    .await
    .unwrap();
    assert_eq!(conn.tls_info().unwrap().alpn.as_deref(), Some("postgresql"));
    // The wrong host fails verify-full: a TLS error about the name.
    let wrong = tls_server(ServerKind::Pg15, &c.wrong_host);
    let err = Connection::<R>::connect(&format!(
        "{} sslmode=verify-full sslrootcert={ca}",
        base(&wrong, harness::TRUST_USER)
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(&err, hyperwire_async::Error::Tls(m)
            if m.contains("certificate not valid for name \"127.0.0.1\"")),
        "{err:?}"
    );
}
