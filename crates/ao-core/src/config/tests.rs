//! The config reader's own rules; tests/config.rs holds the broken-config corpus.

use std::path::{Path, PathBuf};

use super::names::did_you_mean;
use super::reader::{PROJECT_KEYS, RUNTIMES, TOP_KEYS};
use super::*;
use crate::remote::Location;
use crate::session::WorkspaceKind;

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
        "projects:\n  - name: demo\n    path: nowhere\n    runtime: docker\n    agentConfig:\n      model: gpt 4\n",
        tmp.path(),
    )
    .unwrap_err();
    let lines: Vec<_> = err.problems.iter().map(|p| p.location).collect();
    assert_eq!(lines, vec![Some((3, 11)), Some((4, 14)), Some((6, 14))]);
    assert!(err.problems[2]
        .message
        .contains("model \"gpt 4\" is not a model's name"));
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

#[test]
fn notifications_add_to_the_top_levels_and_budgets_take_defaults_per_key() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("p1")).unwrap();
    std::fs::create_dir(tmp.path().join("p2")).unwrap();
    let text = r#"
notifyDebounceMs: 0
notifications:
  - on: [waiting_input, blocked]
    command: ["notify-me", "--urgent"]
defaults:
  budget: {sessionUsd: 0.5, projectUsd: 20}
projects:
  - name: one
    path: p1
    budget: {sessionUsd: 2}
    notifications:
      - on: ready
        webhook: http://127.0.0.1:9000/ao
        timeoutMs: 500
      - on: [budget]
        command: "echo $AO_EVENT >> events"
      - on: [idle]
        desktop: true
  - name: two
    path: p2
"#;
    let c = parse(text, tmp.path()).unwrap();
    assert_eq!(c.notify_debounce_ms, 0);
    let [one, two] = &c.projects[..] else {
        panic!("{c:?}")
    };
    assert_eq!(
        one.budget,
        Budget {
            session_usd: Some(2.0),
            project_usd: Some(20.0)
        }
    );
    assert_eq!(two.budget.session_usd, Some(0.5));
    let actions: Vec<&NotifierAction> =
        one.notifications.iter().map(|n| n.action.shown()).collect();
    assert_eq!(
        actions,
        [
            &NotifierAction::Command(vec!["notify-me".into(), "--urgent".into()]),
            &NotifierAction::Webhook("http://127.0.0.1:9000/ao".into()),
            &NotifierAction::Shell("echo $AO_EVENT >> events".into()),
            &NotifierAction::Desktop,
        ]
    );
    assert_eq!(one.notifications[1].on, ["ready"]);
    assert_eq!(one.notifications[1].timeout_ms, 500);
    assert_eq!(one.notifications[0].timeout_ms, DEFAULT_NOTIFIER_TIMEOUT_MS);
    assert!(one.notifications[0].fires_on("blocked"));
    assert_eq!(two.notifications, c.notifications);
    assert_eq!(
        parse("projects: {}\n", tmp.path())
            .unwrap()
            .notify_debounce_ms,
        1500
    );
}

#[test]
fn a_notifier_needs_on_and_a_state_it_knows() {
    let tmp = tempfile::tempdir().unwrap();
    let err = parse(
        "notifications:\n  - command: [x]\n  - on: []\n    desktop: true\n  - on: [redy]\n    desktop: true\nnotifyDebounceMs: -1\n",
        tmp.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains(":2:5: this notification has no `on`"), "{err}");
    assert!(err.contains(":3:9: `on` is empty"), "{err}");
    assert!(
        err.contains("unknown state \"redy\" in `on`; did you mean ready?"),
        "{err}"
    );
    assert!(
        err.contains("notifyDebounceMs must be a whole number"),
        "{err}"
    );
}

