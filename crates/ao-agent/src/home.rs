//! The state home: where ao keeps its store, logs, secrets and work trees.
//!
//! `$AO_HOME`, else `$XDG_DATA_HOME/ao`, else `~/.local/share/ao`. Secrets live in `secrets/`,
//! a 0700 directory of 0600 files, and never on a command line.
//!
//! ao creates the state home 0700. One the person made keeps its mode (ao does not change it
//! behind their back), unless other users could write in it: then ao refuses to use it, since
//! they could replace its store, its secrets or the work trees in it.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::StateError as Error;

/// A result with the state home's [`StateError`](crate::error::StateError).
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The directory tree under the state home.
#[derive(Debug, Clone)]
pub struct StateHome {
    root: PathBuf,
}

impl StateHome {
    /// Finds the state home from the environment (`AO_HOME`, `XDG_DATA_HOME`, `HOME`).
    pub fn from_env() -> Result<StateHome> {
        StateHome::from_vars(&|k| std::env::var(k).ok())
    }

    /// Finds the state home from the environment that `var` looks up.
    pub fn from_vars(var: &dyn Fn(&str) -> Option<String>) -> Result<StateHome> {
        let non_empty = |k: &str| var(k).filter(|v| !v.is_empty());
        let root = if let Some(home) = non_empty("AO_HOME") {
            PathBuf::from(home)
        } else if let Some(data) = non_empty("XDG_DATA_HOME") {
            PathBuf::from(data).join("ao")
        } else if let Some(home) = non_empty("HOME") {
            PathBuf::from(home).join(".local/share/ao")
        } else {
            return Err(Error::Usage(
                "cannot find a state home: set AO_HOME (or HOME) to a writable directory".into(),
            ));
        };
        if root.exists() {
            check_home_dir(&root)?;
        }
        Ok(StateHome::at(root))
    }

    /// A state home at the given directory (created on first use).
    pub fn at(root: impl Into<PathBuf>) -> StateHome {
        StateHome { root: root.into() }
    }

    /// The state home's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The session store's database file.
    pub fn store_path(&self) -> PathBuf {
        self.root.join("ao.db")
    }

    /// The directory of one session's files (logs, launch scripts), created 0700 on demand.
    pub fn session_dir(&self, project: &str, name: &str) -> Result<PathBuf> {
        let dir = self.session_path(project, name);
        create_private_dir(&dir)?;
        Ok(dir)
    }

    /// Where [`session_dir`](Self::session_dir) is, without creating it.
    pub fn session_path(&self, project: &str, name: &str) -> PathBuf {
        self.root.join("sessions").join(project).join(name)
    }

    /// The directory of per-project agent servers' files (logs), created 0700 on demand.
    pub fn servers_dir(&self) -> Result<PathBuf> {
        let dir = self.root.join("servers");
        create_private_dir(&dir)?;
        Ok(dir)
    }

    /// The directory of the projects' monitors' files (logs, locks), created 0700 on demand.
    pub fn monitors_dir(&self) -> Result<PathBuf> {
        let dir = self.root.join("monitors");
        create_private_dir(&dir)?;
        Ok(dir)
    }

    /// Where the work trees of a project's sessions go.
    pub fn worktrees_dir(&self, project: &str) -> PathBuf {
        self.root.join("worktrees").join(project)
    }

    /// The 0700 directory of secrets.
    pub fn secrets_dir(&self) -> Result<PathBuf> {
        let dir = self.root.join("secrets");
        create_private_dir(&dir)?;
        Ok(dir)
    }

    /// Writes a secret to `secrets/<name>` with mode 0600 (whole or not at all, see
    /// [`write_atomically`]), and returns its path.
    pub fn write_secret(&self, name: &str, value: &str) -> Result<PathBuf> {
        let path = self.secrets_dir()?.join(name);
        write_atomically(&path, value.as_bytes())
            .map_err(|e| Error::io("cannot write secret", &path, e))?;
        Ok(path)
    }

    /// Reads a secret written by [`write_secret`](Self::write_secret).
    pub fn read_secret(path: &Path) -> Result<String> {
        fs::read_to_string(path).map_err(|e| Error::io("cannot read secret", path, e))
    }
}

/// Takes an exclusive lock on `path` (creating the file, never truncating it), blocking until it is
/// free. The kernel releases it when the returned file is dropped or the process ends, however it
/// ends, which is what makes these locks safe against a SIGKILLed `ao`.
pub fn lock_file(path: &Path) -> std::io::Result<nix::fcntl::Flock<fs::File>> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| e.into())
}

/// Makes sure the state home's own directory `dir` is there: created 0700 when it is not; left
/// as the person made it when it is, unless other users can write in it (refused, saying how to
/// fix it).
pub fn create_home_dir(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        return create_private_dir(dir);
    }
    check_home_dir(dir)
}

/// Refuses a state home that users other than its owner can write in.
fn check_home_dir(dir: &Path) -> Result<()> {
    let meta = fs::metadata(dir).map_err(|e| Error::io("cannot read directory", dir, e))?;
    let mode = meta.permissions().mode() & 0o7777;
    if meta.is_dir() && mode & 0o022 != 0 {
        let who = if mode & 0o002 != 0 {
            "every user"
        } else {
            "its group"
        };
        return Err(Error::Usage(format!(
            "the state home {} can be written by {who} (mode {mode:04o}), who could replace \
             ao's store, secrets and work trees there; make it yours alone (`chmod go-w {}`), or \
             set AO_HOME to a directory that is",
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Writes `bytes` to `path` whole or not at all: into a 0600 temporary file beside it, synced,
/// then renamed over it. A reader sees the old content or the new, never a part, and a crash
/// leaves at most a temporary file (which is removed when the write fails).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new().prefix(".ao-").tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Creates a directory (and its parents) and makes sure it is mode 0700.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    if !dir.is_dir() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| Error::io("cannot create directory", dir, e))?;
    }
    let meta = fs::metadata(dir).map_err(|e| Error::io("cannot read directory", dir, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io("cannot restrict directory", dir, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_home_ao_makes_is_private_one_the_person_made_keeps_its_mode_unless_others_can_write() {
        let tmp = tempfile::tempdir().unwrap();
        let made = tmp.path().join("made/by/ao");
        create_home_dir(&made).unwrap();
        assert_eq!(mode(&made), 0o700);

        let theirs = tmp.path().join("theirs");
        fs::DirBuilder::new().mode(0o755).create(&theirs).unwrap();
        fs::set_permissions(&theirs, fs::Permissions::from_mode(0o755)).unwrap();
        create_home_dir(&theirs).unwrap();
        assert_eq!(mode(&theirs), 0o755, "left as the person made it");

        for (bits, who) in [(0o777, "every user"), (0o775, "its group")] {
            fs::set_permissions(&theirs, fs::Permissions::from_mode(bits)).unwrap();
            let err = create_home_dir(&theirs).unwrap_err();
            assert!(err.is_usage(), "{err}");
            let text = err.to_string();
            assert!(text.contains(&format!("can be written by {who}")), "{text}");
            assert!(text.contains("chmod go-w"), "{text}");
            assert_eq!(mode(&theirs), bits, "not changed behind their back");
        }
    }

    #[test]
    fn secrets_are_private() {
        let tmp = tempfile::tempdir().unwrap();
        let home = StateHome::at(tmp.path().join("h"));
        let path = home.write_secret("p.password", "s3cret").unwrap();
        assert_eq!(StateHome::read_secret(&path).unwrap(), "s3cret");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dir_mode = fs::metadata(home.secrets_dir().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
    }
}
