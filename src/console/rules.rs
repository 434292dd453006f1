//! The refusals the console can decide by itself from the state table
//! (`gsem.md` §3), so the operator sees the reason before anything leaves.
//! The engine checks again against its store: these are a courtesy, not the
//! guard. Everything is checked against the pending state, and whether a
//! transaction may be sent is the SIS state table's own answer
//! ([`crate::sis::state::apply`]); this module only adds the operator's
//! wording and the checks on the text.

use super::types::{CaseSummary, is_finished, state_words};
use crate::sis::{Decision, Event, State, TransactionName};

/// Whether the state table lets us send `transaction` in the case's
/// pending state.
fn table_allows(case: &CaseSummary, transaction: TransactionName) -> bool {
    let state = State::from_code(i64::from(case.pending_state));
    matches!(
        crate::sis::state::apply(state, &Event::Send(transaction)),
        Decision::Apply(_)
    )
}

/// Why an action is refused. The messages are shown on screen as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("closure notes are mandatory: write what was done before closing")]
    NotesRequired,
    #[error("a reason is mandatory: say why the proposed resolution does not solve the problem")]
    ReasonRequired,
    #[error("the comment is empty: write something to send")]
    EmptyComment,
    #[error(
        "case {incident} is finished ({words}): nothing more can be sent to HPE; open a new case instead"
    )]
    Finished {
        incident: String,
        words: &'static str,
    },
    #[error("case {incident} is in state {state} ({words}): {action} is allowed only in {allowed}")]
    NotInState {
        incident: String,
        state: u8,
        words: &'static str,
        action: &'static str,
        allowed: &'static str,
    },
}

/// Which closing transaction a close sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseKind {
    /// In 6: accept HPE's proposed resolution.
    ConfirmClose,
    /// In 2–5: ask HPE to close.
    RequestClosure,
}

impl CloseKind {
    pub fn transaction(self) -> &'static str {
        match self {
            CloseKind::ConfirmClose => "CONFIRM CLOSE",
            CloseKind::RequestClosure => "REQUEST CLOSURE",
        }
    }
}

fn refuse_finished(case: &CaseSummary) -> Result<(), Refusal> {
    if case.finished() {
        let state = if is_finished(case.pending_state) {
            case.pending_state
        } else {
            case.state
        };
        return Err(Refusal::Finished {
            incident: case.incident.clone(),
            words: state_words(state),
        });
    }
    Ok(())
}

fn not_in_state(case: &CaseSummary, action: &'static str, allowed: &'static str) -> Refusal {
    Refusal::NotInState {
        incident: case.incident.clone(),
        state: case.pending_state,
        words: state_words(case.pending_state),
        action,
        allowed,
    }
}

/// Whether the case's state allows a comment at all (the text aside), so
/// the console can refuse before the editor opens.
pub fn may_comment(case: &CaseSummary) -> Result<(), Refusal> {
    refuse_finished(case)?;
    if table_allows(case, TransactionName::ProvideProblemInformation) {
        Ok(())
    } else {
        Err(not_in_state(
            case,
            "a comment",
            "states 2–5 (in 6 confirm the close or reject the resolution; in 0 wait for GSEM's acknowledgement)",
        ))
    }
}

/// A comment (PROVIDE PROBLEM INFORMATION from us).
pub fn check_comment(case: &CaseSummary, text: &str) -> Result<(), Refusal> {
    may_comment(case)?;
    if text.trim().is_empty() {
        return Err(Refusal::EmptyComment);
    }
    Ok(())
}

/// Whether the case's state allows closing.
pub fn may_close(case: &CaseSummary) -> Result<CloseKind, Refusal> {
    refuse_finished(case)?;
    if table_allows(case, TransactionName::ConfirmClose) {
        Ok(CloseKind::ConfirmClose)
    } else if table_allows(case, TransactionName::RequestClosure) {
        Ok(CloseKind::RequestClosure)
    } else {
        Err(not_in_state(
            case,
            "closing",
            "states 2–6 (wait for GSEM's acknowledgement of the SERVICE REQUEST)",
        ))
    }
}

/// A close: which transaction it sends, or why it cannot.
pub fn close_transaction(case: &CaseSummary, notes: &str) -> Result<CloseKind, Refusal> {
    let kind = may_close(case)?;
    if notes.trim().is_empty() {
        return Err(Refusal::NotesRequired);
    }
    Ok(kind)
}

