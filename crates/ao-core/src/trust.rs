//! Trust of a config file, as `mise trust` does it: a config that someone else wrote (a cloned
//! repository's) may not run a program on this machine or read a secret until the person says so.
//!
//! The keys that can (notifier commands and webhooks, `server.passwordFile`,
//! `server.passwordEnv`, `host`) are read into [`Gated`] values. A gated value says what it is
//! and where it is written, but gives itself up only through [`Gated::permit`], which refuses it
//! with an [`Untrusted`] error (file:line:column and the `ao trust` command) when its file is not
//! trusted. Everything else in an untrusted file works as usual.
//!
//! A file is trusted when `ao trust` recorded it (or `ao init` wrote it) in the state home, or
//! when it lies under the person's own config directory (`$XDG_CONFIG_HOME/ao/`, default
//! `~/.config/ao/`). Trust is by the file's canonical path, not its content: whoever may change a
//! trusted file (its author, through a `git pull`) can already run code on this machine through
//! the repository's build, and the person's own edits of their config need no new approval.
//! So a path is trusted only while no one else can change what it holds: a file that another
//! user owns, or that others can write (all users, or a group other than the person's own), or
//! whose directory they can write (without the sticky bit), is refused whatever was recorded,
//! with the `chmod` that makes it the person's alone.

use std::fmt;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub use ao_agent::trust::{Gated, Untrusted};

use ao_agent::error::StateError as Error;

/// A result with the state home's [`StateError`](ao_agent::error::StateError), which ao-core's
/// error turns into its own of the same words.
pub type Result<T, E = Error> = std::result::Result<T, E>;
use crate::home::{create_private_dir, StateHome};

/// How far a config file is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// `ao trust` recorded it, or `ao init` wrote it.
    Recorded,
    /// It is under the person's own config directory (`$XDG_CONFIG_HOME/ao/`).
    ConfigHome,
    /// Recorded or under the config directory, but another user can change it: refused until it
    /// is the person's alone.
    OpenToOthers,
    /// Neither: its gated keys are refused.
    Untrusted,
}

impl Trust {
    /// Whether its gated keys may be used.
    pub fn is_trusted(self) -> bool {
        matches!(self, Trust::Recorded | Trust::ConfigHome)
    }
}

impl fmt::Display for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Trust::Recorded => "trusted (recorded by `ao trust` or `ao init`)",
            Trust::ConfigHome => "trusted (it is under your own config directory)",
            Trust::OpenToOthers => "not trusted: other users can change it",
            Trust::Untrusted => "not trusted",
        })
    }
}

/// Why the file at `canonical` is not trusted and what makes it so, for a refusal: the `ao
/// trust` command, or for a file that others can change, the `chmod` that makes it the
/// person's alone.
pub fn remedy(trust: Trust, canonical: &Path) -> String {
    let shown = canonical.display();
    match trust {
        Trust::OpenToOthers => {
            let dir = canonical.parent().unwrap_or(Path::new("/"));
            format!(
                "{shown} is not trusted, since other users can change it (it, or its directory, is \
                 theirs or writable by them); make both yours alone, e.g. {}",
                quoted_command("chmod go-w", &[canonical, dir])
            )
        }
        _ => format!(
            "{shown} is not trusted; if you wrote this file or have read it, trust it with: {}",
            trust_command(canonical)
        ),
    }
}

/// The files `ao trust` recorded: `trusted/` in the state home, one small file per trusted
/// config, named by a hash of its canonical path and holding that path (so that two paths with
/// one hash cannot be taken for each other).
#[derive(Debug, Clone)]
pub struct TrustStore {
    dir: PathBuf,
}

impl TrustStore {
    /// The records of this state home.
    pub fn new(home: &StateHome) -> TrustStore {
        TrustStore {
            dir: home.root().join("trusted"),
        }
    }

    /// Records `file` as trusted; returns its canonical path.
    pub fn trust(&self, file: &Path) -> Result<PathBuf> {
        let canonical = canonical(file)?;
        create_private_dir(&self.dir)?;
        let entry = self.entry(&canonical);
        crate::home::write_atomically(&entry, canonical.as_os_str().as_bytes())
            .map_err(|e| Error::io("cannot record trust in", &entry, e))?;
        Ok(canonical)
    }

    /// Removes the record of `file`; returns its canonical path, and whether there was one.
    pub fn revoke(&self, file: &Path) -> Result<(PathBuf, bool)> {
        let canonical = canonical(file)?;
        let entry = self.entry(&canonical);
        if !self.is_recorded(&canonical) {
            return Ok((canonical, false));
        }
        fs::remove_file(&entry).map_err(|e| Error::io("cannot remove", &entry, e))?;
        Ok((canonical, true))
    }

