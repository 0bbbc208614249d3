//! Each session's state changes with their times, what each session last cost, and the claim
//! that makes a notification fire exactly once.
//!
//! Whoever observes a session (`ao status`, a live view, the monitor) records a transition when
//! its activity, or the key that tells one instance of it from another (the pending request ids
//! of `waiting_input`; `budget` for a budget stop), differs from the latest one stored. Every
//! `ao` does that inside one immediate transaction, so two of them never record one change twice.
//! The monitor claims a transition for its notifiers in a transaction too, marking it in the same
//! write, so nothing is fired twice, across monitor restarts included.

use std::collections::BTreeMap;

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::Store;
use crate::clock::EpochMillis;
use crate::error::Result;
use crate::session::{Activity, SessionAddress};

/// `transitions.notified`: not decided yet.
const OPEN: i64 = 0;
/// `transitions.notified`: claimed by a monitor, which fired it.
const NOTIFIED: i64 = 1;
/// `transitions.notified`: never to be fired (too short, or of a killed session).
const SETTLED: i64 = 2;

/// The key of a transition into `blocked` because of a budget: it is notified as `budget`.
pub const BUDGET_KEY: &str = "budget";

/// What one observation saw of one session.
#[derive(Debug, Clone)]
pub struct Sighting {
    /// The session.
    pub address: SessionAddress,
    /// Its activity.
    pub activity: Activity,
    /// What tells one instance of the activity from another: the pending request ids of
    /// `waiting_input`, [`BUDGET_KEY`] for a budget stop; empty otherwise.
    pub key: String,
    /// When, at the earliest, it entered this activity if no transition of it is stored yet: the
    /// best estimate for a session seen for the first time.
    pub first_seen_at: EpochMillis,
    /// Its cost so far, in US dollars, as observed (0 when it could not be): the store keeps the
    /// highest seen, since a conversation's cost only grows.
    pub cost_usd: f64,
    /// Whether a change is recorded already decided, never to be notified (a killed session:
    /// the person did it).
    pub quiet: bool,
    /// Whether it is what was last known rather than seen now (its agent was late): nothing is
    /// recorded of it, only read.
    pub stale: bool,
}

/// What the store knows of the costs, for budgets: as of the sightings being recorded.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Each sighted session's cost: the highest observed.
    pub session_cost: BTreeMap<SessionAddress, f64>,
    /// The total cost of each project's sessions (those no longer observed at their last cost).
    pub project_cost: BTreeMap<String, f64>,
    /// Sessions allowed to go on past their budget (`ao send --over-budget`): since when, and
    /// whether the message it was given for has been delivered (only then can its turn end).
    pub allowances: BTreeMap<SessionAddress, (EpochMillis, bool)>,
}

/// A transition that is due to be notified, claimed.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The session.
    pub address: SessionAddress,
    /// What to notify: the activity, or `budget`.
    pub event: String,
    /// The event of the transition before it, if any.
    pub previous: Option<String>,
    /// When it began.
    pub at: EpochMillis,
}

/// What a claim found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Claims {
    /// Transitions that lasted the debounce and are now marked notified: to fire.
    pub due: Vec<Claimed>,
    /// When the earliest transition still open will have lasted the debounce.
    pub next_due: Option<EpochMillis>,
}

fn event_of(activity: &str, key: &str) -> String {
    if key == BUDGET_KEY {
        BUDGET_KEY.to_string()
    } else {
        activity.to_string()
    }
}

