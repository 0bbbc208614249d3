//! The model's one task: it owns what is known of each session and of each feed, and is the only
//! one to change either, so no lock is needed. Feeds run as tasks of their own and only send news.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use super::events::{ConfigChange, LiveEvent, LiveOptions};
use crate::agent::Change;
use crate::blocking::unblock;
use crate::error::Result;
use crate::manager::SessionManager;
use crate::seen::Seen;
use crate::session::{Lifecycle, ProcessState, SessionAddress, SessionRecord};

/// A feed is per agent and host group (`(agent, group)`, the group as
/// [`SessionManager::host_group`] names it): the projects of an agent that share a host (a server)
/// share one feed, one connection to it; any other project has a feed of its own.
type FeedKey = (String, String);

/// The first wait before a broken feed is tried again; it doubles up to
/// [`LiveOptions::max_backoff`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);

/// What the model knows of one session.
struct Tracked {
    record: SessionRecord,
    /// The feed that covers it.
    feed: FeedKey,
    /// What was last yielded of it, compared with each new look to tell a change.
    yielded: Seen,
}

enum FeedState {
    Connecting,
    Up,
    Down { retry_at: Instant },
}

/// One group's feed: a task that connects and forwards its changes as [`News`].
struct Feed {
    state: FeedState,
    /// The projects it follows: those of the group with a live session when it started. Another
    /// one joining replaces the feed.
    projects: BTreeSet<String>,
    /// Tells this task's news from a replaced one's.
    generation: u64,
    task: JoinHandle<()>,
    backoff: Duration,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What a feed task says.
struct News {
    key: FeedKey,
    generation: u64,
    what: FeedNews,
}

enum FeedNews {
    Connected,
    /// A change in this project.
    Change(String, Change),
    Ended,
}

pub(super) struct Engine {
    mgr: Arc<SessionManager>,
    manager_tx: watch::Sender<Arc<SessionManager>>,
    target: crate::target::Target,
    options: LiveOptions,
    out: mpsc::Sender<LiveEvent>,
    sessions: BTreeMap<SessionAddress, Tracked>,
    feeds: BTreeMap<FeedKey, Feed>,
    news_tx: mpsc::UnboundedSender<News>,
    news_rx: mpsc::UnboundedReceiver<News>,
    generations: u64,
    /// Sessions to observe at the next flush.
    dirty: BTreeSet<SessionAddress>,
    /// Whether to read the store again at the next flush (a change named a conversation the
    /// model does not know: maybe a session another `ao` just spawned).
    rescan: bool,
    flush_at: Option<Instant>,
    config_stamp: Stamp,
}

impl Engine {
    /// Takes the snapshot (and yields it) and connects the feeds.
    pub(super) async fn start(
        mgr: Arc<SessionManager>,
        manager_tx: watch::Sender<Arc<SessionManager>>,
        target: crate::target::Target,
        options: LiveOptions,
        out: mpsc::Sender<LiveEvent>,
    ) -> Result<Engine> {
        let records = mgr.resolve(&target).await?;
        let seen = mgr.status_of(&records).await?;
        let config_stamp = stamp(&mgr.config().file, mgr.home()).await;
        let (news_tx, news_rx) = mpsc::unbounded_channel();
        let mut engine = Engine {
            mgr,
            manager_tx,
            target,
            options,
            out,
            sessions: BTreeMap::new(),
            feeds: BTreeMap::new(),
            news_tx,
            news_rx,
            generations: 0,
            dirty: BTreeSet::new(),
            rescan: false,
            flush_at: None,
            config_stamp,
        };
        let snapshot = records
            .into_iter()
            .zip(seen)
            .map(|(record, seen)| engine.track(record, seen))
            .collect();
        // Nobody listening yet is no error: the caller holds the receiver.
        let _ = engine.out.send(LiveEvent::Snapshot(snapshot)).await;
        engine.ensure_feeds();
        Ok(engine)
    }

