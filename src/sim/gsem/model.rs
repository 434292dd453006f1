//! GSEM's side of the case model: the cases it holds, and how it validates
//! and acknowledges what a requester POSTs (§3, §4).
//!
//! The validation here is the simulator's own, written from the spec, not
//! the engine's: only the SIS types and the state table (`sis::state`),
//! which is the shared contract, are reused.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::sis::model::{EcpControl, Statements};
use crate::sis::state::{Decision, Event};
use crate::sis::{self, Message, ServiceIncident, State, TransactionName};

/// `transactionStatusCode` of a missing mandatory field.
pub const MISSING_FIELD: i64 = 1001;
/// `transactionStatusCode` of an id GSEM does not know.
pub const UNKNOWN_ID: i64 = 1002;
/// `transactionStatusCode` of a transaction not valid in the case's state.
pub const NOT_VALID_IN_STATE: i64 = 1003;
/// `transactionStatusCode` of a transaction a requester may not send
/// (a simulator choice: the spec names no code for it).
pub const NOT_A_REQUESTER_TRANSACTION: i64 = 1004;
/// `transactionStatusCode` of a `RemoteAgentName` GSEM does not know.
pub const UNKNOWN_AGENT: i64 = 1005;

/// One case as GSEM holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimCase {
    /// The simulator's own handle, stable for the case's life.
    pub key: u64,
    pub requester_id: String,
    /// HPE's 10-digit case number, from ACCEPT PROBLEM on.
    pub provider_id: Option<String>,
    #[serde(serialize_with = "state_code")]
    pub state: State,
    /// `SN=` of `AgreementType`.
    pub serial: Option<String>,
    /// `CN=` of `ContractID`.
    pub contract: Option<String>,
    pub severity: Option<String>,
    pub title: Option<String>,
    pub workflow_status: Option<String>,
    pub opened_at: DateTime<Utc>,
}

fn state_code<S: serde::Serializer>(state: &State, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(state.code())
}

impl SimCase {
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
    }
}

/// A POST refused with an `ERROR` acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub code: i64,
    pub detail: String,
}

impl Refusal {
    fn missing(field: &str) -> Self {
        Self {
            code: MISSING_FIELD,
            detail: format!("missing mandatory field: {field}"),
        }
    }
}

/// What GSEM answered to one POSTed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The acknowledgement's `Message` (samples 10 and 11).
    pub ack: Message,
    pub refusal: Option<Refusal>,
    /// The case the transaction was about, when GSEM found or opened one.
    pub case_key: Option<u64>,
    /// True when a SERVICE REQUEST opened a new case.
    pub opened: bool,
}

/// Every case GSEM holds, in the order they were opened.
#[derive(Debug)]
pub struct Cases {
    cases: Vec<SimCase>,
    next_provider_id: u64,
}

impl Cases {
    /// `first_provider_id` is the case number the first accepted case gets.
    pub fn new(first_provider_id: u64) -> Self {
        Self {
            cases: Vec::new(),
            next_provider_id: first_provider_id,
        }
    }

    pub fn all(&self) -> &[SimCase] {
        &self.cases
    }

