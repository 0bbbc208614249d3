//! A repository's config cannot run commands or read secrets until the person trusts it: a cloned
//! repository ships an `agent-orchestrator.yaml` with a notifier command, a webhook, a server
//! whose password comes from a file and one whose password comes from the environment, and a
//! `host`. `ao doctor`, `ao status`, `ao notify test` and `ao spawn` there run nothing, read
//! nothing and send nothing, and say which line and which `ao trust` command; after `ao trust` each
//! works, and after `ao trust --revoke` each is refused again. `ao init` writes a trusted file.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use ao_test_support::{git, Listener, Scenario, World};

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// The cloned repository: its config and what it points at.
struct Clone {
    dir: PathBuf,
    file: PathBuf,
    marker: PathBuf,
    hook: Listener,
    file_server: Listener,
    env_server: Listener,
    ssh: Listener,
}

impl Clone {
    fn new(w: &World) -> Clone {
        let dir = w.root().join("clone");
        std::fs::create_dir_all(&dir).expect("mkdir");
        git(&dir, &["init", "-q", "-b", "main"]);
        let dir = dir.canonicalize().expect("canonical");
        let secret = w.root().join("secret");
        std::fs::write(&secret, "file-secret\n").expect("write secret");
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let unauthorized =
            "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let clone = Clone {
            file: dir.join("agent-orchestrator.yaml"),
            marker: w.root().join("PWNED"),
            hook: Listener::start(
                "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            ),
            file_server: Listener::start(unauthorized),
            env_server: Listener::start(unauthorized),
            ssh: Listener::start(""),
            dir,
        };
        let text = format!(
            "notifications:
  - on: [waiting_input]
    command: [touch, {marker}]
  - on: [waiting_input]
    webhook: http://127.0.0.1:{hook}/ao
projects:
  - name: here
    path: .
    workspace: none
  - name: api
    path: /srv/api
    server:
      url: http://127.0.0.1:{file_server}
      passwordFile: {secret}
  - name: envy
    path: /srv/envy
    server:
      url: http://127.0.0.1:{env_server}
      passwordEnv: AO_TEST_SERVER_PASSWORD
  - name: web
    path: ~/code/web
    host: ssh://127.0.0.1:{ssh}
",
            marker = clone.marker.display(),
            hook = clone.hook.port,
            file_server = clone.file_server.port,
            env_server = clone.env_server.port,
            ssh = clone.ssh.port,
            secret = secret.display(),
        );
        std::fs::write(&clone.file, text).expect("write the clone's config");
        clone
    }

    /// `ao ARGS` in the clone, which finds its config by searching upward, as a person's would.
    fn ao(&self, w: &World, args: &[&str]) -> Output {
        let mut cmd: Command = w.ao_command(args);
        cmd.current_dir(&self.dir)
            .env_remove("AO_CONFIG")
            .env("AO_TEST_SERVER_PASSWORD", "env-secret")
            .stdin(Stdio::null());
        cmd.output().expect("run ao")
    }

    /// Where `key` is written: `file:line:column` of its value.
    fn place(&self, key: &str) -> String {
        let text = std::fs::read_to_string(&self.file).expect("read config");
        let (i, line) = text
            .lines()
            .enumerate()
            .find(|(_, l)| l.trim_start().starts_with(&format!("{key}:")))
            .expect("the key is in the config");
        let column = line.find(':').expect("a colon") + 3;
        format!("{}:{}:{column}", self.file.display(), i + 1)
    }

    fn trust_command(&self) -> String {
        format!("ao trust {}", self.file.display())
    }