    /// Runs until the receiving side is dropped.
    pub(super) async fn run(mut self) {
        let period = self.options.liveness_period;
        let mut tick = tokio::time::interval_at(Instant::now() + period, period);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        while !self.out.is_closed() {
            let flush_at = self.flush_at;
            tokio::select! {
                // The engine holds a sender itself, so this never ends.
                Some(news) = self.news_rx.recv() => self.on_news(news),
                _ = sleep_until(flush_at) => self.flush().await,
                _ = tick.tick() => self.on_tick().await,
                _ = self.out.closed() => return,
            }
        }
    }

    /// Starts tracking a session first seen as `seen`; what to yield for it.
    fn track(&mut self, record: SessionRecord, seen: Seen) -> Seen {
        let address = record.address.clone();
        let tracked = Tracked {
            feed: feed_key(&self.mgr, &record),
            record,
            yielded: seen.clone(),
        };
        self.sessions.insert(address, tracked);
        seen
    }

    async fn emit(&self, event: LiveEvent) {
        // A closed receiver ends the run loop; nothing else to do here.
        let _ = self.out.send(event).await;
    }

    fn on_news(&mut self, news: News) {
        let Some(feed) = self.feeds.get_mut(&news.key) else {
            return;
        };
        if feed.generation != news.generation {
            return;
        }
        match news.what {
            FeedNews::Connected => {
                feed.state = FeedState::Up;
                feed.backoff = FIRST_BACKOFF;
                // Whatever happened before the feed was up is caught up with one observation.
                self.mark_feed(&news.key);
            }
            FeedNews::Change(project, Change::Session(id)) => {
                let mut known = false;
                for (address, t) in &self.sessions {
                    if t.feed == news.key
                        && t.record.address.project == project
                        && t.record.agent_session_id.as_deref() == Some(id.as_str())
                    {
                        self.dirty.insert(address.clone());
                        known = true;
                    }
                }
                self.rescan |= !known;
            }
            FeedNews::Change(project, Change::Any) => {
                for (address, t) in &self.sessions {
                    if t.feed == news.key && t.record.address.project == project {
                        self.dirty.insert(address.clone());
                    }
                }
            }
            FeedNews::Ended => {
                feed.state = FeedState::Down {
                    retry_at: Instant::now() + feed.backoff,
                };
                feed.backoff = (feed.backoff * 2).min(self.options.max_backoff);
                // The server may have died: its sessions are observed again now.
                self.mark_feed(&news.key);
            }
        }
        if self.flush_at.is_none() && (!self.dirty.is_empty() || self.rescan) {
            self.flush_at = Some(Instant::now() + self.options.debounce);
        }
    }

    /// Marks every session a feed covers.
    fn mark_feed(&mut self, key: &FeedKey) {
        for (address, t) in &self.sessions {
            if &t.feed == key {
                self.dirty.insert(address.clone());
            }
        }
    }

    /// The period's work: config, store, liveness, `ready` turning `idle`, polling where a feed
    /// is down, feeds to (re)connect; then one flush for all of it.
    async fn on_tick(&mut self) {
        self.check_config().await;
        self.rescan().await;
        self.check_liveness().await;
        let now = self.mgr.now_ms();
        let rule = self.mgr.idle_rule();
        for (address, t) in &self.sessions {
            let shown = &t.yielded;
            let turns_idle = rule.at(shown.activity, shown.last_activity_at, now) != shown.activity;
            if turns_idle || t.record.lifecycle == Lifecycle::Spawning {
                self.dirty.insert(address.clone());
            }
        }
        let polled: Vec<FeedKey> = self
            .feeds
            .iter()
            .filter(|(_, f)| !matches!(f.state, FeedState::Up))
            .map(|(k, _)| k.clone())
            .collect();
        for key in &polled {
            self.mark_feed(key);
        }
        self.ensure_feeds();
        if !self.dirty.is_empty() {
            self.flush().await;
        }
    }

