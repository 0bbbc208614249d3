//! `container:` of a project or of `defaults`: the agent's server in a container
//! ([`ao_agent::container`]; docs/containers.md says why each key exists).

use std::path::PathBuf;

use ao_agent::container::{
    ContainerSettings, EngineKind, EnvName, Mount, Network, Source, Ulimits,
};
use strum::VariantNames;

use super::reader::Reader;
use super::yaml::{Kind, Node, Scalar};
use crate::remote::Location;

const CONTAINER_KEYS: &[&str] = &[
    "image", "rootfs", "engine", "network", "mounts", "env", "runtime", "ulimits",
];

impl Reader<'_> {
    /// A project's container: its own `container` (`node`), else the defaults' one, except on
    /// another machine, where its server is not ao's to box.
    pub(super) fn project_container(
        &mut self,
        name: &str,
        node: Option<&Node>,
        location: Option<&Location>,
        defaults: Option<&ContainerSettings>,
    ) -> Option<ContainerSettings> {
        let remote = location.is_some_and(Location::is_remote);
        let Some(node) = node else {
            return if remote { None } else { defaults.cloned() };
        };
        let own = self.container(node);
        if remote {
            self.problem(
                node.pos,
                format!(
                    "project {name:?} sets `container` and `server` or `host`; a container holds \
                     a server ao runs on this machine, so keep one"
                ),
            );
        }
        own
    }

    /// The `container` map at `node`; `None` (with problems) when it is wrong.
    pub(super) fn container(&mut self, node: &Node) -> Option<ContainerSettings> {
        let f = self.fields(node, "container", CONTAINER_KEYS, "a map with `image`")?;
        let before = self.problems.len();
        let engine = f.get("engine").and_then(|n| {
            self.choice(n, "container.engine", "", EngineKind::VARIANTS)?
                .parse::<EngineKind>()
                .ok()
        });
        let source = match (f.get("image"), f.get("rootfs")) {
            (Some(_), Some(rootfs)) => {
                self.problem(
                    rootfs.pos,
                    "container sets both `image` and `rootfs`; keep one: `image` for an image \
                     the engine has, `rootfs` for a directory of this machine (podman only)"
                        .into(),
                );
                None
            }
            (Some(n), None) => self.image(n).map(Source::Image),
            (None, Some(n)) => {
                if engine == Some(EngineKind::Docker) {
                    self.problem(
                        n.pos,
                        "container.rootfs needs podman (docker has no --rootfs); set `engine: \
                         podman`, or name an `image`"
                            .into(),
                    );
                }
                self.rootfs(n).map(Source::Rootfs)
            }
            (None, None) if f.suggested.iter().any(|k| k == "image" || k == "rootfs") => None,
            (None, None) => {
                self.problem(
                    node.pos,
                    "container has no `image`; name the image the agent runs in (e.g. `image: \
                     ghcr.io/acme/agent:1.4`; it must hold the agent's program and git), or \
                     `rootfs: /` with podman"
                        .into(),
                );
                None
            }
        };
        let network = f
            .get("network")
            .and_then(|n| {
                self.choice(n, "container.network", "", Network::VARIANTS)?
                    .parse::<Network>()
                    .ok()
            })
            .unwrap_or_default();
        let mounts = match f.get("mounts") {
            Some(n) => {
                let mounts = self.mounts(n);
                self.gate(
                    mounts,
                    n.pos,
                    "container.mounts",
                    "hands files of yours to the container",
                )
            }
            None => ao_agent::trust::Gated::trusted(Vec::new()),
        };
        let env = match f.get("env") {
            Some(n) => {
                let env = self.env_names(n);
                self.gate(
                    env,
                    n.pos,
                    "container.env",
                    "hands environment variables of yours (often secrets) to the container",
                )
            }
            None => ao_agent::trust::Gated::trusted(Vec::new()),
        };
        let runtime = f.get("runtime").and_then(|n| {
            let runtime = self.string(n, "container.runtime")?;
            let bad = runtime.is_empty()
                || runtime.starts_with('-')
                || runtime.chars().any(|c| c.is_whitespace() || c.is_control())
                || (runtime.contains('/') && !runtime.starts_with('/'));
            if bad {
                self.problem(
                    n.pos,
                    format!(
                        "container.runtime {runtime:?} is not an OCI runtime; name one (runc, \
                         crun) or give its absolute path"
                    ),
                );
                return None;
            }
            if engine == Some(EngineKind::Docker) {
                self.problem(
                    n.pos,
                    "container.runtime is podman's --runtime; docker's runtimes are set in its \
                     daemon.json, so drop it here"
                        .into(),
                );
                return None;
            }
            Some(runtime)
        });
        let ulimits = f
            .get("ulimits")
            .map(|n| self.ulimits(n))
            .unwrap_or_default();
        if self.problems.len() > before {
            return None;
        }
        Some(ContainerSettings {
            source: source?,
            engine,
            network,
            mounts,
            env,
            runtime,
            ulimits,
        })
    }

    /// `image`: a reference the engine takes as an image, never as an option.
    fn image(&mut self, node: &Node) -> Option<String> {
        let image = self.string(node, "container.image")?;
        if image.is_empty()
            || image.starts_with('-')
            || image.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            self.problem(
                node.pos,
                format!(
                    "container.image {image:?} is not an image reference; write one like \
                     ghcr.io/acme/agent:1.4"
                ),
            );
            return None;
        }
        Some(image)
    }

    /// `rootfs`: an existing directory, absolute.
    fn rootfs(&mut self, node: &Node) -> Option<PathBuf> {
        let raw = self.string(node, "container.rootfs")?;
        let path = self.host_path(&raw, node, "container.rootfs")?;
        if !path.is_dir() {
            self.problem(
                node.pos,
                format!(
                    "container.rootfs {} is not a directory; name the root of a file system (`/` \
                     for this machine's own, overlaid)",
                    path.display()
                ),
            );
            return None;
        }
        Some(path)
    }

    /// A path of this machine: `~` and `${VAR}` expanded, absolute, without the separators the
    /// engines split at.
    fn host_path(&mut self, raw: &str, node: &Node, key: &str) -> Option<PathBuf> {
        let path = match super::names::expand_path_in(raw, self.cx.var) {
            Ok(p) => p,
            Err(m) => {
                self.problem(node.pos, format!("{key}: {m}"));
                return None;
            }
        };
        let text = path.to_string_lossy();
        if !path.is_absolute() {
            self.problem(
                node.pos,
                format!("{key} {raw:?} must be absolute (or start with ~): it is mounted at the same path inside"),
            );
            return None;
        }
        if text.contains(':') || text.contains(',') {
            self.problem(
                node.pos,
                format!(
                    "{key} {} holds `:` or `,`, which the engines read as separators; it cannot \
                     be mounted",
                    path.display()
                ),
            );
            return None;
        }
        Some(path)
    }

    /// `mounts`: a list of `PATH`, `PATH:ro` or `PATH:rw`, each existing.
    fn mounts(&mut self, node: &Node) -> Vec<Mount> {
        let mut out = Vec::new();
        for item in self.list(node, "container.mounts", "paths (`- ~/.cache/pip`)") {
            let Some(raw) = self.string(item, "a mount") else {
                continue;
            };
            let (path, writable) = match Mount::parse(&raw) {
                Ok(m) => m,
                Err(m) => {
                    self.problem(item.pos, format!("container.mounts: {m}"));
                    continue;
                }
            };
            let Some(path) = self.host_path(&path, item, "container.mounts") else {
                continue;
            };
            if !path.exists() {
                self.problem(
                    item.pos,
                    format!(
                        "container.mounts: {} does not exist; create it or drop it",
                        path.display()
                    ),
                );
                continue;
            }
            out.push(Mount { path, writable });
        }
        out
    }

    /// `env`: a list of variable names, each once.
    fn env_names(&mut self, node: &Node) -> Vec<EnvName> {
        let mut out: Vec<EnvName> = Vec::new();
        for item in self.list(
            node,
            "container.env",
            "variable names (`- ANTHROPIC_API_KEY`)",
        ) {
            let Some(raw) = self.string(item, "a variable's name") else {
                continue;
            };
            if let Some((name, _)) = raw.split_once('=') {
                // The value is not repeated: it may be a secret.
                self.problem(
                    item.pos,
                    format!(
                        "container.env takes names only ({name}), not NAME=value: the value is \
                         passed through from ao's environment, so it stays out of the config"
                    ),
                );
                continue;
            }
            match EnvName::parse(&raw) {
                Ok(name) if out.contains(&name) => self.problem(
                    item.pos,
                    format!("container.env names {name} twice; keep one"),
                ),
                Ok(name) => out.push(name),
                Err(m) => self.problem(item.pos, format!("container.env: {m}")),
            }
        }
        out
    }

    /// `ulimits`: `nofile` and `nproc`, each a positive whole number.
    fn ulimits(&mut self, node: &Node) -> Ulimits {
        let Some(f) = self.fields(
            node,
            "container.ulimits",
            Ulimits::KEYS,
            "a map with `nofile` or `nproc`",
        ) else {
            return Ulimits::default();
        };
        let mut limit = |key: &str| {
            let n = f.get(key)?;
            match n.scalar() {
                Some(Scalar::Int(v)) if v > 0 => Some(v as u64),
                other => {
                    let given = match other {
                        Some(Scalar::Int(v)) => v.to_string(),
                        _ => n.describe().to_string(),
                    };
                    self.problem(
                        n.pos,
                        format!(
                            "container.ulimits.{key} must be a positive whole number (e.g. 1024), \
                             not {given}"
                        ),
                    );
                    None
                }
            }
        };
        Ulimits {
            nofile: limit("nofile"),
            nproc: limit("nproc"),
        }
    }

    /// The items of a list (an empty value is an empty list); a problem otherwise.
    fn list<'n>(&mut self, node: &'n Node, what: &str, of: &str) -> Vec<&'n Node> {
        match &node.kind {
            Kind::Seq(items) => items.iter().collect(),
            _ if node.scalar() == Some(Scalar::Null) => Vec::new(),
            _ => {
                self.problem(
                    node.pos,
                    format!("{what} must be a list of {of}, not {}", node.describe()),
                );
                Vec::new()
            }
        }
    }
}
