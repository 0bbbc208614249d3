//! `ao show` as people read it, and `ao fork`.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use ao_core::manager::{ForkOptions, SessionManager, SessionView};
use ao_core::session::{PendingKind, ProcessState};
use ao_core::visible::visible_line;

use crate::cli::ForkArgs;
use crate::output::paint;

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
    let process = match s.process {
        ProcessState::Running => "running",
        ProcessState::Exited => "exited",
    };
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
    field(out, "created", &s.created_at)?;
    if let Some(at) = &s.last_activity_at {
        field(out, "active", at)?;
    }
    field(
        out,
        "cost",
        &format!(
            "${:.4}, {} tokens in, {} out",
            s.cost_usd,
            s.tokens.input + s.tokens.cache_read + s.tokens.cache_write,
            s.tokens.output + s.tokens.reasoning
        ),
    )?;
    for p in &s.pending {
        let kind = match p.kind {
            PendingKind::Permission => "permission",
            PendingKind::Question => "question",
        };
        field(out, "pending", &format!("{kind} {}: {}", p.id, p.title))?;
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
            let mark = match item.status.as_str() {
                "completed" => "[x]",
                "in_progress" => "[~]",
                "cancelled" => "[-]",
                _ => "[ ]",
            };
            writeln!(
                out,
                "  {mark} {} ({})",
                visible_line(&item.content),
                visible_line(&item.priority)
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
        _ => writeln!(out, "  no server of its agent runs")?,
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

/// `ao fork`: prints the new session's address, as `ao spawn` does.
pub async fn fork(mgr: &SessionManager, args: &ForkArgs) -> anyhow::Result<ExitCode> {
    let spinner = crate::progress::Spinner::start(format!("ao fork {}", args.target));
    let forked = mgr
        .fork(
            ForkOptions {
                source: args.target.clone(),
                name: args.name.clone(),
                at: args.at.clone(),
                runtime: args.runtime,
                prompt: args.prompt.clone(),
            },
            &|step| {
                if let Some(s) = &spinner {
                    s.set(step.to_string());
                }
            },
        )
        .await;
    drop(spinner);
    let s = forked.with_context(|| format!("cannot fork {}", args.target))?;
    writeln!(io::stdout().lock(), "{}", s.address)?;
    eprintln!(
        "ao: {} is a fork of {}: {} session {} in {} ({})",
        s.address,
        args.target,
        s.agent,
        s.agent_session_id.as_deref().unwrap_or("?"),
        s.workspace.display(),
        s.runtime
    );
    Ok(ExitCode::SUCCESS)
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
