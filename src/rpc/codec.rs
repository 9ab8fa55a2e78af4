//! Wire format of the internal protocol: the handshake and the frames.
//!
//! # Handshake
//!
//! Every message of the handshake starts with the same eight bytes, a
//! *hello*: [`MAGIC`], the sender's protocol version (u16, big endian) and a
//! u16 whose meaning depends on who sends it (flags from the dialer, a
//! status from the listener). The magic cannot begin a RESP request (those
//! start with `*` or a command name), which is how a participant's single
//! port tells the two apart.
//!
//! ```text
//! dialer                                  listener
//!   hello(version, flags)           ──▶   version ≠ ours: hello(BAD_VERSION), close
//!                                         secret configured on one side only:
//!                                           hello(SECRET_REQUIRED | NO_SECRET), close
//!                                         no secret on either side: hello(OK), done
//!                                   ◀──   hello(CHALLENGE) ‖ nonce_l
//!   nonce_d ‖ mac(DIALER, nonce_l, nonce_d)
//!                                   ──▶   mac wrong: hello(BAD_SECRET), close
//!                                   ◀──   hello(OK) ‖ mac(LISTENER, nonce_l, nonce_d)
//!   mac wrong: close
//! ```
//!
//! `flags` has one bit, [`FLAG_SECRET`]: the dialer has a cluster secret.
//! Nonces are 32 random bytes; `mac(ROLE, …)` is HMAC-SHA256 keyed with the
//! cluster secret over a label naming the role that computes it, the
//! protocol version and both nonces. So the secret itself never crosses the
//! wire, each side proves it knows the secret against a nonce the other side
//! just chose (a recorded handshake cannot be replayed), and the role labels
//! keep one side's proof from being reflected back as the other's. Both
//! sides check, so a coordinator will not hand data to an impostor
//! participant either.
//!
//! What it does not do: encrypt or authenticate the frames that follow. An
//! attacker on the path can still read or hijack an established connection
//! (that needs TLS); the secret keeps out anyone who merely can connect.
//!
//! Each side gives the other [`HANDSHAKE_TIMEOUT`] to finish, so a peer that
//! connects and stays silent costs nothing for long.
//!
//! # Frames
//!
//! After the handshake, each frame is a u32 big-endian length followed by a
//! postcard-encoded envelope `(id, body)`. A length above [`MAX_FRAME_LEN`]
//! closes the connection, and so does a body that does not decode. Buffers
//! grow only as bytes arrive, never from the length prefix alone. This
//! module does I/O only through the async traits it is handed; it owns no
//! sockets.

use std::sync::OnceLock;
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use hmac::{Hmac, Mac};
use serde::{Serialize, de::DeserializeOwned};

use super::message::Response;
use sha2::Sha256;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// First bytes of every internal-protocol connection.
pub const MAGIC: [u8; 4] = *b"\x00KV2";
/// The version of the handshake and of the messages in [`super::message`].
/// Version 2 added the cluster-secret challenge, 3 expiry, 4 combined
/// reads ([`crate::command::op::ReadOp::Batch`]), 5 deciding early (an
/// ABORT voids its index), 6 INFO's keyspace statistics
/// ([`crate::command::op::ReadOp::KeyspaceStats`]), 7 collections
/// (stamped ops, element effects), 8 the blocking pops' attempts and SORT
/// (ops a version-7 participant could not decode: refused at the
/// handshake instead).
pub const PROTOCOL_VERSION: u16 = 8;
/// Handshake status: accepted.
pub const STATUS_OK: u16 = 0;
/// Handshake status: the listener speaks another protocol version.
pub const STATUS_BAD_VERSION: u16 = 1;
/// Handshake status: prove the cluster secret; a nonce follows.
pub const STATUS_CHALLENGE: u16 = 2;
/// Handshake status: the dialer's proof of the cluster secret was wrong.
pub const STATUS_BAD_SECRET: u16 = 3;
/// Handshake status: the listener has a cluster secret, the dialer has none.
pub const STATUS_SECRET_REQUIRED: u16 = 4;
/// Handshake status: the dialer has a cluster secret, the listener has none.
pub const STATUS_NO_SECRET: u16 = 5;
/// Dialer's hello flag: it has a cluster secret.
pub const FLAG_SECRET: u16 = 1;
/// Length of a handshake nonce.
pub const NONCE_LEN: usize = 32;
/// Length of a handshake proof (HMAC-SHA256).
pub const MAC_LEN: usize = 32;
/// How long either side waits for the other to finish the handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Request id of a one-way message: the server must not answer it.
pub const NOTIFY_ID: u64 = 0;
/// Largest frame accepted: a 512 MB value plus its envelope.
pub const MAX_FRAME_LEN: u32 = 600 * 1024 * 1024;

