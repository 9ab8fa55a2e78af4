//! String commands: GET and SET.
//!
//! SET accepts only the plain form for now; options (EX, PX, NX, XX, GET,
//! KEEPTTL) get `ERR syntax error` rather than being silently ignored.

use bytes::Bytes;

use super::CommandError;
use super::op::{ReadOp, WriteOp};

/// `GET key` (arity already checked).
pub fn parse_get(args: &[Bytes]) -> Result<ReadOp, CommandError> {
    match args {
        [_, key] => Ok(ReadOp::Get { key: key.clone() }),
        _ => Err(CommandError::Arity("get".into())),
    }
}

/// `SET key value` (arity already checked).
pub fn parse_set(args: &[Bytes]) -> Result<WriteOp, CommandError> {
    match args {
        [_, key, value] => Ok(WriteOp::Set {
            key: key.clone(),
            value: value.clone(),
        }),
        _ => Err(CommandError::Syntax),
    }
}
