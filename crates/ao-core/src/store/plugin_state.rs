//! Each plugin's typed state in the store ([`PluginState`], ao-agent's): the store keeps the JSON
//! text of each value under (plugin, key), and changes one in one transaction.

use std::path::Path;
use std::sync::Arc;

use ao_agent::error::StateError;
use ao_agent::home::StateHome;
use ao_agent::state::{OpenState, StateStore, TextChange};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::connection::{is_busy, retry_busy, Store, BUSY_TIMEOUT};
use crate::error::Error;
pub use ao_agent::state::PluginState;

impl Store {
    /// This plugin's part of the store.
    pub fn plugin_state(&self, plugin: &str) -> PluginState {
        PluginState::new(Arc::new(self.clone()), plugin)
    }

    /// A failure of SQLite, as a plugin's state reports it (the same words as [`Store::err`]).
    fn state_err(&self, source: rusqlite::Error) -> StateError {
        StateError::Store {
            path: self.path.clone(),
            message: format!("{source}{}", crate::error::store_hint(&self.path, &source)),
        }
    }
}

/// How a plugin's helper process opens its state ([`OpenState`]): the store of the state home it
/// is given, opened for each use.
pub fn open_state(plugin: &str) -> OpenState {
    let plugin = plugin.to_string();
    Arc::new(move |home: &StateHome| {
        let path = home.store_path();
        match Store::open(&path) {
            Ok(store) => Ok(store.plugin_state(&plugin)),
            Err(Error::Usage(message)) => Err(StateError::Usage(message)),
            Err(Error::Io { what, path, source }) => Err(StateError::Io { what, path, source }),
            Err(Error::Store { path, source }) => Err(StateError::Store {
                message: format!("{source}{}", crate::error::store_hint(&path, &source)),
                path,
            }),
            Err(e) => Err(StateError::Store {
                path,
                message: ao_agent::error::chain(&e),
            }),
        }
    })
}

/// How long [`StateStore::try_change`] waits for another connection's write lock: long enough
/// for another `ao`'s record (a few milliseconds), far shorter than a look's budget.
const MOMENT: std::time::Duration = std::time::Duration::from_millis(100);

impl StateStore for Store {
    fn read(&self, plugin: &str, key: &str) -> Result<Option<String>, StateError> {
        retry_busy(|| Store::plugin_text(&self.conn(), plugin, key)).map_err(|e| self.state_err(e))
    }

    fn change(
        &self,
        plugin: &str,
        key: &str,
        change: &mut TextChange<'_>,
    ) -> Result<(), StateError> {
        self.change_in(&mut self.conn(), plugin, key, change)
            .map_err(|e| self.state_err(e))?
    }

    fn try_change(
        &self,
        plugin: &str,
        key: &str,
        change: &mut TextChange<'_>,
    ) -> Result<bool, StateError> {
        let mut conn = self.conn();
        let err = |e| self.state_err(e);
        // The connection is this store's alone while its guard is held: no one else sees the
        // busy timeout changed.
        conn.busy_timeout(MOMENT).map_err(err)?;
        let out = self.change_in(&mut conn, plugin, key, change);
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        match out {
            Err(e) if is_busy(&e) => Ok(false),
            Err(e) => Err(self.state_err(e)),
            Ok(done) => done.map(|()| true),
        }
    }

    fn place(&self) -> &Path {
        &self.path
    }
}

impl Store {
    /// Reads, changes and writes back one plugin value in one immediate transaction on `conn`:
    /// SQLite's failures outside, the change's own inside.
    fn change_in(
        &self,
        conn: &mut rusqlite::Connection,
        plugin: &str,
        key: &str,
        change: &mut TextChange<'_>,
    ) -> rusqlite::Result<Result<(), StateError>> {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let before = Store::plugin_text(&tx, plugin, key)?;
        let after = match change(before.as_deref()) {
            Ok(after) => after,
            Err(e) => return Ok(Err(e)),
        };
        if after != before {
            match &after {
                Some(text) => tx.execute(
                    "INSERT INTO agent_state (agent, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT(agent, key) DO UPDATE SET value = excluded.value",
                    params![plugin, key, text],
                ),
                None => tx.execute(
                    "DELETE FROM agent_state WHERE agent = ?1 AND key = ?2",
                    params![plugin, key],
                ),
            }?;
        }
        tx.commit()?;
        Ok(Ok(()))
    }
}

impl Store {
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
