//! A project's container's name and labels, which a later `ao` computes again to find it.

use crate::home::StateHome;

/// The label that names the state home owning a container or volume.
pub const LABEL_HOME: &str = "ao.home";
/// The label that names the project a container or volume is for.
pub const LABEL_PROJECT: &str = "ao.project";

/// `ao-<project>-<hash>`: the hash is of the state home and the project, so two state homes
/// (two people, a test's) never share a container, and a later `ao` of the same home finds it
/// by name alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerName {
    name: String,
    home: String,
    project: String,
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
        }
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

    /// Its labels: the owning state home and the project.
    pub fn labels(&self) -> [(&'static str, String); 2] {
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
    }
}
