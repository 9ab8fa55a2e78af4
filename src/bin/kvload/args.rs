//! Command-line parsing for kvload: the `Args` struct, its defaults, the
//! usage text and the small value parsers (durations, level lists).
//!
//! Parsed by hand on purpose: the binary must not pull in an argument-parsing
//! crate, and the grammar is small (`--flag value` or `--flag=value`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub const USAGE: &str = "\
kvload - closed-loop load generator for Redis-protocol servers

USAGE:
    kvload --addr HOST:PORT [OPTIONS]

OPTIONS:
    --addr HOST:PORT        server to load (required)
    --workload KIND         set | get | mixed | hset | hget | sadd | sismember
                            | spop | lpush | rpop | lrange_100 | zadd
                            | zpopmin (see WORKLOADS below)      [default: set]
    --read-ratio R          fraction of GETs for mixed, 0..=1    [default: 0.9]
    --keys N                key space size; keys are key:0..key:N-1
                            (hash:N / set:N for hashes and sets;
                            elements preloaded into mylist / myzset,
                            and ZADD's member and score range)   [default: 100000]
    --value-size BYTES      SET / HSET / LPUSH value size        [default: 16]
    --pipeline P            requests in flight per connection    [default: 1]
    --requests N            total requests per concurrency level [default: 100000]
    --duration D            run each level for D instead (10s, 500ms, 2m)
    --concurrency LIST      comma-separated connection counts    [default: 1,2,4,8,16,32,64]
    --preload               write every key once before the levels so reads
                            hit: SET each key:N, or for hset/hget one HSET of
                            all 16 fields per hash:N, for sadd/sismember/spop
                            one SADD of all 16 members per set:N, for the
                            list and sorted set workloads --keys elements
                            (see WORKLOADS)
    --wait-replicas N       send every write (SET, HSET, SADD, SPOP, LPUSH,
                            RPOP, ZADD, ZPOPMIN) with
                            `WAIT N <half of --timeout>` and count the pair as
                            one request, successful only if N replicas
                            acknowledged it: Redis's replicated-write baseline
                            (a primary with replicas)          [default: 0, off]
    --csv FILE              write all rows as CSV at the end
    --json FILE             write all rows as JSON at the end
    --label NAME            label stored in CSV/JSON rows        [default: the address]
    --seed N                RNG seed, for reproducible key sequences [default: 1]
    --timeout D             connect/reply timeout; a stalled connection is
                            dropped, its requests count as failed [default: 5s]
    --quiet                 no progress line or notes on stderr
    -h, --help              print this help

WORKLOADS:
    set, get       SET key:N value / GET key:N (nil = miss)
    mixed          GET with probability --read-ratio, else SET
    hset, hget     HSET hash:N f:I value / HGET hash:N f:I (nil = miss)
    sadd           SADD set:N m:I
    sismember      SISMEMBER set:N m:I (:0 = miss)
    spop           SPOP set:N (nil = miss)
    lpush          LPUSH mylist value
    rpop           RPOP mylist (nil = miss)
    lrange_100     LRANGE mylist 0 99 (an empty list = miss)
    zadd           ZADD myzset S element:N, the score S uniform in 0..--keys
    zpopmin        ZPOPMIN myzset (an empty reply = miss)
N is uniform in 0..--keys; the field f:I or member m:I is uniform over 16
(I in 0..=15), so a preload fills every one. SPOP drains the sets as it runs
(one member per hit, and the preload runs only once, before the first
level): keep --requests, summed over all levels, well under 16 x --keys, or
read its misses as pops of an empty set.

The list and sorted set workloads use one key each, mylist and myzset, as
redis-benchmark's LPUSH, RPOP, LRANGE_100, ZADD and ZPOPMIN tests do. Their
--preload writes --keys elements (rounded up to whole hundreds, and at
least 100 for lrange_100, so LRANGE 0 99 reads 100), 100 per command:
LPUSH mylist value x 100, or ZADD myzset N element:N for N in 0..--keys.
RPOP and ZPOPMIN drain it, one element per hit: keep --requests, summed
over all levels, under --keys, or read their misses as pops of an empty
list or set.

An error reply is a failed request; so is a reply of the wrong kind
(HSET/SADD/SISMEMBER/LPUSH/ZADD answer an integer, HGET/SPOP/RPOP a bulk
string or nil, ZPOPMIN and LRANGE an array).

One row per level goes to stdout: concurrency, success %, throughput
(successful ops/s), and mean/p50/p95/p99/max latency in ms of successful
requests. A connection error fails the requests in flight on it and the worker
reconnects after a short backoff; failed connect attempts count as one failed
request each, and a --requests level that gets no reply at all for 4x
--timeout is given up with its unissued requests counted as failed, so a
server that dies for good cannot stall the run.
";

/// Which command mix each worker sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Workload {
    Set,
    Get,
    /// GET with probability `read_ratio`, SET otherwise.
    Mixed,
    HSet,
    HGet,
    SAdd,
    SIsMember,
    SPop,
    LPush,
    RPop,
    /// `LRANGE mylist 0 99`.
    LRange100,
    ZAdd,
    ZPopMin,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Set => "set",
            Workload::Get => "get",
            Workload::Mixed => "mixed",
            Workload::HSet => "hset",
            Workload::HGet => "hget",
            Workload::SAdd => "sadd",
            Workload::SIsMember => "sismember",
            Workload::SPop => "spop",
            Workload::LPush => "lpush",
            Workload::RPop => "rpop",
            Workload::LRange100 => "lrange_100",
            Workload::ZAdd => "zadd",
            Workload::ZPopMin => "zpopmin",
        }
    }

    pub const ALL: [Workload; 13] = [
        Workload::Set,
        Workload::Get,
        Workload::Mixed,
        Workload::HSet,
        Workload::HGet,
        Workload::SAdd,
        Workload::SIsMember,
        Workload::SPop,
        Workload::LPush,
        Workload::RPop,
        Workload::LRange100,
        Workload::ZAdd,
        Workload::ZPopMin,
    ];

    /// Whether a request can miss (find no value, field, member or element).
    pub fn can_miss(self) -> bool {
        matches!(
            self,
            Workload::Get
                | Workload::Mixed
                | Workload::HGet
                | Workload::SIsMember
                | Workload::SPop
                | Workload::RPop
                | Workload::LRange100
                | Workload::ZPopMin
        )
    }

    /// Whether each request removes what it finds (SPOP, RPOP, ZPOPMIN),
    /// so a long run can drain the preload.
    pub fn drains(self) -> bool {
        matches!(self, Workload::SPop | Workload::RPop | Workload::ZPopMin)
    }
}

