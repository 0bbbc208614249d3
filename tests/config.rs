//! `agent-orchestrator.yaml` as a person writes it: both forms of `projects`, the commented
//! examples, and a corpus of broken configs whose exact messages (file:line:column and what to
//! do) are what `ao` prints.
//!
//! The corpus is tests/configs/broken/NN-what.yaml, each with NN-what.stderr beside it: the exact
//! standard error of `ao status --config tests/configs/broken/NN-what.yaml` run from the
//! repository's root. After changing a message on purpose, `AO_BLESS=1 cargo test --test config`
//! rewrites the .stderr files; review their diff. `{root}` in them stands for the repository's
//! absolute path.

// Test code: a failed unwrap is the test failing (clippy.toml covers #[test] functions only).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ao_core::config::{Config, Context, ProjectConfig};
use ao_core::session::{RuntimeKind, WorkspaceKind};
use ao_test_support::{ao_bin, git, repo_root, script, tokens, Scenario, Turn, World};

/// The `.yaml` files of `dir`, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn broken_configs_give_their_exact_messages_and_exit_2() {
    let corpus = repo_root().join("tests/configs/broken");
    let cases = yaml_files(&corpus);
    assert!(cases.len() >= 20, "only {} broken configs", cases.len());

    let tmp = tempfile::tempdir().expect("temp dir");
    let bless = std::env::var_os("AO_BLESS").is_some();
    let mut failures = Vec::new();
    for case in &cases {
        let rel = case.strip_prefix(repo_root()).expect("inside the repo");
        let out = Command::new(ao_bin())
            .args(["status", "--config"])
            .arg(rel)
            .current_dir(repo_root())
            .env("HOME", tmp.path())
            .env("AO_HOME", tmp.path().join("ao"))
            .env("NO_COLOR", "1")
            .env_remove("AO_CONFIG")
            .env_remove("AO_TEST_SURELY_UNSET")
            .output()
            .expect("run ao");
        // Messages name absolute paths; the repository may be anywhere.
        let stderr = String::from_utf8_lossy(&out.stderr)
            .replace(&repo_root().to_string_lossy().into_owned(), "{root}");
        let expected_file = case.with_extension("stderr");
        if bless {
            std::fs::write(&expected_file, &stderr).expect("write .stderr");
        }
        let expected = std::fs::read_to_string(&expected_file).unwrap_or_default();
        let name = rel.display();
        if out.status.code() != Some(2) {
            failures.push(format!("{name}: exit {:?}, not 2", out.status.code()));
        }
        if !out.stdout.is_empty() {
            failures.push(format!(
                "{name}: printed to stdout: {}",
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        if stderr != expected {
            failures.push(format!(
                "{name}:\n  expected: {expected:?}\n  got:      {stderr:?}"
            ));
        }
        // Every message says where: the first line of each names this file with line:column.
        for line in stderr.lines() {
            let at = format!("ao: {name}:");
            let rest = line.strip_prefix(&at).unwrap_or_default();
            let mut parts = rest.splitn(3, ':');
            let located = parts.next().is_some_and(|l| l.parse::<usize>().is_ok())
                && parts.next().is_some_and(|c| c.parse::<usize>().is_ok());
            if !located {
                failures.push(format!("{name}: a line without file:line:column: {line}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} broken configs differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The same two projects written as a list with `name` and as a map keyed by name, with every
/// key a project can have.
#[test]
fn list_and_map_forms_give_the_same_projects() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let api = tmp.path().join("code/api");
    std::fs::create_dir_all(&api).expect("mkdir");
    git(&api, &["init", "-q", "-b", "main"]);
    std::fs::create_dir_all(tmp.path().join("work/docs")).expect("mkdir");
    let list = r#"
readyThresholdMs: 60000
plugins:
  agent: opencode
defaults:
  runtime: process
projects:
  - name: api
    path: ~/code/api
    sessionPrefix: api
    defaultBranch: main
    agentConfig:
      model: anthropic/claude-sonnet-4
      prompt: "Fix the linting errors"
      agent: build
      permission: {bash: ask, edit: allow}
      opencodeConfig: {autoupdate: false}
  - name: docs
    path: ${WORK}/docs
    runtime: tmux
    agentConfig:
      permission: allow
"#;
    let map = r#"
readyThresholdMs: 60000
defaults:
  runtime: process
  agent: opencode
projects:
  api:
    path: ~/code/api
    sessionPrefix: api
    defaultBranch: main
    agentConfig:
      model: anthropic/claude-sonnet-4
      prompt: "Fix the linting errors"
      agent: build
      permission:
        bash: ask
        edit: allow
      opencodeConfig:
        autoupdate: false
  docs:
    path: ${WORK}/docs
    runtime: tmux
    agentConfig: {permission: allow}
"#;
    let parse = |text: &str| {
        load(
            text,
            &tmp.path().join("agent-orchestrator.yaml"),
            tmp.path(),
        )
    };
    let (from_list, from_map) = (parse(list), parse(map));
    assert_eq!(format!("{from_list:?}"), format!("{from_map:?}"));

    assert_eq!(from_list.ready_threshold_ms, 60_000);
    let [api, docs] = &from_list.projects[..] else {
        panic!("two projects: {from_list:?}")
    };
    assert_eq!(api.name, "api");
    assert_eq!(api.path, api_path(tmp.path()));
    assert_eq!(api.runtime, RuntimeKind::Process, "from defaults");
    assert_eq!(api.workspace, WorkspaceKind::Worktree, "a git repository");
    assert_eq!(api.session_prefix, "api");
    assert_eq!(api.default_branch.as_deref(), Some("main"));
    let ac = &api.agent_config;
    assert_eq!(ac.model.as_deref(), Some("anthropic/claude-sonnet-4"));
    assert_eq!(ac.prompt.as_deref(), Some("Fix the linting errors"));
    assert_eq!(ac.agent.as_deref(), Some("build"));
    assert_eq!(
        ac.permission,
        Some(serde_json::json!({"bash": "ask", "edit": "allow"}))
    );
    assert_eq!(
        ac.settings.get("opencodeConfig"),
        Some(&serde_json::json!({"autoupdate": false}))
    );
    assert_eq!(docs.runtime, RuntimeKind::Tmux);
    assert_eq!(docs.workspace, WorkspaceKind::None, "not a git repository");
    assert_eq!(docs.session_prefix, "agent");
    assert_eq!(
        docs.agent_config.permission,
        Some(serde_json::json!("allow"))
    );
}

/// The agents `ao` has, as its registry lists them: the config is read against their own keys.
fn registry() -> Vec<std::sync::Arc<dyn ao_core::agent::Agent>> {
    let home = ao_core::home::StateHome::at(std::env::temp_dir().join("ao-config-tests-unused"));
    vec![std::sync::Arc::new(ao_plugin_opencode::OpenCodeAgent::new(
        ao_plugin_opencode::OpenCodeSettings::from_env(home, "ao".into()),
    ))]
}

fn api_path(root: &Path) -> PathBuf {
    root.join("code/api").canonicalize().expect("canonical")
}

/// Parses `text` as if it were `file`, with `HOME` and `${WORK}` and `${DOCS_ROOT}` under `root`.
fn load(text: &str, file: &Path, root: &Path) -> Config {
    let root = root.to_path_buf();
    let var = move |k: &str| match k {
        "HOME" => Some(root.to_string_lossy().into_owned()),
        "WORK" => Some(root.join("work").to_string_lossy().into_owned()),
        "DOCS_ROOT" => Some(root.join("docs").to_string_lossy().into_owned()),
        _ => None,
    };
    let agents = registry();
    let cx = Context {
        var: &var,
        agents: &agents,
    };
    Config::parse_in(text, file, cx).unwrap_or_else(|e| panic!("{}:\n{e}", file.display()))
}

fn project<'c>(c: &'c Config, name: &str) -> &'c ProjectConfig {
    c.projects
        .iter()
        .find(|p| p.name == name)
        .unwrap_or_else(|| panic!("no project {name}"))
}

/// Every example in examples/ parses, with the directories and variables it names made to exist
/// (each a git repository, as a person's code would be).
#[test]
fn every_example_parses() {
    let tmp = tempfile::tempdir().expect("temp dir");
    for repo in ["code/my-project", "code/api", "code/web", "code/demo"] {
        let dir = tmp.path().join(repo);
        std::fs::create_dir_all(&dir).expect("mkdir");
        git(&dir, &["init", "-q", "-b", "main"]);
    }
    std::fs::create_dir_all(tmp.path().join("docs/handbook")).expect("mkdir");

    let examples = repo_root().join("examples");
    let files = yaml_files(&examples);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        [
            "headless-batch.yaml",
            "offline-mock.yaml",
            "one-project-tmux.yaml",
            "several-projects.yaml"
        ]
    );
    let read = |name: &str| {
        let file = examples.join(name);
        let text = std::fs::read_to_string(&file).expect("read example");
        load(&text, &file, tmp.path())
    };

    let one = read("one-project-tmux.yaml");
    let p = project(&one, "my-project");
    assert_eq!(p.runtime, RuntimeKind::Tmux);
    assert_eq!(p.workspace, WorkspaceKind::Worktree);
    assert_eq!(p.default_branch.as_deref(), Some("main"));
    assert_eq!(
        p.agent_config.permission,
        Some(serde_json::json!({"bash": "ask", "edit": "allow"}))
    );

    let several = read("several-projects.yaml");
    assert_eq!(several.ready_threshold_ms, 600_000);
    let names: Vec<&str> = several.projects.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["api", "web", "docs"]);
    assert_eq!(project(&several, "api").session_prefix, "api");
    assert_eq!(several.notify_debounce_ms, 1500);
    let api = project(&several, "api");
    assert_eq!(
        (api.budget.session_usd, api.budget.project_usd),
        (Some(5.0), Some(50.0))
    );
    assert_eq!(project(&several, "web").budget.session_usd, Some(2.0));
    assert_eq!(
        api.notifications.len(),
        3,
        "the top level's two and its own"
    );
    assert_eq!(project(&several, "web").notifications.len(), 2);
    assert_eq!(
        project(&several, "web").agent_config.permission,
        Some(
            serde_json::json!({"bash": {"npm test*": "allow", "git status": "allow", "*": "ask"}})
        )
    );
    let docs = project(&several, "docs");
    assert_eq!(docs.workspace, WorkspaceKind::None);
    assert_eq!(
        docs.path,
        tmp.path().join("docs/handbook").canonicalize().unwrap()
    );

    let batch = read("headless-batch.yaml");
    let p = project(&batch, "batch");
    assert_eq!(p.runtime, RuntimeKind::Process);
    assert_eq!(p.session_prefix, "task");
    assert!(p
        .agent_config
        .prompt
        .as_deref()
        .unwrap()
        .contains("TODO.md"));

    let mock = read("offline-mock.yaml");
    let p = project(&mock, "demo");
    assert_eq!(p.agent_config.model.as_deref(), Some("mock/mock-1"));
    let provider = &p.agent_config.settings["opencodeConfig"]["provider"]["mock"];
    assert_eq!(provider["options"]["baseURL"], "http://127.0.0.1:4010/v1");
}

/// The offline-mock example, pointed at this test's mock model and project, runs a real session.
#[test]
fn the_offline_mock_example_runs_a_session() {
    let mut w = World::new(
        Scenario::new()
            .script(script("Say hello").turn(Turn::text("Hello from the mock.").usage(110, 7))),
    );
    let dir = w.project("demo", &[]);
    let example = std::fs::read_to_string(repo_root().join("examples/offline-mock.yaml"))
        .expect("read example");
    let text = example
        .replace("http://127.0.0.1:4010/v1", &w.mock.base_url())
        .replace("~/code/demo", &dir.to_string_lossy());
    assert_ne!(text, example);
    w.set_config_text(&text);

    let id = w.spawn(&["demo", "Say hello"]);
    let s = w.wait_activity(&id, "ready");
    assert_eq!(s["runtime"], "process");
    assert_eq!(tokens(&s), (110, 7));
}
