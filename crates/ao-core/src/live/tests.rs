//! The live model against a test agent whose change feed the test drives: what is observed, when,
//! and what is yielded.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use tokio::sync::mpsc;

use super::{ConfigChange, LiveEvent, LiveModel, LiveOptions};
use crate::agent::{
    Agent, AgentError, Change, Observation, PreparedSession, ProjectContext, Reply, SessionContext,
};
use crate::manager::tests::{live_session, manager_of, test_agent, FINISHED_AT};
use crate::runtime::LaunchSpec;
use crate::session::{Activity, SessionAddress};
use crate::transcript::TranscriptEntry;

/// An agent whose every session shows `activity`, and whose feeds the test holds.
struct FeedAgent {
    activity: Mutex<Activity>,
    /// The number of sessions of each `observe` call, in order.
    observed: Mutex<Vec<usize>>,
    /// One sender per feed opened, in order; dropping one ends that feed.
    feeds: Mutex<Vec<(String, mpsc::UnboundedSender<Change>)>>,
}

impl FeedAgent {
    fn new() -> Arc<FeedAgent> {
        Arc::new(FeedAgent {
            activity: Mutex::new(Activity::Active),
            observed: Mutex::new(Vec::new()),
            feeds: Mutex::new(Vec::new()),
        })
    }

    fn set(&self, activity: Activity) {
        *self.activity.lock().unwrap() = activity;
    }

    fn observations(&self) -> Vec<usize> {
        self.observed.lock().unwrap().clone()
    }

    /// The projects of the feeds open now (a feed whose stream was dropped by the model is
    /// closed).
    fn open_feeds(&self) -> Vec<String> {
        open_of(&self.feeds)
    }

    /// Sends a change on every open feed of `project`.
    fn change(&self, project: &str, change: Change) {
        for (p, tx) in self.feeds.lock().unwrap().iter() {
            if p == project {
                let _ = tx.send(change.clone());
            }
        }
    }

    /// Ends every feed, as a server that dies does.
    fn break_feeds(&self) {
        self.feeds.lock().unwrap().clear();
    }
}

test_agent!(inert FeedAgent {
    fn name(&self) -> &'static str {
        "feed"
    }
    async fn observe(
        &self,
        _: &ProjectContext<'_>,
        sessions: &[SessionContext<'_>],
    ) -> Vec<Observation> {
        self.observed.lock().unwrap().push(sessions.len());
        let mut obs = Observation::bare(*self.activity.lock().unwrap(), None);
        obs.last_activity_at = Some(FINISHED_AT);
        vec![obs; sessions.len()]
    }
    async fn project_changes(
        &self,
        cx: &ProjectContext<'_>,
    ) -> Result<BoxStream<'static, Change>, AgentError> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.feeds.lock().unwrap().push((cx.project.name.clone(), tx));
        Ok(Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|c| (c, rx))
        })))
    }
});

/// What names each feed still open among `feeds` (one the model dropped is closed), sorted.
fn open_of<P: Clone + Ord, C>(feeds: &Mutex<Vec<(P, mpsc::UnboundedSender<C>)>>) -> Vec<P> {
    let mut open: Vec<P> = feeds
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, tx)| !tx.is_closed())
        .map(|(p, _)| p.clone())
        .collect();
    open.sort();
    open
}

const QUICK: LiveOptions = LiveOptions {
    liveness_period: Duration::from_millis(50),
    debounce: Duration::from_millis(20),
    max_backoff: Duration::from_secs(1),
};

/// A period so long that only feeds make the model look.
const FEEDS_ONLY: LiveOptions = LiveOptions {
    liveness_period: Duration::from_secs(3600),
    ..QUICK
};

/// Polls `check` every 10 ms for up to 5 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..500 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never: {what}");
}

/// The next event, within 5 s.
async fn next(model: &mut LiveModel) -> LiveEvent {
    tokio::time::timeout(Duration::from_secs(5), model.next())
        .await
        .expect("an event within 5 s")
        .expect("the model runs")
}

