//! A listener on 127.0.0.1 that keeps what each connection sent and answers one fixed reply: where
//! a test checks that ao sent something (a webhook, a password, an ssh banner), or sent nothing.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A listener that keeps the first bytes of each connection (a request's head and body, an ssh
/// client's banner) and answers `reply`.
pub struct Listener {
    /// Its port on 127.0.0.1.
    pub port: u16,
    received: Arc<Mutex<Vec<String>>>,
}

impl Listener {
    /// Listens on a free port of 127.0.0.1, answering every connection with `reply`.
    pub fn start(reply: &'static str) -> Listener {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let keep = received.clone();
        // The thread ends with the test process; it holds nothing but its socket.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                    if complete(&got) {
                        break;
                    }
                }
                keep.lock()
                    .expect("lock")
                    .push(String::from_utf8_lossy(&got).into_owned());
                let _ = conn.write_all(reply.as_bytes());
            }
        });
        Listener { port, received }
    }

    /// What each connection so far sent.
    pub fn received(&self) -> Vec<String> {
        self.received.lock().expect("lock").clone()
    }

    /// Waits (30 s at most) until a connection sent `what`; what it sent.
    pub fn wait_for(&self, what: &str) -> String {
        crate::wait_until(Duration::from_secs(30), Duration::from_millis(50), || {
            self.received()
                .into_iter()
                .find(|r| r.contains(what))
                .ok_or_else(|| format!("no connection sent {what:?}: {:?}", self.received()))
        })
    }
}

/// Whether `got` holds a whole HTTP request (its head, and as much body as it announces), or an
/// ssh client's banner line.
fn complete(got: &[u8]) -> bool {
    let text = String::from_utf8_lossy(got);
    if text.starts_with("SSH-") {
        return text.contains('\n');
    }
    let Some(head_end) = text.find("\r\n\r\n") else {
        return false;
    };
    let length = text[..head_end]
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    got.len() >= head_end + 4 + length
}
