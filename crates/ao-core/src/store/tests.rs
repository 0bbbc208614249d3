//! The store's rules: names, transactions, values it cannot read.

use std::path::Path;
use std::time::Duration;

use rusqlite::params;

use super::*;

impl PluginState {
    fn set_blocking_for_test(&self, key: &str, value: &str) {
        self.update_blocking(key, |v: &mut Option<String>| *v = Some(value.to_string()))
            .unwrap();
    }
}

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

#[test]
fn a_store_of_the_first_version_gains_the_base_column_and_keeps_its_sessions() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ao.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO sessions (project, name, agent, runtime, lifecycle, workspace, created_at)
             VALUES ('p', 'agent-1', 't', 'process', 'live', '/tmp', 1)",
            [],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let mut rec = store.list().unwrap().remove(0);
    assert_eq!(rec.base, None);
    rec.base = Some("abc123".into());
    store.update(&rec).unwrap();
    let again = Store::open(&path).unwrap();
    assert_eq!(
        again.get(&rec.address).unwrap().unwrap().base.as_deref(),
        Some("abc123")
    );
}
