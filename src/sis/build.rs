//! Building the transactions we send (§2, §3).
//!
//! Inputs are plain structs, independent of the config module. Every
//! generated value comes from the `now` argument, so the caller fixes it when
//! the outbox row is committed and a resend is byte-identical.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::date;
use super::ext;
use super::fields::{self, FieldError};
use super::model::{
    Activity, Agreement, EcpControl, Envelope, Location, Message, NameValuePairs, Organization,
    PersonAddress, PersonRecord, PostalAddress, ServiceIncident, ServiceRequester, Statement,
    Statements,
};
use super::transaction::TransactionName;

/// The agent a message is addressed to (configured).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub remote_agent_name: String,
    pub remote_agent_type: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub geo_address1: String,
    pub city: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    pub first_name: String,
    pub last_name: String,
    pub phone: String,
    pub email: String,
}

/// Who opens the case: the site's organization, the operator, and
/// optionally an alternate contact (written as `eCPExtMessage_*` pairs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requester {
    pub organization_name: String,
    pub address: Address,
    pub person: Person,
    pub alternate: Option<Person>,
}

/// What a SERVICE REQUEST carries besides the generated dates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceRequestInput {
    pub requester_id: String,
    /// `RequesterSeverity`, already mapped from the priority (`MAJOR`, ...).
    pub severity: String,
    pub requester: Requester,
    pub contract: String,
    pub serial: String,
    /// `<incident number>_<N>`, sent as `LN=`.
    pub tracking_number: String,
    pub title: String,
    pub description: String,
}

/// The ids of an open case, for every message after the SERVICE REQUEST.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseRef {
    pub requester_id: String,
    /// HPE's case number, once ACCEPT PROBLEM brought it.
    pub provider_id: Option<String>,
}

/// `ActionLog` and `ParameterList` of one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityEntry {
    pub action_log: String,
    pub parameter_list: String,
}

impl ActivityEntry {
    fn new(action_log: &str, parameter_list: &str) -> ActivityEntry {
        ActivityEntry {
            action_log: action_log.into(),
            parameter_list: parameter_list.into(),
        }
    }
}

/// The `ACTIVITY` of what we send (a **model** choice, configurable);
/// `Default` is the table of §2.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActivityTable {
    pub service_request: ActivityEntry,
    pub provide_problem_information: ActivityEntry,
    pub reject_resolution: ActivityEntry,
    pub confirm_close: ActivityEntry,
    pub request_closure: ActivityEntry,
    pub query_incident: ActivityEntry,
}

impl Default for ActivityTable {
    fn default() -> Self {
        ActivityTable {
            service_request: ActivityEntry::new("Alternate Contact", "Problem:Add"),
            provide_problem_information: ActivityEntry::new("Note", "Problem:Update"),
            reject_resolution: ActivityEntry::new("Resolution rejected", "Problem:Update"),
            confirm_close: ActivityEntry::new("Closure", "Problem:Close"),
            request_closure: ActivityEntry::new("Closure", "Problem:Close"),
            query_incident: ActivityEntry::new("Query", "Problem:Query"),
        }
    }
}

/// Why a message cannot be built; shown to the operator before anything
/// leaves casebridge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("{transaction} needs {what}: write it and retry")]
    Empty {
        transaction: TransactionName,
        what: &'static str,
    },
    #[error("SERVICE REQUEST needs {0}")]
    Missing(&'static str),
    #[error("`{field}` cannot be sent: {source}")]
    Field {
        field: &'static str,
        source: FieldError,
    },
}

/// Builds what we send to one destination with one `ACTIVITY` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBuilder {
    pub destination: Destination,
    pub activity: ActivityTable,
}

impl MessageBuilder {
    pub fn new(destination: Destination, activity: ActivityTable) -> MessageBuilder {
        MessageBuilder {
            destination,
            activity,
        }
    }

