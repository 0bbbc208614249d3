//! A look at sessions (`ao status` and every view): one runtime check per runtime and one batched
//! observation per project, projects observed concurrently, with what the store holds of them,
//! composed into a [`Seen`] of each session. A look writes nothing; recording what it saw is
//! manager/transitions.rs.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::future::join_all;

use super::session_manager::SessionManager;
use crate::agent::{Observation, SessionContext};
use crate::clock::EpochMillis;
use crate::error::Result;
use crate::runtime::RuntimeHandle;
use crate::seen::{Freshness, IdleRule, Note, Seen, Spend};
use crate::session::{
    Activity, Lifecycle, ProcessState, RuntimeKind, SessionAddress, SessionError, SessionRecord,
    Why,
};
use crate::timing;

impl SessionManager {
    /// `ao status`: the sessions a target names (all when `None`), looked at and what was seen
    /// recorded; then the monitors their projects need and lack are started (one that died is
    /// started again by the next status).
    pub async fn status(&self, target: &crate::target::Target) -> Result<Vec<Seen>> {
        let records = {
            let _timed = timing::phase(|| "sessions read".into());
            self.resolve(target).await?
        };
        let seen = self.status_of(&records).await?;
        let _timed = timing::phase(|| "monitors ensured".into());
        self.ensure_monitors(&records).await;
        Ok(seen)
    }

    /// The given sessions looked at ([`look`](Self::look)), and what was seen recorded
    /// ([`record`](Self::record)): what every view that keeps the store up to date does.
    pub async fn status_of(&self, records: &[SessionRecord]) -> Result<Vec<Seen>> {
        let mut seen = self.look(records).await?;
        self.record(&mut seen).await?;
        Ok(seen)
    }

    /// What the given sessions are doing: one runtime check per runtime, one batched observation
    /// per project, projects observed concurrently, and one read of what the store holds of them
    /// (their transitions, costs and last observations). A project whose agent does not answer
    /// within the status budget shows what was last observed of its sessions, marked stale.
    /// Writes nothing and starts nothing.
    pub async fn look(&self, records: &[SessionRecord]) -> Result<Vec<Seen>> {
        let now = self.clock.now_ms();
        let mut deadline = tokio::time::Instant::now() + self.status_budget;
        if let Some(at) = self.status_deadline {
            deadline = deadline.min(tokio::time::Instant::from_std(at));
        }
        let (alive, observations) = futures_util::join!(
            async {
                let _timed = timing::phase(|| "liveness".into());
                self.liveness(records).await
            },
            self.observe_all(records, deadline),
        );
        // Read after the observation: a transition another `ao` recorded meanwhile is found.
        let projects: BTreeSet<String> =
            records.iter().map(|r| r.address.project.clone()).collect();
        let recorded = {
            let _timed = timing::phase(|| "store read".into());
            self.db(move |store| store.recorded(&projects)).await?
        };
        let mut obs_by_address = observations;
        let mut observed = Vec::with_capacity(records.len());
        for (r, alive) in records.iter().zip(&alive) {
            observed.push(match obs_by_address.remove(&r.address) {
                Some(Some(obs)) => {
                    // A look that saw nothing (an unreachable host, a refused password) is not
                    // kept: a later stale status shows what was last really seen.
                    let unseen = obs.error.as_ref().is_some_and(|e| e.why.is_unseen());
                    let keep = (!unseen).then(|| obs.clone());
                    (obs, Freshness::Fresh, keep)
                }
                Some(None) => {
                    let last = recorded
                        .kept(&r.address)
                        .and_then(|k| Some((kept_observation(&k.json)?, k.observed_at)));
                    let since = last.as_ref().map(|(_, at)| *at);
                    let obs = match last {
                        Some((obs, _)) => obs,
                        None => Observation::bare(
                            Activity::Blocked,
                            Some(SessionError {
                                why: Why::ServerUnresponsive,
                                message: format!(
                                    "its agent did not answer within {:.1}s, and nothing was \
                                     seen of it before; `ao status --timeout SECS` waits longer",
                                    self.status_budget.as_secs_f64()
                                ),
                            }),
                        ),
                    };
                    (obs, Freshness::Stale { since }, None)
                }
                None if r.lifecycle == Lifecycle::Spawning => (
                    self.spawning_observation(r, *alive).await?,
                    Freshness::Fresh,
                    None,
                ),
                None => (
                    Observation::bare(Activity::Exited, None),
                    Freshness::Fresh,
                    None,
                ),
            });
        }
        // After the observations: what the agent last did is part of what keeps a count true.
        let last_activity: Vec<_> = observed
            .iter()
            .map(|(o, _, _)| o.last_activity_at)
            .collect();
        let files = {
            let _timed = timing::phase(|| "files changed".into());
            self.files_changed_of(records, &last_activity).await
        };
        let mut seen: Vec<Seen> = records
            .iter()
            .zip(observed)
            .zip(alive)
            .zip(files)
            .map(|(((r, (obs, freshness, keep)), alive), files)| {
                self.compose(r, obs, alive, files, freshness, keep, now)
            })
            .collect();
        // When each entered its activity, and budget stops: manager/transitions.rs.
        let _timed = timing::phase(|| "settle".into());
        self.settle(&mut seen, &recorded);
        Ok(seen)
    }

