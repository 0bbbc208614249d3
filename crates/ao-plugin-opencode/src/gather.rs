//! One project's sessions observed through its server in a batch: the sessions in one list, each
//! one's last message where it may have changed, and status, permissions and questions once per
//! directory where a turn may be under way. [`observe`](crate::observe) turns what was gathered
//! into activities.

use std::collections::{BTreeSet, HashMap};

use futures_util::future::join_all;

use ao_agent::agent::{Observation, PlanItem, ProjectContext, SessionContext};
use ao_agent::project::Project;
use ao_agent::session::{
    Activity, PendingKind, PendingQuestion, PendingRequest, SessionError, SessionRecord, TodoCount,
    Why,
};

use crate::client::{Client, ClientError};
use crate::directories::ProjectDirs;
use crate::last_messages::LastMessages;
use crate::mid_turn::MidTurn;
use crate::observe;
use crate::server::ServerRecord;
use crate::server_list::{Listed, ServerList};
use crate::session_list::SessionList;
use crate::types::{MessageInfo, Session, SessionStatus};
use crate::{now_ms, OpenCodeAgent};

/// How deep a chain of child sessions (subagents of subagents) is followed to its tracked root.
const MAX_CHILD_DEPTH: usize = 4;

/// The session object, its last message and its plan counts (`None` when unread; `0/0` without
/// a plan), as fetched
/// (or remembered) for one session.
type SessionFacts = (
    Result<Session, ClientError>,
    Result<Option<MessageInfo>, ClientError>,
    Option<TodoCount>,
);

/// What the directories' instances say: statuses, the requests pending there, and the
/// directories that could not be asked.
#[derive(Default)]
struct DirectoryFacts {
    statuses: HashMap<String, SessionStatus>,
    requests: Vec<PendingRequest>,
    failed: HashMap<String, String>,
}

