use super::*;
use crate::record::ToolKind;

fn line(id: &str, at: i64, part: ConversationPart) -> String {
    serde_json::to_string(&ConversationLine {
        id: id.into(),
        at,
        part,
    })
    .unwrap()
}

fn tool(
    kind: Option<ToolKind>,
    title: Option<&str>,
    status: Option<&str>,
    output: Option<&str>,
) -> ConversationPart {
    ConversationPart::Tool {
        kind,
        title: title.map(String::from),
        status: status.map(String::from),
        output: output.map(String::from),
    }
}

fn assistant(text: &str) -> ConversationPart {
    ConversationPart::Assistant { text: text.into() }
}

/// A turn as a host writes it: the prompt, text in chunks, a tool call and its updates, more text,
/// the end with its usage; then a turn that failed. The last line is half written.
fn conversation() -> String {
    let long = "é".repeat(1500);
    [
        line(
            "u1",
            1,
            ConversationPart::User {
                text: "run it".into(),
            },
        ),
        line("t1-1", 2, assistant("I will ")),
        line("t1-1", 3, assistant("run it.")),
        line(
            "call_1",
            4,
            tool(Some(ToolKind::Execute), Some("bash"), Some("pending"), None),
        ),
        line(
            "call_1",
            5,
            tool(None, Some("echo hi"), Some("in_progress"), None),
        ),
        line(
            "call_1",
            6,
            tool(None, None, Some("completed"), Some(&long)),
        ),
        line("t1-2", 7, assistant("Done.")),
        line(
            "t1-end",
            8,
            ConversationPart::TurnEnd {
                reason: "end_turn".into(),
                tokens: Some(Tokens {
                    input: 1_000_000,
                    output: 2_000,
                    ..Default::default()
                }),
            },
        ),
        line(
            "u2",
            9,
            ConversationPart::User {
                text: "again".into(),
            },
        ),
        line(
            "t2-end",
            10,
            ConversationPart::TurnEnd {
                reason: "AgentError".into(),
                tokens: None,
            },
        ),
        "{\"id\":\"t3-1\",\"at\":11,\"type\":\"assis".to_string(),
    ]
    .join("\n")
}

#[test]
fn a_conversation_folds_into_its_entries_in_order() {
    let price = Price {
        input: 3.0,
        output: 15.0,
    };
    let entries = fold(parse_lines(&conversation()), Some(price));
    let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        ["u1", "t1-1", "call_1", "t1-2", "t1-end", "u2", "t2-end"]
    );
    assert_eq!(
        entries[1].kind,
        EntryKind::Assistant {
            text: "I will run it.".into()
        }
    );
    assert_eq!(entries[1].at, 2, "an entry keeps its first line's time");
    match &entries[2].kind {
        EntryKind::Tool {
            tool,
            title,
            status,
            output,
            truncated,
        } => {
            assert_eq!(tool, "execute");
            assert_eq!(title, "echo hi");
            assert_eq!(*status, ToolCallStatus::Completed);
            let output = output.as_deref().unwrap();
            assert_eq!(output.len(), TOOL_OUTPUT_EXCERPT, "cut on a char boundary");
            assert!(*truncated);
        }
        other => panic!("not a tool: {other:?}"),
    }
    match &entries[4].kind {
        EntryKind::Step {
            reason,
            tokens,
            cost_usd,
        } => {
            assert_eq!(reason, "end_turn");
            assert_eq!(tokens.expect("whole usage").input, 1_000_000);
            let cost = cost_usd.expect("a price over whole usage");
            assert!((cost - 3.03).abs() < 1e-9, "{cost}");
        }
        other => panic!("not a step: {other:?}"),
    }
    match &entries[6].kind {
        EntryKind::Error(e) => assert_eq!(e.why.name(), "AgentError"),
        other => panic!("not an error: {other:?}"),
    }
    // Without a price, a step's cost is not known (the agent's own cost is the session's).
    let plain = fold(parse_lines(&conversation()), None);
    assert!(matches!(
        plain[4].kind,
        EntryKind::Step { cost_usd: None, .. }
    ));
}

#[test]
fn tool_statuses_take_ao_words() {
    assert_eq!(tool_status("in_progress"), ToolCallStatus::Running);
    assert_eq!(tool_status("failed"), ToolCallStatus::Error);
    assert_eq!(tool_status("pending"), ToolCallStatus::Pending);
    assert_eq!(tool_status("odd"), ToolCallStatus::Other("odd".into()));
}

#[test]
fn messages_are_the_users_and_the_agents_in_short() {
    let entries = fold(parse_lines(&conversation()), None);
    let listed = messages(&entries);
    let roles: Vec<(&str, &str)> = listed
        .iter()
        .map(|m| (m.id.as_str(), m.role.as_str()))
        .collect();
    assert_eq!(
        roles,
        [
            ("u1", "user"),
            ("t1-1", "assistant"),
            ("t1-2", "assistant"),
            ("u2", "user")
        ]
    );
    let long = fold(
        parse_lines(&line(
            "u",
            1,
            ConversationPart::User {
                text: "ü\n".repeat(300),
            },
        )),
        None,
    );
    let text = &messages(&long)[0].text;
    assert_eq!(text.chars().count(), SUMMARY_CHARS + 1);
    assert!(text.ends_with('…') && !text.contains('\n'));
}

#[test]
fn no_file_is_no_conversation() {
    let tmp = tempfile::tempdir().unwrap();
    assert!(read_lines(&HostFiles::of(tmp.path())).unwrap().is_empty());
}

#[test]
fn a_prompt_a_cancel_dropped_reads_as_not_sent() {
    let text = line(
        "t1-unsent-1",
        5,
        ConversationPart::Unsent {
            text: "and then this".into(),
        },
    );
    let entries = fold(parse_lines(&text), None);
    match &entries[0].kind {
        EntryKind::Error(error) => {
            assert_eq!(error.why, Why::Interrupted);
            assert!(error.message.contains("and then this"), "{}", error.message);
            assert!(error.message.contains("not sent"), "{}", error.message);
        }
        other => panic!("not an error: {other:?}"),
    }
}

#[test]
fn a_message_still_being_written_waits_until_a_later_line_follows_it() {
    let user = ConversationPart::User {
        text: "hello".into(),
    };
    let mut text = [line("u1", 1, user), line("a1", 2, assistant("tick 1. "))].join("\n");
    // Its chunks are the file's last lines: not whole yet, so not shown (a follower would print
    // it once, cut where it stood).
    let entries = fold(parse_lines(&text), None);
    assert_eq!(entries.len(), 1, "{entries:?}");
    text.push('\n');
    text.push_str(&line("a1", 3, assistant("tick 2.")));
    assert_eq!(fold(parse_lines(&text), None).len(), 1);
    // The turn's end follows it: whole, with every chunk.
    text.push('\n');
    text.push_str(&line(
        "e1",
        4,
        ConversationPart::TurnEnd {
            reason: "end_turn".into(),
            tokens: None,
        },
    ));
    let entries = fold(parse_lines(&text), None);
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(
        matches!(&entries[1].kind, EntryKind::Assistant { text } if text == "tick 1. tick 2."),
        "{entries:?}"
    );
}
