//! The monitor of a group of projects: a small detached `ao … monitor <project>` that tells the
//! person about their sessions even when no one has a dashboard open, and stops a session that
//! runs past its budget.
//!
//! Theory of operation. Any `ao` that finds a project with live sessions and no running monitor
//! starts one (through [`crate::manager::AoBinary`]). The monitor watches the project's group
//! ([`MonitorGroup`]): the projects whose agent follows them over one host (a server they share),
//! so that the host is followed over one connection; a project alone is a group of one. A second
//! monitor for the same group finds the group's lock (`monitors/<group>.lock` under the state home)
//! taken and ends at once. The one that holds it records its pid and start time in the store
//! under each project of the group, so that later `ao` calls find it and `ao kill` of the group's
//! last session stops it. It runs the live session model on its group, which records every
//! transition in the store (as any observer does); after each change and whenever an open
//! transition's debounce runs out, it claims each project's transitions that are due (marking them
//! notified in the same transaction) and fires them. A session the budget stopped has its turn
//! aborted. A config edit that changes the group (a project joins, or moves to another host) makes
//! the monitor start its model over on the new group, and start the monitors that the projects
//! that left need. It ends when no project of its group has a live session any more.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, SignalKind};
use tokio::time::Instant;

use crate::blocking::unblock;
use crate::clock::EpochMillis;
use crate::error::{Error, Result};
use crate::live::{LiveEvent, LiveModel, LiveOptions};
use crate::manager::{MonitorGroup, SessionManager};
use crate::notify::{self, Event};
use crate::runtime::process::ProcessIdentity;
use crate::seen::Seen;
use crate::session::{Lifecycle, SessionAddress, Why};
use crate::target::Target;

/// How often the monitor checks that its group still has a live session, and reads its group again.
const LIFE_CHECK: Duration = Duration::from_secs(2);

/// Runs the monitor of `project`'s group until no project of it has a live session, or
/// SIGTERM/SIGINT. Returns at once when another monitor of the group runs.
pub async fn run(mgr: SessionManager, project: String) -> Result<()> {
    let mut group = mgr.monitor_group(&project)?;
    let lock = take_lock(&mgr, &group.name).await?;
    let Some(_lock) = lock else {
        eprintln!(
            "ao monitor {project}: another monitor of {} runs; ending",
            shown(&group)
        );
        return Ok(());
    };
    let me = ProcessIdentity::of(std::process::id())
        .ok_or_else(|| Error::Internal("cannot read this process's start time".into()))?;
    let started = mgr.now_ms();
    record(&mgr, &group.projects, me, started).await?;
    eprintln!(
        "ao monitor {}: started (pid {}) for {}",
        group.name,
        me.pid,
        shown(&group)
    );

    let mut mgr = Arc::new(mgr);
    let mut left = BTreeSet::new();
    let result = loop {
        match watch(mgr.clone(), &group).await {
            Ok(Ending::Done(gone)) => {
                left = gone;
                break Ok(());
            }
            Ok(Ending::Regroup(next_mgr, next)) => {
                let left: BTreeSet<String> =
                    group.projects.difference(&next.projects).cloned().collect();
                forget(&next_mgr, &left, me).await;
                if let Err(e) = record(&next_mgr, &next.projects, me, started).await {
                    break Err(e);
                }
                eprintln!("ao monitor {}: now watches {}", next.name, shown(&next));
                // The projects that left are another monitor's now, started when they need one.
                next_mgr.ensure_monitors_of(&Target::Projects(left)).await;
                (mgr, group) = (next_mgr, next);
            }
            Err(e) => break Err(e),
        }
    };
    eprintln!("ao monitor {}: ending", group.name);
    forget(&mgr, &group.projects, me).await;
    // Projects the config moved out of the group, with sessions still live, get their own.
    mgr.ensure_monitors_of(&Target::Projects(left)).await;
    result
}

