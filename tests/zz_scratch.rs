//! Scratch (not committed): a prepared world kept alive for manual measurements.
use ao_test_support::{script, Scenario, Turn, World};
use std::process::Stdio;

#[test]
#[ignore]
fn scratch_world() {
    let projects: usize = std::env::var("SCRATCH_PROJECTS").unwrap().parse().unwrap();
    let sessions: usize = std::env::var("SCRATCH_SESSIONS").unwrap().parse().unwrap();
    let mut w = World::new(
        Scenario::new().script(script("bench").turn(Turn::text("Benchmarked.").usage(110, 7))),
    );
    let names: Vec<String> = (0..projects).map(|i| format!("p{i}")).collect();
    for p in &names {
        w.project(p, &[]);
    }
    let text = std::fs::read_to_string(w.config_path()).unwrap();
    w.set_config_text(&text.replace("    agentConfig:", "    workspace: none\n    agentConfig:"));
    let cmd = w.ao_command(&["status"]);
    let mut env = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            env.push_str(&format!(
                "export {}={}\n",
                k.to_string_lossy(),
                shlex::try_quote(&v.to_string_lossy()).unwrap()
            ));
        }
    }
    env.push_str(&format!(
        "cd {}\n",
        w.config_path().parent().unwrap().display()
    ));
    std::fs::write("/tmp/scratch-env.sh", env).unwrap();
    for p in &names {
        let mut left = sessions;
        let mut ids = vec![];
        while left > 0 {
            let b = left.min(6);
            let ch: Vec<_> = (0..b)
                .map(|_| {
                    w.ao_command(&["spawn", p, "bench", "--runtime", "process"])
                        .stdin(Stdio::null())
                        .stdout(Stdio::piped())
                        .spawn()
                        .unwrap()
                })
                .collect();
            for c in ch {
                ids.push(
                    String::from_utf8_lossy(&c.wait_with_output().unwrap().stdout)
                        .trim()
                        .to_string(),
                );
            }
            left -= b;
        }
        for id in &ids {
            w.ao_ok(&["wait", id, "--until", "ready", "--timeout", "120"]);
        }
    }
    std::fs::write("/tmp/scratch-ready", "").unwrap();
    while std::path::Path::new("/tmp/scratch-ready").exists() {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

#[test]
#[ignore]
fn scratch_first_status() {
    let scenario = Scenario::new().script(script("write a file").turn(Turn::tool_call(
        "bash",
        serde_json::json!({"command": "echo hi > out.txt", "description": "Write out.txt"}),
    )));
    let mut w = World::new(scenario);
    w.project("demo", &["permission: {bash: ask}"]);
    for runtime in ["tmux", "process", "tmux"] {
        let t = std::time::Instant::now();
        let id = w.spawn(&["demo", "write a file", "--runtime", runtime]);
        println!("== {runtime} spawn {:?}", t.elapsed());
        for _ in 0..6 {
            let t = std::time::Instant::now();
            let out = w
                .ao_command(&["status", "--json", &id])
                .env("AO_TIMING", "1")
                .output()
                .unwrap();
            let s = String::from_utf8_lossy(&out.stdout);
            let act = s
                .lines()
                .find(|l| l.contains("\"activity\":"))
                .unwrap_or("")
                .trim()
                .to_string();
            println!("-- {:?} {act}", t.elapsed());
            for l in String::from_utf8_lossy(&out.stderr).lines() {
                if l.contains("request")
                    || l.contains("main")
                    || l.contains("liveness")
                    || l.contains("observe")
                    || l.contains("files")
                {
                    println!("   {l}");
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    }
}

#[test]
#[ignore]
fn scratch_patch_bumps() {
    let mut w =
        World::new(Scenario::new().script(script("bench").turn(Turn::text("Done.").usage(110, 7))));
    w.project("demo", &[]);
    let a = w.spawn(&["demo", "bench", "--runtime", "process"]);
    let ses = w.wait_activity(&a, "ready")["agent_session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (url, pw) = w.server_endpoint("demo");
    let get = |m: &str, p: &str, b: &str| {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-X",
                m,
                "-u",
                &format!("opencode:{pw}"),
                "-H",
                "content-type: application/json",
                "-d",
                b,
                &format!("{url}{p}"),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = get("GET", &format!("/session/{ses}"), "");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let patched = get("PATCH", &format!("/session/{ses}"), r#"{"title":"X"}"#);
    let after = get("GET", &format!("/session/{ses}"), "");
    let dir = w.config_path().parent().unwrap().join("projects/demo");
    let listed = get(
        "GET",
        &format!("/session?roots=true&start={t0}&directory={}", dir.display()),
        "",
    );
    println!("before {before}\npatched {patched}\nafter {after}\nlisted {listed}");
}
