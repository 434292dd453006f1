//! The SIS case state machine (§3), as one pure function: [`apply`].
//!
//! A case has a *confirmed* state (what GSEM stated or implied) and a
//! *pending* state (confirmed plus the effect of our queued, unacknowledged
//! messages, see [`pending_state`]). What we send is checked against
//! pending, what arrives against confirmed. The caller picks which to pass.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::transaction::TransactionName;

/// A SIS `CurrentState` (DMTF `PRS_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Beginning = 0,
    NotEntitled = 1,
    Entitled = 2,
    ProblemSubmitted = 3,
    /// HPE waits on us.
    OpenRequester = 4,
    /// We wait on HPE.
    OpenProvider = 5,
    ClosedPendingConfirmation = 6,
    Closed = 7,
}

impl State {
    pub const ALL: [State; 8] = [
        State::Beginning,
        State::NotEntitled,
        State::Entitled,
        State::ProblemSubmitted,
        State::OpenRequester,
        State::OpenProvider,
        State::ClosedPendingConfirmation,
        State::Closed,
    ];

    /// The SIS code, 0–7.
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Option<State> {
        Self::ALL.into_iter().find(|state| state.code() == code)
    }

    /// 1 and 7 are terminal: such a case is *finished* and never leaves.
    pub fn is_finished(self) -> bool {
        matches!(self, State::NotEntitled | State::Closed)
    }

    /// The state in words, for the console.
    pub fn name(self) -> &'static str {
        match self {
            State::Beginning => "Beginning",
            State::NotEntitled => "Not entitled",
            State::Entitled => "Entitled",
            State::ProblemSubmitted => "Problem submitted",
            State::OpenRequester => "Open, requester",
            State::OpenProvider => "Open, provider",
            State::ClosedPendingConfirmation => "Closed, pending confirmation",
            State::Closed => "Closed",
        }
    }

    fn is_between(self, low: State, high: State) -> bool {
        (low..=high).contains(&self)
    }
}

/// `5 (Open, provider)`.
impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.name())
    }
}

/// Written as its SIS code, the way `CurrentState` travels.
impl Serialize for State {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_i64(self.code())
    }
}

impl<'de> Deserialize<'de> for State {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = i64::deserialize(deserializer)?;
        State::from_code(code).ok_or_else(|| {
            serde::de::Error::custom(QuarantineReason::UnknownState(code).to_string())
        })
    }
}

/// What happened to a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// We want to queue this transaction (pass the *pending* state).
    Send(TransactionName),
    /// GSEM acknowledged (`OK`) one of ours; `current_state` as in the reply
    /// (pass the *confirmed* state).
    Acknowledged {
        transaction: TransactionName,
        current_state: Option<i64>,
    },
    /// HPE sent a transaction (pass the *confirmed* state).
    Received(Received),
}

/// The parts of an inbound message the state machine looks at, as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub transaction: TransactionName,
    pub current_state: Option<i64>,
    pub entitled: Option<i64>,
    /// `eCPExtMessage_InfoRequested` is `Y`.
    pub info_requested: bool,
}

impl Received {
    /// A message carrying nothing but its transaction name.
    pub fn bare(transaction: TransactionName) -> Received {
        Received {
            transaction,
            current_state: None,
            entitled: None,
            info_requested: false,
        }
    }
}

/// The outcome of [`apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead; the case is now in `Applied::state`.
    Apply(Applied),
    /// We must not send this; show the reason.
    Refuse(Refusal),
    /// Acknowledge the inbound message but keep it in quarantine.
    Quarantine(QuarantineReason),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The state after the event (for `Send`: the new pending state).
    pub state: State,
    /// What must go to the audit log, if anything.
    pub audit: Option<Audit>,
    /// ENTITLEMENT or ACCEPT PROBLEM arriving while the case is in 0: it
    /// counts as the acknowledgement of the SERVICE REQUEST.
    pub acknowledges_service_request: bool,
}

impl Applied {
    fn to(state: State) -> Applied {
        Applied {
            state,
            audit: None,
            acknowledges_service_request: false,
        }
    }

    fn audited(state: State, audit: Audit) -> Applied {
        Applied {
            audit: Some(audit),
            ..Applied::to(state)
        }
    }
}

