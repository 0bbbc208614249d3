//! The session store: one SQLite database under the state home.
//!
//! Every `ao` invocation is a new process, so everything needed to find a session again lives here:
//! its address, its agent session id, its workspace and its runtime handle. The database runs in WAL
//! mode with a busy timeout, and names are handed out inside an immediate transaction, so that ten
//! `ao spawn` started at once get ten distinct sessions and no error.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::clock::EpochMillis;
use crate::error::{Error, Result};
use crate::session::{Lifecycle, RuntimeKind, SessionAddress, SessionRecord};

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sessions (
    project          TEXT NOT NULL,
    name             TEXT NOT NULL,
    agent            TEXT NOT NULL,
    runtime          TEXT NOT NULL,
    lifecycle        TEXT NOT NULL,
    agent_session_id TEXT,
    workspace        TEXT NOT NULL,
    branch           TEXT,
    runtime_handle   TEXT,
    model            TEXT,
    agent_mode       TEXT,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (project, name)
);
CREATE TABLE IF NOT EXISTS name_counters (
    project TEXT PRIMARY KEY,
    next    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS agent_state (
    agent TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (agent, key)
);
";

/// Runs `op` again while SQLite says the database is busy, for up to 15 seconds.
fn retry_busy<T>(mut op: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut pause = Duration::from_millis(2);
    loop {
        match op() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

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

/// The open session store.
///
/// Its methods block (SQLite waits up to 15 s for a busy database): async code calls them through
/// [`crate::blocking::unblock`], and plugins reach their own part through [`PluginState`], which
/// does that for them. Cloning is cheap and shares the one connection.
#[derive(Clone)]
pub struct Store {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(dir) = path.parent() {
            crate::home::create_private_dir(dir)?;
        }
        let err = |source| Error::Store {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(15)).map_err(err)?;
        // Switching to WAL and creating the schema take locks for which SQLite does not call the
        // busy handler, so when several `ao` open a new store at once, retry them ourselves.
        retry_busy(|| {
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            debug_assert_eq!(mode.to_lowercase(), "wal");
            conn.pragma_update(None, "synchronous", "NORMAL")
        })
        .map_err(err)?;
        let version: i64 =
            retry_busy(|| conn.pragma_query_value(None, "user_version", |r| r.get(0)))
                .map_err(err)?;
        if version > SCHEMA_VERSION {
            return Err(Error::Usage(format!(
                "the session store {} was written by a newer ao (schema {version}); upgrade ao",
                path.display()
            )));
        }
        if version < SCHEMA_VERSION {
            retry_busy(|| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute_batch(SCHEMA)?;
                tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
                tx.commit()
            })
            .map_err(err)?;
        }
        Ok(Store {
            path: path.to_path_buf(),
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, source: rusqlite::Error) -> Error {
        Error::Store {
            path: self.path.clone(),
            source,
        }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent; keep going.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

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
                    return Err(Error::Usage(format!(
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
                        workspace = ?6, branch = ?7, runtime_handle = ?8, model = ?9, agent_mode = ?10
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
                    rec.agent_mode
                ],
            )
            .map_err(|e| self.err(e))?;
        if n == 0 {
            return Err(Error::Usage(format!(
                "session {} no longer exists",
                rec.address
            )));
        }
        Ok(())
    }

    /// Forgets a session.
    pub fn delete(&self, address: &SessionAddress) -> Result<()> {
        self.conn()
            .execute(
                "DELETE FROM sessions WHERE project = ?1 AND name = ?2",
                params![address.project, address.name],
            )
            .map_err(|e| self.err(e))?;
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

    /// This plugin's part of the store.
    pub fn plugin_state(&self, plugin: &str) -> PluginState {
        PluginState {
            store: self.clone(),
            plugin: plugin.to_string(),
        }
    }

    /// The JSON text stored under a plugin's key.
    fn plugin_text(conn: &Connection, plugin: &str, key: &str) -> rusqlite::Result<Option<String>> {
        conn.query_row(
            "SELECT value FROM agent_state WHERE agent = ?1 AND key = ?2",
            params![plugin, key],
            |r| r.get(0),
        )
        .optional()
    }
}

/// What a plugin keeps between `ao` invocations (a server's pid and port, what it last saw), as
/// typed values under keys of its own, in ao's store. A plugin never opens the database itself.
///
/// Every value is read and written whole, as JSON; [`update`](PluginState::update) reads, changes
/// and writes one value inside a single immediate transaction, so that two `ao` running at once
/// never lose each other's change. The async methods run on the blocking pool
/// ([`crate::blocking`]); the `_blocking` ones are for callers outside an async runtime.
#[derive(Clone)]
pub struct PluginState {
    store: Store,
    plugin: String,
}

impl PluginState {
    /// The plugin whose state this is.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    fn decode<T: DeserializeOwned>(&self, key: &str, text: &str) -> Result<T> {
        serde_json::from_str(text).map_err(|e| Error::StoreData {
            path: self.store.path.clone(),
            message: format!(
                "the {} plugin's value {key:?} cannot be read: {e}",
                self.plugin
            ),
        })
    }

    fn encode<T: Serialize>(&self, key: &str, value: &T) -> Result<String> {
        serde_json::to_string(value).map_err(|e| Error::StoreData {
            path: self.store.path.clone(),
            message: format!(
                "the {} plugin's value {key:?} cannot be written: {e}",
                self.plugin
            ),
        })
    }

    /// The value under `key`, if one is stored. Blocks; see [`get`](PluginState::get).
    pub fn get_blocking<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let text = retry_busy(|| Store::plugin_text(&self.store.conn(), &self.plugin, key))
            .map_err(|e| self.store.err(e))?;
        text.map(|t| self.decode(key, &t)).transpose()
    }

    /// Changes the value under `key` in one transaction: `change` gets the stored value (`None`
    /// when absent) and may replace or remove it; it is written back only if it changed. Blocks;
    /// see [`update`](PluginState::update).
    pub fn update_blocking<T, R>(
        &self,
        key: &str,
        change: impl FnOnce(&mut Option<T>) -> R,
    ) -> Result<R>
    where
        T: Serialize + DeserializeOwned,
    {
        let mut conn = self.store.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.store.err(e))?;
        let before = Store::plugin_text(&tx, &self.plugin, key).map_err(|e| self.store.err(e))?;
        let mut value: Option<T> = before.as_deref().map(|t| self.decode(key, t)).transpose()?;
        let out = change(&mut value);
        let after = value.as_ref().map(|v| self.encode(key, v)).transpose()?;
        if after != before {
            match &after {
                Some(text) => tx.execute(
                    "INSERT INTO agent_state (agent, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT(agent, key) DO UPDATE SET value = excluded.value",
                    params![self.plugin, key, text],
                ),
                None => tx.execute(
                    "DELETE FROM agent_state WHERE agent = ?1 AND key = ?2",
                    params![self.plugin, key],
                ),
            }
            .map_err(|e| self.store.err(e))?;
        }
        tx.commit().map_err(|e| self.store.err(e))?;
        Ok(out)
    }

    /// The value under `key`, if one is stored.
    pub async fn get<T>(&self, key: &str) -> Result<Option<T>>
    where
        T: DeserializeOwned + Send + 'static,
    {
        let this = self.clone();
        let key = key.to_string();
        crate::blocking::unblock(move || this.get_blocking(&key)).await
    }

    /// Changes the value under `key` in one transaction; see
    /// [`update_blocking`](PluginState::update_blocking).
    pub async fn update<T, R>(
        &self,
        key: &str,
        change: impl FnOnce(&mut Option<T>) -> R + Send + 'static,
    ) -> Result<R>
    where
        T: Serialize + DeserializeOwned,
        R: Send + 'static,
    {
        let this = self.clone();
        let key = key.to_string();
        crate::blocking::unblock(move || this.update_blocking(&key, change)).await
    }

    /// Stores `value` under `key`, replacing what was there.
    pub async fn set<T>(&self, key: &str, value: T) -> Result<()>
    where
        T: Serialize + DeserializeOwned + Send + 'static,
    {
        self.update(key, move |v: &mut Option<T>| *v = Some(value))
            .await
    }
}

/// The columns [`RawRecord::from_row`] reads, in its order.
const RECORD_COLUMNS: &str = "project, name, agent, runtime, lifecycle, agent_session_id, \
     workspace, branch, runtime_handle, model, agent_mode, created_at";

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
        let runtime = self
            .runtime
            .parse()
            .map_err(|e: String| bad("the runtime", &self.runtime, e))?;
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
            runtime_handle,
            model: self.model,
            agent_mode: self.agent_mode,
            created_at: self.created_at,
        })
    }
}

