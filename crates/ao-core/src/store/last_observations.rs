//! The last observation of each session: what `ao status` shows, marked stale, when the session's
//! agent cannot answer within the status budget. Read with the rest of what is recorded
//! ([`super::Recorded`]), and written by [`Store::record`](super::Store::record) only when an
//! observation differs from the one kept, so a status of sessions that did not change writes
//! nothing. The store keeps the JSON as text; the manager makes an observation of it again.

use crate::clock::EpochMillis;

/// An observation as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastObservation {
    /// The observation, as JSON (compared whole to tell a change).
    pub json: String,
    /// When it was made.
    pub observed_at: EpochMillis,
}
