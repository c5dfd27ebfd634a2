//! The session without sockets: request deadlines, and every abandon policy
//! carried through `settle` with scripted server answers, in several chunkings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use std::time::Duration;

use hyperwire_proto::engine::policy::{CLOSE_FLUSH_LIMIT, DRAIN_GRACE};
use hyperwire_proto::engine::{
    AbandonPolicy, Closed, QueryReader, ReadStep, RequestError, Session, SettleStep, Timestamp,
};
use hyperwire_proto::value::{EncodedParams, ToSql};
use hyperwire_proto::{Event, RequestId};
use support::*;

fn ms(n: u64) -> Timestamp {
    Timestamp::from_since_origin(Duration::from_millis(n))
}

fn session() -> Session {
    let p = ready_machine();
    assert!(p.backend_key().is_some(), "a cancel needs the key");
    Session::new(p, 42)
}

fn tags(s: &mut Session) -> Vec<u8> {
    let sent = take_sent(s.protocol_mut());
    split_client(&sent, false).iter().map(|(t, _)| *t).collect()
}

/// The server's answer to a query cancelled while it ran.
fn cancelled() -> Vec<u8> {
    cat(&[error("57014", "canceling statement"), ready(b'I')])
}

fn sleep_query(s: &mut Session) -> QueryReader {
    let r = QueryReader::simple(s.protocol_mut(), "SELECT pg_sleep(30)").unwrap();
    let _ = tags(s);
    r
}

/// Reads until the deadline passes; the request must time out, not end.
fn time_out(s: &mut Session, r: &mut QueryReader, timeout_ms: u64) {
    s.set_request_timeout(Some(Duration::from_millis(timeout_ms)));
    s.start_wait(|| ms(0));
    assert!(matches!(s.read(r, || ms(1)), ReadStep::NeedIo));
    assert_eq!(s.poll_timeout(), Some(ms(timeout_ms)));
    match s.read(r, || ms(timeout_ms)) {
        ReadStep::Done(Err(RequestError::TimedOut)) => {}
        other => panic!("{other:?}"),
    }
}

/// Runs `settle`, feeding `answer` in chunks of `chunk` whenever it asks for
/// I/O; returns the steps it asked for (Io folded to one entry per feed).
fn settle_with(s: &mut Session, now: Timestamp, answer: &[u8], chunk: usize) -> Vec<String> {
    let mut steps = Vec::new();
    let mut parts = answer.chunks(chunk.max(1));
    for _ in 0..10_000 {
        match s.settle(now) {
            SettleStep::Ready => {
                steps.push("Ready".to_owned());
                return steps;
            }
            SettleStep::Cancel => {
                steps.push("Cancel".to_owned());
                s.cancel_finished();
            }
            SettleStep::Io => {
                if steps.last().map(String::as_str) != Some("Io") {
                    steps.push("Io".to_owned());
                }
                match parts.next() {
                    Some(part) => s.protocol_mut().receive(part),
                    None => {
                        steps.push("Starved".to_owned());
                        return steps;
                    }
                }
            }
            SettleStep::Flush => {
                steps.push("Flush".to_owned());
                let n = s.protocol().pending_send().len();
                s.protocol_mut().advance_send(n);
            }
            SettleStep::Closed(why) => {
                steps.push(format!("Closed({why:?})"));
                return steps;
            }
            other => {
                steps.push(format!("{other:?}"));
                return steps;
            }
        }
    }
    panic!("settle did not end: {steps:?}");
}

