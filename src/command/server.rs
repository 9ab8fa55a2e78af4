//! Server introspection commands: COMMAND, CONFIG and INFO — enough of each
//! for redis-cli, redis-benchmark and client libraries to start cleanly.

use bytes::Bytes;

use super::connection::{ClientState, REDIS_VERSION, ServerFacts};
use super::{Command, CommandError};
use crate::resp::reply::Reply;

fn bulk(s: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(s.as_bytes()))
}

/// `DEBUG DIGEST` is the one DEBUG subcommand we have: the others would let
/// a client crash or stall a node on purpose.
pub fn parse_debug(args: &[Bytes]) -> Result<Command, CommandError> {
    let sub = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
    match (sub.as_str(), args.len()) {
        ("digest", 2) => Ok(Command::DebugDigest),
        _ => Err(CommandError::Other(format!(
            "ERR DEBUG {} is not supported (only DEBUG DIGEST)",
            sub.to_ascii_uppercase()
        ))),
    }
}

/// `COMMAND [COUNT|DOCS|INFO ...]`.
pub fn command_command(args: &[Bytes]) -> Reply {
    let sub = args
        .first()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase());
    match sub.as_deref() {
        // No per-command metadata yet: an empty reply makes redis-cli fall
        // back to its built-in help instead of printing an error.
        None | Some("docs") => Reply::Map(Vec::new()),
        Some("count") => Reply::Integer(i64::try_from(super::TABLE.len()).unwrap_or(0)),
        Some("info") => Reply::Array(args.iter().skip(1).map(|_| Reply::NilArray).collect()),
        Some(other) => Reply::error(format!(
            "ERR unknown subcommand '{other}'. Try COMMAND HELP."
        )),
    }
}

/// `CONFIG GET pattern [pattern ...]` (glob patterns); other subcommands
/// are refused because configuration comes from the file.
pub fn config_command(args: &[Bytes], facts: &dyn ServerFacts) -> Reply {
    let sub = args
        .first()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    match sub.as_str() {
        "get" if args.len() >= 2 => {
            let values = facts.config_values();
            let mut out = Vec::new();
            for (name, value) in &values {
                if args[1..].iter().any(|p| glob_match(p, name.as_bytes())) {
                    out.push((bulk(name), bulk(value)));
                }
            }
            Reply::Map(out)
        }
        "get" => Reply::error("ERR wrong number of arguments for 'config|get' command"),
        "set" | "resetstat" | "rewrite" => Reply::error(format!(
            "ERR CONFIG {} is not supported: configuration comes from the config file",
            sub.to_ascii_uppercase()
        )),
        _ => Reply::error(format!(
            "ERR unknown subcommand '{}'. Try CONFIG HELP.",
            String::from_utf8_lossy(args.first().map_or(&b""[..], |b| b))
        )),
    }
}

/// `INFO [section ...]`.
pub fn info_command(args: &[Bytes], _client: &ClientState, facts: &dyn ServerFacts) -> Reply {
    let mut text = format!(
        "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\nos:{}\r\nprocess_id:{}\r\nkvstore_role:{}\r\n\r\n# Clients\r\nconnected_clients:{}\r\n\r\n",
        std::env::consts::OS,
        std::process::id(),
        facts.role(),
        facts.connected_clients(),
    );
    text.push_str(&facts.info_sections());
    let wanted: Vec<String> = args
        .iter()
        .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
        .collect();
    if !wanted.is_empty() && !wanted.iter().any(|w| w == "all" || w == "everything") {
        text = text
            .split("\r\n\r\n")
            .filter(|section| {
                let head = section
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("# ")
                    .to_ascii_lowercase();
                wanted.contains(&head)
            })
            .map(|s| format!("{s}\r\n\r\n"))
            .collect();
    }
    Reply::Verbatim {
        format: *b"txt",
        text: Bytes::from(text),
    }
}

/// Redis-style glob matching (`*`, `?`, `[...]` without ranges' negation
/// subtleties beyond `^`), case-insensitive as CONFIG GET is.
pub fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0usize, 0usize);
    let (mut star, mut mark) = (None, 0usize);
    let lower = |b: u8| b.to_ascii_lowercase();
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some(p);
                mark = n;
                p += 1;
            }
            Some(b'?') => {
                p += 1;
                n += 1;
            }
            Some(&c) if lower(c) == lower(name[n]) => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some(s) => {
                    p = s + 1;
                    mark += 1;
                    n = mark;
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn glob() {
        assert!(glob_match(b"*", b"save"));
        assert!(glob_match(b"SAVE", b"save"));
        assert!(glob_match(b"app*", b"appendonly"));
        assert!(glob_match(b"a?pendonly", b"appendonly"));
        assert!(!glob_match(b"x*", b"save"));
    }
}
