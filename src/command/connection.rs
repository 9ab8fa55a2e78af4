//! Connection and server commands answered by the session itself: PING,
//! ECHO, QUIT, SELECT, HELLO, CLIENT, and (in [`super::server`]) COMMAND,
//! CONFIG, INFO and TIME. They read and change only the client's own state.
//!
//! HELLO is parsed here ([`parse_hello`]) and run here ([`hello`]), with
//! the session's authentication state lent to it, since its AUTH option
//! authenticates the connection.

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
    /// `OBJECT HELP`
    ObjectHelp,
    /// A command whose answer is a fixed status (`FUNCTION FLUSH`: `+OK`).
    Fixed(&'static str),
    /// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`: answered by the session, which
    /// owns the blocked clients (`crate::blocked`).
    ClientUnblock {
        /// The client's id.
        client: u64,
        /// ERROR: it gets `-UNBLOCKED`, else its timeout's reply.
        error: bool,
    },
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
        "client" => match args.get(1) {
            // Redis's table lets any count from 3 through; its code then
            // refuses more than 4 as a subcommand syntax error.
            Some(sub) if sub.eq_ignore_ascii_case(b"unblock") && args.len() > 4 => {
                return Err(CommandError::Other(format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
                    String::from_utf8_lossy(sub)
                )));
            }
            Some(sub) if sub.eq_ignore_ascii_case(b"unblock") && args.len() > 2 => {
                parse_client_unblock(args)?
            }
            _ => SessionCommand::Client(rest()),
        },
        "command" => SessionCommand::Command(rest()),
        "config" => SessionCommand::Config(rest()),
        "info" => SessionCommand::Info(super::server::InfoRequest::parse(&args[1..])),
        "time" => SessionCommand::Time,
        _ => return Err(super::unknown(args)),
    })
}

/// A parsed HELLO, from the one HELLO parser ([`parse_hello`]); [`hello`]
/// runs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Hello {
    /// Requested protocol version: 2 or 3 (others are refused by the parser).
    pub protover: Option<i64>,
    /// The options in the order given: Redis acts on each in turn.
    pub options: Vec<HelloOption>,
    /// The syntax error that ended the options, if one did: Redis acts on
    /// the options before it, then replies with it.
    pub syntax_error: Option<String>,
}

/// One HELLO option.
#[derive(Clone, PartialEq)]
pub enum HelloOption {
    /// `AUTH username password`.
    Auth(Bytes, Bytes),
    /// `SETNAME clientname` (empty clears the name).
    SetName(Bytes),
}

impl fmt::Debug for HelloOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HelloOption::Auth(user, _) => write!(f, "Auth({user:?}, <redacted>)"),
            HelloOption::SetName(name) => write!(f, "SetName({name:?})"),
        }
    }
}

/// Redis's reply to a client name with spaces or special characters.
pub const BAD_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";

/// Redis's reply to HELLO without AUTH before authenticating.
pub const NOAUTH_HELLO_ERROR: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";

/// Whether `name` is a valid client name (printable ASCII, no spaces).
fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|b| (b'!'..=b'~').contains(b))
}

/// Parses `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
/// A bad version is refused here (`Err`: nothing happens, as in Redis);
/// options are read up to the first unknown or incomplete one, whose
/// error (quoting the option as sent, up to a NUL byte) [`hello`] gives
/// after acting on the options before it.
pub fn parse_hello(args: &[Bytes]) -> Result<Hello, CommandError> {
    let mut hello = Hello {
        protover: None,
        options: Vec::new(),
        syntax_error: None,
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
    let mut rest = args.iter().skip(2);
    while let Some(option) = rest.next() {
        let more = rest.len();
        let name = super::option_name(option);
        if name == "auth" && more >= 2 {
            let user = rest.next().cloned().unwrap_or_default();
            let password = rest.next().cloned().unwrap_or_default();
            hello.options.push(HelloOption::Auth(user, password));
        } else if name == "setname" && more >= 1 {
            let client_name = rest.next().cloned().unwrap_or_default();
            hello.options.push(HelloOption::SetName(client_name));
        } else {
            let shown = option.split(|b| *b == 0).next().unwrap_or_default();
            hello.syntax_error = Some(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(shown)
            ));
            break;
        }
    }
    Ok(hello)
}

/// A connection's authentication, as HELLO's AUTH option uses it.
pub trait Credentials {
    /// Checks `username`/`password`: `Ok` authenticates the client from now
    /// on; `Err` is the error reply.
    fn authenticate(&mut self, username: &[u8], password: &[u8]) -> Result<(), Reply>;
    /// Whether the client is authenticated.
    fn authenticated(&self) -> bool;
}

