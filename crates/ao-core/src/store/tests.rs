//! The store's rules: names, transactions, values it cannot read.

use std::path::Path;
use std::time::Duration;

use rusqlite::{params, Connection};

use crate::session::{Activity, RuntimeKind, SessionAddress};

use super::connection::SCHEMA;
use super::*;

fn set_blocking_for_test(state: &PluginState, key: &str, value: &str) {
    state
        .update_blocking(key, |v: &mut Option<String>| *v = Some(value.to_string()))
        .unwrap();
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
    set_blocking_for_test(&state, "n", "not a number");
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
fn sighting(name: &str, activity: Activity, key: &str, cost: f64) -> Sighting {
    Sighting {
        address: SessionAddress {
            project: "p".into(),
            name: name.into(),
        },
        activity,
        key: key.into(),
        first_seen_at: 500,
        at: 0,
        cost_usd: cost,
        quiet: false,
        stale: false,
        allowance_used: None,
        keep: None,
    }
}

fn project_p() -> std::collections::BTreeSet<String> {
    ["p".to_string()].into()
}

/// Records one sighting at `now`; when its activity began. A look before says the same.
fn see(store: &Store, mut s: Sighting, now: i64) -> i64 {
    s.at = now;
    let looked = store.recorded(&project_p()).unwrap().since(&[s.clone()])[0];
    store.record(&[s.clone()]).unwrap();
    let recorded = store.recorded(&project_p()).unwrap().since(&[s])[0];
    assert_eq!(looked, recorded, "a look says what recording it will");
    recorded
}

#[test]
fn a_transition_is_recorded_once_per_change_and_a_first_sighting_is_dated_by_its_estimate() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("ao.db")).unwrap();
    // First seen: the estimate, never later than now.
    assert_eq!(
        see(&store, sighting("a", Activity::Active, "", 0.0), 1000),
        500
    );
    // The same again: nothing new.
    assert_eq!(
        see(&store, sighting("a", Activity::Active, "", 0.0), 2000),
        500
    );
    assert_eq!(
        see(
            &store,
            sighting("a", Activity::WaitingInput, "per_1", 0.0),
            3000
        ),
        3000
    );
    // A new request is a new transition, though the activity is the same.
    assert_eq!(
        see(
            &store,
            sighting("a", Activity::WaitingInput, "per_2", 0.0),
            6000
        ),
        6000
    );
    let claims = store.claim_due("p", 10_000, 1500).unwrap();
    let events: Vec<(&str, Option<&str>, i64)> = claims
        .due
        .iter()
        .map(|c| (c.event.as_str(), c.previous.as_deref(), c.at))
        .collect();
    assert_eq!(
        events,
        [
            ("active", None, 500),
            ("waiting_input", Some("active"), 3000),
            ("waiting_input", Some("waiting_input"), 6000)
        ]
    );
    // Claimed once: a second claim (another monitor, a restarted one) finds nothing.
    assert_eq!(
        store.claim_due("p", 20_000, 1500).unwrap(),
        Claims::default()
    );
}

#[test]
fn a_state_shorter_than_the_debounce_is_settled_and_the_latest_waits_for_its_time() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("ao.db")).unwrap();
    see(&store, sighting("a", Activity::Active, "", 0.0), 500);
    see(
        &store,
        sighting("a", Activity::WaitingInput, "per_1", 0.0),
        1000,
    );
    // Answered within a second: the request is never notified.
    see(&store, sighting("a", Activity::Active, "", 0.0), 1800);
    see(&store, sighting("a", Activity::Ready, "", 0.0), 5000);
    let claims = store.claim_due("p", 5100, 1500).unwrap();
    // The first `active` and the request did not last; the second `active` did; `ready` has
    // not lasted yet.
    let events: Vec<(&str, i64)> = claims
        .due
        .iter()
        .map(|c| (c.event.as_str(), c.at))
        .collect();
    assert_eq!(events, [("active", 1800)]);
    assert_eq!(claims.next_due, Some(6500));
    let claims = store.claim_due("p", 6500, 1500).unwrap();
    assert_eq!(claims.due.len(), 1);
    assert_eq!(claims.due[0].event, "ready");
    assert_eq!(claims.due[0].previous.as_deref(), Some("active"));
    assert_eq!(claims.next_due, None);
}

#[test]
fn quiet_sightings_and_settled_projects_are_never_notified_and_a_purge_forgets_them() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("ao.db")).unwrap();
    let mut killed = sighting("a", Activity::Exited, "", 0.0);
    killed.quiet = true;
    see(&store, killed, 1000);
    see(&store, sighting("b", Activity::Ready, "", 0.0), 1000);
    store.settle_open("p").unwrap();
    assert_eq!(store.claim_due("p", 9000, 0).unwrap(), Claims::default());

    let rec = store.reserve(&new("p", Some("c"))).unwrap();
    see(&store, sighting("c", Activity::Ready, "", 0.0), 1000);
    store.delete(&rec.address).unwrap();
    assert_eq!(store.claim_due("p", 9000, 0).unwrap(), Claims::default());
    // Seen again after the purge, it is a session seen for the first time.
    assert_eq!(
        see(&store, sighting("c", Activity::Ready, "", 0.0), 9000),
        500
    );
}

