//! ao's benchmark: prints figures, asserts nothing about time. Run it with `scripts/bench`
//! (which builds `ao`, installs OpenCode and cuts the network) or `cargo bench --bench ao --
//! [SECTION...]`; sections: status (scale and first-status: its parts alone), spawn, wait, memory
//! (shared: its part of ten projects alone), crowd, watch, mcp, notify, dashboard, remote, acp,
//! container, claude, codex. Everything runs on the real agents (OpenCode; Claude Code and Codex
//! through their ACP adapters) against the mock.

use std::process::Command;
use std::time::{Duration, Instant};

#[path = "ao/acp.rs"]
mod acp;
#[path = "ao/agents.rs"]
mod agents;
#[path = "ao/container.rs"]
mod container;
#[path = "ao/dashboard.rs"]
mod dashboard;
#[path = "ao/first_status.rs"]
mod first_status;
#[path = "ao/mcp.rs"]
mod mcp;
#[path = "ao/notify.rs"]
mod notify;
#[path = "ao/remote.rs"]
mod remote;
#[path = "ao/scale.rs"]
mod scale;
#[path = "ao/shared.rs"]
mod shared;
#[path = "ao/watch.rs"]
mod watch;

use ao_test_support::{opencode_bin, script, workspace_of, Scenario, Turn, World};

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |name: &str| wanted.is_empty() || wanted.iter().any(|w| w == name);
    println!("ao bench: {}", machine());
    if run("status") {
        status();
    }
    // `status` at scale alone is `scale`: the comparison above takes minutes.
    if run("status") || run("scale") {
        scale::run();
    }
    if run("status") || run("first-status") {
        first_status::run();
    }
    if run("spawn") {
        spawn();
    }
    if run("wait") {
        wait();
    }
    if run("memory") {
        memory();
    }
    // The shared case alone is `shared`: it starts ten servers.
    if run("memory") || run("shared") {
        shared::run();
    }
    if run("crowd") {
        crowd();
    }
    if run("watch") {
        watch::run();
    }
    if run("mcp") {
        mcp::run();
    }
    if run("notify") {
        notify::run();
    }
    if run("dashboard") {
        dashboard::run();
    }
    if run("remote") {
        remote::run();
    }
    if run("acp") {
        acp::run();
    }
    if run("container") {
        container::run();
    }
    if run("claude") {
        agents::claude();
    }
    if run("codex") {
        agents::codex();
    }
}

fn world() -> World {
    world_with(
        Scenario::new()
            .script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7)))
            .script(script("slow").turn(Turn::text("Slowly.").usage(110, 7).delay_ms(3000))),
    )
}

/// A world with the one project `bench` on `scenario`.
pub(crate) fn world_with(scenario: Scenario) -> World {
    let mut w = World::new(scenario);
    w.project("bench", &[]);
    w
}