/// How long one concurrency level runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// Total requests issued across all connections of the level.
    Requests(u64),
    /// Wall-clock time during which new requests are issued.
    Duration(Duration),
}

#[derive(Debug, Clone)]
pub struct Args {
    pub addr: String,
    pub workload: Workload,
    pub read_ratio: f64,
    pub keys: u64,
    pub value_size: usize,
    pub pipeline: usize,
    pub budget: Budget,
    pub concurrency: Vec<usize>,
    pub preload: bool,
    /// Replicas each SET must reach (`WAIT`); 0 sends plain SETs.
    pub wait_replicas: u64,
    pub csv: Option<PathBuf>,
    pub json: Option<PathBuf>,
    pub label: String,
    pub seed: u64,
    pub timeout: Duration,
    pub quiet: bool,
}

/// What the caller should do after parsing.
#[derive(Debug)]
pub enum Parsed {
    Run(Box<Args>),
    Help,
}

/// Parses `argv` without the program name.
pub fn parse<I: IntoIterator<Item = String>>(argv: I) -> Result<Parsed> {
    let mut addr = None;
    let mut workload = Workload::Set;
    let mut read_ratio = 0.9;
    let mut keys = 100_000u64;
    let mut value_size = 16usize;
    let mut pipeline = 1usize;
    let mut requests = None;
    let mut duration = None;
    let mut concurrency = vec![1, 2, 4, 8, 16, 32, 64];
    let mut preload = false;
    let mut wait_replicas = 0u64;
    let mut csv = None;
    let mut json = None;
    let mut label = None;
    let mut seed = 1u64;
    let mut timeout = Duration::from_secs(5);
    let mut quiet = false;

    let mut it = argv.into_iter();
    while let Some(arg) = it.next() {
        // Accept both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().with_context(|| format!("{name} needs a value")),
            }
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--addr" => addr = Some(value("--addr")?),
            "--workload" => {
                let v = value("--workload")?;
                workload = Workload::ALL
                    .into_iter()
                    .find(|w| w.name() == v)
                    .with_context(|| {
                        let names: Vec<&str> = Workload::ALL.iter().map(|w| w.name()).collect();
                        format!("--workload must be one of {}, not {v:?}", names.join(", "))
                    })?;
            }
            "--read-ratio" => {
                let v = value("--read-ratio")?;
                read_ratio = v
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .with_context(|| format!("--read-ratio must be in 0..=1, not {v:?}"))?;
            }
            "--keys" => keys = parse_positive("--keys", &value("--keys")?)?,
            "--value-size" => {
                let v = value("--value-size")?;
                value_size = v
                    .parse()
                    .with_context(|| format!("--value-size: bad number {v:?}"))?;
            }
            "--pipeline" => {
                pipeline = parse_positive("--pipeline", &value("--pipeline")?)? as usize
            }
            "--requests" => requests = Some(parse_positive("--requests", &value("--requests")?)?),
            "--duration" => duration = Some(parse_duration(&value("--duration")?)?),
            "--concurrency" => concurrency = parse_levels(&value("--concurrency")?)?,
            "--preload" => preload = true,
            "--wait-replicas" => {
                let v = value("--wait-replicas")?;
                wait_replicas = v
                    .parse()
                    .with_context(|| format!("--wait-replicas: bad number {v:?}"))?;
            }
            "--csv" => csv = Some(PathBuf::from(value("--csv")?)),
            "--json" => json = Some(PathBuf::from(value("--json")?)),
            "--label" => label = Some(value("--label")?),
            "--seed" => {
                let v = value("--seed")?;
                seed = v
                    .parse()
                    .with_context(|| format!("--seed: bad number {v:?}"))?;
            }
            "--timeout" => timeout = parse_duration(&value("--timeout")?)?,
            "--quiet" => quiet = true,
            other => bail!("unknown argument {other:?}"),
        }
        // A flag that takes no value must not have been written as --flag=x.
        if inline.is_some() && matches!(flag.as_str(), "--preload" | "--quiet") {
            bail!("{flag} takes no value");
        }
    }

    let addr = addr.context("--addr is required")?;
    let budget = match (requests, duration) {
        (Some(_), Some(_)) => bail!("--requests and --duration are mutually exclusive"),
        (Some(n), None) => Budget::Requests(n),
        (None, Some(d)) => Budget::Duration(d),
        (None, None) => Budget::Requests(100_000),
    };
    if timeout.is_zero() {
        bail!("--timeout must be positive");
    }
    let label = label.unwrap_or_else(|| addr.clone());
    Ok(Parsed::Run(Box::new(Args {
        addr,
        workload,
        read_ratio,
        keys,
        value_size,
        pipeline,
        budget,
        concurrency,
        preload,
        wait_replicas,
        csv,
        json,
        label,
        seed,
        timeout,
        quiet,
    })))
}

