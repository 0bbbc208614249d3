//! A synchronous wrapper that runs the mock on its own thread and runtime.

use std::fmt;
use std::sync::{mpsc, Arc};
use std::thread;

use tokio::sync::oneshot;

use crate::error::MockError;
use crate::scenario::Scenario;
use crate::server::{base_url, MockConfig, MockModel, RecordedRequest, Shared};

/// A [`MockModel`] for synchronous tests: it owns a tokio runtime on a
/// background thread. Dropping it shuts the server down and waits for the
/// thread (at most a few seconds).
pub struct BlockingMockModel {
    port: u16,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl fmt::Debug for BlockingMockModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingMockModel")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl BlockingMockModel {
    /// Starts the mock on a free port of 127.0.0.1.
    pub fn start(scenario: Scenario) -> Result<BlockingMockModel, MockError> {
        BlockingMockModel::start_with(scenario, MockConfig::default())
    }

    /// Starts the mock with explicit options.
    pub fn start_with(
        scenario: Scenario,
        config: MockConfig,
    ) -> Result<BlockingMockModel, MockError> {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name("ao-mock-model".to_string())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(MockError::Runtime(e)));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match MockModel::start_with(scenario, config).await {
                        Ok(mock) => {
                            let _ = ready_tx.send(Ok((mock.port(), mock.shared())));
                            // Err = the handle was dropped without a stop message; stop too.
                            let _ = stop_rx.await;
                            mock.shutdown().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(MockError::Runtime)?;
        let (port, shared) = match ready_rx.recv() {
            Ok(ready) => ready?,
            Err(_) => {
                let _ = thread.join();
                return Err(MockError::Runtime(std::io::Error::other(
                    "the mock server thread exited before starting",
                )));
            }
        };
        Ok(BlockingMockModel {
            port,
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The OpenAI base URL to give clients: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        base_url(self.port)
    }

    /// Every chat request received so far, in arrival order, title requests included.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }
}

impl Drop for BlockingMockModel {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            // Joining frees the port before the caller goes on; shutdown is time-bounded.
            let _ = thread.join();
        }
    }
}
