#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The SIS state machine of gsem.md §3: every state (and "new case") ×
//! every transaction × direction, table-driven with the exact decision,
//! then the `CurrentState` rules and the pending state.

use casebridge::sis::TransactionName as T;
use casebridge::sis::state::{
    Applied, Audit, Decision, Event, QuarantineReason, Received, Refusal, State, apply,
    pending_state,
};

/// Columns: a new case (`None`), then states 0 to 7.
fn columns() -> [Option<State>; 9] {
    let mut out = [None; 9];
    for (slot, state) in out.iter_mut().skip(1).zip(State::ALL) {
        *slot = Some(state);
    }
    out
}

fn unknown() -> T {
    T::Unknown("FROBNICATE".into())
}

fn apply_to(state: u8, acknowledges_service_request: bool) -> Decision {
    Decision::Apply(Applied {
        state: State::from_code(i64::from(state)).unwrap(),
        audit: None,
        acknowledges_service_request,
    })
}

/// One cell of the tables below:
/// - `5`: applied, the case is then in 5; `5a`: and it counts as the
///   acknowledgement of the SERVICE REQUEST;
/// - refused: `R` not valid in this state, `C` no case yet, `N` not ours to send;
/// - quarantined: `Q` not valid in this state, `U` unknown case,
///   `W` only we send, `T` unknown transaction.
fn expected(cell: &str, transaction: &T, state: Option<State>) -> Decision {
    let not_valid = || (transaction.clone(), state.unwrap());
    match cell {
        "R" => {
            let (transaction, state) = not_valid();
            Decision::Refuse(Refusal::NotValidInState { transaction, state })
        }
        "C" => Decision::Refuse(Refusal::NoCase(transaction.clone())),
        "N" => Decision::Refuse(Refusal::NotOurs(transaction.clone())),
        "Q" => {
            let (transaction, state) = not_valid();
            Decision::Quarantine(QuarantineReason::NotValidInState { transaction, state })
        }
        "U" => Decision::Quarantine(QuarantineReason::UnknownCase),
        "W" => Decision::Quarantine(QuarantineReason::OnlyWeSend(transaction.clone())),
        "T" => Decision::Quarantine(QuarantineReason::UnknownTransaction("FROBNICATE".into())),
        digits => {
            let (code, flag) = digits.split_at(1);
            apply_to(code.parse().unwrap(), flag == "a")
        }
    }
}