    /// Opens a case, PROBLEM included (the "Problem_Submittal shortcut").
    /// `ResponseTime` and `LocalDate` are `now`.
    pub fn service_request(
        &self,
        input: &ServiceRequestInput,
        now: DateTime<Utc>,
    ) -> Result<Envelope, BuildError> {
        let person = &input.requester.person;
        for (value, what) in [
            (&input.requester_id, "a RequesterID"),
            (
                &person.last_name,
                "the requester's last name (operator profile or site contact)",
            ),
            (
                &person.phone,
                "the requester's phone (operator profile or site contact)",
            ),
            (
                &input.contract,
                "a contract: map the system's serial to its contract in the config",
            ),
            (&input.serial, "the system's serial number"),
        ] {
            if value.trim().is_empty() {
                return Err(BuildError::Missing(what));
            }
        }
        let agreement = Agreement {
            contract_id: Some(structured("ContractID", &[("CN", &input.contract)])?),
            agreement_type: Some(structured(
                "AgreementType",
                &[("SN", &input.serial), ("LN", &input.tracking_number)],
            )?),
        };
        let pairs = input
            .requester
            .alternate
            .as_ref()
            .map(alternate_contact_pairs);
        let incident = ServiceIncident {
            requester_id: Some(input.requester_id.clone()),
            requester_severity: Some(input.severity.clone()),
            response_time: Some(date::format(now)),
            service_requester: Some(service_requester(&input.requester)),
            agreement: Some(agreement),
            problem: Some(Statements::and(vec![
                Statement::new("DESCRIPTION", &input.description),
                Statement::new("TITLE", &input.title),
            ])),
            activity: Some(activity(&self.activity.service_request, now, pairs)),
            ..ServiceIncident::default()
        };
        Ok(self.envelope(TransactionName::ServiceRequest, incident))
    }

    /// Our note to HPE.
    pub fn provide_problem_information(
        &self,
        case: &CaseRef,
        note: &str,
        now: DateTime<Utc>,
    ) -> Result<Envelope, BuildError> {
        let entry = &self.activity.provide_problem_information;
        self.follow_up(
            TransactionName::ProvideProblemInformation,
            case,
            Some((note, "a note")),
            entry,
            now,
        )
    }

