//! Each session's state changes with their times, what each session last cost, and the claim
//! that makes a notification fire exactly once.
//!
//! Whoever records what it saw of a session (`ao status`, a live view, the monitor) records a
//! transition when its activity, or the key that tells one instance of it from another (the
//! pending request ids of `waiting_input`; `budget` for a budget stop), differs from the latest one
//! stored. It reads first and takes the write lock only when something differs; then every `ao`
//! compares again inside one immediate transaction, so two of them never record one change twice.
//! A look only reads ([`Recorded`]): when each session entered its activity, and the costs its
//! budget is decided on.
//!
//! The monitor claims a transition for its notifiers in a transaction too, marking it in the same
//! write, so nothing is fired twice, across monitor restarts included.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::connection::Store;
use super::last_observations::LastObservation;
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

/// What one look saw of one session, as the store records it.
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
    /// When it was seen: the time of a transition it makes.
    pub at: EpochMillis,
    /// Its cost so far, in US dollars, as observed (0 when it could not be): the store keeps the
    /// highest seen, since a conversation's cost only grows.
    pub cost_usd: f64,
    /// Whether a change is recorded already decided, never to be notified (a killed session:
    /// the person did it).
    pub quiet: bool,
    /// Whether it is what was last known rather than seen now (its agent was late): nothing is
    /// recorded of it, only read.
    pub stale: bool,
    /// The over-budget allowance its ended turn used up, by when it was given: recording takes
    /// it back (only that one: a newer allowance stays).
    pub allowance_used: Option<EpochMillis>,
    /// The observation to keep as its last (JSON), when it saw the session itself.
    pub keep: Option<String>,
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

/// A session's latest transition, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Latest {
    activity: String,
    key: String,
    at: EpochMillis,
}

/// A session's row of `session_costs`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct StoredCost {
    usd: f64,
    allowed_from: Option<EpochMillis>,
    armed: bool,
}

/// What the store holds of the sessions of some projects: their latest transitions, costs,
/// allowances and last observations, read in one read transaction. A look reads it (a reader is
/// never held up by a writer: the store runs in WAL mode); recording reads it again, and writes
/// only what differs.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    latest: BTreeMap<SessionAddress, Latest>,
    costs: BTreeMap<SessionAddress, StoredCost>,
    project_cost: BTreeMap<String, f64>,
    kept: HashMap<SessionAddress, LastObservation>,
}

/// What recording some sightings changes in the store.
#[derive(Debug, Default)]
struct Writes {
    /// Each session's new highest cost.
    costs: Vec<(SessionAddress, f64)>,
    /// Allowances used up: the session, and when the allowance was given.
    used: Vec<(SessionAddress, EpochMillis)>,
    /// New transitions: the session, activity, key, when, and whether quiet.
    transitions: Vec<(SessionAddress, Activity, String, EpochMillis, bool)>,
    /// Observations to keep as the sessions' last.
    kept: Vec<(SessionAddress, LastObservation)>,
}

impl Writes {
    fn is_empty(&self) -> bool {
        self.costs.is_empty()
            && self.used.is_empty()
            && self.transitions.is_empty()
            && self.kept.is_empty()
    }
}

fn event_of(activity: &str, key: &str) -> String {
    if key == BUDGET_KEY {
        BUDGET_KEY.to_string()
    } else {
        activity.to_string()
    }
}

/// The projects of some sightings.
fn projects_of(sightings: &[Sighting]) -> BTreeSet<String> {
    sightings
        .iter()
        .map(|s| s.address.project.clone())
        .collect()
}

impl Recorded {
    /// Reads what is stored of the sessions of `projects`: two queries per table and project
    /// rather than per session, so a status of hundreds of sessions stays a handful of
    /// statements.
    fn read(
        conn: &rusqlite::Connection,
        projects: &BTreeSet<String>,
    ) -> rusqlite::Result<Recorded> {
        let mut out = Recorded::default();
        for project in projects {
            let costs = by_session(
                conn,
                "SELECT name, cost_usd, allowed_from, allow_armed FROM session_costs
                 WHERE project = ?1",
                project,
                |r| {
                    Ok(StoredCost {
                        usd: r.get(1)?,
                        allowed_from: r.get(2)?,
                        armed: r.get(3)?,
                    })
                },
            )?;
            out.costs.extend(costs);
            // SQLite takes the bare columns of a MAX() group from the row that holds the maximum:
            // each session's latest transition.
            let latest = by_session(
                conn,
                "SELECT name, activity, key, at_ms, MAX(id) FROM transitions
                 WHERE project = ?1 GROUP BY name",
                project,
                |r| {
                    Ok(Latest {
                        activity: r.get(1)?,
                        key: r.get(2)?,
                        at: r.get(3)?,
                    })
                },
            )?;
            out.latest.extend(latest);
            let kept = by_session(
                conn,
                "SELECT name, observation, observed_at FROM last_observations WHERE project = ?1",
                project,
                |r| {
                    Ok(LastObservation {
                        json: r.get(1)?,
                        observed_at: r.get(2)?,
                    })
                },
            )?;
            out.kept.extend(kept);
            let total: f64 = conn.query_row(
                "SELECT COALESCE(SUM(cost_usd), 0) FROM session_costs WHERE project = ?1",
                params![project],
                |r| r.get(0),
            )?;
            out.project_cost.insert(project.clone(), total);
        }
        Ok(out)
    }

