//! The store's connection: the one SQLite database under the state home, opened (created and
//! migrated if needed) in WAL mode with a busy timeout, and the retry of what SQLite will not wait
//! for. The other files of `store/` add [`Store`]'s methods, each over its own tables.

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{Error, Result};

/// What each version of the store adds, in order: a store at version `n` has had the first `n`
/// applied. A step is never edited once released; a change is a new step.
pub(super) const MIGRATIONS: &[&str] = &[SCHEMA, ADD_BASE, ADD_LAST_OBSERVATIONS, ADD_WATCH];

const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Version 2: the commit a session's work tree started from (`ao show`, `ao diff`).
const ADD_BASE: &str = "ALTER TABLE sessions ADD COLUMN base TEXT;";

/// Version 3: the last observation of each session, shown marked stale when its agent is late.
const ADD_LAST_OBSERVATIONS: &str = "
CREATE TABLE last_observations (
    project     TEXT NOT NULL,
    name        TEXT NOT NULL,
    observation TEXT NOT NULL,
    observed_at INTEGER NOT NULL,
    PRIMARY KEY (project, name)
);
";

/// Version 4: what the monitor keeps (transitions, the highest cost of each session and its
/// over-budget allowance, the monitors themselves).
const ADD_WATCH: &str = "
CREATE TABLE transitions (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    project  TEXT NOT NULL,
    name     TEXT NOT NULL,
    activity TEXT NOT NULL,
    key      TEXT NOT NULL,
    at_ms    INTEGER NOT NULL,
    notified INTEGER NOT NULL
);
CREATE INDEX transitions_by_session ON transitions (project, name, id);
CREATE INDEX transitions_open ON transitions (project, notified);
CREATE TABLE session_costs (
    project      TEXT NOT NULL,
    name         TEXT NOT NULL,
    cost_usd     REAL NOT NULL,
    allowed_from INTEGER,
    allow_armed  INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (project, name)
);
CREATE TABLE monitors (
    project      TEXT PRIMARY KEY,
    pid          INTEGER NOT NULL,
    start_time   INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    last_failure TEXT
);
";

pub(super) const SCHEMA: &str = "
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

/// How long a write waits for another connection's write lock.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(15);

/// Whether SQLite said the database is locked by another connection.
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            )
    )
}

/// Runs `op` again while SQLite says the database is busy, for up to [`BUSY_TIMEOUT`].
pub(crate) fn retry_busy<T>(mut op: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    let mut pause = Duration::from_millis(2);
    loop {
        match op() {
            Err(e) if is_busy(&e) && std::time::Instant::now() < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// The open session store.
///
/// Its methods block (SQLite waits up to 15 s for a busy database): async code calls them through
/// [`crate::blocking::unblock`], and plugins reach their own part through [`PluginState`](super::PluginState), which
/// does that for them. Cloning is cheap and shares the one connection.
#[derive(Clone)]
pub struct Store {
    pub(super) path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl Store {
    /// Opens (creating if needed) the store at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        // The store is at the root of the state home, which may be a directory the person made
        // that others can read: a new store is made 0600 first (SQLite gives its -wal and -shm
        // files the mode of the database), never changing one that is there.
        if let Some(dir) = path.parent() {
            crate::home::create_home_dir(dir)?;
        }
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("cannot create", path, e)),
        }
        let err = |source| Error::Store {
            path: path.to_path_buf(),
            source,
        };
        let mut conn = Connection::open(path).map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
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
                // Read again inside the transaction: another `ao` may have migrated meanwhile.
                let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
                for step in MIGRATIONS.iter().skip(now.max(0) as usize) {
                    tx.execute_batch(step)?;
                }
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

    pub(crate) fn err(&self, source: rusqlite::Error) -> Error {
        Error::Store {
            path: self.path.clone(),
            source,
        }
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent; keep going.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}