    /// Rejects HPE's proposed resolution; the reason is mandatory.
    pub fn reject_resolution(
        &self,
        case: &CaseRef,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Envelope, BuildError> {
        let entry = &self.activity.reject_resolution;
        self.follow_up(
            TransactionName::RejectResolution,
            case,
            Some((reason, "a reason")),
            entry,
            now,
        )
    }

    /// Accepts HPE's resolution; closure notes are mandatory.
    pub fn confirm_close(
        &self,
        case: &CaseRef,
        notes: &str,
        now: DateTime<Utc>,
    ) -> Result<Envelope, BuildError> {
        let entry = &self.activity.confirm_close;
        self.follow_up(
            TransactionName::ConfirmClose,
            case,
            Some((notes, "closure notes")),
            entry,
            now,
        )
    }

    /// Closes the case from our side; closure notes are mandatory.
    pub fn request_closure(
        &self,
        case: &CaseRef,
        notes: &str,
        now: DateTime<Utc>,
    ) -> Result<Envelope, BuildError> {
        let entry = &self.activity.request_closure;
        self.follow_up(
            TransactionName::RequestClosure,
            case,
            Some((notes, "closure notes")),
            entry,
            now,
        )
    }

    /// Asks for HPE's current view of the case.
    pub fn query_incident(
        &self,
        case: &CaseRef,
        now: DateTime<Utc>,
    ) -> Result<Envelope, BuildError> {
        let entry = &self.activity.query_incident;
        self.follow_up(TransactionName::QueryIncident, case, None, entry, now)
    }

    /// The shape shared by everything after the SERVICE REQUEST: the ids, an
    /// optional mandatory `Comment` (text, and what to call it when empty),
    /// and `ACTIVITY`.
    fn follow_up(
        &self,
        transaction: TransactionName,
        case: &CaseRef,
        comment: Option<(&str, &'static str)>,
        entry: &ActivityEntry,
        now: DateTime<Utc>,
    ) -> Result<Envelope, BuildError> {
        let empty = |what| BuildError::Empty {
            transaction: transaction.clone(),
            what,
        };
        if case.requester_id.trim().is_empty() {
            return Err(empty("a RequesterID"));
        }
        if let Some((text, what)) = comment
            && text.trim().is_empty()
        {
            return Err(empty(what));
        }
        let incident = ServiceIncident {
            requester_id: Some(case.requester_id.clone()),
            provider_id: case.provider_id.clone(),
            comment: comment.map(|(text, _)| text.to_owned()),
            activity: Some(activity(entry, now, None)),
            ..ServiceIncident::default()
        };
        Ok(self.envelope(transaction, incident))
    }

    fn envelope(&self, transaction: TransactionName, incident: ServiceIncident) -> Envelope {
        Envelope {
            queue_details: None,
            message: Message {
                transaction_name: transaction,
                remote_agent_name: Some(self.destination.remote_agent_name.clone()),
                remote_agent_type: Some(self.destination.remote_agent_type.clone()),
                ecp_control: Some(EcpControl {
                    ecp_version: Some("1.0".into()),
                    ..EcpControl::default()
                }),
                service_incident: Some(incident),
            },
        }
    }
}

fn structured(field: &'static str, tags: &[(&str, &str)]) -> Result<String, BuildError> {
    fields::format(None, tags).map_err(|source| BuildError::Field { field, source })
}

fn activity(entry: &ActivityEntry, now: DateTime<Utc>, pairs: Option<NameValuePairs>) -> Activity {
    Activity {
        local_date: Some(date::format(now)),
        action_log: Some(entry.action_log.clone()),
        parameter_list: Some(entry.parameter_list.clone()),
        name_value_pairs: pairs.filter(|pairs| !pairs.is_empty()),
    }
}

/// Empty optional parts of an address or a person are left out rather
/// than sent as `""`.
fn non_empty(text: &str) -> Option<String> {
    (!text.trim().is_empty()).then(|| text.to_owned())
}

fn service_requester(requester: &Requester) -> ServiceRequester {
    let address = &requester.address;
    let person = &requester.person;
    let location: Vec<Location> = [("PRIMARY VOICE", &person.phone), ("EMAIL", &person.email)]
        .into_iter()
        .filter_map(|(kind, id)| {
            non_empty(id).map(|id| Location {
                kind: Some(kind.into()),
                id: Some(id),
            })
        })
        .collect();
    ServiceRequester {
        organization: Some(Organization {
            organization_name: non_empty(&requester.organization_name),
            address: Some(PostalAddress {
                geo_address1: non_empty(&address.geo_address1),
                city: non_empty(&address.city),
                region: non_empty(&address.region),
                postal_code: non_empty(&address.postal_code),
                country: non_empty(&address.country),
            }),
        }),
        person: Some(PersonRecord {
            first_name: non_empty(&person.first_name),
            last_name: non_empty(&person.last_name),
            address: Some(PersonAddress {
                location: Some(location),
            }),
        }),
    }
}

fn alternate_contact_pairs(alternate: &Person) -> NameValuePairs {
    let contact: Vec<(String, String)> = [
        (ext::ALTERNATE_FIRST_NAME, &alternate.first_name),
        (ext::ALTERNATE_LAST_NAME, &alternate.last_name),
        (ext::ALTERNATE_PHONE, &alternate.phone),
        (ext::ALTERNATE_EMAIL, &alternate.email),
    ]
    .into_iter()
    .filter_map(|(key, value)| non_empty(value).map(|value| (key.to_owned(), value)))
    .collect();
    if contact.is_empty() {
        return NameValuePairs::default();
    }
    let version = (ext::VERSION.to_owned(), ext::VERSION_VALUE.to_owned());
    NameValuePairs(std::iter::once(version).chain(contact).collect())
}
