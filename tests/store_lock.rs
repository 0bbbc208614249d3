//! Looking writes nothing: with sessions settled and what ao saw of them recorded, another
//! connection holds the store's write lock, and `ao status`, `ao wait`, `ao permit` and `ao answer`
//! each still answer, and answer right, well before SQLite's busy timeout (15 s) would let a write
//! through.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use ao_core::home::StateHome;
use ao_test_support::{script, Scenario, Turn, World};
use serde_json::{json, Value};

/// How long each command may take while the lock is held: far less than the 15 s an `ao` that
/// wanted to write would wait for it.
const DEADLINE: Duration = Duration::from_secs(8);

fn bash(command: &str) -> Turn {
    Turn::tool_call("bash", json!({"command": command, "description": "Run it"}))
}

/// Runs `ao` and returns its output, or panics when it has not ended by [`DEADLINE`].
fn ao_within(w: &World, args: &[&str]) -> Output {
    let started = Instant::now();
    let mut child = w
        .ao_command(args)
        // Should it hang, its phases say where.
        .env("AO_TIMING", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ao");
    loop {
        if child.try_wait().expect("wait for ao").is_some() {
            let out = child.wait_with_output().expect("read ao's output");
            eprintln!("ao {} took {:?}", args.join(" "), started.elapsed());
            return out;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let out = child.wait_with_output().expect("read ao's output");
            panic!(
                "ao {} did not answer within {DEADLINE:?} while another connection held the \
                 store's write lock: it waits to write\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`ao_within`], asserting success; its standard output.
fn ao_ok_within(w: &World, args: &[&str]) -> String {
    let out = ao_within(w, args);
    assert!(
        out.status.success(),
        "ao {} failed ({}) while the store's write lock was held:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn status_wait_permit_and_answer_answer_while_another_connection_holds_the_write_lock() {
    let color = json!({"questions": [{
        "question": "Pick a color?", "header": "Color",
        "options": [{"label": "red", "description": "Red"}, {"label": "blue", "description": "Blue"}]
    }]});
    let mut w = World::new(
        Scenario::new()
            .script(
                script("allow this")
                    .turn(bash("echo hi > out.txt"))
                    .turn(Turn::text("Wrote it.")),
            )
            .script(
                script("pick a color")
                    .turn(Turn::tool_call("question", color))
                    .turn(Turn::text("Blue it is.")),
            ),
    );
    w.project("demo", &["permission: {bash: ask}"]);
    let permits = w.spawn(&["demo", "allow this", "--runtime", "process"]);
    let asks = w.spawn(&["demo", "pick a color", "--runtime", "process"]);
    w.wait_activity(&permits, "waiting_input");
    w.wait_activity(&asks, "waiting_input");
    // Everything there is to record of them is recorded now.
    let before = w.status(None);
    assert_eq!(before.len(), 2, "{before:#?}");

    let db = StateHome::at(w.home()).store_path();
    let mut conn = rusqlite::Connection::open(&db).expect("open the store");
    // The monitor may be writing at this moment: wait for it as ao would.
    conn.busy_timeout(Duration::from_secs(15))
        .expect("set a busy timeout");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("read the journal mode");
    // In WAL mode readers go on while a writer holds the lock, and EXCLUSIVE is IMMEDIATE.
    assert_eq!(mode.to_lowercase(), "wal");
    let lock = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .expect("take the store's write lock");

    let text = ao_ok_within(&w, &["status", "--json"]);
    let statuses: Vec<Value> = serde_json::from_str(&text).expect("status is JSON");
    let of = |id: &str| {
        statuses
            .iter()
            .find(|s| s["id"] == id)
            .unwrap_or_else(|| panic!("{id} missing from {text}"))
            .clone()
    };
    let p = of(&permits);
    assert_eq!(p["activity"], "waiting_input", "{p:#}");
    assert_eq!(p["pending"][0]["kind"], "permission", "{p:#}");
    assert_eq!(p["stale"], false, "{p:#}");
    let before_p = before.iter().find(|s| s["id"] == permits.as_str()).unwrap();
    assert_eq!(p["activity_since"], before_p["activity_since"], "{p:#}");
    let q = of(&asks);
    assert_eq!(q["activity"], "waiting_input", "{q:#}");
    assert_eq!(q["pending"][0]["kind"], "question", "{q:#}");
    assert_eq!(q["pending"][0]["title"], "Pick a color?", "{q:#}");

    ao_ok_within(
        &w,
        &[
            "wait",
            &permits,
            "--until",
            "waiting_input",
            "--timeout",
            "5",
        ],
    );

    let out = ao_ok_within(&w, &["permit", &permits]);
    assert!(
        out.contains("allowed once: bash: echo hi > out.txt"),
        "{out}"
    );
    let out = ao_ok_within(&w, &["answer", &asks, "blue"]);
    assert!(out.contains("answered: Pick a color?"), "{out}");

    lock.rollback().expect("let go of the lock");
    drop(conn);
    // The replies reached the agent: both sessions went on to the end of their turns.
    w.wait_activity(&permits, "ready");
    w.wait_activity(&asks, "ready");
}
