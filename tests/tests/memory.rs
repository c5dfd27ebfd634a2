//! Memory stays bounded while streaming: 10 million rows through the blocking
//! `query_iter` and the tokio `query_stream` keep the process's peak RSS (VmHWM)
//! within the receive buffer plus a small constant. This test binary is its own
//! process, with nothing else in it, so the baseline is clean.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    missing_docs
)]

use std::future::poll_fn;
use std::pin::Pin;
use std::time::Duration;

use futures_core::Stream;

use hyperwire_tests as harness;

const ROWS: i64 = 10_000_000;
const SQL: &str = "SELECT g FROM generate_series(1, 10000000) g";
/// The receive buffer (64 KiB reads, grown to the largest message) plus a small
/// constant: rows must never pile up.
const ALLOWANCE: u64 = 16 << 20;

/// VmHWM (peak resident set) in bytes.
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a number of kB");
    kib * 1024
}

/// Resets VmHWM to the current RSS (Linux: "5" to clear_refs); false if not allowed.
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(b: u64) -> f64 {
    b as f64 / (1 << 20) as f64
}

#[test]
fn streaming_ten_million_rows_keeps_peak_rss_bounded() {
    let s = harness::pg15();
    let conninfo = s.conninfo(harness::TRUST_USER);

    // Everything set up before the baseline: both clients, the runtime, a warm-up.
    let mut blocking = hyperwire_blocking::Client::connect(&conninfo).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut conn = rt
        .block_on(hyperwire_tokio::Connection::connect(&conninfo))
        .unwrap();
    for row in blocking
        .query_iter("SELECT g FROM generate_series(1, 100000) g", &[])
        .unwrap()
    {
        row.unwrap();
    }
    rt.block_on(async {
        let mut rows = conn
            .query_stream("SELECT g FROM generate_series(1, 100000) g", &[])
            .await
            .unwrap();
        while let Some(r) = poll_fn(|cx| Pin::new(&mut rows).poll_next(cx)).await {
            r.unwrap();
        }
    });

    // Blocking.
    let resettable = reset_peak();
    let base = peak_rss();
    let mut sum = 0i64;
    let mut n = 0i64;
    for row in blocking.query_iter(SQL, &[]).unwrap() {
        sum += i64::from(row.unwrap().get::<i32>(0).unwrap());
        n += 1;
    }
    assert_eq!((n, sum), (ROWS, ROWS * (ROWS + 1) / 2));
    let peak = peak_rss();
    eprintln!(
        "blocking: baseline {:.1} MiB, peak {:.1} MiB (+{:.1} MiB)",
        mib(base),
        mib(peak),
        mib(peak.saturating_sub(base))
    );
    assert!(
        peak <= base + ALLOWANCE,
        "blocking query_iter: peak RSS grew by {:.1} MiB",
        mib(peak - base)
    );

    // tokio.
    if resettable {
        reset_peak();
    }
    let base = if resettable { peak_rss() } else { base };
    let (n, sum) = rt.block_on(async {
        let mut rows = conn.query_stream(SQL, &[]).await.unwrap();
        let (mut n, mut sum) = (0i64, 0i64);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        while let Some(r) =
            tokio::time::timeout_at(deadline, poll_fn(|cx| Pin::new(&mut rows).poll_next(cx)))
                .await
                .expect("bounded")
        {
            sum += i64::from(r.unwrap().get::<i32>(0).unwrap());
            n += 1;
        }
        (n, sum)
    });
    assert_eq!((n, sum), (ROWS, ROWS * (ROWS + 1) / 2));
    let peak = peak_rss();
    eprintln!(
        "tokio: baseline {:.1} MiB, peak {:.1} MiB (+{:.1} MiB)",
        mib(base),
        mib(peak),
        mib(peak.saturating_sub(base))
    );
    assert!(
        peak <= base + ALLOWANCE,
        "tokio query_stream: peak RSS grew by {:.1} MiB",
        mib(peak - base)
    );
    assert!(blocking.is_healthy() && conn.is_healthy());
}
