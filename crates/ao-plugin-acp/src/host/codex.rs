//! What the host reads of Codex that its ACP adapter does not say plainly: its exact tokens, and
//! the provider's message in a failed prompt.
//!
//! Tokens:
//! codex-acp (measured 0.16.0) answers a prompt with no `usage`, and its `usage_update`s carry
//! only the context window's fill and size. Codex itself writes every model reply's usage to its
//! rollout file, `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<session id>.jsonl`: a line
//! `{"type": "event_msg", "payload": {"type": "token_count", "info": {"total_token_usage": ...}}}`
//! whose `total_token_usage` is the whole conversation's sum (a loaded session carries it on).
//! Each turn is a Codex task: `task_started`, then `task_complete` or `turn_aborted`. The host
//! keeps a [`RolloutReader`] per session, which reads only what was appended since its last read.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ao_agent::session::Tokens;
use serde::Deserialize;

use crate::record::AgentIdentity;

/// The name codex-acp gives itself in `initialize`'s `agentInfo`.
const CODEX_ACP: &str = "codex-acp";

/// How long to wait, after a turn's answer, for Codex to write the turn's end to its rollout
/// file: it writes the file from a task of its own, which may lag the answer (more so on a busy
/// machine). The host keeps serving while it waits.
const WRITE_LAG: Duration = Duration::from_secs(10);

/// How long to look for a rollout file that is not there yet while Codex's sessions directory
/// is (a new session's file may come with its first turn's lines). Without that directory the
/// host does not wait at all.
const NO_FILE_GRACE: Duration = Duration::from_secs(1);

/// How often to look again while waiting.
const POLL: Duration = Duration::from_millis(25);

/// At most this many characters of a provider's message are shown.
const MESSAGE_CHARS: usize = 300;

/// Whether `agent` is codex-acp, whose tokens come from its rollout file.
pub fn is_codex(agent: Option<&AgentIdentity>) -> bool {
    agent.is_some_and(|a| a.name == CODEX_ACP)
}

/// Codex's home: `CODEX_HOME` from the agent's configured environment, else the host's own
/// (which the agent inherits), else `~/.codex`. A relative `CODEX_HOME` is the agent's, so it is
/// taken from the agent's working directory `cwd`.
pub fn codex_home(env: &BTreeMap<String, String>, cwd: &Path) -> Option<PathBuf> {
    let configured = env
        .get("CODEX_HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("CODEX_HOME")
                .filter(|h| !h.is_empty())
                .map(PathBuf::from)
        });
    if let Some(home) = configured {
        return Some(cwd.join(home));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).join(".codex"))
}

/// The entries of `dir`, newest name first (Codex's dated directories sort by name).
fn names_newest_first(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(_) => Vec::new(),
    };
    paths.sort();
    paths.reverse();
    paths
}

/// The session id a rollout file's name holds: `rollout-<time>-<id>.jsonl`, where the time is
/// `YYYY-MM-DDThh-mm-ss` (19 characters).
fn rollout_of(name: &str) -> Option<&str> {
    const TIME: usize = "2026-12-06T15-10-42".len();
    let rest = name.strip_prefix("rollout-")?.strip_suffix(".jsonl")?;
    let (at, _) = rest.char_indices().nth(TIME)?;
    let (_, id) = rest.split_at(at);
    id.strip_prefix('-')
}

/// The rollout file of Codex's session `session_id` under `codex_home`, newest day first.
pub fn find_rollout(codex_home: &Path, session_id: &str) -> Option<PathBuf> {
    for year in names_newest_first(&codex_home.join("sessions")) {
        for month in names_newest_first(&year) {
            for day in names_newest_first(&month) {
                let found = names_newest_first(&day).into_iter().find(|file| {
                    file.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| rollout_of(n) == Some(session_id))
                });
                if found.is_some() {
                    return found;
                }
            }
        }
    }
    None
}

/// A rollout line, as far as the host needs it: its kind, and the payload left unread until the
/// kind says it matters.
#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: serde_json::Value,
}

#[derive(Deserialize)]
struct Info {
    total_token_usage: CodexUsage,
}

/// Codex's token usage: input counts the cached tokens, output the reasoning ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
struct CodexUsage {
    input_tokens: u64,
    #[serde(default)]
    cached_input_tokens: u64,
    output_tokens: u64,
    #[serde(default)]
    reasoning_output_tokens: u64,
}

