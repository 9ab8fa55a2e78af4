//! Wire format of the internal protocol: the handshake and the frames.
//!
//! A connection starts with the dialing side sending [`MAGIC`] followed by
//! its protocol version (u16, big endian) and two reserved bytes. The
//! listening side answers the same eight bytes with a status in place of the
//! reserved bytes; anything but [`STATUS_OK`] means the connection is closed.
//! The magic cannot begin a RESP request (those start with `*` or a command
//! name), which is how a participant's single port tells the two apart.
//!
//! After the handshake, each frame is a u32 big-endian length followed by a
//! postcard-encoded envelope `(id, body)`. A length above [`MAX_FRAME_LEN`]
//! closes the connection. Buffers grow only as bytes arrive, never from the
//! length prefix alone. This module does I/O only through the async traits
//! it is handed; it owns no sockets.

use bytes::{Buf, BufMut, BytesMut};
use serde::{Serialize, de::DeserializeOwned};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// First bytes of every internal-protocol connection.
pub const MAGIC: [u8; 4] = *b"\x00KV2";
/// The version of the messages in [`super::message`].
pub const PROTOCOL_VERSION: u16 = 1;
/// Handshake status: accepted.
pub const STATUS_OK: u16 = 0;
/// Handshake status: the listener speaks another protocol version.
pub const STATUS_BAD_VERSION: u16 = 1;
/// Request id of a one-way message: the server must not answer it.
pub const NOTIFY_ID: u64 = 0;
/// Largest frame accepted: a 512 MB value plus its envelope.
pub const MAX_FRAME_LEN: u32 = 600 * 1024 * 1024;

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
    /// The listener refused us for another reason.
    #[error("handshake refused with status {0}")]
    Refused(u16),
    /// A frame announced more than [`MAX_FRAME_LEN`] bytes.
    #[error("frame of {0} bytes is over the limit")]
    TooLarge(u32),
    /// A frame did not decode.
    #[error("corrupt frame: {0}")]
    Corrupt(#[from] postcard::Error),
}

fn hello(status: u16) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&MAGIC);
    out[4..6].copy_from_slice(&PROTOCOL_VERSION.to_be_bytes());
    out[6..8].copy_from_slice(&status.to_be_bytes());
    out
}

/// Reads a peer's 8-byte hello: (version, status).
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

/// The dialing side of the handshake.
pub async fn handshake_dial<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
) -> Result<(), CodecError> {
    s.write_all(&hello(STATUS_OK)).await?;
    let (theirs, status) = read_hello(s).await?;
    if theirs != PROTOCOL_VERSION {
        return Err(CodecError::BadVersion {
            theirs,
            ours: PROTOCOL_VERSION,
        });
    }
    if status != STATUS_OK {
        return Err(CodecError::Refused(status));
    }
    Ok(())
}

/// The listening side of the handshake: refuses (and says why) a peer of
/// another version.
pub async fn handshake_accept<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
) -> Result<(), CodecError> {
    let (theirs, _) = read_hello(s).await?;
    if theirs != PROTOCOL_VERSION {
        s.write_all(&hello(STATUS_BAD_VERSION)).await?;
        return Err(CodecError::BadVersion {
            theirs,
            ours: PROTOCOL_VERSION,
        });
    }
    s.write_all(&hello(STATUS_OK)).await?;
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

/// Takes one whole frame off the front of `buf`, if one is there.
pub fn decode_frame<T: DeserializeOwned>(
    buf: &mut BytesMut,
) -> Result<Option<(u64, T)>, CodecError> {
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
    let payload = buf.split_to(len as usize);
    let (id, body) = postcard::from_bytes::<(u64, T)>(&payload)?;
    Ok(Some((id, body)))
}

/// Reads from `r` until one whole frame is buffered, and decodes it.
/// `Ok(None)` means the peer closed the connection between frames.
pub async fn read_frame<T: DeserializeOwned, R: AsyncRead + Unpin>(
    r: &mut R,
    buf: &mut BytesMut,
) -> Result<Option<(u64, T)>, CodecError> {
    loop {
        if let Some(frame) = decode_frame(buf)? {
            return Ok(Some(frame));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::message::Request;

    #[test]
    fn frames_round_trip_and_split_anywhere() {
        let mut out = BytesMut::new();
        encode_frame(7, &Request::Status, &mut out).unwrap();
        encode_frame(8, &Request::Abort { txid: 3 }, &mut out).unwrap();
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
                vec![(7, Request::Status), (8, Request::Abort { txid: 3 })]
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

    #[tokio::test]
    async fn a_wrong_version_is_refused_on_both_sides() {
        let (mut a, mut b) = tokio::io::duplex(64);
        let accept = tokio::spawn(async move { handshake_accept(&mut b).await });
        let mut bad = hello(STATUS_OK);
        bad[4..6].copy_from_slice(&99u16.to_be_bytes());
        a.write_all(&bad).await.unwrap();
        let (version, status) = read_hello(&mut a).await.unwrap();
        assert_eq!((version, status), (PROTOCOL_VERSION, STATUS_BAD_VERSION));
        assert!(matches!(
            accept.await.unwrap(),
            Err(CodecError::BadVersion { theirs: 99, .. })
        ));
    }
}
