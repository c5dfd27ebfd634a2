//! The pipeline reader, portals and the COPY writer without sockets: Sync groups,
//! skipped statements, the order of outcomes, row limits, chunks and backpressure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use hyperwire_proto::engine::{Pipeline, PipelineStep, RequestError, SyncMode};
use hyperwire_proto::inbox::Inbox;
use hyperwire_proto::result::CollectError;
use hyperwire_proto::statement_cache::{StatementCache, StatementPolicy};
use hyperwire_proto::value::EncodedParams;
use hyperwire_proto::Protocol;
use support::*;

fn no_params() -> EncodedParams {
    EncodedParams::new(&[], None).unwrap()
}

fn tags(p: &mut Protocol) -> Vec<u8> {
    split_client(&take_sent(p), false)
        .iter()
        .map(|(t, _)| *t)
        .collect()
}

/// The answer to Parse + Describe + Bind + Execute of a one-row `SELECT`.
fn one_row(value: &str) -> Vec<u8> {
    cat(&[
        empty(b'1'),
        msg(b't', &[0, 0]),
        row_desc(&[("v", 23)]),
        empty(b'2'),
        data_row(&[Some(value.as_bytes())]),
        complete("SELECT 1"),
    ])
}

/// Every outcome as a short string, feeding `answer` in chunks of `chunk`.
fn outcomes(pipeline: &mut Pipeline, p: &mut Protocol, answer: &[u8], chunk: usize) -> Vec<String> {
    let (mut cache, mut inbox) = (
        StatementCache::new(StatementPolicy::default()),
        Inbox::default(),
    );
    let mut out = Vec::new();
    let mut parts = answer.chunks(chunk.max(1));
    loop {
        match pipeline.poll(p, &mut cache, &mut inbox) {
            PipelineStep::Item(Ok(r)) => out.push(match r.rows.first() {
                Some(row) => row.get::<String>(0).unwrap(),
                None => r.tag.clone(),
            }),
            PipelineStep::Item(Err(RequestError::Server(e))) => {
                out.push(format!("error {}", e.code()))
            }
            PipelineStep::Item(Err(RequestError::Collect(CollectError::Skipped))) => {
                out.push("skipped".to_owned())
            }
            PipelineStep::Item(Err(e)) => out.push(format!("{e:?}")),
            PipelineStep::NeedIo => match parts.next() {
                Some(part) => p.receive(part),
                None => {
                    out.push("starved".to_owned());
                    return out;
                }
            },
            _ => return out,
        }
    }
}

#[test]
fn an_error_skips_the_rest_of_its_group_and_the_next_group_runs() {
    for chunk in [1, 7, 4096] {
        let mut p = ready_machine();
        let mut pl = Pipeline::new(SyncMode::Explicit);
        for sql in ["SELECT 1", "SELECT 2"] {
            pl.query(&mut p, sql, &no_params()).unwrap();
        }
        pl.sync(&mut p).unwrap();
        // A second sync with nothing new in the group sends nothing.
        pl.sync(&mut p).unwrap();
        for sql in ["SELECT 3", "SELECT 1/0", "SELECT 5"] {
            pl.query(&mut p, sql, &no_params()).unwrap();
        }
        pl.sync(&mut p).unwrap();
        pl.query(&mut p, "SELECT 6", &no_params()).unwrap();
        pl.finish(&mut p).unwrap();
        // Syncs only where asked, and one at the end.
        assert_eq!(tags(&mut p), b"PDBEPDBESPDBEPDBEPDBESPDBES".to_vec());
        assert_eq!(pl.remaining(), 6);
        let answer = cat(&[
            one_row("1"),
            one_row("2"),
            ready(b'I'),
            one_row("3"),
            empty(b'1'),
            error("22012", "division by zero"),
            ready(b'I'),
            one_row("6"),
            ready(b'I'),
        ]);
        assert_eq!(
            outcomes(&mut pl, &mut p, &answer, chunk),
            ["1", "2", "3", "error 22012", "skipped", "6"],
            "chunk {chunk}"
        );
        assert!(p.is_idle());
    }
}

#[test]
fn each_statement_mode_syncs_every_statement_and_contains_errors() {
    let mut p = ready_machine();
    let mut pl = Pipeline::new(SyncMode::EachStatement);
    for sql in ["SELECT 1", "SELECT 1/0", "SELECT 3"] {
        pl.query(&mut p, sql, &no_params()).unwrap();
    }
    pl.sync(&mut p).unwrap();
    pl.finish(&mut p).unwrap();
    assert_eq!(tags(&mut p), b"PDBESPDBESPDBES".to_vec());
    let answer = cat(&[
        one_row("1"),
        ready(b'I'),
        empty(b'1'),
        error("22012", "division by zero"),
        ready(b'I'),
        one_row("3"),
        ready(b'I'),
    ]);
    assert_eq!(
        outcomes(&mut pl, &mut p, &answer, 3),
        ["1", "error 22012", "3"]
    );
}