    /// Observes what is dirty and yields what changed.
    async fn flush(&mut self) {
        self.flush_at = None;
        if std::mem::take(&mut self.rescan) {
            self.rescan().await;
        }
        let addresses = std::mem::take(&mut self.dirty);
        let records: Vec<SessionRecord> = addresses
            .iter()
            .filter_map(|a| self.sessions.get(a).map(|t| t.record.clone()))
            .collect();
        if records.is_empty() {
            return;
        }
        let seen = match self.mgr.status_of(&records).await {
            Ok(s) => s,
            Err(_) => {
                // The store failed for a moment: the next period tries again.
                self.dirty = addresses;
                return;
            }
        };
        for seen in seen {
            if let Some(event) = self.update(seen) {
                self.emit(event).await;
            }
        }
    }

    /// Takes a new look at a tracked session; the event to yield when what it shows changed.
    fn update(&mut self, seen: Seen) -> Option<LiveEvent> {
        let t = self.sessions.get_mut(&seen.record.address)?;
        if seen.shows_same(&t.yielded) {
            return None;
        }
        t.yielded = seen.clone();
        Some(LiveEvent::Changed(Box::new(seen)))
    }

    /// Reads the store again: sessions spawned elsewhere are observed and yielded, purged ones
    /// removed, changed records (a restore, a kill) marked.
    async fn rescan(&mut self) {
        let records = match self.mgr.resolve(&self.target).await {
            Ok(r) => r,
            // The one session watched was purged: nothing is named any more.
            Err(e) if e.is_usage() => Vec::new(),
            Err(_) => return,
        };
        let mut seen = BTreeSet::new();
        let mut new = Vec::new();
        for record in records {
            seen.insert(record.address.clone());
            match self.sessions.get_mut(&record.address) {
                Some(t) if t.record != record => {
                    // Restored or killed elsewhere: a feed waiting to reconnect tries at once.
                    if let Some(feed) = self.feeds.get_mut(&t.feed) {
                        if let FeedState::Down { retry_at } = &mut feed.state {
                            *retry_at = Instant::now();
                        }
                    }
                    t.feed = feed_key(&self.mgr, &record);
                    t.record = record;
                    self.dirty.insert(t.record.address.clone());
                }
                Some(_) => {}
                None => new.push(record),
            }
        }
        let gone: Vec<SessionAddress> = self
            .sessions
            .keys()
            .filter(|a| !seen.contains(*a))
            .cloned()
            .collect();
        for address in gone {
            self.sessions.remove(&address);
            self.dirty.remove(&address);
            self.emit(LiveEvent::Removed(address.to_string())).await;
        }
        if new.is_empty() {
            return;
        }
        let Ok(seen) = self.mgr.status_of(&new).await else {
            return;
        };
        for (record, seen) in new.into_iter().zip(seen) {
            let seen = self.track(record, seen);
            self.emit(LiveEvent::Changed(Box::new(seen))).await;
        }
        self.ensure_feeds();
    }

    /// One runtime check per runtime for every session that should run; a difference marks it.
    async fn check_liveness(&mut self) {
        let records: Vec<SessionRecord> = self
            .sessions
            .values()
            .filter(|t| t.record.lifecycle == Lifecycle::Live)
            .map(|t| t.record.clone())
            .collect();
        if records.is_empty() {
            return;
        }
        let alive = self.mgr.liveness(&records).await;
        for (record, alive) in records.iter().zip(alive) {
            if self
                .sessions
                .get(&record.address)
                .is_some_and(|t| (t.yielded.process == ProcessState::Running) != alive)
            {
                self.dirty.insert(record.address.clone());
            }
        }
    }

