//! A running `ao` whose standard output is read line by line as it comes: how a test follows
//! `ao status --watch --json`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// A child process and the lines it printed so far. Dropping it sends SIGKILL to it (by pid) if
/// it still runs, and reaps it.
pub struct Lines {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line read so far, for failure messages.
    pub seen: Vec<String>,
}

impl Lines {
    /// Starts `cmd` with its standard output piped (standard error inherited, so it shows in the
    /// test's output).
    pub fn start(mut cmd: Command) -> Lines {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the command");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line, waiting up to `timeout`; panics with what was seen when none comes.
    pub fn next(&mut self, timeout: Duration) -> String {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line.clone());
                line
            }
            Err(e) => panic!(
                "no line within {timeout:?} ({e}); lines so far:\n{}",
                self.seen.join("\n")
            ),
        }
    }

    /// The next line as JSON.
    pub fn next_json(&mut self, timeout: Duration) -> Value {
        let line = self.next(timeout);
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Reads JSON lines until one satisfies `pred`, within `timeout` in all; returns every line
    /// read on the way, that one last.
    pub fn until_json(
        &mut self,
        timeout: Duration,
        what: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut read = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(_) => panic!(
                    "no line showed {what} within {timeout:?}; lines so far:\n{}",
                    self.seen.join("\n")
                ),
            };
            self.seen.push(line.clone());
            let value: Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            let done = pred(&value);
            read.push(value);
            if done {
                return read;
            }
        }
    }

    /// Whether a line comes within `timeout` (a line that does is kept in `seen`).
    pub fn quiet_for(&mut self, timeout: Duration) -> bool {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => {
                self.seen.push(line);
                false
            }
            Err(_) => true,
        }
    }

    /// Sends `signal` and waits (up to 10 s) for the process to end; its exit status.
    pub fn stop_with(&mut self, signal: nix::sys::signal::Signal) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal the process");
        self.wait(Duration::from_secs(10))
    }

    /// Waits up to `timeout` for the process to end on its own; its exit status.
    pub fn wait(&mut self, timeout: Duration) -> std::process::ExitStatus {
        crate::wait_until(timeout, Duration::from_millis(20), || {
            match self.child.try_wait().expect("wait for the process") {
                Some(status) => Ok(status),
                None => Err(format!("the process did not end within {timeout:?}")),
            }
        })
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
