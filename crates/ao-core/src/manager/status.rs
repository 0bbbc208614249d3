//! `ao status`: one runtime check per runtime and one batched observation per project, projects
//! observed concurrently, composed into the status of each session.

use std::collections::BTreeMap;

use futures_util::future::join_all;

use super::SessionManager;
use crate::agent::{Observation, SessionContext};
use crate::clock::rfc3339;
use crate::config::ProjectConfig;
use crate::error::Result;
use crate::runtime::RuntimeHandle;
use crate::session::{
    Activity, Lifecycle, ProcessState, RuntimeKind, SessionAddress, SessionError, SessionRecord,
    SessionStatus,
};
use crate::store::LastObservation;
use crate::timing;

impl SessionManager {
    /// The status of the sessions a target names (all when `None`).
    pub async fn status(&self, target: &crate::target::Target) -> Result<Vec<SessionStatus>> {
        let records = self.resolve(target).await?;
        self.status_of(&records).await
    }

    /// The status of the given sessions: one runtime check per runtime, one batched observation
    /// per project, projects observed concurrently. A project whose agent does not answer within
    /// the status budget shows what was last observed of its sessions, marked stale.
    pub async fn status_of(&self, records: &[SessionRecord]) -> Result<Vec<SessionStatus>> {
        let now = self.clock.now_ms();
        let mut deadline = tokio::time::Instant::now() + self.status_budget;
        if let Some(at) = self.status_deadline {
            deadline = deadline.min(tokio::time::Instant::from_std(at));
        }
        let (alive, observations, kept) = futures_util::join!(
            async {
                let _timed = timing::phase(|| "liveness".into());
                self.liveness(records).await
            },
            self.observe_all(records, deadline),
            async {
                let _timed = timing::phase(|| "last observations read".into());
                self.db(|store| store.last_observations()).await
            }
        );
        // Without what was kept, a late project only has nothing to show; the status stands.
        let kept = kept.unwrap_or_default();
        let mut obs_by_address = observations;
        let mut to_keep = Vec::new();
        let mut observed = Vec::with_capacity(records.len());
        // For each session shown as last seen: when that was (`None`: never).
        let mut stale: Vec<Option<Option<i64>>> = Vec::with_capacity(records.len());
        for (r, alive) in records.iter().zip(&alive) {
            let mut late = None;
            observed.push(match obs_by_address.remove(&r.address) {
                Some(Some(obs)) => {
                    let json = serde_json::to_string(&obs).unwrap_or_default();
                    // A look that saw nothing (an unreachable host, a refused password) is not
                    // kept: a later stale status shows what was last really seen.
                    let unseen = obs.error.as_ref().is_some_and(|e| e.is_unseen());
                    if !unseen && kept.get(&r.address).is_none_or(|k| k.json != json) {
                        let observed_at = now;
                        to_keep.push((r.address.clone(), LastObservation { json, observed_at }));
                    }
                    obs
                }
                Some(None) => {
                    let last = kept
                        .get(&r.address)
                        .and_then(|k| Some((k.observation()?, k.observed_at)));
                    late = Some(last.as_ref().map(|(_, at)| *at));
                    match last {
                        Some((obs, _)) => obs,
                        None => Observation::bare(
                            Activity::Blocked,
                            Some(SessionError {
                                name: "ServerUnresponsive".into(),
                                message: format!(
                                    "its agent did not answer within {:.1}s, and nothing was \
                                     seen of it before; `ao status --timeout SECS` waits longer",
                                    self.status_budget.as_secs_f64()
                                ),
                            }),
                        ),
                    }
                }
                None if r.lifecycle == Lifecycle::Spawning => {
                    self.spawning_observation(r, *alive).await?
                }
                None => Observation::bare(Activity::Exited, None),
            });
            stale.push(late);
        }
        if !to_keep.is_empty() {
            let _timed = timing::phase(|| "last observations write".into());
            // Failing to keep them only means less to show should the agent be late next time.
            let _ = self
                .db(move |store| store.keep_observations(&to_keep))
                .await;
        }
        // After the observations: what the agent last did is part of what keeps a count true.
        let last_activity: Vec<_> = observed.iter().map(|o| o.last_activity_at).collect();
        let files = self.files_changed_of(records, &last_activity).await;
        let mut out: Vec<SessionStatus> = records
            .iter()
            .zip(observed)
            .zip(alive)
            .zip(files)
            .zip(stale)
            .map(|((((r, obs), alive), files), late)| {
                let mut status = self.compose(r, obs, alive, files, now);
                if let Some(since) = late {
                    status.stale = true;
                    status.stale_since = since.map(rfc3339);
                }
                status
            })
            .collect();
        // Transitions, budgets and the projects' monitors: manager/transitions.rs.
        self.note(records, &mut out, now).await?;
        Ok(out)
    }