/// A state decision that differs from the plain table, for the audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audit {
    /// HPE's `CurrentState` differed from what the table gives, and won.
    Overridden { table: State, hpe: State },
    /// The message was outside its valid states; it was applied because it
    /// carries `CurrentState`, which wins.
    OutOfState { was: State, hpe: State },
    /// The case is finished and stays so, although HPE said otherwise.
    FinishedKept { kept: State, hpe: State },
    /// An acknowledgement carried a `CurrentState` outside 0–7; the table
    /// was applied instead.
    UnknownAckState(i64),
}

impl fmt::Display for Audit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Audit::Overridden { table, hpe } => {
                write!(
                    f,
                    "HPE's CurrentState {hpe} replaces {table} from the SIS table"
                )
            }
            Audit::OutOfState { was, hpe } => write!(
                f,
                "message not valid in state {was}, applied because HPE's CurrentState is {hpe}"
            ),
            Audit::FinishedKept { kept, hpe } => write!(
                f,
                "HPE's CurrentState {hpe} ignored: the case is finished in {kept}"
            ),
            Audit::UnknownAckState(code) => {
                write!(
                    f,
                    "acknowledgement's CurrentState {code} is not a SIS state: ignored"
                )
            }
        }
    }
}

/// Why we must not send a transaction.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0} is sent by HPE, never by casebridge")]
    NotOurs(TransactionName),
    #[error("{0} needs an open case: send a SERVICE REQUEST first")]
    NoCase(TransactionName),
    #[error("{transaction} is not valid in state {state}{}", finished_hint(*.state))]
    NotValidInState {
        transaction: TransactionName,
        state: State,
    },
}

fn finished_hint(state: State) -> &'static str {
    if state.is_finished() {
        ": the case is finished"
    } else {
        ""
    }
}

/// Why an inbound message is quarantined. The text is what the operator
/// sees in the quarantine list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuarantineReason {
    #[error("unknown transaction `{0}`")]
    UnknownTransaction(String),
    #[error("{0} is a transaction only we send")]
    OnlyWeSend(TransactionName),
    #[error("unknown state {0}")]
    UnknownState(i64),
    #[error("Entitled other than 0 or 1: {0}")]
    InvalidEntitled(i64),
    #[error("ENTITLEMENT without `Entitled` or `CurrentState`")]
    MissingEntitled,
    #[error("unknown case")]
    UnknownCase,
    #[error("{transaction} not valid in state {state}")]
    NotValidInState {
        transaction: TransactionName,
        state: State,
    },
}

/// Checks what can be checked of an inbound message without its case:
/// known transaction, one HPE may send, a known `CurrentState` (returned),
/// an `Entitled` of 0 or 1.
pub fn check_received(received: &Received) -> Result<Option<State>, QuarantineReason> {
    if let TransactionName::Unknown(name) = &received.transaction {
        return Err(QuarantineReason::UnknownTransaction(name.clone()));
    }
    if received.transaction.only_we_send() {
        return Err(QuarantineReason::OnlyWeSend(received.transaction.clone()));
    }
    let hpe = received
        .current_state
        .map(|code| State::from_code(code).ok_or(QuarantineReason::UnknownState(code)))
        .transpose()?;
    match received.entitled {
        Some(code) if !matches!(code, 0 | 1) => Err(QuarantineReason::InvalidEntitled(code)),
        _ => Ok(hpe),
    }
}

