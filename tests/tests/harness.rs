//! Tests of the test harness itself: every server starts, answers a StartupMessage, has
//! the users and pg_hba methods it promises, and is cleaned up when its process dies.
//! std only (hand-written protocol bytes and psql): no hyperwire client crate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hyperwire_tests::wire::{self, StartupReply};
use hyperwire_tests::{
    Server, ServerKind, ServerOptions, HYPER_SCRAM_PASSWORD, HYPER_USER, MD5_USER, PASSWORD_USER,
    SCRAM_USER, SUPERUSER, TRUST_USER,
};

/// The users and the answer each must get to a StartupMessage (pg_hba method).
const EXPECTED_AUTH: [(&str, Option<u32>); 4] = [
    (TRUST_USER, None), // AuthenticationOk … ReadyForQuery
    (PASSWORD_USER, Some(3)),
    (MD5_USER, Some(5)),
    (SCRAM_USER, Some(10)),
];

fn expect_auth(server: &Server, user: &str, want: Option<u32>, reply: StartupReply, how: &str) {
    match (want, &reply) {
        (None, StartupReply::Ready { .. }) => {}
        (Some(code), StartupReply::Auth(got)) if *got == code => {}
        _ => panic!(
            "{} {how} as {user}: expected {want:?}, got {reply:?}",
            server.kind()
        ),
    }
}

