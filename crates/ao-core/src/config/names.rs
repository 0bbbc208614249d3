//! The rules for the words of a config: names, models, paths, and the key probably meant.

use std::path::PathBuf;

/// Checks that a project or session name is safe as a tmux session name, a git branch component
/// and a file name: ASCII letters, digits, `-` and `_`, starting with a letter or digit.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err("must be 1 to 64 characters".into());
    }
    let first_ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(
            "use only letters, digits, '-' and '_', starting with a letter or digit \
             (it names tmux sessions, git branches and directories)"
                .into(),
        );
    }
    Ok(())
}

/// Expands a leading `~` (`$HOME`) and every `${VAR}` with `var`; an unset variable is an error.
pub fn expand_path_in(raw: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, String> {
    let mut out = String::new();
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("path {raw:?} has a `${{` without its `}}`"))?;
        let name = &after[..end];
        let value = var(name).filter(|v| !v.is_empty()).ok_or_else(|| {
            format!("path {raw:?} uses ${{{name}}}, which is not set; set it in the environment or write the path out")
        })?;
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    if out == "~" || out.starts_with("~/") {
        let home = var("HOME")
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("path {raw:?} starts with ~ but HOME is not set"))?;
        out = format!("{home}{}", &out[1..]);
    } else if out.starts_with('~') {
        return Err(format!(
            "path {raw:?}: ~user is not supported; write the path out"
        ));
    }
    Ok(PathBuf::from(out))
}

/// The known name closest to `word`, if one is close enough to be what was meant.
pub(crate) fn did_you_mean<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    let squash = |s: &str| {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect::<String>()
    };
    let w = squash(word);
    // Same letters but for case and separators: agent_config, readythresholdms.
    if let Some(k) = known.iter().find(|k| squash(k) == w) {
        return Some(k);
    }
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&w, &squash(k)), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}
