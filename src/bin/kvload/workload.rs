//! What requests look like: the seeded xorshift RNG that picks keys and
//! commands, and the RESP2 multibulk encoding of `SET key:{n} value` /
//! `GET key:{n}`.
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

/// The command of one request; kept per in-flight request so a reply can be
/// classified (a nil reply only means "miss" for a GET).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    Set,
    Get,
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
        }
    }
}

/// Appends one RESP2 multibulk request for `op` on key `key:{n}`.
pub fn encode(buf: &mut Vec<u8>, op: Op, n: u64, value: &[u8]) {
    let mut digits = [0u8; 20];
    let num = fmt_u64(n, &mut digits);
    let key_len = b"key:".len() + num.len();
    match op {
        Op::Set => buf.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$"),
        Op::Get => buf.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$"),
    }
    push_usize(buf, key_len);
    buf.extend_from_slice(b"\r\nkey:");
    buf.extend_from_slice(num);
    buf.extend_from_slice(b"\r\n");
    if op == Op::Set {
        push_bulk(buf, value);
    }
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
        encode(&mut b, Op::Set, 42, b"abc");
        encode(&mut b, Op::Get, 0, b"ignored");
        assert_eq!(
            b,
            b"*3\r\n$3\r\nSET\r\n$6\r\nkey:42\r\n$3\r\nabc\r\n*2\r\n$3\r\nGET\r\n$5\r\nkey:0\r\n"
        );
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
