//! The script reader without sockets: scripted server answers to a simple Query,
//! fed whole, byte by byte and in random splits, read to the same steps and the
//! same client bytes every time.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use hyperwire_proto::engine::script::{COPY_IN_HIGH_WATER, NO_COPY_SOURCE};
use hyperwire_proto::engine::{CopyInStep, RequestError, ScriptReader, ScriptStep};
use hyperwire_proto::inbox::Inbox;
use hyperwire_proto::{DesyncReason, Error};
use support::*;

/// What the caller's COPY FROM STDIN source does.
#[derive(Clone)]
enum Source {
    /// No source.
    Missing,
    /// These reads, then the end.
    Ends(Vec<&'static [u8]>),
    /// These reads, then an error.
    Fails(Vec<&'static [u8]>, &'static str),
}

/// What a run saw.
#[derive(Debug, PartialEq)]
struct Run {
    /// The steps, as text (Continue and NeedIo left out).
    steps: Vec<String>,
    /// The client's messages after the Query, as (tag, body).
    sent: Vec<(u8, Vec<u8>)>,
    /// How the run ended: `None` at Done.
    error: Option<RequestError>,
    notices: usize,
    notifications: usize,
}

/// Chunk sizes: the whole answer at once, byte by byte, and random splits.
fn chunkings(len: usize) -> Vec<Vec<usize>> {
    let mut all = vec![vec![len.max(1)], vec![1]];
    for seed in 1..=6u64 {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let sizes = (0..32)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % 23) as usize + 1
            })
            .collect();
        all.push(sizes);
    }
    all
}

