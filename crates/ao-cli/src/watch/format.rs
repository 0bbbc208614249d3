//! The pure parts of the dashboard's look: how long a state has lasted, short figures for the
//! table, the exact cost for the detail pane, and which columns fit a width.

use chrono::{DateTime, Utc};

use ao_core::session::{Activity, Tokens};

pub use crate::output::age;

/// The activity cell: the state's own name (the word of `ao status`) and how long it has lasted.
pub fn activity_cell(activity: Activity, since: &str, now: DateTime<Utc>) -> String {
    let age = age(since, now);
    if age.is_empty() {
        activity.as_str().to_string()
    } else {
        format!("{} {age}", activity.as_str())
    }
}

/// Tokens read (input and cache) and written (output and reasoning), as `ao status` counts them.
pub fn tokens_in_out(t: &Tokens) -> (u64, u64) {
    (
        t.input + t.cache_read + t.cache_write,
        t.output + t.reasoning,
    )
}

/// A count in at most five columns: `950`, `12.3k`, `123k`, `1.2M`.
pub fn count_short(n: u64) -> String {
    match n {
        n if n < 1_000 => n.to_string(),
        n if n < 100_000 => trim_point_zero(format!("{:.1}k", n as f64 / 1e3)),
        n if n < 1_000_000 => format!("{}k", n / 1_000),
        n if n < 100_000_000 => trim_point_zero(format!("{:.1}M", n as f64 / 1e6)),
        n => format!("{}M", n / 1_000_000),
    }
}

fn trim_point_zero(s: String) -> String {
    s.replace(".0k", "k").replace(".0M", "M")
}

/// The tokens cell: `in/out`, each short; [`NO_COST`]'s dash when the agent's reports do not
/// add up to what it spent.
pub fn tokens_cell(t: Option<&Tokens>) -> String {
    let Some(t) = t else {
        return NO_COST.to_string();
    };
    let (i, o) = tokens_in_out(t);
    format!("{}/{}", count_short(i), count_short(o))
}

/// Tokens in and out, each in full, or a dash each when they are not known.
pub fn tokens_in_out_text(t: Option<&Tokens>) -> (String, String) {
    match t.map(tokens_in_out) {
        Some((i, o)) => (i.to_string(), o.to_string()),
        None => (NO_COST.to_string(), NO_COST.to_string()),
    }
}

/// What a cost the agent does not report shows: nothing that looks like a figure.
pub const NO_COST: &str = "-";

/// The cost in the table: four decimals, as `ao status` prints it; [`NO_COST`] when the agent
/// reports none.
pub fn cost_short(usd: Option<f64>) -> String {
    usd.map_or_else(|| NO_COST.to_string(), |usd| format!("${usd:.4}"))
}

/// The cost as the agent reported it, to the millionth of a cent and without trailing zeros:
/// `$0.000795`. Eight decimals cover every per-token price there is, and drop the float noise
/// of a sum (`0.0007950000000000001`).
pub fn cost_exact(usd: Option<f64>) -> String {
    let Some(usd) = usd else {
        return NO_COST.to_string();
    };
    let s = format!("{usd:.8}");
    let s = s.trim_end_matches('0');
    let s = s
        .strip_suffix('.')
        .map(|s| format!("{s}.0"))
        .unwrap_or(s.into());
    format!("${s}")
}

/// A column of the session table, in the order they are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// `project/name`.
    Session,
    /// The activity and how long it has lasted.
    Activity,
    /// Whether the runtime's process runs.
    Process,
    /// The agent plugin: only when the sessions shown are of more than one agent.
    Agent,
    /// `provider/model`.
    Model,
    /// Tokens in/out.
    Tokens,
    /// Cost so far.
    Cost,
    /// Where the session's project lives (`local`, an ssh host, a server's `host:port`): only
    /// when some session's project is on another machine, as in `ao status`.
    Host,
    /// The conversation's title: only when there is room to spare.
    Summary,
}

impl Column {
    /// Its header.
    pub fn header(self) -> &'static str {
        match self {
            Column::Session => "SESSION",
            Column::Activity => "ACTIVITY",
            Column::Process => "PROCESS",
            Column::Agent => "AGENT",
            Column::Model => "MODEL",
            Column::Tokens => "TOKENS",
            Column::Cost => "COST",
            Column::Host => "HOST",
            Column::Summary => "SUMMARY",
        }
    }
}

/// Columns between the cells.
pub const SPACING: u16 = 1;
/// Columns the selection marker takes before each row.
pub const MARKER: u16 = 2;

/// `waiting_input 59m`, the widest activity cell of the first day and a half; older ones are cut.
const ACTIVITY_W: u16 = 17;
const PROCESS_W: u16 = 7;
/// `12.3k/4.5k`.
const TOKENS_W: u16 = 11;
/// `$123.4567`.
const COST_W: u16 = 9;
const SESSION_MIN: u16 = 12;
const SESSION_MAX: u16 = 40;
const MODEL_MIN: u16 = 8;
const MODEL_MAX: u16 = 32;
const SUMMARY_MIN: u16 = 12;
/// `acp`, and room for `opencode`; a longer name is cut.
const AGENT_MIN: u16 = 5;
const AGENT_MAX: u16 = 12;
/// `local`, and room for `builder1` or `127.0.0.2:43567`; a longer host is cut.
const HOST_MIN: u16 = 5;
const HOST_MAX: u16 = 24;

