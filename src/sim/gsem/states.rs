//! SIS case states (§3) and the requester rows of the transaction table, as
//! GSEM enforces them on what it is sent.

use std::fmt;

use serde::Serialize;

use crate::sis::TransactionName;

/// DMTF `CurrentState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum State {
    Beginning,
    NotEntitled,
    Entitled,
    ProblemSubmitted,
    OpenRequester,
    OpenProvider,
    ClosedPendingConfirmation,
    Closed,
}

impl State {
    pub fn code(self) -> i64 {
        match self {
            State::Beginning => 0,
            State::NotEntitled => 1,
            State::Entitled => 2,
            State::ProblemSubmitted => 3,
            State::OpenRequester => 4,
            State::OpenProvider => 5,
            State::ClosedPendingConfirmation => 6,
            State::Closed => 7,
        }
    }

    /// 1 and 7 are terminal.
    pub fn is_finished(self) -> bool {
        matches!(self, State::NotEntitled | State::Closed)
    }

    fn name(self) -> &'static str {
        match self {
            State::Beginning => "Beginning",
            State::NotEntitled => "Not_Entitled",
            State::Entitled => "Entitled",
            State::ProblemSubmitted => "Problem_Submitted",
            State::OpenRequester => "Open_Requester",
            State::OpenProvider => "Open_Provider",
            State::ClosedPendingConfirmation => "Closed_Pending_Confirmation",
            State::Closed => "Closed",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.name())
    }
}

/// The state after a requester's transaction sent in `from`, or `None` when
/// it is not valid there. SERVICE REQUEST opens a new case and has no row
/// for an existing one.
pub fn requester_transition(name: &TransactionName, from: State) -> Option<State> {
    let code = from.code();
    match name {
        TransactionName::ProvideProblemInformation if (2..=5).contains(&code) => {
            Some(if from == State::OpenRequester {
                State::OpenProvider
            } else {
                from
            })
        }
        TransactionName::ConfirmClose if from == State::ClosedPendingConfirmation => {
            Some(State::Closed)
        }
        TransactionName::RejectResolution if from == State::ClosedPendingConfirmation => {
            Some(State::OpenProvider)
        }
        TransactionName::RequestClosure if (2..=5).contains(&code) => Some(State::Closed),
        TransactionName::QueryIncident if (2..=6).contains(&code) => Some(from),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [State; 8] = [
        State::Beginning,
        State::NotEntitled,
        State::Entitled,
        State::ProblemSubmitted,
        State::OpenRequester,
        State::OpenProvider,
        State::ClosedPendingConfirmation,
        State::Closed,
    ];

    #[test]
    fn the_requester_rows_of_the_table() {
        let valid_in = |name: TransactionName| -> Vec<i64> {
            ALL.iter()
                .filter(|s| requester_transition(&name, **s).is_some())
                .map(|s| s.code())
                .collect()
        };
        assert_eq!(
            valid_in(TransactionName::ProvideProblemInformation),
            [2, 3, 4, 5]
        );
        assert_eq!(valid_in(TransactionName::ConfirmClose), [6]);
        assert_eq!(valid_in(TransactionName::RejectResolution), [6]);
        assert_eq!(valid_in(TransactionName::RequestClosure), [2, 3, 4, 5]);
        assert_eq!(valid_in(TransactionName::QueryIncident), [2, 3, 4, 5, 6]);
        assert_eq!(valid_in(TransactionName::ServiceRequest), Vec::<i64>::new());
        assert_eq!(
            requester_transition(
                &TransactionName::ProvideProblemInformation,
                State::OpenRequester
            ),
            Some(State::OpenProvider)
        );
        assert_eq!(
            requester_transition(
                &TransactionName::RejectResolution,
                State::ClosedPendingConfirmation
            ),
            Some(State::OpenProvider)
        );
        assert_eq!(State::OpenProvider.to_string(), "5 (Open_Provider)");
    }
}
