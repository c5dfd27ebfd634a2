//! The engine without sockets: the connector driven through every attempt path
//! with scripted servers, and the cancel exchange through every answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use std::collections::VecDeque;
use std::time::Duration;

use hyperwire_proto::config::Config;
use hyperwire_proto::engine::{
    AttemptError, CancelAction, CancelError, CancelExchange, CancelTlsMode, ConnectAction,
    ConnectError, Connected, Connector, Environment, Timestamp,
};
use hyperwire_proto::{Error, ProtocolError, ProtocolVersion};
use support::*;

/// What a scripted server does after each thing the client writes.
#[derive(Clone)]
enum Step {
    /// Answer with these bytes.
    Reply(Vec<u8>),
    /// Close the connection.
    Eof,
    /// Answer nothing, ever.
    Hang,
}

/// A server for one connection: `None` refuses the connection.
type Script = Option<Vec<Step>>;

/// What happened, as a log of actions and the client's bytes per connection.
struct Run {
    log: Vec<String>,
    sent: Vec<Vec<u8>>,
    result: Result<Box<Connected>, ConnectError<String>>,
}

fn t(secs: u64) -> Timestamp {
    Timestamp::from_since_origin(Duration::from_secs(secs))
}

/// Drives a connector; `server(label, n)` gives the script of the n-th connection.
fn run(conninfo: &str, server: impl FnMut(&str, usize) -> Script) -> Run {
    let config = Config::parse(conninfo).unwrap();
    let mut c: Connector<String> = Connector::new(&config);
    run_connector(&mut c, server)
}

fn run_connector(c: &mut Connector<String>, mut server: impl FnMut(&str, usize) -> Script) -> Run {
    let mut log = Vec::new();
    let mut sent: Vec<Vec<u8>> = Vec::new();
    let mut steps: VecDeque<Step> = VecDeque::new();
    let mut opens = 0;
    let mut now = 0;
    for _ in 0..1000 {
        match c.poll_action() {
            ConnectAction::Open(ep) => {
                log.push(format!("open {}", ep.label));
                match server(&ep.label, opens) {
                    Some(script) => {
                        steps = script.into();
                        sent.push(Vec::new());
                        c.opened(t(now));
                    }
                    None => c.open_failed("connection refused".into(), t(now)),
                }
                opens += 1;
            }
            ConnectAction::StartTls { host, direct } => {
                log.push(format!("tls {host}{}", if direct { " direct" } else { "" }));
                c.tls_established(None, t(now));
            }
            ConnectAction::Io => {
                let out = c.pending_send().to_vec();
                c.advance_send(out.len());
                sent.last_mut().unwrap().extend_from_slice(&out);
                match steps.pop_front() {
                    Some(Step::Reply(bytes)) => {
                        c.recv_buf(bytes.len())[..bytes.len()].copy_from_slice(&bytes);
                        c.recv_commit(bytes.len());
                    }
                    Some(Step::Eof) | None => c.recv_eof(),
                    Some(Step::Hang) => {
                        let deadline = c.poll_timeout().expect("a hang needs a deadline");
                        now = deadline.since_origin().as_secs() + 1;
                        log.push("timeout".into());
                        c.handle_timeout(t(now));
                    }
                }
            }
            ConnectAction::Close => log.push("close".into()),
            ConnectAction::Ready(connected) => {
                log.push(format!("ready {}", connected.endpoint.label));
                return Run {
                    log,
                    sent,
                    result: Ok(connected),
                };
            }
            ConnectAction::Failed(e) => {
                log.push("failed".into());
                return Run {
                    log,
                    sent,
                    result: Err(e),
                };
            }
            other => panic!("unexpected action {other:?}"),
        }
    }
    panic!("the connector did not finish: {log:?}");
}

fn trust() -> Script {
    Some(vec![Step::Reply(trust_startup())])
}

/// A server that reports whether it is a hot standby.
fn server_with(hot_standby: &str) -> Script {
    Some(vec![Step::Reply(cat(&[
        auth_ok(),
        param("in_hot_standby", hot_standby),
        param("default_transaction_read_only", "off"),
        key(1, &[1, 2, 3, 4]),
        ready(b'I'),
    ]))])
}

