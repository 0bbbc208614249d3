//! The sessions table: each session's address, agent session id, workspace and runtime handle,
//! so that every `ao` (a new process) finds the sessions an earlier one started. Names are handed
//! out inside an immediate transaction, so that ten `ao spawn` started at once get ten distinct
//! sessions and no error.

use std::path::{Path, PathBuf};

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use strum::VariantNames;

use super::connection::Store;
use crate::clock::EpochMillis;
use crate::error::{Error, Result};
use crate::session::{Lifecycle, RuntimeKind, SessionAddress, SessionRecord};

/// A new session to reserve a name for.
#[derive(Debug, Clone)]
pub struct NewSession<'a> {
    /// The project.
    pub project: &'a str,
    /// The name asked for; `None` takes the next `<prefix>-<N>`.
    pub name: Option<&'a str>,
    /// The prefix of generated names.
    pub prefix: &'a str,
    /// The agent plugin.
    pub agent: &'a str,
    /// The runtime.
    pub runtime: RuntimeKind,
    /// The workspace, if already known (else filled in later).
    pub workspace: &'a Path,
    /// The model asked for.
    pub model: Option<&'a str>,
    /// The agent mode asked for.
    pub agent_mode: Option<&'a str>,
    /// Now.
    pub created_at: EpochMillis,
}

impl Store {
    /// Reserves a name for a new session and records it as `spawning`.
    pub fn reserve(&self, new: &NewSession<'_>) -> Result<SessionRecord> {
        self.reserve_with(new, |_| Ok(())).map(|(rec, ())| rec)
    }

    /// Like [`reserve`](Self::reserve), running `before_commit` with the chosen name while the new
    /// session is still invisible to every other reader, so that what it sets up (`ao spawn`'s
    /// "being spawned" lock) is in place before anyone can see the session. When it fails, nothing
    /// is reserved.
    pub fn reserve_with<T>(
        &self,
        new: &NewSession<'_>,
        before_commit: impl FnOnce(&str) -> Result<T>,
    ) -> Result<(SessionRecord, T)> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let taken = |name: &str| -> rusqlite::Result<bool> {
            tx.query_row(
                "SELECT 1 FROM sessions WHERE project = ?1 AND name = ?2",
                params![new.project, name],
                |_| Ok(()),
            )
            .optional()
            .map(|r| r.is_some())
        };
        let name = match new.name {
            Some(name) => {
                if taken(name).map_err(|e| self.err(e))? {
                    return Err(Error::Conflict(format!(
                        "a session {}/{name} already exists; pick another --name or `ao kill --purge` it first",
                        new.project
                    )));
                }
                name.to_string()
            }
            None => {
                let mut n: i64 = tx
                    .query_row(
                        "SELECT next FROM name_counters WHERE project = ?1",
                        params![new.project],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| self.err(e))?
                    .unwrap_or(1);
                // Never reuse a number, even if a session with an explicit name took it.
                let name = loop {
                    let candidate = format!("{}-{n}", new.prefix);
                    n += 1;
                    if !taken(&candidate).map_err(|e| self.err(e))? {
                        break candidate;
                    }
                };
                tx.execute(
                    "INSERT INTO name_counters (project, next) VALUES (?1, ?2)
                     ON CONFLICT(project) DO UPDATE SET next = excluded.next",
                    params![new.project, n],
                )
                .map_err(|e| self.err(e))?;
                name
            }
        };
        tx.execute(
            "INSERT INTO sessions (project, name, agent, runtime, lifecycle, workspace, model,
                                   agent_mode, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                new.project,
                name,
                new.agent,
                new.runtime.as_str(),
                Lifecycle::Spawning.as_str(),
                new.workspace.to_string_lossy(),
                new.model,
                new.agent_mode,
                new.created_at
            ],
        )
        .map_err(|e| self.err(e))?;
        let extra = before_commit(&name)?;
        tx.commit().map_err(|e| self.err(e))?;
        let rec = SessionRecord {
            address: SessionAddress {
                project: new.project.to_string(),
                name,
            },
            agent: new.agent.to_string(),
            runtime: new.runtime,
            lifecycle: Lifecycle::Spawning,
            agent_session_id: None,
            workspace: new.workspace.to_path_buf(),
            branch: None,
            base: None,
            runtime_handle: None,
            model: new.model.map(str::to_string),
            agent_mode: new.agent_mode.map(str::to_string),
            created_at: new.created_at,
        };
        Ok((rec, extra))
    }

    /// Writes back every mutable field of a record.
    pub fn update(&self, rec: &SessionRecord) -> Result<()> {
        let handle = rec
            .runtime_handle
            .as_ref()
            .map(|h| {
                serde_json::to_string(h).map_err(|e| Error::StoreData {
                    path: self.path.clone(),
                    message: format!("cannot record the runtime handle of {}: {e}", rec.address),
                })
            })
            .transpose()?;
        let n = self
            .conn()
            .execute(
                "UPDATE sessions SET runtime = ?3, lifecycle = ?4, agent_session_id = ?5,
                        workspace = ?6, branch = ?7, runtime_handle = ?8, model = ?9, agent_mode = ?10,
                        base = ?11
                 WHERE project = ?1 AND name = ?2",
                params![
                    rec.address.project,
                    rec.address.name,
                    rec.runtime.as_str(),
                    rec.lifecycle.as_str(),
                    rec.agent_session_id,
                    rec.workspace.to_string_lossy(),
                    rec.branch,
                    handle,
                    rec.model,
                    rec.agent_mode,
                    rec.base
                ],
            )
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(Error::NotFound(format!(
                "session {} no longer exists",
                rec.address
            )));
        }
        Ok(())
    }

    /// Forgets a session, with its transitions and cost.
    pub fn delete(&self, address: &SessionAddress) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        for table in ["sessions", "last_observations"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE project = ?1 AND name = ?2"),
                params![address.project, address.name],
            )
            .map_err(|e| self.err(e))?;
        }
        Store::forget_watch(&tx, address).map_err(|e| self.err(e))?;
        tx.commit().map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Every session, ordered by project and creation.
    pub fn list(&self) -> Result<Vec<SessionRecord>> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare(&format!(
                "SELECT {RECORD_COLUMNS} FROM sessions ORDER BY project, created_at, name"
            ))
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], RawRecord::from_row)
            .map_err(|e| self.err(e))?;
        let raw = rows
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.err(e))?;
        raw.into_iter().map(|r| r.decode(&self.path)).collect()
    }

    /// One session, if it is recorded.
    pub fn get(&self, address: &SessionAddress) -> Result<Option<SessionRecord>> {
        self.conn()
            .query_row(
                &format!("SELECT {RECORD_COLUMNS} FROM sessions WHERE project = ?1 AND name = ?2"),
                params![address.project, address.name],
                RawRecord::from_row,
            )
            .optional()
            .map_err(|e| self.err(e))?
            .map(|r| r.decode(&self.path))
            .transpose()
    }
}

