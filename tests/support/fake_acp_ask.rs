//! The fake ACP agent's questions (`ask:`): an `elicitation/create` in form mode, and what came
//! back, said in a message. A module of `fake-acp-agent` (`fake_acp_agent.rs`).
//!
//! `ask:<field>=<opt1>|<opt2>|...[+<text field>]` asks, with the message `Pick a <field>`, for
//! one required choice `<field>` among the options and, after `+`, one optional free-text field.
//! The message that follows says `answer: accept {"<field>":"<opt>",...}` (the content as JSON),
//! `answer: decline` or `answer: cancel`; then `end_turn` (`cancelled` when the turn was
//! cancelled). A client that did not advertise form elicitation in `initialize` is not asked:
//! the message says `the client offers no form elicitation`.
//!
//! `ask-url:<url>` asks in URL mode (whatever the client advertised: a client must cope with an
//! agent that asks what it cannot do), and says what came back alike.

use std::sync::atomic::{AtomicBool, Ordering};

use agent_client_protocol::v1::schema::{
    ClientCapabilities, CreateElicitationRequest, ElicitationAction, ElicitationFormMode,
    ElicitationMode, ElicitationSchema, ElicitationSessionScope, ElicitationUrlMode,
    PromptResponse, SessionId, StopReason, StringPropertySchema,
};
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::{Client, Error};
use tokio::sync::watch;

/// Whether the client advertised form elicitation in `initialize`.
static FORM: AtomicBool = AtomicBool::new(false);

/// Notes what the client can be asked (from its `initialize`).
pub fn note_client(capabilities: &ClientCapabilities) {
    let form = capabilities
        .elicitation
        .as_ref()
        .is_some_and(|e| e.supports_form());
    FORM.store(form, Ordering::SeqCst);
}

/// `ask:...`: asks, and says what came back.
pub async fn ask(
    cx: ConnectionTo<Client>,
    session: SessionId,
    arg: &str,
    cancel: watch::Receiver<bool>,
) -> Result<PromptResponse, Error> {
    if !FORM.load(Ordering::SeqCst) {
        super::message(&cx, &session, "the client offers no form elicitation")?;
        return Ok(PromptResponse::new(StopReason::EndTurn));
    }
    let (choice, text_field) = match arg.split_once('+') {
        Some((choice, text)) => (choice, Some(text.trim())),
        None => (arg, None),
    };
    let (field, options) = choice
        .split_once('=')
        .ok_or_else(|| Error::invalid_params().data("ask:<field>=<opt1>|<opt2>[+<text field>]"))?;
    let options: Vec<String> = options.split('|').map(|o| o.trim().to_string()).collect();
    let mut schema = ElicitationSchema::new().property(
        field.trim(),
        StringPropertySchema::new().enum_values(options),
        true,
    );
    if let Some(text) = text_field.filter(|t| !t.is_empty()) {
        schema = schema.string(text, false);
    }
    let request = CreateElicitationRequest::new(
        ElicitationFormMode::new(ElicitationSessionScope::new(session.clone()), schema),
        format!("Pick a {}", field.trim()),
    );
    asked(cx, session, request, cancel).await
}

/// `ask-url:<url>`: asks a person to open `<url>`, and says what came back.
pub async fn ask_url(
    cx: ConnectionTo<Client>,
    session: SessionId,
    url: &str,
    cancel: watch::Receiver<bool>,
) -> Result<PromptResponse, Error> {
    let mode = ElicitationMode::Url(ElicitationUrlMode::new(
        ElicitationSessionScope::new(session.clone()),
        format!("fake-url-{}", std::process::id()),
        url.trim(),
    ));
    let request = CreateElicitationRequest::new(mode, "Sign in");
    asked(cx, session, request, cancel).await
}

/// Sends `request`, and says what came back.
async fn asked(
    cx: ConnectionTo<Client>,
    session: SessionId,
    request: CreateElicitationRequest,
    mut cancel: watch::Receiver<bool>,
) -> Result<PromptResponse, Error> {
    let say = |text: &str| super::message(&cx, &session, text);
    let action = tokio::select! {
        answer = cx.send_request(request).block_task() => answer?.action,
        _ = cancel.wait_for(|c| *c) => {
            say("answer: none, the turn was cancelled")?;
            return Ok(PromptResponse::new(StopReason::Cancelled));
        }
    };
    let said = match &action {
        ElicitationAction::Accept(accept) => format!(
            "answer: accept {}",
            serde_json::to_string(&accept.content).map_err(Error::into_internal_error)?
        ),
        ElicitationAction::Decline => "answer: decline".to_string(),
        ElicitationAction::Cancel => "answer: cancel".to_string(),
        other => format!("answer: {other:?}"),
    };
    say(&said)?;
    Ok(PromptResponse::new(
        if matches!(action, ElicitationAction::Cancel) {
            StopReason::Cancelled
        } else {
            StopReason::EndTurn
        },
    ))
}
