//! `scripts/bench watch`: how soon a live view shows what the server said, and what watching costs
//! while nothing happens.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ao_plugin_opencode::client::Client;
use ao_plugin_opencode::events::{EventKind, EventStream};
use ao_test_support::{script, Scenario, Turn};
use serde_json::Value;

use crate::{mib, rss_tree, spread, world_with};

pub fn run() {
    latency();
    idle_cost();
}

/// What the bench's own connection to the server heard: when a session's turn ended.
pub(crate) struct Heard {
    pub(crate) at: Instant,
    /// The same moment by the wall clock, to compare with what another process noted.
    pub(crate) wall: std::time::SystemTime,
    pub(crate) session: String,
}

/// Listens to the server's event stream beside ao, on a thread of its own.
pub(crate) fn listen(url: String, password: String) -> mpsc::Receiver<Heard> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async move {
            let client = Client::new(&url, &password).expect("a client");
            let mut events = EventStream::connect(&client)
                .await
                .expect("the event stream");
            while let Some(e) = events.next().await {
                let idle = match e.payload.kind {
                    EventKind::SessionIdle => true,
                    EventKind::SessionStatus => e.payload.properties["status"]["type"] == "idle",
                    _ => false,
                };
                if let (true, Some(id)) = (idle, e.payload.session_id()) {
                    let heard = Heard {
                        at: Instant::now(),
                        wall: std::time::SystemTime::now(),
                        session: id.to_string(),
                    };
                    if tx.send(heard).is_err() {
                        return;
                    }
                }
            }
        });
    });
    rx
}

/// Lines of a child's standard output, each with when it arrived.
fn timed_lines(child: &mut Child) -> mpsc::Receiver<(Instant, String)> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });
    rx
}

/// From the server's `session.idle` to the NDJSON line of `ao status --watch --json` that says
/// `ready`, for ten turns.
fn latency() {
    println!("\n## ao status --watch --json: from the server's event to the line");
    let w = world_with(
        Scenario::new().script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7))),
    );
    let id = w.spawn(&["bench", "bench", "--runtime", "process"]);
    let s = w.wait_activity(&id, "ready");
    let conversation = s["agent_session_id"].as_str().expect("an id").to_string();
    let (url, password) = w.server_endpoint("bench");
    let heard = listen(url, password);

    let mut watcher = w
        .ao_command(&["status", "--watch", "--json", &id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run ao status --watch");
    let lines = timed_lines(&mut watcher);
    lines
        .recv_timeout(Duration::from_secs(30))
        .expect("the first line");

    let mut samples = Vec::new();
    for turn in 0..10 {
        w.ao_ok(&["send", &id, "bench"]);
        let event = loop {
            let h = heard
                .recv_timeout(Duration::from_secs(60))
                .expect("the turn's end on the event stream");
            if h.session == conversation {
                break h.at;
            }
        };
        let shown = loop {
            let (at, line) = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("a line for the turn's end");
            let v: Value = serde_json::from_str(&line).expect("JSON");
            // Each turn adds 7 output tokens: the line of this turn's end has them all.
            let done = v["activity"] == "ready" && v["tokens"]["output"] == 7 * (turn + 2);
            if done {
                break at;
            }
        };
        samples.push(shown.saturating_duration_since(event));
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    println!("event to line: {}", spread(&mut samples, "turns"));
}

/// CPU and memory of a watching `ao` over 60 s with 50 idle sessions.
fn idle_cost() {
    const N: usize = 50;
    const SPAN: Duration = Duration::from_secs(60);
    println!(
        "\n## ao status --watch with {N} idle sessions, over {} s",
        SPAN.as_secs()
    );
    let w = world_with(
        Scenario::new().script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7))),
    );
    let ids: Vec<String> = (0..N)
        .map(|_| w.spawn(&["bench", "bench", "--runtime", "process"]))
        .collect();
    for id in &ids {
        w.wait_activity(id, "ready");
    }
    let mut watcher = w
        .ao_command(&["status", "--watch", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run ao status --watch");
    let lines = timed_lines(&mut watcher);
    for _ in 0..N {
        lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the snapshot");
    }
    // Settled: its feed is up and the catch-up done.
    while lines.recv_timeout(Duration::from_secs(3)).is_ok() {}
    let pid = watcher.id();
    let before = cpu_ticks(pid);
    let t = Instant::now();
    std::thread::sleep(SPAN);
    let used = cpu_ticks(pid) - before;
    let ticks_per_s = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64;
    let percent = used as f64 / ticks_per_s / t.elapsed().as_secs_f64() * 100.0;
    let printed = std::iter::from_fn(|| lines.try_recv().ok()).count();
    println!(
        "CPU: {percent:.2} % of a core ({used} ticks); lines printed meanwhile: {printed}; RSS: {}",
        mib(rss_tree(pid))
    );
    let _ = watcher.kill();
    let _ = watcher.wait();
}

/// User and system CPU time of a process so far, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // The fields after the command's closing parenthesis; utime and stime are the 14th and 15th
    // of the whole line.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0)
}
