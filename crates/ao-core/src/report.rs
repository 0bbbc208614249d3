//! What ao says it did: the words of each action's outcome, one place for every surface that
//! reports them (the CLI's commands, `ao watch`, the dashboard's API), so they never drift apart.

use crate::agent::PermitDecision;
use crate::manager::{KillReport, Killed};
use crate::session::{PendingRequest, SessionRecord};
use crate::target::Target;
use crate::visible::visible_line;
use crate::workspace::{KeepReason, WorktreeFate};

/// `ao permit`: `demo/agent-1: allowed once: bash: ls (per_1)`.
pub fn permitted(rec: &SessionRecord, req: &PendingRequest, decision: PermitDecision) -> String {
    let verb = match decision {
        PermitDecision::Once => "allowed once",
        PermitDecision::Always => "allowed always",
        PermitDecision::Reject => "rejected",
    };
    // The title is the agent's: what it would run, shown as it is (`\r` and all).
    format!(
        "{}: {verb}: {} ({})",
        rec.address,
        visible_line(&req.title),
        req.id
    )
}

/// `ao answer`: answered, or dismissed.
pub fn answered(rec: &SessionRecord, req: &PendingRequest, dismissed: bool) -> String {
    let verb = if dismissed { "dismissed" } else { "answered" };
    format!(
        "{}: {verb}: {} ({})",
        rec.address,
        visible_line(&req.title),
        req.id
    )
}

/// `ao send`.
pub fn sent(rec: &SessionRecord) -> String {
    format!("sent to {}", rec.address)
}

/// `ao restore`.
pub fn restored(rec: &SessionRecord) -> String {
    format!(
        "{}: restored on {} session {} ({})",
        rec.address,
        rec.agent,
        rec.agent_session_id.as_deref().unwrap_or("?"),
        rec.runtime
    )
}

/// `ao spawn`: what runs where, and how to look at it.
pub fn spawned(rec: &SessionRecord) -> String {
    format!(
        "{} runs {} session {} in {} ({}); `ao status {}` shows it",
        rec.address,
        rec.agent,
        rec.agent_session_id.as_deref().unwrap_or("?"),
        rec.workspace.display(),
        rec.runtime,
        rec.address
    )
}

/// `ao fork`: the fork, of what, and what runs where.
pub fn forked(rec: &SessionRecord, source: &Target) -> String {
    format!(
        "{} is a fork of {source}: {} session {} in {} ({})",
        rec.address,
        rec.agent,
        rec.agent_session_id.as_deref().unwrap_or("?"),
        rec.workspace.display(),
        rec.runtime
    )
}

/// What `ao kill` could not do: each session's problems (`project/name: …`), then each project's
/// that could not be released.
pub fn kill_problems(report: &KillReport) -> Vec<String> {
    report
        .sessions
        .iter()
        .flat_map(|k| k.problems.iter().map(move |p| format!("{}: {p}", k.id)))
        .chain(report.release_problems.iter().cloned())
        .collect()
}

/// Why a work tree was kept, for people.
pub fn keep_reason(r: &KeepReason) -> String {
    match r {
        KeepReason::Uncommitted(1) => "1 uncommitted change".into(),
        KeepReason::Uncommitted(n) => format!("{n} uncommitted changes"),
        KeepReason::UnmergedCommits(1) => "1 commit on no other branch".into(),
        KeepReason::UnmergedCommits(n) => format!("{n} commits on no other branch"),
        KeepReason::OnServer => {
            "on a server ao does not run, ao cannot see whether it holds work".into()
        }
        KeepReason::Unchecked(why) => format!("ao cannot check it for work: {why}"),
    }
}

/// What `ao kill` did to one session, in a line or two, each ending in a newline. Its problems
/// are not among them: the CLI puts those on standard error.
pub fn killed(k: &Killed) -> String {
    // Only what was done: a purge whose conversation was not deleted is a plain stop, and a
    // session with problems says so after this line.
    let stopped = match (k.purged, k.problems.is_empty()) {
        (true, _) => "stopped and purged",
        (false, true) => "stopped",
        (false, false) => "stopped, with problems",
    };
    let Some(ws) = &k.workspace else {
        return format!("{}: {stopped}\n", k.id);
    };
    let path = ws.path.display();
    match &ws.fate {
        WorktreeFate::Removed => format!(
            "{}: {stopped}; removed its work tree and branch {}\n",
            k.id, ws.branch
        ),
        WorktreeFate::Kept(reason) => {
            let then = if let KeepReason::Unchecked(_) = reason {
                "  ao leaves it to you: look at it, then delete it yourself or point its .git back"
                    .to_string()
            } else if k.purged {
                format!(
                    "  to delete it: git -C {} worktree remove --force {path}",
                    ws.repo.display()
                )
            } else {
                format!(
                    "  commit or copy what you need, then `ao kill --force {}` deletes it",
                    k.id
                )
            };
            format!(
                "{}: {stopped}; kept its work tree {path} ({})\n{then}\n",
                k.id,
                keep_reason(reason)
            )
        }
        WorktreeFate::AlreadyGone { branch_commits: 0 } => {
            format!("{}: {stopped}; its work tree was already gone\n", k.id)
        }
        WorktreeFate::AlreadyGone { branch_commits } => format!(
            "{}: {stopped}; its work tree was already gone; kept branch {} ({})\n",
            k.id,
            ws.branch,
            keep_reason(&KeepReason::UnmergedCommits(*branch_commits))
        ),
        WorktreeFate::Forced {
            discarded,
            branch_commits,
        } => {
            let mut what = format!("{}: {stopped}; deleted its work tree {path}", k.id);
            if *discarded > 0 {
                what.push_str(&format!(
                    " and {}",
                    keep_reason(&KeepReason::Uncommitted(*discarded))
                ));
            }
            what.push('\n');
            if *branch_commits > 0 {
                what.push_str(&format!(
                    "  kept branch {} ({})\n",
                    ws.branch,
                    keep_reason(&KeepReason::UnmergedCommits(*branch_commits))
                ));
            }
            what
        }
    }
}