impl OpenCodeAgent {
    /// Observes a project's sessions through its server, whose process runs; fails when the
    /// server does not answer the first request (the list of its sessions).
    pub(crate) async fn observe_project(
        &self,
        cx: &ProjectContext<'_>,
        server: &ServerRecord,
        client: &Client,
        sessions: &[SessionContext<'_>],
        shared: Option<&ServerList>,
    ) -> Result<Vec<Observation>, ClientError> {
        // Taken before the first request: a mark made after it is newer than what is seen here.
        let looked_at = shared.map_or_else(now_ms, |s| s.looked_at);
        let records: Vec<&SessionRecord> = sessions.iter().map(|s| s.record).collect();
        let timed = ao_agent::timing::phase(|| "settled-turn memory read".into());
        let mirror = async {
            match shared.and_then(|s| s.take_mirror(&cx.project.name)) {
                Some(loaded) => loaded,
                None => {
                    SessionList::load(cx, server.list_key(), server.process_here(), looked_at).await
                }
            }
        };
        let (mut cache, mut list, marks) =
            futures_util::join!(LastMessages::load(cx), mirror, MidTurn::load(cx));
        drop(timed);
        // A prompt stored through ao marks its session; the feeds may not have heard of it yet.
        let nobody_mid_turn = matches!(&marks, Some(m) if m.as_ref().is_none_or(|m| m.is_empty()));
        let lister = Lister {
            client,
            shared: shared.map(|s| {
                let workspaces = records.iter().map(|r| r.workspace.as_path());
                (s, ProjectDirs::of(cx).with_workspaces(workspaces))
            }),
        };
        let per_session =
            sessions_and_last_messages(&lister, &records, &mut cache, &mut list, nobody_mid_turn)
                .await?;
        let timed = ao_agent::timing::phase(|| "settled-turn memory write".into());
        futures_util::join!(cache.save(cx), list.save(cx));
        drop(timed);

        // Status, permissions and questions are per directory, and asked only where a turn may be
        // under way: a session whose last step has ended for good cannot be busy, retrying or
        // waiting on a request (a request keeps its step open). With many finished sessions this
        // saves three requests per work tree on every `ao status`.
        let open: BTreeSet<String> = records
            .iter()
            .zip(&per_session)
            .filter(|(_, (session, last, _))| match last {
                // A conversation the server no longer has runs no turn.
                _ if session.as_ref().is_err_and(ClientError::is_not_found) => false,
                Ok(m) => m.as_ref().is_none_or(|m| !observe::turn_settled(m)),
                Err(_) => true,
            })
            .map(|(s, _)| s.workspace.to_string_lossy().into_owned())
            .collect();
        let dirs = directory_facts(client, &open).await;
        let tracked: BTreeSet<&str> = records
            .iter()
            .filter_map(|s| s.agent_session_id.as_deref())
            .collect();
        let owners = owners(client, &dirs.requests, &tracked).await;
        // A session counts as seen outside a turn only when all that was asked about it arrived:
        // a look cut short (its server dying under it) must not erase the mark that says its
        // turn was under way, or the turn would then read as finished instead of interrupted.
        let unreachable = |e: &ClientError| matches!(e, ClientError::Unreachable { .. });
        let inconclusive: BTreeSet<String> = records
            .iter()
            .zip(&per_session)
            .filter(|(r, (session, last, _))| {
                session.as_ref().err().is_some_and(unreachable)
                    || last.as_ref().err().is_some_and(unreachable)
                    || dirs
                        .failed
                        .contains_key(r.workspace.to_string_lossy().as_ref())
            })
            .filter_map(|(r, _)| r.agent_session_id.clone())
            .collect();

        let shown = server.shown_to(&cx.project.name);
        let observations: Vec<Observation> = records
            .iter()
            .zip(per_session)
            .map(|(rec, facts)| Observation {
                server: Some(shown.clone()),
                ..observe_one(rec, facts, &dirs, &owners, server, looked_at)
            })
            .collect();
        let busy: Vec<String> = records
            .iter()
            .zip(&observations)
            .filter(|(_, o)| mid_turn(o))
            .filter_map(|(s, _)| s.agent_session_id.clone())
            .collect();
        let observed = tracked
            .iter()
            .filter(|s| !inconclusive.contains(**s))
            .map(|s| s.to_string())
            .collect();
        ao_agent::fault::pause_point("before-recording-observation").await;
        // A memory that cannot be written is only a memory lost: what was observed stands.
        let _timed = ao_agent::timing::phase(|| "mid-turn marks write".into());
        let _ = MidTurn::record(cx, marks, looked_at, observed, busy).await;
        Ok(observations)
    }
}

/// Every session and its last message. The sessions come in one list of the project's, of only
/// those changed since the last look where the mirror of the list allows; the last message only
/// where the session changed since its turn was last seen settled. A session missing from the
/// list (or a list the server refused) is asked for alone. A server that does not answer the list
/// at all fails the whole observation: that list is the status's health check. With no session
/// mid-turn, and the project's feeds vouching that the server has been quiet since the mirror was
/// synced, the mirror is the list and nothing is asked.
async fn sessions_and_last_messages(
    lister: &Lister<'_>,
    records: &[&SessionRecord],
    cache: &mut LastMessages,
    list: &mut SessionList,
    nobody_mid_turn: bool,
) -> Result<Vec<SessionFacts>, ClientError> {
    let client = lister.client;
    let Some(first) = records.first() else {
        return Ok(Vec::new());
    };
    let unchanged = list.unchanged().filter(|_| nobody_mid_turn);
    let mut listed: HashMap<String, Session> = match unchanged {
        Some(unchanged) => {
            // Timed so that AO_TIMING shows the request that was not made.
            drop(ao_agent::timing::phase(|| {
                "session list: unchanged, as the feeds vouch".into()
            }));
            unchanged
        }
        None => match lister
            .list(&first.workspace.to_string_lossy(), list.since())
            .await
        {
            Ok(answer) => {
                let listed = list.take_listed(answer.sessions, answer.whole);
                // What is remembered of a session the server no longer has is dropped; a tracked
                // one left out of the list (it is someone's child) keeps its memory.
                let ids: Vec<&str> = listed
                    .keys()
                    .map(String::as_str)
                    .chain(records.iter().filter_map(|r| r.agent_session_id.as_deref()))
                    .collect();
                cache.retain(&ids);
                listed
            }
            Err(e @ ClientError::Unreachable { .. }) => return Err(e),
            // A refused password is refused for every request: nothing more to ask.
            Err(e @ ClientError::Status { status, .. }) if status.as_u16() == 401 => return Err(e),
            Err(_) => HashMap::new(),
        },
    };
    // Sessions read alone go into the mirror of the list, so that the next look knows them.
    let read_alone: Vec<bool> = records
        .iter()
        .map(|r| !listed.contains_key(r.agent_session_id.as_deref().unwrap_or_default()))
        .collect();
    let remembered = &*cache;
    let gone = list.gone();
    let per_session = join_all(records.iter().map(|s| {
        let id = s.agent_session_id.as_deref().unwrap_or_default();
        let found = listed.remove(id);
        async move {
            let session = match found {
                Some(found) => Ok(found),
                // Deleted for good: nothing to ask, at this look or any later one.
                None if gone.contains(id) => Err(ClientError::session_not_found(id)),
                None => client.session(id).await,
            };
            if session.as_ref().is_err_and(ClientError::is_not_found) {
                return (session, Ok(None), None);
            }
            let known = session
                .as_ref()
                .ok()
                .and_then(|found| remembered.last_message(id, found.time.updated));
            // The plan is read with the last message: only where the session changed (or where
            // an older ao remembered the message without it).
            let plan = || async {
                client.todos(id).await.ok().map(|t| {
                    let plan: Vec<PlanItem> = t.into_iter().map(PlanItem::from).collect();
                    PlanItem::count(&plan)
                })
            };
            let (last, todos) = match known {
                Some((m, Some(todos))) => (Ok(Some(m.clone())), Some(todos)),
                Some((m, None)) => (Ok(Some(m.clone())), plan().await),
                None => {
                    let (last, todos) = futures_util::join!(client.messages(id, Some(1)), plan());
                    (last.map(|mut m| m.pop().map(|m| m.info)), todos)
                }
            };
            (session, last, todos)
        }
    }))
    .await;
    for ((rec, (session, last, todos)), alone) in records.iter().zip(&per_session).zip(read_alone) {
        match (&rec.agent_session_id, session) {
            (Some(id), Err(e)) if e.is_not_found() => list.note_gone(id),
            (Some(id), Ok(session)) => {
                if alone {
                    list.note(session);
                }
                if let Ok(last) = last {
                    cache.note(id, session.time.updated, last.as_ref(), *todos);
                }
            }
            _ => {}
        }
    }
    Ok(per_session)
}

/// Where a project's sessions are listed from: its own request, or the list of the server it
/// shares with the projects observed with it.
struct Lister<'a> {
    client: &'a Client,
    shared: Option<(&'a ServerList, ProjectDirs)>,
}

impl Lister<'_> {
    /// The project's top-level sessions (those updated since `since`, at least).
    async fn list(&self, directory: &str, since: Option<i64>) -> Result<Listed, ClientError> {
        if let Some((shared, dirs)) = &self.shared {
            if let Some(listed) = shared.sessions_of(self.client, dirs).await {
                return Ok(listed);
            }
        }
        let sessions = self.client.project_sessions(directory, since).await?;
        Ok(Listed {
            sessions,
            whole: since.is_none(),
        })
    }
}

