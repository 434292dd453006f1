//! GSEM's synchronous reply to a POST (§4, samples 10 and 11), and the
//! PATCH body that acknowledges a pulled message (§5, sample 13).

use serde::{Deserialize, Serialize};

use super::model::{DecodeError, EcpControl, Envelope, Message, ServiceIncident};
use super::state::State;
use super::transaction::TransactionName;

/// `eCPControl.transactionStatus` of an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckStatus {
    /// `OK`: acknowledged.
    Ok,
    /// `ERROR`: refused, with `transactionStatusCode` and the
    /// human-readable `transactionStatusDetail` shown verbatim.
    Error {
        code: Option<i64>,
        detail: Option<String>,
    },
    /// Any other status: GSEM's answer is not understood (transient, §4).
    Unknown(String),
}

/// A parsed acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub status: AckStatus,
    pub envelope: Envelope,
}

impl Ack {
    pub fn transaction(&self) -> &TransactionName {
        &self.envelope.message.transaction_name
    }

    fn incident(&self) -> Option<&ServiceIncident> {
        self.envelope.message.service_incident.as_ref()
    }

    pub fn requester_id(&self) -> Option<&str> {
        self.incident()?.requester_id.as_deref()
    }

    /// The case's `CurrentState` as GSEM states it, raw (a refusal carries
    /// it when GSEM knows the case); give it to the state machine.
    pub fn current_state(&self) -> Option<i64> {
        self.incident()?.current_state
    }
}

/// Why a reply to a POST is not an acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    #[error("GSEM's reply is not an acknowledgement: {0}")]
    Decode(#[from] DecodeError),
    #[error("GSEM's reply has no `eCPControl.transactionStatus`")]
    MissingStatus,
}

/// Reads GSEM's reply to a POST.
pub fn parse_ack(raw: &[u8]) -> Result<Ack, AckError> {
    let envelope = Envelope::from_json(raw)?;
    let control = envelope.message.ecp_control.as_ref();
    let status = control
        .and_then(|c| c.transaction_status.as_deref())
        .ok_or(AckError::MissingStatus)?;
    let status = match status.trim().to_ascii_uppercase().as_str() {
        "OK" => AckStatus::Ok,
        "ERROR" => AckStatus::Error {
            code: control.and_then(|c| c.transaction_status_code),
            detail: control.and_then(|c| c.transaction_status_detail.clone()),
        },
        _ => AckStatus::Unknown(status.to_owned()),
    };
    Ok(Ack { status, envelope })
}

/// The acknowledgement GSEM would send (for the simulator): samples 10
/// and 11 are `ack_envelope(SERVICE REQUEST, Some("INC…"), &status,
/// Some(ProblemSubmitted) / None)`.
pub fn ack_envelope(
    transaction: &TransactionName,
    requester_id: Option<&str>,
    status: &AckStatus,
    current_state: Option<State>,
) -> Envelope {
    let (text, code, detail, acknowledge) = match status {
        AckStatus::Ok => ("OK".to_owned(), Some(0), None, 0),
        AckStatus::Error { code, detail } => ("ERROR".to_owned(), *code, detail.clone(), 1),
        AckStatus::Unknown(text) => (text.clone(), None, None, 1),
    };
    Envelope {
        queue_details: None,
        message: Message {
            transaction_name: transaction.clone(),
            remote_agent_name: None,
            remote_agent_type: None,
            ecp_control: Some(EcpControl {
                ecp_version: Some("1.0".into()),
                transaction_status: Some(text),
                transaction_status_code: code,
                transaction_status_detail: detail,
            }),
            service_incident: Some(ServiceIncident {
                requester_id: requester_id.map(str::to_owned),
                current_state: current_state.map(State::code),
                acknowledge: Some(acknowledge),
                ..ServiceIncident::default()
            }),
        },
    }
}

/// The PATCH body acknowledging a pulled message (sample 13).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullAck {
    #[serde(rename = "MessageId")]
    pub message_id: String,
    #[serde(rename = "Status")]
    pub status: PullAckStatus,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PullAckStatus {
    #[serde(rename = "PROCESSED")]
    Processed,
}

impl PullAck {
    pub fn processed(message_id: &str) -> PullAck {
        PullAck {
            message_id: message_id.to_owned(),
            status: PullAckStatus::Processed,
        }
    }

    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_missing_statuses() {
        let unknown = parse_ack(
            br#"{"Message": {"TransactionName": "SERVICE REQUEST", "eCPControl": {"transactionStatus": "MAYBE"}}}"#,
        )
        .unwrap();
        assert_eq!(unknown.status, AckStatus::Unknown("MAYBE".into()));
        assert_eq!(
            parse_ack(br#"{"Message": {"TransactionName": "SERVICE REQUEST"}}"#).unwrap_err(),
            AckError::MissingStatus
        );
        assert_eq!(
            parse_ack(b"<html>").unwrap_err().to_string(),
            "GSEM's reply is not an acknowledgement: not JSON: expected value at line 1 column 1"
        );
    }

    #[test]
    fn lower_case_ok_is_ok() {
        let ack = parse_ack(
            br#"{"Message": {"TransactionName": "Query_Incident", "eCPControl": {"transactionStatus": " ok "}}}"#,
        )
        .unwrap();
        assert_eq!(ack.status, AckStatus::Ok);
        assert_eq!(ack.transaction(), &TransactionName::QueryIncident);
        assert_eq!(ack.current_state(), None);
    }
}
