//! `scripts/bench remote`: a project on an ssh host (a private sshd on 127.0.0.1, so the figures
//! are ao's and ssh's own cost, not a network's) beside one on this machine: `ao status` with 10
//! sessions behind the tunnel against 10 local ones, and `ao spawn` over ssh.

use std::time::{Duration, Instant};

use ao_test_support::remote::{RemoteServerGuard, Sshd};
use ao_test_support::{script, Scenario, Turn, World};

use crate::{median_of, ms, spread, status_json};

pub fn run() {
    println!("\n## a project over ssh (sshd on 127.0.0.1) beside a local one");
    let mut w = World::new(
        Scenario::new().script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7))),
    );
    let local = w.project("local", &[]);
    let far = w.project("far", &[]);
    let _sshd = Sshd::start(&mut w);
    let provider = w.provider_config();
    w.set_config_text(&format!(
        "projects:\n  - name: local\n    path: {}\n    runtime: process\n    agentConfig:\n      \
         model: mock/mock-1\n      opencodeConfig: {provider}\n  - name: far\n    path: {}\n    \
         host: builder\n    runtime: process\n    workspace: worktree\n    agentConfig:\n      \
         model: mock/mock-1\n      opencodeConfig: {provider}\n",
        local.display(),
        far.display()
    ));
    let _guard = RemoteServerGuard::new(&w, "far", &["builder"]);

    // Cold: the ssh master, the server on the host, the tunnel, the work tree, the prompt.
    let (cold, mut warm) = spawn_times(&w, "far");
    println!(
        "ao spawn over ssh, cold (master, server, tunnel, work tree): {}",
        ms(cold)
    );
    println!(
        "ao spawn over ssh, warm (work tree by git over ssh, prompt stored): {}",
        spread(&mut warm, "spawns")
    );
    // The same spawns on this machine, for comparison.
    let (cold, mut warm) = spawn_times(&w, "local");
    println!("ao spawn here, cold (server, work tree): {}", ms(cold));
    println!("ao spawn here, warm: {}", spread(&mut warm, "spawns"));
    wait_all_ready(&w);
    let local_status = median_of(10, || {
        let t = Instant::now();
        status_json(&w, &["local"]);
        t.elapsed()
    });
    let far_status = median_of(10, || {
        let t = Instant::now();
        status_json(&w, &["far"]);
        t.elapsed()
    });
    println!("ao status --json, 10 ready sessions, median of 10:");
    println!("  local server:              {}", ms(local_status));
    println!("  server behind the ssh tunnel: {}", ms(far_status));
    w.ao_ok(&["kill", "far"]);
    w.ao_ok(&["kill", "local"]);
}

/// Ten spawns in `project`: the first (which starts its server), and the nine after it.
fn spawn_times(w: &World, project: &str) -> (Duration, Vec<Duration>) {
    let mut times: Vec<Duration> = (0..10)
        .map(|_| {
            let t = Instant::now();
            w.spawn(&[project, "bench"]);
            t.elapsed()
        })
        .collect();
    let cold = times.remove(0);
    (cold, times)
}

fn wait_all_ready(w: &World) {
    for s in w.status(None) {
        let id = s["id"].as_str().expect("id").to_string();
        w.wait_activity(&id, "ready");
    }
}
