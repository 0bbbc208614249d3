//! The hidden `ao pane-view <address>`: ao's own live view of a session, what the pane of a lazy
//! tmux session runs (`tmux: {tui: lazy}`), and the hidden `ao tmux-hook`, which tmux runs when a
//! client detaches from one.
//!
//! The view is small on purpose (one `ao` process, no ratatui): at the top the session's state, then
//! the conversation as `ao logs` renders it ([`crate::commands::logs::write_entry`]), the tail that fits,
//! then each pending request with the `ao` commands that answer it, and a hint: `t` opens the
//! agent's TUI in the session's window, as `ao attach` does from any terminal. It never answers
//! anything itself. It follows the session's change feed (`SessionManager::changes`, as `ao logs
//! -f` does), reads the status and the conversation after each burst of changes, and otherwise
//! only wakes on its slow period, when it also closes a TUI that nobody has looked at for a while.
//! It writes only the lines that changed, so an idle view costs tmux nothing. Keys come from
//! crossterm in raw mode; Ctrl-C is a key like any other here, since the view ending would end the
//! session's pane. SIGTERM and SIGHUP (the session killed, its tmux server gone) end it.

use std::io::{self, Write};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use crossterm::cursor::{Hide, MoveTo, Show};
use crossterm::event::{Event, EventStream, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, Clear, ClearType};
use crossterm::QueueableCommand;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use tokio::signal::unix::{signal, SignalKind};
use unicode_width::UnicodeWidthChar;

use ao_core::manager::{SessionManager, UNWATCHED_TUI_GRACE};
use ao_core::runtime::tmux::TuiOpened;
use ao_core::runtime::TmuxRuntime;
use ao_core::session::{Lifecycle, PendingKind, SessionStatus};
use ao_core::target::Target;
use ao_core::transcript::TranscriptEntry;
use ao_core::visible::visible_line;

use crate::commands::logs::write_entry;
use crate::watch::format::{activity_cell, cost_short, tokens_cell};

/// The key that opens the agent's TUI.
const TUI_KEY: char = 't';
/// How long a burst of changes is gathered before one look.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// The slow period: a look (the age of `ready` turns `idle`), and the unwatched TUI closed.
const PERIOD: Duration = Duration::from_secs(15);
/// How often a session that is not live yet (spawning, restoring) is looked at.
const STARTING_PERIOD: Duration = Duration::from_secs(1);
/// The longest wait before a change feed that is down is tried again.
const FEED_BACKOFF_MAX: Duration = Duration::from_secs(10);

/// `ao tmux-hook`: a client detached from a lazy session; a TUI nobody looks at any more goes.
pub async fn tmux_hook(socket: Option<String>) -> anyhow::Result<()> {
    ao_core::blocking::unblock(move || TmuxRuntime::new(socket).close_unwatched_tuis()).await?;
    Ok(())
}

/// What the view shows.
#[derive(Default)]
struct View {
    address: String,
    agent: String,
    status: Option<SessionStatus>,
    entries: Vec<TranscriptEntry>,
    /// A line for what the view itself is doing or failed to do.
    note: String,
}

