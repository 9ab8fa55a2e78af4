//! redis-py, the most used Python client, against a real cluster: runs
//! `tests/clients/redis_py_check.py` with `python3` (strings, binary
//! values, pipelines with and without MULTI/EXEC, WATCH through redis-py's
//! transaction helper, counters, MSET/MGET, scan_iter, INFO parsing at the
//! coordinator and at a participant, CLIENT SETNAME, TIME, RESP3 with
//! `protocol=3`, error texts mapped onto redis-py's exceptions, hashes and
//! sets, and lists: pushes and pops with counts, LRANGE, LINDEX, LSET,
//! LINSERT, LREM, LTRIM, LPOS with RANK/COUNT/MAXLEN, LMOVE, RPOPLPUSH,
//! LMPOP and LLEN, alone, in a pipeline and in MULTI/EXEC; the list check
//! passes unchanged against redis-server 7.0), and sorted sets: ZADD with
//! a mapping and NX, XX, GT, LT, CH and INCR (and the errors of
//! incompatible flags), ZINCRBY, ZSCORE and ZMSCORE as floats, ZRANGE
//! with WITHSCORES, BYSCORE, BYLEX, REV and LIMIT, ZRANGEBYSCORE with
//! `-inf`, `+inf` and `(` bounds, ZRANK, ZREVRANK, ZCOUNT, ZLEXCOUNT,
//! ZPOPMIN/ZPOPMAX with counts, ZREM, ZREMRANGEBYSCORE/RANK/LEX,
//! ZUNIONSTORE and ZINTERSTORE with weights and aggregates, ZUNION, ZINTER
//! and ZDIFF with scores, ZRANDMEMBER, zscan_iter, ZCARD and MULTI/EXEC,
//! and again with `protocol=3`, where scores are doubles and WITHSCORES
//! replies [member, score] pairs (both checks pass unchanged against
//! redis-server 7.0).
//!
//! Needs `python3` with redis-py 5 or later; `.ci/run` installs it. Where
//! either is missing the test fails and says so: it never skips.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Cluster, Opts, run};

/// The redis-py check script, beside this file.
fn script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/redis_py_check.py")
}

/// Fails with what to install unless `python3` can import redis-py 5+.
fn require_redis_py() {
    let mut probe = Command::new("python3");
    probe.args([
        "-c",
        "import sys, redis; print(redis.__version__); sys.exit(int(redis.__version__.split('.')[0]) < 5)",
    ]);
    let shown = "python3 -c 'import redis'";
    let out = match probe.output() {
        Ok(out) => out,
        Err(e) => panic!(
            "cannot run python3 ({e}): this test needs python3 with redis-py >= 5 \
             (`python3 -m pip install 'redis>=5'`; .ci/run installs it)"
        ),
    };
    assert!(
        out.status.success(),
        "{shown} failed: this test needs redis-py >= 5 for the python3 on PATH \
         (`python3 -m pip install 'redis>=5'`; .ci/run installs it)\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn redis_py_works_against_the_cluster() {
    require_redis_py();
    let c = Cluster::start(3, Opts::redis());
    let coordinator = c.coordinator_addr();
    let participant = c.participant_addr(0);
    let mut command = Command::new("python3");
    command
        .arg(script())
        .arg(coordinator.ip().to_string())
        .arg(coordinator.port().to_string())
        .arg(participant.port().to_string());
    let out = run(command, None, Duration::from_secs(180));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("ok: "),
        "redis_py_check.py exited with {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    eprintln!("{stdout}");
}
