//! Reading what GSEM delivers from HPE (§2, §5).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::date;
use super::ext;
use super::model::Decode;
use super::model::{
    Activity, DecodeError, Envelope, NameValuePairs, ServiceIncident, Statements, json_object,
};
use super::state::{self, QuarantineReason, Received, State};
use super::transaction::TransactionName;

/// Why an inbound message cannot be used. The text is the quarantine reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InboundError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Quarantine(#[from] QuarantineReason),
}

/// An inbound transaction: the typed envelope and the raw text it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    pub envelope: Envelope,
    /// The message exactly as received (it is valid UTF-8).
    pub raw: String,
}

/// Reads a message HPE sent through GSEM. Checks what needs no case (§3):
/// a known transaction that HPE may send, a `CurrentState` in 0–7, an
/// `Entitled` of 0 or 1. Unknown fields are ignored.
pub fn parse_inbound(raw: &[u8]) -> Result<Inbound, InboundError> {
    inbound_from_value(json_object(raw)?, raw)
}

fn inbound_from_value(value: Value, raw: &[u8]) -> Result<Inbound, InboundError> {
    let envelope = Envelope::decode(value, "Message")?;
    let inbound = Inbound {
        envelope,
        raw: String::from_utf8_lossy(raw).into_owned(),
    };
    state::check_received(&inbound.received())?;
    Ok(inbound)
}

/// The reply to a pull (`GET redfish/v1/message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullReply {
    /// `{"eCPControl": {"transactionStatus": "NO_MESSAGE"}}` (sample 12).
    Empty,
    Message(Box<Inbound>),
}

/// The `transactionStatus` of an empty queue.
pub const NO_MESSAGE: &str = "NO_MESSAGE";

/// Reads a pull reply: the empty-queue marker, or the head of the queue.
pub fn parse_pull(raw: &[u8]) -> Result<PullReply, InboundError> {
    let value = json_object(raw)?;
    let empty = value.get("Message").is_none()
        && value
            .pointer("/eCPControl/transactionStatus")
            .and_then(Value::as_str)
            .is_some_and(|status| status.trim().eq_ignore_ascii_case(NO_MESSAGE));
    if empty {
        return Ok(PullReply::Empty);
    }
    inbound_from_value(value, raw).map(|inbound| PullReply::Message(Box::new(inbound)))
}

/// The body of an empty-queue reply, as GSEM sends it (sample 12).
pub fn empty_queue_reply() -> Value {
    serde_json::json!({"eCPControl": {"transactionStatus": NO_MESSAGE}})
}

