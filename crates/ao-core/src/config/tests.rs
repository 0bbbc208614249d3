//! The config reader's own rules; tests/config.rs holds the broken-config corpus.

use std::path::{Path, PathBuf};

use super::names::did_you_mean;
use super::reader::{PROJECT_KEYS, RUNTIMES, TOP_KEYS};
use super::*;

fn parse(text: &str, dir: &Path) -> Result<Config, ConfigError> {
    Config::parse(text, &dir.join("agent-orchestrator.yaml"))
}

#[test]
fn list_and_map_forms_give_the_same_projects() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("p1")).unwrap();
    let list = "plugins:\n  agent: notebook\nprojects:\n  - name: demo\n    path: p1\n    agentConfig:\n      model: mock/mock-1\n      prompt: hi\n";
    let map = "defaults:\n  agent: notebook\nprojects:\n  demo:\n    path: p1\n    agentConfig:\n      model: mock/mock-1\n      prompt: hi\n";
    for text in [list, map] {
        let c = parse(text, tmp.path()).unwrap();
        assert_eq!(c.projects.len(), 1);
        let p = &c.projects[0];
        assert_eq!(p.name, "demo");
        assert_eq!(p.agent.as_deref(), Some("notebook"));
        assert_eq!(p.workspace, WorkspaceKind::None);
        assert_eq!(p.agent_config.model.as_deref(), Some("mock/mock-1"));
        assert_eq!(c.ready_threshold_ms, DEFAULT_READY_THRESHOLD_MS);
    }
}

#[test]
fn a_dot_path_beside_a_bare_file_name_is_the_current_directory() {
    let c = Config::parse(
        "projects:\n  demo:\n    path: .\n",
        Path::new("agent-orchestrator.yaml"),
    )
    .unwrap();
    assert_eq!(
        c.projects[0].path,
        std::env::current_dir().unwrap().canonicalize().unwrap()
    );
}

#[test]
fn unknown_key_names_line_and_column_and_the_key_meant() {
    let tmp = tempfile::tempdir().unwrap();
    let err = parse("projects:\n  - name: demo\n    pth: x\n", tmp.path()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains(
            "agent-orchestrator.yaml:3:5: unknown key `pth` in project \"demo\"; did you mean `path`?"
        ),
        "{text}"
    );
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let tmp = tempfile::tempdir().unwrap();
    let err = parse(
        "projects:\n  - name: demo\n    path: nowhere\n    runtime: docker\n    agentConfig:\n      model: gpt4\n",
        tmp.path(),
    )
    .unwrap_err();
    let lines: Vec<_> = err.problems.iter().map(|p| p.location).collect();
    assert_eq!(lines, vec![Some((3, 11)), Some((4, 14)), Some((6, 14))]);
    assert!(err.problems[2]
        .message
        .contains("model \"gpt4\" is not in provider/model form"));
}

#[test]
fn variables_and_home_come_from_the_context() {
    let var = |k: &str| match k {
        "HOME" => Some("/home/me".to_string()),
        "WORK" => Some("/srv/work".to_string()),
        _ => None,
    };
    assert_eq!(
        expand_path_in("${WORK}/x", &var).unwrap(),
        PathBuf::from("/srv/work/x")
    );
    assert_eq!(
        expand_path_in("~/code", &var).unwrap(),
        PathBuf::from("/home/me/code")
    );
    assert!(expand_path_in("${NOPE}/x", &var)
        .unwrap_err()
        .contains("${NOPE}, which is not set"));
}

#[test]
fn suggestions_catch_case_separators_and_typos() {
    assert_eq!(
        did_you_mean("agent_config", PROJECT_KEYS),
        Some("agentConfig")
    );
    assert_eq!(
        did_you_mean("readythresholdms", TOP_KEYS),
        Some("readyThresholdMs")
    );
    assert_eq!(did_you_mean("tmx", RUNTIMES), Some("tmux"));
    assert_eq!(did_you_mean("kubernetes", RUNTIMES), None);
}