/// One value from a simple query.
fn answer(value: &str) -> Step {
    Step::Reply(cat(&[
        row_desc(&[("v", 25)]),
        data_row(&[Some(value.as_bytes())]),
        complete("SELECT 1"),
        ready(b'I'),
    ]))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

fn errors(r: &Run) -> Vec<String> {
    match &r.result {
        Err(e) => e
            .attempts
            .iter()
            .map(|a| format!("{}: {}", a.endpoint, a.error))
            .collect(),
        Ok(_) => panic!("connected: {:?}", r.log),
    }
}

#[test]
fn first_host_that_opens_wins_and_the_failures_are_kept() {
    let r = run("host=a,b port=1,2 sslmode=disable", |label, _| {
        (label == "b:2").then(|| vec![Step::Reply(trust_startup())])
    });
    assert_eq!(r.log, ["open a:1", "open b:2", "ready b:2"]);
    let connected = r.result.unwrap();
    assert!(connected.protocol.is_ready());
    assert_eq!(connected.tls, None);

    let r = run("host=a,b port=1,2 sslmode=disable", |_, _| None);
    assert_eq!(r.log, ["open a:1", "open b:2", "failed"]);
    assert_eq!(
        errors(&r),
        ["a:1: connection refused", "b:2: connection refused"]
    );
}

#[test]
fn a_startup_error_moves_on_to_the_next_host() {
    let refused = Some(vec![Step::Reply(error("28000", "no pg_hba.conf entry"))]);
    let r = run("host=a,b sslmode=disable", |label, _| {
        if label.starts_with('a') {
            refused.clone()
        } else {
            trust()
        }
    });
    assert_eq!(
        r.log,
        ["open a:5432", "close", "open b:5432", "ready b:5432"]
    );
}

#[test]
fn sslmode_prefer_continues_in_plaintext_after_n_and_encrypts_after_s() {
    let r = run("host=h sslmode=prefer", |_, _| {
        Some(vec![
            Step::Reply(b"N".to_vec()),
            Step::Reply(trust_startup()),
        ])
    });
    assert_eq!(r.log, ["open h:5432", "ready h:5432"]);
    assert!(r.sent[0].starts_with(&SSL_REQUEST));
    assert_eq!(r.result.unwrap().tls, None);

    let r = run("host=h sslmode=prefer", |_, _| {
        Some(vec![
            Step::Reply(b"S".to_vec()),
            Step::Reply(trust_startup()),
        ])
    });
    assert_eq!(r.log, ["open h:5432", "tls h", "ready h:5432"]);
    assert_eq!(r.result.unwrap().tls, Some(CancelTlsMode::SslRequest));
}

#[test]
fn sslmode_require_refuses_plaintext_without_a_second_attempt() {
    let r = run("host=h sslmode=require", |_, _| {
        Some(vec![
            Step::Reply(b"N".to_vec()),
            Step::Reply(trust_startup()),
        ])
    });
    assert_eq!(r.log, ["open h:5432", "close", "failed"]);
    let e = r.result.unwrap_err();
    assert!(matches!(
        e.attempts[..],
        [hyperwire_proto::engine::AttemptFailure {
            error: AttemptError::Protocol(Error::TlsRefused),
            ..
        }]
    ));
}

#[test]
fn sslmode_allow_tries_tls_only_after_the_server_refused_plaintext() {
    let r = run("host=h sslmode=allow", |_, n| {
        Some(match n {
            0 => vec![Step::Reply(error(
                "28000",
                "no pg_hba.conf entry, no encryption",
            ))],
            _ => vec![Step::Reply(b"S".to_vec()), Step::Reply(trust_startup())],
        })
    });
    assert_eq!(
        r.log,
        [
            "open h:5432",
            "close",
            "open h:5432",
            "tls h",
            "ready h:5432"
        ]
    );
    assert!(!r.sent[0].starts_with(&SSL_REQUEST));
    assert!(r.sent[1].starts_with(&SSL_REQUEST));

    // A plaintext success needs no second attempt.
    let r = run("host=h sslmode=allow", |_, _| trust());
    assert_eq!(r.log, ["open h:5432", "ready h:5432"]);
}

#[test]
fn direct_ssl_starts_tls_before_any_byte() {
    let r = run("host=h sslmode=require sslnegotiation=direct", |_, _| {
        trust()
    });
    assert_eq!(r.log, ["open h:5432", "tls h direct", "ready h:5432"]);
    assert!(!contains(&r.sent[0], &SSL_REQUEST));
    assert_eq!(r.result.unwrap().tls, Some(CancelTlsMode::Direct));
}

#[test]
fn gssencmode_require_fails_before_opening_anything() {
    let r = run("host=h gssencmode=require", |_, _| trust());
    assert_eq!(r.log, ["failed"]);
    assert!(errors(&r)[0].contains("GSSAPI"), "{:?}", errors(&r));
}

#[test]
fn hyperd_closing_on_protocol_3_2_is_retried_once_with_3_0() {
    let r = run(
        "host=h sslmode=disable max_protocol_version=3.2",
        |_, n| match n {
            0 => Some(vec![Step::Eof]),
            _ => trust(),
        },
    );
    assert_eq!(
        r.log,
        ["open h:5432", "close", "open h:5432", "ready h:5432"]
    );
    assert_eq!(&r.sent[0][4..8], &[0, 3, 0, 2]);
    assert_eq!(&r.sent[1][4..8], &[0, 3, 0, 0]);
    assert_eq!(
        r.result.unwrap().protocol.protocol_version(),
        ProtocolVersion::V3_0
    );

    // Only once: a server that closes on 3.0 too fails the host.
    let r = run("host=h sslmode=disable max_protocol_version=3.2", |_, _| {
        Some(vec![Step::Eof])
    });
    assert_eq!(
        r.log,
        ["open h:5432", "close", "open h:5432", "close", "failed"]
    );
}

#[test]
fn target_session_attrs_uses_reported_parameters_or_asks_as_libpq_does() {
    // in_hot_standby reported: no query needed.
    let r = run(
        "host=a,b sslmode=disable target_session_attrs=primary",
        |label, _| server_with(if label.starts_with('a') { "on" } else { "off" }),
    );
    assert_eq!(
        r.log,
        ["open a:5432", "close", "open b:5432", "ready b:5432"]
    );
    assert!(!contains(&r.sent[0], b"pg_is_in_recovery"));

    // Not reported (PostgreSQL before 14, poolers): libpq's query decides.
    let r = run(
        "host=a,b sslmode=disable target_session_attrs=read-write",
        |label, _| {
            let ro = if label.starts_with('a') { "on" } else { "off" };
            Some(vec![Step::Reply(trust_startup()), answer(ro)])
        },
    );
    assert_eq!(
        r.log,
        ["open a:5432", "close", "open b:5432", "ready b:5432"]
    );
    assert!(contains(&r.sent[0], b"SHOW transaction_read_only\0"));
    assert_eq!(errors_of(&r.log), 0, "the session connected");

    let r = run(
        "host=a sslmode=disable target_session_attrs=standby",
        |_, _| Some(vec![Step::Reply(trust_startup()), answer("f")]),
    );
    assert!(contains(
        &r.sent[0],
        b"SELECT pg_catalog.pg_is_in_recovery()\0"
    ));
    assert_eq!(
        errors(&r),
        ["a:5432: server does not match target_session_attrs=standby"]
    );

    // The check query's error is the attempt's error.
    let r = run(
        "host=a sslmode=disable target_session_attrs=read-only",
        |_, _| {
            Some(vec![
                Step::Reply(trust_startup()),
                Step::Reply(cat(&[error("42501", "permission denied"), ready(b'I')])),
            ])
        },
    );
    match &r.result.as_ref().unwrap_err().attempts[..] {
        [a] => match &a.error {
            AttemptError::Check(e) => assert_eq!(e.code(), "42501"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

fn errors_of(log: &[String]) -> usize {
    log.iter().filter(|l| *l == "failed").count()
}

#[test]
fn prefer_standby_falls_back_to_a_primary_in_a_second_pass() {
    let r = run(
        "host=a,b sslmode=disable target_session_attrs=prefer-standby",
        |_, _| server_with("off"),
    );
    assert_eq!(
        r.log,
        [
            "open a:5432",
            "close",
            "open b:5432",
            "close",
            "open a:5432",
            "ready a:5432"
        ]
    );
    let r = run(
        "host=a,b sslmode=disable target_session_attrs=prefer-standby",
        |label, _| server_with(if label.starts_with('b') { "on" } else { "off" }),
    );
    assert_eq!(
        r.log,
        ["open a:5432", "close", "open b:5432", "ready b:5432"]
    );
}

#[test]
fn connect_timeout_ends_an_attempt_and_moves_on() {
    let r = run("host=a,b sslmode=disable connect_timeout=3", |label, _| {
        if label.starts_with('a') {
            Some(vec![Step::Hang])
        } else {
            trust()
        }
    });
    assert_eq!(
        r.log,
        [
            "open a:5432",
            "timeout",
            "close",
            "open b:5432",
            "ready b:5432"
        ]
    );
}

/// An environment with nothing but what the test gives.
fn environment<'a>(
    var: &'a dyn Fn(&str) -> Option<String>,
    read_file: &'a dyn Fn(&str) -> Option<(u32, String)>,
    exists: &'a dyn Fn(&str) -> bool,
    random: u64,
) -> Environment<'a> {
    Environment {
        var,
        read_file,
        exists,
        random,
    }
}

#[test]
fn password_file_supplies_the_password_for_the_matching_host() {
    let config = Config::parse("host=a,b user=u dbname=d sslmode=disable").unwrap();
    let home = |k: &str| (k == "HOME").then(|| "/home/u".to_string());
    let no_socket = |_: &str| false;
    // Readable by others: ignored, with libpq's warning.
    let mut c: Connector<String> = Connector::new(&config);
    let open_file =
        |p: &str| (p == "/home/u/.pgpass").then(|| (0o100644, "b:5432:d:u:secret\n".to_string()));
    let warning = c.read_environment(&environment(&home, &open_file, &no_socket, 0));
    assert!(warning.unwrap().contains("group or world access"));

    let mut c: Connector<String> = Connector::new(&config);
    let private_file =
        |p: &str| (p == "/home/u/.pgpass").then(|| (0o100600, "b:5432:d:u:secret\n".to_string()));
    assert_eq!(
        c.read_environment(&environment(&home, &private_file, &no_socket, 0)),
        None
    );
    // Cleartext is requested; the password goes only to the host it is for.
    let r = run_connector(&mut c, |_, _| {
        Some(vec![
            Step::Reply(auth(3, &[])),
            Step::Reply(trust_startup()),
        ])
    });
    assert!(!contains(&r.sent[0], b"secret"));
    assert!(contains(&r.sent[1], b"secret\0"));
    assert_eq!(r.log.last().unwrap(), "ready b:5432");
}

#[test]
fn without_a_host_the_first_default_socket_directory_that_exists_is_used() {
    let config = Config::parse("user=u port=7").unwrap();
    let nothing = |_: &str| None::<String>;
    let no_file = |_: &str| None;
    let tmp_only = |p: &str| p == "/tmp/.s.PGSQL.7";
    let mut c: Connector<String> = Connector::new(&config);
    c.read_environment(&environment(&nothing, &no_file, &tmp_only, 0));
    let r = run_connector(&mut c, |_, _| trust());
    assert_eq!(r.log, ["open /tmp:7", "ready /tmp:7"]);

    let none = |_: &str| false;
    let mut c: Connector<String> = Connector::new(&config);
    c.read_environment(&environment(&nothing, &no_file, &none, 0));
    let r = run_connector(&mut c, |_, _| trust());
    assert_eq!(r.log[0], "open localhost:7");
}

#[test]
fn load_balance_hosts_random_spreads_and_disable_keeps_the_order() {
    let mut first = std::collections::HashMap::new();
    for seed in 0..300u64 {
        let config = Config::parse("host=a,b,c sslmode=disable load_balance_hosts=random").unwrap();
        let mut c: Connector<String> = Connector::new(&config);
        c.read_environment(&environment(&|_| None, &|_| None, &|_| false, seed));
        let r = run_connector(&mut c, |_, _| trust());
        *first.entry(r.log[0].clone()).or_insert(0) += 1;
    }
    assert_eq!(first.len(), 3, "{first:?}");
    assert!(first.values().all(|n| *n >= 60), "{first:?}");

    let r = run(
        "host=a,b,c sslmode=disable load_balance_hosts=disable",
        |_, _| None,
    );
    assert_eq!(
        r.log,
        ["open a:5432", "open b:5432", "open c:5432", "failed"]
    );
}

/// A cancel request from a session that finished its startup.
fn cancel_request() -> hyperwire_proto::CancelRequest {
    let p = ready_machine();
    p.cancel_request().unwrap()
}

fn exchange(tls: Option<CancelTlsMode>) -> CancelExchange {
    CancelExchange::new(cancel_request(), tls, t(0))
}

#[test]
fn cancel_in_plaintext_sends_the_request_and_waits_for_the_close() {
    let mut x = exchange(None);
    assert_eq!(x.poll_action(), CancelAction::Open);
    x.opened();
    assert_eq!(x.poll_action(), CancelAction::Io);
    assert_eq!(x.pending_send(), cancel_request().as_bytes());
    x.advance_send(16);
    assert!(x.pending_send().is_empty());
    assert_eq!(x.poll_action(), CancelAction::Io);
    x.recv_eof();
    assert_eq!(x.poll_action(), CancelAction::Done);
    assert_eq!(x.poll_timeout(), None);
}

#[test]
fn cancel_over_tls_reads_exactly_one_answer_byte() {
    let mut x = exchange(Some(CancelTlsMode::SslRequest));
    x.opened();
    assert_eq!(x.pending_send(), SSL_REQUEST);
    x.advance_send(8);
    assert_eq!(x.poll_action(), CancelAction::Io);
    assert_eq!(
        x.recv_buf().len(),
        1,
        "nothing after the answer is read in plaintext"
    );
    x.recv_buf()[0] = b'S';
    x.recv_commit(1);
    assert_eq!(x.poll_action(), CancelAction::StartTls { direct: false });
    x.tls_established();
    assert_eq!(x.pending_send(), cancel_request().as_bytes());
    x.advance_send(16);
    x.recv_eof();
    assert_eq!(x.poll_action(), CancelAction::Done);

    let mut x = exchange(Some(CancelTlsMode::Direct));
    x.opened();
    assert_eq!(x.poll_action(), CancelAction::StartTls { direct: true });
    assert!(x.pending_send().is_empty());
}

#[test]
fn cancel_answers_are_parsed_as_strictly_as_at_startup() {
    let answered = |bytes: &[u8]| {
        let mut x = exchange(Some(CancelTlsMode::SslRequest));
        x.opened();
        let _ = x.poll_action();
        x.recv_buf()[0] = bytes[0];
        x.recv_commit(1);
        x.poll_action()
    };
    assert_eq!(
        answered(b"N"),
        CancelAction::Failed(CancelError::Protocol(Error::TlsRefused))
    );
    assert_eq!(
        answered(b"E"),
        CancelAction::Failed(CancelError::Protocol(Error::Protocol(
            ProtocolError::BadEncryptionAnswer(b'E')
        )))
    );
    // Closed before answering.
    let mut x = exchange(Some(CancelTlsMode::SslRequest));
    x.opened();
    x.recv_eof();
    assert!(matches!(
        x.poll_action(),
        CancelAction::Failed(CancelError::Protocol(Error::Closed(_)))
    ));
    // Closed before the request was written: the server never got it.
    let mut x = exchange(None);
    x.opened();
    assert_eq!(x.poll_action(), CancelAction::Io);
    x.recv_eof();
    assert!(matches!(
        x.poll_action(),
        CancelAction::Failed(CancelError::Protocol(Error::Closed(_)))
    ));
    // No close within the time limit.
    let mut x = exchange(None);
    x.opened();
    let deadline = x.poll_timeout().unwrap();
    x.handle_timeout(t(1));
    assert_eq!(x.poll_action(), CancelAction::Io);
    x.handle_timeout(deadline);
    assert_eq!(x.poll_action(), CancelAction::Failed(CancelError::TimedOut));
}

// ---- the query reader ---------------------------------------------------------------

mod reader {
    use super::*;
    use hyperwire_proto::engine::{QueryReader, ReadStep, RequestError, COPY_NOT_EXPECTED};
    use hyperwire_proto::inbox::Inbox;
    use hyperwire_proto::result::QueryResult;
    use hyperwire_proto::statement_cache::{StatementCache, StatementPolicy};
    use hyperwire_proto::value::{EncodedParams, ToSql};
    use hyperwire_proto::Protocol;

    fn params(v: i64) -> EncodedParams {
        EncodedParams::new(&[&v as &dyn ToSql], None).unwrap()
    }

    fn named() -> StatementCache {
        StatementCache::new(StatementPolicy::default())
    }

    /// The answer to Parse + Describe + Bind + Execute + Sync of `SELECT $1::int8`.
    fn prepared_answer(value: &str) -> Vec<u8> {
        cat(&[
            empty(b'1'),
            msg(b't', &[0, 1, 0, 0, 0, 20]),
            row_desc(&[("v", 20)]),
            empty(b'2'),
            data_row(&[Some(value.as_bytes())]),
            complete("SELECT 1"),
            ready(b'I'),
        ])
    }

    /// Feeds `bytes` in chunks of `chunk`, polling after each; the outcome.
    fn read(
        reader: &mut QueryReader,
        p: &mut Protocol,
        cache: &mut StatementCache,
        inbox: &mut Inbox,
        bytes: &[u8],
        chunk: usize,
    ) -> Result<Vec<QueryResult>, RequestError> {
        for part in bytes.chunks(chunk.max(1)) {
            p.receive(part);
            if let ReadStep::Done(r) = reader.poll(p, cache, inbox) {
                return r;
            }
        }
        match reader.poll(p, cache, inbox) {
            ReadStep::Done(r) => r,
            other => panic!("not done: {other:?}"),
        }
    }

    fn tags(sent: &[u8]) -> Vec<u8> {
        split_client(sent, false).iter().map(|(t, _)| *t).collect()
    }

    #[test]
    fn a_new_statement_is_prepared_then_reused_in_any_chunking() {
        for chunk in [1, 3, 7, 1000] {
            let mut p = ready_machine();
            let (mut cache, mut inbox) = (named(), Inbox::default());
            let mut r =
                QueryReader::send(&mut p, &mut cache, "SELECT $1::int8", params(7)).unwrap();
            assert!(r.is_preparing());
            assert_eq!(tags(&take_sent(&mut p)), b"PDBES");
            let got = read(
                &mut r,
                &mut p,
                &mut cache,
                &mut inbox,
                &prepared_answer("7"),
                chunk,
            );
            let rows = &got.unwrap()[0].rows;
            assert_eq!(rows[0].get::<i64>(0).unwrap(), 7);
            assert_eq!(cache.len(), 1);

            // Known now: Bind and Execute only, the rows in binary.
            let mut r =
                QueryReader::send(&mut p, &mut cache, "SELECT $1::int8", params(8)).unwrap();
            assert!(!r.is_preparing());
            assert_eq!(tags(&take_sent(&mut p)), b"BES");
            let answer = cat(&[
                empty(b'2'),
                data_row(&[Some(&8i64.to_be_bytes())]),
                complete("SELECT 1"),
                ready(b'I'),
            ]);
            let got = read(&mut r, &mut p, &mut cache, &mut inbox, &answer, chunk).unwrap();
            assert_eq!(got[0].rows[0].get::<i64>(0).unwrap(), 8, "chunk {chunk}");
        }
    }

    /// A machine and a cache that hold `SELECT $1::int8` as a named statement.
    fn with_cached_statement() -> (Protocol, StatementCache, Inbox) {
        let mut p = ready_machine();
        let (mut cache, mut inbox) = (named(), Inbox::default());
        let mut r = QueryReader::send(&mut p, &mut cache, "SELECT $1::int8", params(1)).unwrap();
        take_sent(&mut p);
        read(
            &mut r,
            &mut p,
            &mut cache,
            &mut inbox,
            &prepared_answer("1"),
            1000,
        )
        .unwrap();
        (p, cache, inbox)
    }

    #[test]
    fn a_statement_the_server_lost_is_prepared_again_once() {
        let (mut p, mut cache, mut inbox) = with_cached_statement();
        let mut r = QueryReader::send(&mut p, &mut cache, "SELECT $1::int8", params(2)).unwrap();
        let first = r.request();
        take_sent(&mut p);
        p.receive(&cat(&[
            error("26000", "prepared statement \"s1\" does not exist"),
            ready(b'I'),
        ]));
        assert!(matches!(
            r.poll(&mut p, &mut cache, &mut inbox),
            ReadStep::NeedIo
        ));
        assert_ne!(r.request(), first, "sent again under a new request");
        assert_eq!(tags(&take_sent(&mut p)), b"PDBES");
        let got = read(
            &mut r,
            &mut p,
            &mut cache,
            &mut inbox,
            &prepared_answer("2"),
            5,
        )
        .unwrap();
        assert_eq!(got[0].rows[0].get::<i64>(0).unwrap(), 2);
    }

    #[test]
    fn inside_a_transaction_a_lost_statement_is_an_error_not_a_retry() {
        let (mut p, mut cache, mut inbox) = with_cached_statement();
        let mut r = QueryReader::send(&mut p, &mut cache, "SELECT $1::int8", params(2)).unwrap();
        take_sent(&mut p);
        let answer = cat(&[error("26000", "gone"), ready(b'E')]);
        match read(&mut r, &mut p, &mut cache, &mut inbox, &answer, 1000) {
            Err(RequestError::Server(e)) => assert_eq!(e.code(), "26000"),
            other => panic!("{other:?}"),
        }
        assert!(p.pending_send().is_empty(), "nothing sent again");
        assert_eq!(cache.len(), 0, "the stale statement is evicted");
    }

    #[test]
    fn a_copy_met_by_a_query_is_refused_one_way_for_both_directions() {
        // COPY FROM STDIN: failed at once, so the request ends.
        let mut p = ready_machine();
        let (mut cache, mut inbox) = (named(), Inbox::default());
        let mut r = QueryReader::simple(&mut p, "COPY t FROM STDIN").unwrap();
        take_sent(&mut p);
        p.receive(&copy_response(b'G', 1));
        assert!(matches!(
            r.poll(&mut p, &mut cache, &mut inbox),
            ReadStep::NeedIo
        ));
        let sent = take_sent(&mut p);
        let msgs = split_client(&sent, false);
        assert_eq!(msgs[0].0, b'f');
        assert!(contains(&msgs[0].1, COPY_NOT_EXPECTED.as_bytes()));
        let answer = cat(&[error("57014", "COPY from stdin failed"), ready(b'I')]);
        assert_eq!(
            read(&mut r, &mut p, &mut cache, &mut inbox, &answer, 2).unwrap_err(),
            RequestError::CopyNotExpected
        );
        assert!(p.is_healthy());

        // COPY TO STDOUT: read to its end and dropped.
        let mut r = QueryReader::simple(&mut p, "COPY t TO STDOUT").unwrap();
        take_sent(&mut p);
        let answer = cat(&[
            copy_response(b'H', 1),
            msg(b'd', b"1\n"),
            empty(b'c'),
            complete("COPY 1"),
            ready(b'I'),
        ]);
        assert_eq!(
            read(&mut r, &mut p, &mut cache, &mut inbox, &answer, 3).unwrap_err(),
            RequestError::CopyNotExpected
        );
        assert!(p.is_healthy());
        assert!(p.pending_send().is_empty());
    }

    #[test]
    fn notices_and_notifications_go_to_the_inbox_while_reading() {
        let mut p = ready_machine();
        let (mut cache, mut inbox) = (named(), Inbox::default());
        let mut r = QueryReader::simple(&mut p, "SELECT 1").unwrap();
        take_sent(&mut p);
        let answer = cat(&[
            row_desc(&[("a", 23)]),
            notice("careful"),
            data_row(&[Some(b"1")]),
            notification(9, "ch", "hi"),
            complete("SELECT 1"),
            ready(b'I'),
        ]);
        let got = read(&mut r, &mut p, &mut cache, &mut inbox, &answer, 4).unwrap();
        assert_eq!(got[0].rows.len(), 1);
        assert_eq!(inbox.take_notices().count(), 1);
        assert_eq!(inbox.drain_notifications().count(), 1);
    }

    #[test]
    fn a_fatal_error_ends_the_read_with_it() {
        let mut p = ready_machine();
        let (mut cache, mut inbox) = (named(), Inbox::default());
        let mut r = QueryReader::send(&mut p, &mut cache, "SELECT $1::int8", params(1)).unwrap();
        take_sent(&mut p);
        p.receive(&[b'1', 0, 0, 0, 4, b'?', 0, 0, 0, 4]);
        match r.poll(&mut p, &mut cache, &mut inbox) {
            ReadStep::Done(Err(RequestError::Protocol(_))) => {}
            other => panic!("{other:?}"),
        }
        // The machine refuses further work, with the same error.
        assert!(QueryReader::send(&mut p, &mut cache, "SELECT 1", params(1)).is_err());
    }
}

// ---- the start of a COPY -------------------------------------------------------------

mod copy_start {
    use super::*;
    use hyperwire_proto::engine::copy_start::WRONG_DIRECTION;
    use hyperwire_proto::engine::{CopyDirection, CopyStart, ReadStep, RequestError};
    use hyperwire_proto::inbox::Inbox;
    use hyperwire_proto::Protocol;

    fn poll_all(x: &mut CopyStart, p: &mut Protocol, bytes: &[u8]) -> ReadStep<()> {
        let mut inbox = Inbox::default();
        let mut last = ReadStep::NeedIo;
        for b in bytes {
            p.receive(&[*b]);
            last = x.poll(p, &mut inbox);
            if matches!(last, ReadStep::Done(_)) {
                return last;
            }
        }
        last
    }

    #[test]
    fn the_wanted_direction_starts_the_data_phase() {
        for (direction, tag) in [(CopyDirection::In, b'G'), (CopyDirection::Out, b'H')] {
            let mut p = ready_machine();
            let mut x = CopyStart::send(&mut p, "COPY t ...", direction).unwrap();
            take_sent(&mut p);
            let got = poll_all(&mut x, &mut p, &copy_response(tag, 2));
            assert!(matches!(got, ReadStep::Done(Ok(()))), "{got:?}");
        }
    }

    #[test]
    fn the_other_direction_is_refused_and_the_connection_stays_usable() {
        // COPY IN where OUT was wanted: failed at once.
        let mut p = ready_machine();
        let mut x = CopyStart::send(&mut p, "COPY t FROM STDIN", CopyDirection::Out).unwrap();
        take_sent(&mut p);
        assert!(matches!(
            poll_all(&mut x, &mut p, &copy_response(b'G', 1)),
            ReadStep::NeedIo
        ));
        let sent = split_client(&take_sent(&mut p), false);
        assert_eq!(sent[0].0, b'f');
        assert!(contains(&sent[0].1, WRONG_DIRECTION.as_bytes()));
        let end = cat(&[error("57014", "COPY from stdin failed"), ready(b'I')]);
        assert!(matches!(
            poll_all(&mut x, &mut p, &end),
            ReadStep::Done(Err(RequestError::CopyWrongDirection))
        ));
        assert!(p.is_healthy());

        // COPY OUT where IN was wanted: read to its end and dropped.
        let mut x = CopyStart::send(&mut p, "COPY t TO STDOUT", CopyDirection::In).unwrap();
        take_sent(&mut p);
        let answer = cat(&[
            copy_response(b'H', 1),
            msg(b'd', b"1\n"),
            empty(b'c'),
            complete("COPY 1"),
            ready(b'I'),
        ]);
        assert!(matches!(
            poll_all(&mut x, &mut p, &answer),
            ReadStep::Done(Err(RequestError::CopyWrongDirection))
        ));
        assert!(p.is_healthy());
    }

    #[test]
    fn a_statement_without_copy_ends_with_its_error_or_not_copy() {
        let mut p = ready_machine();
        let mut x = CopyStart::send(&mut p, "SELECT 1", CopyDirection::In).unwrap();
        take_sent(&mut p);
        let answer = cat(&[
            row_desc(&[("a", 23)]),
            data_row(&[Some(b"1")]),
            complete("SELECT 1"),
            ready(b'I'),
        ]);
        assert!(matches!(
            poll_all(&mut x, &mut p, &answer),
            ReadStep::Done(Err(RequestError::NotCopy))
        ));
        let mut x = CopyStart::send(&mut p, "COPY nope FROM STDIN", CopyDirection::In).unwrap();
        take_sent(&mut p);
        match poll_all(
            &mut x,
            &mut p,
            &cat(&[error("42P01", "no table"), ready(b'I')]),
        ) {
            ReadStep::Done(Err(RequestError::Server(e))) => assert_eq!(e.code(), "42P01"),
            other => panic!("{other:?}"),
        }
    }
}

// ---- rows as they arrive --------------------------------------------------------------

mod row_reader {
    use super::*;
    use hyperwire_proto::engine::rows::ROWS_PER_BATCH;
    use hyperwire_proto::engine::{RequestError, RowReader, RowsStep, COPY_NOT_EXPECTED};
    use hyperwire_proto::inbox::Inbox;
    use std::collections::VecDeque;

    #[test]
    fn rows_come_in_bounded_batches_with_notices_kept_in_any_chunking() {
        let n = ROWS_PER_BATCH * 2 + 10;
        let mut answer = vec![row_desc(&[("g", 23)]), notice("first")];
        for i in 0..n {
            answer.push(data_row(&[Some(i.to_string().as_bytes())]));
        }
        answer.extend([
            notification(1, "c", "p"),
            complete(&format!("SELECT {n}")),
            ready(b'I'),
        ]);
        let answer = cat(&answer);
        for chunk in [1, 13, answer.len()] {
            let mut p = ready_machine();
            let id = p.query("SELECT g ...").unwrap();
            take_sent(&mut p);
            let (mut r, mut inbox, mut out) =
                (RowReader::new(id), Inbox::default(), VecDeque::new());
            let mut most = 0;
            let mut tag = None;
            'feed: for part in answer.chunks(chunk) {
                p.receive(part);
                loop {
                    let before = out.len();
                    let step = r.poll(&mut p, &mut inbox, &mut out);
                    most = most.max(out.len() - before);
                    match step {
                        RowsStep::Rows => continue,
                        RowsStep::NeedIo => break,
                        RowsStep::Done(t) => {
                            tag = t.unwrap();
                            break 'feed;
                        }
                        other => panic!("{other:?}"),
                    }
                }
            }
            assert_eq!(
                tag.as_deref(),
                Some(format!("SELECT {n}").as_str()),
                "chunk {chunk}"
            );
            assert_eq!(out.len(), n);
            assert!(most <= ROWS_PER_BATCH, "a batch of {most} rows");
            assert_eq!(out[n - 1].get::<i32>(0).unwrap(), (n - 1) as i32);
            assert_eq!(r.columns().len(), 1);
            assert_eq!(inbox.take_notices().count(), 1);
            assert_eq!(inbox.drain_notifications().count(), 1);
        }
    }

    #[test]
    fn a_copy_in_is_failed_and_reported_and_an_error_ends_the_rows() {
        let mut p = ready_machine();
        let id = p.query("COPY t FROM STDIN").unwrap();
        take_sent(&mut p);
        let (mut r, mut inbox, mut out) = (RowReader::new(id), Inbox::default(), VecDeque::new());
        p.receive(&copy_response(b'G', 1));
        assert!(matches!(
            r.poll(&mut p, &mut inbox, &mut out),
            RowsStep::Rows
        ));
        let sent = split_client(&take_sent(&mut p), false);
        assert_eq!(sent[0].0, b'f');
        assert!(contains(&sent[0].1, COPY_NOT_EXPECTED.as_bytes()));
        p.receive(&cat(&[
            error("57014", "COPY from stdin failed"),
            ready(b'I'),
        ]));
        // The server's answer to the CopyFail (57014) is not the news: the COPY is.
        assert!(matches!(
            r.poll(&mut p, &mut inbox, &mut out),
            RowsStep::Done(Err(RequestError::CopyNotExpected))
        ));
        assert!(r.is_done());
        assert!(p.is_healthy());

        let id = p.query("SELECT 1/0").unwrap();
        take_sent(&mut p);
        let mut r = RowReader::new(id);
        p.receive(&cat(&[
            row_desc(&[("x", 23)]),
            data_row(&[Some(b"1")]),
            error("22012", "division by zero"),
            ready(b'I'),
        ]));
        match r.poll(&mut p, &mut inbox, &mut out) {
            RowsStep::Done(Err(RequestError::Server(e))) => assert_eq!(e.code(), "22012"),
            other => panic!("{other:?}"),
        }
        assert_eq!(out.len(), 1, "the row before the error is delivered");
    }
}

// ---- prepared statements --------------------------------------------------------------

mod prepare {
    use super::*;
    use hyperwire_proto::engine::{
        execute_prepared, PrepareReader, QueryReader, ReadStep, Reader, RequestError,
    };
    use hyperwire_proto::inbox::Inbox;
    use hyperwire_proto::result::Collector;
    use hyperwire_proto::statement_cache::{StatementCache, StatementPolicy};
    use hyperwire_proto::value::{EncodedParams, ToSql};
    use hyperwire_proto::{Format, Protocol, Settings};

    /// A machine connected to hyperd (it reports `hyper_version`).
    fn hyperd() -> Protocol {
        let mut p = Protocol::new(Settings::new("u"));
        take_sent(&mut p);
        p.receive(&cat(&[
            auth_ok(),
            param("hyper_version", "0.0.26963"),
            key(0, &[1, 2, 3, 4]),
            ready(b'I'),
        ]));
        drain(&mut p);
        p
    }

    /// The Parse message's declared parameter types.
    fn parse_types(sent: &[u8]) -> Vec<u32> {
        let msgs = split_client(sent, false);
        let body = &msgs.iter().find(|(t, _)| *t == b'P').unwrap().1;
        let mut at = 0;
        for _ in 0..2 {
            at += body[at..].iter().position(|b| *b == 0).unwrap() + 1;
        }
        let n = u16::from_be_bytes([body[at], body[at + 1]]) as usize;
        (0..n)
            .map(|i| u32::from_be_bytes(body[at + 2 + 4 * i..at + 6 + 4 * i].try_into().unwrap()))
            .collect()
    }

    #[test]
    fn hyperd_gets_every_placeholder_declared_and_postgres_infers_them() {
        let sql = "SELECT $1::int8 + $2";
        let mut cache = StatementCache::new(StatementPolicy::default()).with_random_prefix(7);
        let mut p = hyperd();
        let _ = PrepareReader::send(&mut p, &mut cache, sql, None).unwrap();
        assert_eq!(parse_types(&take_sent(&mut p)), [0, 0]);
        let mut p = ready_machine();
        let _ = PrepareReader::send(&mut p, &mut cache, sql, None).unwrap();
        assert_eq!(parse_types(&take_sent(&mut p)), Vec::<u32>::new());
        let _ = PrepareReader::send(&mut p, &mut cache, sql, Some(&[20, 23])).unwrap();
        assert_eq!(parse_types(&take_sent(&mut p)), [20, 23]);
    }

    #[test]
    fn a_statement_is_described_then_executed_with_binary_results() {
        let mut p = ready_machine();
        let (mut cache, mut inbox) = (
            StatementCache::new(StatementPolicy::default()),
            Inbox::default(),
        );
        let mut r = PrepareReader::send(&mut p, &mut cache, "SELECT $1::int8", None).unwrap();
        take_sent(&mut p);
        p.receive(&cat(&[
            empty(b'1'),
            msg(b't', &[0, 1, 0, 0, 0, 20]),
            row_desc(&[("v", 20)]),
            ready(b'I'),
        ]));
        let stmt = match r.poll(&mut p, &mut cache, &mut inbox) {
            ReadStep::Done(Ok(s)) => s,
            other => panic!("{other:?}"),
        };
        assert_eq!(stmt.params(), [20]);
        assert_eq!(stmt.columns().len(), 1);
        assert_eq!(stmt.result_formats(), [Format::Binary]);
        assert_eq!(stmt.bound_columns()[0].format(), Format::Binary);
        assert!(stmt.name().starts_with("hw_"));

        let params = EncodedParams::new(&[&5i64 as &dyn ToSql], Some(stmt.params())).unwrap();
        let id = execute_prepared(&mut p, &stmt, &params).unwrap();
        assert_eq!(
            split_client(&take_sent(&mut p), false)
                .iter()
                .map(|(t, _)| *t)
                .collect::<Vec<_>>(),
            b"BDES"
        );
        p.receive(&cat(&[
            empty(b'2'),
            row_desc(&[("v", 20)]),
            data_row(&[Some(&5i64.to_be_bytes())]),
            complete("SELECT 1"),
            ready(b'I'),
        ]));
        let mut q = QueryReader::for_request(id, Collector::default());
        match q.poll(&mut p, &mut cache, &mut inbox) {
            ReadStep::Done(Ok(results)) => {
                assert_eq!(results[0].rows[0].get::<i64>(0).unwrap(), 5)
            }
            other => panic!("{other:?}"),
        }

        // A statement the server refuses: its error.
        let mut r = PrepareReader::send(&mut p, &mut cache, "SELEC 1", None).unwrap();
        take_sent(&mut p);
        p.receive(&cat(&[error("42601", "syntax error"), ready(b'I')]));
        match r.poll(&mut p, &mut cache, &mut inbox) {
            ReadStep::Done(Err(RequestError::Server(e))) => assert_eq!(e.code(), "42601"),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn rows_read_in_place_refuse_a_copy_in_without_hanging() {
    use hyperwire_proto::result::{RowVisitor, VisitEnd};
    let mut p = ready_machine();
    let id = p.query("COPY t FROM STDIN").unwrap();
    take_sent(&mut p);
    let mut v = RowVisitor::new(id, |_row| Ok::<(), ()>(()));
    p.receive(&copy_response(b'G', 1));
    let mut stopped = false;
    while let Some(ev) = p.poll_event() {
        if v.on_event(&ev) {
            stopped = true;
            break;
        }
    }
    assert!(stopped && v.copy_in_started());
    v.fail_copy_in(&mut p).unwrap();
    assert!(!v.copy_in_started());
    let sent = split_client(&take_sent(&mut p), false);
    assert_eq!(sent[0].0, b'f');
    p.receive(&cat(&[
        error("57014", "COPY from stdin failed"),
        ready(b'I'),
    ]));
    let mut done = false;
    while let Some(ev) = p.poll_event() {
        if v.on_event(&ev) {
            done = true;
            break;
        }
    }
    assert!(done);
    assert!(matches!(v.finish(), Err(VisitEnd::Copy)));
}

// ---- a COPY's data and end ------------------------------------------------------------

mod copy_reader {
    use super::*;
    use hyperwire_proto::engine::{CopyReader, CopyStep, RequestError};
    use hyperwire_proto::inbox::Inbox;

    #[test]
    fn copy_out_data_then_the_rows_of_the_tag_in_any_chunking() {
        let answer = cat(&[
            copy_response(b'H', 1),
            msg(b'd', b"1\n"),
            notice("meanwhile"),
            msg(b'd', b"2\n"),
            empty(b'c'),
            complete("COPY 2"),
            ready(b'I'),
        ]);
        for chunk in [1, 5, answer.len()] {
            let mut p = ready_machine();
            let id = p.query("COPY t TO STDOUT").unwrap();
            take_sent(&mut p);
            let (mut r, mut inbox) = (CopyReader::new(id), Inbox::default());
            let mut data = Vec::new();
            let mut ended = false;
            for part in answer.chunks(chunk) {
                p.receive(part);
                loop {
                    match r.poll(&mut p, &mut inbox, |d| {
                        data.extend_from_slice(d);
                        false
                    }) {
                        Ok(CopyStep::Data) => continue,
                        Ok(CopyStep::Done) => {
                            ended = true;
                            break;
                        }
                        Ok(_) => break,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
            assert!(ended && r.is_done());
            assert_eq!(data, b"1\n2\n", "chunk {chunk}");
            assert_eq!(r.tag(), Some("COPY 2"));
            assert_eq!(r.outcome(), Ok(2));
            assert_eq!(inbox.take_notices().count(), 1);
        }
    }

    #[test]
    fn an_abort_is_acknowledged_by_57014_and_other_errors_are_errors() {
        for (aborted, code, expected) in [
            (true, "57014", Ok(0)),
            (false, "57014", Err("57014")),
            (true, "22P02", Err("22P02")),
        ] {
            let mut p = ready_machine();
            let id = p.query("COPY t FROM STDIN").unwrap();
            take_sent(&mut p);
            p.receive(&copy_response(b'G', 1));
            drain(&mut p);
            p.copy_fail("stop").unwrap();
            let mut r = CopyReader::new(id);
            if aborted {
                r.aborted();
            }
            p.receive(&cat(&[error(code, "COPY failed"), ready(b'I')]));
            assert_eq!(
                r.poll(&mut p, &mut Inbox::default(), |_| false),
                Ok(CopyStep::Done)
            );
            let got = r.outcome().map_err(|e| match e {
                RequestError::Server(e) => e.code().to_owned(),
                other => other.to_string(),
            });
            assert_eq!(got, expected.map_err(str::to_owned), "{aborted} {code}");
        }
    }
}