/// `ao pane-view <address>`: runs until SIGTERM or SIGHUP.
pub async fn run(mgr: SessionManager, address: &Target) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let mut screen = Screen::enter().context("cannot take over the pane")?;
    let mut keys = EventStream::new();
    let mut view = View {
        address: address.to_string(),
        ..View::default()
    };
    let mut feed: Option<BoxStream<'static, ()>> = None;
    let mut feed_backoff = Duration::from_secs(1);
    let mut next_feed_try = tokio::time::Instant::now();
    let mut live = false;
    // The view records what it sees but starts nothing as it goes: its project's monitor, if it
    // died, is started again here, once, as `ao status` would.
    mgr.ensure_monitors_of(address).await;
    look(&mgr, address, &mut view, &mut live).await;
    loop {
        screen.draw(&view)?;
        if feed.is_none() && tokio::time::Instant::now() >= next_feed_try {
            if let Ok(rec) = mgr.resolve_one(address).await {
                feed = mgr.changes(&rec).await;
            }
            if feed.is_some() {
                feed_backoff = Duration::from_secs(1);
                // Whatever happened while it was down.
                look(&mgr, address, &mut view, &mut live).await;
                screen.draw(&view)?;
            } else {
                next_feed_try = tokio::time::Instant::now() + feed_backoff;
                feed_backoff = (feed_backoff * 2).min(FEED_BACKOFF_MAX);
            }
        }
        let period = if live { PERIOD } else { STARTING_PERIOD };
        let wait = match &feed {
            Some(_) => period,
            None => {
                period.min(next_feed_try.saturating_duration_since(tokio::time::Instant::now()))
            }
        };
        let changed = async {
            match feed.as_mut() {
                Some(f) => f.next().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = terminate.recv() => break,
            _ = hangup.recv() => break,
            change = changed => match change {
                Some(()) => {
                    // A burst of changes is one look.
                    let gather = tokio::time::sleep(DEBOUNCE);
                    tokio::pin!(gather);
                    loop {
                        tokio::select! {
                            _ = &mut gather => break,
                            more = async { feed.as_mut()?.next().await } => if more.is_none() {
                                feed = None;
                                break;
                            },
                        }
                    }
                    look(&mgr, address, &mut view, &mut live).await;
                }
                None => {
                    feed = None;
                    look(&mgr, address, &mut view, &mut live).await;
                }
            },
            key = keys.next() => match key {
                Some(Ok(Event::Key(k))) if k.kind == KeyEventKind::Press => {
                    if k.code == KeyCode::Char(TUI_KEY) && k.modifiers.difference(KeyModifiers::SHIFT).is_empty() {
                        open_tui(&mgr, address, &mut view, &mut screen).await?;
                    }
                }
                Some(Ok(Event::Resize(..))) => screen.forget(),
                Some(Ok(_)) => {}
                // No terminal to read keys from any more: the view still shows.
                Some(Err(_)) | None => keys = EventStream::new(),
            },
            _ = tokio::time::sleep(wait) => {
                look(&mgr, address, &mut view, &mut live).await;
                if let Ok(rec) = mgr.resolve_one(address).await {
                    mgr.close_unwatched_tui(&rec, UNWATCHED_TUI_GRACE).await;
                }
            }
        }
    }
    drop(screen);
    Ok(())
}

/// Reads the session's record, status and conversation into the view.
async fn look(mgr: &SessionManager, target: &Target, view: &mut View, live: &mut bool) {
    let rec = match mgr.resolve_one(target).await {
        Ok(rec) => rec,
        Err(e) => {
            view.note = format!("cannot read the session: {e}");
            return;
        }
    };
    *live = rec.lifecycle == Lifecycle::Live;
    view.agent = rec.agent.clone();
    match mgr.status_of(std::slice::from_ref(&rec)).await {
        Ok(mut s) => view.status = s.pop().map(|s| s.to_status()),
        Err(e) => view.note = format!("cannot read the status: {e}"),
    }
    // While the server is away the conversation read before stays on screen; the state says why.
    if let Ok(entries) = mgr.transcript(&rec).await {
        view.entries = entries;
    }
}

/// The key: the agent's TUI in the session's window, shown to the clients attached.
async fn open_tui(
    mgr: &SessionManager,
    target: &Target,
    view: &mut View,
    screen: &mut Screen,
) -> io::Result<()> {
    view.note = format!("opening {}'s TUI…", view.agent);
    screen.draw(view)?;
    view.note = match mgr.open_tui(target).await {
        Ok(TuiOpened::Shown) | Ok(TuiOpened::Closed) => String::new(),
        Ok(TuiOpened::NotLazy) => "this session's pane runs the TUI itself".into(),
        Err(e) => format!("{e:#}"),
    };
    Ok(())
}