impl CodexUsage {
    /// As ao counts: input without the cached tokens, output without the reasoning ones.
    fn tokens(&self) -> Tokens {
        Tokens {
            input: self.input_tokens.saturating_sub(self.cached_input_tokens),
            output: self
                .output_tokens
                .saturating_sub(self.reasoning_output_tokens),
            reasoning: self.reasoning_output_tokens,
            cache_read: self.cached_input_tokens,
            cache_write: 0,
        }
    }
}

/// What a rollout file says so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rollout {
    /// The conversation's tokens by the last `token_count` (zero before the first).
    pub tokens: Tokens,
    /// Whether `tokens` is still the whole sum. It is not after an aborted task (Codex never
    /// counts the reply it was acting on, though the provider was paid for it), after a task cut
    /// without an end (a `task_started` while another task is open: the process was killed or
    /// crashed mid-turn), or after a `token_count` the host cannot read.
    pub whole: bool,
    /// Whether a task has started and not ended.
    pub task_open: bool,
    /// `task_started` lines so far.
    pub tasks_started: u64,
}

impl Default for Rollout {
    fn default() -> Rollout {
        Rollout {
            tokens: Tokens::default(),
            whole: true,
            task_open: false,
            tasks_started: 0,
        }
    }
}

impl Rollout {
    /// Takes in one whole line of the file (without its newline).
    fn line(&mut self, line: &[u8]) {
        // Most lines are the conversation's items, some large: only events matter here.
        if !contains(line, b"event_msg") {
            return;
        }
        let Ok(Line { kind, payload }) = serde_json::from_slice::<Line>(line) else {
            // A whole line that is no JSON: harmless unless it was a count.
            if contains(line, b"token_count") {
                self.whole = false;
            }
            return;
        };
        if kind != "event_msg" {
            return;
        }
        match payload.get("type").and_then(|t| t.as_str()) {
            Some("task_started") => {
                if self.task_open {
                    // The open task never ended: its last reply's tokens are in no count.
                    self.whole = false;
                }
                self.task_open = true;
                self.tasks_started += 1;
            }
            Some("task_complete") => self.task_open = false,
            Some("turn_aborted") => {
                self.task_open = false;
                self.whole = false;
            }
            Some("token_count") => match payload.get("info") {
                None | Some(serde_json::Value::Null) => {}
                Some(info) => match Info::deserialize(info) {
                    Ok(info) => self.tokens = info.total_token_usage.tokens(),
                    // A shape this host does not know (a newer Codex): the sum is no longer known.
                    Err(_) => self.whole = false,
                },
            },
            _ => {}
        }
    }

    /// Reads the whole lines of `reader` into what the file says; returns the bytes taken. A last
    /// line without its newline (being written) is left for the next read.
    pub fn read(&mut self, mut reader: impl BufRead) -> io::Result<u64> {
        let mut taken = 0u64;
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || line.last() != Some(&b'\n') {
                return Ok(taken);
            }
            taken += n as u64;
            line.pop();
            self.line(&line);
        }
    }
}

/// Whether `needle` occurs in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Where a turn stands in the rollout file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// There is no rollout file (yet), and no reason to look again.
    NoFile,
    /// The turn's task is not (wholly) written yet.
    Writing,
    /// The turn's task has ended: the conversation's tokens, `None` when not known.
    Ended(Option<Tokens>),
}

/// One session's rollout file, read a piece at a time: the file found once, and how far it has
/// been read. Blocking (file reads): use it off the async threads.
#[derive(Debug, Clone)]
pub struct RolloutReader {
    home: PathBuf,
    session_id: String,
    path: Option<PathBuf>,
    offset: u64,
    rollout: Rollout,
    /// `rollout.tasks_started` when the running turn was sent: its task is a later one.
    turn_from: u64,
}

impl RolloutReader {
    /// A reader of `session_id`'s rollout under `home`, having read what the file holds already
    /// (a loaded session's earlier turns: their aborts and cut tasks count).
    pub fn open(home: PathBuf, session_id: String) -> RolloutReader {
        let mut reader = RolloutReader {
            home,
            session_id,
            path: None,
            offset: 0,
            rollout: Rollout::default(),
            turn_from: 0,
        };
        // A failed read leaves the offset where the last whole line ended: the next read retries.
        let _ = reader.read_appended();
        reader
    }

