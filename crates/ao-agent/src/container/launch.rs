//! What a container runs and with what ([`ContainerLaunch`]), and the engine's `run` arguments
//! built from it: one pure function, so every rule of the sandbox is tested without an engine.

use std::path::{Path, PathBuf};

use super::engine::{ContainerError, Engine};
use super::name::ContainerName;
use super::settings::{EngineKind, EnvName, Mount, Network, Source, Ulimits};

/// Where the directory of the container's variables is mounted inside (read-only).
pub const ENV_DIR_INSIDE: &str = "/run/ao/env";

/// The script that starts the program: every file of [`ENV_DIR_INSIDE`] becomes a variable of
/// its name, then the program replaces the shell. The values never appear in an argv or in the
/// container's config (`inspect`); `$(cat …)` drops a value's trailing newlines.
const ENV_SCRIPT: &str =
    r#"for f in /run/ao/env/*; do [ -f "$f" ] && export "${f##*/}=$(cat "$f")"; done; exec "$@""#;

/// A container to start: the program, its work trees and everything it is given.
#[derive(Debug, Clone)]
pub struct ContainerLaunch {
    /// Its name (`ao-<project>-<hash>`) and labels.
    pub name: ContainerName,
    /// What it runs from: the image, or an overlaid root file system.
    pub source: Source,
    /// The program and its arguments, run in the container. Never a secret: argv is readable
    /// in `inspect` and by every user through `ps`.
    pub argv: Vec<String>,
    /// Its working directory inside (a work tree's path, the same as on the host).
    pub workdir: PathBuf,
    /// The directories it works in, mounted read-write at the same path as on the host, and
    /// what to keep read-only inside them ([`work_mounts`]).
    pub work: Vec<Mount>,
    /// The person's `mounts`, permitted.
    pub mounts: Vec<Mount>,
    /// Every variable the program gets (the plugin's own, its server's password, the person's
    /// `env` passed through): written to 0600 files, never put on the engine's command line.
    pub env: Vec<(EnvName, String)>,
    /// `network`.
    pub network: Network,
    /// A port of the program's, published on 127.0.0.1 at the same number; with the host's
    /// network it is the host's port already.
    pub port: Option<u16>,
    /// A named volume (kept until purge) and where it is mounted: the agent's own data.
    pub volume: Option<PathBuf>,
    /// `ulimits`.
    pub ulimits: Ulimits,
    /// The host directory of the container's variable files (0700, under the state home).
    pub env_dir: PathBuf,
    /// Who ao runs as: the container's user is mapped to it, so that what the agent writes in a
    /// work tree belongs to the person (`None` where unknown: the engine's default).
    pub user: Option<(u32, u32)>,
}

impl ContainerLaunch {
    /// The address the program must listen on inside for [`port`](Self::port) to reach it:
    /// every interface of its own network namespace when the engine publishes the port, the
    /// loopback when it shares the host's.
    pub fn listen_host(&self) -> &'static str {
        match self.network {
            Network::Host => "127.0.0.1",
            Network::Default | Network::None => "0.0.0.0",
        }
    }
}

/// Where a container's data volume is mounted: the agent's data, config, state and cache
/// directories are under it ([`data_homes`]), and what else of its own it keeps there.
pub const DATA_INSIDE: &str = "/var/lib/ao-agent";