/// The view's lines for a pane of `width` x `height`.
fn render(view: &View, width: usize, height: usize, now: DateTime<Utc>) -> Vec<String> {
    let rule = "─".repeat(width);
    let mut top = vec![header(view, now)];
    if let Some(err) = view.status.as_ref().and_then(|s| s.error.as_ref()) {
        top.push(format!("  {}: {}", err.why, err.message));
    }
    top.push(rule.clone());
    let mut bottom = Vec::new();
    if let Some(s) = &view.status {
        for block in pending_blocks(s) {
            bottom.push(rule.clone());
            bottom.extend(block);
        }
    }
    bottom.push(rule);
    if !view.note.is_empty() {
        bottom.push(view.note.clone());
    }
    bottom.push(format!(
        "{TUI_KEY}: open {}'s TUI here · from any terminal: ao attach {}",
        view.agent, view.address
    ));
    let mut text = Vec::new();
    for e in &view.entries {
        let _ = write_entry(&mut text, e);
    }
    let text = String::from_utf8_lossy(&text);
    let conversation: Vec<String> = text.lines().flat_map(|l| wrap(l, width)).collect();
    let room = height.saturating_sub(top.len() + bottom.len());
    let skip = conversation.len().saturating_sub(room);
    // The header, the requests and the note hold the agent's text (a summary, a title, an
    // error): what would steer the terminal shows as escapes. The conversation is escaped by
    // `write_entry`.
    let mut lines: Vec<String> = top
        .into_iter()
        .map(|l| cut(&visible_line(&l), width))
        .collect();
    lines.extend(conversation.into_iter().skip(skip));
    lines.resize(
        height.saturating_sub(bottom.len()).max(lines.len()),
        String::new(),
    );
    lines.extend(
        bottom
            .into_iter()
            .flat_map(|l| wrap(&visible_line(&l), width)),
    );
    let first = lines.len().saturating_sub(height);
    lines.split_off(first)
}

/// The top line: the session, its state and for how long, its cost, tokens and model, and its
/// summary when there is room.
fn header(view: &View, now: DateTime<Utc>) -> String {
    let Some(s) = &view.status else {
        return view.address.clone();
    };
    let mut parts = vec![
        view.address.clone(),
        activity_cell(s.activity, s.activity_since.as_deref().unwrap_or(""), now),
        cost_short(s.cost_usd),
        format!("tokens {}", tokens_cell(s.tokens.as_ref())),
    ];
    if s.stale {
        parts[1].push_str(" (stale)");
    }
    parts.extend(s.model.clone());
    parts.extend(s.summary.clone());
    parts.join(" · ")
}

/// One block per pending request: what it asks and the commands that answer it.
fn pending_blocks(s: &SessionStatus) -> Vec<Vec<String>> {
    let count = |kind: PendingKind| s.pending.iter().filter(|p| p.kind == kind).count();
    s.pending
        .iter()
        .map(|p| match p.kind {
            PendingKind::Permission => {
                let target = if count(PendingKind::Permission) > 1 {
                    format!("{} {}", s.id, p.id)
                } else {
                    s.id.clone()
                };
                vec![
                    format!("permission asked: {}", p.title),
                    format!("  allow once:   ao permit {target}"),
                    format!("  allow always: ao permit {target} --always"),
                    format!("  reject:       ao permit {target} --reject"),
                ]
            }
            PendingKind::Question => {
                let target = if count(PendingKind::Question) > 1 {
                    format!("{} --request {}", s.id, p.id)
                } else {
                    s.id.clone()
                };
                let mut lines = vec![format!("question asked: {}", p.title)];
                for q in &p.questions {
                    if q.options.is_empty() {
                        lines.push(format!("  {}", q.question));
                    } else {
                        lines.push(format!("  {} [{}]", q.question, q.options.join(", ")));
                    }
                }
                let answers = if p.questions.len() > 1 {
                    "ANSWER…"
                } else {
                    "ANSWER"
                };
                lines.push(format!("  answer:  ao answer {target} {answers}"));
                lines.push(format!("  dismiss: ao answer {target} --reject"));
                lines
            }
        })
        .collect()
}

/// `line` cut into pieces of at most `width` columns (at least one, possibly empty).
fn wrap(line: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut piece = String::new();
    let mut used = 0;
    for c in line.chars() {
        // A tab would move the cursor on by a width the view does not know.
        let c = if c == '\t' { ' ' } else { c };
        if c.is_control() {
            continue;
        }
        let w = c.width().unwrap_or(0);
        if used + w > width {
            out.push(std::mem::take(&mut piece));
            used = 0;
        }
        piece.push(c);
        used += w;
    }
    out.push(piece);
    out
}

/// The first piece of `line` that fits `width` columns.
fn cut(line: &str, width: usize) -> String {
    wrap(line, width).swap_remove(0)
}

/// The pane, held in raw mode with the cursor hidden; given back when dropped.
struct Screen {
    /// What each line shows now, so that only changed lines are written.
    shown: Vec<String>,
}

