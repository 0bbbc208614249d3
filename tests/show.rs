//! What a session did, end to end: `ao show` with its plan, files, messages and resources, the
//! PLAN column and `todos`/`files_changed` of `ao status`, `ao diff`, and `ao fork` (whole and cut
//! with `--at`), with the mock model calling OpenCode's `todowrite` and `write` tools.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use ao_test_support::{git, script, workspace_of, Scenario, Script, Turn, World};
use serde_json::{json, Value};

/// The prompt whose script plans, writes `notes.txt`, and then answers a fork.
const PROMPT: &str = "Plan and write the notes";

/// The plan the script writes: one item done, one under way, one to do.
fn plan() -> Value {
    json!([
        {"content": "Write the notes", "status": "completed", "priority": "high"},
        {"content": "Review the notes", "status": "in_progress", "priority": "medium"},
        {"content": "Publish the notes", "status": "pending", "priority": "low"}
    ])
}

/// A session that writes its plan, then `notes.txt` (three lines; a relative path is taken in the
/// session's directory), then says it is done; a fork of it (three assistant messages along) gets
/// "Fork answer.".
fn planner() -> Script {
    script(PROMPT)
        .turn(Turn::tool_call("todowrite", json!({ "todos": plan() })))
        .turn(Turn::tool_call(
            "write",
            json!({"filePath": "notes.txt", "content": "one\ntwo\nthree\n"}),
        ))
        .turn(Turn::text("Planned and wrote the notes."))
        .turn(Turn::text("Fork answer."))
}

fn world() -> World {
    let mut w = World::new(Scenario::new().script(planner()));
    w.project("demo", &[]);
    w
}

/// `ao fork <args>`: the new session's address it printed.
fn fork(w: &World, args: &[&str]) -> String {
    let mut all = vec!["fork"];
    all.extend_from_slice(args);
    w.ao_ok(&all).trim().to_string()
}

