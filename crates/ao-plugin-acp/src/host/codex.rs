//! What the host reads of Codex that its ACP adapter does not say plainly: its exact tokens, and
//! the provider's message in a failed prompt.
//!
//! Tokens:
//! codex-acp (measured 0.16.0) answers a prompt with no `usage`, and its `usage_update`s carry
//! only the context window's fill and size. Codex itself writes every model reply's usage to its
//! rollout file, `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<session id>.jsonl`: a line
//! `{"type": "event_msg", "payload": {"type": "token_count", "info": {"total_token_usage": ...}}}`
//! whose `total_token_usage` is the whole conversation's sum (a loaded session carries it on). The
//! host reads that sum after each of Codex's turns.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ao_agent::session::Tokens;
use serde::Deserialize;

use crate::record::AgentIdentity;

/// The name codex-acp gives itself in `initialize`'s `agentInfo`.
const CODEX_ACP: &str = "codex-acp";

/// How long to wait for Codex to write a turn's end to its rollout file after the turn's answer:
/// it writes the file from a task of its own, which may lag the answer a little.
const WRITE_LAG: Duration = Duration::from_secs(2);

/// How often to look again while waiting.
const POLL: Duration = Duration::from_millis(20);

/// Whether `agent` is codex-acp, whose tokens come from its rollout file.
pub fn is_codex(agent: Option<&AgentIdentity>) -> bool {
    agent.is_some_and(|a| a.name == CODEX_ACP)
}

/// Codex's home: `CODEX_HOME` from the agent's configured environment, else the host's own
/// (which the agent inherits), else `~/.codex`.
pub fn codex_home(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    if let Some(home) = env.get("CODEX_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(home));
    }
    if let Some(home) = std::env::var_os("CODEX_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(home));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).join(".codex"))
}

/// The entries of `dir`, newest name first (Codex's dated directories sort by name).
fn names_newest_first(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    paths.reverse();
    paths
}

/// The session id a rollout file's name holds: `rollout-<time>-<id>.jsonl`, where the time is
/// `YYYY-MM-DDThh-mm-ss` (19 characters).
fn rollout_of(name: &str) -> Option<&str> {
    const TIME: usize = "2026-12-06T15-10-42".len();
    let rest = name.strip_prefix("rollout-")?.strip_suffix(".jsonl")?;
    let (at, _) = rest.char_indices().nth(TIME)?;
    let (_, id) = rest.split_at(at);
    id.strip_prefix('-')
}

/// The rollout file of Codex's session `session_id` under `codex_home`, newest day first.
pub fn find_rollout(codex_home: &Path, session_id: &str) -> Option<PathBuf> {
    for year in names_newest_first(&codex_home.join("sessions")) {
        for month in names_newest_first(&year) {
            for day in names_newest_first(&month) {
                let found = names_newest_first(&day).into_iter().find(|file| {
                    file.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| rollout_of(n) == Some(session_id))
                });
                if found.is_some() {
                    return found;
                }
            }
        }
    }
    None
}

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Option<Payload>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    info: Option<Info>,
}

#[derive(Deserialize)]
struct Info {
    total_token_usage: CodexUsage,
}

/// Codex's token usage: input counts the cached tokens, output the reasoning ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
struct CodexUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    cached_input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    reasoning_output_tokens: u64,
}

impl CodexUsage {
    /// As ao counts: input without the cached tokens, output without the reasoning ones.
    fn tokens(&self) -> Tokens {
        Tokens {
            input: self.input_tokens.saturating_sub(self.cached_input_tokens),
            output: self
                .output_tokens
                .saturating_sub(self.reasoning_output_tokens),
            reasoning: self.reasoning_output_tokens,
            cache_read: self.cached_input_tokens,
            cache_write: 0,
        }
    }
}

/// What a rollout file says so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rollout {
    /// The conversation's tokens by the last `token_count` (zero before the first).
    pub tokens: Tokens,
    /// Whether Codex's last task has ended (`task_complete` or `turn_aborted` after the last
    /// `task_started`).
    pub task_ended: bool,
    /// Whether a task was aborted (a rejected command, a cancel): Codex then never counts the
    /// reply it was acting on, though the provider was paid for it, so the sum falls short.
    pub aborted: bool,
}

/// Reads a rollout file; lines it cannot read (one being written, say) are skipped.
pub fn read_rollout(reader: impl BufRead) -> io::Result<Rollout> {
    let mut rollout = Rollout {
        tokens: Tokens::default(),
        task_ended: true,
        aborted: false,
    };
    for line in reader.lines() {
        let line = line?;
        let Ok(Line {
            kind,
            payload: Some(payload),
        }) = serde_json::from_str::<Line>(&line)
        else {
            continue;
        };
        if kind != "event_msg" {
            continue;
        }
        match payload.kind.as_str() {
            "task_started" => rollout.task_ended = false,
            "task_complete" => rollout.task_ended = true,
            "turn_aborted" => {
                rollout.task_ended = true;
                rollout.aborted = true;
            }
            "token_count" => {
                if let Some(info) = payload.info {
                    rollout.tokens = info.total_token_usage.tokens();
                }
            }
            _ => {}
        }
    }
    Ok(rollout)
}

