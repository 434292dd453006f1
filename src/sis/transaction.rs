//! The names of SIS transactions.

use std::fmt;

use serde::{Serialize, Serializer};

/// One SIS transaction name.
///
/// Parsing is tolerant (`Service_Request`, `service  request` and
/// `SERVICE REQUEST` are the same); writing always gives the upper-case form
/// with single spaces, as GSEM documents it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TransactionName {
    ServiceRequest,
    Entitlement,
    AcceptProblem,
    ProvideProblemInformation,
    ProblemResolution,
    ConfirmClose,
    RejectResolution,
    RequestClosure,
    QueryIncident,
    /// A name that is none of the above, kept as received for the
    /// quarantine reason.
    Unknown(String),
}

impl TransactionName {
    /// Every known name, in the order of the spec's table (§3).
    pub const ALL: [TransactionName; 9] = [
        TransactionName::ServiceRequest,
        TransactionName::Entitlement,
        TransactionName::AcceptProblem,
        TransactionName::ProvideProblemInformation,
        TransactionName::ProblemResolution,
        TransactionName::ConfirmClose,
        TransactionName::RejectResolution,
        TransactionName::RequestClosure,
        TransactionName::QueryIncident,
    ];

    /// Reads a name as GSEM may spell it: any case, `_` or runs of spaces
    /// between words.
    pub fn parse(text: &str) -> TransactionName {
        let normalized = normalize(text);
        Self::ALL
            .into_iter()
            .find(|known| known.canonical() == Some(normalized.as_str()))
            .unwrap_or_else(|| TransactionName::Unknown(text.to_owned()))
    }

    /// The upper-case name, `None` for [`TransactionName::Unknown`].
    pub fn canonical(&self) -> Option<&'static str> {
        Some(match self {
            TransactionName::ServiceRequest => "SERVICE REQUEST",
            TransactionName::Entitlement => "ENTITLEMENT",
            TransactionName::AcceptProblem => "ACCEPT PROBLEM",
            TransactionName::ProvideProblemInformation => "PROVIDE PROBLEM INFORMATION",
            TransactionName::ProblemResolution => "PROBLEM RESOLUTION",
            TransactionName::ConfirmClose => "CONFIRM CLOSE",
            TransactionName::RejectResolution => "REJECT RESOLUTION",
            TransactionName::RequestClosure => "REQUEST CLOSURE",
            TransactionName::QueryIncident => "QUERY INCIDENT",
            TransactionName::Unknown(_) => return None,
        })
    }

    /// True for the transactions only the requester (we) may send; one of
    /// these arriving from HPE is quarantined (§3).
    pub fn only_we_send(&self) -> bool {
        matches!(
            self,
            TransactionName::ServiceRequest
                | TransactionName::ConfirmClose
                | TransactionName::RequestClosure
                | TransactionName::RejectResolution
        )
    }

    /// True for the transactions we may send.
    pub fn we_send(&self) -> bool {
        self.only_we_send()
            || matches!(
                self,
                TransactionName::ProvideProblemInformation | TransactionName::QueryIncident
            )
    }
}

fn normalize(text: &str) -> String {
    text.replace('_', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

impl fmt::Display for TransactionName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransactionName::Unknown(raw) => f.write_str(&normalize(raw)),
            known => f.write_str(known.canonical().unwrap_or_default()),
        }
    }
}

impl Serialize for TransactionName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_spellings_parse_to_the_same_name() {
        for spelling in [
            "SERVICE REQUEST",
            "Service_Request",
            "service request",
            "  SERVICE   REQUEST ",
            "SERVICE__REQUEST",
            "Service _ Request",
        ] {
            assert_eq!(
                TransactionName::parse(spelling),
                TransactionName::ServiceRequest,
                "{spelling:?}"
            );
        }
        assert_eq!(
            TransactionName::parse("provide_problem_information"),
            TransactionName::ProvideProblemInformation
        );
    }

    #[test]
    fn every_known_name_round_trips_through_its_canonical_form() {
        for name in TransactionName::ALL {
            assert_eq!(TransactionName::parse(&name.to_string()), name);
        }
    }

    #[test]
    fn unknown_names_keep_the_received_text_and_write_normalized() {
        let name = TransactionName::parse("Problem_Submittal");
        assert_eq!(name, TransactionName::Unknown("Problem_Submittal".into()));
        assert_eq!(name.to_string(), "PROBLEM SUBMITTAL");
        assert_eq!(name.canonical(), None);
    }

    #[test]
    fn serializes_as_the_upper_case_string() {
        let json = serde_json::to_string(&TransactionName::RejectResolution).unwrap();
        assert_eq!(json, "\"REJECT RESOLUTION\"");
    }
}
