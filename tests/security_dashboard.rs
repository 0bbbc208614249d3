//! Attacks on `ao dashboard`'s credential, and on the process table of the long-lived `ao`
//! processes: another program on another port of 127.0.0.1 that the same browser visits, a name
//! rebound to 127.0.0.1 (DNS rebinding), another local user reading the browser's command line or
//! guessing at `--open`'s code, and children left as zombies.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ao_test_support::{wait_until, ArgvScanner, Browser, Listener, Scenario, World};
use nix::sys::signal::Signal;
use serde_json::json;

/// How long a page may take to show what the server knows.
const SHOWN: Duration = Duration::from_secs(60);

/// `GET path` sent by hand to `addr`, with `host` as the `Host` header and the bearer `token`;
/// the status code.
fn status_with_host(addr: &str, path: &str, host: &str, token: &str) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect to the dashboard");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut head = String::new();
    let mut buf = [0u8; 1024];
    while !head.contains("\r\n") {
        let n = s.read(&mut buf).expect("read the answer");
        assert!(
            n > 0,
            "the dashboard closed the connection without an answer"
        );
        head.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    head.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {head}"))
}

/// The page shows that its event stream is open, which takes the token: it is in.
fn wait_live(browser: &Browser) {
    browser.wait_text("#conn", SHOWN, "a live event stream", |t| t == "live");
}

#[test]
fn the_credential_reaches_no_other_port_and_a_rebound_name_gets_403() {
    let mut w = World::new(Scenario::new());
    w.project("demo", &[]);
    let dash = w.dashboard(&[]);
    let addr = dash.base.trim_start_matches("http://").to_string();
    let port = addr.rsplit(':').next().unwrap().to_string();

    // A page whose name was rebound to 127.0.0.1 sends its own name as the Host: refused before
    // the token counts, for the API and the page alike.
    for path in ["/api/sessions", "/"] {
        for host in ["evil.example", &format!("evil.example:{port}")] {
            assert_eq!(
                status_with_host(&addr, path, host, &dash.token),
                403,
                "GET {path} with Host: {host}"
            );
        }
    }
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
        assert_eq!(
            status_with_host(&addr, "/api/sessions", &host, &dash.token),
            200,
            "Host: {host}"
        );
    }

    // The browser opens the printed URL and is in; the token leaves the address bar.
    let browser = Browser::start(&w.root().join("chromium"), 1024, 768);
    browser.goto(&dash.url);
    wait_live(&browser);
    assert_eq!(browser.url(), format!("{}/", dash.base));
    // A reload keeps it in (the tab keeps the token).
    browser.goto(&format!("{}/", dash.base));
    wait_live(&browser);

    // The same browser then visits another program on another port of the same host, by
    // address and by name: nothing it sends holds the token.
    let other = Listener::start(
        "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 14\r\n\
         Connection: close\r\n\r\n<p>another</p>",
    );
    for url in [
        format!("http://127.0.0.1:{}/", other.port),
        format!("http://localhost:{}/page", other.port),
    ] {
        browser.goto(&url);
        browser.wait_text("p", SHOWN, "the other page", |t| t == "another");
    }
    let requests = other.received();
    assert!(requests.len() >= 2, "{requests:?}");
    for r in &requests {
        assert!(
            !r.contains(&dash.token),
            "another port of 127.0.0.1 received the dashboard's token:\n{r}"
        );
    }
    drop(browser);

    // The address given with --listen passes too, with the loopback names and a proxy's name
    // given with --allow-host; other names do not.
    let listen = w.dashboard(&["--listen", "127.0.0.2", "--allow-host", "ao.example"]);
    let addr = listen.base.trim_start_matches("http://").to_string();
    let port = addr.rsplit(':').next().unwrap().to_string();
    for host in [
        format!("127.0.0.2:{port}"),
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        "ao.example".to_string(),
        "ao.example:443".to_string(),
    ] {
        assert_eq!(
            status_with_host(&addr, "/api/sessions", &host, &listen.token),
            200,
            "Host: {host}"
        );
    }
    assert_eq!(
        status_with_host(
            &addr,
            "/api/sessions",
            &format!("evil.example:{port}"),
            &listen.token
        ),
        403
    );
}

