use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use ao_core::agent::PermitDecision;
use ao_core::live::LiveEvent;
use ao_core::session::Activity;
use ao_core::transcript::{EntryKind, TranscriptEntry};

use super::*;
use crate::watch::fixtures::{session, with_permission, with_question};

const SINCE: &str = "2025-01-01T00:00:00Z";

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ch(c: char) -> KeyEvent {
    key(KeyCode::Char(c))
}

/// A dashboard showing two sessions of `demo` and one of `web`, the first selected.
fn app() -> App {
    let mut app = App::default();
    let effects = app.on_live(LiveEvent::Snapshot(vec![
        session("web/agent-1", Activity::Ready, SINCE),
        with_permission(
            session("demo/agent-1", Activity::WaitingInput, SINCE),
            "per_1",
        ),
        with_question(
            session("demo/agent-2", Activity::WaitingInput, SINCE),
            "que_1",
            &[("Pick a color?", &["red", "blue"])],
        ),
    ]));
    assert_eq!(effects, [Effect::Fetch("demo/agent-1".into())]);
    app
}

fn act(effects: Vec<Effect>) -> Action {
    match effects.as_slice() {
        [Effect::Act(a)] => a.clone(),
        other => panic!("not one action: {other:?}"),
    }
}

#[test]
fn arrows_move_the_selection_in_the_listed_order_and_stop_at_the_ends() {
    let mut app = app();
    assert_eq!(app.on_key(key(KeyCode::Up)), []);
    assert_eq!(app.selected.as_deref(), Some("demo/agent-1"));
    // A newly selected session gets its conversation read, once.
    assert_eq!(
        app.on_key(key(KeyCode::Down)),
        [Effect::Fetch("demo/agent-2".into())]
    );
    assert_eq!(
        app.on_key(key(KeyCode::Down)),
        [Effect::Fetch("web/agent-1".into())]
    );
    assert_eq!(app.on_key(key(KeyCode::Down)), []);
    assert_eq!(app.selected.as_deref(), Some("web/agent-1"));
}

#[test]
fn p_big_p_and_x_answer_the_pending_permission_of_the_selected_session() {
    let mut app = app();
    for (c, decision) in [
        ('p', PermitDecision::Once),
        ('P', PermitDecision::Always),
        ('x', PermitDecision::Reject),
    ] {
        assert_eq!(
            act(app.on_key(ch(c))),
            Action::Permit {
                id: "demo/agent-1".into(),
                decision,
                request: Some("per_1".into()),
            }
        );
    }
    // Nothing pending here: the manager is asked anyway, and says why it cannot.
    app.on_key(key(KeyCode::Down));
    app.on_key(key(KeyCode::Down));
    assert_eq!(
        act(app.on_key(ch('p'))),
        Action::Permit {
            id: "web/agent-1".into(),
            decision: PermitDecision::Once,
            request: None,
        }
    );
}

#[test]
fn a_answers_by_picking_an_option_or_by_typing() {
    let mut app = app();
    // No question on the first session: said, nothing sent.
    assert_eq!(app.on_key(ch('a')), []);
    assert!(app.note.as_ref().is_some_and(|n| n.error));

    app.on_key(key(KeyCode::Down));
    assert_eq!(app.on_key(ch('a')), []);
    assert!(matches!(app.mode, Mode::Input(_)));
    // ↓ picks the first option, ↑ wraps round to the last.
    app.on_key(key(KeyCode::Down));
    app.on_key(key(KeyCode::Down));
    app.on_key(key(KeyCode::Up));
    app.on_key(key(KeyCode::Up));
    assert_eq!(
        act(app.on_key(key(KeyCode::Enter))),
        Action::Answer {
            id: "demo/agent-2".into(),
            request: "que_1".into(),
            answers: vec!["blue".into()],
        }
    );
    assert_eq!(app.mode, Mode::Normal);

    app.on_key(ch('a'));
    for c in "green!".chars() {
        app.on_key(ch(c));
    }
    app.on_key(key(KeyCode::Backspace));
    let Action::Answer { answers, .. } = act(app.on_key(key(KeyCode::Enter))) else {
        panic!()
    };
    assert_eq!(answers, ["green"]);
}

#[test]
fn a_request_of_several_questions_is_answered_one_question_after_another() {
    let mut app = App::default();
    app.on_live(LiveEvent::Snapshot(vec![with_question(
        session("demo/agent-1", Activity::WaitingInput, SINCE),
        "que_2",
        &[("Colour?", &["red", "blue"]), ("Size?", &[])],
    )]));
    app.on_key(ch('a'));
    app.on_key(key(KeyCode::Down));
    assert_eq!(app.on_key(key(KeyCode::Enter)), []);
    for c in "large".chars() {
        app.on_key(ch(c));
    }
    let Action::Answer { answers, .. } = act(app.on_key(key(KeyCode::Enter))) else {
        panic!()
    };
    assert_eq!(answers, ["red", "large"]);
}