impl Screen {
    fn enter() -> io::Result<Screen> {
        enable_raw_mode()?;
        let mut out = io::stdout();
        out.queue(Hide)?.queue(Clear(ClearType::All))?;
        out.flush()?;
        Ok(Screen { shown: Vec::new() })
    }

    /// Forgets what is shown (the pane was resized): the next draw writes every line.
    fn forget(&mut self) {
        self.shown.clear();
        let _ = io::stdout().queue(Clear(ClearType::All)).map(|o| o.flush());
    }

    fn draw(&mut self, view: &View) -> io::Result<()> {
        let (w, h) = crossterm::terminal::size().unwrap_or((80, 24));
        let lines = render(view, usize::from(w), usize::from(h), Utc::now());
        let mut out = io::stdout().lock();
        for (i, line) in lines.iter().enumerate() {
            if self.shown.get(i) == Some(line) {
                continue;
            }
            out.queue(MoveTo(0, i as u16))?
                .queue(crossterm::style::Print(line))?
                .queue(Clear(ClearType::UntilNewLine))?;
        }
        if self.shown.len() > lines.len() {
            out.queue(MoveTo(0, lines.len() as u16))?
                .queue(Clear(ClearType::FromCursorDown))?;
        }
        out.flush()?;
        self.shown = lines;
        Ok(())
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        let _ = disable_raw_mode();
        let _ = crossterm::execute!(io::stdout(), Show);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ao_core::session::{PendingQuestion, PendingRequest};

    fn status(pending: Vec<PendingRequest>) -> SessionStatus {
        let mut s = crate::watch::fixtures::session(
            "demo/agent-1",
            ao_core::session::Activity::WaitingInput,
            "2025-01-01T00:00:00Z",
        )
        .status;
        s.pending = pending;
        s
    }

    #[test]
    fn a_pending_permission_shows_the_commands_that_answer_it() {
        let view = View {
            address: "demo/agent-1".into(),
            agent: "opencode".into(),
            status: Some(status(vec![PendingRequest {
                kind: PendingKind::Permission,
                id: "per_1".into(),
                title: "bash: echo hi > out.txt".into(),
                from_session: None,
                tool: Some("bash".into()),
                options: Vec::new(),
                questions: vec![],
            }])),
            entries: vec![],
            note: String::new(),
        };
        let lines = render(&view, 80, 24, Utc::now());
        assert_eq!(lines.len(), 24);
        let text = lines.join("\n");
        assert!(
            text.contains("permission asked: bash: echo hi > out.txt"),
            "{text}"
        );
        assert!(text.contains("ao permit demo/agent-1 --reject"), "{text}");
        assert!(lines[23].contains("t: open opencode's TUI"), "{text}");
        assert!(lines.iter().all(|l| l.chars().count() <= 80));
    }

    #[test]
    fn two_questions_name_their_requests_and_the_conversation_keeps_its_tail() {
        let q = |id: &str| PendingRequest {
            kind: PendingKind::Question,
            id: id.into(),
            title: "Which colour?".into(),
            from_session: None,
            tool: None,
            options: Vec::new(),
            questions: vec![PendingQuestion {
                question: "Which colour?".into(),
                options: vec!["red".into(), "blue".into()],
            }],
        };
        let entries: Vec<TranscriptEntry> = (0..100)
            .map(|i| TranscriptEntry {
                id: format!("p{i}"),
                at: 0,
                kind: ao_core::transcript::EntryKind::Assistant {
                    text: format!("line {i}"),
                },
            })
            .collect();
        let view = View {
            address: "demo/agent-1".into(),
            agent: "opencode".into(),
            status: Some(status(vec![q("que_1"), q("que_2")])),
            entries,
            note: String::new(),
        };
        let lines = render(&view, 60, 30, Utc::now());
        let text = lines.join("\n");
        assert!(
            text.contains("ao answer demo/agent-1 --request que_2 ANSWER"),
            "{text}"
        );
        assert!(text.contains("Which colour? [red, blue]"), "{text}");
        assert!(text.contains("line 99"), "{text}");
        assert!(!text.contains("line 0\n"), "{text}");
    }

    #[test]
    fn wide_characters_wrap_within_the_width() {
        assert_eq!(wrap("ab日本", 4), vec!["ab日", "本"]);
        assert_eq!(wrap("", 4), vec![""]);
        assert_eq!(cut("a\tb", 10), "a b");
    }
}
