//! Which events of a shared server's stream are a project's: OpenCode's `/global/event` names,
//! on each event, the directory whose instance sent it (measured on 1.18.33: a session's events
//! carry its work tree, `"global"` for project-wide ones, none for the server's own), and a
//! project's sessions work in its directory or in ao's work trees of it; or, on a server at a
//! URL, in the work trees that server made (under its own data directory).

use std::path::{Path, PathBuf};

use ao_agent::agent::ProjectContext;

/// The directories whose events belong to one project.
#[derive(Debug, Clone)]
pub struct ProjectDirs {
    /// The project's directory and the root of its work trees, each as configured and as the
    /// file system resolves it (OpenCode may name either).
    roots: Vec<PathBuf>,
}

impl ProjectDirs {
    /// The directories of the project in `cx`.
    pub fn of(cx: &ProjectContext<'_>) -> ProjectDirs {
        let mut roots = Vec::new();
        for root in [
            cx.project.path.clone(),
            cx.home.worktrees_dir(&cx.project.name),
        ] {
            if let Ok(real) = std::fs::canonicalize(&root) {
                if real != root {
                    roots.push(real);
                }
            }
            roots.push(root);
        }
        ProjectDirs { roots }
    }

    /// These directories and the work trees of `sessions` (those a server at a URL made live
    /// outside the project's directory).
    pub fn with_workspaces<'a>(mut self, sessions: impl IntoIterator<Item = &'a Path>) -> Self {
        for workspace in sessions {
            if !self.roots.iter().any(|root| workspace.starts_with(root)) {
                self.roots.push(workspace.to_path_buf());
            }
        }
        self
    }

    /// Whether an event from the instance of `directory` (`None` or `"global"`: the server's or
    /// every project's) may concern the project.
    pub fn owns(&self, directory: Option<&str>) -> bool {
        match directory {
            None | Some("global") => true,
            Some(dir) => {
                let dir = Path::new(dir);
                self.roots.iter().any(|root| dir.starts_with(root))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_owns_its_directory_its_work_trees_and_the_servers_events() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut project, home, state, _) = crate::test_world::world(&tmp);
        project.path = tmp.path().join("repo");
        let cx = ProjectContext {
            project: &project,
            home: &home,
            state: &state,
        };
        let dirs = ProjectDirs::of(&cx);
        let tree = home.worktrees_dir("p").join("agent-1");
        assert!(dirs.owns(Some(tree.to_str().unwrap())));
        assert!(dirs.owns(Some(tmp.path().join("repo/sub").to_str().unwrap())));
        assert!(dirs.owns(None) && dirs.owns(Some("global")));
        let other = home.worktrees_dir("pq").join("agent-1");
        assert!(!dirs.owns(Some(other.to_str().unwrap())), "another project");
        assert!(!dirs.owns(Some("/elsewhere")));
    }
}