/// The columns [`RawRecord::from_row`] reads, in its order.
const RECORD_COLUMNS: &str = "project, name, agent, runtime, lifecycle, agent_session_id, \
     workspace, branch, runtime_handle, model, agent_mode, created_at, base";

/// A row of `sessions` as stored, before its text columns are understood.
struct RawRecord {
    project: String,
    name: String,
    agent: String,
    runtime: String,
    lifecycle: String,
    agent_session_id: Option<String>,
    workspace: String,
    branch: Option<String>,
    handle: Option<String>,
    model: Option<String>,
    agent_mode: Option<String>,
    created_at: i64,
    base: Option<String>,
}

impl RawRecord {
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawRecord> {
        Ok(RawRecord {
            project: r.get(0)?,
            name: r.get(1)?,
            agent: r.get(2)?,
            runtime: r.get(3)?,
            lifecycle: r.get(4)?,
            agent_session_id: r.get(5)?,
            workspace: r.get(6)?,
            branch: r.get(7)?,
            handle: r.get(8)?,
            model: r.get(9)?,
            agent_mode: r.get(10)?,
            created_at: r.get(11)?,
            base: r.get(12)?,
        })
    }

    /// The record, or an error that names the session and the value ao cannot read: a value
    /// is never guessed (an unknown lifecycle is not taken for `live`).
    fn decode(self, path: &Path) -> Result<SessionRecord> {
        let address = SessionAddress {
            project: self.project,
            name: self.name,
        };
        let bad = |what: &str, value: &str, why: String| Error::StoreData {
            path: path.to_path_buf(),
            message: format!(
                "session {address} has {what} {value:?} that this ao cannot read ({why}); was it \
                 written by a newer ao? `ao kill --purge {address}` forgets it"
            ),
        };
        let runtime = self.runtime.parse().map_err(|_| {
            let why = crate::error::unknown_word("runtime", &self.runtime, RuntimeKind::VARIANTS);
            bad("the runtime", &self.runtime, why)
        })?;
        let lifecycle = Lifecycle::parse(&self.lifecycle).ok_or_else(|| {
            bad(
                "the lifecycle",
                &self.lifecycle,
                "not spawning, live or killed".into(),
            )
        })?;
        let runtime_handle = match &self.handle {
            Some(text) => Some(
                serde_json::from_str(text)
                    .map_err(|e| bad("the runtime handle", text, e.to_string()))?,
            ),
            None => None,
        };
        Ok(SessionRecord {
            address,
            agent: self.agent,
            runtime,
            lifecycle,
            agent_session_id: self.agent_session_id,
            workspace: PathBuf::from(self.workspace),
            branch: self.branch,
            base: self.base,
            runtime_handle,
            model: self.model,
            agent_mode: self.agent_mode,
            created_at: self.created_at,
        })
    }
}
