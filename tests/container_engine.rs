//! The container library on the real podman: a project's container started from the host's own
//! root (`rootfs: /`, overlaid) on the host's network, found again by name and labels, its
//! password nowhere but in the program's environment, its writes outside the work tree kept from
//! the host, stopped with its volume kept, started again on the same data, and purged.
//!
//! Podman must work here (scripts/test installs podman and runc from Debian, as tmux). Where it
//! cannot, these tests fail saying why, unless `AO_TEST_SKIP_CONTAINERS` is set (scripts/test sets
//! it, and says so loudly, when its probe container does not run).
//!
//! The containers use the host's network namespace (the tests' own, loopback only) and `none`:
//! nothing here may reach beyond 127.0.0.1. Each test removes its container and volume by id at
//! the end, even when it fails.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ao_core::container::{
    work_mounts, ContainerError, ContainerLaunch, ContainerName, Engine, EngineKind, EnvName,
    Network, Source, Ulimits,
};
use ao_core::home::StateHome;
use ao_test_support::{free_port, wait_until, ArgvScanner};

/// What this machine's runtime needs (docs/containers.md): runc, and limits at or below the
/// host's hard ones, since root here cannot raise them.
const ULIMITS: Ulimits = Ulimits {
    nofile: Some(1024),
    nproc: Some(1000),
};

/// The engine, or `None` (said on stderr) when the suite was told to skip the container tests.
fn podman() -> Option<Engine> {
    let skip = std::env::var_os("AO_TEST_SKIP_CONTAINERS").is_some();
    match Engine::on_path(Some(EngineKind::Podman)) {
        Ok(engine) => Some(engine.with_runtime(Some("runc".into()))),
        Err(e) if skip => {
            eprintln!("SKIPPED: the container tests do not run here ({e}; AO_TEST_SKIP_CONTAINERS is set)");
            None
        }
        Err(e) => panic!(
            "{e}; the container tests need podman and runc (scripts/test installs them), or set \
             AO_TEST_SKIP_CONTAINERS=1 to skip them"
        ),
    }
}

/// Removes a test's container and volume by id and name at the end, however the test ends.
struct Cleanup {
    engine: Engine,
    name: ContainerName,
    ids: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = Command::new(self.engine.program())
                .args(["rm", "--force", "--time=0", id])
                .output();
        }
        let _ = self.engine.remove(&self.name);
        let _ = self.engine.remove_volume(&self.name);
    }
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