#[cfg(test)]
impl PluginState {
    fn set_blocking_for_test(&self, key: &str, value: &str) {
        self.update_blocking(key, |v: &mut Option<String>| *v = Some(value.to_string()))
            .unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new<'a>(project: &'a str, name: Option<&'a str>) -> NewSession<'a> {
        NewSession {
            project,
            name,
            prefix: "agent",
            agent: "test-agent",
            runtime: RuntimeKind::Process,
            workspace: Path::new("/tmp"),
            model: None,
            agent_mode: None,
            created_at: 1,
        }
    }

    #[test]
    fn names_count_up_per_project_and_are_never_reused() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("ao.db")).unwrap();
        let a1 = store.reserve(&new("a", None)).unwrap();
        let a2 = store.reserve(&new("a", None)).unwrap();
        let b1 = store.reserve(&new("b", None)).unwrap();
        assert_eq!(
            (a1.address.name.as_str(), a2.address.name.as_str()),
            ("agent-1", "agent-2")
        );
        assert_eq!(b1.address.name, "agent-1");
        store.delete(&a2.address).unwrap();
        assert_eq!(
            store.reserve(&new("a", None)).unwrap().address.name,
            "agent-3"
        );
        store.reserve(&new("a", Some("agent-4"))).unwrap();
        assert_eq!(
            store.reserve(&new("a", None)).unwrap().address.name,
            "agent-5"
        );
        assert!(store.reserve(&new("a", Some("agent-1"))).is_err());
    }

    #[test]
    fn concurrent_reservations_get_distinct_names() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("ao.db");
        let handles: Vec<_> = (0..10)
            .map(|_| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let store = Store::open(&path).unwrap();
                    store.reserve(&new("p", None)).unwrap().address.name
                })
            })
            .collect();
        let mut names: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 10);
    }

    #[test]
    fn plugin_updates_in_one_transaction_are_never_lost() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("ao.db");
        Store::open(&path).unwrap();
        // Eight stores (as eight `ao` would) add one item each to the same value, at once.
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let state = Store::open(&path).unwrap().plugin_state("p");
                    state
                        .update_blocking("items", |v: &mut Option<Vec<u32>>| {
                            let mut items = v.take().unwrap_or_default();
                            // Widen the window between read and write.
                            std::thread::sleep(Duration::from_millis(20));
                            items.push(i);
                            *v = Some(items);
                        })
                        .unwrap();
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let state = Store::open(&path).unwrap().plugin_state("p");
        let mut items: Vec<u32> = state.get_blocking("items").unwrap().unwrap();
        items.sort();
        assert_eq!(items, (0..8).collect::<Vec<_>>());
        // Another plugin's keys are its own.
        let other = Store::open(&path).unwrap().plugin_state("q");
        assert!(other.get_blocking::<Vec<u32>>("items").unwrap().is_none());
    }

    #[test]
    fn unreadable_values_are_errors_not_guesses() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("ao.db")).unwrap();
        let rec = store.reserve(&new("p", None)).unwrap();
        store
            .conn()
            .execute(
                "UPDATE sessions SET lifecycle = 'hibernating' WHERE name = ?1",
                params![rec.address.name],
            )
            .unwrap();
        let err = store.list().unwrap_err().to_string();
        assert!(err.contains("hibernating"), "{err}");
        assert!(err.contains("p/agent-1"), "{err}");

        let state = store.plugin_state("p");
        state.set_blocking_for_test("n", "not a number");
        let err = state.get_blocking::<u32>("n").unwrap_err().to_string();
        assert!(err.contains("cannot be read"), "{err}");
    }
}
