//! Test hooks, not features. `AO_FAULT_CRASH_AT=<point>` makes `ao` kill itself with SIGKILL when
//! it reaches that point of a spawn, so that the fault tests (tests/faults.rs) can check, at exact
//! places, what a crashed `ao spawn` leaves behind and that `ao status` and `ao kill` deal with it
//! (and, at [`SERVER_STARTING`], a crashed start of a project's server: tests/security_server.rs).
//! `AO_FAULT_PAUSE_AT=<point>` makes it say so on standard error and wait until standard input
//! closes when it reaches a point, so that a test can run another `ao` at exactly that moment
//! (tests/foundation.rs: a send between a status's look and its write). `AO_FAULT_WATCH_PANIC`
//! makes `ao watch` panic once its first screen is drawn, to test that a panic gives the
//! terminal back (tests/watch_tui.rs). Unset, as they always are
//! outside those tests, each costs one environment lookup per point.

/// The environment variable naming the point at which to crash.
pub const CRASH_AT_ENV: &str = "AO_FAULT_CRASH_AT";

/// The points of `ao spawn`, in the order it reaches them.
pub const SPAWN_CRASH_POINTS: &[&str] = &[
    // The session's name is reserved in the store (lifecycle `spawning`).
    "after-reserve",
    // Its work tree exists and is recorded.
    "after-workspace",
    // The agent's conversation exists and its id is recorded.
    "after-agent-session",
    // The runtime (tmux session or detached process) runs and is recorded; no prompt sent yet.
    "after-runtime",
    // The first prompt was delivered; the session is not yet marked live.
    "after-prompt",
];

/// The point where an agent plugin has started its project's server and recorded it, and has not
/// yet seen it answer (OpenCode's `opencode serve` may take up to a minute).
pub const SERVER_STARTING: &str = "server-starting";

/// Kills this process with SIGKILL if `AO_FAULT_CRASH_AT` names `point`.
pub fn crash_point(point: &str) {
    debug_assert!(
        SPAWN_CRASH_POINTS.contains(&point) || point == SERVER_STARTING,
        "unknown point {point}"
    );
    if std::env::var_os(CRASH_AT_ENV).is_some_and(|v| v == point) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}

/// The environment variable naming the point at which to pause.
pub const PAUSE_AT_ENV: &str = "AO_FAULT_PAUSE_AT";

/// The points at which `ao` can be paused.
pub const PAUSE_POINTS: &[&str] = &[
    // A plugin has observed a project's sessions and is about to record what it saw.
    "before-recording-observation",
    // `ao kill` has seen which projects have no live session left and has not yet released
    // what their agents keep for them (tests/container.rs: a spawn racing a purge).
    "before-releasing-projects",
    // A plugin has started a server on an ssh host and not yet recorded it (tests/remote.rs: an
    // `ao` killed there leaves a server that no record names).
    "after-starting-on-host",
];

/// If `AO_FAULT_PAUSE_AT` names `point`: prints `ao: paused at <point>` to standard error and
/// waits, off the async runtime's thread, until standard input is closed.
pub async fn pause_point(point: &'static str) {
    debug_assert!(PAUSE_POINTS.contains(&point), "unknown point {point}");
    if std::env::var_os(PAUSE_AT_ENV).is_some_and(|v| v == point) {
        crate::blocking::unblock(move || {
            use std::io::Read;
            eprintln!("ao: paused at {point}");
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
        })
        .await;
    }
}

/// The environment variable that makes `ao watch` panic after its first draw.
pub const WATCH_PANIC_ENV: &str = "AO_FAULT_WATCH_PANIC";

/// Panics if `AO_FAULT_WATCH_PANIC` is set.
pub fn watch_panic_point() {
    if std::env::var_os(WATCH_PANIC_ENV).is_some() {
        panic!("{WATCH_PANIC_ENV} is set: ao watch panics on purpose");
    }
}
