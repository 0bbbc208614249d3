//! How results look to people: the status table, colours, what `ao kill` did.

use std::io::{self, IsTerminal, Write};
use std::sync::OnceLock;

use ao_core::manager::dollars;
use ao_core::session::{Activity, SessionStatus};
use ao_core::visible::visible_line;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::cli::ColorChoice;
use crate::watch::format::{cost_short, tokens_in_out_text};

static COLOR: OnceLock<ColorChoice> = OnceLock::new();

/// Records `--color` for the whole run.
pub fn set_color_choice(choice: ColorChoice) {
    let _ = COLOR.set(choice);
}

/// Standard output for a whole report: buffered, because a line-buffered stdout makes a write
/// call per line, which for `ao status --json` of 500 sessions (some 20,000 lines into a pipe) was
/// 30 to 40 ms. The caller flushes it at the end, so that a write error is still reported.
pub fn report_out() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock())
}

/// Whether to colour standard output: `--color always|never`, else only on a terminal and never
/// with `NO_COLOR` set.
pub fn use_color() -> bool {
    match COLOR.get().copied().unwrap_or(ColorChoice::Auto) {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => !no_color_env() && io::stdout().is_terminal(),
    }
}

/// Whether `NO_COLOR` asks for no colour (set and not empty, as no-color.org says).
pub fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// `text` in the ANSI colour `code` when `color` is on.
pub fn paint(text: &str, code: &str, color: bool) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

fn activity_color(activity: Activity) -> &'static str {
    match activity {
        Activity::Active => "32",
        Activity::WaitingInput => "33;1",
        Activity::Blocked => "31;1",
        Activity::Ready => "36",
        Activity::Idle => "2",
        Activity::Exited => "2",
    }
}

/// The width to lay tables out in: the terminal's when standard output is one, else `$COLUMNS`,
/// else 80.
pub fn table_width() -> usize {
    if io::stdout().is_terminal() {
        if let Some((terminal_size::Width(w), _)) = terminal_size::terminal_size() {
            return usize::from(w).max(40);
        }
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|w| *w >= 40)
        .unwrap_or(80)
}

/// The HOST of a session on this machine, beside those elsewhere (`ao status`, `ao watch`).
pub const LOCAL_HOST: &str = "local";