/// Runs `psql -c sql` as `user` (with its password) and returns the trimmed output.
fn psql(server: &Server, user: &str, sql: &str) -> Result<String, String> {
    let out = server
        .psql_command(user)
        .arg("-c")
        .arg(sql)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", server.psql().display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

fn check_postgres(server: &Server, major: &str) {
    assert!(server.kind().is_postgres() || server.kind() == ServerKind::PgBouncer);
    assert_eq!(server.host(), "127.0.0.1");
    assert_eq!(server.database(), Some("hyperwire"));
    let sock = server.socket_path().unwrap();
    assert!(sock.exists(), "{} missing", sock.display());
    assert!(
        server.log_path().exists(),
        "{} missing",
        server.log_path().display()
    );

    let reply = wire::startup_tcp(server, TRUST_USER).unwrap();
    let version = reply
        .parameter("server_version")
        .unwrap_or_default()
        .to_owned();
    assert!(
        version.starts_with(major),
        "{}: server_version {version:?}",
        server.kind()
    );

    for (user, want) in EXPECTED_AUTH {
        expect_auth(
            server,
            user,
            want,
            wire::startup_tcp(server, user).unwrap(),
            "over TCP",
        );
        expect_auth(
            server,
            user,
            want,
            wire::startup_unix(server, user).unwrap(),
            "over the unix socket",
        );
    }
    // Anyone else is rejected by the final pg_hba line.
    match wire::startup_tcp(server, "nobody").unwrap() {
        StartupReply::Error { code, .. } => assert!(code == "28000" || code == "08P01", "{code}"),
        other => panic!("{}: unknown user got {other:?}", server.kind()),
    }

    // Each user really logs in with its password, and a wrong one is refused.
    for (user, _) in EXPECTED_AUTH {
        let who = psql(server, user, "select current_user").unwrap_or_else(|e| {
            panic!(
                "{}: psql as {user} ({}): {e}",
                server.kind(),
                server.conninfo(user)
            )
        });
        assert_eq!(who, user);
        if server.password(user).is_some() {
            let mut cmd = server.psql_command(user);
            cmd.env("PGPASSWORD", "wrong")
                .args(["-c", "select 1"])
                .stdin(Stdio::null());
            let out = cmd.output().unwrap();
            assert!(
                !out.status.success(),
                "{}: {user} logged in with a wrong password",
                server.kind()
            );
        }
    }
    // The users can create tables in the test database.
    let created = psql(
        server,
        SCRAM_USER,
        "create temp table t(x int); insert into t values (1); select count(*) from t",
    );
    assert_eq!(created.as_deref(), Ok("1"));
}

#[test]
fn pg15_starts_with_all_users() {
    let pg = hyperwire_tests::pg15();
    assert_eq!(pg.kind(), ServerKind::Pg15);
    check_postgres(pg, "15.");
    assert!(pg.bin_dir().unwrap().join("pg_dump").exists());
    assert!(pg.data_dir().unwrap().join("PG_VERSION").exists());
    // The superuser works over the socket too.
    let r = wire::startup_unix(pg, SUPERUSER).unwrap();
    assert!(matches!(r, StartupReply::Ready { .. }), "{r:?}");
    let settings = psql(
        pg,
        SUPERUSER,
        "select string_agg(name || '=' || setting, ',' order by name) from pg_settings \
         where name in ('fsync','full_page_writes','synchronous_commit','max_connections')",
    )
    .unwrap();
    assert_eq!(
        settings,
        "fsync=off,full_page_writes=off,max_connections=100,synchronous_commit=off"
    );
}

#[test]
fn pg17_starts_with_all_users() {
    let pg = hyperwire_tests::pg17();
    assert_eq!(pg.kind(), ServerKind::Pg17);
    check_postgres(pg, "17.");
}

#[test]
fn pg18_starts_with_all_users() {
    let pg = hyperwire_tests::pg18();
    assert_eq!(pg.kind(), ServerKind::Pg18);
    check_postgres(pg, "18.");
}

#[test]
fn hyper_trust() {
    let h = hyperwire_tests::hyper();
    assert_eq!(h.kind(), ServerKind::Hyper);
    assert_eq!(h.socket_dir(), None);
    assert_eq!(h.database(), None);
    assert_eq!(h.password(HYPER_USER), None);
    let reply = wire::startup_tcp(h, HYPER_USER).unwrap();
    assert!(reply.parameter("hyper_version").is_some(), "{reply:?}");
    assert_eq!(psql(h, HYPER_USER, "select 1+1").unwrap(), "2");
    assert_eq!(
        h.conninfo(HYPER_USER),
        format!(
            "host=127.0.0.1 port={} user={HYPER_USER} sslmode=disable",
            h.port()
        )
    );
}

#[test]
fn hyper_scram() {
    let h = hyperwire_tests::hyper_scram();
    assert_eq!(h.password(HYPER_USER), Some(HYPER_SCRAM_PASSWORD));
    assert_eq!(
        wire::startup_tcp(h, HYPER_USER).unwrap(),
        StartupReply::Auth(10)
    );
    assert_eq!(psql(h, HYPER_USER, "select 1+1").unwrap(), "2");
    let out = h
        .psql_command(HYPER_USER)
        .env("PGPASSWORD", "wrong")
        .args(["-c", "select 1"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "hyperd accepted a wrong password");
    assert_eq!(
        h.url(HYPER_USER),
        format!(
            "postgresql://{HYPER_USER}:pw-hyper@127.0.0.1:{}/?sslmode=disable",
            h.port()
        )
    );
}

#[test]
fn pgbouncer_in_transaction_mode() {
    let b = hyperwire_tests::pgbouncer();
    assert_eq!(b.kind(), ServerKind::PgBouncer);
    // PgBouncer passes the backend's server_version through.
    check_postgres(b, "15.");
    // The admin console confirms the pooling mode.
    let config = psql_db(b, SUPERUSER, "pgbouncer", "SHOW CONFIG").unwrap();
    assert!(
        config
            .lines()
            .any(|l| l.starts_with("pool_mode|transaction")),
        "{config}"
    );
    assert_ne!(b.port(), hyperwire_tests::pg15().port());
}

fn psql_db(server: &Server, user: &str, db: &str, sql: &str) -> Result<String, String> {
    let out = server
        .psql_command(user)
        .args(["-d", db, "-c", sql])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

#[test]
fn conninfo_and_url() {
    let pg = hyperwire_tests::pg15();
    let port = pg.port();
    assert_eq!(
        pg.conninfo(SCRAM_USER),
        format!("host=127.0.0.1 port={port} user=scram_user dbname=hyperwire password=pw-scram sslmode=disable")
    );
    assert_eq!(
        pg.conninfo(TRUST_USER),
        format!("host=127.0.0.1 port={port} user=trust_user dbname=hyperwire sslmode=disable")
    );
    assert_eq!(
        pg.url(MD5_USER),
        format!("postgresql://md5_user:pw-md5@127.0.0.1:{port}/hyperwire?sslmode=disable")
    );
}

fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // State is the field after the parenthesised command name; Z = zombie = dead.
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

fn wait_gone(pids: &[u32], dirs: &[PathBuf], within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let live: Vec<_> = pids.iter().filter(|p| alive(**p)).collect();
        let left: Vec<_> = dirs.iter().filter(|d| d.exists()).collect();
        if live.is_empty() && left.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still there after {within:?}: pids {live:?}, dirs {left:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn dropping_an_owned_server_stops_it() {
    let server = Server::start(ServerKind::Hyper, ServerOptions::new()).unwrap();
    let pid = server.pid().unwrap();
    let dir = server.dir().to_path_buf();
    assert!(alive(pid) && dir.exists());
    drop(server);
    // Drop waits for the watchdog: everything is gone when it returns.
    wait_gone(&[pid], &[dir], Duration::from_millis(10));
}

/// Runs this test binary again as a "victim" that starts servers and then waits; the test
/// SIGKILLs it (no destructor, no panic handler runs) and checks that the watchdogs stopped
/// every server and removed every directory.
#[test]
fn servers_die_with_a_killed_test_process() {
    let exe = std::env::current_exe().unwrap();
    let mut victim = Command::new(exe)
        .args([
            "--exact",
            "victim",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("HYPERWIRE_HARNESS_VICTIM", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(victim.stdout.take().unwrap()).lines();
    let report = loop {
        match lines.next() {
            Some(Ok(line)) => {
                // libtest may print "test victim ... " on the same line first.
                if let Some((_, rest)) = line.split_once("VICTIM ") {
                    break rest.to_owned();
                }
            }
            other => {
                let _ = victim.kill();
                let _ = victim.wait();
                panic!("the victim ended before reporting: {other:?}");
            }
        }
    };
    let mut pids = Vec::new();
    let mut dirs = Vec::new();
    for item in report.split_whitespace() {
        let (pid, dir) = item.split_once(':').unwrap();
        pids.push(pid.parse::<u32>().unwrap());
        dirs.push(PathBuf::from(dir));
    }
    assert_eq!(pids.len(), 3);
    assert!(pids.iter().all(|p| alive(*p)), "{report}");
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    wait_gone(&pids, &dirs, Duration::from_secs(15));
}

/// Only does something when started by `servers_die_with_a_killed_test_process`.
#[test]
#[ignore = "helper process of servers_die_with_a_killed_test_process"]
fn victim() {
    if std::env::var_os("HYPERWIRE_HARNESS_VICTIM").is_none() {
        return;
    }
    let servers = [
        hyperwire_tests::pgbouncer(),
        hyperwire_tests::pg15(),
        hyperwire_tests::hyper(),
    ];
    let report: Vec<String> = servers
        .iter()
        .map(|s| format!("{}:{}", s.pid().unwrap(), s.dir().display()))
        .collect();
    println!("VICTIM {}", report.join(" "));
    // Waits to be killed; gives up by itself after a minute.
    std::thread::sleep(Duration::from_secs(60));
}

/// A missing binary is an error that says how to install it (checked in a child process, so
/// that changing the environment does not race with the other tests).
#[test]
fn missing_server_names_the_install_command() {
    if std::env::var_os("HYPERWIRE_HARNESS_MISSING").is_some() {
        let err = Server::start(ServerKind::Hyper, ServerOptions::new()).unwrap_err();
        println!("MISSING {}", err.to_string().replace('\n', " | "));
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "missing_server_names_the_install_command",
            "--nocapture",
        ])
        .env("HYPERWIRE_HARNESS_MISSING", "1")
        .env("HYPERWIRE_HYPERD", "/nonexistent/hyperd")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("MISSING ").map(|(_, rest)| rest))
        .unwrap_or_else(|| panic!("no report: {stdout}"));
    assert!(line.contains("bash .ci/install-servers.sh"), "{line}");
    assert!(
        line.contains("pip install 'tableauhyperapi==0.0.26963'"),
        "{line}"
    );
    assert!(line.contains("/nonexistent/hyperd"), "{line}");
}

/// A server that fails to start reports its log's path and tail (kept after cleanup).
#[test]
fn failed_start_shows_the_log() {
    let err = Server::start(
        ServerKind::Pg15,
        ServerOptions::new().conf("shared_buffers", "not-a-size"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("pg_ctl start failed"), "{err}");
    assert!(err.contains("shared_buffers"), "{err}");
    let log = err
        .lines()
        .find_map(|l| l.strip_prefix("log: "))
        .and_then(|l| l.split(' ').next())
        .unwrap_or_else(|| panic!("no log path in: {err}"));
    let kept = PathBuf::from(log);
    assert!(kept.exists(), "{}", kept.display());
    std::fs::remove_file(kept).unwrap();
}