    /// Nothing was run, read or sent.
    fn assert_untouched(&self) {
        assert!(!self.marker.exists(), "the notifier command ran");
        for (what, l) in [
            ("the webhook", &self.hook),
            ("the server with passwordFile", &self.file_server),
            ("the server with passwordEnv", &self.env_server),
            ("the ssh host", &self.ssh),
        ] {
            assert_eq!(l.received(), Vec::<String>::new(), "{what} was reached");
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_refused(clone: &Clone, out: &str, keys: &[&str]) {
    for key in keys {
        let place = clone.place(key);
        assert!(
            out.contains(&format!("{place}: `")),
            "the refusal names {place}:\n{out}"
        );
    }
    assert!(out.contains(&clone.trust_command()), "{out}");
}

#[test]
fn an_untrusted_config_runs_reads_and_sends_nothing_until_trusted() {
    let w = World::new(Scenario::new());
    let clone = Clone::new(&w);

    // ao doctor: the file loads, its trust is shown, and neither server is asked.
    let out = clone.ao(&w, &["doctor"]);
    let doctor = text(&out);
    assert!(
        doctor.contains(&format!(
            "warn trust: {}: not trusted, so these keys are refused: command (line 3), webhook \
             (line 5)",
            clone.file.display()
        )),
        "{doctor}"
    );
    assert!(doctor.contains(&clone.trust_command()), "{doctor}");
    assert_refused(&clone, &doctor, &["passwordFile", "passwordEnv"]);
    clone.assert_untouched();

    // ao status: works (the file's other keys are fine), touches nothing.
    let out = clone.ao(&w, &["status", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    clone.assert_untouched();

    // ao notify test: both notifiers refused, exit 2, nothing run or sent.
    let out = clone.ao(&w, &["notify", "test"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_refused(&clone, &text(&out), &["command", "webhook"]);
    clone.assert_untouched();

    // ao spawn on the host: refused before ssh runs, exit 2, no session left behind.
    let out = clone.ao(&w, &["spawn", "web", "hello"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_refused(&clone, &text(&out), &["host"]);
    let out = clone.ao(&w, &["status", "--json"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    clone.assert_untouched();

    // The person trusts it: each key now works.
    let out = clone.ao(&w, &["trust"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("trusted: {}", clone.file.display())),
        "{}",
        text(&out)
    );
    let out = clone.ao(&w, &["notify", "test"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(clone.marker.exists(), "the notifier command did not run");
    clone.hook.wait_for("POST /ao");

    let doctor = text(&clone.ao(&w, &["doctor"]));
    assert!(doctor.contains("ok   trust:"), "{doctor}");
    clone
        .file_server
        .wait_for(&basic("opencode", "file-secret"));
    clone.env_server.wait_for(&basic("opencode", "env-secret"));

    let out = clone.ao(&w, &["spawn", "web", "hello"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    clone.ssh.wait_for("SSH-2.0");

    // Trusted, but another user could change it (everyone may write it): refused until it is
    // the person's alone again.
    std::fs::remove_file(&clone.marker).expect("remove marker");
    let chmod = |mode| {
        std::fs::set_permissions(&clone.file, std::fs::Permissions::from_mode(mode)).expect("chmod")
    };
    chmod(0o666);
    let out = clone.ao(&w, &["notify", "test"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("other users can change it"),
        "{}",
        text(&out)
    );
    assert!(text(&out).contains("chmod go-w"), "{}", text(&out));
    assert!(
        !clone.marker.exists(),
        "a file others can change ran its notifier"
    );
    chmod(0o644);
    let out = clone.ao(&w, &["notify", "test"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(clone.marker.exists(), "the notifier command did not run");

    // Taken back: refused again.
    std::fs::remove_file(&clone.marker).expect("remove marker");
    let out = clone.ao(&w, &["trust", "--revoke"]);
    assert!(
        text(&out).contains(&format!("no longer trusted: {}", clone.file.display())),
        "{}",
        text(&out)
    );
    let out = clone.ao(&w, &["notify", "test"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        !clone.marker.exists(),
        "the notifier command ran after --revoke"
    );
}

#[test]
fn ao_init_writes_a_file_that_is_trusted() {
    let w = World::new(Scenario::new());
    let repo = w.root().join("mine");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "init"]);
    let run = |args: &[&str]| {
        w.ao_command(args)
            .current_dir(&repo)
            .env_remove("AO_CONFIG")
            .env("GIT_CEILING_DIRECTORIES", w.root())
            .stdin(Stdio::null())
            .output()
            .expect("run ao")
    };
    let out = run(&["init"]);
    assert!(out.status.success(), "{}", text(&out));
    // The person adds a notifier to their own file: it runs without `ao trust`.
    let file = repo.join("agent-orchestrator.yaml");
    let marker = w.root().join("mine-notified");
    let mut config = std::fs::read_to_string(&file).expect("read");
    config.push_str(&format!(
        "notifications:\n  - on: [waiting_input]\n    command: [touch, {}]\n",
        marker.display()
    ));
    std::fs::write(&file, config).expect("write");
    let out = run(&["notify", "test"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(marker.exists());
    assert!(text(&run(&["doctor"])).contains("trusted (recorded by `ao trust` or `ao init`)"));
}

/// A config under the person's own config directory needs no `ao trust`.
#[test]
fn a_config_under_the_config_home_is_trusted() {
    let w = World::new(Scenario::new());
    let config_home = w.root().join("config-home");
    let file = config_home.join("ao/agent-orchestrator.yaml");
    std::fs::create_dir_all(file.parent().expect("parent")).expect("mkdir");
    let marker = w.root().join("own-notified");
    std::fs::write(
        &file,
        format!(
            "notifications:\n  - on: [waiting_input]\n    command: [touch, {}]\nprojects: {{}}\n",
            marker.display()
        ),
    )
    .expect("write");
    let out = w
        .ao_command(&["notify", "test"])
        .env("AO_CONFIG", &file)
        .env("XDG_CONFIG_HOME", &config_home)
        .stdin(Stdio::null())
        .output()
        .expect("run ao");
    assert!(out.status.success(), "{}", text(&out));
    assert!(marker.exists());
}
