//! Where the time of one `ao` call goes: with `AO_TIMING=1`, each timed phase prints one line to
//! standard error when it ends (`ao: timing: <phase> <ms> ms @ <began>`, where it began in ms
//! since the first timed phase, so that what ran side by side shows). `scripts/bench status`
//! reads them; nothing is measured or printed otherwise.

use std::sync::OnceLock;
use std::time::Instant;

/// Whether `AO_TIMING` asks for timings (set and not empty), read once.
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("AO_TIMING").is_some_and(|v| !v.is_empty()))
}

/// When the first phase began: where every phase's start is counted from.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// A phase being timed; it reports when dropped.
pub struct Phase {
    name: String,
    start: Instant,
}

/// Starts timing a phase whose name `name` gives (only called when timings are on).
pub fn phase(name: impl FnOnce() -> String) -> Option<Phase> {
    enabled().then(|| {
        origin();
        Phase {
            name: name(),
            start: Instant::now(),
        }
    })
}

impl Drop for Phase {
    fn drop(&mut self) {
        eprintln!(
            "ao: timing: {} {:.2} ms @ {:.1}",
            self.name,
            self.start.elapsed().as_secs_f64() * 1000.0,
            self.start.duration_since(origin()).as_secs_f64() * 1000.0
        );
    }
}
