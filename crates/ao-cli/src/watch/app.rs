//! The dashboard's state and what each key does to it. Nothing here draws or does I/O: a key or a
//! model event changes the state and returns the [`Effect`]s the loop in `mod.rs` carries out, so
//! the key map is tested without a terminal.

use std::collections::BTreeMap;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use ao_core::agent::PermitDecision;
use ao_core::live::{ConfigChange, LiveEvent, LiveSession};
use ao_core::session::{PendingKind, PendingRequest, SessionAddress};

pub use super::input::{Input, Purpose};
use ao_core::transcript::{EntryKind, TranscriptEntry};

/// Something the loop must do for the dashboard.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Leave, giving the terminal back.
    Quit,
    /// Ask the manager to act on a session.
    Act(Action),
    /// Read a session's conversation (for the detail pane and the log view).
    Fetch(String),
    /// Hand the terminal to the session, and come back when the person detaches.
    Attach(String),
}

/// An action on one session, carried out through the manager.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Answer a permission request (`request`: the first pending one, when known).
    Permit {
        /// The session.
        id: String,
        /// Once, always or reject.
        decision: PermitDecision,
        /// The request's id.
        request: Option<String>,
    },
    /// Answer a question, one answer per question it asks.
    Answer {
        /// The session.
        id: String,
        /// The question request's id.
        request: String,
        /// The answers, in order.
        answers: Vec<String>,
    },
    /// Send a follow-up message.
    Send {
        /// The session.
        id: String,
        /// The message.
        text: String,
    },
    /// Stop the session (its work tree is kept if it holds work).
    Kill {
        /// The session.
        id: String,
    },
    /// Bring a killed or exited session back.
    Restore {
        /// The session.
        id: String,
    },
}

impl Action {
    /// The session it acts on: its id, a key of [`App::sessions`].
    pub fn session(&self) -> &str {
        match self {
            Action::Permit { id, .. }
            | Action::Answer { id, .. }
            | Action::Send { id, .. }
            | Action::Kill { id }
            | Action::Restore { id } => id,
        }
    }
}

/// What the keys do now.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Mode {
    /// Keys pick a session and act on it.
    #[default]
    Normal,
    /// `k` was pressed: `y` kills this session, anything else keeps it.
    ConfirmKill(String),
    /// A line of text is typed in the status line.
    Input(Input),
    /// The conversation of a session fills the screen.
    Log(LogView),
}

/// The log view's place in a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct LogView {
    /// The session.
    pub id: String,
    /// The first line shown; `None` follows the end as the conversation grows.
    pub top: Option<usize>,
}

/// A one-line message under the table: what an action did, or why it failed.
#[derive(Debug, Clone, PartialEq)]
pub struct Note {
    /// The text.
    pub text: String,
    /// Whether it reports a failure.
    pub error: bool,
}

/// What the dashboard shows and where the person is in it.
#[derive(Debug, Default)]
pub struct App {
    /// Every session shown, by address.
    pub sessions: BTreeMap<String, LiveSession>,
    /// The selected session's address.
    pub selected: Option<String>,
    /// What keys do now.
    pub mode: Mode,
    /// The last action's outcome.
    pub note: Option<Note>,
    /// A config file that no longer reads stays said until it reads again.
    pub config_problem: Option<String>,
    /// The conversation last read, of the session `transcript_of` names.
    pub transcript: Vec<TranscriptEntry>,
    /// Whose conversation `transcript` is.
    pub transcript_of: Option<String>,
    /// Why the conversation could not be read, if it could not.
    pub transcript_error: Option<String>,
    /// Lines the log view pages by (the height it was last drawn in).
    pub page: usize,
}

impl App {
    /// The sessions in the order they are listed: by project, then as they were spawned.
    pub fn ordered(&self) -> Vec<&LiveSession> {
        let mut all: Vec<&LiveSession> = self.sessions.values().collect();
        all.sort_by(|a, b| {
            (&a.status.project, &a.status.created_at, &a.status.id).cmp(&(
                &b.status.project,
                &b.status.created_at,
                &b.status.id,
            ))
        });
        all
    }

    /// The typed address of a session shown, by its id (the manager takes addresses, not text
    /// to parse again).
    pub fn address_of(&self, id: &str) -> Option<SessionAddress> {
        self.sessions.get(id).map(|s| s.status.address())
    }