fn query_one(s: &mut Session) -> i64 {
    let mut r = QueryReader::simple(s.protocol_mut(), "SELECT 5").unwrap();
    let _ = tags(s);
    s.protocol_mut().receive(&cat(&[
        row_desc(&[("v", 20)]),
        data_row(&[Some(b"5")]),
        complete("SELECT 1"),
        ready(b'I'),
    ]));
    match s.read(&mut r, || ms(0)) {
        ReadStep::Done(Ok(mut results)) => results.pop().unwrap().rows[0].get::<i64>(0).unwrap(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn without_a_timeout_a_read_waits_for_ever_and_nothing_is_settled() {
    let mut s = session();
    let mut r = sleep_query(&mut s);
    s.start_wait(|| ms(0));
    assert_eq!(s.poll_timeout(), None);
    assert!(matches!(
        s.read(&mut r, || ms(u64::MAX / 2)),
        ReadStep::NeedIo
    ));
    // Nothing given up: settle has nothing to do, whatever the policy.
    for policy in [AbandonPolicy::Close, AbandonPolicy::CancelThenClose] {
        s.set_abandon_policy(policy);
        assert!(matches!(s.settle(ms(5)), SettleStep::Ready));
    }
    assert!(s.protocol().is_healthy());
}

#[test]
fn cancel_then_drain_cancels_reads_the_rest_and_leaves_the_session_usable() {
    for chunk in [1, 5, 1000] {
        let mut s = session();
        s.set_abandon_policy(AbandonPolicy::CancelThenDrain);
        let mut r = sleep_query(&mut s);
        time_out(&mut s, &mut r, 300);
        // Nothing new may be sent before the cancel is over and the answers read.
        let steps = settle_with(&mut s, ms(300), &cancelled(), chunk);
        assert_eq!(steps, ["Cancel", "Io", "Ready"], "chunk {chunk}");
        assert!(tags(&mut s).is_empty(), "nothing sent while settling");
        assert!(s.protocol().is_healthy());
        assert_eq!(query_one(&mut s), 5);
    }
}

#[test]
fn an_abandoned_request_that_already_ended_is_not_cancelled() {
    let mut s = session();
    s.set_abandon_policy(AbandonPolicy::CancelThenDrain);
    let mut r = sleep_query(&mut s);
    time_out(&mut s, &mut r, 300);
    // Its answer arrived just after the deadline: a cancel now could only hit
    // a later request (or nothing), so none is asked for.
    s.protocol_mut().receive(&cat(&[empty(b'I'), ready(b'I')]));
    assert_eq!(settle_with(&mut s, ms(301), &[], 1), ["Ready"]);
    assert_eq!(query_one(&mut s), 5);
}

#[test]
fn drain_never_cancels_and_closes_when_the_grace_runs_out() {
    let mut s = session();
    s.set_abandon_policy(AbandonPolicy::Drain);
    let mut r = sleep_query(&mut s);
    time_out(&mut s, &mut r, 100);
    // The first look arms the grace period.
    assert!(matches!(s.settle(ms(100)), SettleStep::Io));
    let grace_end = ms(100).saturating_add(DRAIN_GRACE);
    assert_eq!(s.poll_timeout(), Some(grace_end));
    assert!(matches!(s.settle(ms(200)), SettleStep::Io));
    // Past it the session gives up on the connection: Terminate goes out.
    let steps = settle_with(&mut s, grace_end, &[], 1);
    assert_eq!(steps, ["Flush", "Closed(DrainTimedOut)"]);
    assert!(!s.protocol().is_healthy());
}

#[test]
fn drain_reads_the_answers_in_any_chunking_without_a_cancel() {
    for chunk in [1, 2, 64] {
        let mut s = session();
        s.set_abandon_policy(AbandonPolicy::Drain);
        let mut r = sleep_query(&mut s);
        time_out(&mut s, &mut r, 100);
        let answer = cat(&[
            row_desc(&[("pg_sleep", 2278)]),
            data_row(&[Some(b"")]),
            notice("a notice on the way"),
            complete("SELECT 1"),
            ready(b'I'),
        ]);
        let steps = settle_with(&mut s, ms(150), &answer, chunk);
        assert_eq!(steps, ["Io", "Ready"], "chunk {chunk}");
        // The inbox still got its share.
        assert_eq!(s.inbox_mut().take_notices().count(), 1);
        assert_eq!(query_one(&mut s), 5);
    }
}

#[test]
fn close_and_cancel_then_close_end_the_connection_with_a_bounded_flush() {
    for (policy, expected) in [
        (AbandonPolicy::Close, vec!["Flush", "Closed(Policy(Close))"]),
        (
            AbandonPolicy::CancelThenClose,
            vec!["Cancel", "Flush", "Closed(Policy(CancelThenClose))"],
        ),
    ] {
        let mut s = session();
        s.set_abandon_policy(policy);
        let mut r = sleep_query(&mut s);
        time_out(&mut s, &mut r, 100);
        assert_eq!(settle_with(&mut s, ms(100), &[], 1), expected);
        assert!(!s.protocol().is_healthy());
        // Terminate was the last thing written.
        assert!(s.protocol_mut().query("SELECT 1").is_err());
    }

    // A server that does not read: the flush of Terminate stops at its limit.
    let mut s = session();
    s.set_abandon_policy(AbandonPolicy::Close);
    let mut r = sleep_query(&mut s);
    time_out(&mut s, &mut r, 100);
    assert!(matches!(s.settle(ms(100)), SettleStep::Flush));
    let limit = ms(100).saturating_add(CLOSE_FLUSH_LIMIT);
    assert_eq!(s.poll_timeout(), Some(limit));
    assert!(matches!(s.settle(ms(150)), SettleStep::Flush));
    match s.settle(limit) {
        SettleStep::Closed(Closed::Policy(AbandonPolicy::Close)) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_dropped_caller_is_settled_before_the_next_request_with_the_policy() {
    // An async caller drops its future mid-read: no timeout, the next call
    // abandons what is still tracked and settles it.
    let mut s = session();
    s.set_abandon_policy(AbandonPolicy::CancelThenDrain);
    let mut r = sleep_query(&mut s);
    assert!(matches!(s.read(&mut r, || ms(0)), ReadStep::NeedIo));
    drop(r);
    s.abandon();
    let steps = settle_with(&mut s, ms(10), &cancelled(), 3);
    assert_eq!(steps, ["Cancel", "Io", "Ready"]);
    assert_eq!(query_one(&mut s), 5);
}

#[test]
fn a_statement_being_prepared_is_released_when_its_caller_gives_up() {
    let mut s = session();
    s.set_abandon_policy(AbandonPolicy::Drain);
    let v = 7i64;
    let params = || EncodedParams::new(&[&v as &dyn ToSql], None).unwrap();
    let (p, cache, _) = s.parts();
    let mut r = QueryReader::send(p, cache, "SELECT $1::int8", params()).unwrap();
    assert!(r.is_preparing());
    let _ = tags(&mut s);
    assert!(matches!(s.read(&mut r, || ms(0)), ReadStep::NeedIo));
    s.abandon();
    // The server answered (its statement exists now, but the cache never saw
    // it described): the cache does not wait for it and prepares afresh.
    let answer = cat(&[
        empty(b'1'),
        msg(b't', &[0, 1, 0, 0, 0, 20]),
        row_desc(&[("v", 20)]),
        empty(b'2'),
        data_row(&[Some(b"7")]),
        complete("SELECT 1"),
        ready(b'I'),
    ]);
    assert_eq!(settle_with(&mut s, ms(1), &answer, 4), ["Io", "Ready"]);
    let (p, cache, _) = s.parts();
    let r = QueryReader::send(p, cache, "SELECT $1::int8", params()).unwrap();
    assert!(r.is_preparing(), "the abandoned preparation was released");
}

#[test]
fn a_copy_in_nobody_expects_is_failed_and_an_expected_one_is_left_alone() {
    for expected in [false, true] {
        let mut s = session();
        s.expect_copy_in(expected);
        let id = s.protocol_mut().query("COPY t FROM STDIN").unwrap();
        let _ = tags(&mut s);
        s.protocol_mut().receive(&copy_response(b'G', 1));
        let mut seen = Vec::new();
        let done = s
            .drive(|ev| {
                seen.push(format!("{ev:?}"));
                matches!(ev, Event::CopyInStart { .. }).then_some(())
            })
            .unwrap();
        assert_eq!(done, Some(()));
        assert_eq!(tags(&mut s), if expected { vec![] } else { vec![b'f'] });
        assert_eq!(s.protocol().in_copy_in(), expected);
        let _: RequestId = id;
    }
}

#[test]
fn a_fatal_error_while_draining_is_reported_not_hidden() {
    let mut s = session();
    s.set_abandon_policy(AbandonPolicy::Drain);
    let mut r = sleep_query(&mut s);
    time_out(&mut s, &mut r, 100);
    // A message no server sends: the machine desynchronizes. (A bare
    // ReadyForQuery would not do: hyperd answers a late cancel with one, and
    // an abandoned request tolerates it.)
    let steps = settle_with(&mut s, ms(100), &msg(b'!', b"?"), 100);
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(steps[0], "Io");
    assert!(steps[1].starts_with("Failed("), "{steps:?}");
    assert!(!s.protocol().is_healthy());
}

#[test]
fn a_pipeline_given_up_abandons_every_request_of_its_range() {
    // hyperd answers a statement a cancel caught late with a bare
    // ReadyForQuery, which only an abandoned request may get: every request of
    // the pipeline must be abandoned, not just its last.
    for whole_range in [true, false] {
        let mut s = session();
        s.set_abandon_policy(AbandonPolicy::Drain);
        let ids: Vec<RequestId> = (0..3)
            .map(|i| s.protocol_mut().query(&format!("SELECT {i}")).unwrap())
            .collect();
        let _ = tags(&mut s);
        if whole_range {
            s.track_range(ids[0], ids[2]);
        } else {
            s.track(ids[2]);
        }
        s.abandon();
        let answer = cat(&[ready(b'I'), ready(b'I'), ready(b'I')]);
        let steps = settle_with(&mut s, ms(0), &answer, 1);
        if whole_range {
            assert_eq!(steps, ["Io", "Ready"]);
            assert!(s.protocol().is_healthy());
        } else {
            assert!(steps.last().unwrap().starts_with("Failed("), "{steps:?}");
        }
    }
}

#[test]
fn giving_up_on_requests_that_already_ended_settles_nothing_even_with_close() {
    let mut s = session();
    s.set_abandon_policy(AbandonPolicy::Close);
    let mut r = sleep_query(&mut s);
    let id = r.request();
    s.protocol_mut().receive(&cat(&[empty(b'I'), ready(b'I')]));
    assert!(matches!(s.read(&mut r, || ms(0)), ReadStep::Done(Ok(_))));
    // A caller that tracked it too (a pipeline's range) and gives up late.
    s.track(id);
    s.abandon();
    assert!(matches!(s.settle(ms(1)), SettleStep::Ready));
    assert!(s.protocol().is_healthy());
    assert_eq!(query_one(&mut s), 5);
}

#[test]
fn every_request_read_to_its_end_is_untracked() {
    // A cached query forgets its request id once finished: the session must
    // untrack the id it tracked, or the list grows with every query (and each
    // lookup with it).
    let mut s = session();
    let v = 1i64;
    for i in 0..50 {
        let params = EncodedParams::new(&[&v as &dyn ToSql], None).unwrap();
        let (p, cache, _) = s.parts();
        let mut r = QueryReader::send(p, cache, "SELECT $1::int8", params).unwrap();
        let _ = tags(&mut s);
        let answer = if i == 0 {
            cat(&[
                empty(b'1'),
                msg(b't', &[0, 1, 0, 0, 0, 20]),
                row_desc(&[("v", 20)]),
                empty(b'2'),
                data_row(&[Some(b"1")]),
                complete("SELECT 1"),
                ready(b'I'),
            ])
        } else {
            cat(&[
                empty(b'2'),
                data_row(&[Some(&1i64.to_be_bytes())]),
                complete("SELECT 1"),
                ready(b'I'),
            ])
        };
        assert!(matches!(s.read(&mut r, || ms(0)), ReadStep::NeedIo));
        assert_eq!(s.tracked(), 1);
        s.protocol_mut().receive(&answer);
        assert!(
            matches!(s.read(&mut r, || ms(0)), ReadStep::Done(Ok(_))),
            "query {i}"
        );
        assert_eq!(s.tracked(), 0, "query {i}");
    }
    assert_eq!(s.cache_mut().len(), 1);
}