/// Whether the model stays silent for `d`.
async fn silent_for(model: &mut LiveModel, d: Duration) -> bool {
    tokio::time::timeout(d, model.next()).await.is_err()
}

async fn started(
    tmp: &tempfile::TempDir,
    agent: &Arc<FeedAgent>,
    sessions: &[&str],
    options: LiveOptions,
) -> LiveModel {
    let mgr = manager_of(tmp, vec![agent.clone()], FINISHED_AT).await;
    for project in sessions {
        live_session(&mgr, project, "feed");
    }
    let mut model = LiveModel::start(Arc::new(mgr), crate::target::Target::All, options)
        .await
        .unwrap();
    match next(&mut model).await {
        LiveEvent::Snapshot(all) => assert_eq!(all.len(), sessions.len()),
        other => panic!("not a snapshot first: {other:?}"),
    }
    model
}

fn changed(event: LiveEvent) -> (String, Activity) {
    match event {
        LiveEvent::Changed(s) => (s.record.address.to_string(), s.activity),
        other => panic!("not a change: {other:?}"),
    }
}

#[tokio::test]
async fn one_feed_per_project_and_a_burst_of_changes_costs_one_observation() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = FeedAgent::new();
    let mut model = started(&tmp, &agent, &["demo", "demo", "demo", "other"], FEEDS_ONLY).await;
    eventually("both feeds open", || {
        agent.open_feeds() == ["demo", "other"]
    })
    .await;
    // The snapshot looked at each session once, and so does the catch-up once a feed is up.
    let sessions_observed = || agent.observations().iter().sum::<usize>();
    eventually("the catch-up", || sessions_observed() == 8).await;
    assert!(silent_for(&mut model, Duration::from_millis(100)).await);
    let base = agent.observations().len();

    agent.set(Activity::WaitingInput);
    for _ in 0..20 {
        agent.change("demo", Change::Session("conv-agent-2".into()));
    }
    assert_eq!(
        changed(next(&mut model).await),
        ("demo/agent-2".into(), Activity::WaitingInput)
    );
    // Only the session named was observed, once for the whole burst.
    assert!(silent_for(&mut model, Duration::from_millis(100)).await);
    assert_eq!(agent.observations()[base..], [1]);

    // A change of any of a project's sessions looks at that project's, not the other's.
    agent.change("demo", Change::Any);
    let mut ids = vec![
        changed(next(&mut model).await).0,
        changed(next(&mut model).await).0,
    ];
    ids.sort();
    assert_eq!(ids, ["demo/agent-1", "demo/agent-3"]);
    assert_eq!(agent.observations()[base + 1..], [3]);
}

#[tokio::test]
async fn a_broken_feed_falls_back_to_polling_and_reconnects() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = FeedAgent::new();
    let mut model = started(&tmp, &agent, &["demo"], QUICK).await;
    eventually("the feed open", || agent.open_feeds() == ["demo"]).await;

    agent.break_feeds();
    // With no feed, a change is still seen, by polling.
    agent.set(Activity::Blocked);
    assert_eq!(
        changed(next(&mut model).await),
        ("demo/agent-1".into(), Activity::Blocked)
    );
    // And the feed comes back, after a backoff.
    eventually("the feed open again", || agent.open_feeds() == ["demo"]).await;
    agent.set(Activity::Ready);
    agent.change("demo", Change::Session("conv-agent-1".into()));
    assert_eq!(
        changed(next(&mut model).await),
        ("demo/agent-1".into(), Activity::Ready)
    );
}

#[tokio::test]
async fn sessions_spawned_and_purged_elsewhere_come_and_go() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = FeedAgent::new();
    let mut model = started(&tmp, &agent, &["demo"], QUICK).await;
    let mgr = model.manager();

    live_session(&mgr, "other", "feed");
    assert_eq!(changed(next(&mut model).await).0, "other/agent-1");
    eventually("a feed for the new project", || {
        agent.open_feeds() == ["demo", "other"]
    })
    .await;

    let address = SessionAddress {
        project: "demo".into(),
        name: "agent-1".into(),
    };
    mgr.store().delete(&address).unwrap();
    match next(&mut model).await {
        LiveEvent::Removed(id) => assert_eq!(id, "demo/agent-1"),
        other => panic!("not a removal: {other:?}"),
    }
    // No session of the project is left, so neither is its feed.
    eventually("demo's feed closed", || agent.open_feeds() == ["other"]).await;
}

