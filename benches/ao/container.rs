//! `container`: OpenCode's server in a podman container (rootfs `/`, overlaid, on the host's
//! network, through `ao_agent::container`) beside the same server on the host: the time from
//! asking until `/global/health` answers, for a container made new (cold: a new container and
//! volume), made again on its kept volume after a stop (a restore), and a host process; and the
//! memory of each once it answers (the container's processes, and podman's conmon beside them).
//! Then through ao and the OpenCode plugin: `ao spawn` (no prompt) until the id, with the
//! project's container stopped (cold: `ao kill` of its last session stopped it) and running (warm),
//! beside a project on the host; and each server's memory with an idle session.
//! Needs podman and runc (scripts/test installs them); skipped, saying so, without.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ao_core::container::{
    ContainerLaunch, ContainerName, Engine, EngineKind, EnvName, Network, Source, Ulimits,
};
use ao_core::home::StateHome;
use ao_test_support::{free_port, opencode_bin, script, Scenario, Turn, World};

use crate::{mib, rss_tree};

const PASSWORD: &str = "bench-password";
const ROUNDS: usize = 3;

pub(crate) fn run() {
    println!(
        "\n## container: OpenCode's server in podman (rootfs /, host network) beside the host"
    );
    let engine = match Engine::on_path(Some(EngineKind::Podman)) {
        Ok(engine) => engine.with_runtime(Some("runc".into())),
        Err(e) => {
            println!("SKIPPED: {e}");
            return;
        }
    };
    let tmp = tempfile::tempdir().expect("temp dir");
    let home = StateHome::at(tmp.path().join("home"));
    let name = ContainerName::for_project(&home, "bench");
    let bin = std::fs::canonicalize(opencode_bin()).expect("opencode");
    let port = free_port();
    let launch = ContainerLaunch {
        name: name.clone(),
        source: Source::Rootfs("/".into()),
        argv: vec![
            bin.to_string_lossy().into_owned(),
            "serve".into(),
            "--pure".into(),
            "--hostname=127.0.0.1".into(),
            format!("--port={port}"),
        ],
        workdir: tmp.path().to_path_buf(),
        work: vec![],
        mounts: vec![],
        env: [
            ("OPENCODE_SERVER_PASSWORD", PASSWORD),
            ("XDG_DATA_HOME", "/var/lib/ao-agent/data"),
            ("XDG_CONFIG_HOME", "/var/lib/ao-agent/config"),
            ("XDG_STATE_HOME", "/var/lib/ao-agent/state"),
            ("XDG_CACHE_HOME", "/var/lib/ao-agent/cache"),
        ]
        .iter()
        .map(|(k, v)| (EnvName::parse(k).expect("name"), v.to_string()))
        .collect(),
        network: Network::Host,
        port: Some(port),
        volume: Some("/var/lib/ao-agent".into()),
        ulimits: Ulimits {
            nofile: Some(1024),
            nproc: Some(1000),
        },
        env_dir: home.root().join("containers").join(name.as_str()),
        user: None,
    };
    let cleanup = Cleanup(&engine, &name);

    let (mut cold, mut restore, mut host) = (Vec::new(), Vec::new(), Vec::new());
    let (mut container_rss, mut conmon_rss, mut host_rss) = (0, 0, 0);
    for _ in 0..ROUNDS {
        // Cold: no container, no volume.
        let _ = engine.remove(&name);
        let _ = engine.remove_volume(&name);
        let t = Instant::now();
        let found = engine.start(&launch).expect("start");
        wait_health(port);
        cold.push(t.elapsed());
        if let Some(pid) = found.pid {
            container_rss = rss_tree(pid);
            conmon_rss = parent(pid).map(rss_of).unwrap_or(0);
        }
        // A restore: stopped, then made again on the same volume.
        engine.stop(&name, Duration::from_secs(5)).expect("stop");
        let t = Instant::now();
        engine.start(&launch).expect("start again");
        wait_health(port);
        restore.push(t.elapsed());
        engine.remove(&name).expect("remove");

        let data = tmp.path().join("host-data");
        let t = Instant::now();
        let mut server = host_server(&bin, port, &data);
        wait_health(port);
        host.push(t.elapsed());
        host_rss = rss_tree(server.id());
        let _ = server.kill();
        let _ = server.wait();
    }
    drop(cleanup);
    println!(
        "until /global/health answers, cold (new container and volume): {}",
        crate::spread(&mut cold, "starts")
    );
    println!(
        "until /global/health answers, restore (a new container on the kept volume): {}",
        crate::spread(&mut restore, "starts")
    );
    println!(
        "until /global/health answers, on the host (opencode serve):     {}",
        crate::spread(&mut host, "starts")
    );
    println!(
        "RSS once it answers: container {} (+ podman's conmon {}), host server {}",
        mib(container_rss),
        mib(conmon_rss),
        mib(host_rss)
    );
    through_ao();
}

