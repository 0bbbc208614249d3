//! The conversation for people, line by line as the host appends it: what `ao attach` of an ACP
//! session shows ([`crate::view`]), and what the host prints to its stdout (the tmux pane, or the
//! process runtime's log), so that the two look alike. The host also prints, between those lines,
//! its own notes and the permission requests waiting for a person.
//!
//! Most of the text is the agent's, so what would steer the terminal (escape sequences) is shown
//! escaped.

use std::collections::HashMap;
use std::io::Write;

use ao_agent::clock::EpochMillis;

use crate::record::{ConversationLine, ConversationPart, PendingPermission};

/// How many lines of a tool's output are shown.
const OUTPUT_LINES: usize = 5;

/// The indent of a continued line, under the time.
const INDENT: &str = "         ";

/// Renders conversation lines one after the other, keeping what a later line needs: the agent's
/// message being written (whose next chunk continues it), and each tool call's kind and title.
#[derive(Debug, Default)]
pub struct Renderer {
    /// The id of the agent's message whose text was written last, not yet ended by a newline.
    open_text: Option<String>,
    /// Each tool call's kind and title as known so far.
    tools: HashMap<String, (String, String)>,
}

impl Renderer {
    /// A renderer at the start of a conversation.
    pub fn new() -> Renderer {
        Renderer::default()
    }

    /// Writes one line of the conversation.
    pub fn write(&mut self, out: &mut dyn Write, line: &ConversationLine) -> std::io::Result<()> {
        if let ConversationPart::Assistant { text } = &line.part {
            if self.open_text.as_deref() != Some(line.id.as_str()) {
                self.end_text(out)?;
                write!(out, "{} agent: ", time(line.at))?;
                self.open_text = Some(line.id.clone());
            }
            return write!(
                out,
                "{}",
                visible(text).replace('\n', &format!("\n{INDENT}"))
            );
        }
        self.end_text(out)?;
        let time = time(line.at);
        match &line.part {
            ConversationPart::User { text } => {
                let text = visible(text);
                let mut lines = text.lines();
                writeln!(out, "{time} you: {}", lines.next().unwrap_or_default())?;
                for more in lines {
                    writeln!(out, "{INDENT}{more}")?;
                }
            }
            ConversationPart::Tool {
                kind,
                title,
                status,
                output,
            } => {
                let known = self
                    .tools
                    .entry(line.id.clone())
                    .or_insert_with(|| ("other".to_string(), String::new()));
                if let Some(kind) = kind {
                    known.0 = kind.to_string();
                }
                if let Some(title) = title {
                    known.1 = title.clone();
                }
                writeln!(
                    out,
                    "{time} tool {} [{}] {}",
                    known.0,
                    visible(status.as_deref().unwrap_or("update")),
                    visible(&known.1).replace('\n', " ")
                )?;
                if let Some(output) = output {
                    let output = visible(output);
                    let mut lines = output.lines();
                    for shown in lines.by_ref().take(OUTPUT_LINES) {
                        writeln!(out, "{INDENT}│ {shown}")?;
                    }
                    let more = lines.count();
                    if more > 0 {
                        writeln!(out, "{INDENT}│ … ({more} more lines)")?;
                    }
                }
            }
            ConversationPart::TurnEnd { reason, tokens } => match tokens {
                Some(t) => writeln!(
                    out,
                    "{time} turn ended: {} ({} in, {} out)",
                    visible(reason),
                    t.input
                        .saturating_add(t.cache_read)
                        .saturating_add(t.cache_write),
                    t.output.saturating_add(t.reasoning)
                )?,
                None => writeln!(out, "{time} turn ended: {}", visible(reason))?,
            },
            ConversationPart::Unsent { text } => {
                let text = visible(text);
                let mut lines = text.lines();
                writeln!(
                    out,
                    "{time} not sent (cancelled): {}",
                    lines.next().unwrap_or_default()
                )?;
                for more in lines {
                    writeln!(out, "{INDENT}{more}")?;
                }
            }
            ConversationPart::Assistant { .. } => {}
        }
        Ok(())
    }

    /// A note of the host's own (`ao: ...`), on a line of its own. It may quote the agent (a
    /// name, an error message), so it is escaped too.
    pub fn note(&mut self, out: &mut dyn Write, text: &str) -> std::io::Result<()> {
        self.end_text(out)?;
        writeln!(out, "ao: {}", visible(text).replace('\n', " "))
    }

