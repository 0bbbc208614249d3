//! What every observation leaves in the store: each session's transitions (hence
//! `activity_since`), its cost, and budget stops; then the projects' monitors are made sure of.
//! `status_of` calls [`SessionManager::note`] once per batch, so `ao status`, the live views and
//! the monitor all record the same way (docs/architecture.md, "Transitions and notifications").

use super::budget::{self, BudgetInput};
use super::SessionManager;
use crate::clock::{parse_rfc3339, rfc3339, EpochMillis};
use crate::config::Budget;
use crate::error::{Error, Result};
use crate::session::{Activity, Lifecycle, SessionRecord, SessionStatus};
use crate::store::{Sighting, BUDGET_KEY};

impl SessionManager {
    /// Records what `statuses` (of `records`, observed at `now`) show, applies budgets to them and
    /// fills in `activity_since` and `budget_usd`; then starts the monitors of their projects that
    /// should run and do not.
    pub(super) async fn note(
        &self,
        records: &[SessionRecord],
        statuses: &mut [SessionStatus],
        now: EpochMillis,
    ) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let threshold = self.config.ready_threshold_ms as i64;
        let mut sightings = Vec::with_capacity(records.len());
        let mut inputs = Vec::with_capacity(records.len());
        for (r, s) in records.iter().zip(statuses.iter()) {
            let last_activity = s.last_activity_at.as_deref().and_then(parse_rfc3339);
            // Seen for the first time, a session is taken to have been in its activity since the
            // agent last did something; `idle` began when the threshold passed after that.
            let first_seen_at = match (s.activity, last_activity) {
                (Activity::Idle, Some(t)) => t.saturating_add(threshold),
                (_, Some(t)) => t,
                (_, None) => now,
            };
            let key = match s.activity {
                Activity::WaitingInput => {
                    let mut ids: Vec<&str> = s.pending.iter().map(|p| p.id.as_str()).collect();
                    ids.sort_unstable();
                    ids.join(",")
                }
                _ => String::new(),
            };
            sightings.push(Sighting {
                address: r.address.clone(),
                activity: s.activity,
                key,
                first_seen_at,
                cost_usd: s.cost_usd,
                quiet: r.lifecycle == Lifecycle::Killed,
                stale: s.stale,
            });
            let budget = self
                .config
                .project(&r.address.project)
                .map(|p| p.budget)
                .unwrap_or_default();
            inputs.push(BudgetInput {
                budget,
                last_activity,
            });
        }
        let budgets: Vec<Budget> = inputs.iter().map(|i| i.budget).collect();
        let (since, sightings, why) = self
            .db(move |store| {
                let mut why = vec![None; sightings.len()];
                let since = store.record_sightings(&mut sightings, now, |s, ledger| {
                    budget::apply(s, ledger, &inputs, &mut why)
                })?;
                Ok((since, sightings, why))
            })
            .await?;
        for (((status, at), sighting), (why, budget)) in statuses
            .iter_mut()
            .zip(since)
            .zip(&sightings)
            .zip(why.into_iter().zip(budgets))
        {
            status.activity_since = Some(rfc3339(at));
            status.budget_usd = budget.session_usd;
            if let (true, Some(message)) = (sighting.key == BUDGET_KEY, why) {
                status.activity = Activity::Blocked;
                status.error = Some(budget::budget_error(message));
            }
        }
        self.ensure_monitors(records).await;
        Ok(())
    }

    /// Refuses to go on with a session that is over its budget, unless `over_budget` says to:
    /// the person's mistake (exit 2), with how to raise the budget and how to go on once.
    pub(super) async fn check_budget(
        &self,
        rec: &SessionRecord,
        command: &str,
        over_budget: bool,
    ) -> Result<()> {
        let Ok(project) = self.config.project(&rec.address.project) else {
            return Ok(());
        };
        let budget = project.budget;
        if over_budget || (budget.session_usd.is_none() && budget.project_usd.is_none()) {
            return Ok(());
        }
        if rec.lifecycle == Lifecycle::Live {
            // Brings the stored cost up to date.
            self.status_of(std::slice::from_ref(rec)).await?;
        }
        let address = rec.address.clone();
        let (cost, project_cost) = self.db(move |store| store.costs_of(&address)).await?;
        let Some(why) = budget::over_budget(&budget, cost, project_cost) else {
            return Ok(());
        };
        let key = if budget.session_usd.is_some_and(|l| cost > l) {
            "sessionUsd"
        } else {
            "projectUsd"
        };
        Err(Error::Conflict(format!(
            "{} is over budget: {why}; raise `budget.{key}` of project {} (or of `defaults`) in \
             {}, or run `ao {command} --over-budget {}` to go on once",
            rec.address,
            rec.address.project,
            self.config.file.display(),
            rec.address
        )))
    }
}
