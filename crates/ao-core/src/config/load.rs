//! Finding the config file (`--config`, `AO_CONFIG`, upward from the current directory), and
//! reading and validating it.

use std::path::{Path, PathBuf};

use super::model::{Config, ConfigError, Context, CONFIG_FILE_NAME};
use super::reader::Reader;
use super::yaml;

impl Config {
    /// Finds the config file: `explicit` (from `--config`), then `AO_CONFIG`, then upward from `cwd`.
    pub fn locate(explicit: Option<&Path>, cwd: &Path) -> Result<PathBuf, ConfigError> {
        if let Some(path) = explicit {
            return Ok(path.to_path_buf());
        }
        if let Some(env) = std::env::var_os("AO_CONFIG").filter(|v| !v.is_empty()) {
            return Ok(PathBuf::from(env));
        }
        let mut dir = Some(cwd);
        while let Some(d) = dir {
            let candidate = d.join(CONFIG_FILE_NAME);
            if candidate.is_file() {
                return Ok(candidate);
            }
            dir = d.parent();
        }
        Err(ConfigError::single(
            None,
            None,
            format!(
                "no {CONFIG_FILE_NAME} found in {} or any parent directory; \
                 create one (see examples/) or pass --config PATH",
                cwd.display()
            ),
        ))
    }

    /// Reads and validates a config file against the process environment.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        Config::load_in(file, Context::process())
    }

    /// Reads and validates a config file against `cx`.
    pub fn load_in(file: &Path, cx: Context<'_>) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| {
            let fix = if e.kind() == std::io::ErrorKind::NotFound {
                "; check the path given by --config or AO_CONFIG"
            } else {
                ""
            };
            ConfigError::single(
                Some(file),
                None,
                format!("cannot read the config file: {e}{fix}"),
            )
        })?;
        Config::parse_in(&text, file, cx)
    }

    /// Parses and validates config text against the process environment; `file` names it in
    /// errors and anchors relative paths.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        Config::parse_in(text, file, Context::process())
    }

    /// Parses and validates config text against `cx`.
    pub fn parse_in(text: &str, file: &Path, cx: Context<'_>) -> Result<Config, ConfigError> {
        let root = yaml::parse(text).map_err(|e| {
            // YAML forbids tabs in indentation, and the parser's words for it name a place
            // that is not where the tab is.
            let tab = text.lines().enumerate().find_map(|(i, line)| {
                let indent = &line[..line.len() - line.trim_start().len()];
                indent
                    .chars()
                    .position(|c| c == '\t')
                    .map(|col| (i + 1, col + 1))
            });
            match tab {
                Some(pos) => ConfigError::single(
                    Some(file),
                    Some(pos),
                    "a tab indents this line; YAML indents with spaces only".into(),
                ),
                None => ConfigError::single(Some(file), Some(e.pos), e.message),
            }
        })?;
        // A bare file name has the empty path as its parent: that is the current directory.
        let base_dir = file
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let mut reader = Reader {
            cx,
            base_dir,
            problems: Vec::new(),
            trust: crate::trust::trust_of(file, cx.var),
            file: file.to_path_buf(),
            gated: Vec::new(),
        };
        let mut config = reader.config(root.as_ref(), file);
        config.gated = std::mem::take(&mut reader.gated);
        if reader.problems.is_empty() {
            Ok(config)
        } else {
            // Stable: problems found at one place keep the order they were found in.
            reader.problems.sort_by_key(|p| p.location);
            Err(ConfigError {
                file: Some(file.to_path_buf()),
                problems: reader.problems,
            })
        }
    }
}
