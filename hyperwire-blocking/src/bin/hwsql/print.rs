//! Result tables exactly as psql prints them: aligned (border 1), unaligned and CSV.

use std::io::{self, Write};

use hyperwire_blocking::QueryResult;
use unicode_width::UnicodeWidthChar;

use crate::args::OutputFormat;

pub(crate) struct Printer {
    pub(crate) format: OutputFormat,
    pub(crate) tuples_only: bool,
    pub(crate) field_sep: String,
    pub(crate) quiet: bool,
}

/// psql right-aligns these types (int2, int4, int8, float4, float8, numeric, oid,
/// xid, xid8, cid, money).
fn right_aligned(type_oid: u32) -> bool {
    matches!(
        type_oid,
        20 | 21 | 23 | 700 | 701 | 1700 | 26 | 28 | 5069 | 29 | 790
    )
}

/// Display width as psql computes it (wide characters 2, combining marks 0).
fn width(s: &str) -> usize {
    s.chars().map(|c| c.width().unwrap_or(0)).sum()
}

fn footer(n: usize) -> String {
    if n == 1 {
        "(1 row)".to_owned()
    } else {
        format!("({n} rows)")
    }
}

/// One line of a cell as the aligned format shows it (psql's pg_wcsformat): tabs
/// expanded to the next multiple of 8, `\r` and other control characters escaped.
fn expand(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut w = 0;
    for c in line.chars() {
        match c {
            '\t' => loop {
                out.push(' ');
                w += 1;
                if w % 8 == 0 {
                    break;
                }
            },
            '\r' => {
                out.push_str("\\r");
                w += 2;
            }
            c if c.is_control() => {
                out.push_str(&format!("\\x{:02X}", u32::from(c)));
                w += 4;
            }
            c => {
                out.push(c);
                w += c.width().unwrap_or(0);
            }
        }
    }
    out
}

