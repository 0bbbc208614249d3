//! Each plugin's typed state in the store ([`PluginState`], ao-agent's): the store keeps the JSON
//! text of each value under (plugin, key), and changes one in one transaction.

use std::path::Path;
use std::sync::Arc;

use ao_agent::error::StateError;
use ao_agent::state::StateStore;
use rusqlite::{params, TransactionBehavior};

use super::{retry_busy, Store};
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

impl StateStore for Store {
    fn read(&self, plugin: &str, key: &str) -> Result<Option<String>, StateError> {
        retry_busy(|| Store::plugin_text(&self.conn(), plugin, key)).map_err(|e| self.state_err(e))
    }

    fn change(
        &self,
        plugin: &str,
        key: &str,
        change: &mut dyn FnMut(Option<&str>) -> Result<Option<String>, StateError>,
    ) -> Result<(), StateError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.state_err(e))?;
        let before = Store::plugin_text(&tx, plugin, key).map_err(|e| self.state_err(e))?;
        let after = change(before.as_deref())?;
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
            }
            .map_err(|e| self.state_err(e))?;
        }
        tx.commit().map_err(|e| self.state_err(e))
    }

    fn place(&self) -> &Path {
        &self.path
    }
}
