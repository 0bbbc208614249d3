//! `scripts/bench mcp`: how soon a client subscribed through `ao mcp` hears that a session
//! changed, and what the `status` tool costs beside `ao status --json`.

use std::time::{Duration, Instant};

use ao_test_support::McpClient;
use serde_json::{json, Value};

use crate::watch::{idle_sessions, listened_session};
use crate::{median_of, spread, status_json};

pub fn run() {
    notification();
    status_tool();
}

/// The session `uri` as `resources/read` gives it now.
fn read(client: &mut McpClient, uri: &str) -> Value {
    let result = client.request("resources/read", json!({ "uri": uri }));
    let text = result["contents"][0]["text"].as_str().unwrap_or("null");
    serde_json::from_str(text).unwrap_or(Value::Null)
}

/// From the server's `session.idle` (heard on the bench's own connection to it) to
/// `notifications/resources/updated` reaching a client subscribed to the session, for ten turns.
fn notification() {
    println!("\n## ao mcp: from the server's event to the subscribed client's notification");
    let listened = listened_session();
    let (w, id) = (&listened.w, &listened.id);
    let uri = format!("ao://sessions/{id}");
    let mut client = w.mcp(&[]);
    client.initialize();
    client.request("resources/subscribe", json!({ "uri": uri }));
    let mut samples = Vec::new();
    let mut last_tokens = read(&mut client, &uri)["tokens"].clone();
    for turn in 1..=10usize {
        // What was heard of the turn before (a turn ends with more than one idle event) and
        // told of it is not this turn's.
        while listened.heard.try_recv().is_ok() {}
        client.drain();
        w.ao_ok(&["send", id, "bench"]);
        let ended = listened.turn_end().at;
        // The first notification after which the session reads ready with this turn's tokens.
        let heard = loop {
            let (_, at) = client.notification_at(
                Duration::from_secs(60),
                &format!("turn {turn} of {id}"),
                |n| n["method"] == "notifications/resources/updated" && n["params"]["uri"] == uri,
            );
            let now = read(&mut client, &uri);
            if now["activity"] == "ready" && now["tokens"] != last_tokens {
                last_tokens = now["tokens"].clone();
                break at;
            }
        };
        samples.push(heard.saturating_duration_since(ended));
        // The turn's last events (title, files) settle before the next send.
        std::thread::sleep(Duration::from_millis(500));
    }
    println!(
        "server's event to the client's notification: {}",
        spread(&mut samples, "turns")
    );
    drop(client);
}

/// The `status` tool over 50 live sessions, beside `ao status --json` on the same sessions: the
/// tool's median over 10 calls on one running `ao mcp`, and the command's over 10 runs.
fn status_tool() {
    const N: usize = 50;
    println!("\n## ao mcp: the status tool with {N} live sessions, beside ao status --json");
    let w = idle_sessions(N);
    let mut client = w.mcp(&[]);
    client.initialize();
    let tool = median_of(10, || {
        let t = Instant::now();
        let result = client.call_ok("status", json!({}));
        let elapsed = t.elapsed();
        let n = result["sessions"].as_array().map_or(0, Vec::len);
        assert_eq!(n, N, "the status tool gave {n} sessions");
        elapsed
    });
    let command = median_of(10, || {
        let t = Instant::now();
        status_json(&w, &[]);
        t.elapsed()
    });
    println!(
        "status tool: median {:.1} ms; ao status --json: median {:.1} ms; ratio {:.2}",
        tool.as_secs_f64() * 1e3,
        command.as_secs_f64() * 1e3,
        tool.as_secs_f64() / command.as_secs_f64()
    );
    drop(client);
}
