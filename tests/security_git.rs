//! An agent that may only edit files cannot make ao run a program through git: ao runs git in a
//! work tree with the git directory it made for it (never the tree's own `.git` file), with
//! everything in git that runs a program switched off, and reports a tree whose `.git` no longer
//! points where ao put it instead of reading it.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ao_test_support::{git, wait_until, workspace_of, Scenario, World};
use serde_json::Value;

/// A script that records that it ran, by creating `<markers>/<name>`.
fn marker_script(dir: &Path, markers: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!("#!/bin/sh\ntouch '{}/{name}'\nexit 1\n", markers.display()),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Git config that runs a marker script from every key in git that runs a program while ao
/// counts, shows or diffs changes or removes a work tree: `core.fsmonitor`, a hooks directory
/// with every hook, `diff.external`, a diff driver (which the tree's `.gitattributes` selects),
/// and with `filter`, a clean filter (which it selects, too).
fn program_running_config(at: &Path, markers: &Path, filter: bool) -> Vec<(String, String)> {
    let scripts = at.join("scripts");
    let hooks = at.join("hooks");
    std::fs::create_dir_all(&scripts).unwrap();
    std::fs::create_dir_all(&hooks).unwrap();
    for hook in [
        "post-index-change",
        "post-checkout",
        "pre-commit",
        "post-commit",
        "reference-transaction",
        "pre-auto-gc",
        "post-rewrite",
    ] {
        marker_script(&hooks, markers, hook);
    }
    let s = |name: &str| marker_script(&scripts, markers, name).display().to_string();
    let mut config = vec![
        ("core.fsmonitor".into(), s("fsmonitor")),
        ("core.hooksPath".into(), hooks.display().to_string()),
        ("diff.external".into(), s("diff-external")),
        ("diff.evil.command".into(), s("diff-command")),
        ("diff.evil.textconv".into(), s("textconv")),
    ];
    if filter {
        config.push(("filter.evil.clean".into(), s("clean-filter")));
    }
    config
}

/// What ran so far: the markers' names.
fn ran(markers: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(markers)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn json(w: &World, args: &[&str]) -> Value {
    serde_json::from_str(&w.ao_ok(args)).unwrap_or_else(|e| panic!("ao {args:?}: {e}"))
}

#[test]
fn an_agents_files_cannot_make_git_run_a_program_for_ao() {
    let mut w = World::new(Scenario::new());
    let project = w.project("demo", &[]);
    let id = w.spawn(&["demo", "hello", "--runtime", "process"]);
    let tree = workspace_of(&w.wait_activity(&id, "ready"));
    let markers = w.root().join("markers");
    std::fs::create_dir(&markers).unwrap();

    // What an agent can write in its own tree: a changed file, and attributes that pick a diff
    // driver and a filter by name (which only config can define).
    std::fs::write(tree.join("notes.txt"), "one\ntwo\n").unwrap();
    std::fs::write(tree.join(".gitattributes"), "* diff=evil filter=evil\n").unwrap();

    // 1. The tree is where ao put it, but its git directory's config runs programs (as it would
    // if the agent could write the work tree's config.worktree): ao switches them off. (Not a
    // filter: that one config names is the person's own, such as git-lfs, and runs.)
    let admin =
        PathBuf::from(git(&tree, &["rev-parse", "--path-format=absolute", "--git-dir"]).trim());
    git(&project, &["config", "extensions.worktreeConfig", "true"]);
    let config = admin.join("config.worktree");
    for (key, value) in program_running_config(&w.root().join("worktree-config"), &markers, false) {
        git(
            &project,
            &["config", "--file", &config.to_string_lossy(), &key, &value],
        );
    }
    // (`ao status` counts again at the agent's next change; `ao show` counts now.)
    let s = json(&w, &["status", &id, "--json"]);
    assert!(s[0]["files_changed"].is_number(), "{s:#}");
    w.ao_ok(&["status"]);
    let show = json(&w, &["show", &id, "--json"]);
    assert_eq!(show["files"].as_array().map(Vec::len), Some(2), "{show:#}");
    let diff = w.ao_ok(&["diff", &id]);
    assert!(
        diff.contains("+two"),
        "ao diff still shows the change: {diff}"
    );
    assert!(diff.contains("diff --git a/notes.txt"), "{diff}");
    assert_eq!(ran(&markers), Vec::<String>::new(), "git ran a program");
    std::fs::remove_file(&config).unwrap();
    git(
        &project,
        &["config", "--unset", "extensions.worktreeConfig"],
    );

    // 2. The agent points its tree's `.git` at a git directory of its own (with the project's
    // objects, so that every git command would get far), whose config runs programs.
    let evil = w.root().join("evil");
    git(
        w.root(),
        &[
            "clone",
            "-q",
            "--shared",
            &project.to_string_lossy(),
            &evil.to_string_lossy(),
        ],
    );
    for (key, value) in program_running_config(&w.root().join("evil-config"), &markers, true) {
        git(&evil, &["config", &key, &value]);
    }
    std::fs::write(
        tree.join(".git"),
        format!("gitdir: {}\n", evil.join(".git").display()),
    )
    .unwrap();
    let moved = "no longer points to the git directory ao made for it";

    let s = json(&w, &["status", &id, "--json"]);
    assert!(s[0]["files_changed"].is_null(), "{s:#}");
    w.ao_ok(&["status"]);
    let show = json(&w, &["show", &id, "--json"]);
    assert!(show["files"].is_null(), "{show:#}");
    assert!(show["notes"].to_string().contains(moved), "{show:#}");
    let text = w.ao_ok(&["show", &id]);
    assert!(text.contains(moved), "{text}");
    let err = w.ao_fails(&["diff", &id], 2);
    assert!(err.contains(moved), "{err}");
    // A dashboard started now observes every session at once.
    let dashboard = w.dashboard(&[]);
    let listed = wait_until(Duration::from_secs(30), Duration::from_millis(100), || {
        let sessions = dashboard.get("/api/sessions");
        sessions
            .json
            .as_array()
            .and_then(|a| a.iter().find(|s| s["id"] == id.as_str()).cloned())
            .ok_or(format!("{id} is not listed: {}", sessions.text))
    });
    assert!(listed["files_changed"].is_null(), "{listed:#}");
    assert_eq!(ran(&markers), Vec::<String>::new(), "git ran a program");

    // ao kill cannot check the tree for work, so it keeps it, even when forced.
    let out = w.ao_ok(&["kill", &id]);
    assert!(out.contains("kept its work tree"), "{out}");
    assert!(out.contains(moved), "{out}");
    let out = w.ao_ok(&["kill", "--force", &id]);
    assert!(out.contains("kept its work tree"), "{out}");
    assert!(tree.join("notes.txt").exists());

    // A tree whose `.git` is deleted is not read either (git would look for one further up).
    std::fs::remove_file(tree.join(".git")).unwrap();
    let err = w.ao_fails(&["diff", &id], 2);
    assert!(err.contains(moved), "{err}");
    assert_eq!(ran(&markers), Vec::<String>::new(), "git ran a program");
}

#[test]
fn a_state_home_the_person_made_keeps_its_mode_and_one_others_can_write_is_refused() {
    let mut w = World::new(Scenario::new());
    w.project("demo", &[]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let ao = |home: &Path, args: &[&str]| {
        w.ao_command(args)
            .env("AO_HOME", home)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };

    // Made by the person, 0755: used as it is.
    let theirs = w.root().join("their-home");
    std::fs::create_dir(&theirs).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = ao(&theirs, &["status"]);
    assert!(out.status.success(), "{out:?}");
    assert!(theirs.join("ao.db").exists());
    assert_eq!(
        mode(&theirs),
        0o755,
        "ao changed the mode of a home it did not make"
    );
    assert_eq!(
        mode(&theirs.join("ao.db")),
        0o600,
        "what ao makes in it is private"
    );

    // Writable by others: refused, said why and how to fix it, and left as it is.
    for (bits, who) in [(0o777, "every user"), (0o775, "its group")] {
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(bits)).unwrap();
        for args in [&["status"][..], &["spawn", "demo", "hello"]] {
            let out = ao(&theirs, args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "ao {args:?}: {err}");
            assert!(
                err.contains(&format!(
                    "the state home {} can be written by {who}",
                    theirs.display()
                )),
                "{err}"
            );
            assert!(err.contains("chmod go-w"), "{err}");
            assert_eq!(mode(&theirs), bits);
        }
    }

    // One ao makes itself is its user's alone.
    let made = w.root().join("new/home");
    let out = ao(&made, &["status"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(mode(&made), 0o700);
}
