//! Carrying out what the dashboard asks, through the session manager, off the drawing loop: each
//! action is a task of its own whose outcome comes back as a [`Outcome`], so a slow kill never
//! freezes the screen.

use std::sync::Arc;

use tokio::sync::mpsc::UnboundedSender;

use ao_core::manager::{KillOptions, QuestionReply, SessionManager};
use ao_core::report;
use ao_core::session::SessionAddress;
use ao_core::target::Target;
use ao_core::transcript::TranscriptEntry;

use super::app::Action;

/// What came back from a task.
#[derive(Debug)]
pub enum Outcome {
    /// An action ended: what to say in the status line, and whether it failed.
    Done {
        /// One line for the status line.
        text: String,
        /// Whether it failed.
        error: bool,
    },
    /// A conversation was read (or why not).
    Transcript {
        /// The session.
        id: String,
        /// Its entries.
        read: Result<Vec<TranscriptEntry>, String>,
    },
}

/// Starts `action` on the session at `address` on the runtime's thread; its outcome goes to
/// `done`.
pub fn start(
    mgr: Arc<SessionManager>,
    address: SessionAddress,
    action: Action,
    done: UnboundedSender<Outcome>,
) {
    tokio::spawn(async move {
        let outcome = match run(&mgr, &Target::Session(address), action).await {
            Ok(text) => Outcome::Done { text, error: false },
            Err(e) => Outcome::Done {
                text: one_line(&e),
                error: true,
            },
        };
        // The dashboard may have quit meanwhile: nobody to tell.
        let _ = done.send(outcome);
    });
}

/// Reads the conversation of `id` (at `address`); it goes to `done`.
pub fn fetch(
    mgr: Arc<SessionManager>,
    id: String,
    address: SessionAddress,
    done: UnboundedSender<Outcome>,
) {
    tokio::spawn(async move {
        let read = async {
            let rec = mgr.resolve_one(&Target::Session(address)).await?;
            mgr.transcript(&rec).await
        }
        .await
        .map_err(|e| one_line(&anyhow::Error::from(e)));
        let _ = done.send(Outcome::Transcript { id, read });
    });
}

async fn run(mgr: &SessionManager, target: &Target, action: Action) -> anyhow::Result<String> {
    Ok(match action {
        Action::Permit {
            decision, request, ..
        } => {
            let (rec, req) = mgr.permit(target, decision, request.as_deref()).await?;
            report::permitted(&rec, &req, decision)
        }
        Action::Answer {
            request, answers, ..
        } => {
            let (rec, req) = mgr
                .answer(target, Some(&request), QuestionReply::Answers(answers))
                .await?;
            report::answered(&rec, &req, false)
        }
        Action::Send { text, .. } => {
            let rec = mgr.send(target, &text).await?;
            report::sent(&rec)
        }
        Action::Kill { .. } => {
            let report = mgr
                .kill(
                    target,
                    KillOptions {
                        purge: false,
                        force: false,
                    },
                )
                .await?;
            let mut text = String::new();
            for k in &report.sessions {
                text.push_str(&report::killed(k));
            }
            let mut said = text.lines().collect::<Vec<_>>().join("; ");
            let problems: Vec<&String> = report
                .sessions
                .iter()
                .flat_map(|k| &k.problems)
                .chain(&report.release_problems)
                .collect();
            if !problems.is_empty() {
                said.push_str(&format!(
                    "; {}",
                    problems
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
                anyhow::bail!(said);
            }
            said
        }
        Action::Restore { .. } => {
            let rec = mgr.restore(target).await?;
            report::restored(&rec)
        }
    })
}

/// An error as one line, as `ao` reports it.
pub fn one_line(e: &anyhow::Error) -> String {
    crate::error_text(e).lines().collect::<Vec<_>>().join(" ")
}
