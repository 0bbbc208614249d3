//! The tools: each one's input (a type whose doc comments become its JSON Schema's descriptions,
//! unknown fields refused), and what it does through the hub's current manager.
//!
//! A tool answers with structured content (the object of the CLI's `--json` where the CLI has
//! one) and, as text, the words the CLI prints followed by that object as JSON, for clients that
//! show a model only the text. A person's mistake (an unknown project, a target that names
//! nothing, a bad state word, an empty message) is a tool error whose text is the CLI's message;
//! arguments of the wrong type are the protocol's invalid-params error, from rmcp.

use std::str::FromStr;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock};
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{tool, tool_router, ErrorData};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use ao_core::agent::PermitDecision;
use ao_core::manager::{ForkOptions, KillOptions, QuestionReply, SpawnOptions};
use ao_core::report;
use ao_core::seen::Seen;
use ao_core::session::{PendingKind, RuntimeKind};
use ao_core::target::Target;

use crate::server::AoMcp;

/// The most of a full diff a tool answer carries.
const DIFF_CAP: usize = 256 * 1024;
/// How many conversation entries `logs` gives by default, and at most.
const LOGS_DEFAULT: usize = 20;
const LOGS_MAX: usize = 500;

/// Where a session runs.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Runtime {
    /// A tmux window a person can attach to.
    Tmux,
    /// A detached process.
    Process,
}

impl From<Runtime> for RuntimeKind {
    fn from(r: Runtime) -> RuntimeKind {
        match r {
            Runtime::Tmux => RuntimeKind::Tmux,
            Runtime::Process => RuntimeKind::Process,
        }
    }
}

/// `spawn`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SpawnInput {
    /// The project, as ao's config names it (only the config's projects).
    pub project: String,
    /// The session's first prompt: the task.
    pub prompt: String,
    /// The agent's own agent or mode (e.g. build, plan), as `ao spawn --agent`.
    pub agent: Option<String>,
    /// Where the session runs (default: the project's runtime).
    pub runtime: Option<Runtime>,
    /// The session's name (default: the project's prefix and the next number).
    pub name: Option<String>,
    /// The model, as provider/model (default: the project's).
    pub model: Option<String>,
}

/// `status`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// A project, project/name, or a name unique across projects (default: every session).
    pub target: Option<String>,
}

/// `wait`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitInput {
    /// The session: project/name, or a name unique across projects.
    pub session: String,
    /// The states to wait for (default: anything but active): active, waiting_input, blocked,
    /// ready, idle, exited. `ready` also accepts `idle`.
    pub until: Option<Vec<String>>,
    /// Give up after this many seconds (default 600, at most 3600). Giving up is a normal
    /// result: `timed_out` is true.
    pub timeout: Option<f64>,
}

/// `send`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendInput {
    /// The session: project/name, or a name unique across projects.
    pub session: String,
    /// The follow-up message.
    pub message: String,
}

/// The input of the tools that take only a session (`show`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionInput {
    /// The session: project/name, or a name unique across projects.
    pub session: String,
}

/// `diff`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiffInput {
    /// The session: project/name, or a name unique across projects.
    pub session: String,
    /// The whole diff (capped at 256 KiB) instead of git's --stat.
    #[serde(default)]
    pub full: bool,
}

/// `logs`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsInput {
    /// The session: project/name, or a name unique across projects.
    pub session: String,
    /// How many of the last entries (default 20, at most 500).
    pub last: Option<u64>,
}

/// `kill`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KillInput {
    /// project/name, a unique name, or a project (all its sessions).
    pub session: String,
    /// Also delete the agent's conversation and forget the session.
    #[serde(default)]
    pub purge: bool,
    /// Remove the work tree even if it holds uncommitted changes (they are lost).
    #[serde(default)]
    pub force: bool,
}

/// `fork`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkInput {
    /// The session to fork: project/name, or a name unique across projects.
    pub session: String,
    /// The fork's first message (none: it waits for `send`).
    pub prompt: Option<String>,
    /// A name instead of the next <prefix>-<N>.
    pub name: Option<String>,
    /// Keep only the messages before this one (a message id, as `show` lists them).
    pub at: Option<String>,
    /// Where the fork runs (default: the source's runtime).
    pub runtime: Option<Runtime>,
}

