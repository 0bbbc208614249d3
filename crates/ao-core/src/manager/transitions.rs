//! What a look leaves in the store, and what the store says of a look.
//!
//! A look ([`SessionManager::look`]) reads what is recorded and settles each session with it
//! ([`SessionManager::settle`]): when it entered its activity (`activity_since`), and whether its
//! budget stops it. [`SessionManager::record`] then writes what the look saw (transitions, costs,
//! the allowances used up, last observations) in one place, and only what differs from what is
//! stored, so `ao status`, the live views and the monitor all record the same way
//! (docs/architecture.md, "Transitions and notifications").

use super::budget::{self, BudgetInput};
use super::session_manager::SessionManager;
use crate::config::Budget;
use crate::error::{Error, Result};
use crate::seen::{Seen, Spend};
use crate::session::{Activity, Lifecycle, SessionRecord};
use crate::store::{Recorded, Sighting, BUDGET_KEY};

impl SessionManager {
    /// Settles a look's sessions with what the store holds: applies budgets to them (a session
    /// over its budget shows `blocked`, `BudgetExceeded`), and fills in `activity_since` and
    /// `budget_usd`.
    pub(super) fn settle(&self, seen: &mut [Seen], recorded: &Recorded) {
        let mut sightings: Vec<Sighting> = seen.iter().map(sighting).collect();
        let mut inputs = Vec::with_capacity(seen.len());
        for s in seen.iter() {
            let budget = self
                .config
                .project(&s.record.address.project)
                .map(|p| p.budget)
                .unwrap_or_default();
            inputs.push(BudgetInput {
                budget,
                last_activity: s.last_activity_at,
            });
        }
        let ledger = recorded.ledger(&sightings);
        let mut why = vec![None; sightings.len()];
        let used = budget::apply(&mut sightings, &ledger, &inputs, &mut why);
        let since = recorded.since(&sightings);
        for ((((s, sighting), at), why), input) in seen
            .iter_mut()
            .zip(&sightings)
            .zip(since)
            .zip(why)
            .zip(&inputs)
        {
            let address = &s.record.address;
            s.activity_since = at;
            s.budget_usd = input.budget.session_usd;
            s.note.key = sighting.key.clone();
            s.note.allowance_used = used
                .contains(address)
                .then(|| ledger.allowances.get(address).map(|(from, _)| *from))
                .flatten();
            s.note.spend = Spend {
                session_usd: ledger.session_cost.get(address).copied().unwrap_or(0.0),
                project_usd: ledger
                    .project_cost
                    .get(&address.project)
                    .copied()
                    .unwrap_or(0.0),
            };
            if let (true, Some(message)) = (sighting.key == BUDGET_KEY, why) {
                s.activity = Activity::Blocked;
                s.error = Some(budget::budget_error(message));
            }
        }
        // What recording would write, judged against the read this look made: a record of a
        // look that saw nothing new reads nothing again.
        let settled: Vec<Sighting> = seen.iter().map(sighting).collect();
        let unrecorded = recorded.unrecorded(&settled);
        for s in seen.iter_mut() {
            s.note.unrecorded = unrecorded.contains(&s.record.address);
        }
    }

    /// Records what a look saw: each session's transition (when its activity changed), its cost,
    /// the over-budget allowance its turn used up, and its observation as its last; in one
    /// place, and only what differs from what is stored. With nothing new it takes no write
    /// lock at all. Starts nothing. Each recorded `Seen` then says when its session entered its
    /// activity as the store holds it.
    pub async fn record(&self, seen: &mut [Seen]) -> Result<()> {
        // Only what the look found unrecorded; the store checks it again under its write lock.
        let (idx, sightings): (Vec<usize>, Vec<Sighting>) = seen
            .iter()
            .enumerate()
            .filter(|(_, s)| s.note.unrecorded)
            .map(|(i, s)| (i, sighting(s)))
            .unzip();
        if sightings.is_empty() {
            return Ok(());
        }
        let _timed = crate::timing::phase(|| "record".into());
        let (_, since) = self.db(move |store| store.record_since(&sightings)).await?;
        // Another `ao` (a monitor, a view) may have recorded the change first, at the time of its
        // own look: show what the store now holds, which every later look reads too.
        for (i, at) in idx.into_iter().zip(since) {
            seen[i].activity_since = at;
        }
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
        let budget: Budget = project.budget;
        if over_budget || (budget.session_usd.is_none() && budget.project_usd.is_none()) {
            return Ok(());
        }
        let (cost, project_cost) = if rec.lifecycle == Lifecycle::Live {
            // Its cost as observed now, with what the store knows of the others.
            let spend = self.look_one(rec).await?.note.spend;
            (spend.session_usd, spend.project_usd)
        } else {
            let address = rec.address.clone();
            self.db(move |store| store.costs_of(&address)).await?
        };
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

/// What the store records of a look at one session.
fn sighting(s: &Seen) -> Sighting {
    Sighting {
        address: s.record.address.clone(),
        activity: s.activity,
        key: s.note.key.clone(),
        first_seen_at: s.note.first_seen_at,
        at: s.at,
        // A cost the agent does not report spends nothing ao can count against a budget.
        cost_usd: s.cost_usd.unwrap_or(0.0),
        quiet: s.record.lifecycle == Lifecycle::Killed,
        stale: s.is_stale(),
        allowance_used: s.note.allowance_used,
        // An observation is plain data; should it ever fail to serialise, it is only not kept.
        keep: s
            .note
            .keep
            .as_ref()
            .and_then(|o| serde_json::to_string(o).ok()),
    }
}