    /// Whether the file at this canonical path is recorded.
    pub fn is_recorded(&self, canonical: &Path) -> bool {
        fs::read(self.entry(canonical)).is_ok_and(|p| p == canonical.as_os_str().as_bytes())
    }

    /// The record of a file (which may not exist): what a live view watches to notice `ao trust`.
    pub fn entry(&self, canonical: &Path) -> PathBuf {
        self.dir.join(entry_name(canonical))
    }
}

fn entry_name(canonical: &Path) -> String {
    crate::remote::ssh::fnv(&canonical.to_string_lossy())
}

fn canonical(file: &Path) -> Result<PathBuf> {
    let canonical = fs::canonicalize(file).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Usage(format!(
            "there is no file {}; name a config file (agent-orchestrator.yaml)",
            file.display()
        )),
        _ => Error::io("cannot find", file, e),
    })?;
    if !canonical.is_file() {
        return Err(Error::Usage(format!(
            "{} is not a file; name a config file (agent-orchestrator.yaml)",
            canonical.display()
        )));
    }
    Ok(canonical)
}

/// The person's own config directory for ao: `$XDG_CONFIG_HOME/ao`, else `~/.config/ao` (a
/// relative `XDG_CONFIG_HOME` is ignored, as the XDG spec says).
pub fn config_home(var: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let absolute = |k: &str| var(k).map(PathBuf::from).filter(|p| p.is_absolute());
    absolute("XDG_CONFIG_HOME")
        .or_else(|| absolute("HOME").map(|h| h.join(".config")))
        .map(|d| d.join("ao"))
}

/// How far `file` is trusted, with its canonical path (the file as given when it has none),
/// against the environment `var` (the state home, the config directory).
pub fn trust_of(file: &Path, var: &dyn Fn(&str) -> Option<String>) -> (Trust, PathBuf) {
    let Ok(canonical) = fs::canonicalize(file) else {
        return (Trust::Untrusted, file.to_path_buf());
    };
    let own = config_home(var)
        .and_then(|d| fs::canonicalize(d).ok())
        .is_some_and(|d| canonical.starts_with(d));
    if own {
        let trust = if open_to_others(&canonical) {
            Trust::OpenToOthers
        } else {
            Trust::ConfigHome
        };
        return (trust, canonical);
    }
    let recorded =
        StateHome::from_vars(var).is_ok_and(|home| TrustStore::new(&home).is_recorded(&canonical));
    let trust = match recorded {
        true if open_to_others(&canonical) => Trust::OpenToOthers,
        true => Trust::Recorded,
        false => Trust::Untrusted,
    };
    (trust, canonical)
}

/// Whether a user other than this one (and root) can change what `file` holds: it is theirs or
/// writable by them, or its directory is (where they could put another file in its place; a
/// sticky directory such as /tmp lets them remove only their own).
///
/// Group write counts only for a group other than the person's own primary group: with user
/// private groups (umask 002, as on Debian and Ubuntu), every file a person makes is
/// group-writable by a group that holds only them.
fn open_to_others(file: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let (me, my_group) = (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    );
    let theirs = |m: &fs::Metadata| m.uid() != me && m.uid() != 0;
    let writable =
        |m: &fs::Metadata| m.mode() & 0o002 != 0 || (m.mode() & 0o020 != 0 && m.gid() != my_group);
    let Ok(meta) = fs::metadata(file) else {
        return true;
    };
    if theirs(&meta) || writable(&meta) {
        return true;
    }
    let Some(dir) = file.parent().and_then(|d| fs::metadata(d).ok()) else {
        return true;
    };
    theirs(&dir) || (writable(&dir) && dir.mode() & 0o1000 == 0)
}

/// The command that trusts `canonical`, quoted for a shell.
pub fn trust_command(canonical: &Path) -> String {
    quoted_command("ao trust", &[canonical])
}