/// The group's lock, unless another monitor holds it.
async fn take_lock(
    mgr: &SessionManager,
    name: &str,
) -> Result<Option<nix::fcntl::Flock<std::fs::File>>> {
    let (home, name) = (mgr.home().clone(), name.to_string());
    unblock(move || {
        let path = home.monitors_dir()?.join(format!("{name}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("cannot open", &path, e))?;
        Ok(nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock).ok())
    })
    .await
}

/// Records this process as the monitor of each of `projects`.
async fn record(
    mgr: &SessionManager,
    projects: &BTreeSet<String>,
    me: ProcessIdentity,
    started: EpochMillis,
) -> Result<()> {
    let (store, projects) = (mgr.store().clone(), projects.clone());
    unblock(move || {
        projects
            .iter()
            .try_for_each(|p| store.set_monitor(p, me, started))
    })
    .await
}

/// Forgets this process as the monitor of each of `projects` (where it is still the one recorded).
async fn forget(mgr: &SessionManager, projects: &BTreeSet<String>, me: ProcessIdentity) {
    let (store, projects) = (mgr.store().clone(), projects.clone());
    let _ = unblock(move || projects.iter().try_for_each(|p| store.clear_monitor(p, me))).await;
}

/// The group's projects, for the log.
fn shown(group: &MonitorGroup) -> String {
    group
        .projects
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why [`watch`] returned.
enum Ending {
    /// Nothing live is left in the group, or a signal came; with the projects that the config
    /// moved out of the group meanwhile.
    Done(BTreeSet<String>),
    /// The config now puts other projects in the group: watch it again, with this manager.
    Regroup(Arc<SessionManager>, MonitorGroup),
}

/// What the monitor knows and has done.
struct Monitor {
    /// The group's name, for the log.
    name: String,
    projects: BTreeSet<String>,
    http: reqwest::Client,
    /// What was last seen of each session of the group, by id.
    latest: BTreeMap<String, Seen>,
    /// Budget stops already acted on: (session, when the stop began).
    aborted: BTreeSet<(String, EpochMillis)>,
}

async fn watch(mgr: Arc<SessionManager>, group: &MonitorGroup) -> Result<Ending> {
    let mut model = LiveModel::start(
        mgr,
        Target::Projects(group.projects.clone()),
        LiveOptions::default(),
    )
    .await?;
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| Error::io("cannot handle", "SIGTERM", e))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| Error::io("cannot handle", "SIGINT", e))?;
    let mut life = tokio::time::interval(LIFE_CHECK);
    let mut me = Monitor {
        name: group.name.clone(),
        projects: group.projects.clone(),
        http: notify::http_client().await,
        latest: BTreeMap::new(),
        aborted: BTreeSet::new(),
    };
    let mut next_due: Option<Instant> = None;
    loop {
        tokio::select! {
            event = model.next() => match event {
                Some(event) => me.take(event, &model.manager()).await,
                None => return Ok(Ending::Done(BTreeSet::new())),
            },
            _ = sleep_until(next_due) => {}
            _ = life.tick() => {
                let mgr = model.manager();
                // The group as the config says now (the model re-reads an edited one).
                let now = mgr
                    .monitor_groups()
                    .into_iter()
                    .find(|g| g.name == group.name)
                    .unwrap_or_else(|| MonitorGroup {
                        name: group.name.clone(),
                        projects: BTreeSet::new(),
                    });
                if !has_live(&mgr, &now.projects).await? {
                    let left = group.projects.difference(&now.projects).cloned().collect();
                    return Ok(Ending::Done(left));
                }
                if now.projects != group.projects {
                    return Ok(Ending::Regroup(mgr, now));
                }
            }
            _ = terminate.recv() => return Ok(Ending::Done(BTreeSet::new())),
            _ = interrupt.recv() => return Ok(Ending::Done(BTreeSet::new())),
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
                eprintln!("ao monitor {}: config: {change:?}", self.name);
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
                    self.name, rec.address
                ),
                Err(e) => {
                    let failure = format!("{}: the turn could not be aborted: {e}", rec.address);
                    failed(mgr, &self.name, &rec.address.project, &failure).await
                }
            }
        }
    }

    /// Claims each project's transitions that are due and fires them (in tasks of their own, so
    /// that a slow notifier holds nothing up); when the next open one will be due.
    async fn fire_due(&mut self, mgr: &Arc<SessionManager>) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        for project in self.projects.clone() {
            if let Some(due) = self.fire_due_of(mgr, &project).await {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        next
    }

    /// [`fire_due`](Self::fire_due) for one project of the group.
    async fn fire_due_of(&mut self, mgr: &Arc<SessionManager>, project: &str) -> Option<Instant> {
        let config = mgr.config();
        let Ok(config_project) = config.project(project) else {
            return None;
        };
        let notifiers = config_project.notifications.clone();
        let debounce = config.notify_debounce_ms as i64;
        let now = mgr.now_ms();
        let (store, name) = (mgr.store().clone(), project.to_string());
        let claims = match unblock(move || store.claim_due(&name, now, debounce)).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "ao monitor {}: cannot claim {project}'s transitions: {e}",
                    self.name
                );
                return Some(Instant::now() + LIFE_CHECK);
            }
        };
        for claimed in claims.due {
            if !notifiers.iter().any(|n| n.fires_on(&claimed.event)) {
                continue;
            }
            let id = claimed.address.to_string();
            let seen = self
                .latest
                .get(&id)
                .filter(|s| event_shown(s) == claimed.event);
            let status = match seen {
                Some(s) => s.to_status(),
                // Recorded by another `ao` before the model met the session (spawned elsewhere
                // a moment ago), or before the model saw the change (an `ao status` looked
                // first): it is looked at now rather than told as it was before.
                None => match status_now(mgr, &claimed.address).await {
                    Some(s) => s.to_status(),
                    None => continue,
                },
            };
            let event = Event::new(&claimed.event, claimed.previous, claimed.at, status);
            let (notifiers, http, mgr) = (notifiers.clone(), self.http.clone(), mgr.clone());
            let (name, project) = (self.name.clone(), project.to_string());
            tokio::spawn(async move {
                for o in notify::fire(&notifiers, &event, false, &http).await {
                    let what = format!("{} {}: {}", event.session.id, event.event, o.notifier);
                    match o.result {
                        Ok(done) => eprintln!("ao monitor {name}: {what}: {done}"),
                        Err(why) => failed(&mgr, &name, &project, &format!("{what}: {why}")).await,
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

/// The event a session's status shows: `budget` for a budget stop, else its activity (what a
/// transition of it is notified as).
fn event_shown(seen: &Seen) -> String {
    let budget = seen
        .error
        .as_ref()
        .is_some_and(|e| e.why == Why::BudgetExceeded);
    match budget {
        true => crate::store::BUDGET_KEY.to_string(),
        false => seen.activity.to_string(),
    }
}

/// What one session is doing now, if it is still there.
async fn status_now(mgr: &SessionManager, address: &SessionAddress) -> Option<Seen> {
    let target = crate::target::Target::Session(address.clone());
    let records = mgr.resolve(&target).await.ok()?;
    mgr.look(&records).await.ok()?.into_iter().next()
}

/// Says what failed in the log of the monitor `name`, and keeps it (with when) for `ao doctor`
/// under the project it concerns.
async fn failed(mgr: &SessionManager, name: &str, project: &str, failure: &str) {
    eprintln!("ao monitor {name}: {failure}");
    let (store, p) = (mgr.store().clone(), project.to_string());
    let stamped = format!("{}: {failure}", crate::clock::rfc3339(mgr.now_ms()));
    let _ = unblock(move || store.set_monitor_failure(&p, &stamped)).await;
}

/// Whether any of `projects` has a session that is live (or being spawned).
async fn has_live(mgr: &SessionManager, projects: &BTreeSet<String>) -> Result<bool> {
    // A state home that is gone (removed with everything in it) has nothing live: without this,
    // the open database would keep saying otherwise.
    let db = mgr.home().store_path();
    if !unblock(move || db.exists()).await {
        return Ok(false);
    }
    let store = mgr.store().clone();
    let records = unblock(move || store.list()).await?;
    Ok(records
        .iter()
        .any(|r| projects.contains(&r.address.project) && r.lifecycle != Lifecycle::Killed))
}

/// Sleeps until `at`; forever when there is no `at`.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