    pub fn get(&self, key: u64) -> Option<&SimCase> {
        self.cases.iter().find(|c| c.key == key)
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut SimCase> {
        self.cases.iter_mut().find(|c| c.key == key)
    }

    /// Finds a case by its ProviderID, else by the RequesterID of the newest
    /// unfinished case holding it, else by the newest case holding it.
    pub fn find(&self, id: &str) -> Option<&SimCase> {
        self.by_provider(id)
            .or_else(|| self.unfinished_by_requester(id))
            .or_else(|| self.cases.iter().rev().find(|c| c.requester_id == id))
    }

    fn by_provider(&self, provider_id: &str) -> Option<&SimCase> {
        self.cases
            .iter()
            .find(|c| c.provider_id.as_deref() == Some(provider_id))
    }

    fn unfinished_by_requester(&self, requester_id: &str) -> Option<&SimCase> {
        self.cases
            .iter()
            .rev()
            .find(|c| c.requester_id == requester_id && !c.is_finished())
    }

    /// Gives the case its HPE case number (once: a second call keeps it).
    pub fn assign_provider_id(&mut self, key: u64) -> Option<String> {
        let next = self.next_provider_id;
        let case = self.cases.iter_mut().find(|c| c.key == key)?;
        if case.provider_id.is_none() {
            case.provider_id = Some(format!("{next:010}"));
            self.next_provider_id += 1;
        }
        case.provider_id.clone()
    }

    /// Validates one POSTed transaction, applies it when it is valid, and
    /// returns the acknowledgement.
    pub fn receive(&mut self, agent_name: &str, message: &Message, now: DateTime<Utc>) -> Verdict {
        let mut verdict = Verdict {
            ack: ack_message(message),
            refusal: None,
            case_key: None,
            opened: false,
        };
        match self.apply(agent_name, message, now) {
            Ok((key, opened)) => {
                verdict.case_key = Some(key);
                verdict.opened = opened;
                let state = self.get(key).map(|c| c.state);
                set_status(&mut verdict.ack, None, state);
            }
            Err((refusal, key)) => {
                verdict.case_key = key;
                let state = key.and_then(|k| self.get(k)).map(|c| c.state);
                set_status(&mut verdict.ack, Some(&refusal), state);
                verdict.refusal = Some(refusal);
            }
        }
        verdict
    }

    /// The case key and whether it was opened, or the refusal and the case
    /// it concerns when GSEM knows it.
    fn apply(
        &mut self,
        agent_name: &str,
        message: &Message,
        now: DateTime<Utc>,
    ) -> Result<(u64, bool), (Refusal, Option<u64>)> {
        let name = &message.transaction_name;
        let refuse = |r: Refusal| (r, None);
        if !name.we_send() {
            return Err(refuse(Refusal {
                code: NOT_A_REQUESTER_TRANSACTION,
                detail: format!("`{name}` is not a transaction a requester may send"),
            }));
        }
        match message.remote_agent_name.as_deref() {
            None | Some("") => return Err(refuse(Refusal::missing("RemoteAgentName"))),
            Some(agent) if agent != agent_name => {
                return Err(refuse(Refusal {
                    code: UNKNOWN_AGENT,
                    detail: format!("unknown agent `{agent}`"),
                }));
            }
            Some(_) => {}
        }
        let incident = message
            .service_incident
            .as_ref()
            .ok_or_else(|| refuse(Refusal::missing("SERVICE_INCIDENT")))?;
        let requester_id = non_empty(incident.requester_id.as_deref())
            .ok_or_else(|| refuse(Refusal::missing("SERVICE_INCIDENT.RequesterID")))?;
        check_activity(incident).map_err(refuse)?;
        if *name == TransactionName::ServiceRequest {
            return self.open(incident, requester_id, now);
        }
        let case = match non_empty(incident.provider_id.as_deref()) {
            Some(provider_id) => {
                let case = self.by_provider(provider_id).ok_or_else(|| {
                    refuse(Refusal {
                        code: UNKNOWN_ID,
                        detail: format!("unknown ProviderID {provider_id}"),
                    })
                })?;
                if case.requester_id != requester_id {
                    return Err((
                        Refusal {
                            code: UNKNOWN_ID,
                            detail: format!(
                                "ProviderID {provider_id} belongs to RequesterID {}, not {requester_id}",
                                case.requester_id
                            ),
                        },
                        Some(case.key),
                    ));
                }
                case
            }
            None => self
                .unfinished_by_requester(requester_id)
                .or_else(|| {
                    self.cases
                        .iter()
                        .rev()
                        .find(|c| c.requester_id == requester_id)
                })
                .ok_or_else(|| {
                    refuse(Refusal {
                        code: UNKNOWN_ID,
                        detail: format!("unknown RequesterID {requester_id}"),
                    })
                })?,
        };
        let key = case.key;
        let needs_comment = matches!(
            name,
            TransactionName::ProvideProblemInformation
                | TransactionName::ConfirmClose
                | TransactionName::RejectResolution
                | TransactionName::RequestClosure
        );
        if needs_comment && non_empty(incident.comment.as_deref()).is_none() {
            return Err((Refusal::missing("SERVICE_INCIDENT.Comment"), Some(key)));
        }
        let after = match sis::state::apply(Some(case.state), &Event::Send(name.clone())) {
            Decision::Apply(applied) => applied.state,
            Decision::Refuse(_) | Decision::Quarantine(_) => {
                return Err((
                    Refusal {
                        code: NOT_VALID_IN_STATE,
                        detail: format!("{name} is not valid in state {}", case.state),
                    },
                    Some(key),
                ));
            }
        };
        if let Some(case) = self.get_mut(key) {
            case.state = after;
        }
        Ok((key, false))
    }

    fn open(
        &mut self,
        incident: &ServiceIncident,
        requester_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(u64, bool), (Refusal, Option<u64>)> {
        let refuse = |r: Refusal| (r, None);
        let agreement = incident.agreement.as_ref();
        let contract = agreement
            .and_then(|a| a.contract_id.as_deref())
            .and_then(|text| tag_of(text, "CN"))
            .ok_or_else(|| refuse(Refusal::missing("AGREEMENT.ContractID")))?;
        let serial = agreement
            .and_then(|a| a.agreement_type.as_deref())
            .and_then(|text| tag_of(text, "SN"))
            .ok_or_else(|| refuse(Refusal::missing("AGREEMENT.AgreementType SN")))?;
        let person = incident
            .service_requester
            .as_ref()
            .and_then(|r| r.person.as_ref());
        non_empty(person.and_then(|p| p.last_name.as_deref()))
            .ok_or_else(|| refuse(Refusal::missing("SERVICE_REQUESTER.PERSON.LastName")))?;
        let has_phone = person
            .and_then(|p| p.address.as_ref())
            .and_then(|a| a.location.as_deref())
            .unwrap_or_default()
            .iter()
            .any(|l| {
                l.kind
                    .as_deref()
                    .is_some_and(|k| k.eq_ignore_ascii_case("PRIMARY VOICE"))
                    && non_empty(l.id.as_deref()).is_some()
            });
        if !has_phone {
            return Err(refuse(Refusal::missing(
                "SERVICE_REQUESTER.PERSON.ADDRESS.LOCATION PRIMARY VOICE",
            )));
        }
        let problem = incident.problem.as_ref();
        if problem.is_none_or(|p| p.statements().is_empty()) {
            return Err(refuse(Refusal::missing("PROBLEM")));
        }
        if let Some(held) = self.unfinished_by_requester(requester_id) {
            return Err((
                Refusal {
                    code: NOT_VALID_IN_STATE,
                    detail: format!(
                        "duplicate RequesterID {requester_id}: an unfinished case holds it"
                    ),
                },
                Some(held.key),
            ));
        }
        let key = self.cases.last().map_or(1, |c| c.key + 1);
        self.cases.push(SimCase {
            key,
            requester_id: requester_id.to_owned(),
            provider_id: None,
            state: State::ProblemSubmitted,
            serial: Some(serial),
            contract: Some(contract),
            severity: incident.requester_severity.clone(),
            title: problem
                .and_then(|p| Statements::text_of(p, "TITLE"))
                .map(str::to_owned),
            workflow_status: None,
            opened_at: now,
        });
        Ok((key, true))
    }
}

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.filter(|t| !t.trim().is_empty())
}

/// The value of `tag` in a structured field, when it has a non-empty one.
fn tag_of(text: &str, tag: &str) -> Option<String> {
    sis::fields::parse(text)
        .ok()?
        .get(tag)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn check_activity(incident: &ServiceIncident) -> Result<(), Refusal> {
    let activity = incident
        .activity
        .as_ref()
        .ok_or_else(|| Refusal::missing("ACTIVITY"))?;
    let local_date = non_empty(activity.local_date.as_deref())
        .ok_or_else(|| Refusal::missing("ACTIVITY.LocalDate"))?;
    sis::date::parse(local_date).map_err(|e| Refusal {
        code: MISSING_FIELD,
        detail: format!("invalid ACTIVITY.LocalDate: {e}"),
    })?;
    non_empty(activity.action_log.as_deref())
        .ok_or_else(|| Refusal::missing("ACTIVITY.ActionLog"))?;
    Ok(())
}

/// The acknowledgement of `message` before its status is known: the
/// transaction name and the ids it carried.
fn ack_message(message: &Message) -> Message {
    let incident = message.service_incident.as_ref();
    Message {
        transaction_name: message.transaction_name.clone(),
        remote_agent_name: None,
        remote_agent_type: None,
        ecp_control: None,
        service_incident: Some(ServiceIncident {
            requester_id: incident.and_then(|i| i.requester_id.clone()),
            provider_id: incident.and_then(|i| i.provider_id.clone()),
            ..ServiceIncident::default()
        }),
    }
}

fn set_status(ack: &mut Message, refusal: Option<&Refusal>, state: Option<State>) {
    ack.ecp_control = Some(EcpControl {
        ecp_version: Some("1.0".into()),
        transaction_status: Some(if refusal.is_some() { "ERROR" } else { "OK" }.into()),
        transaction_status_code: Some(refusal.map_or(0, |r| r.code)),
        transaction_status_detail: refusal.map(|r| r.detail.clone()),
    });
    if let Some(si) = ack.service_incident.as_mut() {
        si.current_state = state.map(State::code);
        si.acknowledge = Some(i64::from(refusal.is_some()));
    }
}