fn check_table(rows: &[(Event, &str)], transaction_of: impl Fn(&Event) -> T) {
    let mut checked = 0;
    for (event, cells) in rows {
        let cells: Vec<&str> = cells.split_whitespace().collect();
        assert_eq!(cells.len(), 9, "{event:?}");
        let transaction = transaction_of(event);
        for (state, cell) in columns().into_iter().zip(cells) {
            assert_eq!(
                apply(state, event),
                expected(cell, &transaction, state),
                "{event:?} in {state:?}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, rows.len() * 9);
}

fn received(transaction: T) -> Event {
    Event::Received(Received::bare(transaction))
}

fn received_with(
    transaction: T,
    current_state: Option<i64>,
    entitled: Option<i64>,
    info_requested: bool,
) -> Event {
    Event::Received(Received {
        transaction,
        current_state,
        entitled,
        info_requested,
    })
}

fn ack(transaction: T, current_state: Option<i64>) -> Event {
    Event::Acknowledged {
        transaction,
        current_state,
    }
}

#[test]
fn what_we_send_against_the_pending_state() {
    //                                             new 0 1 2 3 4 5 6 7
    let rows = [
        (Event::Send(T::ServiceRequest), "3 R R R R R R R R"),
        (Event::Send(T::Entitlement), "N N N N N N N N N"),
        (Event::Send(T::AcceptProblem), "N N N N N N N N N"),
        (
            Event::Send(T::ProvideProblemInformation),
            "C R R 2 3 5 5 R R",
        ),
        (Event::Send(T::ProblemResolution), "N N N N N N N N N"),
        (Event::Send(T::ConfirmClose), "C R R R R R R 7 R"),
        (Event::Send(T::RejectResolution), "C R R R R R R 5 R"),
        (Event::Send(T::RequestClosure), "C R R 7 7 7 7 R R"),
        (Event::Send(T::QueryIncident), "C R R 2 3 4 5 6 R"),
        (Event::Send(unknown()), "N N N N N N N N N"),
    ];
    check_table(&rows, |event| match event {
        Event::Send(t) => t.clone(),
        _ => unreachable!(),
    });
}

#[test]
fn what_hpe_sends_against_the_confirmed_state() {
    //                                                                   new 0  1 2 3 4 5 6 7
    let rows = [
        (received(T::ServiceRequest), "W W W W W W W W W"),
        (
            received_with(T::Entitlement, None, Some(0), false),
            "U 2a Q Q 2 Q Q Q Q",
        ),
        (
            received_with(T::Entitlement, None, Some(1), false),
            "U 1a Q Q 1 Q Q Q Q",
        ),
        (received(T::AcceptProblem), "U 5a Q 5 5 Q Q Q Q"),
        (received(T::ProvideProblemInformation), "U Q Q 2 3 4 5 6 Q"),
        (
            received_with(T::ProvideProblemInformation, None, None, true),
            "U Q Q 4 4 4 4 4 Q",
        ),
        (received(T::ProblemResolution), "U Q Q 6 6 6 6 Q Q"),
        (received(T::ConfirmClose), "W W W W W W W W W"),
        (received(T::RejectResolution), "W W W W W W W W W"),
        (received(T::RequestClosure), "W W W W W W W W W"),
        (received(T::QueryIncident), "U 0 1 2 3 4 5 6 7"),
        (received(unknown()), "T T T T T T T T T"),
    ];
    check_table(&rows, |event| match event {
        Event::Received(r) => r.transaction.clone(),
        _ => unreachable!(),
    });
}

#[test]
fn acknowledgements_of_ours_against_the_confirmed_state() {
    // A new case counts as 0: its SERVICE REQUEST's commit puts it there.
    //                                         new 0 1 2 3 4 5 6 7
    let rows = [
        (ack(T::ServiceRequest, None), "3 3 1 2 3 4 5 6 7"),
        (ack(T::Entitlement, None), "N N N N N N N N N"),
        (ack(T::AcceptProblem, None), "N N N N N N N N N"),
        (ack(T::ProvideProblemInformation, None), "0 0 1 2 3 5 5 6 7"),
        (ack(T::ProblemResolution, None), "N N N N N N N N N"),
        (ack(T::ConfirmClose, None), "7 7 1 7 7 7 7 7 7"),
        (ack(T::RejectResolution, None), "5 5 1 5 5 5 5 5 7"),
        (ack(T::RequestClosure, None), "7 7 1 7 7 7 7 7 7"),
        (ack(T::QueryIncident, None), "0 0 1 2 3 4 5 6 7"),
        (ack(unknown(), None), "N N N N N N N N N"),
    ];
    check_table(&rows, |event| match event {
        Event::Acknowledged { transaction, .. } => transaction.clone(),
        _ => unreachable!(),
    });
}

fn audited(state: State, audit: Audit) -> Decision {
    Decision::Apply(Applied {
        state,
        audit: Some(audit),
        acknowledges_service_request: false,
    })
}

use State::*;

#[test]
fn hpe_current_state_wins_over_the_table_and_is_audited() {
    let event = received_with(T::AcceptProblem, Some(4), None, false);
    assert_eq!(
        apply(Some(ProblemSubmitted), &event),
        audited(
            OpenRequester,
            Audit::Overridden {
                table: OpenProvider,
                hpe: OpenRequester
            }
        )
    );
    let same = received_with(T::AcceptProblem, Some(5), None, false);
    assert_eq!(apply(Some(Entitled), &same), apply_to(5, false));
}

#[test]
fn hpe_current_state_wins_over_info_requested() {
    let event = received_with(T::ProvideProblemInformation, Some(5), None, true);
    assert_eq!(
        apply(Some(OpenProvider), &event),
        audited(
            OpenProvider,
            Audit::Overridden {
                table: OpenRequester,
                hpe: OpenProvider
            }
        )
    );
}

#[test]
fn hpe_closing_a_case_closes_it_locally() {
    let event = received_with(T::ProvideProblemInformation, Some(7), None, false);
    assert_eq!(
        apply(Some(OpenProvider), &event),
        audited(
            Closed,
            Audit::Overridden {
                table: OpenProvider,
                hpe: Closed
            }
        )
    );
}

#[test]
fn out_of_state_messages_with_current_state_are_applied_and_audited() {
    let accept = received_with(T::AcceptProblem, Some(5), None, false);
    assert_eq!(
        apply(Some(OpenProvider), &accept),
        audited(
            OpenProvider,
            Audit::OutOfState {
                was: OpenProvider,
                hpe: OpenProvider
            }
        )
    );
    let entitlement = received_with(T::Entitlement, Some(2), Some(0), false);
    assert_eq!(
        apply(Some(OpenRequester), &entitlement),
        audited(
            Entitled,
            Audit::OutOfState {
                was: OpenRequester,
                hpe: Entitled
            }
        )
    );
    let resolution = received_with(T::ProblemResolution, Some(6), None, false);
    assert_eq!(
        apply(Some(ClosedPendingConfirmation), &resolution),
        audited(
            ClosedPendingConfirmation,
            Audit::OutOfState {
                was: ClosedPendingConfirmation,
                hpe: ClosedPendingConfirmation
            }
        )
    );
}

#[test]
fn a_finished_case_never_leaves_1_or_7() {
    for finished in [NotEntitled, Closed] {
        for transaction in [
            T::Entitlement,
            T::AcceptProblem,
            T::ProvideProblemInformation,
            T::ProblemResolution,
            T::QueryIncident,
        ] {
            let reopening = received_with(transaction.clone(), Some(5), None, false);
            assert_eq!(
                apply(Some(finished), &reopening),
                audited(
                    finished,
                    Audit::FinishedKept {
                        kept: finished,
                        hpe: OpenProvider
                    }
                ),
                "{transaction} in {finished}"
            );
            let agreeing = received_with(transaction.clone(), Some(finished.code()), None, false);
            assert_eq!(
                apply(Some(finished), &agreeing),
                apply_to(finished.code() as u8, false),
                "{transaction} in {finished}"
            );
        }
    }
    let from_1_to_7 = received_with(T::ProvideProblemInformation, Some(7), None, false);
    assert_eq!(
        apply(Some(NotEntitled), &from_1_to_7),
        audited(
            NotEntitled,
            Audit::FinishedKept {
                kept: NotEntitled,
                hpe: Closed
            }
        )
    );
    assert_eq!(
        apply(Some(Closed), &ack(T::ConfirmClose, Some(6))),
        audited(
            Closed,
            Audit::FinishedKept {
                kept: Closed,
                hpe: ClosedPendingConfirmation
            }
        )
    );
}

#[test]
fn unknown_states_and_bad_entitled_are_quarantined_before_anything_else() {
    for code in [8, -1, 99] {
        for state in [None, Some(OpenProvider), Some(Closed)] {
            let event = received_with(T::ProvideProblemInformation, Some(code), None, false);
            assert_eq!(
                apply(state, &event),
                Decision::Quarantine(QuarantineReason::UnknownState(code))
            );
        }
    }
    for entitled in [2, -1] {
        for transaction in [T::Entitlement, T::ProvideProblemInformation] {
            let event = received_with(transaction, Some(2), Some(entitled), false);
            assert_eq!(
                apply(Some(ProblemSubmitted), &event),
                Decision::Quarantine(QuarantineReason::InvalidEntitled(entitled))
            );
        }
    }
}

#[test]
fn entitlement_needs_entitled_or_current_state() {
    let bare = received(T::Entitlement);
    assert_eq!(
        apply(Some(ProblemSubmitted), &bare),
        Decision::Quarantine(QuarantineReason::MissingEntitled)
    );
    let stated = received_with(T::Entitlement, Some(2), None, false);
    assert_eq!(
        apply(Some(ProblemSubmitted), &stated),
        audited(
            Entitled,
            Audit::Overridden {
                table: ProblemSubmitted,
                hpe: Entitled
            }
        )
    );
}

#[test]
fn early_accept_or_entitlement_counts_as_the_service_request_ack_even_overridden() {
    let event = received_with(T::Entitlement, Some(3), Some(0), false);
    assert_eq!(
        apply(Some(Beginning), &event),
        Decision::Apply(Applied {
            state: ProblemSubmitted,
            audit: Some(Audit::Overridden {
                table: Entitled,
                hpe: ProblemSubmitted
            }),
            acknowledges_service_request: true
        })
    );
}

#[test]
fn acknowledgement_current_state() {
    assert_eq!(
        apply(Some(Beginning), &ack(T::ServiceRequest, Some(3))),
        apply_to(3, false)
    );
    assert_eq!(
        apply(Some(Beginning), &ack(T::ServiceRequest, Some(2))),
        audited(
            Entitled,
            Audit::Overridden {
                table: ProblemSubmitted,
                hpe: Entitled
            }
        )
    );
    assert_eq!(
        apply(Some(Beginning), &ack(T::ServiceRequest, Some(9))),
        audited(ProblemSubmitted, Audit::UnknownAckState(9))
    );
    assert_eq!(
        apply(Some(OpenProvider), &ack(T::RequestClosure, Some(7))),
        apply_to(7, false)
    );
}

#[test]
fn pending_state_folds_queued_messages_over_confirmed() {
    let cases: [(Option<State>, Vec<T>, Option<State>); 10] = [
        (None, vec![], None),
        (None, vec![T::ServiceRequest], Some(ProblemSubmitted)),
        (
            Some(Beginning),
            vec![T::ServiceRequest],
            Some(ProblemSubmitted),
        ),
        (Some(OpenProvider), vec![], Some(OpenProvider)),
        (
            Some(OpenRequester),
            vec![T::ProvideProblemInformation, T::ProvideProblemInformation],
            Some(OpenProvider),
        ),
        (
            Some(ClosedPendingConfirmation),
            vec![T::RejectResolution, T::QueryIncident, T::RequestClosure],
            Some(Closed),
        ),
        (
            Some(ClosedPendingConfirmation),
            vec![T::ConfirmClose],
            Some(Closed),
        ),
        (
            Some(Closed),
            vec![T::ProvideProblemInformation],
            Some(Closed),
        ),
        (
            Some(NotEntitled),
            vec![T::RequestClosure],
            Some(NotEntitled),
        ),
        (None, vec![T::ProvideProblemInformation], None),
    ];
    for (confirmed, queued, pending) in cases {
        assert_eq!(
            pending_state(confirmed, &queued),
            pending,
            "{confirmed:?} + {queued:?}"
        );
    }
}

#[test]
fn outbound_is_checked_against_pending() {
    let pending = pending_state(Some(ClosedPendingConfirmation), &[T::ConfirmClose]);
    let decision = apply(pending, &Event::Send(T::ProvideProblemInformation));
    assert_eq!(
        decision,
        Decision::Refuse(Refusal::NotValidInState {
            transaction: T::ProvideProblemInformation,
            state: Closed
        })
    );
    let Decision::Refuse(refusal) = decision else {
        unreachable!()
    };
    assert_eq!(
        refusal.to_string(),
        "PROVIDE PROBLEM INFORMATION is not valid in state 7 (Closed): the case is finished"
    );
}
