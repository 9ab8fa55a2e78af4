//! What requests look like: the seeded xorshift RNG that picks keys and
//! commands, and the RESP2 multibulk encoding of each request: `SET` /
//! `GET key:{n}`, `HSET` / `HGET hash:{n} f:{i}`, `SADD` / `SISMEMBER
//! set:{n} m:{i}` and `SPOP set:{n}`, redis-benchmark's list and sorted set
//! tests on one key each (`LPUSH` / `RPOP` / `LRANGE mylist`, `ZADD` /
//! `ZPOPMIN myzset`), and the preload's multi-field `HSET`, multi-member
//! `SADD`, and 100-element `LPUSH` and `ZADD`.
//!
//! Requests are encoded straight into the connection's write buffer so the
//! hot loop allocates nothing per request.

use crate::args::Workload;

/// xorshift64* — tiny, fast, and good enough for picking uniform keys. We
/// want reproducible sequences (same seed, same keys), not cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeds through splitmix64 so that nearby seeds (worker 0, 1, 2...) give
    /// unrelated streams, and a zero seed cannot produce the all-zero state
    /// xorshift never leaves.
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` via multiply-high, which avoids the modulo bias and
    /// the division of `% n`.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Uniform in `[0, 1)` from the top 53 bits.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// How many fields each hash and members each set has: fields are
/// `f:0`..`f:15`, members `m:0`..`m:15`. Small, so a preload fills every
/// one and a read workload hits.
pub const SUBKEYS: u64 = 16;

/// Elements per preload command of the list and sorted set workloads.
pub const FILL_BATCH: u64 = 100;

/// The one list of the list workloads, and the one sorted set of the
/// sorted set workloads (redis-benchmark's names).
const LIST_KEY: &[u8] = b"mylist";
const ZSET_KEY: &[u8] = b"myzset";

/// The command of one request; kept per in-flight request so a reply can be
/// classified (what counts as a miss, and which reply kinds are expected,
/// depends on the command).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    /// `SET key:{n} value`
    Set,
    /// `GET key:{n}`
    Get,
    /// `HSET hash:{n} f:{i} value`
    HSet,
    /// `HGET hash:{n} f:{i}`
    HGet,
    /// `SADD set:{n} m:{i}`
    SAdd,
    /// `SISMEMBER set:{n} m:{i}`
    SIsMember,
    /// `SPOP set:{n}`
    SPop,
    /// `LPUSH mylist value`
    LPush,
    /// `RPOP mylist`
    RPop,
    /// `LRANGE mylist 0 99`
    LRange100,
    /// `ZADD myzset {score} element:{n}`
    ZAdd,
    /// `ZPOPMIN myzset`
    ZPopMin,
    /// `HSET hash:{n} f:0 value .. f:15 value`: the preload of `hget`.
    FillHash,
    /// `SADD set:{n} m:0 .. m:15`: the preload of `sismember` and `spop`.
    FillSet,
    /// `LPUSH mylist value` with `FILL_BATCH` values: the preload of the
    /// list workloads.
    FillList,
    /// `ZADD myzset` with `FILL_BATCH` pairs `i element:i`, `i` from
    /// `n * FILL_BATCH`: the preload of the sorted set workloads.
    FillZSet,
}

impl Op {
    pub fn pick(workload: Workload, read_ratio: f64, rng: &mut Rng) -> Op {
        match workload {
            Workload::Set => Op::Set,
            Workload::Get => Op::Get,
            Workload::Mixed => {
                if rng.unit() < read_ratio {
                    Op::Get
                } else {
                    Op::Set
                }
            }
            Workload::HSet => Op::HSet,
            Workload::HGet => Op::HGet,
            Workload::SAdd => Op::SAdd,
            Workload::SIsMember => Op::SIsMember,
            Workload::SPop => Op::SPop,
            Workload::LPush => Op::LPush,
            Workload::RPop => Op::RPop,
            Workload::LRange100 => Op::LRange100,
            Workload::ZAdd => Op::ZAdd,
            Workload::ZPopMin => Op::ZPopMin,
        }
    }

    /// The preload request for one key of `workload`: what makes its reads
    /// hit (and gives SPOP something to pop).
    pub fn fill(workload: Workload) -> Op {
        match workload {
            Workload::Set | Workload::Get | Workload::Mixed => Op::Set,
            Workload::HSet | Workload::HGet => Op::FillHash,
            Workload::SAdd | Workload::SIsMember | Workload::SPop => Op::FillSet,
            Workload::LPush | Workload::RPop | Workload::LRange100 => Op::FillList,
            Workload::ZAdd | Workload::ZPopMin => Op::FillZSet,
        }
    }

    /// How many preload requests `workload` sends for `keys`: one per key,
    /// or for the one-key workloads `keys` elements (at least 100 for
    /// LRANGE 0 99) `FILL_BATCH` to a request.
    pub fn fill_requests(workload: Workload, keys: u64) -> u64 {
        match Op::fill(workload) {
            Op::FillList | Op::FillZSet => {
                let elements = if workload == Workload::LRange100 {
                    keys.max(100)
                } else {
                    keys
                };
                elements.div_ceil(FILL_BATCH)
            }
            _ => keys,
        }
    }

    /// The range the command's second random number is drawn from, if it
    /// has one: a field or member number (`0..SUBKEYS`), or ZADD's score
    /// (`0..keys`).
    pub fn sub_range(self, keys: u64) -> Option<u64> {
        match self {
            Op::HSet | Op::HGet | Op::SAdd | Op::SIsMember => Some(SUBKEYS),
            Op::ZAdd => Some(keys),
            _ => None,
        }
    }

    /// Whether the command writes: with `--wait-replicas` it is followed by
    /// `WAIT`.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Op::Set
                | Op::HSet
                | Op::SAdd
                | Op::SPop
                | Op::LPush
                | Op::RPop
                | Op::ZAdd
                | Op::ZPopMin
                | Op::FillHash
                | Op::FillSet
                | Op::FillList
                | Op::FillZSet
        )
    }

    /// The command name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            Op::Set => "SET",
            Op::Get => "GET",
            Op::HSet | Op::FillHash => "HSET",
            Op::HGet => "HGET",
            Op::SAdd | Op::FillSet => "SADD",
            Op::SIsMember => "SISMEMBER",
            Op::SPop => "SPOP",
            Op::LPush | Op::FillList => "LPUSH",
            Op::RPop => "RPOP",
            Op::LRange100 => "LRANGE",
            Op::ZAdd | Op::FillZSet => "ZADD",
            Op::ZPopMin => "ZPOPMIN",
        }
    }
}

/// Appends one RESP2 multibulk request for `op` on key number `n` (`key:{n}`,
/// `hash:{n}` or `set:{n}`; ZADD's `element:{n}`; the preload batch of
/// FillZSet) and field or member number `sub` (ZADD's score; ignored by
/// commands without one).
pub fn encode(buf: &mut Vec<u8>, op: Op, n: u64, sub: u64, value: &[u8]) {
    match op {
        Op::Set => {
            buf.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
            push_tagged(buf, b"key:", n);
            push_bulk(buf, value);
        }
        Op::Get => {
            buf.extend_from_slice(b"*2\r\n$3\r\nGET\r\n");
            push_tagged(buf, b"key:", n);
        }
        Op::HSet => {
            buf.extend_from_slice(b"*4\r\n$4\r\nHSET\r\n");
            push_tagged(buf, b"hash:", n);
            push_tagged(buf, b"f:", sub);
            push_bulk(buf, value);
        }
        Op::HGet => {
            buf.extend_from_slice(b"*3\r\n$4\r\nHGET\r\n");
            push_tagged(buf, b"hash:", n);
            push_tagged(buf, b"f:", sub);
        }
        Op::SAdd => {
            buf.extend_from_slice(b"*3\r\n$4\r\nSADD\r\n");
            push_tagged(buf, b"set:", n);
            push_tagged(buf, b"m:", sub);
        }
        Op::SIsMember => {
            buf.extend_from_slice(b"*3\r\n$9\r\nSISMEMBER\r\n");
            push_tagged(buf, b"set:", n);
            push_tagged(buf, b"m:", sub);
        }
        Op::SPop => {
            buf.extend_from_slice(b"*2\r\n$4\r\nSPOP\r\n");
            push_tagged(buf, b"set:", n);
        }
        Op::FillHash => {
            buf.push(b'*');
            push_usize(buf, 2 + 2 * SUBKEYS as usize);
            buf.extend_from_slice(b"\r\n$4\r\nHSET\r\n");
            push_tagged(buf, b"hash:", n);
            for i in 0..SUBKEYS {
                push_tagged(buf, b"f:", i);
                push_bulk(buf, value);
            }
        }
        Op::FillSet => {
            buf.push(b'*');
            push_usize(buf, 2 + SUBKEYS as usize);
            buf.extend_from_slice(b"\r\n$4\r\nSADD\r\n");
            push_tagged(buf, b"set:", n);
            for i in 0..SUBKEYS {
                push_tagged(buf, b"m:", i);
            }
        }
        Op::LPush => {
            buf.extend_from_slice(b"*3\r\n$5\r\nLPUSH\r\n");
            push_bulk(buf, LIST_KEY);
            push_bulk(buf, value);
        }
        Op::RPop => {
            buf.extend_from_slice(b"*2\r\n$4\r\nRPOP\r\n");
            push_bulk(buf, LIST_KEY);
        }
        Op::LRange100 => {
            buf.extend_from_slice(b"*4\r\n$6\r\nLRANGE\r\n");
            push_bulk(buf, LIST_KEY);
            buf.extend_from_slice(b"$1\r\n0\r\n$2\r\n99\r\n");
        }
        Op::ZAdd => {
            let mut digits = [0u8; 20];
            buf.extend_from_slice(b"*4\r\n$4\r\nZADD\r\n");
            push_bulk(buf, ZSET_KEY);
            push_bulk(buf, fmt_u64(sub, &mut digits));
            push_tagged(buf, b"element:", n);
        }
        Op::ZPopMin => {
            buf.extend_from_slice(b"*2\r\n$7\r\nZPOPMIN\r\n");
            push_bulk(buf, ZSET_KEY);
        }
        Op::FillList => {
            buf.push(b'*');
            push_usize(buf, 2 + FILL_BATCH as usize);
            buf.extend_from_slice(b"\r\n$5\r\nLPUSH\r\n");
            push_bulk(buf, LIST_KEY);
            for _ in 0..FILL_BATCH {
                push_bulk(buf, value);
            }
        }
        Op::FillZSet => {
            let mut digits = [0u8; 20];
            buf.push(b'*');
            push_usize(buf, 2 + 2 * FILL_BATCH as usize);
            buf.extend_from_slice(b"\r\n$4\r\nZADD\r\n");
            push_bulk(buf, ZSET_KEY);
            let first = n.saturating_mul(FILL_BATCH);
            for i in first..first.saturating_add(FILL_BATCH) {
                push_bulk(buf, fmt_u64(i, &mut digits));
                push_tagged(buf, b"element:", i);
            }
        }
    }
}

/// Appends the bulk string `{tag}{n}` (`key:42`, `f:3`).
fn push_tagged(buf: &mut Vec<u8>, tag: &[u8], n: u64) {
    let mut digits = [0u8; 20];
    let num = fmt_u64(n, &mut digits);
    buf.push(b'$');
    push_usize(buf, tag.len() + num.len());
    buf.extend_from_slice(b"\r\n");
    buf.extend_from_slice(tag);
    buf.extend_from_slice(num);
    buf.extend_from_slice(b"\r\n");
}

/// Appends `WAIT replicas timeout_ms`: the request after a SET that makes
/// Redis answer only once that many replicas have the write.
pub fn encode_wait(buf: &mut Vec<u8>, replicas: u64, timeout: std::time::Duration) {
    let mut digits = [0u8; 20];
    buf.extend_from_slice(b"*3\r\n$4\r\nWAIT\r\n");
    push_bulk(buf, fmt_u64(replicas, &mut digits));
    push_bulk(buf, fmt_u64(timeout.as_millis() as u64, &mut digits));
}

/// Appends `PING` (used to probe that the address speaks RESP at all).
pub fn encode_ping(buf: &mut Vec<u8>) {
    buf.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
}

/// Appends `bytes` as one RESP bulk string.
fn push_bulk(buf: &mut Vec<u8>, bytes: &[u8]) {
    buf.push(b'$');
    push_usize(buf, bytes.len());
    buf.extend_from_slice(b"\r\n");
    buf.extend_from_slice(bytes);
    buf.extend_from_slice(b"\r\n");
}

fn push_usize(buf: &mut Vec<u8>, n: usize) {
    let mut digits = [0u8; 20];
    buf.extend_from_slice(fmt_u64(n as u64, &mut digits));
}

/// Decimal formatting without going through `fmt`, which is measurably slower
/// in a loop that runs once per request.
fn fmt_u64(mut n: u64, out: &mut [u8; 20]) -> &[u8] {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &out[i..]
}

/// The SET payload: printable and deterministic, so a value read back in a
/// debugging session is recognisable.
pub fn make_value(size: usize) -> Vec<u8> {
    (0..size).map(|i| b'a' + (i % 26) as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_set_and_get() {
        let mut b = Vec::new();
        encode(&mut b, Op::Set, 42, 7, b"abc");
        encode(&mut b, Op::Get, 0, 7, b"ignored");
        assert_eq!(
            b,
            b"*3\r\n$3\r\nSET\r\n$6\r\nkey:42\r\n$3\r\nabc\r\n*2\r\n$3\r\nGET\r\n$5\r\nkey:0\r\n"
        );
    }

    fn encoded(op: Op, n: u64, sub: u64, value: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        encode(&mut b, op, n, sub, value);
        b
    }

    #[test]
    fn encodes_hash_commands() {
        assert_eq!(
            encoded(Op::HSet, 42, 3, b"abc"),
            b"*4\r\n$4\r\nHSET\r\n$7\r\nhash:42\r\n$3\r\nf:3\r\n$3\r\nabc\r\n"
        );
        assert_eq!(
            encoded(Op::HGet, 0, 15, b"ignored"),
            b"*3\r\n$4\r\nHGET\r\n$6\r\nhash:0\r\n$4\r\nf:15\r\n"
        );
    }

    #[test]
    fn encodes_set_commands() {
        assert_eq!(
            encoded(Op::SAdd, 9, 0, b"ignored"),
            b"*3\r\n$4\r\nSADD\r\n$5\r\nset:9\r\n$3\r\nm:0\r\n"
        );
        assert_eq!(
            encoded(Op::SIsMember, 10, 12, b""),
            b"*3\r\n$9\r\nSISMEMBER\r\n$6\r\nset:10\r\n$4\r\nm:12\r\n"
        );
        assert_eq!(
            encoded(Op::SPop, 123, 5, b""),
            b"*2\r\n$4\r\nSPOP\r\n$7\r\nset:123\r\n"
        );
    }

    #[test]
    fn encodes_fills_with_every_field_and_member() {
        let hash = encoded(Op::FillHash, 1, 0, b"v");
        let mut want = b"*34\r\n$4\r\nHSET\r\n$6\r\nhash:1\r\n".to_vec();
        for i in 0..SUBKEYS {
            want.extend_from_slice(
                format!("${}\r\nf:{i}\r\n$1\r\nv\r\n", 2 + i.to_string().len()).as_bytes(),
            );
        }
        assert_eq!(hash, want);
        let set = encoded(Op::FillSet, 2, 0, b"v");
        let mut want = b"*18\r\n$4\r\nSADD\r\n$5\r\nset:2\r\n".to_vec();
        for i in 0..SUBKEYS {
            want.extend_from_slice(format!("${}\r\nm:{i}\r\n", 2 + i.to_string().len()).as_bytes());
        }
        assert_eq!(set, want);
    }

    #[test]
    fn collection_workloads_pick_their_command_and_fill() {
        let mut rng = Rng::new(1);
        for (w, op, fill) in [
            (Workload::HSet, Op::HSet, Op::FillHash),
            (Workload::HGet, Op::HGet, Op::FillHash),
            (Workload::SAdd, Op::SAdd, Op::FillSet),
            (Workload::SIsMember, Op::SIsMember, Op::FillSet),
            (Workload::SPop, Op::SPop, Op::FillSet),
            (Workload::Get, Op::Get, Op::Set),
        ] {
            assert_eq!(Op::pick(w, 0.5, &mut rng), op);
            assert_eq!(Op::fill(w), fill);
        }
        assert!(Op::SPop.writes() && Op::SPop.sub_range(100).is_none());
        assert!(!Op::SIsMember.writes() && Op::SIsMember.sub_range(100) == Some(SUBKEYS));
    }

    #[test]
    fn encodes_list_and_zset_commands() {
        assert_eq!(
            encoded(Op::LPush, 9, 0, b"abc"),
            b"*3\r\n$5\r\nLPUSH\r\n$6\r\nmylist\r\n$3\r\nabc\r\n"
        );
        assert_eq!(
            encoded(Op::RPop, 9, 0, b"abc"),
            b"*2\r\n$4\r\nRPOP\r\n$6\r\nmylist\r\n"
        );
        assert_eq!(
            encoded(Op::LRange100, 9, 0, b"abc"),
            b"*4\r\n$6\r\nLRANGE\r\n$6\r\nmylist\r\n$1\r\n0\r\n$2\r\n99\r\n"
        );
        assert_eq!(
            encoded(Op::ZAdd, 42, 1234, b"abc"),
            b"*4\r\n$4\r\nZADD\r\n$6\r\nmyzset\r\n$4\r\n1234\r\n$10\r\nelement:42\r\n"
        );
        assert_eq!(
            encoded(Op::ZPopMin, 42, 1234, b"abc"),
            b"*2\r\n$7\r\nZPOPMIN\r\n$6\r\nmyzset\r\n"
        );
    }

    #[test]
    fn list_and_zset_fills_carry_a_batch_each() {
        let list = encoded(Op::FillList, 3, 0, b"v");
        let mut want = b"*102\r\n$5\r\nLPUSH\r\n$6\r\nmylist\r\n".to_vec();
        for _ in 0..FILL_BATCH {
            want.extend_from_slice(b"$1\r\nv\r\n");
        }
        assert_eq!(list, want);
        // Batch 2 holds elements 200..=299, each scored by its number.
        let zset = encoded(Op::FillZSet, 2, 0, b"v");
        let mut want = b"*202\r\n$4\r\nZADD\r\n$6\r\nmyzset\r\n".to_vec();
        for i in 200..300 {
            want.extend_from_slice(format!("$3\r\n{i}\r\n$11\r\nelement:{i}\r\n").as_bytes());
        }
        assert_eq!(zset, want);
        // Elements round up to whole batches; LRANGE 0 99 needs 100.
        assert_eq!(Op::fill_requests(Workload::RPop, 1000), 10);
        assert_eq!(Op::fill_requests(Workload::ZPopMin, 1001), 11);
        assert_eq!(Op::fill_requests(Workload::LRange100, 5), 1);
        assert_eq!(Op::fill_requests(Workload::SPop, 5), 5);
    }

    #[test]
    fn list_and_zset_workloads_pick_their_command_and_fill() {
        let mut rng = Rng::new(1);
        for (w, op, fill) in [
            (Workload::LPush, Op::LPush, Op::FillList),
            (Workload::RPop, Op::RPop, Op::FillList),
            (Workload::LRange100, Op::LRange100, Op::FillList),
            (Workload::ZAdd, Op::ZAdd, Op::FillZSet),
            (Workload::ZPopMin, Op::ZPopMin, Op::FillZSet),
        ] {
            assert_eq!(Op::pick(w, 0.5, &mut rng), op);
            assert_eq!(Op::fill(w), fill);
        }
        for op in [
            Op::LPush,
            Op::RPop,
            Op::ZAdd,
            Op::ZPopMin,
            Op::FillList,
            Op::FillZSet,
        ] {
            assert!(op.writes(), "{op:?}");
        }
        assert!(!Op::LRange100.writes());
        assert_eq!(Op::ZAdd.sub_range(5000), Some(5000));
    }

    #[test]
    fn encodes_wait() {
        let mut b = Vec::new();
        encode_wait(&mut b, 2, std::time::Duration::from_secs(5));
        assert_eq!(b, b"*3\r\n$4\r\nWAIT\r\n$1\r\n2\r\n$4\r\n5000\r\n");
    }

    #[test]
    fn formats_extremes() {
        let mut d = [0u8; 20];
        assert_eq!(fmt_u64(0, &mut d), b"0");
        assert_eq!(fmt_u64(u64::MAX, &mut d), u64::MAX.to_string().as_bytes());
    }

    #[test]
    fn rng_is_seeded_and_in_range() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let mut c = Rng::new(8);
        let xa: Vec<u64> = (0..8).map(|_| a.below(10)).collect();
        let xb: Vec<u64> = (0..8).map(|_| b.below(10)).collect();
        let xc: Vec<u64> = (0..8).map(|_| c.below(10)).collect();
        assert_eq!(xa, xb);
        assert_ne!(xa, xc);
        assert!(xa.iter().all(|&x| x < 10));
        let mut r = Rng::new(0);
        let mut hits = [0u32; 4];
        for _ in 0..40_000 {
            hits[r.below(4) as usize] += 1;
        }
        // Uniform within a loose tolerance: each bucket near 10_000.
        assert!(
            hits.iter().all(|&h| (9_000..11_000).contains(&h)),
            "{hits:?}"
        );
        assert!((0..1000).map(|_| r.unit()).all(|u| (0.0..1.0).contains(&u)));
    }
}
