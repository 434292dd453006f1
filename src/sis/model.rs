//! The typed SIS envelope (§2).
//!
//! Serialization is serde's derive: field order is the samples' key order,
//! `None` fields are left out. Reading does not use serde's derive: it goes
//! through [`Decode`] on a parsed `serde_json::Value`, so that a wrong type
//! is reported with the name of the field ("wrong type for `CurrentState`"),
//! numbers are accepted as JSON numbers or numeric strings, and unknown fields
//! are skipped without being looked at.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::transaction::TransactionName;

/// Why a JSON document is not a SIS envelope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not UTF-8: invalid byte at offset {0}")]
    NotUtf8(usize),
    #[error("not JSON: {0}")]
    NotJson(String),
    #[error("not a JSON object")]
    NotAnObject,
    #[error("missing `{0}`")]
    Missing(&'static str),
    #[error("wrong type for `{0}`")]
    WrongType(&'static str),
}

/// Reads a value of a SIS field; `field` names it in the error.
pub trait Decode: Sized {
    fn decode(value: Value, field: &'static str) -> Result<Self, DecodeError>;
}

impl Decode for String {
    fn decode(value: Value, field: &'static str) -> Result<Self, DecodeError> {
        match value {
            Value::String(text) => Ok(text),
            _ => Err(DecodeError::WrongType(field)),
        }
    }
}

/// A SIS number: a JSON integer or a string holding one (`"2"`).
impl Decode for i64 {
    fn decode(value: Value, field: &'static str) -> Result<Self, DecodeError> {
        match &value {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        }
        .ok_or(DecodeError::WrongType(field))
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(value: Value, field: &'static str) -> Result<Self, DecodeError> {
        match value {
            Value::Array(items) => items
                .into_iter()
                .map(|item| T::decode(item, field))
                .collect(),
            _ => Err(DecodeError::WrongType(field)),
        }
    }
}

impl Decode for TransactionName {
    fn decode(value: Value, field: &'static str) -> Result<Self, DecodeError> {
        String::decode(value, field).map(|name| TransactionName::parse(&name))
    }
}

/// Takes `key` out of `map`; absent and `null` are both `None`.
fn take<T: Decode>(
    map: &mut Map<String, Value>,
    key: &'static str,
) -> Result<Option<T>, DecodeError> {
    match map.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => T::decode(value, key).map(Some),
    }
}

fn object(value: Value, field: &'static str) -> Result<Map<String, Value>, DecodeError> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(DecodeError::WrongType(field)),
    }
}

/// Declares a SIS object whose fields are all optional: the struct, its
/// serialization under the exact JSON keys, and its [`Decode`].
macro_rules! sis_object {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* $key:literal => $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
        pub struct $name {
            $(
                $(#[$field_meta])*
                #[serde(rename = $key, skip_serializing_if = "Option::is_none")]
                pub $field: Option<$ty>,
            )*
        }

        impl Decode for $name {
            fn decode(value: Value, field: &'static str) -> Result<Self, DecodeError> {
                let mut map = object(value, field)?;
                Ok(Self { $( $field: take(&mut map, $key)?, )* })
            }
        }
    };
}

/// A whole SIS document: the transaction and, on what GSEM delivers, its
/// queue id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Envelope {
    #[serde(rename = "QueueDetails", skip_serializing_if = "Option::is_none")]
    pub queue_details: Option<QueueDetails>,
    #[serde(rename = "Message")]
    pub message: Message,
}

impl Envelope {
    /// Reads an envelope from JSON bytes, with no check of what the
    /// transaction means (see `parse_inbound` and `parse_ack` for those).
    pub fn from_json(raw: &[u8]) -> Result<Envelope, DecodeError> {
        Envelope::decode(json_object(raw)?, "Message")
    }

    /// The JSON bytes we send.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}

impl Decode for Envelope {
    fn decode(value: Value, field: &'static str) -> Result<Self, DecodeError> {
        let mut map = object(value, field).map_err(|_| DecodeError::NotAnObject)?;
        Ok(Envelope {
            queue_details: take(&mut map, "QueueDetails")?,
            message: take(&mut map, "Message")?.ok_or(DecodeError::Missing("Message"))?,
        })
    }
}

impl<'de> Deserialize<'de> for Envelope {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Envelope::decode(value, "Message").map_err(serde::de::Error::custom)
    }
}

