//! The projects' monitors, seen from the manager: started (detached) when a project has live
//! sessions and its monitor is not running, found again by the pid and start time it recorded,
//! stopped when the project's last session is killed. What a monitor does is [`crate::monitor`].
//!
//! ao-core does not know the binary that runs a monitor: the CLI hands the manager an
//! [`AoBinary`](super::AoBinary). Without one (ao-core's own tests) nothing is launched.

use std::collections::BTreeSet;
use std::time::Duration;

use super::session_manager::SessionManager;
use crate::error::Result;
use crate::runtime::process::spawn_detached;
use crate::session::{Lifecycle, SessionRecord};

/// How long a monitor may take to end after SIGTERM before it is killed.
const MONITOR_STOP_GRACE: Duration = Duration::from_secs(3);

/// ao's subcommand that runs a project's monitor: `ao --config FILE monitor <project>`.
pub const MONITOR_SUBCOMMAND: &str = "monitor";

impl SessionManager {
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

    async fn start_monitors(&self, projects: BTreeSet<String>) -> Result<()> {
        let Some(ao) = self.ao_binary.clone() else {
            return Ok(());
        };
        if projects.is_empty() {
            return Ok(());
        }
        let home = self.home.clone();
        self.db(move |store| {
            let start = |project: &str| -> Result<()> {
                if let Some(m) = store.monitor(project)? {
                    if m.process.is_alive() {
                        return Ok(());
                    }
                }
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
            // One project's failure does not keep the others' monitors from starting.
            let results: Vec<Result<()>> = projects.iter().map(|p| start(p)).collect();
            results.into_iter().collect()
        })
        .await
    }

    /// Stops the project's monitor, if one runs, and settles what it had not notified yet: once
    /// the project's last session is killed, nothing of it is to be notified later.
    pub(super) async fn stop_monitor(&self, project: &str) -> Result<()> {
        let project = project.to_string();
        self.db(move |store| {
            if let Some(m) = store.monitor(&project)? {
                m.process.stop(MONITOR_STOP_GRACE);
                store.clear_monitor(&project, m.process)?;
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
