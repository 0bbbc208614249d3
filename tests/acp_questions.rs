//! Questions an ACP agent asks through the protocol (`elicitation/create`, form mode), on the
//! scripted fake agent (`ask:` in `tests/support/fake_acp_agent.rs`): the question waits in
//! `ao status` with its questions and options; `ao answer` answers it with the form's typed
//! content, after checking it against the form (a wrong option exits 2, says what is allowed, and
//! leaves the question pending); `ao answer --reject` declines it; of two answers at once one
//! wins and the other is told the question is gone. A question in URL mode (open a web page) is
//! declined at once, with a note in the conversation. One waiting when the session is killed is
//! answered cancelled.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use ao_test_support::acp::{fake_agent_config, race, AcpWorld};
use ao_test_support::Scenario;
use serde_json::{json, Value};

/// `ao spawn fake PROMPT --runtime process --name NAME`: the session's address.
fn spawn(w: &AcpWorld, name: &str, prompt: &str) -> String {
    let id = w.spawn(&["fake", prompt, "--runtime", "process", "--name", name]);
    assert_eq!(id, format!("fake/{name}"));
    id
}

fn logs(w: &AcpWorld, id: &str) -> String {
    w.ao_ok(&["logs", id])
}

/// The one pending request of a waiting session: a question `Pick a color` asking these
/// questions; its id.
fn pending_question(s: &Value, questions: Value) -> String {
    let pending = s["pending"].as_array().expect("pending");
    assert_eq!(pending.len(), 1, "{s:#}");
    let p = &pending[0];
    let id = p["id"].as_str().expect("an id").to_string();
    assert_eq!(
        *p,
        json!({"kind": "question", "id": id, "title": "Pick a color", "questions": questions}),
        "{s:#}"
    );
    id
}

fn color_question() -> Value {
    json!({"question": "color", "options": ["red", "blue"]})
}

#[test]
fn a_question_is_answered_checked_against_its_form_declined_or_raced() {
    let mut w = AcpWorld::new(Scenario::new());
    w.acp_project("fake", fake_agent_config(&[], &[]));
    let answered = spawn(&w, "answered", "ask:color=red|blue+why");
    let declined = spawn(&w, "declined", "ask:color=red|blue");
    let raced = spawn(&w, "raced", "ask:color=red|blue");

    // The question waits, with one question per field of the form: the choice's options, and
    // free text for the other.
    let s = w.wait_activity(&answered, "waiting_input");
    let id = pending_question(
        &s,
        json!([color_question(), {"question": "why", "options": []}]),
    );

    // A wrong option: exit 2, what is wrong and what is allowed; the question stays.
    let out = w.ao(&["answer", &answered, "purple", "because"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("`purple` is not an option"), "{err}");
    assert!(err.contains("one of red, blue"), "{err}");
    // Too few answers: what each question takes.
    let out = w.ao(&["answer", &answered, "blue"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("asks 2 question(s) and got 1 answer(s)"),
        "{err}"
    );
    let s = w.session(&answered);
    assert_eq!(s["activity"], "waiting_input", "{s:#}");
    assert_eq!(
        pending_question(
            &s,
            json!([color_question(), {"question": "why", "options": []}])
        ),
        id
    );

    // A valid answer: the agent gets the typed content and its turn goes on.
    let out = w.ao_ok(&["answer", &answered, "--request", &id, "blue", "in a hurry"]);
    assert!(out.contains("answered"), "{out}");
    w.wait_activity(&answered, "ready");
    let log = logs(&w, &answered);
    assert!(
        log.contains(r#"answer: accept {"color":"blue","why":"in a hurry"}"#),
        "{log}"
    );
    assert!(log.contains("question: Pick a color"), "{log}");

    // Dismissed: the agent is told the person declined.
    let s = w.wait_activity(&declined, "waiting_input");
    pending_question(&s, json!([color_question()]));
    w.ao_ok(&["answer", &declined, "--reject"]);
    w.wait_activity(&declined, "ready");
    let log = logs(&w, &declined);
    assert!(log.contains("answer: decline"), "{log}");

    // Two answers at once: one wins, the other is told the question is gone.
    let s = w.wait_activity(&raced, "waiting_input");
    let id = pending_question(&s, json!([color_question()]));
    let (first_won, err) = race(
        &w,
        &["answer", &raced, "--request", &id, "red"],
        &["answer", &raced, "--request", &id, "blue"],
    );
    assert!(
        err.contains("no longer pending")
            || err.contains("has no pending question")
            || err.contains("no pending question"),
        "the loser says the question is gone: {err}"
    );
    w.wait_activity(&raced, "ready");
    let log = logs(&w, &raced);
    let chosen = if first_won { "red" } else { "blue" };
    assert_eq!(log.matches("answer: accept").count(), 1, "{log}");
    assert!(
        log.contains(&format!(r#"answer: accept {{"color":"{chosen}"}}"#)),
        "{log}"
    );
}

#[test]
fn a_question_in_url_mode_is_declined_with_a_note_in_the_conversation() {
    let mut w = AcpWorld::new(Scenario::new());
    w.acp_project("fake", fake_agent_config(&[], &[]));
    let url = spawn(&w, "url", "ask-url:https://example.invalid/sign-in");
    let s = w.wait_activity(&url, "ready");
    assert_eq!(s["pending"], json!([]), "{s:#}");
    let log = logs(&w, &url);
    assert!(log.contains("agent: answer: decline"), "{log}");
    assert!(log.contains("question: Sign in"), "{log}");
    assert!(
        log.contains("ao cannot open a browser for the agent"),
        "{log}"
    );
}

#[test]
fn a_question_waiting_when_the_session_is_killed_is_answered_cancelled() {
    let mut w = AcpWorld::new(Scenario::new());
    w.acp_project("fake", fake_agent_config(&[], &[]));
    let killed = spawn(&w, "killed", "ask:color=red|blue");
    let s = w.wait_activity(&killed, "waiting_input");
    pending_question(&s, json!([color_question()]));
    w.ao_ok(&["kill", &killed]);
    let record = w.host_record(&killed).expect("the host's record");
    assert_eq!(record["questions"], json!([]), "{record:#}");
    let conversation =
        std::fs::read_to_string(w.session_dir(&killed).join("acp/conversation.jsonl")).unwrap();
    let lines: Vec<Value> = conversation
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let id = lines[1]["id"].as_str().unwrap();
    assert!(
        lines
            .iter()
            .any(|l| l["id"] == id && l["status"] == "failed" && l["output"] == "cancelled"),
        "{conversation}"
    );
    // The agent heard it: the answer `cancel` (or the turn's cancel, should that come first).
    assert!(
        conversation.contains("answer: cancel") || conversation.contains("the turn was cancelled"),
        "{conversation}"
    );
    assert!(
        conversation.contains(r#""reason":"cancelled""#),
        "{conversation}"
    );
}