/// A cell's text: NULL prints as empty.
fn cell(v: Option<&[u8]>) -> String {
    v.map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

impl Printer {
    /// Prints one statement's outcome: its rows, then (for commands, and for
    /// INSERT/UPDATE/DELETE/MERGE with RETURNING) its tag, unless quiet.
    pub(crate) fn result(&self, out: &mut dyn Write, r: &QueryResult) -> io::Result<()> {
        if r.returns_rows {
            self.table(out, r)?;
            let dml = ["INSERT", "UPDATE", "DELETE", "MERGE"]
                .iter()
                .any(|k| r.tag.starts_with(k));
            if dml && !self.quiet {
                writeln!(out, "{}", r.tag)?;
            }
        } else if !self.quiet && !r.tag.is_empty() {
            writeln!(out, "{}", r.tag)?;
        }
        Ok(())
    }

    fn table(&self, out: &mut dyn Write, r: &QueryResult) -> io::Result<()> {
        let headers: Vec<&str> = r.columns.iter().map(|c| c.name()).collect();
        let rows: Vec<Vec<String>> = r
            .rows
            .iter()
            .map(|row| row.values().map(cell).collect())
            .collect();
        // With no columns there are no cells to print, only the count in the footer.
        let cells = if headers.is_empty() {
            &[][..]
        } else {
            &rows[..]
        };
        match self.format {
            OutputFormat::Aligned => self.aligned(out, r, &headers, cells, rows.len()),
            OutputFormat::Unaligned => self.unaligned(out, &headers, cells, rows.len()),
            OutputFormat::Csv => self.csv(out, &headers, cells),
        }
    }

    fn unaligned(
        &self,
        out: &mut dyn Write,
        headers: &[&str],
        rows: &[Vec<String>],
        count: usize,
    ) -> io::Result<()> {
        let sep = self.field_sep.as_str();
        let mut need_sep = false;
        if !self.tuples_only {
            write!(out, "{}", headers.join(sep))?;
            need_sep = true;
        }
        for row in rows {
            if need_sep {
                writeln!(out)?;
            }
            write!(out, "{}", row.join(sep))?;
            need_sep = true;
        }
        if !self.tuples_only {
            if need_sep {
                writeln!(out)?;
            }
            write!(out, "{}", footer(count))?;
            need_sep = true;
        }
        if need_sep {
            writeln!(out)?;
        }
        Ok(())
    }

    fn csv(&self, out: &mut dyn Write, headers: &[&str], rows: &[Vec<String>]) -> io::Result<()> {
        let field = |s: &str| -> String {
            if s.contains(',') || s.contains(['\r', '\n', '"']) || s == "\\." {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_owned()
            }
        };
        if !self.tuples_only {
            let h: Vec<String> = headers.iter().map(|h| field(h)).collect();
            writeln!(out, "{}", h.join(","))?;
        }
        for row in rows {
            let cells: Vec<String> = row.iter().map(|c| field(c)).collect();
            writeln!(out, "{}", cells.join(","))?;
        }
        Ok(())
    }

    fn aligned(
        &self,
        out: &mut dyn Write,
        r: &QueryResult,
        headers: &[&str],
        rows: &[Vec<String>],
        count: usize,
    ) -> io::Result<()> {
        let ncols = headers.len();
        let right: Vec<bool> = r
            .columns
            .iter()
            .map(|c| right_aligned(c.type_oid()))
            .collect();
        // Each cell split into its lines; widths over header and every line.
        let cells: Vec<Vec<Vec<String>>> = rows
            .iter()
            .map(|row| {
                row.iter()
                    .map(|c| c.split('\n').map(expand).collect())
                    .collect()
            })
            .collect();
        let mut widths: Vec<usize> = headers
            .iter()
            .map(|h| h.split('\n').map(|l| width(&expand(l))).max().unwrap_or(0))
            .collect();
        for row in &cells {
            for (j, lines) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(j) {
                    *w = (*w).max(lines.iter().map(|l| width(l)).max().unwrap_or(0));
                }
            }
        }
        if !self.tuples_only && ncols > 0 {
            let header_lines: Vec<Vec<String>> = headers
                .iter()
                .map(|h| h.split('\n').map(expand).collect())
                .collect();
            let height = header_lines.iter().map(Vec::len).max().unwrap_or(1);
            for k in 0..height {
                let mut line = String::new();
                for (j, lines) in header_lines.iter().enumerate() {
                    let w = widths.get(j).copied().unwrap_or(0);
                    line.push_str(if k > 0 { "+" } else { " " });
                    match lines.get(k) {
                        Some(text) => {
                            let space = w.saturating_sub(width(text));
                            line.push_str(&" ".repeat(space / 2));
                            line.push_str(text);
                            line.push_str(&" ".repeat(space.div_ceil(2)));
                        }
                        None => line.push_str(&" ".repeat(w)),
                    }
                    line.push_str(if k + 1 < lines.len() { "+" } else { " " });
                    if j + 1 < ncols {
                        line.push('|');
                    }
                }
                writeln!(out, "{line}")?;
            }
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
            writeln!(out, "{}", rule.join("+"))?;
        }
        if !self.tuples_only && ncols == 0 {
            writeln!(out, "--")?;
        }
        for row in &cells {
            let height = row.iter().map(Vec::len).max().unwrap_or(1);
            for k in 0..height {
                let mut line = String::new();
                for j in 0..ncols {
                    let w = widths.get(j).copied().unwrap_or(0);
                    let lines = row.get(j);
                    let last = j + 1 == ncols;
                    let text = lines.and_then(|l| l.get(k));
                    let more = lines.is_some_and(|l| k + 1 < l.len());
                    line.push(' ');
                    match text {
                        None => {
                            if !last {
                                line.push_str(&" ".repeat(w));
                            }
                        }
                        Some(t) => {
                            let pad = w.saturating_sub(width(t));
                            if right.get(j).copied().unwrap_or(false) {
                                line.push_str(&" ".repeat(pad));
                                line.push_str(t);
                            } else {
                                line.push_str(t);
                                if !last || more {
                                    line.push_str(&" ".repeat(pad));
                                }
                            }
                        }
                    }
                    if more {
                        line.push('+');
                    } else if !last {
                        line.push(' ');
                    }
                    if !last {
                        line.push('|');
                    }
                }
                writeln!(out, "{line}")?;
            }
        }
        if !self.tuples_only {
            writeln!(out, "{}", footer(count))?;
        }
        writeln!(out)
    }
}