/// The columns that fit in `width`, with their widths, given the widest session address, model
/// name, host and agent to show (`host_w` 0: every project is on this machine, and there is no
/// HOST column; `agent_w` 0: every session is of one agent, and there is no AGENT column).
/// Session, activity and cost always show; as the width shrinks the summary goes first, then the
/// model, the process, the agent, the host and the tokens. The widths never add up to more than
/// `width` (less the selection marker), so that no row wraps.
pub fn fit_columns(
    width: u16,
    session_w: usize,
    model_w: usize,
    host_w: usize,
    agent_w: usize,
) -> Vec<(Column, u16)> {
    let want = |w: usize, min: u16, max: u16, header: Column| {
        (w.min(usize::from(max)) as u16)
            .max(min)
            .max(header.header().len() as u16)
    };
    let session_want = want(session_w, SESSION_MIN, SESSION_MAX, Column::Session);
    let model_want = want(model_w, MODEL_MIN, MODEL_MAX, Column::Model);
    let host = (host_w > 0).then(|| want(host_w, HOST_MIN, HOST_MAX, Column::Host));
    let agent = (agent_w > 0).then(|| want(agent_w, AGENT_MIN, AGENT_MAX, Column::Agent));
    let mut optional = vec![Column::Tokens];
    optional.extend(host.map(|_| Column::Host));
    optional.extend(agent.map(|_| Column::Agent));
    optional.extend([Column::Process, Column::Model, Column::Summary]);
    loop {
        let mut cols = vec![
            (Column::Session, SESSION_MIN),
            (Column::Activity, ACTIVITY_W),
        ];
        if optional.contains(&Column::Process) {
            cols.push((Column::Process, PROCESS_W));
        }
        if let Some(w) = agent.filter(|_| optional.contains(&Column::Agent)) {
            cols.push((Column::Agent, w));
        }
        for c in [Column::Model, Column::Tokens] {
            if optional.contains(&c) {
                cols.push((c, fixed_width(c)));
            }
        }
        cols.push((Column::Cost, COST_W));
        if let Some(w) = host.filter(|_| optional.contains(&Column::Host)) {
            cols.push((Column::Host, w));
        }
        if optional.contains(&Column::Summary) {
            cols.push((Column::Summary, SUMMARY_MIN));
        }
        let avail = width.saturating_sub(MARKER);
        let gaps = SPACING * (cols.len() as u16 - 1);
        let used: u16 = cols.iter().map(|(_, w)| w).sum::<u16>() + gaps;
        if used <= avail || optional.is_empty() {
            // Share what is left: the session first, then the model, then the summary.
            let mut spare = avail.saturating_sub(used);
            for (c, target) in [(Column::Session, session_want), (Column::Model, model_want)] {
                if let Some((_, w)) = cols.iter_mut().find(|(col, _)| *col == c) {
                    let more = target.saturating_sub(*w).min(spare);
                    *w += more;
                    spare -= more;
                }
            }
            if let Some((_, w)) = cols.iter_mut().find(|(c, _)| *c == Column::Summary) {
                *w += spare;
            }
            // Too narrow even for the three that always show: the session gives way, then the
            // activity (its age first).
            let mut over = used.saturating_sub(avail);
            for col in &mut cols[..2] {
                let less = over.min(col.1.saturating_sub(1));
                col.1 -= less;
                over -= less;
            }
            return cols;
        }
        optional.pop();
    }
}

