//! `ao show`: everything about one session, as people read it or as JSON.

use std::io::{self, Write};
use std::process::ExitCode;

use ao_core::agent::PlanStatus;
use ao_core::manager::SessionView;
use ao_core::target::Target;
use ao_core::visible::visible_line;
use clap::Args;

use crate::cli::Cli;
use crate::output::{self, paint};

/// Everything about one session: status, plan, files changed, last messages, resources.
#[derive(Debug, Args)]
#[command(
    after_help = "Files are counted against the commit the session's work tree started from, committed or not, new files included.\n\nExamples:\n  ao show my-project/agent-1\n  ao show agent-1 --json | jq .plan"
)]
pub struct ShowArgs {
    /// project/name, or a name unique across projects.
    pub target: Target,
    /// The object of `ao status --json` with plan, files, messages and resources.
    #[arg(long)]
    pub json: bool,
}

/// `ao show`.
pub async fn run(cli: &Cli, args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let mgr = super::manager(cli).await?;
    let view = mgr.show(&args.target).await?;
    let mut out = output::report_out();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &view)?;
        writeln!(out)?;
    } else {
        show_text(&mut out, &view, output::use_color())?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// A byte count for people: `312.4 MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A duration for people: `2h05m`, `3m10s`, `42s`.
fn age(seconds: u64) -> String {
    match seconds {
        s if s >= 3600 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        s if s >= 60 => format!("{}m{:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// Everything `ao show` knows about a session, in sections.
pub fn show_text(out: &mut dyn Write, v: &SessionView, color: bool) -> io::Result<()> {
    let s = &v.status;
    let process = s.process;
    writeln!(
        out,
        "{}  {}  (process {process}, {})",
        paint(&s.id, "1", color),
        s.activity,
        s.runtime
    )?;
    // A field's value may be the agent's (a summary, a request's title, an error): what would
    // steer the terminal shows as escapes.
    let field = |out: &mut dyn Write, name: &str, value: &str| {
        writeln!(out, "  {name:<10} {}", visible_line(value))
    };
    if let Some(summary) = &s.summary {
        field(out, "summary", summary)?;
    }
    field(
        out,
        "agent",
        &format!(
            "{} {}",
            s.agent,
            s.agent_session_id.as_deref().unwrap_or("(no conversation)")
        ),
    )?;
    if let Some(model) = &s.model {
        field(out, "model", model)?;
    }
    let branch = s
        .branch
        .as_deref()
        .map(|b| format!(" (branch {b})"))
        .unwrap_or_default();
    field(
        out,
        "workspace",
        &format!("{}{branch}", s.workspace.display()),
    )?;
    if let Some(server) = &s.server {
        let shared = match server.projects.as_slice() {
            [only] if *only == s.project => String::new(),
            all => format!(" (shared by {})", all.join(", ")),
        };
        field(out, "server", &format!("{}{shared}", server.url))?;
    }
    field(out, "created", &s.created_at)?;
    if let Some(at) = &s.last_activity_at {
        field(out, "active", at)?;
    }
    let (tokens_in, tokens_out) = crate::watch::format::tokens_in_out_text(s.tokens.as_ref());
    field(
        out,
        "cost",
        &format!(
            "{}, {tokens_in} tokens in, {tokens_out} out",
            crate::watch::format::cost_short(s.cost_usd),
        ),
    )?;
    for p in &s.pending {
        field(out, "pending", &format!("{} {}: {}", p.kind, p.id, p.title))?;
    }
    if let Some(e) = &s.error {
        field(out, "error", &format!("{}: {}", e.why, e.message))?;
    }

    if let Some(plan) = &v.plan {
        writeln!(out)?;
        match &s.todos {
            Some(t) => writeln!(out, "Plan {}/{}", t.done, t.total)?,
            None => writeln!(out, "Plan")?,
        }
        if plan.is_empty() {
            writeln!(out, "  (no plan)")?;
        }
        for item in plan {
            let mark = match item.status {
                PlanStatus::Completed => "[x]",
                PlanStatus::InProgress => "[~]",
                PlanStatus::Cancelled => "[-]",
                PlanStatus::Pending | PlanStatus::Other(_) => "[ ]",
            };
            writeln!(
                out,
                "  {mark} {} ({})",
                visible_line(&item.content),
                visible_line(item.priority.as_str())
            )?;
        }
    }
    if let Some(files) = &v.files {
        writeln!(out)?;
        writeln!(out, "Files changed: {}", files.len())?;
        for f in files {
            let count = |n: Option<u64>| n.map_or("binary".to_string(), |n| n.to_string());
            let state = if f.committed {
                "committed"
            } else {
                "uncommitted"
            };
            writeln!(
                out,
                "  +{:<5} -{:<5} {} ({state})",
                count(f.added),
                count(f.removed),
                visible_line(&f.path)
            )?;
        }
    }
    if let Some(messages) = &v.messages {
        writeln!(out)?;
        writeln!(out, "Last messages")?;
        if messages.is_empty() {
            writeln!(out, "  (none)")?;
        }
        for m in messages {
            writeln!(
                out,
                "  {}  {:<9}  {}",
                visible_line(&m.id),
                visible_line(&m.role),
                visible_line(&m.text)
            )?;
        }
    }
    writeln!(out)?;
    writeln!(out, "Resources")?;
    if v.resources.processes.is_empty() {
        writeln!(out, "  no process of its runtime runs")?;
    }
    for p in &v.resources.processes {
        writeln!(
            out,
            "  pid {:<8} {:<16} rss {:>10}  cpu {:>5.1}%  up {}",
            p.pid,
            visible_line(&p.command),
            bytes(p.rss_bytes),
            p.cpu_percent,
            age(p.uptime_s)
        )?;
    }
    match (v.resources.server_pid, v.resources.server_rss_bytes) {
        (Some(pid), Some(rss)) => writeln!(
            out,
            "  server pid {pid} rss {} (shared by the project's sessions)",
            bytes(rss)
        )?,
        // An agent without a server (its session's own processes, above, are all there is) and
        // one whose server is down read the same: nothing else runs for the session.
        _ => writeln!(out, "  no agent server runs for it")?,
    }
    writeln!(out)?;
    writeln!(out, "Commands")?;
    for cmd in [
        s.attach_command.as_deref(),
        Some(v.diff_command.as_str()),
        s.restore_command.as_deref(),
        Some(v.kill_command.as_str()),
    ]
    .into_iter()
    .flatten()
    {
        writeln!(out, "  {cmd}")?;
    }
    if !v.notes.is_empty() {
        writeln!(out)?;
        for n in &v.notes {
            writeln!(out, "note: {}", visible_line(n))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages_read_as_people_write_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024 + 512 * 1024), "3.5 MiB");
        assert_eq!(age(42), "42s");
        assert_eq!(age(190), "3m10s");
        assert_eq!(age(7500), "2h05m");
    }
}
