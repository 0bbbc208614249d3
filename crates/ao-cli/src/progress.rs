//! The progress indicator of `ao spawn`: a spinner with the current step on standard error, drawn
//! only when standard error is a terminal, and wiped before anything else is printed.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The frames, then the one shown once finished (never seen: the line is cleared).
const TICKS: &str = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ";

/// A spinner on standard error, stopped (and its line cleared) when dropped.
pub struct Spinner {
    bar: ProgressBar,
}

impl Spinner {
    /// Starts a spinner labelled `label`, or nothing when standard error is not a terminal.
    pub fn start(label: String) -> Option<Spinner> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let style = ProgressStyle::with_template("{spinner} {prefix}: {wide_msg}")
            .ok()?
            .tick_chars(TICKS);
        let bar =
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(style);
        // Setting the label draws the first frame at once; then indicatif's own thread draws,
        // since the steps include blocking calls (git) during which nothing else would.
        bar.set_prefix(label);
        bar.enable_steady_tick(Duration::from_millis(80));
        Some(Spinner { bar })
    }

    /// Shows `step` as what is happening now.
    pub fn set(&self, step: String) {
        self.bar.set_message(step);
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
