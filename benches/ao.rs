//! ao's benchmark: prints figures, asserts nothing about time. Run it with `scripts/bench`
//! (which builds `ao`, installs OpenCode and cuts the network) or `cargo bench --bench ao --
//! [SECTION...]`; sections: status, spawn, wait. Everything runs on the real opencode against the mock.

use std::process::Command;
use std::time::{Duration, Instant};

use ao_test_support::{opencode_bin, script, Scenario, Turn, World};

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
    if run("spawn") {
        spawn();
    }
    if run("wait") {
        wait();
    }
}

fn world() -> World {
    let scenario = Scenario::new()
        .script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7)))
        .script(script("slow").turn(Turn::text("Slowly.").usage(110, 7).delay_ms(3000)));
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
    let mut ids = Vec::new();
    for target in [1usize, 10, 50] {
        while ids.len() < target {
            ids.push(w.spawn(&["bench", "bench", "--runtime", "process"]));
        }
        for id in &ids {
            w.wait_activity(id, "ready");
        }
        let ao = median_of(10, || {
            let t = Instant::now();
            w.ao_ok(&["status", "--json"]);
            t.elapsed()
        });
        // What agent-orchestrator's OpenCode plugin runs per session on every status.
        let workspace = w.session(&ids[0])["workspace"]
            .as_str()
            .expect("workspace")
            .to_string();
        let t = Instant::now();
        for _ in 0..target {
            let out = opencode_command(&w)
                .args(["session", "list", "--format", "json"])
                .current_dir(&workspace)
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

fn epoch_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn opencode_command(w: &World) -> Command {
    let probe = w.ao_command(&[]);
    let mut cmd = Command::new(opencode_bin());
    for (k, v) in probe.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd
}

fn median_of(n: usize, mut f: impl FnMut() -> Duration) -> Duration {
    let mut samples: Vec<Duration> = (0..n).map(|_| f()).collect();
    samples.sort();
    samples[n / 2]
}

fn ms(d: Duration) -> String {
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