/// Status, permissions and questions of each directory, asked concurrently.
async fn directory_facts(client: &Client, dirs: &BTreeSet<String>) -> DirectoryFacts {
    let per_dir = join_all(dirs.iter().map(|d| async move {
        let (st, perms, qs) = futures_util::join!(
            client.statuses(d),
            client.permissions(d),
            client.questions(d)
        );
        (d.clone(), st, perms, qs)
    }))
    .await;
    let mut facts = DirectoryFacts::default();
    for (dir, st, perms, qs) in per_dir {
        match st {
            Ok(st) => facts.statuses.extend(st),
            Err(e) => {
                facts.failed.insert(dir.clone(), e.to_string());
            }
        }
        for p in perms.unwrap_or_default() {
            facts.requests.push(PendingRequest {
                kind: PendingKind::Permission,
                id: p.id,
                title: format!("{}: {}", p.permission, p.patterns.join(" ")),
                from_session: Some(p.session_id),
                tool: Some(p.permission),
                options: Vec::new(),
                questions: Vec::new(),
            });
        }
        for q in qs.unwrap_or_default() {
            let title = match q.questions.first() {
                Some(first) if q.questions.len() > 1 => {
                    format!("{} (+{} more)", first.question, q.questions.len() - 1)
                }
                Some(first) => first.question.clone(),
                None => "question".into(),
            };
            facts.requests.push(PendingRequest {
                kind: PendingKind::Question,
                id: q.id,
                title,
                from_session: Some(q.session_id),
                tool: None,
                options: Vec::new(),
                questions: q
                    .questions
                    .into_iter()
                    .map(|q| PendingQuestion {
                        question: q.question,
                        options: q.options.into_iter().map(|o| o.label).collect(),
                    })
                    .collect(),
            });
        }
    }
    facts
}