#[test]
fn a_container_is_started_found_stopped_restarted_on_its_volume_and_purged() {
    let Some(engine) = podman() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let home = StateHome::at(tmp.path().join("home"));
    let work = home.worktrees_dir("boxed");
    std::fs::create_dir_all(&work).unwrap();
    let name = ContainerName::for_project(&home, "boxed");
    let mut cleanup = Cleanup {
        engine: engine.clone(),
        name: name.clone(),
        ids: Vec::new(),
    };

    let port = free_port();
    let password = format!("pw-{}-{}", std::process::id(), port);
    let outside = PathBuf::from(format!("/etc/ao-container-test-{port}"));
    // The program shows what it was given, writes inside and outside its work tree and into its
    // volume, and serves HTTP on the host's loopback.
    let script = format!(
        "printf %s \"$OPENCODE_SERVER_PASSWORD\" | sha256sum > {work}/password.sha; \
         printf %s \"$AO_TEST_PASSED\" > {work}/passed; \
         if [ -f /var/lib/ao-test/mark ]; then cat /var/lib/ao-test/mark > {work}/seen; fi; echo kept > /var/lib/ao-test/mark; \
         echo x > {outside}; \
         exec python3 -m http.server {port} --bind 127.0.0.1 --directory {work}",
        work = work.display(),
        outside = outside.display(),
    );
    let launch = ContainerLaunch {
        name: name.clone(),
        source: Source::Rootfs("/".into()),
        argv: vec!["sh".into(), "-c".into(), script],
        workdir: work.clone(),
        work: work_mounts(&work, &work),
        mounts: vec![],
        env: vec![
            (
                EnvName::parse("OPENCODE_SERVER_PASSWORD").unwrap(),
                password.clone(),
            ),
            (EnvName::parse("AO_TEST_PASSED").unwrap(), "through".into()),
        ],
        network: Network::Host,
        port: Some(port),
        volume: Some("/var/lib/ao-test".into()),
        ulimits: ULIMITS,
        env_dir: home.root().join("containers").join(name.as_str()),
        user: Some((
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw(),
        )),
    };

    let pw = password.clone();
    let scanner = ArgvScanner::start(move || vec![pw.clone()]);
    let started = engine.start(&launch).unwrap();
    cleanup.ids.push(started.id.clone());
    assert!(started.running, "{started:?}");
    let url = format!("http://127.0.0.1:{port}/passed");
    let answer = wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
        reqwest::blocking::get(&url)
            .and_then(|r| r.text())
            .map_err(|e| format!("the container's server does not answer: {e}"))
    });
    let (scans, found) = scanner.finish();
    assert!(scans > 0);
    assert!(found.is_empty(), "the password is in an argv: {found:?}");

    // Every variable arrived, the password exactly.
    assert_eq!(answer, "through");
    let sha = Command::new("sh")
        .args(["-c", "printf %s \"$1\" | sha256sum", "sh", &password])
        .output()
        .unwrap();
    assert_eq!(
        read(&work.join("password.sha")).unwrap(),
        String::from_utf8_lossy(&sha.stdout)
    );
    // The work tree is the host's; the rest of the file system is not.
    assert!(
        !outside.exists(),
        "a write to {} reached the host",
        outside.display()
    );
    assert!(!work.join("seen").exists(), "a fresh volume held data");

    // Found again by name, its labels this state home's; the password is not in its config.
    let found = engine.find(&name).unwrap().unwrap();
    assert_eq!(
        (found.id.as_str(), found.running),
        (started.id.as_str(), true)
    );
    let inspect = Command::new(engine.program())
        .args(["container", "inspect", &started.id])
        .output()
        .unwrap();
    let inspect = String::from_utf8_lossy(&inspect.stdout);
    assert!(
        inspect.contains(&format!("\"ao.home\": \"{}\"", home.root().display())),
        "{inspect}"
    );
    assert!(inspect.contains("\"ao.project\": \"boxed\""));
    assert!(
        !inspect.contains(&password),
        "the password is in inspect: {inspect}"
    );
    // Nor in the runtime's copy of it (config.json, which podman writes world-readable).
    let oci = PathBuf::from(format!(
        "/var/lib/containers/storage/overlay-containers/{}/userdata/config.json",
        started.id
    ));
    if let Ok(config) = std::fs::read_to_string(&oci) {
        assert!(
            !config.contains(&password),
            "the password is in {}",
            oci.display()
        );
    }
    // Another state home finds nothing of it.
    let other = ContainerName::for_project(&StateHome::at(tmp.path().join("other")), "boxed");
    assert_eq!(engine.find(&other).unwrap(), None);

    // Stopped: still there, not running, its volume kept.
    engine.stop(&name, Duration::from_secs(5)).unwrap();
    let stopped = engine.find(&name).unwrap().unwrap();
    assert!(!stopped.running, "{stopped:?}");
    assert!(engine.volume_exists(&name).unwrap());
    engine.stop(&name, Duration::from_secs(5)).unwrap();

    // Started again (a restore): a new container on the same volume.
    let again = engine.start(&launch).unwrap();
    cleanup.ids.push(again.id.clone());
    assert_ne!(again.id, started.id);
    wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
        read(&work.join("seen")).and_then(|s| {
            (s.trim() == "kept")
                .then_some(())
                .ok_or(format!("seen: {s:?}"))
        })
    });
    // Starting what runs returns it as it is.
    assert_eq!(engine.start(&launch).unwrap().id, again.id);

    // Gone by hand (`podman rm`): found as gone, and removing it again is nothing.
    engine.remove(&name).unwrap();
    assert_eq!(engine.find(&name).unwrap(), None);
    engine.remove(&name).unwrap();
    assert!(engine.volume_exists(&name).unwrap());
    // Purged: the volume goes.
    engine.remove_volume(&name).unwrap();
    assert!(!engine.volume_exists(&name).unwrap());
    engine.remove_volume(&name).unwrap();
}