#[test]
fn a_copy_in_with_statements_behind_it_is_a_typed_desync() {
    // The server would read the statements behind a COPY FROM STDIN as
    // unexpected messages of the COPY: the machine refuses to go on, with a
    // named reason, and the pipeline ends there.
    let mut p = ready_machine();
    let mut pl = Pipeline::new(SyncMode::EachStatement);
    pl.query(&mut p, "COPY t FROM STDIN", &no_params()).unwrap();
    pl.query(&mut p, "SELECT 2", &no_params()).unwrap();
    let _ = tags(&mut p);
    let answer = cat(&[
        empty(b'1'),
        msg(b't', &[0, 0]),
        empty(b'n'),
        empty(b'2'),
        copy_response(b'G', 1),
    ]);
    let got = outcomes(&mut pl, &mut p, &answer, 2);
    assert_eq!(got, ["Protocol(Desynchronized(CopyInPipelined))"]);
    assert!(!p.is_healthy());
}

#[test]
fn a_broken_connection_ends_the_pipeline_once() {
    let mut p = ready_machine();
    let mut pl = Pipeline::new(SyncMode::EachStatement);
    for sql in ["SELECT 1", "SELECT 2", "SELECT 3"] {
        pl.query(&mut p, sql, &no_params()).unwrap();
    }
    let _ = tags(&mut p);
    let mut bytes = one_row("1");
    bytes.extend_from_slice(&ready(b'I'));
    p.receive(&bytes);
    p.recv_eof();
    let got = outcomes(&mut pl, &mut p, &[], 1);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], "1");
    assert!(got[1].starts_with("Protocol("), "{got:?}");
    assert_eq!(pl.remaining(), 0);
}

// ---- portals ------------------------------------------------------------------------

mod portal {
    use super::*;
    use hyperwire_proto::engine::{Portal, PrepareReader, ReadStep, Reader};

    fn read<R: Reader>(
        r: &mut R,
        p: &mut Protocol,
        cache: &mut StatementCache,
        answer: &[u8],
    ) -> R::Output {
        p.receive(answer);
        match r.poll(p, cache, &mut Inbox::default()) {
            ReadStep::Done(Ok(out)) => out,
            ReadStep::Done(Err(e)) => panic!("{e}"),
            _ => panic!("not done"),
        }
    }

    #[test]
    fn a_portal_is_read_in_batches_until_its_end_with_unique_names() {
        let mut p = ready_machine();
        let mut cache = StatementCache::new(StatementPolicy::default());
        let mut prep = PrepareReader::send(&mut p, &mut cache, "SELECT g FROM t", None).unwrap();
        let _ = tags(&mut p);
        let described = cat(&[
            empty(b'1'),
            msg(b't', &[0, 0]),
            row_desc(&[("g", 25)]),
            ready(b'I'),
        ]);
        let stmt = read(&mut prep, &mut p, &mut cache, &described);

        let (mut portal, mut bound) =
            Portal::bind(&mut p, &mut cache, &stmt, &no_params()).unwrap();
        let (other, _) = Portal::bind(&mut p, &mut cache, &stmt, &no_params()).unwrap();
        assert_ne!(portal.name(), other.name(), "two portals of one statement");
        assert_eq!(tags(&mut p), b"BSBS".to_vec());
        let _ = read(
            &mut bound,
            &mut p,
            &mut cache,
            &cat(&[empty(b'2'), ready(b'T')]),
        );
        p.receive(&cat(&[empty(b'2'), ready(b'T')]));
        let _ = drain(&mut p);

        let mut fetch = portal.fetch(&mut p, 2).unwrap().unwrap();
        assert_eq!(tags(&mut p), b"ES".to_vec());
        let batch = cat(&[
            data_row(&[Some(b"a")]),
            data_row(&[Some(b"b")]),
            empty(b's'),
            ready(b'T'),
        ]);
        let out = read(&mut fetch, &mut p, &mut cache, &batch);
        portal.fetched(&out);
        assert!(out.suspended && !portal.is_done());
        // The rows carry the statement's columns (Execute sends no description).
        assert_eq!(out.rows[1].columns()[0].name(), "g");
        assert_eq!(out.rows[1].get::<String>(0).unwrap(), "b");

        let mut fetch = portal.fetch(&mut p, 2).unwrap().unwrap();
        assert_eq!(tags(&mut p), b"ES".to_vec());
        let last = cat(&[data_row(&[Some(b"c")]), complete("SELECT 3"), ready(b'T')]);
        let out = read(&mut fetch, &mut p, &mut cache, &last);
        portal.fetched(&out);
        assert_eq!(out.rows.len(), 1);
        assert!(!out.suspended && portal.is_done());
        // Done: nothing more is sent.
        assert!(portal.fetch(&mut p, 2).unwrap().is_none());
        assert!(tags(&mut p).is_empty());
    }
}

