//! Targets: which sessions `project`, `project/name` or a bare `name` stand for.

use super::SessionManager;
use crate::error::{Error, Result};
use crate::session::SessionRecord;

impl SessionManager {
    /// The sessions a target names: `project`, `project/name`, or a `name` unique across projects;
    /// `None` for all.
    pub async fn resolve(&self, target: Option<&str>) -> Result<Vec<SessionRecord>> {
        let all = self.db(|store| store.list()).await?;
        let Some(target) = target else {
            return Ok(all);
        };
        if let Some((project, name)) = target.split_once('/') {
            let found: Vec<_> = all
                .iter()
                .filter(|r| r.address.project == project && r.address.name == name)
                .cloned()
                .collect();
            if found.is_empty() {
                return Err(Error::NotFound(format!(
                    "no session {target}; {}",
                    known_sessions(&all)
                )));
            }
            return Ok(found);
        }
        if self.config.projects.iter().any(|p| p.name == target)
            || all.iter().any(|r| r.address.project == target)
        {
            return Ok(all
                .into_iter()
                .filter(|r| r.address.project == target)
                .collect());
        }
        let found: Vec<_> = all
            .iter()
            .filter(|r| r.address.name == target)
            .cloned()
            .collect();
        match found.len() {
            0 => Err(Error::NotFound(format!(
                "no project or session named {target:?}; {}",
                known_sessions(&all)
            ))),
            1 => Ok(found),
            _ => Err(Error::Usage(format!(
                "{target:?} names several sessions ({}); say which with project/name",
                found
                    .iter()
                    .map(|r| r.address.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Exactly one session, for commands that act on one.
    pub async fn resolve_one(&self, target: &str) -> Result<SessionRecord> {
        let mut found = self.resolve(Some(target)).await?;
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(Error::NotFound(format!("project {target} has no sessions"))),
            _ => Err(Error::Usage(format!(
                "{target} has {} sessions; name one as {target}/<name>",
                found.len()
            ))),
        }
    }
}

/// How many sessions an unknown target's error lists.
const LISTED: usize = 10;

/// The sessions there are, for an error about a target that names none of them.
fn known_sessions(all: &[SessionRecord]) -> String {
    if all.is_empty() {
        return "there are no sessions; `ao spawn` starts one".into();
    }
    let names: Vec<String> = all
        .iter()
        .take(LISTED)
        .map(|r| r.address.to_string())
        .collect();
    let more = if all.len() > LISTED {
        format!(" and {} more", all.len() - LISTED)
    } else {
        String::new()
    };
    format!(
        "the sessions are {}{more} (`ao list` shows them all)",
        names.join(", ")
    )
}
