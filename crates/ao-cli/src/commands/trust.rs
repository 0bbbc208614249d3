//! `ao trust [FILE] [--revoke]`: lets a config file use the keys that run programs or read
//! secrets (ao-core's [`ao_core::trust`]), or takes that back.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use ao_core::blocking::unblock;
use ao_core::config::{Config, GatedKey};
use ao_core::home::StateHome;
use ao_core::trust::{trust_of, Trust, TrustStore};
use clap::Args;

use crate::cli::Cli;

/// Let a config file use the keys that run programs or read secrets: notifier commands,
/// webhooks, server.passwordFile, server.passwordEnv and host.
#[derive(Debug, Args)]
#[command(
    after_help = "A config file that someone else wrote (a cloned repository's) loads, but those keys are refused until you trust it. Files that `ao init` wrote and files under $XDG_CONFIG_HOME/ao/ (default ~/.config/ao/) are trusted. Trust is by the file's path, recorded in the state home.\n\nExamples:\n  ao trust\n  ao trust ~/code/app/agent-orchestrator.yaml\n  ao trust --revoke"
)]
pub struct TrustArgs {
    /// The config file (default: the one ao finds: --config, $AO_CONFIG, else
    /// agent-orchestrator.yaml here or in a parent).
    pub file: Option<PathBuf>,
    /// Take the trust back: its commands, webhooks, passwords and hosts are refused again.
    #[arg(long)]
    pub revoke: bool,
}

/// `ao trust`.
pub async fn run(cli: &Cli, args: &TrustArgs) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let file = match &args.file {
        Some(f) => cwd.join(f),
        None => Config::locate(cli.config.as_deref(), &cwd).map_err(ao_core::Error::from)?,
    };
    let home = StateHome::from_env()?;
    let revoke = args.revoke;
    // The file system blocks: off the async runtime's thread.
    let registry = crate::agents::registry(&home);
    let store = TrustStore::new(&home);
    let (file, done) = unblock(move || {
        if revoke {
            store.revoke(&file)
        } else {
            store.trust(&file).map(|f| (f, true))
        }
    })
    .await?;
    // What the file may now do (or may no longer do), when it reads; a file with mistakes is
    // trusted all the same, and its mistakes are said when it is used.
    let (keys, trust) = {
        let f = file.clone();
        let config = unblock(move || Config::load_in(&f, super::config_context(&registry))).await;
        let keys = config.map(|c| c.gated).unwrap_or_default();
        let trust = unblock({
            let f = file.clone();
            move || trust_of(&f, &|k| std::env::var(k).ok()).0
        })
        .await;
        (keys, trust)
    };
    let mut out = std::io::stdout().lock();
    let shown = file.display();
    match (revoke, done, trust) {
        (true, _, Trust::ConfigHome) => writeln!(
            out,
            "{shown} is under your own config directory, and stays trusted there; move it out to \
             take its trust back"
        )?,
        (true, true, _) => writeln!(out, "no longer trusted: {shown}{}", list(&keys, "refused"))?,
        (true, false, _) => writeln!(out, "{shown} was not trusted; nothing to take back")?,
        (false, _, Trust::OpenToOthers) => {
            // Recorded, but refused while someone else can change it.
            eprintln!("ao: recorded, but {}", ao_core::trust::remedy(trust, &file));
            return Ok(ExitCode::from(2));
        }
        (false, _, _) => writeln!(out, "trusted: {shown}{}", list(&keys, "allowed"))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `; now allowed: command (line 4), host (line 9)`, or nothing when there is no such key.
fn list(keys: &[GatedKey], how: &str) -> String {
    if keys.is_empty() {
        return String::new();
    }
    let keys: Vec<String> = keys
        .iter()
        .map(|k| format!("{} (line {})", k.key, k.line))
        .collect();
    format!("; now {how}: {}", keys.join(", "))
}