/// Parses bytes as a JSON object. serde_json's recursion limit (128) turns
/// absurdly deep nesting into an error instead of a stack overflow.
pub(crate) fn json_object(raw: &[u8]) -> Result<Value, DecodeError> {
    let text = std::str::from_utf8(raw).map_err(|e| DecodeError::NotUtf8(e.valid_up_to()))?;
    let value: Value =
        serde_json::from_str(text).map_err(|e| DecodeError::NotJson(e.to_string()))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(DecodeError::NotAnObject)
    }
}

/// The `Message` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    #[serde(rename = "TransactionName")]
    pub transaction_name: TransactionName,
    /// Outbound: the destination agent. Inbound: recorded, never validated.
    #[serde(rename = "RemoteAgentName", skip_serializing_if = "Option::is_none")]
    pub remote_agent_name: Option<String>,
    #[serde(rename = "RemoteAgentType", skip_serializing_if = "Option::is_none")]
    pub remote_agent_type: Option<String>,
    #[serde(rename = "eCPControl", skip_serializing_if = "Option::is_none")]
    pub ecp_control: Option<EcpControl>,
    #[serde(rename = "SERVICE_INCIDENT", skip_serializing_if = "Option::is_none")]
    pub service_incident: Option<ServiceIncident>,
}

impl Decode for Message {
    fn decode(value: Value, field: &'static str) -> Result<Self, DecodeError> {
        let mut map = object(value, field)?;
        Ok(Message {
            transaction_name: take(&mut map, "TransactionName")?
                .ok_or(DecodeError::Missing("TransactionName"))?,
            remote_agent_name: take(&mut map, "RemoteAgentName")?,
            remote_agent_type: take(&mut map, "RemoteAgentType")?,
            ecp_control: take(&mut map, "eCPControl")?,
            service_incident: take(&mut map, "SERVICE_INCIDENT")?,
        })
    }
}

sis_object! {
    /// GSEM's queue id of a delivered message (**model**, §5).
    pub struct QueueDetails {
        "MessageId" => message_id: String,
        /// A GSEM date; see [`super::date`].
        "EnqueuedAt" => enqueued_at: String,
        "DeliveryCount" => delivery_count: i64,
    }
}

sis_object! {
    /// `eCPControl`: the protocol version and, on acknowledgements, the status.
    pub struct EcpControl {
        "ECPVersion" => ecp_version: String,
        "transactionStatus" => transaction_status: String,
        /// Written as a string, as GSEM does (`"0"`, `"1001"`).
        #[serde(serialize_with = "number_as_string")]
        "transactionStatusCode" => transaction_status_code: i64,
        "transactionStatusDetail" => transaction_status_detail: String,
    }
}

fn number_as_string<S: Serializer>(number: &Option<i64>, serializer: S) -> Result<S::Ok, S::Error> {
    match number {
        Some(number) => serializer.collect_str(number),
        None => serializer.serialize_none(),
    }
}

sis_object! {
    /// `SERVICE_INCIDENT`: the case.
    pub struct ServiceIncident {
        "RequesterID" => requester_id: String,
        "ProviderID" => provider_id: String,
        "RequesterSeverity" => requester_severity: String,
        /// A GSEM date.
        "ResponseTime" => response_time: String,
        "SERVICE_REQUESTER" => service_requester: ServiceRequester,
        "AGREEMENT" => agreement: Agreement,
        "PROBLEM" => problem: Statements,
        "SOLUTION" => solution: Statements,
        "Comment" => comment: String,
        "WorkflowStatus" => workflow_status: String,
        /// SIS state code (§3), kept as received: see `State::from_code`.
        "CurrentState" => current_state: i64,
        /// 0 entitled, 1 not.
        "Entitled" => entitled: i64,
        "ProviderPriority" => provider_priority: i64,
        /// Not relied on (§4).
        "Acknowledge" => acknowledge: i64,
        "ACTIVITY" => activity: Activity,
    }
}

