//! How results look to people: the status table, colours.

use std::io::{self, IsTerminal, Write};

use ao_core::session::{Activity, SessionStatus};
use ao_core::workspace::KeepReason;

/// Colour only on a terminal and never with `NO_COLOR` set.
pub fn use_color() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && io::stdout().is_terminal()
}

fn paint(text: &str, activity: Activity, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let code = match activity {
        Activity::Active => "32",
        Activity::WaitingInput => "33;1",
        Activity::Blocked => "31;1",
        Activity::Ready => "36",
        Activity::Idle => "2",
        Activity::Exited => "2",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// The status table: one line per session, within 80 columns, then a line per pending request or
/// error.
pub fn status_table(
    out: &mut dyn Write,
    statuses: &[SessionStatus],
    color: bool,
) -> io::Result<()> {
    if statuses.is_empty() {
        return writeln!(
            out,
            "no sessions; `ao spawn <project> \"<prompt>\"` starts one"
        );
    }
    writeln!(
        out,
        "{:<24} {:<13} {:<7} {:>9} {:>8} {:>8}  SUMMARY",
        "SESSION", "ACTIVITY", "PROCESS", "COST", "IN", "OUT"
    )?;
    for s in statuses {
        let activity = format!("{:<13}", s.activity.as_str());
        let summary: String = s
            .summary
            .clone()
            .unwrap_or_default()
            .chars()
            .take(10)
            .collect();
        writeln!(
            out,
            "{:<24} {} {:<7} {:>9} {:>8} {:>8}  {}",
            truncate(&s.id, 24),
            paint(&activity, s.activity, color),
            match s.process {
                ao_core::session::ProcessState::Running => "running",
                ao_core::session::ProcessState::Exited => "exited",
            },
            format!("${:.4}", s.cost_usd),
            s.tokens.input + s.tokens.cache_read + s.tokens.cache_write,
            s.tokens.output + s.tokens.reasoning,
            summary
        )?;
        for p in &s.pending {
            let kind = match p.kind {
                ao_core::session::PendingKind::Permission => "permission",
                ao_core::session::PendingKind::Question => "question",
            };
            writeln!(out, "  └ {kind} {}: {}", p.id, truncate(&p.title, 50))?;
        }
        if let Some(e) = &s.error {
            writeln!(out, "  └ {}: {}", e.name, truncate(&e.message, 66))?;
        }
    }
    Ok(())
}

fn truncate(s: &str, max: usize) -> String {
    let first_line = s.lines().next().unwrap_or_default();
    if first_line.chars().count() <= max {
        first_line.to_string()
    } else {
        let cut: String = first_line.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// Why a work tree was kept, for people.
pub fn keep_reason(r: &KeepReason) -> String {
    match r {
        KeepReason::Uncommitted(n) => format!("{n} uncommitted change(s)"),
        KeepReason::UnmergedCommits(n) => format!("{n} commit(s) on no other branch"),
    }
}