fn parse_positive(name: &str, v: &str) -> Result<u64> {
    v.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .with_context(|| format!("{name} must be a positive integer, not {v:?}"))
}

/// Parses `10s`, `500ms`, `2m`, `1h`, or a bare number of seconds (`2.5`).
pub fn parse_duration(v: &str) -> Result<Duration> {
    let v = v.trim();
    // Order matters: "ms" must be tried before "m" and "s".
    let (num, scale) = if let Some(n) = v.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = v.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (v, 1.0)
    };
    let secs = num
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s > 0.0)
        .with_context(|| format!("bad duration {v:?} (try 10s, 500ms, 2m)"))?;
    Ok(Duration::from_secs_f64(secs * scale))
}

/// Parses `1,2,4` into connection counts; empty items and zero are rejected.
pub fn parse_levels(v: &str) -> Result<Vec<usize>> {
    let levels = v
        .split(',')
        .map(|s| parse_positive("--concurrency", s.trim()).map(|n| n as usize))
        .collect::<Result<Vec<_>>>()?;
    if levels.is_empty() {
        bail!("--concurrency needs at least one level");
    }
    Ok(levels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(args: &[&str]) -> Result<Args> {
        match parse(args.iter().map(|s| s.to_string()))? {
            Parsed::Run(a) => Ok(*a),
            Parsed::Help => bail!("unexpected help"),
        }
    }

    #[test]
    fn defaults() {
        let a = run(&["--addr", "127.0.0.1:1"]).unwrap();
        assert_eq!(a.workload, Workload::Set);
        assert_eq!(a.budget, Budget::Requests(100_000));
        assert_eq!(a.concurrency, vec![1, 2, 4, 8, 16, 32, 64]);
        assert_eq!(a.label, "127.0.0.1:1");
    }

    #[test]
    fn flags_with_equals_and_space() {
        let a = run(&[
            "--addr=h:1",
            "--workload",
            "mixed",
            "--read-ratio=0.5",
            "--duration",
            "250ms",
            "--concurrency=1, 8",
            "--preload",
        ])
        .unwrap();
        assert_eq!(a.workload, Workload::Mixed);
        assert_eq!(a.read_ratio, 0.5);
        assert_eq!(a.budget, Budget::Duration(Duration::from_millis(250)));
        assert_eq!(a.concurrency, vec![1, 8]);
        assert!(a.preload);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(run(&[]).is_err());
        assert!(run(&["--addr", "h:1", "--requests", "5", "--duration", "1s"]).is_err());
        assert!(run(&["--addr", "h:1", "--read-ratio", "1.5"]).is_err());
        assert!(run(&["--addr", "h:1", "--concurrency", "1,,2"]).is_err());
        assert!(run(&["--addr", "h:1", "--pipeline", "0"]).is_err());
        assert!(run(&["--addr", "h:1", "--bogus"]).is_err());
        assert!(run(&["--addr", "h:1", "--quiet=1"]).is_err());
        assert!(run(&["--addr", "h:1", "--workload", "lpop"]).is_err());
        assert!(run(&["--addr", "h:1", "--workload", "lrange"]).is_err());
    }

    #[test]
    fn every_workload_parses_by_its_name() {
        for w in Workload::ALL {
            let a = run(&["--addr", "h:1", "--workload", w.name()]).unwrap();
            assert_eq!(a.workload, w);
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("3").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("fast").is_err());
    }
}
