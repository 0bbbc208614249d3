//! The host's two files: `state.json` (the [`HostRecord`], rewritten atomically) and
//! `conversation.jsonl` (appended to). Only the host writes them; the plugin reads them.
//!
//! A change `ao status` shows is written at once; a change of `last_activity_at` alone at most
//! every [`ACTIVITY_WRITE_INTERVAL`], so that a stream of message chunks does not rewrite the
//! file for each one.

use std::path::PathBuf;
use std::time::Duration;

use ao_agent::blocking::unblock;
use ao_agent::clock::EpochMillis;
use tokio::io::AsyncWriteExt as _;
use tokio::time::Instant;

use crate::record::{ConversationLine, ConversationPart, HostFiles, HostRecord};

/// The least time between two writes of `state.json` for activity alone.
pub const ACTIVITY_WRITE_INTERVAL: Duration = Duration::from_millis(500);

/// A write to the host's files failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct RecordError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// The record as the host keeps it, and its files.
pub struct Recorder {
    files: HostFiles,
    /// The record (change it, then [`Recorder::save`] or [`Recorder::touch`]).
    pub record: HostRecord,
    conversation: Option<tokio::fs::File>,
    last_write: Option<Instant>,
    unsaved_activity: bool,
}

impl Recorder {
    /// A recorder for `files`, starting from `record` (nothing is written yet).
    pub fn new(files: HostFiles, record: HostRecord) -> Recorder {
        Recorder {
            files,
            record,
            conversation: None,
            last_write: None,
            unsaved_activity: false,
        }
    }

    /// The files.
    pub fn files(&self) -> &HostFiles {
        &self.files
    }

    /// Writes `state.json` now.
    pub async fn save(&mut self) -> Result<(), RecordError> {
        let path = self.files.state();
        let mut bytes = serde_json::to_vec_pretty(&self.record).map_err(|e| RecordError {
            path: path.clone(),
            source: e.into(),
        })?;
        bytes.push(b'\n');
        let target = path.clone();
        unblock(move || ao_agent::home::write_atomically(&target, &bytes))
            .await
            .map_err(|source| RecordError { path, source })?;
        self.last_write = Some(Instant::now());
        self.unsaved_activity = false;
        Ok(())
    }

    /// Notes activity at `at`: written now when the last write is old enough, else by
    /// [`Recorder::flush_due`] later.
    pub async fn touch(&mut self, at: EpochMillis) -> Result<(), RecordError> {
        self.record.last_activity_at = Some(at);
        self.unsaved_activity = true;
        if self.flush_at().is_some_and(|due| due <= Instant::now()) {
            self.save().await?;
        }
        Ok(())
    }

    /// When unsaved activity is due to be written, if there is any.
    pub fn flush_at(&self) -> Option<Instant> {
        if !self.unsaved_activity {
            return None;
        }
        Some(match self.last_write {
            Some(at) => at + ACTIVITY_WRITE_INTERVAL,
            None => Instant::now(),
        })
    }

    /// Appends lines to the conversation file.
    pub async fn append(&mut self, lines: &[ConversationLine]) -> Result<(), RecordError> {
        if lines.is_empty() {
            return Ok(());
        }
        let path = self.files.conversation();
        let io = |source| RecordError {
            path: path.clone(),
            source,
        };
        let mut text = String::new();
        for line in lines {
            let json = serde_json::to_string(line).map_err(|e| io(e.into()))?;
            text.push_str(&json);
            text.push('\n');
        }
        if self.conversation.is_none() {
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&path)
                .await
                .map_err(io)?;
            self.conversation = Some(file);
        }
        if let Some(file) = self.conversation.as_mut() {
            file.write_all(text.as_bytes()).await.map_err(io)?;
            file.flush().await.map_err(io)?;
        }
        Ok(())
    }

    /// How many turns the conversation file already holds (its prompts): a restored session's
    /// next turn counts on from there, so that line ids stay unique.
    pub async fn turns_so_far(&self) -> u64 {
        let path = self.files.conversation();
        let text = unblock(move || std::fs::read_to_string(path).unwrap_or_default()).await;
        text.lines()
            .filter_map(|line| serde_json::from_str::<ConversationLine>(line).ok())
            .filter(|line| matches!(line.part, ConversationPart::User { .. }))
            .count() as u64
    }

    /// The record `state.json` holds now, if any (what a restored session carries on from).
    pub async fn previous(files: &HostFiles) -> Option<HostRecord> {
        let path = files.state();
        let bytes = unblock(move || std::fs::read(path).ok()).await?;
        serde_json::from_slice(&bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::HostPhase;

    fn recorder() -> (tempfile::TempDir, Recorder) {
        let dir = tempfile::tempdir().unwrap();
        let files = HostFiles::of(dir.path());
        std::fs::create_dir_all(files.dir()).unwrap();
        (dir, Recorder::new(files, HostRecord::default()))
    }

    #[tokio::test]
    async fn the_record_is_written_whole_and_read_back() {
        let (_dir, mut r) = recorder();
        r.record.phase = HostPhase::Open;
        r.record.acp_session_id = Some("ses_1".into());
        r.save().await.unwrap();
        let back = Recorder::previous(r.files()).await.unwrap();
        assert_eq!(back, r.record);
    }

    #[tokio::test]
    async fn activity_alone_is_written_at_most_every_interval() {
        let (_dir, mut r) = recorder();
        r.save().await.unwrap();
        r.touch(5).await.unwrap();
        // Written just now: the activity waits for the interval.
        let on_disk = Recorder::previous(r.files()).await.unwrap();
        assert_eq!(on_disk.last_activity_at, None);
        let due = r.flush_at().unwrap();
        assert!(due > Instant::now());
        r.save().await.unwrap();
        assert_eq!(r.flush_at(), None);
        let on_disk = Recorder::previous(r.files()).await.unwrap();
        assert_eq!(on_disk.last_activity_at, Some(5));
    }

    #[tokio::test]
    async fn lines_are_appended_and_turns_counted() {
        let (_dir, mut r) = recorder();
        let line = |id: &str, part| ConversationLine {
            id: id.into(),
            at: 1,
            part,
        };
        r.append(&[
            line("t1-user", ConversationPart::User { text: "hi".into() }),
            line("t1-1", ConversationPart::Assistant { text: "Hel".into() }),
        ])
        .await
        .unwrap();
        r.append(&[
            line("t1-1", ConversationPart::Assistant { text: "lo".into() }),
            line(
                "t2-user",
                ConversationPart::User {
                    text: "again".into(),
                },
            ),
        ])
        .await
        .unwrap();
        let text = std::fs::read_to_string(r.files().conversation()).unwrap();
        assert_eq!(text.lines().count(), 4);
        assert!(text.lines().nth(2).unwrap().contains(r#""text":"lo""#));
        assert_eq!(r.turns_so_far().await, 2);
    }
}