/// A stand-in for the desktop's opener (`xdg-open`) that keeps what it was given: its argv in
/// `opened`, and, when that is a file, the file's mode in `opened.mode`. It stays a second so
/// that a scan of the machine's command lines sees it.
fn fake_opener(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let record = dir.join("opened");
    let script = format!(
        "#!/bin/sh\n\
         if [ -f \"$1\" ]; then stat -c %a \"$1\" > '{rec}.mode'; fi\n\
         printf '%s\\n' \"$@\" > '{rec}.tmp' && mv '{rec}.tmp' '{rec}'\n\
         sleep 1\n",
        rec = record.display()
    );
    let opener = bin.join("xdg-open");
    std::fs::write(&opener, script).unwrap();
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn open_hands_the_browser_a_private_file_and_a_wrong_code_spends_nothing() {
    let mut w = World::new(Scenario::new());
    w.project("demo", &[]);
    let bin = fake_opener(w.root());
    let record = w.root().join("opened");
    let token = Arc::new(Mutex::new(None::<String>));
    let looked_for = token.clone();
    let scanner = ArgvScanner::start(move || looked_for.lock().unwrap().iter().cloned().collect());
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = w.ao_command(&["dashboard", "--open"]);
    cmd.env("PATH", path);
    let mut dash = w.dashboard_from(cmd);
    *token.lock().unwrap() = Some(dash.token.clone());

    let opened = wait_until(SHOWN, Duration::from_millis(20), || {
        std::fs::read_to_string(&record).map_err(|e| format!("the browser was not opened: {e}"))
    });
    let argv: Vec<&str> = opened.lines().collect();
    assert_eq!(argv.len(), 1, "{argv:?}");
    let given = argv[0];
    assert!(
        !given.contains(&dash.token),
        "the token is in the argv: {given}"
    );

    // Another user guesses at a one-time code, or at the token, before the browser gets there.
    let zeros = "0".repeat(64);
    for guess in [
        format!("/?once={zeros}"),
        "/?once=x".to_string(),
        format!("/?token={zeros}"),
    ] {
        let answer = dash.get_anonymous(&guess);
        assert_ne!(answer.status, 500, "{guess}: {answer:?}");
    }

    // Whatever the argv holds, it is worth nothing to someone who reads it: a URL visited by
    // another user gives no access; a file is the owner's alone.
    let target = if given.starts_with("http://") || given.starts_with("https://") {
        let http = reqwest::blocking::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let visit = http.get(given).send().expect("visit the argv's URL");
        let cookies: Vec<String> = visit
            .headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|c| c.to_str().ok())
            .filter_map(|c| c.split(';').next())
            .map(str::to_string)
            .collect();
        let after = http
            .get(format!("{}/api/sessions", dash.base))
            .header(reqwest::header::COOKIE, cookies.join("; "))
            .send()
            .expect("GET /api/sessions");
        assert_ne!(
            after.status().as_u16(),
            200,
            "the browser's argv ({given}) lets whoever reads it in"
        );
        given.to_string()
    } else {
        let page = Path::new(given);
        let mode = std::fs::read_to_string(w.root().join("opened.mode")).unwrap();
        assert_eq!(mode.trim(), "600", "the page given to the browser: {given}");
        let dir = page.parent().unwrap();
        let dir_mode = std::fs::metadata(dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700, "{}", dir.display());
        format!("file://{given}")
    };

    // The browser opens what it was given, and is in, the guesses notwithstanding.
    let browser = Browser::start(&w.root().join("chromium"), 1024, 768);
    browser.goto(&target);
    wait_live(&browser);
    assert_eq!(browser.url(), format!("{}/", dash.base));
    drop(browser);
    scanner.assert_clean();

    // The page with the token goes when the dashboard stops.
    assert!(dash.process.stop_with(Signal::SIGTERM).success());
    if !given.starts_with("http") {
        assert!(!Path::new(given).exists(), "{given} outlived the dashboard");
    }
}

/// The processes on this machine whose parent is `pid` and that are zombies: `pid state` each.
fn zombie_children(pid: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid …": comm may hold anything, so fields count from its last ')'.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 1 && fields[1] == pid.to_string() && fields[0] == "Z" {
            found.push(stat.trim().to_string());
        }
    }
    found
}

#[test]
fn the_dashboard_reaps_the_sessions_it_started() {
    let mut w = World::new(Scenario::new());
    w.project("demo", &[]);
    let dash = w.dashboard(&[]);
    let pid = dash.process.pid();
    // A process-runtime session is a child of the dashboard that started it (its event
    // follower); a kill ends it, a restore starts another: each cycle leaves one child that ended.
    // A few cycles: each takes seconds (50 took 6 minutes on a loaded machine), and one zombie
    // is as much a failure as fifty; ao-core's `detached_processes_that_end_are_reaped` starts
    // 50 through the same function in a second.
    let spawned = dash.post(
        "/api/sessions",
        &json!({"project": "demo", "prompt": "one task", "runtime": "process"}),
    );
    assert_eq!(spawned.status, 201, "{spawned:?}");
    let id = spawned.json["id"].as_str().expect("an id").to_string();
    const CYCLES: usize = 3;
    for _ in 0..CYCLES {
        let killed = dash.post(&format!("/api/sessions/{id}/kill"), &json!({"force": true}));
        assert_eq!(killed.status, 200, "{killed:?}");
        let restored = dash.post(&format!("/api/sessions/{id}/restore"), &json!({}));
        assert_eq!(restored.status, 200, "{restored:?}");
    }
    let killed = dash.post(&format!("/api/sessions/{id}/kill"), &json!({"force": true}));
    assert_eq!(killed.status, 200, "{killed:?}");
    // A child is reaped at once when it ends; a moment is allowed for the last one.
    wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        let zombies = zombie_children(pid);
        if zombies.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} zombie children of the dashboard (pid {pid}) after {} sessions it started \
                 ended:\n{}",
                zombies.len(),
                CYCLES + 1,
                zombies.join("\n")
            ))
        }
    });
}
