//! Drawing the dashboard from its state: the title with the overall totals, the session table
//! with a row of totals per project, the detail pane of the selected session, the status line
//! and the help line; or the log view.

use chrono::{DateTime, Utc};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use ao_core::live::LiveSession;
use ao_core::session::{Activity, PendingKind, Tokens};
use ao_core::visible::{visible, visible_line};

use super::app::{App, Mode, Purpose};
use super::format::{self, Column};
use crate::output::LOCAL_HOST;

/// How the dashboard paints: with colour, or (`NO_COLOR`, `--color never`) with none at all,
/// only bold and reverse video, which NO_COLOR allows.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    /// Whether colours may be used.
    pub color: bool,
}

impl Paint {
    fn fg(self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    fn activity(self, a: Activity) -> Style {
        let (color, bold) = match a {
            Activity::Active => (Color::Green, false),
            Activity::WaitingInput => (Color::Yellow, true),
            Activity::Blocked => (Color::Red, true),
            Activity::Ready => (Color::Cyan, false),
            Activity::Idle | Activity::Exited => (Color::DarkGray, false),
        };
        let style = self.fg(color);
        if bold {
            style.add_modifier(Modifier::BOLD)
        } else {
            style
        }
    }
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &mut App, paint: Paint, now: DateTime<Utc>) {
    let area = frame.area();
    let [body, status, help] = Layout::vertical([
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    if let Mode::Log(view) = &app.mode {
        let id = view.id.clone();
        let top = view.top;
        draw_log(frame, app, &id, top, body, paint);
    } else {
        let rows = app.sessions.len() + projects(app) + 1;
        let [title, table, detail] = Layout::vertical([
            Constraint::Length(1),
            // The table takes what it needs while the detail pane keeps at least 8 lines.
            Constraint::Max(rows as u16),
            Constraint::Min(8),
        ])
        .areas(body);
        draw_title(frame, app, title, paint);
        draw_table(frame, app, table, paint, now);
        draw_detail(frame, app, detail, paint, now);
    }
    draw_status(frame, app, status, paint);
    draw_help(frame, app, help, paint);
}

fn projects(app: &App) -> usize {
    let mut names: Vec<&str> = app
        .sessions
        .values()
        .map(|s| s.status.project.as_str())
        .collect();
    names.dedup();
    names.len()
}

/// How many sessions, and their tokens and cost added up. A sum is `None` ("-") when any session
/// counted in it reports none (or there is no session): the sum of the known ones alone would be
/// a figure that is too low.
fn totals<'a>(
    sessions: impl Iterator<Item = &'a LiveSession>,
) -> (usize, Option<Tokens>, Option<f64>) {
    let (n, tokens, cost) = sessions.fold(
        (0, Some(Tokens::default()), Some(0.0)),
        |(n, tokens, cost), s| {
            (
                n + 1,
                tokens.zip(s.status.tokens).map(|(t, st)| Tokens {
                    input: t.input.saturating_add(st.input),
                    output: t.output.saturating_add(st.output),
                    reasoning: t.reasoning.saturating_add(st.reasoning),
                    cache_read: t.cache_read.saturating_add(st.cache_read),
                    cache_write: t.cache_write.saturating_add(st.cache_write),
                }),
                cost.zip(s.status.cost_usd).map(|(c, usd)| c + usd),
            )
        },
    );
    match n {
        0 => (0, None, None),
        n => (n, tokens, cost),
    }
}

fn draw_title(frame: &mut Frame, app: &App, area: Rect, paint: Paint) {
    let (n, tokens, cost) = totals(app.sessions.values());
    let waiting = app
        .sessions
        .values()
        .filter(|s| s.status.activity == Activity::WaitingInput)
        .count();
    let mut spans = vec![
        Span::styled("ao watch", Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            "  {n} session{}  tokens {}  cost {}",
            if n == 1 { "" } else { "s" },
            format::tokens_cell(tokens.as_ref()),
            format::cost_short(cost),
        )),
    ];
    if waiting > 0 {
        spans.push(Span::raw("  "));
        spans.push(Span::styled(
            format!("{waiting} waiting_input"),
            paint.activity(Activity::WaitingInput),
        ));
    }
    frame.render_widget(Line::from(spans), area);
}

fn draw_table(frame: &mut Frame, app: &App, area: Rect, paint: Paint, now: DateTime<Utc>) {
    let ordered = app.ordered();
    let widest =
        |f: &dyn Fn(&LiveSession) -> usize| ordered.iter().map(|s| f(s)).max().unwrap_or(0);
    let columns = format::fit_columns(
        area.width,
        widest(&|s| s.status.id.width()),
        widest(&|s| s.status.model.as_deref().unwrap_or_default().width()),
        // As `ao status`: a HOST column when any session's project is on another machine.
        match ordered.iter().any(|s| s.status.host.is_some()) {
            true => widest(&|s| s.status.host.as_deref().unwrap_or(LOCAL_HOST).width()),
            false => 0,
        },
        // As `ao status`: an AGENT column when the sessions are of more than one agent.
        match ordered.iter().any(|s| {
            ordered
                .first()
                .is_some_and(|f| f.status.agent != s.status.agent)
        }) {
            true => widest(&|s| s.status.agent.width()),
            false => 0,
        },
    );
    let header = Row::new(columns.iter().map(|(c, _)| Cell::from(c.header())))
        .style(Style::default().add_modifier(Modifier::BOLD));
    let mut rows = Vec::new();
    let mut selected_row = None;
    let mut i = 0;
    while i < ordered.len() {
        let project = &ordered[i].status.project;
        let end = ordered[i..]
            .iter()
            .position(|s| &s.status.project != project)
            .map_or(ordered.len(), |p| i + p);
        let (n, tokens, cost) = totals(ordered[i..end].iter().copied());
        rows.push(
            Row::new(columns.iter().map(|(c, _)| {
                Cell::from(match c {
                    Column::Session => format!("{project} ({n})"),
                    Column::Tokens => format::tokens_cell(tokens.as_ref()),
                    Column::Cost => format::cost_short(cost),
                    _ => String::new(),
                })
            }))
            .style(paint.fg(Color::Blue).add_modifier(Modifier::BOLD)),
        );
        for s in &ordered[i..end] {
            if app.selected.as_ref() == Some(&s.status.id) {
                selected_row = Some(rows.len());
            }
            rows.push(session_row(s, &columns, paint, now));
        }
        i = end;
    }
    let widths = columns.iter().map(|(_, w)| Constraint::Length(*w));
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(format::SPACING)
        .highlight_symbol("> ")
        .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .highlight_spacing(ratatui::widgets::HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(selected_row);
    if ordered.is_empty() {
        let empty = Paragraph::new(
            "no sessions yet; `ao spawn <project> \"<prompt>\"` starts one, and it shows here",
        );
        frame.render_widget(empty, area);
        return;
    }
    frame.render_stateful_widget(table, area, &mut state);
}

fn session_row<'a>(
    s: &'a LiveSession,
    columns: &[(Column, u16)],
    paint: Paint,
    now: DateTime<Utc>,
) -> Row<'a> {
    let st = &s.status;
    Row::new(columns.iter().map(|(c, w)| {
        let text = match c {
            Column::Session => format!("  {}", st.name),
            Column::Activity => {
                let mut text = format::activity_cell(st.activity, s.activity_since(), now);
                // As `ao status` marks what its agent did not confirm in time.
                if st.stale {
                    text.push('?');
                }
                return Cell::from(Span::styled(text, paint.activity(st.activity)));
            }
            Column::Process => st.process.to_string(),
            Column::Agent => st.agent.clone(),
            Column::Model => st.model.clone().unwrap_or_default(),
            Column::Tokens => format::tokens_cell(st.tokens.as_ref()),
            Column::Cost => format::cost_short(st.cost_usd),
            Column::Host => st.host.as_deref().unwrap_or(LOCAL_HOST).to_string(),
            Column::Summary => st.summary.clone().unwrap_or_default(),
        };
        Cell::from(cut(&text, usize::from(*w)))
    }))
}