fn fixed_width(c: Column) -> u16 {
    match c {
        Column::Process => PROCESS_W,
        Column::Tokens => TOKENS_W,
        Column::Model => MODEL_MIN,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn an_age_is_in_its_largest_whole_unit() {
        let now = at("2025-01-02T12:00:00Z");
        let cases = [
            ("2025-01-02T12:00:00Z", "0s"),
            ("2025-01-02T11:59:48Z", "12s"),
            ("2025-01-02T11:57:00Z", "3m"),
            ("2025-01-02T11:00:01Z", "59m"),
            ("2025-01-02T07:00:00Z", "5h"),
            ("2025-01-01T00:00:00Z", "36h"),
            ("2024-12-29T12:00:00Z", "4d"),
            // Another zone, the same instant.
            ("2025-01-02T13:59:50+02:00", "10s"),
            // A clock a little ahead is not a negative age.
            ("2025-01-02T12:00:05Z", "0s"),
            ("not a time", ""),
        ];
        for (since, want) in cases {
            assert_eq!(age(since, now), want, "{since}");
        }
        assert_eq!(
            activity_cell(Activity::WaitingInput, "2025-01-02T11:57:00Z", now),
            "waiting_input 3m"
        );
        assert_eq!(activity_cell(Activity::Ready, "", now), "ready");
    }

    #[test]
    fn counts_and_costs_are_short_in_the_table_and_exact_in_the_detail() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1_000, "1k"),
            (12_345, "12.3k"),
            (123_456, "123k"),
            (1_234_567, "1.2M"),
            (123_456_789, "123M"),
        ];
        for (n, want) in cases {
            assert_eq!(count_short(n), want);
        }
        assert_eq!(cost_short(Some(0.000795)), "$0.0008");
        assert_eq!(cost_exact(Some(0.000795)), "$0.000795");
        assert_eq!(
            cost_exact(Some(220.0 * 3.0 / 1e6 + 9.0 * 15.0 / 1e6)),
            "$0.000795"
        );
        assert_eq!(cost_exact(Some(0.0)), "$0.0");
        assert_eq!(cost_exact(Some(12.5)), "$12.5");
        // An agent that reports no cost shows no figure.
        assert_eq!(cost_short(None), NO_COST);
        assert_eq!(cost_exact(None), NO_COST);
    }

    fn total(cols: &[(Column, u16)]) -> u16 {
        MARKER + cols.iter().map(|(_, w)| w).sum::<u16>() + SPACING * (cols.len() as u16 - 1)
    }

    #[test]
    fn at_80_columns_every_column_but_the_summary_shows_and_nothing_overflows() {
        let cols = fit_columns(80, 30, 40, 0, 0);
        let names: Vec<Column> = cols.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            names,
            [
                Column::Session,
                Column::Activity,
                Column::Process,
                Column::Model,
                Column::Tokens,
                Column::Cost
            ]
        );
        assert!(total(&cols) <= 80, "{cols:?}");
        for (c, w) in &cols {
            assert!(usize::from(*w) >= c.header().len(), "{c:?} {w}");
        }
    }

    #[test]
    fn narrower_drops_the_model_then_the_process_then_the_tokens_and_wider_adds_the_summary() {
        for width in 20..=200 {
            let cols = fit_columns(width, 24, 20, 0, 0);
            assert!(total(&cols) <= width, "{width}: {cols:?}");
            let has = |c| cols.iter().any(|(col, _)| *col == c);
            assert!(has(Column::Session) && has(Column::Activity) && has(Column::Cost));
            // Lower priorities go before higher ones.
            if has(Column::Summary) {
                assert!(has(Column::Model));
            }
            if has(Column::Model) {
                assert!(has(Column::Process), "{width}");
            }
            if has(Column::Process) {
                assert!(has(Column::Tokens), "{width}");
            }
        }
        assert!(fit_columns(140, 24, 20, 0, 0)
            .iter()
            .any(|(c, _)| *c == Column::Summary));
        assert!(!fit_columns(60, 24, 20, 0, 0)
            .iter()
            .any(|(c, _)| *c == Column::Model));
    }

    #[test]
    fn a_host_column_shows_only_for_remote_projects_and_goes_before_the_tokens() {
        assert!(!fit_columns(200, 24, 20, 0, 0)
            .iter()
            .any(|(c, _)| *c == Column::Host));
        let cols = fit_columns(80, 24, 20, "127.0.0.2:43567".len(), 0);
        assert!(total(&cols) <= 80, "{cols:?}");
        assert!(
            cols.contains(&(Column::Host, 15)) && cols.iter().any(|(c, _)| *c == Column::Tokens),
            "{cols:?}"
        );
        for width in 20..=200 {
            let cols = fit_columns(width, 24, 20, 15, 0);
            assert!(total(&cols) <= width, "{width}: {cols:?}");
            let has = |c| cols.iter().any(|(col, _)| *col == c);
            if has(Column::Process) {
                assert!(has(Column::Host), "{width}");
            }
            if has(Column::Host) {
                assert!(has(Column::Tokens), "{width}");
            }
        }
    }

    #[test]
    fn an_agent_column_shows_only_for_sessions_of_several_agents_and_goes_after_the_process() {
        assert!(!fit_columns(200, 24, 20, 0, 0)
            .iter()
            .any(|(c, _)| *c == Column::Agent));
        let cols = fit_columns(100, 24, 20, 0, "opencode".len());
        assert!(total(&cols) <= 100, "{cols:?}");
        let names: Vec<Column> = cols.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            names[..5],
            [
                Column::Session,
                Column::Activity,
                Column::Process,
                Column::Agent,
                Column::Model
            ]
        );
        assert!(cols.contains(&(Column::Agent, 8)), "{cols:?}");
        for width in 20..=200 {
            let cols = fit_columns(width, 24, 20, 15, 8);
            assert!(total(&cols) <= width, "{width}: {cols:?}");
            let has = |c| cols.iter().any(|(col, _)| *col == c);
            if has(Column::Process) {
                assert!(has(Column::Agent), "{width}");
            }
            if has(Column::Agent) {
                assert!(has(Column::Host), "{width}");
            }
        }
    }
}
