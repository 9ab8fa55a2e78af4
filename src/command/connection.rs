//! Connection and server commands answered by the session itself: PING,
//! ECHO, QUIT, SELECT, HELLO, CLIENT, and (in [`super::server`]) COMMAND,
//! CONFIG, INFO and TIME. They read and change only the client's own state.
//!
//! HELLO is parsed once, here ([`parse_hello`]): the session's
//! authentication gate acts on its `AUTH` option, [`apply`] on the rest.

use std::fmt;

use bytes::Bytes;

use super::{CommandError, parse_i64};
use crate::resp::reply::{Protocol, Reply};

/// A command that never reaches a replica.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionCommand {
    /// `PING [message]`
    Ping(Option<Bytes>),
    /// `ECHO message`
    Echo(Bytes),
    /// QUIT: reply +OK, then close.
    Quit,
    /// SELECT index: only database 0 exists.
    Select(i64),
    /// `HELLO [protover [AUTH username password] [SETNAME clientname]]`
    Hello(Hello),
    /// `CLIENT subcommand [args]`
    Client(Vec<Bytes>),
    /// `COMMAND [subcommand]`
    Command(Vec<Bytes>),
    /// `CONFIG subcommand [args]`
    Config(Vec<Bytes>),
    /// `INFO [section ...]`
    Info(super::server::InfoRequest),
    /// `TIME`
    Time,
}

/// Parses a session command whose name and arity are already checked.
pub fn parse(name: &str, args: &[Bytes]) -> Result<SessionCommand, CommandError> {
    let rest = || args.iter().skip(1).cloned().collect::<Vec<_>>();
    Ok(match name {
        "ping" => match args {
            [_] => SessionCommand::Ping(None),
            [_, msg] => SessionCommand::Ping(Some(msg.clone())),
            _ => return Err(CommandError::Arity("ping".into())),
        },
        "echo" => SessionCommand::Echo(args.get(1).cloned().unwrap_or_default()),
        "quit" => SessionCommand::Quit,
        "select" => SessionCommand::Select(parse_i64(args.get(1).map_or(&b""[..], |b| b))?),
        "hello" => SessionCommand::Hello(parse_hello(args)?),
        "client" => SessionCommand::Client(rest()),
        "command" => SessionCommand::Command(rest()),
        "config" => SessionCommand::Config(rest()),
        "info" => SessionCommand::Info(super::server::InfoRequest::parse(&args[1..])),
        "time" => SessionCommand::Time,
        _ => return Err(super::unknown(args)),
    })
}

/// A parsed HELLO. The one parser of HELLO's options: the session's
/// authentication gate checks [`Hello::auth`] before anything else runs,
/// and [`apply`] then switches the protocol and sets the name.
#[derive(Clone, PartialEq)]
pub struct Hello {
    /// Requested protocol version: 2 or 3 (others are refused by the parser).
    pub protover: Option<i64>,
    /// `AUTH username password`: the last one given, as Redis takes it.
    pub auth: Option<(Bytes, Bytes)>,
    /// `SETNAME clientname`, already checked as CLIENT SETNAME checks it
    /// (empty clears the name).
    pub setname: Option<Bytes>,
}

impl fmt::Debug for Hello {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hello")
            .field("protover", &self.protover)
            .field(
                "auth",
                &self.auth.as_ref().map(|(user, _)| (user, "<redacted>")),
            )
            .field("setname", &self.setname)
            .finish()
    }
}

/// Redis's reply to a client name with spaces or special characters.
pub const BAD_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";

/// Whether `name` is a valid client name (printable ASCII, no spaces).
fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|b| (b'!'..=b'~').contains(b))
}

