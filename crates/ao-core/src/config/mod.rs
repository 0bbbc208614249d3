//! `agent-orchestrator.yaml`: found, parsed and validated.
//!
//! The file is found by `--config`, then `AO_CONFIG`, then by searching upward from the current
//! directory. Projects are a list of objects with `name` or a map keyed by name. The whole file is
//! checked before anything runs, and every problem is reported at once, each with file:line:column
//! and what to do: unknown keys (with the key probably meant), wrong types, values that are not one
//! of the allowed ones, duplicate projects or keys, paths that do not exist, models not in
//! `provider/model` form.
//!
//! `~` and `${VAR}` are expanded in paths (an unset variable is an error); a relative path is
//! relative to the config file's directory.
//!
//! The keys every agent understands are read here; an agent's own keys in `agentConfig` are
//! checked by its plugin, which the reader reaches through the narrow [`AgentKeys`] (the
//! registry's names, and each agent's keys and checks; not the whole `Agent`). The plugin sees the
//! value as a [`ConfigValue`] and reports problems at their place in the file too.
//!
//! This file is the module map and the public paths; the files import one another, never it:
//! - `model`: [`Config`] and its parts as ao holds them, and [`ConfigError`];
//! - `load`: finding the file, and reading and validating it;
//! - [`names`](self): names, models, `~` and `${VAR}`;
//! - `reader`: the walk over the YAML tree, `fields` the typed reads it shares, and `location`
//!   a project's server or host;
//! - `container`: a project's `container:` (its server in podman or docker);
//! - `value`: the view of a value an agent plugin checks;
//! - `notify`: what `notifyDebounceMs`, `notifications` and `budget` say, which `notify_reader`
//!   reads;
//! - `yaml`: the YAML tree with positions.

mod container;
mod fields;
mod load;
mod location;
mod model;
mod names;
mod notify;
mod notify_reader;
mod reader;
mod value;
mod yaml;

pub use ao_agent::config::AgentKeys;
pub use model::{
    AgentConfig, Config, ConfigError, Context, GatedKey, NoSuchProject, Problem, ProjectConfig,
    TuiMode, CONFIG_FILE_NAME, DEFAULT_READY_THRESHOLD_MS,
};
pub use names::{expand_path_in, validate_name};
pub use notify::{
    Budget, Notifier, NotifierAction, DEFAULT_NOTIFIER_TIMEOUT_MS, DEFAULT_NOTIFY_DEBOUNCE_MS,
    NOTIFY_EVENTS,
};
pub use value::{ConfigValue, SettingProblem};

#[cfg(test)]
mod container_tests;
#[cfg(test)]
mod input_tests;
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
