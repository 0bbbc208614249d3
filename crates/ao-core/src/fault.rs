//! A test hook, not a feature: `AO_FAULT_CRASH_AT=<point>` makes `ao` kill itself with SIGKILL when
//! it reaches that point of a spawn, so that the fault tests (tests/faults.rs) can check, at exact
//! places, what a crashed `ao spawn` leaves behind and that `ao status` and `ao kill` deal with it.
//! Unset, as it always is outside those tests, it costs one environment lookup per point.

/// The environment variable naming the point at which to crash.
pub const CRASH_AT_ENV: &str = "AO_FAULT_CRASH_AT";

/// The points of `ao spawn`, in the order it reaches them.
pub const SPAWN_CRASH_POINTS: &[&str] = &[
    // The session's name is reserved in the store (lifecycle `spawning`).
    "after-reserve",
    // Its work tree exists and is recorded.
    "after-workspace",
    // The agent's session exists (OpenCode: `ses_…`) and is recorded.
    "after-agent-session",
    // The runtime (tmux session or detached process) runs and is recorded; no prompt sent yet.
    "after-runtime",
    // The first prompt was delivered; the session is not yet marked live.
    "after-prompt",
];

/// Kills this process with SIGKILL if `AO_FAULT_CRASH_AT` names `point`.
pub(crate) fn crash_point(point: &str) {
    debug_assert!(SPAWN_CRASH_POINTS.contains(&point), "unknown point {point}");
    if std::env::var_os(CRASH_AT_ENV).is_some_and(|v| v == point) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
}