const DIALER_LABEL: &[u8] = b"kvstore2pcsystem handshake: dialer";
const LISTENER_LABEL: &[u8] = b"kvstore2pcsystem handshake: listener";

/// Errors of the wire format.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The socket failed or closed mid-frame.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The peer does not speak this protocol at all.
    #[error("peer did not send the protocol magic")]
    BadMagic,
    /// The peer speaks another version.
    #[error("peer speaks protocol version {theirs}, we speak {ours}")]
    BadVersion {
        /// The peer's version.
        theirs: u16,
        /// Ours.
        ours: u16,
    },
    /// The handshake failed on the cluster secret; the text says how.
    #[error("cluster secret: {0}")]
    Auth(&'static str),
    /// The peer did not finish the handshake within [`HANDSHAKE_TIMEOUT`].
    #[error("handshake not finished within {0:?}")]
    HandshakeTimeout(Duration),
    /// The listener refused us with a status we do not know.
    #[error("handshake refused with status {0}")]
    Refused(u16),
    /// A frame announced more than [`MAX_FRAME_LEN`] bytes.
    #[error("frame of {0} bytes is over the limit")]
    TooLarge(u32),
    /// A frame did not decode.
    #[error("corrupt frame: {0}")]
    Corrupt(#[from] postcard::Error),
}

impl CodecError {
    /// True for a handshake that failed because the peer is not one of ours
    /// (wrong or missing secret, other version, not our protocol), as
    /// opposed to a network failure: worth a warning in the log.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            CodecError::BadMagic
                | CodecError::BadVersion { .. }
                | CodecError::Auth(_)
                | CodecError::Refused(_)
        )
    }
}

/// The cluster secret of this process, for connections whose callers do not
/// pass one explicitly ([`crate::rpc::RpcClient::connect`]). Set once at
/// start-up by [`crate::run`]; unset means "no secret".
static PROCESS_SECRET: OnceLock<Option<Vec<u8>>> = OnceLock::new();

/// Sets the process-wide cluster secret. Only the first call has an effect
/// (one process runs one node); returns whether this call set it.
pub fn set_process_secret(secret: Option<&[u8]>) -> bool {
    PROCESS_SECRET.set(secret.map(<[u8]>::to_vec)).is_ok()
}

/// The process-wide cluster secret, if one was set.
pub fn process_secret() -> Option<&'static [u8]> {
    PROCESS_SECRET.get().and_then(|s| s.as_deref())
}

/// A hello of our version carrying `field` (flags or a status).
pub fn hello(field: u16) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&MAGIC);
    out[4..6].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    out[6..8].copy_from_slice(&field.to_be_bytes());
    out
}

/// Reads a peer's 8-byte hello: (version, flags or status).
async fn read_hello<R: AsyncRead + Unpin>(r: &mut R) -> Result<(u16, u16), CodecError> {
    let mut buf = [0u8; 8];
    r.read_exact(&mut buf).await?;
    if buf[..4] != MAGIC {
        return Err(CodecError::BadMagic);
    }
    Ok((
        u16::from_be_bytes([buf[4], buf[5]]),
        u16::from_be_bytes([buf[6], buf[7]]),
    ))
}

fn nonce() -> Result<[u8; NONCE_LEN], CodecError> {
    let mut n = [0u8; NONCE_LEN];
    getrandom::fill(&mut n).map_err(|e| {
        CodecError::Io(std::io::Error::other(format!(
            "no randomness for a nonce: {e}"
        )))
    })?;
    Ok(n)
}