    /// The last observation kept of a session, if any.
    pub fn kept(&self, address: &SessionAddress) -> Option<&LastObservation> {
        self.kept.get(address)
    }

    /// The costs and allowances as they will be once `sightings` are recorded: what budgets
    /// are decided on.
    pub fn ledger(&self, sightings: &[Sighting]) -> Ledger {
        self.costs_after(sightings).0
    }

    /// The ledger after `sightings`, and the costs that changed.
    fn costs_after(&self, sightings: &[Sighting]) -> (Ledger, Vec<(SessionAddress, f64)>) {
        let mut costs = self.costs.clone();
        let mut project_cost = self.project_cost.clone();
        let mut ledger = Ledger::default();
        let mut changed = Vec::new();
        for s in sightings {
            let stored = costs.get(&s.address).copied();
            let cost = stored.map_or(s.cost_usd, |c| c.usd.max(s.cost_usd));
            ledger.session_cost.insert(s.address.clone(), cost);
            if !s.stale && stored.map(|c| c.usd) != Some(cost) {
                let before = stored.map_or(0.0, |c| c.usd);
                *project_cost.entry(s.address.project.clone()).or_default() += cost - before;
                let row = stored.unwrap_or(StoredCost {
                    usd: cost,
                    allowed_from: None,
                    armed: false,
                });
                costs.insert(s.address.clone(), StoredCost { usd: cost, ..row });
                changed.push((s.address.clone(), cost));
            }
            if let Some(StoredCost {
                allowed_from: Some(from),
                armed,
                ..
            }) = stored
            {
                ledger.allowances.insert(s.address.clone(), (from, armed));
            }
        }
        for s in sightings {
            let total = project_cost.get(&s.address.project).copied().unwrap_or(0.0);
            ledger.project_cost.insert(s.address.project.clone(), total);
        }
        (ledger, changed)
    }

    /// When each sighting's activity began: as recorded when it is the latest transition stored,
    /// else as recording it will say.
    pub fn since(&self, sightings: &[Sighting]) -> Vec<EpochMillis> {
        self.transitions(sightings)
            .into_iter()
            .map(|(at, _)| at)
            .collect()
    }

    /// For each sighting, when its activity began, and whether that is a new transition.
    fn transitions(&self, sightings: &[Sighting]) -> Vec<(EpochMillis, bool)> {
        let mut latest = self.latest.clone();
        let mut out = Vec::with_capacity(sightings.len());
        for s in sightings {
            let at = match latest.get(&s.address) {
                Some(l) if l.activity == s.activity.as_str() && l.key == s.key => {
                    out.push((l.at, false));
                    continue;
                }
                Some(l) if s.stale => {
                    out.push((l.at, false));
                    continue;
                }
                None if s.stale => {
                    out.push((s.first_seen_at.min(s.at), false));
                    continue;
                }
                Some(_) => s.at,
                None => s.first_seen_at.min(s.at),
            };
            // The same session twice in one batch compares with the one before it.
            latest.insert(
                s.address.clone(),
                Latest {
                    activity: s.activity.as_str().to_string(),
                    key: s.key.clone(),
                    at,
                },
            );
            out.push((at, true));
        }
        out
    }

    /// What recording `sightings` over what is stored changes.
    /// The sessions among `sightings` of which [`Store::record`] would write something.
    pub fn unrecorded(&self, sightings: &[Sighting]) -> std::collections::BTreeSet<SessionAddress> {
        let w = self.writes(sightings);
        (w.costs.iter().map(|(a, _)| a))
            .chain(w.used.iter().map(|(a, _)| a))
            .chain(w.transitions.iter().map(|(a, ..)| a))
            .chain(w.kept.iter().map(|(a, _)| a))
            .cloned()
            .collect()
    }

