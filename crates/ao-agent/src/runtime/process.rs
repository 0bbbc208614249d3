//! A detached helper process, for sessions and for what a plugin keeps running (a server, an
//! event follower): started in a session and process group of its own, found again by pid and
//! start time, stopped with its group.

use std::fs::{File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::LaunchSpec;

/// A program that could not be started detached.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct SpawnError {
    /// What was being done.
    pub what: String,
    /// The operating system's error.
    #[source]
    pub source: std::io::Error,
}

/// A running process found by pid and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessIdentity {
    /// The pid.
    pub pid: u32,
    /// Clock ticks since boot at which it started.
    pub start_time: u64,
}

impl ProcessIdentity {
    /// Reads the identity of a live (not zombie) process.
    ///
    /// On Linux the start time is field 22 of `/proc/<pid>/stat`, in clock ticks since boot. Other
    /// systems have no `/proc`: there the start time is always 0 and a process counts as alive
    /// while a signal can be sent to its pid, so a reused pid is not told apart from the original.
    pub fn of(pid: u32) -> Option<ProcessIdentity> {
        #[cfg(target_os = "linux")]
        let start_time = {
            let stat = procfs::process::Process::new(pid as i32)
                .ok()?
                .stat()
                .ok()?;
            if matches!(stat.state, 'Z' | 'X') {
                return None;
            }
            stat.starttime
        };
        #[cfg(not(target_os = "linux"))]
        let start_time = {
            nix::sys::signal::kill(Pid::from_raw(pid as i32), None).ok()?;
            0
        };
        Some(ProcessIdentity { pid, start_time })
    }

    /// Whether this exact process still runs.
    pub fn is_alive(&self) -> bool {
        ProcessIdentity::of(self.pid).is_some_and(|now| now == *self)
    }

