//! The operations on a project's container: start, find again, stop, remove, and the checks of
//! `ao doctor` (the image, the agent's program inside). Each is one or two engine commands and
//! blocks; async callers go through [`crate::blocking::unblock`].

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::engine::{says_no_such, ContainerError, Engine, ENGINE_TIMEOUT};
use super::launch::{run_args, write_env, ContainerLaunch};
use super::name::{ContainerName, LABEL_HOME, LABEL_LAUNCH, LABEL_PROJECT};
use super::settings::{EngineKind, Source, Ulimits};

/// How long `run` may take: making a container from a large image, or a first overlay of a
/// root file system, is slower than other commands.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// A container found by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The engine's id for it (what a test cleans up by).
    pub id: String,
    /// Whether it runs.
    pub running: bool,
    /// The engine's word for its state: `running`, `exited`, `created`, ...
    pub status: String,
    /// Its main process's pid on this machine, while it runs.
    pub pid: Option<u32>,
    /// Its exit code, once it has ended.
    pub exit_code: Option<i64>,
    /// The launch it was made for (its `ao.launch` label), when it names one.
    pub launch: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Inspected {
    id: String,
    #[serde(default)]
    state: InspectedState,
    #[serde(default)]
    config: InspectedConfig,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct InspectedState {
    status: String,
    running: bool,
    pid: i64,
    exit_code: i64,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct InspectedConfig {
    labels: Option<BTreeMap<String, String>>,
}

/// A volume as `volume inspect` shows it (podman's and docker's keys alike).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct InspectedVolume {
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
}

/// Refuses a container or volume (`what`) named like `name` whose labels say it is not this
/// state home's project's: ao never touches it, and the error says whose it is.
fn refuse_foreign(
    what: &str,
    shown: &str,
    labels: &BTreeMap<String, String>,
    name: &ContainerName,
) -> Result<(), ContainerError> {
    let owner = labels.get(LABEL_HOME).map(String::as_str);
    let project = labels.get(LABEL_PROJECT).map(String::as_str);
    if owner == Some(name.home()) && project == Some(name.project()) {
        return Ok(());
    }
    Err(ContainerError::Refused(format!(
        "a {what} named {shown} exists but is not this state home's (its labels say \
         {LABEL_HOME}={}, {LABEL_PROJECT}={}); ao leaves it alone: remove or rename it",
        owner.unwrap_or("nothing"),
        project.unwrap_or("nothing")
    )))
}

impl Engine {
    /// The engine's version line (`podman version 4.3.1`), for `ao doctor`; for docker, its
    /// daemon's too, which fails when the daemon is down.
    pub fn version(&self) -> Result<String, ContainerError> {
        let out = self.run_ok("--version", &["--version".into()], ENGINE_TIMEOUT)?;
        let client = first_line(&out.stdout);
        if self.kind() == EngineKind::Docker {
            let args = ["version", "--format", "{{.Server.Version}}"].map(String::from);
            let server = self.run_ok("version", &args, ENGINE_TIMEOUT)?;
            return Ok(format!("{client}; daemon {}", first_line(&server.stdout)));
        }
        Ok(client)
    }

    /// Whether the image is on this machine (never pulled).
    pub fn image_exists(&self, image: &str) -> Result<bool, ContainerError> {
        let args: Vec<String> = match self.kind() {
            EngineKind::Podman => vec!["image".into(), "exists".into(), image.into()],
            EngineKind::Docker => vec![
                "image".into(),
                "inspect".into(),
                "--format={{.Id}}".into(),
                image.into(),
            ],
        };
        let out = self.run("image exists", &args, ENGINE_TIMEOUT)?;
        match (self.kind(), out.status.code()) {
            (_, Some(0)) => Ok(true),
            (EngineKind::Podman, Some(1)) => Ok(false),
            (EngineKind::Docker, _) if says_no_such(&out.stderr) => Ok(false),
            _ => Err(self.classify("image exists", &out)),
        }
    }

    /// That what a container runs from is here: the image (else [`ContainerError::ImageMissing`]
    /// with the pull command), or the root file system's directory.
    pub fn check_source(&self, source: &Source) -> Result<(), ContainerError> {
        match source {
            Source::Image(image) => match self.image_exists(image)? {
                true => Ok(()),
                false => Err(ContainerError::ImageMissing {
                    engine: self.kind(),
                    image: image.clone(),
                }),
            },
            Source::Rootfs(dir) if self.kind() != EngineKind::Podman => {
                Err(ContainerError::Refused(format!(
                    "`rootfs: {}` needs podman (docker has no --rootfs); set `engine: podman`, or \
                     name an `image`",
                    dir.display()
                )))
            }
            Source::Rootfs(dir) if dir.is_dir() => Ok(()),
            Source::Rootfs(dir) => Err(ContainerError::Refused(format!(
                "`rootfs: {}` is not a directory",
                dir.display()
            ))),
        }
    }

    /// The container by name, if there is one. One of another state home's (whose labels say
    /// so) is refused: ao never touches it.
    pub fn find(&self, name: &ContainerName) -> Result<Option<Found>, ContainerError> {
        let args = ["container", "inspect", name.as_str()].map(String::from);
        let out = self.run("inspect", &args, ENGINE_TIMEOUT)?;
        if !out.status.success() {
            if says_no_such(&out.stderr) {
                return Ok(None);
            }
            return Err(self.classify("inspect", &out));
        }
        let list: Vec<Inspected> = serde_json::from_slice(&out.stdout)
            .map_err(|e| self.failed("inspect", format!("cannot read its answer: {e}")))?;
        let Some(found) = list.into_iter().next() else {
            return Ok(None);
        };
        let labels = found.config.labels.unwrap_or_default();
        refuse_foreign("container", name.as_str(), &labels, name)?;
        let state = found.state;
        Ok(Some(Found {
            id: found.id,
            running: state.running,
            pid: (state.running && state.pid > 0).then_some(state.pid as u32),
            exit_code: (!state.running && state.status == "exited").then_some(state.exit_code),
            status: state.status,
            launch: labels.get(LABEL_LAUNCH).cloned(),
        }))
    }

    /// Starts the launch's container: its variables written, its volume made (with labels)
    /// when it has none yet, and a stopped container of the same name replaced. A running one is
    /// left running and returned as it is: the caller asked for what already runs.
    pub fn start(&self, launch: &ContainerLaunch) -> Result<Found, ContainerError> {
        let args = run_args(self, launch)?;
        self.check_source(&launch.source)?;
        match self.find(&launch.name)? {
            Some(found) if found.running => return Ok(found),
            Some(found) => self.remove_id(&found.id)?,
            None => {}
        }
        write_env(launch)?;
        if launch.volume.is_some() {
            self.create_volume(&launch.name)?;
        }
        let out = self.run("run", &args, RUN_TIMEOUT)?;
        if !out.status.success() {
            let error = self.classify("run", &out);
            // A container made but not started (a runtime's refusal) holds the name.
            let _ = self.remove(&launch.name);
            return Err(error);
        }
        self.find(&launch.name)?
            .ok_or_else(|| ContainerError::Gone {
                name: launch.name.to_string(),
            })
    }

    /// The whole command line (the engine's program first) that runs the launch's container
    /// attached: `run -i --rm`, its standard input and output the caller's, for an agent whose
    /// protocol is its stdio (ACP). Made ready as [`start`](Self::start) would (the source checked,
    /// the variables written, the volume made) and whatever held the name removed. The engine
    /// removes the container when its program ends; a client killed with SIGKILL leaves it
    /// running (measured with podman 4.3.1: its stdin never closes), so the caller removes it by
    /// name when its holder is gone.
    pub fn attached_command(
        &self,
        launch: &ContainerLaunch,
    ) -> Result<Vec<String>, ContainerError> {
        let mut args = run_args(self, launch)?;
        self.check_source(&launch.source)?;
        self.remove(&launch.name)?;
        write_env(launch)?;
        if launch.volume.is_some() {
            self.create_volume(&launch.name)?;
        }
        // `run -d` becomes `run -i --rm`: attached, stdin kept open, removed when it ends.
        args.splice(1..2, ["-i".to_string(), "--rm".to_string()]);
        let cmd = self.command(&args);
        let mut all = vec![cmd.get_program().to_string_lossy().into_owned()];
        all.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
        Ok(all)
    }

    /// Makes the container's data volume, labelled with its owner; nothing when it is there.
    /// Another state home's volume of that name is refused, never mounted.
    fn create_volume(&self, name: &ContainerName) -> Result<(), ContainerError> {
        if self.owned_volume(name)? {
            return Ok(());
        }
        let mut args = vec!["volume".to_string(), "create".to_string()];
        for (key, value) in name.owner_labels() {
            args.push(format!("--label={key}={value}"));
        }
        args.push(name.volume());
        let out = self.run("volume create", &args, ENGINE_TIMEOUT)?;
        let text = String::from_utf8_lossy(&out.stderr);
        if out.status.success() || text.contains("already exists") {
            return Ok(());
        }
        Err(self.classify("volume create", &out))
    }

    /// Stops the container (its main process gets SIGTERM, then SIGKILL after `grace`); nothing
    /// when it is gone or stopped. It stays, with its logs, until [`remove`](Self::remove).
    /// Another state home's of that name is refused (see [`find`](Self::find)).
    pub fn stop(&self, name: &ContainerName, grace: Duration) -> Result<(), ContainerError> {
        let Some(found) = self.find(name)? else {
            return Ok(());
        };
        // By id: the container looked at, not a later one of the same name.
        let args = vec![
            "stop".to_string(),
            format!("--time={}", grace.as_secs()),
            found.id,
        ];
        let out = self.run("stop", &args, grace + ENGINE_TIMEOUT)?;
        if out.status.success() || says_no_such(&out.stderr) {
            return Ok(());
        }
        Err(self.classify("stop", &out))
    }

    /// Removes the container, running or not, whichever launch it is of; its volume stays.
    /// Nothing when it is gone; another state home's of that name is refused and left alone
    /// (see [`find`](Self::find)).
    pub fn remove(&self, name: &ContainerName) -> Result<(), ContainerError> {
        match self.find(name)? {
            Some(found) => self.remove_id(&found.id),
            None => Ok(()),
        }
    }

    /// Removes the container of launch `launch` only: one of another launch of the same name
    /// (a restore's, started since that launch was found dead), or one that names no launch, is
    /// left alone. Whether it removed one; another state home's is refused as by
    /// [`remove`](Self::remove).
    pub fn remove_launch(
        &self,
        name: &ContainerName,
        launch: &str,
    ) -> Result<bool, ContainerError> {
        match self.find(name)? {
            Some(found) if found.launch.as_deref() == Some(launch) => {
                self.remove_id(&found.id)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Removes the container of engine id `id` (the one [`find`](Self::find) looked at, never a
    /// later one that took its name); nothing when it is gone.
    fn remove_id(&self, id: &str) -> Result<(), ContainerError> {
        let args: Vec<String> = match self.kind() {
            EngineKind::Podman => ["rm", "--force", "--time=2", id].map(String::from).to_vec(),
            // docker rm has no --time: --force kills at once.
            EngineKind::Docker => ["rm", "--force", id].map(String::from).to_vec(),
        };
        let out = self.run("rm", &args, ENGINE_TIMEOUT)?;
        if out.status.success() || says_no_such(&out.stderr) {
            return Ok(());
        }
        Err(self.classify("rm", &out))
    }

    /// Removes the container's data volume (`ao kill --purge`): the agent's conversations go
    /// with it. Nothing when it is gone; refused by the engine while a container uses it, and
    /// by ao when it is another state home's (its labels say whose).
    pub fn remove_volume(&self, name: &ContainerName) -> Result<(), ContainerError> {
        if !self.owned_volume(name)? {
            return Ok(());
        }
        let args = ["volume", "rm", &name.volume()].map(String::from);
        let out = self.run("volume rm", &args, ENGINE_TIMEOUT)?;
        if out.status.success() || says_no_such(&out.stderr) {
            return Ok(());
        }
        Err(self.classify("volume rm", &out))
    }

    /// The last `lines` lines the container's program wrote (standard output and error), for an
    /// error that says why it ended; empty when the engine has none.
    pub fn logs(&self, name: &ContainerName, lines: u32) -> String {
        let args = ["logs", &format!("--tail={lines}"), name.as_str()].map(String::from);
        match self.run("logs", &args, ENGINE_TIMEOUT) {
            Ok(out) => {
                let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.push_str(&String::from_utf8_lossy(&out.stderr));
                text.trim().to_string()
            }
            Err(_) => String::new(),
        }
    }

    /// Whether the container's data volume is there, and refused when it is another state
    /// home's.
    fn owned_volume(&self, name: &ContainerName) -> Result<bool, ContainerError> {
        let volume = name.volume();
        let args = ["volume", "inspect", &volume].map(String::from);
        let out = self.run("volume inspect", &args, ENGINE_TIMEOUT)?;
        if !out.status.success() {
            if says_no_such(&out.stderr) {
                return Ok(false);
            }
            return Err(self.classify("volume inspect", &out));
        }
        let list: Vec<InspectedVolume> = serde_json::from_slice(&out.stdout)
            .map_err(|e| self.failed("volume inspect", format!("cannot read its answer: {e}")))?;
        let Some(found) = list.into_iter().next() else {
            return Ok(false);
        };
        refuse_foreign("volume", &volume, &found.labels.unwrap_or_default(), name)?;
        Ok(true)
    }

    /// Whether the container's data volume is there.
    pub fn volume_exists(&self, name: &ContainerName) -> Result<bool, ContainerError> {
        let args = ["volume", "inspect", &name.volume()].map(String::from);
        let out = self.run("volume inspect", &args, ENGINE_TIMEOUT)?;
        if out.status.success() {
            return Ok(true);
        }
        if says_no_such(&out.stderr) {
            return Ok(false);
        }
        Err(self.classify("volume inspect", &out))
    }

    /// Runs `argv` once in a throw-away container of `source`, without a network, and returns
    /// the first line it prints: `ao doctor`'s check that the agent's program is in the image
    /// (its `--version`).
    pub fn run_once(
        &self,
        source: &Source,
        ulimits: Ulimits,
        argv: &[String],
        timeout: Duration,
    ) -> Result<String, ContainerError> {
        self.check_source(source)?;
        let mut args: Vec<String> = ["run", "--rm", "--network=none", "--cap-drop=all"]
            .map(String::from)
            .to_vec();
        if let Some(n) = ulimits.nofile {
            args.push(format!("--ulimit=nofile={n}:{n}"));
        }
        if let Some(n) = ulimits.nproc {
            args.push(format!("--ulimit=nproc={n}:{n}"));
        }
        match source {
            Source::Image(image) => args.push(image.clone()),
            Source::Rootfs(dir) => {
                args.push("--rootfs".into());
                args.push(format!("{}:O", dir.display()));
            }
        }
        args.extend(argv.iter().cloned());
        let out = self.run_ok("run", &args, timeout)?;
        Ok(first_line(&out.stdout))
    }
}

fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::home::StateHome;

    /// An engine that is a script: it prints `stdout` and `stderr` and exits with `code`.
    fn scripted(dir: &std::path::Path, stdout: &str, stderr: &str, code: i32) -> Engine {
        let path = dir.join("engine");
        std::fs::write(
            &path,
            format!("#!/bin/sh\nprintf '%s' '{stdout}'\nprintf '%s' '{stderr}' >&2\nexit {code}\n"),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Engine::at(EngineKind::Podman, path)
    }

    #[test]
    fn a_container_is_found_by_name_and_labels_or_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let name = ContainerName::for_project(&StateHome::at("/h"), "web");
        let json = r#"[{"Id":"abc","State":{"Status":"running","Running":true,"Pid":42},"Config":{"Labels":{"ao.home":"/h","ao.project":"web"}}}]"#;
        let found = scripted(tmp.path(), json, "", 0)
            .find(&name)
            .unwrap()
            .unwrap();
        assert_eq!(
            found,
            Found {
                id: "abc".into(),
                running: true,
                status: "running".into(),
                pid: Some(42),
                exit_code: None,
                launch: None,
            }
        );
        let theirs = json.replace("\"/h\"", "\"/other\"");
        let e = scripted(tmp.path(), &theirs, "", 0)
            .find(&name)
            .unwrap_err();
        assert!(e.to_string().contains("ao.home=/other"), "{e}");
        let gone = scripted(tmp.path(), "[]", "Error: no such container", 125);
        assert_eq!(gone.find(&name).unwrap(), None);
        let broken = scripted(tmp.path(), "", "Error: database is locked", 125);
        assert!(broken
            .find(&name)
            .unwrap_err()
            .to_string()
            .contains("database is locked"));
    }

    /// An engine that is a script answering every `inspect` with `inspected` and every other
    /// command with success, and writing each command line to `dir/calls`.
    fn answering(dir: &std::path::Path, inspected: &str) -> Engine {
        let path = dir.join("engine");
        let calls = dir.join("calls");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho \"$*\" >> '{}'\ncase \"$2\" in inspect) printf '%s' '{inspected}';; \
                 esac\nexit 0\n",
                calls.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        Engine::at(EngineKind::Podman, path)
    }

    fn calls(dir: &std::path::Path) -> Vec<String> {
        std::fs::read_to_string(dir.join("calls"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    #[test]
    fn a_dead_launch_removes_its_own_container_and_never_a_later_launchs() {
        let name = ContainerName::for_session(&StateHome::at("/h"), "web", "s1");
        let of = |launch: &str| {
            format!(
                r#"[{{"Id":"id-{launch}","State":{{"Status":"running","Running":true,"Pid":42}},"Config":{{"Labels":{{"ao.home":"/h","ao.project":"web","ao.launch":"{launch}"}}}}}}]"#
            )
        };
        // A restore started launch L2 since L1 was found dead: L1's reap leaves it.
        let tmp = tempfile::tempdir().unwrap();
        assert!(!answering(tmp.path(), &of("L2"))
            .remove_launch(&name, "L1")
            .unwrap());
        assert_eq!(calls(tmp.path()), [format!("container inspect {name}")]);
        // Its own container goes, by the id looked at.
        let tmp = tempfile::tempdir().unwrap();
        assert!(answering(tmp.path(), &of("L1"))
            .remove_launch(&name, "L1")
            .unwrap());
        assert_eq!(
            calls(tmp.path()),
            [
                format!("container inspect {name}"),
                "rm --force --time=2 id-L1".to_string()
            ]
        );
        // A kill or a restore removes whichever launch is there.
        let tmp = tempfile::tempdir().unwrap();
        answering(tmp.path(), &of("L2")).remove(&name).unwrap();
        assert_eq!(calls(tmp.path())[1], "rm --force --time=2 id-L2");
    }

    #[test]
    fn another_homes_container_or_volume_is_never_removed() {
        let name = ContainerName::for_project(&StateHome::at("/h"), "web");
        let theirs = r#"[{"Id":"theirs","Name":"x","Labels":{"ao.home":"/other","ao.project":"web"},"State":{"Status":"exited","Running":false},"Config":{"Labels":{"ao.home":"/other","ao.project":"web"}}}]"#;
        let tmp = tempfile::tempdir().unwrap();
        let engine = answering(tmp.path(), theirs);
        let e = engine.remove(&name).unwrap_err();
        assert!(e.to_string().contains("ao.home=/other"), "{e}");
        let e = engine.remove_volume(&name).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("a volume named {}", name.volume())),
            "{e}"
        );
        assert!(engine.stop(&name, Duration::ZERO).is_err());
        assert!(engine.remove_launch(&name, "L1").is_err());
        // Nothing but looks: no rm, no stop.
        assert!(
            calls(tmp.path()).iter().all(|c| c.contains(" inspect ")),
            "{:?}",
            calls(tmp.path())
        );
        // An unlabelled one (made by hand) is not ao's either.
        let tmp = tempfile::tempdir().unwrap();
        let e = answering(tmp.path(), r#"[{"Name":"x","Labels":null}]"#)
            .remove_volume(&name)
            .unwrap_err();
        assert!(e.to_string().contains("ao.home=nothing"), "{e}");
        // Its own volume goes.
        let tmp = tempfile::tempdir().unwrap();
        let ours = r#"[{"Name":"x","Labels":{"ao.home":"/h","ao.project":"web"}}]"#;
        answering(tmp.path(), ours).remove_volume(&name).unwrap();
        assert_eq!(calls(tmp.path())[1], format!("volume rm {}", name.volume()));
    }

    #[test]
    fn a_missing_image_says_how_to_pull_it() {
        let tmp = tempfile::tempdir().unwrap();
        let e = scripted(tmp.path(), "", "", 1)
            .check_source(&Source::Image("ghcr.io/acme/agent:1.4".into()))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "the image ghcr.io/acme/agent:1.4 is not on this machine; pull it first: podman pull \
             ghcr.io/acme/agent:1.4"
        );
        let e = scripted(tmp.path(), "", "", 0)
            .check_source(&Source::Rootfs(tmp.path().join("nope")))
            .unwrap_err();
        assert!(e.to_string().contains("is not a directory"), "{e}");
    }
}
