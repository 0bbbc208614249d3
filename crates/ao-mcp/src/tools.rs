//! The tools: each one's input (a type whose doc comments become its JSON Schema's descriptions,
//! unknown fields refused), and what it does through the hub's current manager.
//!
//! A tool answers with structured content (the object of the CLI's `--json` where the CLI has
//! one) and, as text, the words the CLI prints followed by that object as JSON, for clients that
//! show a model only the text. A person's mistake (an unknown project, a target that names
//! nothing, a bad state word, an empty message) is a tool error whose text is the CLI's message.
//! Arguments that do not fit the schema are a tool error too, rmcp's (`failed to deserialize
//! parameters: …`), as MCP 2025-11-25 asks, so that the model can correct itself; an unknown tool
//! is a protocol error.
//!
//! `input` holds the input types, `reply` how a tool answers.

mod git_output;
mod input;
mod reply;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::{RequestContext, RoleServer};
use rmcp::{tool, tool_router, ErrorData};
use serde_json::{json, Value};

use ao_core::agent::PermitDecision;
use ao_core::manager::{ForkOptions, KillOptions, QuestionReply, SpawnOptions};
use ao_core::report;
use ao_core::target::Target;

pub use input::*;
pub(crate) use reply::{
    capped, done, object, refused, replied, said, say_who_answers, status_json, target,
};

use crate::server::AoMcp;
use git_output::{read_capped, GitOutput};

/// The most of a full diff a tool answer carries.
const DIFF_CAP: usize = 256 * 1024;
/// How many conversation entries `logs` gives by default, and at most.
const LOGS_DEFAULT: usize = 20;
const LOGS_MAX: usize = 500;

macro_rules! tried {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(said) => return Ok(refused(said)),
        }
    };
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
            .map_or_else(|| "cost unknown".to_string(), |c| format!("${c:.6}"));
        let summary = s
            .summary
            .as_deref()
            .map(|t| format!(": {t}"))
            .unwrap_or_default();
        let words = format!("{}: {}, {cost}{summary}", s.id, s.activity);
        let mut value = object(&view);
        say_who_answers(&mut value, s, self.allow_replies());
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
        let ran = ao_core::blocking::unblock(move || read_capped(git.to_command(), DIFF_CAP)).await;
        let text = match ran {
            Ok(GitOutput::Done { stdout } | GitOutput::Cut { stdout }) => stdout,
            Ok(GitOutput::Failed { stderr }) => {
                return Ok(refused(format!(
                    "git diff failed in {}'s work tree: {}",
                    rec.address,
                    stderr.trim()
                )))
            }
            Err(e) => return Ok(refused(format!("cannot run git; is it installed? {e}"))),
        };
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
        for p in report::kill_problems(&report) {
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
                let message = report::forked(&s, &source);
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
    /// Only when the person running ao allowed it (`ao mcp --allow-replies`): `call_tool` serves
    /// it only then.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        open_world_hint = false
    ))]
    async fn permit(
        &self,
        Parameters(input): Parameters<PermitInput>,
    ) -> Result<CallToolResult, ErrorData> {
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
                    replied(&rec, &req, message)
                }
                Err(e) => refused(said(&e)),
            },
        )
    }

    /// Answer a session's pending question (one answer per question), or dismiss it with
    /// `reject`. Only when the person running ao allowed it (`ao mcp --allow-replies`):
    /// `call_tool` serves it only then.
    #[tool(annotations(
        read_only_hint = false,
        destructive_hint = false,
        open_world_hint = false
    ))]
    async fn answer(
        &self,
        Parameters(input): Parameters<AnswerInput>,
    ) -> Result<CallToolResult, ErrorData> {
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
                    replied(&rec, &req, message)
                }
                Err(e) => refused(said(&e)),
            },
        )
    }
}
