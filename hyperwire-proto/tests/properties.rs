//! Property tests: chunking invariance of recorded transcripts, and a model of the
//! pipeline FIFO against the machine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::same_item_push
)]

mod support;

use hyperwire_proto::{Protocol, Settings};
use proptest::prelude::*;
use support::*;

/// A recorded conversation: settings, the server's startup bytes, requests issued
/// once the startup is done, and the server's answers to them.
struct Transcript {
    name: &'static str,
    settings: fn() -> Settings,
    startup: Vec<u8>,
    requests: fn(&mut Protocol),
    server: Vec<u8>,
}

fn plain() -> Settings {
    Settings::new("alice")
}

fn scram_settings() -> Settings {
    let mut s = Settings::new("user");
    s.password("pencil");
    s
}

fn scram_startup() -> Vec<u8> {
    let mut offer = cstr("SCRAM-SHA-256");
    offer.push(0);
    cat(&[
        auth(10, &offer),
        auth(11, b"r=AQIDBAUGBwgJCgsMDQ4PEBES%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
        auth(12, b"v=CISco96RC9u7gAEqmJfhSNSlqiuECE8ob1Dk07keCgg="),
        trust_startup(),
    ])
}

fn transcripts() -> Vec<Transcript> {
    vec![
        Transcript {
            name: "multi-statement query with notice, notification and parameter",
            settings: plain,
            startup: trust_startup(),
            requests: |p| {
                p.query("SELECT 1; SELECT 2").unwrap();
            },
            server: cat(&[
                row_desc(&[("a", 23), ("b", 25)]),
                data_row(&[Some(b"1"), None]),
                notice("hm"),
                notification(7, "chan", "payload"),
                param("alive", "?"),
                data_row(&[Some(b""), Some(b"text")]),
                complete("SELECT 2"),
                empty(b'I'),
                ready(b'I'),
            ]),
        },
        Transcript {
            name: "scram startup",
            settings: scram_settings,
            startup: scram_startup(),
            requests: |p| {
                p.query("SELECT 1").unwrap();
            },
            server: cat(&[complete("SELECT 0"), ready(b'T')]),
        },
        Transcript {
            name: "pipeline with an error under one sync",
            settings: plain,
            startup: trust_startup(),
            requests: |p| {
                for _ in 0..3 {
                    p.request()
                        .parse("", "x", &[])
                        .bind("", "", &[], &[], &[])
                        .execute("", 0)
                        .finish()
                        .unwrap();
                }
                p.sync().unwrap();
            },
            server: cat(&[
                empty(b'1'),
                empty(b'2'),
                data_row(&[Some(b"0")]),
                complete("SELECT 1"),
                error("22012", "division by zero"),
                ready(b'E'),
            ]),
        },
        Transcript {
            name: "copy out then copy in",
            settings: plain,
            startup: trust_startup(),
            requests: |p| {
                p.query("COPY t TO STDOUT").unwrap();
            },
            server: cat(&[
                copy_response(b'H', 1),
                msg(b'd', b"1\n"),
                msg(b'd', b"2\n"),
                empty(b'c'),
                complete("COPY 2"),
                ready(b'I'),
            ]),
        },
        Transcript {
            name: "malformed length after rows",
            settings: plain,
            startup: trust_startup(),
            requests: |p| {
                p.query("SELECT").unwrap();
            },
            server: cat(&[
                row_desc(&[("a", 23)]),
                data_row(&[Some(b"1")]),
                vec![b'D', 0, 0, 0, 2, 9, 9],
            ]),
        },
    ]
}

fn run(t: &Transcript, chunks: &[usize]) -> (Vec<String>, Vec<u8>) {
    let mut p = Protocol::new((t.settings)());
    deterministic_nonce(
        &mut p,
        [
            1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
        ],
    );
    let mut sent = take_sent(&mut p);
    let mut events = feed_chunked(&mut p, &t.startup, chunks);
    sent.extend(take_sent(&mut p));
    (t.requests)(&mut p);
    sent.extend(take_sent(&mut p));
    events.extend(feed_chunked(&mut p, &t.server, chunks));
    sent.extend(take_sent(&mut p));
    (events, sent)
}

#[test]
fn transcripts_one_byte_at_a_time_match_whole() {
    for t in transcripts() {
        let whole = run(&t, &[usize::MAX]);
        assert!(!whole.0.is_empty(), "{}", t.name);
        assert_eq!(run(&t, &[1]), whole, "{}", t.name);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn any_chunking_gives_the_same_events_and_bytes(
        chunks in prop::collection::vec(1usize..64, 1..16),
        which in 0usize..5,
    ) {
        let all = transcripts();
        let t = &all[which % all.len()];
        prop_assert_eq!(run(t, &chunks), run(t, &[usize::MAX]), "{}", t.name);
    }
}

// ---- the pipeline model ----------------------------------------------------------

#[derive(Debug, Clone)]
enum Req {
    /// Simple query returning `rows` rows, or failing.
    Simple { rows: u8, fails: bool },
    /// Bind + Execute (+ Sync).
    Extended { rows: u8, fails: bool, sync: bool },
    /// A lone Sync.
    Sync,
}

fn req() -> impl Strategy<Value = Req> {
    prop_oneof![
        (0u8..4, prop::bool::weighted(0.25)).prop_map(|(rows, fails)| Req::Simple { rows, fails }),
        (0u8..4, prop::bool::weighted(0.25), any::<bool>())
            .prop_map(|(rows, fails, sync)| Req::Extended { rows, fails, sync }),
        Just(Req::Sync),
    ]
}

/// What a PostgreSQL server answers, and what the machine must report per request.
fn model(reqs: &[Req]) -> (Vec<u8>, Vec<Vec<&'static str>>) {
    let mut server = Vec::new();
    let mut expected = Vec::new();
    let mut discarding = false;
    for r in reqs {
        let mut ev: Vec<&'static str> = Vec::new();
        match *r {
            Req::Simple { rows, fails } => {
                if discarding {
                    ev.push("Skipped");
                } else if fails {
                    server.extend(error("42000", "no"));
                    server.extend(ready(b'I'));
                    ev.extend(["ServerError", "ReadyForQuery"]);
                } else {
                    server.extend(row_desc(&[("a", 23)]));
                    ev.push("RowDescription");
                    for _ in 0..rows {
                        server.extend(data_row(&[Some(b"1")]));
                        ev.push("DataRow");
                    }
                    server.extend(complete("SELECT"));
                    server.extend(ready(b'I'));
                    ev.extend(["CommandComplete", "ReadyForQuery"]);
                }
            }
            Req::Extended { rows, fails, sync } => {
                if discarding {
                    ev.push("Skipped");
                } else {
                    server.extend(empty(b'2'));
                    ev.push("BindComplete");
                    if fails {
                        server.extend(error("42000", "no"));
                        ev.push("ServerError");
                        discarding = true;
                    } else {
                        for _ in 0..rows {
                            server.extend(data_row(&[Some(b"1")]));
                            ev.push("DataRow");
                        }
                        server.extend(complete("SELECT"));
                        ev.push("CommandComplete");
                    }
                }
                if sync {
                    server.extend(ready(b'I'));
                    ev.push("ReadyForQuery");
                    discarding = false;
                }
            }
            Req::Sync => {
                server.extend(ready(b'I'));
                ev.push("ReadyForQuery");
                discarding = false;
            }
        }
        ev.push("Done");
        expected.push(ev);
    }
    (server, expected)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn pipeline_matches_the_model(
        reqs in prop::collection::vec(req(), 1..24),
        chunks in prop::collection::vec(1usize..40, 1..8),
    ) {
        let mut p = ready_machine();
        let mut ids = Vec::new();
        for r in &reqs {
            let id = match *r {
                Req::Simple { .. } => p.query("q").unwrap(),
                Req::Extended { sync, .. } => {
                    let b = p.request().bind("", "", &[], &[], &[]).execute("", 0);
                    if sync { b.sync() } else { b }.finish().unwrap()
                }
                Req::Sync => p.sync().unwrap(),
            };
            ids.push(format!("{id:?}"));
        }
        take_sent(&mut p);
        let (server, expected) = model(&reqs);
        let events = feed_chunked(&mut p, &server, &chunks);
        prop_assert!(events.iter().all(|e| !e.starts_with("Fatal")), "{:?}", events);
        // Done events come in submission order, one per request.
        let dones: Vec<&String> = events.iter().filter(|e| e.starts_with("Done")).collect();
        prop_assert_eq!(dones.len(), reqs.len());
        for (i, id) in ids.iter().enumerate() {
            let got: Vec<String> = events
                .iter()
                .filter(|e| e.contains(id.as_str()))
                .map(|e| e.split([' ', '(', '{']).next().unwrap().to_string())
                .collect();
            prop_assert_eq!(&got, &expected[i], "request {} ({:?}) in {:?}", i, reqs[i], events);
            prop_assert!(dones[i].contains(id.as_str()));
        }
        let ends_synced = matches!(
            reqs.last(),
            Some(Req::Simple { .. } | Req::Sync | Req::Extended { sync: true, .. })
        );
        prop_assert_eq!(p.is_idle(), ends_synced || p.pending_responses() == 0);
    }
}
