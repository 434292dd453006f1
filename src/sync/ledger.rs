//! The ServiceNow write ledger: what casebridge meant to write onto an
//! incident, and what it wrote, kept as audit entries of the case.
//!
//! A journal write cannot be retried blindly (a retried PATCH appends the
//! entry twice), so each one is recorded as *intended* before it is made and
//! as *done* once it is seen in `sys_journal_field`. An intended write found
//! not done (a crash, a lost reply) is looked for in the journal before it
//! is made again. The store has no table of its own for this, and the audit
//! log is where "the engine wrote X onto INC…" belongs anyway; entries are
//! keyed per case by a short key (`requested`, `hpe-note:42`, …).

use std::collections::{BTreeMap, HashSet};

use crate::store::AuditRow;

/// Who the ledger's audit entries are by.
pub const ACTOR: &str = "engine";
/// Audit action: a write to the incident is about to be made.
pub const INTENDED: &str = "servicenow.write.intended";
/// Audit action: the write is in ServiceNow.
pub const DONE: &str = "servicenow.write.done";

/// How a write is known to be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// Seen in `sys_journal_field` as this entry.
    Entry(String),
    /// ServiceNow accepted it, but the journal could not be read to confirm
    /// (the integration user lacks the ACL).
    Unverified,
    /// A field change, which needs no read-back.
    Field,
}

impl Done {
    fn detail(&self) -> String {
        match self {
            Done::Entry(id) => format!("entry={id}"),
            Done::Unverified => "unverified".to_owned(),
            Done::Field => "field".to_owned(),
        }
    }

    fn parse(text: &str) -> Option<Done> {
        match text {
            "unverified" => Some(Done::Unverified),
            "field" => Some(Done::Field),
            other => other
                .strip_prefix("entry=")
                .filter(|id| !id.is_empty())
                .map(|id| Done::Entry(id.to_owned())),
        }
    }
}

/// One key's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// When it was first recorded as intended (unix ms).
    pub intended_at: i64,
    pub done: Option<Done>,
}

/// The ledger of one or more cases: `(case id, key)` → entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    entries: BTreeMap<(i64, String), LedgerEntry>,
}

/// The detail of an intended entry.
pub fn intended_detail(key: &str) -> String {
    key.to_owned()
}

/// The detail of a done entry.
pub fn done_detail(key: &str, done: &Done) -> String {
    format!("{key} {}", done.detail())
}

impl Ledger {
    /// Reads the ledger entries among a case's audit rows (others are ignored).
    pub fn add_audit(&mut self, rows: &[AuditRow]) {
        for row in rows {
            let Some(case_id) = row.case_id else {
                continue;
            };
            match row.action.as_str() {
                INTENDED => {
                    self.entries
                        .entry((case_id, row.detail.clone()))
                        .or_insert(LedgerEntry {
                            intended_at: row.at,
                            done: None,
                        });
                }
                DONE => {
                    let Some((key, done)) = row
                        .detail
                        .rsplit_once(' ')
                        .and_then(|(key, d)| Done::parse(d).map(|d| (key, d)))
                    else {
                        continue;
                    };
                    let entry =
                        self.entries
                            .entry((case_id, key.to_owned()))
                            .or_insert(LedgerEntry {
                                intended_at: row.at,
                                done: None,
                            });
                    entry.done = Some(done);
                }
                _ => {}
            }
        }
    }

    pub fn get(&self, case_id: i64, key: &str) -> Option<&LedgerEntry> {
        self.entries.get(&(case_id, key.to_owned()))
    }

    pub fn is_done(&self, case_id: i64, key: &str) -> bool {
        self.get(case_id, key).is_some_and(|e| e.done.is_some())
    }

    /// Whether the key was ever recorded (intended or done).
    pub fn has(&self, case_id: i64, key: &str) -> bool {
        self.get(case_id, key).is_some()
    }

    /// Journal entries already accounted for by a done write: a read-back
    /// must not claim them again, and they are never sent to HPE.
    pub fn claimed(&self) -> HashSet<String> {
        self.entries
            .values()
            .filter_map(|e| match &e.done {
                Some(Done::Entry(id)) => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    /// Records `done` for a key in memory, as the audit row just committed says.
    pub fn mark(&mut self, case_id: i64, key: &str, at: i64, done: Option<Done>) {
        let entry = self
            .entries
            .entry((case_id, key.to_owned()))
            .or_insert(LedgerEntry {
                intended_at: at,
                done: None,
            });
        if done.is_some() {
            entry.done = done;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, case_id: Option<i64>, action: &str, detail: &str) -> AuditRow {
        AuditRow {
            id,
            at: id * 1000,
            actor: ACTOR.into(),
            case_id,
            action: action.into(),
            detail: detail.into(),
        }
    }

    #[test]
    fn reads_intended_and_done_entries() {
        let mut ledger = Ledger::default();
        ledger.add_audit(&[
            row(1, Some(7), INTENDED, "requested"),
            row(
                2,
                Some(7),
                DONE,
                &done_detail("requested", &Done::Entry("abc".into())),
            ),
            row(3, Some(7), INTENDED, "hpe-note:42"),
            row(4, Some(7), INTENDED, "hpe-note:43"),
            row(
                5,
                Some(7),
                DONE,
                &done_detail("hpe-note:43", &Done::Unverified),
            ),
            row(
                6,
                Some(7),
                DONE,
                &done_detail("incident-resolved", &Done::Field),
            ),
            row(7, Some(7), "case.opened", "x y"),
            row(8, None, INTENDED, "orphan"),
            row(9, Some(7), DONE, "garbled"),
        ]);
        assert_eq!(
            ledger.get(7, "requested"),
            Some(&LedgerEntry {
                intended_at: 1000,
                done: Some(Done::Entry("abc".into()))
            })
        );
        assert!(ledger.has(7, "hpe-note:42"));
        assert!(!ledger.is_done(7, "hpe-note:42"));
        assert!(ledger.is_done(7, "hpe-note:43"));
        assert!(ledger.is_done(7, "incident-resolved"));
        assert!(!ledger.has(7, "garbled"));
        assert!(!ledger.has(8, "requested"));
        assert_eq!(ledger.claimed(), HashSet::from(["abc".to_owned()]));
    }

    #[test]
    fn mark_keeps_the_first_intent_time() {
        let mut ledger = Ledger::default();
        ledger.mark(1, "k", 10, None);
        ledger.mark(1, "k", 20, Some(Done::Field));
        assert_eq!(
            ledger.get(1, "k"),
            Some(&LedgerEntry {
                intended_at: 10,
                done: Some(Done::Field)
            })
        );
    }
}
