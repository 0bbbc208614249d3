//! The open session's questions: `elicitation/create` from the agent, held for a person
//! (`waiting_input`, a [`QuestionRequest`] in the record) until `ao answer` answers it (accept,
//! with the typed content), dismisses it (decline), or the turn is cancelled (cancel).
//!
//! A form is asked; a URL is declined at once, with a note in the conversation: ao cannot open a
//! browser for the agent. Each question request shows in the conversation as a tool line of its
//! own (`question: <message>`), updated with how it was answered.

use agent_client_protocol::v1::schema::{
    CreateElicitationRequest, CreateElicitationResponse, ElicitationAcceptAction,
    ElicitationAction, ElicitationMode, ElicitationScope,
};
use agent_client_protocol::v1::Responder;

use super::Session;
use crate::control::{Refusal, Response};
use crate::host::question::{self, Field};
use crate::host::{now, Failure};
use crate::record::{ConversationLine, ConversationPart, QuestionRequest};

/// A question request waiting for a person, and where its answer goes.
pub(super) struct Asked {
    id: String,
    fields: Vec<Field>,
    responder: Responder<CreateElicitationResponse>,
}

fn respond(responder: Responder<CreateElicitationResponse>, action: ElicitationAction) {
    // The agent may have gone; then nobody waits for the answer.
    let _ = responder.respond(CreateElicitationResponse::new(action));
}

fn refused(why: Refusal, message: String) -> Response {
    Response::Refused { why, message }
}

/// A tool line of the conversation about question `id`.
fn line(id: &str, title: Option<String>, status: &str, output: String) -> ConversationLine {
    ConversationLine {
        id: id.to_string(),
        at: now(),
        part: ConversationPart::Tool {
            kind: None,
            title,
            status: Some(status.into()),
            output: Some(output),
        },
    }
}

impl Session<'_> {
    /// A new `elicitation/create`: a form is recorded and held; anything else is declined.
    pub(super) async fn on_elicitation(
        &mut self,
        request: CreateElicitationRequest,
        responder: Responder<CreateElicitationResponse>,
    ) -> Result<(), Failure> {
        if let ElicitationScope::Session(scope) = request.scope() {
            if scope.session_id != self.session_id {
                let _ = responder.respond_with_error(
                    agent_client_protocol::Error::invalid_params()
                        .data(format!("no session {} here", scope.session_id)),
                );
                return Ok(());
            }
        }
        self.asked_so_far += 1;
        let id = format!("question-{}-{}", self.turns, self.asked_so_far);
        let at = now();
        let form = match &request.mode {
            ElicitationMode::Form(form) => question::fields(&form.requested_schema),
            ElicitationMode::Url(_) => {
                Err("it asks to open a web page, and ao cannot open a browser for the agent".into())
            }
            _ => Err("it asks in a way ao does not know".into()),
        };
        let fields = match form {
            Ok(fields) => fields,
            Err(why) => {
                respond(responder, ElicitationAction::Decline);
                let text = format!("declined: {why}");
                self.pane
                    .note(&format!("question {id}: {}: {text}", request.message));
                let declined = line(
                    &id,
                    Some(format!("question: {}", request.message)),
                    "failed",
                    text,
                );
                self.append(&[declined]).await?;
                self.recorder.record.last_activity_at = Some(at);
                return self.save().await;
            }
        };
        let questions: Vec<_> = fields.iter().map(question::question).collect();
        let mut shown = format!("? question {id}: {}", request.message);
        let mut asked = String::new();
        for (i, field) in fields.iter().enumerate() {
            let text = format!(
                "{}. {}: {}",
                i + 1,
                field.question,
                question::allowed(field)
            );
            shown.push_str(&format!("\n  {text}"));
            asked.push_str(&format!("{text}\n"));
        }
        shown.push_str(&format!(
            "\n  answer: ao answer <session> --request {id} <one answer each> (or --reject)"
        ));
        self.pane.note(&shown);
        let title = format!("question: {}", request.message);
        self.append(&[line(&id, Some(title.clone()), "pending", asked)])
            .await?;
        self.asked.push(Asked {
            id: id.clone(),
            fields,
            responder,
        });
        self.recorder.record.questions.push(QuestionRequest {
            id,
            title: request.message,
            questions,
            at,
        });
        self.recorder.record.last_activity_at = Some(at);
        self.save().await
    }

    /// `ao answer`: accept with the typed content, or say what is wrong (the request stays).
    pub(super) async fn answer(
        &mut self,
        id: &str,
        answers: &[String],
    ) -> Result<Response, Failure> {
        let Some(index) = self.asked.iter().position(|a| a.id == id) else {
            return Ok(gone(id));
        };
        let content = match question::content(&self.asked[index].fields, answers) {
            Ok(content) => content,
            Err(wrong) => return Ok(refused(Refusal::Invalid, format!("question {id}: {wrong}"))),
        };
        let asked = self.asked.remove(index);
        let summary = question::summary(&content);
        respond(
            asked.responder,
            ElicitationAction::Accept(ElicitationAcceptAction::new().content(content)),
        );
        self.answered(id, "completed", format!("answered: {summary}"))
            .await?;
        Ok(Response::Ok)
    }

    /// `ao answer --reject`: decline.
    pub(super) async fn dismiss(&mut self, id: &str) -> Result<Response, Failure> {
        let Some(index) = self.asked.iter().position(|a| a.id == id) else {
            return Ok(gone(id));
        };
        let asked = self.asked.remove(index);
        respond(asked.responder, ElicitationAction::Decline);
        self.answered(id, "failed", "declined (ao answer --reject)".into())
            .await?;
        Ok(Response::Ok)
    }

    /// Answers every waiting question cancelled (the turn is cancelled or over); the caller
    /// saves the record.
    pub(super) async fn cancel_questions(&mut self) -> Result<(), Failure> {
        let asked: Vec<Asked> = self.asked.drain(..).collect();
        self.recorder.record.questions.clear();
        for a in asked {
            respond(a.responder, ElicitationAction::Cancel);
            self.pane.note(&format!("question {}: cancelled", a.id));
            self.append(&[line(&a.id, None, "failed", "cancelled".into())])
                .await?;
        }
        Ok(())
    }

    async fn answered(&mut self, id: &str, status: &str, how: String) -> Result<(), Failure> {
        self.recorder.record.questions.retain(|q| q.id != id);
        self.pane.note(&format!("question {id}: {how}"));
        self.append(&[line(id, None, status, how)]).await?;
        self.recorder.record.last_activity_at = Some(now());
        self.save().await
    }
}

fn gone(id: &str) -> Response {
    refused(
        Refusal::Gone,
        format!("no question {id} is waiting (answered already?)"),
    )
}