#[test]
fn remote_projects_keep_their_path_as_written_and_share_it_unless_told() {
    let tmp = tempfile::tempdir().unwrap();
    let secret = tmp.path().join("api.password");
    std::fs::write(&secret, "pw").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        "projects:\n  web:\n    path: ~/code/web\n    host: me@builder1\n  api:\n    path: \
         /srv/code/api\n    workspace: worktree\n    server:\n      url: http://10.0.0.5:4096/\n      \
         passwordFile: {}\n",
        secret.display()
    );
    let c = parse(&text, tmp.path()).unwrap();
    let web = c.project("web").unwrap();
    assert_eq!(web.path, PathBuf::from("~/code/web"));
    assert_eq!(web.workspace, WorkspaceKind::None);
    let Location::Ssh(dest) = &web.location else {
        panic!("{:?}", web.location)
    };
    assert_eq!(dest.shown().as_str(), "me@builder1");
    assert_eq!(web.location.host_label().as_deref(), Some("me@builder1"));
    let api = c.project("api").unwrap();
    assert_eq!(api.workspace, WorkspaceKind::Worktree);
    let Location::Url(server) = &api.location else {
        panic!("{:?}", api.location)
    };
    assert_eq!(server.url, "http://10.0.0.5:4096");
    assert_eq!(server.username, "opencode");
    assert_eq!(api.location.host_label().as_deref(), Some("10.0.0.5:4096"));
    // The file is not trusted: the password is named, and not read.
    assert_eq!(server.password.shown().read().unwrap(), "pw");
    let refused = server.password.permit().unwrap_err();
    assert_eq!(
        (refused.key.as_str(), refused.line),
        ("server.passwordFile", 10)
    );
    assert!(dest.permit().is_err());

    // A leading `-` would be an option to ssh; a relative path means nothing on another machine.
    let err = parse(
        "projects:\n  web:\n    path: code/web\n    host: -oProxyCommand=x\n",
        tmp.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("is not an ssh destination"), "{err}");
    let err = parse(
        "projects:\n  web:\n    path: code/web\n    host: builder1\n",
        tmp.path(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("must be an absolute path or one under ~"),
        "{err}"
    );
}

/// A CA certificate (its public half only), for configs that name a `caFile`.
const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBjzCCATWgAwIBAgIUGcCi3tBlYniUr1lMrzw2UnrLYFkwCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRYW8gY29uZmlnIHRlc3QgQ0EwIBcNMjYxMTI2MDkzMzI3WhgP
MjEyNjExMDIwOTMzMjdaMBwxGjAYBgNVBAMMEWFvIGNvbmZpZyB0ZXN0IENBMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0u+LtlKMdFkJvzdpV8Xz47P9tj9PNUlM
7ZrmDfTOBOYS+r1wFaVPR/XdXj3XAK8XudGoZ/4DZgLtdr2uW3kjhaNTMFEwHQYD
VR0OBBYEFLzVIHKpeCmKkSc/PJbkTu+3kduUMB8GA1UdIwQYMBaAFLzVIHKpeCmK
kSc/PJbkTu+3kduUMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIh
AOo7hQh+HnkKArmDye1smgzI99AfZx9mmzaAOyq6ZhvLAiAH8SK1Kqb+GVEOpIGL
tqGSRunykaDTARSnHbhJYPfyzA==
-----END CERTIFICATE-----
";

#[test]
fn an_https_server_takes_a_ca_file_relative_to_the_config_and_webhooks_may_be_https() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("tls")).unwrap();
    std::fs::write(tmp.path().join("tls/ca.pem"), TEST_CA).unwrap();
    let text = "projects:\n  api:\n    path: /srv/code/api\n    server:\n      url: \
                https://opencode.example.com\n      passwordEnv: X\n      caFile: tls/ca.pem\n  \
                  public:\n    path: /srv/code/public\n    server:\n      url: \
                https://opencode.example.com:8443/\n      passwordEnv: X\n    notifications:\n      \
                - on: ready\n        webhook: https://hooks.example.com/ao\n";
    let c = parse(text, tmp.path()).unwrap();
    let Location::Url(api) = &c.project("api").unwrap().location else {
        panic!("{c:?}")
    };
    assert_eq!(api.url, "https://opencode.example.com");
    assert_eq!(api.ca_file, Some(tmp.path().join("tls/ca.pem")));
    let public = c.project("public").unwrap();
    let Location::Url(server) = &public.location else {
        panic!("{c:?}")
    };
    assert_eq!(server.ca_file, None);
    assert_eq!(
        public.location.host_label().as_deref(),
        Some("opencode.example.com:8443")
    );
    assert_eq!(
        public.notifications.last().map(|n| n.action.shown()),
        Some(&NotifierAction::Webhook(
            "https://hooks.example.com/ao".into()
        ))
    );
}

#[test]
fn the_tui_mode_is_lazy_unless_the_project_or_its_defaults_say_always() {
    let tmp = tempfile::tempdir().unwrap();
    for d in ["p1", "p2", "p3"] {
        std::fs::create_dir(tmp.path().join(d)).unwrap();
    }
    let text = "projects:\n  - name: one\n    path: p1\n";
    assert_eq!(
        parse(text, tmp.path()).unwrap().projects[0].tui,
        TuiMode::Lazy
    );
    let text = r#"
defaults:
  tmux: {tui: always}
projects:
  - name: one
    path: p1
  - name: two
    path: p2
    tmux: {tui: lazy}
  - name: three
    path: p3
    tmux: {}
"#;
    let c = parse(text, tmp.path()).unwrap();
    let modes: Vec<TuiMode> = c.projects.iter().map(|p| p.tui).collect();
    assert_eq!(modes, [TuiMode::Always, TuiMode::Lazy, TuiMode::Always]);
}

