//! The commands that talk to a running session: send, permit, answer, wait, logs, restore.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::time::Duration;

use anyhow::Context;
use futures_util::StreamExt;

use ao_core::agent::PermitDecision;
use ao_core::manager::{QuestionReply, SessionManager, WAIT_POLL_INTERVAL};
use ao_core::report;
use ao_core::session::Activity;
use ao_core::transcript::{EntryKind, TranscriptEntry};
use ao_core::visible::{visible, visible_line};

use crate::cli::{AnswerArgs, PermitArgs, WaitArgs};
use crate::UsageError;

/// `ao send`.
pub async fn send(
    mgr: &SessionManager,
    target: &str,
    message: Option<&str>,
    over_budget: bool,
) -> anyhow::Result<()> {
    let text = match message {
        Some(m) if m != "-" => m.to_string(),
        _ => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("cannot read the message from standard input")?;
            s
        }
    };
    if text.trim().is_empty() {
        return Err(UsageError(
            "the message is empty; give it as an argument or on standard input".into(),
        )
        .into());
    }
    let rec = mgr.send_with(target, &text, over_budget).await?;
    eprintln!("ao: {}", report::sent(&rec));
    Ok(())
}

/// `ao permit`.
pub async fn permit(mgr: &SessionManager, args: &PermitArgs) -> anyhow::Result<()> {
    let decision = if args.always {
        PermitDecision::Always
    } else if args.reject {
        PermitDecision::Reject
    } else {
        PermitDecision::Once
    };
    let (rec, req) = mgr
        .permit(&args.target, decision, args.request_id.as_deref())
        .await?;
    println!("{}", report::permitted(&rec, &req, decision));
    Ok(())
}

/// `ao answer`.
pub async fn answer(mgr: &SessionManager, args: &AnswerArgs) -> anyhow::Result<()> {
    let reply = if args.reject {
        QuestionReply::Dismiss
    } else {
        QuestionReply::Answers(args.answers.clone())
    };
    let (rec, req) = mgr
        .answer(&args.target, args.request.as_deref(), reply)
        .await?;
    println!("{}", report::answered(&rec, &req, args.reject));
    Ok(())
}

/// `ao wait`: prints the state reached.
pub async fn wait(mgr: &SessionManager, args: &WaitArgs) -> anyhow::Result<()> {
    if !(args.timeout.is_finite() && args.timeout >= 0.0) {
        return Err(UsageError(format!(
            "--timeout {} is not a number of seconds",
            args.timeout
        ))
        .into());
    }
    let until: Vec<Activity> = if args.until.is_empty() {
        vec![
            Activity::WaitingInput,
            Activity::Blocked,
            Activity::Ready,
            Activity::Idle,
            Activity::Exited,
        ]
    } else {
        args.until.clone()
    };
    let status = mgr
        .wait(
            &args.target,
            &until,
            Duration::from_secs_f64(args.timeout),
            WAIT_POLL_INTERVAL,
        )
        .await?;
    println!("{}: {}", status.record.address, status.activity);
    Ok(())
}

/// `ao logs [--follow]`.
pub async fn logs(
    mgr: &SessionManager,
    target: &str,
    follow: bool,
    json: bool,
) -> anyhow::Result<()> {
    let rec = mgr.resolve_one(target).await?;
    let mut printed: HashSet<String> = HashSet::new();
    let mut out = std::io::stdout().lock();
    let print_new = |entries: Vec<TranscriptEntry>,
                     printed: &mut HashSet<String>,
                     out: &mut dyn Write,
                     only_final: bool|
     -> anyhow::Result<()> {
        for e in entries {
            // Following, an entry is printed once it is final (a tool call once it has ended).
            if only_final && !is_final(&e) {
                continue;
            }
            if printed.insert(e.id.clone()) {
                if json {
                    serde_json::to_writer(&mut *out, &e)?;
                    writeln!(out)?;
                } else {
                    write_entry(out, &e)?;
                }
            }
        }
        out.flush()?;
        Ok(())
    };
    let entries = mgr
        .transcript(&rec)
        .await
        .with_context(|| format!("cannot read the conversation of {}", rec.address))?;
    print_new(entries, &mut printed, &mut out, follow)?;
    if !follow {
        return Ok(());
    }
    let mut feed = mgr.changes(&rec).await;
    loop {
        match feed.as_mut() {
            Some(f) => {
                tokio::select! {
                    ev = f.next() => if ev.is_none() { feed = None },
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
            None => {
                tokio::time::sleep(WAIT_POLL_INTERVAL).await;
                feed = mgr.changes(&rec).await;
            }
        }
        match mgr.transcript(&rec).await {
            Ok(entries) => print_new(entries, &mut printed, &mut out, true)?,
            // The server may be restarting: keep following.
            Err(_) => continue,
        }
    }
}

fn is_final(e: &TranscriptEntry) -> bool {
    match &e.kind {
        EntryKind::Tool { status, .. } => status == "completed" || status == "error",
        _ => true,
    }
}

/// One entry of a conversation as `ao logs` prints it (the dashboard's log view too). Everything
/// in it but the time is the agent's, so what would steer the terminal shows as escapes.
pub fn write_entry(out: &mut dyn Write, e: &TranscriptEntry) -> std::io::Result<()> {
    let time = chrono::DateTime::from_timestamp_millis(e.at)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    match &e.kind {
        EntryKind::User { text } => write_block(out, &time, "you", text),
        EntryKind::Assistant { text } => write_block(out, &time, "agent", text),
        EntryKind::Tool {
            tool,
            title,
            status,
            output,
            truncated,
        } => {
            writeln!(
                out,
                "{time} tool {} [{}] {}",
                visible_line(tool),
                visible_line(status),
                visible_line(title)
            )?;
            if let Some(o) = output {
                for line in visible(o).lines() {
                    writeln!(out, "         │ {line}")?;
                }
                if *truncated {
                    writeln!(out, "         │ … (cut)")?;
                }
            }
            Ok(())
        }
        EntryKind::Step {
            reason,
            tokens,
            cost_usd,
        } => writeln!(
            out,
            "{time} step {reason}: {} in, {} out, ${cost_usd:.6}",
            tokens.input + tokens.cache_read + tokens.cache_write,
            tokens.output + tokens.reasoning
        ),
        EntryKind::Error(err) => writeln!(
            out,
            "{time} error {}: {}",
            visible_line(err.why.name()),
            visible_line(&err.message)
        ),
    }
}

fn write_block(out: &mut dyn Write, time: &str, who: &str, text: &str) -> std::io::Result<()> {
    let text = visible(text);
    let mut lines = text.lines();
    writeln!(out, "{time} {who}: {}", lines.next().unwrap_or_default())?;
    for line in lines {
        writeln!(out, "         {line}")?;
    }
    Ok(())
}

/// `ao restore`.
pub async fn restore(mgr: &SessionManager, target: &str, over_budget: bool) -> anyhow::Result<()> {
    let rec = mgr.restore_with(target, over_budget).await?;
    println!("{}", report::restored(&rec));
    Ok(())
}
