//! Sessions on OpenCode servers on other machines, with all traffic on this one: a server the
//! test runs itself on 127.0.0.2 and that ao reaches by URL (`server:`), and a real OpenSSH
//! server on 127.0.0.1 with its own host key, user key and config, through which ao starts the
//! project's server and tunnels to it (`host:`). No password may appear in any process's argv
//! meanwhile: this machine is both ends, so /proc shows both.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use std::time::{Duration, Instant};

use ao_core::runtime::process::ProcessIdentity;
use ao_test_support::remote::{servers_on_host, start_owned, Owned, RemoteServerGuard, Sshd};
use ao_test_support::{
    assert_cost, error_of, opencode_bin, script, shell_quote, tokens, wait_until, workspace_of,
    ArgvScanner, Paused, Scenario, TlsIngress, ToolCall, Turn, World,
};
use serde_json::{json, Value};

fn bash(command: &str) -> Turn {
    Turn::tool_calls([ToolCall::new(
        "bash",
        json!({"command": command, "description": "Run it"}),
    )])
}

/// The cost the mock model's pricing gives a turn (input at $3, output at $15 per million).
fn cost(usage: &[(u64, u64)]) -> f64 {
    usage
        .iter()
        .map(|(i, o)| (*i as f64 * 3.0 + *o as f64 * 15.0) / 1e6)
        .sum()
}

/// A permission asked, then a reply: the turns of a session that waits for `ao permit`.
fn permitted(marker: &str, file: &str) -> ao_test_support::Script {
    script(marker)
        .turn(bash(&format!("echo hi > {file}")).usage(100, 5))
        .turn(Turn::text("Wrote it.").usage(120, 8))
}

const PERMITTED_USAGE: [(u64, u64); 2] = [(100, 5), (120, 8)];

/// Asserts the session shows `exited` with the error `name`; its message.
fn exited_with(s: &Value, name: &str) -> String {
    let (got, message) = error_of(s);
    assert_eq!(
        (s["activity"].as_str(), got.as_str()),
        (Some("exited"), name),
        "{s:#}"
    );
    message
}

fn write_private(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
}

// ---------------------------------------------------------------------------------------------
// A server someone else runs, by URL.

/// `opencode serve` on 127.0.0.2, as a container or a VM would run it: its own password and
/// config (the mock model, bash asks), in `dir`. Returns it and its URL.
fn serve_elsewhere(w: &World, dir: &Path, password: &str) -> (Owned, String) {
    let mut config: Value = serde_json::from_str(&w.provider_config()).expect("provider config");
    config["model"] = json!("mock/mock-1");
    config["permission"] = json!({"bash": "ask"});
    let mut cmd = w.command(opencode_bin());
    cmd.current_dir(dir)
        .args(["serve", "--hostname", "127.0.0.2", "--port", "0", "--pure"])
        .env("OPENCODE_SERVER_PASSWORD", password)
        .env("OPENCODE_CONFIG_CONTENT", config.to_string())
        .env("XDG_DATA_HOME", w.root().join("elsewhere/data"));
    let log = w.root().join("elsewhere.log");
    let server = start_owned(cmd, &log);
    let url = wait_until(Duration::from_secs(60), Duration::from_millis(50), || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        match text.split("listening on ").nth(1) {
            Some(rest) => Ok(rest.lines().next().unwrap_or_default().trim().to_string()),
            None => Err(format!("the server did not start:\n{text}")),
        }
    });
    (server, url)
}

/// A listener on 127.0.0.3 that never accepts, its queue full: connecting to it hangs, as it does
/// to a host that went away. Kept open while it is held.
fn black_hole() -> (std::os::fd::OwnedFd, Vec<std::net::TcpStream>, String) {
    use nix::sys::socket::{bind, listen, socket, AddressFamily, Backlog, SockFlag, SockType};
    use nix::sys::socket::{getsockname, SockaddrIn};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .expect("socket");
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::new(127, 0, 0, 3, 0),
    )
    .expect("bind");
    listen(&fd, Backlog::new(0).expect("backlog")).expect("listen");
    let addr: SockaddrIn = getsockname(std::os::fd::AsRawFd::as_raw_fd(&fd)).expect("name");
    let target = std::net::SocketAddr::from(([127, 0, 0, 3], addr.port()));
    // Fill the queue: the connections that still complete, then one that does not.
    let mut fillers = Vec::new();
    while let Ok(s) = std::net::TcpStream::connect_timeout(&target, Duration::from_millis(300)) {
        fillers.push(s);
        assert!(fillers.len() < 16, "the queue of {target} never fills");
    }
    (fd, fillers, format!("http://{target}"))
}

