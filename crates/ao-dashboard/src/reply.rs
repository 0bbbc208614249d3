//! How the API answers: JSON bodies, and the status an error of ao's earns.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use ao_core::agent::AgentError;

/// The status code an error of ao's earns.
pub fn status_of(e: &ao_core::Error) -> StatusCode {
    use ao_core::Error as E;
    match e {
        E::NotFound(_) => StatusCode::NOT_FOUND,
        E::Conflict(_) => StatusCode::CONFLICT,
        E::Usage(_) | E::Config(_) => StatusCode::BAD_REQUEST,
        // The config's person has not trusted the key: nothing a request can change.
        E::Untrusted(_) | E::Remote(ao_core::remote::ssh::SshError::Untrusted(_)) => {
            StatusCode::FORBIDDEN
        }
        E::Agent(a) => match a {
            AgentError::Untrusted(_) => StatusCode::FORBIDDEN,
            AgentError::NotFound(_) => StatusCode::NOT_FOUND,
            AgentError::Refused(_) => StatusCode::CONFLICT,
            AgentError::Timeout(_)
            | AgentError::Unauthorized(_)
            | AgentError::Unreachable(_)
            | AgentError::Server(_)
            | AgentError::Launch(_) => StatusCode::BAD_GATEWAY,
            AgentError::Io { .. } | AgentError::State(_) => StatusCode::INTERNAL_SERVER_ERROR,
        },
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error and its causes, each said once, as the CLI prints it.
pub(crate) fn text(e: &ao_core::Error) -> String {
    ao_core::error::chain(e)
}

/// `{"error": said}` with the status `e` earns.
pub(crate) fn failure(e: &ao_core::Error, said: String) -> Response {
    error(status_of(e), said)
}

/// `{"error": said}`.
pub(crate) fn error(status: StatusCode, said: String) -> Response {
    json(status, &serde_json::json!({ "error": said }))
}

/// 200 with `{"message": said}`.
pub(crate) fn message(said: String) -> Response {
    json(StatusCode::OK, &serde_json::json!({ "message": said }))
}

/// `value` as JSON.
pub(crate) fn json(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(text) => json_text(status, text),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// `text`, which is JSON already.
pub(crate) fn json_text(status: StatusCode, text: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_what_the_caller_got_wrong_or_what_failed() {
        use ao_core::Error as E;
        assert_eq!(status_of(&E::NotFound("x".into())), StatusCode::NOT_FOUND);
        assert_eq!(status_of(&E::Conflict("x".into())), StatusCode::CONFLICT);
        assert_eq!(status_of(&E::Usage("x".into())), StatusCode::BAD_REQUEST);
        assert_eq!(
            status_of(&E::Internal("x".into())),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            status_of(&E::Agent(AgentError::Unreachable("x".into()))),
            StatusCode::BAD_GATEWAY
        );
        assert_eq!(
            status_of(&E::Agent(AgentError::Refused("x".into()))),
            StatusCode::CONFLICT
        );
    }
}
