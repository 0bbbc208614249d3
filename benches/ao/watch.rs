//! `scripts/bench watch`: how soon a live view shows what the server said, and what watching costs
//! while nothing happens.

use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ao_plugin_opencode::client::Client;
use ao_plugin_opencode::events::{EventKind, EventStream};
use ao_test_support::{script, timed_lines, Scenario, Turn};
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
            let silence = ao_plugin_opencode::events::DEFAULT_SILENCE;
            let mut events = EventStream::connect(&client, silence)
                .await
                .expect("the event stream");
            while let Ok(Some(e)) = events.next().await {
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

/// One finished session, and the bench's own ear on its server's events.
pub(crate) struct Listened {
    pub(crate) w: ao_test_support::World,
    /// Its address.
    pub(crate) id: String,
    /// Its status once ready.
    pub(crate) status: Value,
    /// The agent's id for its conversation, as the server's events name it.
    pub(crate) conversation: String,
    /// What the server said.
    pub(crate) heard: mpsc::Receiver<Heard>,
}

impl Listened {
    /// When the server said that the session's turn ended (the first of its idle events).
    pub(crate) fn turn_end(&self) -> Heard {
        loop {
            let h = self
                .heard
                .recv_timeout(Duration::from_secs(60))
                .expect("the turn's end on the event stream");
            if h.session == self.conversation {
                return h;
            }
        }
    }
}

/// A world with one finished session of the project `bench`, listened to.
pub(crate) fn listened_session() -> Listened {
    let w = world_with(
        Scenario::new().script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7))),
    );
    let id = w.spawn(&["bench", "bench", "--runtime", "process"]);
    let status = w.wait_activity(&id, "ready");
    let conversation = status["agent_session_id"]
        .as_str()
        .expect("an id")
        .to_string();
    let (url, password) = w.server_endpoint("bench");
    let heard = listen(url, password);
    Listened {
        w,
        id,
        status,
        conversation,
        heard,
    }
}

