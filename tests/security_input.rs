//! Bad input is an error, never a crash or a hang (issue 22, section 7): a config file whose text
//! is multibyte where the reader looks at bytes, a YAML "billion laughs", a YAML nested 100,000
//! levels deep. Each is `ao status` (and `ao doctor`) run as a child process: exit code 2, a
//! message that says where and what, no panic, bounded time and memory.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ao_test_support::{ao_bin, Listener};

/// How a child `ao` ended.
struct Run {
    /// Its exit code; `None` when a signal ended it (a crash, or the test's deadline).
    code: Option<i32>,
    /// Its standard error.
    stderr: String,
    /// Its standard output.
    stdout: String,
    /// How long it ran.
    took: Duration,
}

/// The most writable memory (heap, stacks, written data) a child `ao` may have.
const MEMORY_CAP: u64 = 50 << 20;

/// Runs `ao <args>` with a config in `dir` and a private home, and kills it by pid at `deadline`.
/// Its writable memory is capped at [`MEMORY_CAP`] (`RLIMIT_DATA`): an `ao` that needs more fails
/// to allocate and aborts, which the exit code shows, and the code before the fix fails fast
/// instead of taking the machine's memory. (The peak RSS that `wait4` reports cannot tell: a
/// child's starts at that of this test process, which it was forked from.)
fn run_ao(dir: &Path, args: &[&str], deadline: Duration) -> Run {
    let stderr_path = dir.join("stderr");
    let stderr = std::fs::File::create(&stderr_path).expect("stderr file");
    let stdout_path = dir.join("stdout");
    let stdout = std::fs::File::create(&stdout_path).expect("stdout file");
    let mut cmd = Command::new(ao_bin());
    cmd.args(args)
        .current_dir(dir)
        .env("HOME", dir)
        .env("AO_HOME", dir.join("ao"))
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env("NO_COLOR", "1")
        .env_remove("AO_CONFIG")
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            let cap = libc::rlimit {
                rlim_cur: MEMORY_CAP,
                rlim_max: MEMORY_CAP,
            };
            if libc::setrlimit(libc::RLIMIT_DATA, &cap) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("run ao");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for ao") {
            break status;
        }
        if started.elapsed() > deadline {
            // By its pid: it is this test's own child, not yet reaped.
            let _ = child.kill();
            break child.wait().expect("wait for ao");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run {
        code: status.code(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
        stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        took: started.elapsed(),
    }
}

/// Writes `text` as the config of a test whose home is `dir`, in the person's own config
/// directory (`$XDG_CONFIG_HOME/ao/`), where a config may use every key; returns its path.
fn own_config(dir: &Path, text: &str) -> PathBuf {
    let file = dir.join("xdg/ao/agent-orchestrator.yaml");
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    std::fs::write(&file, text).expect("write config");
    file
}

/// Asserts that `ao status` on `text` fails as a user's mistake within the bounds (time, and
/// [`MEMORY_CAP`]), with a
/// message that contains `expected`.
fn assert_refused_in_bounds(name: &str, text: &str, expected: &str) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("bad.yaml");
    std::fs::write(&file, text).expect("write config");
    let run = run_ao(
        tmp.path(),
        &["status", "--config", "bad.yaml"],
        Duration::from_secs(20),
    );
    assert_eq!(
        run.code,
        Some(2),
        "{name}: ao status exited {:?} after {:?}:\n{}",
        run.code,
        run.took,
        run.stderr
    );
    assert!(run.stderr.contains(expected), "{name}: {}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
    // A debug build on a loaded machine: generous, and still far below the old code's hang.
    assert!(
        run.took < Duration::from_secs(5),
        "{name}: took {:?}",
        run.took
    );
}

#[test]
fn a_billion_laughs_is_refused_quickly_and_small() {
    // 9 aliases of 9 aliases ... nine levels: 9^9 (387 million) strings from a few hundred bytes.
    let mut text = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
    for pair in names.windows(2) {
        let alias = format!("*{}", pair[0]);
        text.push_str(&format!(
            "{}: &{} [{}]\n",
            pair[1],
            pair[1],
            [alias.as_str(); 9].join(",")
        ));
    }
    assert!(text.len() < 400, "{}", text.len());
    assert_refused_in_bounds(
        "billion laughs",
        &text,
        "bad.yaml:5:14: this alias would make the document larger than",
    );
}

#[test]
fn a_document_nested_100000_deep_is_refused_quickly_and_small() {
    let block = "- ".repeat(100_000) + "x\n";
    assert_refused_in_bounds(
        "block nesting",
        &block,
        "bad.yaml:1:257: this list or map nests deeper than 128 levels",
    );
    let flow = "[".repeat(100_000) + &"]".repeat(100_000) + "\n";
    assert_refused_in_bounds(
        "flow nesting",
        &flow,
        "bad.yaml:1:256: this list or map nests deeper than 128 levels",
    );
}

#[test]
fn multibyte_text_where_the_reader_looks_at_bytes_is_an_error_not_a_panic() {
    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(tmp.path().join("p")).expect("mkdir");
    // The webhook's scheme ends inside "é"; every other string field holds multibyte text too.
    let text = "\
readyThresholdMs: \"日本\"
notifications:
  - on: [ready, \"😀\"]
    webhook: \"http:/é\"
  - on: [\"\u{202e}\"]
    command: [\"日本\", \"😀\"]
defaults: {runtime: \"é\", agent: \"日本\", workspace: \"😀\"}
projects:
  - name: \"é日本😀\"
    path: \"../../p/\u{202e}\"
    sessionPrefix: \"😀\"
    defaultBranch: \"日本\"
    agentConfig: {model: \"é/😀\", prompt: \"\u{202e}\", permission: {\"é\": \"日本\"}}
    server: {url: \"http:/é\", passwordEnv: \"😀\"}
";
    let file = own_config(tmp.path(), text);
    let file = file.to_str().expect("a UTF-8 path");
    for args in [&["status"][..], &["doctor"]] {
        let run = run_ao(
            tmp.path(),
            &[&["--config", file][..], args].concat(),
            Duration::from_secs(60),
        );
        // `ao doctor` exits 1 when a check fails (the config's does), `ao status` 2.
        assert!(
            matches!(run.code, Some(0..=2)),
            "ao {args:?} exited {:?}:\n{}",
            run.code,
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        // `ao doctor` reports on standard output, `ao status` on standard error.
        let said = run.stderr + &run.stdout;
        assert!(
            said.contains("agent-orchestrator.yaml:4:14: webhook \"http:/é\" is not an http:// or https:// URL"),
            "ao {args:?}: {said}"
        );
    }
}

#[test]
fn a_webhook_redirected_to_another_origin_sends_it_nothing() {
    // Two ports of 127.0.0.1 are two origins: the webhook's answers 307 to the other.
    let second =
        Listener::start("HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    let elsewhere = format!("http://127.0.0.1:{}/stolen", second.port);
    let redirect = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: {elsewhere}\r\ncontent-length: 0\r\n\
         connection: close\r\n\r\n"
    );
    let first = Listener::start(Box::leak(redirect.into_boxed_str()));
    let url = format!("http://127.0.0.1:{}/ao", first.port);

    let tmp = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir(tmp.path().join("p")).expect("mkdir");
    let text = format!(
        "notifications:\n  - on: [ready]\n    webhook: {url}\nprojects:\n  - name: demo\n    \
         path: {}\n    workspace: none\n    runtime: process\n",
        tmp.path().join("p").display()
    );
    let file = own_config(tmp.path(), &text);
    let file = file.to_str().expect("a UTF-8 path");
    let run = run_ao(
        tmp.path(),
        &["--config", file, "notify", "test"],
        Duration::from_secs(60),
    );
    assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains(&format!("FAIL webhook {url}"))
            && run.stdout.contains(&format!(
                "307 Temporary Redirect to \"{elsewhere}\", which ao does not follow"
            )),
        "{}",
        run.stdout
    );
    first.wait_for("POST /ao");
    // ao has exited: anything it sent the second listener has come (given a moment to be read).
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        second.received(),
        Vec::<String>::new(),
        "the redirect was followed to {elsewhere}"
    );
}