#[test]
fn s_sends_the_typed_line_and_esc_or_an_empty_line_sends_nothing() {
    let mut app = app();
    app.on_key(ch('s'));
    // Keys that are actions elsewhere are text here.
    for c in "keep going, q".chars() {
        assert_eq!(app.on_key(ch(c)), []);
    }
    assert_eq!(
        act(app.on_key(key(KeyCode::Enter))),
        Action::Send {
            id: "demo/agent-1".into(),
            text: "keep going, q".into(),
        }
    );
    app.on_key(ch('s'));
    assert_eq!(app.on_key(key(KeyCode::Enter)), []);
    assert!(matches!(app.mode, Mode::Input(_)), "an empty line waits");
    app.on_key(ch('x'));
    assert_eq!(app.on_key(key(KeyCode::Esc)), []);
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn k_kills_only_after_y() {
    let mut app = app();
    assert_eq!(app.on_key(ch('k')), []);
    assert_eq!(app.mode, Mode::ConfirmKill("demo/agent-1".into()));
    assert_eq!(app.on_key(ch('n')), []);
    assert_eq!(app.mode, Mode::Normal);
    app.on_key(ch('k'));
    assert_eq!(
        act(app.on_key(ch('y'))),
        Action::Kill {
            id: "demo/agent-1".into()
        }
    );
}

#[test]
fn the_other_keys_restore_attach_open_the_log_and_quit() {
    let mut app = app();
    assert_eq!(
        act(app.on_key(ch('r'))),
        Action::Restore {
            id: "demo/agent-1".into()
        }
    );
    assert_eq!(
        app.on_key(key(KeyCode::Enter)),
        [Effect::Attach("demo/agent-1".into())]
    );
    assert_eq!(app.on_key(ch('l')), [Effect::Fetch("demo/agent-1".into())]);
    // In the log view q goes back rather than quitting.
    assert_eq!(app.on_key(ch('q')), []);
    assert_eq!(app.mode, Mode::Normal);
    assert_eq!(app.on_key(ch('q')), [Effect::Quit]);
    // Ctrl-C quits from anywhere, even while typing.
    app.on_key(ch('s'));
    assert_eq!(
        app.on_key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        [Effect::Quit]
    );
}

fn said(text: &str, at: i64) -> TranscriptEntry {
    TranscriptEntry {
        id: format!("prt_{at}"),
        at,
        kind: EntryKind::Assistant { text: text.into() },
    }
}

#[test]
fn the_conversation_is_read_again_only_when_the_session_looked_at_changes() {
    let mut app = app();
    app.on_transcript(
        "demo/agent-1",
        Ok(vec![said("First.", 1), said("Last.", 2)]),
    );
    assert_eq!(app.last_reply(), Some("Last."));
    // Another session changing costs nothing.
    let other = session("web/agent-1", Activity::Active, SINCE);
    assert_eq!(app.on_live(LiveEvent::Changed(Box::new(other))), []);
    let this = session("demo/agent-1", Activity::Ready, SINCE);
    assert_eq!(
        app.on_live(LiveEvent::Changed(Box::new(this))),
        [Effect::Fetch("demo/agent-1".into())]
    );
    // A late answer for a session no longer looked at is dropped.
    app.on_key(key(KeyCode::Down));
    app.on_transcript("demo/agent-1", Ok(vec![said("Stale.", 3)]));
    assert_eq!(app.last_reply(), None);
}

#[test]
fn a_removed_session_hands_the_selection_to_the_next_one() {
    let mut app = app();
    app.on_key(ch('k'));
    let effects = app.on_live(LiveEvent::Removed("demo/agent-1".into()));
    assert_eq!(effects, [Effect::Fetch("demo/agent-2".into())]);
    assert_eq!(app.selected.as_deref(), Some("demo/agent-2"));
    assert_eq!(app.mode, Mode::Normal, "no confirmation for a session gone");
}

#[test]
fn the_log_view_scrolls_and_follows_the_end_once_there() {
    let mut app = app();
    app.on_key(ch('l'));
    app.on_transcript(
        "demo/agent-1",
        Ok((0..30).map(|i| said(&format!("line {i}"), i)).collect()),
    );
    app.page = 10;
    app.on_key(key(KeyCode::Home));
    assert_eq!(
        app.mode,
        Mode::Log(LogView {
            id: "demo/agent-1".into(),
            top: Some(0)
        })
    );
    app.on_key(key(KeyCode::PageDown));
    app.on_key(key(KeyCode::Down));
    assert_eq!(
        app.mode,
        Mode::Log(LogView {
            id: "demo/agent-1".into(),
            top: Some(11)
        })
    );
    app.on_key(key(KeyCode::End));
    assert_eq!(
        app.mode,
        Mode::Log(LogView {
            id: "demo/agent-1".into(),
            top: None
        })
    );
    app.on_key(key(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
}