fn keyed(secret: &[u8], label: &[u8], listener_nonce: &[u8], dialer_nonce: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
    mac.update(label);
    mac.update(&PROTOCOL_VERSION.to_be_bytes());
    mac.update(listener_nonce);
    mac.update(dialer_nonce);
    mac
}

fn prove(secret: &[u8], label: &[u8], listener_nonce: &[u8], dialer_nonce: &[u8]) -> [u8; MAC_LEN] {
    keyed(secret, label, listener_nonce, dialer_nonce)
        .finalize()
        .into_bytes()
        .into()
}

/// Checks a proof in constant time.
fn verify(
    secret: &[u8],
    label: &[u8],
    listener_nonce: &[u8],
    dialer_nonce: &[u8],
    proof: &[u8],
) -> bool {
    keyed(secret, label, listener_nonce, dialer_nonce)
        .verify_slice(proof)
        .is_ok()
}

async fn within<T>(f: impl Future<Output = Result<T, CodecError>>) -> Result<T, CodecError> {
    tokio::time::timeout(HANDSHAKE_TIMEOUT, f)
        .await
        .unwrap_or(Err(CodecError::HandshakeTimeout(HANDSHAKE_TIMEOUT)))
}

/// The dialing side of the handshake. `secret` is the cluster secret, if
/// one is configured; the listener must have the same one (or none if this
/// is `None`).
pub async fn handshake_dial<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    secret: Option<&[u8]>,
) -> Result<(), CodecError> {
    within(dial(s, secret)).await
}

async fn dial<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    secret: Option<&[u8]>,
) -> Result<(), CodecError> {
    let flags = if secret.is_some() { FLAG_SECRET } else { 0 };
    s.write_all(&hello(flags)).await?;
    let (theirs, status) = read_hello(s).await?;
    if theirs != PROTOCOL_VERSION {
        return Err(CodecError::BadVersion {
            theirs,
            ours: PROTOCOL_VERSION,
        });
    }
    match (status, secret) {
        (STATUS_OK, None) => Ok(()),
        (STATUS_OK, Some(_)) => Err(CodecError::Auth(
            "the listener skipped the challenge: it did not prove it knows our secret",
        )),
        (STATUS_CHALLENGE, None) => Err(CodecError::Auth(
            "the listener requires a cluster secret and we have none configured",
        )),
        (STATUS_CHALLENGE, Some(secret)) => {
            let mut listener_nonce = [0u8; NONCE_LEN];
            s.read_exact(&mut listener_nonce).await?;
            let dialer_nonce = nonce()?;
            let mut answer = [0u8; NONCE_LEN + MAC_LEN];
            answer[..NONCE_LEN].copy_from_slice(&dialer_nonce);
            answer[NONCE_LEN..].copy_from_slice(&prove(
                secret,
                DIALER_LABEL,
                &listener_nonce,
                &dialer_nonce,
            ));
            s.write_all(&answer).await?;
            let (theirs, status) = read_hello(s).await?;
            match (theirs, status) {
                (PROTOCOL_VERSION, STATUS_OK) => {}
                (_, STATUS_BAD_SECRET) => {
                    return Err(CodecError::Auth(
                        "the listener refused our proof: its cluster secret differs from ours",
                    ));
                }
                (_, other) => return Err(CodecError::Refused(other)),
            }
            let mut proof = [0u8; MAC_LEN];
            s.read_exact(&mut proof).await?;
            if verify(
                secret,
                LISTENER_LABEL,
                &listener_nonce,
                &dialer_nonce,
                &proof,
            ) {
                Ok(())
            } else {
                Err(CodecError::Auth(
                    "the listener's proof is wrong: its cluster secret differs from ours",
                ))
            }
        }
        (STATUS_BAD_VERSION, _) => Err(CodecError::BadVersion {
            theirs,
            ours: PROTOCOL_VERSION,
        }),
        (STATUS_SECRET_REQUIRED, _) => Err(CodecError::Auth(
            "the listener requires a cluster secret and we have none configured",
        )),
        (STATUS_NO_SECRET, _) => Err(CodecError::Auth(
            "we have a cluster secret but the listener has none configured",
        )),
        (other, _) => Err(CodecError::Refused(other)),
    }
}

