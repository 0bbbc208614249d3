//! Targets: which sessions a [`Target`] stands for. Its words, and those of its errors, are in
//! [`crate::target`].

use super::session_manager::SessionManager;
use crate::error::Result;
use crate::session::SessionRecord;
use crate::target::Target;

impl SessionManager {
    /// The sessions a target names: all, one by its address, a project's, or the one session
    /// with a bare name across projects.
    pub async fn resolve(&self, target: &Target) -> Result<Vec<SessionRecord>> {
        let all = self.db(|store| store.list()).await?;
        let word = match target {
            Target::All => return Ok(all),
            Target::Session(address) => {
                let found: Vec<_> = all
                    .iter()
                    .filter(|r| &r.address == address)
                    .cloned()
                    .collect();
                if found.is_empty() {
                    return Err(target.names_nothing(&all));
                }
                return Ok(found);
            }
            Target::ProjectOrName(word) => word,
            Target::Projects(projects) => {
                return Ok(all
                    .into_iter()
                    .filter(|r| projects.contains(&r.address.project))
                    .collect())
            }
        };
        if self.config.projects.iter().any(|p| &p.name == word)
            || all.iter().any(|r| &r.address.project == word)
        {
            return Ok(all
                .into_iter()
                .filter(|r| &r.address.project == word)
                .collect());
        }
        let found: Vec<_> = all
            .iter()
            .filter(|r| &r.address.name == word)
            .cloned()
            .collect();
        match found.len() {
            0 => Err(target.names_nothing(&all)),
            1 => Ok(found),
            _ => Err(target.names_several(&found)),
        }
    }

    /// Exactly one session, for commands that act on one.
    pub async fn resolve_one(&self, target: &Target) -> Result<SessionRecord> {
        let mut found = self.resolve(target).await?;
        match found.len() {
            1 => Ok(found.remove(0)),
            n => Err(target.not_one(n)),
        }
    }
}