/// `ao status --json` with 1, 10 and 50 live sessions on one project server, beside what the
/// approach ao replaces costs: one `opencode session list --format json` per session.
fn status() {
    println!("\n## ao status --json, live (ready) process-runtime sessions on one server");
    println!(
        "{:>9} {:>14} {:>24} {:>8}",
        "sessions", "ao status", "opencode session list xN", "ratio"
    );
    let w = world();
    let mut ids: Vec<String> = Vec::new();
    let mut workspace = None;
    for target in [1usize, 10, 50] {
        let before = ids.len();
        while ids.len() < target {
            ids.push(w.spawn(&["bench", "bench", "--runtime", "process"]));
        }
        // Those of earlier rounds are ready already.
        for id in &ids[before..] {
            let s = w.wait_activity(id, "ready");
            workspace.get_or_insert_with(|| workspace_of(&s));
        }
        let ao = median_of(10, || {
            let t = Instant::now();
            status_json(&w, &[]);
            t.elapsed()
        });
        // What agent-orchestrator's OpenCode plugin runs per session on every status.
        let workspace = workspace.as_ref().expect("a session");
        let t = Instant::now();
        for _ in 0..target {
            let out = w
                .command(opencode_bin())
                .args(["session", "list", "--format", "json"])
                .current_dir(workspace)
                .output()
                .expect("run opencode");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let list = t.elapsed();
        println!(
            "{:>9} {:>14} {:>24} {:>7.0}x",
            target,
            ms(ao),
            ms(list),
            list.as_secs_f64() / ao.as_secs_f64()
        );
    }
}

/// `ao spawn` to the session id, and to the first prompt delivered and the session busy, with the
/// project's server warm; then with no server running (cold).
fn spawn() {
    println!("\n## ao spawn (process runtime), median of 5");
    let w = world();
    // Warm the server and the first work tree.
    let first = w.spawn(&["bench", "bench", "--runtime", "process"]);
    w.wait_activity(&first, "ready");

    let to_id = median_of(5, || {
        let t = Instant::now();
        w.spawn(&["bench", "--runtime", "process"]);
        t.elapsed()
    });
    let mut to_busy_samples = Vec::new();
    let to_prompt = median_of(5, || {
        let t = Instant::now();
        let id = w.spawn(&["bench", "slow", "--runtime", "process"]);
        let delivered = t.elapsed();
        w.wait_activity(&id, "active");
        to_busy_samples.push(t.elapsed());
        delivered
    });
    to_busy_samples.sort();
    println!(
        "warm server, no prompt, until the id is printed: {}",
        ms(to_id)
    );
    println!(
        "warm server, until the prompt is delivered:       {}",
        ms(to_prompt)
    );
    println!(
        "warm server, until `ao status` says active:      {}",
        ms(to_busy_samples[to_busy_samples.len() / 2])
    );

    let cold = median_of(3, || {
        w.ao_ok(&["kill", "bench"]);
        assert!(w.server_pids().iter().all(|p| !p.is_alive()));
        let t = Instant::now();
        w.spawn(&["bench", "--runtime", "process"]);
        t.elapsed()
    });
    println!(
        "cold (server started), no prompt, until the id:   {}",
        ms(cold)
    );
}

/// How long after the session's last update `ao wait --until ready` returns: following the event
/// stream, and polling alone (`AO_OPENCODE_EVENTS=off`, as when the stream is cut).
fn wait() {
    println!("\n## ao wait --until ready: from the session's last update to ao wait returning");
    let w = world();
    let warm = w.spawn(&["bench", "bench", "--runtime", "process"]);
    w.wait_activity(&warm, "ready");
    for (label, events) in [("event stream", "on"), ("polling only", "off")] {
        let mut samples = Vec::new();
        for _ in 0..5 {
            let id = w.spawn(&["bench", "slow", "--runtime", "process"]);
            let out = w
                .ao_command(&["wait", &id, "--until", "ready", "--timeout", "60"])
                .env("AO_OPENCODE_EVENTS", events)
                .output()
                .expect("run ao wait");
            let returned = epoch_ms();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let s = w.session(&id);
            let updated = chrono::DateTime::parse_from_rfc3339(
                s["last_activity_at"].as_str().expect("last_activity_at"),
            )
            .expect("RFC 3339")
            .timestamp_millis();
            samples.push(Duration::from_millis((returned - updated).max(0) as u64));
        }
        samples.sort();
        println!(
            "{label:<13} median {}  (min {}, max {})",
            ms(samples[2]),
            ms(samples[0]),
            ms(samples[4])
        );
    }
}

/// Resident memory of the project server, and what each session adds in each runtime, busy (its
/// model reply held back) and idle: process, tmux (lazy, the default: ao's view in the pane) and
/// tmux with `tui: always` (OpenCode's TUI in the pane). Then, for a lazy session, the time from
/// `ao attach` until its TUI shows the session, and what it costs while it is open and after.
fn memory() {
    println!("\n## memory (RSS)");
    const N: usize = 4;
    let scenario = || {
        Scenario::new()
            .script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7)))
            .script(script("held").turn(Turn::text("Released.").usage(110, 7).delay_ms(20_000)))
    };
    // Each kind on a server of its own: what a server gave back after the sessions of another
    // kind were killed would otherwise count for the next.
    for (label, runtime, defaults) in [
        ("process", "process", &[][..]),
        ("tmux (lazy)", "tmux", &[][..]),
        ("tmux (tui: always)", "tmux", &["tmux: {tui: always}"][..]),
    ] {
        let mut w = world_with(scenario());
        w.set_defaults(defaults);
        let warm = w.spawn(&["bench", "bench", "--runtime", "process"]);
        w.wait_activity(&warm, "ready");
        let server = w.server_pids()[0].pid;
        let before = rss_tree(server);
        if runtime == "process" {
            println!("project server, 1 idle session:          {}", mib(before));
        }
        let ids: Vec<String> = (0..N)
            .map(|_| w.spawn(&["bench", "held", "--runtime", runtime]))
            .collect();
        for id in &ids {
            w.wait_activity(id, "active");
        }
        let busy_server = rss_tree(server);
        let busy_own = sessions_rss(&w, &ids);
        for id in &ids {
            w.wait_activity(id, "ready");
        }
        let idle_server = rss_tree(server);
        let idle_own = sessions_rss(&w, &ids);
        let per = |server_now: u64, own: u64| (server_now.saturating_sub(before) + own) / N as u64;
        println!(
            "{label:<18} per session, busy: {} (its processes {} + server growth {})",
            mib(per(busy_server, busy_own)),
            mib(busy_own / N as u64),
            mib(busy_server.saturating_sub(before) / N as u64)
        );
        println!(
            "{label:<18} per session, idle: {} (its processes {} + server growth {})",
            mib(per(idle_server, idle_own)),
            mib(idle_own / N as u64),
            mib(idle_server.saturating_sub(before) / N as u64)
        );
        if runtime == "tmux" && defaults.is_empty() {
            attach_to_lazy(&w, server, &ids[0]);
        }
    }
}

