//! A finding of `ao doctor` ([`Check`]), and the two ways to look at a program that every check
//! of one uses: where it is, and what it prints.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Fine.
    Ok,
    /// Works, but worth knowing (an untested version, something only some commands need).
    Warn,
    /// Something ao needs is missing or broken.
    Fail,
}

/// One finding of `ao doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// How it came out.
    pub verdict: Verdict,
    /// What was checked: `tmux`, an agent's program, `state home`, `project demo`, ...
    pub subject: String,
    /// What was found.
    pub detail: String,
    /// What to do about it, when something is wrong.
    pub fix: Option<String>,
}

impl Check {
    /// A check that passed.
    pub fn ok(subject: impl Into<String>, detail: impl Into<String>) -> Check {
        Check {
            verdict: Verdict::Ok,
            subject: subject.into(),
            detail: detail.into(),
            fix: None,
        }
    }

    /// A finding worth knowing, with what to do.
    pub fn warn(
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            verdict: Verdict::Warn,
            subject: subject.into(),
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    /// A failure, with what to do.
    pub fn fail(
        subject: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Check {
        Check {
            verdict: Verdict::Fail,
            subject: subject.into(),
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Where `program` is: itself when it names a path (relative ones against the current
/// directory), else the first executable match on `PATH`.
pub fn find_program(program: &Path) -> Option<PathBuf> {
    which::which(program).ok()
}

/// The first line a program prints for `args` (e.g. `--version`), within `timeout`.
pub fn program_output(program: &Path, args: &[&str], timeout: Duration) -> Result<String, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{} {}` did not answer within {}s",
                    program.display(),
                    args.join(" "),
                    timeout.as_secs()
                ));
            }
            Err(e) => return Err(format!("cannot wait for {}: {e}", program.display())),
        }
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    if !status.success() {
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        return Err(format!(
            "`{} {}` failed ({status}): {}",
            program.display(),
            args.join(" "),
            err.trim()
        ));
    }
    Ok(out.lines().next().unwrap_or_default().trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_path_or_by_path() {
        assert!(find_program(Path::new("sh")).is_some());
        assert_eq!(find_program(Path::new("/surely/not/here/tmux")), None);
        // A file that cannot be run is not a program.
        let tmp = tempfile::tempdir().unwrap();
        let plain = tmp.path().join("tmux");
        std::fs::write(&plain, "").unwrap();
        assert_eq!(find_program(&plain), None);
        assert_eq!(
            program_output(
                Path::new("/bin/sh"),
                &["-c", "echo one; echo two"],
                Duration::from_secs(5)
            )
            .unwrap(),
            "one"
        );
        assert!(program_output(
            Path::new("/bin/sh"),
            &["-c", "sleep 5"],
            Duration::from_millis(100)
        )
        .unwrap_err()
        .contains("did not answer"));
    }
}