#[test]
fn a_server_at_a_url_is_followed_and_never_touched() {
    let color = json!({"questions": [{
        "question": "Pick a color?", "header": "Color",
        "options": [{"label": "red", "description": "Red"}, {"label": "blue", "description": "Blue"}]
    }]});
    let mut w = World::new(
        Scenario::new()
            .script(permitted("allow this", "out.txt"))
            .script(
                script("near")
                    .turn(Turn::text("Near.").usage(50, 2))
                    .turn(Turn::text("Nearer.").usage(60, 3)),
            )
            .script(
                script("pick a color")
                    .turn(Turn::tool_call("question", color).usage(60, 1))
                    .turn(Turn::text("Blue it is.").usage(70, 4)),
            )
            .script(script("far away").turn(Turn::text("Far.")))
            .script(script("tree please").turn(Turn::text("In a tree.")))
            .script(permitted("through tls", "tls.txt"))
            .script(script("tui over tls").turn(Turn::text("Drawn through TLS.").usage(40, 3))),
    );
    // The projects the world cleans up after; the config is written below.
    let dir = w.project("api", &[]);
    let password = "elsewhere-secret-8f3a1c9e77d2";
    let (server, url) = serve_elsewhere(&w, &dir, password);
    // The same server behind a TLS ingress whose certificate a private CA signed.
    let ingress = TlsIngress::start(&w.root().join("tls"), &url);
    let password_file = w.root().join("api.password");
    write_private(&password_file, password);
    let hole = black_hole();
    // `far_url` for the project `far`; `trusted`: whether `secure` names the ingress's CA.
    let config = |far_url: &str, trusted: bool| {
        let project = |name: &str, url: &str, extra: &str, server_extra: &str| {
            format!(
                "  - name: {name}\n    path: {}\n    runtime: process\n{extra}    server:\n      \
                 url: {url}\n      passwordFile: {}\n{server_extra}    agentConfig:\n      \
                 model: mock/mock-1\n",
                dir.display(),
                password_file.display()
            )
        };
        let ca = match trusted {
            true => format!("      caFile: {}\n", ingress.ca_file.display()),
            false => String::new(),
        };
        format!(
            "projects:\n{}{}{}{}{}",
            project("api", &url, "", ""),
            project("near", &url, "", ""),
            project("far", far_url, "", ""),
            project("trees", &url, "    workspace: worktree\n", ""),
            project("secure", &ingress.url, "    tmux: {tui: always}\n", &ca),
        )
    };
    w.set_config_text(&config(&url, true));
    let scanner = ArgvScanner::start(move || vec![password.to_string()]);

    let id = w.spawn(&["api", "allow this"]);
    // The others meanwhile, on the same server.
    let tree = w.spawn(&["trees", "tree please"]);
    let near = w.spawn(&["near", "near"]);
    let far = w.spawn(&["far", "far away"]);
    let asks = w.spawn(&["near", "pick a color"]);
    // Through the TLS ingress: the process runtime's follower, and OpenCode's TUI in a pane.
    let secure = w.spawn(&["secure", "through tls"]);
    let drawn = w.spawn(&["secure", "tui over tls", "--runtime", "tmux"]);
    w.wait_activity(&id, "waiting_input");

    // A wrong password: nothing there can be seen, and the message says where it came from.
    write_private(&password_file, "not-the-password");
    let message = exited_with(&w.session(&id), "Unauthorized");
    assert!(message.contains("project api"), "{message}");
    assert!(
        message.contains(&password_file.display().to_string()),
        "{message}"
    );
    write_private(&password_file, password);

    w.ao_ok(&["permit", &id]);
    let s = w.wait_activity(&id, "ready");
    assert_cost(&s, cost(&PERMITTED_USAGE));
    assert_eq!(
        std::fs::read_to_string(dir.join("out.txt")).unwrap(),
        "hi\n"
    );
    let host = url.trim_start_matches("http://");
    assert_eq!(s["host"], host);
    let table = w.ao_ok(&["status"]);
    assert!(table.contains("HOST") && table.contains(host), "{table}");

    // https, with the CA that signed the ingress's certificate: the same as over http.
    let s = w.wait_activity(&secure, "waiting_input");
    assert_eq!(s["host"], ingress.url.trim_start_matches("https://"));
    w.ao_ok(&["permit", &secure]);
    let s = w.wait_activity(&secure, "ready");
    assert_cost(&s, cost(&PERMITTED_USAGE));
    assert_eq!(
        std::fs::read_to_string(dir.join("tls.txt")).unwrap(),
        "hi\n"
    );
    // OpenCode's TUI (Bun) trusts the CA through NODE_EXTRA_CA_CERTS: it shows the reply.
    w.wait_activity(&drawn, "ready");
    w.wait_pane(
        &drawn,
        false,
        Duration::from_secs(60),
        "the TUI with the reply",
        |screen| screen.contains("Drawn through TLS."),
    );

    // A question asked on the server elsewhere, answered from here.
    let s = w.wait_activity(&asks, "waiting_input");
    assert_eq!(s["pending"][0]["kind"], "question", "{s:#}");
    let out = w.ao_ok(&["answer", &asks, "blue"]);
    assert!(out.contains("answered: Pick a color?"), "{out}");
    let s = w.wait_activity(&asks, "ready");
    assert_cost(&s, cost(&[(60, 1), (70, 4)]));

    // A follow-up prompt starts a new turn there.
    w.wait_activity(&near, "ready");
    w.ao_ok(&["send", &near, "closer"]);
    let s = w.wait_for(&near, Duration::from_secs(60), "the second turn", |s| {
        s["activity"] == "ready" && tokens(s).1 == 5
    });
    assert_cost(&s, cost(&[(50, 2), (60, 3)]));
    let logs = w.ao_ok(&["logs", &near]);
    assert!(logs.contains("Nearer."), "{logs}");

    // `ao watch` shows where each session lives.
    let ao = shell_quote(&w.ao_script().to_string_lossy());
    let t = w.sized_terminal(
        "dash",
        &format!("unset TMUX; {ao} watch; echo WATCH-ENDED $?; PS1='PROMPT$ ' exec sh -i"),
        120,
        30,
    );
    let screen = w.wait_screen(&t, Duration::from_secs(60), "the HOST column", |s| {
        s.contains("HOST")
            && s.lines()
                .any(|l| l.contains(near.split('/').nth(1).unwrap()) && l.contains(host))
    });
    assert!(
        screen.contains(ingress.url.trim_start_matches("https://")),
        "{screen}"
    );
    t.keys(&["q"]);
    let screen = w.wait_screen(&t, Duration::from_secs(30), "the shell again", |s| {
        s.contains("PROMPT$")
    });
    assert!(screen.contains("WATCH-ENDED 0"), "{screen}");

    // A work tree through the server's own API (measured on 1.18.33: branch opencode/<name>,
    // under its data directory); ao cannot look into it, so only --force removes it.
    let s = w.wait_activity(&tree, "ready");
    let wt = workspace_of(&s);
    assert!(
        wt.starts_with(w.root().join("elsewhere/data")),
        "{}",
        wt.display()
    );
    assert_eq!(s["branch"], "opencode/agent-1");
    let out = w.ao_ok(&["kill", &tree]);
    assert!(out.contains("kept its work tree"), "{out}");
    assert!(wt.join(".git").exists());
    let out = w.ao_ok(&["kill", "--force", &tree]);
    assert!(!wt.exists(), "{out}");

    // Many machines in one view: one that went away costs the others nothing beyond its own
    // connect timeout.
    w.wait_activity(&near, "ready");
    w.wait_activity(&far, "ready");
    let timed_status = || {
        let started = Instant::now();
        let out = w.ao_ok(&["status", "--json", "--timeout", "10"]);
        let all: Vec<Value> = serde_json::from_str(&out).expect("json");
        (started.elapsed(), all)
    };
    let (reachable, _) = timed_status();
    // The projects that name one server at a URL alike (api, near, and far for now) are listed
    // together, in one request; secure, alone behind its ingress, lists its own.
    let (listed, timing) = w.timed_status();
    assert_eq!(timing.requests("/experimental/session"), 1, "{timing}");
    assert_eq!(timing.requests("/session"), 1, "{timing}");
    for (project, id) in [("api", &id), ("near", &near), ("far", &far)] {
        let own: Vec<&Value> = listed.iter().filter(|s| s["project"] == project).collect();
        assert_eq!(
            own.len(),
            if project == "near" { 2 } else { 1 },
            "{listed:#?}"
        );
        assert!(own
            .iter()
            .any(|s| s["id"] == id.as_str() && s["activity"] == "ready"));
    }
    // Meanwhile `secure` forgets its CA: the system's roots do not know it.
    w.set_config_text(&config(&hole.2, false));
    let (elapsed, all) = timed_status();
    let of = |id: &str| all.iter().find(|s| s["id"] == id).cloned().expect(id);
    let message = exited_with(&of(&far), "Unreachable");
    assert!(message.contains("127.0.0.3"), "{message}");
    assert_eq!(of(&near)["activity"], "ready");
    assert_eq!(of(&id)["activity"], "ready");
    let message = exited_with(&of(&secure), "Unreachable");
    assert!(
        message.contains("TLS certificate was not trusted") && message.contains("server.caFile"),
        "{message}"
    );
    // Its timeout is 1 s (the connect timeout of a server elsewhere): the status takes what it
    // takes without it, plus that timeout and 100 ms, plus a margin for a loaded test machine
    // that still keeps it far from the 10 s budget that an unbounded look would run into.
    let bound = reachable + Duration::from_millis(1100) + Duration::from_secs(3);
    assert!(
        elapsed < bound && elapsed < Duration::from_secs(8),
        "status took {elapsed:?} (reachable only: {reachable:?})"
    );
    // ao cannot abort a turn on a server it cannot reach, and says so.
    let err = w.ao_fails(&["kill", &far], 1);
    assert!(err.contains("could not be aborted"), "{err}");
    drop(hole);
    w.set_config_text(&config(&url, true));

    w.ao_ok(&["kill", "api"]);
    w.ao_ok(&["kill", "near"]);
    w.ao_ok(&["kill", "far"]);
    w.ao_ok(&["kill", "secure"]);
    assert!(
        server.0.is_alive(),
        "ao must never stop a server it did not start"
    );
    scanner.assert_clean();
}