/// Whether the case's state allows rejecting the resolution.
pub fn may_reject(case: &CaseSummary) -> Result<(), Refusal> {
    refuse_finished(case)?;
    if table_allows(case, TransactionName::RejectResolution) {
        Ok(())
    } else {
        Err(not_in_state(
            case,
            "rejecting a resolution",
            "state 6, once HPE has proposed one",
        ))
    }
}

/// REJECT RESOLUTION.
pub fn check_reject(case: &CaseSummary, reason: &str) -> Result<(), Refusal> {
    may_reject(case)?;
    if reason.trim().is_empty() {
        return Err(Refusal::ReasonRequired);
    }
    Ok(())
}

/// QUERY INCIDENT.
pub fn check_query(case: &CaseSummary) -> Result<(), Refusal> {
    refuse_finished(case)?;
    if table_allows(case, TransactionName::QueryIncident) {
        Ok(())
    } else {
        Err(not_in_state(
            case,
            "a query",
            "states 2–6, once GSEM has acknowledged the SERVICE REQUEST",
        ))
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::console::types::{CaseFlags, Priority};

    fn case(state: u8, pending_state: u8) -> CaseSummary {
        CaseSummary {
            id: 1,
            incident: "INC0010001".into(),
            tracking: "INC0010001_1".into(),
            provider_id: Some("5012345678".into()),
            system: "perlmutter".into(),
            priority: Priority::Normal,
            state,
            pending_state,
            workflow_status: None,
            updated: Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap(),
            open_tasks: 0,
            parts_in_transit: 0,
            flags: CaseFlags::default(),
        }
    }

    #[test]
    fn close_sends_confirm_in_6_and_request_in_2_to_5() {
        assert_eq!(
            close_transaction(&case(6, 6), "done"),
            Ok(CloseKind::ConfirmClose)
        );
        for s in 2..=5 {
            assert_eq!(
                close_transaction(&case(s, s), "done"),
                Ok(CloseKind::RequestClosure)
            );
        }
        assert_eq!(
            close_transaction(&case(0, 0), "done")
                .unwrap_err()
                .to_string(),
            "case INC0010001 is in state 0 (Requested): closing is allowed only in states 2–6 \
             (wait for GSEM's acknowledgement of the SERVICE REQUEST)"
        );
    }

    #[test]
    fn close_without_notes_is_refused() {
        assert_eq!(
            close_transaction(&case(5, 5), "  \n"),
            Err(Refusal::NotesRequired)
        );
    }

    #[test]
    fn finished_cases_refuse_everything() {
        for (s, words) in [(1, "Not entitled"), (7, "Closed")] {
            let c = case(s, s);
            let finished = Refusal::Finished {
                incident: "INC0010001".into(),
                words,
            };
            assert_eq!(check_comment(&c, "hello"), Err(finished.clone()));
            assert_eq!(close_transaction(&c, "n"), Err(finished.clone()));
            assert_eq!(check_reject(&c, "r"), Err(finished.clone()));
            assert_eq!(check_query(&c), Err(finished));
        }
    }

    #[test]
    fn pending_close_counts_as_finished() {
        let c = case(5, 7);
        assert_eq!(
            check_comment(&c, "more").unwrap_err().to_string(),
            "case INC0010001 is finished (Closed): nothing more can be sent to HPE; open a new case instead"
        );
    }

    #[test]
    fn comment_only_in_2_to_5() {
        for s in 0..=7u8 {
            assert_eq!(
                check_comment(&case(s, s), "x").is_ok(),
                (2..=5).contains(&s),
                "state {s}"
            );
        }
        assert_eq!(check_comment(&case(5, 5), " "), Err(Refusal::EmptyComment));
    }

    #[test]
    fn reject_only_in_6_with_reason() {
        for s in 0..=7u8 {
            assert_eq!(check_reject(&case(s, s), "x").is_ok(), s == 6, "state {s}");
        }
        assert_eq!(check_reject(&case(6, 6), ""), Err(Refusal::ReasonRequired));
    }

    #[test]
    fn query_in_2_to_6() {
        for s in 0..=7u8 {
            assert_eq!(
                check_query(&case(s, s)).is_ok(),
                (2..=6).contains(&s),
                "state {s}"
            );
        }
    }
}
