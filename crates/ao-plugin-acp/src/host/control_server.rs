//! The host's end of the control socket ([`crate::control`]): one request per connection, one
//! line each way. Each request goes to the host's loop with a reply channel; the loop decides.

use std::path::Path;
use std::time::Duration;

use ao_agent::blocking::unblock;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use crate::control::{Refusal, Request, Response, ShortPath};

/// The longest request line the host reads (a prompt can be long, not endless).
const MAX_REQUEST_BYTES: u64 = 4 * 1024 * 1024;

/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A request, and where its answer goes.
pub type Incoming = (Request, oneshot::Sender<Response>);

/// Binds the control socket at `socket` (a stale one is removed first) and serves it until the
/// returned receiver is dropped.
pub async fn serve(socket: &Path) -> std::io::Result<mpsc::Receiver<Incoming>> {
    let socket = socket.to_path_buf();
    // Opening the directory, removing and binding touch the file system: off the async thread.
    let bound = unblock(move || {
        let short = ShortPath::to(&socket)?;
        match std::fs::remove_file(short.path()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let listener = std::os::unix::net::UnixListener::bind(short.path())?;
        listener.set_nonblocking(true)?;
        Ok(listener)
    })
    .await?;
    let listener = UnixListener::from_std(bound)?;
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(accept(listener, tx));
    Ok(rx)
}

async fn accept(listener: UnixListener, tx: mpsc::Sender<Incoming>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(one_request(stream, tx.clone()));
                }
                // Out of descriptors, say: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            () = tx.closed() => return,
        }
    }
}

async fn one_request(stream: UnixStream, tx: mpsc::Sender<Incoming>) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_REQUEST_BYTES));
    let read = tokio::time::timeout(READ_TIMEOUT, reader.read_line(&mut line)).await;
    let response = match read {
        Ok(Ok(n)) if n > 0 => match serde_json::from_str::<Request>(line.trim_end()) {
            Ok(request) => {
                let (reply, answer) = oneshot::channel();
                if tx.send((request, reply)).await.is_err() {
                    gone("the host is ending")
                } else {
                    answer.await.unwrap_or_else(|_| gone("the host is ending"))
                }
            }
            Err(e) => Response::Refused {
                why: Refusal::Invalid,
                message: format!("not a request: {e}"),
            },
        },
        _ => return,
    };
    if let Ok(mut text) = serde_json::to_string(&response) {
        text.push('\n');
        let _ = write.write_all(text.as_bytes()).await;
        let _ = write.shutdown().await;
    }
}

fn gone(message: &str) -> Response {
    Response::Refused {
        why: Refusal::Gone,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_request_one_answer_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("host.sock");
        // A stale socket file is replaced.
        std::fs::write(&socket, b"").unwrap();
        let mut requests = serve(&socket).await.unwrap();
        let host = tokio::spawn(async move {
            let (request, reply) = requests.recv().await.unwrap();
            assert_eq!(request, Request::Cancel);
            reply.send(Response::Ok).unwrap();
            requests
        });
        assert_eq!(
            crate::client::ask(&socket, &Request::Cancel).await.unwrap(),
            Response::Ok
        );
        // Kept: the socket is served while someone listens.
        let _requests = host.await.unwrap();

        let stream = UnixStream::connect(&socket).await.unwrap();
        let (read, mut write) = stream.into_split();
        write.write_all(b"{\"nonsense\":1}\n").await.unwrap();
        let mut line = String::new();
        BufReader::new(read).read_line(&mut line).await.unwrap();
        let answer: Response = serde_json::from_str(line.trim_end()).unwrap();
        assert!(matches!(
            answer,
            Response::Refused {
                why: Refusal::Invalid,
                ..
            }
        ));
    }
}