/// From the server's `session.idle` to the NDJSON line of `ao status --watch --json` that says
/// `ready`, and to `ao watch`'s screen (80x24, in tmux) showing it, for ten turns.
fn latency() {
    println!("\n## live views: from the server's event to the line, and to the screen");
    let listened = listened_session();
    let (w, id, s, heard) = (&listened.w, &listened.id, &listened.status, &listened.heard);
    let mut watcher = w
        .ao_command(&["status", "--watch", "--json", id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run ao status --watch");
    let lines = timed_lines(&mut watcher);
    lines
        .recv_timeout(Duration::from_secs(30))
        .expect("the first line");
    let ao = ao_test_support::shell_quote(&w.ao_script().to_string_lossy());
    let terminal = w.sized_terminal("watch", &format!("{ao} watch {id}"), 80, 24);
    let redrawn = screen_turns(terminal);

    let mut samples = Vec::new();
    let mut screen_samples = Vec::new();
    let mut output_tokens = s["tokens"]["output"].as_u64().unwrap_or(0);
    for _ in 0..10 {
        // A turn's end comes as two events (`session.status` idle, then `session.idle`): what
        // the last turn left must not be taken for this one's.
        while heard.try_recv().is_ok() {}
        // The dashboard's age of the last turn's `ready` must be past 1s, so that `ready 0s` or
        // `ready 1s` can only be this turn's.
        std::thread::sleep(Duration::from_millis(2500));
        while redrawn.try_recv().is_ok() {}
        w.ao_ok(&["send", id, "bench"]);
        let event = listened.turn_end().at;
        let shown = loop {
            let (at, line) = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("a line for the turn's end");
            let v: Value = serde_json::from_str(&line).expect("JSON");
            // The line of this turn's end is ready with the turn's tokens counted.
            let output = v["tokens"]["output"].as_u64().unwrap_or(0);
            if v["activity"] == "ready" && output > output_tokens {
                output_tokens = output;
                break at;
            }
        };
        samples.push(shown.saturating_duration_since(event));
        let drawn = redrawn
            .recv_timeout(Duration::from_secs(60))
            .expect("the screen showing the turn's end");
        screen_samples.push(drawn.saturating_duration_since(event));
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    println!("event to NDJSON line: {}", spread(&mut samples, "turns"));
    println!(
        "event to ao watch's screen: {}",
        spread(&mut screen_samples, "turns")
    );
}

/// When `ao watch` starts showing a fresh `ready` (`ready 0s` or `ready 1s`): the terminal's
/// screen read every 5 ms (each read is a `tmux capture-pane`, a few ms itself).
fn screen_turns(terminal: ao_test_support::Terminal) -> mpsc::Receiver<Instant> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut was_fresh = true;
        loop {
            let screen = terminal.screen();
            let fresh = screen.contains("ready 0s") || screen.contains("ready 1s");
            if fresh && !was_fresh && tx.send(Instant::now()).is_err() {
                return;
            }
            was_fresh = fresh;
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    rx
}

/// CPU and memory of the two live views over 60 s with 50 idle sessions, side by side:
/// `ao status --watch --json` and `ao watch` (80x24, in tmux).
fn idle_cost() {
    const N: usize = 50;
    const SPAN: Duration = Duration::from_secs(60);
    println!(
        "\n## live views with {N} idle sessions, over {} s",
        SPAN.as_secs()
    );
    let w = idle_sessions(N);
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
    let ao = ao_test_support::shell_quote(&w.ao_script().to_string_lossy());
    let terminal = w.sized_terminal("watch", &format!("{ao} watch"), 80, 24);
    let shell: u32 = String::from_utf8_lossy(
        &terminal
            .tmux(&["display-message", "-p", "-t", "=watch:", "#{pane_pid}"])
            .stdout,
    )
    .trim()
    .parse()
    .expect("the pane's pid");
    let dashboard =
        ao_test_support::wait_until(Duration::from_secs(30), Duration::from_millis(50), || {
            descendant_named(shell, "ao").ok_or_else(|| "no ao in the pane".to_string())
        });
    // Settled: the feeds are up and the catch-up done.
    while lines.recv_timeout(Duration::from_secs(3)).is_ok() {}
    let views = [
        ("ao status --watch --json", watcher.id()),
        ("ao watch", dashboard),
    ];
    let pids: Vec<u32> = views.iter().map(|(_, pid)| *pid).collect();
    let used = cpu_over(&pids, SPAN);
    let printed = std::iter::from_fn(|| lines.try_recv().ok()).count();
    for ((label, pid), cpu) in views.iter().zip(used) {
        println!("{label:<26} {cpu}, RSS {}", mib(rss_tree(*pid)));
    }
    println!("lines printed meanwhile: {printed}");
    let _ = watcher.kill();
    let _ = watcher.wait();
}

/// A world of `n` finished sessions of the project `bench`, in the process runtime.
pub(crate) fn idle_sessions(n: usize) -> ao_test_support::World {
    let w = world_with(
        Scenario::new().script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7))),
    );
    let ids: Vec<String> = (0..n)
        .map(|_| w.spawn(&["bench", "bench", "--runtime", "process"]))
        .collect();
    for id in &ids {
        w.wait_activity(id, "ready");
    }
    w
}

/// The CPU each of `pids` used over the next `span`: `CPU 0.12 % of a core (7 ticks)`.
pub(crate) fn cpu_over(pids: &[u32], span: Duration) -> Vec<String> {
    let before: Vec<u64> = pids.iter().map(|pid| cpu_ticks(*pid)).collect();
    let t = Instant::now();
    std::thread::sleep(span);
    let ticks_per_s = ticks_per_s();
    pids.iter()
        .zip(before)
        .map(|(pid, before)| {
            let used = cpu_ticks(*pid) - before;
            let percent = used as f64 / ticks_per_s / t.elapsed().as_secs_f64() * 100.0;
            format!("CPU {percent:.2} % of a core ({used} ticks)")
        })
        .collect()
}

/// The first process below `pid` (itself included) whose command name is `name`.
fn descendant_named(pid: u32, name: &str) -> Option<u32> {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    if comm.trim() == name {
        return Some(pid);
    }
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .find_map(|c| descendant_named(c, name))
}

/// How many clock ticks (the unit of [`cpu_ticks`]) make a second.
pub(crate) fn ticks_per_s() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .unwrap_or(100) as f64
}

/// User and system CPU time of a process so far, in clock ticks.
pub(crate) fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc/PID/stat");
    // The fields after the command's closing parenthesis; utime and stime are the 14th and 15th
    // of the whole line.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap_or(0) + fields[12].parse::<u64>().unwrap_or(0)
}
