//! Each plugin's typed state in the store: values under keys of its own, changed in one
//! transaction.

use rusqlite::{params, TransactionBehavior};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{retry_busy, Store};
use crate::error::{Error, Result};

/// How long [`PluginState::try_update`] waits for another connection's write lock: long enough
/// for another `ao`'s record (a few milliseconds), far shorter than a look's budget.
const MOMENT: std::time::Duration = std::time::Duration::from_millis(100);

/// What a plugin keeps between `ao` invocations (a server's pid and port, what it last saw), as
/// typed values under keys of its own, in ao's store. A plugin never opens the database itself.
///
/// Every value is read and written whole, as JSON; [`update`](PluginState::update) reads, changes
/// and writes one value inside a single immediate transaction, so that two `ao` running at once
/// never lose each other's change. The async methods run on the blocking pool
/// ([`crate::blocking`]); the `_blocking` ones are for callers outside an async runtime.
#[derive(Clone)]
pub struct PluginState {
    pub(super) store: Store,
    pub(super) plugin: String,
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
        self.change_in(&mut conn, key, change)
    }

    /// [`update_blocking`](PluginState::update_blocking), unless another connection holds the
    /// store's write lock for longer than a moment (100 ms): then it gives up, changes nothing and
    /// returns `None`.
    pub fn try_update_blocking<T, R>(
        &self,
        key: &str,
        change: impl FnOnce(&mut Option<T>) -> R,
    ) -> Result<Option<R>>
    where
        T: Serialize + DeserializeOwned,
    {
        let mut conn = self.store.conn();
        let err = |e| self.store.err(e);
        // The connection is this store's alone while its guard is held: no one else sees the
        // busy timeout changed.
        conn.busy_timeout(MOMENT).map_err(err)?;
        let out = self.change_in(&mut conn, key, change);
        conn.busy_timeout(super::BUSY_TIMEOUT).map_err(err)?;
        match out {
            Err(Error::Store { source, .. }) if super::is_busy(&source) => Ok(None),
            other => other.map(Some),
        }
    }

    /// Reads, changes and writes back one value in one immediate transaction on `conn`.
    fn change_in<T, R>(
        &self,
        conn: &mut rusqlite::Connection,
        key: &str,
        change: impl FnOnce(&mut Option<T>) -> R,
    ) -> Result<R>
    where
        T: Serialize + DeserializeOwned,
    {
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

    /// Changes the value under `key` as [`update`](PluginState::update) does, unless another
    /// connection holds the store's write lock for longer than a moment (100 ms): then nothing is
    /// changed and `None` returned. For what a look keeps on the side (caches, memories that only
    /// save requests), which a look must not wait for.
    pub async fn try_update<T, R>(
        &self,
        key: &str,
        change: impl FnOnce(&mut Option<T>) -> R + Send + 'static,
    ) -> Result<Option<R>>
    where
        T: Serialize + DeserializeOwned,
        R: Send + 'static,
    {
        let this = self.clone();
        let key = key.to_string();
        crate::blocking::unblock(move || this.try_update_blocking(&key, change)).await
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
