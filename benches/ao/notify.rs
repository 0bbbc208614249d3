//! `scripts/bench notify`: how soon a project's monitor starts a notifier after the server said a
//! turn ended, and what the monitor costs in memory.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ao_test_support::{script, wait_until, Scenario, Turn, World};

use crate::watch::listen;
use crate::{mib, rss_tree, spread, world_with};

pub fn run() {
    println!("\n## the monitor: from the server's event to the notifier command starting");
    // Long enough for `active` to be seen between two `ready`s: a turn nobody saw begin is no
    // transition.
    let w = world_with(
        Scenario::new()
            .script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7).delay_ms(300))),
    );
    let starts = w.root().join("notifier-starts");
    configure(&w, &starts);
    let id = w.spawn(&["bench", "bench", "--runtime", "process"]);
    let s = w.wait_activity(&id, "ready");
    let conversation = s["agent_session_id"].as_str().expect("an id").to_string();
    // The first turn's `ready`, notified once the monitor runs.
    wait_lines(&starts, 1);
    let (url, password) = w.server_endpoint("bench");
    let heard = listen(url, password);

    let mut samples = Vec::new();
    for turn in 0..10 {
        // The server says a turn ended more than once (`session.idle`, `session.status`): the
        // first after this turn began is its end.
        let sent = SystemTime::now();
        w.ao_ok(&["send", &id, "bench"]);
        let event = loop {
            let h = heard
                .recv_timeout(Duration::from_secs(60))
                .expect("the turn's end on the event stream");
            if h.session == conversation && h.wall > sent {
                break h.wall;
            }
        };
        let started = wait_lines(&starts, turn + 2);
        let delay = started.duration_since(event).unwrap_or(Duration::ZERO);
        samples.push(delay);
    }
    println!(
        "event to notifier start (notifyDebounceMs: 0): {}",
        spread(&mut samples, "turns")
    );
    let monitor = w.monitor_process("bench").expect("the monitor");
    println!(
        "monitor RSS with 1 session, after {} notifications: {}",
        samples.len() + 1,
        mib(rss_tree(monitor.pid))
    );
}

/// The bench project with a notifier on `ready` that appends when it started (ns since the
/// epoch) to `starts`, and no debounce: what is measured is ao's own delay.
fn configure(w: &World, starts: &std::path::Path) {
    let dir = w.root().join("projects/bench");
    w.set_config_text(&format!(
        "notifyDebounceMs: 0\nnotifications:\n  - on: [ready]\n    command: ['sh', '-c', 'date +%s%N >> {}']\nprojects:\n  - name: bench\n    path: {}\n    agentConfig:\n      model: mock/mock-1\n      opencodeConfig: {}\n",
        starts.display(),
        dir.display(),
        w.provider_config()
    ));
}

/// Waits until `starts` has `n` lines; the time of the last, as a wall-clock time.
fn wait_lines(starts: &std::path::Path, n: usize) -> SystemTime {
    wait_until(Duration::from_secs(60), Duration::from_millis(2), || {
        let text = std::fs::read_to_string(starts).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        match lines.get(n - 1) {
            Some(last) if lines.len() == n => {
                let ns: u64 = last.trim().parse().map_err(|e| format!("{last}: {e}"))?;
                Ok(UNIX_EPOCH + Duration::from_nanos(ns))
            }
            Some(_) => Err(format!(
                "{} notifications, not {n}: one fired twice",
                lines.len()
            )),
            None => Err(format!("{} notifications of {n}", lines.len())),
        }
    })
}
