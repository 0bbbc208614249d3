use super::*;
use crate::preset::Preset;
use ao_agent::config::{AgentConfig, ConfigNode};
use serde_json::json;

/// A value of a config file, as the reader's tree shows it: a scalar or a list (whose items have
/// no place of their own), or a map whose keys and values have theirs.
enum Node {
    Plain((usize, usize), Value),
    Map((usize, usize), Vec<(&'static str, (usize, usize), Node)>),
}

impl ConfigNode for Node {
    fn position(&self) -> (usize, usize) {
        match self {
            Node::Plain(at, _) | Node::Map(at, _) => *at,
        }
    }
    fn is_map(&self) -> bool {
        matches!(self, Node::Map(..))
    }
    fn is_null(&self) -> bool {
        matches!(self, Node::Plain(_, Value::Null))
    }
    fn entries(&self) -> Vec<(String, (usize, usize), &dyn ConfigNode)> {
        match self {
            Node::Map(_, entries) => entries
                .iter()
                .map(|(k, at, v)| (k.to_string(), *at, v as &dyn ConfigNode))
                .collect(),
            Node::Plain(..) => Vec::new(),
        }
    }
    fn describe(&self) -> &'static str {
        match self {
            Node::Map(..) => "a map",
            Node::Plain(_, v) => json_kind(v),
        }
    }
    fn to_json(&self) -> Value {
        match self {
            Node::Plain(_, v) => v.clone(),
            Node::Map(_, entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, _, v)| (k.to_string(), v.to_json()))
                    .collect(),
            ),
        }
    }
}

fn check_node(key: &str, node: &Node) -> Result<Value, Vec<SettingProblem>> {
    check(key, ConfigValue::new(node))
}

/// The places and messages of the problems found.
fn problems(key: &str, node: &Node) -> Vec<((usize, usize), String)> {
    check_node(key, node)
        .unwrap_err()
        .into_iter()
        .map(|p| (p.at.expect("every problem has a place"), p.message))
        .collect()
}

#[test]
fn a_command_is_a_non_empty_list_of_words() {
    let good = Node::Plain((3, 14), json!(["opencode", "acp"]));
    assert_eq!(
        check_node("command", &good).unwrap(),
        json!(["opencode", "acp"])
    );

    let word = Node::Plain((3, 14), json!("opencode acp"));
    let found = problems("command", &word);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, (3, 14));
    assert!(found[0].1.contains("a list of words"), "{}", found[0].1);

    let empty = Node::Plain((4, 5), json!([]));
    assert!(problems("command", &empty)[0]
        .1
        .contains("command is empty"));

    let items = Node::Plain((5, 6), json!(["opencode", "", 3]));
    let found = problems("command", &items);
    assert_eq!(
        found,
        vec![
            ((5, 6), "command's item 2 is empty".to_string()),
            (
                (5, 6),
                "command's item 3 must be a word, not a number".to_string()
            ),
        ]
    );
}

#[test]
fn env_maps_names_to_text_and_takes_plain_numbers_and_booleans_as_their_text() {
    let good = Node::Map(
        (2, 3),
        vec![
            ("A", (3, 5), Node::Plain((3, 8), json!("x"))),
            ("N", (4, 5), Node::Plain((4, 8), json!(42))),
            ("B", (5, 5), Node::Plain((5, 8), json!(true))),
        ],
    );
    assert_eq!(
        check_node("env", &good).unwrap(),
        json!({"A": "x", "N": "42", "B": "true"})
    );
    assert_eq!(
        check_node("env", &Node::Plain((2, 3), Value::Null)).unwrap(),
        json!({})
    );

    let nested = Node::Map(
        (2, 3),
        vec![
            ("A", (3, 5), Node::Plain((3, 8), json!(["x"]))),
            ("B", (4, 5), Node::Map((4, 8), vec![])),
            ("C", (5, 5), Node::Plain((5, 8), Value::Null)),
            ("D=E", (6, 5), Node::Plain((6, 10), json!("x"))),
        ],
    );
    let found = problems("env", &nested);
    let places: Vec<(usize, usize)> = found.iter().map(|p| p.0).collect();
    assert_eq!(places, vec![(3, 8), (4, 8), (5, 8), (6, 5)]);
    assert!(found[0].1.contains("env.A must be text"), "{}", found[0].1);
    assert!(found[3].1.contains("not a variable name"), "{}", found[3].1);

    let list = Node::Plain((2, 8), json!(["A=x"]));
    assert_eq!(problems("env", &list)[0].0, (2, 8));
}

#[test]
fn a_price_is_input_and_output_dollars_and_nothing_else() {
    let good = Node::Map(
        (7, 3),
        vec![
            ("input", (7, 11), Node::Plain((7, 18), json!(3))),
            ("output", (7, 21), Node::Plain((7, 29), json!(15.5))),
        ],
    );
    assert_eq!(
        check_node("price", &good).unwrap(),
        json!({"input": 3.0, "output": 15.5})
    );

    let wrong = Node::Map(
        (7, 3),
        vec![
            ("input", (7, 11), Node::Plain((7, 18), json!(-1))),
            ("outptu", (7, 21), Node::Plain((7, 29), json!(15))),
            ("cache", (7, 33), Node::Plain((7, 40), json!(1))),
        ],
    );
    let found = problems("price", &wrong);
    let places: Vec<(usize, usize)> = found.iter().map(|p| p.0).collect();
    assert_eq!(places, vec![(7, 18), (7, 21), (7, 33), (7, 3)]);
    assert!(
        found[0].1.contains("must be 0 dollars or more, not -1"),
        "{}",
        found[0].1
    );
    assert!(
        found[1].1.contains("input and output only"),
        "{}",
        found[1].1
    );
    assert!(found[3].1.contains("price needs output"), "{}", found[3].1);

    let text = Node::Map(
        (7, 3),
        vec![
            ("input", (7, 11), Node::Plain((7, 18), json!("3"))),
            ("output", (7, 21), Node::Plain((7, 29), json!(1))),
        ],
    );
    assert_eq!(problems("price", &text)[0].0, (7, 18));
    assert_eq!(
        problems("price", &Node::Plain((7, 10), json!(3)))[0].0,
        (7, 10)
    );
}

