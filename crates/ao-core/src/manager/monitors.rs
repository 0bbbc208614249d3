//! The projects' monitors, seen from the manager: started (detached) when a project has live
//! sessions and its monitor is not running, found again by the pid and start time it recorded,
//! stopped when the project's last session is killed. What a monitor does is [`crate::monitor`].
//!
//! A monitor watches a **group** of projects ([`MonitorGroup`]): the projects whose agent follows
//! them over one host (a server they share, as [`Agent::host_key`](crate::agent::Agent::host_key)
//! says) have one monitor, and so one connection to that host; any other project has its own.
//! The monitor records itself under each project of its group, so each project finds it.
//!
//! ao-core does not know the binary that runs a monitor: the CLI hands the manager an
//! [`AoBinary`](super::AoBinary). Without one (ao-core's own tests) nothing is launched.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::session_manager::SessionManager;
use crate::error::Result;
use crate::runtime::process::spawn_detached;
use crate::session::{Lifecycle, SessionRecord};

/// How long a monitor may take to end after SIGTERM before it is killed.
const MONITOR_STOP_GRACE: Duration = Duration::from_secs(3);

/// The projects one monitor watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorGroup {
    /// The stem of its lock file under the state home's `monitors/`: the project's name for a
    /// project alone, `host.<hash>` for a shared host.
    pub name: String,
    /// The projects of the config in it (at least the one it was asked for).
    pub projects: BTreeSet<String>,
}

/// ao's subcommand that runs a project's monitor: `ao --config FILE monitor <project>`.
pub const MONITOR_SUBCOMMAND: &str = "monitor";

impl SessionManager {
    /// The group whose monitor watches `project`: with it, every project of the config whose
    /// agent names the same host for it (the agent of each project's own `agent:`).
    pub fn monitor_group(&self, project: &str) -> Result<MonitorGroup> {
        self.config.project(project)?;
        Ok(self
            .monitor_groups()
            .into_iter()
            .find(|g| g.projects.contains(project))
            .unwrap_or_else(|| MonitorGroup {
                name: project.to_string(),
                projects: BTreeSet::from([project.to_string()]),
            }))
    }

    /// The config's projects in their monitors' groups.
    pub fn monitor_groups(&self) -> Vec<MonitorGroup> {
        let mut groups: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for p in &self.config.projects {
            let host = self.agent_of(p).ok().and_then(|agent| {
                let bound = self.bind(agent.name(), p).ok()?;
                let key = agent.host_key(&bound.seen)?;
                Some(ao_agent::remote::ssh::fnv(&format!(
                    "{}\0{key}",
                    agent.name()
                )))
            });
            // A dot is in no project's name: a host's group never takes a project's lock.
            let name = host.map_or_else(|| p.name.clone(), |hash| format!("host.{hash}"));
            groups.entry(name).or_default().insert(p.name.clone());
        }
        groups
            .into_iter()
            .map(|(name, projects)| MonitorGroup { name, projects })
            .collect()
    }

    /// Starts the monitor of each project of `records` that has a live session and no running
    /// monitor: one trip to the blocking pool for all of them, one store read and one pid check
    /// per project.
    pub(super) async fn ensure_monitors(&self, records: &[SessionRecord]) {
        let projects: BTreeSet<String> = records
            .iter()
            .filter(|r| r.lifecycle == Lifecycle::Live)
            .map(|r| r.address.project.clone())
            .collect();
        // A monitor that cannot start is no reason to fail what the person asked; its absence
        // shows in `ao doctor`, and the next `ao` tries again.
        let _ = self.start_monitors(projects).await;
    }

    /// Starts the monitors that the projects of the sessions `target` names need and lack, as
    /// `ao status` does: what a live view (`ao watch`, the dashboard, a pane's view) does once
    /// when it starts, since it looks without recording through `status`. Never fails: a target
    /// that names nothing, or a monitor that cannot start, starts nothing.
    pub async fn ensure_monitors_of(&self, target: &crate::target::Target) {
        if let Ok(records) = self.resolve(target).await {
            self.ensure_monitors(&records).await;
        }
    }

    /// Starts the project's monitor unless it runs. A second one started meanwhile by another
    /// `ao` finds the project's lock taken and ends at once.
    pub(super) async fn ensure_monitor(&self, project: &str) -> Result<()> {
        self.start_monitors(BTreeSet::from([project.to_string()]))
            .await
    }

    /// Starts one monitor for each group of `projects` in which one of them lacks a running
    /// monitor: a group's monitor watches them all, so one start serves the group (a second
    /// would only find the group's lock taken).
    async fn start_monitors(&self, projects: BTreeSet<String>) -> Result<()> {
        let Some(ao) = self.ao_binary.clone() else {
            return Ok(());
        };
        if projects.is_empty() {
            return Ok(());
        }
        let groups: Vec<Vec<String>> = self
            .monitor_groups()
            .into_iter()
            .map(|g| g.projects.intersection(&projects).cloned().collect())
            .filter(|of_group: &Vec<String>| !of_group.is_empty())
            .collect();
        let home = self.home.clone();
        self.db(move |store| {
            let lacking = |project: &str| -> Result<bool> {
                Ok(store
                    .monitor(project)?
                    .is_none_or(|m| !m.process.is_alive()))
            };
            let start = |project: &str| -> Result<()> {
                let dir = home.monitors_dir()?;
                let spec = ao.launch(
                    MONITOR_SUBCOMMAND,
                    &[project],
                    home.root().to_path_buf(),
                    vec![],
                );
                spawn_detached(&spec, &dir.join(format!("{project}.log")))?;
                Ok(())
            };
            // One group's failure does not keep the others' monitors from starting.
            let results: Vec<Result<()>> = groups
                .iter()
                .map(|of_group| {
                    for project in of_group {
                        if lacking(project)? {
                            return start(project);
                        }
                    }
                    Ok(())
                })
                .collect();
            results.into_iter().collect()
        })
        .await
    }

    /// Stops the project's monitor, if one runs and no other project of its group still has a
    /// session, and settles what it had not notified yet of the project: once the project's
    /// last session is killed, nothing of it is to be notified later.
    pub(super) async fn stop_monitor(&self, project: &str) -> Result<()> {
        let project = project.to_string();
        self.db(move |store| {
            if let Some(m) = store.monitor(&project)? {
                let records = store.list()?;
                let needed_by_another = store.monitors()?.iter().any(|other| {
                    other.project != project
                        && other.process == m.process
                        && records.iter().any(|r| {
                            r.address.project == other.project && r.lifecycle != Lifecycle::Killed
                        })
                });
                if !needed_by_another {
                    m.process.stop(MONITOR_STOP_GRACE);
                    store.clear_monitor(&project, m.process)?;
                }
            }
            store.settle_open(&project)
        })
        .await
    }

    /// Aborts a session's running turn through its agent (a budget stop); the conversation stays.
    pub async fn abort_turn(&self, rec: &SessionRecord) -> Result<()> {
        let bound = self.bind_session(rec)?;
        let session = crate::agent::SessionContext {
            record: rec,
            home: &self.home,
        };
        Ok(bound.agent.kill(&bound.cx(), session, false).await?)
    }
}