/// How to answer a permission request.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Allow this one call.
    Once,
    /// Allow it and calls like it in this project from now on.
    Always,
    /// Refuse it; the agent stops its turn.
    Reject,
}

impl From<Decision> for PermitDecision {
    fn from(d: Decision) -> PermitDecision {
        match d {
            Decision::Once => PermitDecision::Once,
            Decision::Always => PermitDecision::Always,
            Decision::Reject => PermitDecision::Reject,
        }
    }
}

/// `permit`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PermitInput {
    /// The session: project/name, or a name unique across projects.
    pub session: String,
    /// once (the default), always, or reject.
    pub decision: Option<Decision>,
    /// The request to answer (needed when several are pending; `status` lists them).
    pub request: Option<String>,
}

/// `answer`'s input.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    /// The session: project/name, or a name unique across projects.
    pub session: String,
    /// One answer per question asked (an option's label, or free text).
    pub answers: Option<Vec<String>>,
    /// Dismiss the question instead of answering; the agent stops its turn.
    #[serde(default)]
    pub reject: bool,
    /// The question to answer (needed when several are pending).
    pub request: Option<String>,
}

/// A tool's answer: the CLI's words, and `value` as structured content (and as JSON text after
/// the words).
pub(crate) fn done(words: impl Into<String>, value: Value) -> CallToolResult {
    let mut result = CallToolResult::success(vec![
        ContentBlock::text(words),
        ContentBlock::text(value.to_string()),
    ]);
    result.structured_content = Some(value);
    result
}

/// A person's mistake, or what ao could not do, in the CLI's words.
pub(crate) fn refused(said: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(said)])
}

/// An error of ao's and its causes, as the CLI prints it.
pub(crate) fn said(e: &ao_core::Error) -> String {
    ao_core::error::chain(e)
}

/// The target `text` names; an empty one names nothing (what to say instead).
pub(crate) fn target(text: &str, what: &str) -> Result<Target, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err(format!(
            "{what} is empty: name a session as project/name, or by a name unique across projects"
        ));
    }
    Ok(Target::from_str(text).unwrap_or_else(|never| match never {}))
}

macro_rules! tried {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(said) => return Ok(refused(said)),
        }
    };
}

/// Who answers a pending request, said in each request of `status`.
fn answered_by(kind: PendingKind, id: &str, allow_replies: bool) -> String {
    let (tool, command) = match kind {
        PendingKind::Permission => ("permit", "ao permit"),
        PendingKind::Question => ("answer", "ao answer"),
    };
    if allow_replies {
        format!("the {tool} tool (or a person: {command} {id})")
    } else {
        format!("a person: {command} {id}")
    }
}

/// A status object with, in each pending request, who answers it.
pub(crate) fn status_json(seen: &Seen, allow_replies: bool) -> Value {
    let status = seen.to_status();
    let mut value = serde_json::to_value(&status).unwrap_or(Value::Null);
    if let Some(pending) = value.get_mut("pending").and_then(Value::as_array_mut) {
        for (object, request) in pending.iter_mut().zip(&status.pending) {
            if let Some(object) = object.as_object_mut() {
                object.insert(
                    "answered_by".into(),
                    answered_by(request.kind, &status.id, allow_replies).into(),
                );
            }
        }
    }
    value
}

/// At most `cap` bytes of `text`, cut on a character boundary; and whether it was cut.
pub(crate) fn capped(text: &str, cap: usize) -> (&str, bool) {
    if text.len() <= cap {
        return (text, false);
    }
    let mut end = cap;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (&text[..end], true)
}

