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
    #[error("{transaction} needs {what} before it can be sent")]
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

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> MessageBuilder {
        MessageBuilder::new(
            Destination {
                remote_agent_name: "AGENT".into(),
                remote_agent_type: "CUSTOMER".into(),
            },
            ActivityTable::default(),
        )
    }

    fn now() -> DateTime<Utc> {
        date::parse("2024-05-01 10:00:00").unwrap()
    }

    fn input() -> ServiceRequestInput {
        ServiceRequestInput {
            requester_id: "INC1".into(),
            severity: "MEDIUM".into(),
            requester: Requester {
                person: Person {
                    last_name: "Gann".into(),
                    phone: "510".into(),
                    ..Person::default()
                },
                ..Requester::default()
            },
            contract: "215".into(),
            serial: "5UF".into(),
            tracking_number: "INC1_1".into(),
            title: "t".into(),
            description: "d".into(),
        }
    }

    fn case() -> CaseRef {
        CaseRef {
            requester_id: "INC1".into(),
            provider_id: None,
        }
    }

    #[test]
    fn service_request_refuses_missing_mandatory_content() {
        let mut no_last_name = input();
        no_last_name.requester.person.last_name = " ".into();
        let mut no_phone = input();
        no_phone.requester.person.phone.clear();
        let mut no_contract = input();
        no_contract.contract.clear();
        for (bad, starts) in [
            (
                no_last_name,
                "SERVICE REQUEST needs the requester's last name",
            ),
            (no_phone, "SERVICE REQUEST needs the requester's phone"),
            (no_contract, "SERVICE REQUEST needs a contract"),
        ] {
            let err = builder().service_request(&bad, now()).unwrap_err();
            assert!(err.to_string().starts_with(starts), "{err}");
        }
    }

    #[test]
    fn a_semicolon_in_a_structured_value_is_refused() {
        let mut bad = input();
        bad.serial = "5UF;LN=forged".into();
        assert_eq!(
            builder().service_request(&bad, now()).unwrap_err(),
            BuildError::Field {
                field: "AgreementType",
                source: FieldError::SemicolonInValue {
                    tag: "SN".into(),
                    value: "5UF;LN=forged".into()
                }
            }
        );
    }

    #[test]
    fn closing_and_rejecting_need_their_text() {
        let b = builder();
        assert_eq!(
            b.confirm_close(&case(), " \r\n", now())
                .unwrap_err()
                .to_string(),
            "CONFIRM CLOSE needs closure notes before it can be sent"
        );
        assert_eq!(
            b.request_closure(&case(), "", now()).unwrap_err(),
            BuildError::Empty {
                transaction: TransactionName::RequestClosure,
                what: "closure notes"
            }
        );
        assert_eq!(
            b.reject_resolution(&case(), "", now()).unwrap_err(),
            BuildError::Empty {
                transaction: TransactionName::RejectResolution,
                what: "a reason"
            }
        );
        assert_eq!(
            b.provide_problem_information(&case(), "", now())
                .unwrap_err(),
            BuildError::Empty {
                transaction: TransactionName::ProvideProblemInformation,
                what: "a note"
            }
        );
        let no_id = CaseRef::default();
        assert_eq!(
            b.query_incident(&no_id, now()).unwrap_err(),
            BuildError::Empty {
                transaction: TransactionName::QueryIncident,
                what: "a RequesterID"
            }
        );
    }

    #[test]
    fn no_alternate_contact_means_no_name_value_pairs() {
        let built = builder().service_request(&input(), now()).unwrap();
        let activity = built.message.service_incident.unwrap().activity.unwrap();
        assert_eq!(activity.name_value_pairs, None);
        assert_eq!(activity.action_log.as_deref(), Some("Alternate Contact"));
        assert_eq!(activity.local_date.as_deref(), Some("2024-05-01 10:00:00"));
    }

    #[test]
    fn the_activity_table_can_be_overridden() {
        let table: ActivityTable = serde_json::from_value(serde_json::json!({
            "query_incident": {"action_log": "Status query", "parameter_list": "Problem:Status"}
        }))
        .unwrap();
        assert_eq!(table.confirm_close, ActivityTable::default().confirm_close);
        let b = MessageBuilder::new(builder().destination, table);
        let built = b.query_incident(&case(), now()).unwrap();
        let activity = built.message.service_incident.unwrap().activity.unwrap();
        assert_eq!(activity.action_log.as_deref(), Some("Status query"));
        assert_eq!(activity.parameter_list.as_deref(), Some("Problem:Status"));
        assert!(
            serde_json::from_value::<ActivityTable>(serde_json::json!({"closure": {}})).is_err()
        );
    }
}
