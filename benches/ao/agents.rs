//! `scripts/bench claude codex`: a Claude Code session (`agent: claude`: claude-agent-acp, Node
//! and the bundled `claude`) and a Codex session (`agent: codex`: codex-acp) on the mock model,
//! through ao's session host, in the process runtime, with the figures `scripts/bench acp` gives
//! for `opencode acp` (it measures with [`session_figures`] too): spawn until the id, until the
//! prompt is delivered and until `ao status` says active; the host's and the agent's memory, busy
//! and idle. The agent's memory is its whole process tree.

use std::time::{Duration, Instant};

use ao_test_support::acp::{wait_gone, AcpWorld};
use ao_test_support::claude::claude_config;
use ao_test_support::codex::{codex_config, write_codex_home};
use ao_test_support::{script, wait_until, Scenario, Turn};

use crate::{median_of, mib, ms, rss_of, rss_tree};

/// How long the `held` reply waits: "busy" is measured within it.
const HELD_MS: u64 = 20_000;

pub fn claude() {
    println!("\n## a Claude Code session (agent: claude, through ao's host; process runtime)");
    let mut w = AcpWorld::new(scenario());
    let config = claude_config(&w, &[]);
    w.agent_project("bench", "claude", config);
    session_figures(&w, "claude-agent-acp, node and claude");
}

pub fn codex() {
    println!("\n## a Codex session (agent: codex, through ao's host; process runtime)");
    let mut w = AcpWorld::new(scenario());
    let home = write_codex_home(&w, "bench");
    w.agent_project("bench", "codex", codex_config(&home, &[]));
    session_figures(&w, "codex-acp");
}

/// What the mock answers: `bench` at once, `slow` after 3 s (long enough to be seen active),
/// `held` after [`HELD_MS`].
pub(crate) fn scenario() -> Scenario {
    Scenario::new()
        .script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7)))
        .script(script("slow").turn(Turn::text("Slowly.").usage(110, 7).delay_ms(3000)))
        .script(script("held").turn(Turn::text("Released.").usage(110, 7).delay_ms(HELD_MS)))
}

/// Prints the figures of sessions of project `bench` in `w` (on [`scenario`]), whose agent's
/// processes are `agent`: spawn until the id (no prompt), until the prompt is delivered and until
/// `ao status` says active (median of 5 each; each session killed once measured, so that no more
/// than two agents run at once), then the host's and the agent's RSS while a turn runs (the mock
/// holding its reply back) and after it ended. Returns the id of a ready session, left running.
pub(crate) fn session_figures(w: &AcpWorld, agent: &str) -> String {
    // A first session warms the disk cache of the agent's binaries.
    let first = w.spawn(&["bench", "bench", "--runtime", "process"]);
    w.wait_activity(&first, "ready");
    let to_id = median_of(5, || {
        let t = Instant::now();
        let id = w.spawn(&["bench", "--runtime", "process"]);
        let took = t.elapsed();
        kill(w, &id);
        took
    });
    let mut to_active = Vec::new();
    let to_prompt = median_of(5, || {
        let t = Instant::now();
        let id = w.spawn(&["bench", "slow", "--runtime", "process"]);
        let delivered = t.elapsed();
        w.wait_activity(&id, "active");
        to_active.push(t.elapsed());
        kill(w, &id);
        delivered
    });
    to_active.sort();
    println!(
        "spawn, no prompt, until the id is printed:          {}",
        ms(to_id)
    );
    println!(
        "spawn, until the prompt is delivered (agent up):   {}",
        ms(to_prompt)
    );
    println!(
        "spawn, until `ao status` says active:              {}",
        ms(to_active[to_active.len() / 2])
    );

    let held = w.spawn(&["bench", "held", "--runtime", "process"]);
    w.wait_activity(&held, "active");
    let (host, agent_pid) = (w.host_process(&held).pid, w.agent_process(&held).pid);
    // Busy: the agent has sent the turn's request and waits for the reply.
    wait_until(Duration::from_secs(30), Duration::from_millis(50), || {
        let requests = w.mock.requests();
        let asked = requests
            .iter()
            .any(|r| !r.is_side && r.script.as_deref() == Some("held"));
        asked
            .then_some(())
            .ok_or_else(|| "the agent never asked the mock for the held turn".to_string())
    });
    std::thread::sleep(Duration::from_secs(1));
    let busy = (rss_of(host, "VmRSS"), rss_tree(agent_pid));
    w.wait_activity(&held, "ready");
    std::thread::sleep(Duration::from_secs(1));
    let idle = (rss_of(host, "VmRSS"), rss_tree(agent_pid));
    println!(
        "host RSS: busy {}, idle {}; agent ({agent}) RSS: busy {}, idle {}",
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
    kill(w, &held);
    first
}

/// `ao kill` a session, and wait until its agent is gone.
fn kill(w: &AcpWorld, id: &str) {
    let agent = w.agent_process(id);
    w.ao_ok(&["kill", id]);
    wait_gone(agent, "the agent after ao kill", Duration::from_secs(15));
}