    fn writes(&self, sightings: &[Sighting]) -> Writes {
        let (_, costs) = self.costs_after(sightings);
        let used = sightings
            .iter()
            .filter_map(|s| {
                let from = s.allowance_used?;
                let stored = self.costs.get(&s.address)?.allowed_from;
                (stored == Some(from)).then(|| (s.address.clone(), from))
            })
            .collect();
        let transitions = sightings
            .iter()
            .zip(self.transitions(sightings))
            .filter(|(_, (_, new))| *new)
            .map(|(s, (at, _))| (s.address.clone(), s.activity, s.key.clone(), at, s.quiet))
            .collect();
        let kept = sightings
            .iter()
            .filter(|s| !s.stale)
            .filter_map(|s| {
                let json = s.keep.as_ref()?;
                let same = self.kept.get(&s.address).is_some_and(|k| &k.json == json);
                (!same).then(|| {
                    let kept = LastObservation {
                        json: json.clone(),
                        observed_at: s.at,
                    };
                    (s.address.clone(), kept)
                })
            })
            .collect();
        Writes {
            costs,
            used,
            transitions,
            kept,
        }
    }
}

impl Store {
    /// What is stored of the sessions of `projects`, read without taking the write lock.
    pub fn recorded(&self, projects: &BTreeSet<String>) -> Result<Recorded> {
        let mut conn = self.conn();
        // One read transaction: a consistent snapshot, which a writer does not hold up.
        let tx = conn.transaction().map_err(|e| self.err(e))?;
        let recorded = Recorded::read(&tx, projects).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(recorded)
    }

    /// Records what was seen of each session: its cost, the allowance its turn used up, a
    /// transition when its activity or key differs from the latest stored, and its observation
    /// when it differs from the one kept. Reads first, and takes the write lock only when there
    /// is something to write; then, inside one immediate transaction, reads again and writes
    /// what still differs, so two `ao` never record one change twice. Returns whether it wrote.
    pub fn record(&self, sightings: &[Sighting]) -> Result<bool> {
        if self
            .recorded(&projects_of(sightings))?
            .writes(sightings)
            .is_empty()
        {
            return Ok(false);
        }
        self.record_since(sightings).map(|(wrote, _)| wrote)
    }

    /// [`record`](Self::record) without its first read: for a caller that has already compared
    /// the sightings with a read of its own (a look's) and found something to write. Also says
    /// when each sighting's session entered its activity as the store now holds it: the
    /// transition it wrote, or the one another `ao` recorded first. A look's own estimate may
    /// differ from what another recorder wrote; this is what every later look will read.
    pub fn record_since(&self, sightings: &[Sighting]) -> Result<(bool, Vec<EpochMillis>)> {
        if sightings.is_empty() {
            return Ok((false, Vec::new()));
        }
        let projects = projects_of(sightings);
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let e = |e| self.err(e);
        let now = Recorded::read(&tx, &projects).map_err(e)?;
        let since = now.since(sightings);
        let writes = now.writes(sightings);
        for (address, cost) in &writes.costs {
            tx.execute(
                "INSERT INTO session_costs (project, name, cost_usd) VALUES (?1, ?2, ?3)
                 ON CONFLICT(project, name) DO UPDATE SET cost_usd = excluded.cost_usd",
                params![address.project, address.name, cost],
            )
            .map_err(e)?;
        }
        for (address, from) in &writes.used {
            tx.execute(
                "UPDATE session_costs SET allowed_from = NULL
                 WHERE project = ?1 AND name = ?2 AND allowed_from = ?3",
                params![address.project, address.name, from],
            )
            .map_err(e)?;
        }
        for (address, activity, key, at, quiet) in &writes.transitions {
            tx.execute(
                "INSERT INTO transitions (project, name, activity, key, at_ms, notified)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    address.project,
                    address.name,
                    activity.as_str(),
                    key,
                    at,
                    if *quiet { SETTLED } else { OPEN }
                ],
            )
            .map_err(e)?;
        }
        for (address, o) in &writes.kept {
            tx.execute(
                "INSERT INTO last_observations (project, name, observation, observed_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (project, name) DO UPDATE SET
                     observation = excluded.observation, observed_at = excluded.observed_at",
                params![address.project, address.name, o.json, o.observed_at],
            )
            .map_err(e)?;
        }
        tx.commit().map_err(e)?;
        Ok((!writes.is_empty(), since))
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

/// The rows `sql` gives for `project`, one per session: its name in the first column, then what
/// `value` makes of the row.
fn by_session<T>(
    conn: &rusqlite::Connection,
    sql: &str,
    project: &str,
    value: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<(SessionAddress, T)>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let rows = stmt.query_map(params![project], |r| {
        let address = SessionAddress {
            project: project.to_string(),
            name: r.get(0)?,
        };
        Ok((address, value(r)?))
    })?;
    rows.collect()
}
