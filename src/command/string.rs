//! String commands: GET and SET.
//!
//! SET accepts only the plain form for now; options (EX, PX, NX, XX, GET,
//! KEEPTTL) get `ERR syntax error` rather than being silently ignored. In
//! the Lab dialect, `SET key word1 word2 …` stores the words joined by
//! single spaces (the Lab3 protocol sends a multi-word value that way, and
//! GET answers it word by word).

use bytes::{BufMut, Bytes, BytesMut};

use super::CommandError;
use super::op::{ReadOp, WriteOp};
use crate::config::Dialect;

/// `GET key` (arity already checked).
pub fn parse_get(args: &[Bytes]) -> Result<ReadOp, CommandError> {
    match args {
        [_, key] => Ok(ReadOp::Get { key: key.clone() }),
        _ => Err(CommandError::Arity("get".into())),
    }
}

/// `SET key value` (arity already checked).
pub fn parse_set(args: &[Bytes], dialect: Dialect) -> Result<WriteOp, CommandError> {
    match (args, dialect) {
        ([_, key, value], _) => Ok(WriteOp::Set {
            key: key.clone(),
            value: value.clone(),
        }),
        ([_, key, words @ ..], Dialect::Lab) => {
            let mut value = BytesMut::new();
            for (i, word) in words.iter().enumerate() {
                if i > 0 {
                    value.put_u8(b' ');
                }
                value.put_slice(word);
            }
            Ok(WriteOp::Set {
                key: key.clone(),
                value: value.freeze(),
            })
        }
        _ => Err(CommandError::Syntax),
    }
}
