//! The line typed in the status line: a message to send (`s`), or the answers to a pending
//! question (`a`), where ↑/↓ picks among the options the question offers.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use ao_core::session::PendingQuestion;

use super::app::{Action, App, Effect, Mode};

/// A line being typed, and what it is for.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// The session it goes to.
    pub id: String,
    /// What has been typed.
    pub text: String,
    /// A message, or an answer to a question.
    pub purpose: Purpose,
}

/// What a typed line is for.
#[derive(Debug, Clone, PartialEq)]
pub enum Purpose {
    /// A follow-up message.
    Send,
    /// An answer to the question request `request`: `answers` so far, one per question before
    /// `questions[answers.len()]`, the one being answered. `choice` is the option ↑/↓ picked.
    Answer {
        /// The request's id.
        request: String,
        /// What it asks.
        questions: Vec<PendingQuestion>,
        /// The answers given so far.
        answers: Vec<String>,
        /// The option picked with ↑/↓, if any (its label is then the text).
        choice: Option<usize>,
    },
}

impl App {
    /// What a key does while a line is typed.
    pub(super) fn input_key(&mut self, mut input: Input, key: KeyEvent) -> Vec<Effect> {
        match key.code {
            KeyCode::Esc => {
                self.note(false, "nothing sent".into());
                return vec![];
            }
            KeyCode::Enter => return self.submit(input),
            KeyCode::Backspace => {
                input.text.pop();
                if let Purpose::Answer { choice, .. } = &mut input.purpose {
                    *choice = None;
                }
            }
            KeyCode::Up | KeyCode::Down => {
                if let Purpose::Answer {
                    questions,
                    answers,
                    choice,
                    ..
                } = &mut input.purpose
                {
                    let options = questions
                        .get(answers.len())
                        .map(|q| q.options.as_slice())
                        .unwrap_or_default();
                    if !options.is_empty() {
                        let n = options.len();
                        let next = match (*choice, key.code) {
                            (None, KeyCode::Down) => 0,
                            (None, _) => n - 1,
                            (Some(i), KeyCode::Down) => (i + 1) % n,
                            (Some(i), _) => (i + n - 1) % n,
                        };
                        *choice = Some(next);
                        input.text = options[next].clone();
                    }
                }
            }
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                input.text.push(c);
                if let Purpose::Answer { choice, .. } = &mut input.purpose {
                    *choice = None;
                }
            }
            _ => {}
        }
        self.mode = Mode::Input(input);
        vec![]
    }

    fn submit(&mut self, mut input: Input) -> Vec<Effect> {
        if input.text.trim().is_empty() {
            self.mode = Mode::Input(input);
            self.note(true, "type something first (Esc cancels)".into());
            return vec![];
        }
        self.note = None;
        match input.purpose {
            Purpose::Send => vec![Effect::Act(Action::Send {
                id: input.id,
                text: input.text,
            })],
            Purpose::Answer {
                request,
                questions,
                mut answers,
                ..
            } => {
                answers.push(std::mem::take(&mut input.text));
                if answers.len() < questions.len() {
                    // The next question of the same request.
                    self.mode = Mode::Input(Input {
                        purpose: Purpose::Answer {
                            request,
                            questions,
                            answers,
                            choice: None,
                        },
                        ..input
                    });
                    return vec![];
                }
                vec![Effect::Act(Action::Answer {
                    id: input.id,
                    request,
                    answers,
                })]
            }
        }
    }
}