/// The agent's XDG directories inside, on its data volume ([`DATA_INSIDE`]).
pub fn data_homes() -> [(&'static str, String); 4] {
    [
        ("XDG_DATA_HOME", format!("{DATA_INSIDE}/data")),
        ("XDG_CONFIG_HOME", format!("{DATA_INSIDE}/config")),
        ("XDG_STATE_HOME", format!("{DATA_INSIDE}/state")),
        ("XDG_CACHE_HOME", format!("{DATA_INSIDE}/cache")),
    ]
}

/// The directory a project's sessions work in, the one [`work_mounts`] mounts: that of their work
/// trees under the state home, or the project directory itself (`workspace: none`).
pub fn work_dir(project: &crate::project::Project, home: &crate::home::StateHome) -> PathBuf {
    match project.workspace {
        crate::session::WorkspaceKind::Worktree => home.worktrees_dir(&project.name),
        crate::session::WorkspaceKind::None => project.path.clone(),
    }
}

/// This process's uid and gid: whom the agent runs as inside, so that its files in the work
/// trees are the person's ([`ContainerLaunch::user`]).
pub fn own_user() -> (u32, u32) {
    (
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    )
}

/// The mounts of a project's work: the directory of its sessions' work trees (or the project
/// directory itself, for `workspace: none`) read-write, and, when the project is a git
/// repository, what of its `.git` a work tree's git writes. git on the host reads the rest (the
/// config, the hooks, what a `commondir` names) and runs what it says, so an agent that could
/// write it would run programs outside its box:
/// - with work trees of their own, `.git` is read-only but for `objects/`, `refs/`, `logs/` and
///   `worktrees/` (a tree's own git directory, whose `commondir` the host checks before it runs
///   git there); `logs/` and `worktrees/` are made here when missing, since a mount's source
///   must exist and a tree made after the start must be writable;
/// - in the project directory itself, `.git` is the agent's to write (its index, its `HEAD`), but
///   for its hooks and config, read-only.
pub fn work_mounts(project: &Path, work: &Path) -> Vec<Mount> {
    let mut mounts = vec![Mount {
        path: work.to_path_buf(),
        writable: true,
    }];
    let git = project.join(".git");
    if !git.is_dir() {
        return mounts;
    }
    let separate = !work.starts_with(&git) && !git.starts_with(work);
    if separate {
        mounts.push(Mount {
            path: git.clone(),
            writable: false,
        });
        for inner in ["objects", "refs", "logs", "worktrees"] {
            let path = git.join(inner);
            // A directory that cannot be made is left read-only: git inside says so.
            if std::fs::create_dir_all(&path).is_ok() {
                mounts.push(Mount {
                    path,
                    writable: true,
                });
            }
        }
    } else {
        for inner in ["hooks", "config"] {
            let path = git.join(inner);
            if path.exists() {
                mounts.push(Mount {
                    path,
                    writable: false,
                });
            }
        }
    }
    mounts
}

/// The engine's arguments that make and start the container, detached (`run -d …`).
pub fn run_args(engine: &Engine, launch: &ContainerLaunch) -> Result<Vec<String>, ContainerError> {
    let kind = engine.kind();
    let mut a: Vec<String> = vec!["run".into(), "-d".into()];
    a.push(format!("--name={}", launch.name.as_str()));
    for (key, value) in launch.name.labels() {
        a.push(format!("--label={key}={value}"));
    }
    // An init reaps what the agent's tools leave behind and passes `stop`'s signal on.
    a.push("--init".into());
    // Nothing the agent runs may gain privileges, and root inside has no capability.
    a.push("--cap-drop=all".into());
    a.push("--security-opt=no-new-privileges".into());
    match launch.network {
        Network::Default => {}
        Network::Host => a.push("--network=host".into()),
        Network::None => a.push("--network=none".into()),
    }
    if let Some(port) = launch.port {
        match launch.network {
            Network::Default => a.push(format!("--publish=127.0.0.1:{port}:{port}")),
            Network::Host => {}
            Network::None => {
                return Err(ContainerError::Refused(format!(
                    "container {}: `network: none` leaves no way in for ao's port {port} (the \
                     engines drop a published port without a network); use `network: default`",
                    launch.name.as_str()
                )))
            }
        }
    }
    if let Some(n) = launch.ulimits.nofile {
        a.push(format!("--ulimit=nofile={n}:{n}"));
    }
    if let Some(n) = launch.ulimits.nproc {
        a.push(format!("--ulimit=nproc={n}:{n}"));
    }
    match (kind, launch.user) {
        // Rootless podman maps the container's root to the person; keep-id makes the program run
        // as the person's own uid inside too, so HOME and file owners read the same.
        (EngineKind::Podman, Some((uid, _))) if uid != 0 => a.push("--userns=keep-id".into()),
        // Docker's daemon is root: without --user, the agent's files would be root's.
        (EngineKind::Docker, Some((uid, gid))) if uid != 0 => a.push(format!("--user={uid}:{gid}")),
        _ => {}
    }
    for m in launch.work.iter().chain(&launch.mounts) {
        let path = path_arg(&m.path, "mount")?;
        let mode = if m.writable { "rw" } else { "ro" };
        a.push(format!("--volume={path}:{path}:{mode}"));
    }
    let env_dir = path_arg(&launch.env_dir, "the variables' directory")?;
    a.push(format!("--volume={env_dir}:{ENV_DIR_INSIDE}:ro"));
    if let Some(target) = &launch.volume {
        let target = path_arg(target, "the data volume's target")?;
        a.push(format!("--volume={}:{target}", launch.name.volume()));
    }
    a.push(format!(
        "--workdir={}",
        path_arg(&launch.workdir, "the working directory")?
    ));
    match &launch.source {
        // Not every engine's `run` takes `--` before the image: one that reads as an option is
        // refused here (the config refuses it too).
        Source::Image(image) if image.is_empty() || image.starts_with('-') => {
            return Err(ContainerError::Refused(format!(
                "{image:?} is not an image reference"
            )))
        }
        Source::Image(image) => a.push(image.clone()),
        Source::Rootfs(dir) => {
            if kind != EngineKind::Podman {
                return Err(ContainerError::Refused(format!(
                    "container {}: `rootfs` needs podman (docker has no --rootfs); set \
                     `engine: podman`, or name an `image`",
                    launch.name.as_str()
                )));
            }
            // `--rootfs` is a flag: the directory takes the image's place (podman 4.3.1 refuses
            // `--rootfs=DIR`).
            let dir = path_arg(dir, "rootfs")?;
            a.push("--rootfs".into());
            a.push(format!("{dir}:O"));
        }
    }
    a.extend(["sh", "-c", ENV_SCRIPT, "ao-env"].map(String::from));
    a.extend(launch.argv.iter().cloned());
    Ok(a)
}

/// A path as an engine's argument: UTF-8, absolute, and without the `:` and `,` that the
/// engines take as separators.
fn path_arg(path: &Path, what: &str) -> Result<String, ContainerError> {
    let text = path
        .to_str()
        .filter(|t| t.starts_with('/'))
        .ok_or_else(|| {
            ContainerError::Refused(format!(
                "{what} {} must be an absolute UTF-8 path to be mounted",
                path.display()
            ))
        })?;
    if text.contains(':') || text.contains(',') {
        return Err(ContainerError::Refused(format!(
            "{what} {text} holds `:` or `,`, which the engines read as separators; it cannot be \
             mounted"
        )));
    }
    Ok(text.to_string())
}

/// Writes the launch's variables into its directory, one 0600 file per variable, after removing
/// the files of an earlier start (so a variable dropped from the config is gone).
pub(super) fn write_env(launch: &ContainerLaunch) -> Result<(), ContainerError> {
    let dir = &launch.env_dir;
    let local = |what: &str, e: &dyn std::fmt::Display| {
        ContainerError::Local(format!("cannot {what} {}: {e}", dir.display()))
    };
    crate::home::create_private_dir(dir).map_err(|e| local("create", &e))?;
    let entries = std::fs::read_dir(dir).map_err(|e| local("read", &e))?;
    for entry in entries.flatten() {
        let _ = std::fs::remove_file(entry.path());
    }
    for (name, value) in &launch.env {
        crate::home::write_atomically(&dir.join(name.as_str()), value.as_bytes())
            .map_err(|e| local("write a variable into", &e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::StateHome;

    fn launch(source: Source, network: Network) -> ContainerLaunch {
        let home = StateHome::at("/home/me/.local/share/ao");
        let name = ContainerName::for_project(&home, "web");
        ContainerLaunch {
            env_dir: PathBuf::from("/home/me/.local/share/ao/containers/env"),
            name,
            source,
            argv: vec!["opencode".into(), "serve".into(), "--port=4100".into()],
            workdir: PathBuf::from("/srv/web"),
            work: vec![Mount {
                path: "/home/me/.local/share/ao/worktrees/web".into(),
                writable: true,
            }],
            mounts: vec![Mount {
                path: "/home/me/.cache/pip".into(),
                writable: false,
            }],
            env: vec![(
                EnvName::parse("OPENCODE_SERVER_PASSWORD").unwrap(),
                "hunter2".into(),
            )],
            network,
            port: Some(4100),
            volume: Some("/var/lib/ao-agent".into()),
            ulimits: Ulimits {
                nofile: Some(1024),
                nproc: None,
            },
            user: Some((1000, 1000)),
        }
    }

    #[test]
    fn a_container_is_boxed_published_on_loopback_and_told_no_secret_on_its_command_line() {
        let podman = Engine::at(EngineKind::Podman, "/usr/bin/podman");
        let l = launch(
            Source::Image("ghcr.io/acme/agent:1.4".into()),
            Network::Default,
        );
        let args = run_args(&podman, &l).unwrap();
        let has = |a: &str| args.iter().any(|x| x == a);
        assert_eq!(&args[..2], ["run", "-d"]);
        assert!(has(&format!("--name={}", l.name.as_str())));
        assert!(has("--label=ao.home=/home/me/.local/share/ao"));
        assert!(has("--label=ao.project=web"));
        assert!(has("--publish=127.0.0.1:4100:4100"), "{args:?}");
        assert!(has("--cap-drop=all") && has("--security-opt=no-new-privileges") && has("--init"));
        assert!(has("--ulimit=nofile=1024:1024"));
        assert!(!args.iter().any(|a| a.starts_with("--ulimit=nproc")));
        assert!(has("--userns=keep-id"));
        assert!(has("--volume=/home/me/.local/share/ao/worktrees/web:/home/me/.local/share/ao/worktrees/web:rw"));
        assert!(has("--volume=/home/me/.cache/pip:/home/me/.cache/pip:ro"));
        assert!(has(
            "--volume=/home/me/.local/share/ao/containers/env:/run/ao/env:ro"
        ));
        assert!(has(&format!(
            "--volume={}:/var/lib/ao-agent",
            l.name.volume()
        )));
        assert!(has("--workdir=/srv/web"));
        // No variable reaches the engine's command line: no -e, and no value anywhere.
        assert!(!args
            .iter()
            .any(|a| a.starts_with("-e") || a.starts_with("--env")));
        assert!(!args.iter().any(|a| a.contains("hunter2")));
        // The image, then the script that reads the variables, then the program.
        let image = args
            .iter()
            .position(|a| a == "ghcr.io/acme/agent:1.4")
            .unwrap();
        assert_eq!(&args[image + 1..image + 2], ["sh"]);
        assert_eq!(
            &args[args.len() - 3..],
            ["opencode", "serve", "--port=4100"]
        );
        assert_eq!(l.listen_host(), "0.0.0.0");
    }

    #[test]
    fn the_host_network_publishes_nothing_and_none_refuses_a_port() {
        let podman = Engine::at(EngineKind::Podman, "/usr/bin/podman");
        let l = launch(Source::Rootfs("/".into()), Network::Host);
        let args = run_args(&podman, &l).unwrap();
        assert!(args.iter().any(|a| a == "--network=host"));
        assert!(!args.iter().any(|a| a.starts_with("--publish")));
        let at = args.iter().position(|a| a == "--rootfs").unwrap();
        assert_eq!(&args[at..at + 3], ["--rootfs", "/:O", "sh"], "{args:?}");
        assert_eq!(l.listen_host(), "127.0.0.1");
        let e = run_args(&podman, &launch(Source::Rootfs("/".into()), Network::None)).unwrap_err();
        assert!(e.to_string().contains("network: none"), "{e}");
        let mut quiet = launch(Source::Rootfs("/".into()), Network::None);
        quiet.port = None;
        assert!(run_args(&podman, &quiet)
            .unwrap()
            .iter()
            .any(|a| a == "--network=none"));
    }

    #[test]
    fn docker_runs_as_the_person_and_refuses_a_rootfs() {
        let docker = Engine::at(EngineKind::Docker, "/usr/bin/docker");
        let args = run_args(
            &docker,
            &launch(Source::Image("img".into()), Network::Default),
        )
        .unwrap();
        assert!(args.iter().any(|a| a == "--user=1000:1000"));
        assert!(!args.iter().any(|a| a.starts_with("--userns")));
        let e = run_args(&docker, &launch(Source::Rootfs("/".into()), Network::Host)).unwrap_err();
        assert!(e.to_string().contains("needs podman"), "{e}");
        // As root, neither engine is told a user.
        let mut root = launch(Source::Image("img".into()), Network::Default);
        root.user = Some((0, 0));
        for engine in [&docker, &Engine::at(EngineKind::Podman, "podman")] {
            let args = run_args(engine, &root).unwrap();
            assert!(!args.iter().any(|a| a.starts_with("--user")), "{args:?}");
        }
    }

    #[test]
    fn a_path_the_engines_would_split_is_refused() {
        let podman = Engine::at(EngineKind::Podman, "podman");
        let mut l = launch(Source::Image("img".into()), Network::Default);
        l.mounts.push(Mount {
            path: "/a:b".into(),
            writable: false,
        });
        assert!(run_args(&podman, &l)
            .unwrap_err()
            .to_string()
            .contains("separators"));
        let mut l = launch(Source::Image("img".into()), Network::Default);
        l.workdir = "relative".into();
        assert!(run_args(&podman, &l)
            .unwrap_err()
            .to_string()
            .contains("absolute"));
        let l = launch(Source::Image("--privileged".into()), Network::Default);
        assert!(run_args(&podman, &l)
            .unwrap_err()
            .to_string()
            .contains("not an image"));
    }

    #[test]
    fn git_hooks_and_config_stay_read_only() {
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path().join("p");
        std::fs::create_dir_all(project.join(".git/hooks")).unwrap();
        std::fs::create_dir_all(project.join(".git/objects")).unwrap();
        std::fs::create_dir_all(project.join(".git/refs")).unwrap();
        std::fs::write(project.join(".git/config"), "").unwrap();
        let work = tmp.path().join("home/worktrees/p");
        let m = work_mounts(&project, &work);
        let shown: Vec<(PathBuf, bool)> = m.into_iter().map(|m| (m.path, m.writable)).collect();
        let git = project.join(".git");
        assert_eq!(
            shown,
            vec![
                (work.clone(), true),
                (git.clone(), false),
                (git.join("objects"), true),
                (git.join("refs"), true),
                (git.join("logs"), true),
                (git.join("worktrees"), true),
            ]
        );
        assert!(git.join("worktrees").is_dir() && git.join("logs").is_dir());
        // Sessions in the project directory itself: it holds .git already, the agent's to
        // write but for its hooks and config.
        let m = work_mounts(&project, &project);
        let shown: Vec<(PathBuf, bool)> = m.into_iter().map(|m| (m.path, m.writable)).collect();
        assert_eq!(
            shown,
            vec![
                (project.clone(), true),
                (git.join("hooks"), false),
                (git.join("config"), false),
            ]
        );
        // Not a repository: the work alone.
        assert_eq!(work_mounts(&work, &work).len(), 1);
    }

    #[test]
    fn the_script_exports_each_value_exactly_but_for_trailing_newlines() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("env");
        let mut l = launch(Source::Image("img".into()), Network::Default);
        l.env_dir = dir.clone();
        let tricky = "a b 'c' \"d\" $(touch /tmp/x) `e` \\ $HOME\nsecond line";
        l.env = vec![
            (EnvName::parse("TRICKY").unwrap(), tricky.into()),
            (EnvName::parse("TRAILING").unwrap(), "v\n\n".into()),
            (EnvName::parse("EMPTY").unwrap(), String::new()),
        ];
        write_env(&l).unwrap();
        let script = ENV_SCRIPT.replace(ENV_DIR_INSIDE, &dir.to_string_lossy());
        let out = std::process::Command::new("sh")
            .args(["-c", &script, "ao-env", "sh", "-c"])
            .arg("printf '%s|%s|%s|%s' \"$TRICKY\" \"$TRAILING\" \"${EMPTY-unset}\" \"${NONE-unset}\"")
            .env_remove("TRICKY")
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{tricky}|v||unset")
        );
    }

    #[test]
    fn the_variables_are_private_files_rewritten_on_each_start() {
        let tmp = tempfile::tempdir().unwrap();
        let mut l = launch(Source::Image("img".into()), Network::Default);
        l.env_dir = tmp.path().join("env");
        std::fs::create_dir(&l.env_dir).unwrap();
        std::fs::write(l.env_dir.join("OLD"), "x").unwrap();
        write_env(&l).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&l.env_dir), 0o700);
        let file = l.env_dir.join("OPENCODE_SERVER_PASSWORD");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "hunter2");
        assert_eq!(mode(&file), 0o600);
        assert!(!l.env_dir.join("OLD").exists());
    }
}
