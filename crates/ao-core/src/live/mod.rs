//! The live session model: every session a target names, kept up to date as it changes, for `ao
//! watch`, `ao status --watch` and every other live view.
//!
//! It starts from a status snapshot, then follows one change feed per agent and host group (one
//! connection to each server, however many projects share it; never one per session). A change
//! marks the sessions it concerns; after a short debounce, so that a burst of events costs one
//! observation, only those are observed again, in one batched call per project (or per shared
//! host). On a period of its own it re-reads the store (sessions spawned or killed by another
//! `ao`), checks the runtimes (a pane or process that died), turns `ready` into `idle` when its
//! time comes, reconnects broken feeds with backoff, polls the projects whose feed is down, and
//! re-reads an edited config file. It yields a session whenever any field of its status changed
//! (`activity_since` among them). docs/architecture.md ("The live session model") has the rest.
//!
//! `events` holds what the model yields and how it runs, `engine` the task that follows the feeds,
//! `model` the handle that starts the engine and reads what it yields; `hub` shares one model
//! among the clients of a long-lived surface (the dashboard, `ao mcp`). Each imports the siblings
//! it uses, never this file.

mod engine;
mod events;
mod hub;
mod model;

pub use events::{ConfigChange, LiveEvent, LiveOptions, LiveSession};
pub use hub::{json_array, HubChange, HubSession, HubStart, HubUpdate, LiveHub};
pub use model::LiveModel;

#[cfg(test)]
mod tests;
