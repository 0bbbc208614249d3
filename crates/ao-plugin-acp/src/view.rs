//! `ao agent-helper acp view --dir D`: what `ao attach` runs for an ACP session. An ACP agent has
//! no TUI of its own to open, so this is ao's own live view: the conversation so far, rendered as
//! the host renders it ([`crate::render`]), then each new line as the host appends it, until the
//! host ends or the person presses Ctrl-C.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::time::Duration;

use crate::files;
use crate::observe::START_GRACE;
use crate::record::{ConversationLine, HostFiles, HostPhase};
use crate::render::Renderer;

/// How often the conversation file is read again.
const POLL: Duration = Duration::from_millis(100);

/// What one read of the host's files found.
struct Read1 {
    /// Complete new lines of the conversation.
    lines: Vec<ConversationLine>,
    /// Where the next read starts.
    offset: u64,
    /// Why the view ends, when the host has.
    ended: Option<String>,
}

/// Reads the conversation from `offset` (complete lines only) and whether the host has ended.
fn read_from(files: &HostFiles, offset: u64) -> Result<Read1, String> {
    let mut text = Vec::new();
    match std::fs::File::open(files.conversation()) {
        Ok(mut file) => {
            file.seek(SeekFrom::Start(offset))
                .and_then(|_| file.read_to_end(&mut text))
                .map_err(|e| format!("cannot read {}: {e}", files.conversation().display()))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(format!(
                "cannot read {}: {e}",
                files.conversation().display()
            ))
        }
    }
    // A line still being written is read again next time, whole.
    let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    text.truncate(complete);
    let lines = crate::transcript::parse_lines(&String::from_utf8_lossy(&text));
    let ended = match files::read_record(files) {
        Ok(Some(record)) if record.host.is_some() && !files::host_alive(&record) => {
            Some(match &record.phase {
                HostPhase::Failed { name, message, .. } => format!("{name}: {message}"),
                HostPhase::AgentExited { status, .. } => {
                    format!("the agent's process ended ({status})")
                }
                _ => "the session's host is not running".to_string(),
            })
        }
        Ok(None) if files::launch_age(files).is_none_or(|age| age > START_GRACE) => {
            Some("the session's host never started".to_string())
        }
        _ => None,
    };
    Ok(Read1 {
        lines,
        offset: offset + complete as u64,
        ended,
    })
}

/// Shows the conversation of the session whose private directory is `session_dir`, and follows
/// it.
pub async fn run(session_dir: &Path) -> Result<(), String> {
    let files = HostFiles::of(session_dir);
    if !files.dir().is_dir() {
        return Err(format!(
            "{} holds no ACP session's files",
            session_dir.display()
        ));
    }
    let mut renderer = Renderer::new();
    let mut offset = 0;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    loop {
        let at = files.clone();
        let read = ao_agent::blocking::unblock(move || read_from(&at, offset)).await?;
        offset = read.offset;
        let mut out = std::io::stdout().lock();
        let shown = read
            .lines
            .iter()
            .try_for_each(|line| renderer.write(&mut out, line))
            .and_then(|()| out.flush());
        if shown.is_err() {
            // The terminal is gone: nobody is looking any more.
            return Ok(());
        }
        if let Some(why) = read.ended {
            let _ = renderer.end_text(&mut out);
            let _ = writeln!(out, "— the session has ended: {why}");
            return Ok(());
        }
        drop(out);
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = &mut ctrl_c => {
                let mut out = std::io::stdout().lock();
                let _ = renderer.end_text(&mut out);
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ConversationPart, HostRecord, ProcessRecord};

    #[test]
    fn the_view_reads_whole_lines_and_sees_a_dead_host() {
        let tmp = tempfile::tempdir().unwrap();
        let files = HostFiles::of(tmp.path());
        std::fs::create_dir_all(files.dir()).unwrap();
        std::fs::write(files.launch(), "{}").unwrap();
        let line = serde_json::to_string(&ConversationLine {
            id: "u".into(),
            at: 1,
            part: ConversationPart::User { text: "hi".into() },
        })
        .unwrap();
        std::fs::write(files.conversation(), format!("{line}\n{{\"id\":")).unwrap();
        let first = read_from(&files, 0).unwrap();
        assert_eq!(first.lines.len(), 1);
        assert_eq!(first.offset, line.len() as u64 + 1);
        assert_eq!(first.ended, None, "the host may still be starting");
        assert!(read_from(&files, first.offset).unwrap().lines.is_empty());

        // A host that is not running (this pid at another start time).
        std::thread::sleep(Duration::from_millis(20));
        let me = ao_agent::runtime::process::ProcessIdentity::of(std::process::id()).unwrap();
        let record = HostRecord {
            host: Some(ProcessRecord {
                pid: me.pid,
                start_time: me.start_time + 1,
            }),
            ..Default::default()
        };
        std::fs::write(files.state(), serde_json::to_vec(&record).unwrap()).unwrap();
        let ended = read_from(&files, first.offset).unwrap().ended.unwrap();
        assert!(ended.contains("not running"), "{ended}");
    }
}