/// Parses `HELLO [protover [AUTH username password] [SETNAME clientname]]`
/// with Redis 7's checks in its order: the version (an integer, then 2 or
/// 3), then each option in turn (an unknown or incomplete option quotes
/// the option as sent, up to a NUL byte; a bad client name is refused where
/// it stands). Credentials are only parsed here, never checked.
pub fn parse_hello(args: &[Bytes]) -> Result<Hello, CommandError> {
    let mut hello = Hello {
        protover: None,
        auth: None,
        setname: None,
    };
    if let Some(version) = args.get(1) {
        match parse_i64(version) {
            Ok(v @ (2 | 3)) => hello.protover = Some(v),
            Ok(_) => {
                return Err(CommandError::Other(
                    "NOPROTO unsupported protocol version".into(),
                ));
            }
            Err(_) => {
                return Err(CommandError::Other(
                    "ERR Protocol version is not an integer or out of range".into(),
                ));
            }
        }
    }
    let mut j = 2;
    while let Some(option) = args.get(j) {
        let more = args.len() - 1 - j;
        let name = super::option_name(option);
        if name == "auth" && more >= 2 {
            hello.auth = args.get(j + 1).cloned().zip(args.get(j + 2).cloned());
            j += 3;
        } else if name == "setname" && more >= 1 {
            let client_name = args.get(j + 1).cloned().unwrap_or_default();
            if !valid_client_name(&client_name) {
                return Err(CommandError::Other(BAD_CLIENT_NAME.into()));
            }
            hello.setname = Some(client_name);
            j += 2;
        } else {
            let shown = option.split(|b| *b == 0).next().unwrap_or_default();
            return Err(CommandError::Other(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(shown)
            )));
        }
    }
    Ok(hello)
}

/// What a connection remembers about its client.
#[derive(Debug, Clone)]
pub struct ClientState {
    /// Unique id of this connection (CLIENT ID).
    pub id: u64,
    /// CLIENT SETNAME.
    pub name: Option<Bytes>,
    /// RESP2 until HELLO 3.
    pub protocol: Protocol,
    /// Set by QUIT: close after replying.
    pub closing: bool,
}