    /// The selected session.
    pub fn current(&self) -> Option<&LiveSession> {
        self.selected.as_ref().and_then(|id| self.sessions.get(id))
    }

    /// Takes in what the live model says.
    pub fn on_live(&mut self, event: LiveEvent<LiveSession>) -> Vec<Effect> {
        match event {
            LiveEvent::Snapshot(all) => {
                self.sessions = all.into_iter().map(|s| (s.status.id.clone(), s)).collect();
            }
            LiveEvent::Changed(s) => {
                let id = s.status.id.clone();
                self.sessions.insert(id.clone(), *s);
                // The conversation shown is read again only for the session being looked at.
                if self.looked_at() == Some(&id) {
                    return self.ensure_selection_and(vec![Effect::Fetch(id)]);
                }
            }
            LiveEvent::Removed(id) => {
                self.sessions.remove(&id);
                if matches!(&self.mode, Mode::Log(v) if v.id == id)
                    || matches!(&self.mode, Mode::ConfirmKill(k) if *k == id)
                    || matches!(&self.mode, Mode::Input(i) if i.id == id)
                {
                    self.mode = Mode::Normal;
                }
                if self.selected.as_ref() == Some(&id) {
                    // The next one down takes its place.
                    self.selected = self
                        .ordered()
                        .into_iter()
                        .find(|s| s.status.id > id)
                        .map(|s| s.status.id.clone());
                }
            }
            LiveEvent::Config(ConfigChange::Reloaded) => {
                self.config_problem = None;
                self.note(
                    false,
                    "the config file changed; watching with it now".into(),
                );
            }
            LiveEvent::Config(ConfigChange::Invalid(problems)) => {
                self.config_problem = Some(format!(
                    "the config file no longer reads; still using it as it was: {}",
                    problems.lines().next().unwrap_or_default()
                ));
            }
        }
        self.ensure_selection_and(vec![])
    }

    /// The session whose conversation is on screen (the log view's, else the selected one).
    fn looked_at(&self) -> Option<&String> {
        match &self.mode {
            Mode::Log(v) => Some(&v.id),
            _ => self.selected.as_ref(),
        }
    }

    /// Keeps a session selected while there are any; a newly selected one gets its conversation
    /// read.
    fn ensure_selection_and(&mut self, mut effects: Vec<Effect>) -> Vec<Effect> {
        if self.current().is_none() {
            self.selected = self.ordered().first().map(|s| s.status.id.clone());
        }
        if let Some(id) = self.selected.clone() {
            if self.transcript_of.as_ref() != Some(&id)
                && !effects.contains(&Effect::Fetch(id.clone()))
            {
                self.transcript_of = Some(id.clone());
                self.transcript.clear();
                self.transcript_error = None;
                effects.push(Effect::Fetch(id));
            }
        }
        effects
    }

    /// Takes in a conversation that was read.
    pub fn on_transcript(&mut self, id: &str, read: Result<Vec<TranscriptEntry>, String>) {
        if self.transcript_of.as_deref() != Some(id) {
            return;
        }
        match read {
            Ok(entries) => {
                self.transcript = entries;
                self.transcript_error = None;
            }
            Err(e) => self.transcript_error = Some(e),
        }
    }

    /// The agent's last text in the conversation read.
    pub fn last_reply(&self) -> Option<&str> {
        self.transcript.iter().rev().find_map(|e| match &e.kind {
            EntryKind::Assistant { text } if !text.trim().is_empty() => Some(text.as_str()),
            _ => None,
        })
    }

    /// Shows a message in the status line.
    pub fn note(&mut self, error: bool, text: String) {
        self.note = Some(Note { text, error });
    }