/// The box the plugin's projects get here: as the tests' (tests/container.rs).
const BOX: &str =
    "    container: {rootfs: /, engine: podman, runtime: runc, network: host, ulimits: \
                   {nofile: 1024, nproc: 1000}}\n";

/// `ao spawn` until the id in a boxed project, cold and warm, beside a project on the host; and
/// the memory of each server once a session's turn is over.
fn through_ao() {
    let mut w = World::new(
        Scenario::new().script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7))),
    );
    w.project("boxed", &[]);
    w.project("plain", &[]);
    let text = std::fs::read_to_string(w.config_path()).expect("config");
    w.set_config_text(&text.replace("  - name: boxed\n", &format!("  - name: boxed\n{BOX}")));
    let name = ContainerName::for_project(&StateHome::at(w.home()), "boxed");
    let engine = Engine::on_path(Some(EngineKind::Podman))
        .expect("podman")
        .with_runtime(Some("runc".into()));
    let _cleanup = Cleanup(&engine, &name);

    let until_id = |project: &str| {
        let t = Instant::now();
        let id = w.spawn(&[project, "--runtime", "process"]);
        (t.elapsed(), id)
    };
    let mut rows = Vec::new();
    for project in ["boxed", "plain"] {
        let (mut cold, mut warm) = (Vec::new(), Vec::new());
        for round in 0..ROUNDS {
            // Cold: nothing of the project runs (the first round: never started; then stopped by
            // the kill of its last session, its volume kept).
            let (took, first) = until_id(project);
            cold.push(took);
            let (took, _) = until_id(project);
            warm.push(took);
            if round + 1 == ROUNDS {
                w.ao_ok(&["send", &first, "bench"]);
                w.wait_activity(&first, "ready");
                // Settled: a server's memory right after a turn still holds what it allocated.
                std::thread::sleep(Duration::from_secs(5));
                let pid = w.server_process(project).pid;
                rows.push((project, rss_tree(pid)));
            }
            w.ao_ok(&["kill", project, "--force"]);
        }
        println!(
            "ao spawn until the id, {project}, cold: {}",
            crate::spread(&mut cold, "spawns")
        );
        println!(
            "ao spawn until the id, {project}, warm: {}",
            crate::spread(&mut warm, "spawns")
        );
    }
    for (project, rss) in rows {
        println!("RSS of {project}'s server (one idle session): {}", mib(rss));
    }
}

/// Removes the bench's container and volume, however the bench ends.
struct Cleanup<'a>(&'a Engine, &'a ContainerName);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self.0.remove(self.1);
        let _ = self.0.remove_volume(self.1);
    }
}

fn host_server(bin: &Path, port: u16, data: &Path) -> Child {
    Command::new(bin)
        .args([
            "serve",
            "--pure",
            "--hostname=127.0.0.1",
            &format!("--port={port}"),
        ])
        .env("OPENCODE_SERVER_PASSWORD", PASSWORD)
        .env("XDG_DATA_HOME", data.join("data"))
        .env("XDG_CONFIG_HOME", data.join("config"))
        .env("XDG_STATE_HOME", data.join("state"))
        .env("XDG_CACHE_HOME", data.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("opencode serve")
}

fn wait_health(port: u16) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("client");
    let url = format!("http://127.0.0.1:{port}/global/health");
    ao_test_support::wait_until(
        Duration::from_secs(120),
        Duration::from_millis(20),
        || match client
            .get(&url)
            .basic_auth("opencode", Some(PASSWORD))
            .send()
        {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("{url}: {}", r.status())),
            Err(e) => Err(format!("{url}: {e}")),
        },
    );
}

fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn rss_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/statm"))
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}