#[tokio::test]
async fn an_edited_config_is_picked_up_and_a_broken_one_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = FeedAgent::new();
    let mut model = started(&tmp, &agent, &["demo"], QUICK).await;
    let file = model.manager().config().file.clone();
    let good = std::fs::read_to_string(&file).unwrap();

    std::fs::write(&file, "projects: [oops\n").unwrap();
    match next(&mut model).await {
        LiveEvent::Config(ConfigChange::Invalid(why)) => {
            assert!(why.contains("agent-orchestrator.yaml:"), "{why}")
        }
        other => panic!("not a config problem: {other:?}"),
    }
    let edited = good.replace("readyThresholdMs: 300000", "readyThresholdMs: 1000");
    assert_ne!(edited, good);
    std::fs::write(&file, &edited).unwrap();
    loop {
        match next(&mut model).await {
            LiveEvent::Config(ConfigChange::Reloaded) => break,
            LiveEvent::Changed(_) => {}
            other => panic!("not a reload: {other:?}"),
        }
    }
    assert_eq!(model.manager().config().ready_threshold_ms, 1000);
}

#[tokio::test]
async fn the_hub_keeps_each_session_in_status_order_and_broadcasts_its_changes() {
    use super::{HubChange, LiveHub};
    let tmp = tempfile::tempdir().unwrap();
    let agent = FeedAgent::new();
    let mgr = manager_of(&tmp, vec![agent.clone()], FINISHED_AT).await;
    for project in ["other", "demo", "demo"] {
        live_session(&mgr, project, "feed");
    }
    let model = LiveModel::start(Arc::new(mgr), crate::target::Target::All, FEEDS_ONLY)
        .await
        .unwrap();
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    let (hub, _task) = LiveHub::start(model, stop_rx);
    eventually("the snapshot kept", || hub.sessions().len() == 3).await;
    let projects: Vec<String> = hub
        .sessions()
        .iter()
        .map(|s| s.session.status.project.clone())
        .collect();
    assert_eq!(projects, ["demo", "demo", "other"]);
    let id = hub.sessions()[1].id().to_string();
    let conversation = hub.sessions()[1]
        .session
        .status
        .agent_session_id
        .clone()
        .unwrap();
    eventually("the feeds open", || agent.open_feeds() == ["demo", "other"]).await;

    let mut updates = hub.subscribe().updates;
    agent.set(Activity::WaitingInput);
    agent.change("demo", Change::Session(conversation));
    let update = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match updates.recv().await.unwrap().what {
                HubChange::Session(s) if s.id() == id => return s,
                _ => continue,
            }
        }
    })
    .await
    .expect("the change broadcast");
    assert_eq!(update.session.status.activity, Activity::WaitingInput);
    assert!(update.json.contains("\"waiting_input\""), "{}", update.json);
    let kept = hub.session(&id).unwrap();
    assert_eq!(kept.session.status.activity, Activity::WaitingInput);
    assert!(hub.session("demo/nobody").is_none());
}

/// A feed [`HostAgent`] opened: its projects, and the sender the test drives it with.
type HostFeed = (Vec<String>, mpsc::UnboundedSender<(usize, Change)>);

/// An agent whose projects share one host, but for `solo`'s; it records the projects of each
/// feed it opens, and the test drives each feed.
struct HostAgent {
    /// The projects of each feed opened, and its sender; dropping one ends that feed.
    feeds: Mutex<Vec<HostFeed>>,
    /// The project of each session observed, in order.
    observed: Mutex<Vec<String>>,
}

impl HostAgent {
    /// The projects of the feeds open now.
    fn open_feeds(&self) -> Vec<Vec<String>> {
        open_of(&self.feeds)
    }

