//! The [`SessionManager`] itself, and what its commands (the other files of `manager/`) share: its
//! agents bound to a project ([`Bound`]), the store and the runtimes reached off the async thread
//! through [`unblock`], a session's recorded work tree.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::BoxStream;
use futures_util::StreamExt;

use super::ao_binary::AoBinary;
use crate::agent::{Agent, Change, ProjectContext};
use crate::blocking::unblock;
use crate::clock::Clock;
use crate::config::{Config, Context, ProjectConfig};
use crate::error::{Error, Result};
use crate::home::StateHome;
use crate::runtime::{ProcessRuntime, Runtime, RuntimeHandle, TmuxRuntime};
use crate::session::{RuntimeKind, SessionRecord};
use crate::store::{PluginState, Store};
use crate::workspace::Worktree;

/// Runs sessions.
pub struct SessionManager {
    pub(super) config: Config,
    pub(super) home: StateHome,
    pub(super) store: Store,
    pub(super) agents: Vec<Arc<dyn Agent>>,
    pub(super) tmux: TmuxRuntime,
    pub(super) process: ProcessRuntime,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) status_budget: Duration,
    pub(super) status_deadline: Option<std::time::Instant>,
    pub(super) ao_binary: Option<AoBinary>,
}

/// How long `ao status` waits for a project's agent before it shows what it last knew, marked
/// stale: two seconds, so a busy server never holds a status for long and is not called dead.
pub const DEFAULT_STATUS_BUDGET: Duration = Duration::from_secs(2);

/// The work tree a session's record names, for a session that has one.
pub(super) fn recorded_worktree(rec: &SessionRecord) -> Option<Worktree> {
    rec.branch.as_ref().map(|branch| Worktree {
        path: rec.workspace.clone(),
        branch: branch.clone(),
    })
}

/// An agent with what each of its calls gets: the plugin's state and the project.
pub(super) struct Bound<'m> {
    pub(super) agent: Arc<dyn Agent>,
    pub(super) state: PluginState,
    pub(super) project: &'m ProjectConfig,
    /// What the agent may know of `project`.
    pub(super) seen: ao_agent::project::Project,
    pub(super) home: &'m StateHome,
}

impl Bound<'_> {
    pub(super) fn cx(&self) -> ProjectContext<'_> {
        ProjectContext {
            project: &self.seen,
            home: self.home,
            state: &self.state,
        }
    }

    /// The group the project is observed and followed in, among its agent's projects: the
    /// agent's [`host_key`](Agent::host_key) (a host the projects share), else the project alone.
    pub(super) fn host_group(&self) -> String {
        self.agent.host_key(&self.seen).map_or_else(
            || format!("project {}", self.project.name),
            |k| format!("host {k}"),
        )
    }
}

impl SessionManager {
    /// A manager over the given config, state home and agent plugins (the registry, the default
    /// agent first). Opens the store.
    pub async fn new(
        config: Config,
        home: StateHome,
        agents: Vec<Arc<dyn Agent>>,
        tmux: TmuxRuntime,
        clock: Arc<dyn Clock>,
    ) -> Result<SessionManager> {
        let path = home.store_path();
        let store = unblock(move || Store::open(&path)).await?;
        Ok(SessionManager {
            config,
            home,
            store,
            agents,
            tmux,
            process: ProcessRuntime::new(),
            clock,
            status_budget: DEFAULT_STATUS_BUDGET,
            status_deadline: None,
            ao_binary: None,
        })
    }

    /// Sets how long a status waits for each project's agent ([`DEFAULT_STATUS_BUDGET`] unless
    /// set).
    pub fn set_status_budget(&mut self, budget: Duration) {
        self.status_budget = budget;
    }

    /// Ends every status's observation by `at` at the latest, whatever the budget: a one-shot
    /// `ao status` counts its budget from the start of the process, as the person waiting does,
    /// and keeps what comes after the observation (the record of what was seen, the output)
    /// inside it.
    pub fn set_status_deadline(&mut self, at: std::time::Instant) {
        self.status_deadline = Some(at);
    }

    /// Gives the manager the `ao` binary to start monitors and pane views with (the CLI does).
    pub fn with_ao_binary(mut self, ao: AoBinary) -> SessionManager {
        self.ao_binary = Some(ao);
        self
    }

    /// The config in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The session store. Its calls block: from async code, go through [`unblock`].
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The state home.
    pub fn home(&self) -> &StateHome {
        &self.home
    }

