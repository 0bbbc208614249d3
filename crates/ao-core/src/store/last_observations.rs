//! The last observation of each session: what `ao status` shows, marked stale, when the session's
//! agent cannot answer within the status budget. Written only when an observation differs from
//! the one kept, so a status of sessions that did not change writes nothing.

use std::collections::HashMap;

use rusqlite::params;

use super::{retry_busy, Store};
use crate::agent::Observation;
use crate::clock::EpochMillis;
use crate::error::Result;
use crate::session::SessionAddress;

/// An observation as the store keeps it.
#[derive(Debug, Clone)]
pub struct LastObservation {
    /// The observation, as JSON (compared whole to tell a change).
    pub json: String,
    /// When it was made.
    pub observed_at: EpochMillis,
}

impl LastObservation {
    /// The observation itself; `None` when what is kept no longer reads (written by another
    /// version of ao), which only means nothing is known.
    pub fn observation(&self) -> Option<Observation> {
        serde_json::from_str(&self.json).ok()
    }
}

impl Store {
    /// The last observations kept, by session.
    pub fn last_observations(&self) -> Result<HashMap<SessionAddress, LastObservation>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT project, name, observation, observed_at FROM last_observations")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    SessionAddress {
                        project: r.get(0)?,
                        name: r.get(1)?,
                    },
                    LastObservation {
                        json: r.get(2)?,
                        observed_at: r.get(3)?,
                    },
                ))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Keeps these observations as the sessions' last, in one transaction.
    pub fn keep_observations(&self, kept: &[(SessionAddress, LastObservation)]) -> Result<()> {
        if kept.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        retry_busy(|| {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO last_observations (project, name, observation, observed_at)
                     VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (project, name) DO UPDATE SET
                         observation = excluded.observation, observed_at = excluded.observed_at",
                )?;
                for (address, o) in kept {
                    stmt.execute(params![
                        address.project,
                        address.name,
                        o.json,
                        o.observed_at
                    ])?;
                }
            }
            tx.commit()
        })
        .map_err(|e| self.err(e))
    }
}
