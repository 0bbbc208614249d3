//! Property tests of the config reader: whatever the text, a config or an error (at a line and
//! column), never a panic, and soon. Bounded, so that they run with every `cargo test`.

use proptest::prelude::*;

use super::yaml;
use super::*;

/// Pieces a YAML file is made of, the config's own keys, and text of several bytes a character.
const PIECES: &[&str] = &[
    "\n",
    "\n  ",
    "\n    ",
    " ",
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "&a ",
    "*a",
    "&b ",
    "*b",
    "!!str ",
    "'",
    "\"",
    "|\n  ",
    ">\n  ",
    "# c\n",
    "---\n",
    "~",
    "null",
    "true",
    "1500",
    "-1",
    "0x1f",
    "1.5e3",
    ".inf",
    "projects",
    "name",
    "path",
    ".",
    "~/x",
    "${HOME}",
    "${",
    "}",
    "runtime",
    "tmux",
    "process",
    "workspace",
    "none",
    "agentConfig",
    "model",
    "a/b",
    "prompt",
    "permission",
    "bash",
    "ask",
    "notifications",
    "on",
    "ready",
    "command",
    "webhook",
    "http:/é",
    "https://x",
    "desktop",
    "timeoutMs",
    "budget",
    "sessionUsd",
    "server",
    "url",
    "host",
    "user@h:22",
    "defaults",
    "plugins",
    "é",
    "日本",
    "😀",
    "\u{202e}",
    "\t",
    "\r",
];

/// A valid config, to be changed by a few edits.
const BASE: &str = "\
notifyDebounceMs: 1500
notifications:
  - on: [ready, blocked]
    webhook: http://127.0.0.1:9/ao
    timeoutMs: 300
defaults:
  runtime: process
  budget: {sessionUsd: 2}
projects:
  - name: demo
    path: .
    workspace: none
    sessionPrefix: d
    agentConfig:
      model: mock/mock-1
      permission: {bash: ask}
";

/// `BASE` with `@` where a string goes: each is the value given or, when none is, `x`.
const TEMPLATE: &str = "\
notifications:
  - on: [@]
    webhook: @
  - on: ready
    command: [@, @]
  - on: blocked
    command: @
defaults:
  runtime: @
  agent: @
  workspace: @
  tmux: {tui: @}
projects:
  - name: @
    path: @
    sessionPrefix: @
    defaultBranch: @
    runtime: @
    host: @
    agentConfig:
      model: @
      prompt: @
      agent: @
      permission: {@: @}
  - name: two
    path: .
    server: {url: @, username: @, passwordEnv: @, passwordFile: @, caFile: @}
";

/// Text for one field: a few pieces, which may hold characters of several bytes.
fn field_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(PIECES), 1..4).prop_map(|p| p.concat()),
        any::<String>(),
    ]
}

fn text_of_pieces() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..60).prop_map(|p| p.concat())
}

/// `BASE` with up to eight edits: a piece put in, or a run of characters taken out.
fn edited_base() -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        prop::sample::select(PIECES),
        0usize..4,
    );
    prop::collection::vec(edit, 1..8).prop_map(|edits| {
        let mut chars: Vec<char> = BASE.chars().collect();
        for (at, piece, cut) in edits {
            let at = at.index(chars.len() + 1);
            if cut > 0 {
                let end = (at + cut).min(chars.len());
                chars.drain(at..end);
            } else {
                chars.splice(at..at, piece.chars());
            }
        }
        chars.into_iter().collect()
    })
}

/// Every line:column a problem names is inside the text (or just past its end).
fn check(text: &str, dir: &std::path::Path) -> Result<(), TestCaseError> {
    if let Err(e) = yaml::parse(text) {
        let lines = text.split(['\n', '\r']).count().max(1) + 1;
        prop_assert!(e.pos.0 <= lines, "{:?} of {} lines", e.pos, lines);
    }
    let started = std::time::Instant::now();
    let _ = Config::parse(text, &dir.join("agent-orchestrator.yaml"));
    prop_assert!(started.elapsed() < std::time::Duration::from_secs(2));
    Ok(())
}

/// `TEMPLATE` with generated text in its fields (as JSON strings, which YAML reads as they are).
fn filled_template() -> impl Strategy<Value = String> {
    let slots = TEMPLATE.matches('@').count();
    prop::collection::vec(field_text(), slots).prop_map(|values| {
        let mut out = String::new();
        let mut values = values.iter();
        for (i, piece) in TEMPLATE.split('@').enumerate() {
            if i > 0 {
                let v = values.next().map(String::as_str).unwrap_or("x");
                out.push_str(&serde_json::to_string(v).unwrap_or_default());
            }
            out.push_str(piece);
        }
        out
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_text_of_yaml_pieces_loads_or_is_an_error(text in text_of_pieces()) {
        let tmp = tempfile::tempdir().unwrap();
        check(&text, tmp.path())?;
    }

    #[test]
    fn a_config_with_a_few_edits_loads_or_is_an_error(text in edited_base()) {
        let tmp = tempfile::tempdir().unwrap();
        check(&text, tmp.path())?;
    }

    #[test]
    fn any_text_in_the_fields_of_a_config_loads_or_is_an_error(text in filled_template()) {
        let tmp = tempfile::tempdir().unwrap();
        check(&text, tmp.path())?;
    }

    #[test]
    fn any_string_at_all_loads_or_is_an_error(text in any::<String>()) {
        let tmp = tempfile::tempdir().unwrap();
        check(&text, tmp.path())?;
    }
}
