//! The one boundary between async code and work that blocks.
//!
//! The rule (docs/architecture.md, "Async"): anything that can wait on the world outside the
//! process — SQLite and its busy handler, tmux, git, a stop with a grace period, a file lock — is a
//! plain synchronous function, and async code reaches it only through [`unblock`], which runs it on
//! tokio's blocking pool. The async runtime's own thread only ever awaits network I/O and timers,
//! so one slow database, tmux server or git call never stalls the observation of another project.

/// Runs `work` on the blocking pool and waits for it without holding up the async runtime.
///
/// A panic in `work` is carried over to the caller, as if `work` had run inline.
pub async fn unblock<T, F>(work: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only a runtime that is shutting down cancels blocking work; nothing is left to answer.
        Err(e) => panic!("blocking work was cancelled: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test(flavor = "current_thread")]
    async fn blocking_work_leaves_the_runtime_thread_free() {
        // On a current-thread runtime, a timer fires while blocking work sleeps elsewhere.
        let started = Instant::now();
        let slow = unblock(|| std::thread::sleep(Duration::from_millis(400)));
        let quick = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            started.elapsed()
        };
        let ((), quick) = tokio::join!(slow, quick);
        assert!(
            quick < Duration::from_millis(400),
            "the timer waited for the blocking work"
        );
    }
}