    /// Sends a change of `project` on the open feed that follows it.
    fn change(&self, project: &str, change: Change) {
        for (projects, tx) in self.feeds.lock().unwrap().iter() {
            if let Some(i) = projects.iter().position(|p| p == project) {
                let _ = tx.send((i, change.clone()));
            }
        }
    }

    fn observed(&self) -> Vec<String> {
        std::mem::take(&mut *self.observed.lock().unwrap())
    }
}

test_agent!(inert HostAgent {
    fn name(&self) -> &'static str {
        "host"
    }
    fn host_key(&self, project: &ao_agent::project::Project) -> Option<String> {
        (project.name != "solo").then(|| "one-server".to_string())
    }
    async fn observe(
        &self,
        cx: &ProjectContext<'_>,
        sessions: &[SessionContext<'_>],
    ) -> Vec<Observation> {
        let mut observed = self.observed.lock().unwrap();
        observed.extend(sessions.iter().map(|_| cx.project.name.clone()));
        vec![Observation::bare(Activity::Active, None); sessions.len()]
    }
    async fn host_changes(
        &self,
        projects: &[ProjectContext<'_>],
    ) -> Result<BoxStream<'static, (usize, Change)>, AgentError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let names = projects.iter().map(|cx| cx.project.name.clone()).collect();
        self.feeds.lock().unwrap().push((names, tx));
        Ok(Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|c| (c, rx))
        })))
    }
});

#[tokio::test]
async fn projects_that_share_a_host_share_one_feed_and_each_change_goes_to_its_project() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = Arc::new(HostAgent {
        feeds: Mutex::new(Vec::new()),
        observed: Mutex::new(Vec::new()),
    });
    let mut text = "projects:\n".to_string();
    for name in ["a", "b", "c", "solo"] {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        text.push_str(&format!(
            "  - name: {name}\n    path: {}\n    workspace: none\n    runtime: process\n",
            dir.display()
        ));
    }
    let mgr = crate::manager::tests::manager_with_config(
        &tmp,
        vec![agent.clone() as Arc<dyn Agent>],
        &text,
        FINISHED_AT,
    )
    .await;
    for project in ["a", "b", "b", "solo"] {
        live_session(&mgr, project, "host");
    }
    let mut model = LiveModel::start(Arc::new(mgr), crate::target::Target::All, QUICK)
        .await
        .unwrap();
    assert!(matches!(next(&mut model).await, LiveEvent::Snapshot(_)));
    let (ab, solo) = (vec!["a".to_string(), "b".into()], vec!["solo".to_string()]);
    eventually("one feed for a and b, one for solo", || {
        agent.open_feeds() == [ab.clone(), solo.clone()]
    })
    .await;
    // The catch-up once the feeds are up, then quiet (nothing changes).
    eventually("the catch-up", || agent.observed().len() >= 4).await;
    let quiet_for = |ms| tokio::time::sleep(Duration::from_millis(ms));
    quiet_for(100).await;
    agent.observed();

    // A change on the shared feed names its project: only that project's session is looked at.
    agent.change("b", Change::Session("conv-agent-1".into()));
    eventually("b's session observed", || agent.observed() == ["b"]).await;
    // The same conversation id in another project of the feed is another session.
    agent.change("a", Change::Session("conv-agent-1".into()));
    eventually("a's session observed", || agent.observed() == ["a"]).await;
    agent.change("b", Change::Any);
    eventually("b's sessions observed", || agent.observed() == ["b", "b"]).await;

    // A session in another project on the host: the feed starts over with it.
    let mgr = model.manager();
    live_session(&mgr, "c", "host");
    eventually("one feed for a, b and c", || {
        agent.open_feeds() == [vec!["a".to_string(), "b".into(), "c".into()], solo.clone()]
    })
    .await;
    quiet_for(100).await;
    agent.observed();
    agent.change("c", Change::Session("conv-agent-1".into()));
    eventually("c's session observed", || agent.observed() == ["c"]).await;
}
