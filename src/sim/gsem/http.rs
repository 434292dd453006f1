//! GSEM's HTTP surface (§1 table): configuration, the POST with its
//! synchronous acknowledgement, and the pull queue.
//!
//! One handler takes every request so that each one, whatever it is
//! answered (401, 413, 503, an acknowledgement), is recorded in order.

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde_json::{Value, json};

use crate::sis::Envelope;

use super::queue::AckOutcome;
use super::{Delivery, Fault, Received, Refusal, Shared};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

/// An answer, with what recording needs to know about it.
pub(crate) struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub retry_after: Option<u64>,
    pub ack: Option<Option<Refusal>>,
}

impl Reply {
    pub fn json(status: StatusCode, value: &Value) -> Self {
        Self {
            status,
            body: value.to_string().into_bytes(),
            retry_after: None,
            ack: None,
        }
    }

    pub fn text(status: StatusCode, text: impl Into<String>) -> Self {
        Self {
            status,
            body: text.into().into_bytes(),
            retry_after: None,
            ack: None,
        }
    }

    fn into_response(self) -> Response {
        let content_type = if self.body.first() == Some(&b'{') {
            "application/json"
        } else {
            "text/plain; charset=utf-8"
        };
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, content_type)],
            self.body,
        )
            .into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let path = uri.path().trim_start_matches('/').to_owned();
    let (bytes, reply) = match axum::body::to_bytes(body, shared.config.body_limit).await {
        Ok(bytes) => {
            let reply = match shared.current_fault() {
                Fault::Unavailable503 { retry_after } => Reply {
                    retry_after,
                    ..Reply::text(StatusCode::SERVICE_UNAVAILABLE, "service unavailable")
                },
                // A request that raced the start of a hang on a kept-alive
                // connection hangs too.
                Fault::Hang => std::future::pending().await,
                _ => route(&shared, &method, &path, &headers, &bytes),
            };
            (bytes, reply)
        }
        Err(_) => (
            Bytes::new(),
            Reply::text(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("body over the limit of {} bytes", shared.config.body_limit),
            ),
        ),
    };
    record(&shared, &method, path, &bytes, &reply);
    reply.into_response()
}

fn record(shared: &Shared, method: &Method, path: String, bytes: &[u8], reply: &Reply) {
    let envelope = (*method == Method::POST)
        .then(|| Envelope::from_json(bytes).ok())
        .flatten();
    let message = envelope.as_ref().map(|e| &e.message);
    let incident = message.and_then(|m| m.service_incident.as_ref());
    let mut state = shared.lock();
    let seq = state.received.len() as u64 + 1;
    state.received.push(Received {
        seq,
        at: Utc::now(),
        method: method.to_string(),
        path,
        body: bytes.to_vec(),
        transaction: message.map(|m| m.transaction_name.to_string()),
        requester_id: incident.and_then(|i| i.requester_id.clone()),
        provider_id: incident.and_then(|i| i.provider_id.clone()),
        comment: incident.and_then(|i| i.comment.clone()),
        status: reply.status.as_u16(),
        ack: reply.ack.clone(),
        answer: reply.body.clone(),
    });
}

fn same_path(path: &str, configured: &str) -> bool {
    path.trim_end_matches('/') == configured.trim_matches('/')
}

fn route(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Reply {
    let config = &shared.config;
    let known = same_path(path, &config.config_path) || same_path(path, &config.message_path);
    if !known {
        return Reply::text(StatusCode::NOT_FOUND, format!("no such resource: /{path}"));
    }
    let key = headers
        .get(config.agent_key_header.as_str())
        .and_then(|v| v.to_str().ok());
    if key != Some(config.agent_key.as_str()) {
        return Reply::text(
            StatusCode::UNAUTHORIZED,
            format!("missing or wrong {}", config.agent_key_header),
        );
    }
    let is_config = same_path(path, &config.config_path);
    match (is_config, method.clone()) {
        (true, Method::GET) => Reply::json(StatusCode::OK, &gsem_configuration(shared)),
        (false, Method::POST) => post_message(shared, body),
        (false, Method::GET) => pull_head(shared),
        (false, Method::PATCH) => pull_ack(shared, body),
        _ => Reply::text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} not allowed on /{path}"),
        ),
    }
}

