//! The monitor of one project: a small detached `ao … monitor <project>` that tells the person
//! about their sessions even when no one has a dashboard open, and stops a session that runs past
//! its budget.
//!
//! Theory of operation. Any `ao` that finds a project with live sessions and no running monitor
//! starts one (through [`crate::manager::AoBinary`]); a second one for the same project finds the
//! project's lock (`monitors/<project>.lock` under the state home) taken and ends at once. The one
//! that holds it records its pid and start time in the store, so that later `ao` calls find it
//! and `ao kill` of the project's last session stops it. It runs the live session model on its
//! project, which records every transition in the store (as any observer does); after each change
//! and whenever an open transition's debounce runs out, it claims the transitions that are due
//! (marking them notified in the same transaction) and fires them. A session the budget stopped
//! has its turn aborted. It ends when its project has no live session any more.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::time::Instant;

use crate::blocking::unblock;
use crate::clock::EpochMillis;
use crate::error::{Error, Result};
use crate::live::{LiveEvent, LiveModel, LiveOptions};
use crate::manager::SessionManager;
use crate::notify::{self, Event};
use crate::runtime::process::ProcessIdentity;
use crate::seen::Seen;
use crate::session::{Lifecycle, SessionAddress, Why};

/// How often the monitor checks that its project still has a live session.
const LIFE_CHECK: Duration = Duration::from_secs(2);

/// Runs the monitor of `project` until the project has no live session, or SIGTERM/SIGINT.
/// Returns at once when another monitor of the project runs.
pub async fn run(mgr: SessionManager, project: String) -> Result<()> {
    mgr.config().project(&project)?;
    let home = mgr.home().clone();
    let lock_project = project.clone();
    let lock = unblock(move || {
        let path = home.monitors_dir()?.join(format!("{lock_project}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("cannot open", &path, e))?;
        Ok::<_, Error>(
            nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).ok(),
        )
    })
    .await?;
    let Some(_lock) = lock else {
        eprintln!("ao monitor {project}: another monitor of {project} runs; ending");
        return Ok(());
    };
    let me = ProcessIdentity::of(std::process::id())
        .ok_or_else(|| Error::Internal("cannot read this process's start time".into()))?;
    let store = mgr.store().clone();
    let (p, started) = (project.clone(), mgr.now_ms());
    unblock(move || store.set_monitor(&p, me, started)).await?;
    eprintln!("ao monitor {project}: started (pid {})", me.pid);

    let store = mgr.store().clone();
    let result = watch(mgr, &project).await;
    eprintln!("ao monitor {project}: ending");
    let p = project.clone();
    unblock(move || store.clear_monitor(&p, me)).await?;
    result
}

/// What the monitor knows and has done.
struct Monitor {
    project: String,
    http: reqwest::Client,
    /// What was last seen of each session of the project, by id.
    latest: BTreeMap<String, Seen>,
    /// Budget stops already acted on: (session, when the stop began).
    aborted: BTreeSet<(String, EpochMillis)>,
}

async fn watch(mgr: SessionManager, project: &str) -> Result<()> {
    let mut model = LiveModel::start(
        Arc::new(mgr),
        crate::target::Target::ProjectOrName(project.to_string()),
        LiveOptions::default(),
    )
    .await?;
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| Error::io("cannot handle", "SIGTERM", e))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| Error::io("cannot handle", "SIGINT", e))?;
    let mut life = tokio::time::interval(LIFE_CHECK);
    let mut me = Monitor {
        project: project.to_string(),
        http: notify::http_client().await,
        latest: BTreeMap::new(),
        aborted: BTreeSet::new(),
    };
    let mut next_due: Option<Instant> = None;
    loop {
        tokio::select! {
            event = model.next() => match event {
                Some(event) => me.take(event, &model.manager()).await,
                None => return Ok(()),
            },
            _ = sleep_until(next_due) => {}
            _ = life.tick() => {
                if !has_live(&model.manager(), project).await? {
                    return Ok(());
                }
            }
            _ = terminate.recv() => return Ok(()),
            _ = interrupt.recv() => return Ok(()),
        }
        next_due = me.fire_due(&model.manager()).await;
    }
}

impl Monitor {
    /// Takes what the live model says; acts on new budget stops.
    async fn take(&mut self, event: LiveEvent, mgr: &Arc<SessionManager>) {
        let changed = match event {
            LiveEvent::Snapshot(all) => all,
            LiveEvent::Changed(s) => vec![*s],
            LiveEvent::Removed(id) => {
                self.latest.remove(&id);
                vec![]
            }
            LiveEvent::Config(change) => {
                eprintln!("ao monitor {}: config: {change:?}", self.project);
                vec![]
            }
        };
        for seen in changed {
            let stop = seen
                .error
                .as_ref()
                .is_some_and(|e| e.why == Why::BudgetExceeded);
            let id = seen.record.address.to_string();
            if stop && self.aborted.insert((id.clone(), seen.activity_since)) {
                self.abort(&seen.record.address, mgr).await;
            }
            self.latest.insert(id, seen);
        }
    }

