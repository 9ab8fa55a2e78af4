//! Connection and server commands answered by the session itself: PING,
//! ECHO, QUIT, SELECT, HELLO, CLIENT, and (in [`super::server`]) COMMAND,
//! CONFIG and INFO. They read and change only the client's own state.

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
    /// `HELLO [protover [SETNAME name]]`
    Hello {
        /// Requested protocol version.
        protover: Option<i64>,
        /// SETNAME argument.
        setname: Option<Bytes>,
    },
    /// `CLIENT subcommand [args]`
    Client(Vec<Bytes>),
    /// `COMMAND [subcommand]`
    Command(Vec<Bytes>),
    /// `CONFIG subcommand [args]`
    Config(Vec<Bytes>),
    /// `INFO [section ...]`
    Info(Vec<Bytes>),
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
        "hello" => parse_hello(args)?,
        "client" => SessionCommand::Client(rest()),
        "command" => SessionCommand::Command(rest()),
        "config" => SessionCommand::Config(rest()),
        "info" => SessionCommand::Info(rest()),
        _ => return Err(super::unknown(args)),
    })
}

fn parse_hello(args: &[Bytes]) -> Result<SessionCommand, CommandError> {
    let mut protover = None;
    let mut setname = None;
    let mut rest = args.iter().skip(1);
    if let Some(v) = rest.next() {
        let v = parse_i64(v).map_err(|_| {
            CommandError::Other("ERR Protocol version is not an integer or out of range".into())
        })?;
        protover = Some(v);
    }
    while let Some(opt) = rest.next() {
        let opt = String::from_utf8_lossy(opt).to_ascii_lowercase();
        match (opt.as_str(), rest.next()) {
            ("setname", Some(name)) => setname = Some(name.clone()),
            ("auth", Some(_)) => {
                // AUTH username password: no password is configured, so any
                // credentials are accepted, as Redis does with nopass.
                rest.next();
            }
            _ => {
                return Err(CommandError::Other(format!(
                    "ERR Syntax error in HELLO option '{opt}'"
                )));
            }
        }
    }
    Ok(SessionCommand::Hello { protover, setname })
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
    /// Extra INFO text (membership, positions), already formatted as
    /// `# Section\r\nkey:value\r\n…`.
    fn info_sections(&self) -> String;
    /// CONFIG GET values we expose: (name, value).
    fn config_values(&self) -> Vec<(&'static str, String)>;
    /// Number of connected clients.
    fn connected_clients(&self) -> usize;
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
        SessionCommand::Hello { protover, setname } => {
            match protover {
                None => {}
                Some(2) => client.protocol = Protocol::Resp2,
                Some(3) => client.protocol = Protocol::Resp3,
                Some(_) => return Reply::error("NOPROTO unsupported protocol version"),
            }
            if let Some(name) = setname {
                client.name = Some(name);
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
        SessionCommand::Info(args) => super::server::info_command(&args, client, facts),
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
            if name.iter().any(|b| *b <= b' ' || *b > b'~') {
                return Reply::error(
                    "ERR Client names cannot contain spaces, newlines or special characters.",
                );
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
