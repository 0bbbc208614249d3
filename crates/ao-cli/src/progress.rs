//! The progress indicator of `ao spawn`: a spinner with the current step on standard error, drawn
//! only when standard error is a terminal, and wiped before anything else is printed.

use std::io::{IsTerminal, Write};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

const FRAMES: &[char] = &['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/// A spinner on standard error, stopped (and its line cleared) when dropped.
pub struct Spinner {
    step: Arc<Mutex<String>>,
    stop: Sender<()>,
    thread: Option<JoinHandle<()>>,
}

impl Spinner {
    /// Starts a spinner labelled `label`, or nothing when standard error is not a terminal.
    pub fn start(label: String) -> Option<Spinner> {
        if !std::io::stderr().is_terminal() {
            return None;
        }
        let step = Arc::new(Mutex::new(String::new()));
        let (stop, stopped) = mpsc::channel();
        let shown = Arc::clone(&step);
        // Drawn from a thread of its own: the steps it reports include blocking calls (git).
        let thread = std::thread::spawn(move || {
            for frame in FRAMES.iter().cycle() {
                let text = shown.lock().map(|s| s.clone()).unwrap_or_default();
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{frame} {label}: {text}");
                let _ = err.flush();
                drop(err);
                match stopped.recv_timeout(Duration::from_millis(80)) {
                    Err(RecvTimeoutError::Timeout) => continue,
                    _ => break,
                }
            }
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        });
        Some(Spinner {
            step,
            stop,
            thread: Some(thread),
        })
    }

    /// Shows `step` as what is happening now.
    pub fn set(&self, step: String) {
        if let Ok(mut s) = self.step.lock() {
            *s = step;
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        let _ = self.stop.send(());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
