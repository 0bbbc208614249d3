//! Workspaces, end to end: each session of a git project works in a git work tree of its own, on
//! its own branch, and `ao kill` removes a work tree only when that loses nothing (or with
//! `--force`); a `workspace: none` project works in its own directory.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::path::Path;

use ao_test_support::{git, script, workspace_of, Scenario, Turn, World};
use serde_json::json;

/// A script whose session writes `file` through the bash tool, then says it is done.
fn writes(marker: &str, file: &str) -> ao_test_support::Script {
    script(marker)
        .turn(Turn::tool_call(
            "bash",
            json!({"command": format!("echo {marker} > {file}"), "description": format!("Write {file}")}),
        ))
        .turn(Turn::text("Done."))
}

fn branches(repo: &Path) -> Vec<String> {
    git(repo, &["branch", "--format=%(refname:short)"])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn two_sessions_work_in_their_own_work_trees_and_kill_keeps_what_holds_work() {
    let scenario = Scenario::new()
        .script(writes("alpha", "alpha.txt"))
        .script(writes("beta", "beta.txt"))
        .script(script("hello").turn(Turn::text("Nothing to write.")));
    let mut w = World::new(scenario);
    let project = w.project("demo", &["permission: allow"]);
    let a = w.spawn(&["demo", "alpha", "--runtime", "process"]);
    let b = w.spawn(&["demo", "beta", "--runtime", "tmux"]);
    let sa = w.wait_activity(&a, "ready");
    let sb = w.wait_activity(&b, "ready");

    // Two work trees under the state home, on two branches.
    let (wa, wb) = (workspace_of(&sa), workspace_of(&sb));
    let trees = w.home().join("worktrees/demo").canonicalize().unwrap();
    assert_eq!(wa.parent(), Some(trees.as_path()), "{sa:#}");
    assert_eq!(wb.parent(), Some(trees.as_path()), "{sb:#}");
    assert_ne!(wa, wb);
    assert_eq!(
        (sa["branch"].as_str(), sb["branch"].as_str()),
        (Some("ao/agent-1"), Some("ao/agent-2"))
    );
    assert_eq!(git(&wa, &["branch", "--show-current"]).trim(), "ao/agent-1");
    assert_eq!(git(&wb, &["branch", "--show-current"]).trim(), "ao/agent-2");

    // Each wrote its own file in its own tree, and nothing else changed anywhere.
    assert_eq!(
        std::fs::read_to_string(wa.join("alpha.txt")).unwrap(),
        "alpha\n"
    );
    assert_eq!(
        std::fs::read_to_string(wb.join("beta.txt")).unwrap(),
        "beta\n"
    );
    assert!(!wa.join("beta.txt").exists());
    assert!(!wb.join("alpha.txt").exists());
    for f in ["alpha.txt", "beta.txt"] {
        assert!(!project.join(f).exists(), "{f} leaked into the project dir");
    }
    assert_eq!(git(&project, &["status", "--porcelain"]), "");
    assert_eq!(git(&project, &["branch", "--show-current"]).trim(), "main");

    // The doctor sees the project's server answering.
    let doctor = w.ao(&["doctor"]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains("ok   server http://127.0.0.1:"), "{text}");
    assert!(text.contains(" answers, used by demo"), "{text}");
    assert_eq!(doctor.status.code(), Some(0), "{text}");

    // An uncommitted change: the work tree stays, and ao says where and how to delete it.
    let out = w.ao_ok(&["kill", &a]);
    assert_eq!(
        out,
        format!(
            "demo/agent-1: stopped; kept its work tree {} (1 uncommitted change)\n  commit or copy \
             what you need, then `ao kill --force demo/agent-1` deletes it\n",
            wa.display()
        )
    );
    assert_eq!(
        std::fs::read_to_string(wa.join("alpha.txt")).unwrap(),
        "alpha\n"
    );
    assert!(branches(&project).contains(&"ao/agent-1".to_string()));

    // --force deletes it, and with nothing committed on it, its branch too.
    let out = w.ao_ok(&["kill", "--force", &a]);
    assert_eq!(
        out,
        format!(
            "demo/agent-1: stopped; deleted its work tree {} and 1 uncommitted change\n",
            wa.display()
        )
    );
    assert!(!wa.exists());
    assert!(!branches(&project).contains(&"ao/agent-1".to_string()));

    // A commit that is on no other branch: kept, too.
    git(&wb, &["add", "beta.txt"]);
    git(&wb, &["commit", "-q", "-m", "beta"]);
    let out = w.ao_ok(&["kill", &b]);
    assert!(
        out.starts_with(&format!(
            "demo/agent-2: stopped; kept its work tree {} (1 commit on no other branch)\n",
            wb.display()
        )),
        "{out}"
    );
    assert!(wb.join("beta.txt").exists());
    // Once merged, nothing would be lost: the next kill removes it.
    git(&project, &["merge", "-q", "--ff-only", "ao/agent-2"]);
    let out = w.ao_ok(&["kill", &b]);
    assert_eq!(
        out,
        "demo/agent-2: stopped; removed its work tree and branch ao/agent-2\n"
    );
    assert!(!wb.exists());

    // A session that changed nothing: its work tree and branch go at once.
    let c = w.spawn(&["demo", "hello", "--runtime", "process"]);
    let sc = w.wait_activity(&c, "ready");
    let wc = workspace_of(&sc);
    assert!(wc.is_dir());
    let out = w.ao_ok(&["kill", &c]);
    assert_eq!(
        out,
        "demo/agent-3: stopped; removed its work tree and branch ao/agent-3\n"
    );
    assert!(!wc.exists());
    assert_eq!(branches(&project), ["main"]);
    // Killed again, it says the work tree was already gone rather than removing it twice.
    let out = w.ao_ok(&["kill", &c]);
    assert_eq!(
        out,
        "demo/agent-3: stopped; its work tree was already gone\n"
    );
}

#[test]
fn a_project_without_work_trees_runs_in_its_own_directory() {
    let scenario = Scenario::new().script(writes("gamma", "gamma.txt"));
    let mut w = World::new(scenario);
    let project = w.project("plain", &[]);
    w.set_config_text(&format!(
        "projects:\n  plain:\n    path: projects/plain\n    workspace: none\n    agentConfig:\n      \
         model: mock/mock-1\n      permission: allow\n      opencodeConfig: {}\n",
        w.provider_config()
    ));
    let id = w.spawn(&["plain", "gamma", "--runtime", "process"]);
    let s = w.wait_activity(&id, "ready");
    assert_eq!(workspace_of(&s), project.canonicalize().unwrap());
    assert!(s["branch"].is_null(), "{s:#}");
    assert_eq!(
        std::fs::read_to_string(project.join("gamma.txt")).unwrap(),
        "gamma\n"
    );
    assert_eq!(branches(&project), ["main"]);

    // Killing never touches the project's own files.
    let out = w.ao_ok(&["kill", &id]);
    assert_eq!(out, "plain/agent-1: stopped\n");
    assert!(project.join("gamma.txt").exists());
}

#[test]
fn names_that_would_make_a_bad_branch_or_tmux_session_are_refused() {
    let mut w = World::new(Scenario::new());
    let project = w.project("demo", &[]);
    for name in ["bad.name", "feature/x", "-x", "a b", "x:y"] {
        let out = w.ao(&["spawn", "demo", "hi", &format!("--name={name}")]);
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&format!("session name {name:?}: use only letters, digits")),
            "{name}: {err}"
        );
    }
    // A branch already there (an earlier session's, or the person's own) is never reused.
    git(&project, &["branch", "ao/taken"]);
    let out = w.ao(&["spawn", "demo", "hi", "--name", "taken"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("branch ao/taken already exists") && err.contains("pick another --name"),
        "{err}"
    );
    // Nothing half-made is left behind.
    assert_eq!(w.status(None), Vec::<serde_json::Value>::new());
    assert!(!w.home().join("worktrees/demo/taken").exists());
}