    /// Aborts the running turn of a session the budget stopped.
    async fn abort(&self, address: &SessionAddress, mgr: &Arc<SessionManager>) {
        // Read again: it may have been killed or restored since it was seen.
        let target = crate::target::Target::Session(address.clone());
        let Ok(records) = mgr.resolve(&target).await else {
            return;
        };
        for rec in records.iter().filter(|r| r.lifecycle == Lifecycle::Live) {
            match mgr.abort_turn(rec).await {
                Ok(()) => eprintln!(
                    "ao monitor {}: {} is over budget; its turn was aborted",
                    self.project, rec.address
                ),
                Err(e) => {
                    let failure = format!("{}: the turn could not be aborted: {e}", rec.address);
                    failed(mgr, &self.project, &failure).await
                }
            }
        }
    }

    /// Claims the transitions that are due and fires them (in tasks of their own, so that a slow
    /// notifier holds nothing up); when the next open one will be due.
    async fn fire_due(&mut self, mgr: &Arc<SessionManager>) -> Option<Instant> {
        let config = mgr.config();
        let Ok(project) = config.project(&self.project) else {
            return None;
        };
        let notifiers = project.notifications.clone();
        let debounce = config.notify_debounce_ms as i64;
        let now = mgr.now_ms();
        let (store, name) = (mgr.store().clone(), self.project.clone());
        let claims = match unblock(move || store.claim_due(&name, now, debounce)).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("ao monitor {}: cannot claim transitions: {e}", self.project);
                return Some(Instant::now() + LIFE_CHECK);
            }
        };
        for claimed in claims.due {
            if !notifiers.iter().any(|n| n.fires_on(&claimed.event)) {
                continue;
            }
            let id = claimed.address.to_string();
            let status = match self.latest.get(&id) {
                Some(s) => s.to_status(),
                // Recorded by another `ao` before the model met the session (spawned elsewhere
                // a moment ago): it is looked at now rather than never told.
                None => match status_now(mgr, &claimed.address).await {
                    Some(s) => s.to_status(),
                    None => continue,
                },
            };
            let event = Event::new(&claimed.event, claimed.previous, claimed.at, status);
            let (notifiers, http, mgr) = (notifiers.clone(), self.http.clone(), mgr.clone());
            let project = self.project.clone();
            tokio::spawn(async move {
                for o in notify::fire(&notifiers, &event, false, &http).await {
                    let what = format!("{} {}: {}", event.session.id, event.event, o.notifier);
                    match o.result {
                        Ok(done) => eprintln!("ao monitor {project}: {what}: {done}"),
                        Err(why) => failed(&mgr, &project, &format!("{what}: {why}")).await,
                    }
                }
            });
        }
        claims.next_due.map(|due| {
            let wait = due.saturating_sub(mgr.now_ms()).max(0) as u64;
            Instant::now() + Duration::from_millis(wait)
        })
    }
}

/// What one session is doing now, if it is still there.
async fn status_now(mgr: &SessionManager, address: &SessionAddress) -> Option<Seen> {
    let target = crate::target::Target::Session(address.clone());
    let records = mgr.resolve(&target).await.ok()?;
    mgr.look(&records).await.ok()?.into_iter().next()
}

/// Says what failed in the log, and keeps it (with when) for `ao doctor`.
async fn failed(mgr: &SessionManager, project: &str, failure: &str) {
    eprintln!("ao monitor {project}: {failure}");
    let (store, p) = (mgr.store().clone(), project.to_string());
    let stamped = format!("{}: {failure}", crate::clock::rfc3339(mgr.now_ms()));
    let _ = unblock(move || store.set_monitor_failure(&p, &stamped)).await;
}

/// Whether the project has a session that is live (or being spawned).
async fn has_live(mgr: &SessionManager, project: &str) -> Result<bool> {
    // A state home that is gone (removed with everything in it) has nothing live: without this,
    // the open database would keep saying otherwise.
    let db = mgr.home().store_path();
    if !unblock(move || db.exists()).await {
        return Ok(false);
    }
    let (store, project) = (mgr.store().clone(), project.to_string());
    let records = unblock(move || store.list()).await?;
    Ok(records
        .iter()
        .any(|r| r.address.project == project && r.lifecycle != Lifecycle::Killed))
}

/// Sleeps until `at`; forever when there is no `at`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
