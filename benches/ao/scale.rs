//! `scripts/bench status`, at scale: `ao status --json` beside its floor (the same call with no
//! session), with 1 to 200 sessions on one project and 500 over 10 projects (on one shared server,
//! and on a server per project), and where one call's time goes (`AO_TIMING=1`).

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ao_test_support::{script, Scenario, Turn, World};

use crate::{median_of, ms, status_json};

/// How many `ao spawn` run at once while the sessions are made.
const SPAWNS_AT_ONCE: usize = 6;

pub fn run() {
    println!("\n## ao status --json at scale (ready process-runtime sessions, workspace: none)");
    println!(
        "Each figure: 20 calls once the projects are quiet (their monitors' feeds vouch for the \
         mirrored lists), median and worst, beside the floor measured in the same run; and the \
         first call after the last turn ended, which asks each project's server."
    );
    let floor = floor();
    println!(
        "floor: ao --version {}; ao status --json with no session {}",
        ms(floor.0),
        ms(floor.1)
    );
    println!(
        "{:>9} {:>9} {:>8} {:>10} {:>10} {:>9} {:>9} {:>12} {:>9}",
        "sessions",
        "projects",
        "servers",
        "median",
        "worst",
        "requests",
        "floor",
        "after turns",
        "requests"
    );

    let one = world(&["bench"], false);
    let mut made = 0;
    for n in [1usize, 10, 50, 200] {
        let _ = spawn(&one, "bench", n - made);
        made = n;
        row(&one, n, 1, floor.1);
        if n == 50 {
            breakdown(&one, "50 sessions, one project");
        }
    }
    drop(one);

    let names: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    // The same projects on one shared server, then each on its own (the settings of each its
    // own), in the same run.
    for own in [false, true] {
        let ten = world(&names, own);
        let mut one_each = Vec::new();
        for p in &names {
            one_each.extend(spawn(&ten, p, 50).into_iter().next());
        }
        row(&ten, 500, 10, floor.1);
        let servers = if own { "a server each" } else { "one server" };
        breakdown(&ten, &format!("500 sessions over 10 projects, {servers}"));
        // At once, as the last turn ends, while its server still works on it; and half a second
        // later, still within the feeds' busy window, so the call must still ask the server.
        for pause in [Duration::ZERO, Duration::from_millis(500)] {
            after_a_turn(
                &ten,
                &one_each,
                pause,
                &format!("500 sessions over 10 projects, {servers}"),
            );
        }
    }
}

/// A world with these projects, each in `workspace: none` (the sessions share the project's
/// directory, as a server's memory would not hold hundreds of work trees' instances); with `own`,
/// each with OpenCode settings of its own, so a server of its own.
fn world(projects: &[&str], own: bool) -> World {
    let mut w = World::new(
        Scenario::new().script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7))),
    );
    for p in projects {
        w.project(p, &[]);
        if own {
            w.opencode_config(
                p,
                serde_json::json!({"provider": {"mock": {"name": format!("mock of {p}")}}}),
            );
        }
    }
    let text = std::fs::read_to_string(w.config_path()).expect("read the config");
    w.set_config_text(&text.replace("    agentConfig:", "    workspace: none\n    agentConfig:"));
    w
}

/// `ao --version` and `ao status --json` with no session: medians of 15.
fn floor() -> (Duration, Duration) {
    let w = world(&["bench"], false);
    let version = median_of(15, || {
        let t = Instant::now();
        w.ao_ok(&["--version"]);
        t.elapsed()
    });
    let status = median_of(15, || {
        let t = Instant::now();
        status_json(&w, &[]);
        t.elapsed()
    });
    (version, status)
}