/// One session's observation from what was gathered.
fn observe_one(
    rec: &SessionRecord,
    (session, last, todos): SessionFacts,
    dirs: &DirectoryFacts,
    owners: &HashMap<String, String>,
    server: &ServerRecord,
    now: i64,
) -> Observation {
    let id = rec.agent_session_id.as_deref().unwrap_or_default();
    let session = match session {
        Ok(s) => s,
        Err(e) if e.is_not_found() => {
            return Observation::bare(
                Activity::Exited,
                Some(SessionError {
                    why: Why::SessionDeleted,
                    message: format!("OpenCode has no session {id} any more"),
                }),
            )
        }
        Err(e) => return unobservable(&e),
    };
    if let Some(err) = dirs.failed.get(rec.workspace.to_string_lossy().as_ref()) {
        return unobservable(err);
    }
    let pending: Vec<PendingRequest> = dirs
        .requests
        .iter()
        .filter(|r| {
            let from = r.from_session.as_deref().unwrap_or_default();
            owners.get(from).map(String::as_str) == Some(id)
        })
        .map(|r| PendingRequest {
            from_session: r.from_session.clone().filter(|f| f != id),
            ..r.clone()
        })
        .collect();
    let last = match last {
        Ok(m) => m,
        Err(e) => return unobservable(&e),
    };
    observe::observe(
        &observe::ServerFacts {
            session: &session,
            status: dirs.statuses.get(id),
            last_message: last.as_ref(),
            pending,
            server_started_at: server.started_at_ms(),
            // An empty plan is no plan.
            todos: todos.filter(|t| t.total > 0),
        },
        now,
    )
}

/// Maps each session that raised a request to the tracked session it belongs to: itself, or the
/// tracked ancestor of a child session (a subagent).
async fn owners(
    client: &Client,
    requests: &[PendingRequest],
    tracked: &BTreeSet<&str>,
) -> HashMap<String, String> {
    let unique: BTreeSet<&str> = requests
        .iter()
        .filter_map(|r| r.from_session.as_deref())
        .collect();
    let found = join_all(unique.into_iter().map(|start| async move {
        let mut current = start.to_string();
        for _ in 0..=MAX_CHILD_DEPTH {
            if tracked.contains(current.as_str()) {
                return Some((start.to_string(), current));
            }
            match client
                .session(&current)
                .await
                .ok()
                .and_then(|s| s.parent_id)
            {
                Some(parent) => current = parent,
                None => return None,
            }
        }
        None
    }))
    .await;
    found.into_iter().flatten().collect()
}

/// Whether an observation shows a turn in progress (cut off, should the server die now).
fn mid_turn(o: &Observation) -> bool {
    match o.activity {
        Activity::Active | Activity::WaitingInput => true,
        Activity::Blocked => o.error.as_ref().is_some_and(|e| e.why == Why::Retry),
        _ => false,
    }
}

fn unobservable(err: &dyn std::fmt::Display) -> Observation {
    Observation::bare(
        Activity::Blocked,
        Some(SessionError {
            why: Why::Unobservable,
            message: err.to_string(),
        }),
    )
}

/// What a session is while its project's server is gone: cut off mid-turn (blocked), or simply
/// exited.
pub(crate) fn server_gone(project: &Project, s: &SessionRecord, cut_off: &[String]) -> Observation {
    let (activity, why, message) = if s
        .agent_session_id
        .as_ref()
        .is_some_and(|id| cut_off.contains(id))
    {
        (
            Activity::Blocked,
            Why::Interrupted,
            format!(
                "the OpenCode server of project {} stopped in the middle of a turn; \
                 `ao restore {}` brings it back, then `ao send` continues",
                project.name, s.address
            ),
        )
    } else {
        (
            Activity::Exited,
            Why::ServerGone,
            format!(
                "the OpenCode server of project {} is not running; `ao restore {}` brings it back",
                project.name, s.address
            ),
        )
    };
    Observation::bare(activity, Some(SessionError { why, message }))
}
