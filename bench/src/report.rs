//! Medians, the printed table, results.csv / results.json, the goals of issue #8
//! and the chart (SVG, plotters).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use plotters::prelude::*;

use crate::{Cell, Key, Measured, Server, Workload};

pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The median run of a cell, field by field.
#[derive(Clone, Debug)]
pub struct Summary {
    pub ops: u64,
    pub wall: Duration,
    pub cpu: Duration,
    pub peak_rss_kb: u64,
    pub runs: usize,
}

impl Summary {
    fn of(runs: &[Measured]) -> Summary {
        fn median<T: Ord + Copy>(mut v: Vec<T>) -> T {
            v.sort();
            v[v.len() / 2]
        }
        Summary {
            ops: runs[0].ops,
            wall: median(runs.iter().map(|m| m.wall).collect()),
            cpu: median(runs.iter().map(|m| m.user + m.sys).collect()),
            peak_rss_kb: median(runs.iter().map(|m| m.peak_rss_kb).collect()),
            runs: runs.len(),
        }
    }
    pub fn rate(&self) -> f64 {
        self.ops as f64 / self.wall.as_secs_f64()
    }
    /// CPU µs per op = CPU seconds per million ops.
    pub fn cpu_us_per_op(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.ops as f64
    }
}

const HW: &str = "hyperwire";
const HW_BINARY: &str = "hyperwire (binary)";
const HW_IN_PLACE: &str = "hyperwire (in place)";
const HW_BLOCKING: &str = "hyperwire (blocking)";

