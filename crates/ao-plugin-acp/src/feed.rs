//! A project's change feed: inotify (directly, through nix: no watcher crate needed for one
//! directory tree) on `<home>/sessions/<project>/`, yielding [`Change::Any`] whenever a session's
//! host writes its `acp/state.json`.
//!
//! The tree is watched level by level: the project's directory for new sessions, each session's
//! directory for its `acp/` directory, and each `acp/` directory for `state.json`, which the host
//! replaces by a rename (`IN_MOVED_TO`). A session or `acp/` directory made later is watched when
//! it appears. The feed ends when the project's directory goes.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use ao_agent::agent::{AgentError, Change};
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use tokio::io::unix::AsyncFd;

use crate::record::ACP_DIR;

/// The file whose writes the feed reports.
const STATE_FILE: &str = "state.json";

/// What a watched directory is.
#[derive(Debug, Clone, PartialEq)]
enum Level {
    /// The project's directory: its entries are sessions.
    Project,
    /// A session's directory: its `acp/` is watched.
    Session(PathBuf),
    /// A session's `acp/` directory: its `state.json` is reported.
    Acp,
}

/// The inotify instance and what each of its watches is.
struct Watcher {
    inotify: Inotify,
    levels: HashMap<WatchDescriptor, Level>,
}

/// An inotify instance as tokio's readiness source.
struct Fd(Watcher);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.inotify.as_fd().as_raw_fd()
    }
}

impl Watcher {
    /// Watches `project_dir` and what is in it now (blocking: it reads the directories).
    fn new(project_dir: &Path) -> nix::Result<Watcher> {
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        let mut watcher = Watcher {
            inotify,
            levels: HashMap::new(),
        };
        let dirs =
            AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_ONLYDIR;
        let wd = watcher.inotify.add_watch(project_dir, dirs)?;
        watcher.levels.insert(wd, Level::Project);
        if let Ok(entries) = std::fs::read_dir(project_dir) {
            for entry in entries.flatten() {
                watcher.watch_session(&entry.path());
            }
        }
        Ok(watcher)
    }

    /// Watches a session's directory, and its `acp/` when it is there. Gone already: nothing.
    fn watch_session(&mut self, dir: &Path) {
        let flags =
            AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_ONLYDIR;
        if let Ok(wd) = self.inotify.add_watch(dir, flags) {
            self.levels.insert(wd, Level::Session(dir.to_path_buf()));
            self.watch_acp(&dir.join(ACP_DIR));
        }
    }

    /// Watches a session's `acp/` directory.
    fn watch_acp(&mut self, dir: &Path) {
        let flags =
            AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE | AddWatchFlags::IN_ONLYDIR;
        if let Ok(wd) = self.inotify.add_watch(dir, flags) {
            self.levels.insert(wd, Level::Acp);
        }
    }

    /// Reads and handles every event there is; `None` when the project's directory is gone (the
    /// feed ends), else whether a state file was written (or may have been, in a directory watched
    /// just now).
    fn handle(&mut self, project_dir: &Path) -> Option<bool> {
        let mut changed = false;
        // Until the queue is empty (EAGAIN): readiness is cleared after this.
        while let Ok(events) = self.inotify.read_events() {
            for event in events {
                let level = self.levels.get(&event.wd).cloned();
                if event.mask.contains(AddWatchFlags::IN_IGNORED) {
                    self.levels.remove(&event.wd);
                    if level == Some(Level::Project) {
                        return None;
                    }
                    continue;
                }
                let name = event.name.as_deref().unwrap_or(OsStr::new(""));
                match level {
                    Some(Level::Project) => {
                        self.watch_session(&project_dir.join(name));
                        changed = true;
                    }
                    Some(Level::Session(dir)) if name == ACP_DIR => {
                        self.watch_acp(&dir.join(ACP_DIR));
                        changed = true;
                    }
                    Some(Level::Acp) if name == STATE_FILE => changed = true,
                    _ => {}
                }
            }
        }
        Some(changed)
    }
}

/// The change feed of the project whose sessions' directories are under `project_dir`; fails when
/// that directory does not exist (no session of the project ever started).
pub async fn watch(project_dir: PathBuf) -> Result<BoxStream<'static, Change>, AgentError> {
    let dir = project_dir.clone();
    let watcher = ao_agent::blocking::unblock(move || {
        if !dir.is_dir() {
            return Err(AgentError::NotFound(format!(
                "{} does not exist: no ACP session of the project has started",
                dir.display()
            )));
        }
        Watcher::new(&dir).map_err(|e| AgentError::Io {
            what: format!("cannot watch {}", dir.display()),
            source: std::io::Error::from(e),
        })
    })
    .await?;
    // SAFETY: the inotify instance owns its descriptor, which stays open and the same until the
    // AsyncFd (which owns the instance) is dropped.
    let fd = unsafe { AsyncFd::register(Fd(watcher)) }.map_err(|e| AgentError::Io {
        what: "cannot watch with inotify".into(),
        source: e.into(),
    })?;
    let stream = futures_util::stream::unfold(Some(fd), move |fd| {
        let project_dir = project_dir.clone();
        async move {
            let mut fd = fd?;
            loop {
                let mut ready = fd.readable_mut().await.ok()?;
                let handled = ready.get_inner_mut().0.handle(&project_dir);
                ready.clear_ready();
                match handled {
                    None => return None,
                    Some(true) => return Some((Change::Any, Some(fd))),
                    Some(false) => continue,
                }
            }
        }
    });
    Ok(stream.boxed())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn next(feed: &mut BoxStream<'static, Change>) -> Option<Change> {
        tokio::time::timeout(Duration::from_secs(5), feed.next())
            .await
            .expect("a change within 5s")
    }

    #[tokio::test]
    async fn a_state_written_in_any_session_is_a_change_and_the_feed_ends_with_its_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path().join("sessions/p");
        assert!(matches!(
            watch(project.clone()).await,
            Err(AgentError::NotFound(_))
        ));
        std::fs::create_dir_all(project.join("old/acp")).unwrap();
        let mut feed = watch(project.clone()).await.unwrap();

        // A session there before the feed: its state replaced as the host does it.
        let tmp_state = project.join("old/acp/.ao-x");
        std::fs::write(&tmp_state, "{}").unwrap();
        std::fs::rename(&tmp_state, project.join("old/acp/state.json")).unwrap();
        assert_eq!(next(&mut feed).await, Some(Change::Any));

        // A session made after: its directories are watched as they appear.
        std::fs::create_dir(project.join("new")).unwrap();
        assert_eq!(next(&mut feed).await, Some(Change::Any));
        std::fs::create_dir(project.join("new/acp")).unwrap();
        assert_eq!(next(&mut feed).await, Some(Change::Any));
        std::fs::write(project.join("new/acp/state.json"), "{}").unwrap();
        assert_eq!(next(&mut feed).await, Some(Change::Any));

        std::fs::remove_dir_all(&project).unwrap();
        // Whatever the removal reported first, the feed ends.
        while next(&mut feed).await.is_some() {}
    }
}