#[test]
fn permission_keys_are_the_tool_kinds() {
    assert_eq!(
        permission_keys(),
        &[
            "read",
            "edit",
            "delete",
            "move",
            "search",
            "execute",
            "think",
            "fetch",
            "switch_mode",
            "other"
        ]
    );
}

fn project(settings: Value, model: Option<&str>, permission: Option<Value>) -> Project {
    Project {
        name: "web".into(),
        path: "/tmp".into(),
        agent_config: AgentConfig {
            model: model.map(String::from),
            permission,
            settings: serde_json::from_value(settings).unwrap(),
            ..Default::default()
        },
        location: Default::default(),
        container: None,
        workspace: ao_agent::session::WorkspaceKind::Worktree,
    }
}

#[test]
fn settings_are_read_typed_from_a_project() {
    let p = project(
        json!({"command": ["opencode", "acp"], "env": {"K": "v"}, "price": {"input": 3.0, "output": 15.0}}),
        Some("mock/m1"),
        Some(json!({"execute": "ask", "edit": "allow", "fetch": "deny"})),
    );
    let s = AcpSettings::of(&p, &Defaults::acp()).unwrap();
    assert_eq!(s.command, vec!["opencode", "acp"]);
    assert_eq!(s.env.get("K").map(String::as_str), Some("v"));
    assert_eq!(s.model.as_deref(), Some("mock/m1"));
    assert_eq!(
        s.price,
        Some(Price {
            input: 3.0,
            output: 15.0
        })
    );
    assert_eq!(
        s.permission.answer(Some(ToolKind::Edit)),
        PermissionAnswer::Allow
    );
    assert_eq!(
        s.permission.answer(Some(ToolKind::Fetch)),
        PermissionAnswer::Deny
    );
    assert_eq!(
        s.permission.answer(Some(ToolKind::Read)),
        PermissionAnswer::Ask
    );

    let all = project(json!({"command": ["a"]}), None, Some(json!("allow")));
    let s = AcpSettings::of(&all, &Defaults::acp()).unwrap();
    assert_eq!(s.permission.answer(None), PermissionAnswer::Allow);
    assert_eq!(s.price, None);
    assert!(s.env.is_empty());

    let none = project(json!({}), None, None);
    assert!(matches!(
        AcpSettings::of(&none, &Defaults::acp()),
        Err(SettingsError::NoCommand { .. })
    ));
    let bad = project(
        json!({"command": ["a"]}),
        None,
        Some(json!({"bash": "ask"})),
    );
    let err = AcpSettings::of(&bad, &Defaults::acp()).unwrap_err();
    assert!(
        err.to_string().contains("\"bash\" is not an ACP tool kind"),
        "{err}"
    );
}

#[test]
fn a_preset_fills_in_what_the_project_leaves_out_and_the_project_wins() {
    let claude = Defaults {
        preset: Preset::Claude,
        command: Some(vec!["/tools/claude-agent-acp".into()]),
    };
    let bare = project(json!({}), None, Some(json!({"execute": "ask"})));
    let s = AcpSettings::of(&bare, &claude).unwrap();
    assert_eq!(s.command, ["/tools/claude-agent-acp"]);
    assert_eq!(
        s.env.get("DISABLE_AUTOUPDATER").map(String::as_str),
        Some("1")
    );
    assert_eq!(s.mode.as_deref(), Some("default"));

    let own = project(
        json!({"command": ["my-claude"], "env": {"DISABLE_AUTOUPDATER": "0", "K": "v"}, "mode": "plan"}),
        None,
        None,
    );
    let s = AcpSettings::of(&own, &claude).unwrap();
    assert_eq!(s.command, ["my-claude"]);
    assert_eq!(
        s.env.get("DISABLE_AUTOUPDATER").map(String::as_str),
        Some("0")
    );
    assert_eq!(s.env.get("K").map(String::as_str), Some("v"));
    assert_eq!(s.mode.as_deref(), Some("plan"));

    // Codex's policy goes on the preset's command, never on a project's own.
    let codex = Defaults {
        preset: Preset::Codex,
        command: Some(vec!["codex-acp".into()]),
    };
    let asked = project(json!({}), None, Some(json!({"execute": "ask"})));
    let s = AcpSettings::of(&asked, &codex).unwrap();
    assert_eq!(
        s.command,
        [
            "codex-acp",
            "-c",
            "approval_policy=\"untrusted\"",
            "-c",
            "features.unified_exec=false"
        ]
    );
    let own = project(json!({"command": ["my-codex", "--x"]}), None, None);
    assert_eq!(
        AcpSettings::of(&own, &codex).unwrap().command,
        ["my-codex", "--x"]
    );

    // Plain `acp` chooses no mode of its own.
    let plain = project(json!({"command": ["a"]}), None, None);
    assert_eq!(
        AcpSettings::of(&plain, &Defaults::acp()).unwrap().mode,
        None
    );
}