    /// Starts the feeds that live sessions need and are missing, retries broken ones whose time
    /// has come, and drops the ones no session needs any more.
    fn ensure_feeds(&mut self) {
        let mut needed: BTreeMap<FeedKey, BTreeSet<String>> = BTreeMap::new();
        for t in self.sessions.values() {
            if t.record.lifecycle == Lifecycle::Live && t.record.agent_session_id.is_some() {
                needed
                    .entry(t.feed.clone())
                    .or_default()
                    .insert(t.record.address.project.clone());
            }
        }
        // A feed whose group gained or lost a project starts over with the projects it has now.
        self.feeds
            .retain(|key, feed| needed.get(key).is_some_and(|p| *p == feed.projects));
        let now = Instant::now();
        for (key, projects) in needed {
            let backoff = match self.feeds.get(&key) {
                None => FIRST_BACKOFF,
                Some(Feed {
                    state: FeedState::Down { retry_at },
                    backoff,
                    ..
                }) if *retry_at <= now => *backoff,
                Some(_) => continue,
            };
            self.generations += 1;
            let task = tokio::spawn(follow(
                self.mgr.clone(),
                key.clone(),
                projects.iter().cloned().collect(),
                self.generations,
                self.news_tx.clone(),
            ));
            self.feeds.insert(
                key,
                Feed {
                    state: FeedState::Connecting,
                    projects,
                    generation: self.generations,
                    task,
                    backoff,
                },
            );
        }
    }

    /// Reads the config file again when it changed on disk; the feeds start over with it.
    async fn check_config(&mut self) {
        let stamp = stamp(&self.mgr.config().file, self.mgr.home()).await;
        if stamp == self.config_stamp {
            return;
        }
        self.config_stamp = stamp;
        match self.mgr.reload_config().await {
            Ok(mgr) => {
                let mgr = Arc::new(mgr);
                self.mgr = mgr.clone();
                self.manager_tx.send_replace(mgr);
                self.feeds.clear();
                // An edit may move a project to another host, and so to another feed.
                for t in self.sessions.values_mut() {
                    t.feed = feed_key(&self.mgr, &t.record);
                }
                self.dirty.extend(self.sessions.keys().cloned());
                self.emit(LiveEvent::Config(ConfigChange::Reloaded)).await;
            }
            Err(e) => {
                self.emit(LiveEvent::Config(ConfigChange::Invalid(e.to_string())))
                    .await
            }
        }
    }
}

/// The feed that covers a session: its agent's, for its project's host group (a project no
/// longer in the config, or an agent unknown, in a group of its own: its feed fails, and the
/// session is polled).
fn feed_key(mgr: &SessionManager, record: &SessionRecord) -> FeedKey {
    let (project, agent) = (&record.address.project, &record.agent);
    let group = mgr
        .host_group(project, agent)
        .unwrap_or_else(|_| format!("project {project}"));
    (agent.clone(), group)
}

/// A feed's task: connects, says so, forwards each change, and says when it ended.
async fn follow(
    mgr: Arc<SessionManager>,
    key: FeedKey,
    projects: Vec<String>,
    generation: u64,
    news: mpsc::UnboundedSender<News>,
) {
    let send = |what| {
        news.send(News {
            key: key.clone(),
            generation,
            what,
        })
        .is_ok()
    };
    if let Ok(mut feed) = mgr.host_feed(&key.0, &projects).await {
        if !send(FeedNews::Connected) {
            return;
        }
        while let Some((project, change)) = feed.next().await {
            if !send(FeedNews::Change(project, change)) {
                return;
            }
        }
    }
    send(FeedNews::Ended);
}

/// Sleeps until `at`; forever when there is no `at`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// When the config file was last changed and its length, and whether `ao trust` records it:
/// what tells an edit, or a trust given or taken back.
type Stamp = (Option<(SystemTime, u64)>, bool);

async fn stamp(file: &Path, home: &crate::home::StateHome) -> Stamp {
    let (file, store) = (file.to_path_buf(), crate::trust::TrustStore::new(home));
    unblock(move || {
        let meta = std::fs::metadata(&file)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())));
        let trusted = std::fs::canonicalize(&file).is_ok_and(|c| store.is_recorded(&c));
        (meta, trusted)
    })
    .await
}
