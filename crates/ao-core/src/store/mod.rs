//! The session store: one SQLite database under the state home.
//!
//! Every `ao` invocation is a new process, so everything needed to find a session again lives here:
//! its address, its agent session id, its workspace and its runtime handle. The database runs in WAL
//! mode with a busy timeout, and names are handed out inside an immediate transaction, so that ten
//! `ao spawn` started at once get ten distinct sessions and no error.
//!
//! [`Store`] and its connection are `connection`; each other file adds the methods of its own
//! tables (`sessions`, `transitions`, `monitors`, `last_observations`, `plugin_state`) and imports
//! `connection` and the siblings it uses, never this file, which is the module map and the public
//! paths.

mod connection;
mod last_observations;
mod monitors;
mod plugin_state;
mod sessions;
#[cfg(test)]
mod tests;
mod transitions;

pub use connection::Store;
pub use last_observations::LastObservation;
pub use monitors::MonitorRecord;
pub use plugin_state::{open_state, PluginState};
pub use sessions::NewSession;
pub use transitions::{Claimed, Claims, Ledger, Recorded, Sighting, BUDGET_KEY};
