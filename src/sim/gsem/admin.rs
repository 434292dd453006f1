//! The admin API: scripting a running simulator from another process
//! (`casebridge sim gsem note --case …`).
//!
//! It listens on its own address (`GsemSimConfig::admin_bind`) so that a
//! faked outage of the GSEM listener never takes it down, with the same TLS
//! configuration: the caller needs a client certificate of the same CA. No
//! agent key. All bodies are JSON.
//!
//! | call | body | answer |
//! |---|---|---|
//! | `POST _sim/hpe` | `{"case": id, "action": HpeAction}` | `{"message_id": …}` |
//! | `POST _sim/fault` | a [`Fault`], e.g. `{"kind": "unavailable503", "retry_after": 5}` | 204 |
//! | `POST _sim/remove-head` | none | the removed entry's id |
//! | `GET _sim/cases` | | the cases |
//! | `GET _sim/received` | | everything received |
//! | `GET _sim/queue` | | the queue, head first |
//! | `GET _sim/push` | | push health and attempts |
//!
//! `HpeAction` as JSON: `{"note": "text"}`, `{"request_info": "text"}`,
//! `{"resolve": "fix"}`, `{"close": "comment"}`, `"accept"`, `"query"`,
//! `{"entitlement": {"entitled": false, "comment": "…"}}`,
//! `{"onsite_task": [{"task_id": "WO-1", "status": "DISPATCHED"}, "text"]}`,
//! `{"part_order": [{"order_id": "77", "status": "SHIPPED"}, "structured"]}`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Fault, FaultState, HpeAction, Shared};

/// Body of `POST _sim/hpe`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HpeCall {
    /// ProviderID or RequesterID.
    pub case: String,
    pub action: HpeAction,
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/_sim/hpe", post(hpe))
        .route("/_sim/fault", post(fault))
        .route("/_sim/remove-head", post(remove_head))
        .route("/_sim/cases", get(cases))
        .route("/_sim/received", get(received))
        .route("/_sim/queue", get(queue))
        .route("/_sim/push", get(push))
        .with_state(shared)
}

async fn hpe(State(shared): State<Arc<Shared>>, Json(call): Json<HpeCall>) -> Response {
    match shared.script(&call.case, &call.action) {
        Ok(id) => Json(json!({"message_id": id})).into_response(),
        Err(e) => (StatusCode::NOT_FOUND, e.to_string()).into_response(),
    }
}

async fn fault(State(shared): State<Arc<Shared>>, Json(fault): Json<Fault>) -> StatusCode {
    shared.faults.send_replace(FaultState::new(fault));
    StatusCode::NO_CONTENT
}

async fn remove_head(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let removed = shared.lock().queue.remove_head();
    Json(json!({"removed": removed.map(|e| e.message_id)}))
}

async fn cases(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(json!(shared.lock().cases.all()))
}

async fn received(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    Json(json!(shared.lock().received))
}

async fn queue(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let entries: Vec<_> = shared
        .lock()
        .queue
        .entries()
        .iter()
        .map(|e| {
            json!({
                "message_id": e.message_id,
                "delivery_count": e.delivery_count,
                "body": String::from_utf8_lossy(&e.delivery_bytes()),
            })
        })
        .collect();
    Json(json!(entries))
}

async fn push(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let state = shared.lock();
    Json(json!({"health": state.push, "attempts": state.push_attempts}))
}
