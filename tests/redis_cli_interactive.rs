//! Interactive `redis-cli` against a real cluster, as a person uses it:
//! redis-cli runs in a detached tmux session of fixed size, the test types
//! with `tmux send-keys` and reads the screen with `tmux capture-pane`,
//! polling with a deadline. Checked: the prompt `127.0.0.1:PORT>`, the
//! argument hint redis-cli shows while a command is typed (from its
//! built-in help, which it uses because we refuse COMMAND DOCS), replies
//! formatted as redis-cli formats Redis's (`OK`, `"value"`, `(integer) 1`,
//! `(nil)`, numbered arrays, `(error) ERR ...`), the `(TX)` prompt inside
//! MULTI, INFO printed as text, and `--raw` output.
//!
//! Each tmux session runs on a tmux server of its own (`tmux -S SOCKET`,
//! the socket in a temporary directory) so nothing else's tmux is
//! touched, and is killed by its name when the test ends. CI installs tmux and redis-tools; where
//! either is missing the test fails and says so.

mod common;

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use common::{Cluster, Opts, have_program};

/// How long one reply may take to appear on the screen.
const SCREEN_TIMEOUT: Duration = Duration::from_secs(15);

/// A program in a detached tmux session of its own, on a tmux server of
/// its own whose socket lives in a temporary directory.
struct Tmux {
    name: String,
    dir: tempfile::TempDir,
}

impl Tmux {
    /// Starts `program` (with `TERM` set, as a terminal would) in a new
    /// 160x50 session named uniquely for this process and test.
    fn start(program: &[&str]) -> Tmux {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "kvstore-cli-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = tempfile::Builder::new()
            .prefix("kvstore-tmux-")
            .tempdir()
            .expect("create a directory for the tmux socket");
        let tmux = Tmux { name, dir };
        let mut args = vec![
            "new-session",
            "-d",
            "-s",
            &tmux.name,
            "-x",
            "160",
            "-y",
            "50",
        ];
        args.extend(["env", "TERM=xterm-256color"]);
        args.extend(program);
        tmux.run(&args);
        tmux
    }

    /// Runs a tmux command on this session's own server; panics on failure.
    fn run(&self, args: &[&str]) -> Output {
        let out = self.try_run(args);
        assert!(
            out.status.success(),
            "tmux {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn try_run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(self.dir.path().join("socket"))
            .args(args)
            // tmux itself needs a terminal type, even detached.
            .env("TERM", "xterm-256color")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run tmux {args:?}: {e}"))
    }

    /// Types `text` literally, without pressing Enter.
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", &self.name, "-l", text]);
    }

    /// Presses one key (tmux key names: `Enter`, `C-u`, ...).
    fn press(&self, key: &str) {
        self.run(&["send-keys", "-t", &self.name, key]);
    }

    /// The whole screen and scrollback down to the last line written,
    /// wrapped lines joined, each line without trailing spaces.
    fn screen(&self) -> Vec<String> {
        let out = self.run(&["capture-pane", "-p", "-J", "-S", "-", "-t", &self.name]);
        let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim_end().to_owned())
            .collect();
        // The unused rest of the window.
        while lines.last().is_some_and(String::is_empty) {
            lines.pop();
        }
        lines
    }

    /// Polls the screen until `ok` holds for it; panics with the screen
    /// after [`SCREEN_TIMEOUT`].
    #[track_caller]
    fn wait_for(&self, what: &str, ok: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + SCREEN_TIMEOUT;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen:\n{}",
                screen.join("\n")
            );
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// Types `command` at `prompt`, presses Enter, and waits until the
    /// screen shows exactly `reply` under it followed by `next_prompt`.
    #[track_caller]
    fn exchange(&self, prompt: &str, command: &str, reply: &[&str], next_prompt: &str) {
        self.type_text(command);
        self.press("Enter");
        let typed = format!("{prompt} {command}");
        self.wait_for(&format!("{typed:?} answered {reply:?}"), |screen| {
            let Some(at) = screen.iter().rposition(|l| *l == typed) else {
                return false;
            };
            let after = &screen[at + 1..];
            after.len() > reply.len()
                && after.iter().zip(reply).all(|(got, want)| got == want)
                && after[reply.len()] == next_prompt
        });
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Our own session, by its name; its server exits with it.
        let _ = self.try_run(&["kill-session", "-t", &self.name]);
    }
}