/// `GET redfish/v1/gsem`: the partners and agents this agent may address.
fn gsem_configuration(shared: &Shared) -> Value {
    let config = &shared.config;
    let mode = match config.delivery {
        Delivery::Pull => "pull",
        Delivery::Push(_) => "push",
    };
    json!({
        "@odata.id": format!("/{}", config.config_path.trim_matches('/')),
        "Name": "GSEM",
        "AgentName": config.agent_name,
        "AgentType": config.agent_type,
        "DeliveryMode": mode,
        "Partners": [{
            "PartnerName": "HPE",
            "RemoteAgents": [{
                "RemoteAgentName": config.hpe_agent.name,
                "RemoteAgentType": config.hpe_agent.kind,
            }],
        }],
    })
}

fn post_message(shared: &Arc<Shared>, body: &[u8]) -> Reply {
    let envelope = match Envelope::from_json(body) {
        Ok(envelope) => envelope,
        Err(e) => {
            return Reply::text(
                StatusCode::BAD_REQUEST,
                format!("cannot read the message: {e}"),
            );
        }
    };
    let verdict = {
        let mut state = shared.lock();
        state
            .cases
            .receive(&shared.config.agent_name, &envelope.message, Utc::now())
    };
    if verdict.opened
        && let Some(key) = verdict.case_key
    {
        shared.schedule_answer(key);
    }
    let ack = Envelope {
        queue_details: None,
        message: verdict.ack,
    };
    Reply {
        status: StatusCode::OK,
        // The SIS types always serialise.
        body: ack.to_json().unwrap_or_default(),
        retry_after: None,
        ack: Some(verdict.refusal),
    }
}

/// `GET redfish/v1/message`: the head, or NO_MESSAGE (sample 12).
fn pull_head(shared: &Shared) -> Reply {
    if let Delivery::Push(_) = shared.config.delivery {
        return Reply::text(
            StatusCode::CONFLICT,
            "this agent is configured for push delivery: messages are POSTed to its endpoint",
        );
    }
    match shared.lock().queue.deliver_head() {
        Some(entry) => Reply {
            body: entry.delivery_bytes(),
            ..Reply::text(StatusCode::OK, "")
        },
        None => Reply::json(
            StatusCode::OK,
            &json!({"eCPControl": {"transactionStatus": "NO_MESSAGE"}}),
        ),
    }
}

/// `PATCH redfish/v1/message` with `{"MessageId": …, "Status": "PROCESSED"}`.
fn pull_ack(shared: &Shared, body: &[u8]) -> Reply {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return Reply::text(StatusCode::BAD_REQUEST, "the body is not JSON");
    };
    let Some(id) = request.get("MessageId").and_then(Value::as_str) else {
        return Reply::text(StatusCode::BAD_REQUEST, "missing MessageId");
    };
    if request.get("Status").and_then(Value::as_str) != Some("PROCESSED") {
        return Reply::text(StatusCode::BAD_REQUEST, "Status must be \"PROCESSED\"");
    }
    let outcome = shared.lock().queue.acknowledge(id);
    match outcome {
        AckOutcome::Removed | AckOutcome::AlreadyAcknowledged => Reply::json(
            StatusCode::OK,
            &json!({"MessageId": id, "eCPControl": {"transactionStatus": "OK"}}),
        ),
        AckOutcome::NotHead => Reply::text(
            StatusCode::CONFLICT,
            format!("message {id} is not the head of the queue: it was never delivered"),
        ),
        AckOutcome::Unknown => Reply::text(StatusCode::NOT_FOUND, format!("no message {id}")),
    }
}