// ---- the COPY writer ----------------------------------------------------------------

mod copy_writer {
    use super::*;
    use hyperwire_proto::engine::copy::{ABANDONED, CHUNK};
    use hyperwire_proto::engine::copy_in::COPY_IN_HIGH_WATER;
    use hyperwire_proto::engine::{CopyWriteError, CopyWriter, WriteStep};

    /// A machine in COPY FROM STDIN, and the writer of that COPY.
    fn copying() -> (Protocol, CopyWriter) {
        let mut p = ready_machine();
        let id = p.query("COPY t FROM STDIN").unwrap();
        let _ = take_sent(&mut p);
        p.receive(&copy_response(b'G', 1));
        let _ = drain(&mut p);
        assert!(p.in_copy_in());
        (p, CopyWriter::new(id))
    }

    /// The client's messages as (tag, body length).
    fn messages(p: &mut Protocol) -> Vec<(u8, usize)> {
        split_client(&take_sent(p), false)
            .iter()
            .map(|(t, b)| (*t, b.len()))
            .collect()
    }

    #[test]
    fn small_writes_gather_into_chunks_and_large_ones_go_as_they_are() {
        let (mut p, mut w) = copying();
        for _ in 0..3 {
            assert_eq!(w.write(&mut p, &[b'x'; 1000]).unwrap(), WriteStep::Taken);
        }
        assert!(messages(&mut p).is_empty(), "gathered, not yet queued");
        w.write(&mut p, &vec![b'y'; CHUNK]).unwrap();
        // The gathered bytes first (order kept), then the large write whole.
        assert_eq!(messages(&mut p), [(b'd', 3000), (b'd', CHUNK)]);
        w.write(&mut p, b"tail").unwrap();
        let mut reader = w.finish(&mut p).unwrap();
        assert_eq!(messages(&mut p), [(b'd', 4), (b'c', 0)]);
        assert!(w.is_ended());
        assert_eq!(w.write(&mut p, b"late"), Err(CopyWriteError::Ended));
        p.receive(&cat(&[complete("COPY 2"), ready(b'I')]));
        let mut inbox = Inbox::default();
        while reader.poll(&mut p, &mut inbox, |_| false).unwrap()
            != hyperwire_proto::engine::CopyStep::Done
        {}
        assert_eq!(reader.outcome().unwrap(), 2);
    }

    #[test]
    fn past_the_high_water_mark_the_writer_asks_for_a_flush() {
        let (mut p, mut w) = copying();
        let big = vec![b'z'; CHUNK];
        let mut steps = Vec::new();
        // Each CopyData message is its bytes plus a 5-byte header: the first
        // write that queues more than the mark asks for the flush.
        let first_over = COPY_IN_HIGH_WATER / (CHUNK + 5) + 1;
        for _ in 0..first_over {
            steps.push(w.write(&mut p, &big).unwrap());
        }
        assert_eq!(steps.last(), Some(&WriteStep::Flush));
        assert!(steps[..first_over - 1]
            .iter()
            .all(|s| *s == WriteStep::Taken));
        // Written out, it takes more again.
        let _ = take_sent(&mut p);
        assert_eq!(w.write(&mut p, b"more").unwrap(), WriteStep::Taken);
    }

    #[test]
    fn an_abort_or_a_drop_fails_the_copy_once_and_nothing_after_the_servers_end() {
        let (mut p, mut w) = copying();
        w.write(&mut p, b"gathered").unwrap();
        let _reader = w.abort(&mut p, "no thanks").unwrap();
        // The gathered bytes are dropped with the COPY.
        assert_eq!(messages(&mut p), [(b'f', 10)]);
        assert!(!w.abandon(&mut p), "already ended");

        let (mut p, mut w) = copying();
        assert!(w.abandon(&mut p));
        let sent = split_client(&take_sent(&mut p), false);
        assert_eq!(sent[0].0, b'f');
        assert!(sent[0].1.starts_with(ABANDONED.as_bytes()));

        // The server ended the COPY (an error): the writer takes nothing more.
        let (mut p, mut w) = copying();
        p.receive(&cat(&[error("22P02", "bad input"), ready(b'I')]));
        let _ = drain(&mut p);
        assert_eq!(w.write(&mut p, b"x"), Err(CopyWriteError::Ended));
        assert!(!w.abandon(&mut p));
        assert!(messages(&mut p).is_empty());
    }
}

