//! Keyspace commands: DEL.

use bytes::Bytes;

use super::CommandError;
use super::op::WriteOp;

/// `DEL key [key ...]` (arity already checked): replies how many existed.
pub fn parse_del(args: &[Bytes]) -> Result<WriteOp, CommandError> {
    Ok(WriteOp::Del {
        keys: args.iter().skip(1).cloned().collect(),
    })
}
