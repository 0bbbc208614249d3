//! `ao init`: a newcomer's first config, written for the directory they are in, that ao then
//! reads without a complaint.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use ao_core::config::Config;
use ao_core::session::{RuntimeKind, WorkspaceKind};
use ao_test_support::{git, Scenario, World};

/// `ao init ARGS` run in `dir` as a newcomer would: no `AO_CONFIG`, and git never looks above the
/// world's directory (which could sit inside a repository of its own).
fn init_in(w: &World, dir: &Path, args: &[&str], path: Option<&Path>) -> Output {
    let mut all = vec!["init"];
    all.extend_from_slice(args);
    let mut cmd = w.ao_command(&all);
    cmd.current_dir(dir)
        .env_remove("AO_CONFIG")
        .env("GIT_CEILING_DIRECTORIES", w.root());
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    cmd.output().expect("run ao init")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "ao init failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A git repository with one commit, in a directory named `name`.
fn repository(w: &World, name: &str) -> PathBuf {
    let repo = w.root().join(name);
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["commit", "-q", "--allow-empty", "-m", "init"]);
    repo.canonicalize().expect("canonical path")
}

fn load(file: &Path) -> Config {
    Config::load(file).unwrap_or_else(|e| {
        panic!(
            "{e}\n---\n{}",
            std::fs::read_to_string(file).unwrap_or_default()
        )
    })
}

#[test]
fn in_a_subdirectory_of_a_repository_the_project_is_the_repository_with_a_valid_name() {
    let w = World::new(Scenario::new());
    let repo = repository(&w, "My Big Repo");
    let sub = repo.join("src/deep");
    std::fs::create_dir_all(&sub).expect("mkdir");

    let out = ok(&init_in(&w, &sub, &[], None));
    let file = sub.join("agent-orchestrator.yaml");
    assert!(out.contains(&format!("wrote {}", file.display())), "{out}");
    // Run from here, ao finds the file itself: the next steps need no --config.
    assert!(out.contains("\n  ao doctor\n"), "{out}");
    assert!(
        out.contains("\n  ao spawn my-big-repo \"Fix the linting errors\""),
        "{out}"
    );

    let config = load(&file);
    assert_eq!(config.projects.len(), 1);
    let p = &config.projects[0];
    assert_eq!(p.name, "my-big-repo");
    assert_eq!(p.path, repo);
    assert_eq!(p.workspace, WorkspaceKind::Worktree);
    assert_eq!(p.runtime, RuntimeKind::Tmux, "tmux is on the tests' PATH");
    assert_eq!(p.agent.as_deref(), Some("opencode"));

    // ao itself reads it, with its agents: an empty status, no complaint.
    let out = w
        .ao_command(&["status", "--json"])
        .current_dir(&sub)
        .env_remove("AO_CONFIG")
        .output()
        .expect("run ao status");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}

#[test]
fn a_second_init_exits_2_and_leaves_the_file_as_it_is() {
    let w = World::new(Scenario::new());
    let repo = repository(&w, "demo");
    ok(&init_in(&w, &repo, &[], None));
    let file = repo.join("agent-orchestrator.yaml");
    std::fs::write(&file, "# edited by hand\n").expect("edit");

    let out = init_in(&w, &repo, &[], None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains(&format!("{} already exists", file.display()))
            && err.contains("move it aside"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        "# edited by hand\n"
    );
    // Nothing else was left in the directory: no temporary file.
    let names: Vec<String> = std::fs::read_dir(&repo)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".git")
        .collect();
    assert_eq!(names, ["agent-orchestrator.yaml"]);
}

#[test]
fn without_tmux_the_runtime_is_process_and_outside_git_there_are_no_work_trees() {
    let w = World::new(Scenario::new());
    let plain = w.root().join("Notes Folder");
    std::fs::create_dir_all(&plain).expect("mkdir");
    let path = w.path_with_only(&["git"]);

    // Given as an argument, from elsewhere: the next steps say which file to use.
    let out = ok(&init_in(&w, w.root(), &["Notes Folder"], Some(&path)));
    let file = plain
        .canonicalize()
        .unwrap()
        .join("agent-orchestrator.yaml");
    assert!(
        out.contains(&format!("ao --config '{}' doctor", file.display())),
        "{out}"
    );

    let text = std::fs::read_to_string(&file).expect("written");
    assert!(text.contains("\n    runtime: process\n"), "{text}");
    assert!(text.contains("tmux is not on PATH"), "{text}");
    assert!(text.contains("\n    workspace: none\n"), "{text}");
    assert!(text.contains("not in a git repository"), "{text}");
    let config = load(&file);
    let p = &config.projects[0];
    assert_eq!(p.name, "notes-folder");
    assert_eq!(p.path, plain.canonicalize().unwrap());
    assert_eq!(
        (p.runtime, p.workspace),
        (RuntimeKind::Process, WorkspaceKind::None)
    );
}

#[test]
fn a_path_that_is_not_a_directory_exits_2() {
    let w = World::new(Scenario::new());
    std::fs::write(w.root().join("a-file"), "x").expect("write");
    for (arg, why) in [
        ("a-file", "is not a directory"),
        ("missing", "does not exist"),
    ] {
        let out = init_in(&w, w.root(), &[arg], None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{arg}: {err}");
        assert!(err.contains(why) && err.contains(arg), "{arg}: {err}");
    }
    assert!(!w.root().join("agent-orchestrator.yaml").exists());
}

#[test]
fn init_writes_a_project_of_the_agent_asked_for_and_refuses_one_it_does_not_know() {
    let w = World::new(Scenario::new());
    for agent in ["claude", "codex", "acp"] {
        let repo = repository(&w, &format!("{agent}-repo"));
        ok(&init_in(&w, &repo, &["--agent", agent], None));
        let file = repo.join("agent-orchestrator.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.contains(&format!("    agent: {agent}\n")), "{text}");
        // What it wrote loads as it is: ao reads the project with that agent's keys.
        let out = w
            .ao_command(&["--config", &file.to_string_lossy(), "status", "--json"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{agent}: {}\n---\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let repo = repository(&w, "gemini-repo");
    let out = init_in(&w, &repo, &["--agent", "gemini"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no agent \"gemini\": ao knows opencode, acp, claude, codex"),
        "{err}"
    );
    assert!(!repo.join("agent-orchestrator.yaml").exists());
}