/// `command` and `paths`, each path quoted for a shell.
fn quoted_command(command: &str, paths: &[&Path]) -> String {
    paths.iter().fold(command.to_string(), |line, path| {
        let text = path.to_string_lossy();
        let word = shlex::try_quote(&text).unwrap_or_else(|_| text.clone());
        format!("{line} {word}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &Path)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string_lossy().into_owned()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn a_file_is_trusted_once_recorded_and_not_after_revoke() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let file = tmp.path().join("repo/agent-orchestrator.yaml");
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, "projects: {}\n").unwrap();
        let var = env(&[
            ("AO_HOME", &home),
            ("XDG_CONFIG_HOME", &tmp.path().join("cfg")),
        ]);
        assert_eq!(trust_of(&file, &var).0, Trust::Untrusted);
        let store = TrustStore::new(&StateHome::at(&home));
        let canonical = store.trust(&file).unwrap();
        assert_eq!(trust_of(&file, &var), (Trust::Recorded, canonical.clone()));
        // Another path to the same file is the same file.
        let other = tmp.path().join("repo/../repo/agent-orchestrator.yaml");
        assert_eq!(trust_of(&other, &var).0, Trust::Recorded);
        assert_eq!(store.revoke(&file).unwrap(), (canonical.clone(), true));
        assert_eq!(trust_of(&file, &var).0, Trust::Untrusted);
        assert_eq!(store.revoke(&file).unwrap(), (canonical, false));
    }

    #[test]
    fn a_file_under_the_config_home_is_trusted() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tmp.path().join("cfg");
        let file = cfg.join("ao/agent-orchestrator.yaml");
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, "projects: {}\n").unwrap();
        let var = env(&[
            ("AO_HOME", &tmp.path().join("home")),
            ("XDG_CONFIG_HOME", &cfg),
        ]);
        assert_eq!(trust_of(&file, &var).0, Trust::ConfigHome);
        // ~/.config/ao when XDG_CONFIG_HOME is not set.
        let var = env(&[("AO_HOME", &tmp.path().join("home")), ("HOME", tmp.path())]);
        assert_eq!(trust_of(&file, &var).0, Trust::Untrusted);
        let var = env(&[("HOME", &tmp.path().join("x"))]);
        assert_eq!(config_home(&var), Some(tmp.path().join("x/.config/ao")));
    }

    #[test]
    fn a_trusted_file_that_others_can_change_is_not_trusted() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let dir = tmp.path().join("repo");
        let file = dir.join("agent-orchestrator.yaml");
        fs::create_dir_all(&dir).unwrap();
        fs::write(&file, "projects: {}\n").unwrap();
        let mode =
            |p: &Path, m: u32| fs::set_permissions(p, fs::Permissions::from_mode(m)).unwrap();
        mode(&dir, 0o755);
        mode(&file, 0o644);
        let var = env(&[
            ("AO_HOME", &home),
            ("XDG_CONFIG_HOME", &tmp.path().join("cfg")),
        ]);
        TrustStore::new(&StateHome::at(&home)).trust(&file).unwrap();
        assert_eq!(trust_of(&file, &var).0, Trust::Recorded);
        // Everyone may write it: another user could add a notifier command.
        mode(&file, 0o666);
        assert_eq!(trust_of(&file, &var).0, Trust::OpenToOthers);
        // Its group may, but that is the person's own primary group (umask 002).
        let own_group = fs::metadata(&file).unwrap().gid() == nix::unistd::getegid().as_raw();
        mode(&file, 0o664);
        assert_eq!(trust_of(&file, &var).0 == Trust::Recorded, own_group);
        mode(&file, 0o644);
        // Everyone may write its directory: another user could put another file in its place.
        mode(&dir, 0o777);
        assert_eq!(trust_of(&file, &var).0, Trust::OpenToOthers);
        // ... unless the directory is sticky, as /tmp is.
        mode(&dir, 0o1777);
        assert_eq!(trust_of(&file, &var).0, Trust::Recorded);
        mode(&dir, 0o755);
        let refusal = remedy(Trust::OpenToOthers, &fs::canonicalize(&file).unwrap());
        assert!(refusal.contains("other users can change it"), "{refusal}");
        assert!(refusal.contains("chmod go-w"), "{refusal}");
    }

    #[test]
    fn a_gated_value_is_given_only_when_permitted() {
        let why = Untrusted {
            file: "/r/agent-orchestrator.yaml".into(),
            line: 3,
            column: 5,
            key: "host".into(),
            what: "opens an ssh connection",
            remedy: remedy(Trust::Untrusted, Path::new("/r/agent-orchestrator.yaml")),
        };
        let refused = Gated::refused("x", why.clone());
        assert_eq!(refused.permit(), Err(why));
        assert_eq!(
            refused.permit().unwrap_err().to_string(),
            "/r/agent-orchestrator.yaml:3:5: `host` is not used: it opens an ssh connection, and \
             /r/agent-orchestrator.yaml is not trusted; if you wrote this file or have read it, \
             trust it with: ao trust /r/agent-orchestrator.yaml"
        );
        assert_eq!(Gated::trusted("x").permit(), Ok(&"x"));
    }
}