    /// Whether this exact process runs but is stopped (SIGSTOP, or a debugger): it cannot have done
    /// anything since. Always false where there is no `/proc`.
    pub fn is_stopped(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            procfs::process::Process::new(self.pid as i32)
                .and_then(|p| p.stat())
                .is_ok_and(|stat| {
                    stat.starttime == self.start_time && matches!(stat.state, 'T' | 't')
                })
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// Stops the process's group: SIGTERM, then SIGKILL after `grace`. Returns once it is gone.
    pub fn stop(&self, grace: Duration) {
        ProcessIdentity::stop_all(std::slice::from_ref(self), grace);
    }

    /// Stops the process groups these processes lead, all at once: SIGTERM, then SIGKILL to the
    /// groups with anything still running after `grace`. Returns once they are gone (or two seconds
    /// after SIGKILL).
    ///
    /// A group has the whole grace even when its leader ends first: an agent's adapter that exits
    /// at once on SIGTERM must not cut short the shutdown of the agent it started (Claude Code
    /// writes its session's cost as it ends).
    pub fn stop_all(leaders: &[ProcessIdentity], grace: Duration) {
        let running: Vec<&ProcessIdentity> = leaders.iter().filter(|p| p.is_alive()).collect();
        let group = |p: &ProcessIdentity| Pid::from_raw(p.pid as i32);
        for p in &running {
            let _ = killpg(group(p), Signal::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        let mut left = running;
        loop {
            left.retain(|p| p.is_alive() || group_runs(p.pid));
            if left.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        for p in &left {
            let _ = killpg(group(p), Signal::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while left.iter().any(|p| p.is_alive()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Whether any process of group `pgid` runs (a zombie that waits for its parent does not).
/// Where there is no `/proc`, whether the group can still be signalled at all.
fn group_runs(pgid: u32) -> bool {
    #[cfg(target_os = "linux")]
    {
        let Ok(all) = procfs::process::all_processes() else {
            return false;
        };
        all.filter_map(|p| p.ok()?.stat().ok())
            .any(|stat| stat.pgrp as u32 == pgid && !matches!(stat.state, 'Z' | 'X'))
    }
    #[cfg(not(target_os = "linux"))]
    {
        killpg(Pid::from_raw(pgid as i32), None).is_ok()
    }
}

/// Starts a program detached from the caller: own session and process group, output appended to
/// `log`. Returns its identity. Used for sessions and for agent servers alike.
pub fn spawn_detached(spec: &LaunchSpec, log: &Path) -> Result<ProcessIdentity, SpawnError> {
    let io_err = |what: String| move |source| SpawnError { what, source };
    let out = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io_err(format!("cannot open log {}", log.display())))?;
    let err = out
        .try_clone()
        .map_err(io_err(format!("cannot open log {}", log.display())))?;
    let stdin = match &spec.stdin_file {
        Some(f) => Stdio::from(
            File::open(f).map_err(io_err(format!("cannot open input {}", f.display())))?,
        ),
        None => Stdio::null(),
    };
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(stdin)
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(io_err(format!("cannot start {}", spec.program.display())))?;
    // Its identity is read before it can be reaped: a reaped pid may be another process's.
    let id = ProcessIdentity::of(child.id());
    reap(child);
    id.ok_or_else(|| SpawnError {
        what: format!(
            "{} exited at once; see {}",
            spec.program.display(),
            log.display()
        ),
        source: std::io::Error::other("process ended during start"),
    })
}

/// Waits for `child` on a small thread of its own, so that it is reaped whenever it ends: it is
/// meant to outlive its caller, but a long-lived caller (the dashboard, the monitor) would
/// otherwise keep every one that ended as a zombie until the caller itself ends. A caller that
/// ends first leaves it to init, as before.
fn reap(mut child: std::process::Child) {
    let reaper = std::thread::Builder::new()
        .name("ao-reap".into())
        // It only waits: a small stack keeps many of them cheap.
        .stack_size(64 * 1024)
        .spawn(move || {
            let _ = child.wait();
        });
    // Without a thread (the system is out of them), the child is left as before: it runs, and is
    // reaped when its caller ends.
    drop(reaper);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `pid` is a zombie child of this process.
    fn zombie_child(pid: u32) -> bool {
        procfs::process::Process::new(pid as i32)
            .and_then(|p| p.stat())
            .is_ok_and(|s| s.state == 'Z' && s.ppid == std::process::id() as i32)
    }

    #[test]
    fn detached_processes_that_end_are_reaped() {
        // The dashboard and the monitor live long and start many: none may stay a zombie.
        let tmp = tempfile::tempdir().unwrap();
        let spec = LaunchSpec {
            program: "sleep".into(),
            args: vec!["0.2".into()],
            cwd: tmp.path().to_path_buf(),
            env: vec![],
            stdin_file: None,
        };
        let started: Vec<ProcessIdentity> = (0..50)
            .map(|_| spawn_detached(&spec, &tmp.path().join("log")).unwrap())
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let zombies: Vec<u32> = started
                .iter()
                .map(|p| p.pid)
                .filter(|pid| zombie_child(*pid))
                .collect();
            let running = started.iter().filter(|p| p.is_alive()).count();
            if running == 0 && zombies.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{running} still run, {} are zombies: {zombies:?}",
                zombies.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn a_group_whose_leader_ends_first_keeps_its_grace() {
        // The leader ends at once on SIGTERM (as an agent's adapter does); its child takes 300 ms
        // to write what it must as it ends (as Claude Code writes its cost), and must get to.
        let tmp = tempfile::tempdir().unwrap();
        let (ready, done) = (tmp.path().join("ready"), tmp.path().join("done"));
        let child = format!(
            "trap 'sleep 0.3; echo saved > {done}; exit 0' TERM; touch {ready}; \
             while :; do sleep 0.05; done",
            done = done.display(),
            ready = ready.display(),
        );
        let spec = LaunchSpec {
            program: "sh".into(),
            args: vec!["-c".into(), "sh -c \"$0\" & wait".into(), child],
            cwd: tmp.path().to_path_buf(),
            env: vec![],
            stdin_file: None,
        };
        let leader = spawn_detached(&spec, &tmp.path().join("log")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ready.exists() {
            assert!(Instant::now() < deadline, "the child did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        leader.stop(Duration::from_secs(3));
        assert_eq!(
            std::fs::read_to_string(&done).ok().as_deref(),
            Some("saved\n"),
            "the child was killed before it finished"
        );
        assert!(!group_runs(leader.pid), "the group is gone");
    }
}