/// `s` on one line (what would steer the terminal, line ends included, shown as escapes: it may
/// be an agent's text), cut with `…` to at most `max` columns.
fn cut(s: &str, max: usize) -> String {
    let line = visible_line(s);
    if line.width() <= max {
        return line.into_owned();
    }
    let mut out = String::new();
    for c in line.chars() {
        if out.width() + c.to_string().width() + 1 > max {
            break;
        }
        out.push(c);
    }
    out.push('…');
    out
}

fn draw_detail(frame: &mut Frame, app: &App, area: Rect, paint: Paint, now: DateTime<Utc>) {
    let block = Block::default().borders(Borders::TOP);
    let Some(s) = app.current() else {
        frame.render_widget(block, area);
        return;
    };
    let st = &s.status;
    let block = block.title(Span::styled(
        format!(" {} ", st.id),
        Style::default().add_modifier(Modifier::BOLD),
    ));
    let (tin, tout) = format::tokens_in_out_text(st.tokens.as_ref());
    let mut lines = vec![Line::from(vec![
        Span::styled(st.activity.as_str(), paint.activity(st.activity)),
        Span::raw(format!(
            "  agent {}  cost {}  tokens {tin} in, {tout} out  runtime {}  {}",
            st.agent,
            format::cost_exact(st.cost_usd),
            st.runtime,
            st.model.as_deref().unwrap_or("")
        )),
    ])];
    if st.stale {
        let seen = st
            .stale_since
            .as_deref()
            .map(|t| format!("; shown as last seen {} ago", format::age(t, now)))
            .unwrap_or_default();
        lines.push(Line::styled(
            format!("? stale: its agent did not answer in time{seen}"),
            paint.activity(Activity::Blocked),
        ));
    }
    if let Some(summary) = st.summary.as_deref().filter(|s| !s.is_empty()) {
        lines.push(Line::raw(format!("summary: {}", visible_line(summary))));
    }
    let answering = match &app.mode {
        Mode::Input(i) if i.id == st.id => match &i.purpose {
            Purpose::Answer {
                answers, choice, ..
            } => Some((answers.len(), *choice)),
            Purpose::Send => None,
        },
        _ => None,
    };
    let want = paint.activity(Activity::WaitingInput);
    for p in &st.pending {
        match p.kind {
            // The title names the tool and what it would run: `bash: echo hi > out.txt`.
            PendingKind::Permission => lines.push(Line::from(vec![
                Span::styled("permission", want),
                Span::raw(format!(
                    " {}  [p once, P always, x reject]",
                    visible_line(&p.title)
                )),
            ])),
            PendingKind::Question => {
                if p.questions.is_empty() {
                    lines.push(Line::from(vec![
                        Span::styled("question", want),
                        Span::raw(format!(": {}  [a answers]", visible_line(&p.title))),
                    ]));
                }
                for (qi, q) in p.questions.iter().enumerate() {
                    lines.push(Line::from(vec![
                        Span::styled("question", want),
                        Span::raw(format!(": {}", visible_line(&q.question))),
                    ]));
                    let mut opts = vec![Span::raw("  options:")];
                    for (oi, o) in q.options.iter().enumerate() {
                        let picked = answering == Some((qi, Some(oi)));
                        let style = if picked {
                            Style::default().add_modifier(Modifier::REVERSED)
                        } else {
                            Style::default()
                        };
                        opts.push(Span::raw(" "));
                        opts.push(Span::styled(visible_line(o).into_owned(), style));
                    }
                    if answering.is_none() {
                        opts.push(Span::raw("  [a answers]"));
                    }
                    lines.push(Line::from(opts));
                }
            }
        }
    }
    if let Some(e) = &st.error {
        lines.push(Line::from(vec![
            Span::styled(
                format!("error {}", e.why),
                paint.activity(Activity::Blocked),
            ),
            Span::raw(format!(": {}", visible_line(&e.message))),
        ]));
    }
    match (app.last_reply(), &app.transcript_error) {
        (_, Some(e)) => lines.push(Line::raw(format!(
            "(the conversation cannot be read: {})",
            visible_line(e)
        ))),
        (Some(text), None) => {
            lines.push(Line::styled(
                "last reply:",
                Style::default().add_modifier(Modifier::BOLD),
            ));
            lines.extend(visible(text).lines().map(|l| Line::raw(l.to_string())));
        }
        (None, None) => {}
    }
    let text = Paragraph::new(lines)
        .block(block)
        .wrap(Wrap { trim: false });
    frame.render_widget(text, area);
}

