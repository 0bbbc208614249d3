//! A person's terminal in a test: a pane of a private tmux server (not the one ao runs sessions
//! in) whose screen a test reads and into which it types, as a person would.

use std::process::{Command, Output};
use std::time::Duration;

use crate::{wait_until, World};

impl World {
    /// Opens a person's terminal: a pane of a second private tmux server (not the one ao runs
    /// sessions in), 200x50, running `command` through `sh -c`. The pane stays after its program
    /// ends so that what it printed can still be read.
    pub fn terminal(&self, name: &str, command: &str) -> Terminal {
        self.sized_terminal(name, command, 200, 50)
    }

    /// [`World::terminal`] of `width` columns and `height` lines (80x24: the smallest a
    /// full-screen view must work in).
    pub fn sized_terminal(&self, name: &str, command: &str, width: u16, height: u16) -> Terminal {
        let socket = format!("{}-term", self.tmux_socket);
        let t = Terminal {
            socket,
            name: name.to_string(),
        };
        let out = t.tmux(&[
            "new-session",
            "-d",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "-s",
            name,
            "sh",
            "-c",
            command,
        ]);
        assert!(
            out.status.success(),
            "terminal: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t.tmux(&["set-option", "-t", name, "remain-on-exit", "on"]);
        t
    }

    /// Polls until `pred` holds for what `terminal` shows, failing after `timeout` with the screen.
    pub fn wait_screen(
        &self,
        terminal: &Terminal,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        wait_until(timeout, Duration::from_millis(200), || {
            let screen = terminal.screen();
            if pred(&screen) {
                Ok(screen)
            } else {
                Err(format!(
                    "the terminal did not show {what} within {timeout:?}; it shows:\n{screen}"
                ))
            }
        })
    }
}

/// A pane of a private tmux server standing in for a person's terminal; see [`World::terminal`].
/// Its server is killed when the world is dropped.
pub struct Terminal {
    socket: String,
    name: String,
}

impl Terminal {
    /// Runs a tmux command on the terminal's server.
    pub fn tmux(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// What the terminal shows now.
    pub fn screen(&self) -> String {
        let target = format!("={}:", self.name);
        let out = self.tmux(&["capture-pane", "-p", "-t", &target]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Presses keys, each as tmux names it (`Up`, `Enter`, `Escape`, `C-c`, `p`).
    pub fn keys(&self, keys: &[&str]) {
        let target = format!("={}:", self.name);
        let mut args = vec!["send-keys", "-t", &target];
        args.extend_from_slice(keys);
        let out = self.tmux(&args);
        assert!(
            out.status.success(),
            "send-keys {keys:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Whether the pane shows the alternate screen (a full-screen program is drawing).
    pub fn alternate_screen(&self) -> bool {
        let target = format!("={}:", self.name);
        let out = self.tmux(&["display-message", "-p", "-t", &target, "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Types `text` and Enter.
    pub fn type_line(&self, text: &str) {
        let target = format!("={}:", self.name);
        self.tmux(&["send-keys", "-t", &target, "-l", text]);
        self.tmux(&["send-keys", "-t", &target, "Enter"]);
    }
}