#[test]
fn the_doctor_runs_a_program_once_in_the_image_and_names_a_missing_one() {
    let Some(engine) = podman() else { return };
    let line = engine
        .run_once(
            &Source::Rootfs("/".into()),
            ULIMITS,
            &["sh".into(), "-c".into(), "echo; echo 'tool 1.2.3'".into()],
            Duration::from_secs(60),
        )
        .unwrap();
    assert_eq!(line, "tool 1.2.3");
    let missing = Source::Image("localhost/ao-test-surely-not-here:0".into());
    let e = engine.check_source(&missing).unwrap_err();
    assert!(matches!(e, ContainerError::ImageMissing { .. }), "{e}");
    assert!(
        e.to_string()
            .ends_with("pull it first: podman pull localhost/ao-test-surely-not-here:0"),
        "{e}"
    );
    // A program that is not there fails with the engine's words.
    let e = engine
        .run_once(
            &Source::Rootfs("/".into()),
            ULIMITS,
            &["ao-surely-no-such-program".into()],
            Duration::from_secs(60),
        )
        .unwrap_err();
    assert!(e.to_string().contains("ao-surely-no-such-program"), "{e}");
    assert!(engine.version().unwrap().starts_with("podman version"));
}

#[test]
fn ao_doctor_checks_the_engine_the_rootfs_and_the_agents_program_in_it() {
    if podman().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("p")).unwrap();
    let config = tmp.path().join("agent-orchestrator.yaml");
    std::fs::write(
        &config,
        "projects:\n  boxed:\n    path: p\n    runtime: process\n    container:\n      rootfs: /\n      \
         runtime: runc\n      network: host\n      ulimits: {nofile: 1024, nproc: 1000}\n  \
         pulled:\n    path: p\n    runtime: process\n    container:\n      \
         image: localhost/ao-test-surely-not-here:0\n",
    )
    .unwrap();
    let out = Command::new(ao_test_support::ao_bin())
        .args(["doctor", "--config"])
        .arg(&config)
        .env("AO_HOME", tmp.path().join("home"))
        .env("AO_OPENCODE_BIN", ao_test_support::opencode_bin())
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = |start: &str| {
        stdout
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line {start:?} in:\n{stdout}"))
            .to_string()
    };
    assert!(line("ok   container engine podman: podman version").contains("/podman)"));
    // The agent's program, run once inside: the host's own opencode, through the overlaid root.
    let bin = std::fs::canonicalize(ao_test_support::opencode_bin()).unwrap();
    let boxed = line("ok   container boxed: rootfs / (overlaid):");
    assert!(
        boxed.contains("--version` prints \"1.18.33\""),
        "{boxed} (opencode at {})",
        bin.display()
    );
    assert!(line("FAIL container pulled: the image localhost/ao-test-surely-not-here:0 is not on this machine")
        .ends_with("pull it first: podman pull localhost/ao-test-surely-not-here:0"));
    assert_eq!(out.status.code(), Some(1), "{stdout}");
}

#[test]
fn docker_without_its_daemon_is_said_to_be_down() {
    // This machine has the docker client and no daemon: the fault as a person meets it.
    let Ok(docker) = Engine::on_path(Some(EngineKind::Docker)) else {
        eprintln!("SKIPPED: no docker client on PATH; the daemon-down case is not tested here");
        return;
    };
    if let Ok(v) = docker.version() {
        eprintln!("SKIPPED: docker's daemon runs here ({v}); the daemon-down case is not tested");
        return;
    }
    let name = ContainerName::for_project(&StateHome::at("/nonexistent/ao-home"), "boxed");
    for e in [
        docker.version().unwrap_err(),
        docker.find(&name).unwrap_err(),
        docker
            .check_source(&Source::Image("img".into()))
            .unwrap_err(),
    ] {
        assert!(matches!(e, ContainerError::DaemonDown { .. }), "{e:?}");
        assert!(e.to_string().contains("start it"), "{e}");
    }
}