/// Spawns `n` sessions of `project`, a few at once, and waits until each is ready. Returns
/// their ids.
fn spawn(w: &World, project: &str, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut left = n;
    while left > 0 {
        let batch = left.min(SPAWNS_AT_ONCE);
        let children: Vec<_> = (0..batch)
            .map(|_| {
                w.ao_command(&["spawn", project, "bench", "--runtime", "process"])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("run ao spawn")
            })
            .collect();
        for c in children {
            let out = c.wait_with_output().expect("ao spawn");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
        left -= batch;
    }
    for id in &ids {
        w.ao_ok(&["wait", id, "--until", "ready", "--timeout", "120"]);
    }
    ids
}

fn row(w: &World, sessions: usize, projects: usize, floor: Duration) {
    let requests_of = |call: &[(String, f64)]| {
        call.iter()
            .filter(|(phase, _)| phase.starts_with("request "))
            .count()
    };
    let started = Instant::now();
    let first = timed_call(w);
    let first_took = started.elapsed();
    // Quiet: a status after every feed's busy moment has passed syncs the mirrors, and the next
    // ones ask nothing.
    let deadline = Instant::now() + Duration::from_secs(30);
    while requests_of(&timed_call(w)) > 0 {
        assert!(Instant::now() < deadline, "the projects never became quiet");
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut samples: Vec<Duration> = (0..20)
        .map(|_| {
            let t = Instant::now();
            status_json(w, &[]);
            t.elapsed()
        })
        .collect();
    samples.sort();
    let requests = requests_of(&timed_call(w));
    println!(
        "{:>9} {:>9} {:>8} {:>10} {:>10} {:>9} {:>9} {:>12} {:>9}",
        sessions,
        projects,
        w.server_pids().len(),
        ms(samples[samples.len() / 2]),
        ms(samples[samples.len() - 1]),
        requests,
        ms(floor),
        ms(first_took),
        requests_of(&first)
    );
}

/// One `ao status --json` with `AO_TIMING=1`: each phase and its time, in the order they ended.
fn timed_call(w: &World) -> Vec<(String, f64)> {
    let out = w
        .ao_command(&["status", "--json"])
        .env_remove("AO_STATUS_TIMEOUT")
        .env("AO_TIMING", "1")
        .output()
        .expect("run ao status");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.strip_prefix("ao: timing: "))
        .filter_map(|l| {
            // Where the phase began (` @ <ms>`) is for a person reading one call.
            let l = l.rsplit_once(" @ ").map_or(l, |(head, _)| head);
            let (phase, time) = l.strip_suffix(" ms")?.rsplit_once(' ')?;
            Some((phase.to_string(), time.parse().ok()?))
        })
        .collect()
}

/// The first status after a turn ended in one session of each project (`ids`), `pause` after the
/// last turn was seen to end, five times: the call's median and each phase's, once the turns are
/// over and before any other status.
fn after_a_turn(w: &World, ids: &[String], pause: Duration, label: &str) {
    const ROUNDS: usize = 5;
    let servers: Vec<u32> = w.server_pids().iter().map(|p| p.pid).collect();
    let server_cpu = || -> u64 {
        servers
            .iter()
            .map(|&pid| crate::watch::cpu_ticks(pid))
            .sum()
    };
    let cpu_before = server_cpu();
    let mut calls = Vec::new();
    for _ in 0..ROUNDS {
        for id in ids {
            w.ao_ok(&["send", id, "Again."]);
        }
        for id in ids {
            w.ao_ok(&["wait", id, "--until", "ready", "--timeout", "120"]);
        }
        std::thread::sleep(pause);
        let started = Instant::now();
        let phases = timed_call(w);
        calls.push((started.elapsed(), phases));
    }
    // What the turns cost the servers: their own work on each turn, and each event written to
    // the followers that listen to its stream.
    let cpu_per_round =
        (server_cpu() - cpu_before) as f64 / crate::watch::ticks_per_s() / ROUNDS as f64;
    let mut took: Vec<Duration> = calls.iter().map(|(t, _)| *t).collect();
    took.sort();
    println!(
        "\nthe first status {} after a turn in one session of each project ({label}): median {} \
         (min {}, max {}) over {ROUNDS}",
        if pause.is_zero() {
            "at once".to_string()
        } else {
            format!("{} ms", pause.as_millis())
        },
        ms(took[ROUNDS / 2]),
        ms(took[0]),
        ms(took[ROUNDS - 1])
    );
    println!(
        "the servers' CPU per round of {} turns (and the statuses): {cpu_per_round:.2} s",
        ids.len()
    );
    print_phases(calls.into_iter().map(|(_, phases)| phases));
}

/// Where the time of a call goes: each phase's median over 10 calls (requests by kind, with how
/// many a call makes).
fn breakdown(w: &World, label: &str) {
    println!("\nwhere the time of one call goes ({label}; median of 10, slowest of a kind):");
    print_phases((0..10).map(|_| timed_call(w)));
}

/// Each phase's median over `calls` (requests by kind, with how many a call makes; of a kind
/// that a call has more than once, its slowest).
fn print_phases(calls: impl Iterator<Item = Vec<(String, f64)>>) {
    let mut phases: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for call in calls {
        let mut per_call: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for (phase, t) in call {
            // Requests and projects by kind: a session's id or a project's name is not a phase.
            let kind = if let Some(rest) = phase.strip_prefix("request ") {
                let path: Vec<&str> = rest
                    .split('/')
                    .map(|part| {
                        if part.starts_with("ses_") {
                            "{id}"
                        } else {
                            part
                        }
                    })
                    .collect();
                format!("request {}", path.join("/"))
            } else if phase.starts_with("observe project ") {
                "observe project (slowest)".to_string()
            } else {
                phase
            };
            let e = per_call.entry(kind).or_default();
            e.0 = e.0.max(t);
            e.1 += 1;
        }
        for (kind, (t, n)) in per_call {
            phases.entry(kind.clone()).or_default().push(t);
            counts.insert(kind, n);
        }
    }
    for (kind, mut times) in phases {
        times.sort_by(f64::total_cmp);
        let n = counts[&kind];
        let times_n = if n > 1 {
            format!(" (x{n})")
        } else {
            String::new()
        };
        println!("  {kind:<48} {:>9.2} ms{times_n}", times[times.len() / 2]);
    }
}