/// Decides an event for a case in `state` (`None`: no case yet).
///
/// | transaction | from | valid in | state after |
/// |---|---|---|---|
/// | SERVICE REQUEST | us | a new case | 3 |
/// | ENTITLEMENT | HPE | 0, 3 | 2 if `Entitled` 0; 1 if 1 |
/// | ACCEPT PROBLEM | HPE | 0, 2, 3 | 5 |
/// | PROVIDE PROBLEM INFORMATION | HPE | 2–6 | 4 if `InfoRequested` `Y`, else unchanged |
/// | PROVIDE PROBLEM INFORMATION | us | 2–5 | 5 if it was 4, else unchanged |
/// | PROBLEM RESOLUTION | HPE | 2–5 | 6 |
/// | CONFIRM CLOSE | us | 6 | 7 |
/// | REJECT RESOLUTION | us | 6 | 5 |
/// | REQUEST CLOSURE | us | 2–5 | 7 |
/// | QUERY INCIDENT | us | 2–6 | unchanged |
/// | QUERY INCIDENT | HPE | any | unchanged |
///
/// On top of the table:
/// - `Send` outside the valid states is refused. A new case (`None`) takes
///   only SERVICE REQUEST.
/// - `Acknowledged` applies our transaction's state-after to the confirmed
///   state (no validity check: GSEM took it), `None` counting as 0 since a
///   case is in 0 from the commit of its SERVICE REQUEST. A `CurrentState`
///   in the reply that differs wins and is audited.
/// - `Received` is quarantined for an unknown transaction, one only we
///   send, an unknown `CurrentState`, an `Entitled` other than 0/1, no case,
///   or outside its valid states without `CurrentState`. Outside its valid
///   states with `CurrentState`, HPE's state is applied and audited. Inside,
///   a `CurrentState` that differs from the table's result wins (over
///   `InfoRequested` too) and is audited.
/// - A finished case (1, 7) never leaves its state: a message that would
///   move it is applied for its other content and the difference audited.
pub fn apply(state: Option<State>, event: &Event) -> Decision {
    match event {
        Event::Send(transaction) => send(state, transaction),
        Event::Acknowledged {
            transaction,
            current_state,
        } => acknowledged(
            state.unwrap_or(State::Beginning),
            transaction,
            *current_state,
        ),
        Event::Received(received) => receive(state, received),
    }
}

/// The pending state: `confirmed` plus the state-after of each queued,
/// unacknowledged message of ours, in queue order.
pub fn pending_state(confirmed: Option<State>, queued: &[TransactionName]) -> Option<State> {
    queued.iter().fold(confirmed, |state, transaction| {
        after_ours(transaction, state)
    })
}

fn valid_for_us(transaction: &TransactionName, state: Option<State>) -> bool {
    use TransactionName as T;
    let Some(state) = state else {
        return *transaction == T::ServiceRequest;
    };
    match transaction {
        T::ProvideProblemInformation | T::RequestClosure => {
            state.is_between(State::Entitled, State::OpenProvider)
        }
        T::ConfirmClose | T::RejectResolution => state == State::ClosedPendingConfirmation,
        T::QueryIncident => state.is_between(State::Entitled, State::ClosedPendingConfirmation),
        _ => false,
    }
}

fn valid_from_hpe(transaction: &TransactionName, state: State) -> bool {
    use TransactionName as T;
    match transaction {
        T::Entitlement => matches!(state, State::Beginning | State::ProblemSubmitted),
        T::AcceptProblem => matches!(
            state,
            State::Beginning | State::Entitled | State::ProblemSubmitted
        ),
        T::ProvideProblemInformation => {
            state.is_between(State::Entitled, State::ClosedPendingConfirmation)
        }
        T::ProblemResolution => state.is_between(State::Entitled, State::OpenProvider),
        T::QueryIncident => true,
        _ => false,
    }
}

/// State-after of one of our transactions; a finished case stays.
fn after_ours(transaction: &TransactionName, state: Option<State>) -> Option<State> {
    use TransactionName as T;
    match (transaction, state) {
        (_, Some(s)) if s.is_finished() => state,
        (T::ServiceRequest, None | Some(State::Beginning)) => Some(State::ProblemSubmitted),
        (T::ProvideProblemInformation, Some(State::OpenRequester)) => Some(State::OpenProvider),
        (T::ConfirmClose | T::RequestClosure, Some(_)) => Some(State::Closed),
        (T::RejectResolution, Some(_)) => Some(State::OpenProvider),
        _ => state,
    }
}

fn send(state: Option<State>, transaction: &TransactionName) -> Decision {
    if !transaction.we_send() {
        return Decision::Refuse(Refusal::NotOurs(transaction.clone()));
    }
    match (
        valid_for_us(transaction, state),
        after_ours(transaction, state),
        state,
    ) {
        (true, Some(after), _) => Decision::Apply(Applied::to(after)),
        (_, _, Some(state)) => Decision::Refuse(Refusal::NotValidInState {
            transaction: transaction.clone(),
            state,
        }),
        (_, _, None) => Decision::Refuse(Refusal::NoCase(transaction.clone())),
    }
}