/// The listening side of the handshake: refuses, telling the dialer why, a
/// peer of another version or one that does not prove `secret` (or has a
/// secret when `secret` is `None`). The error says why, for the log.
pub async fn handshake_accept<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    secret: Option<&[u8]>,
) -> Result<(), CodecError> {
    within(accept(s, secret)).await
}

async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    secret: Option<&[u8]>,
) -> Result<(), CodecError> {
    let (theirs, flags) = read_hello(s).await?;
    if theirs != PROTOCOL_VERSION {
        s.write_all(&hello(STATUS_BAD_VERSION)).await?;
        return Err(CodecError::BadVersion {
            theirs,
            ours: PROTOCOL_VERSION,
        });
    }
    let secret = match (secret, flags & FLAG_SECRET != 0) {
        (None, false) => {
            s.write_all(&hello(STATUS_OK)).await?;
            return Ok(());
        }
        (None, true) => {
            s.write_all(&hello(STATUS_NO_SECRET)).await?;
            return Err(CodecError::Auth(
                "the dialer has a cluster secret but we have none configured",
            ));
        }
        (Some(_), false) => {
            s.write_all(&hello(STATUS_SECRET_REQUIRED)).await?;
            return Err(CodecError::Auth(
                "the dialer has no cluster secret configured and we require one",
            ));
        }
        (Some(secret), true) => secret,
    };
    let listener_nonce = nonce()?;
    let mut challenge = [0u8; 8 + NONCE_LEN];
    challenge[..8].copy_from_slice(&hello(STATUS_CHALLENGE));
    challenge[8..].copy_from_slice(&listener_nonce);
    s.write_all(&challenge).await?;
    let mut answer = [0u8; NONCE_LEN + MAC_LEN];
    s.read_exact(&mut answer).await?;
    let (dialer_nonce, proof) = answer.split_at(NONCE_LEN);
    if !verify(secret, DIALER_LABEL, &listener_nonce, dialer_nonce, proof) {
        s.write_all(&hello(STATUS_BAD_SECRET)).await?;
        return Err(CodecError::Auth(
            "the dialer's proof is wrong: its cluster secret differs from ours",
        ));
    }
    let mut welcome = [0u8; 8 + MAC_LEN];
    welcome[..8].copy_from_slice(&hello(STATUS_OK));
    welcome[8..].copy_from_slice(&prove(
        secret,
        LISTENER_LABEL,
        &listener_nonce,
        dialer_nonce,
    ));
    s.write_all(&welcome).await?;
    Ok(())
}

/// Appends one frame carrying `(id, body)` to `out`.
pub fn encode_frame<T: Serialize>(id: u64, body: &T, out: &mut BytesMut) -> Result<(), CodecError> {
    let start = out.len();
    out.put_u32(0);
    let mut writer = out.writer();
    postcard::to_io(&(id, body), &mut writer)?;
    let out = writer.into_inner();
    let len = out.len() - start - 4;
    let len = u32::try_from(len).map_err(|_| CodecError::TooLarge(u32::MAX))?;
    out[start..start + 4].copy_from_slice(&len.to_be_bytes());
    Ok(())
}

/// Takes one whole frame's payload off the front of `buf`, if one is
/// there.
fn take_frame(buf: &mut BytesMut) -> Result<Option<BytesMut>, CodecError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if len > MAX_FRAME_LEN {
        return Err(CodecError::TooLarge(len));
    }
    let total = 4 + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    buf.advance(4);
    Ok(Some(buf.split_to(len as usize)))
}

/// Takes one whole frame off the front of `buf`, if one is there.
pub fn decode_frame<T: DeserializeOwned>(
    buf: &mut BytesMut,
) -> Result<Option<(u64, T)>, CodecError> {
    match take_frame(buf)? {
        Some(payload) => Ok(Some(postcard::from_bytes::<(u64, T)>(&payload)?)),
        None => Ok(None),
    }
}

/// Frames above this size are decoded on the blocking pool: a reply of a
/// million elements takes long enough to decode that other requests on
/// the same runtime would wait for it.
pub const LARGE_FRAME: usize = 1 << 20;