// ---- execute_many -------------------------------------------------------------------

mod execute_many {
    use super::*;
    use hyperwire_proto::engine::{ExecuteMany, ReadStep, Reader};
    use hyperwire_proto::value::ToSql;

    fn rows(n: i64) -> Vec<EncodedParams> {
        (0..n)
            .map(|i| EncodedParams::new(&[&i as &dyn ToSql], None).unwrap())
            .collect()
    }

    fn read(
        many: &mut ExecuteMany,
        p: &mut Protocol,
        answer: &[u8],
        chunk: usize,
    ) -> Result<u64, RequestError> {
        let mut cache = StatementCache::new(StatementPolicy::default());
        let mut inbox = Inbox::default();
        for part in answer.chunks(chunk) {
            p.receive(part);
            if let ReadStep::Done(r) = many.poll(p, &mut cache, &mut inbox) {
                return r;
            }
        }
        match many.poll(p, &mut cache, &mut inbox) {
            ReadStep::Done(r) => r,
            _ => panic!("not done"),
        }
    }

    fn inserted() -> Vec<u8> {
        cat(&[empty(b'2'), complete("INSERT 0 1")])
    }

    #[test]
    fn parsed_once_chunked_by_syncs_and_wrapped_in_a_transaction() {
        for chunk in [1, 5, 4096] {
            let mut p = ready_machine();
            let mut many =
                ExecuteMany::send(&mut p, "INSERT INTO t VALUES ($1)", &rows(5), 2).unwrap();
            assert_eq!(
                tags(&mut p),
                b"QPBEBESBEBESBESQ".to_vec(),
                "BEGIN, one Parse, chunks of two with a Sync each, COMMIT"
            );
            let answer = cat(&[
                complete("BEGIN"),
                ready(b'T'),
                empty(b'1'),
                inserted(),
                inserted(),
                ready(b'T'),
                inserted(),
                inserted(),
                ready(b'T'),
                inserted(),
                ready(b'T'),
                complete("COMMIT"),
                ready(b'I'),
            ]);
            assert_eq!(
                read(&mut many, &mut p, &answer, chunk).unwrap(),
                5,
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn the_first_error_is_returned_and_the_commit_rolls_back() {
        let mut p = ready_machine();
        let mut many = ExecuteMany::send(&mut p, "INSERT INTO t VALUES ($1)", &rows(6), 2).unwrap();
        assert_eq!(tags(&mut p), b"QPBEBESBEBESBEBESQ".to_vec());
        let answer = cat(&[
            complete("BEGIN"),
            ready(b'T'),
            empty(b'1'),
            inserted(),
            inserted(),
            ready(b'T'),
            empty(b'2'),
            error("23505", "duplicate key"),
            ready(b'E'),
            error("25P02", "current transaction is aborted"),
            ready(b'E'),
            complete("ROLLBACK"),
            ready(b'I'),
        ]);
        // The third chunk met the aborted transaction (25P02): the first
        // error is the one that says why.
        match read(&mut many, &mut p, &answer, 3) {
            Err(RequestError::Server(e)) => assert_eq!(e.code(), "23505"),
            other => panic!("{other:?}"),
        }
        assert!(p.is_idle());
        assert_eq!(p.pending_send().len(), 0);
        assert_eq!(drain(&mut p), Vec::<String>::new(), "every answer was read");
    }

    #[test]
    fn inside_a_transaction_it_adds_no_begin_and_nothing_sends_nothing() {
        let mut p = ready_machine();
        let id = p.query("BEGIN").unwrap();
        let _ = tags(&mut p);
        p.receive(&cat(&[complete("BEGIN"), ready(b'T')]));
        let _ = drain(&mut p);
        let _ = id;
        let mut many =
            ExecuteMany::send(&mut p, "INSERT INTO t VALUES ($1)", &rows(1), 10).unwrap();
        assert_eq!(tags(&mut p), b"PBES".to_vec());
        let answer = cat(&[empty(b'1'), inserted(), ready(b'T')]);
        assert_eq!(read(&mut many, &mut p, &answer, 2).unwrap(), 1);

        let mut none = ExecuteMany::send(&mut p, "INSERT INTO t VALUES ($1)", &[], 10).unwrap();
        assert!(tags(&mut p).is_empty());
        assert!(none.requests().is_none());
        assert_eq!(read(&mut none, &mut p, &[], 1).unwrap(), 0);
    }
}