/// The conversation's tokens once Codex's turn has ended in its rollout file (waiting up to
/// [`WRITE_LAG`] for it); `None` when there is no such file, when the turn's end is not written
/// in time, or after an aborted task, whose last reply Codex never counted. Blocking: run it off async threads.
pub fn conversation_tokens(codex_home: &Path, session_id: &str) -> Option<Tokens> {
    let deadline = Instant::now() + WRITE_LAG;
    loop {
        let rollout = find_rollout(codex_home, session_id)
            .and_then(|path| fs::File::open(path).ok())
            .and_then(|file| read_rollout(BufReader::new(file)).ok());
        match rollout {
            Some(rollout) if rollout.task_ended => {
                return Some(rollout.tokens).filter(|_| !rollout.aborted)
            }
            // Not written yet: unknown for now rather than short (a later turn reads it whole).
            _ if Instant::now() >= deadline => return None,
            _ => std::thread::sleep(POLL),
        }
    }
}

/// The conversation's tokens after a turn, when `agent` is Codex (else `None`): read from its
/// rollout file under the home that `env` (the agent's configured environment) gives.
pub async fn after_turn(
    agent: Option<&AgentIdentity>,
    env: &BTreeMap<String, String>,
    session_id: &str,
) -> Option<Tokens> {
    if !is_codex(agent) {
        return None;
    }
    let home = codex_home(env)?;
    let session_id = session_id.to_string();
    ao_agent::blocking::unblock(move || conversation_tokens(&home, &session_id)).await
}

/// The words of a failed prompt for people: for Codex, the provider's message. codex-acp answers
/// `{"code": -32603, "message": "Internal error", "data": {"message": <the provider's reply body>,
/// "codex_error_info": ...}}`, the body being OpenAI's error JSON (`{"error": {"message": ...}}`)
/// or plain words. Any other agent's error keeps its own message.
pub fn error_message(
    agent: Option<&AgentIdentity>,
    error: &agent_client_protocol::Error,
) -> String {
    let said = error
        .data
        .as_ref()
        .and_then(|data| data.get("message"))
        .and_then(|m| m.as_str())
        .filter(|m| is_codex(agent) && !m.trim().is_empty());
    let Some(said) = said else {
        return error.message.clone();
    };
    let provider = serde_json::from_str::<serde_json::Value>(said)
        .ok()
        .and_then(|body| body.pointer("/error/message")?.as_str().map(str::to_owned));
    provider.unwrap_or_else(|| said.to_string())
}