/// A lazy session: `ao attach` from a terminal until its TUI shows the session (a few times), with
/// where the time goes (ao until the TUI's window is open, OpenCode until its TUI draws, then until
/// it shows the conversation), and the memory with the TUI open and after the client detached.
fn attach_to_lazy(w: &World, server: u32, id: &str) {
    let ids = [id.to_string()];
    let ses = w.session(id)["agent_session_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let closed = (rss_tree(server), sessions_rss(w, &ids));
    let ao = ao_test_support::shell_quote(&w.ao_script().to_string_lossy());
    let (mut total, mut window, mut drawing) = (Vec::new(), Vec::new(), Vec::new());
    let mut open = (0, 0);
    for i in 0..3 {
        let t = Instant::now();
        let term = w.terminal(
            &format!("person-{i}"),
            &format!("unset TMUX; exec {ao} attach {id}"),
        );
        let (mut opened, mut drew) = (None, None);
        ao_test_support::wait_until(Duration::from_secs(90), Duration::from_millis(10), || {
            let out = w.tmux(&[
                "list-windows",
                "-t",
                &format!("={id}"),
                "-F",
                "#{window_name} #{alternate_on}",
            ]);
            let windows = String::from_utf8_lossy(&out.stdout).into_owned();
            if opened.is_none() && windows.lines().count() > 1 {
                opened = Some(t.elapsed());
            }
            if drew.is_none() && windows.lines().any(|l| l.ends_with(" 1")) {
                drew = Some(t.elapsed());
            }
            let screen = term.screen();
            if screen.contains("Released.") && !screen.contains("ao attach") {
                Ok(())
            } else {
                Err(format!("the TUI never showed the session:\n{screen}"))
            }
        });
        total.push(t.elapsed());
        window.push(opened.unwrap_or_default());
        drawing.push(drew.unwrap_or_default());
        open = (rss_tree(server), sessions_rss(w, &ids));
        term.keys(&["C-b", "d"]);
        let t = Instant::now();
        while !w.tui_processes(&ses).is_empty() {
            if t.elapsed() > Duration::from_secs(10) {
                let out = w.tmux(&[
                    "list-windows",
                    "-t",
                    &format!("={id}"),
                    "-F",
                    "#{window_id} #{window_name} #{@ao-tui} #{session_attached} #{pane_pid}",
                ]);
                panic!(
                    "the TUI still runs 10 s after the detach: {:?}; clients {:?}; windows:\n{}\n\
                     the person's terminal:\n{}",
                    w.tui_processes(&ses),
                    w.tmux_clients(),
                    String::from_utf8_lossy(&out.stdout),
                    term.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let after = (rss_tree(server), sessions_rss(w, &ids));
    println!("\n## ao attach to a lazy tmux session (idle)");
    println!(
        "until the TUI shows the session: {}",
        spread(&mut total, "attaches")
    );
    println!(
        "  until its window is open (ao): {}",
        spread(&mut window, "attaches")
    );
    println!(
        "  until it draws (OpenCode):     {}",
        spread(&mut drawing, "attaches")
    );
    for (what, (srv, own)) in [
        ("before any attach", closed),
        ("TUI open (attached)", open),
        ("after the detach", after),
    ] {
        println!(
            "{what:<20} session's processes {}, server {} ({} above before any attach)",
            mib(own),
            mib(srv),
            mib(srv.saturating_sub(closed.0))
        );
    }
}

/// The resident memory of the sessions' programs and their descendants: the detached follower,
/// or every pane of the tmux session (ao's view, a TUI).
fn sessions_rss(w: &World, ids: &[String]) -> u64 {
    ids.iter()
        .flat_map(|id| runtime_pids(w, id))
        .map(rss_tree)
        .sum()
}

/// 20 sessions at once on this machine: all must finish with exact tokens and cost; `ao status`
/// time while they run.
fn crowd() {
    println!("\n## 20 sessions at once (process runtime)");
    const N: usize = 20;
    let w = world_with(
        Scenario::new()
            .script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7)))
            .script(
                script("crowd").turn(Turn::text("One of many.").usage(1000, 50).delay_ms(2000)),
            ),
    );
    let warm = w.spawn(&["bench", "bench", "--runtime", "process"]);
    w.wait_activity(&warm, "ready");
    let t = Instant::now();
    let children: Vec<_> = (0..N)
        .map(|_| {
            w.ao_command(&["spawn", "bench", "crowd", "--runtime", "process"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("run ao spawn")
        })
        .collect();
    let mut ids = Vec::new();
    let mut failures = 0;
    for c in children {
        let out = c.wait_with_output().expect("ao spawn");
        if out.status.success() {
            ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
        } else {
            failures += 1;
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        }
    }
    let spawned = t.elapsed();
    let mut during = Vec::new();
    let mut stale_calls = 0;
    // The crowd's entries of the last status, which is also what the figures are taken from.
    let last = loop {
        let t0 = Instant::now();
        let all: Vec<serde_json::Value> =
            serde_json::from_str(&status_json(&w, &["bench"])).expect("status is JSON");
        during.push(t0.elapsed());
        stale_calls += usize::from(all.iter().any(|s| s["stale"] == true));
        let crowd: Vec<serde_json::Value> = all
            .into_iter()
            .filter(|s| ids.contains(&s["id"].as_str().unwrap_or_default().to_string()))
            .collect();
        let done = crowd.iter().filter(|s| s["activity"] == "ready").count();
        if done == ids.len() || t.elapsed() > Duration::from_secs(300) {
            break crowd;
        }
    };
    let finished = t.elapsed();
    let cost = (1000.0 * 3.0 + 50.0 * 15.0) / 1e6;
    let exact = last
        .iter()
        .filter(|s| {
            s["activity"] == "ready"
                && s["tokens"]["input"] == 1000
                && s["tokens"]["output"] == 50
                && (s["cost_usd"].as_f64().unwrap_or(0.0) - cost).abs() < 1e-12
        })
        .count();
    during.sort();
    println!(
        "spawned {} of {N} in {} ({} failed)",
        ids.len(),
        ms(spawned),
        failures
    );
    println!(
        "all finished after {}; {exact} of {N} with exact tokens (1000/50) and cost {cost}",
        ms(finished)
    );
    println!(
        "ao status --json while they ran: median {}, max {} ({} calls, {stale_calls} with a \
         project shown stale)",
        ms(during[during.len() / 2]),
        ms(during[during.len() - 1]),
        during.len()
    );
}

/// The pids of a session's programs: the follower (process) or each pane's program (tmux).
fn runtime_pids(w: &World, id: &str) -> Vec<u32> {
    let s = w.session(id);
    if s["runtime"] == "tmux" {
        let target = format!("={id}");
        let out = w.tmux(&["list-panes", "-s", "-t", &target, "-F", "#{pane_pid}"]);
        return String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
    }
    w.session_process(id).map(|p| p.pid).into_iter().collect()
}

/// The resident memory of a process and all its descendants, in bytes.
pub(crate) fn rss_tree(pid: u32) -> u64 {
    use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
    let mut sys = System::new();
    sys.refresh_processes_specifics(
        ProcessesToUpdate::All,
        true,
        ProcessRefreshKind::nothing().with_memory(),
    );
    let root = Pid::from_u32(pid);
    let mut total = 0;
    for (p, proc_) in sys.processes() {
        // Threads are listed as processes too, each with the whole process's memory.
        if proc_.thread_kind().is_some() {
            continue;
        }
        let mut cur = Some(*p);
        while let Some(c) = cur {
            if c == root {
                total += proc_.memory();
                break;
            }
            cur = sys.process(c).and_then(|x| x.parent());
        }
    }
    total
}

/// One of the resident-memory fields of one process (not its children; `VmRSS`, `RssAnon`,
/// `RssFile`), in bytes.
pub(crate) fn rss_of(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let prefix = format!("{field}:");
    status
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

pub(crate) fn median_of(n: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut samples: Vec<Duration> = (0..n).map(|_| f()).collect();
    samples.sort();
    samples[n / 2]
}

/// `median X (min Y, max Z) over N <what>` of `samples`, which it sorts.
pub(crate) fn spread(samples: &mut [Duration], what: &str) -> String {
    samples.sort();
    format!(
        "median {} (min {}, max {}) over {} {what}",
        ms(samples[samples.len() / 2]),
        ms(samples[0]),
        ms(samples[samples.len() - 1]),
        samples.len()
    )
}

/// `ao status --json [args]` as a person gets it: with the default status budget, not the
/// longer one the test worlds set for loaded test machines. Its standard output.
pub(crate) fn status_json(w: &World, args: &[&str]) -> String {
    let mut all = vec!["status", "--json"];
    all.extend_from_slice(args);
    let out = w
        .ao_command(&all)
        .env_remove("AO_STATUS_TIMEOUT")
        .output()
        .expect("run ao status");
    assert!(
        out.status.success(),
        "ao status failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{cpus} CPUs ({model}), OpenCode {}", opencode_version())
}

fn opencode_version() -> String {
    Command::new(opencode_bin())
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "?".into())
}
