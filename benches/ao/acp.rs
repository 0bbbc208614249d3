//! `scripts/bench acp`: an ACP session (`opencode acp` on the mock model, through ao's session
//! host): spawn until the id and until the prompt is delivered, the host's and the agent's memory
//! busy and idle, and from the host's record of a turn's end to the `ao status --watch` line.

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ao_test_support::acp::AcpWorld;
use ao_test_support::{script, Scenario, Turn};
use serde_json::{json, Value};

use crate::watch::timed_lines;
use crate::{median_of, mib, ms, rss_tree, spread};

pub fn run() {
    println!("\n## an ACP session (opencode acp, through ao's host; process runtime)");
    let mut w = AcpWorld::new(
        Scenario::new()
            .script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7)))
            .script(script("held").turn(Turn::text("Released.").usage(110, 7).delay_ms(20_000))),
    );
    let config = w.opencode_acp_config(json!({}), &[]);
    w.acp_project("bench", config);

    // A first session warms the disk cache of the agent's binary.
    let first = w.spawn(&["bench", "bench", "--runtime", "process"]);
    w.wait_activity(&first, "ready");
    let to_id = median_of(5, || {
        let t = Instant::now();
        w.spawn(&["bench", "--runtime", "process"]);
        t.elapsed()
    });
    let to_prompt = median_of(5, || {
        let t = Instant::now();
        w.spawn(&["bench", "bench", "--runtime", "process"]);
        t.elapsed()
    });
    println!(
        "spawn, no prompt, until the id is printed:          {}",
        ms(to_id)
    );
    println!(
        "spawn, until the prompt is delivered (agent up):   {}",
        ms(to_prompt)
    );

    let held = w.spawn(&["bench", "held", "--runtime", "process"]);
    w.wait_activity(&held, "active");
    let (host, agent) = (w.host_process(&held).pid, w.agent_process(&held).pid);
    let busy = (rss_of(host, "VmRSS"), rss_tree(agent));
    w.wait_activity(&held, "ready");
    let idle = (rss_of(host, "VmRSS"), rss_tree(agent));
    println!(
        "host RSS: busy {}, idle {}; agent (opencode acp) RSS: busy {}, idle {}",
        mib(busy.0),
        mib(idle.0),
        mib(busy.1),
        mib(idle.1)
    );
    // Most of a host's RSS is pages of the `ao` binary and its libraries, mapped from their
    // files: shared with every other `ao` process, and given back under pressure. What the host
    // alone holds is its anonymous memory.
    println!(
        "host RSS, idle: its own (anonymous) {}, mapped from files (ao's binary, libraries) {}",
        mib(rss_of(host, "RssAnon")),
        mib(rss_of(host, "RssFile"))
    );
    latency(&w, &first);
}

/// From the host's record of a turn's end (the prompt's answer, `state.json`'s `phase.at`) to the
/// NDJSON line of `ao status --watch --json` that says `ready`, for ten turns. Both are the wall
/// clock of this machine.
fn latency(w: &AcpWorld, id: &str) {
    let mut watcher = w
        .ao_command(&["status", "--watch", "--json", id])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run ao status --watch");
    let lines = timed_lines(&mut watcher);
    // The lines come with the monotonic clock; the host's record, with the wall clock.
    let (mono, wall) = (Instant::now(), SystemTime::now());
    lines
        .recv_timeout(Duration::from_secs(30))
        .expect("the first line");
    let mut outputs = w.status(Some(id))[0]["tokens"]["output"]
        .as_u64()
        .unwrap_or(0);
    let mut samples = Vec::new();
    for _ in 0..10 {
        std::thread::sleep(Duration::from_millis(500));
        w.ao_ok(&["send", id, "bench"]);
        let shown = loop {
            let (at, line) = lines
                .recv_timeout(Duration::from_secs(60))
                .expect("a line for the turn's end");
            let v: Value = serde_json::from_str(&line).expect("JSON");
            let output = v["tokens"]["output"].as_u64().unwrap_or(0);
            if v["activity"] == "ready" && output > outputs {
                outputs = output;
                break at;
            }
        };
        let record = w.host_record(id).expect("the host's record");
        let ended = record["phase"]["at"]
            .as_u64()
            .expect("phase.at of an ended turn");
        let shown = wall + shown.saturating_duration_since(mono);
        let shown_ms = shown
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        samples.push(Duration::from_millis(shown_ms.saturating_sub(ended)));
    }
    let _ = watcher.kill();
    let _ = watcher.wait();
    println!(
        "host's record of a turn's end to the status --watch line: {}",
        spread(&mut samples, "turns")
    );
}

/// One of the resident-memory fields of one process (not its children; `VmRSS`, `RssAnon`,
/// `RssFile`), in bytes.
fn rss_of(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let prefix = format!("{field}:");
    status
        .lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}