/// `after` less `before`: a turn's tokens from the conversation's sums around it.
pub fn spent_between(before: &Tokens, after: &Tokens) -> Tokens {
    Tokens {
        input: after.input.saturating_sub(before.input),
        output: after.output.saturating_sub(before.output),
        reasoning: after.reasoning.saturating_sub(before.reasoning),
        cache_read: after.cache_read.saturating_sub(before.cache_read),
        cache_write: after.cache_write.saturating_sub(before.cache_write),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLLOUT: &str = r#"{"timestamp":"t","type":"session_meta","payload":{"id":"s1"}}
{"timestamp":"t","type":"event_msg","payload":{"type":"task_started","turn_id":"a"}}
{"timestamp":"t","type":"response_item","payload":{"type":"message","role":"user","content":[]}}
{"timestamp":"t","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":120,"cached_input_tokens":0,"output_tokens":9,"reasoning_output_tokens":0,"total_tokens":129},"last_token_usage":{"input_tokens":120,"cached_input_tokens":0,"output_tokens":9,"reasoning_output_tokens":0,"total_tokens":129},"model_context_window":258400},"rate_limits":null}}
{"timestamp":"t","type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{}}}
{"timestamp":"t","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":250,"cached_input_tokens":100,"output_tokens":12,"reasoning_output_tokens":2,"total_tokens":262}}}}
"#;

    #[test]
    fn the_last_total_counts_as_ao_counts() {
        let rollout = read_rollout(ROLLOUT.as_bytes()).expect("read");
        assert!(!rollout.task_ended, "no task_complete yet");
        assert_eq!(
            rollout.tokens,
            Tokens {
                input: 150,
                output: 10,
                reasoning: 2,
                cache_read: 100,
                cache_write: 0
            }
        );
        let ended = format!(
            "{ROLLOUT}{}\nnot json\n",
            r#"{"type":"event_msg","payload":{"type":"task_complete","turn_id":"a"}}"#
        );
        assert!(read_rollout(ended.as_bytes()).expect("read").task_ended);
        let aborted = format!(
            "{ROLLOUT}{}\n",
            r#"{"type":"event_msg","payload":{"type":"turn_aborted","reason":"interrupted"}}"#
        );
        let aborted = read_rollout(aborted.as_bytes()).expect("read");
        assert!(aborted.task_ended && aborted.aborted);
        assert!(!read_rollout(ended.as_bytes()).expect("read").aborted);
        let empty = read_rollout(&b""[..]).expect("read");
        assert_eq!(empty.tokens, Tokens::default());
    }

    #[test]
    fn finds_the_session_file_among_days() {
        let home = tempfile::tempdir().expect("tempdir");
        let day = home.path().join("sessions/2026/12/06");
        let older = home.path().join("sessions/2026/11/30");
        fs::create_dir_all(&day).expect("mkdir");
        fs::create_dir_all(&older).expect("mkdir");
        fs::write(day.join("rollout-2026-12-06T10-00-00-other.jsonl"), "").expect("write");
        let wanted = older.join("rollout-2026-11-30T10-00-00-01ab-cd.jsonl");
        fs::write(&wanted, ROLLOUT).expect("write");
        assert_eq!(find_rollout(home.path(), "01ab-cd"), Some(wanted));
        assert_eq!(find_rollout(home.path(), "cd"), None);
        assert_eq!(find_rollout(home.path(), "ab-cd"), None);
        assert_eq!(
            rollout_of("rollout-2026-12-06T10-00-00-x-y.jsonl"),
            Some("x-y")
        );
        assert_eq!(rollout_of("rollout-short-x.jsonl"), None);
        assert_eq!(find_rollout(&home.path().join("none"), "01ab-cd"), None);
    }

    #[test]
    fn an_aborted_task_leaves_the_sum_unknown() {
        let home = tempfile::tempdir().expect("tempdir");
        let day = home.path().join("sessions/2026/12/06");
        fs::create_dir_all(&day).expect("mkdir");
        let file = day.join("rollout-2026-12-06T10-00-00-s1.jsonl");
        let end = |kind: &str| {
            format!("{ROLLOUT}{{\"type\":\"event_msg\",\"payload\":{{\"type\":\"{kind}\"}}}}\n")
        };
        fs::write(&file, end("task_complete")).expect("write");
        let tokens = conversation_tokens(home.path(), "s1").expect("known");
        assert_eq!((tokens.input, tokens.output), (150, 10));
        fs::write(&file, end("turn_aborted")).expect("write");
        assert_eq!(conversation_tokens(home.path(), "s1"), None);
        // A turn whose end Codex has not written (in WRITE_LAG): unknown, not short.
        fs::write(&file, ROLLOUT).expect("write");
        assert_eq!(conversation_tokens(home.path(), "s1"), None);
    }

    #[test]
    fn codex_home_prefers_the_configured_env() {
        let env = BTreeMap::from([("CODEX_HOME".to_string(), "/x/codex".to_string())]);
        assert_eq!(codex_home(&env), Some(PathBuf::from("/x/codex")));
    }

    #[test]
    fn a_failed_prompt_says_the_provider_s_message() {
        let codex = AgentIdentity {
            name: "codex-acp".into(),
            version: "0.16.0".into(),
        };
        let error =
            |data: serde_json::Value| agent_client_protocol::Error::internal_error().data(data);
        let body =
            r#"{"error":{"code":null,"message":"quota gone","type":"invalid_request_error"}}"#;
        let e = error(serde_json::json!({"message": body, "codex_error_info": "other"}));
        assert_eq!(error_message(Some(&codex), &e), "quota gone");
        let e = error(serde_json::json!({"message": "We're busy."}));
        assert_eq!(error_message(Some(&codex), &e), "We're busy.");
        assert_eq!(error_message(None, &e), e.message);
        let e = error(serde_json::json!({"other": 1}));
        assert_eq!(error_message(Some(&codex), &e), e.message);
    }

    #[test]
    fn a_turn_is_the_difference_of_the_sums() {
        let before = Tokens {
            input: 100,
            output: 7,
            ..Tokens::default()
        };
        let after = Tokens {
            input: 150,
            output: 10,
            cache_read: 100,
            ..Tokens::default()
        };
        assert_eq!(
            spent_between(&before, &after),
            Tokens {
                input: 50,
                output: 3,
                cache_read: 100,
                ..Tokens::default()
            }
        );
        assert!(is_codex(Some(&AgentIdentity {
            name: "codex-acp".into(),
            version: "0.16.0".into()
        })));
        assert!(!is_codex(None));
    }
}
