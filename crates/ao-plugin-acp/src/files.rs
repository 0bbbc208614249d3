//! The plugin's reads and writes of a host's files ([`HostFiles`]). All of them block: async code
//! reaches them through [`ao_agent::blocking::unblock`].
//!
//! A restored session's directory still holds the record of its previous host until the new one
//! writes its own. A record older than `launch.json` (which the plugin writes just before a host
//! starts) is that previous host's, and counts as no record at all: so neither `ao send` nor
//! `ao status` takes the old host's end for the new one's.

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
/// there).
pub fn read_record(files: &HostFiles) -> Result<Option<HostRecord>, FilesError> {
    let path = files.state();
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified());
    let written = match modified(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FilesError::io("read", &path, e)),
    };
    if modified(&files.launch()).is_ok_and(|launched| written < launched) {
        return Ok(None);
    }
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

/// Ends the agent's process group when its host is dead and it is not: no agent outlives its
/// host (the host's death signal reaches the agent only, not what it started). Returns whether
/// there was one to end.
pub fn end_orphaned_agent(record: &HostRecord) -> bool {
    if host_alive(record) {
        return false;
    }
    match &record.agent_process {
        Some(agent) if is_running(agent) => {
            let group = nix::unistd::Pid::from_raw(agent.pid as i32);
            let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{HostStart, PermissionPolicy};

    fn launch(dir: &Path) -> HostLaunch {
        HostLaunch {
            command: vec!["agent".into()],
            env: [("TOKEN".to_string(), "s3cret".to_string())].into(),
            cwd: dir.to_path_buf(),
            model: None,
            permission: PermissionPolicy::default(),
            price: None,
            start: HostStart::New,
        }
    }

    #[test]
    fn the_launch_is_private_and_a_record_older_than_it_is_the_previous_hosts() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let files = HostFiles::of(tmp.path());
        assert!(read_record(&files).unwrap().is_none());

        // A previous host's record, then a new launch (restore).
        std::fs::create_dir_all(files.dir()).unwrap();
        let old = HostRecord {
            title: Some("old".into()),
            ..Default::default()
        };
        std::fs::write(files.state(), serde_json::to_vec(&old).unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        write_launch(&files, &launch(tmp.path())).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files.launch()), 0o600);
        assert_eq!(mode(files.dir()), 0o700);
        assert_eq!(read_launch(&files).unwrap(), launch(tmp.path()));
        assert!(read_record(&files).unwrap().is_none(), "the old host's");
        assert!(launch_age(&files).unwrap() < Duration::from_secs(5));

        std::thread::sleep(Duration::from_millis(20));
        std::fs::write(files.state(), serde_json::to_vec(&old).unwrap()).unwrap();
        assert_eq!(read_record(&files).unwrap(), Some(old));

        std::fs::write(files.state(), "{").unwrap();
        assert!(matches!(
            read_record(&files),
            Err(FilesError::Garbled { .. })
        ));
    }
}