    /// What the agents say about the live sessions among `records`, projects concurrently: `None`
    /// for the sessions of a project whose agent did not answer by `deadline`.
    async fn observe_all(
        &self,
        records: &[SessionRecord],
        deadline: tokio::time::Instant,
    ) -> BTreeMap<SessionAddress, Option<Observation>> {
        let mut by_project: BTreeMap<&str, Vec<&SessionRecord>> = BTreeMap::new();
        for r in records {
            if r.lifecycle == Lifecycle::Live && r.agent_session_id.is_some() {
                by_project.entry(&r.address.project).or_default().push(r);
            }
        }
        let observations = join_all(by_project.into_iter().map(|(name, recs)| async move {
            let _timed = timing::phase(|| format!("observe project {name}"));
            let obs: Vec<Option<Observation>> = match self.config.project(name) {
                Ok(project) => {
                    match tokio::time::timeout_at(deadline, self.observe_project(project, &recs))
                        .await
                    {
                        Ok(obs) => obs.into_iter().map(Some).collect(),
                        Err(_) => vec![None; recs.len()],
                    }
                }
                Err(_) => recs
                    .iter()
                    .map(|_| {
                        Some(Observation::bare(
                            Activity::Exited,
                            Some(SessionError {
                                name: "UnknownProject".into(),
                                message: format!(
                                    "project {name} is no longer in {}",
                                    self.config.file.display()
                                ),
                            }),
                        ))
                    })
                    .collect(),
            };
            recs.into_iter()
                .map(|r| r.address.clone())
                .zip(obs)
                .collect::<Vec<_>>()
        }))
        .await;
        observations.into_iter().flatten().collect()
    }

    /// One project's sessions, observed by their agents (a project's sessions may have been
    /// spawned with different agents over time).
    async fn observe_project(
        &self,
        project: &ProjectConfig,
        recs: &[&SessionRecord],
    ) -> Vec<Observation> {
        let mut by_agent: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, r) in recs.iter().enumerate() {
            by_agent.entry(&r.agent).or_default().push(i);
        }
        let mut out: Vec<Option<Observation>> = vec![None; recs.len()];
        for (agent, idx) in by_agent {
            let bound = match self.bind(agent, project) {
                Ok(b) => b,
                Err(e) => {
                    for i in idx {
                        out[i] = Some(Observation::bare(
                            Activity::Exited,
                            Some(SessionError {
                                name: "UnknownAgent".into(),
                                message: e.to_string(),
                            }),
                        ));
                    }
                    continue;
                }
            };
            let sessions: Vec<SessionContext<'_>> = idx
                .iter()
                .map(|&i| SessionContext {
                    record: recs[i],
                    home: &self.home,
                })
                .collect();
            let obs = bound.agent.observe(&bound.cx(), &sessions).await;
            for (i, o) in idx.into_iter().zip(obs) {
                out[i] = Some(o);
            }
        }
        out.into_iter()
            .map(|o| {
                o.unwrap_or_else(|| {
                    Observation::bare(
                        Activity::Exited,
                        Some(SessionError {
                            name: "Unobserved".into(),
                            message: "its agent gave no observation for it".into(),
                        }),
                    )
                })
            })
            .collect()
    }

    /// Whether each session's program runs: one batched call per runtime.
    pub(crate) async fn liveness(&self, records: &[SessionRecord]) -> Vec<bool> {
        let mut out = vec![false; records.len()];
        for kind in [RuntimeKind::Tmux, RuntimeKind::Process] {
            let (idx, handles): (Vec<usize>, Vec<RuntimeHandle>) = records
                .iter()
                .enumerate()
                .filter(|(_, r)| r.runtime == kind)
                .filter_map(|(i, r)| r.runtime_handle.clone().map(|h| (i, h)))
                .unzip();
            if handles.is_empty() {
                continue;
            }
            let alive = self
                .on_runtime(kind, move |rt| {
                    rt.alive(&handles.iter().collect::<Vec<_>>())
                })
                .await;
            for (i, a) in idx.into_iter().zip(alive) {
                out[i] = a;
            }
        }
        out
    }

    fn compose(
        &self,
        r: &SessionRecord,
        obs: Observation,
        alive: bool,
        files_changed: Option<usize>,
        now: i64,
    ) -> SessionStatus {
        let activity = match obs.activity {
            Activity::Ready
                if obs.last_activity_at.is_some_and(|t| {
                    now.saturating_sub(t) > self.config.ready_threshold_ms as i64
                }) =>
            {
                Activity::Idle
            }
            a => a,
        };
        let id = r.address.to_string();
        SessionStatus {
            project: r.address.project.clone(),
            name: r.address.name.clone(),
            agent: r.agent.clone(),
            runtime: r.runtime,
            process: if alive {
                ProcessState::Running
            } else {
                ProcessState::Exited
            },
            activity,
            // Both filled in by `note` (manager/transitions.rs).
            activity_since: None,
            budget_usd: None,
            agent_session_id: r.agent_session_id.clone(),
            workspace: r.workspace.clone(),
            branch: r.branch.clone(),
            created_at: rfc3339(r.created_at),
            last_activity_at: obs.last_activity_at.map(rfc3339),
            model: obs.model.or_else(|| r.model.clone()),
            summary: obs.summary,
            tokens: obs.tokens,
            cost_usd: obs.cost_usd,
            pending: obs.pending,
            error: obs.error,
            stale: false,
            stale_since: None,
            host: self.remote_host_of(r).ok().flatten(),
            todos: obs.todos,
            files_changed,
            attach_command: Some(format!("ao attach {id}")),
            restore_command: Some(format!("ao restore {id}")),
            id,
        }
    }
}
