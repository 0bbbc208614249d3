//! The terminal's events, read by one thread of their own that can be paused.
//!
//! While a session's attach command has the terminal, nothing of ao's may read it, or it would
//! take the person's keys. crossterm's `EventStream`, dropped before such a program and made again
//! after it, leaves that to the old stream's background thread ending in time; in one CI run the
//! dashboard never saw a key after an attach. Here one thread reads for the whole dashboard, with
//! a short poll, and stops polling when asked to pause: [`Keys::pause`] returns once it has.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use crossterm::event::Event;
use tokio::sync::mpsc;

/// How long one poll of the terminal waits: also how long a pause may take to be honoured.
const POLL: Duration = Duration::from_millis(50);

/// What the reading thread is to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Read,
    PauseAsked,
    Paused,
    Stop,
}

type Control = Arc<(Mutex<Mode>, Condvar)>;

fn lock(control: &Control) -> MutexGuard<'_, Mode> {
    // The thread holds no invariant a panic could break: a poisoned lock is still a mode.
    control.0.lock().unwrap_or_else(|e| e.into_inner())
}

/// The terminal's events, as a channel fed by the reading thread.
pub struct Keys {
    events: mpsc::UnboundedReceiver<io::Result<Event>>,
    control: Control,
}

impl Keys {
    /// Starts reading the terminal.
    pub fn start() -> Keys {
        let (tx, events) = mpsc::unbounded_channel();
        let control: Control = Arc::new((Mutex::new(Mode::Read), Condvar::new()));
        let thread_control = control.clone();
        std::thread::spawn(move || read(&thread_control, &tx));
        Keys { events, control }
    }

    /// The next event; `None` once the thread has ended (after an error it sent).
    pub async fn next(&mut self) -> Option<io::Result<Event>> {
        self.events.recv().await
    }

    /// Stops reading until [`resume`](Self::resume); returns once the thread no longer polls.
    pub async fn pause(&self) {
        let control = self.control.clone();
        ao_core::blocking::unblock(move || {
            let mut mode = lock(&control);
            if *mode == Mode::Read {
                *mode = Mode::PauseAsked;
            }
            let _paused = control
                .1
                .wait_while(mode, |m| *m == Mode::PauseAsked)
                .unwrap_or_else(|e| e.into_inner());
        })
        .await
    }

    /// Reads again after a [`pause`](Self::pause).
    pub fn resume(&self) {
        let mut mode = lock(&self.control);
        if *mode != Mode::Stop {
            *mode = Mode::Read;
        }
        self.control.1.notify_all();
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        *lock(&self.control) = Mode::Stop;
        self.control.1.notify_all();
    }
}

/// The reading thread: polls while asked to read, parks while paused, ends when stopped, when the
/// terminal fails (the error is sent) or when nobody listens any more. Ended, it says so, so that
/// a pause never waits for it.
fn read(control: &Control, tx: &mpsc::UnboundedSender<io::Result<Event>>) {
    read_until_stopped(control, tx);
    *lock(control) = Mode::Stop;
    control.1.notify_all();
}

fn read_until_stopped(control: &Control, tx: &mpsc::UnboundedSender<io::Result<Event>>) {
    loop {
        let mut mode = lock(control);
        if *mode == Mode::PauseAsked {
            *mode = Mode::Paused;
            control.1.notify_all();
        }
        let mode = control
            .1
            .wait_while(mode, |m| *m == Mode::Paused)
            .unwrap_or_else(|e| e.into_inner());
        if *mode == Mode::Stop {
            return;
        }
        drop(mode);
        let event = match crossterm::event::poll(POLL) {
            Ok(false) => continue,
            Ok(true) => crossterm::event::read(),
            Err(e) => Err(e),
        };
        let failed = event.is_err();
        if tx.send(event).is_err() || failed {
            return;
        }
    }
}