fn require_tools() {
    for (program, package) in [("tmux", "tmux"), ("redis-cli", "redis-tools")] {
        assert!(
            have_program(program),
            "this test needs {program} (apt-get install {package}; .ci/run installs it)"
        );
    }
}

#[test]
fn interactive_redis_cli() {
    require_tools();
    let c = Cluster::start(3, Opts::redis());
    let port = c.coordinator_addr().port().to_string();
    let prompt = format!("127.0.0.1:{port}>");
    let tx = format!("127.0.0.1:{port}(TX)>");
    let cli = Tmux::start(&["redis-cli", "-p", &port]);
    cli.wait_for(&format!("the prompt {prompt:?}"), |s| {
        s.first().is_some_and(|l| *l == prompt)
    });

    // A hint appears while a command is typed, and goes with the line.
    cli.type_text("set ");
    let hinted = format!("{prompt} set key value [NX|XX]");
    cli.wait_for("the hint for SET", |s| {
        s.iter().any(|l| l.starts_with(&hinted))
    });
    cli.press("C-u");
    cli.wait_for("the line to clear", |s| {
        s.last().is_some_and(|l| *l == prompt)
    });

    let ex = |command: &str, reply: &[&str]| cli.exchange(&prompt, command, reply, &prompt);
    ex("set greeting hello", &["OK"]);
    ex("get greeting", &["\"hello\""]);
    ex("incr counter", &["(integer) 1"]);
    ex("get missing", &["(nil)"]);
    ex("mget greeting missing", &["1) \"hello\"", "2) (nil)"]);
    ex("set \"two words\" \"a b\"", &["OK"]);
    ex("get \"two words\"", &["\"a b\""]);
    ex("exists greeting missing \"two words\"", &["(integer) 2"]);
    ex(
        "incr greeting",
        &["(error) ERR value is not an integer or out of range"],
    );
    ex(
        "foo bar",
        &["(error) ERR unknown command 'foo', with args beginning with: 'bar'"],
    );
    ex(
        "hello 3 foo",
        &["(error) ERR Syntax error in HELLO option 'foo'"],
    );
    ex(
        "info keyspace",
        &["# Keyspace", "db0:keys=3,expires=0,avg_ttl=0"],
    );

    // MULTI: the prompt says (TX) until EXEC.
    cli.exchange(&prompt, "multi", &["OK"], &tx);
    cli.exchange(&tx, "set t 1", &["QUEUED"], &tx);
    cli.exchange(&tx, "incr t", &["QUEUED"], &tx);
    cli.exchange(&tx, "exec", &["1) OK", "2) (integer) 2"], &prompt);
    cli.exchange(&prompt, "multi", &["OK"], &tx);
    cli.exchange(&tx, "incr t", &["QUEUED"], &tx);
    cli.exchange(&tx, "discard", &["OK"], &prompt);
    ex("get t", &["\"2\""]);

    // --raw prints values bare, errors without "(error)".
    let raw = Tmux::start(&["redis-cli", "-p", &port, "--raw"]);
    raw.wait_for("the --raw prompt", |s| {
        s.first().is_some_and(|l| *l == prompt)
    });
    let ex = |command: &str, reply: &[&str]| raw.exchange(&prompt, command, reply, &prompt);
    ex("get greeting", &["hello"]);
    ex("incr counter", &["2"]);
    ex("get missing", &[""]);
    ex("mget greeting missing", &["hello", ""]);
    ex("get \"two words\"", &["a b"]);
    ex(
        "incr greeting",
        &["ERR value is not an integer or out of range", ""],
    );
}