    /// Reads what was appended since the last read (finding the file first if need be); `false`
    /// when there is no file yet.
    fn read_appended(&mut self) -> io::Result<bool> {
        if self.path.is_none() {
            self.path = find_rollout(&self.home, &self.session_id);
        }
        let Some(path) = &self.path else {
            return Ok(false);
        };
        let mut file = fs::File::open(path)?;
        file.seek(SeekFrom::Start(self.offset))?;
        let taken = self.rollout.read(BufReader::new(file))?;
        self.offset += taken;
        Ok(true)
    }

    /// Marks the point where a turn is sent: only a task that starts after it is that turn's.
    pub fn turn_sent(&mut self) {
        let _ = self.read_appended();
        self.turn_from = self.rollout.tasks_started;
    }

    /// Where the turn sent last stands. `may_wait_for_file`: whether a missing file may still
    /// come (else it is [`Progress::NoFile`] at once).
    pub fn poll(&mut self, may_wait_for_file: bool) -> Progress {
        match self.read_appended() {
            Ok(true) => {}
            Ok(false) if may_wait_for_file && self.home.join("sessions").is_dir() => {
                return Progress::Writing
            }
            Ok(false) => return Progress::NoFile,
            // Unreadable now (replaced, say): this turn's figures are not known.
            Err(_) => return Progress::Ended(None),
        }
        let r = &self.rollout;
        if r.tasks_started > self.turn_from && !r.task_open {
            Progress::Ended(Some(r.tokens).filter(|_| r.whole))
        } else {
            Progress::Writing
        }
    }
}

/// The conversation's tokens once the turn sent last has ended in the rollout file, waiting (up
/// to [`WRITE_LAG`]) for Codex to write it; `None` when there is no file, when the turn's end is
/// not written in time, or when the sum is not whole. Async, and sleeps between reads on the
/// async timer: the host keeps serving while this runs. The reader comes back for the next turn.
pub async fn after_turn(reader: RolloutReader) -> (RolloutReader, Option<Tokens>) {
    let started = Instant::now();
    let mut reader = reader;
    loop {
        let may_wait_for_file = started.elapsed() < NO_FILE_GRACE;
        let (back, progress) = ao_agent::blocking::unblock(move || {
            let progress = reader.poll(may_wait_for_file);
            (reader, progress)
        })
        .await;
        reader = back;
        match progress {
            Progress::Ended(tokens) => return (reader, tokens),
            Progress::NoFile => return (reader, None),
            // Not written yet: unknown after the deadline rather than short.
            Progress::Writing if started.elapsed() >= WRITE_LAG => return (reader, None),
            Progress::Writing => tokio::time::sleep(POLL).await,
        }
    }
}

