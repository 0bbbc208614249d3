//! Each project's monitor as it recorded itself: how a later `ao` finds it (pid and start time,
//! so a reused pid is never taken for it) and what `ao doctor` says of it.

use rusqlite::{params, OptionalExtension};

use super::connection::Store;
use crate::clock::EpochMillis;
use crate::error::Result;
use crate::runtime::process::ProcessIdentity;

/// A project's monitor, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorRecord {
    /// The project it watches.
    pub project: String,
    /// Its process.
    pub process: ProcessIdentity,
    /// When it started.
    pub started_at: EpochMillis,
    /// The last notifier failure it met, with when, for `ao doctor`.
    pub last_failure: Option<String>,
}

impl Store {
    /// The monitor recorded for `project`, if any (it may have died since).
    pub fn monitor(&self, project: &str) -> Result<Option<MonitorRecord>> {
        self.conn()
            .query_row(
                "SELECT pid, start_time, started_at, last_failure FROM monitors WHERE project = ?1",
                params![project],
                |r| {
                    Ok(MonitorRecord {
                        project: project.to_string(),
                        process: ProcessIdentity {
                            pid: r.get::<_, i64>(0)? as u32,
                            start_time: r.get::<_, i64>(1)? as u64,
                        },
                        started_at: r.get(2)?,
                        last_failure: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Every recorded monitor.
    pub fn monitors(&self) -> Result<Vec<MonitorRecord>> {
        let projects: Vec<String> = {
            let conn = self.conn();
            let mut stmt = conn
                .prepare("SELECT project FROM monitors ORDER BY project")
                .map_err(|e| self.err(e))?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
            rows.collect::<rusqlite::Result<_>>()
                .map_err(|e| self.err(e))?
        };
        let mut out = Vec::new();
        for p in projects {
            out.extend(self.monitor(&p)?);
        }
        Ok(out)
    }

    /// Records the running monitor of `project` (the one that holds its lock), keeping the last
    /// failure an earlier one met.
    pub fn set_monitor(
        &self,
        project: &str,
        process: ProcessIdentity,
        started_at: EpochMillis,
    ) -> Result<()> {
        self.conn()
            .execute(
                "INSERT INTO monitors (project, pid, start_time, started_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(project) DO UPDATE SET pid = excluded.pid,
                    start_time = excluded.start_time, started_at = excluded.started_at",
                params![
                    project,
                    process.pid as i64,
                    process.start_time as i64,
                    started_at
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Notes a notifier's failure for `ao doctor`.
    pub fn set_monitor_failure(&self, project: &str, failure: &str) -> Result<()> {
        self.conn()
            .execute(
                "UPDATE monitors SET last_failure = ?2 WHERE project = ?1",
                params![project, failure],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Forgets the monitor of `project` if it is still the one recorded.
    pub fn clear_monitor(&self, project: &str, process: ProcessIdentity) -> Result<()> {
        self.conn()
            .execute(
                "DELETE FROM monitors WHERE project = ?1 AND pid = ?2 AND start_time = ?3",
                params![project, process.pid as i64, process.start_time as i64],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
