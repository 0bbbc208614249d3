//! `ao logs`: a session's conversation, once or followed; and how an entry reads (the pane's
//! view shows entries the same way).

use std::collections::HashSet;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;

use ao_core::manager::WAIT_POLL_INTERVAL;
use ao_core::target::Target;
use ao_core::transcript::{EntryKind, TranscriptEntry};
use ao_core::visible::{visible, visible_line};
use clap::Args;

use crate::cli::Cli;

/// Show a session's conversation: messages, tool calls and their results, errors, cost.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  ao logs my-project/agent-1\n  ao logs agent-1 --follow")]
pub struct LogsArgs {
    /// project/name, or a name unique across projects.
    pub target: Target,
    /// Keep printing new entries as they come, until interrupted.
    #[arg(short, long)]
    pub follow: bool,
    /// Print JSON lines for scripts.
    #[arg(long)]
    pub json: bool,
}

/// `ao logs [--follow]`.
pub async fn run(cli: &Cli, args: &LogsArgs) -> anyhow::Result<ExitCode> {
    let (follow, json) = (args.follow, args.json);
    let mgr = super::manager(cli).await?;
    let rec = mgr.resolve_one(&args.target).await?;
    let mut printed: HashSet<String> = HashSet::new();
    let mut out = std::io::stdout().lock();
    let print_new = |entries: Vec<TranscriptEntry>,
                     printed: &mut HashSet<String>,
                     out: &mut dyn Write,
                     only_final: bool|
     -> anyhow::Result<()> {
        for e in entries {
            // Following, an entry is printed once it is final (a tool call once it has ended).
            if only_final && !is_final(&e) {
                continue;
            }
            if printed.insert(e.id.clone()) {
                if json {
                    serde_json::to_writer(&mut *out, &e)?;
                    writeln!(out)?;
                } else {
                    write_entry(out, &e)?;
                }
            }
        }
        out.flush()?;
        Ok(())
    };
    let entries = mgr
        .transcript(&rec)
        .await
        .with_context(|| format!("cannot read the conversation of {}", rec.address))?;
    print_new(entries, &mut printed, &mut out, follow)?;
    if !follow {
        return Ok(ExitCode::SUCCESS);
    }
    let mut feed = mgr.changes(&rec).await;
    loop {
        match feed.as_mut() {
            Some(f) => {
                tokio::select! {
                    ev = f.next() => if ev.is_none() { feed = None },
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
            None => {
                tokio::time::sleep(WAIT_POLL_INTERVAL).await;
                feed = mgr.changes(&rec).await;
            }
        }
        match mgr.transcript(&rec).await {
            Ok(entries) => print_new(entries, &mut printed, &mut out, true)?,
            // The server may be restarting: keep following.
            Err(_) => continue,
        }
    }
}

fn is_final(e: &TranscriptEntry) -> bool {
    match &e.kind {
        EntryKind::Tool { status, .. } => status.is_final(),
        _ => true,
    }
}

/// One entry of a conversation as `ao logs` prints it (the dashboard's log view too). Everything
/// in it but the time is the agent's, so what would steer the terminal shows as escapes.
pub fn write_entry(out: &mut dyn Write, e: &TranscriptEntry) -> std::io::Result<()> {
    let time = chrono::DateTime::from_timestamp_millis(e.at)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    match &e.kind {
        EntryKind::User { text } => write_block(out, &time, "you", text),
        EntryKind::Assistant { text } => write_block(out, &time, "agent", text),
        EntryKind::Tool {
            tool,
            title,
            status,
            output,
            truncated,
        } => {
            writeln!(
                out,
                "{time} tool {} [{}] {}",
                visible_line(tool),
                visible_line(status.as_str()),
                visible_line(title)
            )?;
            if let Some(o) = output {
                for line in visible(o).lines() {
                    writeln!(out, "         │ {line}")?;
                }
                if *truncated {
                    writeln!(out, "         │ … (cut)")?;
                }
            }
            Ok(())
        }
        EntryKind::Step {
            reason,
            tokens,
            cost_usd,
        } => {
            let (tin, tout) = crate::watch::format::tokens_in_out_text(tokens.as_ref());
            let cost = cost_usd.map_or_else(
                || crate::watch::format::NO_COST.to_string(),
                |usd| format!("${usd:.6}"),
            );
            writeln!(out, "{time} step {reason}: {tin} in, {tout} out, {cost}")
        }
        EntryKind::Error(err) => writeln!(
            out,
            "{time} error {}: {}",
            visible_line(err.why.name()),
            visible_line(&err.message)
        ),
    }
}

fn write_block(out: &mut dyn Write, time: &str, who: &str, text: &str) -> std::io::Result<()> {
    let text = visible(text);
    let mut lines = text.lines();
    writeln!(out, "{time} {who}: {}", lines.next().unwrap_or_default())?;
    for line in lines {
        writeln!(out, "         {line}")?;
    }
    Ok(())
}