/// The words of a failed prompt for people: for Codex, the provider's message. codex-acp answers
/// `{"code": -32603, "message": "Internal error", "data": {"message": <the provider's reply body>,
/// "codex_error_info": ...}}`, the body being OpenAI's error JSON (`{"error": {"message": ...}}`)
/// or plain words (a gateway's HTML page, say): its first line, cut to [`MESSAGE_CHARS`]. Any
/// other agent's error keeps its own message.
pub fn error_message(
    agent: Option<&AgentIdentity>,
    error: &agent_client_protocol::Error,
) -> String {
    let said = error
        .data
        .as_ref()
        .and_then(|data| data.get("message"))
        .and_then(|m| m.as_str())
        .filter(|m| is_codex(agent) && !m.trim().is_empty());
    let Some(said) = said else {
        return error.message.clone();
    };
    let provider = serde_json::from_str::<serde_json::Value>(said)
        .ok()
        .and_then(|body| body.pointer("/error/message")?.as_str().map(str::to_owned));
    let message = provider.unwrap_or_else(|| said.to_string());
    let first = message
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or_default();
    super::fold::cut(first, MESSAGE_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STARTED: &str =
        r#"{"timestamp":"t","type":"event_msg","payload":{"type":"task_started","turn_id":"a"}}"#;
    const COMPLETE: &str =
        r#"{"timestamp":"t","type":"event_msg","payload":{"type":"task_complete","turn_id":"a"}}"#;
    const ABORTED: &str = r#"{"timestamp":"t","type":"event_msg","payload":{"type":"turn_aborted","reason":"interrupted"}}"#;

    /// A `token_count` line whose sum is `input`/`output` (nothing cached, no reasoning).
    fn count(input: u64, output: u64) -> String {
        format!(
            r#"{{"timestamp":"t","type":"event_msg","payload":{{"type":"token_count","info":{{"total_token_usage":{{"input_tokens":{input},"cached_input_tokens":0,"output_tokens":{output},"reasoning_output_tokens":0,"total_tokens":{}}},"model_context_window":258400}},"rate_limits":null}}}}"#,
            input + output
        )
    }

    const TURN: &str = r#"{"timestamp":"t","type":"session_meta","payload":{"id":"s1"}}
{"timestamp":"t","type":"event_msg","payload":{"type":"task_started","turn_id":"a"}}
{"timestamp":"t","type":"response_item","payload":{"type":"message","role":"user","content":[]}}
{"timestamp":"t","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":120,"cached_input_tokens":0,"output_tokens":9,"reasoning_output_tokens":0,"total_tokens":129},"last_token_usage":{"input_tokens":120,"cached_input_tokens":0,"output_tokens":9,"reasoning_output_tokens":0,"total_tokens":129},"model_context_window":258400},"rate_limits":null}}
{"timestamp":"t","type":"event_msg","payload":{"type":"token_count","info":null,"rate_limits":{}}}
{"timestamp":"t","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":250,"cached_input_tokens":100,"output_tokens":12,"reasoning_output_tokens":2,"total_tokens":262}}}}
"#;

    fn read(text: &str) -> Rollout {
        let mut rollout = Rollout::default();
        rollout.read(text.as_bytes()).expect("read");
        rollout
    }

    /// A Codex home with session `s1`'s rollout file holding `text`; its path.
    fn home_with(text: &str) -> (tempfile::TempDir, PathBuf) {
        let home = tempfile::tempdir().expect("tempdir");
        let day = home.path().join("sessions/2026/12/06");
        fs::create_dir_all(&day).expect("mkdir");
        let file = day.join("rollout-2026-12-06T10-00-00-s1.jsonl");
        fs::write(&file, text).expect("write");
        (home, file)
    }

    fn append(file: &Path, text: &str) {
        use std::io::Write as _;
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(file)
            .expect("open");
        f.write_all(text.as_bytes()).expect("append");
    }

    #[test]
    fn the_last_total_counts_as_ao_counts() {
        let rollout = read(TURN);
        assert!(rollout.task_open, "no task_complete yet");
        assert!(rollout.whole);
        assert_eq!(
            rollout.tokens,
            Tokens {
                input: 150,
                output: 10,
                reasoning: 2,
                cache_read: 100,
                cache_write: 0
            }
        );
        let ended = read(&format!("{TURN}{COMPLETE}\n"));
        assert!(!ended.task_open && ended.whole && ended.tasks_started == 1);
        let aborted = read(&format!("{TURN}{ABORTED}\n"));
        assert!(!aborted.task_open && !aborted.whole);
        assert_eq!(read(""), Rollout::default());
    }

    #[test]
    fn a_task_started_while_another_is_open_was_cut_and_the_sum_is_unknown() {
        // Killed mid-turn (no turn_aborted), loaded again, one more turn: the cut reply's
        // tokens are in no count, so the last total is short.
        let cut = format!("{STARTED}\n{STARTED}\n{}\n{COMPLETE}\n", count(60, 2));
        let rollout = read(&cut);
        assert!(!rollout.whole && !rollout.task_open);
        assert_eq!(rollout.tasks_started, 2);
        // Turns one after the other are whole.
        let fine = format!(
            "{STARTED}\n{}\n{COMPLETE}\n{STARTED}\n{}\n{COMPLETE}\n",
            count(50, 5),
            count(110, 7)
        );
        assert!(read(&fine).whole);
        assert_eq!(read(&fine).tokens.input, 110);
    }

    #[test]
    fn a_count_that_cannot_be_read_makes_the_sum_unknown() {
        let renamed =
            r#"{"type":"event_msg","payload":{"type":"token_count","info":{"total":{"in":5}}}}"#;
        let rollout = read(&format!(
            "{STARTED}\n{}\n{renamed}\n{COMPLETE}\n",
            count(5, 1)
        ));
        assert!(!rollout.whole);
        let broken = r#"{"type":"event_msg","payload":{"type":"token_count","info":{"#;
        assert!(!read(&format!("{STARTED}\n{broken}\n{COMPLETE}\n")).whole);
        // A count without info (rate limits only) and lines of other kinds are fine.
        let other =
            "{\"type\":\"response_item\",\"payload\":{\"text\":\"token_count\"}}\nnot json\n";
        assert!(read(&format!("{TURN}{other}{COMPLETE}\n")).whole);
    }

    #[test]
    fn a_last_line_being_written_is_left_for_the_next_read() {
        let whole = format!("{STARTED}\n{}\n", count(5, 1));
        let half = &COMPLETE[..20];
        let mut rollout = Rollout::default();
        let taken = rollout
            .read(format!("{whole}{half}").as_bytes())
            .expect("read");
        assert_eq!(taken, whole.len() as u64);
        assert!(
            rollout.task_open && rollout.whole,
            "half a line is not a broken one"
        );
    }

    #[test]
    fn the_reader_reads_only_what_was_appended_and_waits_for_this_turn_s_task() {
        // A loaded session's earlier turn, read whole when the host starts.
        let first = format!("{STARTED}\n{}\n{COMPLETE}\n", count(110, 7));
        let (home, file) = home_with(&first);
        let mut reader = RolloutReader::open(home.path().to_path_buf(), "s1".into());
        assert_eq!(reader.offset, first.len() as u64);
        assert_eq!(reader.rollout.tokens.input, 110);
        reader.turn_sent();
        // Codex's writer lags the answer: the file still ends with the previous turn.
        assert_eq!(reader.poll(true), Progress::Writing);
        append(&file, &format!("{STARTED}\n{}\n", count(240, 16)));
        assert_eq!(
            reader.poll(true),
            Progress::Writing,
            "the task has not ended"
        );
        append(&file, &COMPLETE[..30]);
        assert_eq!(reader.poll(true), Progress::Writing, "half a line");
        append(&file, &format!("{}\n", &COMPLETE[30..]));
        let Progress::Ended(Some(tokens)) = reader.poll(true) else {
            panic!("the turn has ended: {:?}", reader.rollout);
        };
        assert_eq!((tokens.input, tokens.output), (240, 16));
        let len = fs::metadata(&file).expect("stat").len();
        assert_eq!(reader.offset, len);
        // Rewrite the part already read: a reader that went back would see it.
        let mut bytes = fs::read(&file).expect("read");
        bytes[..first.len()].fill(b' ');
        fs::write(&file, bytes).expect("write");
        reader.turn_sent();
        append(
            &file,
            &format!("{STARTED}\n{}\n{ABORTED}\n", count(300, 20)),
        );
        assert_eq!(reader.poll(true), Progress::Ended(None), "aborted");
        reader.turn_sent();
        append(
            &file,
            &format!("{STARTED}\n{}\n{COMPLETE}\n", count(400, 30)),
        );
        assert_eq!(reader.poll(true), Progress::Ended(None), "unknown for good");
    }

    #[test]
    fn a_session_loaded_after_a_cut_task_stays_unknown() {
        let (home, file) = home_with(&format!(
            "{STARTED}\n{}\n{COMPLETE}\n{STARTED}\n",
            count(5, 1)
        ));
        let mut reader = RolloutReader::open(home.path().to_path_buf(), "s1".into());
        assert!(reader.rollout.task_open);
        reader.turn_sent();
        append(&file, &format!("{STARTED}\n{}\n{COMPLETE}\n", count(60, 2)));
        assert_eq!(reader.poll(true), Progress::Ended(None));
    }

    #[test]
    fn no_file_is_no_wait() {
        let home = tempfile::tempdir().expect("tempdir");
        let mut reader = RolloutReader::open(home.path().to_path_buf(), "s1".into());
        reader.turn_sent();
        assert_eq!(reader.poll(true), Progress::NoFile, "no sessions directory");
        fs::create_dir_all(home.path().join("sessions")).expect("mkdir");
        assert_eq!(reader.poll(true), Progress::Writing, "the file may come");
        assert_eq!(reader.poll(false), Progress::NoFile);
        // A file that comes later is read from its start.
        let (home, file) = home_with("");
        let mut reader = RolloutReader::open(home.path().to_path_buf(), "s1".into());
        fs::remove_file(&file).expect("rm");
        reader.path = None;
        reader.turn_sent();
        fs::write(&file, format!("{STARTED}\n{}\n{COMPLETE}\n", count(5, 1))).expect("write");
        assert!(matches!(reader.poll(true), Progress::Ended(Some(_))));
    }

    #[tokio::test]
    async fn after_turn_gives_up_at_once_without_a_file() {
        let home = tempfile::tempdir().expect("tempdir");
        let reader = RolloutReader::open(home.path().to_path_buf(), "s1".into());
        let started = Instant::now();
        let (_, tokens) = after_turn(reader).await;
        assert_eq!(tokens, None);
        assert!(started.elapsed() < NO_FILE_GRACE, "{:?}", started.elapsed());
        let (home, _file) = home_with(&format!("{STARTED}\n{}\n{COMPLETE}\n", count(5, 1)));
        let mut reader = RolloutReader::open(home.path().to_path_buf(), "s1".into());
        reader.turn_from = 0;
        let (_, tokens) = after_turn(reader).await;
        assert_eq!(tokens.map(|t| t.input), Some(5));
    }

    #[test]
    fn finds_the_session_file_among_days() {
        let home = tempfile::tempdir().expect("tempdir");
        let day = home.path().join("sessions/2026/12/06");
        let older = home.path().join("sessions/2026/11/30");
        fs::create_dir_all(&day).expect("mkdir");
        fs::create_dir_all(&older).expect("mkdir");
        fs::write(day.join("rollout-2026-12-06T10-00-00-other.jsonl"), "").expect("write");
        let wanted = older.join("rollout-2026-11-30T10-00-00-01ab-cd.jsonl");
        fs::write(&wanted, TURN).expect("write");
        assert_eq!(find_rollout(home.path(), "01ab-cd"), Some(wanted));
        assert_eq!(find_rollout(home.path(), "cd"), None);
        assert_eq!(find_rollout(home.path(), "ab-cd"), None);
        assert_eq!(
            rollout_of("rollout-2026-12-06T10-00-00-x-y.jsonl"),
            Some("x-y")
        );
        assert_eq!(rollout_of("rollout-short-x.jsonl"), None);
        assert_eq!(find_rollout(&home.path().join("none"), "01ab-cd"), None);
    }

    #[test]
    fn codex_home_prefers_the_configured_env_and_a_relative_one_is_the_agent_s() {
        let cwd = Path::new("/work/project");
        let env = BTreeMap::from([("CODEX_HOME".to_string(), "/x/codex".to_string())]);
        assert_eq!(codex_home(&env, cwd), Some(PathBuf::from("/x/codex")));
        let env = BTreeMap::from([("CODEX_HOME".to_string(), ".codex-home".to_string())]);
        assert_eq!(
            codex_home(&env, cwd),
            Some(PathBuf::from("/work/project/.codex-home"))
        );
    }

    #[test]
    fn a_failed_prompt_says_the_provider_s_message() {
        let codex = AgentIdentity {
            name: "codex-acp".into(),
            version: "0.16.0".into(),
        };
        let error =
            |data: serde_json::Value| agent_client_protocol::Error::internal_error().data(data);
        let body =
            r#"{"error":{"code":null,"message":"quota gone","type":"invalid_request_error"}}"#;
        let e = error(serde_json::json!({"message": body, "codex_error_info": "other"}));
        assert_eq!(error_message(Some(&codex), &e), "quota gone");
        let e = error(serde_json::json!({"message": "We're busy."}));
        assert_eq!(error_message(Some(&codex), &e), "We're busy.");
        assert_eq!(error_message(None, &e), e.message);
        let e = error(serde_json::json!({"other": 1}));
        assert_eq!(error_message(Some(&codex), &e), e.message);
        // A gateway's page: its first line, cut on a character boundary.
        let page = format!("\n<html>{}\n<body>502</body>", "é".repeat(400));
        let e = error(serde_json::json!({ "message": page }));
        let said = error_message(Some(&codex), &e);
        assert_eq!(said.chars().count(), MESSAGE_CHARS);
        assert!(said.starts_with("<html>é") && !said.contains('\n'));
        assert!(is_codex(Some(&codex)));
        assert!(!is_codex(None));
    }
}