/// `QueueDetails.MessageId` of any JSON body, even one that is not a usable
/// message, so that a pulled head can be acknowledged after quarantine.
pub fn peek_message_id(raw: &[u8]) -> Option<String> {
    json_object(raw)
        .ok()?
        .pointer("/QueueDetails/MessageId")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

impl Inbound {
    pub fn transaction(&self) -> &TransactionName {
        &self.envelope.message.transaction_name
    }

    fn incident(&self) -> Option<&ServiceIncident> {
        self.envelope.message.service_incident.as_ref()
    }

    fn activity(&self) -> Option<&Activity> {
        self.incident()?.activity.as_ref()
    }

    /// GSEM's queue id, the key for deduplication.
    pub fn message_id(&self) -> Option<&str> {
        self.envelope.queue_details.as_ref()?.message_id.as_deref()
    }

    /// `QueueDetails.EnqueuedAt`, when present and a GSEM date.
    pub fn enqueued_at(&self) -> Option<DateTime<Utc>> {
        let text = self
            .envelope
            .queue_details
            .as_ref()?
            .enqueued_at
            .as_deref()?;
        date::parse(text).ok()
    }

    pub fn delivery_count(&self) -> Option<i64> {
        self.envelope.queue_details.as_ref()?.delivery_count
    }

    pub fn remote_agent_name(&self) -> Option<&str> {
        self.envelope.message.remote_agent_name.as_deref()
    }

    pub fn remote_agent_type(&self) -> Option<&str> {
        self.envelope.message.remote_agent_type.as_deref()
    }

    pub fn requester_id(&self) -> Option<&str> {
        self.incident()?.requester_id.as_deref()
    }

    pub fn provider_id(&self) -> Option<&str> {
        self.incident()?.provider_id.as_deref()
    }

    /// HPE's `CurrentState`; [`parse_inbound`] has checked it is a state.
    pub fn current_state(&self) -> Option<State> {
        State::from_code(self.incident()?.current_state?)
    }

    /// `Entitled`: `Some(true)` for 0 (entitled), `Some(false)` for 1.
    pub fn entitled(&self) -> Option<bool> {
        self.incident()?.entitled.map(|code| code == 0)
    }

    pub fn provider_priority(&self) -> Option<i64> {
        self.incident()?.provider_priority
    }

    pub fn comment(&self) -> Option<&str> {
        self.incident()?.comment.as_deref()
    }

    /// HPE's own case status text.
    pub fn workflow_status(&self) -> Option<&str> {
        self.incident()?.workflow_status.as_deref()
    }

    pub fn solution(&self) -> Option<&Statements> {
        self.incident()?.solution.as_ref()
    }

    /// The texts of the `SOLUTION` statements, one paragraph each.
    pub fn solution_text(&self) -> Option<String> {
        let texts: Vec<&str> = self
            .solution()?
            .statements()
            .iter()
            .filter_map(|s| s.text.as_deref())
            .collect();
        (!texts.is_empty()).then(|| texts.join("\n\n"))
    }

    pub fn action_log(&self) -> Option<&str> {
        self.activity()?.action_log.as_deref()
    }

    /// `ACTIVITY.LocalDate`, read as UTC, when present and a GSEM date.
    pub fn activity_local_date(&self) -> Option<DateTime<Utc>> {
        date::parse(self.activity()?.local_date.as_deref()?).ok()
    }

    pub fn name_value_pairs(&self) -> Option<&NameValuePairs> {
        self.activity()?.name_value_pairs.as_ref()
    }

    /// `eCPExtMessage_InfoRequested` is `Y`: HPE waits on us.
    pub fn info_requested(&self) -> bool {
        self.name_value_pairs()
            .and_then(|pairs| pairs.get(ext::INFO_REQUESTED))
            .is_some_and(|flag| flag.trim().eq_ignore_ascii_case("Y"))
    }

    /// Event time (§5): `ACTIVITY.LocalDate`, else `QueueDetails.EnqueuedAt`,
    /// else `received_at`.
    pub fn event_time(&self, received_at: DateTime<Utc>) -> DateTime<Utc> {
        self.activity_local_date()
            .or_else(|| self.enqueued_at())
            .unwrap_or(received_at)
    }

    /// What the state machine needs of this message.
    pub fn received(&self) -> Received {
        let incident = self.incident();
        Received {
            transaction: self.transaction().clone(),
            current_state: incident.and_then(|si| si.current_state),
            entitled: incident.and_then(|si| si.entitled),
            info_requested: self.info_requested(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quarantine_reasons_come_out_as_errors() {
        let cases: [(&str, &str); 7] = [
            (
                r#"{"Message": {"TransactionName": "HELLO"}}"#,
                "unknown transaction `HELLO`",
            ),
            (
                r#"{"Message": {"TransactionName": "Confirm_Close"}}"#,
                "CONFIRM CLOSE is a transaction only we send",
            ),
            (
                r#"{"Message": {"TransactionName": "ENTITLEMENT", "SERVICE_INCIDENT": {"CurrentState": 8}}}"#,
                "unknown state 8",
            ),
            (
                r#"{"Message": {"TransactionName": "ENTITLEMENT", "SERVICE_INCIDENT": {"Entitled": "2"}}}"#,
                "Entitled other than 0 or 1: 2",
            ),
            (
                r#"{"Message": {"TransactionName": "ENTITLEMENT", "SERVICE_INCIDENT": {"CurrentState": {}}}}"#,
                "wrong type for `CurrentState`",
            ),
            (
                r#"{"QueueDetails": {"MessageId": "q1"}}"#,
                "missing `Message`",
            ),
            ("not json", "not JSON: expected ident at line 1 column 2"),
        ];
        for (raw, reason) in cases {
            assert_eq!(
                parse_inbound(raw.as_bytes()).unwrap_err().to_string(),
                reason,
                "{raw}"
            );
        }
    }

    #[test]
    fn message_id_is_readable_from_unusable_heads() {
        let raw =
            br#"{"QueueDetails": {"MessageId": "q-9"}, "Message": {"TransactionName": "NOPE"}}"#;
        assert!(parse_inbound(raw).is_err());
        assert_eq!(peek_message_id(raw).as_deref(), Some("q-9"));
        assert_eq!(peek_message_id(b"{]"), None);
        assert_eq!(
            peek_message_id(br#"{"QueueDetails": {"MessageId": 5}}"#),
            None
        );
    }

    #[test]
    fn event_time_falls_back_from_local_date_to_enqueued_to_received() {
        let received_at = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let with_both = parse_inbound(
            br#"{"QueueDetails": {"EnqueuedAt": "2024-04-29 04:57:51"}, "Message": {"TransactionName": "QUERY INCIDENT",
                "SERVICE_INCIDENT": {"ACTIVITY": {"LocalDate": "2024-04-29 04:57:50"}}}}"#,
        )
        .unwrap();
        assert_eq!(
            with_both.event_time(received_at),
            date::parse("2024-04-29 04:57:50").unwrap()
        );
        let bad_local = parse_inbound(
            br#"{"QueueDetails": {"EnqueuedAt": "2024-04-29 04:57:51"}, "Message": {"TransactionName": "QUERY INCIDENT",
                "SERVICE_INCIDENT": {"ACTIVITY": {"LocalDate": "yesterday"}}}}"#,
        )
        .unwrap();
        assert_eq!(
            bad_local.event_time(received_at),
            date::parse("2024-04-29 04:57:51").unwrap()
        );
        let bare = parse_inbound(br#"{"Message": {"TransactionName": "QUERY INCIDENT"}}"#).unwrap();
        assert_eq!(bare.event_time(received_at), received_at);
    }
}
