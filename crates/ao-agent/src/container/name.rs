//! A project's container's name and labels, which a later `ao` computes again to find it.

use crate::home::StateHome;

/// The label that names the state home owning a container or volume.
pub const LABEL_HOME: &str = "ao.home";
/// The label that names the project a container or volume is for.
pub const LABEL_PROJECT: &str = "ao.project";
/// The label that names the launch a container was made for (an ACP session's: each launch of
/// the session makes a container of the same name), so that removing a dead launch's container
/// never removes a newer launch's.
pub const LABEL_LAUNCH: &str = "ao.launch";

/// `ao-<project>-<hash>`: the hash is of the state home and the project, so two state homes
/// (two people, a test's) never share a container, and a later `ao` of the same home finds it
/// by name alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerName {
    name: String,
    home: String,
    project: String,
    launch: Option<String>,
}

impl ContainerName {
    /// The name of `project`'s container under `home`. A project name is already a safe
    /// container name (letters, digits, `-`, `_`; ao-core's config checks it).
    pub fn for_project(home: &StateHome, project: &str) -> ContainerName {
        let home = home.root().to_string_lossy().into_owned();
        let hash = crate::remote::ssh::fnv(&format!("{home}\0{project}"));
        // 12 hex digits: 48 bits, plenty for the homes of one machine, and a name people read.
        let short = hash.get(..12).unwrap_or(&hash);
        ContainerName {
            name: format!("ao-{project}-{short}"),
            home,
            project: project.to_string(),
            launch: None,
        }
    }

    /// The name of the container of one session of `project` under `home` (an agent that runs
    /// a container per session, not per project): `ao-<project>-<session>-<hash>`, the hash of
    /// the state home, the project and the session. Session names are safe in a container's name
    /// too (ao-core checks them).
    pub fn for_session(home: &StateHome, project: &str, session: &str) -> ContainerName {
        let home = home.root().to_string_lossy().into_owned();
        let hash = crate::remote::ssh::fnv(&format!("{home}\0{project}\0{session}"));
        let short = hash.get(..12).unwrap_or(&hash);
        ContainerName {
            name: format!("ao-{project}-{session}-{short}"),
            home,
            project: project.to_string(),
            launch: None,
        }
    }

    /// The same name for the container of one launch `id` (labelled [`LABEL_LAUNCH`]): what a
    /// launch is started with, so that [`Engine::remove_launch`](super::Engine::remove_launch)
    /// can tell its container from a later launch's of the same name.
    pub fn with_launch(mut self, id: &str) -> ContainerName {
        self.launch = Some(id.to_string());
        self
    }

    /// The container's name.
    pub fn as_str(&self) -> &str {
        &self.name
    }

    /// The name of its data volume: `<name>-data`.
    pub fn volume(&self) -> String {
        format!("{}-data", self.name)
    }

    /// The project it is for.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The state home that owns it, as its label says.
    pub fn home(&self) -> &str {
        &self.home
    }

    /// The launch it is for, when it names one.
    pub fn launch(&self) -> Option<&str> {
        self.launch.as_deref()
    }

    /// The container's labels: the owning state home, the project, and the launch when it
    /// names one.
    pub fn labels(&self) -> Vec<(&'static str, String)> {
        let mut labels = self.owner_labels().to_vec();
        if let Some(launch) = &self.launch {
            labels.push((LABEL_LAUNCH, launch.clone()));
        }
        labels
    }

    /// The labels of ownership only (the data volume's, which outlives every launch): the
    /// owning state home and the project.
    pub fn owner_labels(&self) -> [(&'static str, String); 2] {
        [
            (LABEL_HOME, self.home.clone()),
            (LABEL_PROJECT, self.project.clone()),
        ]
    }
}

impl std::fmt::Display for ContainerName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_depends_on_the_home_and_the_project_and_on_nothing_else() {
        let a = ContainerName::for_project(&StateHome::at("/h1"), "web");
        assert_eq!(a, ContainerName::for_project(&StateHome::at("/h1"), "web"));
        assert_ne!(a, ContainerName::for_project(&StateHome::at("/h2"), "web"));
        assert_ne!(
            a.as_str(),
            ContainerName::for_project(&StateHome::at("/h1"), "api").as_str()
        );
        assert!(a.as_str().starts_with("ao-web-"));
        assert_eq!(a.as_str().len(), "ao-web-".len() + 12);
        assert_eq!(a.volume(), format!("{a}-data"));
        let s = ContainerName::for_session(&StateHome::at("/h1"), "web", "agent-1");
        assert!(s.as_str().starts_with("ao-web-agent-1-"), "{s}");
        assert_ne!(
            s,
            ContainerName::for_session(&StateHome::at("/h1"), "web", "agent-2")
        );
        assert_eq!(s.project(), "web");
        assert_eq!(
            a.labels(),
            [
                ("ao.home", "/h1".to_string()),
                ("ao.project", "web".to_string())
            ]
        );
        let launched = s.clone().with_launch("L1");
        assert_eq!(launched.as_str(), s.as_str());
        assert_eq!(launched.launch(), Some("L1"));
        assert_eq!(
            launched.labels().last(),
            Some(&("ao.launch", "L1".to_string()))
        );
        assert_eq!(launched.owner_labels(), s.owner_labels());
    }
}
