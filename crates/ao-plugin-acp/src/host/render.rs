//! The conversation for people, printed to the host's stdout as it happens: in a tmux session
//! that is the pane a person attaches to; in the process runtime, the session's log. Plain text.
//!
//! A failed write (stdout closed) is ignored: the record on disk is what counts.

use std::io::Write as _;

use ao_agent::session::Tokens;

use crate::record::{ConversationPart, PendingPermission};

/// Prints the conversation; remembers whether the agent's text left a line open.
#[derive(Debug, Default)]
pub struct Renderer {
    open_line: bool,
}

impl Renderer {
    /// A renderer at the start of a line.
    pub fn new() -> Renderer {
        Renderer::default()
    }

    /// Prints what a conversation line says.
    pub fn line(&mut self, part: &ConversationPart) {
        let text = self.text_of(part);
        self.emit(&text);
    }

    /// A note of the host's own (`ao: ...`), on a line of its own.
    pub fn note(&mut self, text: &str) {
        let text = format!("{}ao: {text}\n", self.close());
        self.emit(&text);
    }

    /// A permission request waiting for a person.
    pub fn waiting(&mut self, pending: &PendingPermission) {
        let kind = pending.kind.map(|k| k.to_string()).unwrap_or_default();
        let options: Vec<String> = pending
            .options
            .iter()
            .map(|o| format!("{} ({})", o.name, o.kind))
            .collect();
        let text = format!(
            "{}? permission {id} [{kind}] {title}\n  options: {options}\n  answer: ao permit <session> {id} [--always | --reject]\n",
            self.close(),
            id = pending.id,
            title = pending.title,
            options = options.join(", "),
        );
        self.emit(&text);
    }

    fn text_of(&mut self, part: &ConversationPart) -> String {
        match part {
            ConversationPart::User { text } => format!("{}\n> {text}\n", self.close()),
            ConversationPart::Assistant { text } => {
                self.open_line = !text.ends_with('\n');
                text.clone()
            }
            ConversationPart::Tool {
                kind,
                title,
                status,
                output,
            } => {
                let mut line = format!("{}  [tool", self.close());
                if let Some(kind) = kind {
                    line.push_str(&format!(" {kind}"));
                }
                line.push(']');
                if let Some(title) = title {
                    line.push_str(&format!(" {title}"));
                }
                if let Some(status) = status {
                    line.push_str(&format!(" ({status})"));
                }
                line.push('\n');
                if let Some(output) = output {
                    for out in output.lines().take(5) {
                        line.push_str(&format!("    {out}\n"));
                    }
                }
                line
            }
            ConversationPart::TurnEnd { reason, tokens } => {
                format!(
                    "{}-- turn ended: {reason}{}\n",
                    self.close(),
                    tokens_text(tokens)
                )
            }
        }
    }

    /// A newline when the agent's text left the line open.
    fn close(&mut self) -> &'static str {
        if std::mem::take(&mut self.open_line) {
            "\n"
        } else {
            ""
        }
    }

    fn emit(&self, text: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

fn tokens_text(tokens: &Option<Tokens>) -> String {
    match tokens {
        Some(t) => {
            let mut s = format!(", tokens in {} out {}", t.input, t.output);
            if t.reasoning > 0 {
                s.push_str(&format!(" reasoning {}", t.reasoning));
            }
            if t.cache_read > 0 || t.cache_write > 0 {
                s.push_str(&format!(
                    " cache read {} write {}",
                    t.cache_read, t.cache_write
                ));
            }
            s
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_runs_stay_on_their_line_until_something_else_comes() {
        let mut r = Renderer::new();
        let a = r.text_of(&ConversationPart::Assistant { text: "Hel".into() });
        let b = r.text_of(&ConversationPart::Assistant { text: "lo".into() });
        let t = r.text_of(&ConversationPart::Tool {
            kind: Some(crate::record::ToolKind::Execute),
            title: Some("ls".into()),
            status: Some("completed".into()),
            output: Some("a\nb".into()),
        });
        let e = r.text_of(&ConversationPart::TurnEnd {
            reason: "end_turn".into(),
            tokens: Some(Tokens {
                input: 10,
                output: 5,
                ..Tokens::default()
            }),
        });
        assert_eq!(
            format!("{a}{b}{t}{e}"),
            "Hello\n  [tool execute] ls (completed)\n    a\n    b\n-- turn ended: end_turn, tokens in 10 out 5\n"
        );
    }
}