    /// [`look`](Self::look) at one session.
    pub async fn look_one(&self, rec: &SessionRecord) -> Result<Seen> {
        let mut seen = self.look(std::slice::from_ref(rec)).await?;
        Ok(seen.pop().expect("a look gives one Seen per record"))
    }

    /// Observes the live sessions among `records`: one batch per project and agent, and one for
    /// the projects an agent hosts together (the same [`host_key`](crate::agent::Agent::host_key):
    /// a server they share), batches observed concurrently, each until `deadline`. A batch that
    /// misses it gives `None` for each of its sessions (stale: what was last observed is shown),
    /// so a frozen shared host makes each of its projects' sessions stale, and no other's.
    async fn observe_all(
        &self,
        records: &[SessionRecord],
        deadline: tokio::time::Instant,
    ) -> BTreeMap<SessionAddress, Option<Observation>> {
        let mut by_unit: BTreeMap<(&str, &str), Vec<&SessionRecord>> = BTreeMap::new();
        for r in records {
            if r.lifecycle == Lifecycle::Live && r.agent_session_id.is_some() {
                by_unit
                    .entry((r.address.project.as_str(), r.agent.as_str()))
                    .or_default()
                    .push(r);
            }
        }
        let mut out: BTreeMap<SessionAddress, Option<Observation>> = BTreeMap::new();
        let mut every = |recs: &[&SessionRecord], why: Why, message: String| {
            for r in recs {
                let error = SessionError {
                    why: why.clone(),
                    message: message.clone(),
                };
                out.insert(
                    r.address.clone(),
                    Some(Observation::bare(Activity::Exited, Some(error))),
                );
            }
        };
        // Each project and agent bound; the ones that cannot be are said so at once.
        let mut units: Vec<(super::session_manager::Bound<'_>, Vec<&SessionRecord>)> = Vec::new();
        for ((name, agent), recs) in by_unit {
            let project = match self.config.project(name) {
                Ok(project) => project,
                Err(_) => {
                    let message = format!(
                        "project {name} is no longer in {}",
                        self.config.file.display()
                    );
                    every(&recs, Why::UnknownProject, message);
                    continue;
                }
            };
            match self.bind(agent, project) {
                Ok(bound) => units.push((bound, recs)),
                Err(e) => every(&recs, Why::UnknownAgent, e.to_string()),
            }
        }
        // Units of one agent with the same host key make one batch; the others a batch each.
        let mut batches: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
        for (i, (bound, _)) in units.iter().enumerate() {
            batches
                .entry((bound.agent.name().to_string(), bound.host_group()))
                .or_default()
                .push(i);
        }
        let sessions: Vec<Vec<SessionContext<'_>>> = units
            .iter()
            .map(|(_, recs)| {
                recs.iter()
                    .map(|r| SessionContext {
                        record: r,
                        home: &self.home,
                    })
                    .collect()
            })
            .collect();
        let observed = join_all(batches.into_values().map(|idx| {
            let (units, sessions) = (&units, &sessions);
            async move {
                let names: Vec<&str> = idx
                    .iter()
                    .map(|&i| units[i].0.project.name.as_str())
                    .collect();
                let _timed = timing::phase(|| format!("observe project {}", names.join(", ")));
                let batch: Vec<_> = idx
                    .iter()
                    .map(|&i| (units[i].0.cx(), sessions[i].as_slice()))
                    .collect();
                let agent = &units[idx[0]].0.agent;
                let obs = tokio::time::timeout_at(deadline, agent.observe_batch(&batch))
                    .await
                    .ok();
                idx.into_iter()
                    .enumerate()
                    .flat_map(|(n, i)| {
                        let obs = &obs;
                        units[i].1.iter().enumerate().map(move |(k, r)| {
                            // Missed the deadline: `None`, stale. Answered without it: unobserved.
                            let o = obs.as_ref().map(|o| {
                                o.get(n)
                                    .and_then(|of_unit| of_unit.get(k))
                                    .cloned()
                                    .unwrap_or_else(|| {
                                        Observation::bare(
                                            Activity::Exited,
                                            Some(SessionError {
                                                why: Why::Unobserved,
                                                message: "its agent gave no observation for it"
                                                    .into(),
                                            }),
                                        )
                                    })
                            });
                            (r.address.clone(), o)
                        })
                    })
                    .collect::<Vec<_>>()
            }
        }))
        .await;
        out.extend(observed.into_iter().flatten());
        out
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

    /// One session's [`Seen`] from its observation; when it entered its activity and its budget
    /// are [`settle`](Self::settle)'s.
    #[allow(clippy::too_many_arguments)]
    fn compose(
        &self,
        r: &SessionRecord,
        obs: Observation,
        alive: bool,
        files_changed: Option<usize>,
        freshness: Freshness,
        keep: Option<Observation>,
        now: EpochMillis,
    ) -> Seen {
        let rule = self.idle_rule();
        let activity = rule.at(obs.activity, obs.last_activity_at, now);
        // Seen for the first time, a session is taken to have been in its activity since the
        // agent last did something; `idle` began when the rule turned it.
        let first_seen_at = match (activity, obs.last_activity_at) {
            (Activity::Idle, Some(t)) => rule.idle_from(t),
            (_, Some(t)) => t,
            (_, None) => now,
        };
        let key = match activity {
            Activity::WaitingInput => {
                let mut ids: Vec<&str> = obs.pending.iter().map(|p| p.id.as_str()).collect();
                ids.sort_unstable();
                ids.join(",")
            }
            _ => String::new(),
        };
        Seen {
            record: r.clone(),
            at: now,
            process: if alive {
                ProcessState::Running
            } else {
                ProcessState::Exited
            },
            activity,
            // Both filled in by `settle` (manager/transitions.rs).
            activity_since: now,
            budget_usd: None,
            last_activity_at: obs.last_activity_at,
            model: obs.model.or_else(|| r.model.clone()),
            summary: obs.summary,
            tokens: obs.tokens,
            cost_usd: obs.cost_usd,
            pending: obs.pending,
            error: obs.error,
            todos: obs.todos,
            server: obs.server,
            files_changed,
            host: self.remote_host_of(r).ok().flatten(),
            freshness,
            note: Note {
                keep,
                key,
                first_seen_at,
                allowance_used: None,
                spend: Spend::default(),
                // Until `settle` has compared it with the store: recorded if asked.
                unrecorded: true,
            },
        }
    }

    /// The rule that turns `ready` into `idle`, with this config's threshold.
    pub fn idle_rule(&self) -> IdleRule {
        IdleRule {
            threshold_ms: self.config.ready_threshold_ms as i64,
        }
    }
}

/// A kept observation made again from the JSON the store keeps; `None` when it no longer reads
/// (written by another version of ao), which only means nothing is known.
fn kept_observation(json: &str) -> Option<Observation> {
    serde_json::from_str(json).ok()
}