/// `ao <args>` as JSON.
fn json_of(w: &World, args: &[&str]) -> Value {
    let text = w.ao_ok(args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// The texts of the user messages of a chat request the mock model received.
fn user_texts(body: &Value) -> Vec<String> {
    body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == "user")
        .map(|m| m["content"].to_string())
        .collect()
}

#[test]
fn show_status_and_diff_tell_what_a_session_planned_changed_and_costs() {
    let w = world();
    let id = w.spawn(&["demo", PROMPT, "--runtime", "tmux", "--name", "planner"]);
    let wt = workspace_of(&w.wait_activity(&id, "ready"));

    let show = json_of(&w, &["show", &id, "--json"]);
    // The same object as `ao status --json`, and more.
    assert_eq!(show["id"], id.as_str());
    assert_eq!(show["activity"], "ready");
    assert_eq!(show["plan"], plan(), "{show:#}");
    assert_eq!(show["todos"], json!({"done": 1, "total": 3}), "{show:#}");
    assert_eq!(
        show["files"],
        json!([{"path": "notes.txt", "added": 3, "removed": 0, "committed": false}]),
        "{show:#}"
    );
    assert_eq!(show["files_changed"], 1);
    let messages = show["messages"].as_array().expect("messages");
    assert_eq!(messages[0]["role"], "user", "{show:#}");
    assert_eq!(messages[0]["text"], PROMPT);
    assert!(messages[0]["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(
        messages.last().unwrap()["text"],
        "Planned and wrote the notes."
    );
    let processes = show["resources"]["processes"]
        .as_array()
        .expect("processes");
    assert!(!processes.is_empty(), "{show:#}");
    for p in processes {
        assert!(p["pid"].as_u64().unwrap() > 0, "{p}");
        assert!(p["rss_bytes"].as_u64().unwrap() > 0, "{p}");
        assert!(
            p["cpu_percent"].is_number() && p["uptime_s"].is_number(),
            "{p}"
        );
    }
    assert!(show["resources"]["server_rss_bytes"].as_u64().unwrap() > 0);
    assert_eq!(show["diff_command"], format!("ao diff {id}"));
    assert!(show["notes"].as_array().unwrap().is_empty(), "{show:#}");

    let text = w.ao_ok(&["show", &id]);
    for expected in [
        "Plan 1/3",
        "[x] Write the notes (high)",
        "[~] Review the notes (medium)",
        "[ ] Publish the notes (low)",
        "Files changed: 1",
        "notes.txt (uncommitted)",
        "Planned and wrote the notes.",
        "server pid",
        "ao diff demo/planner",
    ] {
        assert!(text.contains(expected), "{expected:?} missing:\n{text}");
    }

    let s = w.session(&id);
    assert_eq!(s["todos"], json!({"done": 1, "total": 3}), "{s:#}");
    assert_eq!(s["files_changed"], 1, "{s:#}");
    let table = w.ao_ok(&["status"]);
    assert!(table.contains("PLAN"), "{table}");
    assert!(table.contains(" 1/3 "), "{table}");

    // Not a terminal: git prints the diff without paging.
    let diff = w.ao_ok(&["diff", &id]);
    assert!(diff.contains("+++ b/notes.txt"), "{diff}");
    assert!(diff.contains("+two"), "{diff}");
    let stat = w.ao_ok(&["diff", &id, "--", "--stat"]);
    assert!(stat.contains("notes.txt | 3 +++"), "{stat}");
    assert!(!stat.contains("+two"), "{stat}");

    // Committed work still counts against the base, now as committed; a file added by hand
    // shows in the count of the next status, through git's index.
    git(&wt, &["add", "notes.txt"]);
    git(&wt, &["commit", "-q", "-m", "notes"]);
    std::fs::write(wt.join("extra.txt"), "x\n").unwrap();
    git(&wt, &["add", "extra.txt"]);
    let show = json_of(&w, &["show", &id, "--json"]);
    assert_eq!(
        show["files"],
        json!([
            {"path": "extra.txt", "added": 1, "removed": 0, "committed": false},
            {"path": "notes.txt", "added": 3, "removed": 0, "committed": true}
        ]),
        "{show:#}"
    );
    assert_eq!(w.session(&id)["files_changed"], 2);
}

#[test]
fn a_fork_starts_from_the_conversation_and_the_work_and_leaves_the_source_alone() {
    let w = world();
    let source = w.spawn(&["demo", PROMPT, "--runtime", "process", "--name", "source"]);
    let wt = workspace_of(&w.wait_activity(&source, "ready"));
    let before = json_of(&w, &["show", &source, "--json"]);
    let source_status = git(&wt, &["status", "--porcelain"]);

    let copy = fork(&w, &[&source, "--name", "copy", "Carry on"]);
    assert_eq!(copy, "demo/copy");
    let s = w.wait_activity(&copy, "ready");
    assert_eq!(s["runtime"], "process", "the source's runtime: {s:#}");
    let fork_id = s["agent_session_id"].as_str().unwrap();
    assert!(fork_id.starts_with("ses_"), "{s:#}");
    assert_ne!(fork_id, before["agent_session_id"].as_str().unwrap());

    // Its history holds the source's messages, as `ao logs` and the model see them.
    let logs = w.ao_ok(&["logs", &copy]);
    for expected in [
        PROMPT,
        "Planned and wrote the notes.",
        "Carry on",
        "Fork answer.",
    ] {
        assert!(logs.contains(expected), "{expected:?} missing:\n{logs}");
    }
    let asked = w
        .mock
        .requests()
        .into_iter()
        .find(|r| user_texts(&r.body).iter().any(|t| t.contains("Carry on")))
        .expect("the fork's request");
    assert_eq!(
        asked.turn_index,
        Some(3),
        "the source's three steps came along"
    );
    assert!(
        user_texts(&asked.body)[0].contains(PROMPT),
        "{:#}",
        asked.body
    );

    // Its work tree, on a branch of its own, holds the source's uncommitted work.
    let fork_wt = workspace_of(&s);
    assert_eq!(fork_wt.file_name().unwrap(), "copy");
    assert_ne!(fork_wt, wt);
    assert_eq!(
        std::fs::read_to_string(fork_wt.join("notes.txt")).unwrap(),
        "one\ntwo\nthree\n"
    );
    assert_eq!(s["branch"], "ao/copy");
    let show = json_of(&w, &["show", &copy, "--json"]);
    assert_eq!(show["files"][0]["path"], "notes.txt", "{show:#}");

    // The source is as it was: its conversation and its files.
    let after = json_of(&w, &["show", &source, "--json"]);
    assert_eq!(after["messages"], before["messages"]);
    assert_eq!(git(&wt, &["status", "--porcelain"]), source_status);

    // Cut at the source's first reply: only the prompt comes along.
    let first_reply = before["messages"][1]["id"].as_str().unwrap().to_string();
    let cut = fork(&w, &[&source, "--name", "cut", "--at", &first_reply]);
    let show = json_of(&w, &["show", &cut, "--json"]);
    let texts: Vec<&Value> = show["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["text"])
        .collect();
    assert_eq!(texts, [&json!(PROMPT)], "{show:#}");

    // A message the source does not have: exit 2, and the ones it has.
    let err = w.ao_fails(&["fork", &source, "--at", "msg_nosuchmessage"], 2);
    assert!(err.contains("has no message msg_nosuchmessage"), "{err}");
    assert!(err.contains(&first_reply), "{err}");
    assert!(err.contains(&format!("user       {PROMPT}")), "{err}");

    // With the project's server gone, forking starts it again, as restore does.
    w.crash_server("demo");
    let revived = fork(&w, &[&source, "--name", "revived"]);
    let show = json_of(&w, &["show", &revived, "--json"]);
    assert_eq!(show["messages"].as_array().unwrap().len(), 4, "{show:#}");
    assert!(show["resources"]["server_rss_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn unknown_targets_and_sessions_without_a_work_tree_are_explained() {
    let mut w = World::new(Scenario::new());
    w.project("demo", &[]);
    w.project("plain", &[]);
    w.set_config_text(&format!(
        "projects:\n  demo:\n    path: projects/demo\n    agentConfig:\n      model: mock/mock-1\n      \
         opencodeConfig: {p}\n  plain:\n    path: projects/plain\n    workspace: none\n    \
         agentConfig:\n      model: mock/mock-1\n      opencodeConfig: {p}\n",
        p = w.provider_config()
    ));
    let kept = w.spawn(&["demo", "hello", "--runtime", "process"]);
    let plain = w.spawn(&["plain", "hello", "--runtime", "process"]);
    w.wait_activity(&kept, "ready");

    for cmd in ["show", "diff", "fork"] {
        let err = w.ao_fails(&[cmd, "demo/nope"], 2);
        assert!(err.contains("no session demo/nope"), "{err}");
        assert!(err.contains(&kept) && err.contains(&plain), "{err}");
    }

    let err = w.ao_fails(&["diff", &plain], 2);
    assert!(err.contains("workspace: none"), "{err}");
    let show = json_of(&w, &["show", &plain, "--json"]);
    assert!(show["files"].is_null(), "{show:#}");
    assert!(show["files_changed"].is_null(), "{show:#}");

    // A work tree someone deleted by hand: said, not a crash.
    let wt = workspace_of(&w.session(&kept));
    std::fs::remove_dir_all(&wt).unwrap();
    let err = w.ao_fails(&["diff", &kept], 2);
    assert!(err.contains("is gone"), "{err}");
    assert!(err.contains(&format!("ao restore {kept}")), "{err}");
    let show = json_of(&w, &["show", &kept, "--json"]);
    assert!(show["files"].is_null(), "{show:#}");
    let notes = show["notes"].to_string();
    assert!(notes.contains("is gone"), "{notes}");
    let text = w.ao_ok(&["show", &kept]);
    assert!(text.contains("note: files:"), "{text}");
}
