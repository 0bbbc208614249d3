//! What the host prints to its stdout, for people: in a tmux session that is the pane a person
//! attaches to; in the process runtime, the session's log. Each conversation line the host
//! records is printed as `ao attach`'s view shows it ([`crate::render`]), with the host's own
//! notes and the permission requests waiting for a person between them.
//!
//! A failed write (stdout closed) is ignored: the record on disk is what counts.
//!
//! The writes stay on the host's async thread: each is a few hundred bytes to a tty or a log
//! file, in the order the conversation happened; moving them to a blocking thread would cost a
//! thread hop per line and let notes overtake the lines they are about.

use std::io::Write;

use crate::record::{ConversationLine, PendingPermission};
use crate::render::Renderer;

/// The host's stdout, and what its rendering remembers between lines.
#[derive(Debug, Default)]
pub struct Pane {
    renderer: Renderer,
}

impl Pane {
    /// A pane at the start of the conversation.
    pub fn new() -> Pane {
        Pane::default()
    }

    /// Prints a line the host recorded.
    pub fn line(&mut self, line: &ConversationLine) {
        self.print(|renderer, out| renderer.write(out, line));
    }

    /// A note of the host's own (`ao: ...`), on a line of its own.
    pub fn note(&mut self, text: &str) {
        self.print(|renderer, out| renderer.note(out, text));
    }

    /// A permission request waiting for a person.
    pub fn waiting(&mut self, pending: &PendingPermission) {
        self.print(|renderer, out| renderer.waiting(out, pending));
    }

    fn print(&mut self, write: impl FnOnce(&mut Renderer, &mut dyn Write) -> std::io::Result<()>) {
        let mut out = std::io::stdout().lock();
        let _ = write(&mut self.renderer, &mut out).and_then(|()| out.flush());
    }
}