/// Runs HELLO as Redis 7.0 does: each option in turn (AUTH authenticates,
/// SETNAME checks and sets the name), stopping with the error of the first
/// that fails — what the options before it did stays done — then the
/// syntax error that ended the options, then NOAUTH unless the client is
/// authenticated by now; only then the protocol switch and HELLO's map.
pub fn hello(
    hello: Hello,
    client: &mut ClientState,
    credentials: &mut dyn Credentials,
    facts: &dyn ServerFacts,
) -> Reply {
    for option in hello.options {
        match option {
            HelloOption::Auth(user, password) => {
                if let Err(reply) = credentials.authenticate(&user, &password) {
                    return reply;
                }
            }
            HelloOption::SetName(name) => {
                if !valid_client_name(&name) {
                    return Reply::error(BAD_CLIENT_NAME);
                }
                client.name = (!name.is_empty()).then_some(name);
            }
        }
    }
    if let Some(e) = hello.syntax_error {
        return Reply::Error(e);
    }
    if !credentials.authenticated() {
        return Reply::error(NOAUTH_HELLO_ERROR);
    }
    match hello.protover {
        Some(3) => client.protocol = Protocol::Resp3,
        Some(_) => client.protocol = Protocol::Resp2,
        None => {}
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

impl ClientState {
    /// A client that just connected: no name, RESP2.
    pub fn new(id: u64) -> ClientState {
        ClientState {
            id,
            name: None,
            protocol: Protocol::Resp2,
            closing: false,
        }
    }
}

/// What the session tells the client about the server it reached.
pub trait ServerFacts {
    /// `master` for the coordinator, `replica` for a participant.
    fn role(&self) -> &'static str;
    /// CONFIG GET values we expose: (name, value).
    fn config_values(&self) -> Vec<(&'static str, String)>;
    /// What CONFIG SET changed on this node.
    fn runtime_config(&self) -> &super::server::RuntimeConfig;
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
        SessionCommand::Client(args) => client_command(&args, client),
        SessionCommand::Command(args) => super::server::command_command(&args),
        SessionCommand::Config(args) => super::server::config_command(&args, facts),
        SessionCommand::ObjectHelp => super::keyspace::object_help(),
        SessionCommand::Fixed(status) => Reply::Simple(status.into()),
        // The session answers it; without one, no client is blocked.
        SessionCommand::ClientUnblock { .. } => Reply::Integer(0),
        SessionCommand::Info(request) => {
            // Without the key count, which only the session can fetch.
            super::server::info_reply(&request, &facts.node_info(), None)
        }
        SessionCommand::Time => super::server::time_reply(std::time::SystemTime::now()),
    }
}

/// `CLIENT UNBLOCK id [TIMEOUT|ERROR]`, checked in Redis 7.0's order (the
/// reason before the id). An id no client can have (negative) is kept as
/// one no client has.
fn parse_client_unblock(args: &[Bytes]) -> Result<SessionCommand, CommandError> {
    let error = match args.get(3).map(|r| super::option_name(r)).as_deref() {
        None | Some("timeout") => false,
        Some("error") => true,
        Some(_) => {
            return Err(CommandError::Other(
                "ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR".into(),
            ));
        }
    };
    let id = parse_i64(args.get(2).map_or(&b""[..], |b| b))?;
    Ok(SessionCommand::ClientUnblock {
        client: u64::try_from(id).unwrap_or(0),
        error,
    })
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
        ("id" | "getname" | "setname" | "setinfo" | "unblock", _) => wrong(),
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

    /// A connection with no password configured: authenticated, any AUTH
    /// of `default` succeeds, others fail.
    struct NoPassword;

    impl Credentials for NoPassword {
        fn authenticate(&mut self, user: &[u8], _: &[u8]) -> Result<(), Reply> {
            if user == b"default" {
                Ok(())
            } else {
                Err(Reply::error("WRONGPASS"))
            }
        }
        fn authenticated(&self) -> bool {
            true
        }
    }

    struct Facts;

    impl ServerFacts for Facts {
        fn role(&self) -> &'static str {
            "master"
        }
        fn config_values(&self) -> Vec<(&'static str, String)> {
            Vec::new()
        }
        fn runtime_config(&self) -> &super::super::server::RuntimeConfig {
            super::super::server::RuntimeConfig::process_wide()
        }
        fn node_info(&self) -> super::super::server::NodeInfo {
            Default::default()
        }
    }

    /// Parses and runs HELLO `words` on `client`: the error text, or `Ok`.
    fn run(words: &[&[u8]], client: &mut ClientState) -> Result<(), String> {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w)).collect();
        let parsed = parse_hello(&args).map_err(|e| e.to_string())?;
        match hello(parsed, client, &mut NoPassword, &Facts) {
            Reply::Error(e) => Err(e),
            _ => Ok(()),
        }
    }

    fn client() -> ClientState {
        ClientState::new(1)
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
            (
                &[b"HELLO", b"2", b"AUTH", b"bob", b"x", b"SETNAME", b"a b"],
                "WRONGPASS",
            ),
        ];
        for (words, want) in cases {
            assert_eq!(
                run(words, &mut client()).unwrap_err(),
                *want,
                "for {words:?}"
            );
        }
    }

    /// As redis-server 7.0.15 does: options act in order, and what an
    /// option did stays done when a later one fails.
    #[test]
    fn hello_options_act_in_order() {
        let mut c = client();
        assert!(run(&[b"HELLO", b"3", b"SETNAME", b"x", b"y"], &mut c).is_err());
        assert_eq!(c.name.as_deref(), Some(&b"x"[..]));
        // A failed HELLO switches no protocol.
        assert_eq!(c.protocol, Protocol::Resp2);
        assert!(
            run(
                &[b"HELLO", b"2", b"AUTH", b"bob", b"p", b"SETNAME", b"n"],
                &mut c
            )
            .is_err()
        );
        assert_eq!(c.name.as_deref(), Some(&b"x"[..]));
        run(
            &[
                b"hello", b"3", b"setname", b"app", b"AUTH\0", b"default", b"p",
            ],
            &mut c,
        )
        .unwrap();
        assert_eq!(
            (c.name.as_deref(), c.protocol),
            (Some(&b"app"[..]), Protocol::Resp3)
        );
        run(&[b"HELLO", b"2", b"SETNAME", b""], &mut c).unwrap();
        assert_eq!((c.name.as_deref(), c.protocol), (None, Protocol::Resp2));
        run(&[b"HELLO"], &mut c).unwrap();
        assert_eq!(c.protocol, Protocol::Resp2);
    }

    #[test]
    fn hello_debug_hides_passwords() {
        let args: Vec<Bytes> = ["HELLO", "3", "AUTH", "default", "hunter2"]
            .iter()
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        let shown = format!("{:?}", parse_hello(&args).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
