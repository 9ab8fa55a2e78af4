//! Replicated operations: what crosses the wire from the coordinator to the
//! participants, and how a replica evaluates them against its own data.
//!
//! A client command that writes becomes a [`WriteOp`]; one that reads becomes
//! a [`ReadOp`]. Evaluation is pure: it reads through a [`ReadView`] and
//! returns the command's [`Outcome`] plus the [`Effect`]s (resolved key
//! writes) that committing it would apply. Because every replica evaluates
//! the same op against the same data, equal outcomes are how the coordinator
//! checks that replicas agree before it commits.
//!
//! This module must never do I/O or look at a clock: time-dependent inputs
//! are fixed by the coordinator and carried inside the op.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A write command, already validated, as sent in a PREPARE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteOp {
    /// SET key value.
    Set {
        /// The key.
        key: Bytes,
        /// The new value.
        value: Bytes,
    },
    /// DEL key [key ...]: deletes, and counts the keys that existed.
    Del {
        /// The keys to delete (duplicates count once, as in Redis).
        keys: Vec<Bytes>,
    },
}

impl WriteOp {
    /// The keys this op writes; the coordinator locks them for the whole round.
    pub fn keys(&self) -> Vec<&Bytes> {
        match self {
            WriteOp::Set { key, .. } => vec![key],
            WriteOp::Del { keys } => keys.iter().collect(),
        }
    }
}

/// A read command, routed to one live participant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReadOp {
    /// GET key.
    Get {
        /// The key.
        key: Bytes,
    },
}

impl ReadOp {
    /// The keys this op reads; a read waits while any of them is prepared.
    pub fn keys(&self) -> Vec<&Bytes> {
        match self {
            ReadOp::Get { key } => vec![key],
        }
    }
}

/// The result of evaluating an op on a replica, independent of reply dialect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// `+OK`.
    Ok,
    /// An integer reply.
    Integer(i64),
    /// A bulk string, or nil.
    Value(Option<Bytes>),
    /// A command error (Redis text, e.g. `WRONGTYPE ...`); nothing is written.
    Error(String),
}

/// One resolved key write: the value to store, or `None` to delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Effect {
    /// The key written.
    pub key: Bytes,
    /// The new value, or `None` for a delete.
    pub value: Option<Bytes>,
}

/// Read access to a replica's current data, as evaluation needs it.
pub trait ReadView {
    /// The error a read can fail with (storage errors).
    type Error;
    /// The current value of `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Bytes>, Self::Error>;
}

/// Evaluates a write op: its outcome and the effects committing it applies.
pub fn eval_write<V: ReadView>(op: &WriteOp, view: &V) -> Result<(Outcome, Vec<Effect>), V::Error> {
    match op {
        WriteOp::Set { key, value } => Ok((
            Outcome::Ok,
            vec![Effect {
                key: key.clone(),
                value: Some(value.clone()),
            }],
        )),
        WriteOp::Del { keys } => {
            let mut effects: Vec<Effect> = Vec::with_capacity(keys.len());
            for key in keys {
                if effects.iter().any(|e| e.key == key) {
                    continue;
                }
                if view.get(key)?.is_some() {
                    effects.push(Effect {
                        key: key.clone(),
                        value: None,
                    });
                }
            }
            let count = i64::try_from(effects.len()).unwrap_or(i64::MAX);
            Ok((Outcome::Integer(count), effects))
        }
    }
}

/// Evaluates a read op against the view.
pub fn eval_read<V: ReadView>(op: &ReadOp, view: &V) -> Result<Outcome, V::Error> {
    match op {
        ReadOp::Get { key } => Ok(Outcome::Value(view.get(key)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::convert::Infallible;

    struct MapView(HashMap<Bytes, Bytes>);
    impl ReadView for MapView {
        type Error = Infallible;
        fn get(&self, key: &[u8]) -> Result<Option<Bytes>, Infallible> {
            Ok(self.0.get(key).cloned())
        }
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn del_counts_existing_keys_once() {
        let view = MapView(HashMap::from([(b("a"), b("1")), (b("b"), b("2"))]));
        let op = WriteOp::Del {
            keys: vec![b("a"), b("a"), b("c"), b("b")],
        };
        let (outcome, effects) = eval_write(&op, &view).unwrap();
        assert_eq!(outcome, Outcome::Integer(2));
        assert_eq!(effects.len(), 2);
        assert!(effects.iter().all(|e| e.value.is_none()));
    }

    #[test]
    fn set_writes_the_value_and_get_reads_it() {
        let view = MapView(HashMap::from([(b("k"), b("v"))]));
        let (outcome, effects) = eval_write(
            &WriteOp::Set {
                key: b("k"),
                value: b("w"),
            },
            &view,
        )
        .unwrap();
        assert_eq!(outcome, Outcome::Ok);
        assert_eq!(effects[0].value, Some(b("w")));
        let read = eval_read(&ReadOp::Get { key: b("k") }, &view).unwrap();
        assert_eq!(read, Outcome::Value(Some(b("v"))));
        let missing = eval_read(&ReadOp::Get { key: b("x") }, &view).unwrap();
        assert_eq!(missing, Outcome::Value(None));
    }
}