    /// A permission request waiting for a person: what it is about, the options the agent offers,
    /// and how to answer it.
    pub fn waiting(
        &mut self,
        out: &mut dyn Write,
        pending: &PendingPermission,
    ) -> std::io::Result<()> {
        self.end_text(out)?;
        let kind = pending.kind.map(|k| k.to_string()).unwrap_or_default();
        let options: Vec<String> = pending
            .options
            .iter()
            .map(|o| format!("{} ({})", o.name, o.kind))
            .collect();
        let id = visible(&pending.id);
        writeln!(
            out,
            "{} ? permission {id} [{kind}] {}",
            time(pending.at),
            visible(&pending.title).replace('\n', " ")
        )?;
        writeln!(out, "{INDENT}options: {}", visible(&options.join(", ")))?;
        writeln!(
            out,
            "{INDENT}answer: ao permit <session> {id} [--always | --reject]"
        )
    }

    /// Ends the agent's message being written, if one is, with a newline.
    pub fn end_text(&mut self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.open_text.take().is_some() {
            writeln!(out)?;
        }
        Ok(())
    }
}

/// A time as the terminal shows it: the local `HH:MM:SS`.
fn time(at: EpochMillis) -> String {
    chrono::DateTime::from_timestamp_millis(at)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

/// Text with its control characters (but newlines and tabs) escaped.
pub fn visible(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::ToolKind;
    use ao_agent::session::Tokens;

    fn line(id: &str, part: ConversationPart) -> ConversationLine {
        ConversationLine {
            id: id.into(),
            at: 0,
            part,
        }
    }

    #[test]
    fn a_turn_reads_as_a_conversation() {
        let mut out = Vec::new();
        let mut r = Renderer::new();
        let lines = [
            line("u", ConversationPart::User { text: "go".into() }),
            line(
                "a",
                ConversationPart::Assistant {
                    text: "on it".into(),
                },
            ),
            line(
                "a",
                ConversationPart::Assistant {
                    text: "\x1b[2J!".into(),
                },
            ),
            line(
                "c",
                ConversationPart::Tool {
                    kind: Some(ToolKind::Execute),
                    title: Some("echo hi".into()),
                    status: Some("pending".into()),
                    output: None,
                },
            ),
            line(
                "c",
                ConversationPart::Tool {
                    kind: None,
                    title: None,
                    status: Some("completed".into()),
                    output: Some("1\n2\n3\n4\n5\n6\n7".into()),
                },
            ),
            line(
                "e",
                ConversationPart::TurnEnd {
                    reason: "end_turn".into(),
                    tokens: Some(Tokens {
                        input: 60,
                        output: 2,
                        ..Default::default()
                    }),
                },
            ),
        ];
        for l in &lines {
            r.write(&mut out, l).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        // The time is local; what follows it is the point.
        let after_time: Vec<&str> = text
            .lines()
            .map(|l| l.get(9..).unwrap_or_default())
            .collect();
        assert_eq!(
            after_time,
            [
                "you: go",
                "agent: on it\\u{1b}[2J!",
                "tool execute [pending] echo hi",
                "tool execute [completed] echo hi",
                "│ 1",
                "│ 2",
                "│ 3",
                "│ 4",
                "│ 5",
                "│ … (2 more lines)",
                "turn ended: end_turn (60 in, 2 out)",
            ]
        );
    }

    #[test]
    fn notes_and_waiting_permissions_end_the_agents_text_and_are_escaped() {
        use ao_agent::session::{PermitOption, PermitOptionKind};
        let mut out = Vec::new();
        let mut r = Renderer::new();
        let said = ConversationPart::Assistant {
            text: "let me".into(),
        };
        r.write(&mut out, &line("a", said)).unwrap();
        r.note(&mut out, "agent \x1b]0;evil\x07 1.0").unwrap();
        let pending = PendingPermission {
            id: "call-1".into(),
            kind: Some(ToolKind::Execute),
            title: "rm -rf \x1b[2J".into(),
            options: vec![
                PermitOption {
                    id: "y".into(),
                    name: "Yes".into(),
                    kind: PermitOptionKind::AllowOnce,
                },
                PermitOption {
                    id: "n".into(),
                    name: "No".into(),
                    kind: PermitOptionKind::RejectOnce,
                },
            ],
            at: 0,
        };
        r.waiting(&mut out, &pending).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0].get(9..), Some("agent: let me"));
        assert_eq!(lines[1], "ao: agent \\u{1b}]0;evil\\u{7} 1.0");
        assert_eq!(
            lines[2].get(9..),
            Some("? permission call-1 [execute] rm -rf \\u{1b}[2J")
        );
        assert_eq!(
            &lines[3..],
            [
                "         options: Yes (allow_once), No (reject_once)",
                "         answer: ao permit <session> call-1 [--always | --reject]",
            ]
        );
    }

    #[test]
    fn a_prompt_a_cancel_dropped_says_it_was_not_sent() {
        let mut out = Vec::new();
        let mut r = Renderer::new();
        let unsent = ConversationPart::Unsent {
            text: "and then this".into(),
        };
        r.write(&mut out, &line("t1-unsent-1", unsent)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("not sent (cancelled): and then this"),
            "{text}"
        );
    }
}
