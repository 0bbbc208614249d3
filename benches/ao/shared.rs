//! `scripts/bench memory`, the shared case: ten projects with one idle session each, on one shared
//! OpenCode server (the same server settings) and, in the same run, on a server each (each
//! project's settings its own, as every project had before servers were shared): the resident
//! memory of all servers, and the spawn of a second project's first session until its id.

use std::time::{Duration, Instant};

use ao_test_support::{script, Scenario, Turn, World};

use crate::{mib, ms, rss_tree};

/// How many projects.
const PROJECTS: usize = 10;

pub fn run() {
    println!("\n## memory (RSS): {PROJECTS} projects, one idle session each");
    println!(
        "{:<22} {:>8} {:>14} {:>34}",
        "servers", "count", "RSS of all", "2nd project's spawn, until the id"
    );
    for own in [true, false] {
        let w = world(own);
        let names: Vec<String> = (0..PROJECTS).map(|i| format!("p{i}")).collect();
        // The first project warms its server; the second one's spawn (no prompt, as the spawn
        // section's), until the id, is what a person waits for in a project with no session yet.
        let first = w.spawn(&[&names[0], "bench", "--runtime", "process"]);
        w.wait_activity(&first, "ready");
        let started = Instant::now();
        let second = w.spawn(&[&names[1], "--runtime", "process"]);
        let second_took = started.elapsed();
        w.ao_ok(&["send", &second, "bench"]);
        w.wait_activity(&second, "ready");
        for name in &names[2..] {
            let id = w.spawn(&[name, "bench", "--runtime", "process"]);
            w.wait_activity(&id, "ready");
        }
        // Settled: a server's memory right after a turn still holds what the turn allocated.
        std::thread::sleep(Duration::from_secs(5));
        let servers = w.server_pids();
        let rss: u64 = servers.iter().map(|p| rss_tree(p.pid)).sum();
        println!(
            "{:<22} {:>8} {:>14} {:>34}",
            if own { "one per project" } else { "shared" },
            servers.len(),
            mib(rss),
            ms(second_took)
        );
    }
}

/// A world with the projects `p0`…`p9`, all on the same server settings, or (`own`) each with a
/// provider name of its own, which gives it a server of its own.
fn world(own: bool) -> World {
    let mut w = World::new(
        Scenario::new().script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7))),
    );
    for i in 0..PROJECTS {
        let name = format!("p{i}");
        w.project(&name, &[]);
        if own {
            w.opencode_config(
                &name,
                serde_json::json!({"provider": {"mock": {"name": format!("mock of {name}")}}}),
            );
        }
    }
    w
}