fn acknowledged(
    state: State,
    transaction: &TransactionName,
    current_state: Option<i64>,
) -> Decision {
    if !transaction.we_send() {
        return Decision::Refuse(Refusal::NotOurs(transaction.clone()));
    }
    let table = after_ours(transaction, Some(state)).unwrap_or(state);
    let Some(code) = current_state else {
        return Decision::Apply(Applied::to(table));
    };
    Decision::Apply(match State::from_code(code) {
        None => Applied::audited(table, Audit::UnknownAckState(code)),
        Some(hpe) => hpe_wins(state, table, hpe),
    })
}

/// HPE's word against the table's result, for a message valid in `state`.
fn hpe_wins(state: State, table: State, hpe: State) -> Applied {
    if state.is_finished() {
        if hpe == state {
            Applied::to(state)
        } else {
            Applied::audited(state, Audit::FinishedKept { kept: state, hpe })
        }
    } else if hpe == table {
        Applied::to(table)
    } else {
        Applied::audited(hpe, Audit::Overridden { table, hpe })
    }
}

fn receive(state: Option<State>, received: &Received) -> Decision {
    let hpe = match check_received(received) {
        Ok(hpe) => hpe,
        Err(reason) => return Decision::Quarantine(reason),
    };
    let Some(state) = state else {
        return Decision::Quarantine(QuarantineReason::UnknownCase);
    };
    let transaction = &received.transaction;
    if !valid_from_hpe(transaction, state) {
        return match hpe {
            None => Decision::Quarantine(QuarantineReason::NotValidInState {
                transaction: transaction.clone(),
                state,
            }),
            Some(hpe) if state.is_finished() => Decision::Apply(hpe_wins(state, state, hpe)),
            Some(hpe) => {
                Decision::Apply(Applied::audited(hpe, Audit::OutOfState { was: state, hpe }))
            }
        };
    }
    let table = match (transaction, received.entitled) {
        (TransactionName::Entitlement, Some(0)) => State::Entitled,
        (TransactionName::Entitlement, Some(_)) => State::NotEntitled,
        (TransactionName::Entitlement, None) if hpe.is_none() => {
            return Decision::Quarantine(QuarantineReason::MissingEntitled);
        }
        (TransactionName::AcceptProblem, _) => State::OpenProvider,
        (TransactionName::ProvideProblemInformation, _) if received.info_requested => {
            State::OpenRequester
        }
        (TransactionName::ProblemResolution, _) => State::ClosedPendingConfirmation,
        _ => state,
    };
    let mut applied = match hpe {
        Some(hpe) => hpe_wins(state, table, hpe),
        None => Applied::to(table),
    };
    applied.acknowledges_service_request = state == State::Beginning
        && matches!(
            transaction,
            TransactionName::Entitlement | TransactionName::AcceptProblem
        );
    Decision::Apply(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_only_1_and_7_are_finished() {
        for state in State::ALL {
            assert_eq!(State::from_code(state.code()), Some(state));
        }
        assert_eq!(State::from_code(8), None);
        assert_eq!(State::from_code(-1), None);
        let finished: Vec<i64> = State::ALL
            .into_iter()
            .filter(|s| s.is_finished())
            .map(State::code)
            .collect();
        assert_eq!(finished, vec![1, 7]);
        assert_eq!(State::OpenProvider.to_string(), "5 (Open, provider)");
        assert_eq!(serde_json::to_string(&State::Closed).unwrap(), "7");
        assert_eq!(
            serde_json::from_str::<State>("4").unwrap(),
            State::OpenRequester
        );
        assert_eq!(
            serde_json::from_str::<State>("8").unwrap_err().to_string(),
            "unknown state 8"
        );
    }

    #[test]
    fn reasons_read_as_the_spec_words_them() {
        assert_eq!(
            QuarantineReason::NotValidInState {
                transaction: TransactionName::AcceptProblem,
                state: State::OpenProvider
            }
            .to_string(),
            "ACCEPT PROBLEM not valid in state 5 (Open, provider)"
        );
        assert_eq!(
            QuarantineReason::UnknownState(9).to_string(),
            "unknown state 9"
        );
        assert_eq!(
            Refusal::NotValidInState {
                transaction: TransactionName::ProvideProblemInformation,
                state: State::Closed
            }
            .to_string(),
            "PROVIDE PROBLEM INFORMATION is not valid in state 7 (Closed): the case is finished"
        );
    }
}
