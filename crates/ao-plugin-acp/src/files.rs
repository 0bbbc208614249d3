//! The plugin's reads and writes of a host's files ([`HostFiles`]). All of them block: async code
//! reaches them through [`ao_agent::blocking::unblock`].
//!
//! A restored session's directory still holds the record of its previous host until the new one
//! writes its own. Each launch (`launch.json`, which the plugin writes just before a host starts)
//! has a random id that its host copies into its record: a record of another launch id is that
//! previous host's, and counts as no record at all, however recently it was written. So neither
//! `ao send` nor `ao status` takes the old host's end for the new one's.

use std::io::ErrorKind;
use std::path::Path;
use std::time::{Duration, SystemTime};

use ao_agent::runtime::process::ProcessIdentity;

use crate::record::{HostFiles, HostLaunch, HostRecord, ProcessRecord};

/// Why a host's file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    /// Reading or writing failed.
    #[error("cannot {what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// It holds something else than the host writes.
    #[error("{path} is not a record this ao wrote: {source}")]
    Garbled {
        /// The file.
        path: String,
        /// What did not parse.
        #[source]
        source: serde_json::Error,
    },
}

impl FilesError {
    fn io(what: &'static str, path: &Path, source: std::io::Error) -> FilesError {
        FilesError::Io {
            what,
            path: path.display().to_string(),
            source,
        }
    }
}

/// Writes the launch (0600, whole or not at all) in the host's directory, made 0700 if need be.
pub fn write_launch(files: &HostFiles, launch: &HostLaunch) -> Result<(), FilesError> {
    ao_agent::home::create_private_dir(files.dir()).map_err(|e| FilesError::Io {
        what: "create",
        path: files.dir().display().to_string(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let bytes = serde_json::to_vec_pretty(launch).map_err(|e| FilesError::Garbled {
        path: files.launch().display().to_string(),
        source: e,
    })?;
    // write_atomically's temporary file is 0600, and keeps that mode when renamed.
    ao_agent::home::write_atomically(&files.launch(), &bytes)
        .map_err(|e| FilesError::io("write", &files.launch(), e))
}

/// The launch the plugin wrote last.
pub fn read_launch(files: &HostFiles) -> Result<HostLaunch, FilesError> {
    let path = files.launch();
    let bytes = std::fs::read(&path).map_err(|e| FilesError::io("read", &path, e))?;
    serde_json::from_slice(&bytes).map_err(|source| FilesError::Garbled {
        path: path.display().to_string(),
        source,
    })
}

/// How long ago the launch was written; `None` when there is none.
pub fn launch_age(files: &HostFiles) -> Option<Duration> {
    let written = std::fs::metadata(files.launch()).ok()?.modified().ok()?;
    Some(
        SystemTime::now()
            .duration_since(written)
            .unwrap_or_default(),
    )
}

/// The current host's record; `None` before it wrote one (or when only a previous host's is
/// there: a record of another launch than the one `launch.json` holds).
pub fn read_record(files: &HostFiles) -> Result<Option<HostRecord>, FilesError> {
    let Some(record) = read_last_record(files)? else {
        return Ok(None);
    };
    match launch_id(files)? {
        Some(launched) if launched != record.launch_id => Ok(None),
        _ => Ok(Some(record)),
    }
}

/// The record `state.json` holds, whichever host wrote it (the current one or a previous one);
/// `None` when there is none.
pub fn read_last_record(files: &HostFiles) -> Result<Option<HostRecord>, FilesError> {
    let path = files.state();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FilesError::io("read", &path, e)),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| FilesError::Garbled {
            path: path.display().to_string(),
            source,
        })
}

/// The id of the launch `launch.json` holds; `None` when there is no launch.
fn launch_id(files: &HostFiles) -> Result<Option<String>, FilesError> {
    /// The launch's id alone: the rest (the agent's environment too) is not even parsed.
    #[derive(serde::Deserialize)]
    struct LaunchId {
        #[serde(default)]
        launch_id: String,
    }
    let path = files.launch();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FilesError::io("read", &path, e)),
    };
    serde_json::from_slice::<LaunchId>(&bytes)
        .map(|l| Some(l.launch_id))
        .map_err(|source| FilesError::Garbled {
            path: path.display().to_string(),
            source,
        })
}

/// Whether this recorded process still runs (the same one: pid and start time).
pub fn is_running(process: &ProcessRecord) -> bool {
    identity(process).is_alive()
}

/// The runtime's view of a recorded process.
pub fn identity(process: &ProcessRecord) -> ProcessIdentity {
    ProcessIdentity {
        pid: process.pid,
        start_time: process.start_time,
    }
}

/// Whether the record's host still runs.
pub fn host_alive(record: &HostRecord) -> bool {
    record.host.as_ref().is_some_and(is_running)
}

/// Ends the agent's process group when its host is dead: no agent, and nothing it started,
/// outlives its host (the host's death signal reaches the agent only, not what it started, such as
/// a tool's shell). Returns whether there was a group to end.
///
/// The agent leads its group, so the group's id is the agent's pid. A pid can be reused, so:
/// - the agent runs (that pid, that start time): its group is ended;
/// - that pid runs with another start time: it is someone else's now, and nothing is touched;
/// - that pid is gone: the group is ended if it still has members. They are the agent's orphans:
///   a new group with that id would need a leader with that pid, and there is none.
pub fn end_orphaned_agent(record: &HostRecord) -> bool {
    if host_alive(record) {
        return false;
    }
    let Some(agent) = &record.agent_process else {
        return false;
    };
    // Pid 0 (or one that does not fit) would name the caller's own group, or no group at all.
    let Some(group) = i32::try_from(agent.pid)
        .ok()
        .filter(|pid| *pid > 1)
        .map(nix::unistd::Pid::from_raw)
    else {
        return false;
    };
    let leader_gone = match pid_now(agent.pid) {
        PidNow::Started(start_time) if start_time == agent.start_time => false,
        // Without /proc: the runtime's own check (a pid that answers a signal).
        PidNow::Unknown if is_running(agent) => false,
        PidNow::Started(_) | PidNow::Unknown => return false,
        PidNow::Gone => true,
    };
    if leader_gone && nix::sys::signal::killpg(group, None).is_err() {
        return false;
    }
    nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL).is_ok()
}

