//! The plugin's side of the host's control socket ([`crate::control`]): one request per
//! connection, and what each answer means to ao ([`AgentError`]).

use std::path::Path;
use std::time::{Duration, Instant};

use ao_agent::agent::{AgentError, PermitDecision};
use ao_agent::runtime::process::ProcessIdentity;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;

use crate::control::{Refusal, Request, Response, ShortPath};
use crate::files;
use crate::record::{HostFiles, HostPhase};

/// How long a host has to come up and take the first prompt.
pub const START_DEADLINE: Duration = Duration::from_secs(60);

/// How long a host has to answer a request it got (a shutdown waits up to 2 s for the agent).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a request did not reach a host or got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Nothing listens on the socket (no host, or one not yet serving).
    #[error("the session's ACP host is not listening at {path}: {source}")]
    NotListening {
        /// The socket.
        path: String,
        /// Why the connection failed.
        #[source]
        source: std::io::Error,
    },
    /// The connection broke, or the host answered nothing in time.
    #[error("the session's ACP host did not answer: {0}")]
    NoAnswer(String),
    /// The answer was not one this ao understands.
    #[error("the session's ACP host answered something unreadable: {0}")]
    Garbled(String),
}

impl From<ControlError> for AgentError {
    fn from(e: ControlError) -> AgentError {
        match &e {
            ControlError::NotListening { .. } => AgentError::Unreachable(e.to_string()),
            ControlError::NoAnswer(_) => AgentError::Timeout(e.to_string()),
            ControlError::Garbled(_) => AgentError::Server(e.to_string()),
        }
    }
}

/// Sends one request to the host listening at `socket` and reads its answer.
pub async fn ask(socket: &Path, request: &Request) -> Result<Response, ControlError> {
    let short = ShortPath::to(socket).map_err(|source| ControlError::NotListening {
        path: socket.display().to_string(),
        source,
    })?;
    let stream =
        UnixStream::connect(short.path())
            .await
            .map_err(|source| ControlError::NotListening {
                path: socket.display().to_string(),
                source,
            })?;
    let exchange = async {
        let (read, mut write) = stream.into_split();
        let mut line =
            serde_json::to_string(request).map_err(|e| ControlError::Garbled(e.to_string()))?;
        line.push('\n');
        write
            .write_all(line.as_bytes())
            .await
            .map_err(|e| ControlError::NoAnswer(e.to_string()))?;
        let mut answer = String::new();
        BufReader::new(read)
            .read_line(&mut answer)
            .await
            .map_err(|e| ControlError::NoAnswer(e.to_string()))?;
        if answer.is_empty() {
            return Err(ControlError::NoAnswer("it closed the connection".into()));
        }
        serde_json::from_str(answer.trim_end()).map_err(|e| ControlError::Garbled(e.to_string()))
    };
    tokio::time::timeout(ANSWER_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| {
            Err(ControlError::NoAnswer(format!(
                "nothing within {}s",
                ANSWER_TIMEOUT.as_secs()
            )))
        })
}

/// What a refusal means to ao; `about` says what was asked.
pub fn refused(why: Refusal, message: String, about: &str) -> AgentError {
    match why {
        Refusal::Gone => AgentError::NotFound(format!("{about} is no longer pending: {message}")),
        Refusal::Invalid => AgentError::Refused(message),
        Refusal::Failed => AgentError::Server(message),
    }
}

/// Answers the pending permission request `id`.
pub async fn permit(
    files: &HostFiles,
    id: &str,
    decision: PermitDecision,
) -> Result<(), AgentError> {
    let request = Request::Permit {
        id: id.to_string(),
        decision,
    };
    match ask(&files.socket(), &request).await? {
        Response::Ok => Ok(()),
        Response::Refused { why, message } => Err(refused(why, message, &format!("request {id}"))),
    }
}