/// What the session tells the client about the server it reached.
pub trait ServerFacts {
    /// `master` for the coordinator, `replica` for a participant.
    fn role(&self) -> &'static str;
    /// CONFIG GET values we expose: (name, value).
    fn config_values(&self) -> Vec<(&'static str, String)>;
    /// What INFO reports about this node (all but the key count, which
    /// the session fetches from the backend).
    fn node_info(&self) -> super::server::NodeInfo;
}

/// The Redis version we answer like.
pub const REDIS_VERSION: &str = "7.0.15";

/// Executes a session command.
pub fn apply(cmd: SessionCommand, client: &mut ClientState, facts: &dyn ServerFacts) -> Reply {
    match cmd {
        SessionCommand::Ping(None) => Reply::Simple("PONG".into()),
        SessionCommand::Ping(Some(m)) | SessionCommand::Echo(m) => Reply::Bulk(m),
        SessionCommand::Quit => {
            client.closing = true;
            Reply::ok()
        }
        SessionCommand::Select(0) => Reply::ok(),
        SessionCommand::Select(_) => Reply::error("ERR DB index is out of range"),
        SessionCommand::Hello(hello) => {
            // `hello.auth` was checked by the session before this runs.
            match hello.protover {
                Some(3) => client.protocol = Protocol::Resp3,
                Some(_) => client.protocol = Protocol::Resp2,
                None => {}
            }
            if let Some(name) = hello.setname {
                client.name = (!name.is_empty()).then_some(name);
            }
            let proto = if client.protocol == Protocol::Resp3 {
                3
            } else {
                2
            };
            let s = |v: &str| Reply::Bulk(Bytes::copy_from_slice(v.as_bytes()));
            Reply::Map(vec![
                (s("server"), s("redis")),
                (s("version"), s(REDIS_VERSION)),
                (s("proto"), Reply::Integer(proto)),
                (
                    s("id"),
                    Reply::Integer(i64::try_from(client.id).unwrap_or(i64::MAX)),
                ),
                (s("mode"), s("standalone")),
                (s("role"), s(facts.role())),
                (s("modules"), Reply::Array(Vec::new())),
            ])
        }
        SessionCommand::Client(args) => client_command(&args, client),
        SessionCommand::Command(args) => super::server::command_command(&args),
        SessionCommand::Config(args) => super::server::config_command(&args, facts),
        SessionCommand::Info(request) => {
            // Without the key count, which only the session can fetch.
            super::server::info_reply(&request, &facts.node_info(), None)
        }
        SessionCommand::Time => super::server::time_reply(std::time::SystemTime::now()),
    }
}

fn client_command(args: &[Bytes], client: &mut ClientState) -> Reply {
    let sub = args
        .first()
        .map(|s| String::from_utf8_lossy(s).to_ascii_lowercase())
        .unwrap_or_default();
    let wrong = || {
        Reply::error(format!(
            "ERR wrong number of arguments for 'client|{sub}' command"
        ))
    };
    match (sub.as_str(), args.len()) {
        ("id", 1) => Reply::Integer(i64::try_from(client.id).unwrap_or(i64::MAX)),
        ("getname", 1) => client.name.clone().map_or(Reply::Nil, Reply::Bulk),
        ("setname", 2) => {
            let name = args[1].clone();
            if !valid_client_name(&name) {
                return Reply::error(BAD_CLIENT_NAME);
            }
            client.name = (!name.is_empty()).then_some(name);
            Reply::ok()
        }
        ("setinfo", 3) => Reply::ok(),
        ("id" | "getname" | "setname" | "setinfo", _) => wrong(),
        ("info", 1) => Reply::Verbatim {
            format: *b"txt",
            text: Bytes::from(format!(
                "id={} addr=? name={} db=0 resp={}\n",
                client.id,
                client
                    .name
                    .as_ref()
                    .map(|n| String::from_utf8_lossy(n).into_owned())
                    .unwrap_or_default(),
                if client.protocol == Protocol::Resp3 {
                    3
                } else {
                    2
                }
            )),
        },
        _ => Reply::error(format!(
            "ERR unknown subcommand '{}'. Try CLIENT HELP.",
            args.first()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hello(words: &[&[u8]]) -> Result<Hello, String> {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w)).collect();
        parse_hello(&args).map_err(|e| e.to_string())
    }

    /// Every error text checked against redis-server 7.0.15.
    #[test]
    fn hello_errors_as_redis_7() {
        let cases: &[(&[&[u8]], &str)] = &[
            (
                &[b"HELLO", b"x"],
                "ERR Protocol version is not an integer or out of range",
            ),
            (&[b"HELLO", b"4"], "NOPROTO unsupported protocol version"),
            (
                &[b"HELLO", b"1", b"FOO"],
                "NOPROTO unsupported protocol version",
            ),
            (
                &[b"HELLO", b"3", b"FOO"],
                "ERR Syntax error in HELLO option 'FOO'",
            ),
            (
                &[b"HELLO", b"3", b"foo"],
                "ERR Syntax error in HELLO option 'foo'",
            ),
            (
                &[b"HELLO", b"2", b"FOO\0BAR"],
                "ERR Syntax error in HELLO option 'FOO'",
            ),
            (
                &[b"HELLO", b"2", b"auth", b"default"],
                "ERR Syntax error in HELLO option 'auth'",
            ),
            (
                &[b"HELLO", b"2", b"SETNAME"],
                "ERR Syntax error in HELLO option 'SETNAME'",
            ),
            (
                &[b"HELLO", b"3", b"SETNAME", b"x", b"y"],
                "ERR Syntax error in HELLO option 'y'",
            ),
            (
                &[b"HELLO", b"3", b"SETNAME", b"a b", b"FOO"],
                BAD_CLIENT_NAME,
            ),
            (
                &[b"HELLO", b"3", b"FOO", b"SETNAME", b"a b"],
                "ERR Syntax error in HELLO option 'FOO'",
            ),
            (&[b"HELLO", b"2", b"SETNAME", b"a\0b"], BAD_CLIENT_NAME),
        ];
        for (words, want) in cases {
            assert_eq!(hello(words).unwrap_err(), *want, "for {words:?}");
        }
    }

    #[test]
    fn hello_options() {
        let h = hello(&[
            b"hello", b"3", b"AUTH\0", b"u", b"p", b"setname", b"app", b"auth", b"default", b"pw",
        ])
        .unwrap();
        assert_eq!(h.protover, Some(3));
        assert_eq!(h.setname.as_deref(), Some(&b"app"[..]));
        // The last AUTH counts; Debug never shows a password.
        assert_eq!(
            h.auth,
            Some((Bytes::from_static(b"default"), Bytes::from_static(b"pw")))
        );
        assert!(!format!("{h:?}").contains("pw"), "{h:?}");
        let h = hello(&[b"HELLO"]).unwrap();
        assert_eq!((h.protover, h.auth, h.setname), (None, None, None));
    }
}