/// Two agents: `free`, whose `permission` takes any tool and patterns, and `kinds`, whose
/// `permission` names only its tool kinds (as an ACP agent's does).
struct KindsAndFree;

impl crate::config::AgentKeys for KindsAndFree {
    fn agent_names(&self) -> Vec<&'static str> {
        vec!["free", "kinds"]
    }
    fn config_keys(&self, _agent: &str) -> &'static [&'static str] {
        &[]
    }
    fn permission_keys(&self, agent: &str) -> Option<&'static [&'static str]> {
        (agent == "kinds").then_some(&["read", "edit", "execute", "fetch", "other"][..])
    }
    fn check_config(
        &self,
        _agent: &str,
        _key: &str,
        _value: ConfigValue<'_>,
    ) -> Result<serde_json::Value, Vec<SettingProblem>> {
        Ok(serde_json::Value::Null)
    }
}

fn parse_with_kinds(agent: &str, permission: &str) -> Result<Config, ConfigError> {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "projects:\n  - name: demo\n    path: .\n    agent: {agent}\n    agentConfig:\n      permission: {permission}\n"
    );
    Config::parse_in(
        &text,
        &tmp.path().join("agent-orchestrator.yaml"),
        Context {
            agents: &KindsAndFree,
            ..Context::process()
        },
    )
}

#[test]
fn an_agent_with_fixed_permission_keys_takes_one_word_or_a_map_of_its_keys() {
    let c = parse_with_kinds("kinds", "allow").unwrap();
    assert_eq!(
        c.projects[0].agent_config.permission,
        Some(serde_json::json!("allow"))
    );
    let c = parse_with_kinds("kinds", "{execute: ask, edit: allow, fetch: deny}").unwrap();
    assert_eq!(
        c.projects[0].agent_config.permission,
        Some(serde_json::json!({"execute": "ask", "edit": "allow", "fetch": "deny"}))
    );

    // A key it does not have: where, which, the one meant, and the ones it has.
    let text = parse_with_kinds("kinds", "{exec: ask}")
        .unwrap_err()
        .to_string();
    assert!(
        text.contains(
            "agent-orchestrator.yaml:6:20: unknown tool kind `exec` in permission; did you mean \
             `execute`? (this agent's kinds: read, edit, execute, fetch, other)"
        ),
        "{text}"
    );
    // Nothing like any of them: the list alone.
    let text = parse_with_kinds("kinds", "{bash: ask}")
        .unwrap_err()
        .to_string();
    assert!(
        text.contains(
            ":6:20: unknown tool kind `bash` in permission; this agent's kinds: read, edit, \
             execute, fetch, other"
        ),
        "{text}"
    );
    // OpenCode's patterns are no rule of this agent's.
    let text = parse_with_kinds("kinds", "{execute: {\"git *\": allow}}")
        .unwrap_err()
        .to_string();
    assert!(
        text.contains(
            ":6:29: permission for `execute` must be one word (ask, allow, deny), not a map"
        ),
        "{text}"
    );
    // A word it does not know, for the whole agent or for one kind.
    let text = parse_with_kinds("kinds", "alow").unwrap_err().to_string();
    assert!(
        text.contains(":6:19: unknown permission \"alow\"; did you mean allow?"),
        "{text}"
    );
    let text = parse_with_kinds("kinds", "{read: yes, read: ask}")
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("unknown permission \"yes\" for `read`"),
        "{text}"
    );
    assert!(text.contains("`read` is set twice in permission"), "{text}");
}

#[test]
fn an_agent_without_fixed_permission_keys_keeps_tools_and_patterns() {
    let c = parse_with_kinds(
        "free",
        "{bash: {\"git *\": allow, \"*\": ask}, webfetch: deny}",
    )
    .unwrap();
    assert_eq!(
        c.projects[0].agent_config.permission,
        Some(serde_json::json!({"bash": {"git *": "allow", "*": "ask"}, "webfetch": "deny"}))
    );
    let text = parse_with_kinds("free", "{bash: yes}")
        .unwrap_err()
        .to_string();
    assert!(
        text.contains("unknown permission \"yes\" for bash"),
        "{text}"
    );
}