#[test]
fn costs_add_up_per_project_and_an_allowance_lasts_until_a_recording_uses_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("ao.db")).unwrap();
    see(&store, sighting("a", Activity::Ready, "", 0.25), 1000);
    let mut b = sighting("b", Activity::Ready, "", 0.5);
    b.at = 2000;
    store.allow_over_budget(&b.address, 1500).unwrap();
    // A look knows the costs as they will be once what it saw is recorded.
    let ledger = store.recorded(&project_p()).unwrap().ledger(&[b.clone()]);
    assert_eq!(ledger.project_cost["p"], 0.75);
    assert_eq!(ledger.allowances[&b.address], (1500, false));
    store.record(&[b.clone()]).unwrap();
    assert_eq!(store.costs_of(&b.address).unwrap(), (0.5, 0.75));
    store.arm_over_budget(&b.address).unwrap();
    // Used up: gone from the next ledger; a budget stop is a transition of its own.
    let used = Sighting {
        allowance_used: Some(1500),
        ..b.clone()
    };
    store.record(&[used]).unwrap();
    let ledger = store.recorded(&project_p()).unwrap().ledger(&[b.clone()]);
    assert!(ledger.allowances.is_empty());
    let stop = Sighting {
        activity: Activity::Blocked,
        key: BUDGET_KEY.into(),
        at: 3000,
        ..b.clone()
    };
    store.record(&[stop]).unwrap();
    let events: Vec<String> = store
        .claim_due("p", 9000, 0)
        .unwrap()
        .due
        .into_iter()
        .map(|c| format!("{}:{}", c.address.name, c.event))
        .collect();
    assert_eq!(events, ["a:ready", "b:ready", "b:budget"]);
}

#[test]
fn an_allowance_given_again_is_not_taken_back_by_a_look_at_the_one_before() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("ao.db")).unwrap();
    let b = sighting("b", Activity::Ready, "", 0.5);
    store.allow_over_budget(&b.address, 1500).unwrap();
    store.allow_over_budget(&b.address, 2500).unwrap();
    let used = Sighting {
        allowance_used: Some(1500),
        ..b.clone()
    };
    store.record(&[used]).unwrap();
    let ledger = store.recorded(&project_p()).unwrap().ledger(&[b]);
    assert_eq!(ledger.allowances.values().next(), Some(&(2500, false)));
}

#[test]
fn recording_what_is_stored_already_takes_no_write_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ao.db");
    let store = Store::open(&path).unwrap();
    let mut a = sighting("a", Activity::Ready, "", 0.25);
    a.at = 1000;
    a.keep = Some("{\"seen\":1}".into());
    assert!(
        store.record(&[a.clone()]).unwrap(),
        "the first sighting is written"
    );

    // Another connection holds the write lock; SQLite would wait for it.
    let mut other = rusqlite::Connection::open(&path).unwrap();
    let lock = other
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    store
        .conn()
        .busy_timeout(Duration::from_millis(200))
        .unwrap();
    let started = std::time::Instant::now();
    // The same, later: nothing new. Stale: nothing to record.
    a.at = 5000;
    assert!(!store.record(&[a.clone()]).unwrap());
    let stale = Sighting {
        activity: Activity::Active,
        cost_usd: 9.0,
        stale: true,
        ..a.clone()
    };
    assert!(!store.record(&[stale]).unwrap());
    assert!(started.elapsed() < Duration::from_millis(200));
    // Something new does need the lock.
    let changed = Sighting {
        activity: Activity::Active,
        ..a.clone()
    };
    assert!(store.record(std::slice::from_ref(&changed)).is_err());
    lock.rollback().unwrap();
    assert!(store.record(&[changed]).unwrap());
}

#[test]
fn a_monitor_is_recorded_found_and_cleared_only_by_its_own_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("ao.db")).unwrap();
    let me = crate::runtime::process::ProcessIdentity {
        pid: 42,
        start_time: 7,
    };
    store.set_monitor("p", me, 100).unwrap();
    store.set_monitor_failure("p", "webhook: refused").unwrap();
    let found = store.monitor("p").unwrap().unwrap();
    assert_eq!(found.process, me);
    assert_eq!(found.last_failure.as_deref(), Some("webhook: refused"));
    let other = crate::runtime::process::ProcessIdentity {
        pid: 42,
        start_time: 8,
    };
    store.clear_monitor("p", other).unwrap();
    assert!(store.monitor("p").unwrap().is_some());
    store.clear_monitor("p", me).unwrap();
    assert!(store.monitors().unwrap().is_empty());
}