/// Answers the pending question request `id` with one answer per question, or declines it
/// (`answers` none: `ao answer --reject`). The host checks the answers against the agent's form.
pub async fn answer(
    files: &HostFiles,
    id: &str,
    answers: Option<&[String]>,
) -> Result<(), AgentError> {
    let request = match answers {
        Some(answers) => Request::Answer {
            id: id.to_string(),
            answers: answers.to_vec(),
        },
        None => Request::Dismiss { id: id.to_string() },
    };
    match ask(&files.socket(), &request).await? {
        Response::Ok => Ok(()),
        Response::Refused { why, message } => Err(refused(why, message, &format!("question {id}"))),
    }
}

/// Sends a prompt, waiting for a host that is still starting (until [`START_DEADLINE`]); fails at
/// once with the host's own reason when it recorded one and ended, or died (`host_process`: the
/// runtime's process, when it is the host itself, as in the process runtime).
pub async fn prompt(
    files: &HostFiles,
    text: &str,
    host_process: Option<ProcessIdentity>,
) -> Result<(), AgentError> {
    let request = Request::Prompt {
        text: text.to_string(),
    };
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        let not_listening = match ask(&files.socket(), &request).await {
            Ok(Response::Ok) => return Ok(()),
            Ok(Response::Refused { why, message }) => {
                return Err(refused(why, message, "the prompt"))
            }
            Err(e @ ControlError::NotListening { .. }) => e,
            Err(e) => return Err(e.into()),
        };
        let files_now = files.clone();
        let record = ao_agent::blocking::unblock(move || files::read_record(&files_now))
            .await
            .map_err(|e| AgentError::Launch(e.to_string()))?;
        if let Some(record) = record {
            if let HostPhase::Failed { name, message, .. } = &record.phase {
                let text = format!("the ACP agent could not start the session: {message}");
                return Err(if name == "ModelUnavailable" {
                    AgentError::Refused(text)
                } else {
                    AgentError::Launch(format!("{text} ({name})"))
                });
            }
            if let HostPhase::AgentExited { status, .. } = &record.phase {
                return Err(AgentError::Launch(format!(
                    "the ACP agent's process ended ({status}); see {}",
                    files.dir().join("agent.log").display()
                )));
            }
            if record.host.is_some() && !files::host_alive(&record) {
                return Err(host_ended());
            }
        } else if host_process.is_some_and(|p| !p.is_alive()) {
            return Err(host_ended());
        }
        if Instant::now() >= deadline {
            return Err(AgentError::Timeout(format!(
                "the session's ACP host did not take the prompt within {}s: {not_listening}",
                START_DEADLINE.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn host_ended() -> AgentError {
    AgentError::Launch(
        "the session's ACP host is not running, so it cannot take the prompt; see the session's log"
            .into(),
    )
}

/// Asks the host, if one listens, to cancel the running turn. `Ok` when there was nothing to
/// cancel or no host to ask.
pub async fn cancel(files: &HostFiles) -> Result<(), AgentError> {
    match ask(&files.socket(), &Request::Cancel).await {
        Ok(Response::Ok) | Err(ControlError::NotListening { .. }) => Ok(()),
        Ok(Response::Refused { why, message }) => Err(refused(why, message, "the turn")),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A host that answers each connection's request with the next of `answers`, and hands back
    /// the requests it got.
    fn listener(
        files: &HostFiles,
        answers: Vec<Response>,
    ) -> tokio::task::JoinHandle<Vec<Request>> {
        std::fs::create_dir_all(files.dir()).unwrap();
        let short = ShortPath::to(&files.socket()).unwrap();
        let listener = UnixListener::bind(short.path()).unwrap();
        tokio::spawn(async move {
            let _short = short;
            let mut got = Vec::new();
            for answer in answers {
                let (stream, _) = listener.accept().await.unwrap();
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                BufReader::new(read).read_line(&mut line).await.unwrap();
                got.push(serde_json::from_str(&line).unwrap());
                let mut out = serde_json::to_string(&answer).unwrap();
                out.push('\n');
                write.write_all(out.as_bytes()).await.unwrap();
            }
            got
        })
    }

    #[tokio::test]
    async fn a_permit_someone_else_answered_first_is_not_found() {
        let tmp = tempfile::tempdir().unwrap();
        let files = HostFiles::of(tmp.path());
        let host = listener(
            &files,
            vec![
                Response::Ok,
                Response::Refused {
                    why: Refusal::Gone,
                    message: "it was answered".into(),
                },
                Response::Refused {
                    why: Refusal::Invalid,
                    message: "the request offers no allow-always option".into(),
                },
            ],
        );
        permit(&files, "call_1", PermitDecision::Once)
            .await
            .unwrap();
        let gone = permit(&files, "call_1", PermitDecision::Once)
            .await
            .unwrap_err();
        assert!(matches!(gone, AgentError::NotFound(_)), "{gone:?}");
        assert_eq!(
            gone.to_string(),
            "request call_1 is no longer pending: it was answered"
        );
        let invalid = permit(&files, "call_2", PermitDecision::Always)
            .await
            .unwrap_err();
        assert!(matches!(invalid, AgentError::Refused(_)), "{invalid:?}");
        assert_eq!(
            host.await.unwrap()[0],
            Request::Permit {
                id: "call_1".into(),
                decision: PermitDecision::Once
            }
        );
    }

    #[tokio::test]
    async fn an_answer_goes_to_the_host_which_may_find_it_wrong_or_gone() {
        let tmp = tempfile::tempdir().unwrap();
        let files = HostFiles::of(tmp.path());
        let host = listener(
            &files,
            vec![
                Response::Refused {
                    why: Refusal::Invalid,
                    message: "`purple` is not an option".into(),
                },
                Response::Ok,
                Response::Refused {
                    why: Refusal::Gone,
                    message: "no question q-1 is waiting".into(),
                },
            ],
        );
        let answers = vec!["purple".to_string()];
        let wrong = answer(&files, "q-1", Some(&answers)).await.unwrap_err();
        assert!(matches!(wrong, AgentError::Refused(_)), "{wrong:?}");
        answer(&files, "q-1", None).await.unwrap();
        let gone = answer(&files, "q-1", None).await.unwrap_err();
        assert!(matches!(gone, AgentError::NotFound(_)), "{gone:?}");
        assert_eq!(
            gone.to_string(),
            "question q-1 is no longer pending: no question q-1 is waiting"
        );
        assert_eq!(
            host.await.unwrap()[..2],
            [
                Request::Answer {
                    id: "q-1".into(),
                    answers
                },
                Request::Dismiss { id: "q-1".into() }
            ]
        );
    }

    #[tokio::test]
    async fn a_prompt_waits_for_a_starting_host_and_fails_early_on_its_recorded_failure() {
        let tmp = tempfile::tempdir().unwrap();
        let files = HostFiles::of(tmp.path());
        std::fs::create_dir_all(files.dir()).unwrap();
        // Nobody listens, and the host recorded that the model is not offered.
        let record = crate::record::HostRecord {
            phase: HostPhase::Failed {
                at: 1,
                name: "ModelUnavailable".into(),
                message: "it offers mock/m1 only".into(),
            },
            ..Default::default()
        };
        std::fs::write(files.state(), serde_json::to_vec(&record).unwrap()).unwrap();
        let e = prompt(&files, "hi", None).await.unwrap_err();
        assert!(matches!(e, AgentError::Refused(_)), "{e:?}");
        assert!(e.to_string().contains("mock/m1 only"), "{e}");
        std::fs::remove_file(files.state()).unwrap();

        // A host that comes up a little later takes it.
        let late = files.clone();
        let host = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            listener(&late, vec![Response::Ok]).await.unwrap()
        });
        prompt(&files, "hi", None).await.unwrap();
        assert_eq!(
            host.await.unwrap(),
            vec![Request::Prompt { text: "hi".into() }]
        );
        // Nobody to cancel: nothing to do.
        std::fs::remove_file(files.socket()).unwrap();
        cancel(&files).await.unwrap();
    }
}