/// The status table within `width` columns: one line per session, then a line per pending request
/// or error. The summary takes what room is left; long session names are cut with `…`.
pub fn status_table(
    out: &mut dyn Write,
    statuses: &[SessionStatus],
    color: bool,
    width: usize,
) -> io::Result<()> {
    if statuses.is_empty() {
        return writeln!(
            out,
            "no sessions; `ao spawn <project> \"<prompt>\"` starts one"
        );
    }
    // The budget beside the cost and the age beside the activity go, in that order, when the
    // table would not fit otherwise.
    let now = chrono::Utc::now();
    let layout = |with_budget: bool, with_age: bool| {
        let rows: Vec<[String; 6]> = statuses
            .iter()
            .map(|s| {
                let (tokens_in, tokens_out) = tokens_in_out_text(s.tokens.as_ref());
                [
                    s.id.clone(),
                    s.process.to_string(),
                    match s.budget_usd {
                        Some(budget) if with_budget => {
                            format!("{}/{}", cost_short(s.cost_usd), dollars(budget))
                        }
                        _ => cost_short(s.cost_usd),
                    },
                    tokens_in,
                    tokens_out,
                    // `?`: what its agent did not confirm within the status budget.
                    match (with_age, s.stale) {
                        (true, false) => activity_cell(s, now),
                        (true, true) => format!("{}?", activity_cell(s, now)),
                        (false, false) => s.activity.to_string(),
                        (false, true) => format!("{}?", s.activity),
                    },
                ]
            })
            .collect();
        let col = |i: usize, header: &str| {
            rows.iter()
                .map(|r| r[i].width())
                .chain([header.width()])
                .max()
                .unwrap_or(0)
        };
        let widths = [
            col(0, "SESSION"),
            col(1, "PROCESS"),
            col(2, "COST"),
            col(3, "IN"),
            col(4, "OUT"),
            col(5, "waiting_input"),
        ];
        (rows, widths)
    };
    // Fits: 20 columns of the session's name (or all of it, if shorter) and 12 of summary; else
    // at least 7 of the name.
    let fixed_of = |w: &[usize; 6]| w[1] + w[2] + w[3] + w[4] + w[5] + 5 + 2;
    let mut layouts: Vec<_> = [(true, true), (false, true), (false, false)]
        .into_iter()
        .map(|(budget, age)| layout(budget, age))
        .collect();
    let roomy = layouts
        .iter()
        .position(|(_, w)| fixed_of(w) + w[0].min(20) + 12 <= width);
    let tight = layouts.iter().position(|(_, w)| fixed_of(w) + 7 <= width);
    let pick = roomy.or(tight).unwrap_or(layouts.len() - 1);
    let (rows, [session_need, process_w, cost_w, in_w, out_w, activity_w]) =
        layouts.swap_remove(pick);
    let activities: Vec<&String> = rows.iter().map(|r| &r[5]).collect();
    let mut fixed = activity_w + process_w + cost_w + in_w + out_w + 5;
    // PLAN (done/total of the agent's todo list) only when some session has a plan and the
    // table keeps room for a session name and a summary besides.
    let plans: Vec<String> = statuses
        .iter()
        .map(|s| {
            s.todos
                .map_or("-".into(), |t| format!("{}/{}", t.done, t.total))
        })
        .collect();
    let plan_w = plans.iter().map(|p| p.width()).max().unwrap_or(0).max(4);
    let show_plan =
        statuses.iter().any(|s| s.todos.is_some()) && width >= fixed + plan_w + 1 + 7 + 2 + 12;
    if show_plan {
        fixed += plan_w + 1;
    }
    // AGENT when the sessions shown are of more than one agent: with one, it says nothing.
    let show_agent = statuses.iter().any(|s| s.agent != statuses[0].agent);
    let agent_w = statuses
        .iter()
        .map(|s| s.agent.width())
        .max()
        .unwrap_or(0)
        .max(5);
    if show_agent {
        fixed += agent_w + 1;
    }
    let agent_cell = |text: &str| {
        if show_agent {
            format!(" {}", pad(text, agent_w))
        } else {
            String::new()
        }
    };
    // HOST when any session's project lives on another machine.
    let hosts: Vec<&str> = statuses
        .iter()
        .map(|s| s.host.as_deref().unwrap_or(LOCAL_HOST))
        .collect();
    let show_host = statuses.iter().any(|s| s.host.is_some());
    let host_w = hosts.iter().map(|h| h.width()).max().unwrap_or(0).max(4);
    if show_host {
        fixed += host_w + 1;
    }
    let host_cell = |text: &str| {
        if show_host {
            format!(" {}", pad(text, host_w))
        } else {
            String::new()
        }
    };
    let plan_cell = |text: &str| {
        if show_plan {
            format!(" {text:>plan_w$}")
        } else {
            String::new()
        }
    };
    // The session column gets what it needs up to 32, leaving the summary at least 12 columns
    // when it can; long names are cut rather than pushing the table past the width.
    let session_w = session_need
        .min(32)
        .min(width.saturating_sub(fixed + 2 + 12))
        .max(7);
    let summary_w = width.saturating_sub(session_w + fixed + 2);
    let summary_header = if summary_w >= 7 { "  SUMMARY" } else { "" };
    writeln!(
        out,
        "{} {:<activity_w$} {:<process_w$} {:>cost_w$} {:>in_w$} {:>out_w$}{}{}{}{summary_header}",
        pad(&fit("SESSION", session_w), session_w),
        "ACTIVITY",
        "PROCESS",
        "COST",
        "IN",
        "OUT",
        agent_cell("AGENT"),
        plan_cell("PLAN"),
        host_cell("HOST"),
    )?;
    let detail_w = width.saturating_sub(4);
    for ((((s, row), activity), plan), host) in statuses
        .iter()
        .zip(&rows)
        .zip(&activities)
        .zip(&plans)
        .zip(&hosts)
    {
        let activity = format!("{activity:<activity_w$}");
        let summary = if summary_w >= 7 {
            format!(
                "  {}",
                fit(s.summary.as_deref().unwrap_or_default(), summary_w)
            )
        } else {
            String::new()
        };
        let line = format!(
            "{} {} {:<process_w$} {:>cost_w$} {:>in_w$} {:>out_w$}{}{}{}{summary}",
            pad(&fit(&row[0], session_w), session_w),
            paint(&activity, activity_color(s.activity), color),
            row[1],
            row[2],
            row[3],
            row[4],
            agent_cell(&s.agent),
            plan_cell(plan),
            host_cell(host),
        );
        writeln!(out, "{}", line.trim_end())?;
        for p in &s.pending {
            let text = format!("{} {}: {}", p.kind, p.id, p.title);
            writeln!(out, "  └ {}", fit(&text, detail_w))?;
        }
        if let Some(e) = &s.error {
            let text = format!("{}: {}", e.why, e.message);
            writeln!(out, "  └ {}", fit(&text, detail_w))?;
        }
        if let Some(since) = &s.stale_since {
            let when = chrono::DateTime::parse_from_rfc3339(since)
                .map(|t| {
                    t.with_timezone(&chrono::Local)
                        .format("%H:%M:%S")
                        .to_string()
                })
                .unwrap_or_else(|_| since.clone());
            let text =
                format!("? stale: its agent did not answer in time; shown as last seen at {when}");
            writeln!(out, "  └ {}", fit(&text, detail_w))?;
        }
    }
    Ok(())
}

