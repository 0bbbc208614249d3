//! `ao status --watch`: the live model as lines for scripts (`--json`, one object per line) or as
//! a table redrawn on each change.

use std::collections::BTreeMap;
use std::io::{self, IsTerminal, Write};
use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};

use ao_core::live::{ConfigChange, LiveEvent, LiveModel, LiveOptions, LiveSession};
use ao_core::manager::SessionManager;
use ao_core::target::Target;

use crate::output;

/// Follows the sessions `target` names until SIGINT, SIGTERM or a closed standard output.
pub async fn run(mgr: SessionManager, target: Target, json: bool) -> anyhow::Result<()> {
    let mut model = LiveModel::start(Arc::new(mgr), target, LiveOptions::default()).await?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    // A reader that went away (`| head -1`) is noticed at the next write, or by this check while
    // nothing changes.
    let mut pipe_check = tokio::time::interval(Duration::from_secs(1));
    let mut shown: BTreeMap<String, LiveSession> = BTreeMap::new();
    // What became of the last config edit, kept under the table: a redraw would wipe a message
    // printed once.
    let mut config_notice: Option<String> = None;
    loop {
        let event = tokio::select! {
            event = model.next() => event,
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            _ = pipe_check.tick() => {
                if stdout_closed() {
                    return Ok(());
                }
                continue;
            }
        };
        let Some(event) = event.map(LiveEvent::shown) else {
            return Ok(());
        };
        let mut out = io::stdout().lock();
        if json {
            write_json(&mut out, event)?;
        } else {
            match event {
                LiveEvent::Snapshot(all) => {
                    shown = all.into_iter().map(|s| (s.status.id.clone(), s)).collect();
                }
                LiveEvent::Changed(s) => {
                    shown.insert(s.status.id.clone(), *s);
                }
                LiveEvent::Removed(id) => {
                    shown.remove(&id);
                }
                LiveEvent::Config(change) => {
                    report_config(&change);
                    let now = chrono::Local::now().format("%H:%M:%S");
                    config_notice = Some(match change {
                        ConfigChange::Reloaded => format!("the config was read again at {now}"),
                        ConfigChange::Invalid(problems) => format!(
                            "the config no longer reads (since {now}); still watching with the \
                             one before: {}",
                            problems.lines().next().unwrap_or_default()
                        ),
                    });
                }
            }
            draw_table(&mut out, &shown, config_notice.as_deref())?;
        }
        out.flush()?;
    }
}

/// One line per session; a removed session is `{"id": …, "removed": true}`.
fn write_json(out: &mut impl Write, event: LiveEvent<LiveSession>) -> io::Result<()> {
    fn line(out: &mut impl Write, value: &impl serde::Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut *out, value)?;
        writeln!(out)
    }
    match event {
        LiveEvent::Snapshot(all) => all.iter().try_for_each(|s| line(out, s)),
        LiveEvent::Changed(s) => line(out, &*s),
        LiveEvent::Removed(id) => line(out, &serde_json::json!({ "id": id, "removed": true })),
        LiveEvent::Config(change) => {
            report_config(&change);
            Ok(())
        }
    }
}

fn report_config(change: &ConfigChange) {
    match change {
        ConfigChange::Reloaded => eprintln!("ao: the config file changed; watching with it now"),
        ConfigChange::Invalid(problems) => eprintln!(
            "ao: the config file changed and no longer reads; still watching with the config as \
             it was until it is fixed:\n{problems}"
        ),
    }
}

fn draw_table(
    out: &mut impl Write,
    shown: &BTreeMap<String, LiveSession>,
    config_notice: Option<&str>,
) -> io::Result<()> {
    let statuses: Vec<_> = shown.values().map(|s| s.status.clone()).collect();
    let tty = io::stdout().is_terminal();
    if tty {
        // Home and clear: the table replaces the last one.
        write!(out, "\x1b[H\x1b[2J")?;
    }
    output::status_table(out, &statuses, output::use_color(), output::table_width())?;
    if let Some(notice) = config_notice {
        writeln!(out, "-- {notice}")?;
    }
    let now = chrono::Local::now().format("%H:%M:%S");
    writeln!(out, "-- {now}: {} sessions; Ctrl-C ends", statuses.len())
}

/// Whether standard output is a pipe or socket whose reader is gone.
fn stdout_closed() -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let stdout = io::stdout();
    let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::empty())];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP)),
        Err(_) => false,
    }
}