// ---------------------------------------------------------------------------------------------
// A host over SSH.

/// The pending permission of a session waiting on one.
fn pending_id(s: &Value) -> String {
    assert_eq!(s["pending"].as_array().map(Vec::len), Some(1), "{s:#}");
    s["pending"][0]["id"].as_str().unwrap().to_string()
}

/// Waits until the process with `pid` is gone.
fn wait_gone(pid: ProcessIdentity, what: &str) {
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(50),
        || match pid.is_alive() {
            true => Err(format!("{what} still runs")),
            false => Ok(()),
        },
    );
}

/// The server process on the host that a project's record names.
fn server_there(w: &World, project: &str) -> ProcessIdentity {
    let record = w.server_record(project);
    ProcessIdentity::of(record["remote"]["pid"].as_u64().unwrap() as u32)
        .expect("the server runs on the host")
}

#[test]
fn a_project_over_ssh_runs_there_and_survives_its_tunnel() {
    let mut w = World::new(
        Scenario::new()
            .script(permitted("allow this", "out.txt"))
            .script(script("in tmux").turn(Turn::text("From the pane.").usage(50, 4)))
            .script(permitted("api asks", "api.txt"))
            .script(script("api again").turn(Turn::text("Again.")))
            .script(script("api moved").turn(Turn::text("On a server of its own."))),
    );
    let web = w.project("web", &[]);
    let api = w.project("api", &[]);
    let bare = w.project("bare", &[]);
    let mut sshd = Sshd::start(&mut w);
    let provider = w.provider_config();
    let project = |name: &str, host: &str, path: &Path, permission: &str| {
        format!(
            "  - name: {name}\n    path: {}\n    host: {host}\n    workspace: worktree\n    \
             agentConfig:\n      model: mock/mock-1\n      permission: {permission}\n      \
             opencodeConfig: {provider}\n",
            path.display()
        )
    };
    // `api_permission`: api's, whose change gives it other server settings than web's.
    let config = |api_permission: &str| {
        format!(
            "projects:\n{}{}{}",
            project("web", "builder", &web, "{bash: ask}"),
            project("api", "builder", &api, api_permission),
            project("bare", "bare", &bare, "{bash: ask}")
        )
    };
    w.set_config_text(&config("{bash: ask}"));
    let _remote_server = RemoteServerGuard::new(&w, "web", &["builder", "bare"]);
    let _api_server = RemoteServerGuard::new(&w, "api", &[]);
    // Every server password ao keeps: the shared servers' are named by their settings.
    let secrets = w.home().join("secrets");
    let scanner = ArgvScanner::start(move || {
        std::fs::read_dir(&secrets)
            .into_iter()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
            .map(|p| p.trim().to_string())
            .collect()
    });
    let trees = w.root().join("remote/xdg/data/ao/worktrees");

    // A host without opencode: nothing is made there, and the message says what is missing.
    let err = w.ao_fails(&["spawn", "bare", "hello"], 1);
    assert!(err.contains("opencode is not installed there"), "{err}");
    assert!(!trees.join("bare").exists());
    assert!(w.status(None).is_empty());

    // The process runtime: a work tree on the host, the server there, a permission, the cost.
    let id = w.spawn(&["web", "allow this", "--runtime", "process"]);
    // The tmux runtime, meanwhile: OpenCode's TUI here, attached through the tunnel.
    let pane = w.spawn(&["web", "in tmux", "--runtime", "tmux"]);
    // Another project on the same host with the same settings.
    let asks = w.spawn(&["api", "api asks", "--runtime", "process"]);
    let s = w.wait_activity(&id, "waiting_input");
    assert_eq!(s["host"], "builder");
    let wt = workspace_of(&s);
    assert_eq!(wt, trees.join("web/agent-1"));
    assert_eq!(s["branch"], "ao/agent-1");

    // One server there for both, one tunnel (one local port), one record with both projects.
    let sa = w.wait_activity(&asks, "waiting_input");
    assert_eq!(sa["server"]["url"], s["server"]["url"], "{sa:#}\n{s:#}");
    assert_eq!(s["server"]["projects"], json!(["api", "web"]), "{s:#}");
    assert_eq!(w.server_record("api"), w.server_record("web"));
    let shared = server_there(&w, "web");
    assert_eq!(servers_on_host(&w), vec![shared.pid]);
    // Both mid-turn, so both must list: one list request for the server, not one per project.
    let (_, timing) = w.timed_status();
    assert_eq!(timing.requests("/experimental/session"), 1, "{timing}");
    assert_eq!(timing.requests("/session"), 0, "{timing}");
    let of_api = w.status(Some("api"));
    assert_eq!(of_api.len(), 1, "{of_api:#?}");
    assert_eq!(of_api[0]["id"], asks.as_str());
    // A permission asked in one project is answered only through its own session's address.
    let (pw, pa) = (pending_id(&s), pending_id(&sa));
    for (through, other) in [(&id, &pa), (&asks, &pw)] {
        let out = w.ao(&["permit", through, other]);
        assert_eq!(out.status.code(), Some(2), "{out:?}");
    }
    assert_eq!(pending_id(&w.session(&asks)), pa);
    w.ao_ok(&["permit", &asks, &pa]);
    w.wait_activity(&asks, "ready");
    assert_eq!(w.session(&id)["activity"], "waiting_input");
    assert_eq!(
        std::fs::read_to_string(trees.join("api/agent-1/api.txt")).unwrap(),
        "hi\n"
    );

    // api's last session goes: the server stays for web. api's next session joins it again.
    w.ao_ok(&["kill", &asks]);
    assert!(shared.is_alive());
    assert_eq!(w.server_record("web")["projects"], json!(["web"]));
    let again = w.spawn(&["api", "api again", "--runtime", "process"]);
    w.wait_activity(&again, "ready");
    assert_eq!(w.server_record("web")["projects"], json!(["api", "web"]));
    assert_eq!(servers_on_host(&w), vec![shared.pid]);

    // api's settings change: its next session moves to a server of its own there; web's stays.
    w.set_config_text(&config("{bash: ask, edit: allow}"));
    // The first such spawn is cut off (SIGKILL) after that server began there, before ao recorded
    // it: a server there that no record names. The next start of it stops that one.
    let cut_off = Paused::start(
        &w,
        &["spawn", "api", "api moved", "--runtime", "process"],
        "after-starting-on-host",
    );
    assert_eq!(servers_on_host(&w).len(), 2, "web's, and the one begun");
    // Stopped by pid at the end should the test fail before ao stops it: no record names it.
    let _begun: Vec<Owned> = servers_on_host(&w)
        .into_iter()
        .filter(|pid| *pid != shared.pid)
        .filter_map(ProcessIdentity::of)
        .map(Owned)
        .collect();
    drop(cut_off);
    let moved = w.spawn(&["api", "api moved", "--runtime", "process"]);
    let sm = w.wait_activity(&moved, "ready");
    assert_eq!(sm["server"]["projects"], json!(["api"]), "{sm:#}");
    assert_ne!(sm["server"]["url"], s["server"]["url"]);
    assert_eq!(w.server_record("web")["projects"], json!(["web"]));
    let own = server_there(&w, "api");
    assert_ne!(own.pid, shared.pid);
    assert_eq!(servers_on_host(&w).len(), 2);
    // Nothing of api is live: its server stops, web's runs on, and so does the host's
    // connection, which carries web's forward.
    let record = w.server_record("web");
    let web_master = ProcessIdentity {
        pid: record["pid"].as_u64().unwrap() as u32,
        start_time: record["start_time"].as_u64().unwrap(),
    };
    w.ao_ok(&["kill", "api"]);
    wait_gone(own, "api's server on the host");
    assert_eq!(servers_on_host(&w), vec![shared.pid]);
    assert!(web_master.is_alive(), "the host's ssh master was closed");
    assert_eq!(w.session(&id)["activity"], "waiting_input");

    w.ao_ok(&["permit", &id]);
    let s = w.wait_activity(&id, "ready");
    assert_cost(&s, cost(&PERMITTED_USAGE));
    assert_eq!(std::fs::read_to_string(wt.join("out.txt")).unwrap(), "hi\n");
    let logs = w.ao_ok(&["logs", &id]);
    assert!(logs.contains("Wrote it."), "{logs}");
    // ao doctor says what a remote project needs here.
    let doctor = String::from_utf8_lossy(&w.ao(&["doctor"]).stdout).into_owned();
    assert!(doctor.contains("opencode on this machine too"), "{doctor}");
    assert!(doctor.contains("for projects with `host:`"), "{doctor}");
    // The server there, named once by its URL, with the projects that use it.
    let url = s["server"]["url"].as_str().unwrap();
    assert!(
        doctor.contains(&format!("server {url}: OpenCode"))
            && doctor.contains("on builder (pid")
            && doctor.contains("there) answers, used by web"),
        "{doctor}"
    );

    let s = w.wait_activity(&pane, "ready");
    assert_cost(&s, cost(&[(50, 4)]));
    assert_eq!(s["process"], "running");

    // The host goes away: the tunnel dies and cannot be opened again. Status says so within
    // the connect timeout; the server there runs on.
    let record = w.server_record("web");
    let master = ProcessIdentity {
        pid: record["pid"].as_u64().unwrap() as u32,
        start_time: record["start_time"].as_u64().unwrap(),
    };
    let server_there = ProcessIdentity::of(record["remote"]["pid"].as_u64().unwrap() as u32)
        .expect("the server runs on the host");
    sshd.down();
    master.stop(Duration::from_secs(3));
    let started = Instant::now();
    let s = w.session(&id);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let message = exited_with(&s, "Unreachable");
    assert!(message.contains("builder"), "{message}");
    assert!(server_there.is_alive());

    // The host is back: the next ao opens the tunnel again and the true state shows.
    sshd.run();
    let s = w.wait_for(&id, Duration::from_secs(30), "ready again", |s| {
        s["activity"] == "ready"
    });
    assert_cost(&s, cost(&PERMITTED_USAGE));
    let record = w.server_record("web");
    assert_ne!(
        record["pid"].as_u64(),
        Some(u64::from(master.pid)),
        "a new tunnel"
    );
    assert_eq!(
        record["remote"]["pid"].as_u64(),
        Some(u64::from(server_there.pid))
    );

    // The server there dies: the next command that needs it starts it again, behind the same
    // local port, so the TUIs and followers pointed at it find it again.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server_there.pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill the server there");
    wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        || match server_there.is_alive() {
            true => Err("the server there did not die".to_string()),
            false => Ok(()),
        },
    );
    w.ao_ok(&["restore", &id]);
    let s = w.wait_activity(&id, "ready");
    assert_cost(&s, cost(&PERMITTED_USAGE));
    let restarted = w.server_record("web");
    assert_eq!(restarted["url"], record["url"]);
    let server_there = ProcessIdentity::of(restarted["remote"]["pid"].as_u64().unwrap() as u32)
        .expect("a new server runs on the host");

    // Kill keeps a work tree that holds work, there as here.
    std::fs::write(wt.join("notes.txt"), "mine").unwrap();
    let out = w.ao_ok(&["kill", &id]);
    assert!(out.contains("kept its work tree"), "{out}");
    assert!(wt.join("notes.txt").exists());
    let out = w.ao_ok(&["kill", &pane]);
    assert!(out.contains("removed its work tree"), "{out}");
    // Nothing of the project is live: its server there is stopped.
    wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        if server_there.is_alive() {
            Err("the server on the host still runs".to_string())
        } else {
            Ok(())
        }
    });

    scanner.assert_clean();
}