/// The activity and how long it has lasted: `waiting_input 3m`.
fn activity_cell(s: &SessionStatus, now: chrono::DateTime<chrono::Utc>) -> String {
    match s.activity_since.as_deref().map(|t| age(t, now)) {
        Some(age) if !age.is_empty() => format!("{} {age}", s.activity),
        _ => s.activity.to_string(),
    }
}

/// How long since `since` (RFC 3339), in the largest whole unit: `12s`, `3m`, `5h`, `2d`. Empty
/// when `since` does not parse; `0s` for a time in the future (a clock a little ahead).
pub fn age(since: &str, now: chrono::DateTime<chrono::Utc>) -> String {
    let Ok(since) = chrono::DateTime::parse_from_rfc3339(since) else {
        return String::new();
    };
    let secs = (now - since.with_timezone(&chrono::Utc))
        .num_seconds()
        .max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        // Hours up to two days: "30h" says more than "1d".
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// `s` on one line (what would steer the terminal, line ends included, shown as escapes: it may
/// be an agent's text), cut with `…` to at most `max` columns.
fn fit(s: &str, max: usize) -> String {
    let first_line = visible_line(s);
    if first_line.width() <= max {
        return first_line.into_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in first_line.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > max {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

/// `s` padded with spaces to `width` columns.
fn pad(s: &str, width: usize) -> String {
    format!("{s}{}", " ".repeat(width.saturating_sub(s.width())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ao_core::session::{
        PendingKind, PendingRequest, ProcessState, RuntimeKind, SessionError, Tokens,
    };

    fn status(id: &str, summary: &str) -> SessionStatus {
        let (project, name) = id.split_once('/').unwrap();
        SessionStatus {
            id: id.into(),
            project: project.into(),
            name: name.into(),
            agent: "opencode".into(),
            runtime: RuntimeKind::Tmux,
            process: ProcessState::Running,
            activity: Activity::WaitingInput,
            activity_since: Some(ao_core::clock::rfc3339(
                chrono::Utc::now().timestamp_millis() - 190_000,
            )),
            agent_session_id: Some("ses_1".into()),
            workspace: "/tmp/x".into(),
            branch: None,
            created_at: String::new(),
            last_activity_at: None,
            model: None,
            summary: Some(summary.into()),
            tokens: Some(Tokens {
                input: 1_234_567,
                output: 89_012,
                ..Tokens::default()
            }),
            cost_usd: Some(123.4567),
            budget_usd: Some(200.0),
            pending: vec![PendingRequest {
                kind: PendingKind::Permission,
                id: "per_1fedf2dcb0015MsLj6Nnz08NsT".into(),
                title: "bash: ".to_string() + &"x".repeat(200),
                from_session: None,
                tool: None,
                options: Vec::new(),
                questions: Vec::new(),
            }],
            error: Some(SessionError {
                why: ao_core::session::Why::Agent("APIError".into()),
                message: "e".repeat(300),
            }),
            stale: false,
            stale_since: None,
            host: None,
            server: None,
            todos: None,
            files_changed: None,
            attach_command: None,
            restore_command: None,
        }
    }

    #[test]
    fn the_host_column_shows_when_a_project_is_remote() {
        let table = |statuses: &[SessionStatus]| {
            let mut out = Vec::new();
            status_table(&mut out, statuses, false, 120).unwrap();
            String::from_utf8(out).unwrap()
        };
        let here = status("demo/agent-1", "hi");
        assert!(!table(std::slice::from_ref(&here)).contains("HOST"));
        let mut there = status("web/agent-1", "hi");
        there.host = Some("builder1".into());
        let both = table(&[here, there]);
        let lines: Vec<&str> = both.lines().collect();
        assert!(lines[0].contains(" HOST "), "{both}");
        assert!(lines[1].contains(" local "), "{both}");
        assert!(lines.iter().any(|l| l.contains(" builder1 ")), "{both}");
    }

    #[test]
    fn the_agent_column_shows_when_sessions_of_several_agents_are_listed() {
        let table = |statuses: &[SessionStatus]| {
            let mut out = Vec::new();
            status_table(&mut out, statuses, false, 120).unwrap();
            String::from_utf8(out).unwrap()
        };
        let opencode = status("demo/agent-1", "hi");
        assert!(!table(std::slice::from_ref(&opencode)).contains("AGENT"));
        let mut acp = status("web/agent-1", "hi");
        acp.agent = "acp".into();
        let both = table(&[opencode, acp]);
        let lines: Vec<&str> = both.lines().collect();
        assert!(lines[0].contains(" AGENT "), "{both}");
        assert!(lines[1].contains(" opencode "), "{both}");
        assert!(lines.iter().any(|l| l.contains(" acp ")), "{both}");
    }

    #[test]
    fn a_cost_the_agent_does_not_report_shows_as_no_figure() {
        let mut unpriced = status("web/agent-1", "hi");
        unpriced.cost_usd = None;
        unpriced.budget_usd = None;
        let mut out = Vec::new();
        status_table(&mut out, &[unpriced.clone()], false, 120).unwrap();
        let text = String::from_utf8(out).unwrap();
        let row = text.lines().nth(1).unwrap();
        assert!(row.contains(" - "), "{text}");
        assert!(!row.contains('$'), "no figure is made up: {text}");
        // With a budget beside it, still no figure.
        unpriced.budget_usd = Some(5.0);
        let mut out = Vec::new();
        status_table(&mut out, &[unpriced.clone()], false, 120).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(" -/$5.00 "), "{text}");
        // JSON says null.
        let json = serde_json::to_value(&unpriced).unwrap();
        assert_eq!(json["cost_usd"], serde_json::Value::Null);
        assert_eq!(json["agent"], "opencode");
    }

    #[test]
    fn the_plan_column_shows_when_a_session_has_a_plan_and_the_table_has_room() {
        let mut planned = status("demo/agent-1", "hi");
        planned.todos = Some(ao_core::session::TodoCount { done: 3, total: 7 });
        let statuses = vec![planned, status("demo/agent-2", "no plan")];
        let table = |width| {
            let mut out = Vec::new();
            status_table(&mut out, &statuses, false, width).unwrap();
            String::from_utf8(out).unwrap()
        };
        let wide = table(120);
        assert!(wide.contains("PLAN"), "{wide}");
        assert!(wide.contains(" 3/7 "), "{wide}");
        let narrow = table(50);
        assert!(!narrow.contains("PLAN"), "{narrow}");
        let unplanned = vec![status("demo/agent-2", "no plan")];
        let mut out = Vec::new();
        status_table(&mut out, &unplanned, false, 120).unwrap();
        assert!(!String::from_utf8(out).unwrap().contains("PLAN"));
    }

    #[test]
    fn the_table_fits_80_columns_whatever_it_holds() {
        let statuses = vec![
            status(
                "my-very-long-project-name/agent-with-a-long-name-123",
                &"Fix the linting errors in every crate of the workspace ".repeat(3),
            ),
            status(
                "demo/agent-1",
                "日本語のタイトルがとても長い場合でも幅を守る",
            ),
        ];
        for width in [80, 60, 120] {
            let mut out = Vec::new();
            status_table(&mut out, &statuses, false, width).unwrap();
            let text = String::from_utf8(out).unwrap();
            for line in text.lines() {
                assert!(
                    line.width() <= width,
                    "{} > {width}: {line:?}",
                    line.width()
                );
            }
            // The budget and the age go when the names would not fit otherwise.
            let age = if width > 80 {
                "waiting_input 3m"
            } else {
                "waiting_input "
            };
            assert!(text.contains(age), "{text}");
            let budget = if width > 80 {
                "$123.4567/$200.00"
            } else {
                "$123.4567 "
            };
            assert!(text.contains(budget), "{text}");
            assert!(text.contains("1234567"), "{text}");
        }
        let mut out = Vec::new();
        status_table(&mut out, &statuses, false, 80).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("demo/agent-1 "), "{text}");
        assert!(text.contains("SUMMARY"), "{text}");
    }

    #[test]
    fn colour_is_only_escape_codes_around_the_activity() {
        let statuses = vec![status("demo/agent-1", "hi")];
        let (mut plain, mut colored) = (Vec::new(), Vec::new());
        status_table(&mut plain, &statuses, false, 80).unwrap();
        status_table(&mut colored, &statuses, true, 80).unwrap();
        let colored = String::from_utf8(colored).unwrap();
        assert!(colored.contains("\x1b[33;1mwaiting_input"), "{colored}");
        let stripped = colored.replace("\x1b[33;1m", "").replace("\x1b[0m", "");
        assert_eq!(stripped, String::from_utf8(plain).unwrap());
    }
}