#[allow(clippy::too_many_arguments)]
pub fn write(
    out_dir: &str,
    results: &BTreeMap<Key, Cell>,
    rss10m: &[(Server, Result<Measured, String>)],
    reps: usize,
    load_before: &str,
    load_after: &str,
    took: Duration,
) {
    std::fs::create_dir_all(out_dir).expect("results dir");
    let mut summaries: BTreeMap<(Workload, Server), Vec<(String, Result<Summary, String>)>> =
        BTreeMap::new();
    for ((w, s, client), cell) in results {
        let v = match cell {
            Cell::Runs(runs) if !runs.is_empty() => Ok(Summary::of(runs)),
            Cell::Runs(_) => continue,
            Cell::Failed(e) => Err(e.clone()),
        };
        summaries
            .entry((*w, *s))
            .or_default()
            .push((client.clone(), v));
    }
    // hyperwire first, then by throughput.
    for v in summaries.values_mut() {
        v.sort_by(|a, b| {
            let key = |x: &(String, Result<Summary, String>)| {
                (
                    x.0 != HW,
                    x.1.as_ref().map(|s| -s.rate()).unwrap_or(f64::INFINITY),
                )
            };
            key(a)
                .partial_cmp(&key(b))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    }

    let mut md = String::new();
    let _ = writeln!(
        md,
        "Median of {reps} interleaved runs; load average {load_before} before, {load_after} after ({:.0} s in all).\n",
        took.as_secs_f64()
    );
    let _ = writeln!(md, "| workload | server | client | wall | throughput | client CPU per op (= s per M) | peak RSS | vs hyperwire (time) |");
    let _ = writeln!(md, "|---|---|---|---:|---:|---:|---:|---:|");
    let mut csv = String::from("workload,server,client,status,ops,wall_s,ops_per_s,cpu_s,cpu_us_per_op,peak_rss_kib,runs\n");
    let mut json = String::from("[\n");
    for ((w, s), rows) in &summaries {
        let hw = rows
            .iter()
            .find(|r| r.0 == HW)
            .and_then(|r| r.1.as_ref().ok())
            .cloned();
        for (client, r) in rows {
            match r {
                Ok(sm) => {
                    let vs = hw
                        .as_ref()
                        .map(|h| format!("{:.2}x", sm.wall.as_secs_f64() / h.wall.as_secs_f64()))
                        .unwrap_or_default();
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | {:.1} ms | {} {}/s | {:.3} µs | {:.1} MiB | {} |",
                        w.name(),
                        s.name(),
                        client,
                        sm.wall.as_secs_f64() * 1e3,
                        human(sm.rate()),
                        w.unit(),
                        sm.cpu_us_per_op(),
                        sm.peak_rss_kb as f64 / 1024.0,
                        vs
                    );
                    let _ = writeln!(
                        csv,
                        "{},{},{},ok,{},{:.6},{:.1},{:.6},{:.4},{},{}",
                        w.name(),
                        s.name(),
                        client,
                        sm.ops,
                        sm.wall.as_secs_f64(),
                        sm.rate(),
                        sm.cpu.as_secs_f64(),
                        sm.cpu_us_per_op(),
                        sm.peak_rss_kb,
                        sm.runs
                    );
                    let _ = writeln!(
                        json,
                        "  {{\"workload\":\"{}\",\"server\":\"{}\",\"client\":\"{}\",\"status\":\"ok\",\"ops\":{},\"wall_s\":{:.6},\"ops_per_s\":{:.1},\"cpu_s\":{:.6},\"cpu_us_per_op\":{:.4},\"peak_rss_kib\":{},\"runs\":{}}},",
                        w.name(), s.name(), client, sm.ops, sm.wall.as_secs_f64(), sm.rate(), sm.cpu.as_secs_f64(), sm.cpu_us_per_op(), sm.peak_rss_kb, sm.runs
                    );
                }
                Err(e) => {
                    let short: String = e.chars().take(110).collect();
                    let _ = writeln!(
                        md,
                        "| {} | {} | {} | failed: {} | | | | |",
                        w.name(),
                        s.name(),
                        client,
                        short.replace('|', "/")
                    );
                    let _ = writeln!(csv, "{},{},{},failed,,,,,,,", w.name(), s.name(), client);
                    let _ = writeln!(
                        json,
                        "  {{\"workload\":\"{}\",\"server\":\"{}\",\"client\":\"{}\",\"status\":\"failed\",\"error\":\"{}\"}},",
                        w.name(),
                        s.name(),
                        client,
                        e.replace('\\', "\\\\").replace('"', "'")
                    );
                }
            }
        }
    }
    for (s, r) in rss10m {
        match r {
            Ok(m) => {
                let _ = writeln!(
                    md,
                    "| select_stream_10m | {} | hyperwire | {:.1} ms | {} row/s | {:.3} µs | {:.1} MiB | |",
                    s.name(),
                    m.wall.as_secs_f64() * 1e3,
                    human(m.ops as f64 / m.wall.as_secs_f64()),
                    (m.user + m.sys).as_secs_f64() * 1e6 / m.ops as f64,
                    m.peak_rss_kb as f64 / 1024.0
                );
                let _ = writeln!(
                    json,
                    "  {{\"workload\":\"select_stream_10m\",\"server\":\"{}\",\"client\":\"hyperwire\",\"status\":\"ok\",\"ops\":{},\"wall_s\":{:.6},\"cpu_s\":{:.6},\"peak_rss_kib\":{},\"runs\":1}},",
                    s.name(), m.ops, m.wall.as_secs_f64(), (m.user + m.sys).as_secs_f64(), m.peak_rss_kb
                );
            }
            Err(e) => {
                let _ = writeln!(
                    md,
                    "| select_stream_10m | {} | hyperwire | failed: {} | | | | |",
                    s.name(),
                    e
                );
            }
        }
    }
    let _ = writeln!(json, "  {{\"load_before\":\"{load_before}\",\"load_after\":\"{load_after}\",\"reps\":{reps}}}\n]");

    let goals = goals(&summaries, rss10m);
    md.push('\n');
    md.push_str(&goals);

    println!("{md}");
    std::fs::write(format!("{out_dir}/results.md"), &md).expect("results.md");
    std::fs::write(format!("{out_dir}/results.csv"), csv).expect("results.csv");
    std::fs::write(format!("{out_dir}/results.json"), json).expect("results.json");
    if let Err(e) = chart(&format!("{out_dir}/chart.svg"), &summaries, load_before) {
        eprintln!("chart: {e}");
    }
    eprintln!("wrote {out_dir}/results.{{md,csv,json}} and chart.svg");
}

fn human(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

type Summaries = BTreeMap<(Workload, Server), Vec<(String, Result<Summary, String>)>>;

fn goals(summaries: &Summaries, rss10m: &[(Server, Result<Measured, String>)]) -> String {
    let get = |w: Workload, s: Server, c: &str| -> Option<Summary> {
        summaries
            .get(&(w, s))?
            .iter()
            .find(|r| r.0 == c)
            .and_then(|r| r.1.as_ref().ok())
            .cloned()
    };
    let peers = |w: Workload, s: Server| -> Vec<(String, Summary)> {
        summaries
            .get(&(w, s))
            .map(|v| {
                v.iter()
                    .filter(|r| !r.0.starts_with(HW))
                    .filter_map(|r| r.1.as_ref().ok().map(|sm| (r.0.clone(), sm.clone())))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = String::from("Goals (issue #8):\n\n");
    let verdict = |ok: bool| if ok { "**met**" } else { "**not met**" };
    for (w, me) in [
        (Workload::SelectStream, HW),
        (Workload::SelectStream, HW_BINARY),
        (Workload::SelectStream, HW_IN_PLACE),
        (Workload::CopyOut, HW),
        (Workload::CopyOut, HW_IN_PLACE),
        (Workload::CopyIn, HW),
    ] {
        for s in [Server::Pg15, Server::Hyperd] {
            let (Some(hw), Some((name, best))) = (
                get(w, s, me),
                peers(w, s)
                    .into_iter()
                    .min_by(|a, b| a.1.cpu_us_per_op().total_cmp(&b.1.cpu_us_per_op())),
            ) else {
                continue;
            };
            let r = hw.cpu_us_per_op() / best.cpu_us_per_op();
            let _ = writeln!(
                out,
                "- client CPU per row ≤ ½ best peer, {} on {}: {me} {:.3} µs/row vs {name} {:.3} µs/row = {r:.2}x: {}",
                w.name(),
                s.name(),
                hw.cpu_us_per_op(),
                best.cpu_us_per_op(),
                verdict(r <= 0.5)
            );
        }
    }
    for me in [HW, HW_BINARY, HW_IN_PLACE] {
        if let (Some(hw), Some((name, best))) = (
            get(Workload::SelectStream, Server::Hyperd, me),
            peers(Workload::SelectStream, Server::Hyperd)
                .into_iter()
                .max_by(|a, b| a.1.rate().total_cmp(&b.1.rate())),
        ) {
            let r = hw.rate() / best.rate();
            let _ = writeln!(
            out,
            "- select_stream on hyperd ≥ 1.5x the best peer's rows/s ({me}): {} vs {name} {} = {r:.2}x: {}",
            human(hw.rate()),
            human(best.rate()),
            verdict(r >= 1.5)
        );
        }
    }
    for s in [Server::Pg15, Server::Hyperd] {
        if let (Some(hw), Some(tp)) = (
            get(Workload::Pipeline, s, HW),
            get(Workload::Pipeline, s, "tokio-postgres"),
        ) {
            let r = hw.rate() / tp.rate();
            let _ = writeln!(
                out,
                "- pipeline ≥ 1.5x tokio-postgres on {}: {} vs {} q/s = {r:.2}x: {}",
                s.name(),
                human(hw.rate()),
                human(tp.rate()),
                verdict(r >= 1.5)
            );
        }
        for (me, mode) in [HW, HW_BLOCKING]
            .into_iter()
            .flat_map(|me| ["pgbench (simple)", "pgbench (prepared)"].map(|mode| (me, mode)))
        {
            if let (Some(hw), Some(pb)) = (
                get(Workload::Roundtrip, s, me),
                get(Workload::Roundtrip, s, mode),
            ) {
                let (a, b) = (
                    hw.wall.as_secs_f64() * 1e6 / hw.ops as f64,
                    pb.wall.as_secs_f64() * 1e6 / pb.ops as f64,
                );
                let _ = writeln!(
                    out,
                    "- roundtrip no slower than {mode} on {} ({me}): {a:.1} vs {b:.1} µs/query = {:.2}x the time: {}",
                    s.name(),
                    a / b,
                    verdict(a <= b)
                );
            }
        }
        if let Some(hw) = get(Workload::Connect, s, HW) {
            let ps = peers(Workload::Connect, s);
            if let Some((name, best)) = ps.iter().min_by(|a, b| a.1.wall.cmp(&b.1.wall)) {
                let r = hw.wall.as_secs_f64() / best.wall.as_secs_f64();
                let _ = writeln!(
                    out,
                    "- connect faster than every peer on {}: {:.0} vs {name} {:.0} µs/connect = {r:.2}x the time: {}",
                    s.name(),
                    hw.wall.as_secs_f64() * 1e6 / hw.ops as f64,
                    best.wall.as_secs_f64() * 1e6 / best.ops as f64,
                    verdict(r < 1.0)
                );
            }
        }
    }
    for (s, r) in rss10m {
        if let Ok(m) = r {
            let mib = m.peak_rss_kb as f64 / 1024.0;
            let _ = writeln!(
                out,
                "- peak RSS while streaming 10M rows < 32 MiB on {}: {mib:.1} MiB (whole process): {}",
                s.name(),
                verdict(mib < 32.0)
            );
        }
    }
    out
}

fn chart(path: &str, summaries: &Summaries, load: &str) -> Result<(), Box<dyn std::error::Error>> {
    let groups: Vec<(Workload, Server)> = summaries.keys().copied().collect();
    let mut clients: Vec<String> = Vec::new();
    for v in summaries.values() {
        for (c, r) in v {
            if r.is_ok() && !clients.contains(c) {
                clients.push(c.clone());
            }
        }
    }
    clients.sort_by_key(|c| (c != HW, c.clone()));
    let root = SVGBackend::new(path, (1400, 1040)).into_drawing_area();
    root.fill(&WHITE)?;
    // A legend strip across the top (clients keep one colour in both panels).
    let (legend, rest) = root.split_vertically(40);
    let step = 1380 / clients.len().max(1) as i32;
    for (ci, client) in clients.iter().enumerate() {
        let x = 10 + ci as i32 * step;
        legend.draw(&Rectangle::new(
            [(x, 14), (x + 14, 28)],
            Palette99::pick(ci).filled(),
        ))?;
        legend.draw(&Text::new(client.clone(), (x + 20, 14), ("sans-serif", 14)))?;
    }
    let (top, bottom) = rest.split_vertically(500);
    let panels: [(
        &str,
        fn(&Summary, &Summary) -> f64,
        DrawingArea<SVGBackend, plotters::coord::Shift>,
    ); 2] = [
        (
            "Throughput relative to hyperwire (higher is faster; hyperwire = 1)",
            |s, hw| s.rate() / hw.rate(),
            top,
        ),
        (
            "Client CPU per op relative to hyperwire (lower is cheaper; hyperwire = 1)",
            |s, hw| s.cpu_us_per_op() / hw.cpu_us_per_op(),
            bottom,
        ),
    ];
    let n = clients.len().max(1) as f64;
    for (i, (title, metric, area)) in panels.into_iter().enumerate() {
        let caption = if i == 0 {
            format!("{title} — load avg {load}")
        } else {
            title.to_owned()
        };
        let mut ch = ChartBuilder::on(&area)
            .caption(caption, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..groups.len() as f64, (0.1f64..10f64).log_scale())?;
        let names: Vec<String> = groups
            .iter()
            .map(|(w, s)| format!("{}/{}", w.name(), s.name()))
            .collect();
        ch.configure_mesh()
            .disable_x_mesh()
            .x_labels(groups.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let k = (x - 0.5).round();
                if (x - 0.5 - k).abs() < 0.01 && k >= 0.0 {
                    names.get(k as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_label_style(("sans-serif", 11))
            .y_desc("ratio (log)")
            .draw()?;
        for (ci, client) in clients.iter().enumerate() {
            let color = Palette99::pick(ci).to_rgba();
            let mut bars = Vec::new();
            for (gi, key) in groups.iter().enumerate() {
                let rows = &summaries[key];
                let hw = rows
                    .iter()
                    .find(|r| r.0 == HW)
                    .and_then(|r| r.1.as_ref().ok());
                let me = rows
                    .iter()
                    .find(|r| &r.0 == client)
                    .and_then(|r| r.1.as_ref().ok());
                if let (Some(hw), Some(me)) = (hw, me) {
                    let v = metric(me, hw).clamp(0.101, 9.9);
                    let x0 = gi as f64 + 0.1 + 0.8 * ci as f64 / n;
                    let x1 = x0 + 0.8 / n * 0.9;
                    bars.push(Rectangle::new([(x0, 0.1), (x1, v)], color.filled()));
                }
            }
            ch.draw_series(bars)?;
        }
        ch.draw_series(std::iter::once(PathElement::new(
            vec![(0.0, 1.0), (groups.len() as f64, 1.0)],
            BLACK.stroke_width(1),
        )))?;
    }
    root.present()?;
    Ok(())
}
