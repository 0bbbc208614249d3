//! Time, injected, so that states that depend on age (ready turning idle) are tested without sleeping.

/// Milliseconds since the Unix epoch.
pub type EpochMillis = i64;

/// A source of the current time.
pub trait Clock: Send + Sync {
    /// The current time in milliseconds since the Unix epoch.
    fn now_ms(&self) -> EpochMillis;
}

/// The real clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> EpochMillis {
        chrono::Utc::now().timestamp_millis()
    }
}

/// A clock that always says the same time; for tests.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub EpochMillis);

impl Clock for FixedClock {
    fn now_ms(&self) -> EpochMillis {
        self.0
    }
}

/// Formats epoch milliseconds as RFC 3339 in UTC, e.g. `2026-11-21T16:10:01.087Z`.
pub fn rfc3339(ms: EpochMillis) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Reads an RFC 3339 time (what [`rfc3339`] writes, and what statuses carry) as epoch
/// milliseconds; `None` when it does not parse.
pub fn parse_rfc3339(text: &str) -> Option<EpochMillis> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_millis())
}
