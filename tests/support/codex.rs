//! Codex (through its pinned ACP adapter, codex-acp 0.16.0) on the mock model, offline.
//!
//! Codex takes its provider from `$CODEX_HOME/config.toml`; [`write_codex_home`] writes one whose
//! provider is the world's mock model (`wire_api = "responses"`: the mock's `POST /v1/responses`),
//! and [`codex_config`] gives a `agent: codex` project that home and a dummy key through
//! `agentConfig.env`. What the config sets, and why, is measured in /work/notes/codex-facts.md:
//!
//! * `model`: a model Codex has metadata for (else each turn begins with a warning of Codex's);
//!   the mock answers any;
//! * `sandbox_mode = "danger-full-access"`: Codex's Linux sandbox needs bubblewrap, which test
//!   machines need not have (a sandboxed command fails there).
//!
//! What makes Codex ask before a command (`approval_policy = "untrusted"`) and report each shell
//! call's end (`features.unified_exec = false`) is not here: the `codex` preset passes both on
//! Codex's command line, and the tests check that it does.

use std::path::{Path, PathBuf};

use crate::acp::yaml_string;
use crate::World;

/// The model Codex runs in these tests (one Codex knows; the mock answers any).
pub const MODEL: &str = "gpt-5.4-mini";

/// The price the tests configure: dollars per million input and output tokens.
pub const PRICE: (f64, f64) = (1.25, 10.0);

/// The `agentConfig.price` line for [`PRICE`].
pub fn price_line() -> String {
    format!("price: {{input: {}, output: {}}}", PRICE.0, PRICE.1)
}

/// What [`PRICE`] makes of these tokens.
pub fn cost(input: u64, output: u64) -> f64 {
    (input as f64 * PRICE.0 + output as f64 * PRICE.1) / 1e6
}

/// Writes a Codex home, `<world>/codex-<name>`, whose config points Codex at the world's mock
/// model, and returns it.
pub fn write_codex_home(w: &World, name: &str) -> PathBuf {
    let home = w.root().join(format!("codex-{name}"));
    std::fs::create_dir_all(&home).expect("create the Codex home");
    let config = format!(
        "model = \"{MODEL}\"\n\
         model_provider = \"mock\"\n\
         sandbox_mode = \"danger-full-access\"\n\
         \n\
         [model_providers.mock]\n\
         name = \"ao mock model\"\n\
         base_url = \"{}\"\n\
         env_key = \"OPENAI_API_KEY\"\n\
         wire_api = \"responses\"\n",
        w.mock.base_url()
    );
    std::fs::write(home.join("config.toml"), config).expect("write Codex's config.toml");
    home
}

/// `agentConfig` lines of an `agent: codex` project: Codex's home and a dummy key in its
/// environment, then `more` (`permission: ...`, `price: ...`).
pub fn codex_config(codex_home: &Path, more: &[&str]) -> Vec<String> {
    let home = yaml_string(&codex_home.to_string_lossy());
    let mut lines = vec![format!(
        "env: {{CODEX_HOME: {home}, OPENAI_API_KEY: mock-key}}"
    )];
    lines.extend(more.iter().map(|l| l.to_string()));
    lines
}