#[tool_router(router = tool_router, vis = "pub(crate)")]
impl AoMcp {
    /// Start a new agent session in one of ao's projects, on a task. Returns its address
    /// (project/name), which the other tools take.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        open_world_hint = false
    ))]
    async fn spawn(
        &self,
        Parameters(input): Parameters<SpawnInput>,
    ) -> Result<CallToolResult, ErrorData> {
        // A project the config does not name is refused by the manager, whose message lists
        // the config's projects.
        let mgr = self.hub().manager();
        let project = input.project.clone();
        let spawned = mgr
            .spawn(SpawnOptions {
                project: input.project,
                prompt: Some(input.prompt),
                runtime: input.runtime.map(Into::into),
                model: input.model,
                agent_mode: input.agent,
                name: input.name,
            })
            .await;
        Ok(match spawned {
            Ok(s) => {
                let rec = &s.session;
                let message = report::spawned(rec);
                done(
                    message.clone(),
                    json!({
                        "id": rec.address.to_string(),
                        "agent_session_id": rec.agent_session_id,
                        "message": message,
                    }),
                )
            }
            Err(e) => refused(format!(
                "cannot spawn a session in project {project}: {}",
                said(&e)
            )),
        })
    }

    /// What each session is doing and what it has cost: every session, a project's, or one.
    /// A pending request says who answers it.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn status(
        &self,
        Parameters(input): Parameters<StatusInput>,
    ) -> Result<CallToolResult, ErrorData> {
        let target = match input.target.as_deref().map(str::trim) {
            None | Some("") => Target::All,
            Some(t) => tried!(target(t, "target")),
        };
        let seen = match self.hub().manager().status(&target).await {
            Ok(seen) => seen,
            Err(e) => return Ok(refused(said(&e))),
        };
        let words: Vec<String> = seen
            .iter()
            .map(|s| {
                let st = s.to_status();
                let pending = if st.pending.is_empty() {
                    String::new()
                } else {
                    format!(", {} pending", st.pending.len())
                };
                format!("{}: {}{pending}", st.id, st.activity)
            })
            .collect();
        let words = if words.is_empty() {
            "no sessions".to_string()
        } else {
            words.join("\n")
        };
        let sessions: Vec<Value> = seen
            .iter()
            .map(|s| status_json(s, self.allow_replies()))
            .collect();
        Ok(done(words, json!({ "sessions": sessions })))
    }

    /// Wait until a session reaches a state (default: until it stops working), or the timeout.
    /// With a progress token, says each change of the session as progress; cancel to stop
    /// waiting.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn wait(
        &self,
        Parameters(input): Parameters<WaitInput>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        crate::wait::run(self, input, context).await
    }

    /// Send a follow-up message to a session.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        open_world_hint = false
    ))]
    async fn send(
        &self,
        Parameters(input): Parameters<SendInput>,
    ) -> Result<CallToolResult, ErrorData> {
        let target = tried!(target(&input.session, "session"));
        if input.message.trim().is_empty() {
            return Ok(refused("the message is empty"));
        }
        Ok(
            match self.hub().manager().send(&target, &input.message).await {
                Ok(rec) => {
                    let message = report::sent(&rec);
                    done(
                        message.clone(),
                        json!({ "id": rec.address.to_string(), "message": message }),
                    )
                }
                Err(e) => refused(said(&e)),
            },
        )
    }

    /// Everything about one session: status, cost and tokens, plan, files changed, last
    /// messages, resources.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn show(
        &self,
        Parameters(input): Parameters<SessionInput>,
    ) -> Result<CallToolResult, ErrorData> {
        let target = tried!(target(&input.session, "session"));
        let view = match self.hub().manager().show(&target).await {
            Ok(v) => v,
            Err(e) => return Ok(refused(said(&e))),
        };
        let s = &view.status;
        let cost = s
            .cost_usd
            .map_or_else(|| "cost unknown".to_string(), |c| format!("${c:.4}"));
        let summary = s
            .summary
            .as_deref()
            .map(|t| format!(": {t}"))
            .unwrap_or_default();
        let words = format!("{}: {}, {cost}{summary}", s.id, s.activity);
        let value = serde_json::to_value(&view).unwrap_or(Value::Null);
        Ok(done(words, value))
    }

    /// A session's changes against the commit its work tree started from, committed or not:
    /// git's --stat, or the whole diff with `full`.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn diff(
        &self,
        Parameters(input): Parameters<DiffInput>,
    ) -> Result<CallToolResult, ErrorData> {
        let target = tried!(target(&input.session, "session"));
        let mgr = self.hub().manager();
        let rec = match mgr.resolve_one(&target).await {
            Ok(rec) => rec,
            Err(e) => return Ok(refused(said(&e))),
        };
        let mut extra = vec!["--no-color".to_string()];
        if !input.full {
            extra.push("--stat".into());
        }
        let git = match mgr.diff(&target, &extra).await {
            Ok(git) => git,
            Err(e) => return Ok(refused(said(&e))),
        };
        let ran = ao_core::blocking::unblock(move || {
            git.to_command()
                .env("GIT_PAGER", "cat")
                .stdin(std::process::Stdio::null())
                .output()
        })
        .await;
        let out = match ran {
            Ok(out) if out.status.success() => out,
            Ok(out) => {
                return Ok(refused(format!(
                    "git diff failed in {}'s work tree: {}",
                    rec.address,
                    String::from_utf8_lossy(&out.stderr).trim()
                )))
            }
            Err(e) => return Ok(refused(format!("cannot run git; is it installed? {e}"))),
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let id = rec.address.to_string();
        Ok(if input.full {
            let (diff, truncated) = capped(&text, DIFF_CAP);
            let words = if diff.is_empty() {
                format!("{id}: no changes")
            } else if truncated {
                format!("{id}: the diff, cut at 256 KiB")
            } else {
                format!("{id}: the diff")
            };
            done(
                words,
                json!({ "id": id, "diff": diff, "truncated": truncated }),
            )
        } else {
            let stat = text.trim_end();
            let words = if stat.is_empty() {
                format!("{id}: no changes")
            } else {
                format!("{id}:\n{stat}")
            };
            done(words, json!({ "id": id, "stat": stat }))
        })
    }

    /// The last entries of a session's conversation: messages, tool calls and their results,
    /// errors, cost.
    #[tool(annotations(read_only_hint = true, open_world_hint = false))]
    async fn logs(
        &self,
        Parameters(input): Parameters<LogsInput>,
    ) -> Result<CallToolResult, ErrorData> {
        let target = tried!(target(&input.session, "session"));
        let last = match input.last {
            None => LOGS_DEFAULT,
            Some(n) if (1..=LOGS_MAX as u64).contains(&n) => n as usize,
            Some(n) => {
                return Ok(refused(format!(
                    "last {n} is not a number of entries from 1 to {LOGS_MAX}"
                )))
            }
        };
        let mgr = self.hub().manager();
        let rec = match mgr.resolve_one(&target).await {
            Ok(rec) => rec,
            Err(e) => return Ok(refused(said(&e))),
        };
        let entries = match mgr.transcript(&rec).await {
            Ok(entries) => entries,
            Err(e) => {
                return Ok(refused(format!(
                    "cannot read the conversation of {}: {}",
                    rec.address,
                    said(&e)
                )))
            }
        };
        let total = entries.len();
        let tail = &entries[total.saturating_sub(last)..];
        let words = format!(
            "{}: the last {} of {total} entries of its conversation",
            rec.address,
            tail.len()
        );
        Ok(done(
            words,
            json!({ "id": rec.address.to_string(), "entries": tail }),
        ))
    }

    /// Stop a session, or every session of a project. A work tree with uncommitted changes or
    /// unmerged commits is kept unless `force`.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = true,
        open_world_hint = false
    ))]
    async fn kill(
        &self,
        Parameters(input): Parameters<KillInput>,
    ) -> Result<CallToolResult, ErrorData> {
        let target = tried!(target(&input.session, "session"));
        let opts = KillOptions {
            purge: input.purge,
            force: input.force,
        };
        let report = match self.hub().manager().kill(&target, opts).await {
            Ok(r) => r,
            Err(e) => return Ok(refused(said(&e))),
        };
        let sessions: Vec<Value> = report
            .sessions
            .iter()
            .map(|k| {
                json!({
                    "id": k.id,
                    "message": report::killed(k).trim_end(),
                    "problems": k.problems,
                })
            })
            .collect();
        let mut words: String = report.sessions.iter().map(report::killed).collect();
        for k in &report.sessions {
            for p in &k.problems {
                words.push_str(&format!("{}: {p}\n", k.id));
            }
        }
        for p in &report.release_problems {
            words.push_str(&format!("{p}\n"));
        }
        let complete = report.complete();
        let mut result = done(
            words.trim_end().to_string(),
            json!({
                "sessions": sessions,
                "release_problems": report.release_problems,
                "complete": complete,
            }),
        );
        result.is_error = Some(!complete);
        Ok(result)
    }

    /// Start a new session from another's conversation and work (its own work tree, on a new
    /// branch from the source's, with the source's uncommitted changes).
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        open_world_hint = false
    ))]
    async fn fork(
        &self,
        Parameters(input): Parameters<ForkInput>,
    ) -> Result<CallToolResult, ErrorData> {
        let source = tried!(target(&input.session, "session"));
        let forked = self
            .hub()
            .manager()
            .fork(
                ForkOptions {
                    source: source.clone(),
                    name: input.name,
                    at: input.at,
                    runtime: input.runtime.map(Into::into),
                    prompt: input.prompt,
                },
                &|_| {},
            )
            .await;
        Ok(match forked {
            Ok(s) => {
                let message = format!(
                    "{} is a fork of {source}: {} session {} in {} ({})",
                    s.address,
                    s.agent,
                    s.agent_session_id.as_deref().unwrap_or("?"),
                    s.workspace.display(),
                    s.runtime
                );
                done(
                    message.clone(),
                    json!({
                        "id": s.address.to_string(),
                        "agent_session_id": s.agent_session_id,
                        "message": message,
                    }),
                )
            }
            Err(e) => refused(format!("cannot fork {source}: {}", said(&e))),
        })
    }

    /// Answer a session's pending permission request: allow once (default), always, or reject.
    /// Only when the person running ao allowed it (`ao mcp --allow-replies`).
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        open_world_hint = false
    ))]
    async fn permit(
        &self,
        Parameters(input): Parameters<PermitInput>,
    ) -> Result<CallToolResult, ErrorData> {
        if !self.allow_replies() {
            return Ok(refused(crate::server::REPLIES_NOT_ALLOWED));
        }
        let target = tried!(target(&input.session, "session"));
        let decision: PermitDecision = input.decision.unwrap_or(Decision::Once).into();
        Ok(
            match self
                .hub()
                .manager()
                .permit(&target, decision, input.request.as_deref())
                .await
            {
                Ok((rec, req)) => {
                    let message = report::permitted(&rec, &req, decision);
                    done(
                        message.clone(),
                        json!({ "id": rec.address.to_string(), "request": req.id, "message": message }),
                    )
                }
                Err(e) => refused(said(&e)),
            },
        )
    }

    /// Answer a session's pending question (one answer per question), or dismiss it with
    /// `reject`. Only when the person running ao allowed it (`ao mcp --allow-replies`).
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        open_world_hint = false
    ))]
    async fn answer(
        &self,
        Parameters(input): Parameters<AnswerInput>,
    ) -> Result<CallToolResult, ErrorData> {
        if !self.allow_replies() {
            return Ok(refused(crate::server::REPLIES_NOT_ALLOWED));
        }
        let target = tried!(target(&input.session, "session"));
        let reply = match (input.answers, input.reject) {
            (Some(answers), false) if !answers.is_empty() => QuestionReply::Answers(answers),
            (None, true) => QuestionReply::Dismiss,
            _ => {
                return Ok(refused(
                    "give either answers (one per question) or reject: true",
                ))
            }
        };
        let dismissed = reply == QuestionReply::Dismiss;
        Ok(
            match self
                .hub()
                .manager()
                .answer(&target, input.request.as_deref(), reply)
                .await
            {
                Ok((rec, req)) => {
                    let message = report::answered(&rec, &req, dismissed);
                    done(
                        message.clone(),
                        json!({ "id": rec.address.to_string(), "request": req.id, "message": message }),
                    )
                }
                Err(e) => refused(said(&e)),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_text_is_cut_on_a_character_boundary() {
        assert_eq!(capped("abc", 5), ("abc", false));
        assert_eq!(capped("aé", 2), ("a", true));
        assert_eq!(capped("aéb", 3), ("aé", true));
    }

    #[test]
    fn a_pending_request_says_who_answers_it() {
        assert_eq!(
            answered_by(PendingKind::Permission, "p/w", false),
            "a person: ao permit p/w"
        );
        assert_eq!(
            answered_by(PendingKind::Question, "p/w", true),
            "the answer tool (or a person: ao answer p/w)"
        );
    }
}
