//! `scripts/bench acp`: an ACP session (`opencode acp` on the mock model, through ao's session
//! host): spawn until the id, until the prompt is delivered and until `ao status` says active,
//! the host's and the agent's memory busy and idle (as `agents.rs` measures Claude Code and
//! Codex), and from the host's record of a turn's end to the `ao status --watch` line.

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ao_test_support::acp::AcpWorld;
use serde_json::{json, Value};

use crate::{agents, spread};
use ao_test_support::timed_lines;

pub fn run() {
    println!("\n## an ACP session (opencode acp, through ao's host; process runtime)");
    let mut w = AcpWorld::new(agents::scenario());
    let config = w.opencode_acp_config(json!({}), &[]);
    w.acp_project("bench", config);
    let first = agents::session_figures(&w, "opencode acp");
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
