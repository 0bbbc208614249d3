//! `container:` of a project as ao-core's config reader hands it on: what the person chose
//! (image or root file system, engine, network, mounts, variables, the machine's runtime needs),
//! each value checked once by the reader.

use std::fmt;
use std::path::PathBuf;

use crate::trust::Gated;

/// A project's `container:` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSettings {
    /// What the container runs: an image, or a directory as an overlaid root file system.
    pub source: Source,
    /// The engine named by `engine`; `None`: podman if it is on PATH, else docker.
    pub engine: Option<EngineKind>,
    /// `network`.
    pub network: Network,
    /// `mounts`: more host paths, at the same path inside. Gated: they hand the container files
    /// of the person's.
    pub mounts: Gated<Vec<Mount>>,
    /// `env`: the names of ao's environment variables passed through. Gated: they hand the
    /// container values that are often secrets.
    pub env: Gated<Vec<EnvName>>,
    /// `runtime`: the OCI runtime the engine uses (`runc`, `crun`, or a path); `None`: the
    /// engine's default.
    pub runtime: Option<String>,
    /// `ulimits`: the container's resource limits instead of the engine's defaults.
    pub ulimits: Ulimits,
}

/// What a container runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `image`: an image reference, which ao never pulls.
    Image(String),
    /// `rootfs`: a directory of this machine as the root file system, always under a throw-away
    /// overlay (podman's `--rootfs DIR:O`), so nothing the container writes reaches it. Podman
    /// only; for machines without a registry (and for ao's tests, with `/`).
    Rootfs(PathBuf),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Image(image) => write!(f, "image {image}"),
            Source::Rootfs(dir) => write!(f, "rootfs {} (overlaid)", dir.display()),
        }
    }
}

/// A container engine ao drives through its command line.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[strum(serialize_all = "lowercase")]
pub enum EngineKind {
    /// Podman: daemonless; rootless when ao runs as a user.
    Podman,
    /// Docker: a daemon, reached through the `docker` client.
    Docker,
}

impl EngineKind {
    /// The program's name on PATH.
    pub fn program(self) -> &'static str {
        self.into()
    }
}

/// `network` of a container.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    strum::Display,
    strum::EnumString,
    strum::IntoStaticStr,
    strum::VariantNames,
)]
#[strum(serialize_all = "lowercase")]
pub enum Network {
    /// The engine's own network (a bridge, or slirp4netns when rootless): the container reaches
    /// out through NAT, and a published port reaches in, on 127.0.0.1 only.
    #[default]
    Default,
    /// The host's network namespace: the container reaches what this machine reaches, its
    /// loopback included, and its server listens on this machine's 127.0.0.1.
    Host,
    /// No network but the container's own loopback: no provider either, and no published port
    /// (engines drop `-p` with `--network none`).
    None,
}

/// One of `mounts`: a host path, mounted at the same path inside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute, with `~` and `${VAR}` expanded.
    pub path: PathBuf,
    /// `path:rw`; read-only otherwise.
    pub writable: bool,
}

impl Mount {
    /// Parses one entry of `mounts` after expansion: `PATH`, `PATH:ro` or `PATH:rw`. `Err` says
    /// what is wrong.
    pub fn parse(raw: &str) -> Result<(String, bool), String> {
        let (path, writable) = match raw.rsplit_once(':') {
            Some((path, "rw")) => (path, true),
            Some((path, "ro")) => (path, false),
            Some((_, mode)) if !mode.contains('/') => {
                return Err(format!(
                    "mount {raw:?} ends in :{mode}; write PATH (read-only), PATH:ro or PATH:rw"
                ))
            }
            _ => (raw, false),
        };
        if path.is_empty() {
            return Err(format!("mount {raw:?} has no path"));
        }
        // The engines split a volume spec at `:`, and take `,` as an option separator.
        if path.contains(':') || path.contains(',') {
            return Err(format!(
                "mount {raw:?}: a path with `:` or `,` cannot be mounted (the engines read them \
                 as separators)"
            ));
        }
        Ok((path.to_string(), writable))
    }
}

/// The name of an environment variable: a letter or `_`, then letters, digits and `_`, so it
/// names one variable in any shell and file name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvName(String);

impl EnvName {
    /// The name, when `raw` is one; else what is wrong with it.
    pub fn parse(raw: &str) -> Result<EnvName, String> {
        let mut chars = raw.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "{raw:?} is not a variable name: use letters, digits and `_`, not starting with \
                 a digit (e.g. ANTHROPIC_API_KEY)"
            ));
        }
        Ok(EnvName(raw.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EnvName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `ulimits`: a container's resource limits, each its soft and hard limit at once. `None` leaves
/// the engine's default, which a machine may refuse (podman's raise nofile to 1048576 and nproc to
/// 4194304; a root without CAP_SYS_RESOURCE cannot, see docs/containers.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ulimits {
    /// Open files (`nofile`).
    pub nofile: Option<u64>,
    /// Processes of the user (`nproc`).
    pub nproc: Option<u64>,
}

impl Ulimits {
    /// The keys of `ulimits`.
    pub const KEYS: &'static [&'static str] = &["nofile", "nproc"];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_are_read_only_unless_they_say_rw() {
        assert_eq!(Mount::parse("/a/b").unwrap(), ("/a/b".into(), false));
        assert_eq!(Mount::parse("/a/b:ro").unwrap(), ("/a/b".into(), false));
        assert_eq!(Mount::parse("/a/b:rw").unwrap(), ("/a/b".into(), true));
        assert!(Mount::parse("/a/b:rx").unwrap_err().contains(":rx"));
        assert!(Mount::parse("/a:b/c").unwrap_err().contains("separators"));
        assert!(Mount::parse("/a,b").unwrap_err().contains("separators"));
        assert!(Mount::parse(":rw").unwrap_err().contains("no path"));
    }

    #[test]
    fn variable_names_are_checked() {
        for ok in ["A", "_X", "ANTHROPIC_API_KEY", "a1"] {
            assert_eq!(EnvName::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "1A", "A-B", "A B", "A=B", "É"] {
            assert!(EnvName::parse(bad).is_err(), "{bad}");
        }
    }
}
