use ao_test_support::{script, Scenario, Turn, World};
use serde_json::json;
use std::time::Instant;

#[test]
fn scratch_first_status_of_waiting_tmux() {
    let mut w = World::new(
        Scenario::new().script(
            script("ask")
                .turn(Turn::tool_call(
                    "bash",
                    json!({"command": "echo hi", "description": "x"}),
                ))
                .turn(Turn::text("ok")),
        ),
    );
    w.project("demo", &["permission: {bash: ask}"]);
    let id = w.spawn(&["demo", "ask", "--runtime", "tmux"]);
    for i in 0..40 {
        let t = Instant::now();
        let out = w
            .ao_command(&["status", "--json", &id])
            .env("AO_TIMING", "1")
            .output()
            .unwrap();
        let took = t.elapsed();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let act = v[0]["activity"].as_str().unwrap_or("?").to_string();
        eprintln!(
            "--- call {i}: {act} in {took:?}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if act == "waiting_input" && i > 30 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