sis_object! {
    /// `SERVICE_REQUESTER`: who opens the case.
    pub struct ServiceRequester {
        "ORGANIZATION" => organization: Organization,
        "PERSON" => person: PersonRecord,
    }
}

sis_object! {
    pub struct Organization {
        "OrganizationName" => organization_name: String,
        "ADDRESS" => address: PostalAddress,
    }
}

sis_object! {
    pub struct PostalAddress {
        "GeoAddress1" => geo_address1: String,
        "City" => city: String,
        "Region" => region: String,
        "PostalCode" => postal_code: String,
        "Country" => country: String,
    }
}

sis_object! {
    pub struct PersonRecord {
        "FirstName" => first_name: String,
        "LastName" => last_name: String,
        "ADDRESS" => address: PersonAddress,
    }
}

sis_object! {
    pub struct PersonAddress {
        "LOCATION" => location: Vec<Location>,
    }
}

sis_object! {
    /// One way to reach a person: `Type` `PRIMARY VOICE` or `EMAIL`, and `ID`.
    pub struct Location {
        "Type" => kind: String,
        "ID" => id: String,
    }
}

sis_object! {
    pub struct Agreement {
        /// Structured field, `CN=<contract>`.
        "ContractID" => contract_id: String,
        /// Structured field, `SN=<serial>;LN=<tracking number>`.
        "AgreementType" => agreement_type: String,
    }
}

sis_object! {
    /// `PROBLEM` or `SOLUTION`: statements joined by a relation.
    pub struct Statements {
        "EXPRESSION" => expression: Expression,
    }
}

sis_object! {
    pub struct Expression {
        "Relation" => relation: String,
        "STATEMENT" => statement: Vec<Statement>,
    }
}

sis_object! {
    /// `StatementRole` `DESCRIPTION` / `TITLE` on a problem, `FIX` /
    /// `ANSWER` / `WORK_AROUND` on a solution.
    pub struct Statement {
        "StatementRole" => role: String,
        "StatementText" => text: String,
    }
}

impl Statements {
    /// The `AND` of `statements`, the only relation GSEM uses.
    pub fn and(statements: Vec<Statement>) -> Statements {
        Statements {
            expression: Some(Expression {
                relation: Some("AND".into()),
                statement: Some(statements),
            }),
        }
    }

    /// The statements, in order.
    pub fn statements(&self) -> &[Statement] {
        self.expression
            .as_ref()
            .and_then(|e| e.statement.as_deref())
            .unwrap_or_default()
    }

    /// The text of the first statement with `role` (compared case-insensitively).
    pub fn text_of(&self, role: &str) -> Option<&str> {
        self.statements()
            .iter()
            .find(|s| {
                s.role
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(role))
            })
            .and_then(|s| s.text.as_deref())
    }
}

impl Statement {
    pub fn new(role: &str, text: &str) -> Statement {
        Statement {
            role: Some(role.into()),
            text: Some(text.into()),
        }
    }
}

sis_object! {
    /// `ACTIVITY`: mandatory on what we send; optional on what we receive.
    pub struct Activity {
        /// A GSEM date, read as UTC.
        "LocalDate" => local_date: String,
        "ActionLog" => action_log: String,
        "ParameterList" => parameter_list: String,
        "NameValuePairList" => name_value_pairs: NameValuePairs,
    }
}

/// `NameValuePairList`: an object of `eCPExtMessage_*` keys, in order.
///
/// A value sent as a JSON number is read as its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameValuePairs(pub Vec<(String, String)>);