impl Store {
    /// Records what was seen of each session, in one immediate transaction: its cost, and a
    /// transition when its activity or key differs from the latest stored. Before transitions are
    /// compared, `adjust` may change the sightings (a budget turns one into `blocked`) knowing the
    /// costs and allowances; it returns the allowances used up, which are removed. Returns, for
    /// each sighting, when its current activity began.
    pub fn record_sightings(
        &self,
        sightings: &mut [Sighting],
        now: EpochMillis,
        adjust: impl FnOnce(&mut [Sighting], &Ledger) -> Vec<SessionAddress>,
    ) -> Result<Vec<EpochMillis>> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let e = |e| self.err(e);
        // What is stored of each project's sessions, read in two queries per project rather than
        // two per session: a status of hundreds of sessions stays a handful of statements.
        let mut costs: BTreeMap<SessionAddress, (f64, Option<i64>, bool)> = BTreeMap::new();
        let mut latest: BTreeMap<SessionAddress, (String, String, i64)> = BTreeMap::new();
        let projects: std::collections::BTreeSet<String> = sightings
            .iter()
            .map(|s| s.address.project.clone())
            .collect();
        for project in &projects {
            costs.extend(
                by_session(
                    &tx,
                    "SELECT name, cost_usd, allowed_from, allow_armed FROM session_costs
                     WHERE project = ?1",
                    project,
                )
                .map_err(e)?,
            );
            // SQLite takes the bare columns of a MAX() group from the row that holds the maximum:
            // each session's latest transition.
            latest.extend(
                by_session(
                    &tx,
                    "SELECT name, activity, key, at_ms, MAX(id) FROM transitions
                     WHERE project = ?1 GROUP BY name",
                    project,
                )
                .map_err(e)?,
            );
        }
        let mut ledger = Ledger::default();
        for s in sightings.iter() {
            let stored = costs.get(&s.address).copied();
            let cost = stored.map_or(s.cost_usd, |(c, _, _)| c.max(s.cost_usd));
            ledger.session_cost.insert(s.address.clone(), cost);
            if !s.stale && stored.map(|(c, _, _)| c) != Some(cost) {
                let (_, from, armed) = stored.unwrap_or((cost, None, false));
                costs.insert(s.address.clone(), (cost, from, armed));
                tx.execute(
                    "INSERT INTO session_costs (project, name, cost_usd) VALUES (?1, ?2, ?3)
                     ON CONFLICT(project, name) DO UPDATE SET cost_usd = excluded.cost_usd",
                    params![s.address.project, s.address.name, cost],
                )
                .map_err(e)?;
            }
            if let Some((_, Some(from), armed)) = stored {
                ledger.allowances.insert(s.address.clone(), (from, armed));
            }
        }
        let projects: std::collections::BTreeSet<&str> = sightings
            .iter()
            .map(|s| s.address.project.as_str())
            .collect();
        for project in projects {
            let total: f64 = tx
                .query_row(
                    "SELECT COALESCE(SUM(cost_usd), 0) FROM session_costs WHERE project = ?1",
                    params![project],
                    |r| r.get(0),
                )
                .map_err(e)?;
            ledger.project_cost.insert(project.to_string(), total);
        }
        for address in adjust(sightings, &ledger) {
            tx.execute(
                "UPDATE session_costs SET allowed_from = NULL WHERE project = ?1 AND name = ?2",
                params![address.project, address.name],
            )
            .map_err(e)?;
        }
        let mut since = Vec::with_capacity(sightings.len());
        for s in sightings.iter() {
            let at = match latest.get(&s.address).cloned() {
                Some((a, k, at)) if a == s.activity.as_str() && k == s.key => {
                    since.push(at);
                    continue;
                }
                Some((_, _, at)) if s.stale => {
                    since.push(at);
                    continue;
                }
                None if s.stale => {
                    since.push(s.first_seen_at.min(now));
                    continue;
                }
                Some(_) => now,
                None => s.first_seen_at.min(now),
            };
            tx.execute(
                "INSERT INTO transitions (project, name, activity, key, at_ms, notified)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    s.address.project,
                    s.address.name,
                    s.activity.as_str(),
                    s.key,
                    at,
                    if s.quiet { SETTLED } else { OPEN }
                ],
            )
            .map_err(e)?;
            // The same session twice in one call compares with what was just recorded.
            latest.insert(
                s.address.clone(),
                (s.activity.as_str().to_string(), s.key.clone(), at),
            );
            since.push(at);
        }
        tx.commit().map_err(e)?;
        Ok(since)
    }

    /// Lets a session go on past its budget, from `from` (just before its message is sent) until
    /// the turn that message starts has ended. Until [`arm_over_budget`](Self::arm_over_budget)
    /// says the message was delivered, no observation can take that turn to have ended.
    pub fn allow_over_budget(&self, address: &SessionAddress, from: EpochMillis) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO session_costs (project, name, cost_usd, allowed_from, allow_armed)
                 VALUES (?1, ?2, 0, ?3, 0)
                 ON CONFLICT(project, name) DO UPDATE SET allowed_from = excluded.allowed_from,
                    allow_armed = 0",
                params![address.project, address.name, from],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The message an allowance was given for is delivered: the end of its turn now uses the
    /// allowance up.
    pub fn arm_over_budget(&self, address: &SessionAddress) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE session_costs SET allow_armed = 1 WHERE project = ?1 AND name = ?2
                 AND allowed_from IS NOT NULL",
                params![address.project, address.name],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// A session's last known cost and its project's total, for a budget check without an
    /// observation (a killed session is not observed).
    pub fn costs_of(&self, address: &SessionAddress) -> Result<(f64, f64)> {
        let conn = self.conn();
        let session: Option<f64> = conn
            .query_row(
                "SELECT cost_usd FROM session_costs WHERE project = ?1 AND name = ?2",
                params![address.project, address.name],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let project: f64 = conn
            .query_row(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM session_costs WHERE project = ?1",
                params![address.project],
                |r| r.get(0),
            )
            .map_err(|e| self.err(e))?;
        Ok((session.unwrap_or(0.0), project))
    }

    /// Takes back an allowance (the message it was for never went).
    pub fn revoke_over_budget(&self, address: &SessionAddress) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE session_costs SET allowed_from = NULL WHERE project = ?1 AND name = ?2",
                params![address.project, address.name],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Claims the open transitions of a project's sessions that are decided at `now`, in one
    /// immediate transaction: one that a later transition followed within `debounce_ms` is
    /// settled unnotified; one that lasted `debounce_ms` (up to its successor, or up to `now`) is
    /// marked notified and returned, for the caller to fire once.
    pub fn claim_due(&self, project: &str, now: EpochMillis, debounce_ms: i64) -> Result<Claims> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let e = |e| self.err(e);
        let open: Vec<(i64, String, String, String, i64)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT id, name, activity, key, at_ms FROM transitions
                     WHERE project = ?1 AND notified = ?2 ORDER BY id",
                )
                .map_err(e)?;
            let rows = stmt
                .query_map(params![project, OPEN], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .map_err(e)?;
            rows.collect::<rusqlite::Result<_>>().map_err(e)?
        };
        let mut claims = Claims::default();
        for (id, name, activity, key, at) in open {
            let next: Option<i64> = tx
                .query_row(
                    "SELECT at_ms FROM transitions WHERE project = ?1 AND name = ?2 AND id > ?3
                     ORDER BY id LIMIT 1",
                    params![project, name, id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(e)?;
            let lasted = next.unwrap_or(now).saturating_sub(at);
            let verdict = if lasted >= debounce_ms {
                NOTIFIED
            } else if next.is_some() {
                SETTLED
            } else {
                let due = at.saturating_add(debounce_ms);
                claims.next_due = Some(claims.next_due.map_or(due, |d| d.min(due)));
                continue;
            };
            tx.execute(
                "UPDATE transitions SET notified = ?2 WHERE id = ?1",
                params![id, verdict],
            )
            .map_err(e)?;
            if verdict == NOTIFIED {
                let previous: Option<(String, String)> = tx
                    .query_row(
                        "SELECT activity, key FROM transitions
                         WHERE project = ?1 AND name = ?2 AND id < ?3 ORDER BY id DESC LIMIT 1",
                        params![project, name, id],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(e)?;
                claims.due.push(Claimed {
                    address: SessionAddress {
                        project: project.to_string(),
                        name,
                    },
                    event: event_of(&activity, &key),
                    previous: previous.map(|(a, k)| event_of(&a, &k)),
                    at,
                });
            }
        }
        tx.commit().map_err(e)?;
        Ok(claims)
    }

    /// Settles every open transition of a project unnotified: what is pending when nothing
    /// will notify it any more (its last session was killed).
    pub fn settle_open(&self, project: &str) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE transitions SET notified = ?2 WHERE project = ?1 AND notified = ?3",
                params![project, SETTLED, OPEN],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets what was recorded of a session's transitions and cost (it was purged).
    pub(super) fn forget_watch(
        conn: &rusqlite::Connection,
        address: &SessionAddress,
    ) -> rusqlite::Result<()> {
        for table in ["transitions", "session_costs"] {
            conn.execute(
                &format!("DELETE FROM {table} WHERE project = ?1 AND name = ?2"),
                params![address.project, address.name],
            )?;
        }
        Ok(())
    }
}

/// Rows by session: the session, and three values of its row.
type BySession<A, B, C> = Vec<(SessionAddress, (A, B, C))>;

/// The rows `sql` gives for `project`, one per session: its name in the first column, then three
/// values.
fn by_session<A, B, C>(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    project: &str,
) -> rusqlite::Result<BySession<A, B, C>>
where
    A: rusqlite::types::FromSql,
    B: rusqlite::types::FromSql,
    C: rusqlite::types::FromSql,
{
    let mut stmt = tx.prepare_cached(sql)?;
    let rows = stmt.query_map(params![project], |r| {
        let address = SessionAddress {
            project: project.to_string(),
            name: r.get(0)?,
        };
        Ok((address, (r.get(1)?, r.get(2)?, r.get(3)?)))
    })?;
    rows.collect()
}
