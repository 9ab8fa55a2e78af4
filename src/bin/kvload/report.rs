//! Output of results: the per-level `Row`, the aligned stdout table, and the
//! CSV / JSON files written at the end of a run.
//!
//! JSON and CSV are written by hand because the binary keeps to a minimal
//! dependency set; the values are numbers and a few short strings, so the
//! escaping needed is small.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use crate::stats::Histogram;

/// One concurrency level's outcome, with the run parameters repeated so a
/// CSV/JSON row stands on its own when files from several runs are joined.
#[derive(Debug, Clone)]
pub struct Row {
    pub label: String,
    pub workload: String,
    pub read_ratio: f64,
    pub value_size: usize,
    pub pipeline: usize,
    pub keys: u64,
    pub concurrency: usize,
    pub ok: u64,
    pub errors: u64,
    /// GETs answered with nil: successful, but the key was not there.
    pub misses: u64,
    pub elapsed_s: f64,
    /// Latencies of successful requests, in milliseconds.
    pub mean_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

impl Row {
    /// Fills the latency columns from a merged histogram of nanoseconds.
    pub fn set_latencies(&mut self, h: &Histogram) {
        let ms = |ns: u64| ns as f64 / 1e6;
        self.mean_ms = h.mean().map(|ns| ns / 1e6);
        self.p50_ms = h.quantile(0.50).map(ms);
        self.p95_ms = h.quantile(0.95).map(ms);
        self.p99_ms = h.quantile(0.99).map(ms);
        self.max_ms = h.max().map(ms);
    }

    pub fn total(&self) -> u64 {
        self.ok + self.errors
    }

    /// Share of requests that got a non-error reply; 0 when nothing ran.
    pub fn success_pct(&self) -> f64 {
        if self.total() == 0 {
            0.0
        } else {
            self.ok as f64 * 100.0 / self.total() as f64
        }
    }

    /// Successful operations per second: error replies are often fast and
    /// would flatter a failing server if counted.
    pub fn throughput(&self) -> f64 {
        if self.elapsed_s > 0.0 {
            self.ok as f64 / self.elapsed_s
        } else {
            0.0
        }
    }
}

pub fn table_header() -> String {
    format!(
        "{:>6} {:>9} {:>12} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "conc", "success%", "ops/s", "mean_ms", "p50_ms", "p95_ms", "p99_ms", "max_ms"
    )
}

pub fn table_row(r: &Row) -> String {
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"));
    format!(
        "{:>6} {:>9.2} {:>12.1} {:>9} {:>9} {:>9} {:>9} {:>9}",
        r.concurrency,
        r.success_pct(),
        r.throughput(),
        ms(r.mean_ms),
        ms(r.p50_ms),
        ms(r.p95_ms),
        ms(r.p99_ms),
        ms(r.max_ms),
    )
}

/// One field of a row, typed so each output format can spell it.
enum Field {
    Text(String),
    Number(String),
    /// A latency with nothing to measure (no request succeeded): empty in
    /// CSV, `null` in JSON — never 0, which would read as an infinitely
    /// fast server.
    Missing,
}

/// A row's fields, named, in output order: the one list both CSV and JSON
/// are written from.
fn fields(r: &Row) -> Vec<(&'static str, Field)> {
    let n = |v: String| Field::Number(v);
    let ms = |v: Option<f64>| v.map_or(Field::Missing, |v| Field::Number(format!("{v:.3}")));
    vec![
        ("label", Field::Text(r.label.clone())),
        ("workload", Field::Text(r.workload.clone())),
        ("read_ratio", n(r.read_ratio.to_string())),
        ("value_size", n(r.value_size.to_string())),
        ("pipeline", n(r.pipeline.to_string())),
        ("keys", n(r.keys.to_string())),
        ("concurrency", n(r.concurrency.to_string())),
        ("requests", n(r.total().to_string())),
        ("ok", n(r.ok.to_string())),
        ("errors", n(r.errors.to_string())),
        ("misses", n(r.misses.to_string())),
        ("success_pct", n(format!("{:.3}", r.success_pct()))),
        ("elapsed_s", n(format!("{:.3}", r.elapsed_s))),
        ("throughput_ops", n(format!("{:.1}", r.throughput()))),
        ("mean_ms", ms(r.mean_ms)),
        ("p50_ms", ms(r.p50_ms)),
        ("p95_ms", ms(r.p95_ms)),
        ("p99_ms", ms(r.p99_ms)),
        ("max_ms", ms(r.max_ms)),
    ]
}

pub fn to_csv(rows: &[Row]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let header: Vec<&str> = fields(first).iter().map(|(name, _)| *name).collect();
    let mut out = header.join(",");
    out.push('\n');
    for r in rows {
        let line: Vec<String> = fields(r)
            .into_iter()
            .map(|(_, f)| match f {
                Field::Text(t) => csv_field(&t),
                Field::Number(v) => v,
                Field::Missing => String::new(),
            })
            .collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// RFC 4180 quoting, only when the field needs it.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn to_json(rows: &[Row]) -> String {
    let mut out = String::from("[\n");
    for (i, r) in rows.iter().enumerate() {
        let members: Vec<String> = fields(r)
            .into_iter()
            .map(|(name, f)| {
                let value = match f {
                    Field::Text(t) => json_str(&t),
                    Field::Number(v) => v,
                    Field::Missing => "null".to_string(),
                };
                format!("\"{name}\": {value}")
            })
            .collect();
        let _ = write!(out, "  {{{}}}", members.join(", "));
        out.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
    }
    out.push_str("]\n");
    out
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn write_file(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        let mut h = Histogram::new();
        h.record(1_000_000);
        h.record(3_000_000);
        let mut r = Row {
            label: "a,\"b\"".into(),
            workload: "set".into(),
            read_ratio: 0.9,
            value_size: 16,
            pipeline: 1,
            keys: 10,
            concurrency: 4,
            ok: 3,
            errors: 1,
            misses: 0,
            elapsed_s: 0.5,
            mean_ms: None,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            max_ms: None,
        };
        r.set_latencies(&h);
        r
    }

    #[test]
    fn derived_numbers() {
        let r = row();
        assert_eq!(r.success_pct(), 75.0);
        assert_eq!(r.throughput(), 6.0);
        assert_eq!(r.mean_ms, Some(2.0));
        assert_eq!(r.max_ms, Some(3.0));
    }

    #[test]
    fn table_aligns_with_header() {
        assert_eq!(table_header().len(), table_row(&row()).len());
    }

    #[test]
    fn csv_quotes_and_json_escapes() {
        let csv = to_csv(&[row()]);
        let line = csv.lines().nth(1).unwrap();
        assert!(line.starts_with("\"a,\"\"b\"\"\",set,0.9,16,1,10,4,4,3,1,0,75.000,"));
        assert_eq!(csv.lines().next().unwrap().split(',').count(), 19);
        let json = to_json(&[row()]);
        assert!(json.contains("\"label\": \"a,\\\"b\\\"\""));
        assert!(json.contains("\"max_ms\": 3.000}"));
    }
}