/// What `/proc` says of a pid now.
enum PidNow {
    /// A process (a zombie too: its pid is not free yet) started at this time has it.
    Started(u64),
    /// No process has it.
    Gone,
    /// It could not be read, or there is no `/proc` to read.
    Unknown,
}

/// What `/proc` says of `pid` now: the start time is field 22 of `/proc/<pid>/stat`, in clock
/// ticks since boot, as [`ProcessIdentity`] reads it; unlike that, a zombie counts.
fn pid_now(pid: u32) -> PidNow {
    if !cfg!(target_os = "linux") {
        return PidNow::Unknown;
    }
    let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat,
        Err(e) if e.kind() == ErrorKind::NotFound => return PidNow::Gone,
        Err(_) => return PidNow::Unknown,
    };
    // The command (field 2) is in parentheses and may hold anything: fields 3.. follow the last.
    let start_time = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19))
        .and_then(|field| field.parse().ok());
    match start_time {
        Some(start_time) => PidNow::Started(start_time),
        None => PidNow::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    use crate::record::{HostStart, PermissionPolicy};

    fn launch(dir: &Path, launch_id: &str) -> HostLaunch {
        HostLaunch {
            launch_id: launch_id.into(),
            command: vec!["agent".into()],
            env: [("TOKEN".to_string(), "s3cret".to_string())].into(),
            cwd: dir.to_path_buf(),
            model: None,
            mode: None,
            mode_from_permission: false,
            auth_hint: None,
            permission: PermissionPolicy::default(),
            price: None,
            start: HostStart::New,
        }
    }

    fn record(launch_id: &str, title: &str) -> HostRecord {
        HostRecord {
            launch_id: launch_id.into(),
            title: Some(title.into()),
            ..Default::default()
        }
    }

    #[test]
    fn the_launch_is_private_and_a_record_of_another_launch_is_the_previous_hosts() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let files = HostFiles::of(tmp.path());
        assert!(read_record(&files).unwrap().is_none());

        // A previous host's record, then a new launch (restore).
        std::fs::create_dir_all(files.dir()).unwrap();
        let old = record("first", "old");
        std::fs::write(files.state(), serde_json::to_vec(&old).unwrap()).unwrap();
        write_launch(&files, &launch(tmp.path(), "second")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files.launch()), 0o600);
        assert_eq!(mode(files.dir()), 0o700);
        assert_eq!(read_launch(&files).unwrap(), launch(tmp.path(), "second"));
        assert!(read_record(&files).unwrap().is_none(), "the old host's");
        assert_eq!(read_last_record(&files).unwrap(), Some(old.clone()));
        assert!(launch_age(&files).unwrap() < Duration::from_secs(5));

        // The previous host's last write lands after the new launch: still the previous host's.
        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(files.state(), serde_json::to_vec(&old).unwrap()).unwrap();
        assert!(
            read_record(&files).unwrap().is_none(),
            "the old host's, newer"
        );

        // The new host's record.
        let new = record("second", "new");
        std::fs::write(files.state(), serde_json::to_vec(&new).unwrap()).unwrap();
        assert_eq!(read_record(&files).unwrap(), Some(new));

        std::fs::write(files.state(), "{").unwrap();
        assert!(matches!(
            read_record(&files),
            Err(FilesError::Garbled { .. })
        ));
    }

    /// Waits (5 s at most) until no process has `pid` (a zombie counts as none).
    fn gone(pid: u32) -> bool {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while ProcessIdentity::of(pid).is_some() {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    #[test]
    fn a_dead_hosts_agent_group_ends_with_its_orphans_but_a_reused_pid_is_left_alone() {
        // The agent (a shell leading its own group) is gone, and left a child in its group.
        let agent = std::process::Command::new("sh")
            .args(["-c", "sleep 30 </dev/null >/dev/null 2>&1 & echo $!"])
            .stdout(std::process::Stdio::piped())
            .process_group(0)
            .output()
            .unwrap();
        let child: u32 = String::from_utf8(agent.stdout)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // The group's id: the shell's pid, which it led (field 5 of /proc/<pid>/stat).
        let group = {
            let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap();
            let (_, rest) = stat.rsplit_once(')').unwrap();
            rest.split_whitespace()
                .nth(2)
                .unwrap()
                .parse::<u32>()
                .unwrap()
        };
        assert!(
            matches!(pid_now(group), PidNow::Gone),
            "the agent itself has ended"
        );
        let orphaned = HostRecord {
            agent_process: Some(ProcessRecord {
                pid: group,
                start_time: 1,
            }),
            ..Default::default()
        };
        assert!(end_orphaned_agent(&orphaned));
        assert!(gone(child), "the agent's child outlived its host");

        // The recorded pid is another process's now (another start time): not touched.
        let mut other = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        let now = ProcessIdentity::of(other.id()).unwrap();
        let reused = HostRecord {
            agent_process: Some(ProcessRecord {
                pid: now.pid,
                start_time: now.start_time + 1,
            }),
            ..Default::default()
        };
        assert!(!end_orphaned_agent(&reused));
        assert!(now.is_alive());
        other.kill().unwrap();
        other.wait().unwrap();
    }
}