/// Reads from `r` until one whole frame is buffered, and decodes it (a
/// [`LARGE_FRAME`] off the async workers). `Ok(None)` means the peer
/// closed the connection between frames.
pub async fn read_frame<T: DeserializeOwned + Send + 'static, R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
) -> Result<Option<(u64, T)>, CodecError> {
    loop {
        if let Some(payload) = take_frame(buf)? {
            return Ok(Some(decode_payload(payload).await?));
        }
        // Reserve a bounded amount per read: a peer's length prefix alone
        // never makes us allocate.
        buf.reserve(64 * 1024);
        if r.read_buf(buf).await? == 0 {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(CodecError::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
}

/// Decodes one frame's payload, a large one on the blocking pool (inline
/// in the simulation, whose runs must not depend on threads).
async fn decode_payload<T: DeserializeOwned + Send + 'static>(
    payload: BytesMut,
) -> Result<(u64, T), CodecError> {
    #[cfg(not(feature = "sim"))]
    if payload.len() > LARGE_FRAME {
        return tokio::task::spawn_blocking(move || postcard::from_bytes::<(u64, T)>(&payload))
            .await
            .map_err(|e| CodecError::Io(std::io::Error::other(e.to_string())))?
            .map_err(CodecError::from);
    }
    Ok(postcard::from_bytes::<(u64, T)>(&payload)?)
}

/// Encodes one frame, a large one ([`Response::is_large`]) on the blocking
/// pool (inline in the simulation).
pub async fn encode_response(id: u64, response: Response) -> Result<BytesMut, CodecError> {
    #[cfg(not(feature = "sim"))]
    let large = response.is_large();
    let encode = move || {
        let mut frame = BytesMut::new();
        encode_frame(id, &response, &mut frame).map(|()| frame)
    };
    #[cfg(not(feature = "sim"))]
    if large {
        return tokio::task::spawn_blocking(encode)
            .await
            .map_err(|e| CodecError::Io(std::io::Error::other(e.to_string())))?;
    }
    encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::message::Request;

    #[test]
    fn frames_round_trip_and_split_anywhere() {
        let mut out = BytesMut::new();
        encode_frame(7, &Request::Status, &mut out).unwrap();
        encode_frame(
            8,
            &Request::Abort {
                txid: 3,
                void: Some(9),
            },
            &mut out,
        )
        .unwrap();
        let whole = out.clone();
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            let mut got = Vec::new();
            while let Some(f) = decode_frame::<Request>(&mut buf).unwrap() {
                got.push(f);
            }
            buf.extend_from_slice(&whole[cut..]);
            while let Some(f) = decode_frame::<Request>(&mut buf).unwrap() {
                got.push(f);
            }
            assert_eq!(
                got,
                vec![
                    (7, Request::Status),
                    (
                        8,
                        Request::Abort {
                            txid: 3,
                            void: Some(9)
                        }
                    )
                ]
            );
        }
    }

    #[test]
    fn oversized_and_corrupt_frames_are_errors() {
        let mut buf = BytesMut::from(&u32::MAX.to_be_bytes()[..]);
        assert!(matches!(
            decode_frame::<Request>(&mut buf),
            Err(CodecError::TooLarge(_))
        ));
        let mut buf = BytesMut::from(&[0, 0, 0, 3, 0xff, 0xff, 0xff][..]);
        assert!(matches!(
            decode_frame::<Request>(&mut buf),
            Err(CodecError::Corrupt(_))
        ));
    }

    /// Runs both sides of a handshake over an in-memory pipe.
    async fn handshake(
        dialer: Option<&'static [u8]>,
        listener: Option<&'static [u8]>,
    ) -> (Result<(), CodecError>, Result<(), CodecError>) {
        let (mut a, mut b) = tokio::io::duplex(256);
        let accept = tokio::spawn(async move { handshake_accept(&mut b, listener).await });
        let dial = handshake_dial(&mut a, dialer).await;
        (dial, accept.await.expect("join"))
    }

    fn auth_error(r: &Result<(), CodecError>) -> &'static str {
        match r {
            Err(CodecError::Auth(why)) => why,
            other => panic!("expected a cluster-secret refusal, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn same_secret_or_none_is_accepted() {
        let (d, l) = handshake(None, None).await;
        assert!(d.is_ok() && l.is_ok(), "{d:?} {l:?}");
        let (d, l) = handshake(Some(b"s3cret"), Some(b"s3cret")).await;
        assert!(d.is_ok() && l.is_ok(), "{d:?} {l:?}");
        // An empty secret is still a secret (the config refuses empty ones).
        let (d, l) = handshake(Some(b""), Some(b"")).await;
        assert!(d.is_ok() && l.is_ok(), "{d:?} {l:?}");
    }

    #[tokio::test]
    async fn secret_mismatches_are_refused_on_both_sides_with_a_reason() {
        let (d, l) = handshake(Some(b"one"), Some(b"two")).await;
        assert!(auth_error(&d).contains("differs"), "{d:?}");
        assert!(auth_error(&l).contains("differs"), "{l:?}");

        let (d, l) = handshake(None, Some(b"two")).await;
        assert!(
            auth_error(&d).contains("requires a cluster secret"),
            "{d:?}"
        );
        assert!(auth_error(&l).contains("no cluster secret"), "{l:?}");

        let (d, l) = handshake(Some(b"one"), None).await;
        assert!(auth_error(&d).contains("listener has none"), "{d:?}");
        assert!(auth_error(&l).contains("we have none"), "{l:?}");
        assert!(d.unwrap_err().is_refusal() && l.unwrap_err().is_refusal());
    }

    #[tokio::test]
    async fn the_secret_never_crosses_the_wire() {
        const SECRET: &[u8] = b"do-not-send-me-0123456789";
        // A relay that records every byte in both directions.
        let (mut dial_end, mut relay_a) = tokio::io::duplex(256);
        let (mut relay_b, mut accept_end) = tokio::io::duplex(256);
        let accept =
            tokio::spawn(async move { handshake_accept(&mut accept_end, Some(SECRET)).await });
        let dial = tokio::spawn(async move { handshake_dial(&mut dial_end, Some(SECRET)).await });
        let mut seen = Vec::new();
        let mut up = [0u8; 8 + NONCE_LEN + MAC_LEN];
        // dialer hello, listener challenge, dialer proof, listener welcome.
        relay_a.read_exact(&mut up[..8]).await.unwrap();
        relay_b.write_all(&up[..8]).await.unwrap();
        seen.extend_from_slice(&up[..8]);
        relay_b.read_exact(&mut up[..8 + NONCE_LEN]).await.unwrap();
        relay_a.write_all(&up[..8 + NONCE_LEN]).await.unwrap();
        seen.extend_from_slice(&up[..8 + NONCE_LEN]);
        relay_a
            .read_exact(&mut up[..NONCE_LEN + MAC_LEN])
            .await
            .unwrap();
        relay_b.write_all(&up[..NONCE_LEN + MAC_LEN]).await.unwrap();
        seen.extend_from_slice(&up[..NONCE_LEN + MAC_LEN]);
        relay_b.read_exact(&mut up[..8 + MAC_LEN]).await.unwrap();
        relay_a.write_all(&up[..8 + MAC_LEN]).await.unwrap();
        seen.extend_from_slice(&up[..8 + MAC_LEN]);
        assert!(dial.await.unwrap().is_ok());
        assert!(accept.await.unwrap().is_ok());
        assert!(!seen.windows(SECRET.len()).any(|w| w == SECRET));
        assert!(!seen.windows(8).any(|w| w == &SECRET[..8]));
    }

    #[tokio::test]
    async fn a_replayed_proof_is_refused() {
        // A dialer that answers every challenge with the proof it recorded
        // from an earlier, genuine handshake.
        const SECRET: &[u8] = b"secret";
        let listener_nonce = [7u8; NONCE_LEN];
        let dialer_nonce = [9u8; NONCE_LEN];
        let recorded = prove(SECRET, DIALER_LABEL, &listener_nonce, &dialer_nonce);
        let (mut a, mut b) = tokio::io::duplex(256);
        let accept = tokio::spawn(async move { handshake_accept(&mut b, Some(SECRET)).await });
        a.write_all(&hello(FLAG_SECRET)).await.unwrap();
        let mut challenge = [0u8; 8 + NONCE_LEN];
        a.read_exact(&mut challenge).await.unwrap();
        assert_eq!(challenge[..8], hello(STATUS_CHALLENGE));
        a.write_all(&dialer_nonce).await.unwrap();
        a.write_all(&recorded).await.unwrap();
        let mut refusal = [0u8; 8];
        a.read_exact(&mut refusal).await.unwrap();
        assert_eq!(refusal, hello(STATUS_BAD_SECRET));
        assert!(auth_error(&accept.await.unwrap()).contains("differs"));
    }

    #[tokio::test]
    async fn a_listener_reflecting_the_dialers_proof_is_refused() {
        // An impostor listener cannot compute the listener's proof; sending
        // back anything else (here: the dialer's own proof) fails.
        let (mut a, mut b) = tokio::io::duplex(256);
        let dial = tokio::spawn(async move { handshake_dial(&mut a, Some(b"secret")).await });
        let mut h = [0u8; 8];
        b.read_exact(&mut h).await.unwrap();
        assert_eq!(h, hello(FLAG_SECRET));
        b.write_all(&hello(STATUS_CHALLENGE)).await.unwrap();
        b.write_all(&[1u8; NONCE_LEN]).await.unwrap();
        let mut answer = [0u8; NONCE_LEN + MAC_LEN];
        b.read_exact(&mut answer).await.unwrap();
        b.write_all(&hello(STATUS_OK)).await.unwrap();
        b.write_all(&answer[NONCE_LEN..]).await.unwrap();
        assert!(auth_error(&dial.await.unwrap()).contains("listener's proof is wrong"));

        // Nor may it skip the challenge.
        let (mut a, mut b) = tokio::io::duplex(256);
        let dial = tokio::spawn(async move { handshake_dial(&mut a, Some(b"secret")).await });
        b.read_exact(&mut h).await.unwrap();
        b.write_all(&hello(STATUS_OK)).await.unwrap();
        assert!(auth_error(&dial.await.unwrap()).contains("skipped the challenge"));
    }

    #[tokio::test]
    async fn a_wrong_version_is_refused_on_both_sides() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let accept = tokio::spawn(async move { handshake_accept(&mut b, None).await });
        let mut bad = hello(0);
        bad[4..6].copy_from_slice(&99u16.to_be_bytes());
        a.write_all(&bad).await.unwrap();
        let (version, status) = read_hello(&mut a).await.unwrap();
        assert_eq!((version, status), (PROTOCOL_VERSION, STATUS_BAD_VERSION));
        assert!(matches!(
            accept.await.unwrap(),
            Err(CodecError::BadVersion { theirs: 99, .. })
        ));

        // And the dialer refuses a listener of another version.
        let (mut a, mut b) = tokio::io::duplex(64);
        let dial = tokio::spawn(async move { handshake_dial(&mut a, None).await });
        let mut h = [0u8; 8];
        b.read_exact(&mut h).await.unwrap();
        let mut old = hello(STATUS_BAD_VERSION);
        old[4..6].copy_from_slice(&1u16.to_be_bytes());
        b.write_all(&old).await.unwrap();
        assert!(matches!(
            dial.await.unwrap(),
            Err(CodecError::BadVersion {
                theirs: 1,
                ours: PROTOCOL_VERSION
            })
        ));
    }

    #[tokio::test]
    async fn bad_magic_and_silence_are_refused() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let accept = tokio::spawn(async move { handshake_accept(&mut b, None).await });
        a.write_all(b"*1\r\n$4\r\n").await.unwrap();
        assert!(matches!(accept.await.unwrap(), Err(CodecError::BadMagic)));

        tokio::time::pause();
        let (_a, mut b) = tokio::io::duplex(64);
        let accept = tokio::spawn(async move { handshake_accept(&mut b, Some(b"s")).await });
        assert!(matches!(
            accept.await.unwrap(),
            Err(CodecError::HandshakeTimeout(_))
        ));
    }
}