    /// What a key does.
    pub fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            return vec![Effect::Quit];
        }
        match std::mem::take(&mut self.mode) {
            Mode::Normal => self.normal_key(key),
            Mode::ConfirmKill(id) => {
                if key.code == KeyCode::Char('y') {
                    self.note(false, format!("killing {id}…"));
                    vec![Effect::Act(Action::Kill { id })]
                } else {
                    self.note(false, format!("{id} is left running"));
                    vec![]
                }
            }
            Mode::Input(input) => self.input_key(input, key),
            Mode::Log(view) => self.log_key(view, key),
        }
    }

    fn normal_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let id = self.selected.clone();
        let on = |f: &dyn Fn(String) -> Effect| id.clone().map(f).into_iter().collect();
        match key.code {
            KeyCode::Char('q') => vec![Effect::Quit],
            KeyCode::Up => self.step(-1),
            KeyCode::Down => self.step(1),
            KeyCode::Char(c @ ('p' | 'P' | 'x')) => {
                let decision = match c {
                    'p' => PermitDecision::Once,
                    'P' => PermitDecision::Always,
                    _ => PermitDecision::Reject,
                };
                let request = self
                    .first_pending(PendingKind::Permission)
                    .map(|p| p.id.clone());
                on(&|id| {
                    Effect::Act(Action::Permit {
                        id,
                        decision,
                        request: request.clone(),
                    })
                })
            }
            KeyCode::Char('a') => {
                let Some(id) = id else { return vec![] };
                match self.first_pending(PendingKind::Question).cloned() {
                    Some(q) => {
                        self.mode = Mode::Input(Input {
                            id,
                            text: String::new(),
                            purpose: Purpose::Answer {
                                request: q.id,
                                questions: q.questions,
                                answers: vec![],
                                choice: None,
                            },
                        });
                    }
                    None => self.note(true, format!("{id} has no pending question")),
                }
                vec![]
            }
            KeyCode::Char('s') => {
                if let Some(id) = id {
                    self.mode = Mode::Input(Input {
                        id,
                        text: String::new(),
                        purpose: Purpose::Send,
                    });
                }
                vec![]
            }
            KeyCode::Char('k') => {
                if let Some(id) = id {
                    self.mode = Mode::ConfirmKill(id);
                }
                vec![]
            }
            KeyCode::Char('r') => on(&|id| Effect::Act(Action::Restore { id })),
            KeyCode::Char('l') => {
                let Some(id) = id else { return vec![] };
                self.mode = Mode::Log(LogView {
                    id: id.clone(),
                    top: None,
                });
                vec![Effect::Fetch(id)]
            }
            KeyCode::Enter => on(&|id| Effect::Attach(id)),
            KeyCode::Esc => {
                self.note = None;
                vec![]
            }
            _ => vec![],
        }
    }

    fn first_pending(&self, kind: PendingKind) -> Option<&PendingRequest> {
        self.current()?
            .status
            .pending
            .iter()
            .find(|p| p.kind == kind)
    }

    /// Moves the selection `by` rows, stopping at the ends.
    fn step(&mut self, by: isize) -> Vec<Effect> {
        let order: Vec<String> = self.ordered().iter().map(|s| s.status.id.clone()).collect();
        if order.is_empty() {
            return vec![];
        }
        let at = self
            .selected
            .as_ref()
            .and_then(|id| order.iter().position(|o| o == id))
            .unwrap_or(0);
        let to = at.saturating_add_signed(by).min(order.len() - 1);
        self.selected = Some(order[to].clone());
        self.ensure_selection_and(vec![])
    }

    fn log_key(&mut self, mut view: LogView, key: KeyEvent) -> Vec<Effect> {
        let lines = self.log_lines().len();
        let page = self.page.max(1);
        let last_top = lines.saturating_sub(page);
        let top = view.top.unwrap_or(last_top).min(last_top);
        let moved = match key.code {
            KeyCode::Esc | KeyCode::Char('q') => return vec![],
            KeyCode::Up => top.saturating_sub(1),
            KeyCode::Down => top + 1,
            KeyCode::PageUp => top.saturating_sub(page),
            KeyCode::PageDown | KeyCode::Char(' ') => top + page,
            KeyCode::Home => 0,
            KeyCode::End => last_top,
            _ => top,
        };
        // At the end, the view follows what comes.
        view.top = (moved < last_top).then_some(moved);
        self.mode = Mode::Log(view);
        vec![]
    }

    /// The conversation as `ao logs` prints it, a line each.
    pub fn log_lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.transcript {
            // Writing to memory cannot fail.
            let _ = crate::commands::logs::write_entry(&mut out, e);
        }
        String::from_utf8_lossy(&out)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

#[cfg(test)]
#[path = "app_tests.rs"]
mod tests;
