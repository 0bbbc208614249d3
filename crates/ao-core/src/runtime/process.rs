//! The process runtime: a session's program as a detached background process.
//!
//! Theory of operation. `create` starts the program with `setsid` (a new session and process
//! group, no controlling terminal), standard output and error appended to the session's log file,
//! and standard input from a file or `/dev/null`. It does not wait for it: the program outlives the
//! `ao` that started it and is adopted by init (or the nearest subreaper) when that `ao` exits.
//! The handle holds the pid and the process's start time from `/proc/<pid>/stat`; a later `ao`
//! finds the program by pid and accepts it only if the start time matches, so a reused pid is never
//! mistaken for it. `destroy` sends SIGTERM to the whole process group, waits a grace period, then
//! sends SIGKILL.

use std::path::Path;
use std::time::Duration;

pub use ao_agent::runtime::process::{spawn_detached, ProcessIdentity, SpawnError};

use super::interface::{AttachCommand, Runtime, RuntimeError};
use crate::session::RuntimeKind;
use ao_agent::runtime::{LaunchSpec, RuntimeHandle};

/// How long `destroy` waits after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Runs programs as detached processes.
#[derive(Debug, Default, Clone)]
pub struct ProcessRuntime;

impl ProcessRuntime {
    /// A process runtime.
    pub fn new() -> Self {
        ProcessRuntime
    }
}

impl Runtime for ProcessRuntime {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Process
    }

    fn create(
        &self,
        _name: &str,
        spec: &LaunchSpec,
        session_dir: &Path,
    ) -> Result<RuntimeHandle, RuntimeError> {
        let log = session_dir.join("output.jsonl");
        let id = spawn_detached(spec, &log)?;
        Ok(RuntimeHandle::Process {
            pid: id.pid,
            start_time: id.start_time,
            log,
        })
    }

    fn alive(&self, handles: &[&RuntimeHandle]) -> Vec<bool> {
        handles
            .iter()
            .map(|h| match h {
                RuntimeHandle::Process {
                    pid, start_time, ..
                } => ProcessIdentity {
                    pid: *pid,
                    start_time: *start_time,
                }
                .is_alive(),
                _ => false,
            })
            .collect()
    }

    fn pids(&self, handle: &RuntimeHandle) -> Vec<u32> {
        match handle {
            RuntimeHandle::Process {
                pid, start_time, ..
            } if (ProcessIdentity {
                pid: *pid,
                start_time: *start_time,
            })
            .is_alive() =>
            {
                vec![*pid]
            }
            _ => Vec::new(),
        }
    }

    fn destroy(&self, handle: &RuntimeHandle) -> Result<(), RuntimeError> {
        if let RuntimeHandle::Process {
            pid, start_time, ..
        } = handle
        {
            ProcessIdentity {
                pid: *pid,
                start_time: *start_time,
            }
            .stop(STOP_GRACE);
        }
        Ok(())
    }

    fn attach_command(
        &self,
        _handle: &RuntimeHandle,
    ) -> Result<Option<AttachCommand>, RuntimeError> {
        // A detached process has no terminal; the agent supplies its own attach (a TUI client).
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn detached_process_is_found_and_stopped() {
        let tmp = tempfile::tempdir().unwrap();
        let input = tmp.path().join("in");
        std::fs::write(&input, "from stdin\n").unwrap();
        let spec = LaunchSpec {
            program: "sh".into(),
            args: vec!["-c".into(), "cat; echo \"$SECRET\"; exec sleep 30".into()],
            cwd: tmp.path().to_path_buf(),
            env: vec![("SECRET".into(), "s3".into())],
            stdin_file: Some(input),
        };
        let rt = ProcessRuntime::new();
        let handle = rt.create("p/a", &spec, tmp.path()).unwrap();
        assert_eq!(rt.alive(&[&handle]), vec![true]);
        let log = tmp.path().join("output.jsonl");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("s3")
        {
            assert!(Instant::now() < deadline, "no output");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "from stdin\ns3\n");
        rt.destroy(&handle).unwrap();
        assert_eq!(rt.alive(&[&handle]), vec![false]);
        // A handle with the right pid but another start time is not ours.
        if let RuntimeHandle::Process { log, .. } = &handle {
            let me = ProcessIdentity::of(std::process::id()).unwrap();
            let impostor = RuntimeHandle::Process {
                pid: me.pid,
                start_time: me.start_time + 1,
                log: log.clone(),
            };
            assert_eq!(rt.alive(&[&impostor]), vec![false]);
        }
    }
}
