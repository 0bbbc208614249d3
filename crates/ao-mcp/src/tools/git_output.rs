//! Running the `git diff` the manager gives, and reading what it prints only up to a cap, so that
//! a huge diff costs the server no more memory than the cap.

use std::io::Read;
use std::process::{Command, Stdio};

/// What git printed, read up to a cap.
pub(crate) enum GitOutput {
    /// It ended well, within the cap.
    Done {
        /// Its output.
        stdout: String,
    },
    /// It printed more than the cap: the start, and git was stopped.
    Cut {
        /// Its output up to one byte past the cap (so that `capped` says it was cut).
        stdout: String,
    },
    /// It failed.
    Failed {
        /// What it said.
        stderr: String,
    },
}

/// How much of git's complaint is kept: what it says of a failure is short.
const STDERR_CAP: u64 = 64 * 1024;

/// Runs `git` (no pager, no input) and reads at most `cap` bytes and one more of what it prints;
/// past that git is stopped. Blocks.
pub(crate) fn read_capped(mut git: Command, cap: usize) -> std::io::Result<GitOutput> {
    let mut child = git
        .env("GIT_PAGER", "cat")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdout = Vec::new();
    if let Some(out) = child.stdout.take() {
        out.take(cap as u64 + 1).read_to_end(&mut stdout)?;
    }
    let text = String::from_utf8_lossy(&stdout).into_owned();
    if stdout.len() > cap {
        let _ = child.kill();
        let _ = child.wait();
        return Ok(GitOutput::Cut { stdout: text });
    }
    let mut stderr = String::new();
    if let Some(err) = child.stderr.take() {
        err.take(STDERR_CAP).read_to_string(&mut stderr)?;
    }
    Ok(if child.wait()?.success() {
        GitOutput::Done { stdout: text }
    } else {
        GitOutput::Failed { stderr }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_past_the_cap_is_cut_and_the_program_stopped() {
        let mut yes = Command::new("sh");
        yes.args(["-c", "yes abc"]);
        match read_capped(yes, 10).unwrap() {
            GitOutput::Cut { stdout } => assert_eq!(stdout.len(), 11),
            _ => panic!("not cut"),
        }
        let mut short = Command::new("sh");
        short.args(["-c", "printf hi"]);
        assert!(
            matches!(read_capped(short, 10).unwrap(), GitOutput::Done { stdout } if stdout == "hi")
        );
        let mut failing = Command::new("sh");
        failing.args(["-c", "echo bad >&2; exit 3"]);
        assert!(
            matches!(read_capped(failing, 10).unwrap(), GitOutput::Failed { stderr } if stderr == "bad\n")
        );
    }
}
