//! Each plugin's typed state: values under keys of its own, kept by ao (in its store) and
//! changed in one transaction. A plugin never opens ao's database itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::StateError;
use crate::home::StateHome;

/// A result with a [`StateError`].
pub type Result<T, E = StateError> = std::result::Result<T, E>;

/// What a change of one stored value does: gets the text stored (`None`: nothing), returns the
/// text to store (`None`: remove it).
pub type TextChange<'a> = dyn FnMut(Option<&str>) -> Result<Option<String>> + 'a;

/// Where plugins' values are kept, as JSON text under (plugin, key): ao-core's store implements it
/// over SQLite. Everything here blocks.
pub trait StateStore: Send + Sync {
    /// The text stored under the plugin's key, if any.
    fn read(&self, plugin: &str, key: &str) -> Result<Option<String>>;

    /// In one transaction that no other writer can interleave with: reads the text under the
    /// plugin's key, hands it to `change`, and stores what `change` returns (`None` removes it)
    /// when that differs.
    fn change(&self, plugin: &str, key: &str, change: &mut TextChange<'_>) -> Result<()>;

    /// [`change`](StateStore::change), unless another writer holds the store for longer than a
    /// moment: then nothing is changed and `Ok(false)` returned. For what a look keeps on the side
    /// (caches), which a look must not wait for. The default waits as `change` does.
    fn try_change(&self, plugin: &str, key: &str, change: &mut TextChange<'_>) -> Result<bool> {
        self.change(plugin, key, change).map(|()| true)
    }

    /// Where the values are kept (the store's file), for messages.
    fn place(&self) -> &Path;
}

/// How a helper process of a plugin (`ao agent-helper <agent> …`) opens the plugin's state in the
/// store of a state home: the CLI hands it ao-core's store. A helper that lives long opens it for
/// each use and drops it after, so that no store stays open while it waits. Blocks.
pub type OpenState = Arc<dyn Fn(&StateHome) -> Result<PluginState> + Send + Sync>;

/// What a plugin keeps between `ao` invocations (a server's pid and port, what it last saw), as
/// typed values under keys of its own, in ao's store.
///
/// Every value is read and written whole, as JSON; [`update`](PluginState::update) reads, changes
/// and writes one value inside a single immediate transaction, so that two `ao` running at once
/// never lose each other's change. The async methods run on the blocking pool
/// ([`crate::blocking`]); the `_blocking` ones are for callers outside an async runtime.
#[derive(Clone)]
pub struct PluginState {
    store: Arc<dyn StateStore>,
    plugin: String,
}

impl PluginState {
    /// The state of `plugin` in `store`.
    pub fn new(store: Arc<dyn StateStore>, plugin: &str) -> PluginState {
        PluginState {
            store,
            plugin: plugin.to_string(),
        }
    }

    /// The plugin whose state this is.
    pub fn plugin(&self) -> &str {
        &self.plugin
    }

    fn decode<T: DeserializeOwned>(&self, key: &str, text: &str) -> Result<T> {
        serde_json::from_str(text).map_err(|e| StateError::Store {
            path: self.store.place().to_path_buf(),
            message: format!(
                "the {} plugin's value {key:?} cannot be read: {e}",
                self.plugin
            ),
        })
    }

    fn encode<T: Serialize>(&self, key: &str, value: &T) -> Result<String> {
        serde_json::to_string(value).map_err(|e| StateError::Store {
            path: self.store.place().to_path_buf(),
            message: format!(
                "the {} plugin's value {key:?} cannot be written: {e}",
                self.plugin
            ),
        })
    }

    /// The value under `key`, if one is stored. Blocks; see [`get`](PluginState::get).
    pub fn get_blocking<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let text = self.store.read(&self.plugin, key)?;
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
        self.change_blocking(key, change, false)?
            .ok_or_else(|| self.never_read(key))
    }

    /// [`update_blocking`](PluginState::update_blocking), unless another writer holds the store
    /// for longer than a moment (100 ms in ao's store): then it changes nothing and returns
    /// `None`. For what a look keeps on the side (caches, memories that only save requests),
    /// which a look must not wait for.
    pub fn try_update_blocking<T, R>(
        &self,
        key: &str,
        change: impl FnOnce(&mut Option<T>) -> R,
    ) -> Result<Option<R>>
    where
        T: Serialize + DeserializeOwned,
    {
        self.change_blocking(key, change, true)
    }

    /// One change of the value under `key`; `None` when `impatient` and the store was busy.
    fn change_blocking<T, R>(
        &self,
        key: &str,
        change: impl FnOnce(&mut Option<T>) -> R,
        impatient: bool,
    ) -> Result<Option<R>>
    where
        T: Serialize + DeserializeOwned,
    {
        let mut change = Some(change);
        let mut out = None;
        let mut apply = |before: Option<&str>| {
            let mut value: Option<T> = before.map(|t| self.decode(key, t)).transpose()?;
            if let Some(change) = change.take() {
                out = Some(change(&mut value));
            }
            value.as_ref().map(|v| self.encode(key, v)).transpose()
        };
        if impatient {
            if !self.store.try_change(&self.plugin, key, &mut apply)? {
                return Ok(None);
            }
        } else {
            self.store.change(&self.plugin, key, &mut apply)?;
        }
        out.map(Some).ok_or_else(|| self.never_read(key))
    }

    fn never_read(&self, key: &str) -> StateError {
        StateError::Store {
            path: self.store.place().to_path_buf(),
            message: format!(
                "the {} plugin's value {key:?} was not changed: the store never read it",
                self.plugin
            ),
        }
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
    /// writer holds the store for longer than a moment; see
    /// [`try_update_blocking`](PluginState::try_update_blocking).
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

/// A [`StateStore`] in memory, for a plugin's tests: what ao's store does, without a database.
/// [`refuse_changes`](MemoryStore::refuse_changes) makes every change fail, as a store whose
/// write lock another process holds would.
#[derive(Default)]
pub struct MemoryStore {
    values: Mutex<BTreeMap<(String, String), String>>,
    refusing: std::sync::atomic::AtomicBool,
    place: PathBuf,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore {
            place: PathBuf::from("memory"),
            ..MemoryStore::default()
        }
    }

    /// From now on, every change fails (`true`) or works again (`false`); reads still work.
    pub fn refuse_changes(&self, refuse: bool) {
        self.refusing
            .store(refuse, std::sync::atomic::Ordering::SeqCst);
    }

    fn values(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), String>> {
        // A panic while holding the lock leaves whole values behind; keep going.
        self.values.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl StateStore for MemoryStore {
    fn read(&self, plugin: &str, key: &str) -> Result<Option<String>> {
        Ok(self
            .values()
            .get(&(plugin.to_string(), key.to_string()))
            .cloned())
    }

    fn change(&self, plugin: &str, key: &str, change: &mut TextChange<'_>) -> Result<()> {
        if self.refusing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(StateError::Store {
                path: self.place.clone(),
                message: "database is locked".into(),
            });
        }
        let mut values = self.values();
        let slot = (plugin.to_string(), key.to_string());
        match change(values.get(&slot).map(String::as_str))? {
            Some(text) => values.insert(slot, text),
            None => values.remove(&slot),
        };
        Ok(())
    }

    fn place(&self) -> &Path {
        &self.place
    }
}
