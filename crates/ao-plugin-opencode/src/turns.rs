//! Which sessions were last seen in the middle of a turn, remembered in ao's store.
//!
//! When a project's server dies, its sessions cannot be asked anything until it is back; but a
//! session last seen working was cut off mid-turn (design.md: blocked, interrupted), while one
//! last seen done has simply exited. This memory tells the two apart at once, without the server.

use std::collections::BTreeSet;

use ao_core::store::Store;

use crate::AGENT_NAME;

fn key(project: &str) -> String {
    format!("turns:{project}")
}

/// The sessions of `project` last seen mid-turn.
pub fn mid_turn(store: &Store, project: &str) -> BTreeSet<String> {
    crate::remembered(store, &key(project)).unwrap_or_default()
}

/// Records what was just seen: of the `observed` sessions, exactly those in `busy` are mid-turn.
/// Writes only when that changes what is stored; a failed write only loses the memory.
pub fn record(store: &Store, project: &str, observed: &[&str], busy: &[&str]) {
    let before = mid_turn(store, project);
    let mut after: BTreeSet<String> = before
        .iter()
        .filter(|id| !observed.contains(&id.as_str()))
        .cloned()
        .collect();
    after.extend(busy.iter().map(|s| s.to_string()));
    if after != before {
        let value = serde_json::json!(after);
        let _ = store.set_agent_state(AGENT_NAME, &key(project), Some(&value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_observed_sessions_change() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("ao.db")).unwrap();
        record(&store, "p", &["a", "b"], &["a", "b"]);
        record(&store, "p", &["b"], &[]);
        assert_eq!(mid_turn(&store, "p"), BTreeSet::from(["a".to_string()]));
        assert!(mid_turn(&store, "other").is_empty());
    }
}
