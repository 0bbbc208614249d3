//! `scripts/bench status`, right after a spawn: the `ao status` calls a person makes in the first
//! seconds of a tmux session that goes on to wait on a permission, in both tmux modes. With
//! OpenCode's TUI in the pane (`tui: always`) the server also serves the TUI's start, which is
//! what made the first status of such a session take 0.6 to 0.9 s.

use std::time::{Duration, Instant};

use ao_test_support::{script, Scenario, Turn, World};
use serde_json::json;

use crate::{ms, status_json};

/// Sessions spawned per mode.
const SESSIONS: usize = 5;

pub fn run() {
    println!("\n## ao status in the first seconds of a tmux session that waits on a permission");
    println!(
        "{SESSIONS} sessions per mode; each polled from its spawn until it waits (and 3 calls more)"
    );
    println!(
        "{:<16} {:>10} {:>10} {:>14} {:>10}",
        "tmux mode", "median", "worst", "first waiting", "after"
    );
    for (mode, extra) in [
        ("light (default)", None),
        ("tui: always", Some("tmux: {tui: always}")),
    ] {
        let scenario = Scenario::new().script(script("write a file").turn(Turn::tool_call(
            "bash",
            json!({"command": "echo hi > out.txt", "description": "Write out.txt"}),
        )));
        let mut w = World::new(scenario);
        if let Some(mode) = extra {
            w.set_defaults(&[mode]);
        }
        w.project("bench", &["permission: {bash: ask}"]);
        let (mut all, mut first_waiting, mut after) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..SESSIONS {
            let id = w.spawn(&["bench", "write a file", "--runtime", "tmux"]);
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let t = Instant::now();
                let out = status_json(&w, &[&id]);
                let took = t.elapsed();
                all.push(took);
                if out.contains("\"waiting_input\"") {
                    first_waiting.push(took);
                    break;
                }
                assert!(Instant::now() < deadline, "{id} never waited: {out}");
            }
            for _ in 0..3 {
                let t = Instant::now();
                status_json(&w, &[&id]);
                after.push(t.elapsed());
            }
            w.ao_ok(&["kill", &id]);
        }
        let median = |v: &mut Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let worst = *all.iter().max().expect("a call");
        println!(
            "{:<16} {:>10} {:>10} {:>14} {:>10}",
            mode,
            ms(median(&mut all)),
            ms(worst),
            ms(median(&mut first_waiting)),
            ms(median(&mut after))
        );
    }
}
