//! `ao watch`: the full-screen dashboard over the live session model.
//!
//! One loop on the runtime's thread waits for whichever comes first: an event of the live model,
//! a key (read by a thread of its own, `keys.rs`), the outcome of an action, a signal, or the once-a-second tick
//! that keeps the "for how long" column true. It redraws after each, and does nothing in between,
//! so an idle dashboard costs almost nothing. Actions run as tasks of their own through the
//! manager (`actions.rs`), the state and the key map are plain values (`app.rs`, with the typed
//! line in `input.rs`), and the screen is drawn from them (`draw.rs`, `format.rs`).
//!
//! The terminal is always given back: [`Screen`]'s drop leaves the alternate screen and raw mode
//! (on `q`, Ctrl-C, SIGINT, SIGTERM, SIGHUP and every error), and a panic hook does the same
//! before the panic's message prints, so the message is readable and the shell usable.

mod actions;
mod app;
mod draw;
#[cfg(test)]
pub(crate) mod fixtures;
pub(crate) mod format;
mod input;
mod keys;

use std::io::{self, IsTerminal, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::Duration;

use anyhow::Context;
use crossterm::event::{Event, KeyEventKind};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;

use ao_core::live::{LiveModel, LiveOptions};
use ao_core::manager::SessionManager;
use ao_core::target::Target;

use self::actions::Outcome;
use self::app::{App, Effect};
use self::draw::Paint;
use self::keys::Keys;
use crate::{output, UsageError};

/// Refuses to start without a terminal to draw on, and says what scripts use instead.
pub fn check_terminal() -> anyhow::Result<()> {
    if io::stdout().is_terminal() {
        return Ok(());
    }
    Err(UsageError(
        "ao watch draws a full-screen dashboard and needs a terminal on standard output; \
         scripts use `ao status --watch` (with --json, one JSON object per change)"
            .into(),
    )
    .into())
}

/// Runs the dashboard over the sessions `target` names until the person quits or a signal ends
/// it.
pub async fn run(mgr: SessionManager, target: Target) -> anyhow::Result<()> {
    // Started before the screen is taken, so that a target naming nothing is reported as
    // `ao status` reports it, on a normal terminal.
    let mut model = LiveModel::start(Arc::new(mgr), target, LiveOptions::default()).await?;
    let paint = Paint {
        color: output::use_color(),
    };
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut hangup = signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let mut screen = Screen::enter().context("cannot take over the terminal")?;
    let mut app = App::default();
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let mut keys = Keys::start();
    // Only the ages change while nothing happens: once a second is as fine as they are shown.
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    screen.draw(&mut app, paint)?;
    ao_core::fault::watch_panic_point();
    loop {
        screen.draw(&mut app, paint)?;
        let effects = tokio::select! {
            event = model.next() => match event {
                Some(event) => app.on_live(event.shown()),
                None => anyhow::bail!("the live session model stopped"),
            },
            key = keys.next() => match key {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => app.on_key(k),
                // A resize: the draw above adapts to the new size.
                Some(Ok(_)) => vec![],
                Some(Err(e)) => return Err(e).context("cannot read the terminal"),
                None => return Ok(()),
            },
            Some(outcome) = done_rx.recv() => {
                take_outcome(&mut app, outcome);
                vec![]
            }
            _ = tick.tick() => vec![],
            _ = interrupt.recv() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
            _ = hangup.recv() => return Ok(()),
        };
        let mut queue = std::collections::VecDeque::from(effects);
        while let Some(effect) = queue.pop_front() {
            match effect {
                Effect::Quit => return Ok(()),
                // A session that is gone from the model meanwhile is said so, as the manager would.
                Effect::Act(action) => match app.address_of(action.session()) {
                    Some(address) => {
                        actions::start(model.manager(), address, action, done_tx.clone())
                    }
                    None => app.note(true, gone(action.session())),
                },
                Effect::Fetch(id) => match app.address_of(&id) {
                    Some(address) => actions::fetch(model.manager(), id, address, done_tx.clone()),
                    None => app.on_transcript(&id, Err(gone(&id))),
                },
                Effect::Attach(id) => {
                    // The reader would take the keys meant for the session.
                    keys.pause().await;
                    let more = attach(&mut screen, &mut model, &mut app, &id).await;
                    keys.resume();
                    queue.extend(more?);
                }
            }
        }
    }
}

/// What an action on a session that left the model meanwhile says.
fn gone(id: &str) -> String {
    format!("no session {id}")
}

fn take_outcome(app: &mut App, outcome: Outcome) {
    match outcome {
        Outcome::Done { text, error } => app.note(error, text),
        Outcome::Transcript { id, read } => app.on_transcript(&id, read),
    }
}

/// Hands the terminal to the session's attach command and takes it back when that ends. The
/// model is followed meanwhile, so the screen is current on return; what its events asked for is
/// returned, to be done once the screen is back.
async fn attach(
    screen: &mut Screen,
    model: &mut LiveModel,
    app: &mut App,
    id: &str,
) -> anyhow::Result<Vec<Effect>> {
    let Some(address) = app.address_of(id) else {
        app.note(true, gone(id));
        return Ok(vec![]);
    };
    let cmd = match model.manager().attach(&Target::Session(address)).await {
        Ok(cmd) => cmd,
        Err(e) => {
            app.note(true, actions::one_line(&e.into()));
            return Ok(vec![]);
        }
    };
    let mut child = tokio::process::Command::from(crate::commands::attach_command(&cmd));
    screen.suspend().context("cannot give the terminal back")?;
    let mut effects = Vec::new();
    let status = match child.spawn() {
        Ok(mut running) => loop {
            tokio::select! {
                status = running.wait() => break status,
                Some(event) = model.next() => effects.extend(app.on_live(event.shown())),
            }
        },
        Err(e) => Err(e),
    };
    screen.resume().context("cannot take the terminal back")?;
    match status {
        Ok(s) if s.success() => app.note(false, format!("back from {id}")),
        Ok(s) => app.note(true, format!("attaching to {id} ended with {s}")),
        Err(e) => app.note(true, format!("cannot run {}: {e}", cmd.program.display())),
    }
    Ok(effects)
}

/// The terminal while the dashboard owns it: raw mode, the alternate screen, no cursor. Dropping
/// it gives the terminal back as it was.
struct Screen {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    fn enter() -> io::Result<Screen> {
        install_panic_hook();
        let screen = Screen {
            terminal: Terminal::new(CrosstermBackend::new(io::stdout()))?,
        };
        // From here on, a failure half-way is undone by the drop.
        take_terminal()?;
        Ok(screen)
    }

    fn draw(&mut self, app: &mut App, paint: Paint) -> io::Result<()> {
        let now = chrono::Utc::now();
        self.terminal
            .draw(|frame| draw::draw(frame, app, paint, now))?;
        Ok(())
    }

    /// Gives the terminal to someone else for a while.
    fn suspend(&mut self) -> io::Result<()> {
        restore_terminal();
        Ok(())
    }

    /// Takes it back, and draws everything anew on the next draw.
    fn resume(&mut self) -> io::Result<()> {
        take_terminal()?;
        self.terminal.clear()
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Whether the dashboard holds the terminal (raw mode, alternate screen).
static HELD: AtomicBool = AtomicBool::new(false);

/// Takes the terminal: raw mode, the alternate screen, no cursor.
fn take_terminal() -> io::Result<()> {
    HELD.store(true, Ordering::SeqCst);
    enable_raw_mode()?;
    crossterm::execute!(io::stdout(), EnterAlternateScreen, crossterm::cursor::Hide)
}

/// Leaves raw mode and the alternate screen and shows the cursor, once: the panic hook and the
/// drop that follows it both call this, and leaving the alternate screen a second time would
/// move the cursor back to where it was when the dashboard started, over what the panic printed.
fn restore_terminal() {
    if !HELD.swap(false, Ordering::SeqCst) {
        return;
    }
    let _ = disable_raw_mode();
    let _ = crossterm::execute!(io::stdout(), LeaveAlternateScreen, crossterm::cursor::Show);
}

/// A panic gives the terminal back before its message prints: otherwise the message is lost in
/// the alternate screen and the shell is left in raw mode.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
    });
}
