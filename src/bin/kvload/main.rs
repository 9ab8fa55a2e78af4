//! kvload: a closed-loop load generator for Redis-protocol servers (this
//! project's coordinator, or redis-server for comparison).
//!
//! This file owns the run as a whole: argument handling, the reachability
//! probe, the optional preload pass, running each concurrency level with its
//! progress line, and printing/writing the results. Connections live in
//! `worker`, latency bookkeeping in `stats`, output formats in `report`.
//!
//! It deliberately does not use the project's library crate, so it builds and
//! measures the server over the wire even while the library is in flux.

mod args;
mod report;
mod stats;
mod worker;
mod workload;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::args::{Args, Budget, Parsed, USAGE};
use crate::report::Row;
use crate::stats::Histogram;
use crate::worker::{KeyPick, Level, WorkerConfig};

fn main() -> ExitCode {
    let args = match args::parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(a)) => *a,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("kvload: {e:#}\nrun `kvload --help` for usage");
            return ExitCode::from(2);
        }
    };
    // One thread, like redis-benchmark: the load generator shares the
    // cores with the server it measures, and a work-stealing pool spends
    // more of them on waking its own threads than on the requests.
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kvload: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvload: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<()> {
    // Fail fast on a wrong address instead of reporting a table of 0 %
    // levels; a node failing *during* the run is handled by the workers.
    let hello = worker::probe(&args.addr, args.timeout)
        .await
        .with_context(|| format!("cannot reach {}", args.addr))?;
    let notes = !args.quiet;
    // The \r progress line only makes sense on a terminal; in a log file it
    // would be one ever-growing line.
    let progress = notes && std::io::stderr().is_terminal();
    if notes {
        let budget = match args.budget {
            Budget::Requests(n) => format!("{n} requests/level"),
            Budget::Duration(d) => format!("{:.1}s/level", d.as_secs_f64()),
        };
        let mix = if args.workload == args::Workload::Mixed {
            format!(" read-ratio={}", args.read_ratio)
        } else {
            String::new()
        };
        eprintln!(
            "kvload: {} (PING -> {hello}) workload={}{mix} keys={} value={}B pipeline={} {budget}",
            args.addr,
            args.workload.name(),
            args.keys,
            args.value_size,
            args.pipeline
        );
    }

    let value = workload::make_value(args.value_size);
    if args.preload {
        preload(&args, &value, progress, notes).await?;
    }

    let cfg = Arc::new(WorkerConfig {
        addr: args.addr.clone(),
        workload: args.workload,
        read_ratio: args.read_ratio,
        keys: args.keys,
        value,
        pipeline: args.pipeline,
        timeout: args.timeout,
        pick: KeyPick::Random,
        wait_replicas: args.wait_replicas,
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", report::table_header())?;
    let mut rows = Vec::with_capacity(args.concurrency.len());
    for (i, &conns) in args.concurrency.iter().enumerate() {
        // Distinct streams per level and per worker, all derived from --seed.
        let seed = args.seed.wrapping_add((i as u64 + 1) << 32);
        let tag = format!("c={conns}");
        let res = run_level(cfg.clone(), conns, args.budget, seed, &tag, progress).await?;
        let mut row = Row {
            label: args.label.clone(),
            workload: args.workload.name().to_string(),
            read_ratio: args.read_ratio,
            value_size: args.value_size,
            pipeline: args.pipeline,
            keys: args.keys,
            concurrency: conns,
            ok: res.ok,
            errors: res.errors,
            misses: res.misses,
            elapsed_s: res.elapsed.as_secs_f64(),
            mean_ms: None,
            p50_ms: None,
            p95_ms: None,
            p99_ms: None,
            max_ms: None,
        };
        row.set_latencies(&res.hist);
        writeln!(out, "{}", report::table_row(&row))?;
        out.flush()?;
        if notes {
            res.print_notes(&tag, args.workload, args.preload);
        }
        rows.push(row);
    }

    if let Some(path) = &args.csv {
        report::write_file(path, &report::to_csv(&rows))?;
    }
    if let Some(path) = &args.json {
        report::write_file(path, &report::to_json(&rows))?;
    }
    Ok(())
}

/// Writes every key once, so a read workload measures hits: a SET per key,
/// or one HSET of every field / SADD of every member per hash or set (see
/// `Op::fill`). Pipelined over a handful of connections because only its
/// completeness matters, not its latency.
async fn preload(args: &Args, value: &[u8], progress: bool, notes: bool) -> Result<()> {
    const CONNS: u64 = 16;
    // Deep enough to hide the round trip, shallow enough that 16 connections
    // of large values do not queue hundreds of MB.
    let fill = workload::Op::fill(args.workload);
    let request_bytes = match fill {
        workload::Op::FillHash => workload::SUBKEYS as usize * (value.len() + 24),
        workload::Op::FillSet => workload::SUBKEYS as usize * 12,
        workload::Op::FillList => workload::FILL_BATCH as usize * (value.len() + 8),
        workload::Op::FillZSet => workload::FILL_BATCH as usize * 32,
        _ => value.len() + 48,
    };
    let depth = (256 * 1024 / request_bytes).clamp(1, 64);
    let cfg = Arc::new(WorkerConfig {
        addr: args.addr.clone(),
        workload: args.workload,
        read_ratio: 0.0,
        keys: args.keys,
        value: value.to_vec(),
        pipeline: depth,
        timeout: args.timeout,
        pick: KeyPick::Sequential,
        wait_replicas: 0,
    });
    let requests = workload::Op::fill_requests(args.workload, args.keys);
    let conns = CONNS.min(requests) as usize;
    let res = run_level(
        cfg,
        conns,
        Budget::Requests(requests),
        args.seed,
        "preload",
        progress,
    )
    .await?;
    if notes {
        let what = match fill {
            workload::Op::FillList => {
                format!("{} elements into mylist", res.ok * workload::FILL_BATCH)
            }
            workload::Op::FillZSet => {
                format!("{} members into myzset", res.ok * workload::FILL_BATCH)
            }
            _ => format!("{} keys", res.ok),
        };
        eprintln!(
            "kvload: preloaded {what} in {:.2}s ({:.0} requests/s), {} failed",
            res.elapsed.as_secs_f64(),
            res.ok as f64 / res.elapsed.as_secs_f64().max(1e-9),
            res.errors
        );
        res.print_notes("preload", args.workload, true);
    }
    Ok(())
}

/// What one level measured.
struct LevelResult {
    hist: Histogram,
    ok: u64,
    errors: u64,
    misses: u64,
    conn_errors: u64,
    abandoned: u64,
    stall: Duration,
    first_conn_error: Option<String>,
    first_failed_reply: Option<String>,
    elapsed: Duration,
}

impl LevelResult {
    /// Explains a success rate below 100 % (and misses, which are successes
    /// but usually mean the user forgot --preload, or SPOP drained a set).
    fn print_notes(&self, tag: &str, workload: args::Workload, preload: bool) {
        if self.conn_errors > 0 {
            eprintln!(
                "kvload: {tag}: {} connection errors, first: {}",
                self.conn_errors,
                self.first_conn_error.as_deref().unwrap_or("?")
            );
        }
        if self.abandoned > 0 {
            eprintln!(
                "kvload: {tag}: no reply for {:?}; level given up, {} unissued requests counted as failed",
                self.stall, self.abandoned
            );
        }
        if let Some(msg) = &self.first_failed_reply {
            eprintln!("kvload: {tag}: failed replies, first: {msg}");
        }
        if self.misses > 0 {
            let what = match workload {
                args::Workload::HGet => "HGETs found no field",
                args::Workload::SIsMember => "SISMEMBERs found no member",
                args::Workload::SPop => "SPOPs found an empty set",
                args::Workload::RPop => "RPOPs found an empty list",
                args::Workload::LRange100 => "LRANGEs found an empty list",
                args::Workload::ZPopMin => "ZPOPMINs found an empty sorted set",
                _ => "GETs found no value",
            };
            let hint = if !preload && workload.can_miss() {
                " (no --preload)".to_string()
            } else if workload.drains() {
                format!(
                    " ({} drains what was preloaded: raise --keys or lower --requests)",
                    workload.name().to_uppercase()
                )
            } else {
                String::new()
            };
            eprintln!("kvload: {tag}: {} {what}{hint}", self.misses);
        }
    }
}

/// How long a --requests level may go without any reply before it is given
/// up: several reply timeouts, so one slow reconnect cycle does not trip it.
fn stall_limit(timeout: Duration) -> Duration {
    timeout * 4
}

/// Runs `conns` workers against one shared budget and gathers their results.
async fn run_level(
    cfg: Arc<WorkerConfig>,
    conns: usize,
    budget: Budget,
    seed: u64,
    tag: &str,
    progress: bool,
) -> Result<LevelResult> {
    let limit = match budget {
        Budget::Requests(n) => Some(n),
        Budget::Duration(_) => None,
    };
    let level = Arc::new(Level::new(limit));
    // Workers connect first and the clock starts only once all of them are
    // ready (+1 for this task), so connection setup is not measured.
    let ready = Arc::new(tokio::sync::Barrier::new(conns + 1));
    let handles: Vec<_> = (0..conns)
        .map(|w| {
            tokio::spawn(worker::run(
                cfg.clone(),
                level.clone(),
                seed.wrapping_add(w as u64),
                ready.clone(),
            ))
        })
        .collect();
    ready.wait().await;
    let start = Instant::now();

    let timer = match budget {
        Budget::Duration(d) => {
            let level = level.clone();
            Some(tokio::spawn(async move {
                tokio::time::sleep(d).await;
                level.stop();
            }))
        }
        Budget::Requests(_) => None,
    };
    // Without this, a --requests level against a server that died for good
    // would only end after every ticket was burnt by a backed-off connect.
    let watchdog = limit.map(|_| {
        let level = level.clone();
        let stall = stall_limit(cfg.timeout);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if level.since_last_reply() > stall {
                    level.abandon();
                    return;
                }
            }
        })
    });
    let ticker =
        progress.then(|| tokio::spawn(progress_line(level.clone(), tag.to_string(), start)));

    let mut hist = Histogram::new();
    for h in handles {
        hist.merge(&h.await.context("worker task failed")?);
    }
    let elapsed = start.elapsed();
    for t in [timer, watchdog].into_iter().flatten() {
        t.abort();
    }
    if let Some(t) = ticker {
        t.abort();
        let _ = t.await;
        // Erase the progress line so the table row lands on a clean line.
        eprint!("\r\x1b[K");
    }

    let take =
        |m: &std::sync::Mutex<Option<String>>| m.lock().unwrap_or_else(|p| p.into_inner()).take();
    Ok(LevelResult {
        hist,
        ok: level.ok.load(Ordering::Relaxed),
        errors: level.errors.load(Ordering::Relaxed),
        misses: level.misses.load(Ordering::Relaxed),
        conn_errors: level.conn_errors.load(Ordering::Relaxed),
        abandoned: level.abandoned.load(Ordering::Relaxed),
        stall: stall_limit(cfg.timeout),
        first_conn_error: take(&level.first_conn_error),
        first_failed_reply: take(&level.first_failed_reply),
        elapsed,
    })
}

/// Once a second: level, elapsed time, replies so far, current rate.
async fn progress_line(level: Arc<Level>, tag: String, start: Instant) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // A starved runtime must not fire a burst of catch-up ticks.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick fires immediately
    let (mut last_done, mut last_at) = (0u64, start);
    loop {
        tick.tick().await;
        let now = Instant::now();
        let ok = level.ok.load(Ordering::Relaxed);
        let err = level.errors.load(Ordering::Relaxed);
        let done = ok + err;
        // Rate over the real interval, not an assumed exact second.
        let rate = (done - last_done) as f64 / now.duration_since(last_at).as_secs_f64().max(1e-9);
        eprint!(
            "\r{tag:>8}  {:>5.0}s  ops {done:>10}  err {err:>6}  {rate:>9.0} ops/s\x1b[K",
            now.duration_since(start).as_secs_f64(),
        );
        let _ = std::io::stderr().flush();
        (last_done, last_at) = (done, now);
    }
}