fn draw_log(frame: &mut Frame, app: &mut App, id: &str, top: Option<usize>, area: Rect, _: Paint) {
    let [title, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let lines = app.log_lines();
    let page = usize::from(body.height);
    app.page = page;
    let last_top = lines.len().saturating_sub(page);
    let top = top.unwrap_or(last_top).min(last_top);
    frame.render_widget(
        Line::from(vec![
            Span::styled(
                format!("log of {id}"),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(format!(
                "  lines {}-{} of {}",
                (top + 1).min(lines.len()),
                (top + page).min(lines.len()),
                lines.len()
            )),
        ]),
        title,
    );
    let shown: Vec<Line> = lines
        .iter()
        .skip(top)
        .take(page)
        .map(|l| Line::raw(cut(l, usize::from(body.width))))
        .collect();
    frame.render_widget(Paragraph::new(shown), body);
}

fn draw_status(frame: &mut Frame, app: &App, area: Rect, paint: Paint) {
    let line = match &app.mode {
        Mode::ConfirmKill(id) => Line::from(vec![
            Span::styled(
                format!("kill {id}?"),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(" y kills it, any other key keeps it"),
        ]),
        Mode::Input(input) => {
            let prompt = match &input.purpose {
                Purpose::Send => format!("send to {}: ", input.id),
                Purpose::Answer {
                    questions, answers, ..
                } => {
                    let of = if questions.len() > 1 {
                        format!(" {} of {}", answers.len() + 1, questions.len())
                    } else {
                        String::new()
                    };
                    let pick = if questions
                        .get(answers.len())
                        .is_some_and(|q| !q.options.is_empty())
                    {
                        " (↑↓ picks an option)"
                    } else {
                        ""
                    };
                    format!("answer{of}{pick}: ")
                }
            };
            Line::from(vec![
                Span::styled(prompt, Style::default().add_modifier(Modifier::BOLD)),
                Span::raw(input.text.clone()),
                Span::styled(" ", Style::default().add_modifier(Modifier::REVERSED)),
            ])
        }
        _ => match (&app.note, &app.config_problem) {
            (Some(n), _) if n.error => {
                Line::styled(n.text.clone(), paint.activity(Activity::Blocked))
            }
            (_, Some(problem)) => Line::styled(problem.clone(), paint.activity(Activity::Blocked)),
            (Some(n), None) => Line::raw(n.text.clone()),
            (None, None) => Line::raw(""),
        },
    };
    frame.render_widget(line, area);
}

/// The keys of the current mode, the least needed dropped first when the line is too narrow.
pub fn help(mode: &Mode) -> &'static [(&'static str, &'static str)] {
    match mode {
        Mode::Normal => &[
            ("q", "quit"),
            ("p/P", "permit"),
            ("x", "reject"),
            ("a", "answer"),
            ("s", "send"),
            ("k", "kill"),
            ("r", "restore"),
            ("l", "log"),
            ("enter", "attach"),
            ("↑↓", "select"),
        ],
        Mode::ConfirmKill(_) => &[("y", "kill"), ("other", "keep")],
        Mode::Input(_) => &[("enter", "send"), ("esc", "cancel"), ("↑↓", "options")],
        Mode::Log(_) => &[
            ("esc/q", "back"),
            ("↑↓", "scroll"),
            ("pgup/pgdn", "page"),
            ("home/end", "ends"),
        ],
    }
}

fn draw_help(frame: &mut Frame, app: &App, area: Rect, paint: Paint) {
    let keys = help(&app.mode);
    let width = usize::from(area.width);
    // The widest layout that fits: two spaces between items, then one, then fewer items.
    let mut layout = None;
    'fit: for n in (1..=keys.len()).rev() {
        for gap in [2, 1] {
            let used: usize = keys[..n]
                .iter()
                .map(|(k, w)| k.width() + 1 + w.width())
                .sum::<usize>()
                + gap * (n - 1);
            if used <= width {
                layout = Some((n, gap));
                break 'fit;
            }
        }
    }
    let Some((n, gap)) = layout else { return };
    // Shown in the order people read them: select first, quit last.
    let mut order: Vec<&(&str, &str)> = keys[..n].iter().collect();
    if matches!(app.mode, Mode::Normal) {
        order.rotate_left(1);
        if let Some(pos) = order.iter().position(|(k, _)| *k == "↑↓") {
            let select = order.remove(pos);
            order.insert(0, select);
        }
    }
    let mut spans = Vec::new();
    for (i, (key, what)) in order.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(" ".repeat(gap)));
        }
        spans.push(Span::styled(
            *key,
            paint.fg(Color::Cyan).add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::raw(format!(" {what}")));
    }
    frame.render_widget(Line::from(spans), area);
}

#[cfg(test)]
#[path = "draw_tests.rs"]
mod tests;