fn show(step: &ScriptStep<'_>) -> Option<String> {
    Some(match step {
        ScriptStep::Result(r) => {
            let rows: Vec<String> = r
                .rows
                .iter()
                .map(|row| {
                    (0..row.len())
                        .map(|i| {
                            row.get::<Option<String>>(i)
                                .unwrap()
                                .unwrap_or("NULL".into())
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .collect();
            let cols: Vec<&str> = r.columns.iter().map(|c| c.name()).collect();
            format!(
                "result {} cols={cols:?} rows={rows:?} returns_rows={}",
                r.tag, r.returns_rows
            )
        }
        ScriptStep::Error(e) => format!("error {} {}", e.code(), e.message()),
        ScriptStep::Empty => "empty".into(),
        ScriptStep::CopyOutStart => "copy-out-start".into(),
        ScriptStep::CopyOutData(d) => format!("data {}", String::from_utf8_lossy(d)),
        ScriptStep::CopyOutEnd => "copy-out-end".into(),
        ScriptStep::CopyIn => "copy-in".into(),
        ScriptStep::Done => "done".into(),
        ScriptStep::Continue | ScriptStep::NeedIo => return None,
        other => panic!("a step this test does not know: {other:?}"),
    })
}

/// Sends `sql`, feeds `answer` in pieces of `sizes` (cycled) whenever the reader
/// needs bytes, and plays `source` when COPY FROM STDIN starts.
fn run_with(sql: &str, answer: &[u8], sizes: &[usize], source: &Source) -> Run {
    let mut p = ready_machine();
    let mut inbox = Inbox::default();
    let mut r = ScriptReader::send(&mut p, sql).unwrap();
    let query = split_client(&take_sent(&mut p), false);
    assert_eq!(query.len(), 1);
    assert_eq!(query[0].0, b'Q');
    let (mut at, mut k) = (0, 0);
    let mut steps = Vec::new();
    let error = loop {
        let step = match r.poll(&mut p, &mut inbox) {
            Ok(step) => step,
            Err(e) => break Some(e),
        };
        let done = matches!(step, ScriptStep::Done);
        let need_io = matches!(step, ScriptStep::NeedIo);
        let copy_in = matches!(step, ScriptStep::CopyIn);
        steps.extend(show(&step));
        if done {
            assert!(r.is_done());
            break None;
        }
        if copy_in {
            play(&mut r, &mut p, source);
        }
        if need_io {
            assert!(at < answer.len(), "the reader waits for more: {steps:?}");
            let n = sizes[k % sizes.len()].min(answer.len() - at);
            k += 1;
            p.receive(&answer[at..at + n]);
            at += n;
        }
    };
    Run {
        steps,
        sent: split_client(&take_sent(&mut p), false),
        error,
        notices: inbox.take_notices().count(),
        notifications: inbox.drain_notifications().count(),
    }
}

/// The caller's side of COPY FROM STDIN.
fn play(r: &mut ScriptReader, p: &mut hyperwire_proto::Protocol, source: &Source) {
    assert!(r.in_copy_in());
    let (reads, fails) = match source {
        Source::Missing => return r.copy_in_no_source(p).unwrap(),
        Source::Ends(reads) => (reads, None),
        Source::Fails(reads, e) => (reads, Some(e)),
    };
    for data in reads {
        match r.copy_in_data(p, data).unwrap() {
            CopyInStep::More => {}
            CopyInStep::Finished => return,
            other => panic!("{other:?}"),
        }
    }
    match fails {
        None => r.copy_in_end(p).unwrap(),
        Some(e) => r.copy_in_failed(p, e).unwrap(),
    }
    assert!(!r.in_copy_in());
}

/// The same run in every chunking: the steps and the client's bytes agree.
fn run(sql: &str, answer: &[u8], source: Source) -> Run {
    let mut first: Option<Run> = None;
    for sizes in chunkings(answer.len()) {
        let got = run_with(sql, answer, &sizes, &source);
        match &first {
            None => first = Some(got),
            Some(f) => assert_eq!(&got, f, "chunk sizes {sizes:?}"),
        }
    }
    first.unwrap()
}

fn steps(r: &Run) -> Vec<&str> {
    r.steps.iter().map(String::as_str).collect()
}

#[test]
fn several_statements_each_give_their_result_in_order() {
    let answer = cat(&[
        row_desc(&[("a", 23), ("b", 25)]),
        data_row(&[Some(b"1"), Some(b"x")]),
        notice("careful"),
        data_row(&[Some(b"2"), None]),
        complete("SELECT 2"),
        complete("CREATE TABLE"),
        param("TimeZone", "UTC"),
        notification(7, "ch", "hi"),
        complete("INSERT 0 3"),
        row_desc(&[("n", 23)]),
        complete("SELECT 0"),
        ready(b'I'),
    ]);
    let r = run(
        "SELECT ...; CREATE TABLE t (); INSERT ...; SELECT n ... WHERE false",
        &answer,
        Source::Missing,
    );
    assert_eq!(
        steps(&r),
        [
            r#"result SELECT 2 cols=["a", "b"] rows=["1,x", "2,NULL"] returns_rows=true"#,
            "result CREATE TABLE cols=[] rows=[] returns_rows=false",
            "result INSERT 0 3 cols=[] rows=[] returns_rows=false",
            r#"result SELECT 0 cols=["n"] rows=[] returns_rows=true"#,
            "done",
        ]
    );
    assert_eq!(r.error, None);
    assert!(r.sent.is_empty());
    assert_eq!((r.notices, r.notifications), (1, 1));
}

#[test]
fn an_error_in_the_middle_is_reported_and_the_rest_is_skipped_by_the_server() {
    let answer = cat(&[
        complete("CREATE TABLE"),
        row_desc(&[("x", 23)]),
        data_row(&[Some(b"1")]),
        error("22012", "division by zero"),
        ready(b'E'),
    ]);
    let r = run(
        "CREATE TABLE t (); SELECT 1/(2-x) ...; SELECT 3",
        &answer,
        Source::Missing,
    );
    assert_eq!(
        steps(&r),
        [
            "result CREATE TABLE cols=[] rows=[] returns_rows=false",
            "error 22012 division by zero",
            "done",
        ]
    );
    assert_eq!(r.error, None);
}

#[test]
fn an_empty_query_is_reported_as_such() {
    let r = run("", &cat(&[empty(b'I'), ready(b'I')]), Source::Missing);
    assert_eq!(steps(&r), ["empty", "done"]);
}

#[test]
fn copy_out_data_is_passed_through_message_by_message() {
    let answer = cat(&[
        copy_response(b'H', 2),
        msg(b'd', b"1\ta\n"),
        notice("meanwhile"),
        msg(b'd', b"2\tb\n"),
        param("application_name", "x"),
        empty(b'c'),
        complete("COPY 2"),
        row_desc(&[("after", 25)]),
        data_row(&[Some(b"yes")]),
        complete("SELECT 1"),
        ready(b'I'),
    ]);
    let r = run("COPY t TO STDOUT; SELECT 'yes'", &answer, Source::Missing);
    assert_eq!(
        steps(&r),
        [
            "copy-out-start",
            "data 1\ta\n",
            "data 2\tb\n",
            "copy-out-end",
            "result COPY 2 cols=[] rows=[] returns_rows=false",
            r#"result SELECT 1 cols=["after"] rows=["yes"] returns_rows=true"#,
            "done",
        ]
    );
    assert_eq!(r.notices, 1);
}

#[test]
fn copy_out_data_borrows_the_receive_buffer() {
    let mut p = ready_machine();
    let mut r = ScriptReader::send(&mut p, "COPY t TO STDOUT").unwrap();
    take_sent(&mut p);
    p.receive(&cat(&[copy_response(b'H', 1), msg(b'd', b"row\n")]));
    let mut inbox = Inbox::default();
    assert!(matches!(
        r.poll(&mut p, &mut inbox),
        Ok(ScriptStep::CopyOutStart)
    ));
    // No copy of the data: the slice lies in the machine's buffer, which the
    // next read reuses (the borrow checker ends the slice before it).
    match r.poll(&mut p, &mut inbox) {
        Ok(ScriptStep::CopyOutData(d)) => assert_eq!(d, b"row\n"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(r.poll(&mut p, &mut inbox), Ok(ScriptStep::NeedIo)));
}

/// The answer to a script whose COPY FROM STDIN loaded `rows`, then a SELECT.
fn copy_in_answer(rows: u32) -> Vec<u8> {
    cat(&[
        copy_response(b'G', 1),
        complete(&format!("COPY {rows}")),
        row_desc(&[("n", 20)]),
        data_row(&[Some(rows.to_string().as_bytes())]),
        complete("SELECT 1"),
        ready(b'I'),
    ])
}

#[test]
fn copy_in_sends_the_source_then_copy_done_when_it_ends() {
    let r = run(
        "COPY t FROM STDIN; SELECT count(*) FROM t",
        &copy_in_answer(3),
        Source::Ends(vec![b"1\n2", b"\n", b"", b"3\n"]),
    );
    assert_eq!(
        steps(&r),
        [
            "copy-in",
            "result COPY 3 cols=[] rows=[] returns_rows=false",
            r#"result SELECT 1 cols=["n"] rows=["3"] returns_rows=true"#,
            "done",
        ]
    );
    assert_eq!(
        r.sent,
        [
            (b'd', b"1\n2".to_vec()),
            (b'd', b"\n".to_vec()),
            (b'd', b"3\n".to_vec()),
            (b'c', vec![]),
        ]
    );
}

#[test]
fn copy_in_data_ends_at_a_line_holding_only_a_backslash_dot() {
    // As psql does: the "\." line and what follows are not COPY data.
    let r = run(
        "COPY t FROM STDIN",
        &cat(&[copy_response(b'G', 1), complete("COPY 2"), ready(b'I')]),
        Source::Ends(vec![b"1\n", b"2\n\\.\nSELECT 'not data';\n", b"never read"]),
    );
    assert_eq!(
        steps(&r),
        [
            "copy-in",
            "result COPY 2 cols=[] rows=[] returns_rows=false",
            "done"
        ]
    );
    assert_eq!(
        r.sent,
        [
            (b'd', b"1\n".to_vec()),
            (b'd', b"2\n".to_vec()),
            (b'c', vec![])
        ]
    );

    // A "\." that does not begin a line is data.
    let r = run(
        "COPY t FROM STDIN",
        &cat(&[copy_response(b'G', 1), complete("COPY 1"), ready(b'I')]),
        Source::Ends(vec![b"a", b"\\.\n"]),
    );
    assert_eq!(r.sent.len(), 3);
    assert_eq!(r.sent[1], (b'd', b"\\.\n".to_vec()));
}

#[test]
fn a_failing_or_missing_source_fails_the_copy_and_the_script_goes_on_to_its_error() {
    let answer = cat(&[
        copy_response(b'G', 1),
        error(
            "57014",
            "COPY from stdin failed: error reading COPY data: disk on fire",
        ),
        ready(b'I'),
    ]);
    let r = run(
        "COPY t FROM STDIN; SELECT 1",
        &answer,
        Source::Fails(vec![b"1\n"], "disk on fire"),
    );
    assert_eq!(
        steps(&r),
        [
            "copy-in",
            "error 57014 COPY from stdin failed: error reading COPY data: disk on fire",
            "done"
        ]
    );
    assert_eq!(r.sent.len(), 2);
    assert_eq!(r.sent[0], (b'd', b"1\n".to_vec()));
    assert_eq!(r.sent[1].0, b'f');
    assert_eq!(r.sent[1].1, cstr("error reading COPY data: disk on fire"));

    let answer = cat(&[
        copy_response(b'G', 1),
        error("57014", "COPY from stdin failed: no COPY data source"),
        ready(b'I'),
    ]);
    let r = run("COPY t FROM STDIN", &answer, Source::Missing);
    assert_eq!(steps(&r)[0], "copy-in");
    assert_eq!(r.sent, [(b'f', cstr(NO_COPY_SOURCE))]);
}

#[test]
fn a_copy_in_the_server_ends_early_takes_no_more_data() {
    let mut p = ready_machine();
    let mut inbox = Inbox::default();
    let mut r = ScriptReader::send(&mut p, "COPY t FROM STDIN").unwrap();
    take_sent(&mut p);
    p.receive(&copy_response(b'G', 1));
    assert!(matches!(r.poll(&mut p, &mut inbox), Ok(ScriptStep::CopyIn)));
    // The caller looks for news before sending: the server refused already.
    p.receive(&cat(&[error("42501", "permission denied"), ready(b'I')]));
    match r.poll(&mut p, &mut inbox) {
        Ok(ScriptStep::Error(e)) => assert_eq!(e.code(), "42501"),
        other => panic!("{other:?}"),
    }
    assert!(!r.in_copy_in());
    assert_eq!(
        r.copy_in_data(&mut p, b"1\n").unwrap(),
        CopyInStep::Finished
    );
    r.copy_in_end(&mut p).unwrap();
    r.copy_in_failed(&mut p, &"late").unwrap();
    assert!(p.pending_send().is_empty(), "nothing sent after the error");
    assert!(matches!(r.poll(&mut p, &mut inbox), Ok(ScriptStep::Done)));
    assert!(p.is_healthy());
}

#[test]
fn queued_copy_data_past_the_high_water_mark_asks_for_a_flush() {
    let mut p = ready_machine();
    let mut inbox = Inbox::default();
    let mut r = ScriptReader::send(&mut p, "COPY t FROM STDIN").unwrap();
    take_sent(&mut p);
    p.receive(&copy_response(b'G', 1));
    assert!(matches!(r.poll(&mut p, &mut inbox), Ok(ScriptStep::CopyIn)));
    let chunk = vec![b'x'; 64 * 1024];
    let mut steps = Vec::new();
    while steps.last() != Some(&CopyInStep::Flush) {
        steps.push(r.copy_in_data(&mut p, &chunk).unwrap());
        assert!(steps.len() < 100);
    }
    assert!(p.pending_send().len() > COPY_IN_HIGH_WATER);
    assert!(steps[..steps.len() - 1]
        .iter()
        .all(|s| *s == CopyInStep::More));
    take_sent(&mut p);
    assert_eq!(r.copy_in_data(&mut p, &chunk).unwrap(), CopyInStep::More);
}

fn is_desync(e: &Option<RequestError>) -> bool {
    matches!(
        e,
        Some(RequestError::Protocol(Error::Desynchronized(
            DesyncReason::UnexpectedMessage { .. }
        )))
    )
}

#[test]
fn a_server_that_sends_something_unexpected_ends_the_script_with_a_typed_error() {
    // ParseComplete answers no simple Query.
    let answer = cat(&[complete("SELECT 1"), empty(b'1'), ready(b'I')]);
    let r = run("SELECT 1", &answer, Source::Missing);
    assert_eq!(
        steps(&r),
        ["result SELECT 1 cols=[] rows=[] returns_rows=false"]
    );
    assert!(is_desync(&r.error), "{:?}", r.error);

    // A ReadyForQuery with no answer before it.
    let r = run("SELECT 1", &ready(b'I'), Source::Missing);
    assert!(r.steps.is_empty());
    assert!(is_desync(&r.error), "{:?}", r.error);

    // COPY data with no COPY OUT running.
    let r = run("SELECT 1", &msg(b'd', b"x"), Source::Missing);
    assert!(is_desync(&r.error), "{:?}", r.error);

    // Something else while COPY FROM STDIN waits for its end.
    let answer = cat(&[copy_response(b'G', 1), data_row(&[Some(b"1")])]);
    let r = run("COPY t FROM STDIN", &answer, Source::Ends(vec![]));
    assert_eq!(steps(&r), ["copy-in"]);
    assert!(is_desync(&r.error), "{:?}", r.error);
}

#[test]
fn a_broken_connection_is_reported_once_and_kept() {
    let mut p = ready_machine();
    let mut inbox = Inbox::default();
    let mut r = ScriptReader::send(&mut p, "SELECT 1").unwrap();
    take_sent(&mut p);
    // A length under 4: malformed framing.
    p.receive(&[b'C', 0, 0, 0, 2]);
    let first = r.poll(&mut p, &mut inbox).unwrap_err();
    assert!(matches!(first, RequestError::Protocol(_)), "{first:?}");
    assert!(r.is_done());
    assert_eq!(r.poll(&mut p, &mut inbox).unwrap_err(), first);

    // The peer closing in the middle of the data, too.
    let mut p = ready_machine();
    let mut r = ScriptReader::send(&mut p, "COPY t TO STDOUT").unwrap();
    take_sent(&mut p);
    p.receive(&cat(&[copy_response(b'H', 1), msg(b'd', b"1\n")]));
    p.recv_eof();
    let mut seen = Vec::new();
    let e = loop {
        match r.poll(&mut p, &mut inbox) {
            Ok(step) => seen.extend(show(&step)),
            Err(e) => break e,
        }
    };
    assert_eq!(seen, ["copy-out-start", "data 1\n"]);
    assert!(
        matches!(e, RequestError::Protocol(Error::Closed(_))),
        "{e:?}"
    );
}