    /// A manager like this one (the same store, runtimes and agents) over its config file as it
    /// reads now: how a live view picks up an edited config.
    pub async fn reload_config(&self) -> Result<SessionManager> {
        let file = self.config.file.clone();
        let agents = self.agents.clone();
        let config = unblock(move || {
            Config::load_in(
                &file,
                Context {
                    agents: &agents,
                    ..Context::process()
                },
            )
            .map_err(Error::from)
        })
        .await?;
        Ok(SessionManager {
            config,
            home: self.home.clone(),
            store: self.store.clone(),
            agents: self.agents.clone(),
            tmux: self.tmux.clone(),
            process: ProcessRuntime::new(),
            clock: self.clock.clone(),
            status_budget: self.status_budget,
            status_deadline: self.status_deadline,
            ao_binary: self.ao_binary.clone(),
        })
    }

    /// The time now, by the manager's clock.
    pub fn now_ms(&self) -> crate::clock::EpochMillis {
        self.clock.now_ms()
    }

    /// The group in which `agent` observes and follows `project` ([`Bound::host_group`]).
    pub(crate) fn host_group(&self, project: &str, agent: &str) -> Result<String> {
        let project = self.config.project(project)?;
        Ok(self.bind(agent, project)?.host_group())
    }

    /// One change feed for the sessions that `agent` runs in `projects` (a group that shares a
    /// host: see [`Agent::host_changes`]), each change with its project's name.
    pub(crate) async fn host_feed(
        &self,
        agent: &str,
        projects: &[String],
    ) -> Result<BoxStream<'static, (String, Change)>> {
        let bound = projects
            .iter()
            .map(|p| self.bind(agent, self.config.project(p)?))
            .collect::<Result<Vec<_>>>()?;
        let Some(first) = bound.first() else {
            return Ok(futures_util::stream::empty().boxed());
        };
        let cxs: Vec<ProjectContext<'_>> = bound.iter().map(|b| b.cx()).collect();
        let feed = first.agent.host_changes(&cxs).await?;
        let names = projects.to_vec();
        Ok(feed
            .filter_map(move |(i, change)| {
                futures_util::future::ready(names.get(i).map(|p| (p.clone(), change)))
            })
            .boxed())
    }

    /// Runs `work` on the store, off the async runtime's thread.
    pub(super) async fn db<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce(&Store) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let store = self.store.clone();
        unblock(move || work(&store)).await
    }

    /// Runs `work` on a runtime, off the async runtime's thread (tmux calls and stops wait).
    pub(super) async fn on_runtime<T, F>(&self, kind: RuntimeKind, work: F) -> T
    where
        F: FnOnce(&dyn Runtime) -> T + Send + 'static,
        T: Send + 'static,
    {
        match kind {
            RuntimeKind::Tmux => {
                let rt = self.tmux.clone();
                unblock(move || work(&rt)).await
            }
            RuntimeKind::Process => {
                let rt = self.process.clone();
                unblock(move || work(&rt)).await
            }
        }
    }

    pub(super) fn agent_named(&self, name: &str) -> Result<&Arc<dyn Agent>> {
        self.agents
            .iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                let known: Vec<_> = self.agents.iter().map(|a| a.name()).collect();
                Error::Usage(format!(
                    "unknown agent {name:?}; this ao knows: {}",
                    known.join(", ")
                ))
            })
    }

    /// The agent a project names, or the default one.
    pub(super) fn agent_of(&self, project: &ProjectConfig) -> Result<&Arc<dyn Agent>> {
        match &project.agent {
            Some(name) => self.agent_named(name),
            None => self
                .agents
                .first()
                .ok_or_else(|| Error::Internal("this ao has no agent plugin".into())),
        }
    }

    /// The named agent bound to a project, for its calls.
    pub(super) fn bind<'m>(&'m self, agent: &str, project: &'m ProjectConfig) -> Result<Bound<'m>> {
        let agent = self.agent_named(agent)?.clone();
        Ok(Bound {
            state: self.store.plugin_state(agent.name()),
            agent,
            seen: project.for_agent(),
            project,
            home: &self.home,
        })
    }

    /// The agent of a recorded session, bound to its project.
    pub(super) fn bind_session(&self, rec: &SessionRecord) -> Result<Bound<'_>> {
        let project = self.config.project(&rec.address.project)?;
        self.bind(&rec.agent, project)
    }

    /// Writes a record back to the store.
    pub(super) async fn save(&self, rec: &SessionRecord) -> Result<()> {
        let rec = rec.clone();
        self.db(move |store| store.update(&rec)).await
    }

    /// Stops a session's program; no error when it is already gone.
    pub(super) async fn destroy_runtime(
        &self,
        kind: RuntimeKind,
        handle: RuntimeHandle,
    ) -> Result<()> {
        Ok(self.on_runtime(kind, move |rt| rt.destroy(&handle)).await?)
    }
}