impl NameValuePairs {
    /// The value of `key`, compared exactly.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl Serialize for NameValuePairs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl Decode for NameValuePairs {
    fn decode(value: Value, field: &'static str) -> Result<Self, DecodeError> {
        object(value, field)?
            .into_iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(key, value)| match value {
                Value::String(text) => Ok((key, text)),
                Value::Number(number) => Ok((key, number.to_string())),
                _ => Err(DecodeError::WrongType(field)),
            })
            .collect::<Result<_, _>>()
            .map(NameValuePairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn incident(value: Value) -> Result<ServiceIncident, DecodeError> {
        ServiceIncident::decode(value, "SERVICE_INCIDENT")
    }

    #[test]
    fn numbers_come_as_numbers_or_numeric_strings() {
        let si = incident(json!({"CurrentState": "2", "Entitled": 0, "ProviderPriority": " 3 "}))
            .unwrap();
        assert_eq!(si.current_state, Some(2));
        assert_eq!(si.entitled, Some(0));
        assert_eq!(si.provider_priority, Some(3));
    }

    #[test]
    fn wrong_types_name_the_field() {
        for (doc, field) in [
            (json!({"CurrentState": "two"}), "CurrentState"),
            (json!({"CurrentState": 2.5}), "CurrentState"),
            (json!({"CurrentState": true}), "CurrentState"),
            (json!({"Entitled": [0]}), "Entitled"),
            (json!({"RequesterID": 97539}), "RequesterID"),
            (json!({"ACTIVITY": "Note"}), "ACTIVITY"),
            (json!({"ACTIVITY": {"LocalDate": 5}}), "LocalDate"),
            (
                json!({"ACTIVITY": {"NameValuePairList": {"k": {"x": 1}}}}),
                "NameValuePairList",
            ),
            (
                json!({"SOLUTION": {"EXPRESSION": {"STATEMENT": {"StatementText": "x"}}}}),
                "STATEMENT",
            ),
        ] {
            assert_eq!(incident(doc).unwrap_err(), DecodeError::WrongType(field));
        }
        assert_eq!(
            DecodeError::WrongType("CurrentState").to_string(),
            "wrong type for `CurrentState`"
        );
    }

    #[test]
    fn unknown_fields_and_nulls_are_ignored() {
        let si =
            incident(json!({"RequesterID": "INC1", "Extra": {"deep": [1, 2]}, "Comment": null}))
                .unwrap();
        assert_eq!(si.requester_id.as_deref(), Some("INC1"));
        assert_eq!(si.comment, None);
    }

    #[test]
    fn name_value_pairs_keep_order_and_read_numbers_as_text() {
        let activity = Activity::decode(
            json!({"NameValuePairList": {"b": "1", "a": 2, "c": null}}),
            "ACTIVITY",
        )
        .unwrap();
        let pairs = activity.name_value_pairs.unwrap();
        assert_eq!(
            pairs.0,
            vec![
                ("b".to_owned(), "1".to_owned()),
                ("a".to_owned(), "2".to_owned())
            ]
        );
        assert_eq!(
            serde_json::to_string(&pairs).unwrap(),
            r#"{"b":"1","a":"2"}"#
        );
    }

    #[test]
    fn envelope_needs_a_message_object() {
        assert_eq!(
            Envelope::from_json(b"[1]").unwrap_err(),
            DecodeError::NotAnObject
        );
        assert_eq!(
            Envelope::from_json(b"{}").unwrap_err(),
            DecodeError::Missing("Message")
        );
        assert_eq!(
            Envelope::from_json(br#"{"Message": {}}"#).unwrap_err(),
            DecodeError::Missing("TransactionName")
        );
        assert_eq!(
            Envelope::from_json(br#"{"Message": 3}"#).unwrap_err(),
            DecodeError::WrongType("Message")
        );
        assert_eq!(
            Envelope::from_json(b"\xff{}").unwrap_err(),
            DecodeError::NotUtf8(0)
        );
        assert!(matches!(
            Envelope::from_json(b"{").unwrap_err(),
            DecodeError::NotJson(_)
        ));
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let depth = 10_000;
        let arrays = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert!(matches!(
            Envelope::from_json(arrays.as_bytes()),
            Err(DecodeError::NotJson(_))
        ));
        let objects = format!(
            "{{\"Message\":{}1{}}}",
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        );
        let err = Envelope::from_json(objects.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("recursion limit"), "{err}");
    }

    #[test]
    fn transaction_status_code_is_written_as_a_string() {
        let control = EcpControl {
            transaction_status_code: Some(1001),
            ..EcpControl::default()
        };
        assert_eq!(
            serde_json::to_value(&control).unwrap(),
            json!({"transactionStatusCode": "1001"})
        );
    }
}
